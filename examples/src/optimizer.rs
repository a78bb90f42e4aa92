//! [`Optimizer`]: what the toolkit runs. The six optimizers of the `algorithms` crate are
//! optimizers; so is any `#[async_optimizer]` function of an author's own crate, which then
//! gets the whole command line (train, compare, stop rules, trace, summary, plots, saved
//! models, checkpoints, worker mode, progress, a Ctrl-C that stops the run and keeps its files)
//! from [`cli::Program`](crate::cli::Program), named after the author's crate:
//!
//! ```no_run
//! use asyncopt_algorithms::{Model, Params};
//! use asyncopt_runtime::{async_optimizer, Dataset, Driver};
//! use async_train::Optimizer;
//!
//! #[async_optimizer]
//! fn heavy_ball(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
//!     let mut w: Model = Model::zeros(data.dim());
//!     let mut v: Model = Model::zeros(data.dim());
//!     for k in 0..p.updates {
//!         broadcast!(w);
//!         let g = reduce!(data.sample(p.batch, k), |batch| p.loss.gradient(batch, w.view()));
//!         v = 0.9 * &v + &g;
//!         w.scaled_add(-p.step, &v);
//!     }
//!     w
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     asyncopt_runtime::run_worker_if_spawned(); // worker processes stop here
//!     async_train::cli::Program::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
//!         .run(&[Optimizer::new("heavy-ball", heavy_ball)])
//! }
//! ```
//!
//! An optimizer of a model of another type (a matrix, a struct of layers) joins with
//! [`Optimizer::of_model`], once its type says what its objective is
//! ([`Trainable`]): `examples/examples/softmax_cli.rs` is one.

use std::any::TypeId;
use std::fmt;

use asyncopt_algorithms::{Algorithm, Model, Params};
use asyncopt_runtime::{Dataset, Driver, Flow, Progress};

use crate::model::{ModelRef, Trainable, TrainedModel};

/// The function of an optimizer of a linear model: the driver first, then the data and the
/// settings.
pub type RunFn = fn(&mut Driver, &Dataset, &Params) -> Model;

/// An optimizer the toolkit can run: its name on the command line, its function, and the
/// facts its default step depends on.
#[derive(Clone, Copy)]
pub struct Optimizer {
    name: &'static str,
    run: Runner,
    asynchronous: bool,
    variance_reduced: bool,
    default_step: Option<f64>,
    hypers: &'static [Hyper],
    reads: &'static [Setting],
    keep_versions: Option<usize>,
    gradient_delay: usize,
}

/// A setting of the shared command line that an optimizer reads only if its code does:
/// `--momentum 0.9` given to an optimizer that never reads `p.momentum` would change nothing
/// while the summary says it was set. An optimizer declares those its code reads with
/// [`Optimizer::reads`]; a run refuses a value other than the default for a setting that no
/// optimizer of the run reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive] // More shared settings may come: an author's match needs its `_` arm.
pub enum Setting {
    /// `--momentum`, read as `p.momentum`.
    Momentum,
    /// `--precondition`, read as `p.precondition` or through `p.metric(..)`.
    Precondition,
    /// `--quorum`, read as `p.quorum` (in a `barrier!`).
    Quorum,
    /// `--max-staleness`, read as `p.max_staleness` (in a `reduce!`).
    MaxStaleness,
    /// `--staleness-aware`, read through `p.step_for(..)`.
    StalenessAware,
    /// `--epoch`, read as `p.epoch`.
    Epoch,
    /// `--lambda`, read as `p.loss`'s L2 weight. A linear model's objective is the run's
    /// loss, so every optimizer of one reads it; one of an author's own model only if its code
    /// does (its objective, say, adds the weight).
    Lambda,
    /// `--loss`, read as `p.loss`, whose classification loss also has the labels read as
    /// `+1`/`-1` (0/1 as -1/+1, any other label refused). Every optimizer of a linear model
    /// reads it; one of an author's own model only if its code does: its type's objective is
    /// its own, and `--loss logistic` would only rewrite its labels.
    Loss,
}

impl Setting {
    /// Every setting, in the order `--help` lists them.
    pub const ALL: [Setting; 8] = [
        Setting::Loss,
        Setting::Lambda,
        Setting::Momentum,
        Setting::Precondition,
        Setting::Quorum,
        Setting::MaxStaleness,
        Setting::StalenessAware,
        Setting::Epoch,
    ];

