//! The result queue: results received and not yet handed to the algorithm, those set aside
//! for the asynchronous site they belong to while another site runs, and the late answers of
//! tasks done again elsewhere, which are dropped. It decides which results count: superseded
//! ones and ones staler than the site's bound are dropped and counted here.
//!
//! [`ResultQueue`] is the one owner of this state. It never touches a socket or the worker
//! table: the driver pushes what the link delivered, and gives a result's worker its credit
//! back when it takes the result out.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::report::RunStats;
use super::result_meta::{ResultMeta, VersionRead};
use crate::protocol::{ResultBody, Sample};

/// At most this many results of one asynchronous site wait while other sites run; beyond,
/// the oldest is dropped and counted in `RunStats::dropped_orphan`.
pub const MAX_PARKED_PER_SITE: usize = 64;

/// A result received and not yet handed to the algorithm, with what the driver recorded
/// when it dispatched the task.
pub(crate) struct Arrived {
    pub seq: u64,
    pub worker: usize,
    pub task: &'static str,
    pub partition: u32,
    /// The update at which its task was dispatched.
    pub clock: u64,
    pub reads: Arc<[VersionRead]>,
    /// Its task's minibatch, for a sampled reduce.
    pub sample: Option<Sample>,
    pub body: ResultBody,
}

impl Arrived {
    /// Its metadata for the algorithm, `staleness` updates after its dispatch.
    pub fn into_meta(self, staleness: u64) -> ResultMeta {
        ResultMeta {
            worker: self.worker,
            seq: self.seq,
            staleness,
            partition: self.partition,
            dispatched_at: self.clock,
            reads: self.reads,
        }
    }
}

/// What an asynchronous site makes of a result in hand.
pub(crate) enum Screened {
    /// Not its to use: a superseded task's late answer (dropped), or another site's (set
    /// aside for it).
    Passed,
    /// Its, but staler than the bound: dropped and counted.
    Stale { worker: usize, staleness: u64 },
    /// Its, fresh enough to check and use.
    Fresh { arrived: Arrived, staleness: u64 },
}

/// Results in hand, per site, and the bookkeeping of which ones count.
#[derive(Default)]
pub(crate) struct ResultQueue {
    /// In the order received.
    arrived: VecDeque<Arrived>,
    /// Results of asynchronous sites that arrived while another site ran, kept for theirs.
    parked: HashMap<&'static str, VecDeque<Arrived>>,
    /// Tasks done again elsewhere because they hung: their late results are dropped.
    superseded: HashSet<u64>,
    /// The metadata of the last result handed to the algorithm.
    last: Option<ResultMeta>,
}

impl ResultQueue {
    /// Queues a result the link delivered.
    pub fn push(&mut self, arrived: Arrived) {
        self.arrived.push_back(arrived);
    }

    /// The oldest result received, out of the queue.
    pub fn pop(&mut self) -> Option<Arrived> {
        self.arrived.pop_front()
    }

    /// Every result received, out of the queue, oldest first.
    pub fn take_arrived(&mut self) -> VecDeque<Arrived> {
        std::mem::take(&mut self.arrived)
    }

    /// Whether a received result waits in the queue (set-aside ones not counted).
    pub fn has_arrived(&self) -> bool {
        !self.arrived.is_empty()
    }

    /// Results received and not yet handed to the algorithm, set-aside ones included.
    pub fn in_hand(&self) -> usize {
        self.arrived.len() + self.parked.values().map(VecDeque::len).sum::<usize>()
    }

    /// Whether a result of `worker` is in hand (set aside or not), or was the last one
    /// handed to the algorithm.
    pub fn refers_to(&self, worker: usize) -> bool {
        self.last.as_ref().is_some_and(|meta| meta.worker == worker)
            || self
                .arrived
                .iter()
                .chain(self.parked.values().flatten())
                .any(|a| a.worker == worker)
    }

    /// Whether a received result not yet applied was computed on `partition`: one in the
    /// queue, or one set aside for `site`. A site that updates history must not send a second
    /// task on a partition whose result it has not applied yet, even while that result waits
    /// for it; results set aside for other sites do not hold it back, as they could wait for a
    /// site that does not run again.
    pub fn holds_partition(&self, partition: u32, site: &str) -> bool {
        self.arrived
            .iter()
            .chain(self.parked.get(site).into_iter().flatten())
            .any(|a| a.partition == partition)
    }

    /// Notes that task `seq` was done again and its twin's result used: its own result, when
    /// it comes, is dropped.
    pub fn supersede(&mut self, seq: u64) {
        self.superseded.insert(seq);
    }

