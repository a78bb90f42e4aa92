//! The optimum f* and the step: given, the author's, or derived from the data's smoothness,
//! with what overflows named when the data allow none.

use anyhow::{anyhow, bail, Result};
use asyncopt_algorithms::{
    max_row_smoothness, preconditioned_max_row_smoothness_until, preconditioned_smoothness_until,
    ridge_optimum_until, Loss, Metric, OptimumError, Precondition, PreconditionError,
};
use asyncopt_runtime::data::Dataset;
use ndarray::Array1;

use super::JobSpec;
use crate::optimizer::Optimizer;
use crate::trace::resolved_optimum;

/// The exact optimum's solve ended early: a signal asked the runs to stop, and the run it
/// was computed for does not start.
#[derive(Debug, thiserror::Error)]
#[error("the exact optimum f* was not computed: stopped by a signal")]
pub struct OptimumStopped;

/// f* of `loss` on `data`: given, or computed exactly for (ridge) least squares; 0 when it
/// is within rounding of 0 ([`resolved_optimum`]). A signal
/// ([`interrupt::requested`](crate::interrupt::requested)) stops the computation, which then
/// fails with [`OptimumStopped`].
pub fn optimum(loss: &Loss, data: &Dataset, given: Option<f64>) -> Result<Option<f64>> {
    let optimum = exact_or_given(loss, data, given)?;
    Ok(
        optimum
            .map(|f| resolved_optimum(f, loss.objective(data, Array1::zeros(data.dim()).view()))),
    )
}

/// f* of `loss` on `data` as given or as the solve found it.
fn exact_or_given(loss: &Loss, data: &Dataset, given: Option<f64>) -> Result<Option<f64>> {
    match (given, loss) {
        (Some(value), _) => Ok(Some(value)),
        (None, Loss::LeastSquares | Loss::Ridge { .. }) => {
            let keep_going = || !crate::interrupt::requested();
            let solved = ridge_optimum_until(data, loss.lambda(), &keep_going);
            let (_, value) = solved.map_err(|e| {
                if let OptimumError::Stopped { .. } | OptimumError::StoppedFormingNormalMatrix = e {
                    anyhow::Error::new(OptimumStopped)
                } else if let Some(why) = overflow(data, loss.lambda()) {
                    // No optimum, no step and no objective: --optimum would not help.
                    why
                } else {
                    anyhow!(
                        "cannot compute the exact optimum f* of {} (--optimum VALUE gives it): \
                         {e}",
                        data.name()
                    )
                }
            })?;
            Ok(Some(value))
        }
        (None, Loss::Logistic { .. }) => Ok(None),
    }
}

/// [`optimum`], with a spinner on a terminal while it is computed (unless `quiet`): an exact
/// least-squares optimum of a large set takes seconds.
pub(crate) fn optimum_shown(
    loss: &Loss,
    data: &Dataset,
    given: Option<f64>,
    quiet: bool,
    preparing: &str,
) -> Result<Option<f64>> {
    let computed = given.is_none() && !matches!(loss, Loss::Logistic { .. });
    let _computing = computed.then(|| {
        crate::progress::Working::start(
            &format!("computing the optimum f* of {}", data.name()),
            quiet,
        )
    });
    optimum(loss, data, given).map_err(|e| match e.is::<OptimumStopped>() {
        true => crate::interrupt::preparation_stopped(preparing),
        false => e,
    })
}

/// The step of the run: `--step`, or the author's default for the optimizer, or one derived
/// from the data for a linear model ([`default_step`]); for a linear model, with the
/// preconditioner it built, which the optimizer is given rather than build it again
/// ([`Params::prepared_metric`](asyncopt_algorithms::Params::prepared_metric)). A signal
/// ([`interrupt::requested`](crate::interrupt::requested)) stops the preconditioner's build and
/// the smoothness's estimate, which take minutes on a large set: the run is then not started.
pub(super) fn step_of(spec: &JobSpec, data: &Dataset) -> Result<(f64, Option<Metric>)> {
    step_until(spec, data, &|| !crate::interrupt::requested())
}

