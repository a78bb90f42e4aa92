// After an error the body is still read: `asp` and `Array1`, used only there, are not
// reported unused beside the one error, the `?` that cannot leave the closure.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, asp, Dataset, Driver};
use ndarray::Array1;

#[async_optimizer]
fn asgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let start: Array1<f64> = w.clone();
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp());
        let g = reduce!(data, |part| {
            let scale: f64 = "1".parse()?;
            p.loss.gradient(&part.sample(p.batch, k), start.view()) * scale
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
