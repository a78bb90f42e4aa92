use asyncopt_algorithms::Model;
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

trait Objective {
    fn gradient(&self, part: &asyncopt_runtime::Partition, w: &Model) -> Model;
}

#[async_optimizer]
fn sgd<L: Objective>(cx: &mut Driver, data: &Dataset, loss: &L) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for _ in 0..100 {
        broadcast!(w);
        let g = reduce!(data, |part| loss.gradient(part, &w));
        w.scaled_add(-0.1, &g);
    }
    w
}

fn main() {}
