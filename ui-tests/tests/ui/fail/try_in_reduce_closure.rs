use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            let scale: f64 = "1".parse()?;
            scale * p.loss.gradient(&part.sample(p.batch, k), w.view())
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
