use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

// `seen.push(..)` and `w.fill(..)` change the worker's copy: said as such, rather than as a
// binding not declared `mut` (with rustc's suggestion `mut seen.push`).
#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut seen: Vec<usize> = Vec::new();
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            seen.push(k);
            w.fill(0.0);
            p.loss.gradient(&part.sample(p.batch, k), w.view())
        });
        w.scaled_add(-p.step, &g);
    }
    let _ = seen;
    w
}

fn main() {}
