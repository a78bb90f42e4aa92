// A wrapper that derives serde, around a type that has none: the error names the variable
// and the type argument that keeps it from travelling, not "derive them for `Tagged<..>`".
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Tagged<T> {
    value: T,
    tag: u32,
}

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let started: Tagged<std::time::Instant> = Tagged { value: std::time::Instant::now(), tag: 1 };
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            let _ = (started.tag, &started);
            p.loss.gradient(&part.sample(p.batch, k), w.view())
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {}
