// Two mistakes in one function, each said once where it is, and nothing else.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn anchored(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let anchor: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(u);
        let older = |v: u64| anchor.at(v);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &(g - older(1)));
    }
    w
}

fn main() {}
