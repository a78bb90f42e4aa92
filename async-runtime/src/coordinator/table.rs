//! The worker table: what the driver knows of each worker. Barrier predicates read it to decide
//! who gets the next task; the run report is drawn from it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::transport::SessionId;

/// One worker, as the driver sees it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerInfo {
    /// Stable name, also the routing identity (`w0`, `w1`, ...). A worker that joins again
    /// under its name (started with `--reconnect`, after a cut) gets a row of its own: the
    /// earlier rows under that name are its departed incarnations.
    pub name: String,
    /// Which join under [`name`](WorkerInfo::name) this row is: 0 for the first, 1 for the
    /// first time it joined again under that name, and so on.
    pub incarnation: u32,
    /// OS process id the worker reported.
    pub pid: u32,
    /// The address its connection came from, as the driver's transport saw it (an IPv6 one
    /// as its /64, `fd00:1::/64`), never what the worker said: the host a straggling or
    /// excluded worker runs on. `None` when the transport no longer knew it at admission.
    pub from: Option<String>,
    /// Still taking part in the run.
    pub alive: bool,
    /// Tasks sent and not yet answered.
    pub in_flight: usize,
    /// Results received and not yet handed to the algorithm. They count against the
    /// worker's credit, so a worker's results are never more than a round old.
    pub unconsumed: usize,
    /// Tasks it may hold at once, in flight or unconsumed (the run's prefetch setting):
    /// with 2, it is sent its next task while it computes one.
    pub credit: usize,
    /// Tasks completed: results received for tasks in flight on it, counted (with their times)
    /// on arrival, before the result's own checks, so these include its `bad_results`.
    pub tasks_done: u64,
    /// Staleness of its last accepted or dropped result (updates applied since its version).
    pub last_staleness: u64,
    /// Mean seconds per task as the worker measured it (computation plus simulated delay).
    pub mean_task_s: f64,
    /// Mean seconds of computation per task, without the simulated delay (wall clock).
    pub mean_compute_s: f64,
    /// Mean CPU seconds per task its computing thread used: well below
    /// [`mean_compute_s`](WorkerInfo::mean_compute_s) when it shares its core with other work
    /// (more workers than cores, a busy host).
    pub mean_cpu_s: f64,
    /// Mean seconds per task on the network: from the task's dispatch to its result's
    /// arrival, less the time the worker held it (from the order's receipt to the result's
    /// sending, as it reported, believed within that round trip). A task waiting in the
    /// worker's queue behind another (prefetch) counts as held, not as network. About 0 on
    /// the loopback; twice the one-way latency on a slow link, where
    /// [`mean_task_s`](WorkerInfo::mean_task_s) stays small while the worker sits idle.
    pub mean_network_s: f64,
    /// Seconds of training it spent holding no task, waiting for the driver to give it
    /// work: counted on the run's training clock from the start of training, or from its
    /// admission when later, so its joining, its data's delivery and the other pauses of
    /// that clock are not waiting (they are in [`startup_s`](WorkerInfo::startup_s)), and
    /// it is never more than the run's `elapsed_s`.
    pub wait_s: f64,
    /// Seconds from its admission to its first task (wall clock): its start-up, the
    /// delivery of its data and the wait for the run's first broadcast. `None` while it got
    /// no task.
    pub startup_s: Option<f64>,
    /// Bytes the driver sent it.
    pub bytes_out: u64,
    /// Bytes the driver received from it.
    pub bytes_in: u64,
    /// Simulated straggler factor it was given.
    pub delay_factor: f64,
    /// Seconds of simulated straggler delay it slept, as its results reported.
    pub delay_s: f64,
    /// Partitions it owns.
    pub partitions: Vec<u32>,
    /// Tasks it reported failed.
    pub failures: u64,
    /// Results of it that failed the driver's checks (dropped).
    pub bad_results: u64,
    /// Taken out of the run for failing or bad results, for hanging, or for data it could
    /// not load.
    pub excluded: bool,
    /// Excluded because it could not load a partition of the data file it was told to read:
    /// its host's copy or the file itself at fault, not its computing.
    pub unreadable_data: bool,
    /// Results whose time on the network is known: those in
    /// [`mean_network_s`](WorkerInfo::mean_network_s).
    #[serde(skip)]
    pub(crate) network_samples: u64,
    /// Failures since its last good result.
    #[serde(skip)]
    pub(crate) failure_streak: u32,
    /// Strikes for hung tasks since its last result (any result of a task in flight on it,
    /// one done again elsewhere and answered late included: it is answering).
    #[serde(skip)]
    pub(crate) hang_strikes: u32,
    /// Its session at the link (0: none yet): what the driver sends it is bound to that
    /// session, never sealed for a later one under the same name.
    #[serde(skip)]
    pub(crate) session: SessionId,
    /// The training second (the run's clock, [`Driver::elapsed_s`](crate::Driver::elapsed_s))
    /// since which it holds no task; `None` while it holds one.
    #[serde(skip)]
    pub(crate) idle_since: Option<f64>,
    /// When it was admitted: where its [`startup_s`](WorkerInfo::startup_s) counts from.
    #[serde(skip)]
    pub(crate) admitted: Instant,
    #[serde(skip)]
    pub(crate) next_partition: usize,
    #[serde(skip)]
    pub(crate) last_heard: Instant,
    /// When its last result came (admission until one does).
    #[serde(skip)]
    pub(crate) last_result: Instant,
    /// When it was last struck for a hung task: a worker is struck once per hang floor of
    /// silence, however often the driver looks.
    #[serde(skip)]
    pub(crate) last_struck: Option<Instant>,
    /// Its place in the order of departures, once it left the run.
    #[serde(skip)]
    pub(crate) departed: Option<u64>,
    /// Its connection closed: nothing more can come from its session.
    #[serde(skip)]
    pub(crate) gone: bool,
    /// The worker it is when not the one its name leads back to (see [`WorkerInfo::worker`]):
    /// set at admission.
    #[serde(skip)]
    pub(crate) stands_for: Option<String>,
    /// The slot of the run's count (`0..workers`) it fills, as one of the workers the run
    /// started with: its straggler factor is that slot's. `None` for a worker that joined
    /// after the start, or past the count and kept there.
    #[serde(skip)]
    pub(crate) count_slot: Option<usize>,
}

