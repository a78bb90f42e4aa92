//! Dispatch bookkeeping: the tasks sent and not yet answered under their sequence numbers,
//! those reported failed or written off with a lost worker, and the choices made from them
//! (which partition a worker works on next, which tasks hang, who does a failed task again).
//!
//! [`TaskBook`] is the one owner of this state. Nothing here sends or receives: the driver
//! sends the orders and feeds the answers in, so every rule is a unit test without sockets.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::result_meta::VersionRead;
use super::results::Arrived;
use super::table::{lower_median, WorkerInfo};
use crate::protocol::{ResultBody, Sample};
use crate::worker::MAX_QUEUED_TASKS;

/// A task of a synchronous reduce running longer than this many times its worker's mean task
/// time, and at least [`HANG_FLOOR`], is done again on another worker; the first result wins.
pub(crate) const HANG_FACTOR: f64 = 8.0;
/// See [`HANG_FACTOR`].
pub(crate) const HANG_FLOOR: Duration = Duration::from_secs(10);

/// The task time a synchronous step's hang limit judges `worker`'s tasks by: its own mean,
/// counted at most [`HANG_FACTOR`] times the lower median of the live workers' means (of
/// those that answered a task). A worker's mean is what it made it: one answering each task
/// just under the hang limit grew it with every task, geometrically, and each step waited
/// for it longer, without a strike. A host up to 64 times slower than the others is judged
/// on its own mean as before. A worker that has answered no task yet is judged by that
/// median, and while no worker has, by [`UNKNOWN_TASK_S`]: with a mean of 0 the first tasks
/// hung at the hang floor, and tasks of more than 30 s (a full pass over a large partition)
/// had every worker struck out before any could answer. A simulated straggler's cap grows by
/// the delay the driver gave it (1 + its factor): at `intensity:100` its tasks take 101 times
/// the others', and with tasks of over half a second it was struck out as hung.
pub(crate) fn usual_task_s(workers: &[WorkerInfo]) -> impl Fn(usize) -> f64 + '_ {
    let answered = workers.iter().filter(|w| w.alive && w.tasks_done > 0);
    let median = lower_median(answered.map(|w| w.mean_task_s));
    move |worker| {
        let info = &workers[worker];
        match median {
            None => UNKNOWN_TASK_S,
            Some(median) if info.tasks_done == 0 => median,
            Some(median) => {
                // The driver's own factor, never the worker's word; NaN counts as none.
                let slowed = 1.0 + info.delay_factor.max(0.0);
                info.mean_task_s.min(HANG_FACTOR * median * slowed)
            }
        }
    }
}

/// The task time assumed while no worker has answered a task: nothing tells a long first
/// task from a stuck one but time, so the first tasks hang after [`HANG_FACTOR`] times this
/// (8 minutes), a stuck worker then struck out as any.
pub(crate) const UNKNOWN_TASK_S: f64 = 60.0;

/// A task is tried this many times (the first run and its retries) before the run fails,
/// as Spark's `spark.task.maxFailures`.
pub(crate) const MAX_ATTEMPTS: u32 = 4;

/// A task sent and not yet answered.
pub(crate) struct InFlight {
    worker: usize,
    task: &'static str,
    partition: u32,
    clock: u64,
    sent_at: Instant,
    reads: Arc<[VersionRead]>,
    /// Its minibatch, for a sampled reduce: with the partition, the rows it was given.
    sample: Option<Sample>,
}

impl InFlight {
    /// The worker it was sent to.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Its `reduce!` site.
    pub fn task(&self) -> &'static str {
        self.task
    }

    /// Whether it has run past [`HANG_FACTOR`] times its worker's mean task time
    /// (`mean_task_s`) and at least [`HANG_FLOOR`], at `now`.
    fn hangs(&self, mean_task_s: f64, now: Instant) -> bool {
        let usual = Duration::try_from_secs_f64(HANG_FACTOR * mean_task_s);
        let limit = HANG_FLOOR.max(usual.unwrap_or(Duration::MAX));
        now.saturating_duration_since(self.sent_at) > limit
    }

    /// Seconds since it was sent: what a worker can have spent on it at most (less once a
    /// pause of the driver was left out of its time, see [`TaskBook::discount_unwatched`]).
    pub fn seconds_out(&self) -> f64 {
        self.sent_at.elapsed().as_secs_f64()
    }

    /// Seconds of its round trip, to its result `received` then, on the wire: what its
    /// worker did not say it held it (`held_s`); see [`network_s`](super::wire_time::network_s).
    pub fn network_s(&self, received: Instant, held_s: f64) -> Option<f64> {
        super::wire_time::network_s(self.sent_at, received, held_s)
    }

    /// Its answer, received: what the driver recorded at dispatch goes with the body, so
    /// nothing of the result's metadata is the worker's word.
    pub fn arrived(self, seq: u64, body: ResultBody) -> Arrived {
        Arrived {
            seq,
            worker: self.worker,
            task: self.task,
            partition: self.partition,
            clock: self.clock,
            reads: self.reads,
            sample: self.sample,
            body,
        }
    }
}

/// A task a worker reported failed, for the reduce waiting on it to retry.
pub(crate) struct Failed {
    pub seq: u64,
    pub worker: usize,
    pub task: &'static str,
    pub message: String,
}

/// The tasks of the run: in flight, failed, written off.
pub(crate) struct TaskBook {
    in_flight: HashMap<u64, InFlight>,
    /// The same tasks as (dispatch update, sequence number), oldest first: what
    /// [`TaskBook::oldest_clock`] reads after every answer, at no cost growing with the
    /// tasks in flight (with the workers).
    by_clock: BTreeSet<(u64, u64)>,
    /// Tasks in flight per partition, none listed at zero: what an exclusive site asks of
    /// every partition it considers ([`TaskBook::on_partition`]).
    per_partition: HashMap<u32, usize>,
    next_seq: u64,
    /// Tasks reported failed, not yet retried.
    failed: Vec<Failed>,
    /// Tasks in flight on workers since lost, for a synchronous reduce to do again.
    written_off: Vec<u64>,
    /// When an asynchronous site last looked for hung tasks
    /// ([`TaskBook::time_to_look_for_hangs`]).
    hangs_looked_at: Option<Instant>,
}

