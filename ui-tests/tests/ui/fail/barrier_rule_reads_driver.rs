// A barrier! rule that reads the driver: rustc said E0502 "mutable borrow" at the reduce!.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, asp, quorum, Dataset, Driver};

#[async_optimizer]
fn rule(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(|workers| workers.idle() >= cx.workers().alive() / 2);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step_for(cx), &g);
    }
    w
}

#[async_optimizer]
fn selection(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp(), select = |worker| worker.tasks_done <= cx.workers().alive() as u64);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step_for(cx), &g);
    }
    w
}

// Read before the barrier!, or outside a closure (evaluated where the barrier! stands): accepted.
#[async_optimizer]
fn before(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let half: usize = cx.workers().alive() / 2;
        barrier!(|workers| workers.idle() >= half);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        barrier!(quorum(cx.workers().alive() / 2));
        let h = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step_for(cx), &(g + h));
    }
    w
}

fn main() {}
