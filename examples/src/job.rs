//! One training job: load the data, find the optimum and the step, launch the workers, run the
//! algorithm while an observer records the trace, and gather what the run produced.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use asyncopt_algorithms::{
    max_row_smoothness, preconditioned_max_row_smoothness, preconditioned_smoothness,
    ridge_optimum, Loss, Metric, Params, Precondition,
};
use asyncopt_runtime::checkpoint::{self, CheckpointPolicy};
use asyncopt_runtime::data::{Dataset, LabelRule, LoadOptions, SharedOptions};
use asyncopt_runtime::{panics, ClusterConfig, Driver, RunReport, RuntimeError};

use crate::model::TrainedModel;
use crate::model_file::{self, DataInfo, SavedModel};
use crate::optimizer::{Hyper, Optimizer, Setting};
use crate::progress::Progress;
use crate::trace::{create_parent, same_file, Trace, TracePoint};
use crate::watch::{self, Verdict, Watch};

/// Where the data comes from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// The built-in California housing set.
    Builtin,
    /// A LIBSVM file.
    File {
        /// Its path.
        path: PathBuf,
        /// The number of features, if the file does not use the last.
        dim: Option<usize>,
        /// The largest number of features accepted (the memory budget of a model).
        max_dim: usize,
        /// How the workers get their partitions.
        access: DataAccess,
    },
}

/// How workers get their partitions of a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataAccess {
    /// The driver reads the whole file and ships each worker its partitions.
    Ship,
    /// Every worker reads its own byte-range splits of the file (the same path on every
    /// host); the driver scans it and reads an evaluation sample of at most `eval_rows` rows.
    Shared {
        /// Rows of the driver's evaluation sample.
        eval_rows: usize,
    },
}

impl DataSource {
    /// Loads the dataset as it is in the file: whole, or (shared access) the driver's
    /// evaluation sample standing for the file; `seed` draws the sample.
    pub fn load(&self, seed: u64) -> Result<Dataset> {
        match self {
            DataSource::Builtin => crate::builtin::cal_housing_scale(),
            DataSource::File {
                path,
                dim,
                max_dim,
                access,
            } => {
                let options = LoadOptions {
                    dim: *dim,
                    max_dim: *max_dim,
                    ..LoadOptions::default()
                };
                match access {
                    DataAccess::Ship => load_file(path, &options),
                    DataAccess::Shared { eval_rows } => {
                        if !path.exists() {
                            bail!("data file {} does not exist", path.display());
                        }
                        let shared = SharedOptions {
                            load: options,
                            eval_rows: *eval_rows,
                            seed,
                        };
                        Dataset::open_shared(path, &shared).context("cannot open the data")
                    }
                }
            }
        }
    }
}

pub(crate) fn load_file(path: &Path, options: &LoadOptions) -> Result<Dataset> {
    if !path.exists() {
        bail!("data file {} does not exist", path.display());
    }
    // The data layer's errors name the file (and the line) and say why.
    Dataset::load(path, options).context("cannot load the data")
}

/// Loads a LIBSVM file for `loss`: its labels checked, the bias feature appended.
pub fn load_for(
    path: &Path,
    options: &LoadOptions,
    bias: Option<f64>,
    loss: &Loss,
) -> Result<Dataset> {
    prepare(load_file(path, options)?, bias, loss)
}

/// The data as `loss` reads it: classification labels are `+1`/`-1` (a file of 0/1 labels is
/// read with 0 as -1; any other label is an error naming its row), and with `bias`, a constant
/// feature is appended to every row.
pub fn prepare(data: Dataset, bias: Option<f64>, loss: &Loss) -> Result<Dataset> {
    let mut data = data;
    if loss.is_classification() {
        let labels = data.labels();
        // A shared file's rule comes from all its rows, which its workers read, not from the
        // driver's sample: one of only 1s would make the 0s elsewhere errors.
        let is = |values: &[f64]| match data.origin() {
            Some(file) => file.label_values().all_in(values),
            None => labels.iter().all(|y| values.contains(y)),
        };
        let (zero_one, signed) = (is(&[0.0, 1.0]), is(&[1.0, -1.0]));
        if let Some(file) = data.origin().filter(|_| !zero_one && !signed) {
            // The workers would each find it in their rows, mid-run: said before any runs.
            bail!(
                "{}: its labels are {}, but the logistic loss reads +1/-1 or 0/1",
                data.name(),
                file.label_values().seen()
            );
        }
        // Workers reading their own splits apply the same rule to their rows.
        let rule = if zero_one && !signed {
            tracing::info!("labels 0/1 read as -1/+1 for the logistic loss");
            LabelRule::ZeroOneAsSigned
        } else {
            LabelRule::Signed
        };
        data = data
            .with_labels(rule)
            .map_err(|e| anyhow!("{e}: the logistic loss reads +1/-1 or 0/1 labels"))?;
    }
    Ok(match bias {
        Some(value) => data.with_bias(value),
        None => data,
    })
}

