// A type written on the reduce! closure's argument was dropped: `|part: &String|` compiled.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn a_string(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part: &String| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

#[async_optimizer]
fn the_dataset(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for _ in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part: &Dataset| p.loss.gradient(part, w.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

#[async_optimizer]
fn a_partition_for_a_batch(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data.sample(p.batch, k), |batch: &asyncopt_runtime::Partition| {
            p.loss.gradient(batch, w.view())
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

mod own {
    pub struct Partition;
}

// The right name, of another type: rustc checks it against the real one.
#[async_optimizer]
fn another_partition(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for _ in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part: &own::Partition| p.loss.gradient(part, w.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
