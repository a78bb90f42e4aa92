//! Data placement: the dataset whose partitions the workers hold, who owns each partition
//! (whose result a synchronous reduce takes for it), which partitions a worker was given and
//! has not reported holding yet, and the messages that give a worker a partition.
//!
//! [`Placement`] is the one owner of this state. Which partitions each worker holds is kept
//! in the worker table (barrier predicates read it); the driver sends what this module
//! builds.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_bytes::ByteBuf;

use super::table::WorkerInfo;
use super::tasks::{HANG_FACTOR, HANG_FLOOR};
use crate::data::{Dataset, RowRanges, SplitOrder};
use crate::protocol::ToWorker;

/// The dataset whose partitions the workers hold.
pub(crate) struct Shipped {
    /// What identifies the dataset in the driver's memory: address, rows, columns.
    pub key: (usize, usize, usize),
    /// The worker whose result a synchronous reduce takes for each partition.
    pub owners: Vec<usize>,
    /// Per partition: its sampling seed and the dataset rows it holds, so the driver draws
    /// the same minibatches as the workers.
    pub parts: Vec<PartMeta>,
}

/// What the driver keeps of a partition it shipped.
pub(crate) struct PartMeta {
    pub seed: u64,
    /// The dataset rows it holds, as runs of row ids.
    pub rows: RowRanges,
    /// How a worker comes to hold it, kept to give it to another worker when its holder is
    /// lost.
    pub source: PartSource,
}

/// How a worker gets a partition.
pub(crate) enum PartSource {
    /// Shipped from the driver: the encoded partition.
    Encoded(Arc<Vec<u8>>),
    /// Read by the worker from a file it sees.
    Split(Arc<SplitOrder>),
}

/// A worker's name without the suffixes its rejoins (`.r` and 8 hex digits) and
/// replacements (`.respawn1`) add: the same process slot, so the same host.
pub(super) fn host_of(name: &str) -> &str {
    let mut name = name;
    while let Some((stem, suffix)) = name.rsplit_once('.') {
        let respawn = suffix
            .strip_prefix("respawn")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let rejoin = suffix
            .strip_prefix('r')
            .is_some_and(|n| n.len() == 8 && n.bytes().all(|b| b.is_ascii_hexdigit()));
        if respawn || rejoin {
            name = stem;
        } else {
            break;
        }
    }
    name
}

/// Whose fault a partition a worker could not load is.
#[derive(Debug, PartialEq)]
pub(crate) enum LoadFailure {
    /// Nobody's: the worker was not given it to load (a lie, or a confusion).
    NotGiven,
    /// The worker's host: no other worker failed to load it (its copy of the file differs,
    /// or it has none), or it is a partition the driver shipped, or a split the driver read
    /// itself without fault.
    ItsHost,
    /// Not known yet: another host could not read this split either. Names are the peers'
    /// own choice (two of them may be one insider), so the driver reads the split itself
    /// before it blames the data, and the worker waits for that verdict
    /// ([`Placement::split_read`]).
    ReadIt(Arc<SplitOrder>),
    /// Not known yet: the driver is reading this split already; the worker waits for the
    /// verdict with the others.
    BeingRead,
}

/// The shipped dataset and the partitions on their way to workers.
#[derive(Default)]
pub(crate) struct Placement {
    shipped: Option<Shipped>,
    /// Partitions a worker was given, not yet reported held, and when each was given.
    loading: HashMap<(usize, u32), Instant>,
    /// The loads of the shipped dataset that ended: how many, and the longest, from its
    /// giving to its worker's word that it holds it. Not each one: joins and moves add loads
    /// for as long as the run lasts.
    loaded: (usize, Duration),
    /// Partitions a worker could not load, with the host of the first that could not (its
    /// name without the suffixes of rejoins and replacements).
    unloadable: HashMap<u32, String>,
    /// Splits the driver is reading itself, two hosts having failed to, each with the
    /// workers (and what they said) that wait for its verdict.
    reading: BTreeMap<u32, Vec<(usize, String)>>,
    /// Splits the driver read itself without fault: a worker failing one is at fault.
    readable: HashSet<u32>,
    /// Datasets shipped so far: tells a verdict on the dataset shipped from one on an
    /// earlier one.
    generation: u64,
}