    /// The flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Setting::Momentum => "--momentum",
            Setting::Precondition => "--precondition",
            Setting::Quorum => "--quorum",
            Setting::MaxStaleness => "--max-staleness",
            Setting::StalenessAware => "--staleness-aware",
            Setting::Epoch => "--epoch",
            Setting::Lambda => "--lambda",
            Setting::Loss => "--loss",
        }
    }

    /// How an optimizer reads it.
    pub fn field(self) -> &'static str {
        match self {
            Setting::Momentum => "p.momentum",
            Setting::Precondition => "p.precondition",
            Setting::Quorum => "p.quorum",
            Setting::MaxStaleness => "p.max_staleness",
            Setting::StalenessAware => "p.step_for(cx)",
            Setting::Epoch => "p.epoch",
            Setting::Lambda => "p.loss.lambda()",
            Setting::Loss => "p.loss",
        }
    }
}

/// What the built-in optimizers read: all six take momentum and a preconditioner; the
/// asynchronous ones their barrier's quorum, their staleness bound and the staleness-aware
/// step; SVRG and ASVRG their epoch.
const SYNC_READS: &[Setting] = &[Setting::Momentum, Setting::Precondition];
const SVRG_READS: &[Setting] = &[Setting::Momentum, Setting::Precondition, Setting::Epoch];
const ASYNC_READS: &[Setting] = &[
    Setting::Momentum,
    Setting::Precondition,
    Setting::Quorum,
    Setting::MaxStaleness,
    Setting::StalenessAware,
];
const ASVRG_READS: &[Setting] = &Setting::ALL;

/// A hyperparameter of an author's optimizer: set with `--param NAME=VALUE`, read in the
/// optimizer with [`Params::param`], recorded in the summary, the saved model's settings and
/// the checkpoint's identity (a run resumed with another value is another run).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hyper {
    /// The name `--param` spells.
    pub name: &'static str,
    /// Its value when `--param` does not give one.
    pub default: f64,
    /// What it does, for the error that lists an optimizer's hyperparameters.
    pub help: &'static str,
    /// The least value `--param` may give (inclusive).
    pub min: f64,
    /// The greatest value `--param` may give (inclusive).
    pub max: f64,
    /// Whether it takes whole numbers only (a count, a number of clusters).
    pub whole: bool,
}

impl Hyper {
    /// The hyperparameter `name`, `default` unless the command line sets it, any finite
    /// number.
    pub const fn new(name: &'static str, default: f64, help: &'static str) -> Hyper {
        Hyper {
            name,
            default,
            help,
            min: f64::MIN,
            max: f64::MAX,
            whole: false,
        }
    }

    /// The same, taking values from `min` to `max` only (both included): a value outside is
    /// refused before the run starts, naming the range.
    ///
    /// ```
    /// # use async_train::Hyper;
    /// const BETA1: Hyper = Hyper::new("beta1", 0.9, "the first moment's decay").within(0.0, 0.999);
    /// assert!(BETA1.admits(0.5) && !BETA1.admits(1.0));
    /// ```
    pub const fn within(mut self, min: f64, max: f64) -> Hyper {
        self.min = min;
        self.max = max;
        self
    }

    /// The same, taking whole numbers only: a value the optimizer reads as a count (`as
    /// usize`) is refused before the run starts rather than cut (`--param k=2.5` ran with 2
    /// and recorded 2.5).
    ///
    /// ```
    /// # use async_train::Hyper;
    /// const K: Hyper = Hyper::new("k", 8.0, "the number of clusters").within(1.0, 1e6).whole();
    /// assert!(K.admits(3.0) && !K.admits(2.5));
    /// ```
    pub const fn whole(mut self) -> Hyper {
        self.whole = true;
        self
    }

    /// Whether `value` is in its range (and whole, if it must be).
    pub fn admits(&self, value: f64) -> bool {
        (self.min..=self.max).contains(&value) && (!self.whole || value.fract() == 0.0)
    }

    /// Whether it takes any finite number: no range, not only whole ones.
    pub fn takes_any(&self) -> bool {
        self.min == f64::MIN && self.max == f64::MAX && !self.whole
    }

    /// Its range as the error that refuses a value says it.
    pub fn range(&self) -> String {
        match (self.bounds(), self.whole) {
            (Some(bounds), true) => format!("{bounds}, whole numbers only"),
            (Some(bounds), false) => bounds,
            (None, true) => "whole numbers".to_owned(),
            (None, false) => "a finite number".to_owned(),
        }
    }

