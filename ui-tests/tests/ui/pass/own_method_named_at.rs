// A method of the author's own named `at`: on a variable of the function, called as
// `Type::at(&x, ..)`; on an item, a closure's parameter or a name a closure binds, as a
// method, which rustc resolves.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

struct Schedule(Vec<f64>);

impl Schedule {
    fn at(&self, k: usize) -> f64 {
        self.0[k % self.0.len()]
    }
}

struct Half;

impl Half {
    fn at(&self, step: f64) -> f64 {
        step / 2.0
    }
}

#[async_optimizer]
fn scheduled(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let steps = Schedule(vec![p.step, p.step / 2.0]);
    for k in 0..p.updates {
        const HALF: Half = Half;
        broadcast!(w);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), w.view()));
        let step = Schedule::at(&steps, k);
        let of = |s: &Schedule| s.at(k);
        let warmup = || {
            let steps = Schedule(vec![1.0, 0.5]);
            steps.at(k)
        };
        w.scaled_add(-HALF.at(step + of(&steps)) * warmup(), &g);
    }
    w
}

fn main() {}