/// [`step_of`], asking `keep_going` whether to go on; when it says no, the run's preparation
/// ends with [`preparation_stopped`](crate::interrupt::preparation_stopped).
fn step_until(
    spec: &JobSpec,
    data: &Dataset,
    keep_going: &dyn Fn() -> bool,
) -> Result<(f64, Option<Metric>)> {
    if !spec.algorithm.is_linear() {
        return Ok((own_model_step(spec.step, spec.algorithm)?, None));
    }
    let chosen = chosen_step(spec);
    // Built here, before any worker starts, to refuse an impossible choice and to set the
    // default step in its metric.
    let building = (spec.precondition != Precondition::None).then(|| {
        let what = format!("building the {} preconditioner", spec.precondition);
        crate::progress::Working::start(&what, spec.quiet)
    });
    let metric = Metric::new_until(spec.precondition, &spec.loss, data, keep_going);
    drop(building);
    let metric = match metric {
        Ok(metric) => metric,
        Err(PreconditionError::Stopped) => {
            return Err(crate::interrupt::preparation_stopped("run"))
        }
        Err(e) => bail!("--precondition {}: {e}", spec.precondition),
    };
    let step = match chosen {
        Some(chosen) => chosen,
        None => {
            let what = format!("estimating the smoothness of {} for the step", data.name());
            let _estimating = crate::progress::Working::start(&what, spec.quiet);
            let Some(step) = default_step_until(spec, data, &metric, keep_going) else {
                return Err(crate::interrupt::preparation_stopped("run"));
            };
            checked_default_step(step, data, spec.loss.lambda())?
        }
    };
    Ok((step, Some(metric)))
}

/// The step chosen for the run, `--step` or its author's default: `None` sets the default.
fn chosen_step(spec: &JobSpec) -> Option<f64> {
    spec.step.or(spec.algorithm.authors_step())
}

/// The live workers the run's step was sized for
/// ([`Params::step_sized_for`](asyncopt_algorithms::Params::step_sized_for)): the count, for
/// an asynchronous method's default step ([`default_step`]), which divides by the tasks in
/// flight; `None` for a step chosen, or a synchronous method's, which staleness does not touch.
pub(super) fn step_sized_for(spec: &JobSpec) -> Option<usize> {
    let default = spec.algorithm.is_linear() && chosen_step(spec).is_none();
    (default && spec.algorithm.is_async()).then_some(spec.cluster.workers)
}

/// The step of `algorithm`, a model of its author's own type: `step` (`--step`) or its
/// author's default; a usage error without either.
pub fn own_model_step(step: Option<f64>, algorithm: Optimizer) -> Result<f64> {
    if let Some(step) = step.or(algorithm.authors_step()) {
        return Ok(step);
    }
    bail_usage!(
        "{algorithm} needs --step: its model is of its author's own type, whose smoothness the \
         toolkit cannot measure (its author may give it a default step)"
    );
}

/// Why data whose values overflow when squared cannot be trained on.
const TOO_LARGE: &str =
    "its feature values are too large: their squared norms overflow (scale the data)";

/// That `data`'s values overflow when squared.
fn too_large(data: &Dataset) -> anyhow::Error {
    anyhow!("cannot train on {}: {TOO_LARGE}", data.name())
}

/// Whether a row's squared norm is not a finite number (values of 1e200 and more): the
/// largest least-squares smoothness of a row is the largest of them.
fn squares_overflow(data: &Dataset) -> bool {
    !max_row_smoothness(&Loss::LeastSquares, data).is_finite()
}

/// The default step, or why the data allow none: a step of 0 or infinity trains nothing, or
/// turns the model into NaN while the objective, which never reads it, looks fine.
fn checked_default_step(step: f64, data: &Dataset, lambda: f64) -> Result<f64> {
    if step.is_finite() && step > 0.0 {
        return Ok(step);
    }
    if step.is_infinite() && has_nonzero_value(data) {
        // Values below about 1e-154 square to 0, as if there were none.
        bail!(
            "cannot train on {}: its feature values are too small: their squares underflow to 0 \
             (scale the data)",
            data.name()
        );
    }
    if step.is_infinite() {
        bail!(
            "cannot train on {}: every feature value is 0 and --lambda is 0, so the objective \
             does not depend on the model",
            data.name()
        );
    }
    Err(overflow(data, lambda).unwrap_or_else(|| too_large(data)))
}