    /// Its least and greatest values, as `from 1 to 9`, `at least 1` or `at most 9`, if it
    /// declares any.
    pub(crate) fn bounds(&self) -> Option<String> {
        let (min, max) = (readable(self.min), readable(self.max));
        match (self.min > f64::MIN, self.max < f64::MAX) {
            (true, true) => Some(format!("from {min} to {max}")),
            (true, false) => Some(format!("at least {min}")),
            (false, true) => Some(format!("at most {max}")),
            (false, false) => None,
        }
    }
}

/// A number as `--help`, its errors and `predict`'s CSV write it, in its shortest exact form:
/// `1e-8`, not `0.00000001` (Rust's `Display` of an `f64` never uses an exponent), where that
/// saves a reader counting zeros; `0.001` and `200` as they are.
pub(crate) fn readable(x: f64) -> String {
    let (plain, exponent) = (x.to_string(), format!("{x:e}"));
    match exponent.len() + 3 <= plain.len() {
        true => exponent,
        false => plain,
    }
}

/// An optimizer's function: of a linear model, or of a model of another type.
#[derive(Clone, Copy)]
enum Runner {
    Linear(RunFn),
    Own(&'static dyn OwnRunner),
}

/// The function of an optimizer of an `M`, without `M` in its type.
trait OwnRunner: Sync {
    fn run(&self, cx: &mut Driver, data: &Dataset, params: &Params) -> TrainedModel;
    fn observe(&self, cx: &mut Driver, look: Look);
    fn judge_checkpoints(&self, cx: &mut Driver, judge: Judge);
    fn model_type(&self) -> TypeId;
    fn model_from_json(&self, json: &serde_json::Value) -> serde_json::Result<TrainedModel>;
    fn model_from_state(&self, bytes: &[u8]) -> Option<TrainedModel>;
}

/// What looks at every new model of a run.
type Look = Box<dyn FnMut(&Progress, ModelRef<'_>) -> Flow + Send>;

/// What judges the model of every checkpoint of a run, named as its loop variable:
/// `Some(why)` keeps it out.
type Judge = Box<dyn FnMut(&Progress, &str, ModelRef<'_>) -> Option<String> + Send>;

struct Typed<M>(fn(&mut Driver, &Dataset, &Params) -> M);

impl<M: Trainable> OwnRunner for Typed<M> {
    fn run(&self, cx: &mut Driver, data: &Dataset, params: &Params) -> TrainedModel {
        TrainedModel::new((self.0)(cx, data, params))
    }

    fn observe(&self, cx: &mut Driver, mut look: Look) {
        cx.observe(move |at, model: &M| look(at, ModelRef::of(model)));
    }

    fn judge_checkpoints(&self, cx: &mut Driver, mut judge: Judge) {
        cx.checkpoint_judge(move |at, name, model: &M| judge(at, name, ModelRef::of(model)));
    }

    fn model_type(&self) -> TypeId {
        TypeId::of::<M>()
    }

    fn model_from_json(&self, json: &serde_json::Value) -> serde_json::Result<TrainedModel> {
        <M as serde::Deserialize>::deserialize(json).map(TrainedModel::new)
    }

    fn model_from_state(&self, bytes: &[u8]) -> Option<TrainedModel> {
        postcard::from_bytes::<M>(bytes).ok().map(TrainedModel::new)
    }
}

impl Optimizer {
    /// A synchronous optimizer of a linear model, named `name` (as `--algo` spells it); its
    /// default step is 1/L_b (see [`default_step`](crate::job::default_step)). An optimizer
    /// that returns another type than [`Model`] (a `Vec<f64>`, a matrix, a struct) joins with
    /// [`of_model`](Optimizer::of_model) instead, its type implementing [`Trainable`]. So does
    /// one of a model that is not linear even when its parameters are one `Array1<f64>` (a
    /// network's, flattened): the toolkit scores a [`Model`] as one weight per feature under
    /// the run's loss, so it wraps them in a struct of its own.
    pub const fn new(name: &'static str, run: RunFn) -> Optimizer {
        Optimizer {
            name,
            run: Runner::Linear(run),
            asynchronous: false,
            variance_reduced: false,
            default_step: None,
            hypers: &[],
            reads: &[],
            keep_versions: None,
            gradient_delay: 0,
        }
    }

    /// A synchronous optimizer of a model of type `M`, named `name`. The toolkit knows of
    /// `M` only what [`Trainable`] says, so it cannot derive a step from the data: the run
    /// takes `--step`, or the default given with [`default_step`](Optimizer::default_step).
    /// The optimum f* is not computed either: `--optimum` gives it. Its saved model holds
    /// `M` as its serde JSON (read it back with
    /// [`SavedModel::own`](crate::model_file::SavedModel::own)), with this optimizer's name:
    /// `evaluate` and `predict` of a program whose [`cli::run`](crate::cli::run) is given
    /// this optimizer find `M` by that name and score the model as `M` says
    /// ([`Trainable::metrics`], [`Trainable::predict_row`]).
    ///
    /// Call it once per optimizer in a program: it keeps `run` for the program's lifetime
    /// (a few bytes), so that the optimizer stays `Copy`.
    pub fn of_model<M: Trainable>(
        name: &'static str,
        run: fn(&mut Driver, &Dataset, &Params) -> M,
    ) -> Optimizer {
        let runner: &'static Typed<M> = Box::leak(Box::new(Typed(run)));
        Optimizer {
            name,
            run: Runner::Own(runner),
            asynchronous: false,
            variance_reduced: false,
            default_step: None,
            hypers: &[],
            reads: &[],
            keep_versions: None,
            gradient_delay: 0,
        }
    }

    /// The same, with `step` as its step when `--step` is not given, in place of the one the
    /// toolkit derives from the data.
    pub const fn default_step(mut self, step: f64) -> Optimizer {
        self.default_step = Some(step);
        self
    }

    /// The same, with the hyperparameters `hypers` of its own (`--param NAME=VALUE`):
    ///
    /// ```
    /// # use async_train::{Hyper, Optimizer};
    /// # use asyncopt_algorithms::{Model, Params};
    /// # fn scheduled(cx: &mut asyncopt_runtime::Driver, _: &asyncopt_runtime::Dataset, p: &Params) -> Model {
    /// let half_life = p.hyper(cx, "half-life"); // the step halves every so many updates
    /// # Model::zeros(1) }
    /// const SCHEDULED: Optimizer = Optimizer::new("scheduled", scheduled)
    ///     .params(&[Hyper::new("half-life", 200.0, "updates over which the step halves")]);
    /// ```
    pub const fn params(mut self, hypers: &'static [Hyper]) -> Optimizer {
        self.hypers = hypers;
        self
    }

    /// Its own hyperparameters.
    pub fn hypers(&self) -> &'static [Hyper] {
        self.hypers
    }

    /// The same, reading the shared `settings` besides the step, the batch and the update
    /// bound, which every optimizer gets:
    ///
    /// ```
    /// # use async_train::{Optimizer, Setting};
    /// # use asyncopt_algorithms::{Model, Params};
    /// # fn heavy_ball(_: &mut asyncopt_runtime::Driver, _: &asyncopt_runtime::Dataset, p: &Params) -> Model {
    /// let beta = p.momentum; // --momentum reaches it
    /// # Model::zeros(1) }
    /// const HEAVY_BALL: Optimizer = Optimizer::new("heavy-ball", heavy_ball)
    ///     .reads(&[Setting::Momentum]);
    /// ```
    ///
    /// A run whose optimizers all leave a setting unread refuses a value for it.
    pub const fn reads(mut self, settings: &'static [Setting]) -> Optimizer {
        self.reads = settings;
        self
    }

    /// The shared settings it declares it reads.
    pub fn settings(&self) -> &'static [Setting] {
        self.reads
    }

    /// Whether it reads `setting`: declared, or the loss and its weight of a linear model,
    /// which the objective reads whatever the optimizer's code does.
    pub fn reads_setting(&self, setting: Setting) -> bool {
        let objective = matches!(setting, Setting::Loss | Setting::Lambda);
        self.reads.contains(&setting) || (objective && self.is_linear())
    }

    /// The same, reading versions of its broadcast variables up to `versions` old
    /// (`w.at(v)` in a `reduce!`, `cx.value_at` on the driver): the driver keeps at least
    /// that many of each, beyond the default 16 (`--keep-versions` can raise it further). A
    /// pinned read of an older version ends the run with an error that names it; `value_at`
    /// gives `None`.
    pub const fn keeps_versions(mut self, versions: usize) -> Optimizer {
        self.keep_versions = Some(versions);
        self
    }

    /// The same, stepping along gradients taken at the model `updates` updates back (a
    /// fixed-lag read `w.at(latest - updates)`): its default step counts them as stale, as
    /// it does an asynchronous method's results (see
    /// [`default_step`](crate::job::default_step)), and the driver keeps the `updates + 1`
    /// versions it reads, as [`keeps_versions`](Optimizer::keeps_versions) says.
    pub const fn gradient_delay(mut self, updates: usize) -> Optimizer {
        self.gradient_delay = updates;
        let versions = updates.saturating_add(1);
        self.keep_versions = match self.keep_versions {
            Some(kept) if kept >= versions => Some(kept),
            _ => Some(versions),
        };
        self
    }

    /// The updates back its gradients are taken at (0 unless declared).
    pub fn delay(&self) -> usize {
        self.gradient_delay
    }

    /// The versions of each broadcast variable it declares it reads back, if it does.
    pub fn kept_versions(&self) -> Option<usize> {
        self.keep_versions
    }

    /// The step its author chose for it, if any.
    pub fn authors_step(&self) -> Option<f64> {
        self.default_step
    }

    /// Whether its model is a linear [`Model`], whose objective is the run's loss: the
    /// toolkit then computes f* (least squares), derives the default step from the data, and
    /// `evaluate` and `predict` score its saved weights by the loss (a model of another type
    /// by what its [`Trainable`] says).
    pub fn is_linear(&self) -> bool {
        match self.run {
            Runner::Linear(_) => true,
            Runner::Own(own) => own.model_type() == TypeId::of::<Model>(),
        }
    }

    /// The same, marked asynchronous: stale gradients ask for a default step `workers x
    /// prefetch` times smaller (variance-reduced methods: see
    /// [`default_step`](crate::job::default_step)). A step the author chose with
    /// [`Optimizer::default_step`] is used as it is: it is the one for this method.
    pub const fn asynchronous(mut self) -> Optimizer {
        self.asynchronous = true;
        self
    }

    /// The same, marked variance-reduced (SAGA, SVRG): its default step is a third of SGD's,
    /// `1/(3 L_b)` (and, asynchronous, shrinks as `1/sqrt(workers x prefetch)` rather than
    /// `1/(workers x prefetch)`: see [`default_step`](crate::job::default_step)).
    pub const fn variance_reduced(mut self) -> Optimizer {
        self.variance_reduced = true;
        self
    }

    /// The name on the command line and in the files.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether it is asynchronous.
    pub fn is_async(&self) -> bool {
        self.asynchronous
    }

    /// Whether it reduces variance.
    pub fn is_variance_reduced(&self) -> bool {
        self.variance_reduced
    }

    /// Runs it on `data` with the driver's workers.
    pub fn run(&self, cx: &mut Driver, data: &Dataset, params: &Params) -> TrainedModel {
        match self.run {
            Runner::Linear(run) => TrainedModel::new(run(cx, data, params)),
            Runner::Own(own) => own.run(cx, data, params),
        }
    }

    /// Its model read back from `json`, a saved model's `own` form: `None` for an optimizer
    /// of a linear model, whose saved model holds weights instead.
    pub fn model_from_json(
        &self,
        json: &serde_json::Value,
    ) -> Option<serde_json::Result<TrainedModel>> {
        match self.run {
            Runner::Linear(_) => None,
            Runner::Own(own) => Some(own.model_from_json(json)),
        }
    }

    /// A checkpoint's loop variable (its saved `bytes`) read as this optimizer's model:
    /// `None` for a variable of another type.
    pub fn model_from_state(&self, bytes: &[u8]) -> Option<TrainedModel> {
        match self.run {
            Runner::Linear(_) => postcard::from_bytes::<Model>(bytes)
                .ok()
                .map(TrainedModel::new),
            Runner::Own(own) => own.model_from_state(bytes),
        }
    }

    /// Calls `look` with every new value of its model during a run on `cx`.
    pub fn observe(
        &self,
        cx: &mut Driver,
        mut look: impl FnMut(&Progress, ModelRef<'_>) -> Flow + Send + 'static,
    ) {
        match self.run {
            Runner::Linear(_) => cx.observe(move |at, model: &Model| look(at, ModelRef::of(model))),
            Runner::Own(own) => own.observe(cx, Box::new(look)),
        }
    }

    /// Has `judge` look at the model of every checkpoint of a run on `cx` before it is
    /// written, with its name among the checkpoint's loop variables: one it finds wrong
    /// (`Some(why)`) is not written.
    pub fn judge_checkpoints(
        &self,
        cx: &mut Driver,
        mut judge: impl FnMut(&Progress, &str, ModelRef<'_>) -> Option<String> + Send + 'static,
    ) {
        match self.run {
            Runner::Linear(_) => cx.checkpoint_judge(move |at, name, model: &Model| {
                judge(at, name, ModelRef::of(model))
            }),
            Runner::Own(own) => own.judge_checkpoints(cx, Box::new(judge)),
        }
    }

    /// The six optimizers of the `algorithms` crate.
    pub fn builtin() -> Vec<Optimizer> {
        Algorithm::ALL.into_iter().map(Optimizer::from).collect()
    }
}

impl From<Algorithm> for Optimizer {
    fn from(algorithm: Algorithm) -> Optimizer {
        Optimizer {
            name: algorithm.name(),
            run: Runner::Linear(algorithm.function()),
            asynchronous: algorithm.is_async(),
            variance_reduced: algorithm.is_variance_reduced(),
            default_step: None,
            hypers: &[],
            reads: match algorithm {
                Algorithm::Sgd | Algorithm::Saga => SYNC_READS,
                Algorithm::Svrg => SVRG_READS,
                Algorithm::Asgd | Algorithm::Asaga => ASYNC_READS,
                Algorithm::Asvrg => ASVRG_READS,
            },
            keep_versions: None,
            gradient_delay: 0,
        }
    }
}

/// Optimizers are known by their names.
impl PartialEq for Optimizer {
    fn eq(&self, other: &Optimizer) -> bool {
        self.name == other.name
    }
}

impl PartialEq<Algorithm> for Optimizer {
    fn eq(&self, other: &Algorithm) -> bool {
        self.name == other.name()
    }
}

impl fmt::Display for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl fmt::Debug for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Optimizer")
            .field("name", &self.name)
            .field("asynchronous", &self.asynchronous)
            .field("variance_reduced", &self.variance_reduced)
            .field("linear", &self.is_linear())
            .field("default_step", &self.default_step)
            .finish()
    }
}

/// The optimizers a command line offers: the built-in six and an author's own, by name.
#[derive(Clone, Debug)]
pub struct Registry {
    optimizers: Vec<Optimizer>,
}

impl Registry {
    /// The built-in optimizers and `extra`; an extra one may not reuse a name.
    pub fn with(extra: &[Optimizer]) -> Result<Registry, String> {
        let mut optimizers = Optimizer::builtin();
        let builtin = optimizers.len();
        for optimizer in extra {
            // `--algo` finds a name whatever its case: names that differ only there clash.
            let clash = optimizers
                .iter()
                .position(|o| o.name.eq_ignore_ascii_case(optimizer.name));
            match clash {
                // The author did not write that name twice: say whose it is.
                Some(i) if i < builtin => {
                    return Err(format!(
                        "`{optimizer}` is the name of a built-in optimizer ({}): choose another",
                        optimizers[i].name
                    ))
                }
                Some(_) => {
                    return Err(format!(
                        "two optimizers are named `{optimizer}`: give each its own name"
                    ))
                }
                None => {}
            }
            // A name also names the files of `compare`: no separators, no `..`.
            let spelt = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            if optimizer.name.is_empty() || !optimizer.name.chars().all(spelt) {
                return Err(format!(
                    "`{optimizer}` cannot be an optimizer's name on the command line: use \
                     letters, digits, dashes and underscores"
                ));
            }
            for (i, hyper) in optimizer.hypers.iter().enumerate() {
                // A name `--param NAME=VALUE` cannot spell, or spells twice, is the author's
                // mistake: said when the program starts, not when a user tries it.
                if hyper.name.is_empty() || hyper.name.contains(['=', ' ', ',']) {
                    return Err(format!(
                        "`{}` of `{optimizer}` cannot be set by --param NAME=VALUE: use \
                         letters, digits and dashes",
                        hyper.name
                    ));
                }
                if optimizer.hypers[..i].iter().any(|h| h.name == hyper.name) {
                    return Err(format!("`{optimizer}` declares `{}` twice", hyper.name));
                }
                if !hyper.admits(hyper.default) {
                    return Err(format!(
                        "`{}` of `{optimizer}` defaults to {}, outside its own range ({})",
                        hyper.name,
                        hyper.default,
                        hyper.range()
                    ));
                }
            }
            optimizers.push(*optimizer);
        }
        Ok(Registry { optimizers })
    }

