//! What joins may cost the driver. Each admitted worker is shipped a partition (and its leaving
//! moves its partitions again), takes a row of the table and a few log lines: a peer holding the
//! token that joins in a loop under fresh names, leaving at once, would spend the driver's
//! network, memory and log as it pleases. Joins draw from a budget, a token bucket: a burst
//! that fits a whole cluster coming back at once (twice, with the respawn allowance), refilled
//! at one join per [`JOIN_REFILL`]. A join past it is told to try again later, which a worker
//! started with `--reconnect` does.
//!
//! A name is no credential, but the run remembers what it saw: the bucket holds a reserve of
//! `workers` joins more, which only a worker back after serving draws on (the latest session of
//! its name, its own or a fresh one of it, returned a result, was not excluded, and had left
//! before it came back; see `WorkerTable::served_and_left`). A loop of joins under fresh
//! names stops at the reserve, so that the run's honest workers cut off meanwhile still come
//! back; the refill goes to the reserve first. A peer claiming such a name draws at most one
//! join of the reserve per session of that name that served, and never more than the bucket's
//! one join per [`JOIN_REFILL`] in the long run: no more churn than under a fresh name.
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

/// A token bucket of joins, the last `reserve` of them kept for workers back after serving.
#[derive(Debug)]
pub(crate) struct JoinBudget {
    /// Joins it holds at most once refilled, the reserve included.
    burst: f64,
    /// Joins at the bottom of the bucket that only a [`Join::Served`] may take.
    reserve: f64,
    /// Joins it holds now; above `burst` only while the run's first fill is not spent.
    level: f64,
    refill: Duration,
    at: Instant,
}

/// Who is joining, as far as the budget is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Join {
    /// A name the run never saw serve: it may not take the reserve.
    Fresh,
    /// A worker back after serving (see the module's notes): it may take the reserve.
    Served,
}

impl JoinBudget {
    /// A budget of `burst` joins refilled at one per `refill`, with `prepaid` more spent
    /// first: the run's own workers, joining once at its start. No reserve: see
    /// [`reserving`](JoinBudget::reserving).
    pub fn new(burst: usize, prepaid: usize, refill: Duration, now: Instant) -> JoinBudget {
        JoinBudget {
            burst: burst as f64,
            reserve: 0.0,
            level: (burst + prepaid) as f64,
            refill,
            at: now,
        }
    }

    /// This budget with `reserve` joins more at the bottom of its bucket, kept for
    /// [`Join::Served`]: what fresh names may take is unchanged.
    pub fn reserving(mut self, reserve: usize) -> JoinBudget {
        self.burst += reserve as f64;
        self.level += reserve as f64;
        self.reserve = reserve as f64;
        self
    }

    /// Takes one join of `who` at `now`; `Err` with how long until one is there for it.
    pub fn take(&mut self, now: Instant, who: Join) -> Result<(), Duration> {
        let gained = now.saturating_duration_since(self.at).as_secs_f64()
            / self.refill.as_secs_f64().max(f64::MIN_POSITIVE);
        self.at = now.max(self.at);
        if self.level < self.burst {
            self.level = (self.level + gained).min(self.burst);
        }
        let floor = match who {
            Join::Fresh => self.reserve,
            Join::Served => 0.0,
        };
        if self.level - floor >= 1.0 {
            self.level -= 1.0;
            return Ok(());
        }
        Err(self.refill.mul_f64(floor + 1.0 - self.level))
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
    /// fill of `workers` on top, and a reserve of `workers` for workers back after serving.
    pub fn new(config: &ClusterConfig, now: Instant) -> Joins {
        let burst = config.workers + config.max_respawns as usize;
        let budget = JoinBudget::new(burst.max(1), config.workers, JOIN_REFILL, now);
        Joins {
            budget: budget.reserving(config.workers),
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
            assert_eq!(budget.take(start, Join::Fresh), Ok(()));
        }
        assert_eq!(budget.take(start, Join::Fresh), Err(5 * SECOND));
        let wait = budget.take(start + 2 * SECOND, Join::Fresh).unwrap_err();
        assert!(
            wait.abs_diff(3 * SECOND) < Duration::from_millis(1),
            "refilling: {wait:?}"
        );
        assert_eq!(budget.take(start + 5 * SECOND, Join::Fresh), Ok(()));
        assert!(budget.take(start + 6 * SECOND, Join::Fresh).is_err());
        // A long quiet refills the burst, no more.
        let later = start + 3600 * SECOND;
        assert_eq!(
            (0..10)
                .filter(|_| budget.take(later, Join::Fresh).is_ok())
                .count(),
            3
        );
    }

    #[test]
    fn the_first_fill_is_prepaid_and_not_refilled() {
        let start = Instant::now();
        let mut budget = JoinBudget::new(2, 4, 5 * SECOND, start);
        let later = start + 60 * SECOND;
        assert_eq!(
            (0..10)
                .filter(|_| budget.take(later, Join::Fresh).is_ok())
                .count(),
            6
        );
        assert_eq!(
            (0..10)
                .filter(|_| budget.take(later + 60 * SECOND, Join::Fresh).is_ok())
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
        let admitted = (0..100)
            .filter(|_| joins.budget.take(now, Join::Fresh).is_ok())
            .count();
        assert_eq!(admitted, 16 * 3, "its 16, then two cuts of 16");
        // Workers back after serving still are: a whole cluster more.
        let served = (0..100)
            .filter(|_| joins.budget.take(now, Join::Served).is_ok())
            .count();
        assert_eq!(served, 16);
    }

    #[test]
    fn fresh_names_stop_at_the_reserve_which_refills_first() {
        let start = Instant::now();
        let mut budget = JoinBudget::new(2, 0, 5 * SECOND, start).reserving(3);
        // Fresh names take their burst, as without the reserve, and no more.
        assert_eq!(
            (0..10)
                .filter(|_| budget.take(start, Join::Fresh).is_ok())
                .count(),
            2
        );
        assert_eq!(budget.take(start, Join::Fresh), Err(5 * SECOND));
        // Workers back after serving take the reserve.
        assert_eq!(budget.take(start, Join::Served), Ok(()));
        assert_eq!(budget.take(start, Join::Served), Ok(()));
        // The refill tops the reserve up before a fresh name gets a join.
        assert_eq!(budget.take(start, Join::Fresh), Err(15 * SECOND));
        assert!(budget.take(start + 10 * SECOND, Join::Fresh).is_err());
        assert_eq!(budget.take(start + 15 * SECOND, Join::Fresh), Ok(()));
        // In the long run, one join per refill whoever joins: a name that served churns
        // no faster than a fresh one.
        let later = start + 3600 * SECOND;
        let taken = (0..100)
            .filter(|i| {
                let who = if i % 2 == 0 {
                    Join::Served
                } else {
                    Join::Fresh
                };
                budget.take(later, who).is_ok()
            })
            .count();
        assert_eq!(taken, 5, "the burst and the reserve, no more");
        let hour_on = (1..=720)
            .filter(|i| budget.take(later + *i * 5 * SECOND, Join::Served).is_ok())
            .count();
        assert_eq!(hour_on, 720, "one per refill");
        assert!(budget.take(later + 3600 * SECOND, Join::Served).is_err());
    }
}
