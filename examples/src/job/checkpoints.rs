//! A job's checkpoints: the folder a run takes for them, the checkpoint it resumes, and the
//! policy that writes them as the run goes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use asyncopt_algorithms::Params;
use asyncopt_runtime::checkpoint::{self, Checkpoint, CheckpointPolicy};
use asyncopt_runtime::data::{DataError, Dataset, LoadOptions, SharedFile, SharedOptions};
use asyncopt_runtime::Driver;

use super::run::Locked;
use super::{DataSource, JobSpec};
use crate::even_points::{EvenPoints, Thinning};
use crate::model::TrainedModel;
use crate::optimizer::readable;
use crate::trace::{same_file, TracePoint};
use crate::words::plural;

/// The lock file of a checkpoint folder, held by the run writing into it.
pub const CHECKPOINT_LOCK: &str = "lock";

/// Seconds of training between checkpoints when no interval is given.
const DEFAULT_CHECKPOINT_S: f64 = 10.0;

/// Longest interval between checkpoints: beyond a year is a typo, not a policy. A checkpoint
/// whose run kept a longer one is refused too: no flag gives it, and a duration past what the
/// clock holds could not be kept.
pub(crate) const MAX_CHECKPOINT_S: f64 = 365.0 * 24.0 * 3600.0;

/// A run's checkpoint folder, taken for the run, and the checkpoint it resumes.
pub(super) struct Checkpoints {
    /// What the run is, for its checkpoints (empty for a run that keeps none).
    pub(super) identity: String,
    /// The lock of the folder the run writes into: hold it until the run ends.
    pub(super) lock: Option<std::fs::File>,
    /// The folder the lock is in, for the driver to write into ([`keep`]).
    pub(super) folder: Option<checkpoint::Folder>,
    /// The checkpoint to resume, read before any worker starts.
    pub(super) resumed: Option<Checkpoint>,
    /// The trace of the resumed run, up to its checkpoint, thinned on from where that run was
    /// if its checkpoint says (an earlier build's does not).
    pub(super) earlier: EvenPoints,
    /// The interval the resumed run checkpointed at, if its checkpoint says.
    pub(super) interval: Option<Interval>,
    /// The objective of the resumed model as its run measured it, if its checkpoint says.
    pub(super) measured: Option<Measured>,
}

/// The objective of a checkpoint's model, measured by its run before it wrote it (the judge
/// of its checkpoints computes it), for a resume to check the weights it reads against.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Measured {
    /// The updates of the model measured.
    pub(super) updates: u64,
    /// Its objective on the run's data.
    pub(super) objective: f64,
    /// Its norm, which refuses other weights without a pass over the data. Missing in a
    /// checkpoint of an earlier build, which records no name either and is not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) norm: Option<f64>,
    /// The name of its loop variable, which tells the model among the checkpoint's others:
    /// another may have its norm, or be the same weights (SVRG's snapshot just taken).
    /// Missing in a checkpoint of an earlier build, whose model is the variable of the norm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) model: Option<String>,
}

impl Measured {
    /// Refuses resumed weights whose objective on this run's data (`now`) is not the one
    /// their checkpoint records: the SHA-256 tells damage, not a checkpoint written anew
    /// with other weights, whose run would otherwise fail later as if its step diverged.
    /// The same weights on the same rows give the same objective, to rounding.
    pub(super) fn check(&self, now: f64) -> Result<(), String> {
        if same_to_rounding(now, self.objective) {
            return Ok(());
        }
        Err(format!(
            "the checkpoint's weights give objective {}, it records {} (update {}): it was \
             altered or is of other data; nothing was trained from it",
            readable(now),
            readable(self.objective),
            self.updates
        ))
    }
}

