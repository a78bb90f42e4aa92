//! The stop rules' watch over a run: which models to evaluate, and when to stop.
//!
//! The stop rules evaluate the objective during the run, spaced by `--eval-every` and
//! stretched so that evaluating takes at most [`CHECK_SHARE`] of the time: a run stops at the
//! first evaluation at or below its target. Between evaluations, a cheap look at the model's
//! norm catches a run that explodes: a norm that grew tenfold past every evaluated one calls
//! for an evaluation at once, which the divergence rule then judges.
//!
//! On a large set the budget spaces evaluations a tenth of a second apart, too coarse for a
//! time to target under a second. So the watch also records a copy of the model every
//! `--eval-every` seconds between evaluations (a copy costs microseconds), and
//! [`Watch::evaluate_recorded`] evaluates them after the run: the trace holds both, and the
//! time to target is the first of them at the target, which may come a little before the
//! evaluation that stopped the run.

use std::sync::Arc;
use std::time::Instant;

use asyncopt_algorithms::Params;
use asyncopt_runtime::data::Dataset;
use asyncopt_runtime::{Flow, Progress as At};

use crate::job::StopRules;
use crate::model::{ModelRef, TrainedModel};
use crate::trace::{objective_text, TracePoint};
use crate::words::plural;

/// Evaluations of the objective take at most this share of the time: on a large set one
/// takes milliseconds, which must not stall the run. The norm checks have the same budget.
pub const CHECK_SHARE: f64 = 0.1;

/// An objective this many times its starting value means the run diverged.
pub const DIVERGED: f64 = 1e4;

/// At most this many recorded models, and at most [`RECORDED_BYTES`] of them: past either,
/// every other one is dropped and the spacing doubles, so a long run keeps an even trace.
const MAX_RECORDED: usize = 1024;

/// The memory recorded models may take.
const RECORDED_BYTES: usize = 64 << 20;

/// A model norm this many times the largest evaluated one calls for an evaluation now. Each
/// such evaluation raises that largest norm as much, so a run that converges pays for a few
/// (one per tenfold growth from its first update), and a run that explodes is judged within
/// a few updates.
const NORM_GROWTH: f64 = 10.0;

/// Whether `objective` means the run diverged from its first evaluation `start`: both losses
/// are >= 0, so a negative objective is a divergence too.
pub fn exploded(start: f64, objective: f64) -> bool {
    !objective.is_finite() || objective > DIVERGED * start.max(f64::MIN_POSITIVE) || objective < 0.0
}

/// The line that reports a divergence.
pub fn divergence(start: f64, objective: f64, updates: u64) -> String {
    if !start.is_finite() {
        // No step is to blame for the model the run started from.
        return format!(
            "the objective of the starting model is {start}: the data's labels or feature \
             values are too large for it (scale them)"
        );
    }
    if objective < 0.0 {
        // No step makes a loss negative: the objective's code is at fault, not the step.
        return format!(
            "the objective is {objective:.6e} after {} (from {start:.6e}): no \
             loss is negative, so the stop rules take it for a divergence; a model of its own \
             type must give an objective >= 0 (Trainable::objective)",
            plural(updates, "update")
        );
    }
    format!(
        "the objective diverged from {start:.6e} to {objective:.6e} after {}: try a smaller \
         --step",
        plural(updates, "update")
    )
}

/// The line that fails a run whose objective fell below f* (`optimum`) after `updates`:
/// f* is not the optimum, so neither the run's suboptimalities nor a target it reached
/// hold. (A computed f* is exact: the one below an objective is given, by `--optimum`.)
pub fn below_optimum(objective: f64, optimum: f64, updates: u64) -> String {
    format!(
        "the objective is {} after {}, below f* = {optimum}, which is then not the optimum: \
         no suboptimality or time to target of the run holds; check --optimum",
        objective_text(objective),
        plural(updates, "update")
    )
}

/// The warning of a run scored on `data`, a sample of its file, whose objective fell below the
/// given f* (`optimum`) at `point`: the sample's optimum is not the file's, so this is no
/// mistake in f*, and the suboptimality is the sample's objective's relative to that f*.
pub fn sample_below_optimum(point: &TracePoint, optimum: f64, data: &Dataset) -> String {
    format!(
        "the objective on the {}-row evaluation sample is {} after {}, below the given \
         f* = {optimum}: a sample's objective can be below the file's optimum; (f-f*)/f* \
         compares the sample's objective with that f* and may be negative (`async-train \
         evaluate` scores the whole file)",
        data.n_rows(),
        objective_text(point.objective),
        plural(point.updates, "update")
    )
}