impl Default for TaskBook {
    fn default() -> TaskBook {
        TaskBook {
            in_flight: HashMap::new(),
            by_clock: BTreeSet::new(),
            per_partition: HashMap::new(),
            // Sequence numbers start at 1: 0 is never a task.
            next_seq: 1,
            failed: Vec::new(),
            written_off: Vec::new(),
            hangs_looked_at: None,
        }
    }
}

impl TaskBook {
    /// Records a task about to be sent to `worker` at update `clock`; returns its sequence
    /// number, unique for the run.
    pub fn open(
        &mut self,
        worker: usize,
        task: &'static str,
        partition: u32,
        clock: u64,
        reads: Arc<[VersionRead]>,
        sample: Option<Sample>,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_clock.insert((clock, seq));
        *self.per_partition.entry(partition).or_default() += 1;
        self.in_flight.insert(
            seq,
            InFlight {
                worker,
                task,
                partition,
                clock,
                sent_at: Instant::now(),
                reads,
                sample,
            },
        );
        seq
    }

    /// Whether task `seq` is in flight on `worker`: an answer from anyone else, or to a task
    /// already answered, is not taken.
    pub fn is_on(&self, seq: u64, worker: usize) -> bool {
        self.in_flight.get(&seq).is_some_and(|t| t.worker == worker)
    }

    /// Whether a task in flight on `worker`, or a failure of it not yet retried, is here.
    pub fn refers_to(&self, worker: usize) -> bool {
        self.in_flight.values().any(|task| task.worker == worker)
            || self.failed.iter().any(|failed| failed.worker == worker)
    }

    /// Takes task `seq` out of flight (it was answered).
    pub fn close(&mut self, seq: u64) -> Option<InFlight> {
        let task = self.in_flight.remove(&seq)?;
        self.unindex(seq, &task);
        Some(task)
    }

    /// Takes task `seq`, out of flight, out of the indexes too.
    fn unindex(&mut self, seq: u64, task: &InFlight) {
        self.by_clock.remove(&(task.clock, seq));
        if let Some(count) = self.per_partition.get_mut(&task.partition) {
            *count -= 1;
            if *count == 0 {
                self.per_partition.remove(&task.partition);
            }
        }
    }

    /// Tasks in flight.
    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether no task is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// The update at which the oldest task in flight was dispatched.
    pub fn oldest_clock(&self) -> Option<u64> {
        self.by_clock.first().map(|&(clock, _)| clock)
    }

    /// Whether a task on `partition` is in flight.
    pub fn on_partition(&self, partition: u32) -> bool {
        self.per_partition.contains_key(&partition)
    }

    /// Records that a worker reported its task failed.
    pub fn record_failure(&mut self, failed: Failed) {
        self.failed.push(failed);
    }

    /// The failures recorded and not yet taken for which `mine` holds, oldest first; the
    /// others wait for the reduce they belong to (another site's, say).
    pub fn take_failures(&mut self, mine: impl Fn(&Failed) -> bool) -> Vec<Failed> {
        let (taken, kept) = std::mem::take(&mut self.failed).into_iter().partition(mine);
        self.failed = kept;
        taken
    }

    /// Takes every task in flight on `worker` (lost) out of flight, noting it written off;
    /// returns their sequence numbers.
    pub fn write_off(&mut self, worker: usize) -> Vec<u64> {
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, task)| task.worker == worker)
            .map(|(&seq, _)| seq)
            .collect();
        for &seq in &lost {
            self.close(seq);
        }
        self.written_off.extend_from_slice(&lost);
        lost
    }

    /// The tasks written off since the last call.
    pub fn take_written_off(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.written_off)
    }

    /// Forgets the tasks written off: an asynchronous reduce does not await them, other
    /// workers take their partitions.
    pub fn forget_written_off(&mut self) {
        self.written_off.clear();
    }

    /// The tasks of `pending` (sequence number to partition) running, at `now`, longer than
    /// [`HANG_FACTOR`] times their worker's mean task time (`mean_task_s`) and at least
    /// [`HANG_FLOOR`]: each as (partition, worker, sequence number). A partition already done again elsewhere
    /// is here too: its copy hanging as well is what tells a task that hangs wherever it
    /// runs (see [`WorkersOn`]), and its worker is struck as any.
    pub fn hung(
        &self,
        pending: &HashMap<u64, usize>,
        mean_task_s: impl Fn(usize) -> f64,
        now: Instant,
    ) -> Vec<(usize, usize, u64)> {
        pending
            .iter()
            .filter_map(|(&seq, &partition)| {
                let task = self.in_flight.get(&seq)?;
                task.hangs(mean_task_s(task.worker), now)
                    .then_some((partition, task.worker, seq))
            })
            .collect()
    }

    /// Whether an asynchronous site should look for hung tasks at `now`, and if so, notes
    /// that it does: at most once a second, since it asks after every event and a strike
    /// needs the hang floor of silence anyway.
    pub fn time_to_look_for_hangs(&mut self, now: Instant) -> bool {
        if self
            .hangs_looked_at
            .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(1))
        {
            return false;
        }
        self.hangs_looked_at = Some(now);
        true
    }

    /// The tasks in flight that hang at `now` (see [`TaskBook::hung`]), as (worker, site,
    /// sequence number), each (worker, site) pair once, by worker, with its oldest task.
    pub fn hanging_tasks(
        &self,
        mean_task_s: impl Fn(usize) -> f64,
        now: Instant,
    ) -> Vec<(usize, &'static str, u64)> {
        let mut tasks: Vec<(usize, &'static str, u64)> = self
            .in_flight
            .iter()
            .filter(|(_, task)| task.hangs(mean_task_s(task.worker), now))
            .map(|(&seq, task)| (task.worker, task.task, seq))
            .collect();
        tasks.sort_unstable();
        tasks.dedup_by_key(|&mut (worker, site, _)| (worker, site));
        tasks
    }

    /// Whether no task in flight may still be expected to answer: none is in flight, or each
    /// one hangs (see [`TaskBook::hung`]).
    pub fn none_expected(&self, mean_task_s: impl Fn(usize) -> f64, now: Instant) -> bool {
        self.in_flight
            .values()
            .all(|task| task.hangs(mean_task_s(task.worker), now))
    }

    /// Leaves `unwatched` out of the running time of every task in flight: the driver did not
    /// run that long (stopped, suspended, starved), so their results may be waiting unread,
    /// and that time says nothing of whether a task hung.
    pub fn discount_unwatched(&mut self, unwatched: Duration) {
        let now = Instant::now();
        for task in self.in_flight.values_mut() {
            task.sent_at = (task.sent_at + unwatched).min(now);
        }
    }

    #[cfg(test)]
    pub(crate) fn sent_before(&mut self, seq: u64, ago: Duration) {
        let task = self.in_flight.get_mut(&seq).expect("in flight");
        task.sent_at = Instant::now() - ago;
    }

    /// Lets [`TaskBook::time_to_look_for_hangs`] say yes again at once.
    #[cfg(test)]
    pub(crate) fn look_for_hangs_again(&mut self) {
        self.hangs_looked_at = None;
    }
}