/// Whether `a` and `b` are one number computed twice, to rounding.
fn same_to_rounding(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Checks the resumed checkpoint's model (`resumed`'s loop variable of the name its checkpoint
/// records, or of the norm in an earlier build's) against the objective and norm recorded
/// (`measured`), on the driver's own `data`, before any worker starts: a refused resume has
/// then started, waited for and written nothing. Returns the objective computed, the run's
/// first evaluation (handed to the watch, so that the resume costs one pass over the data,
/// not two); `None` for a checkpoint that records no measure (an earlier build's), which
/// resumes unchecked.
pub(super) fn check_resumed(
    algorithm: crate::optimizer::Optimizer,
    resumed: &Checkpoint,
    measured: Option<Measured>,
    data: &Dataset,
    params: &Params,
) -> Result<Option<Measured>> {
    let Some(measured) = measured else {
        return Ok(None);
    };
    let model = match (&measured.model, measured.norm) {
        (Some(name), norm) => named_model(algorithm, resumed, name, norm, measured.updates)?,
        (None, Some(norm)) => model_of_norm(algorithm, resumed, norm, measured.updates)?,
        (None, None) => return Ok(None),
    };
    let objective = asyncopt_runtime::panics::catch(|| model.as_ref().objective(data, params))
        .unwrap_or(f64::NAN);
    measured.check(objective).map_err(anyhow::Error::msg)?;
    Ok(Some(Measured {
        objective,
        ..measured
    }))
}

/// The checkpoint's model: its loop variable named `name` (the judge saw it so), of the
/// optimizer's model type and of the norm recorded (`norm`, if it is).
fn named_model(
    algorithm: crate::optimizer::Optimizer,
    resumed: &Checkpoint,
    name: &str,
    norm: Option<f64>,
    updates: u64,
) -> Result<TrainedModel> {
    let saved = resumed.state.iter().find(|saved| saved.name == name);
    let Some(model) = saved.and_then(|saved| algorithm.model_from_state(&saved.bytes)) else {
        bail!(
            "the checkpoint records its model as its loop variable `{name}` (update {updates}) \
             and holds no such {} model: it was altered; nothing was trained from it",
            algorithm.name()
        );
    };
    if let Some(norm) = norm.filter(|&norm| !same_to_rounding(model.as_ref().norm(), norm)) {
        bail!(
            "the checkpoint's weights are not the model it records (norm {norm:e}, update \
             {updates}): it was altered; nothing was trained from it"
        );
    }
    Ok(model)
}

/// The model of a checkpoint that records its norm alone (an earlier build's): the loop
/// variable of the optimizer's model type with that norm. Another of the same type has
/// another norm (SGD's velocity), or may be the same weights (SVRG's snapshot just taken).
fn model_of_norm(
    algorithm: crate::optimizer::Optimizer,
    resumed: &Checkpoint,
    norm: f64,
    updates: u64,
) -> Result<TrainedModel> {
    let model = resumed.state.iter().find_map(|saved| {
        let model = algorithm.model_from_state(&saved.bytes)?;
        same_to_rounding(model.as_ref().norm(), norm).then_some(model)
    });
    let Some(model) = model else {
        bail!(
            "the checkpoint's weights are not the model it records (norm {norm:e}, update \
             {updates}): it was altered; nothing was trained from it"
        );
    };
    Ok(model)
}

/// How often a run checkpoints: after this many updates, or seconds of training, or both.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Interval {
    every_updates: Option<u64>,
    every_s: Option<f64>,
}

impl Interval {
    /// The interval the flags give; the resumed run's (`resumed`) when they give none, so a
    /// resume need not repeat it; 10 s of training when neither says.
    fn chosen(spec: &JobSpec, resumed: Option<Interval>) -> Interval {
        let given = Interval {
            every_updates: spec.checkpointing.every_updates,
            every_s: spec.checkpointing.every_s,
        };
        match (given.every_updates, given.every_s, resumed) {
            (None, None, Some(resumed)) => resumed,
            (None, None, None) => Interval {
                every_updates: None,
                every_s: Some(DEFAULT_CHECKPOINT_S),
            },
            _ => given,
        }
    }

    /// Whether it asks for checkpoints at all, each after a positive interval, one of seconds
    /// up to [`MAX_CHECKPOINT_S`] (as `--checkpoint-seconds` is).
    fn is_valid(&self) -> bool {
        let updates_ok = self.every_updates.is_none_or(|n| n > 0);
        let seconds_ok = self
            .every_s
            .is_none_or(|s| s > 0.0 && s <= MAX_CHECKPOINT_S);
        (self.every_updates.is_some() || self.every_s.is_some()) && updates_ok && seconds_ok
    }
}

/// What the command line saves with each checkpoint: the trace so far and the interval the
/// run checkpoints at. A checkpoint of an earlier build saved the trace alone, and resumes
/// at the default interval.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Annex {
    Saved {
        trace: Vec<TracePoint>,
        interval: Interval,
        /// Missing in a checkpoint of an earlier build, or of a model the judge did not see.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        objective: Option<Measured>,
        /// How far `trace` was thinned; missing in a checkpoint of an earlier build.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thinning: Option<Thinning>,
    },
    TraceAlone(Vec<TracePoint>),
}

