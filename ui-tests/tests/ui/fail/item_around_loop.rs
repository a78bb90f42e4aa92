// Items of a block around the training loop are out of the scope where the workers' copy of
// a reduce! closure is compiled.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    {
        fn scale(x: f64) -> f64 {
            x * 0.5
        }
        const SHIFT: f64 = 1.0;
        for _ in 0..p.updates {
            broadcast!(w);
            let g = reduce!(data, |part| p.loss.gradient(part, w.view()) * scale(SHIFT));
            w.scaled_add(-p.step, &g);
        }
    }
    w
}

fn main() {}
