//! An optimizer's own hyperparameter, set by a program that calls it without the toolkit.

use asyncopt_algorithms::{Loss, Params};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};

use crate::{local, shared};

/// Sums `beta` once per partition and update.
#[async_optimizer]
fn reads_beta(cx: &mut Driver, data: &Dataset, p: &Params) -> f64 {
    let beta: f64 = p.hyper(cx, "beta");
    let mut total: f64 = 0.0;
    for _ in 0..3 {
        broadcast!(total);
        total += reduce!(data, |_part| beta);
    }
    total
}

/// Unset, the error says how a library caller sets it (the old one said only "declare it
/// with the optimizer", which only the toolkit can); set as it says, the optimizer reads it.
pub fn an_unset_hyperparameter_says_how_a_library_caller_sets_it() {
    let data = shared("cal_housing.scale.xz");
    let params = Params::new(Loss::LeastSquares);
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    reads_beta(&mut driver, &data, &params);
    let message = driver.finish().expect_err("the run fails").to_string();
    assert!(
        message.contains("the hyperparameter `beta`, which the run does not have (it has: none)")
            && message.contains("params.extra.insert(\"beta\".into(), VALUE)"),
        "{message}"
    );

    let mut params = Params::new(Loss::LeastSquares);
    params.extra.insert("beta".into(), 0.5);
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let total = reads_beta(&mut driver, &data, &params);
    driver.finish().expect("the run succeeds");
    assert!(
        total > 0.0 && total % 0.5 == 0.0,
        "beta read as set: {total}"
    );
}
