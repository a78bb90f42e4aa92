//! A job's run, step by step: the optimum and the cluster the data allow, the step, the
//! checkpoint folder, the workers, the training while an observer records the trace, and the
//! outcome gathered from what the run left.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{bail, Result};
use asyncopt_algorithms::{Metric, Params};
use asyncopt_runtime::data::Dataset;
use asyncopt_runtime::{panics, ClusterConfig, Driver, Progress as At, RunReport, RuntimeError};

use super::checkpoints::{self, Checkpoints, Measured};
use super::model_memory::{check_linear_model, check_model_fits};
use super::past_count::PastCount;
use super::settings::hyperparameters;
use super::step::{optimum_shown, step_of, step_sized_for};
use super::{JobSpec, Outcome};
use crate::even_points::EvenPoints;
use crate::interrupt;
use crate::model::TrainedModel;
use crate::optimizer::{readable, Optimizer};
use crate::progress::{Counting, Progress};
use crate::trace::{below_optimum_rounding, Trace, TracePoint};
use crate::watch::{self, Verdict, Watch};
use crate::words::plural;

/// Runs one job on `data`.
pub fn run(spec: &JobSpec, data: &Arc<Dataset>) -> Result<Outcome> {
    if spec.algorithm.is_linear() {
        check_linear_model(data, &spec.cluster)?;
    } else {
        check_model_fits(data)?;
    }
    // Until the wait for the workers, a signal keeps the run from starting (see `launch`).
    let preparing = crate::interrupt::preparing();
    let optimum = known_optimum(spec, data)?;
    let optimum_of = optimum_of(spec, optimum, data);
    warn_of_a_sampled_target(spec, optimum_of, data);
    check_partitions(spec, data)?;
    let batch_used = batch_used(spec, data);
    let (step, metric) = step_of(spec, data)?;
    let params = params_of(spec, step, metric);
    // `_lock`, the checkpoint folder's lock, is held until the run ends.
    let Checkpoints {
        identity,
        lock: _lock,
        folder,
        resumed,
        earlier,
        interval,
        measured,
    } = checkpoints::prepare(spec, data, &params)?;
    // Before any worker starts: a refused resume has waited for, trained and written nothing.
    let first = match &resumed {
        Some(saved) => checkpoints::check_resumed(spec.algorithm, saved, measured, data, &params)?,
        None => None,
    };
    let shared_file = data.origin().map(|file| file.path());
    let mut driver = launch(&spec.run_cluster(), spec, shared_file, preparing)?;
    let resumed_from = checkpoints::resume(&mut driver, resumed, step);
    let recorder = Recorder::install(spec, &mut driver, (&params, data), optimum, earlier, first);
    checkpoints::keep(
        spec,
        &mut driver,
        identity,
        folder,
        &recorder.points,
        &recorder.judged,
        interval,
    );
    recorder.judge_checkpoints(spec.algorithm, &mut driver, data, &params);
    let (driver, model, panicked) = train(spec, driver, data, &params, &recorder)?;
    let ended = finish(spec, driver, &recorder, resumed_from, panicked.as_ref())?;
    let (mut trace, recorded_unscored) = recorder.trace(data.n_rows(), spec.quiet);
    // The last point: the model the algorithm returned. A run that ended (its updates or time
    // spent) while exploding between two evaluations is a divergence all the same.
    let objective = panics::catch(|| model.objective(data.as_ref(), &params)).unwrap_or(f64::NAN);
    let failure = ended
        .failure
        .or_else(|| recorder.exploded(&trace, objective, &ended.report));
    push_last_point(&mut trace, panicked, &ended.report, objective, optimum);
    let step_smallest = recorder.past_count.lock().step_smallest(&params);
    // A model recorded between evaluations, or the last one, may be the first below f*.
    let below_by = below_optimum_rounding(data.n_rows());
    let failure = failure.or_else(|| below_optimum(&trace, optimum, below_by, data));
    let file_objective = match failure {
        None => file_objective_of_a_missed_target(spec, &trace, &model, data),
        Some(_) => None,
    };
    Ok(Outcome {
        algorithm: spec.algorithm,
        model,
        trace,
        report: ended.report,
        failure,
        optimum,
        optimum_of,
        file_objective,
        below_by,
        batch_used,
        step,
        step_smallest,
        dataset: data.name().to_owned(),
        sampled: (!data.is_whole()).then(|| (data.n_rows(), data.full_rows())),
        data_rows: data.full_rows(),
        spec: as_run(spec, data),
        resumed_from,
        interrupted: ended.interrupted,
        recorded_unscored,
    })
}

