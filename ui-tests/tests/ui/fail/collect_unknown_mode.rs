use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, asp, Dataset, Driver};

#[async_optimizer]
fn asgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp());
        let some = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()), collect = every);
        w.scaled_add(-p.step, &some[0].value);
    }
    w
}

fn main() {}
