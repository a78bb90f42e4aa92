use asyncopt_algorithms::Model;
use asyncopt_runtime::{broadcast, Dataset, Driver};

fn publish(cx: &mut Driver, data: &Dataset) {
    let w: Model = Model::zeros(data.dim());
    for _ in 0..10 {
        broadcast!(w);
    }
}

fn main() {}