impl Placement {
    /// Records that `worker`, named `name`, could not load `partition` (saying `message`),
    /// and says whose fault it is. The same worker rejoined (`w1.r00c0ffee`) or replaced
    /// (`w1.respawn1`) counts as the same host.
    pub fn load_failed(
        &mut self,
        partition: u32,
        worker: usize,
        name: &str,
        message: &str,
    ) -> LoadFailure {
        if self.loading.remove(&(worker, partition)).is_none() {
            return LoadFailure::NotGiven;
        }
        // The driver encoded a shipped partition from rows it holds: a worker that cannot
        // decode or keep it has a fault of its own, however many say so (names are the
        // peers' choice: two of them may be one insider ending the run).
        let Some(PartSource::Split(order)) = self.part(partition).map(|part| &part.source) else {
            return LoadFailure::ItsHost;
        };
        let order = Arc::clone(order);
        if self.readable.contains(&partition) {
            return LoadFailure::ItsHost;
        }
        if let Some(waiting) = self.reading.get_mut(&partition) {
            waiting.push((worker, message.to_owned()));
            return LoadFailure::BeingRead;
        }
        let host = host_of(name);
        if *self
            .unloadable
            .entry(partition)
            .or_insert_with(|| host.to_owned())
            == host
        {
            return LoadFailure::ItsHost;
        }
        self.reading
            .insert(partition, vec![(worker, message.to_owned())]);
        LoadFailure::ReadIt(order)
    }

    /// The driver's own read of `partition` of the dataset shipped as `generation` ended,
    /// `readable` or not: the workers that wait for the verdict, with what each said (the
    /// live ones are at fault if it was readable). `None` for a read of a dataset no longer
    /// shipped, whose verdict matters no more.
    pub fn split_read(
        &mut self,
        generation: u64,
        partition: u32,
        readable: bool,
    ) -> Option<Vec<(usize, String)>> {
        if generation != self.generation {
            return None;
        }
        let waiting = self.reading.remove(&partition)?;
        if readable {
            self.readable.insert(partition);
        }
        Some(waiting)
    }

    /// Which dataset is shipped: a number that changes with each one.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the dataset of `key` is the one shipped.
    pub fn is_shipped(&self, key: (usize, usize, usize)) -> bool {
        self.shipped.as_ref().is_some_and(|s| s.key == key)
    }

    /// Records `shipped` as the dataset the workers hold from now on.
    pub fn ship(&mut self, shipped: Shipped) {
        self.shipped = Some(shipped);
        self.generation += 1;
        self.loaded = Default::default();
        self.unloadable.clear();
        self.reading.clear();
        self.readable.clear();
    }

    /// The owner of each partition of the shipped dataset (none before one is shipped).
    pub fn owners(&self) -> &[usize] {
        self.shipped.as_ref().map_or(&[], |s| &s.owners)
    }

    /// Partitions of the shipped dataset.
    pub fn partitions(&self) -> usize {
        self.shipped.as_ref().map_or(0, |s| s.parts.len())
    }

    /// What the driver keeps of `partition`, once shipped.
    pub fn part(&self, partition: u32) -> Option<&PartMeta> {
        self.shipped.as_ref()?.parts.get(partition as usize)
    }

    /// The messages that give `worker` `partition` (frames of at most `chunk` bytes of
    /// partition), noted as loading until the worker reports it holds it; none before a
    /// dataset is shipped.
    pub fn hand_over(&mut self, worker: usize, partition: u32, chunk: usize) -> Vec<ToWorker> {
        let Some(shipped) = &self.shipped else {
            return Vec::new();
        };
        self.loading.insert((worker, partition), Instant::now());
        // Its id on the wire: the shipment's number, unique in the run.
        let dataset = self.generation;
        match &shipped.parts[partition as usize].source {
            PartSource::Split(order) => vec![ToWorker::ReadSplit {
                dataset,
                order: SplitOrder::clone(order),
            }],
            PartSource::Encoded(encoded) => {
                let pieces: Vec<&[u8]> = encoded.chunks(chunk).collect();
                let chunks = pieces.len().max(1) as u32;
                if pieces.is_empty() {
                    return vec![ToWorker::Partition {
                        dataset,
                        partition,
                        chunk: 0,
                        chunks,
                        body: ByteBuf::new(),
                    }];
                }
                pieces
                    .into_iter()
                    .enumerate()
                    .map(|(chunk, piece)| ToWorker::Partition {
                        dataset,
                        partition,
                        chunk: chunk as u32,
                        chunks,
                        body: ByteBuf::from(piece),
                    })
                    .collect()
            }
        }
    }

