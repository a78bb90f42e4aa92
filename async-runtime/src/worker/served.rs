//! The runs a worker served in one call of [`run_served`](super::run_served): a worker the
//! driver declared lost as its run ended joins again at the address, and may be admitted by
//! the next run's driver (`compare`'s), so one call can serve more than one run.

use super::RunEnd;

/// How a worker's service ended, when it ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// How the last run it served ended.
    pub end: RunEnd,
    /// The runs it served, each a driver that admitted it: 1, or more when it joined again
    /// at the next run's driver.
    pub runs: u32,
}

/// The runs of the sessions a worker opened, told apart by their run ids: a session after
/// another of the same run (joined again, under its name or a fresh one) is the same run.
#[derive(Debug, Default)]
pub(super) struct RunsServed {
    last: Option<u64>,
    runs: u32,
}

impl RunsServed {
    /// A session of run `run_id` opened.
    pub(super) fn opened(&mut self, run_id: u64) {
        if self.last != Some(run_id) {
            self.runs += 1;
            self.last = Some(run_id);
        }
    }

    /// The runs told apart so far.
    pub(super) fn count(&self) -> u32 {
        self.runs
    }

    /// The service ended with `end`: a shutdown comes only inside a session, so one run at
    /// least.
    pub(super) fn ended(&self, end: RunEnd) -> Served {
        Served {
            end,
            runs: self.runs.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_of_another_driver_is_another_run_served() {
        let mut served = RunsServed::default();
        served.opened(7);
        // Declared lost and back at the same driver: the same run.
        served.opened(7);
        assert_eq!(served.ended(RunEnd::AnotherFollows).runs, 1);
        // Back once that run was over: the next run's driver admitted it.
        served.opened(9);
        assert_eq!(
            served.ended(RunEnd::Last),
            Served {
                end: RunEnd::Last,
                runs: 2
            }
        );
    }
}
