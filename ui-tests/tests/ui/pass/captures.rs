// Every kind of capture whose type the macro knows: a range counter (`usize`), a reference
// parameter, an owned parameter and a typed `let`.
use asyncopt_algorithms::{Loss, Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn scaled(cx: &mut Driver, data: &Dataset, p: &Params, step: f64, loss: Loss) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let scale: f64 = 0.5;
    let rows: usize = p.batch / 2;
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            let g = loss.gradient(&part.sample(rows + p.batch, k), w.view());
            g * scale * step
        });
        w -= &g;
    }
    w
}

fn main() {}