    /// Whether anything here names `worker`: a partition it owns, or one on its way to it,
    /// or a failure of its that waits for the driver's own read.
    pub fn refers_to(&self, worker: usize) -> bool {
        self.owners().contains(&worker)
            || self.loading.keys().any(|&(w, _)| w == worker)
            || self.reading.values().flatten().any(|&(w, _)| w == worker)
    }

    /// `worker` reported it holds `partition`.
    pub fn loaded(&mut self, worker: usize, partition: u32) {
        if let Some(given) = self.loading.remove(&(worker, partition)) {
            let (count, slowest) = &mut self.loaded;
            *count += 1;
            *slowest = (*slowest).max(given.elapsed());
        }
    }

    /// The loads of live workers (as `alive` says) that are overdue at `now`, with how long
    /// each has taken and how long the slowest of those that ended took: a worker that never
    /// says whether it holds a partition (an insider, heartbeating on) would hold up the
    /// wait for the loads forever. A load is overdue once more than half of the loads ended,
    /// and it has taken [`HANG_FACTOR`] times the slowest of them, and `floor` at least
    /// (never below [`HANG_FLOOR`]): the loads of one shipment are alike (partitions of equal size, sent interleaved),
    /// and fast lies by a minority of names cannot make an honest load look slow.
    pub fn overdue(
        &self,
        alive: impl Fn(usize) -> bool,
        now: Instant,
        floor: Duration,
    ) -> Vec<(usize, u32, Duration, Duration)> {
        let waiting = self.loading.keys().filter(|&&(w, _)| alive(w)).count();
        let (ended, slowest) = self.loaded;
        if ended <= waiting {
            return Vec::new();
        }
        let limit = slowest.mul_f64(HANG_FACTOR).max(floor).max(HANG_FLOOR);
        let mut overdue: Vec<_> = self
            .loading
            .iter()
            .filter(|&(&(w, _), _)| alive(w))
            .filter_map(|(&(w, p), &given)| {
                let taken = now.saturating_duration_since(given);
                (taken > limit).then_some((w, p, taken, slowest))
            })
            .collect();
        overdue.sort_unstable_by_key(|&(w, p, ..)| (w, p));
        overdue
    }

    /// Forgets the load of `partition` by `worker`, overdue: the worker is excluded.
    pub fn give_up_load(&mut self, worker: usize, partition: u32) {
        self.loading.remove(&(worker, partition));
    }

    /// Forgets what `worker` (lost) was loading, and its failures that wait for a verdict:
    /// its heirs were given the partitions. The driver's reads go on: a split it cannot read
    /// either still ends the run.
    pub fn forget_loads(&mut self, worker: usize) {
        self.loading.retain(|&(w, _), _| w != worker);
        for waiting in self.reading.values_mut() {
            waiting.retain(|&(w, _)| w != worker);
        }
    }

    /// Whether a live worker (as `alive` says) has a partition still loading, or the driver
    /// is still reading a split two hosts could not; the loads of lost workers are forgotten
    /// (their heirs were given the partitions).
    pub fn still_loading(&mut self, alive: impl Fn(usize) -> bool) -> bool {
        self.loading.retain(|&(worker, _), _| alive(worker));
        !self.loading.is_empty() || !self.reading.is_empty()
    }

    /// `partition`, held by `lost`, goes to `heir`: if `lost` owned it, `heir` owns it now.
    pub fn rehome(&mut self, partition: u32, lost: usize, heir: usize) {
        if let Some(shipped) = &mut self.shipped {
            let owner = &mut shipped.owners[partition as usize];
            if *owner == lost {
                *owner = heir;
            }
        }
    }
}

/// Who takes a partition of a lost worker: among the live workers that have answered a task,
/// if any has, the one that, holding it too, would come back to each of its partitions
/// soonest, (partitions + 1) x its mean task time (a straggler's delay included), so that a
/// slow worker is not handed the work of a fast one; else the live one holding the fewest.
/// One that has answered none may never answer: an insider under many names, taking tasks and
/// answering none, had a lost name's partition move to its next name, never to the worker
/// answering, and a synchronous step waited on it name after name.
pub(crate) fn heir(workers: &[WorkerInfo]) -> Option<usize> {
    // Those that answered have a task time each; while none has, the fewest partitions rule.
    live(workers)
        .filter(|&w| workers[w].tasks_done > 0)
        .min_by(by_round(workers, 1, true))
        .or_else(|| live(workers).min_by(by_round(workers, 1, false)))
}