/// The next partition of `worker`, round robin over the ones it holds, or `None`. With
/// `exclusive`, a partition that is `busy` (a task in flight on it, or a result not yet
/// applied) is skipped: a site that updates history tables must never have two tasks on one
/// partition at once, or both would correct against the same old entries and the algorithm's
/// running sums would drift from its table (SAGA's mean). Two workers hold one partition after
/// a late join or a move; a worker may hold a next task while it computes.
pub(crate) fn next_partition(
    worker: &mut WorkerInfo,
    exclusive: bool,
    busy: impl Fn(u32) -> bool,
) -> Option<u32> {
    let count = worker.partitions.len();
    for _ in 0..count {
        let partition = worker.partitions[worker.next_partition % count];
        worker.next_partition += 1;
        if !(exclusive && busy(partition)) {
            return Some(partition);
        }
    }
    None
}

/// Failed attempts of a synchronous reduce's tasks, per partition, and where they failed.
#[derive(Default)]
pub(crate) struct Attempts {
    by_partition: HashMap<usize, (u32, Vec<usize>)>,
}

impl Attempts {
    /// Records that the task on `partition` failed on `worker`, a row of `workers`. The
    /// workers it failed on so far: `Ok` while it may be tried again, `Err` once it failed
    /// [`MAX_ATTEMPTS`] times and on [`most_of`] the live workers, or on every live one (no
    /// fresh worker is left to try it). Most, not four: names are the peers' choice, and an
    /// insider under four of them, each failing the task when it came, ended a run of nine
    /// workers while five had never tried it.
    pub fn failed(
        &mut self,
        partition: usize,
        worker: usize,
        workers: &[WorkerInfo],
    ) -> Result<&[usize], &[usize]> {
        // The first run counts as the first attempt.
        let (count, tried) = self
            .by_partition
            .entry(partition)
            .or_insert((1, Vec::new()));
        tried.push(worker);
        *count += 1;
        let alive = workers.iter().filter(|w| w.alive).count();
        let everywhere = most_of(distinct_workers(workers, tried), alive)
            || !workers
                .iter()
                .any(|w| w.alive && !tried.iter().any(|&t| workers[t].worker() == w.worker()));
        if *count > MAX_ATTEMPTS && everywhere {
            return Err(tried);
        }
        Ok(tried)
    }
}

/// Whether `workers` distinct workers are more than half of the `alive` ones, and at least
/// two: the run's one measure of "everywhere", for what a task did (failed, hung) or a shape
/// results agree on. Names are the peers' choice: an insider holding the token under two of
/// them cannot speak for a run of more workers.
pub(crate) fn most_of(workers: usize, alive: usize) -> bool {
    workers > (alive / 2).max(1)
}

/// The workers (told apart by [`WorkerInfo::worker`]) each task did something wrong on, per
/// partition of a synchronous reduce or per site of an asynchronous one: hung on while they
/// answered nothing else, or returned results that are not finite. A task that did so on
/// [`most_of`] the live workers does so wherever it runs: the task's fault (a loop in its
/// closure, a division by zero), not the workers'. Never one: a single stuck or faulty host is
/// the host's fault, and its task is done again elsewhere. Without it a task hanging on every
/// worker hung the run for good (each worker took one strike for it and was never struck out,
/// its partition being done again elsewhere), and one returning NaN everywhere had every
/// worker struck out for bad results, the run ending as if the cluster had failed.
pub(crate) struct WorkersOn<K> {
    tallies: Tallies<K>,
}

