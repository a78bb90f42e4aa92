// A correct optimizer is clean under strict crate-level lints: the expansion adds no unused
// result, qualification or cast of its own to the author's code.
#![deny(
    warnings,
    unused_results,
    unused_qualifications,
    unused_mut,
    trivial_casts,
    unused_lifetimes,
    single_use_lifetimes,
    elided_lifetimes_in_paths,
    let_underscore_drop
)]
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

#[async_optimizer]
fn sgd(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let scale: f64 = 0.5;
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p.loss.gradient(&part.sample(p.batch, k), w.view()) * scale);
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

fn main() {
    let _: [fn(&mut Driver, &Dataset, &Params) -> Model; 2] = [sgd, asgd];
}
