// A barrier! before an `if` whose branches each reduce!: the first branch's reduce! took it
// and the other's ran synchronously.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, asp, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp());
        let g = if k % 2 == 0 {
            reduce!(data, |part| p.loss.gradient(part, w.view()))
        } else {
            reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()))
        };
        w.scaled_add(-p.step, &g);
    }
    w
}

#[async_optimizer]
fn per_branch(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = match k % 2 {
            0 => {
                barrier!(asp());
                reduce!(data, |part| p.loss.gradient(part, w.view()))
            }
            _ => {
                barrier!(asp());
                reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()))
            }
        };
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