impl<K> Default for WorkersOn<K> {
    fn default() -> Self {
        WorkersOn {
            tallies: Tallies::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> WorkersOn<K> {
    /// Records that task `key` went wrong on `worker` ([`WorkerInfo::worker`]), in its task
    /// numbered `seq`, `alive` workers taking part. `Err` with the workers it went wrong on, in
    /// order, once they are [`most_of`] them: the run must end.
    pub fn add(&mut self, key: K, worker: &str, alive: usize, seq: u64) -> Result<(), Vec<String>> {
        match self.tallies.record(key, worker, seq) {
            Some(tally) if most_of(tally.workers.len(), alive) => Err(tally.workers.clone()),
            _ => Ok(()),
        }
    }

    /// Task `key` answered well, to the task numbered `seq`: see [`Tallies::answered`].
    pub fn answered(&mut self, key: &K, seq: u64) {
        self.tallies.answered(key, seq);
    }
}

/// What went wrong per task (a partition, a site) since it last answered well: how often, on
/// which workers, and from which task on. [`WorkersOn`] and [`SiteFailures`] judge it.
struct Tallies<K> {
    by_task: HashMap<K, Tally>,
    /// Per task, the highest sequence number of one of its tasks that answered well, whether
    /// or not a tally was open then: a hang is seen only past the hang floor, and the good
    /// answers of the others to tasks sent after the hung one came before it was.
    answered_well: HashMap<K, u64>,
}

/// A task's tally: the times it went wrong, the workers it did on (in order, each once), and
/// the sequence number of the first task of them that did.
struct Tally {
    count: u32,
    workers: Vec<String>,
    since: u64,
}

impl<K> Default for Tallies<K> {
    fn default() -> Self {
        Tallies {
            by_task: HashMap::new(),
            answered_well: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Tallies<K> {
    /// Records that task `key` went wrong on `worker` in its task numbered `seq`; `None` when
    /// a task of `key` sent after that one already answered well: it works, as it runs now,
    /// somewhere, and this says nothing against it (the tally stays as it was). Without it an
    /// insider under four names, each hanging one task, was seen at the hang floor all at
    /// once, past the honest worker's good answers, and the run ended blaming the task.
    fn record(&mut self, key: K, worker: &str, seq: u64) -> Option<&Tally> {
        if self.answered_well.get(&key).is_some_and(|&good| good > seq) {
            return None;
        }
        let tally = self.by_task.entry(key).or_insert_with(|| Tally {
            count: 0,
            workers: Vec::new(),
            since: seq,
        });
        tally.count += 1;
        tally.since = tally.since.min(seq);
        if !tally.workers.iter().any(|w| w == worker) {
            tally.workers.push(worker.to_owned());
        }
        Some(tally)
    }

    /// Task `key` answered well, to the task numbered `seq`: if that task was sent after the
    /// first that went wrong, it does not go wrong wherever it runs, and counts again from
    /// none. An answer to a task sent before says nothing of the task as it runs now (an
    /// asynchronous site's tasks sent before its closure started returning NaN or panicking
    /// come back well, late): counting again on it let the workers be struck out in turn, a
    /// fast one three times before a slow one answered, and the run could end with no worker
    /// left. The highest such `seq` is kept, tally or none: what goes wrong in a task sent
    /// before it is not counted ([`Tallies::record`]).
    fn answered(&mut self, key: &K, seq: u64) {
        if self.by_task.get(key).is_some_and(|tally| seq > tally.since) {
            self.by_task.remove(key);
        }
        match self.answered_well.get_mut(key) {
            Some(good) => *good = (*good).max(seq),
            None => {
                self.answered_well.insert(key.clone(), seq);
            }
        }
    }
}

/// `workers` as a list for a message: `a`, `a and b`, `a, b and c`.
fn listed(workers: &[String]) -> String {
    match workers {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Why a task that hung on `workers` ends the run, for [`RuntimeError::TaskFailed`]'s message
/// (`what`: the partition or the site).
///
/// [`RuntimeError::TaskFailed`]: crate::RuntimeError::TaskFailed
pub(crate) fn hung_everywhere(what: &str, workers: &[String]) -> String {
    format!(
        "{what} hung on {} (each answered nothing past its hang limit, {} s at least): \
         a task that hangs wherever it runs is its own fault, a loop in its closure?",
        listed(workers),
        HANG_FLOOR.as_secs()
    )
}

/// Why a task whose results were not finite on `workers` ends the run, for
/// [`RuntimeError::TaskFailed`]'s message (`what`: the partition or the site; `last`: why the
/// driver refused the last such result).
///
/// [`RuntimeError::TaskFailed`]: crate::RuntimeError::TaskFailed
pub(crate) fn not_finite_everywhere(what: &str, workers: &[String], last: &str) -> String {
    format!(
        "{what} returned results that are not finite on {} (the last: {last}): a task whose \
         results are not finite wherever it runs is its own fault, a division by zero or a \
         diverging computation in its closure?",
        listed(workers)
    )
}

/// How many workers the rows `tried` are, told apart by [`WorkerInfo::worker`]: a worker that
/// joined again has a row per join.
pub(crate) fn distinct_workers(workers: &[WorkerInfo], tried: &[usize]) -> usize {
    let names: std::collections::HashSet<&str> =
        tried.iter().map(|&t| workers[t].worker()).collect();
    names.len()
}

/// Failures of asynchronous sites' tasks since each site's last good result, and the workers
/// they failed on. Another worker simply takes the work: only a site failing
/// [`MAX_ATTEMPTS`] times in a row on more than half of the live workers, at least two (or on
/// the last one), ends the run. Workers are told apart by [`WorkerInfo::worker`]: a worker
/// that joined again (a row per join, under its own name or a fresh one) is the same host,
/// and failing there again says nothing of the others. More than half, not two: names are the
/// peers' choice, and an insider holding the token under two of them, failing at once every
/// task it is sent, would otherwise end the run between two good results of the others.
/// Only a good result of a task sent after the first failed one counts as the site's last
/// good result, as for [`WorkersOn`].
#[derive(Default)]
pub(crate) struct SiteFailures {
    tallies: Tallies<&'static str>,
}

impl SiteFailures {
    /// Records that the task of `site` numbered `seq` failed on `worker`
    /// ([`WorkerInfo::worker`]), `alive` workers taking part. `Err` with the failures in a row
    /// and the workers they were on once the run must end.
    pub fn failed(
        &mut self,
        site: &'static str,
        worker: &str,
        alive: usize,
        seq: u64,
    ) -> Result<(), (u32, usize)> {
        let Some(streak) = self.tallies.record(site, worker, seq) else {
            return Ok(());
        };
        let everywhere = most_of(streak.workers.len(), alive) || alive <= 1;
        if streak.count >= MAX_ATTEMPTS && everywhere {
            return Err((streak.count, streak.workers.len()));
        }
        Ok(())
    }

    /// A good result of `site`, to its task numbered `seq`: its failures in a row start again
    /// from none if that task was sent after the first that failed ([`Tallies::answered`]).
    pub fn succeeded(&mut self, site: &'static str, seq: u64) {
        self.tallies.answered(&site, seq);
    }
}

/// Who does again the task on `partition` that failed on `worker`, having failed on `tried`:
/// a live worker that has not failed it and holds the partition, else one that has not
/// failed it, else any live one but `worker`, else `worker` itself if it lives; among those
/// with room in their queue first.
pub(crate) fn retry_target(
    workers: &[WorkerInfo],
    partition: u32,
    tried: &[usize],
    worker: usize,
) -> Option<usize> {
    let live = || (0..workers.len()).filter(|&w| workers[w].alive);
    // A worker that joined again (a row per join, under its name or a fresh one) is the host
    // it failed on, not a fresh one.
    let fresh = |w: &usize| {
        !tried
            .iter()
            .any(|&t| workers[t].worker() == workers[*w].worker())
    };
    let holds = |w: &usize| workers[*w].partitions.contains(&partition);
    let room = |w: &usize| workers[*w].in_flight < MAX_QUEUED_TASKS;
    // Within each rank, one with room for the task first: a full one holds it back a while.
    let ranked = |rank: &dyn Fn(&usize) -> bool| {
        live()
            .filter(|w| rank(w))
            .find(room)
            .or_else(|| live().find(|w| rank(w)))
    };
    ranked(&|w| fresh(w) && holds(w))
        .or_else(|| ranked(&fresh))
        .or_else(|| ranked(&|w| *w != worker))
        .or_else(|| workers[worker].alive.then_some(worker))
}

/// Who does again a hung task of `worker`: the live worker other than it that has answered a
/// task, if one with room for another ([`MAX_QUEUED_TASKS`]) has, else any with room; the one
/// with the fewest tasks in flight. One that answered none may never answer: an insider under
/// many names had the hung tasks of one name done again by the next.
pub(crate) fn hedge_target(workers: &[WorkerInfo], worker: usize) -> Option<usize> {
    (0..workers.len())
        .filter(|&w| w != worker && workers[w].alive && workers[w].in_flight < MAX_QUEUED_TASKS)
        .min_by_key(|&w| (workers[w].tasks_done == 0, workers[w].in_flight))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads() -> Arc<[VersionRead]> {
        Arc::from(Vec::new())
    }

    fn worker(name: &str, partitions: &[u32]) -> WorkerInfo {
        let mut info = WorkerInfo::new(name.into(), 1, 0.0);
        info.partitions = partitions.to_vec();
        info
    }

    #[test]
    fn a_simulated_straggler_is_judged_on_its_own_mean_up_to_its_delay() {
        let mut workers: Vec<WorkerInfo> = (0..3).map(|i| worker(&format!("w{i}"), &[])).collect();
        for (info, mean) in workers.iter_mut().zip([0.5, 0.5, 50.5]) {
            info.tasks_done = 10;
            info.mean_task_s = mean;
        }
        // Without a delay it gave, the driver counts w2's mean at most 8 x the median.
        assert_eq!(usual_task_s(&workers)(2), 4.0);
        // Sleeping 100 times its compute, as `intensity:100` has it, w2 is that slow.
        workers[2].delay_factor = 100.0;
        assert_eq!(usual_task_s(&workers)(2), 50.5);
        assert_eq!(usual_task_s(&workers)(0), 0.5);
    }

    #[test]
    fn sequence_numbers_are_unique_and_an_answer_is_taken_once_from_its_worker() {
        let mut book = TaskBook::default();
        let a = book.open(0, "grad", 3, 7, reads(), None);
        let b = book.open(1, "grad", 4, 7, reads(), None);
        assert_ne!(a, b);
        assert!(a > 0 && b > 0);
        assert!(!book.is_on(a, 1), "another worker's answer is not taken");
        assert!(book.is_on(a, 0));
        let task = book.close(a).expect("in flight");
        assert_eq!((task.worker(), task.task()), (0, "grad"));
        assert!(!book.is_on(a, 0), "a task is answered once");
        assert_eq!(book.len(), 1);
    }

    #[test]
    fn an_answer_carries_what_the_driver_recorded_at_dispatch() {
        let mut book = TaskBook::default();
        let read = VersionRead {
            name: "w",
            version: 5,
            pinned: true,
        };
        let seq = book.open(2, "grad", 9, 41, Arc::from(vec![read]), None);
        let arrived = book.close(seq).unwrap().arrived(seq, vec![1, 2].into());
        assert_eq!(
            (
                arrived.seq,
                arrived.worker,
                arrived.partition,
                arrived.clock
            ),
            (seq, 2, 9, 41),
            "staleness is counted from the update at dispatch"
        );
        assert_eq!(&*arrived.reads, &[read]);
        assert_eq!(arrived.body, ResultBody::from(vec![1, 2]));
    }

    #[test]
    fn the_oldest_task_in_flight_is_tracked_as_tasks_come_and_go() {
        let mut book = TaskBook::default();
        assert_eq!(book.oldest_clock(), None);
        let old = book.open(0, "grad", 0, 2, reads(), None);
        book.open(1, "grad", 1, 5, reads(), None);
        assert_eq!(book.oldest_clock(), Some(2));
        book.close(old);
        assert_eq!(book.oldest_clock(), Some(5));
        // Two at one update: the update stays the oldest until both are answered.
        let (a, b) = (
            book.open(2, "grad", 2, 3, reads(), None),
            book.open(3, "grad", 3, 3, reads(), None),
        );
        assert_eq!(book.oldest_clock(), Some(3));
        book.close(a);
        assert_eq!(book.oldest_clock(), Some(3));
        book.write_off(3);
        assert_eq!(
            book.oldest_clock(),
            Some(5),
            "written off: {b} is out of flight"
        );
        book.write_off(1);
        assert_eq!(book.oldest_clock(), None);
    }

    #[test]
    fn a_partition_is_busy_while_any_of_its_tasks_is_in_flight() {
        let mut book = TaskBook::default();
        let first = book.open(0, "grad", 7, 0, reads(), None);
        let twin = book.open(1, "grad", 7, 0, reads(), None);
        assert!(book.on_partition(7) && !book.on_partition(8));
        book.close(first);
        assert!(book.on_partition(7), "its twin is still out");
        assert!(book.close(first).is_none(), "closed once");
        assert!(book.on_partition(7), "closing twice frees nothing");
        book.close(twin);
        assert!(!book.on_partition(7));
        book.open(2, "grad", 7, 0, reads(), None);
        book.write_off(2);
        assert!(!book.on_partition(7), "a written-off task holds nothing");
    }

    #[test]
    fn a_lost_workers_tasks_are_written_off_once() {
        let mut book = TaskBook::default();
        let a = book.open(0, "grad", 0, 0, reads(), None);
        let b = book.open(1, "grad", 1, 0, reads(), None);
        let c = book.open(0, "grad", 2, 0, reads(), None);
        assert_eq!(book.write_off(0).len(), 2);
        assert!(!book.is_on(a, 0) && !book.is_on(c, 0));
        assert!(book.is_on(b, 1), "other workers' tasks stay in flight");
        let mut off = book.take_written_off();
        off.sort_unstable();
        assert_eq!(off, [a, c]);
        assert!(book.take_written_off().is_empty());
        book.write_off(1);
        book.forget_written_off();
        assert!(book.take_written_off().is_empty() && book.is_empty());
    }

    #[test]
    fn failures_are_handed_over_once_in_order_to_their_own_site() {
        let mut book = TaskBook::default();
        for (seq, task) in [(4, "grad"), (3, "other"), (2, "grad")] {
            book.record_failure(Failed {
                seq,
                worker: 0,
                task,
                message: "boom".into(),
            });
        }
        let seqs = |failed: Vec<Failed>| failed.iter().map(|f| f.seq).collect::<Vec<u64>>();
        assert_eq!(seqs(book.take_failures(|f| f.task == "grad")), [4, 2]);
        assert!(book.take_failures(|f| f.task == "grad").is_empty());
        assert_eq!(
            seqs(book.take_failures(|_| true)),
            [3],
            "another site's waited for it"
        );
    }

    #[test]
    fn partitions_go_round_robin() {
        let mut info = worker("w0", &[3, 5, 8]);
        let picks: Vec<u32> = (0..4)
            .filter_map(|_| next_partition(&mut info, false, |_| true))
            .collect();
        assert_eq!(picks, [3, 5, 8, 3], "busy only matters to exclusive sites");
        assert_eq!(
            next_partition(&mut worker("w1", &[]), false, |_| false),
            None
        );
    }

    #[test]
    fn exclusive_history_partitions_are_skipped_while_a_task_or_unapplied_result_holds_them() {
        let mut book = TaskBook::default();
        let mut info = worker("w0", &[0, 1, 2]);
        // Partition 0 has a task in flight (on another worker); 1 a result not yet applied.
        let seq = book.open(1, "saga", 0, 0, reads(), None);
        let unapplied = [1u32];
        let busy = |p: u32| book.on_partition(p) || unapplied.contains(&p);
        assert_eq!(next_partition(&mut info, true, busy), Some(2));
        assert_eq!(
            next_partition(&mut info, true, busy),
            Some(2),
            "the busy ones are passed over again"
        );
        book.close(seq);
        let busy = |p: u32| book.on_partition(p) || unapplied.contains(&p);
        assert_eq!(
            next_partition(&mut info, true, busy),
            Some(0),
            "answered: free"
        );
        let mut only = worker("w2", &[1]);
        assert_eq!(next_partition(&mut only, true, |p| p == 1), None);
    }

    #[test]
    fn a_task_hangs_past_the_floor_and_its_workers_usual_time() {
        let mut book = TaskBook::default();
        let slow = book.open(0, "grad", 0, 0, reads(), None);
        let fresh = book.open(1, "grad", 1, 0, reads(), None);
        let long = book.open(2, "grad", 2, 0, reads(), None);
        book.sent_before(slow, HANG_FLOOR + Duration::from_secs(1));
        book.sent_before(long, HANG_FLOOR + Duration::from_secs(1));
        let pending: HashMap<u64, usize> = [(slow, 0), (fresh, 1), (long, 2)].into();
        // Worker 2's tasks usually take 5 s: 8 times that is not over yet.
        let mean = |w: usize| if w == 2 { 5.0 } else { 0.01 };
        let now = Instant::now();
        assert_eq!(book.hung(&pending, mean, now), [(0, 0, slow)]);
        assert_eq!(book.hanging_tasks(mean, now), [(0, "grad", slow)]);
    }

    #[test]
    fn a_copy_of_a_hung_task_that_hangs_too_is_seen() {
        // Partition 0 hung on worker 0 and was sent to worker 1, where it hangs as well: the
        // old code looked no more at a partition once it was done again elsewhere, so a task
        // hanging on every worker hung the run for good.
        let mut book = TaskBook::default();
        let first = book.open(0, "grad", 0, 0, reads(), None);
        let copy = book.open(1, "grad", 0, 0, reads(), None);
        book.sent_before(first, HANG_FLOOR * 2);
        book.sent_before(copy, HANG_FLOOR + Duration::from_secs(1));
        let pending: HashMap<u64, usize> = [(first, 0), (copy, 0)].into();
        let mut hung = book.hung(&pending, |_| 0.01, Instant::now());
        hung.sort_unstable();
        assert_eq!(hung, [(0, 0, first), (0, 1, copy)]);
    }

    #[test]
    fn two_names_do_not_blame_a_task_for_a_run_of_more_workers() {
        // An insider holding the token under two names, taking tasks and answering none,
        // must not end a run of six: a task is blamed once it hung on most of the workers.
        let mut hung = WorkersOn::default();
        assert!(hung.add(0, "insider-a", 6, 0).is_ok());
        assert!(hung.add(0, "insider-b", 6, 0).is_ok(), "two of six");
        assert!(
            hung.add(0, "w2", 6, 0).is_ok(),
            "three of six: half, not most"
        );
        assert!(hung.add(0, "w3", 6, 0).is_err(), "four of six");
        // The same measure as a site's failures and the shapes' agreement.
        assert!(!most_of(1, 1) && most_of(2, 2) && most_of(2, 3) && !most_of(2, 4));
    }

    #[test]
    fn a_task_hung_on_two_workers_is_at_fault_and_one_worker_is_not_enough() {
        let mut hung = WorkersOn::default();
        assert!(hung.add(0, "w0", 2, 0).is_ok(), "one host: its own fault");
        assert!(hung.add(0, "w0", 2, 0).is_ok(), "the same host again");
        assert!(hung.add(1, "w1", 2, 0).is_ok(), "counted per partition");
        assert_eq!(
            hung.add(0, "w1", 2, 0),
            Err(vec!["w0".to_owned(), "w1".to_owned()])
        );
        let mut sites = WorkersOn::default();
        assert!(sites.add("grad", "w0", 2, 5).is_ok());
        sites.answered(&"grad", 6);
        assert!(
            sites.add("grad", "w1", 2, 7).is_ok(),
            "an answer elsewhere: counted again from none"
        );
        let message = hung_everywhere("partition 0", &["w0".into(), "w1".into()]);
        assert!(
            message.starts_with("partition 0 hung on w0 and w1 (") && message.contains("loop"),
            "{message}"
        );
    }

    #[test]
    fn only_an_answer_to_a_task_sent_after_the_first_wrong_one_counts_again_from_none() {
        // Tasks 3 and 4 were sent before the closure went wrong at task 5 and come back well,
        // late: they say nothing of it as it runs now. Counting again on them let each of
        // three workers be struck out in turn (the trust suite's NaN-everywhere run, loaded).
        let mut sites = WorkersOn::default();
        assert!(sites.add("grad", "w0", 3, 5).is_ok());
        sites.answered(&"grad", 3);
        assert!(sites.add("grad", "w0", 3, 6).is_ok(), "the same host again");
        sites.answered(&"grad", 4);
        assert_eq!(
            sites.add("grad", "w1", 3, 7),
            Err(vec!["w0".to_owned(), "w1".to_owned()]),
            "most of three, the early answers not counted"
        );
        // An answer to a task sent after the first wrong one: the task runs well somewhere.
        let mut sites = WorkersOn::default();
        assert!(sites.add("grad", "w0", 3, 5).is_ok());
        sites.answered(&"grad", 8);
        assert!(
            sites.add("grad", "w1", 3, 9).is_ok(),
            "counted again from none"
        );
    }

    #[test]
    fn a_good_answer_to_a_later_task_clears_what_is_seen_wrong_of_earlier_ones() {
        // An insider under four names took a task each and answered none; the honest worker
        // answered the tasks sent after theirs before the hang floor passed, when no tally was
        // open to clear. The four hangs, seen at once, were most of six: the run ended
        // blaming the task, which ran well all along.
        let mut hung = WorkersOn::default();
        hung.answered(&"grad", 9);
        for (seq, name) in [(2, "evil1"), (3, "evil2"), (4, "evil3"), (5, "evil4")] {
            assert!(hung.add("grad", name, 6, seq).is_ok(), "{name}");
        }
        // Tasks sent after the last good answer count as before.
        for (seq, name) in [(10, "w0"), (11, "w1"), (12, "w2")] {
            assert!(hung.add("grad", name, 6, seq).is_ok(), "{name}");
        }
        assert_eq!(
            hung.add("grad", "w3", 6, 13),
            Err(vec!["w0", "w1", "w2", "w3"]
                .into_iter()
                .map(String::from)
                .collect()),
            "the earlier ones never counted"
        );
        // Failures of a site, by the same rule.
        let mut failures = SiteFailures::default();
        failures.succeeded("grad", 20);
        for seq in 1..=2 * u64::from(MAX_ATTEMPTS) {
            let worker = if seq % 2 == 0 { "w0" } else { "w1" };
            assert!(
                failures.failed("grad", worker, 3, seq).is_ok(),
                "task {seq}"
            );
        }
        for seq in 21..20 + u64::from(MAX_ATTEMPTS) {
            assert!(failures.failed("grad", "w0", 3, seq).is_ok(), "task {seq}");
        }
        assert_eq!(failures.failed("grad", "w1", 3, 30), Err((MAX_ATTEMPTS, 2)));
    }

    #[test]
    fn a_mean_task_time_beyond_any_duration_makes_no_task_hung_and_no_panic() {
        let mut book = TaskBook::default();
        let seq = book.open(0, "grad", 0, 0, Arc::from(Vec::new()), None);
        book.sent_before(seq, HANG_FLOOR * 100);
        let pending: HashMap<u64, usize> = [(seq, 0)].into();
        assert!(book.hung(&pending, |_| 1e300, Instant::now()).is_empty());
    }

    #[test]
    fn time_the_driver_did_not_run_does_not_make_a_task_hung() {
        let mut book = TaskBook::default();
        let seq = book.open(0, "grad", 0, 0, reads(), None);
        book.sent_before(seq, HANG_FLOOR + Duration::from_secs(5));
        let pending: HashMap<u64, usize> = [(seq, 0)].into();
        let mean = |_: usize| 0.01;
        assert_eq!(book.hung(&pending, mean, Instant::now()), [(0, 0, seq)]);
        // The driver was stopped for 12 of those 15 s.
        book.discount_unwatched(Duration::from_secs(12));
        assert!(book.hung(&pending, mean, Instant::now()).is_empty());
        book.discount_unwatched(Duration::from_secs(3600));
        assert!(
            book.in_flight[&seq].sent_at <= Instant::now(),
            "never sent in the future"
        );
    }

    #[test]
    fn a_worker_that_joined_again_under_its_name_is_not_fresh_for_a_retry() {
        // w0 failed the task, left and joined again (row 1); w1 has not tried it.
        let mut workers = vec![worker("w0", &[]), worker("w0", &[]), worker("w1", &[])];
        workers[0].alive = false;
        assert_eq!(retry_target(&workers, 0, &[0], 0), Some(2));
        assert_eq!(distinct_workers(&workers, &[0, 1, 0]), 1, "one host");
    }

    #[test]
    fn a_worker_back_under_a_fresh_name_is_not_fresh_for_a_retry() {
        // w0 failed the task, was declared lost and joined again as w0.r…; w1 has not tried it.
        let back = crate::protocol::fresh_name("w0");
        let mut workers = vec![worker("w0", &[]), worker(&back, &[]), worker("w1", &[])];
        workers[0].alive = false;
        assert_eq!(retry_target(&workers, 0, &[0], 0), Some(2));
        assert_eq!(distinct_workers(&workers, &[0, 1]), 1, "one host");
        let mut failures = SiteFailures::default();
        for row in [0, 1, 0, 1] {
            let failed = failures.failed("grad", workers[row].worker(), 2, 0);
            assert!(failed.is_ok(), "one host failing is not failing everywhere");
        }
    }

    #[test]
    fn a_failed_task_goes_to_a_fresh_worker_holding_its_partition_until_attempts_run_out() {
        let mut workers = vec![worker("w0", &[0]), worker("w1", &[1]), worker("w2", &[0])];
        let mut attempts = Attempts::default();
        let tried = attempts
            .failed(0, 0, &workers)
            .expect("first retry")
            .to_vec();
        assert_eq!(retry_target(&workers, 0, &tried, 0), Some(2), "holds it");
        // A full queue only delays the task: a fresh holder is still first, one with room
        // before a full one.
        workers[2].in_flight = MAX_QUEUED_TASKS;
        assert_eq!(
            retry_target(&workers, 0, &tried, 0),
            Some(2),
            "full, but holds it"
        );
        workers.push(worker("w3", &[0]));
        assert_eq!(
            retry_target(&workers, 0, &tried, 0),
            Some(3),
            "holds it, with room"
        );
        workers.pop();
        workers[2].in_flight = 0;
        let tried = attempts.failed(0, 2, &workers).unwrap().to_vec();
        assert_eq!(retry_target(&workers, 0, &tried, 2), Some(1), "fresh");
        workers[1].alive = false;
        assert_eq!(
            retry_target(&workers, 0, &tried, 2),
            Some(0),
            "all tried: any live one but the last"
        );
        assert!(attempts.failed(0, 0, &workers).is_ok());
        let tried = attempts
            .failed(0, 2, &workers)
            .expect_err("the fourth failure, on two of three workers, ends it");
        assert_eq!(distinct_workers(&workers, tried), 2, "on two workers");
        assert!(
            attempts.failed(1, 1, &workers).is_ok(),
            "counted per partition"
        );
        workers[0].alive = false;
        workers[2].alive = false;
        assert_eq!(retry_target(&workers, 0, &[], 0), None);
    }

    #[test]
    fn a_hung_task_goes_to_the_least_busy_other_live_worker() {
        let mut workers = vec![worker("w0", &[0]), worker("w1", &[1]), worker("w2", &[2])];
        workers[1].in_flight = 2;
        workers[2].in_flight = 1;
        assert_eq!(hedge_target(&workers, 0), Some(2));
        workers[2].alive = false;
        assert_eq!(hedge_target(&workers, 0), Some(1));
        assert_eq!(hedge_target(&workers[..1], 0), None);
    }

    #[test]
    fn a_hung_task_goes_to_a_worker_that_answered_before_a_less_busy_one_that_did_not() {
        let mut workers = vec![worker("w0", &[0]), worker("x1", &[1]), worker("x2", &[2])];
        workers[0].in_flight = 3;
        workers[0].tasks_done = 4;
        workers[2].in_flight = 1;
        assert_eq!(hedge_target(&workers, 1), Some(0));
        // None has room: those that answered nothing are better than none.
        workers[0].in_flight = MAX_QUEUED_TASKS;
        assert_eq!(hedge_target(&workers, 1), Some(2));
    }

    #[test]
    fn a_site_failing_on_a_minority_of_many_workers_ends_nothing() {
        // Eight live workers, two of them (or one insider under two names) failing every
        // task at once: the other six still compute.
        let mut failures = SiteFailures::default();
        for _ in 0..10 {
            for name in ["x1", "x2"] {
                assert!(failures.failed("grad", name, 8, 0).is_ok(), "{name}");
            }
        }
        for name in ["w0", "w1"] {
            assert!(
                failures.failed("grad", name, 8, 0).is_ok(),
                "{name}: four of eight"
            );
        }
        assert_eq!(
            failures.failed("grad", "w2", 8, 0),
            Err((23, 5)),
            "five of eight"
        );
    }

    #[test]
    fn a_site_failing_in_a_row_on_two_workers_ends_the_run_and_a_good_result_resets_it() {
        let mut failures = SiteFailures::default();
        for seq in 1..MAX_ATTEMPTS {
            assert!(failures.failed("grad", "w0", 3, seq.into()).is_ok());
        }
        assert!(
            failures.failed("grad", "w0", 3, 10).is_ok(),
            "on one worker of three: the others take the work"
        );
        assert_eq!(
            failures.failed("grad", "w1", 3, 11),
            Err((MAX_ATTEMPTS + 1, 2))
        );
        failures.succeeded("grad", 12);
        assert!(
            failures.failed("grad", "w1", 3, 13).is_ok(),
            "counted again from none"
        );
        assert!(failures.failed("other", "w0", 3, 14).is_ok(), "per site");
        let mut alone = SiteFailures::default();
        for seq in 1..MAX_ATTEMPTS {
            assert!(alone.failed("grad", "w0", 1, seq.into()).is_ok());
        }
        assert_eq!(
            alone.failed("grad", "w0", 1, 10),
            Err((MAX_ATTEMPTS, 1)),
            "the last worker"
        );
    }

    #[test]
    fn only_a_good_result_of_a_task_sent_after_the_first_failed_one_resets_a_site() {
        // The closure panics from task 5 on; tasks 2 to 4, sent before, come back well, late,
        // between the failures: they say nothing of the site as it runs now. Counting again on
        // them let the fast workers be struck out in turn and the run end with none left.
        let mut failures = SiteFailures::default();
        let mut late = 2..5;
        for seq in 5..4 + u64::from(MAX_ATTEMPTS) {
            let worker = if seq % 2 == 0 { "w0" } else { "w1" };
            assert!(
                failures.failed("grad", worker, 3, seq).is_ok(),
                "task {seq}"
            );
            failures.succeeded("grad", late.next().unwrap_or(1));
        }
        let last = 4 + u64::from(MAX_ATTEMPTS);
        assert_eq!(
            failures.failed("grad", "w0", 3, last),
            Err((MAX_ATTEMPTS, 2)),
            "failed in a row on two of three, the late answers not counted"
        );
        // A good result of a task sent after the first failed one: the site runs well.
        let mut failures = SiteFailures::default();
        for (seq, worker) in [(5, "w0"), (6, "w1"), (7, "w0")] {
            assert!(
                failures.failed("grad", worker, 3, seq).is_ok(),
                "task {seq}"
            );
        }
        failures.succeeded("grad", 8);
        assert!(
            failures.failed("grad", "w1", 3, 9).is_ok(),
            "counted again from none"
        );
    }
}
