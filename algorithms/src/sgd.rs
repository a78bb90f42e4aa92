//! Minibatch SGD with optional heavy-ball momentum, and its asynchronous twin.
//!
//! Each task samples `p.batch` rows of its partition (the same rows on a replay: the draw is
//! seeded by the partition and the update counter) and returns their mean gradient.

use asyncopt_runtime::{async_optimizer, Dataset, Driver};

use crate::{Model, Params};

/// Synchronous SGD: every partition contributes to every update.
#[async_optimizer]
pub fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut velocity = Model::zeros(data.dim());
    let metric = p.metric(cx, data);
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), w.view()));
        velocity = p.momentum * velocity + metric.apply(g);
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
        let g = reduce!(
            data,
            |part| p.loss.gradient(&part.sample(p.batch, k), w.view()),
            max_staleness = p.max_staleness
        );
        velocity = p.momentum * velocity + metric.apply(g);
        w.scaled_add(-p.step_for(cx.staleness()), &velocity);
    }
    w
}