/// Takes the run's checkpoint folder and reads the checkpoint it resumes: a folder another run
/// writes into, or a checkpoint that cannot be resumed, is refused before any worker starts.
pub(super) fn prepare(spec: &JobSpec, data: &Dataset, params: &Params) -> Result<Checkpoints> {
    // Naming the data by content costs a pass over it: only runs that checkpoint pay for it.
    let checkpointing = spec.checkpointing.dir.is_some() || spec.checkpointing.resume.is_some();
    let identity = if checkpointing {
        identity(spec, data, params)?
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
        // Before the claim, which would leave its lock file in a folder that is no checkpoint's.
        if !dir.join(checkpoint::FILE).exists() {
            let dir = dir.to_path_buf();
            return Err(checkpoint::CheckpointError::Missing { dir }.into());
        }
    }
    // Held for the run: one folder, one run at a time.
    let writes_into = (spec.checkpointing.dir.as_ref()).or(spec.checkpointing.resume.as_ref());
    let (lock, folder) = match writes_into {
        Some(dir) => {
            let (lock, folder) =
                claim_checkpoint_folder(dir, spec.checkpointing.resume.as_deref())?;
            (Some(lock), Some(folder))
        }
        None => (None, None),
    };
    // A checkpoint that cannot be resumed is refused before any worker starts.
    let resumed = match &spec.checkpointing.resume {
        Some(dir) => Some(checkpoint::read(dir, &identity).map_err(data_named_apart)?),
        None => None,
    };
    let annex = match &resumed {
        Some(saved) if !saved.annex.is_empty() => serde_json::from_slice(&saved.annex)
            .context("the checkpoint's trace does not decode")?,
        _ => Annex::TraceAlone(Vec::new()),
    };
    let (earlier, interval, measured, thinning) = match annex {
        Annex::Saved {
            trace,
            interval,
            objective,
            thinning,
        } if interval.is_valid() => (trace, Some(interval), objective, thinning),
        Annex::Saved { interval, .. } => {
            bail!("the checkpoint's interval is not one a run takes checkpoints at: {interval:?}")
        }
        Annex::TraceAlone(trace) => (trace, None, None, None),
    };
    check_trace(&earlier).map_err(anyhow::Error::msg)?;
    let earlier = match thinning {
        Some(thinning) => EvenPoints::resumed(earlier, thinning).map_err(|wrong| {
            anyhow::anyhow!(
                "the checkpoint's trace has {wrong}: it was altered; nothing was trained from it"
            )
        })?,
        None => earlier.into_iter().collect(),
    };
    // Only a measure of the very model the checkpoint holds says anything of its weights.
    let resumed_updates = resumed.as_ref().map(|saved| saved.stats.updates);
    let measured = measured.filter(|m| Some(m.updates) == resumed_updates);
    Ok(Checkpoints {
        identity,
        lock,
        folder,
        resumed,
        earlier,
        interval,
        measured,
    })
}

/// Refuses a checkpoint's trace that no run writes: more rows than a run keeps ([`MAX_KEPT`]
/// and the latest), a number that is not finite, seconds below 0, or updates or seconds that
/// go backwards. Only the SHA-256 guards the annex, so rows edited there with it computed anew
/// went as they were into the resumed run's trace and plot. An objective below 0 is not refused
/// for that alone: an author's loss may go below 0.
///
/// [`MAX_KEPT`]: crate::even_points::MAX_KEPT
fn check_trace(trace: &[TracePoint]) -> Result<(), String> {
    let most = crate::even_points::MAX_KEPT + 1;
    if trace.len() > most {
        return Err(format!(
            "the checkpoint's trace has {} rows, more than a run keeps ({most}): it was \
             altered; nothing was trained from it",
            trace.len()
        ));
    }
    let mut before: Option<&TracePoint> = None;
    for (index, point) in trace.iter().enumerate() {
        let wrong = row_wrong(point, before);
        if let Some(wrong) = wrong {
            return Err(format!(
                "the checkpoint's trace row {}: {wrong}: it was altered; nothing was trained \
                 from it",
                index + 1
            ));
        }
        before = Some(point);
    }
    Ok(())
}

/// What makes `point`, after `before`, a row no run writes, if anything.
fn row_wrong(point: &TracePoint, before: Option<&TracePoint>) -> Option<String> {
    if !point.elapsed_s.is_finite() || point.elapsed_s < 0.0 {
        let seconds = point.elapsed_s;
        return Some(format!(
            "elapsed_s {seconds} is not a finite number of seconds >= 0"
        ));
    }
    if !point.objective.is_finite() {
        return Some(format!(
            "objective {} is not a finite number",
            point.objective
        ));
    }
    let before = before?;
    if point.updates < before.updates {
        return Some(format!(
            "updates {} after {} of the row before: they go backwards",
            point.updates, before.updates
        ));
    }
    (point.elapsed_s < before.elapsed_s).then(|| {
        format!(
            "elapsed_s {} after {} of the row before: the seconds go backwards",
            point.elapsed_s, before.elapsed_s
        )
    })
}

/// Restores `resumed` into the driver: the updates and seconds of training it goes on from.
pub(super) fn resume(
    driver: &mut Driver,
    resumed: Option<Checkpoint>,
    step: f64,
) -> Option<(u64, f64)> {
    let resumed_from = resumed.map(|saved| {
        let saved = driver.resume(saved);
        (saved.stats.updates, saved.elapsed_s)
    });
    if let Some((updates, elapsed_s)) = resumed_from {
        tracing::info!(updates, elapsed_s, step, "resuming from the checkpoint");
    }
    resumed_from
}

