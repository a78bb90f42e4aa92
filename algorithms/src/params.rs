//! The settings every optimizer reads. They travel to the workers with each task, so they stay
//! small and serializable.

use std::collections::BTreeMap;
use std::sync::Arc;

use asyncopt_runtime::data::Dataset;
use asyncopt_runtime::Driver;
use serde::{Deserialize, Serialize};

use crate::loss::Loss;
use crate::precondition::{Metric, Precondition, PreconditionError};

/// Optimizer settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    /// The objective.
    pub loss: Loss,
    /// Upper bound on updates.
    pub updates: usize,
    /// Step size.
    pub step: f64,
    /// Heavy-ball momentum in `[0, 1)`; 0 is plain SGD.
    pub momentum: f64,
    /// Rows sampled per partition and task; 0 takes the whole partition.
    pub batch: usize,
    /// Asynchronous methods: idle workers needed before a dispatch.
    pub quorum: usize,
    /// Asynchronous methods: results more than this many updates old are dropped.
    pub max_staleness: u64,
    /// Asynchronous methods: divide the step by `1 + staleness` of each result.
    pub staleness_aware: bool,
    /// The live workers the step was sized for, when it is an asynchronous method's default
    /// (its staleness grows with the workers taking tasks): with more of them, workers that
    /// joined past the count, [`Params::step_for`] shrinks the step in proportion. `None` (a
    /// step chosen, by `--step` or its author) keeps it whatever joins.
    #[serde(default)]
    pub step_sized_for: Option<usize>,
    /// SVRG: updates per snapshot; 0 takes one pass over the data (`rows / (batch x
    /// partitions)` synchronous updates, `rows / batch` asynchronous ones).
    pub epoch: usize,
    /// The fixed preconditioner of the update direction. Only the choice travels: the
    /// optimizer builds its [`Metric`](crate::Metric) on the driver.
    pub precondition: Precondition,
    /// An author's own hyperparameters, by name: the toolkit fills in those an optimizer
    /// declares, from `--param NAME=VALUE` or their defaults; a program that calls the
    /// optimizer itself inserts them (`params.extra.insert("beta".into(), 0.9)`). Read them
    /// with [`Params::hyper`] on the driver.
    pub extra: BTreeMap<String, f64>,
    /// The preconditioner of these settings, already built on the driver's data:
    /// [`Params::metric`] returns it instead of building it again (forming `X^T X` takes
    /// minutes on a wide, tall set). The toolkit sets it, having built the metric to choose
    /// the default step; `None` (the default) builds it. It stays on the driver.
    #[serde(skip)]
    pub prepared_metric: Option<Arc<Metric>>,
}

impl Params {
    /// Idle workers an asynchronous dispatch waits for by default: 1, fully asynchronous.
    pub const DEFAULT_QUORUM: usize = 1;

    /// The default staleness bound of asynchronous methods, here and on the command line.
    pub const DEFAULT_MAX_STALENESS: u64 = 64;

    /// Defaults for `loss`: 1,000 updates, step 0.1, no momentum, 64 rows per task, quorum 1
    /// (fully asynchronous), staleness bound 64, no preconditioner.
    pub fn new(loss: Loss) -> Params {
        Params {
            loss,
            updates: 1000,
            step: 0.1,
            momentum: 0.0,
            batch: 64,
            quorum: Self::DEFAULT_QUORUM,
            max_staleness: Self::DEFAULT_MAX_STALENESS,
            staleness_aware: false,
            step_sized_for: None,
            epoch: 0,
            precondition: Precondition::None,
            extra: BTreeMap::new(),
            prepared_metric: None,
        }
    }

    /// The hyperparameter `name` of [`extra`](Params::extra), if the run has it. On the
    /// driver, [`Params::hyper`] also says when it does not.
    pub fn param(&self, name: &str) -> Option<f64> {
        self.extra.get(name).copied()
    }

    /// The value of `name`, a hyperparameter the optimizer declares: the toolkit fills in its
    /// `--param` value or its declared default, so the default is written once, where it is
    /// declared. A program that calls the optimizer itself, without the toolkit, sets it in
    /// [`extra`](Params::extra). A name the run lacks (misspelt, never declared, or never
    /// set) aborts the run naming those it has and both remedies, and gives NaN, so that the
    /// loop leaves at its first `broadcast!` instead of training with a value nobody chose.
    pub fn hyper(&self, cx: &mut Driver, name: &str) -> f64 {
        self.param(name).unwrap_or_else(|| {
            let known = if self.extra.is_empty() {
                "none".to_owned()
            } else {
                let names: Vec<&str> = self.extra.keys().map(String::as_str).collect();
                names.join(", ")
            };
            cx.abort(format!(
                "it reads the hyperparameter `{name}`, which the run does not have (it has: \
                 {known}); declare it with the optimizer (`Optimizer::params`, for the \
                 toolkit) or, calling the optimizer yourself, set it in `Params::extra` \
                 (`params.extra.insert(\"{name}\".into(), VALUE)`)"
            ));
            f64::NAN
        })
    }

