use std::time::Instant;

use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

// A clock read on the driver means nothing on a worker: the note says what to send instead.
#[async_optimizer]
fn timed(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let started: Instant = Instant::now();
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            let _ = started.elapsed();
            p.loss.gradient(&part.sample(p.batch, k), w.view())
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