    /// Task `seq` will never answer (it failed, or its worker was lost): nothing of it is
    /// left to drop.
    pub fn forget_superseded(&mut self, seq: u64) {
        self.superseded.remove(&seq);
    }

    /// Whether the result of task `seq` is a superseded one's, then dropped and counted.
    pub fn drop_if_superseded(&mut self, seq: u64, stats: &mut RunStats) -> bool {
        let dropped = self.superseded.remove(&seq);
        if dropped {
            stats.dropped_superseded += 1;
        }
        dropped
    }

    /// Sets a result aside for its site; at most [`MAX_PARKED_PER_SITE`] wait per site:
    /// beyond, the oldest is dropped as an orphan (of a site that does not run again, say).
    pub fn park(&mut self, arrived: Arrived, stats: &mut RunStats) {
        let queue = self.parked.entry(arrived.task).or_default();
        queue.push_back(arrived);
        if queue.len() > MAX_PARKED_PER_SITE {
            queue.pop_front();
            stats.dropped_orphan += 1;
        }
    }

    /// The oldest result set aside for `site`, out of the queue: its call takes these first.
    /// They stay in the queue until taken, so that they keep holding their partitions.
    pub fn pop_parked(&mut self, site: &'static str) -> Option<Arrived> {
        let queue = self.parked.get_mut(site)?;
        let arrived = queue.pop_front();
        if queue.is_empty() {
            self.parked.remove(site);
        }
        arrived
    }

    /// Whether a result set aside for `site` waits for it.
    pub fn has_parked(&self, site: &'static str) -> bool {
        self.parked.get(site).is_some_and(|queue| !queue.is_empty())
    }

    /// What asynchronous site `site`, at update `clock` with staleness bound `max_staleness`,
    /// makes of a result in hand: a superseded task's is dropped, another site's set aside,
    /// one more than `max_staleness` updates older than its dispatch dropped; each counted.
    pub fn screen(
        &mut self,
        arrived: Arrived,
        site: &'static str,
        clock: u64,
        max_staleness: Option<u64>,
        stats: &mut RunStats,
    ) -> Screened {
        if self.drop_if_superseded(arrived.seq, stats) {
            return Screened::Passed;
        }
        if arrived.task != site {
            self.park(arrived, stats);
            return Screened::Passed;
        }
        let staleness = clock - arrived.clock;
        if max_staleness.is_some_and(|bound| staleness > bound) {
            stats.dropped_stale += 1;
            return Screened::Stale {
                worker: arrived.worker,
                staleness,
            };
        }
        Screened::Fresh { arrived, staleness }
    }

    /// The metadata of the last result handed to the algorithm.
    pub fn last(&self) -> Option<&ResultMeta> {
        self.last.as_ref()
    }

