// A drain: every result in hand (at least one), each with its metadata; two asynchronous
// sites in one loop, each with its own results.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, asp, Collected, Dataset, Driver};

#[async_optimizer]
fn averaged(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp());
        let results: Vec<Collected<Model>> = reduce!(
            data,
            |part| p.loss.gradient(&part.sample(p.batch, k), w.view()),
            max_staleness = 4,
            collect = all
        );
        let pending: usize = cx.in_flight();
        let _ = pending;
        for result in &results {
            let _: u64 = result.meta.staleness;
            w.scaled_add(-p.step / results.len() as f64, &result.value);
        }
        barrier!(asp());
        let norm = reduce!(data, |part| p.loss.gradient(part, w.view()).sum());
        let _: f64 = norm;
    }
    w
}

fn main() {}
