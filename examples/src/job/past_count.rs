//! Workers live past the run's count, as its step sees them: the one place a run compares the
//! workers live at each new model with `--workers`, the count its step was chosen or sized
//! for. A step sized for the count shrinks with more of them
//! ([`Params::step_at`](asyncopt_algorithms::Params::step_at)): the summary says how far. A
//! step the user chose is kept, and may diverge the same way: the user is told, once.

use asyncopt_algorithms::Params;

use super::JobSpec;

/// The workers live at the run's models against the count its step was chosen for.
#[derive(Debug)]
pub(super) struct PastCount {
    /// `--workers`.
    count: usize,
    /// The step is the user's (`--step`) and staleness touches it (an asynchronous method):
    /// more live workers than the count are warned of.
    warns: bool,
    warned: bool,
    /// The most workers live at a model so far.
    most: usize,
}

impl PastCount {
    /// For the run of `spec`.
    pub(super) fn of(spec: &JobSpec) -> PastCount {
        let chosen = spec.step.is_some() && spec.algorithm.is_async();
        PastCount::new(spec.cluster.workers, chosen)
    }

    /// For a step chosen or sized for `count` workers; `chosen`: the user's, to warn of.
    fn new(count: usize, chosen: bool) -> PastCount {
        PastCount {
            count,
            warns: chosen,
            warned: false,
            most: 0,
        }
    }

    /// Sees `live` workers at a new model: the warning the first time more than the count
    /// are live for a step the user chose, `None` otherwise.
    pub(super) fn saw(&mut self, live: usize) -> Option<String> {
        self.most = self.most.max(live);
        if !self.warns || self.warned || live <= self.count {
            return None;
        }
        self.warned = true;
        Some(format!(
            "{live} workers are live for a --step chosen for {}; if the objective diverges, \
             try a smaller --step",
            self.count
        ))
    }

    /// The smallest step the run took for its workers (before a staleness-aware division),
    /// when a step sized for the count shrank with more of them live; `None` when it never
    /// did.
    pub(super) fn step_smallest(&self, params: &Params) -> Option<f64> {
        let smallest = params.step_at(0, self.most);
        (smallest < params.step).then_some(smallest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncopt_algorithms::Loss;

    #[test]
    fn a_chosen_step_is_warned_of_once_when_more_workers_than_the_count_are_live() {
        let mut chosen = PastCount::new(2, true);
        assert_eq!(chosen.saw(1), None);
        assert_eq!(chosen.saw(2), None, "at the count");
        let warning = chosen.saw(3).expect("past the count");
        assert_eq!(
            warning,
            "3 workers are live for a --step chosen for 2; if the objective diverges, try a \
             smaller --step"
        );
        assert_eq!(chosen.saw(5), None, "once per run");
        // A default step (or an author's) shrinks instead: nothing to say.
        let mut sized = PastCount::new(2, false);
        assert_eq!(sized.saw(5), None);
    }

    #[test]
    fn the_smallest_step_is_that_of_the_most_workers_live_past_the_count() {
        let sized = Params {
            step: 0.1,
            step_sized_for: Some(2),
            ..Params::new(Loss::LeastSquares)
        };
        let mut seen = PastCount::new(2, false);
        seen.saw(2);
        assert_eq!(seen.step_smallest(&sized), None, "never shrank");
        for live in [3, 5, 4, 2] {
            seen.saw(live);
        }
        assert_eq!(seen.step_smallest(&sized), Some(sized.step_at(0, 5)));
        assert!(sized.step_at(0, 5) < sized.step);
        // A step chosen is kept whatever joins.
        let chosen = Params {
            step_sized_for: None,
            ..sized
        };
        assert_eq!(seen.step_smallest(&chosen), None);
    }
}