/// When a run stops, besides its update bound.
#[derive(Debug, Clone, Default)]
pub struct StopRules {
    /// Seconds of training.
    pub time_s: Option<f64>,
    /// Relative suboptimality to reach.
    pub target_subopt: Option<f64>,
    /// The optimal objective, if known.
    pub optimum: Option<f64>,
}

/// Checkpoints of the driver: where, how often, and which one to resume.
#[derive(Debug, Clone, Default)]
pub struct Checkpointing {
    /// The folder to write checkpoints into.
    pub dir: Option<PathBuf>,
    /// Write one after this many updates.
    pub every_updates: Option<u64>,
    /// Write one after this many seconds of training (10 s when neither is given).
    pub every_s: Option<f64>,
    /// The folder of the checkpoint to resume.
    pub resume: Option<PathBuf>,
}

/// The summary's fields that a saved model keeps as its settings.
const SETTINGS: &[&str] = &[
    "algo",
    "dataset",
    "loss",
    "lambda",
    "bias",
    "workers",
    "stragglers",
    "seed",
    "step",
    "batch",
    "precondition",
    "momentum",
    "quorum",
    "max_staleness",
    "staleness_aware",
    "epoch",
    "prefetch",
    "partitions_per_worker",
    "params",
    "updates",
    "elapsed_s",
];

/// Seconds of training between checkpoints when no interval is given.
const DEFAULT_CHECKPOINT_S: f64 = 10.0;

/// Everything one job needs.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The optimizer.
    pub algorithm: Optimizer,
    /// The data.
    pub data: DataSource,
    /// The value of a constant feature appended to every row (an intercept), if any.
    pub bias: Option<f64>,
    /// The objective.
    pub loss: Loss,
    /// The step; 1/L when `None`.
    pub step: Option<f64>,
    /// Heavy-ball momentum.
    pub momentum: f64,
    /// Rows per partition and task.
    pub batch: usize,
    /// Update bound.
    pub updates: usize,
    /// Idle workers before an asynchronous dispatch.
    pub quorum: usize,
    /// Staleness bound of asynchronous reduces.
    pub max_staleness: u64,
    /// Staleness-aware step.
    pub staleness_aware: bool,
    /// SVRG: updates per snapshot (0: one pass over the data, see `Params::epoch`).
    pub epoch: usize,
    /// The fixed preconditioner of the update direction.
    pub precondition: Precondition,
    /// Values of an author's hyperparameters (`--param NAME=VALUE`); an optimizer gets those
    /// it declares ([`Optimizer::params`](crate::Optimizer::params)), the rest at their
    /// defaults.
    pub params: Vec<(String, f64)>,
    /// The cluster.
    pub cluster: ClusterConfig,
    /// Stop rules.
    pub stop: StopRules,
    /// Seconds of training between evaluations, at least ten times an evaluation's cost
    /// (see [`crate::watch`]).
    pub eval_every_s: f64,
    /// No progress output.
    pub quiet: bool,
    /// Driver checkpoints.
    pub checkpointing: Checkpointing,
}

/// What a job produced.
pub struct Outcome {
    /// The optimizer.
    pub algorithm: Optimizer,
    /// The final model: a linear [`Model`](asyncopt_algorithms::Model) for the built-in optimizers
    /// ([`TrainedModel::linear`]), or the type of an author's own.
    pub model: TrainedModel,
    /// The evaluation points.
    pub trace: Trace,
    /// The run's report (counters, worker table).
    pub report: RunReport,
    /// Why the run ended early, if it failed; the model and trace are kept all the same.
    pub failure: Option<String>,
    /// f*, if known.
    pub optimum: Option<f64>,
    /// The step used.
    pub step: f64,
    /// The dataset's name.
    pub dataset: String,
    /// With shared data access and a file of more rows than `--eval-rows`: the rows of the
    /// evaluation sample the objective is measured on, and the file's.
    pub sampled: Option<(usize, usize)>,
    /// The job's settings.
    pub spec: JobSpec,
    /// Updates and seconds of training of the checkpoint the run resumed from.
    pub resumed_from: Option<(u64, f64)>,
    /// A signal (Ctrl-C) stopped the run before its stop rules did; the model and trace are
    /// those of where it stopped.
    pub interrupted: bool,
}

impl JobSpec {
    /// The job's data as its loss reads it (see [`prepare`]).
    pub fn load_data(&self) -> Result<Arc<Dataset>> {
        Ok(Arc::new(prepare(
            self.data.load(self.cluster.seed)?,
            self.bias,
            &self.loss,
        )?))
    }
}

