// `?` is refused in a reduce! closure's own body, where it would leave the task; it belongs
// to a nested closure that returns a Result, and to a closure that returns one itself.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, asp, Dataset, Driver};

#[async_optimizer]
fn nested_closure(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| {
            let parse = |text: &str| -> Result<f64, std::num::ParseFloatError> {
                let value: f64 = text.parse()?;
                Ok(value * 2.0)
            };
            let scale: f64 = parse("0.5").unwrap_or(1.0);
            scale * p.loss.gradient(&part.sample(p.batch, k), w.view())
        });
        w.scaled_add(-p.step, &g);
    }
    w
}

#[async_optimizer]
fn returns_result(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp());
        let declared = reduce!(data, |part| -> Result<f64, String> {
            let scale: f64 = "1".parse().map_err(|e: std::num::ParseFloatError| e.to_string())?;
            Ok(scale * p.loss.gradient(&part.sample(p.batch, k), w.view())[0])
        });
        w[0] += declared.unwrap_or(0.0);
    }
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp());
        let inferred = reduce!(data, |part| {
            let scale: f64 = "1".parse().map_err(|e: std::num::ParseFloatError| e.to_string())?;
            Ok::<f64, String>(scale * p.loss.gradient(&part.sample(p.batch, k), w.view())[0])
        });
        w[0] += inferred.unwrap_or(0.0);
    }
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp());
        // Its Result comes from a `match`, not from its last expression alone.
        let matched = reduce!(data, |part| {
            let scale: f64 = "1".parse().map_err(|e: std::num::ParseFloatError| e.to_string())?;
            match scale > 0.0 {
                true => Ok(scale * p.loss.gradient(&part.sample(p.batch, k), w.view())[0]),
                false => Err(format!("a scale of {scale}")),
            }
        });
        w[0] += matched.unwrap_or(0.0);
    }
    w
}

fn main() {}
