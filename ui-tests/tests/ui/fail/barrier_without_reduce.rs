use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn asgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for _ in 0..p.updates {
        broadcast!(w);
        barrier!(|workers| workers.idle() >= p.quorum);
        w *= 0.5;
    }
    w
}

fn main() {}
