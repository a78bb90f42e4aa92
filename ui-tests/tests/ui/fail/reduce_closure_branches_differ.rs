// The branches of the closure's `if` differ in type: rustc's one error about them, not
// errors of an unsized array type at `let g` and at the reduce! as well.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::data::Rows;
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            if part.len() == 0 {
                0.0
            } else {
                p.loss.gradient(&part.sample(p.batch, k), w.view())
            }
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