/// f* of `loss` on `data`: given, or computed exactly for (ridge) least squares.
pub fn optimum(loss: &Loss, data: &Dataset, given: Option<f64>) -> Result<Option<f64>> {
    match (given, loss) {
        (Some(value), _) => Ok(Some(value)),
        (None, Loss::LeastSquares | Loss::Ridge { .. }) => {
            let (_, value) = ridge_optimum(data, loss.lambda()).map_err(|e| {
                if let Some(why) = overflow(data, loss.lambda()) {
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

/// Runs one job on `data`.
pub fn run(spec: &JobSpec, data: &Arc<Dataset>) -> Result<Outcome> {
    let linear = spec.algorithm.is_linear();
    // The optimum the toolkit computes is a linear model's.
    let optimum = if linear {
        optimum(&spec.loss, data, spec.stop.optimum)?
    } else {
        spec.stop.optimum
    };
    if let (Some(_), Some(f)) = (spec.stop.target_subopt, optimum) {
        if f <= 0.0 {
            bail!(
                "--target-subopt is relative to f*, which is {f}: the data is fitted exactly, so \
                 stop with --time or --updates instead"
            );
        }
    }
    if spec.stop.target_subopt.is_some() && optimum.is_none() {
        let of = if linear {
            "this loss"
        } else {
            "a model of an author's own type"
        };
        bail_usage!("--target-subopt needs the optimum: pass --optimum VALUE for {of}");
    }
    let (workers, per_worker) = (spec.cluster.workers, spec.cluster.partitions_per_worker);
    let partitions = workers.checked_mul(per_worker);
    let Some(partitions) = partitions.filter(|&partitions| partitions <= data.full_rows()) else {
        bail!(
            "{} rows cannot fill {workers} workers x {per_worker} partitions per worker: every \
             partition needs a row",
            data.full_rows(),
        );
    };
    if let Some(file) = data.origin() {
        // Workers reading their own splits: a file too small for that many is refused now,
        // not at the first task, after every worker started.
        file.orders(partitions, spec.cluster.seed)?;
    }
    let step = step_of(spec, data)?;
    let params = Params {
        loss: spec.loss,
        updates: spec.updates,
        step,
        momentum: spec.momentum,
        batch: spec.batch,
        quorum: spec.quorum,
        max_staleness: spec.max_staleness,
        staleness_aware: spec.staleness_aware,
        epoch: spec.epoch,
        precondition: spec.precondition,
        extra: hyperparameters(spec.algorithm, &spec.params),
    };
    // Naming the data by content costs a pass over it: only runs that checkpoint pay for it.
    let checkpointing = spec.checkpointing.dir.is_some() || spec.checkpointing.resume.is_some();
    let identity = if checkpointing {
        identity(spec, data, &params)
    } else {
        String::new()
    };
    if let Some(dir) = &spec.checkpointing.resume {
        // Not created by the claim below: a misspelt folder is a mistake to say, not to make.
        if !dir.is_dir() {
            let why = match dir.exists() {
                true => "a file, not a checkpoint folder",
                false => "no such folder",
            };
            bail!("--resume {}: {why}", dir.display());
        }
    }
    // Held for the run: one folder, one run at a time.
    let writes_into = (spec.checkpointing.dir.as_ref()).or(spec.checkpointing.resume.as_ref());
    let _folder = match writes_into {
        Some(dir) => Some(claim_checkpoint_folder(
            dir,
            spec.checkpointing.resume.as_deref(),
        )?),
        None => None,
    };
    // A checkpoint that cannot be resumed is refused before any worker starts.
    let resumed = match &spec.checkpointing.resume {
        Some(dir) => Some(checkpoint::read(dir, &identity)?),
        None => None,
    };
    let earlier: Vec<TracePoint> = match &resumed {
        Some(saved) if !saved.annex.is_empty() => serde_json::from_slice(&saved.annex)
            .context("the checkpoint's trace does not decode")?,
        _ => Vec::new(),
    };
    let mut cluster = spec.cluster.clone();
    if let Some(versions) = spec.algorithm.kept_versions() {
        cluster.keep_versions = cluster.keep_versions.max(versions);
    }
    let mut driver = launch(&cluster)?;
    let resumed_from = resumed.map(|saved| {
        let saved = driver.resume(saved);
        (saved.stats.updates, saved.elapsed_s)
    });
    if let Some((updates, elapsed_s)) = resumed_from {
        tracing::info!(updates, elapsed_s, step, "resuming from the checkpoint");
    }
    let points = Rc::new(RefCell::new(Vec::new()));
    let diverged = Rc::new(RefCell::new(None));
    let progress = Rc::new(RefCell::new(Progress::new(
        spec.algorithm.name(),
        spec.updates as u64,
        spec.stop.time_s,
        spec.quiet,
    )));
    let watch = Rc::new(RefCell::new(Watch::new(
        params.clone(),
        data.clone(),
        optimum,
        spec.stop.clone(),
        spec.eval_every_s,
    )));
    install_observer(
        spec.algorithm,
        &mut driver,
        watch.clone(),
        points.clone(),
        progress.clone(),
        diverged.clone(),
    );

    let checkpoint_dir = spec
        .checkpointing
        .dir
        .clone()
        .or_else(|| spec.checkpointing.resume.clone());
    if let Some(dir) = checkpoint_dir {
        let every_s = match (spec.checkpointing.every_updates, spec.checkpointing.every_s) {
            (None, None) => Some(DEFAULT_CHECKPOINT_S),
            (_, every_s) => every_s,
        };
        driver.checkpoint_to(CheckpointPolicy {
            dir,
            every_updates: spec.checkpointing.every_updates,
            every: every_s.map(Duration::from_secs_f64),
            job: identity,
        });
        let (points, earlier) = (points.clone(), earlier.clone());
        driver.checkpoint_annex(move || {
            // The trace so far (a resumed run's trace goes on from it), encoded on the
            // checkpoint's thread.
            let mut taken = earlier.clone();
            taken.extend_from_slice(&points.borrow());
            Box::new(move || serde_json::to_vec(&taken).expect("JSON of numbers"))
        });
    }

    // An optimizer that panics (a result of another shape than its model, an author's bug)
    // ends the run, not the program: the latest model looked at is kept, with the trace.
    let ran = panics::catch(|| spec.algorithm.run(&mut driver, data, &params));
    let (model, panicked) = match ran {
        Ok(model) => (model, None),
        Err(message) => {
            let latest = watch.borrow_mut().take_latest_model();
            let Some((at, model)) = latest else {
                progress.borrow().finish();
                // Dropped, not finished: a comparison ends here, and its workers with it.
                drop(driver);
                bail!(
                    "{} panicked before the stop rules looked at a model of its (nothing to \
                     keep): {message}",
                    spec.algorithm
                );
            };
            (model, Some((at, message)))
        }
    };

    progress.borrow().finish();
    driver.wait_for_checkpoint();
    let report = driver.report();
    let interrupted = driver.stop_requested();
    let finished = driver.finish();
    if let (Some((updates, _)), None, Err(e)) = (resumed_from, &panicked, &finished) {
        if report.stats.updates == updates {
            // Failed before its first update from the checkpoint (its variables did not
            // restore, say): the model in hand is the loop's fresh start, not the checkpoint's,
            // and files would present it as the model of that update.
            bail!(
                "{} failed before its first update from the checkpoint of update {updates}, \
                 which stays as it was; no file written: {e}",
                spec.algorithm
            );
        }
    }
    let mut failure = match &panicked {
        Some((at, message)) => Some(format!(
            "{} panicked after {} updates: {message}; the model kept is that of update {}",
            spec.algorithm, report.stats.updates, at.updates
        )),
        None => finished.err().map(|e| e.to_string()),
    }
    .or_else(|| diverged.take());
    let mut trace = Trace { points: earlier };
    let mut points = points.take();
    // A model the optimizer left of another shape than the data's panics here too.
    let recorded = panics::catch(|| watch.borrow_mut().evaluate_recorded());
    points.extend(recorded.unwrap_or_default());
    points.sort_by(|a, b| a.elapsed_s.total_cmp(&b.elapsed_s));
    trace.points.extend(points);
    // The last point: the model the algorithm returned. A run that ended (its updates or time
    // spent) while exploding between two evaluations is a divergence all the same.
    let objective = panics::catch(|| model.objective(data.as_ref(), &params)).unwrap_or(f64::NAN);
    let start = watch
        .borrow()
        .start()
        .or(trace.points.first().map(|p| p.objective));
    if let Some(start) =
        start.filter(|&start| failure.is_none() && watch::exploded(start, objective))
    {
        failure = Some(watch::divergence(start, objective, report.stats.updates));
    }
    // The model's own update count and time: a panicked run's is that of the model kept.
    let (updates, elapsed_s) = panicked
        .map_or((report.stats.updates, report.elapsed_s), |(at, _)| {
            (at.updates, at.elapsed_s)
        });
    // Unless the last evaluation was of this very model (the one that stopped the run).
    let evaluated = trace
        .points
        .last()
        // A diverged run's objective is NaN, which equals nothing, itself included.
        .is_some_and(|p| {
            let same = p.objective == objective || (p.objective.is_nan() && objective.is_nan());
            p.updates == updates && same
        });
    if !evaluated {
        trace.points.push(TracePoint {
            elapsed_s,
            updates,
            objective,
            subopt: optimum.map(|f| (objective - f) / f),
            dropped_stale: report.stats.dropped_stale,
        });
    }
    Ok(Outcome {
        algorithm: spec.algorithm,
        model,
        trace,
        report,
        failure,
        optimum,
        step,
        dataset: data.name().to_owned(),
        sampled: (!data.is_whole()).then(|| (data.n_rows(), data.full_rows())),
        spec: spec.clone(),
        resumed_from,
        interrupted,
    })
}

/// The step of the run: `--step`, or the author's default for the optimizer, or one derived
/// from the data for a linear model ([`default_step`]).
fn step_of(spec: &JobSpec, data: &Dataset) -> Result<f64> {
    let chosen = spec.step.or(spec.algorithm.authors_step());
    if !spec.algorithm.is_linear() {
        let Some(chosen) = chosen else {
            bail_usage!(
                "{} needs --step: its model is of its author's own type, whose smoothness the \
                 toolkit cannot measure (its author may give it a default step)",
                spec.algorithm
            );
        };
        return Ok(chosen);
    }
    // Built here once to refuse an impossible choice before any worker starts, and to set the
    // default step in its metric; the optimizer builds its own from its settings.
    let metric = Metric::new(spec.precondition, &spec.loss, data)
        .map_err(|e| anyhow!("--precondition {}: {e}", spec.precondition))?;
    let Some(chosen) = chosen else {
        return checked_default_step(default_step(spec, data, &metric), data, spec.loss.lambda());
    };
    Ok(chosen)
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
    if step.is_infinite() {
        bail!(
            "cannot train on {}: every feature value is 0 and --lambda is 0, so the objective \
             does not depend on the model",
            data.name()
        );
    }
    Err(overflow(data, lambda).unwrap_or_else(|| too_large(data)))
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

/// Starts the cluster and waits for its workers: the process's Ctrl-C ends the wait too, and
/// remote workers are told where to connect.
fn launch(cluster: &ClusterConfig) -> Result<Driver> {
    let mut driver = Driver::bind(cluster.clone()).context("cannot start the cluster")?;
    driver.stop_on(crate::interrupt::stop_handle());
    if !cluster.spawn_local {
        // A port the system chose is known only now, and remote workers need it.
        tracing::info!(
            workers = cluster.workers,
            "waiting for remote workers: start each with `worker --driver {}`",
            driver.endpoint()
        );
    }
    match driver.wait_for_workers() {
        Ok(()) => Ok(driver),
        Err(RuntimeError::StoppedWaiting { joined, expected }) => {
            Err(crate::cli::Interrupted(format!(
                "stopped by a signal while waiting for the workers ({joined} of {expected} \
                 joined); nothing was trained"
            ))
            .into())
        }
        Err(error) => Err(anyhow::Error::new(error).context("cannot start the cluster")),
    }
}

/// The lock file of a checkpoint folder, held by the run writing into it.
pub const CHECKPOINT_LOCK: &str = "lock";

/// Takes `dir` for this run's checkpoints: refused while another run writes into it (its lock
/// is held), and when it holds a checkpoint that this run does not resume (`resume`), which
/// the first new checkpoint would overwrite.
fn claim_checkpoint_folder(dir: &Path, resume: Option<&Path>) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the checkpoint folder {}", dir.display()))?;
    let path = dir.join(CHECKPOINT_LOCK);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{} is the checkpoint folder of a run still going on: give this run a folder of \
             its own",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => {
            return Err(error).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
    if dir.join(checkpoint::FILE).exists() && !resume.is_some_and(|r| same_file(dir, r)) {
        bail!(
            "{} already holds a checkpoint, which this run would overwrite: go on from it with \
             --resume {0}, or give --checkpoint another folder (or delete this one)",
            dir.display()
        );
    }
    Ok(lock)
}

/// The values of `algorithm`'s own hyperparameters: `given`, or their defaults.
fn hyperparameters(algorithm: Optimizer, given: &[(String, f64)]) -> BTreeMap<String, f64> {
    algorithm
        .hypers()
        .iter()
        .map(|hyper| {
            let value = given.iter().rev().find(|(name, _)| name == hyper.name);
            (
                hyper.name.to_owned(),
                value.map_or(hyper.default, |(_, v)| *v),
            )
        })
        .collect()
}

/// Refuses a value for a shared setting that none of `algorithms` reads: it would change
/// nothing, while the summary and the saved model say it was set.
pub fn check_settings(spec: &JobSpec, algorithms: &[Optimizer]) -> Result<()> {
    for setting in Setting::ALL {
        let Some(value) = given(spec, setting) else {
            continue;
        };
        if algorithms.iter().any(|a| a.reads_setting(setting)) {
            continue;
        }
        let names: Vec<&str> = algorithms.iter().map(|a| a.name()).collect();
        let flag = setting.flag();
        let given = if value.is_empty() {
            flag.to_owned()
        } else {
            format!("{flag} {value}")
        };
        bail_usage!(
            "{given} would change nothing: {} does not read {} (an optimizer declares the \
             settings its code reads with Optimizer::reads)",
            names.join(", "),
            setting.field()
        );
    }
    Ok(())
}

/// The value `spec` gives `setting`, unless it is the default ("" for a switch that is on).
fn given(spec: &JobSpec, setting: Setting) -> Option<String> {
    match setting {
        Setting::Momentum => (spec.momentum != 0.0).then(|| spec.momentum.to_string()),
        Setting::Precondition => {
            (spec.precondition != Precondition::None).then(|| spec.precondition.to_string())
        }
        Setting::Quorum => (spec.quorum != Params::DEFAULT_QUORUM).then(|| spec.quorum.to_string()),
        Setting::MaxStaleness => (spec.max_staleness != Params::DEFAULT_MAX_STALENESS)
            .then(|| spec.max_staleness.to_string()),
        Setting::StalenessAware => spec.staleness_aware.then(String::new),
        Setting::Epoch => (spec.epoch != 0).then(|| spec.epoch.to_string()),
        Setting::Lambda => {
            let default = if spec.loss.is_classification() {
                crate::cli::DEFAULT_LOGISTIC_LAMBDA
            } else {
                0.0
            };
            (spec.loss.lambda() != default).then(|| spec.loss.lambda().to_string())
        }
    }
}

/// Refuses a `--param` that none of `algorithms` declares, listing what they take.
pub fn check_params(given: &[(String, f64)], algorithms: &[Optimizer]) -> Result<()> {
    for (i, (name, _)) in given.iter().enumerate() {
        if given[..i].iter().any(|(earlier, _)| earlier == name) {
            bail_usage!("--param {name} is given twice: give each parameter once");
        }
    }
    for (name, value) in given {
        let declared: Vec<(Optimizer, &Hyper)> = algorithms
            .iter()
            .flat_map(|a| a.hypers().iter().map(move |h| (*a, h)))
            .filter(|(_, h)| h.name == name)
            .collect();
        if let Some((algorithm, hyper)) = declared.iter().find(|(_, h)| !h.admits(*value)) {
            bail_usage!(
                "--param {name}={value}: {algorithm} takes {name} {} ({})",
                hyper.range(),
                hyper.help
            );
        }
        if !declared.is_empty() {
            continue;
        }
        let known: Vec<String> = algorithms
            .iter()
            .flat_map(|a| a.hypers())
            .map(|h| format!("{} ({})", h.name, h.help))
            .collect();
        let names: Vec<&str> = algorithms.iter().map(|a| a.name()).collect();
        if known.is_empty() {
            bail_usage!(
                "--param {name}: {} takes no parameter of its own",
                names.join(", ")
            );
        }
        bail_usage!(
            "--param {name}: {} takes only {}",
            names.join(", "),
            known.join(", ")
        );
    }
    Ok(())
}

/// What the run is, for its checkpoints: the algorithm, the data (by content) and every
/// setting that changes the iterates. Stop rules and the number of workers may change when a
/// run resumes; so may the step when it is the default, which is set for the cluster at hand
/// (an asynchronous method's shrinks with the workers, whose number sets its staleness).
fn identity(spec: &JobSpec, data: &Dataset, p: &Params) -> String {
    let step = match spec.step {
        Some(step) => format!("step {step:e}"),
        None => "the default step".to_owned(),
    };
    // The data by content, not by its file's name: a copy, or the file compressed, is the
    // same data.
    let own: Vec<String> = p.extra.iter().map(|(k, v)| format!("{k} {v:e}")).collect();
    format!(
        "{} on data of {} x {} (content sha256 {}); loss {}, lambda {}, {}, momentum {}, \
         batch {}, quorum {}, max staleness {}, staleness-aware {}, epoch {}, preconditioner {}, \
         seed {}{}",
        spec.algorithm.name(),
        data.full_rows(),
        data.dim(),
        data.fingerprint(),
        p.loss.name(),
        p.loss.lambda(),
        step,
        p.momentum,
        p.batch,
        p.quorum,
        p.max_staleness,
        p.staleness_aware,
        p.epoch,
        p.precondition,
        spec.cluster.seed,
        if own.is_empty() {
            String::new()
        } else {
            format!(", {}", own.join(", "))
        },
    )
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
/// Without a preconditioner L_max/b is a small correction (rows of similar norms). With one,
/// L and L_max are measured in its metric (`metric`), and the minibatch term dominates: the
/// full one makes L about 1 but L_max about `n` times the largest leverage of a row, and the
/// diagonal one scales a rare feature up to its column's norm. On a9a, SGD at the diagonal
/// metric's 1/L (0.072) diverges within 600 updates; 1/L_b is 0.013.
pub fn default_step(spec: &JobSpec, data: &Dataset, metric: &Metric) -> f64 {
    let mean = preconditioned_smoothness(&spec.loss, data, metric);
    let partitions = (spec.cluster.workers * spec.cluster.partitions_per_worker).max(1);
    let per_partition = match spec.batch {
        0 => data.full_rows() / partitions,
        batch => batch,
    };
    let rows = if spec.algorithm.is_async() {
        per_partition
    } else {
        per_partition * partitions
    };
    let rows = rows.clamp(1, data.full_rows().max(1)) as f64;
    let largest = preconditioned_max_row_smoothness(&spec.loss, data, metric);
    let minibatch = mean + (largest - mean).max(0.0) / rows;
    // Staleness grows with the tasks that can be in flight at once.
    let in_flight = (spec.cluster.workers * spec.cluster.prefetch.max(1)) as f64;
    match (
        spec.algorithm.is_variance_reduced(),
        spec.algorithm.is_async(),
    ) {
        (true, false) => 1.0 / (3.0 * minibatch),
        (true, true) => (2.0 / in_flight.sqrt()).min(1.0) / (3.0 * minibatch),
        (false, false) => 1.0 / minibatch,
        // Heavy-ball momentum m makes the effective step step/(1 - m), which stale gradients
        // must not see grow: at m = 0.9 ASGD diverged on a9a within 50 updates.
        (false, true) => (1.0 - spec.momentum) / (minibatch * in_flight),
    }
}

/// Applies `watch` to every new model: its evaluations go to the trace and the progress
/// display, its divergence line to `diverged`.
fn install_observer(
    algorithm: Optimizer,
    driver: &mut Driver,
    watch: Rc<RefCell<Watch>>,
    points: Rc<RefCell<Vec<TracePoint>>>,
    progress: Rc<RefCell<Progress>>,
    diverged: Rc<RefCell<Option<String>>>,
) {
    algorithm.observe(driver, move |at, w| {
        let verdict = watch.borrow_mut().look(*at, w, |point| {
            progress.borrow_mut().update(
                point.updates,
                point.elapsed_s,
                point.objective,
                point.subopt,
            );
            points.borrow_mut().push(point);
        });
        if let Verdict::Diverged(line) = &verdict {
            *diverged.borrow_mut() = Some(line.clone());
        }
        verdict.flow()
    });
}

impl Outcome {
    /// The final objective.
    pub fn final_objective(&self) -> f64 {
        self.trace.points.last().map_or(f64::NAN, |p| p.objective)
    }

    /// The updates and seconds of training of the model kept: the run's, except after an
    /// optimizer's panic, which keeps the latest model the stop rules looked at (the trace's
    /// last point is that model's).
    pub fn model_at(&self) -> (u64, f64) {
        self.trace
            .points
            .last()
            .map_or((self.report.stats.updates, self.report.elapsed_s), |p| {
                (p.updates, p.elapsed_s)
            })
    }

    /// Seconds to the target, if one was set and reached: the time of the first trace point
    /// at or below it (a model recorded between the stop rules' evaluations, or the
    /// evaluation that stopped the run).
    pub fn time_to_target(&self) -> Option<f64> {
        self.spec
            .stop
            .target_subopt
            .and_then(|t| self.trace.time_to(t))
    }

    /// Which bound ended a run short of its target, as the end of a sentence: the updates
    /// (`--updates`, or its default) or the time (`--time`).
    fn limit_reached(&self) -> String {
        let updates = self.report.stats.updates;
        if updates >= self.spec.updates as u64 {
            // The bound, not the count: SVRG's count adds its snapshots to it.
            let default = if self.spec.stop.time_s.is_none()
                && self.spec.updates == crate::cli::DEFAULT_UPDATES
            {
                " (the default: raise it with --updates, or bound the run by --time)"
            } else {
                ""
            };
            return format!(", its --updates limit{default}");
        }
        match self.spec.stop.time_s {
            Some(s) if self.report.elapsed_s >= s => format!(", its --time limit of {s} s"),
            _ => String::new(),
        }
    }

    /// A one-line account of the run.
    pub fn one_line(&self) -> String {
        let subopt = match self.optimum {
            Some(f) => format!(", (f-f*)/f* = {:.3e}", (self.final_objective() - f) / f),
            None => String::new(),
        };
        let stopped = if self.interrupted {
            " (stopped by a signal)"
        } else {
            ""
        };
        // The objective of a sample is not the file's: said where the number is.
        let on = match self.sampled {
            Some((rows, of)) => format!(" (on a sample of {rows} of {of} rows)"),
            None => String::new(),
        };
        // The workers that computed: late joiners and replacements count (those whose rows
        // made room for newer ones too), a worker that joined again under its name once; the
        // asked-for number is the floor only when none did (a run of no update).
        let trained = self.report.workers_trained() as usize;
        let asked = self.spec.cluster.workers;
        // The run's size is the workers asked for; replacements and late joiners are told
        // apart, not counted as a larger cluster.
        let noun = if asked == 1 { "worker" } else { "workers" };
        let workers = match trained {
            0 => format!("{asked} {noun}"),
            n if n == asked => format!("{asked} {noun}"),
            n if n < asked => format!("{n} of {asked} {noun}"),
            n => format!("{asked} {noun} ({n} in all, with replacements and late joiners)"),
        };
        format!(
            "{}: objective {:.10}{on} after {} updates in {:.2} s on {workers}{}{stopped}",
            self.algorithm,
            self.final_objective(),
            self.report.stats.updates,
            self.report.elapsed_s,
            subopt
        )
    }

    /// The summary as JSON.
    pub fn summary(&self) -> serde_json::Value {
        let stats = &self.report.stats;
        let (model_updates, model_elapsed_s) = self.model_at();
        // A setting the optimizer does not read is null: its default changed nothing.
        let read = |setting: Setting, value: serde_json::Value| {
            if self.algorithm.reads_setting(setting) {
                value
            } else {
                serde_json::Value::Null
            }
        };
        let epoch = match (self.spec.epoch, self.report.notes.get("epoch")) {
            // The length the optimizer used when it chose it (`--epoch 0`: one pass).
            (0, Some(&chosen)) => chosen as usize,
            (given, _) => given,
        };
        serde_json::json!({
            "algo": self.algorithm.name(),
            "dataset": self.dataset,
            "loss": self.spec.loss.name(),
            "lambda": self.spec.loss.lambda(),
            "bias": self.spec.bias,
            "workers": self.spec.cluster.workers,
            "stragglers": self.spec.cluster.stragglers.to_string(),
            "seed": self.spec.cluster.seed,
            "step": self.step,
            "batch": self.spec.batch,
            "precondition": read(Setting::Precondition, self.spec.precondition.name().into()),
            "momentum": read(Setting::Momentum, self.spec.momentum.into()),
            "quorum": read(Setting::Quorum, self.spec.quorum.into()),
            "max_staleness": read(Setting::MaxStaleness, self.spec.max_staleness.into()),
            "staleness_aware": read(Setting::StalenessAware, self.spec.staleness_aware.into()),
            "epoch": read(Setting::Epoch, epoch.into()),
            "prefetch": self.spec.cluster.prefetch,
            "partitions_per_worker": self.spec.cluster.partitions_per_worker,
            "params": hyperparameters(self.algorithm, &self.spec.params),
            "notes": self.report.notes,
            // Those of the model the files hold; `stats` has what the driver applied.
            "updates": model_updates,
            "elapsed_s": model_elapsed_s,
            "final_objective": self.final_objective(),
            "objective_sample_rows": self.sampled.map(|(rows, _)| rows),
            "optimum": self.optimum,
            "final_subopt": self.optimum.map(|f| (self.final_objective() - f) / f),
            "target_subopt": self.spec.stop.target_subopt,
            "time_to_target_s": self.time_to_target(),
            "dropped_stale": stats.dropped_stale,
            "bytes_sent": stats.bytes_sent,
            "bytes_received": stats.bytes_received,
            "broadcast_bytes": stats.broadcast_bytes,
            "broadcast_full_bytes": stats.broadcast_full_bytes,
            "history_bytes": stats.history_bytes,
            "task_bytes": stats.task_bytes,
            "data_bytes": stats.data_bytes,
            "versions_sent": stats.versions_sent,
            "versions_reused": stats.versions_reused,
            "wait_s_per_worker": self.report.wait_s_per_worker(),
            "lost_workers": stats.lost_workers,
            "checkpoints_written": stats.checkpoints_written,
            "resumed_from": self.resumed_from.map(|(updates, elapsed_s)| serde_json::json!({
                "updates": updates,
                "elapsed_s": elapsed_s,
            })),
            "failure": self.failure,
            "interrupted": self.interrupted,
            "stats": stats,
            "worker_table": self.report.workers,
            "forgotten_workers": self.report.forgotten_workers,
        })
    }

    /// Writes the summary JSON.
    pub fn write_summary(&self, path: &Path) -> Result<()> {
        create_parent(path)?;
        let text = serde_json::to_string_pretty(&self.summary())?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// An error if the run failed, an [`Interrupted`](crate::cli::Interrupted) if a signal
    /// stopped it, or a [`TargetMissed`](crate::cli::TargetMissed) if it ended without
    /// reaching its target (after its files were written).
    pub fn into_result(self) -> Result<()> {
        if let Some(failure) = self.failure {
            bail!("the run ended early: {failure}");
        }
        if let Some((updates, _)) = self.resumed_from {
            // A bound the checkpoint had passed: the run went on from it and did nothing.
            if self.report.stats.updates == updates {
                bail!(
                    "{} resumed at update {updates} and trained nothing: its --updates or --time \
                     bound was passed already; raise it to train on",
                    self.algorithm
                );
            }
        }
        if self.interrupted {
            return Err(crate::cli::Interrupted(format!(
                "{} stopped by a signal after {} updates; its files hold the run up to there",
                self.algorithm, self.report.stats.updates
            ))
            .into());
        }
        if let (Some(target), None) = (self.spec.stop.target_subopt, self.time_to_target()) {
            let reached = self
                .optimum
                .map(|f| (self.final_objective() - f) / f)
                .unwrap_or(f64::NAN);
            return Err(crate::cli::TargetMissed(format!(
                "{} did not reach the target (f-f*)/f* = {target:e}: {reached:.3e} after {} \
                 updates{}",
                self.algorithm,
                self.report.stats.updates,
                self.limit_reached()
            ))
            .into());
        }
        Ok(())
    }

    /// The model this run trained, with what is needed to use it (`data`: what it trained on):
    /// a linear model's weights, or an author's model as its serde JSON.
    pub fn saved_model(&self, data: &Dataset) -> Result<SavedModel> {
        let mut settings = self.summary();
        if let Some(map) = settings.as_object_mut() {
            // The settings of the run, not its measurements.
            map.retain(|key, _| SETTINGS.contains(&key.as_str()));
        }
        let (weights, own) = match self.model.linear() {
            Some(w) => (w.to_vec(), None),
            None => {
                let json = self.model.to_json().with_context(|| {
                    format!("the model ({}) has no JSON form", self.model.type_name())
                })?;
                (Vec::new(), Some(json))
            }
        };
        Ok(SavedModel {
            format: model_file::FORMAT.into(),
            version: model_file::VERSION,
            loss: self.spec.loss.name().into(),
            lambda: self.spec.loss.lambda(),
            features: data.dim() - usize::from(self.spec.bias.is_some()),
            bias: self.spec.bias,
            data: DataInfo {
                name: data.name().into(),
                rows: data.full_rows(),
                sha256: data.fingerprint(),
            },
            settings,
            objective: self.final_objective(),
            weights,
            own,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncopt_runtime::data::Features;
    use ndarray::array;

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