impl WorkerInfo {
    /// The worker this row is of: its name without the suffix of a join under a fresh name
    /// (`w1.r0a1b2c3d` is `w1`, back after the driver declared it lost), unless it joined
    /// while every worker of that name was in the run: then it is another worker that took
    /// the same name, told apart by its fresh one (as it was admitted). Counts and failure
    /// accounting tell workers apart by it; a name is only what the peer said, never a
    /// credential.
    pub fn worker(&self) -> &str {
        (self.stands_for.as_deref()).unwrap_or_else(|| crate::protocol::original_name(&self.name))
    }

    pub(crate) fn new(name: String, pid: u32, delay_factor: f64) -> WorkerInfo {
        let now = Instant::now();
        WorkerInfo {
            name,
            incarnation: 0,
            pid,
            from: None,
            alive: true,
            in_flight: 0,
            unconsumed: 0,
            credit: 1,
            tasks_done: 0,
            last_staleness: 0,
            mean_task_s: 0.0,
            mean_compute_s: 0.0,
            mean_cpu_s: 0.0,
            mean_network_s: 0.0,
            network_samples: 0,
            wait_s: 0.0,
            startup_s: None,
            bytes_out: 0,
            bytes_in: 0,
            delay_factor,
            delay_s: 0.0,
            partitions: Vec::new(),
            failures: 0,
            bad_results: 0,
            excluded: false,
            unreadable_data: false,
            failure_streak: 0,
            hang_strikes: 0,
            session: 0,
            // Idle from the training clock's reading at its admission, which the driver
            // sets (before the start, that reading stays put: no wait counts).
            idle_since: Some(0.0),
            admitted: now,
            next_partition: 0,
            last_heard: now,
            last_result: now,
            last_struck: None,
            departed: None,
            gone: false,
            stands_for: None,
            count_slot: None,
        }
    }

    /// Alive, owns data, and can take a task now: it holds fewer tasks than its
    /// [`credit`](WorkerInfo::credit), counting those in flight and its results not yet used.
    /// With a credit of 1 (no prefetch) that is: no task in flight, no result waiting.
    pub fn is_idle(&self) -> bool {
        self.alive && self.in_flight + self.unconsumed < self.credit && !self.partitions.is_empty()
    }

