use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{reduce, Dataset, Driver};

fn gradient(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let w: Model = Model::zeros(data.dim());
    reduce!(data, |part| p.loss.gradient(part, w.view()))
}

fn main() {}
