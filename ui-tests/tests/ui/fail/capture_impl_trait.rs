// A captured `impl Trait` parameter has no type the workers can name (the macro panicked).
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params, scale: impl Into<f64> + Copy) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for _ in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(part, w.view()) * scale.into());
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
