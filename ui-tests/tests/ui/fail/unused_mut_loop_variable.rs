// `let mut` on a broadcast variable and on a captured one, neither ever changed: rustc's
// `unused_mut` says so, as it would without the macro; `total` is changed and is not named.
#![deny(unused_mut)]
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn evaluate(cx: &mut Driver, data: &Dataset, p: &Params, start: &Model) -> f64 {
    let mut w: Model = start.clone();
    let mut scale: f64 = 2.0;
    let mut total: f64 = 0.0;
    for k in 0..p.updates {
        broadcast!(w);
        let l: f64 = reduce!(data, |part| p.loss.objective(&part.sample(p.batch, k), w.view()) * scale);
        total += l;
    }
    total
}

fn main() {}