/// What the watch decided about one new model.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Go on.
    Continue,
    /// Stop: the target is reached, or the time is up.
    Stop,
    /// Stop: the run diverged, as this line says.
    Diverged(String),
    /// Stop: the objective fell below f*, which is then not the optimum, as this line says.
    BelowOptimum(String),
}

impl Verdict {
    /// The driver's flow for this verdict.
    pub fn flow(&self) -> Flow {
        match self {
            Verdict::Continue => Flow::Continue,
            _ => Flow::Stop,
        }
    }
}

/// The stop rules applied to each new model of a run.
pub struct Watch {
    params: Params,
    data: Arc<Dataset>,
    optimum: Option<f64>,
    stop: StopRules,
    eval_every_s: f64,
    /// Training seconds at which the next evaluation is due.
    next_evaluation: f64,
    /// Training seconds at which the next norm check is due.
    next_norm_check: f64,
    /// The largest model norm at an evaluation so far.
    evaluated_norm: f64,
    /// The objective of the first evaluation.
    start: Option<f64>,
    /// The objective of the first evaluation of the run a resumed one goes on (its trace's
    /// first point): its divergence is judged from there, as that run's would have been, not
    /// from the resumed model's.
    run_start: Option<f64>,
    /// The first evaluation, computed already (a resumed model's, when it was checked): the
    /// updates of its model and its objective.
    given_first: Option<(u64, f64)>,
    /// Models recorded between evaluations, to be evaluated after the run.
    recorded: Vec<(At, TrainedModel)>,
    /// The model of the latest evaluation: what is kept of a run whose optimizer panicked.
    evaluated: Option<(At, TrainedModel)>,
    /// The size of one recorded model, once one was recorded.
    model_bytes: Option<usize>,
    /// Seconds between recorded models (0: none are recorded).
    record_every_s: f64,
    /// Training seconds at which the next model is due to be recorded.
    next_record: f64,
}

impl Watch {
    /// A watch evaluating the objective (under the run's settings `params`) on `data` about
    /// every `eval_every_s` seconds of training.
    pub fn new(
        params: Params,
        data: Arc<Dataset>,
        optimum: Option<f64>,
        stop: StopRules,
        eval_every_s: f64,
    ) -> Watch {
        Watch {
            params,
            data,
            optimum,
            stop,
            eval_every_s: eval_every_s.max(0.0),
            next_evaluation: 0.0,
            next_norm_check: 0.0,
            evaluated_norm: 0.0,
            start: None,
            run_start: None,
            given_first: None,
            recorded: Vec::new(),
            evaluated: None,
            model_bytes: None,
            record_every_s: eval_every_s.max(0.0),
            next_record: 0.0,
        }
    }

    /// Takes `objective` as the first evaluation, of the model at `updates`, rather than
    /// compute it again: the caller already did.
    pub fn evaluated_first(&mut self, updates: u64, objective: f64) {
        self.given_first = Some((updates, objective));
    }

    /// Judges divergence from `objective`, the first evaluation of the run this resumed one
    /// goes on (its trace's first point), rather than from this run's first: a resumed run
    /// stops, and refuses to checkpoint, the models the run it continues would have. One that
    /// is not a finite objective >= 0 is ignored.
    pub fn resumed_run_started_at(&mut self, objective: f64) {
        if objective.is_finite() && objective >= 0.0 {
            self.run_start = Some(objective);
        }
    }

