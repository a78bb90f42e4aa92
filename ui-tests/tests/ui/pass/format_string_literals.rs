// A reduce! closure's format strings: a raw one's placeholders are captures, an escape's
// braces (`\u{a}`) are not.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let s: f64 = 1.0;
    let a = 0.5;
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            println!(r#"{s} "quoted""#);
            println!("caf\u{e9}\u{a}");
            p.loss.gradient(&part.sample(p.batch, k), w.view())
        });
        w.scaled_add(-p.step * a, &g);
    }
    w
}

fn main() {}
