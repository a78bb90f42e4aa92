use algorithms::{Model, Params};
use async_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let steps: Vec<f64> = vec![0.1; p.updates];
    for step in steps.iter() {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(part, w.view()) * *step);
        w -= &g;
    }
    w
}

fn main() {}
