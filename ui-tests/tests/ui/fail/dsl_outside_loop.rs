use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn one_step(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    broadcast!(w);
    let g = reduce!(data, |part| p.loss.gradient(part, w.view()));
    w.scaled_add(-p.step, &g);
    w
}

fn main() {}