/// Whether any feature value of `data` is not 0.
fn has_nonzero_value(data: &Dataset) -> bool {
    (0..data.n_rows()).any(|i| {
        let mut nonzero = false;
        data.for_each_entry(i, |_, value| nonzero |= value != 0.0);
        nonzero
    })
}

/// What overflows when squared, if anything does: the data's values or `--lambda`.
fn overflow(data: &Dataset, lambda: f64) -> Option<anyhow::Error> {
    if squares_overflow(data) {
        Some(too_large(data))
    } else if !(lambda * lambda).is_finite() {
        Some(anyhow!(
            "--lambda {lambda:e} is too large: the smoothness it adds overflows, so no step fits"
        ))
    } else {
        None
    }
}

/// The default step, from L_b = L + (L_max - L)/b, which bounds the smoothness of the mean
/// loss of the b rows an update averages (L: the smoothness of the mean loss, L_max: the
/// largest per-sample constant; b: every partition's minibatch in a synchronous update, one
/// partition's in an asynchronous one).
///
/// SGD: 1/L_b, which is 1/L for a full batch. Asynchronous SGD applies gradients about as many
/// updates old as there are tasks in flight, `workers x prefetch` less one, which tolerate a
/// step about that much smaller: 1/(L_b * workers * prefetch) (at 1/(L * workers), 4 workers
/// with a prefetch of 2 diverge on cal_housing), times `1 - momentum`. SAGA and SVRG, synchronous or not:
/// 1/(3 L_b). Their reduced variance keeps stale updates stable at that step up to about 4
/// workers; beyond, staleness grows with the workers and asynchronous twins take
/// `2/sqrt(workers x prefetch)` of it (measured on bio_kdd04, where 8 workers diverge at the
/// full step).
///
/// An optimizer that declares a [gradient delay](crate::Optimizer::gradient_delay) of `d`
/// updates counts it as staleness too: `d` more tasks in flight, asynchronous; a step `1 + d`
/// times smaller, synchronous (at 1/L_b, a9a's least squares read 20 updates back diverged
/// within 65 updates).
///
/// Without a preconditioner L_max/b is a small correction (rows of similar norms). With one,
/// L and L_max are measured in its metric (`metric`), and the minibatch term dominates: the
/// full one makes L about 1 but L_max about `n` times the largest leverage of a row, and the
/// diagonal one scales a rare feature up to its column's norm. On a9a, SGD at the diagonal
/// metric's 1/L (0.072) diverges within 600 updates; 1/L_b is 0.013.
pub fn default_step(spec: &JobSpec, data: &Dataset, metric: &Metric) -> f64 {
    default_step_until(spec, data, metric, &|| true).expect("never asked to stop")
}

