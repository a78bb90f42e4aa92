use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

struct Schedule {
    scale: f64,
}

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let schedule: Schedule = Schedule { scale: 0.5 };
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view())
            * schedule.scale);
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
