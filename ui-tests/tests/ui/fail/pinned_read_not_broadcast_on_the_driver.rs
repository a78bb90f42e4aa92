use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn anchored(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let anchor: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let v: u64 = cx.version("w").unwrap_or(1);
        let old: Model = anchor.at(v);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), old.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