    /// Records the last result handed to the algorithm (`None`: an update used none).
    pub fn set_last(&mut self, meta: Option<ResultMeta>) {
        self.last = meta;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(seq: u64, task: &'static str, clock: u64) -> Arrived {
        Arrived {
            seq,
            worker: seq as usize % 3,
            task,
            partition: seq as u32,
            clock,
            reads: Arc::from(Vec::new()),
            sample: None,
            body: ResultBody::default(),
        }
    }

    fn seqs(queue: &VecDeque<Arrived>) -> Vec<u64> {
        queue.iter().map(|a| a.seq).collect()
    }

    /// Every result set aside for `site`, out of the queue, oldest first.
    fn take_parked(queue: &mut ResultQueue, site: &'static str) -> VecDeque<Arrived> {
        std::iter::from_fn(|| queue.pop_parked(site)).collect()
    }

    #[test]
    fn a_superseded_late_result_is_dropped_and_counted_once() {
        let mut queue = ResultQueue::default();
        let mut stats = RunStats::default();
        queue.supersede(7);
        let verdict = queue.screen(result(7, "grad", 0), "grad", 0, None, &mut stats);
        assert!(matches!(verdict, Screened::Passed));
        assert_eq!(stats.dropped_superseded, 1);
        assert_eq!(queue.in_hand(), 0, "dropped, not set aside");
        // Only that task's one answer: a second result of seq 7 would be a fresh one.
        assert!(matches!(
            queue.screen(result(7, "grad", 0), "grad", 0, None, &mut stats),
            Screened::Fresh { .. }
        ));
        assert_eq!(stats.dropped_superseded, 1);
    }

    #[test]
    fn a_superseded_task_that_never_answers_is_forgotten() {
        let mut queue = ResultQueue::default();
        queue.supersede(9);
        queue.forget_superseded(9);
        assert!(
            queue.superseded.is_empty(),
            "its worker was lost: no answer will come"
        );
    }

    #[test]
    fn staleness_is_counted_from_dispatch_and_beyond_the_bound_dropped() {
        let mut queue = ResultQueue::default();
        let mut stats = RunStats::default();
        match queue.screen(result(1, "grad", 4), "grad", 6, Some(2), &mut stats) {
            Screened::Fresh { arrived, staleness } => {
                assert_eq!(staleness, 2, "dispatched at update 4, used at 6");
                assert_eq!(arrived.into_meta(staleness).dispatched_at, 4);
            }
            _ => panic!("at the bound a result counts"),
        }
        match queue.screen(result(2, "grad", 3), "grad", 6, Some(2), &mut stats) {
            Screened::Stale { worker, staleness } => assert_eq!((worker, staleness), (2, 3)),
            _ => panic!("past the bound a result is dropped"),
        }
        assert_eq!(stats.dropped_stale, 1);
        assert!(matches!(
            queue.screen(result(3, "grad", 0), "grad", 100, None, &mut stats),
            Screened::Fresh { staleness: 100, .. }
        ));
        assert_eq!(stats.dropped_stale, 1, "no bound, nothing stale");
    }

    #[test]
    fn another_sites_results_go_to_their_own_site_in_order() {
        let mut queue = ResultQueue::default();
        let mut stats = RunStats::default();
        for seq in 1..=3 {
            let site = if seq == 2 { "inner" } else { "outer" };
            let verdict = queue.screen(result(seq, site, 0), "main", 0, None, &mut stats);
            assert!(matches!(verdict, Screened::Passed));
        }
        assert_eq!(queue.in_hand(), 3);
        assert!(queue.has_parked("outer") && !queue.has_parked("main"));
        assert_eq!(seqs(&take_parked(&mut queue, "outer")), [1, 3]);
        assert_eq!(seqs(&take_parked(&mut queue, "inner")), [2]);
        assert!(take_parked(&mut queue, "main").is_empty());
        assert!(!queue.has_parked("outer"));
        assert_eq!(stats.dropped_orphan, 0);
    }

    #[test]
    fn beyond_the_cap_a_sites_oldest_set_aside_result_is_dropped_and_counted() {
        let mut queue = ResultQueue::default();
        let mut stats = RunStats::default();
        let extra = 3;
        for seq in 0..(MAX_PARKED_PER_SITE + extra) as u64 {
            queue.park(result(seq, "outer", 0), &mut stats);
        }
        queue.park(result(1000, "inner", 0), &mut stats);
        assert_eq!(stats.dropped_orphan, extra as u64);
        let kept = take_parked(&mut queue, "outer");
        assert_eq!(kept.len(), MAX_PARKED_PER_SITE);
        assert_eq!(kept.front().unwrap().seq, extra as u64, "the oldest went");
        assert_eq!(
            seqs(&take_parked(&mut queue, "inner")),
            [1000],
            "other sites unaffected"
        );
    }

    #[test]
    fn a_set_aside_result_holds_its_partition_until_its_site_takes_it() {
        let mut queue = ResultQueue::default();
        let mut stats = RunStats::default();
        queue.park(result(1, "saga", 0), &mut stats);
        queue.park(result(2, "saga", 0), &mut stats);
        assert!(queue.holds_partition(1, "saga") && queue.holds_partition(2, "saga"));
        assert!(!queue.holds_partition(1, "other"), "only for its own site");
        assert_eq!(queue.pop_parked("saga").map(|a| a.seq), Some(1));
        assert!(
            !queue.holds_partition(1, "saga"),
            "taken: the algorithm applies it"
        );
        assert!(
            queue.holds_partition(2, "saga"),
            "still waiting for its site"
        );
        assert_eq!(queue.pop_parked("saga").map(|a| a.seq), Some(2));
        assert!(!queue.holds_partition(2, "saga") && !queue.has_parked("saga"));
    }

    #[test]
    fn an_unapplied_result_holds_its_partition_until_taken() {
        let mut queue = ResultQueue::default();
        queue.push(result(4, "saga", 0));
        queue.push(result(5, "saga", 0));
        assert!(queue.holds_partition(4, "saga") && queue.holds_partition(5, "other"));
        assert!(!queue.holds_partition(6, "saga"));
        assert_eq!(queue.pop().map(|a| a.seq), Some(4), "oldest first");
        assert!(!queue.holds_partition(4, "saga"));
        assert!(queue.has_arrived());
        assert_eq!(seqs(&queue.take_arrived()), [5]);
        assert!(!queue.has_arrived());
    }
}
