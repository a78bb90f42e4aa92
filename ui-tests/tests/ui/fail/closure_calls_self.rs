use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::data::Rows;
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

struct Plain;

impl Plain {
    fn residual_sum(part: &impl Rows) -> f64 {
        (0..part.len()).map(|i| part.label(i)).sum()
    }

    #[async_optimizer]
    fn run(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
        let mut w: Model = Model::zeros(data.dim());
        for _ in 0..p.updates {
            broadcast!(w);
            let s: f64 = reduce!(data, |part| Self::residual_sum(part));
            w[0] -= p.step * s;
        }
        w
    }
}

fn main() {}