/// Has the driver write checkpoints into the run's folder (`folder`, taken where its lock
/// was) as the run goes, each with the trace so far (`points`, a resumed run's first), of
/// bounded size however long the run, at the interval the flags give or else the resumed
/// run's (`resumed`), and the objective of its model as the judge of checkpoints measured it
/// (`judged`), which a resume checks.
pub(super) fn keep(
    spec: &JobSpec,
    driver: &mut Driver,
    identity: String,
    folder: Option<checkpoint::Folder>,
    points: &Arc<Locked<EvenPoints>>,
    judged: &Arc<Locked<Option<Measured>>>,
    resumed: Option<Interval>,
) {
    if let Some(folder) = folder {
        let interval = Interval::chosen(spec, resumed);
        tracing::debug!(?interval, "checkpoint interval");
        let policy = CheckpointPolicy {
            dir: folder.dir().to_path_buf(),
            every_updates: interval.every_updates,
            every: interval.every_s.map(Duration::from_secs_f64),
            job: identity,
        };
        // The folder the lock is in: one taken again by its path may be another by now.
        driver.checkpoint_into(folder, policy);
        let (points, judged) = (points.clone(), judged.clone());
        driver.checkpoint_annex(move || {
            // The trace so far (a resumed run's trace goes on from it), the interval (a
            // resume keeps it) and the objective the judge measured of this checkpoint's
            // model just before, encoded on the checkpoint's thread.
            let (trace, thinning) = {
                let points = points.lock();
                (points.to_vec(), points.thinning())
            };
            let objective = judged.take();
            Box::new(move || {
                let annex = Annex::Saved {
                    trace,
                    interval,
                    objective,
                    thinning: Some(thinning),
                };
                serde_json::to_vec(&annex).expect("JSON of numbers")
            })
        });
    }
}

/// Takes `dir` for this run's checkpoints: refused while another run writes into it (its lock
/// is held), and when it holds a checkpoint that this run does not resume (`resume`), which
/// the first new checkpoint would overwrite. Returns the lock and the folder it is in, which
/// the driver then writes into: a folder removed or replaced since is not written into.
fn claim_checkpoint_folder(
    dir: &Path,
    resume: Option<&Path>,
) -> Result<(std::fs::File, checkpoint::Folder)> {
    let folder = checkpoint::Folder::take(dir)?;
    let path = dir.join(CHECKPOINT_LOCK);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    // Whoever else can write the folder may have planted the lock: a FIFO would block the
    // open until a reader came (the run hung before it began), a link would be followed.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NONBLOCK | libc::O_NOFOLLOW,
    );
    let lock = options.open(&path).map_err(|error| {
        let hint = unwritable_hint(&error, resume.is_some_and(|r| same_file(dir, r)));
        anyhow::Error::new(error).context(format!("cannot write {}{hint}", path.display()))
    })?;
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
    // Replaced between its taking and the lock's opening, the lock is in another folder.
    folder.still_there()?;
    if dir.join(checkpoint::FILE).exists() && !resume.is_some_and(|r| same_file(dir, r)) {
        bail!(
            "{} already holds a checkpoint, which this run would overwrite: go on from it with \
             --resume {0}, or give --checkpoint another folder (or delete this one)",
            dir.display()
        );
    }
    Ok((lock, folder))
}

/// What to do when the folder a run resumes in place cannot be written (a folder of another
/// user, a read-only mount): a resume needs a folder it can write its own checkpoints into.
fn unwritable_hint(error: &std::io::Error, resuming_in_place: bool) -> &'static str {
    let unwritable = matches!(
        error.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    );
    match unwritable && resuming_in_place {
        true => {
            " (this run writes its checkpoints where it resumes from: to resume from a folder \
             it cannot write, give --checkpoint a folder it can)"
        }
        false => "",
    }
}

/// What the run is, for its checkpoints: the algorithm, the data (by content), the rows the
/// objective is evaluated on and every setting that changes the iterates. Stop rules and the
/// number of workers may change when a run resumes; so may the step when it is the default,
/// which is set for the cluster at hand (an asynchronous method's shrinks with the workers,
/// whose number sets its staleness).
fn identity(spec: &JobSpec, data: &Dataset, p: &Params) -> Result<String> {
    let step = match spec.step {
        Some(step) => format!("step {step:e}"),
        None => "the default step".to_owned(),
    };
    let bias = match spec.bias {
        Some(value) => format!("bias {value:e}"),
        None => "no bias".to_owned(),
    };
    let own: Vec<String> = p.extra.iter().map(|(k, v)| format!("{k} {v:e}")).collect();
    Ok(format!(
        "{} on data of {} x {} ({}), {bias}, {}; loss {}, lambda {}, {}, momentum {}, \
         batch {}, quorum {}, max staleness {}, staleness-aware {}, epoch {}, preconditioner {}, \
         seed {}{}",
        spec.algorithm.name(),
        data.full_rows(),
        data.dim(),
        data_by_content(spec, data)?,
        evaluated_on(data),
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
    ))
}

