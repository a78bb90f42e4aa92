// A `#[cfg]` on a DSL statement would be ignored: the statement is rewritten whatever it says.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut calls: f64 = 0.0;
    for k in 0..p.updates {
        broadcast!(w);
        #[cfg(feature = "trace")]
        broadcast!(calls);
        #[cfg(feature = "asynchronous")]
        barrier!(|workers| workers.idle() >= 1);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
        calls += 1.0;
    }
    w
}

fn main() {}
