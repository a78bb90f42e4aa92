// A barrier! in the epoch loop before a reduce! in the step loop inside it: the barrier
// written once governed every step's reduce!. In a block inside its own, the same.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, asp, Dataset, Driver};

#[async_optimizer]
fn epochs(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let epochs: usize = 3;
    for e in 0..epochs {
        barrier!(asp());
        for k in 0..p.updates {
            broadcast!(w);
            let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, e * 1000 + k), w.view()));
            w.scaled_add(-p.step_for(cx), &g);
        }
    }
    w
}

#[async_optimizer]
fn inner_block(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp());
        let g = {
            let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
            g * 2.0
        };
        w.scaled_add(-p.step_for(cx), &g);
    }
    w
}

// Each in its own block: accepted.
#[async_optimizer]
fn per_step(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let epochs: usize = 3;
    for e in 0..epochs {
        for k in 0..p.updates {
            broadcast!(w);
            barrier!(asp());
            let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, e * 1000 + k), w.view()));
            w.scaled_add(-p.step_for(cx), &g);
        }
    }
    w
}

fn main() {}
