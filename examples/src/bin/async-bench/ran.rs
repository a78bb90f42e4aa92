//! What a part says and records of each run it makes. A run that failed before its first
//! update (its workers could not read the data file, say) has no result: it is said as failed,
//! with its error, as `async-train` says it, and its figures are null beside its `failure`,
//! not the counters of a run that never trained (0 updates, a throughput of 0).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use async_train::cli::Interrupted;
use async_train::interrupt;
use async_train::job::{self, JobSpec, Outcome};
use async_train::progress::Ticker;
use async_train::trace::Trace;
use asyncopt_runtime::data::Dataset;

/// Says that the data file at `path` is being read, before a part reads it: a large file
/// takes seconds to read (bio_kdd04: 10-20 s here), which passed with nothing said, the
/// part's first line waiting for the data's size.
pub fn reading(path: &Path) {
    eprintln!("reading {}", path.display());
}

/// How often a run still going on is said.
const STILL_RUNNING_EVERY: Duration = Duration::from_secs(5);

/// Runs `spec` on `data` as [`job::run`] does, saying `label` and the seconds so far every
/// [`STILL_RUNNING_EVERY`] while it goes on. A part's runs draw no progress (a bar redrawn
/// beside a timed run takes its CPU), and a run of seconds to minutes (SAGA to 1e-3, a paper
/// run to its 30 s cap, a stopped driver) passed with nothing said until it ended.
pub fn run(label: &str, spec: &JobSpec, data: &Arc<Dataset>) -> Result<Outcome> {
    let begun = Instant::now();
    let label = label.to_owned();
    let _still = Ticker::start(STILL_RUNNING_EVERY, move |_| {
        let seconds = begun.elapsed().as_secs_f64();
        eprintln!("{label}: running, {seconds:.0} s so far");
    });
    job::run(spec, data)
}

/// A part's runs under `async-train`'s handling of signals ([`interrupt`]): a Ctrl-C, SIGTERM
/// or SIGHUP (unless ignored) stops the run going on (its workers with it), keeps the next from
/// starting, and the part merges the runs that finished into its figures, marked partial
/// ([`Stoppable::partial`]), then ends with [`Stoppable::finish`]'s exit of 128 + the signal.
/// A part that ran nothing to the end writes nothing. A second signal quits at once.
pub struct Stoppable {
    part: &'static str,
    planned: usize,
    done: usize,
    /// Whether its runs go in pairs (a synchronous run, then its asynchronous twin).
    in_pairs: bool,
    _saving: interrupt::Saving,
}

impl Stoppable {
    /// The part `part` begins its `planned` runs: from here a signal stops them.
    pub fn begin(part: &'static str, planned: usize) -> Stoppable {
        interrupt::install();
        Stoppable {
            part,
            planned,
            done: 0,
            in_pairs: false,
            _saving: interrupt::Saving::begin(),
        }
    }

    /// The part's runs go in pairs, each pair's two one after the other: [`partial`] says
    /// the whole pairs done beside the runs, since a part stopped between a pair's runs has
    /// one run more done than its whole pairs hold.
    ///
    /// [`partial`]: Stoppable::partial
    pub fn in_pairs(self) -> Stoppable {
        Stoppable {
            in_pairs: true,
            ..self
        }
    }

