// A `let mut` inside the reduce! closure that is never changed: reported once, though the
// closure is compiled for the driver and for the workers.
#![deny(unused_mut)]
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            let mut unchanged = 1.0;
            p.loss.gradient(&part.sample(p.batch, k), w.view()) * unchanged
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
