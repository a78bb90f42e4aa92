use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Combine, Dataset, Driver};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Norm(f64);

impl Combine for Norm {
    fn combine(parts: Vec<Self>) -> Self {
        Norm(parts.iter().map(|n| n.0).sum())
    }
}

#[async_optimizer]
fn gd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let scale = reduce!(data, |part| Norm(part.data().labels().sum()));
    for _ in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(part, w.view()));
        w.scaled_add(-p.step / scale.0, &g);
    }
    w
}

fn main() {}
