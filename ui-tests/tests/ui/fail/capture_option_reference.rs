// A warm start passed as `Option<&Model>` and captured: one error, at its use, that asks for
// an owned value (`.cloned()`), not the same missing impl twice.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params, prior: Option<&Model>) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            let mut g = p.loss.gradient(&part.sample(p.batch, k), w.view());
            if let Some(m) = prior {
                g = g + (&*w - m) * 0.1;
            }
            g
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
