// A `use` or a struct inside the loop is out of the scope where the workers' copy of the
// closure is compiled.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for _ in 0..p.updates {
        use std::f64::consts::PI;
        struct Unit;
        broadcast!(w);
        let g = reduce!(data, |part| {
            let _ = Unit;
            p.loss.gradient(part, w.view()) * PI
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
