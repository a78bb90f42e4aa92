use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, asp, Dataset, Driver};

struct Step {
    gradient: Model,
}

#[async_optimizer]
fn asgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp());
        let step = reduce!(data, |part| Step {
            gradient: p.loss.gradient(&part.sample(p.batch, k), w.view()),
        });
        w.scaled_add(-p.step, &step.gradient);
    }
    w
}

fn main() {}