    /// Every optimizer, built-in first.
    pub fn all(&self) -> &[Optimizer] {
        &self.optimizers
    }

    /// The optimizer called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Result<Optimizer, String> {
        self.optimizers
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = self.optimizers.iter().map(|o| o.name).collect();
                let what = match name.trim().is_empty() {
                    // `--algos sgd,` or `--algo ''`: "unknown algorithm ``" named nothing.
                    true => "an empty algorithm name (a comma too many in --algos?)".to_owned(),
                    false => format!("unknown algorithm `{name}`"),
                };
                format!("{what}: choose one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mine(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
        asyncopt_algorithms::sgd(cx, data, p)
    }

    #[test]
    fn small_and_large_numbers_are_written_with_an_exponent() {
        let eps = Hyper::new("eps", 1e-8, "a floor").within(1e-12, 1e6);
        assert_eq!(eps.range(), "from 1e-12 to 1e6");
        assert_eq!(readable(eps.default), "1e-8");
        for (x, text) in [
            (0.001, "0.001"),
            (200.0, "200"),
            (0.9, "0.9"),
            (-2.5e-7, "-2.5e-7"),
        ] {
            assert_eq!(readable(x), text);
        }
    }

    #[test]
    fn the_builtin_six_keep_their_names_and_kinds() {
        let registry = Registry::with(&[]).unwrap();
        assert_eq!(registry.all().len(), 6);
        let asaga = registry.get("ASAGA").unwrap();
        assert_eq!(asaga, Algorithm::Asaga);
        assert!(asaga.is_async() && asaga.is_variance_reduced());
        assert!(!registry.get("sgd").unwrap().is_async());
        let err = registry.get("adam").unwrap_err();
        assert!(err.contains("unknown algorithm `adam`") && err.contains("asvrg"));
    }