/// f*, for the stop rules and the trace: given, or computed for a linear model (the optimum
/// the toolkit computes is a linear model's, 0 when within rounding of 0); refused when the
/// target needs it and there is none, or when it is 0.
fn known_optimum(spec: &JobSpec, data: &Dataset) -> Result<Option<f64>> {
    let linear = spec.algorithm.is_linear();
    // The optimum the toolkit computes is a linear model's.
    let optimum = if linear {
        optimum_shown(&spec.loss, data, spec.stop.optimum, spec.quiet, "run")?
    } else {
        spec.stop.optimum
    };
    if let (Some(_), Some(f)) = (spec.stop.target_subopt, optimum) {
        if f <= 0.0 {
            // A usage error found late: the flag cannot apply to this data, or this f*.
            match spec.stop.optimum {
                // The user's own f*, within rounding of 0 here: the data may fit no better.
                Some(given) => bail_usage!(
                    "--target-subopt is relative to f*, and --optimum {} is 0 to rounding \
                     (at most 2.2e-16 of the objective at w = 0): a relative target needs \
                     an f* above that, so give the optimum, or stop with --time or --updates",
                    readable(given)
                ),
                None => bail_usage!(
                    "--target-subopt is relative to f*, which is {f} to rounding: the data \
                     is fitted exactly, so stop with --time or --updates instead"
                ),
            }
        }
    }
    if let (Some(target), Some(given)) = (spec.stop.target_subopt, spec.stop.optimum) {
        // A target within the rounding the check allows below f* is "reached" by an
        // objective below the optimum: nothing tells it from an f* given a little too high.
        let below_by = below_optimum_rounding(data.n_rows());
        if target < below_by {
            bail_usage!(
                "--target-subopt {} is below what --optimum {given} can tell apart from 0: \
                 a given f* is trusted to {below_by:.1e} of itself (ten significant digits, \
                 and the rounding of a sum over {}), so give a target of at least that",
                readable(target),
                plural(data.n_rows(), "row")
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
    Ok(optimum)
}

/// Where f* comes from: `--optimum` (`"given"`), or computed on every row of the file
/// (`"file"`) or on the driver's evaluation sample (`"sample"`); `None` without one.
fn optimum_of(spec: &JobSpec, optimum: Option<f64>, data: &Dataset) -> Option<&'static str> {
    optimum?;
    Some(match (spec.stop.optimum, data.is_whole()) {
        (Some(_), _) => "given",
        (None, true) => "file",
        (None, false) => "sample",
    })
}

/// Says at the start of a run whose target is measured on an evaluation sample against the
/// sample's own optimum that it may be out of reach: the model converges to the file's
/// optimum, and the sample's objective there stays above the sample's optimum by about the
/// sampling error (on a9a, 2e-2 with 5,000 rows while the file scored 7e-5).
fn warn_of_a_sampled_target(spec: &JobSpec, optimum_of: Option<&str>, data: &Dataset) {
    let Some(target) = spec.stop.target_subopt else {
        return;
    };
    if optimum_of == Some("sample") {
        tracing::warn!(
            "--target-subopt {} is measured on the {}-row evaluation sample of {} rows, \
             against the sample's own optimum: the model converges to the file's optimum, so \
             the sample's (f-f*)/f* may stay above the target, by about the sampling error; a \
             larger --eval-rows, or --data-access ship, measures it on more rows",
            readable(target),
            data.n_rows(),
            data.full_rows()
        );
    }
}

/// The final model's objective on every row of the shared file, for a run measured on an
/// evaluation sample that ended without reaching its target: the sample's objective may
/// never reach it while the file's does. One streaming pass over the file (a9a: 1.4 s;
/// bio_kdd04: 3.6 s), skipped after a signal and for a model that is not linear; one that
/// cannot be read is said, and fails nothing.
fn file_objective_of_a_missed_target(
    spec: &JobSpec,
    trace: &Trace,
    model: &TrainedModel,
    data: &Dataset,
) -> Option<f64> {
    let target = spec.stop.target_subopt?;
    let (file, w) = (data.origin()?, model.linear()?);
    if data.is_whole() || trace.first_at(target).is_some() || interrupt::requested() {
        return None;
    }
    let what = format!(
        "scoring the final model on the {} rows of the file",
        data.full_rows()
    );
    let scoring = crate::progress::Working::start(&what, spec.quiet);
    let began = std::time::Instant::now();
    let scored = panics::catch(|| super::whole_file::objective_on_file(&spec.loss, w, file));
    drop(scoring);
    match scored {
        Ok(Ok(objective)) => {
            tracing::info!(
                "scored the final model on the {} rows of the file in {:.2} s",
                data.full_rows(),
                began.elapsed().as_secs_f64()
            );
            Some(objective)
        }
        Ok(Err(error)) => {
            tracing::warn!("the final model is not scored on the whole file: {error:#}");
            None
        }
        Err(panic) => {
            tracing::warn!("the final model is not scored on the whole file: {panic}");
            None
        }
    }
}

/// The failure of a run whose `trace` went below f* (`optimum`), which is then not the optimum.
/// (`below_by`: rounding, [`below_optimum_rounding`]). The objective of a sample of the file
/// (`data` not whole) may legitimately fall below the file's f*, which `--optimum` gives: that
/// is said once, as a warning, and fails nothing.
fn below_optimum(
    trace: &Trace,
    optimum: Option<f64>,
    below_by: f64,
    data: &Dataset,
) -> Option<String> {
    let (point, optimum) = (trace.below_optimum(below_by)?, optimum?);
    if !data.is_whole() {
        tracing::warn!("{}", watch::sample_below_optimum(point, optimum, data));
        return None;
    }
    Some(watch::below_optimum(
        point.objective,
        optimum,
        point.updates,
    ))
}

/// The job as it ran: shared access that `auto` chose is shipping when the file was shipped
/// instead (see `JobSpec::load_data`), so that the summary says how the data travelled.
fn as_run(spec: &JobSpec, data: &Dataset) -> JobSpec {
    let mut spec = spec.clone();
    if let super::DataSource::File { access, .. } = &mut spec.data {
        if data.origin().is_none() {
            *access = super::DataAccess::Ship;
        }
    }
    spec
}

/// Refuses a cluster the data cannot fill: every partition needs a row, and workers reading
/// their own splits need a split each.
fn check_partitions(spec: &JobSpec, data: &Dataset) -> Result<()> {
    let (workers, per_worker) = (spec.cluster.workers, spec.cluster.partitions_per_worker);
    let partitions = workers.checked_mul(per_worker);
    let Some(partitions) = partitions.filter(|&partitions| partitions <= data.full_rows()) else {
        bail!(
            "{} cannot fill {} x {} per worker: every partition needs a row",
            plural(data.full_rows(), "row"),
            plural(workers, "worker"),
            plural(per_worker, "partition"),
        );
    };
    if let Some(file) = data.origin() {
        // Workers reading their own splits: a file too small for that many is refused now,
        // not at the first task, after every worker started.
        file.orders(partitions, spec.cluster.seed)?;
    }
    Ok(())
}

/// The rows of a task's minibatch: `--batch`, at most its partition's rows, and the whole
/// of it for `--batch 0` (`Partition::sample`); `None` when the partitions are not known.
/// A `--batch` past every partition is said once: it trains as `--batch 0` does, bit for
/// bit, while the summary recorded the number asked.
fn batch_used(spec: &JobSpec, data: &Dataset) -> Option<usize> {
    let partitions = spec.cluster.workers * spec.cluster.partitions_per_worker;
    let sizes: Vec<usize> = match data.origin() {
        Some(file) => file
            .orders(partitions, spec.cluster.seed)
            .ok()?
            .iter()
            .map(|(rows, _)| rows.len())
            .collect(),
        None => asyncopt_runtime::data::partition_rows(data, partitions, spec.cluster.seed)
            .ok()?
            .iter()
            .map(|rows| rows.len())
            .collect(),
    };
    let largest = sizes.into_iter().max()?;
    if spec.batch > largest {
        tracing::info!(
            "--batch {} is more than a partition's {}: each minibatch is its whole partition, \
             as with --batch 0",
            spec.batch,
            plural(largest, "row")
        );
    }
    Some(match spec.batch {
        0 => largest,
        batch => batch.min(largest),
    })
}

/// The optimizer's settings: the job's, with `step`, the author's hyperparameters and the
/// preconditioner built on the driver's data (`metric`), if any.
fn params_of(spec: &JobSpec, step: f64, metric: Option<Metric>) -> Params {
    Params {
        loss: spec.loss,
        updates: spec.updates,
        step,
        momentum: spec.momentum,
        batch: spec.batch,
        quorum: spec.quorum,
        max_staleness: spec.max_staleness,
        staleness_aware: spec.staleness_aware,
        step_sized_for: step_sized_for(spec),
        epoch: spec.epoch,
        precondition: spec.precondition,
        extra: hyperparameters(spec.algorithm, &spec.params),
        prepared_metric: metric.map(Arc::new),
    }
}

impl JobSpec {
    /// The job's cluster, keeping at least the versions the optimizer reads. Its local
    /// workers are granted the data file they read their own splits of by the driver itself
    /// (`ClusterConfig::worker_data` is for other files).
    pub fn run_cluster(&self) -> ClusterConfig {
        let mut cluster = self.cluster.clone();
        if let Some(versions) = self.algorithm.kept_versions() {
            cluster.keep_versions = cluster.keep_versions.max(versions);
        }
        cluster
    }
}

/// Starts the cluster and waits for its workers: the process's Ctrl-C ends the wait too, and
/// remote workers are told where to connect, with which token file, and for how many runs.
/// The run counts as prepared (`preparing`) until the wait begins, before the workers are
/// told to join; a signal that came meanwhile ends the wait at once.
fn launch(
    cluster: &ClusterConfig,
    spec: &JobSpec,
    shared_file: Option<&Path>,
    preparing: crate::interrupt::InPhase,
) -> Result<Driver> {
    // A run a signal stopped while it was prepared starts no cluster, and says where it stopped.
    if crate::interrupt::stopped_while_preparing() {
        return Err(crate::interrupt::preparation_stopped("run"));
    }
    let mut driver = Driver::bind(cluster.clone()).map_err(|error| match error {
        // The address is the flag's: say which flag, as for an address refused when parsed.
        RuntimeError::Bind { address, reason } => {
            anyhow::anyhow!("--bind {address}: cannot listen there: {reason}")
        }
        error => anyhow::Error::new(error).context("cannot start the cluster"),
    })?;
    driver.stop_on(crate::interrupt::stop_handle());
    // The observer stops the loop at --time; the driver also leaves a reduce! still waiting
    // then, with no update in sight (a task that hangs).
    if let Some(limit) = spec
        .stop
        .time_s
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
    {
        driver.stop_after(limit);
    }
    // Waiting before the workers are told to join: a signal once they were is said to end
    // the wait, not the preparation.
    let _waiting = crate::interrupt::waiting_for_workers();
    drop(preparing);
    // A port the system chose is known only now, and remote workers need it.
    let hint = (!cluster.spawn_local).then(|| {
        let args: Vec<_> = std::env::args_os().collect();
        let program = crate::host::program_name(&args);
        super::join_hint::join_hint(
            &program,
            &asyncopt_runtime::transport::dialable(driver.endpoint()),
            spec.token_file.as_deref(),
            shared_file,
            spec.worker_runs,
        )
    });
    if let Some(hint) = &hint {
        tracing::info!(
            workers = cluster.workers,
            "waiting for remote workers: {hint}"
        );
    }
    match driver.wait_for_workers() {
        Ok(()) => Ok(driver),
        // The runtime's hint knows no program: an author's workers run the author's, and the
        // stock `async-train worker` is refused as another build.
        Err(RuntimeError::WorkersMissing {
            joined,
            expected,
            waited_s,
            refused,
            last_refusal,
            hint: runtime_hint,
        }) => Err(anyhow::Error::new(RuntimeError::WorkersMissing {
            joined,
            expected,
            waited_s,
            refused,
            last_refusal,
            hint: hint.map_or(runtime_hint, |hint| format!("{hint}, or check their logs")),
        })
        .context("cannot start the cluster")),
        // The signal came while the cluster started, before the wait.
        Err(RuntimeError::StoppedWaiting { .. }) if crate::interrupt::stopped_while_preparing() => {
            Err(crate::interrupt::preparation_stopped("run"))
        }
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

/// What the observer and the checkpoints' annex share with the run: behind a lock, as what
/// the driver calls back must be `Send`. Each callback takes it briefly, never two at once.
pub(super) struct Locked<T>(Mutex<T>);

impl<T> Locked<T> {
    pub(super) fn new(value: T) -> Locked<T> {
        Locked(Mutex::new(value))
    }
    pub(super) fn lock(&self) -> MutexGuard<'_, T> {
        // A panic of the observer is caught and reported; its state is still the run's.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    pub(super) fn set(&self, value: T) {
        *self.lock() = value;
    }
    pub(super) fn take(&self) -> T
    where
        T: Default,
    {
        std::mem::take(&mut *self.lock())
    }
}

/// What the observer shares with the run: the trace's points (thinned evenly on a long run),
/// why its stop rules failed the run (a divergence, an objective below f*), the progress
/// display, the stop rules' watch and the workers live past the count.
struct Recorder {
    points: Arc<Locked<EvenPoints>>,
    failed: Arc<Locked<Option<String>>>,
    progress: Arc<Locked<Progress>>,
    watch: Arc<Locked<Watch>>,
    /// The objective of the model the judge of checkpoints let through last, for the
    /// checkpoint to record.
    judged: Arc<Locked<Option<Measured>>>,
    past_count: Arc<Locked<PastCount>>,
}

impl Recorder {
    /// Starts the progress display and the stop rules' watch, and observes every new model;
    /// the trace goes on from `earlier` (a resumed run's), whose model's objective was computed
    /// when it was checked (`first`): the watch takes it as its first evaluation.
    fn install(
        spec: &JobSpec,
        driver: &mut Driver,
        (params, data): (&Params, &Arc<Dataset>),
        optimum: Option<f64>,
        earlier: EvenPoints,
        first: Option<Measured>,
    ) -> Recorder {
        // The run this one goes on was judged from its first evaluation: so is this one.
        let run_start = earlier.first().map(|point| point.objective);
        let points = Arc::new(Locked::new(earlier.map(|point| point.against(optimum))));
        let failed = Arc::new(Locked::new(None));
        let progress = Arc::new(Locked::new(Progress::new(
            spec.algorithm.name(),
            spec.updates as u64,
            spec.stop.time_s,
            spec.quiet,
        )));
        let mut watch = Watch::new(
            params.clone(),
            data.clone(),
            optimum,
            spec.stop.clone(),
            spec.eval_every_s,
        );
        if let Some(first) = first {
            watch.evaluated_first(first.updates, first.objective);
        }
        if let Some(run_start) = run_start {
            watch.resumed_run_started_at(run_start);
        }
        let watch = Arc::new(Locked::new(watch));
        let recorder = Recorder {
            points,
            failed,
            progress,
            watch,
            judged: Arc::new(Locked::new(None)),
            past_count: Arc::new(Locked::new(PastCount::of(spec))),
        };
        recorder.observe(spec.algorithm, driver);
        recorder
    }

    /// Applies `watch` to every new model: its evaluations go to the trace and the progress
    /// display, the line of a divergence or of an objective below f* to `failed`; the workers
    /// live at it to `past_count`.
    fn observe(&self, algorithm: Optimizer, driver: &mut Driver) {
        let (watch, points, progress, failed, past_count) = (
            self.watch.clone(),
            self.points.clone(),
            self.progress.clone(),
            self.failed.clone(),
            self.past_count.clone(),
        );
        algorithm.observe(driver, move |at, w| {
            let verdict = watch.lock().look(*at, w, |point| {
                progress.lock().update(
                    point.updates,
                    point.elapsed_s,
                    point.objective,
                    point.subopt,
                );
                points.lock().push(point);
            });
            if let Some(warning) = past_count.lock().saw(at.workers) {
                tracing::warn!("{warning}");
            }
            if let Verdict::Diverged(line) | Verdict::BelowOptimum(line) = &verdict {
                *failed.lock() = Some(line.clone());
            }
            verdict.flow()
        });
    }

    /// The run's trace: the points recorded (a resumed run's first), with the models recorded
    /// between evaluations evaluated now, in time order; and how many of those a signal left
    /// unscored. Each is a pass over the data (a thousand on a large set took half a minute,
    /// said by nothing), so the scoring shows a bar and stops at a signal: one that stopped
    /// the run asked it to end, not to wait for that.
    fn trace(&self, rows: usize, quiet: bool) -> (Trace, usize) {
        let mut points = self.points.take().into_vec();
        let mut watch = self.watch.lock();
        let total = watch.recorded();
        let mut unscored = 0;
        if total > 0 {
            let what = format!(
                "scoring {} on {}",
                plural(total, "recorded model"),
                plural(rows, "row")
            );
            let bar = Counting::start(&what, total as u64, quiet);
            let keep_going = || !interrupt::requested();
            // A model the optimizer left of another shape than the data's panics here too.
            let recorded = panics::catch(|| {
                watch.evaluate_recorded_until(&keep_going, &mut |done| bar.set(done as u64))
            });
            let (scored, left) = recorded.unwrap_or_default();
            points.extend(scored);
            unscored = left;
            if left > 0 {
                tracing::warn!(
                    "stopped by a signal: {left} of the {total} recorded models are not scored; \
                     the trace holds the evaluations and the models scored"
                );
            }
        }
        points.sort_by(|a, b| a.elapsed_s.total_cmp(&b.elapsed_s));
        (Trace { points }, unscored)
    }

    /// Keeps the models the run's divergence rule judges diverged out of its checkpoints, so
    /// that a diverged model does not replace the last good one: its objective is not finite,
    /// or it exploded from the run's first evaluation.
    fn judge_checkpoints(
        &self,
        algorithm: Optimizer,
        driver: &mut Driver,
        data: &Arc<Dataset>,
        params: &Params,
    ) {
        let (watch, data, params) = (self.watch.clone(), data.clone(), params.clone());
        let judged = self.judged.clone();
        algorithm.judge_checkpoints(driver, move |at, name, w| {
            // A model of another shape than the data's panics here: not finite either.
            let objective =
                panics::catch(|| w.objective(data.as_ref(), &params)).unwrap_or(f64::NAN);
            // Before the first evaluation, only an objective that is not finite is wrong.
            let refused = match watch.lock().start() {
                Some(start) if watch::exploded(start, objective) => {
                    Some(watch::divergence(start, objective, at.updates))
                }
                None if !objective.is_finite() => Some(format!("its objective is {objective}")),
                _ => None,
            };
            // Recorded with the checkpoint, which a resume checks its weights against.
            let measured = Measured {
                updates: at.updates,
                objective,
                norm: Some(w.norm()),
                model: Some(name.to_owned()),
            };
            judged.set(refused.is_none().then_some(measured));
            refused
        });
    }

    /// The divergence of a final `objective` that exploded from the run's start.
    fn exploded(&self, trace: &Trace, objective: f64, report: &RunReport) -> Option<String> {
        let start = self
            .watch
            .lock()
            .start()
            .or(trace.points.first().map(|p| p.objective));
        start
            .filter(|&start| watch::exploded(start, objective))
            .map(|start| watch::divergence(start, objective, report.stats.updates))
    }
}

/// An optimizer's panic: the progress of the model kept (the latest one the stop rules looked
/// at), and the panic's message.
type Panic = (At, String);

/// Runs the optimizer. One that panics (a result of another shape than its model, an author's
/// bug) ends the run, not the program: the latest model looked at is kept, with the trace,
/// and the panic's progress and message.
fn train(
    spec: &JobSpec,
    mut driver: Driver,
    data: &Arc<Dataset>,
    params: &Params,
    recorder: &Recorder,
) -> Result<(Driver, TrainedModel, Option<Panic>)> {
    let ran = panics::catch(|| spec.algorithm.run(&mut driver, data, params));
    let (model, panicked) = match ran {
        Ok(model) => (model, None),
        Err(message) => {
            let latest = recorder.watch.lock().take_latest_model();
            let Some((at, model)) = latest else {
                recorder.progress.lock().finish();
                // Dropped, not finished: a comparison ends here, and its workers with it.
                drop(driver);
                bail!(
                    "{} panicked before the stop rules looked at any model of its (nothing \
                     to keep): {message}",
                    spec.algorithm
                );
            };
            (model, Some((at, message)))
        }
    };
    Ok((driver, model, panicked))
}

/// How the run ended: the driver's report, whether a signal stopped it, and why it failed.
struct Ended {
    report: RunReport,
    interrupted: bool,
    failure: Option<String>,
}

/// Ends the run: the progress display, the last checkpoint written, the workers stopped.
fn finish(
    spec: &JobSpec,
    mut driver: Driver,
    recorder: &Recorder,
    resumed_from: Option<(u64, f64)>,
    panicked: Option<&Panic>,
) -> Result<Ended> {
    recorder.progress.lock().finish();
    driver.wait_for_checkpoint();
    let interrupted = driver.stop_requested();
    // After what arrived is handled: a failed run's report counts the workers lost as it
    // ended, as its log says them.
    let (report, finished) = driver.end();
    if let (Some((updates, _)), None, Err(e)) = (resumed_from, panicked, &finished) {
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
    let failure = match panicked {
        Some((at, message)) => Some(format!(
            "{} panicked after {}: {message}; the model kept is that of update {}",
            spec.algorithm,
            plural(report.stats.updates, "update"),
            at.updates
        )),
        None => finished.err().map(|e| e.to_string()),
    }
    .or_else(|| recorder.failed.take());
    Ok(Ended {
        report,
        interrupted,
        failure,
    })
}

/// Ends the trace with the model the run kept, with `objective`, unless the last evaluation
/// was of this very model (the one that stopped the run).
fn push_last_point(
    trace: &mut Trace,
    panicked: Option<Panic>,
    report: &RunReport,
    objective: f64,
    optimum: Option<f64>,
) {
    // The model's own update count and time: a panicked run's is that of the model kept.
    let (updates, elapsed_s) = panicked
        .map_or((report.stats.updates, report.elapsed_s), |(at, _)| {
            (at.updates, at.elapsed_s)
        });
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
            subopt: optimum.and_then(|f| crate::trace::relative_subopt(objective, f)),
            dropped_stale: report.stats.dropped_stale,
        });
    }
}
