//! What joins may cost the driver. Each admitted worker is shipped a partition (and its leaving
//! moves its partitions again), takes a row of the table and a few log lines: a peer holding the
//! token that joins in a loop under fresh names, leaving at once, would spend the driver's
//! network, memory and log as it pleases. Joins draw from a budget, a token bucket: a burst
//! that fits a whole cluster coming back at once (twice, with the respawn allowance), refilled
//! at one join per [`JOIN_REFILL`]. A join past it is told to try again later, which a worker
//! started with `--reconnect` does.
//!
//! [`Joins`] owns the budget and the counts that thin the log lines of joins and short stays;
//! it sends nothing, and takes the time as an argument, so every rule is a unit test.

use std::time::{Duration, Instant};

use crate::cluster::ClusterConfig;
use crate::transport::said::Said;

/// The budget of joins gains one join this often, up to its burst.
pub(crate) const JOIN_REFILL: Duration = Duration::from_secs(5);

/// Why a join past the budget is refused, as the worker logs it.
pub(crate) const TOO_MANY_JOINS: &str = "too many joins; try again later";

/// A token bucket of joins.
#[derive(Debug)]
pub(crate) struct JoinBudget {
    /// Joins it holds at most once refilled.
    burst: f64,
    /// Joins it holds now; above `burst` only while the run's first fill is not spent.
    level: f64,
    refill: Duration,
    at: Instant,
}

impl JoinBudget {
    /// A budget of `burst` joins refilled at one per `refill`, with `prepaid` more spent
    /// first: the run's own workers, joining once at its start.
    pub fn new(burst: usize, prepaid: usize, refill: Duration, now: Instant) -> JoinBudget {
        JoinBudget {
            burst: burst as f64,
            level: (burst + prepaid) as f64,
            refill,
            at: now,
        }
    }

    /// Takes one join at `now`; `Err` with how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let gained = now.saturating_duration_since(self.at).as_secs_f64()
            / self.refill.as_secs_f64().max(f64::MIN_POSITIVE);
        self.at = now.max(self.at);
        if self.level < self.burst {
            self.level = (self.level + gained).min(self.burst);
        }
        if self.level >= 1.0 {
            self.level -= 1.0;
            return Ok(());
        }
        Err(self.refill.mul_f64(1.0 - self.level))
    }
}

/// The joins of a run: their budget, and how often their log lines are said.
#[derive(Debug)]
pub(crate) struct Joins {
    pub budget: JoinBudget,
    /// Joins after the run's first fill: each is logged until they thin out.
    pub joined: Said,
    /// Workers lost before their first result (the joins of a loop leave so): their loss and
    /// their moved partitions are logged until they thin out.
    pub brief: Said,
    /// Joins refused past the budget.
    pub refused: Said,
    /// Joins admitted so far.
    pub admitted: u64,
    /// The run started: the wait for its count of workers ended with them all there. Before,
    /// a join fills the count (and takes the straggler factor of the slot it fills).
    pub started: bool,
    /// Why the last worker refused was (its build, its token): said if the workers never
    /// all come.
    pub last_refusal: Option<String>,
}

impl Joins {
    /// The budget of a run of `config`: a burst of `workers` plus the respawn allowance (a
    /// whole cluster coming back after a network cut fits, twice by default), the run's first
    /// fill of `workers` on top.
    pub fn new(config: &ClusterConfig, now: Instant) -> Joins {
        let burst = config.workers + config.max_respawns as usize;
        Joins {
            budget: JoinBudget::new(burst.max(1), config.workers, JOIN_REFILL, now),
            joined: Said::default(),
            brief: Said::default(),
            refused: Said::default(),
            admitted: 0,
            started: false,
            last_refusal: None,
        }
    }

    /// Whether the join admitted now is one of the run's first fill (its first `workers`), whose
    /// lines are always logged.
    pub fn first_fill(&self, workers: usize) -> bool {
        self.admitted <= workers as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_then_one_join_per_refill() {
        let start = Instant::now();
        let mut budget = JoinBudget::new(3, 0, 5 * SECOND, start);
        for _ in 0..3 {
            assert_eq!(budget.take(start), Ok(()));
        }
        assert_eq!(budget.take(start), Err(5 * SECOND));
        let wait = budget.take(start + 2 * SECOND).unwrap_err();
        assert!(
            wait.abs_diff(3 * SECOND) < Duration::from_millis(1),
            "refilling: {wait:?}"
        );
        assert_eq!(budget.take(start + 5 * SECOND), Ok(()));
        assert!(budget.take(start + 6 * SECOND).is_err());
        // A long quiet refills the burst, no more.
        let later = start + 3600 * SECOND;
        assert_eq!((0..10).filter(|_| budget.take(later).is_ok()).count(), 3);
    }

    #[test]
    fn the_first_fill_is_prepaid_and_not_refilled() {
        let start = Instant::now();
        let mut budget = JoinBudget::new(2, 4, 5 * SECOND, start);
        let later = start + 60 * SECOND;
        assert_eq!((0..10).filter(|_| budget.take(later).is_ok()).count(), 6);
        assert_eq!(
            (0..10)
                .filter(|_| budget.take(later + 60 * SECOND).is_ok())
                .count(),
            2
        );
    }

    #[test]
    fn a_run_admits_its_workers_and_a_whole_cluster_back_twice() {
        let mut config = ClusterConfig::local(16);
        config.spawn_local = false;
        let now = Instant::now();
        let mut joins = Joins::new(&config, now);
        let admitted = (0..100).filter(|_| joins.budget.take(now).is_ok()).count();
        assert_eq!(admitted, 16 * 3, "its 16, then two cuts of 16");
    }
}
