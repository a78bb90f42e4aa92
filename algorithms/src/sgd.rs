//! Minibatch SGD with optional heavy-ball momentum, and its asynchronous twin.
//!
//! Each task samples `p.batch` rows of its partition (the same rows on a replay: the draw is
//! seeded by the partition and the update counter) and returns their gradient as a sum with
//! its row count ([`RowSum`]): combined over partitions of unequal sizes, that is the mean over
//! every sampled row, so that SGD on full batches (gradient descent) reaches the exact optimum,
//! not that of a mean of per-partition means.

use asyncopt_runtime::{async_optimizer, Dataset, Driver};

use crate::{data_gradient_sum, Model, Params, RowSum};

/// Synchronous SGD: every partition contributes to every update.
#[async_optimizer]
pub fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut velocity = Model::zeros(data.dim());
    let metric = p.metric(cx, data);
    for k in 0..p.updates {
        broadcast!(w);
        let g: RowSum = reduce!(data, |part| data_gradient_sum(
            &p.loss,
            &part.sample(p.batch, k),
            w.view()
        ));
        velocity = p.momentum * velocity + metric.apply(g.mean() + p.loss.lambda() * &w);
        w.scaled_add(-p.step, &velocity);
    }
    w
}

/// Asynchronous SGD: SGD plus a barrier and a staleness bound. Each update applies one
/// worker's gradient as soon as it arrives.
#[async_optimizer]
pub fn asgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut velocity = Model::zeros(data.dim());
    let metric = p.metric(cx, data);
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(|workers| workers.idle() >= p.quorum);
        let g: RowSum = reduce!(
            data,
            |part| data_gradient_sum(&p.loss, &part.sample(p.batch, k), w.view()),
            max_staleness = p.max_staleness
        );
        velocity = p.momentum * velocity + metric.apply(g.mean() + p.loss.lambda() * &w);
        w.scaled_add(-p.step_for(cx), &velocity);
    }
    w
}