/// Who gives a partition to a worker that joins: the live worker holding two or more that
/// takes longest to come back to each, held x its mean task time (the most partitions while
/// some live worker's task time is not known yet); none if every live worker holds one.
pub(crate) fn donor(workers: &[WorkerInfo]) -> Option<usize> {
    live(workers)
        .filter(|&w| workers[w].partitions.len() >= 2)
        .max_by(by_round(workers, 0, timed(workers)))
}

/// Whether every live worker's task time is known.
fn timed(workers: &[WorkerInfo]) -> bool {
    live(workers).all(|w| workers[w].tasks_done > 0)
}

fn live(workers: &[WorkerInfo]) -> impl Iterator<Item = usize> + '_ {
    (0..workers.len()).filter(|&w| workers[w].alive)
}

/// Orders workers by the time each would take to come back to its partitions holding `extra`
/// more, (held + extra) x mean task time, then by partitions held; by partitions held alone
/// unless the task times of the workers compared are all known (`timed`).
fn by_round(
    workers: &[WorkerInfo],
    extra: usize,
    timed: bool,
) -> impl Fn(&usize, &usize) -> Ordering + '_ {
    let held = |w: usize| workers[w].partitions.len();
    let round = move |w: usize| (held(w) + extra) as f64 * workers[w].mean_task_s;
    move |&a, &b| {
        let by_time = if timed {
            round(a).total_cmp(&round(b))
        } else {
            Ordering::Equal
        };
        by_time.then(held(a).cmp(&held(b)))
    }
}

