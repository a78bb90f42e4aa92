// A trailing `;` in a synchronous reduce! closure: one error, at the `;`, not a missing
// `Combine` for `()` and a type error where the result is used.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            p.loss.gradient(&part.sample(p.batch, k), w.view());
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
