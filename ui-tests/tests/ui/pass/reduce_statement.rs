// A reduce used as a statement (its result is discarded), and one as the tail of a block.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn warm_up(cx: &mut Driver, data: &Dataset, p: &Params) -> f64 {
    let w: Model = Model::zeros(data.dim());
    let mut last = 0.0;
    for _ in 0..p.updates {
        broadcast!(w);
        reduce!(data, |part| p.loss.objective(part, w.view()));
        last = {
            reduce!(data, |part| p.loss.objective(part, w.view()))
        };
    }
    last
}

fn main() {}