/// The data by content, not by its file's name (a copy, or the file compressed, is the same
/// data), nor by how the workers get it: a file is named by its text as a scan reads it, so a
/// run that ships it and one whose workers read it themselves name it alike.
fn data_by_content(spec: &JobSpec, data: &Dataset) -> Result<String> {
    let by_text = |file: &SharedFile| format!("text sha256 {}", file.text_fingerprint());
    let by_content = || format!("content sha256 {}", data.fingerprint());
    if let Some(file) = data.origin() {
        return Ok(by_text(file));
    }
    let DataSource::File {
        path, dim, max_dim, ..
    } = &spec.data
    else {
        return Ok(by_content());
    };
    // Shipped: scanned as a shared file is. A pipe cannot be read twice, and is named by
    // the content read.
    let scan = Dataset::open_shared(
        path,
        &SharedOptions {
            load: LoadOptions {
                dim: *dim,
                max_dim: *max_dim,
                ..LoadOptions::default()
            },
            eval_rows: 1,
            seed: 0,
        },
    );
    match scan {
        Ok(scanned) => Ok(scanned.origin().map_or_else(by_content, by_text)),
        Err(DataError::NotSeekable { .. }) => Ok(by_content()),
        Err(error) => Err(error).context("cannot name the data for its checkpoint"),
    }
}

/// A refused resume, told plainly when the checkpoint names its data one way and this run
/// the other ([`data_by_content`]): the built-in set (or a pipe) by its rows, a file by its
/// text. Two hashes of different things then differ whatever the rows, and read as if the
/// data did; each stays as it is so that the checkpoints already made still resume.
fn data_named_apart(error: checkpoint::CheckpointError) -> anyhow::Error {
    let checkpoint::CheckpointError::Foreign {
        found, expected, ..
    } = &error
    else {
        return error.into();
    };
    let by_rows = |job: &str| job.contains("(content sha256 ");
    let by_text = |job: &str| job.contains("(text sha256 ");
    let (made_on, this_run) = if by_rows(found) && by_text(expected) {
        ("the built-in set (or a pipe)", "a file")
    } else if by_text(found) && by_rows(expected) {
        ("a file", "the built-in set (or a pipe)")
    } else {
        return error.into();
    };
    anyhow::anyhow!(
        "{error}; the checkpoint was made on {made_on} and this run trains on {this_run}: \
         they are never the same data to a resume, even when they hold the same rows (the one \
         is named by its rows, the other by its text); resume on the data the checkpoint was \
         made on"
    )
}

