// A closure's or a nested fn's parameter of the driver's name is its own: no expansion
// stands where it is in scope.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    fn halve(cx: f64) -> f64 {
        cx / 2.0
    }
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        let scale = |cx: usize| {
            let cx = cx.max(1);
            p.step / cx as f64
        };
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-halve(scale(cx.workers().alive())), &g);
    }
    w
}

fn main() {}
