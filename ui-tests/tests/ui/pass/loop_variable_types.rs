// Loop variables whose types the macro reads from the loop: an `enumerate()` counter is a
// `usize`, and `v.iter()` over a `v: Vec<f64>` gives `&f64`.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let steps: Vec<f64> = vec![0.1; p.updates];
    for (k, step) in steps.iter().enumerate() {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()) * *step);
        w -= &g;
    }
    w
}

fn main() {}