    /// Looks at the model `w` at `at`; `record` receives every evaluation as a trace point.
    pub fn look(&mut self, at: At, w: ModelRef<'_>, mut record: impl FnMut(TracePoint)) -> Verdict {
        let due = self.start.is_none() || at.elapsed_s >= self.next_evaluation;
        if self.record_every_s > 0.0 && at.elapsed_s >= self.next_record {
            // An evaluation now is a trace point of its own.
            if !due {
                self.record(at, w);
            }
            self.next_record = at.elapsed_s + self.record_every_s;
        }
        let norm = if due {
            w.norm()
        } else if at.elapsed_s >= self.next_norm_check {
            let begun = Instant::now();
            let norm = w.norm();
            let cost = begun.elapsed().as_secs_f64();
            self.next_norm_check = at.elapsed_s + cost / CHECK_SHARE;
            // A model with a non-finite entry has a non-finite norm: evaluated, it diverges.
            if norm.is_finite() && norm <= NORM_GROWTH * self.evaluated_norm {
                return self.out_of_time(at);
            }
            norm
        } else {
            return self.out_of_time(at);
        };
        let begun = Instant::now();
        let objective = match self.given_first.take() {
            Some((updates, objective)) if updates == at.updates => objective,
            _ => w.objective(self.data.as_ref(), &self.params),
        };
        let cost = begun.elapsed().as_secs_f64();
        self.next_evaluation = at.elapsed_s + self.eval_every_s.max(cost / CHECK_SHARE);
        // An evaluation is a trace point: the next recorded model is due one spacing after it,
        // or one out of step (an evaluation the norm asked for) doubles the trace's points.
        self.next_record = at.elapsed_s + self.record_every_s;
        self.evaluated_norm = self.evaluated_norm.max(norm);
        let point = self.point(at, objective);
        let below_by = crate::trace::below_optimum_rounding(self.data.n_rows());
        let (subopt, below) = (point.subopt, point.is_below_optimum(below_by));
        record(point);
        // A copy per evaluation costs far less than the evaluation's pass over the data.
        self.evaluated = Some((at, w.to_owned()));
        if let (true, Some(optimum)) = (below, self.optimum) {
            // A wrong f*: the suboptimality and a target "reached" mean nothing, so the run
            // stops here rather than train on against it. A sample's objective may fall below
            // the file's f*: the run goes on, and says so when it ends.
            if self.data.is_whole() {
                return Verdict::BelowOptimum(below_optimum(objective, optimum, at.updates));
            }
        }
        let first = *self.start.get_or_insert(objective);
        let start = self.run_start.unwrap_or(first);
        if exploded(start, objective) {
            return Verdict::Diverged(divergence(start, objective, at.updates));
        }
        if !norm.is_finite() {
            // An objective that reads no weight (rows with no feature) stays finite.
            return Verdict::Diverged(format!(
                "the model's weights are no longer finite after {}: try a smaller --step",
                plural(at.updates, "update")
            ));
        }
        if matches!((self.stop.target_subopt, subopt), (Some(t), Some(s)) if s <= t) {
            return Verdict::Stop;
        }
        self.out_of_time(at)
    }

    /// Takes the latest model looked at and kept, evaluated or recorded, with when it was:
    /// what is left of a run whose optimizer never returned its model.
    pub fn take_latest_model(&mut self) -> Option<(At, TrainedModel)> {
        let recorded_at = self.recorded.last().map(|(at, _)| at.updates);
        let evaluated_at = self.evaluated.as_ref().map(|(at, _)| at.updates);
        if recorded_at > evaluated_at {
            self.recorded.pop()
        } else {
            self.evaluated.take()
        }
    }

    /// Evaluates the models recorded between evaluations, as trace points in time order. Call
    /// it after the run: it takes an evaluation per recorded model.
    pub fn evaluate_recorded(&mut self) -> Vec<TracePoint> {
        self.evaluate_recorded_until(&|| true, &mut |_| {}).0
    }

    /// The models recorded between evaluations, not evaluated yet.
    pub fn recorded(&self) -> usize {
        self.recorded.len()
    }

    /// [`evaluate_recorded`](Watch::evaluate_recorded), asking `keep_going` before each model
    /// (each is a pass over the data: a thousand of them on a large set take a while, which a
    /// Ctrl-C must be able to cut short) and telling `scored` how many are done after each. The
    /// points of those evaluated, and how many were left when `keep_going` said no: dropped.
    pub fn evaluate_recorded_until(
        &mut self,
        keep_going: &dyn Fn() -> bool,
        scored: &mut dyn FnMut(usize),
    ) -> (Vec<TracePoint>, usize) {
        let recorded = std::mem::take(&mut self.recorded);
        let total = recorded.len();
        let mut points = Vec::with_capacity(total);
        for (at, w) in recorded {
            if !keep_going() {
                break;
            }
            points.push(self.point(at, w.objective(self.data.as_ref(), &self.params)));
            scored(points.len());
        }
        let left = total - points.len();
        (points, left)
    }

    fn point(&self, at: At, objective: f64) -> TracePoint {
        TracePoint {
            elapsed_s: at.elapsed_s,
            updates: at.updates,
            objective,
            subopt: None,
            dropped_stale: at.dropped_stale,
        }
        .against(self.optimum)
    }

