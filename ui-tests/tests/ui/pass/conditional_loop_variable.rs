// A loop variable whose `let` is conditional is saved and restored where it exists; a
// `#[transient]` inside the loop is stripped too.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    #[cfg(any())]
    let mut trace: Vec<f64> = Vec::new();
    #[cfg(not(any()))]
    let mut steps: usize = 0;
    for k in 0..p.updates {
        #[transient]
        let started = std::time::Instant::now();
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
        steps += 1;
        let _ = started.elapsed();
    }
    let _ = steps;
    w
}

fn main() {}
