// The asynchronous twin: a closure barrier over the worker table and a staleness bound.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn asgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(|workers| workers.idle() >= p.quorum);
        let g = reduce!(
            data,
            |part| p.loss.gradient(&part.sample(p.batch, k), w.view()),
            max_staleness = p.max_staleness
        );
        w.scaled_add(-p.step_for(cx), &g);
    }
    w
}

#[async_optimizer]
fn asgd_literal_bound(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(|workers| workers.idle() >= 2 && workers.max_staleness_in_flight() < 8);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()), max_staleness = 4);
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