    #[test]
    fn an_authors_optimizer_joins_by_a_name_of_its_own() {
        let adam = Optimizer::new("my-sgd", mine).asynchronous();
        let registry = Registry::with(&[adam]).unwrap();
        assert_eq!(registry.get("my-sgd").unwrap(), adam);
        assert!(registry.get("my-sgd").unwrap().is_async());
        assert_eq!(
            Registry::with(&[Optimizer::new("sgd", mine)]).unwrap_err(),
            "`sgd` is the name of a built-in optimizer (sgd): choose another"
        );
        assert!(Registry::with(&[Optimizer::new("a,b", mine)]).is_err());
        // `--algo SGD` finds the built-in: a name that differs only in case could never run.
        assert_eq!(
            Registry::with(&[Optimizer::new("SGD", mine)]).unwrap_err(),
            "`SGD` is the name of a built-in optimizer (sgd): choose another"
        );
        // Two of the author's own share one.
        assert!(
            Registry::with(&[Optimizer::new("mine", mine), Optimizer::new("Mine", mine)])
                .unwrap_err()
                .contains("two optimizers are named `Mine`")
        );
        // A name names compare's files too.
        for bad in ["../x", "a/b", "a.b"] {
            assert!(
                Registry::with(&[Optimizer::new(bad, mine)]).is_err(),
                "{bad}"
            );
        }
        assert!(Registry::with(&[Optimizer::new("my_sgd-2", mine)]).is_ok());
    }

    #[test]
    fn hyperparameters_that_param_cannot_set_are_refused_at_start() {
        const TWICE: &[Hyper] = &[Hyper::new("h", 1.0, ""), Hyper::new("h", 2.0, "")];
        const SPACED: &[Hyper] = &[Hyper::new("half life", 1.0, "")];
        let twice = Registry::with(&[Optimizer::new("mine", mine).params(TWICE)]);
        assert!(twice.unwrap_err().contains("declares `h` twice"));
        let spaced = Registry::with(&[Optimizer::new("mine", mine).params(SPACED)]);
        assert!(spaced
            .unwrap_err()
            .contains("`half life` of `mine` cannot be set"));
        const OUTSIDE: &[Hyper] = &[Hyper::new("rate", 2.0, "").within(0.0, 1.0)];
        let outside = Registry::with(&[Optimizer::new("mine", mine).params(OUTSIDE)]);
        assert!(outside
            .unwrap_err()
            .contains("`rate` of `mine` defaults to 2, outside its own range (from 0 to 1)"));
    }
}
