// The reduce! closure's argument with its type written: a partition, or a minibatch.
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::data::Batch;
use asyncopt_runtime::{async_optimizer, Dataset, Driver, Partition};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let full = reduce!(data, |part: &Partition| p.loss.gradient(part, w.view()));
        let g = reduce!(data.sample(p.batch, k), |batch: &Batch| p.loss.gradient(batch, w.view()));
        let h = reduce!(data.sample(p.batch, k), |batch: &Batch<'_>| {
            p.loss.gradient(batch, w.view())
        });
        let any = reduce!(data, |part: _| p.loss.gradient(part, w.view()));
        w.scaled_add(-p.step, &(full + g + h + any));
    }
    w
}

fn main() {}
