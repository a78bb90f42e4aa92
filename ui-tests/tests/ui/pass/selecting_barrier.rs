// A barrier that selects which idle workers get the task: a predicate over each worker's row.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, asp, Dataset, Driver};

#[async_optimizer]
fn fresh_workers_only(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp(), select = |worker| worker.last_staleness < 4 && worker.mean_task_s < 1.0);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

#[async_optimizer]
fn closure_rule_and_selection(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(|workers| workers.idle() >= p.quorum, select = |worker| worker.name != "w0");
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()), max_staleness = 8);
        w.scaled_add(-p.step, &g);
    }
    w
}

#[async_optimizer]
fn even_workers(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        // Relative to the others: the table beside the worker's row.
        barrier!(asp(), select = |worker, table| {
            let least = table.all().iter().filter(|o| o.alive).map(|o| o.tasks_done).min();
            worker.tasks_done <= least.unwrap_or(0) + 2
        });
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
