//! What a job produced, and how it ends the command: one line, and the error a failed,
//! interrupted or short run returns.

use anyhow::{bail, Result};
use asyncopt_runtime::RunReport;

use super::JobSpec;
use crate::model::TrainedModel;
use crate::optimizer::Optimizer;
use crate::trace::Trace;
use crate::words::plural;

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
    /// Where f* comes from: `"given"` (`--optimum`), `"file"` (computed on every row) or
    /// `"sample"` (computed on the evaluation sample the objective is measured on).
    pub optimum_of: Option<&'static str>,
    /// The final model's objective on every row of the file, when the objective was measured
    /// on an evaluation sample and the run ended without reaching its target.
    pub file_objective: Option<f64>,
    /// How far below f*, relative, the objective may fall by rounding
    /// ([`below_optimum_rounding`](crate::trace::below_optimum_rounding)).
    pub below_by: f64,
    /// The rows of a task's minibatch: `--batch`, at most the largest partition's rows (all of
    /// them for `--batch 0`); `None` when the partitions were not known.
    pub batch_used: Option<usize>,
    /// The step used: the one set, chosen or sized for `--workers`.
    pub step: f64,
    /// The smallest step taken, when a step sized for `--workers` shrank while more workers
    /// were live (see [`Params::step_at`](asyncopt_algorithms::Params::step_at)).
    pub step_smallest: Option<f64>,
    /// The dataset's name.
    pub dataset: String,
    /// With shared data access and a file of more rows than `--eval-rows`: the rows of the
    /// evaluation sample the objective is measured on, and the file's.
    pub sampled: Option<(usize, usize)>,
    /// The rows of the data: every row of the file, sampled or not.
    pub data_rows: usize,
    /// The job's settings.
    pub spec: JobSpec,
    /// Updates and seconds of training of the checkpoint the run resumed from.
    pub resumed_from: Option<(u64, f64)>,
    /// A signal (Ctrl-C) stopped the run before its stop rules did; the model and trace are
    /// those of where it stopped.
    pub interrupted: bool,
    /// The models recorded between evaluations that a signal left unscored after the run
    /// (each a pass over the data): the trace lacks their points.
    pub recorded_unscored: usize,
}

impl Outcome {
    /// What a plot's title says of the run, besides what is drawn: the data, the seed and
    /// the workers (`a9a.xz, seed 1, 4 workers`), the data's name cut short if long.
    pub fn plot_about(&self) -> String {
        const LONGEST: usize = 40;
        let name = match self.dataset.char_indices().nth(LONGEST) {
            Some((end, _)) => format!("{}...", &self.dataset[..end]),
            None => self.dataset.clone(),
        };
        let workers = crate::words::plural(self.spec.cluster.workers, "worker");
        format!("{name}, seed {}, {workers}", self.spec.cluster.seed)
    }

    /// The rows the objective was measured on: the evaluation sample's, or every row.
    pub fn objective_rows(&self) -> usize {
        self.sampled.map_or(self.data_rows, |(rows, _)| rows)
    }

    /// The line said after the result of a run scored on an evaluation sample: whose objective
    /// it is, and how the model (`model`, if saved) of `data` is scored on the whole file.
    pub fn sample_line(&self, model: Option<&std::path::Path>, data: &str) -> Option<String> {
        let (rows, of) = self.sampled?;
        let model = model.map_or("MODEL".into(), |m| m.display().to_string());
        Some(format!(
            "objective on the {rows}-row evaluation sample of {of} rows; \
             `async-train evaluate --model {model} --data {data}` scores the whole file"
        ))
    }

    /// The final objective.
    pub fn final_objective(&self) -> f64 {
        self.trace.points.last().map_or(f64::NAN, |p| p.objective)
    }

    /// The updates and seconds of training of the model kept: the run's, except after an
    /// optimizer's panic, which keeps the latest model the stop rules looked at (the trace's
    /// last point is that model's).
    pub fn model_at(&self) -> (u64, f64) {
        model_at(
            self.trace.points.last().map(|p| (p.updates, p.elapsed_s)),
            (self.report.stats.updates, self.report.elapsed_s),
        )
    }

    /// Seconds to the target, if one was set and reached: the time of the first trace point
    /// at or below it (a model recorded between the stop rules' evaluations, or the
    /// evaluation that stopped the run), provided the model the run kept (the last point) is
    /// at or below it too. An optimizer that returns another variable than the one the stop
    /// rules follow (a lookahead it broadcasts) may stop there with its model above it: the
    /// target is then missed ([`into_result`](Outcome::into_result) says why).
    pub fn time_to_target(&self) -> Option<f64> {
        let target = self.spec.stop.target_subopt?;
        match self.sampled {
            // A sample's objective below the given f* is no wrong f* (see `below_optimum`).
            Some(_) => self.trace.first_at(target),
            None => self.trace.time_to(target, self.below_by),
        }
    }

