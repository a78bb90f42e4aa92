// A one-off reduce! before the training loop: an initial full gradient, then the loop; and
// one after it, a final evaluation, in a `loop` left with `break ()`.
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
    let mut evaluated: usize = 0;
    loop {
        let f: f64 = reduce!(data, |part| p.loss.objective(part, w.view()));
        evaluated += 1;
        if f.is_finite() || evaluated > 2 {
            break ();
        }
    }
    w
}

fn main() {}