/// What tells one dataset shipped from another.
pub(crate) fn shipping_key(data: &Dataset) -> (usize, usize, usize) {
    (data.id() as usize, data.n_rows(), data.dim())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_split_that_two_hosts_cannot_read_waits_for_the_drivers_own_read() {
        let splits = (0..6)
            .map(|p| PartSource::Split(Arc::new(split(p))))
            .collect();
        let mut placement = placement(splits, vec![0; 6]);
        let generation = placement.generation();
        let now = Instant::now();
        placement
            .loading
            .extend([(0, 3), (1, 4), (1, 3), (2, 3), (3, 3), (4, 3)].map(|load| (load, now)));
        assert_eq!(
            placement.load_failed(3, 0, "w0", "no file"),
            LoadFailure::ItsHost
        );
        assert_eq!(
            placement.load_failed(3, 0, "w0", "no file"),
            LoadFailure::NotGiven,
            "reported once per load"
        );
        assert_eq!(
            placement.load_failed(3, 2, "w0.r0a1b2c3d.respawn2", "no file"),
            LoadFailure::ItsHost,
            "the same host, rejoined"
        );
        assert_eq!(
            placement.load_failed(4, 1, "w1", "no file"),
            LoadFailure::ItsHost
        );
        // A second host: nobody is blamed before the driver read the split itself.
        match placement.load_failed(3, 1, "w1", "line 9") {
            LoadFailure::ReadIt(order) => assert_eq!(order.partition, 3),
            other => panic!("the driver reads the split, not {other:?}"),
        }
        assert_eq!(
            placement.load_failed(3, 3, "w3", "line 9"),
            LoadFailure::BeingRead,
            "a third waits for the same read"
        );
        assert!(placement.still_loading(|_| true), "a read goes on");
        assert!(placement.refers_to(3));
        placement.forget_loads(3);
        assert!(!placement.refers_to(3), "a lost worker waits for nothing");
        assert_eq!(
            placement.load_failed(5, 2, "w2", "no file"),
            LoadFailure::NotGiven
        );
        assert_eq!(
            placement.split_read(generation + 1, 3, true),
            None,
            "a verdict on another dataset"
        );
        assert_eq!(
            placement.split_read(generation, 3, true),
            Some(vec![(1, "line 9".to_owned())]),
            "the waiting workers, at fault"
        );
        assert_eq!(
            placement.load_failed(3, 4, "w4", "line 9"),
            LoadFailure::ItsHost,
            "a split the driver read is any failing worker's fault"
        );
        assert!(!placement.still_loading(|_| true), "the read ended");
        assert_eq!(placement.split_read(generation, 3, true), None, "once");
        assert_eq!(host_of("w-node.example.r00c0ffee"), "w-node.example");
        assert_eq!(host_of("w-node.r7"), "w-node.r7", "not a rejoin's suffix");
    }

    #[test]
    fn a_shipped_partition_that_workers_cannot_load_is_their_fault_however_many() {
        let mut placement = placement(vec![encoded(10), encoded(10)], vec![0, 1]);
        for (worker, name) in [(0, "w0"), (1, "w1"), (2, "insider-2")] {
            placement.hand_over(worker, 1, 4);
            assert_eq!(
                placement.load_failed(1, worker, name, "cannot decode"),
                LoadFailure::ItsHost,
                "{name}"
            );
        }
    }

    fn split(partition: u32) -> SplitOrder {
        SplitOrder::unread("data/w.svm", "w", partition)
    }

    fn placement(sources: Vec<PartSource>, owners: Vec<usize>) -> Placement {
        let mut placement = Placement::default();
        placement.ship(Shipped {
            key: (1, 2, 3),
            owners,
            parts: sources
                .into_iter()
                .map(|source| PartMeta {
                    seed: 0,
                    rows: RowRanges::new(std::iter::once(0..1)),
                    source,
                })
                .collect(),
        });
        placement
    }

    fn encoded(len: usize) -> PartSource {
        PartSource::Encoded(Arc::new((0..len).map(|i| i as u8).collect()))
    }

    #[test]
    fn an_encoded_partition_goes_in_numbered_chunks_that_rebuild_it() {
        let mut placement = placement(vec![encoded(10), encoded(0)], vec![0, 1]);
        assert!(placement.is_shipped((1, 2, 3)) && !placement.is_shipped((1, 2, 4)));
        let messages = placement.hand_over(1, 0, 4);
        let mut rebuilt = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            match message {
                ToWorker::Partition {
                    dataset,
                    partition,
                    chunk,
                    chunks,
                    body,
                } => {
                    assert_eq!((*dataset, *partition, *chunk, *chunks), (1, 0, i as u32, 3));
                    assert!(body.len() <= 4);
                    rebuilt.extend_from_slice(body);
                }
                _ => panic!("an encoded partition is sent"),
            }
        }
        assert_eq!(rebuilt, (0..10).collect::<Vec<u8>>());
        let empty = placement.hand_over(1, 1, 4);
        assert!(
            matches!(&empty[..], [ToWorker::Partition { chunk: 0, chunks: 1, body, .. }] if body.is_empty()),
            "an empty partition is still one message"
        );
    }

    #[test]
    fn a_partition_given_is_loading_until_its_worker_holds_it_or_is_lost() {
        let mut placement = placement(vec![encoded(3), encoded(3)], vec![0, 1]);
        assert!(!placement.still_loading(|_| true));
        placement.hand_over(0, 0, 8);
        placement.hand_over(1, 1, 8);
        placement.loaded(0, 0);
        assert!(placement.still_loading(|_| true), "worker 1 has not said");
        assert!(
            !placement.still_loading(|w| w != 1),
            "worker 1 lost: not awaited"
        );
        assert!(!placement.still_loading(|_| true), "and forgotten");
    }

    #[test]
    fn a_load_is_overdue_only_once_most_ended_and_far_behind_the_slowest() {
        let mut placement = placement((0..5).map(|_| encoded(3)).collect(), vec![0, 1, 2, 3, 4]);
        for p in 0..5 {
            placement.hand_over(p as usize, p, 8);
        }
        let later = |s: u64| Instant::now() + Duration::from_secs(s);
        // Two fast words (a minority of names, lying or not) judge nobody, however late.
        placement.loaded(0, 0);
        placement.loaded(1, 1);
        assert!(placement
            .overdue(|_| true, later(3600), HANG_FLOOR)
            .is_empty());
        // Three of five ended: the two left are overdue past 8 x the slowest, 10 s at least.
        placement.loaded(2, 2);
        assert!(placement.overdue(|_| true, later(9), HANG_FLOOR).is_empty());
        let overdue = placement.overdue(|_| true, later(11), HANG_FLOOR);
        let late: Vec<(usize, u32)> = overdue.iter().map(|&(w, p, ..)| (w, p)).collect();
        assert_eq!(late, [(3, 3), (4, 4)]);
        // A floor above the hang floor (the liveness timeout: a stopped worker is lost first).
        let floor = Duration::from_secs(20);
        assert!(placement.overdue(|_| true, later(11), floor).is_empty());
        // A lost worker's load is not judged.
        assert_eq!(
            placement.overdue(|w| w != 3, later(11), HANG_FLOOR).len(),
            1
        );
        placement.give_up_load(4, 4);
        assert_eq!(
            placement.overdue(|w| w != 3, later(11), HANG_FLOOR).len(),
            0
        );
    }

    #[test]
    fn nothing_is_handed_over_before_a_dataset_is_shipped() {
        let mut placement = Placement::default();
        assert!(placement.hand_over(0, 0, 8).is_empty());
        assert!(!placement.still_loading(|_| true));
        assert_eq!((placement.owners(), placement.partitions()), (&[][..], 0));
    }

    #[test]
    fn a_lost_owners_partition_goes_to_the_live_worker_holding_fewest() {
        let mut workers: Vec<WorkerInfo> = (0..3)
            .map(|w| WorkerInfo::new(format!("w{w}"), 1, 0.0))
            .collect();
        workers[0].partitions = vec![0, 3];
        workers[1].partitions = vec![1, 4, 5];
        workers[2].partitions = vec![2];
        workers[2].alive = false;
        assert_eq!(heir(&workers), Some(0), "fewest among the live");
        let mut placement = placement((0..6).map(|_| encoded(1)).collect(), vec![0, 1, 2, 0, 1, 1]);
        placement.rehome(2, 2, 0);
        placement.rehome(4, 2, 0);
        assert_eq!(
            placement.owners(),
            [0, 1, 0, 0, 1, 1],
            "only what the lost one owned"
        );
        workers.iter_mut().for_each(|w| w.alive = false);
        assert_eq!(heir(&workers), None);
    }

    #[test]
    fn a_newcomer_relieves_the_worker_slowest_to_come_back_to_its_partitions() {
        let mut workers: Vec<WorkerInfo> = (0..3)
            .map(|w| WorkerInfo::new(format!("w{w}"), 1, 0.0))
            .collect();
        for (w, (held, task_s)) in [(1, 9.0), (2, 1.0), (3, 1.0)].into_iter().enumerate() {
            workers[w].partitions = (0..held).collect();
            workers[w].mean_task_s = task_s;
            workers[w].tasks_done = 10;
        }
        // w0 is slow but holds one: it has nothing to give.
        assert_eq!(donor(&workers), Some(2));
        workers[2].partitions.truncate(1);
        assert_eq!(donor(&workers), Some(1));
        workers[1].partitions.truncate(1);
        assert_eq!(donor(&workers), None, "everyone holds one");
    }

    #[test]
    fn a_lost_partition_goes_to_who_comes_back_to_its_partitions_soonest() {
        let mut workers: Vec<WorkerInfo> = (0..3)
            .map(|w| WorkerInfo::new(format!("w{w}"), 1, 0.0))
            .collect();
        for (w, (held, task_s)) in [(1, 4.0), (2, 1.0), (1, 1.0)].into_iter().enumerate() {
            workers[w].partitions = (0..held).collect();
            workers[w].mean_task_s = task_s;
            workers[w].tasks_done = 10;
        }
        // A straggler (w0, 4x slower) holding one partition would take 8 s to come back to
        // each of two; w2 takes 2 s.
        assert_eq!(heir(&workers), Some(2));
        // w2 lost too: w1 with its two partitions (3 s) beats the straggler with one (8 s).
        workers[2].alive = false;
        assert_eq!(heir(&workers), Some(1));
        // A live worker not timed yet: the fewest partitions decide.
        workers[1].tasks_done = 0;
        assert_eq!(heir(&workers), Some(0));
    }

    #[test]
    fn a_lost_partition_goes_to_a_worker_that_answered_before_one_that_never_did() {
        // w1 and w2 are names of one insider that takes tasks and answers none; each held
        // fewer partitions than w0, so each lost name's partition went to the next.
        let mut workers: Vec<WorkerInfo> = (0..3)
            .map(|w| WorkerInfo::new(format!("w{w}"), 1, 0.0))
            .collect();
        workers[0].partitions = vec![0, 1, 2];
        workers[0].tasks_done = 10;
        workers[0].mean_task_s = 1.0;
        workers[1].partitions = vec![3];
        workers[2].partitions = vec![];
        assert_eq!(heir(&workers), Some(0));
        workers[0].alive = false;
        assert_eq!(heir(&workers), Some(2), "none answered: the fewest");
    }
}
