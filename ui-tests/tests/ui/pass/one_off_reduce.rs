// A one-off reduce! before the training loop: an initial full gradient, then the loop.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn gd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let g0 = reduce!(data, |part| p.loss.gradient(part, w.view()));
    let scale: f64 = 1.0 / (1.0 + g0.dot(&g0).sqrt());
    for _ in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(part, w.view()) * scale);
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