    /// What ended the run, in one word: `"signal"` (Ctrl-C or a stop asked for), `"failure"`
    /// (the run failed: a divergence, an objective below f*, a lost cluster; the summary's
    /// `failure` says which), `"target"` (the target was reached), `"updates"` (its
    /// `--updates` bound), `"time"` (its `--time` bound), or `"optimizer"` (the optimizer's
    /// loop ended on its own, as an author's may).
    pub fn ended_by(&self) -> &'static str {
        if self.interrupted {
            "signal"
        } else if self.failure.is_some() {
            "failure"
        } else if self.time_to_target().is_some() || self.target_followed().is_some() {
            // The target rule ended it, whether or not the model kept is at the target.
            "target"
        } else if self.report.stats.updates >= self.spec.updates as u64 {
            "updates"
        } else if self
            .spec
            .stop
            .time_s
            .is_some_and(|s| self.report.elapsed_s >= s)
        {
            "time"
        } else {
            "optimizer"
        }
    }

    /// The point of the trace at or below the target where the stop rules ended the run, if
    /// one was set, when the model kept (the last point, of the same update) is above it: the
    /// stop rules follow the first variable the optimizer broadcasts, which may not be the one
    /// it returns (a lookahead). `None` when the kept model reached it, or when the run went
    /// on past the point (a model recorded between evaluations, which no rule saw).
    fn target_followed(&self) -> Option<&crate::trace::TracePoint> {
        let target = self.spec.stop.target_subopt?;
        if self.sampled.is_none() && self.trace.below_optimum(self.below_by).is_some() {
            return None;
        }
        let (last, before) = self.trace.points.split_last()?;
        if last.reaches(target) {
            return None;
        }
        // The evaluation that stopped the run, of the update the model was kept at (a model
        // recorded earlier may have reached the target first).
        before
            .iter()
            .rev()
            .take_while(|p| p.updates == last.updates)
            .find(|p| p.reaches(target))
    }

    /// Whether the run reached its target (its kept model is at or below it): `None` when it
    /// had none.
    pub fn target_reached(&self) -> Option<bool> {
        (self.spec.stop.target_subopt).map(|_| self.time_to_target().is_some())
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

    /// The final model's relative suboptimality on the whole file, against a given f* (the
    /// file's), when it was scored there ([`file_objective`](Outcome::file_objective)).
    pub fn final_file_subopt(&self) -> Option<f64> {
        let optimum = self.optimum.filter(|_| self.optimum_of == Some("given"))?;
        crate::trace::relative_subopt(self.file_objective?, optimum)
    }

    /// The end of the line of a target missed on an evaluation sample: where the target was
    /// measured, and the final model's objective on the whole file when it was scored there.
    fn missed_on_a_sample(&self) -> String {
        let Some((rows, of)) = self.sampled else {
            return String::new();
        };
        let against = match self.optimum_of {
            Some("sample") => {
                "against the sample's own optimum, which a model of the file's \
                               may not reach"
            }
            _ => "against the given f*",
        };
        let on_file = match (self.file_objective, self.final_file_subopt()) {
            (Some(f), Some(s)) => {
                format!("on the whole file, objective {f} and (f-f*)/f* = {s:.3e}")
            }
            (Some(f), None) => format!(
                "on the whole file, objective {f} (the file's f* is not known: --optimum gives it)"
            ),
            (None, _) => "`async-train evaluate` scores it on the whole file".into(),
        };
        format!("; measured on the {rows}-row evaluation sample of {of} rows {against}; {on_file}")
    }

    /// The final model's relative suboptimality, when the optimum is known and above 0.
    pub fn final_subopt(&self) -> Option<f64> {
        let optimum = self.optimum?;
        crate::trace::relative_subopt(self.final_objective(), optimum)
    }

    /// Whether the run failed before its first update (its first from the checkpoint it
    /// resumed): it has no result to show, and its error says what happened.
    pub fn failed_untrained(&self) -> bool {
        let start = self.resumed_from.map_or(0, |(updates, _)| updates);
        self.failure.is_some() && self.report.stats.updates == start
    }

    /// A one-line account of the run.
    pub fn one_line(&self) -> String {
        let subopt = match (self.optimum, self.final_subopt()) {
            (_, Some(s)) => format!(", (f-f*)/f* = {s:.3e}"),
            (Some(f), None) => format!(", f-f* = {:.3e} (f* = {f})", self.final_objective() - f),
            (None, None) => String::new(),
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
        let asked_for = plural(asked, "worker");
        let workers = match trained {
            0 => asked_for,
            n if n == asked => asked_for,
            n if n < asked => format!("{n} of {asked_for}"),
            n => format!("{asked_for} ({n} in all, with replacements and late joiners)"),
        };
        // The count and time of the model scored: after a panic, an earlier one than the run's.
        let (updates, elapsed_s) = self.model_at();
        let updates = plural(updates, "update");
        format!(
            "{}: objective {}{on} after {updates} in {elapsed_s:.2} s on \
             {workers}{subopt}{stopped}",
            self.algorithm,
            crate::trace::objective_text(self.final_objective()),
        )
    }

    /// The line said after [`one_line`](Outcome::one_line) when workers were lost or excluded,
    /// tasks hung, messages were rejected, joins refused, handshakes timed out or closed to
    /// make room, connections closed before their ZeroMQ handshake, or frames dropped unread;
    /// `None` for a clean run.
    pub fn fault_line(&self) -> Option<String> {
        super::faults::fault_line(&self.report)
    }

    /// What every command says of a run it made: [`one_line`](Outcome::one_line), and under
    /// it the [`fault_line`](Outcome::fault_line) if the run had faults.
    pub fn result_lines(&self) -> String {
        match self.fault_line() {
            Some(faults) => format!("{}\n{faults}", self.one_line()),
            None => self.one_line(),
        }
    }

    /// An error if the run failed, an [`Interrupted`](crate::cli::Interrupted) if a signal
    /// stopped it, or a [`TargetMissed`](crate::cli::TargetMissed) if it ended without
    /// reaching its target (after its files were written).
    pub fn into_result(self) -> Result<()> {
        self.result()
    }

    /// [`into_result`](Outcome::into_result), the outcome kept: whether the command will
    /// fail is known before its files are written (a failed run's model replaces none).
    pub fn result(&self) -> Result<()> {
        if let Some(failure) = &self.failure {
            bail!("the run ended early: {failure}");
        }
        if let Some((updates, _)) = self.resumed_from {
            // A bound the checkpoint had passed: the run went on from it and did nothing. A
            // checkpoint whose model meets the target already is a run done, not a bound passed,
            // and a signal before the first update (workers still reading their splits) stopped
            // the run, below.
            let untrained = self.report.stats.updates == updates && !self.interrupted;
            if untrained && self.time_to_target().is_none() {
                bail!(
                    "{} resumed at update {updates} and trained nothing: its --updates or --time \
                     bound was passed already; raise it to train on",
                    self.algorithm
                );
            }
        }
        if self.interrupted {
            return Err(crate::cli::Interrupted(format!(
                "{} stopped by a signal after {}; its files hold the run up to there",
                self.algorithm,
                plural(self.report.stats.updates, "update")
            ))
            .into());
        }
        if let (Some(target), None) = (self.spec.stop.target_subopt, self.time_to_target()) {
            let reached = self.final_subopt().unwrap_or(f64::NAN);
            if let Some(followed) = self.target_followed() {
                // The stop rules saw the target reached, on another variable than the model.
                return Err(crate::cli::TargetMissed(format!(
                    "{} did not reach the target (f-f*)/f* = {}: the model it returned is at \
                     {reached:.3e} after {}; the stop rules follow the first variable it \
                     broadcasts, not the one it returns, and that one reached {:.3e} at update \
                     {}: broadcast the returned variable too to have it followed",
                    self.algorithm,
                    crate::optimizer::readable(target),
                    plural(self.report.stats.updates, "update"),
                    followed.subopt.unwrap_or(f64::NAN),
                    followed.updates
                ))
                .into());
            }
            return Err(crate::cli::TargetMissed(format!(
                "{} did not reach the target (f-f*)/f* = {}: {reached:.3e} after {}{}{}",
                self.algorithm,
                crate::optimizer::readable(target),
                plural(self.report.stats.updates, "update"),
                self.limit_reached(),
                self.missed_on_a_sample()
            ))
            .into());
        }
        Ok(())
    }
}

/// [`Outcome::model_at`] of a run whose trace ends at `last` (updates, seconds) and whose
/// report says `run`: the trace's last point when it is an earlier model's (an optimizer's
/// panic kept it), else the run's own count and training time. A run that waited on past
/// its last update (for workers to come back, till its time limit) ended later than that
/// update's evaluation, and said the evaluation's time when one fell on its last update
/// (a synchronous step each update) but the run's otherwise (an asynchronous one).
fn model_at(last: Option<(u64, f64)>, run: (u64, f64)) -> (u64, f64) {
    match last {
        Some((updates, elapsed_s)) if updates != run.0 => (updates, elapsed_s),
        _ => run,
    }
}

#[cfg(test)]
mod tests {
    use super::model_at;

    #[test]
    fn a_run_that_waited_past_its_last_update_says_its_own_time() {
        // Its last update evaluated at 9.26 s, then a wait for workers till the time limit.
        assert_eq!(model_at(Some((5066, 9.26)), (5066, 40.1)), (5066, 40.1));
        // A panic kept an earlier model than the run's last update: that model's.
        assert_eq!(model_at(Some((800, 1.5)), (900, 2.0)), (800, 1.5));
        assert_eq!(model_at(None, (0, 0.0)), (0, 0.0));
    }
}
