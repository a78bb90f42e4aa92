// The closure reads one number of a configuration that also holds a file: the error names
// the variable, and asks for the field to be bound before the loop, with its type.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

struct Config {
    scale: f64,
    log: std::fs::File,
}

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params, cfg: &Config) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()) * cfg.scale);
        w.scaled_add(-p.step, &g);
    }
    w
}

fn main() {
    let _ = |c: Config| c.log;
}
