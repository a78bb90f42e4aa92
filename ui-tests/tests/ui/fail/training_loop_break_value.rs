use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut k: usize = 0;
    let last = loop {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
        k += 1;
        for _ in 0..2 {
            break; // leaves the inner loop only
        }
        if k == p.updates {
            break w.clone();
        }
    };
    last
}

fn main() {}
