// A name no broadcast! publishes, written in a version's or an older value's read: it
// compiled, and the run read `None`.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn asgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let _v: u64 = cx.version("weights").expect("broadcast above");
        barrier!(|workers| workers.idle() >= 1);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()));
        let then = cx.last_result().and_then(|m| m.version_of("W")).expect("read w");
        let old: Model = cx.value_at::<Model>("W", then).expect("kept");
        // The right name, and a method of that name on a value that is not the driver: left.
        let now = cx.version("w").unwrap_or(0);
        let _ = Versions.version("W");
        w.scaled_add(-p.step_for(cx), &(g + old * (now as f64)));
    }
    w
}

struct Versions;

impl Versions {
    fn version(&self, _: &str) -> u64 {
        0
    }
}

fn main() {}