    /// Keeps a copy of `w`; past the bounds, thins the recorded models to every other one and
    /// records half as often.
    fn record(&mut self, at: At, w: ModelRef<'_>) {
        let bytes = *self.model_bytes.get_or_insert_with(|| w.encoded_len());
        // Two copies at least (thinning needs them), which for a model over 32 MB is beyond
        // the byte bound: the trace of such a run comes from the evaluations alone.
        let most = (RECORDED_BYTES / bytes.max(1)).clamp(2, MAX_RECORDED);
        if self.recorded.len() >= most {
            // The one recorded now comes one new spacing later.
            crate::even_points::halve(&mut self.recorded);
            self.record_every_s *= 2.0;
        }
        self.recorded.push((at, w.to_owned()));
    }

    /// The objective divergence is judged from: the first evaluation of the run (of the run a
    /// resumed one goes on), if there was one.
    pub fn start(&self) -> Option<f64> {
        self.run_start.or(self.start)
    }

    fn out_of_time(&self, at: At) -> Verdict {
        if self.stop.time_s.is_some_and(|limit| at.elapsed_s >= limit) {
            Verdict::Stop
        } else {
            Verdict::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncopt_algorithms::{Loss, Model};
    use asyncopt_runtime::data::Features;
    use ndarray::{array, Array1};

    /// Least squares on rows (1, 0), (0, 1), (1, 0) with labels 1, 1, 0:
    /// f(w) = ((w1 - 1)^2 + (w2 - 1)^2 + w1^2)/6, f* = 1/12 at (0.5, 1).
    fn watch(stop: StopRules, eval_every_s: f64) -> Watch {
        let rows = Features::Dense(array![[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]);
        let data = Dataset::new("three rows", rows, array![1.0, 1.0, 0.0]).expect("a dataset");
        Watch::new(
            Params::new(Loss::LeastSquares),
            Arc::new(data),
            Some(1.0 / 12.0),
            stop,
            eval_every_s,
        )
    }

    fn at(updates: u64, elapsed_s: f64) -> At {
        At {
            updates,
            elapsed_s,
            dropped_stale: 0,
            workers: 2,
        }
    }

    fn model(w1: f64, w2: f64) -> Model {
        Array1::from(vec![w1, w2])
    }

    #[test]
    fn an_exploding_model_is_evaluated_and_judged_between_evaluations() {
        let mut watch = watch(StopRules::default(), 1e9);
        let mut points = Vec::new();
        let first = watch.look(at(0, 0.0), ModelRef::of(&model(0.0, 0.0)), |p| {
            points.push(p)
        });
        assert_eq!(first, Verdict::Continue);
        // Small steps: one evaluation for the first nonzero norm, none for what stays near it.
        for k in 1..5 {
            let w = model(0.1 * k as f64, 0.1);
            let verdict = watch.look(at(k, 0.1), ModelRef::of(&w), |p| points.push(p));
            assert_eq!(verdict, Verdict::Continue);
        }
        assert_eq!(points.len(), 2, "{points:?}");
        let verdict = watch.look(at(9, 0.2), ModelRef::of(&model(1e6, 1e6)), |p| {
            points.push(p)
        });
        assert!(
            matches!(&verdict, Verdict::Diverged(line) if line.contains("after 9 updates")),
            "{verdict:?}"
        );
        let verdict = watch.look(at(10, 0.3), ModelRef::of(&model(f64::NAN, 0.0)), |_| {});
        assert!(matches!(verdict, Verdict::Diverged(_)), "{verdict:?}");
    }

    #[test]
    fn a_start_that_is_not_finite_blames_the_data_not_the_step() {
        assert!(divergence(f64::INFINITY, f64::NAN, 0)
            .contains("objective of the starting model is inf"));
        assert!(divergence(1.0, 1e9, 7).contains("after 7 updates: try a smaller --step"));
        assert!(divergence(1.0, 1e9, 1).contains("after 1 update: try a smaller --step"));
    }

    #[test]
    fn a_negative_objective_blames_the_objective_not_the_step() {
        // An author's objective below 0 from the start: no step is to blame.
        let line = divergence(-0.3, -0.3, 0);
        assert!(line.contains("no loss is negative"), "{line}");
        assert!(line.contains("Trainable::objective"), "{line}");
        assert!(!line.contains("--step"), "{line}");
    }

    #[test]
    fn weights_that_are_no_longer_finite_diverge_when_the_objective_does_not_show_it() {
        // Rows with no feature: the objective (1/2 the mean squared label) reads no weight.
        let rows = Features::Dense(array![[0.0, 0.0], [0.0, 0.0]]);
        let data = Dataset::new("no features", rows, array![1.0, -1.0])
            .expect("a dataset")
            .to_sparse();
        let params = Params::new(Loss::LeastSquares);
        let mut watch = Watch::new(params, Arc::new(data), None, StopRules::default(), 0.0);
        let fine = watch.look(at(0, 0.0), ModelRef::of(&model(0.0, 0.0)), |_| {});
        assert_eq!(fine, Verdict::Continue);
        let mut points = Vec::new();
        let nan = model(f64::NAN, f64::NAN);
        let verdict = watch.look(at(3, 0.1), ModelRef::of(&nan), |p| points.push(p));
        assert!(points[0].objective.is_finite(), "{points:?}");
        assert!(
            matches!(&verdict, Verdict::Diverged(line) if line.contains("no longer finite after 3")),
            "{verdict:?}"
        );
    }

    #[test]
    fn the_run_stops_at_the_first_evaluation_at_its_target() {
        let stop = StopRules {
            target_subopt: Some(0.1),
            ..StopRules::default()
        };
        let mut watch = watch(stop, 0.0);
        let mut points = Vec::new();
        // f(0.5, 0.5) = 1/8: (f - f*)/f* = 0.5.
        let far = watch.look(at(0, 0.0), ModelRef::of(&model(0.5, 0.5)), |p| {
            points.push(p)
        });
        assert_eq!(far, Verdict::Continue);
        let there = watch.look(at(1, 0.1), ModelRef::of(&model(0.5, 1.0)), |p| {
            points.push(p)
        });
        assert_eq!(there, Verdict::Stop);
        let last = points.last().expect("a point");
        assert!(last.subopt.is_some_and(|s| s.abs() < 1e-12), "{points:?}");
        assert_eq!((points.len(), last.updates), (2, 1));
    }

    #[test]
    fn an_objective_below_a_given_optimum_stops_the_run_as_a_failure_not_a_target() {
        // f* = 1 given, while f(0, 0) = 1/3: (f - f*)/f* = -2/3, at the target of 0.1 and
        // far below it.
        let stop = StopRules {
            target_subopt: Some(0.1),
            optimum: Some(1.0),
            ..StopRules::default()
        };
        let rows = Features::Dense(array![[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]);
        let data = Dataset::new("three rows", rows, array![1.0, 1.0, 0.0]).expect("a dataset");
        let params = Params::new(Loss::LeastSquares);
        let mut watch = Watch::new(params, Arc::new(data), Some(1.0), stop, 0.0);
        let verdict = watch.look(at(0, 0.0), ModelRef::of(&model(0.0, 0.0)), |_| {});
        assert!(
            matches!(&verdict, Verdict::BelowOptimum(line)
                if line.contains("after 0 updates, below f* = 1, which is then not the optimum")
                    && line.ends_with("check --optimum")),
            "{verdict:?}"
        );
        assert_eq!(verdict.flow(), Flow::Stop);
    }

    #[test]
    fn models_between_evaluations_are_recorded_and_evaluated_after_the_run() {
        let stop = StopRules {
            target_subopt: Some(0.1),
            ..StopRules::default()
        };
        // Evaluations every second, recorded models every 0.01 s of it.
        let mut watch = watch(stop, 0.01);
        watch.next_evaluation = 1.0;
        (watch.start, watch.evaluated_norm) = (Some(1.0), 1.0);
        let mut evaluated = Vec::new();
        let far = watch.look(at(1, 0.5), ModelRef::of(&model(0.5, 0.5)), |p| {
            evaluated.push(p)
        });
        // The target is reached here, between evaluations: the run goes on to the next one.
        let there = watch.look(at(2, 0.6), ModelRef::of(&model(0.5, 1.0)), |p| {
            evaluated.push(p)
        });
        let stopped = watch.look(at(3, 1.0), ModelRef::of(&model(0.5, 1.0)), |p| {
            evaluated.push(p)
        });
        assert_eq!(
            (far, there, stopped),
            (Verdict::Continue, Verdict::Continue, Verdict::Stop)
        );
        assert_eq!(evaluated.len(), 1);
        let recorded = watch.evaluate_recorded();
        let times: Vec<f64> = recorded.iter().map(|p| p.elapsed_s).collect();
        assert_eq!(times, [0.5, 0.6]);
        assert!(recorded[0].subopt.is_some_and(|s| s > 0.4));
        assert!(recorded[1].subopt.is_some_and(|s| s.abs() < 1e-12));
        assert!(watch.evaluate_recorded().is_empty(), "taken once");
    }

    #[test]
    fn recorded_models_are_scored_until_told_to_stop_and_the_rest_counted() {
        // Evaluations every 10 s, recorded models every 0.01 s of it.
        let mut watch = watch(StopRules::default(), 0.01);
        watch.next_evaluation = 10.0;
        (watch.start, watch.evaluated_norm) = (Some(1.0), 1.0);
        for k in 1..6 {
            watch.look(
                at(k, k as f64 * 0.5),
                ModelRef::of(&model(0.5, 0.5)),
                |_| {},
            );
        }
        let total = watch.recorded();
        assert_eq!(total, 5);
        let done = std::cell::Cell::new(0);
        let (points, left) = watch.evaluate_recorded_until(&|| done.get() < 2, &mut |n| {
            done.set(n);
        });
        assert_eq!((points.len(), left), (2, total - 2));
        assert_eq!(
            watch.recorded(),
            0,
            "the rest are dropped, not scored later"
        );
    }

    #[test]
    fn an_evaluation_between_the_due_times_moves_the_next_recorded_model_too() {
        // Simulated seconds: looks every second, a point due every 8. The jump at 4 s is
        // evaluated at once (its norm); the recorded models kept their own schedule from 0 s,
        // and the trace had two points per 8 s, 4 s apart, for the rest of the run.
        let mut watch = watch(StopRules::default(), 8.0);
        let mut points = Vec::new();
        for k in 0..=64 {
            let w = if k < 4 {
                model(0.1, 0.0)
            } else {
                model(5.0, 0.0)
            };
            watch.look(at(k, k as f64), ModelRef::of(&w), |p| points.push(p));
        }
        points.extend(watch.evaluate_recorded());
        let mut times: Vec<f64> = points.iter().map(|p| p.elapsed_s).collect();
        times.sort_by(f64::total_cmp);
        assert_eq!(&times[..2], [0.0, 4.0]);
        let gaps: Vec<f64> = times[1..].windows(2).map(|t| t[1] - t[0]).collect();
        assert!(gaps.iter().all(|&gap| gap == 8.0), "{times:?}");
    }

    #[test]
    fn a_long_run_thins_its_recorded_models_evenly() {
        // Times in 64ths of a second, exact in binary.
        let mut watch = watch(StopRules::default(), 1.0 / 64.0);
        watch.next_evaluation = f64::INFINITY;
        (watch.start, watch.evaluated_norm) = (Some(1.0), 1.0);
        let looks = 3 * MAX_RECORDED as u64;
        for k in 0..looks {
            watch.look(
                at(k, k as f64 / 64.0),
                ModelRef::of(&model(0.5, 0.5)),
                |_| {},
            );
        }
        let recorded = watch.evaluate_recorded();
        assert!(recorded.len() <= MAX_RECORDED, "{}", recorded.len());
        assert!(recorded.len() > MAX_RECORDED / 2, "{}", recorded.len());
        // Thinned twice: every fourth look, from the start to the end of the run.
        let gaps: Vec<u64> = recorded
            .windows(2)
            .map(|pair| pair[1].updates - pair[0].updates)
            .collect();
        assert!(gaps.iter().all(|&gap| gap == 4), "{gaps:?}");
        assert!(recorded[0].updates == 0 && recorded.last().unwrap().updates + 4 >= looks);
    }

    #[test]
    fn the_time_rule_needs_no_evaluation() {
        let stop = StopRules {
            time_s: Some(1.0),
            ..StopRules::default()
        };
        let mut watch = watch(stop, 1e9);
        let mut points = 0;
        watch.look(at(0, 0.0), ModelRef::of(&model(0.0, 0.0)), |_| points += 1);
        watch.look(at(1, 0.5), ModelRef::of(&model(0.1, 0.1)), |_| points += 1);
        let verdict = watch.look(at(2, 1.0), ModelRef::of(&model(0.1, 0.1)), |_| points += 1);
        assert_eq!((verdict, points), (Verdict::Stop, 2));
    }
}
