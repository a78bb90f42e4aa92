// `w.at(v)`: a task reads an older version of a broadcast variable, the version computed on
// the driver; beside it, the latest version of the same variable.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, asp, Dataset, Driver};

#[async_optimizer]
fn anchored(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut anchor: u64 = 0;
    for k in 0..p.updates {
        broadcast!(w);
        if k % 10 == 0 {
            anchor = cx.version("w").unwrap_or_default();
        }
        barrier!(asp());
        let g = reduce!(data.sample(p.batch, k), |batch| {
            p.loss.gradient(batch, w.view()) - p.loss.gradient(batch, w.at(anchor).view())
        });
        let read = cx.last_result().and_then(|meta| meta.version_of("w"));
        let _: Option<u64> = read;
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