    /// One of its tasks in flight was answered (a result or a failure) at training second
    /// `now_s`: with none left in flight, its idle time counts from then.
    pub(crate) fn task_answered(&mut self, now_s: f64) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            self.idle_since = Some(now_s);
        }
    }

    /// Ends its idle time at training second `now_s`, adding it to
    /// [`wait_s`](WorkerInfo::wait_s). A pause of the clock while it was idle (data shipped)
    /// can set the clock back below its mark: that counts as no wait, never a negative one.
    pub(crate) fn stop_waiting(&mut self, now_s: f64) {
        if let Some(since) = self.idle_since.take() {
            self.wait_s += (now_s - since).max(0.0);
        }
    }

    /// Records a finished task: `compute_s` of computation (of which `cpu_s` on a core) and
    /// `delay_s` of simulated delay.
    pub(crate) fn record_task_time(&mut self, compute_s: f64, cpu_s: f64, delay_s: f64) {
        self.tasks_done += 1;
        self.last_result = Instant::now();
        let n = self.tasks_done as f64;
        self.mean_task_s += (compute_s + delay_s - self.mean_task_s) / n;
        self.mean_compute_s += (compute_s - self.mean_compute_s) / n;
        self.mean_cpu_s += (cpu_s - self.mean_cpu_s) / n;
    }

    /// Records the seconds a finished task spent on the network.
    pub(crate) fn record_network_time(&mut self, network_s: f64) {
        self.network_samples += 1;
        self.mean_network_s += (network_s - self.mean_network_s) / self.network_samples as f64;
    }
}

/// The lower median of `values` (the smaller middle one of an even count), if any: what the
/// driver judges the workers' usual times by, since a mean lets one worker's word move it.
/// Selected, not sorted: the slow-partitions model asks for it at every straggling task.
pub(crate) fn lower_median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.collect();
    if values.is_empty() {
        return None;
    }
    let middle = (values.len() - 1) / 2;
    Some(*values.select_nth_unstable_by(middle, f64::total_cmp).1)
}

/// Rows of departed workers the table keeps at least (and at least the run's `workers`);
/// beyond, the oldest departed rows make room for newcomers and are only counted.
pub(crate) const DEPARTED_ROWS_KEPT: usize = 64;

/// Rows of a worker's earlier incarnations (departed, under the name it joined again with) the
/// table keeps; beyond, the oldest make room for its next incarnation and are only counted,
/// so that a worker reconnecting in a loop neither grows the table nor pushes the rows of
/// other departed workers out.
pub(crate) const EARLIER_INCARNATIONS_KEPT: usize = 3;

/// Departed rows that made room for newer ones (workers', and earlier incarnations of workers
/// that joined again under their names): no longer listed, only counted, so that joins in a
/// loop cannot grow the table without bound. The sums cover every row dropped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ForgottenWorkers {
    /// Rows dropped: departed workers, and earlier incarnations of workers that joined again
    /// under their names.
    pub workers: u64,
    /// Of those, earlier incarnations of a worker still listed under its name.
    pub earlier_incarnations: u64,
    /// Of the others (workers no longer listed), the ones that completed at least one task.
    pub trained: u64,
    /// Tasks they completed.
    pub tasks_done: u64,
    /// Tasks they reported failed.
    pub failures: u64,
    /// Their results that failed the driver's checks.
    pub bad_results: u64,
    /// Rows of workers excluded because they could not load the data file
    /// ([`WorkerInfo::unreadable_data`]).
    pub unreadable_data: u64,
    /// Bytes the driver sent them.
    pub bytes_out: u64,
    /// Bytes the driver received from them.
    pub bytes_in: u64,
    /// Seconds they spent idle.
    pub wait_s: f64,
    /// Seconds of simulated straggler delay they slept.
    pub delay_s: f64,
}

impl ForgottenWorkers {
    /// Counts the dropped row of `worker`; `listed`: its name still has a row.
    fn add(&mut self, worker: &WorkerInfo, listed: bool) {
        self.workers += 1;
        self.earlier_incarnations += u64::from(listed);
        self.trained += u64::from(!listed && worker.tasks_done > 0);
        self.tasks_done += worker.tasks_done;
        self.failures += worker.failures;
        self.bad_results += worker.bad_results;
        self.unreadable_data += u64::from(worker.unreadable_data);
        self.bytes_out += worker.bytes_out;
        self.bytes_in += worker.bytes_in;
        self.wait_s += worker.wait_s;
        self.delay_s += worker.delay_s;
    }
}