    /// [`run`], or `None` when a signal stopped the run or came before it: the part then
    /// stops and keeps what finished ([`Stoppable::stopped`]).
    pub fn run(
        &mut self,
        label: &str,
        spec: &JobSpec,
        data: &Arc<Dataset>,
    ) -> Result<Option<Outcome>> {
        if interrupt::requested() {
            return Ok(None);
        }
        match run(label, spec, data) {
            Ok(outcome) if outcome.interrupted => Ok(None),
            Ok(outcome) => {
                self.done += 1;
                Ok(Some(outcome))
            }
            Err(error) if error.is::<Interrupted>() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// A run the part drove itself (on [`interrupt::stop_handle`]) ended, `stopped` by a
    /// signal or not: counted as done when it was not; returns whether it was.
    pub fn ended(&mut self, stopped: bool) -> bool {
        if !stopped {
            self.done += 1;
        }
        !stopped
    }

    /// Whether a signal stopped the part before all its runs were done.
    pub fn stopped(&self) -> bool {
        interrupt::requested() && self.done < self.planned
    }

    /// Whether the part has nothing to write: stopped before any run finished.
    pub fn nothing_done(&self) -> bool {
        self.stopped() && self.done == 0
    }

    /// What the figures say of a stopped part (`null` for one that ran to its end): the
    /// part, and how many of its runs were done (and of its pairs, for a part
    /// [`in_pairs`](Stoppable::in_pairs)).
    pub fn partial(&self) -> serde_json::Value {
        if !self.stopped() {
            return serde_json::Value::Null;
        }
        let mut partial = partial(self.part, self.done, self.planned);
        if self.in_pairs {
            partial["pairs_done"] = (self.done / 2).into();
            partial["pairs_planned"] = (self.planned / 2).into();
        }
        partial
    }

    /// The end of the part: `Ok` when it ran to its end, else an [`Interrupted`] that says
    /// how many runs were done and `written` (where their figures are, or that none were
    /// written), which `main` exits with as `async-train` does (130, 143 or 129).
    pub fn finish(&self, written: &str) -> Result<()> {
        if !self.stopped() {
            return Ok(());
        }
        Err(Interrupted(stopped_line(self.part, self.done, self.planned, written)).into())
    }

    /// [`finish`](Stoppable::finish) of a part stopped with nothing to write: the figures
    /// file `out` is left as it was.
    pub fn finish_unwritten(&self, out: &std::path::Path) -> Result<()> {
        self.finish(&format!("nothing written; {} is unchanged", out.display()))
    }
}

/// What the figures say of part `part` stopped by a signal after `done` of its `planned` runs.
pub fn partial(part: &str, done: usize, planned: usize) -> serde_json::Value {
    serde_json::json!({
        "part": part,
        "runs_done": done,
        "runs_planned": planned,
        "stopped_by": "signal",
    })
}

/// The line said of part `part` stopped by a signal after `done` of its `planned` runs, its
/// figures `written` (where, or that none were).
pub fn stopped_line(part: &str, done: usize, planned: usize, written: &str) -> String {
    format!("{part} stopped by a signal after {done} of {planned} runs; {written}")
}

/// The lines said of a run as it ends: its result line and any faults line, or that it failed
/// before its first update, and why.
pub fn said(outcome: &Outcome) -> String {
    match outcome.failure.as_deref() {
        Some(error) if outcome.failed_untrained() => {
            format!(
                "{} failed before its first update: {error}",
                outcome.algorithm
            )
        }
        _ => outcome.result_lines(),
    }
}

/// `figure` of a run that trained; `None` (null in the figures) for one that failed before its
/// first update, which measured nothing.
pub fn trained<T>(outcome: &Outcome, figure: impl FnOnce(&Outcome) -> T) -> Option<T> {
    (!outcome.failed_untrained()).then(|| figure(outcome))
}

/// The time to target of a run that trained and reached it.
pub fn time_to_target(outcome: &Outcome) -> Option<f64> {
    trained(outcome, Outcome::time_to_target).flatten()
}

/// What a part records of the speedups of its pairs (a synchronous run and its asynchronous
/// twin): the worst of the pairs that ran, and how many did not. A pair with a run that failed
/// before its first update measured nothing: counted as a speedup of 0 it passed for the worst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speedups {
    /// The smallest speedup of the pairs whose runs both trained, a target one of them missed
    /// counting as 0; `None` when no pair ran.
    pub min: Option<f64>,
    /// Pairs left out: one of their runs failed before its first update.
    pub pairs_failed: usize,
}

/// [`Speedups`] of `pairs`, each its speedup (if both reached the target) and whether one of
/// its runs failed before its first update.
pub fn speedups(pairs: impl IntoIterator<Item = (Option<f64>, bool)>) -> Speedups {
    let (mut min, mut pairs_failed) = (None::<f64>, 0);
    for (speedup, failed) in pairs {
        if failed {
            pairs_failed += 1;
            continue;
        }
        let speedup = speedup.unwrap_or(0.0);
        min = Some(min.map_or(speedup, |m| m.min(speedup)));
    }
    Speedups { min, pairs_failed }
}

/// The longest error a figure's title quotes: the figures file holds it whole.
const TITLE_ERROR_CHARS: usize = 60;

/// The lines a figure of `runs` draws, each a run's name and trace beside the error of one
/// that failed before its first update, and what its title adds of those it leaves out
/// (`"ASAGA failed: ..."`): such a run's trace is its starting point only, which drawn as a
/// line passed for a run that stalled there.
pub fn plotted<'a>(
    runs: &[(&'a str, &'a Trace, Option<&str>)],
) -> (Vec<(&'a str, &'a Trace)>, Option<String>) {
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for &(name, trace, error) in runs {
        match error {
            Some(error) => failed.push(format!("{name} failed: {}", shortened(error))),
            None => lines.push((name, trace)),
        }
    }
    let note = (!failed.is_empty()).then(|| failed.join("; "));
    (lines, note)
}

/// `text` cut to [`TITLE_ERROR_CHARS`] characters, an ellipsis saying it was.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(TITLE_ERROR_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// The error of a run that failed before its first update, for [`plotted`].
pub fn untrained_error(outcome: &Outcome) -> Option<&str> {
    outcome
        .failure
        .as_deref()
        .filter(|_| outcome.failed_untrained())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_train::trace::TracePoint;

    #[test]
    fn a_failed_pair_is_left_out_of_the_worst_speedup_and_counted() {
        // Seed 2's ASGD could not read its data: its speedup was counted as 0, the minimum.
        let summary = speedups([(Some(1.8), false), (None, true), (Some(1.4), false)]);
        assert_eq!(
            summary,
            Speedups {
                min: Some(1.4),
                pairs_failed: 1
            }
        );
        // A pair that trained and missed the target still counts as the worst.
        assert_eq!(speedups([(Some(1.8), false), (None, false)]).min, Some(0.0));
        // No pair ran: no speedup, rather than a 0 or an infinity.
        let none = speedups([(None, true), (None, true)]);
        assert_eq!((none.min, none.pairs_failed), (None, 2));
        assert_eq!(speedups([]).min, None);
    }

    #[test]
    fn a_run_that_failed_untrained_is_no_line_of_the_figure_but_its_title_says_so() {
        let point = TracePoint {
            elapsed_s: 0.0,
            updates: 0,
            objective: 1.0,
            subopt: None,
            dropped_stale: 0,
        };
        let (saga, asaga) = (
            Trace {
                points: vec![point; 3],
            },
            Trace {
                points: vec![point],
            },
        );
        let error = "its workers could not read the data file a9a: no such file or directory \
                     on host h2";
        let (lines, note) = plotted(&[("SAGA", &saga, None), ("ASAGA", &asaga, Some(error))]);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].0, "SAGA");
        let note = note.expect("a note of the failed run");
        assert!(note.starts_with("ASAGA failed: its workers"), "{note}");
        assert!(
            note.ends_with("...") && note.len() < error.len() + 20,
            "{note}"
        );
        let (lines, note) = plotted(&[("SAGA", &saga, None), ("ASAGA", &asaga, None)]);
        assert_eq!((lines.len(), note), (2, None));
    }
}
