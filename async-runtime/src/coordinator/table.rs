//! The worker table: what the driver knows of each worker. Barrier predicates read it to decide
//! who gets the next task; the run report is drawn from it.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

/// One worker, as the driver sees it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerInfo {
    /// Stable name, also the routing identity (`w0`, `w1`, ...).
    pub name: String,
    /// OS process id the worker reported.
    pub pid: u32,
    /// Still taking part in the run.
    pub alive: bool,
    /// Tasks sent and not yet answered.
    pub in_flight: usize,
    /// Results received and not yet handed to the algorithm. A worker gets new work only
    /// once its results are used, so its results are never more than one round old.
    pub unconsumed: usize,
    /// Tasks completed.
    pub tasks_done: u64,
    /// Staleness of its last accepted or dropped result (updates applied since its version).
    pub last_staleness: u64,
    /// Mean seconds per task as the worker measured it (computation plus simulated delay).
    pub mean_task_s: f64,
    /// Seconds it spent idle, waiting for the driver to give it work.
    pub wait_s: f64,
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
    /// Taken out of the run for failing or bad results.
    pub excluded: bool,
    /// Failures since its last good result.
    #[serde(skip)]
    pub(crate) failure_streak: u32,
    /// Told it was declared lost.
    #[serde(skip)]
    pub(crate) told_lost: bool,
    #[serde(skip)]
    pub(crate) idle_since: Option<Instant>,
    #[serde(skip)]
    pub(crate) next_partition: usize,
    #[serde(skip)]
    pub(crate) held: HashMap<u16, Vec<u64>>,
    #[serde(skip)]
    pub(crate) last_heard: Instant,
}

impl WorkerInfo {
    pub(crate) fn new(name: String, pid: u32, delay_factor: f64) -> WorkerInfo {
        let now = Instant::now();
        WorkerInfo {
            name,
            pid,
            alive: true,
            in_flight: 0,
            unconsumed: 0,
            tasks_done: 0,
            last_staleness: 0,
            mean_task_s: 0.0,
            wait_s: 0.0,
            bytes_out: 0,
            bytes_in: 0,
            delay_factor,
            delay_s: 0.0,
            partitions: Vec::new(),
            failures: 0,
            bad_results: 0,
            excluded: false,
            failure_streak: 0,
            told_lost: false,
            idle_since: Some(now),
            next_partition: 0,
            held: HashMap::new(),
            last_heard: now,
        }
    }

    /// Alive, owns data, has no task in flight and no result waiting to be used.
    pub fn is_idle(&self) -> bool {
        self.alive && self.in_flight == 0 && self.unconsumed == 0 && !self.partitions.is_empty()
    }

    /// Whether the worker holds `version` of broadcast `slot`.
    pub(crate) fn holds(&self, slot: u16, version: u64) -> bool {
        self.held.get(&slot).is_some_and(|v| v.contains(&version))
    }

    /// Records that the worker now holds `version`, forgetting what its cache evicts.
    pub(crate) fn remember(&mut self, slot: u16, version: u64, capacity: usize) {
        let held = self.held.entry(slot).or_default();
        held.push(version);
        if held.len() > capacity {
            held.remove(0);
        }
    }

    pub(crate) fn record_task_time(&mut self, seconds: f64) {
        self.tasks_done += 1;
        self.mean_task_s += (seconds - self.mean_task_s) / self.tasks_done as f64;
    }
}

/// All workers of the run, indexed by admission order.
#[derive(Debug, Default)]
pub struct WorkerTable {
    pub(crate) workers: Vec<WorkerInfo>,
    pub(crate) by_name: HashMap<String, usize>,
    pub(crate) clock: u64,
    pub(crate) oldest_in_flight: Option<u64>,
}

impl WorkerTable {
    /// Every worker ever admitted, dead ones included.
    pub fn all(&self) -> &[WorkerInfo] {
        &self.workers
    }

    /// Workers still taking part.
    pub fn alive(&self) -> usize {
        self.workers.iter().filter(|w| w.alive).count()
    }

    /// Live workers with no task in flight.
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

    /// Updates applied so far.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// How many updates old the oldest task in flight is (0 with none in flight).
    pub fn max_staleness_in_flight(&self) -> u64 {
        self.oldest_in_flight
            .map_or(0, |dispatched| self.clock - dispatched)
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn admit(&mut self, info: WorkerInfo) -> usize {
        if let Some(&index) = self.by_name.get(&info.name) {
            self.workers[index] = info;
            return index;
        }
        let index = self.workers.len();
        self.by_name.insert(info.name.clone(), index);
        self.workers.push(info);
        index
    }
}
