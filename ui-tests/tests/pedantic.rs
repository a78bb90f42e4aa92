//! Correct optimizers under `clippy::pedantic`: the workspace's clippy run lints this file, so
//! code the expansion puts at the author's spans must give clippy nothing to say either.
#![deny(clippy::pedantic)]

use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

#[async_optimizer]
fn asgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(|workers| workers.idle() >= p.quorum);
        let g = reduce!(
            data,
            |part| p.loss.gradient(&part.sample(p.batch, k), w.view()),
            max_staleness = p.max_staleness
        );
        w.scaled_add(-p.step_for(cx), &g);
    }
    w
}

#[test]
fn the_optimizers_are_functions_of_the_driver() {
    let _: [fn(&mut Driver, &Dataset, &Params) -> Model; 2] = [sgd, asgd];
}
