use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

fn steps(n: usize) -> Vec<f64> {
    vec![0.1; n]
}

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for step in steps(p.updates) {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(part, w.view()) * step);
        w -= &g;
    }
    w
}

fn main() {}
