// A raw identifier and its plain spelling name the same variable, as in Rust.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut r#w: Model = Model::zeros(data.dim());
    let r#scale: f64 = 0.5;
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()) * scale);
        r#w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