/// The workers of the run, each at its index (its slot), one row per join: a worker that
/// joins again under its name gets a new row, its earlier ones stay as departed rows. Live
/// workers keep their rows; of the departed, the latest are kept and older ones give their
/// slots to newcomers (see [`WorkerTable::forgotten`]).
#[derive(Debug)]
pub struct WorkerTable {
    pub(crate) workers: Vec<WorkerInfo>,
    pub(crate) by_name: HashMap<String, usize>,
    pub(crate) clock: u64,
    pub(crate) oldest_in_flight: Option<u64>,
    /// Rows alive, kept at the transitions the table owns ([`WorkerTable::admit`],
    /// [`WorkerTable::departed`]): a step sized for the workers reads it at every update,
    /// which a scan of the rows would make grow with the joins.
    alive: usize,
    /// Departures so far: orders the departed rows by age.
    departures: u64,
    /// Departed rows kept before the oldest make room.
    keep_departed: usize,
    forgotten: ForgottenWorkers,
}

impl Default for WorkerTable {
    fn default() -> WorkerTable {
        WorkerTable::keeping(DEPARTED_ROWS_KEPT)
    }
}

impl WorkerTable {
    /// A table that keeps the rows of the latest `departed` departed workers at least.
    pub(crate) fn keeping(departed: usize) -> WorkerTable {
        WorkerTable {
            workers: Vec::new(),
            by_name: HashMap::new(),
            clock: 0,
            oldest_in_flight: None,
            alive: 0,
            departures: 0,
            keep_departed: departed,
            forgotten: ForgottenWorkers::default(),
        }
    }

    /// Every live worker and the latest departed ones (at least 64, or the run's count of
    /// workers), with at most 3 earlier incarnations of each name; older departed ones are
    /// counted in [`WorkerTable::forgotten`].
    pub fn all(&self) -> &[WorkerInfo] {
        &self.workers
    }

    /// Departed workers whose rows were dropped to make room, counted.
    pub fn forgotten(&self) -> &ForgottenWorkers {
        &self.forgotten
    }

    /// Joins admitted in the run, the rows and the forgotten: a worker that joined again under
    /// its name counts once per join.
    pub fn ever(&self) -> u64 {
        self.workers.len() as u64 + self.forgotten.workers
    }

    /// Workers still taking part: counted as they join and leave, not scanned for, so that
    /// reading it on every update costs nothing.
    pub fn alive(&self) -> usize {
        self.alive
    }

    /// Live workers that can take a task now (see [`WorkerInfo::is_idle`]).
    pub fn idle(&self) -> usize {
        self.workers.iter().filter(|w| w.is_idle()).count()
    }

