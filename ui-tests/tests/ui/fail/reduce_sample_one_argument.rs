use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for _ in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data.sample(16), |batch| p.loss.gradient(batch, w.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
