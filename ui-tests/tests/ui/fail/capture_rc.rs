use std::rc::Rc;

use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

// An `Rc` cannot leave the driver's process: the macro says so where its type is written,
// rather than the compiler asking for serde impls an `Rc` never has.
#[async_optimizer]
fn shared(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let scale: Rc<f64> = Rc::new(0.5);
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            *scale * p.loss.gradient(&part.sample(p.batch, k), w.view())
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