/// The rows the objective is evaluated on: they set f*, the default step and the
/// preconditioner, and the trace the resumed run goes on with was measured on them, so a
/// checkpoint resumes only with the same. Said with the options that choose them, which are
/// what a refused resume changed.
fn evaluated_on(data: &Dataset) -> String {
    match data.is_whole() {
        true => "objective on every row".to_owned(),
        false => format!(
            "objective on a sample of {} (--data-access shared --eval-rows {})",
            plural(data.n_rows(), "row"),
            data.n_rows()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_resumed_in_place_that_cannot_be_written_says_the_way_out() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(unwritable_hint(&denied, true).contains("give --checkpoint a folder it can"));
        // A new folder of --checkpoint the run cannot write: its own fault, no resume to hint at.
        assert_eq!(unwritable_hint(&denied, false), "");
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(unwritable_hint(&missing, true), "");
    }

    #[test]
    fn a_resume_across_the_built_in_set_and_a_file_says_they_are_not_interchangeable() {
        let job = |data: &str| format!("sgd on data of 20640 x 8 ({data}), no bias; seed 1");
        let (rows, text) = (job("content sha256 901c"), job("text sha256 e75d"));
        let refused = |found: &str, expected: &str| {
            data_named_apart(checkpoint::CheckpointError::Foreign {
                path: "ck/checkpoint.bin".into(),
                expected: expected.to_owned(),
                found: found.to_owned(),
            })
            .to_string()
        };
        let said = refused(&rows, &text);
        assert!(
            said.contains(
                "the checkpoint was made on the built-in set (or a pipe) and this run trains \
                 on a file: they are never the same data to a resume"
            ),
            "{said}"
        );
        let said = refused(&text, &rows);
        assert!(
            said.contains("made on a file and this run trains on the built-in set"),
            "{said}"
        );
        // Two files that differ are told apart as they were: their hashes are of one kind.
        let said = refused(&text, &job("text sha256 0000"));
        assert!(!said.contains("never the same data"), "{said}");
    }

    #[test]
    fn a_checkpoint_of_an_earlier_build_resumes_its_trace_at_the_default_interval() {
        // Such a checkpoint's annex is its trace alone, with no interval.
        let annex: Annex = serde_json::from_slice(b"[]").expect("the trace alone decodes");
        assert!(matches!(annex, Annex::TraceAlone(trace) if trace.is_empty()));
        let saved = Annex::Saved {
            objective: None,
            thinning: None,
            trace: Vec::new(),
            interval: Interval {
                every_updates: Some(7),
                every_s: None,
            },
        };
        let text = serde_json::to_vec(&saved).unwrap();
        let back: Annex = serde_json::from_slice(&text).unwrap();
        assert!(matches!(back, Annex::Saved { interval, .. } if interval.every_updates == Some(7)));
    }

    /// Three rows of two features, scored by least squares.
    fn three_rows() -> (Dataset, Params) {
        use asyncopt_runtime::data::Features;
        let x = ndarray::array![[1.0, 0.5], [0.2, 1.0], [0.3, -0.4]];
        let labels = ndarray::array![1.0, -1.0, 0.5];
        let data = Dataset::new("three.svm", Features::Dense(x), labels).unwrap();
        (data, Params::new(asyncopt_algorithms::Loss::LeastSquares))
    }

    /// A loop variable `name` of a checkpoint, holding `value`.
    fn saved(name: &str, value: &asyncopt_algorithms::Model) -> checkpoint::Saved {
        checkpoint::Saved {
            name: name.to_owned(),
            version: 0,
            bytes: std::sync::Arc::new(postcard::to_allocvec(value).unwrap()),
        }
    }

    /// The measure of `w` on `data` the judge records at update 40, naming it `model`.
    fn measured_of(w: &asyncopt_algorithms::Model, data: &Dataset, model: &str) -> Measured {
        Measured {
            updates: 40,
            objective: asyncopt_algorithms::Loss::LeastSquares.objective(data, w.view()),
            norm: Some(TrainedModel::new(w.clone()).as_ref().norm()),
            model: Some(model.to_owned()),
        }
    }

    /// A checkpoint of an earlier build records the norm of its model, not its name: the
    /// model is found among the loop variables by its norm (SGD's velocity is a `Model` too),
    /// checked on the data before any worker starts, and its objective handed on as the
    /// run's first evaluation; weights altered are refused, whatever variable still has the
    /// norm recorded or not.
    #[test]
    fn a_resumed_model_is_checked_on_the_data_before_the_run_and_its_objective_handed_on() {
        use asyncopt_algorithms::{Algorithm, Model};
        let (data, params) = three_rows();
        let sgd = crate::optimizer::Optimizer::from(Algorithm::Sgd);
        let (w, velocity): (Model, Model) = (ndarray::array![0.4, -0.3], ndarray::array![2.0, 1.0]);
        let checkpoint_of = |w: &Model| Checkpoint {
            state: vec![saved("velocity", &velocity), saved("w", w)],
            ..Checkpoint::default()
        };
        let measured = Measured {
            model: None,
            ..measured_of(&w, &data, "w")
        };
        let objective = measured.objective;
        let check = |checkpoint: &Checkpoint, measured: &Measured| {
            check_resumed(sgd, checkpoint, Some(measured.clone()), &data, &params)
        };
        let first = check(&checkpoint_of(&w), &measured);
        let first = first
            .expect("the weights measured pass")
            .expect("an evaluation");
        assert_eq!((first.updates, first.objective), (40, objective));
        // Weights altered: no variable has the norm recorded.
        let wild = &w * 1e3;
        let refused = check(&checkpoint_of(&wild), &measured);
        let line = refused.unwrap_err().to_string();
        assert!(line.contains("are not the model it records"), "{line}");
        // Weights of the same norm, other weights: their objective tells them apart.
        let turned: Model = ndarray::array![-0.3, 0.4];
        let refused = check(&checkpoint_of(&turned), &measured);
        let line = refused.unwrap_err().to_string();
        assert!(
            line.contains("it was altered or is of other data"),
            "{line}"
        );
        // A checkpoint of a build earlier still, which records no norm, resumes unchecked.
        let older = Measured {
            norm: None,
            ..measured
        };
        let unchecked = check(&checkpoint_of(&wild), &older);
        assert!(unchecked.unwrap().is_none());
    }

    /// The model is the loop variable its judge saw, by name: SVRG's snapshot, just taken,
    /// holds the model's very weights, so with `w` altered the snapshot still had the norm
    /// recorded, and a search by norm checked the snapshot and resumed the weights altered.
    #[test]
    fn the_resumed_model_is_the_variable_named_not_another_of_its_norm() {
        use asyncopt_algorithms::{Algorithm, Model};
        let (data, params) = three_rows();
        let svrg = crate::optimizer::Optimizer::from(Algorithm::Svrg);
        let w: Model = ndarray::array![0.4, -0.3];
        // The snapshot first: a search by norm meets it before `w`.
        let checkpoint_of = |snapshot: &Model, w: &Model| Checkpoint {
            state: vec![saved("snapshot", snapshot), saved("w", w)],
            ..Checkpoint::default()
        };
        let measured = measured_of(&w, &data, "w");
        let check = |checkpoint: &Checkpoint, measured: &Measured| {
            check_resumed(svrg, checkpoint, Some(measured.clone()), &data, &params)
        };
        let first = check(&checkpoint_of(&w, &w), &measured);
        let first = first.expect("the weights measured pass").expect("checked");
        assert_eq!(first, measured, "the objective of `w` is the one recorded");
        // `w` altered, the snapshot as it was (of the norm recorded): refused.
        let wild = &w * 1e3;
        let refused = check(&checkpoint_of(&w, &wild), &measured);
        let line = refused.unwrap_err().to_string();
        assert!(line.contains("are not the model it records"), "{line}");
        // Weights of the same norm in `w`: their objective tells them apart.
        let turned: Model = ndarray::array![-0.3, 0.4];
        let refused = check(&checkpoint_of(&w, &turned), &measured);
        let line = refused.unwrap_err().to_string();
        assert!(
            line.contains("it was altered or is of other data"),
            "{line}"
        );
        // A name recorded without a norm is checked on the data all the same.
        let unnormed = Measured {
            norm: None,
            ..measured.clone()
        };
        let refused = check(&checkpoint_of(&w, &wild), &unnormed);
        let line = refused.unwrap_err().to_string();
        assert!(
            line.contains("it was altered or is of other data"),
            "{line}"
        );
        // A name that no model of the checkpoint has: refused, saying which.
        let elsewhere = Measured {
            model: Some("v".to_owned()),
            ..measured
        };
        let refused = check(&checkpoint_of(&w, &w), &elsewhere);
        let line = refused.unwrap_err().to_string();
        assert!(
            line.contains("records its model as its loop variable `v` (update 40)"),
            "{line}"
        );
    }

    /// The name the judge saw is recorded in the annex, and an annex of an earlier build,
    /// which records the norm alone, still decodes, with no name.
    #[test]
    fn the_annex_records_the_model_s_name_and_an_earlier_one_decodes_without() {
        let (data, _) = three_rows();
        let measured = measured_of(&ndarray::array![0.4, -0.3], &data, "w");
        let text = serde_json::to_value(&measured).unwrap();
        assert_eq!(text["model"], "w", "{text}");
        let back: Measured = serde_json::from_value(text).unwrap();
        assert_eq!(back, measured);
        let earlier = br#"{"updates":40,"objective":0.5,"norm":2.0}"#;
        let earlier: Measured = serde_json::from_slice(earlier).unwrap();
        assert_eq!((earlier.norm, earlier.model), (Some(2.0), None));
    }

    /// A checkpoint written anew with other weights passes the SHA-256 check, which tells
    /// damage only; its run then failed as if its step diverged. The objective it records
    /// of its model now tells the weights apart.
    #[test]
    fn a_forged_checkpoint_whose_weights_are_not_the_ones_measured_is_refused() {
        use asyncopt_algorithms::Loss;
        use asyncopt_runtime::data::Features;
        let x = ndarray::array![[1.0, 0.5], [0.2, 1.0], [0.3, -0.4]];
        let data = Dataset::new(
            "three.svm",
            Features::Dense(x),
            ndarray::array![1.0, -1.0, 0.5],
        );
        let data = data.unwrap();
        let loss = Loss::LeastSquares;
        let w = ndarray::array![0.4, -0.3];
        let measured = Measured {
            updates: 40,
            objective: loss.objective(&data, w.view()),
            norm: None,
            model: None,
        };
        let annex = Annex::Saved {
            trace: Vec::new(),
            interval: Interval {
                every_updates: Some(10),
                every_s: None,
            },
            objective: Some(measured.clone()),
            thinning: None,
        };
        let mut saved = Checkpoint {
            job: "test".to_owned(),
            annex: serde_json::to_vec(&annex).unwrap(),
            state: vec![checkpoint::Saved {
                name: "w".to_owned(),
                version: 0,
                bytes: std::sync::Arc::new(serde_json::to_vec(&w).unwrap()),
            }],
            ..Checkpoint::default()
        };
        saved.stats.updates = 40;
        let dir = test_support::scratch("checkpoint-forged");
        checkpoint::write(&dir, &saved).unwrap();
        // The forger's: wild weights, the rest as it was, its SHA-256 computed anew.
        let mut forged = checkpoint::read(&dir, "test").unwrap();
        let wild = &w * 1e6;
        forged.state[0].bytes = std::sync::Arc::new(serde_json::to_vec(&wild).unwrap());
        checkpoint::write(&dir, &forged).unwrap();
        let read = checkpoint::read(&dir, "test").expect("its integrity check passes");
        let Annex::Saved {
            objective: Some(recorded),
            ..
        } = serde_json::from_slice(&read.annex).unwrap()
        else {
            panic!("the objective is recorded");
        };
        assert_eq!(recorded, measured);
        let weights: asyncopt_algorithms::Model =
            serde_json::from_slice(&read.state[0].bytes).unwrap();
        let line = recorded
            .check(loss.objective(&data, weights.view()))
            .unwrap_err();
        assert!(
            line.starts_with("the checkpoint's weights give objective ")
                && line.contains(&format!(
                    "it records {} (update 40)",
                    readable(measured.objective)
                ))
                && line.contains("it was altered or is of other data"),
            "{line}"
        );
        // The weights it measured pass, and a checkpoint that records nothing still decodes.
        assert_eq!(recorded.check(loss.objective(&data, w.view())), Ok(()));
        let older = br#"{"trace":[],"interval":{"every_updates":5,"every_s":null}}"#;
        let older: Annex = serde_json::from_slice(older).unwrap();
        assert!(matches!(
            older,
            Annex::Saved {
                objective: None,
                ..
            }
        ));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_trace_row_no_run_writes_is_refused_and_a_negative_objective_is_not() {
        let point = |elapsed_s: f64, updates: u64, objective: f64| TracePoint {
            elapsed_s,
            updates,
            objective,
            subopt: None,
            dropped_stale: 0,
        };
        // An author's loss may go below 0: not refused for that alone.
        let fine = [
            point(0.0, 0, 1.0),
            point(0.5, 10, -1.0),
            point(0.5, 10, -2.0),
        ];
        assert_eq!(check_trace(&fine), Ok(()));
        for (rows, said) in [
            (
                vec![point(0.0, 0, 1.0), point(f64::NAN, 1, 1.0)],
                "row 2: elapsed_s NaN",
            ),
            (vec![point(-1.0, 0, 1.0)], "row 1: elapsed_s -1"),
            (vec![point(0.0, 0, f64::INFINITY)], "row 1: objective inf"),
            (vec![point(0.0, 0, f64::NAN)], "row 1: objective NaN"),
            (
                vec![point(0.0, 5, 1.0), point(0.1, 4, 1.0)],
                "row 2: updates 4 after 5",
            ),
            (
                vec![point(0.2, 5, 1.0), point(0.1, 6, 1.0)],
                "row 2: elapsed_s 0.1 after 0.2",
            ),
        ] {
            let error = check_trace(&rows).expect_err(said);
            assert!(error.contains(said), "{error}");
            assert!(error.starts_with("the checkpoint's trace "), "{error}");
        }
        let many = vec![point(0.0, 0, 1.0); crate::even_points::MAX_KEPT + 2];
        let error = check_trace(&many).expect_err("too many rows");
        assert!(
            error.contains(&format!("has {} rows", many.len())),
            "{error}"
        );
        assert_eq!(check_trace(&many[1..]), Ok(()), "as many as a run keeps");
    }

    #[test]
    fn an_objective_of_zero_is_said_as_0_not_0e0() {
        let recorded = Measured {
            updates: 7,
            objective: 0.0,
            norm: None,
            model: None,
        };
        let line = recorded.check(0.25).unwrap_err();
        assert!(
            line.contains("give objective 0.25, it records 0 (update 7)"),
            "{line}"
        );
    }

    #[test]
    fn the_folder_handed_to_the_driver_is_the_one_its_lock_is_in() {
        // The driver took the folder by its path when the run began, after the workers
        // joined: one replaced meanwhile was made its folder, without the lock, and written
        // into. The folder is now taken where it is locked, and a replaced one refused.
        let dir = test_support::scratch("checkpoint-folder-handed");
        let (lock, folder) = claim_checkpoint_folder(&dir, None).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        checkpoint::prepare_folder(&dir).unwrap();
        let saved = Checkpoint {
            job: "test".to_owned(),
            ..Checkpoint::default()
        };
        let written = folder.write(&saved);
        assert!(
            matches!(
                written,
                Err(checkpoint::CheckpointError::FolderGone { replaced: true, .. })
            ),
            "{written:?}"
        );
        assert!(
            !dir.join(checkpoint::FILE).exists(),
            "written into the other folder"
        );
        // The folder at the name now is free to another run, which holds its own.
        drop(lock);
        let (_lock, again) = claim_checkpoint_folder(&dir, None).unwrap();
        assert!(again.write(&saved).is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_link_planted_as_the_lock_is_refused_not_waited_on_nor_followed() {
        // Whoever else can write a checkpoint folder (one made in /tmp by another user)
        // plants its lock: a FIFO blocked the open for writing until a reader came, and the
        // run hung before it began; a link was followed, creating its target.
        let dir = test_support::scratch("checkpoint-lock-planted");
        let lock = dir.join(CHECKPOINT_LOCK);
        let made = std::process::Command::new("mkfifo").arg(&lock).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let (tx, rx) = std::sync::mpsc::channel();
        let claiming = dir.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(claim_checkpoint_folder(&claiming, None).map(|_| ()));
        });
        // A generous bound only to end a test that would otherwise hang: a reader's open
        // lets a blocked open go on, so the thread ends either way.
        let outcome = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(outcome) => outcome,
            Err(_) => {
                let _reader = std::fs::File::open(&lock);
                panic!("claiming a folder whose lock is a FIFO waited for a reader");
            }
        };
        let error = format!("{:#}", outcome.unwrap_err());
        assert!(error.contains("cannot write"), "{error}");
        std::fs::remove_file(&lock).unwrap();
        let target = dir.join("created-through-the-link");
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        let error = format!("{:#}", claim_checkpoint_folder(&dir, None).unwrap_err());
        assert!(error.contains("cannot write"), "{error}");
        assert!(!target.exists(), "the link is not followed");
        std::fs::remove_dir_all(&dir).ok();
    }
}
