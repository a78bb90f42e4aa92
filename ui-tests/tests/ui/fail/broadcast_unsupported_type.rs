use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

/// Not serializable: it cannot be sent to the workers.
#[derive(Clone)]
struct Weights {
    w: Model,
}

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut weights: Weights = Weights { w: Model::zeros(data.dim()) };
    for k in 0..p.updates {
        broadcast!(weights);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), weights.w.view()));
        weights.w.scaled_add(-p.step, &g);
    }
    weights.w
}

fn main() {}
