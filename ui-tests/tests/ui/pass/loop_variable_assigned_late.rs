// A `mut` variable declared before the training loop without a value is the loop's once it
// is assigned before the loop; one that only the loop assigns is fine when `#[transient]`.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut step: f64;
    if p.batch > 1 {
        step = p.step;
    } else {
        step = p.step / 2.0;
    }
    #[transient]
    let mut g: Model;
    for k in 0..p.updates {
        broadcast!(w);
        g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-step, &g);
        step *= 0.99;
    }
    w
}

fn main() {}