    /// Live workers with a task in flight.
    pub fn busy(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.alive && w.in_flight > 0)
            .count()
    }

    /// Live workers holding any task: in flight, or answered with a result not yet handed to
    /// the algorithm. Unlike [`busy`](WorkerTable::busy) and [`idle`](WorkerTable::idle), it
    /// does not depend on the run's prefetch: 0 means every task sent has been used.
    pub fn holding(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.alive && w.in_flight + w.unconsumed > 0)
            .count()
    }

    /// Updates applied so far.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// How many updates old the oldest task in flight is (0 with none in flight).
    pub fn max_staleness_in_flight(&self) -> u64 {
        self.oldest_in_flight
            .map_or(0, |dispatched| self.clock - dispatched)
    }

    /// Counts every live worker as heard from now: after a pause of the driver itself, which
    /// left what they sent unread.
    pub(crate) fn heard_all_now(&mut self) {
        let now = Instant::now();
        for worker in self.workers.iter_mut().filter(|w| w.alive) {
            worker.last_heard = now;
        }
    }

    /// Leaves `unwatched`, time the driver did not run, out of each live worker's time
    /// without a result and since its last strike (see [`Driver::see_own_pause`]), up to
    /// `now`.
    ///
    /// [`Driver::see_own_pause`]: super::Driver::see_own_pause
    pub(crate) fn discount_unwatched(&mut self, unwatched: Duration, now: Instant) {
        for worker in self.workers.iter_mut().filter(|w| w.alive) {
            worker.last_result = (worker.last_result + unwatched).min(now);
            if let Some(struck) = &mut worker.last_struck {
                *struck = (*struck + unwatched).min(now);
            }
        }
    }

    /// The row of the worker named `name`: its latest incarnation's (the live one's, if it is
    /// in the run).
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The slot of the run's count of `count` workers that no live worker fills: the one the
    /// worker at row `stood_for` filled if that is free (a worker back, or its replacement,
    /// takes its own slot), else the lowest; `None` when every slot is filled.
    pub(crate) fn unfilled_count_slot(
        &self,
        count: usize,
        stood_for: Option<usize>,
    ) -> Option<usize> {
        let filled = |slot: usize| {
            self.workers
                .iter()
                .any(|w| w.alive && w.count_slot == Some(slot))
        };
        let own = stood_for.and_then(|row| self.workers[row].count_slot);
        own.filter(|&slot| slot < count && !filled(slot))
            .or_else(|| (0..count).find(|&slot| !filled(slot)))
    }

    /// Whether a join under `name` now is a worker back after serving: the latest row of the
    /// worker that name leads back to (its own name, or one of its fresh ones, `w1.r0a1b2c3d`
    /// for `w1`) returned a result the checks did not drop, was not excluded, and had left the
    /// run. A name is no credential: a peer claiming it gets this once per such session, as
    /// the join it is asked for starts the name's next session, which has served nothing yet.
    pub(crate) fn served_and_left(&self, name: &str) -> bool {
        let worker = crate::protocol::original_name(name);
        self.workers
            .iter()
            .filter(|w| w.worker() == worker)
            .max_by_key(|w| w.admitted)
            .is_some_and(|w| !w.alive && !w.excluded && w.tasks_done > w.bad_results)
    }

    /// Takes the worker at `index` out of the run: no longer alive, and the latest departed.
    /// The one place a row stops being alive, so that [`WorkerTable::alive`] stays counted.
    pub(crate) fn departed(&mut self, index: usize) {
        let worker = &mut self.workers[index];
        if worker.alive {
            worker.alive = false;
            self.alive -= 1;
        }
        self.departures += 1;
        worker.departed = Some(self.departures);
    }

    /// The slot a worker named `name` takes, and whether it is another row's (then counted in
    /// [`WorkerTable::forgotten`]). A departed row nothing refers to any more (as `free` says:
    /// no partition, task or result of it left) whose connection closed may make room: first
    /// the oldest of `name`'s own earlier incarnations past the
    /// [`EARLIER_INCARNATIONS_KEPT`] latest, then the oldest departed row past the kept ones;
    /// else a new row. A worker joining again under its name is never put in its earlier row
    /// while anything refers to it: what is booked to that row (results in hand, tasks
    /// written off) stays the earlier incarnation's.
    pub(crate) fn slot_for(&self, name: &str, free: impl Fn(usize) -> bool) -> (usize, bool) {
        let reusable = |i: usize| self.workers[i].gone && free(i);
        let mut earlier: Vec<(u64, usize)> = (0..self.workers.len())
            .filter(|&i| self.workers[i].name == name)
            .filter_map(|i| Some((self.workers[i].departed?, i)))
            .collect();
        earlier.sort_unstable();
        let past_kept = earlier.len().saturating_sub(EARLIER_INCARNATIONS_KEPT);
        if let Some(&(_, index)) = earlier[..past_kept].iter().find(|&&(_, i)| reusable(i)) {
            return (index, true);
        }
        let departed = self.workers.iter().filter(|w| w.departed.is_some()).count();
        if departed > self.keep_departed {
            let oldest = (0..self.workers.len())
                .filter(|&i| reusable(i))
                .filter_map(|i| Some((self.workers[i].departed?, i)))
                .min();
            if let Some((_, index)) = oldest {
                return (index, true);
            }
        }
        (self.workers.len(), false)
    }

    /// Puts `info` at `index`, from [`WorkerTable::slot_for`]: the row there, another's, is
    /// counted in [`WorkerTable::forgotten`]. Its name finds `info` from now on, also when a
    /// departed row under it (an earlier incarnation) stays. Under a fresh name, it is a
    /// worker of its name that left the run, back; with none, while those of its name are all
    /// in the run, another worker that took the same name ([`WorkerInfo::worker`]).
    pub(crate) fn admit(&mut self, index: usize, mut info: WorkerInfo) {
        info.stands_for = self.stands_for(&info.name);
        let name = info.name.clone();
        self.alive += usize::from(info.alive);
        if index == self.workers.len() {
            self.workers.push(info);
        } else {
            let old = std::mem::replace(&mut self.workers[index], info);
            self.alive -= usize::from(old.alive);
            let listed = self.workers.iter().any(|w| w.worker() == old.worker());
            self.forgotten.add(&old, listed);
            if old.name != name && self.by_name.get(&old.name) == Some(&index) {
                // Its name finds its latest row left, if one is.
                let latest = (0..self.workers.len())
                    .filter(|&i| self.workers[i].name == old.name)
                    .max_by_key(|&i| self.workers[i].incarnation);
                match latest {
                    Some(row) => self.by_name.insert(old.name, row),
                    None => self.by_name.remove(&old.name),
                };
            }
        }
        self.by_name.insert(name, index);
    }

    /// Which worker a newcomer under `name` is, when not the one its name leads back to: the
    /// workers of the name it was made from that have left the run (each row of theirs
    /// departed) are those it may be back as; with none of those, while some are in the run,
    /// it is a worker of its own, two started under one name.
    fn stands_for(&self, name: &str) -> Option<String> {
        let base = crate::protocol::original_name(name);
        if base == name {
            return None;
        }
        let mut workers: Vec<(&str, bool)> = Vec::new();
        for row in self.workers.iter() {
            if crate::protocol::original_name(row.worker()) != base {
                continue;
            }
            match workers.iter_mut().find(|(w, _)| *w == row.worker()) {
                Some((_, alive)) => *alive |= row.alive,
                None => workers.push((row.worker(), row.alive)),
            }
        }
        match workers.iter().find(|(_, alive)| !alive) {
            Some((left, _)) => (*left != base).then(|| (*left).to_owned()),
            None if workers.is_empty() => None,
            None => Some(name.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_median_is_the_smaller_middle_value_in_sorted_order() {
        assert_eq!(lower_median(std::iter::empty()), None);
        let cases: [&[f64]; 6] = [
            &[3.0],
            &[2.0, 1.0],
            &[0.5, 0.1, 0.3, 0.2],
            &[4.0, 4.0, 1.0, 4.0, 2.0],
            &[0.0, -0.0, 0.0, -0.0],
            &[9.0, 1e-9, 30.0, 0.01, 0.01, 7.5, 2.0],
        ];
        for values in cases {
            let mut sorted = values.to_vec();
            sorted.sort_unstable_by(f64::total_cmp);
            let expected = sorted[(sorted.len() - 1) / 2];
            let median = lower_median(values.iter().copied()).unwrap();
            assert_eq!(median.to_bits(), expected.to_bits(), "{values:?}");
        }
    }

    #[test]
    fn a_worker_is_idle_while_it_holds_less_than_its_credit() {
        let mut worker = WorkerInfo::new("w0".into(), 1, 0.0);
        worker.partitions.push(0);
        assert!(worker.is_idle());
        worker.in_flight = 1;
        assert!(!worker.is_idle(), "credit 1: one task in flight fills it");
        worker.credit = 2;
        assert!(worker.is_idle(), "credit 2: room for the next task");
        worker.unconsumed = 1;
        assert!(
            !worker.is_idle(),
            "an unused result counts against the credit"
        );
        worker.in_flight = 0;
        worker.alive = false;
        assert!(!worker.is_idle());
    }

    #[test]
    fn the_oldest_departed_rows_past_the_kept_ones_make_room_and_are_counted() {
        let mut table = WorkerTable::keeping(2);
        let join = |table: &mut WorkerTable, name: &str| {
            let (index, _) = table.slot_for(name, |_| true);
            table.admit(index, WorkerInfo::new(name.into(), 1, 0.0));
            index
        };
        for w in 0..4 {
            join(&mut table, &format!("w{w}"));
        }
        for w in [2, 0, 1] {
            table.workers[w].tasks_done = 1;
            table.departed(w);
        }
        table.workers[2].gone = true;
        table.workers[1].gone = true;
        // Three departed, two kept: the oldest whose connection closed (w2) makes room; w0's
        // connection is open (stopped, it may speak again): kept.
        assert_eq!(table.slot_for("x", |_| true), (2, true));
        assert_eq!(
            table.slot_for("w0", |_| true),
            (2, true),
            "joining again, w0 takes a row of its own, not its earlier one"
        );
        assert_eq!(
            table.slot_for("x", |i| i != 2),
            (1, true),
            "w2 still referred to: w1"
        );
        assert_eq!(table.slot_for("x", |i| i == 0), (4, false), "none free");
        assert_eq!(join(&mut table, "x"), 2);
        assert_eq!(table.index_of("w2"), None);
        assert_eq!(table.index_of("x"), Some(2));
        assert_eq!(
            (table.forgotten().workers, table.forgotten().trained),
            (1, 1)
        );
        assert_eq!(table.ever(), 5);
        // Two departed now: kept.
        assert_eq!(table.slot_for("y", |_| true), (4, false));
    }

    #[test]
    fn two_workers_started_under_one_name_are_two_workers() {
        let mut table = WorkerTable::keeping(64);
        let join = |table: &mut WorkerTable, name: &str| {
            let (index, _) = table.slot_for(name, |_| true);
            table.admit(index, WorkerInfo::new(name.into(), 1, 0.0));
            index
        };
        let leave = |table: &mut WorkerTable, index: usize| {
            table.departed(index);
        };
        let first = join(&mut table, "same");
        // The name taken by a live worker: the second joins under a fresh one.
        let second = join(&mut table, "same.r0000aaaa");
        assert_eq!(table.workers[first].worker(), "same");
        assert_eq!(table.workers[second].worker(), "same.r0000aaaa");
        // Each lost and back under a fresh name is the worker it was.
        leave(&mut table, second);
        let back = join(&mut table, "same.r0000bbbb");
        assert_eq!(table.workers[back].worker(), "same.r0000aaaa");
        leave(&mut table, first);
        let back = join(&mut table, "same.r0000cccc");
        assert_eq!(table.workers[back].worker(), "same");
        let workers: std::collections::HashSet<&str> =
            table.all().iter().map(WorkerInfo::worker).collect();
        assert_eq!(workers.len(), 2, "{workers:?}");
        // A worker whose first join was under a fresh name (its own still held) is its name's.
        let mut table = WorkerTable::keeping(64);
        let only = join(&mut table, "w1.r0000dddd");
        assert_eq!(table.workers[only].worker(), "w1");
    }

    #[test]
    fn a_worker_joining_again_under_its_name_gets_a_row_per_join_up_to_the_kept_ones() {
        let mut table = WorkerTable::keeping(64);
        let join = |table: &mut WorkerTable, name: &str, incarnation: u32| {
            let (index, _) = table.slot_for(name, |_| true);
            let mut info = WorkerInfo::new(name.into(), incarnation, 0.0);
            info.incarnation = incarnation;
            table.admit(index, info);
            index
        };
        let leave = |table: &mut WorkerTable, index: usize| {
            table.workers[index].gone = true;
            table.workers[index].tasks_done = 1;
            table.departed(index);
        };
        for name in ["w0", "w1", "w2"] {
            join(&mut table, name, 0);
        }
        leave(&mut table, 2);
        // w1 reconnects in a loop: each join a row, its 3 latest earlier ones kept.
        let mut live = 1;
        for incarnation in 1..=10 {
            leave(&mut table, live);
            live = join(&mut table, "w1", incarnation);
            assert_eq!(table.index_of("w1"), Some(live));
        }
        let w1: Vec<(u32, bool)> = table
            .all()
            .iter()
            .filter(|w| w.name == "w1")
            .map(|w| (w.incarnation, w.alive))
            .collect();
        assert_eq!(w1.len(), 1 + EARLIER_INCARNATIONS_KEPT, "{w1:?}");
        assert!(w1.contains(&(10, true)) && w1.contains(&(9, false)) && w1.contains(&(7, false)));
        assert_eq!(table.all().len(), 2 + w1.len(), "w2's row stays");
        let forgotten = table.forgotten();
        assert_eq!(
            (
                forgotten.workers,
                forgotten.earlier_incarnations,
                forgotten.trained
            ),
            (7, 7, 0),
            "w1 is listed: its forgotten rows are no workers of their own"
        );
        assert_eq!(forgotten.tasks_done, 7);
        assert_eq!(table.ever(), 3 + 10);
        // A newcomer taking the latest row of a name moves the name to its latest row left;
        // the last row of a name taken, the name is forgotten.
        let mut table = WorkerTable::keeping(1);
        join(&mut table, "a", 0);
        leave(&mut table, 0);
        assert_eq!(join(&mut table, "a", 1), 1);
        leave(&mut table, 1);
        assert_eq!(
            table.slot_for("b", |i| i != 0),
            (1, true),
            "a's row 0 in use"
        );
        table.admit(1, WorkerInfo::new("b".into(), 0, 0.0));
        assert_eq!(
            (table.index_of("a"), table.index_of("b")),
            (Some(0), Some(1))
        );
        let forgotten = table.forgotten();
        assert_eq!((forgotten.earlier_incarnations, forgotten.trained), (1, 0));
        leave(&mut table, 1);
        assert_eq!(join(&mut table, "c", 0), 0);
        assert_eq!(table.index_of("a"), None);
        assert_eq!(table.forgotten().trained, 1, "a, no longer listed, trained");
    }

    #[test]
    fn the_live_count_is_that_of_a_scan_after_every_transition() {
        let scanned = |table: &WorkerTable| table.all().iter().filter(|w| w.alive).count();
        // Keeping two departed rows: a third lets a newcomer take the oldest.
        let mut table = WorkerTable::keeping(2);
        let join = |table: &mut WorkerTable, name: &str, count: usize| {
            let (index, _) = table.slot_for(name, |_| true);
            let mut info = WorkerInfo::new(name.into(), 1, 0.0);
            info.count_slot = table.unfilled_count_slot(count, None);
            table.admit(index, info);
            assert_eq!(table.alive(), scanned(table), "{name} joined");
            index
        };
        let leave = |table: &mut WorkerTable, index: usize| {
            table.departed(index);
            table.workers[index].gone = true;
            assert_eq!(table.alive(), scanned(table), "row {index} left");
        };
        let (w0, w1) = (join(&mut table, "w0", 2), join(&mut table, "w1", 2));
        let spare = join(&mut table, "w2", 2);
        assert_eq!(table.workers[spare].count_slot, None, "past the count");
        assert_eq!(table.alive(), 3);
        leave(&mut table, w1);
        // Told again that it left (lost, then excluded): counted once.
        leave(&mut table, w1);
        assert_eq!(table.alive(), 2);
        // Back under its name, in a row of its own; under a fresh name once w0 left.
        let back = join(&mut table, "w1", 2);
        assert_ne!(back, w1);
        leave(&mut table, w0);
        let fresh = join(&mut table, "w0.r0000aaaa", 2);
        leave(&mut table, spare);
        // Three departed rows where two are kept: the oldest gives its row to a newcomer.
        let retired = join(&mut table, "x", 2);
        assert_eq!(retired, w1, "the oldest departed row made room");
        assert_eq!(table.forgotten().workers, 1);
        assert_eq!(table.alive(), 3);
        // A live row replaced (admission only reuses departed ones, but the count holds).
        table.admit(fresh, WorkerInfo::new("y".into(), 1, 0.0));
        assert_eq!(table.alive(), scanned(&table));
        for index in [back, retired, fresh] {
            leave(&mut table, index);
        }
        assert_eq!(table.alive(), 0);
    }

    #[test]
    fn compute_and_task_times_are_averaged_apart() {
        let mut worker = WorkerInfo::new("w0".into(), 1, 2.0);
        worker.record_task_time(1.0, 0.5, 2.0);
        worker.record_task_time(3.0, 1.5, 6.0);
        assert_eq!(worker.mean_compute_s, 2.0);
        assert_eq!(worker.mean_cpu_s, 1.0);
        assert_eq!(worker.mean_task_s, 6.0);
        assert_eq!(worker.tasks_done, 2);
    }
}