/// [`default_step`], asking `keep_going` while it estimates the smoothness; `None` when it
/// says no.
fn default_step_until(
    spec: &JobSpec,
    data: &Dataset,
    metric: &Metric,
    keep_going: &dyn Fn() -> bool,
) -> Option<f64> {
    let mean = preconditioned_smoothness_until(&spec.loss, data, metric, keep_going)?;
    let partitions = (spec.cluster.workers * spec.cluster.partitions_per_worker).max(1);
    // A task's minibatch is at most its partition (`Partition::sample`), the whole of it for
    // batch 0: a larger --batch averages no more rows.
    let partition_rows = data.full_rows() / partitions;
    let per_partition = match spec.batch {
        0 => partition_rows,
        batch => batch.min(partition_rows.max(1)),
    };
    let rows = if spec.algorithm.is_async() {
        per_partition
    } else {
        per_partition * partitions
    };
    let rows = rows.clamp(1, data.full_rows().max(1)) as f64;
    let largest = preconditioned_max_row_smoothness_until(&spec.loss, data, metric, keep_going)?;
    let minibatch = mean + (largest - mean).max(0.0) / rows;
    // A gradient taken `delay` updates back (a fixed-lag read) is that much staler: as many
    // more tasks in flight for an asynchronous method, a step `1 + delay` times smaller for a
    // synchronous one.
    let delay = spec.algorithm.delay() as f64;
    // Staleness grows with the tasks that can be in flight at once.
    let in_flight = (spec.cluster.workers * spec.cluster.prefetch.max(1)) as f64 + delay;
    Some(
        match (
            spec.algorithm.is_variance_reduced(),
            spec.algorithm.is_async(),
        ) {
            (true, false) => 1.0 / (3.0 * minibatch * (1.0 + delay)),
            (true, true) => (2.0 / in_flight.sqrt()).min(1.0) / (3.0 * minibatch),
            (false, false) => 1.0 / (minibatch * (1.0 + delay)),
            // Heavy-ball momentum m makes the effective step step/(1 - m), which stale gradients
            // must not see grow: at m = 0.9 ASGD diverged on a9a within 50 updates.
            (false, true) => (1.0 - spec.momentum) / (minibatch * in_flight),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncopt_algorithms::{Algorithm, Precondition};
    use asyncopt_runtime::data::Features;
    use ndarray::array;

    /// A batch beyond the partition's rows samples those rows: its step is theirs. It was set
    /// as if the minibatch had `--batch` rows, up to the whole set, so an asynchronous task on a
    /// quarter of a9a got the step of all of it, larger by the minibatch term `(L_max - L)/b`
    /// that dominates in the diagonal preconditioner's metric.
    #[test]
    fn a_batch_beyond_its_partition_has_the_step_of_the_partition() {
        let mut args = crate::cli::RunArgs::parse_defaults();
        args.data = Some(test_support::data("a9a.xz"));
        args.workers = 4;
        args.precondition = Precondition::Diagonal;
        let data = Dataset::load(test_support::data("a9a.xz"), &Default::default()).unwrap();
        let partition_rows = data.full_rows() / 4;
        for algorithm in Algorithm::ALL {
            let step = |batch: usize| {
                let mut args = args.clone();
                args.batch = batch;
                let spec = args.job(algorithm).unwrap();
                let metric = Metric::new(spec.precondition, &spec.loss, &data).unwrap();
                default_step(&spec, &data, &metric)
            };
            let whole = step(partition_rows);
            assert_eq!(step(0), whole, "{algorithm}");
            assert_eq!(step(4 * partition_rows), whole, "{algorithm}");
            assert_eq!(step(1_000_000), whole, "{algorithm}");
        }
    }

    /// The full preconditioner's `X^T X` and the smoothness's passes take minutes on a wide,
    /// tall set; a Ctrl-C during them ends the run's preparation there, as one during the
    /// optimum's solve does, where the run used to finish them and stop only at its launch.
    #[test]
    fn a_signal_while_the_step_is_derived_stops_the_preparation() {
        // Three blocks of at most 4096 rows: each build or pass asks at least twice.
        let n = 3 * 4096;
        let x = ndarray::Array2::from_shape_fn((n, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f64);
        let data = Dataset::new("tall.svm", Features::Dense(x), ndarray::Array1::ones(n));
        let data = data.unwrap();
        let mut args = crate::cli::RunArgs::parse_defaults();
        args.data = Some(test_support::data("a9a.xz"));
        for precondition in [Precondition::None, Precondition::Full] {
            args.precondition = precondition;
            let spec = args.job(Algorithm::Sgd).unwrap();
            let asked = std::cell::Cell::new(0);
            let after_one = || {
                asked.set(asked.get() + 1);
                asked.get() <= 1
            };
            let error = step_until(&spec, &data, &after_one).unwrap_err();
            assert!(
                error.is::<crate::cli::Interrupted>(),
                "{precondition}: {error}"
            );
            assert_eq!(
                error.to_string(),
                "stopped by a signal while the run was being prepared; nothing was trained"
            );
            assert_eq!(asked.get(), 2, "{precondition}");
            // Let go on, the same step as without a question.
            let metric = Metric::new(precondition, &spec.loss, &data).unwrap();
            let (step, built) = step_until(&spec, &data, &|| true).unwrap();
            assert_eq!(step, default_step(&spec, &data, &metric), "{precondition}");
            assert_eq!(built.map(|m| m.kind()), Some(precondition), "handed on");
        }
    }

    /// The largest row's smoothness, in the full preconditioner's metric `dim^2` a row, asked
    /// nothing: a Ctrl-C after the smoothness's estimate waited for its whole pass.
    #[test]
    fn a_signal_after_the_smoothness_estimate_stops_the_largest_row_pass() {
        let n = 3 * 4096;
        let x = ndarray::Array2::from_shape_fn((n, 3), |(i, j)| ((i * 5 + j * 7) % 13) as f64);
        let data = Dataset::new("tall.svm", Features::Dense(x), ndarray::Array1::ones(n));
        let data = data.unwrap();
        let mut args = crate::cli::RunArgs::parse_defaults();
        args.data = Some(test_support::data("a9a.xz"));
        for precondition in [Precondition::None, Precondition::Full] {
            args.precondition = precondition;
            let spec = args.job(Algorithm::Sgd).unwrap();
            let metric = Metric::new(precondition, &spec.loss, &data).unwrap();
            // The questions the estimate asks, all answered yes: a signal comes after them.
            let estimate_asks = std::cell::Cell::new(0);
            let counting = || {
                estimate_asks.set(estimate_asks.get() + 1);
                true
            };
            preconditioned_smoothness_until(&spec.loss, &data, &metric, &counting).unwrap();
            let asked = std::cell::Cell::new(0);
            let until_the_estimate_is_done = || {
                asked.set(asked.get() + 1);
                asked.get() <= estimate_asks.get()
            };
            let step = default_step_until(&spec, &data, &metric, &until_the_estimate_is_done);
            assert_eq!(step, None, "{precondition}");
            assert_eq!(asked.get(), estimate_asks.get() + 1, "{precondition}");
        }
    }

    #[test]
    fn values_too_large_to_square_are_named_not_taken_for_a_solver_failure() {
        // Least squares computes f* before the default step: its conjugate gradient ended
        // with `relative residual NaN` and advised --optimum, which could not help.
        let x = Features::Dense(array![[1e300, 0.0], [0.0, 1e300]]);
        let data = Dataset::new("huge.svm", x, array![1.0, -1.0]).unwrap();
        let error = optimum(&Loss::with_lambda(true, 0.0), &data, None)
            .unwrap_err()
            .to_string();
        assert_eq!(error, format!("cannot train on huge.svm: {TOO_LARGE}"));
        // A step that cannot be computed is blamed on what overflowed.
        let small = Dataset::new("small.svm", Features::Dense(array![[1.0]]), array![1.0]);
        let small = small.unwrap();
        let error = checked_default_step(0.0, &small, 1e200).unwrap_err();
        assert!(
            error.to_string().starts_with("--lambda 1e200 is too large"),
            "{error}"
        );
        let x = Features::Dense(array![[1.0, 0.5, 0.1], [0.2, 1.0, 0.7], [0.3, 0.3, 0.9]]);
        let three = Dataset::new("three.svm", x, array![1.0, -1.0, 0.5]).unwrap();
        let error = optimum(&Loss::with_lambda(true, 1e308), &three, None).unwrap_err();
        assert!(
            error.to_string().starts_with("--lambda 1e308 is too large"),
            "{error}"
        );
        let error = checked_default_step(0.0, &data, 1e200).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("cannot train on huge.svm: {TOO_LARGE}")
        );
        let fine = Dataset::new(
            "fine.svm",
            Features::Dense(array![[2.0], [1.0]]),
            array![1.0, 0.5],
        );
        assert!(optimum(&Loss::with_lambda(true, 0.0), &fine.unwrap(), None).is_ok());
    }
}
