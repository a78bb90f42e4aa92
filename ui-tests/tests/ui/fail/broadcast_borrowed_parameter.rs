// A warm start passed by reference and broadcast: one error that asks for an owned copy,
// not rustc's `broadcast!(&start)` and the errors of the closure that reads it.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params, start: &Model) -> Model {
    let mut w: Model = start.clone();
    for k in 0..p.updates {
        broadcast!(start);
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()) + start);
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