    /// The preconditioner `precondition` for `loss` on the driver's `data`: the
    /// [`prepared_metric`](Params::prepared_metric) when it is one of that kind, else built
    /// here. When it cannot be built (see [`Metric::new`](crate::Metric::new)), the run is aborted with the reason and
    /// the identity is returned, so that the loop leaves at its first `broadcast!`. A stop
    /// asked for meanwhile (a Ctrl-C) ends the build, which takes minutes on a wide, tall set:
    /// the identity comes back then too, and the loop leaves at its first `broadcast!` as the
    /// stop asks.
    pub fn metric(&self, cx: &mut Driver, data: &Dataset) -> Metric {
        if let Some(prepared) = &self.prepared_metric {
            // One of another kind was built for other settings: build this one.
            if prepared.kind() == self.precondition {
                return Metric::clone(prepared);
            }
        }
        let keep_going = || !cx.stop_requested();
        let built = Metric::new_until(self.precondition, &self.loss, data, &keep_going);
        built.unwrap_or_else(|e| {
            if e != PreconditionError::Stopped {
                cx.abort(format!("preconditioner `{}`: {e}", self.precondition));
            }
            Metric::identity()
        })
    }

    /// The step for the result the driver last handed over: [`Params::step_at`] its
    /// staleness and the workers alive now. After a drain (`collect = all`) that is the last
    /// result of the drain: step each one with `step_at(r.meta.staleness, ..)`.
    pub fn step_for(&self, cx: &Driver) -> f64 {
        // The table keeps its live workers counted: no scan on every update.
        self.step_at(cx.staleness(), cx.workers().alive())
    }

    /// The step for a result `staleness` updates old while `workers` workers take tasks:
    /// `step`, divided by `1 + staleness` when [`staleness_aware`](Params::staleness_aware),
    /// and times `sized_for / workers` when more workers than the
    /// [`step_sized_for`](Params::step_sized_for) take tasks. A default step divides by the
    /// tasks in flight, `workers x prefetch (+ delay)`: joins past the count would otherwise
    /// send staler gradients than it tolerates, and diverge. The ratio of workers is at most
    /// that of tasks in flight, and shrinks more than the square root a variance-reduced
    /// default takes: never a larger step than one sized for them all.
    pub fn step_at(&self, staleness: u64, workers: usize) -> f64 {
        let step = if self.staleness_aware {
            self.step / (1.0 + staleness as f64)
        } else {
            self.step
        };
        match self.step_sized_for {
            Some(sized_for) if workers > sized_for => step * sized_for as f64 / workers as f64,
            _ => step,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncopt_runtime::data::Features;
    use asyncopt_runtime::{ClusterConfig, StopHandle, Token};

    #[test]
    fn a_default_step_shrinks_with_workers_past_those_it_was_sized_for() {
        let default = Params {
            step: 0.12,
            step_sized_for: Some(2),
            ..Params::new(Loss::LeastSquares)
        };
        // At or under the count, the step as set: a run at its count is as before.
        assert_eq!(default.step_at(0, 1), 0.12);
        assert_eq!(default.step_at(5, 2), 0.12);
        // Past it, in proportion: 5 workers where 2 were counted take 2/5 of it.
        assert_eq!(default.step_at(0, 5), 0.12 * 2.0 / 5.0);
        let aware = Params {
            staleness_aware: true,
            ..default.clone()
        };
        assert_eq!(aware.step_at(3, 2), 0.12 / 4.0);
        assert_eq!(aware.step_at(3, 4), 0.12 / 4.0 * 2.0 / 4.0);
        // A step chosen is left as chosen.
        let chosen = Params {
            step_sized_for: None,
            ..default
        };
        assert_eq!(chosen.step_at(0, 50), 0.12);
    }

    #[test]
    fn a_prepared_metric_of_the_settings_kind_is_not_built_again() {
        let n = 64;
        let x = ndarray::Array2::from_shape_fn((n, 3), |(i, j)| ((i * 5 + j) % 7) as f64);
        let data = Dataset::new("small.svm", Features::Dense(x), ndarray::Array1::ones(n));
        let data = data.unwrap();
        let loss = Loss::LeastSquares;
        let prepared = Metric::new(Precondition::Full, &loss, &data).unwrap();
        let mut p = Params {
            precondition: Precondition::Full,
            prepared_metric: Some(Arc::new(prepared)),
            ..Params::new(loss)
        };
        let config = ClusterConfig::remote(1, "tcp://127.0.0.1:0", Token::random());
        let mut cx = Driver::bind(config).expect("a driver on the loopback");
        // A stop asked for ends any build at once (the identity): only the prepared one
        // can come back whole.
        let stop = StopHandle::new();
        stop.request();
        cx.stop_on(stop);
        assert_eq!(p.metric(&mut cx, &data).kind(), Precondition::Full);
        // One of another kind is for other settings: the settings' own is built.
        p.precondition = Precondition::Diagonal;
        assert_eq!(p.metric(&mut cx, &data).kind(), Precondition::Diagonal);
        assert!(cx.failure().is_none(), "a stop is no failure");
    }

    #[test]
    fn a_stop_asked_for_ends_the_full_metrics_build_on_the_driver() {
        // Tall enough that the build asks between blocks of rows.
        let n = 3 * 4096;
        let x = ndarray::Array2::from_shape_fn((n, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f64);
        let data = Dataset::new("tall.svm", Features::Dense(x), ndarray::Array1::ones(n));
        let data = data.unwrap();
        let p = Params {
            precondition: Precondition::Full,
            ..Params::new(Loss::LeastSquares)
        };
        // A driver no worker joins: only its stop handle is asked.
        let config = ClusterConfig::remote(1, "tcp://127.0.0.1:0", Token::random());
        let mut cx = Driver::bind(config).expect("a driver on the loopback");
        assert!(
            !p.metric(&mut cx, &data).is_identity(),
            "built when not stopped"
        );
        let stop = StopHandle::new();
        stop.request();
        cx.stop_on(stop);
        assert!(
            p.metric(&mut cx, &data).is_identity(),
            "the build ended at the stop"
        );
        assert!(cx.failure().is_none(), "a stop is no failure");
    }
}
