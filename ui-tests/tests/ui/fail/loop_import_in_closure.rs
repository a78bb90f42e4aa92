// A struct inside the loop, or an import of an item declared there, is out of the scope where
// the workers' copy of the closure is compiled (an import of anything else goes along).
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for _ in 0..p.updates {
        mod consts {
            pub const PI: f64 = 3.14;
        }
        use consts::PI;
        use std::f64::consts::E;
        struct Unit;
        broadcast!(w);
        let g = reduce!(data, |part| {
            let _ = Unit;
            p.loss.gradient(part, w.view()) * PI * E
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
