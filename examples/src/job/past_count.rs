//! Workers live past the run's count, as its step sees them: the one place a run compares the
//! workers live at each new model with `--workers`, the count its step was chosen or sized
//! for. A step sized for the count shrinks with more of them
//! ([`Params::step_at`](asyncopt_algorithms::Params::step_at)). A step the user chose is
//! kept, and may diverge the same way: the user is told, once.

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
        }
    }

    /// Sees `live` workers at a new model: the warning the first time more than the count
    /// are live for a step the user chose, `None` otherwise.
    pub(super) fn saw(&mut self, live: usize) -> Option<String> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
