//! Everything that goes out: partitions once (or the orders to read them), broadcast versions a worker lacks, task orders.

use std::sync::Arc;
use std::time::Instant;

use serde_bytes::ByteBuf;

use super::driver::Driver;
use super::placement::{self, shipping_key, PartMeta, PartSource, Shipped};
use super::result_meta::VersionRead;
use super::straggling;
use super::table::{WorkerInfo, WorkerTable};
use super::tasks;
use crate::broadcaster::delta::{self, VersionBody};
use crate::broadcaster::Shipment;
use crate::data::{partition_dataset, sample_indices, Dataset, RowRanges};
use crate::error::RuntimeError;
use crate::history::History;
use crate::protocol::{Sample, ShippedVersion, TaskOrder, ToWorker};
use crate::seconds_text::seconds_text;

impl Driver {
    /// Partitions `data` and sends each live worker its partitions, once per dataset.
    pub(crate) fn ensure_shipped(&mut self, data: &Dataset) -> Result<(), RuntimeError> {
        let key = shipping_key(data);
        if self.placement.is_shipped(key) {
            return Ok(());
        }
        // Shipping waits until every worker holds its partitions (`await_loading`), and
        // nothing trains meanwhile: the wait is not counted as training time.
        self.pause_for(|driver| driver.ship(data, key))
    }

    fn ship(&mut self, data: &Dataset, key: (usize, usize, usize)) -> Result<(), RuntimeError> {
        let live: Vec<usize> = (0..self.table.workers.len())
            .filter(|&i| self.table.workers[i].alive)
            .collect();
        if live.is_empty() {
            return Err(self.no_workers());
        }
        let parts = live.len() * self.config.partitions_per_worker;
        if parts > data.full_rows() {
            return Err(RuntimeError::Config(format!(
                "{parts} partitions for {} rows: use fewer workers",
                data.full_rows()
            )));
        }
        let seed = self.config.seed;
        let metas = match data.origin() {
            // Workers read their own splits: nothing of the rows passes through the driver.
            Some(file) => file
                .orders(parts, seed)?
                .into_iter()
                .map(|(rows, order)| PartMeta {
                    seed,
                    rows,
                    source: PartSource::Split(Arc::new(order)),
                })
                .collect(),
            None => {
                let mut metas = Vec::with_capacity(parts);
                for partition in partition_dataset(data, parts, seed)? {
                    let encoded = postcard::to_allocvec(&partition).map_err(|e| {
                        RuntimeError::Transport(format!("cannot encode a partition: {e}"))
                    })?;
                    metas.push(PartMeta {
                        seed,
                        rows: RowRanges::new(partition.global_ids().iter().map(|&r| r..r + 1)),
                        source: PartSource::Encoded(Arc::new(encoded)),
                    });
                }
                metas
            }
        };
        // The earlier dataset's partitions are freed before the new ones arrive: those whose
        // ids the new one does not reuse would otherwise stay in the workers' memory.
        for &worker in &live {
            for partition in std::mem::take(&mut self.table.workers[worker].partitions) {
                self.send(worker, &ToWorker::Release { partition });
            }
        }
        self.placement.ship(Shipped {
            key,
            owners: (0..parts).map(|i| live[i % live.len()]).collect(),
            parts: metas,
        });
        // Chunk by chunk across the workers, so that each hears from the driver all along
        // instead of waiting behind the others' partitions.
        let mut queues: Vec<(usize, std::collections::VecDeque<ToWorker>)> = (0..parts)
            .map(|i| {
                let worker = live[i % live.len()];
                (worker, self.hand_over(worker, i as u32).into())
            })
            .collect();
        while !queues.is_empty() {
            for (worker, queue) in &mut queues {
                if let Some(message) = queue.pop_front() {
                    let len = self.send(*worker, &message);
                    self.stats.data_bytes += len as u64;
                }
            }
            queues.retain(|(_, queue)| !queue.is_empty());
        }
        self.await_loading()?;
        // The workers read the text the driver scanned: rows appended to the file since
        // are in no partition, which is said rather than left unnoticed.
        if let Some(grown) = data.origin().and_then(|file| file.growth()) {
            tracing::warn!("{grown}");
        }
        Ok(())
    }

    /// Waits until the workers hold the partitions they were sent or told to read, so that
    /// no task waits behind a read or a decode and is taken for hung.
    /// A worker lost meanwhile hands its reads to its heirs.
    fn await_loading(&mut self) -> Result<(), RuntimeError> {
        loop {
            let workers = &self.table.workers;
            if !self.placement.still_loading(|worker| workers[worker].alive) {
                return Ok(());
            }
            // Never before the liveness timeout: a worker stopped meanwhile (silent) is lost,
            // and joins again; only one that heartbeats on without a word is excluded.
            let floor = self.config.liveness_timeout();
            let overdue =
                self.placement
                    .overdue(|worker| workers[worker].alive, Instant::now(), floor);
            for (worker, partition, taken, slowest) in overdue {
                self.placement.give_up_load(worker, partition);
                if self.table.workers[worker].alive {
                    let message = format!(
                        "it said nothing of it in {:.0} s, where more than half of the \
                         loads ended within {} s",
                        taken.as_secs_f64(),
                        seconds_text(slowest.as_secs_f64())
                    );
                    self.cannot_load(worker, partition, message);
                }
            }
            if let Some(error) = self.failure.take() {
                return Err(error);
            }
            self.pump()?;
            if let Some(error) = self.failure.take() {
                return Err(error);
            }
        }
    }

    /// Gives `worker` a partition of the shipped dataset: the encoded partition in chunks
    /// that fit a frame, or the order to read it itself. It runs tasks on it from now on.
    pub(crate) fn give_partition(&mut self, worker: usize, partition: u32) {
        for message in self.hand_over(worker, partition) {
            let len = self.send(worker, &message);
            self.stats.data_bytes += len as u64;
        }
    }

    /// The messages that give `worker` a partition, noted as loading until it reports it
    /// holds it, and as its from now on.
    fn hand_over(&mut self, worker: usize, partition: u32) -> Vec<ToWorker> {
        let chunk = chunk_bytes(self.config.max_frame);
        let messages = self.placement.hand_over(worker, partition, chunk);
        if !messages.is_empty() {
            self.table.workers[worker].partitions.push(partition);
        }
        messages
    }

    /// Moves the partitions of a lost worker to the live workers that would come back to their
    /// partitions soonest ([`placement::heir`]), so that every partition keeps contributing.
    /// They are re-sent from the driver's copy, or the heir reads them from the shared file
    /// itself. Each move is logged if `said`.
    pub(crate) fn rehome_partitions(&mut self, lost: usize, said: bool) {
        let orphans = std::mem::take(&mut self.table.workers[lost].partitions);
        for partition in orphans {
            if !self.move_to_heir(partition, lost, said) {
                return;
            }
        }
    }

    /// Partitions no live worker holds, once no replacement is on its way to take them (a
    /// replacement that died before it joined, or none left to start): moved to the live
    /// workers as a lost worker's are, or no task would ever be sent on them again.
    pub(crate) fn adopt_orphans(&mut self) {
        if self.table.alive() == 0 || self.local.awaiting(self.config.join_timeout) {
            return;
        }
        for partition in self.unheld_partitions() {
            let owner = self.placement.owners()[partition as usize];
            if !self.move_to_heir(partition, owner, true) {
                return;
            }
        }
    }

    /// Moves `partition` from worker `from` (lost) to the live worker that would come back to
    /// its partitions soonest ([`placement::heir`]); whether there was one. Logged if `said`.
    fn move_to_heir(&mut self, partition: u32, from: usize, said: bool) -> bool {
        let Some(heir) = placement::heir(&self.table.workers) else {
            return false;
        };
        self.placement.rehome(partition, from, heir);
        if !self.table.workers[heir].partitions.contains(&partition) {
            self.give_partition(heir, partition);
        }
        self.stats.moved_partitions += 1;
        if said {
            tracing::info!(
                partition,
                from = %self.table.workers[from].name,
                to = %self.table.workers[heir].name,
                "moved a partition"
            );
        }
        true
    }

    /// The partitions of the shipped dataset that no live worker holds.
    fn unheld_partitions(&self) -> Vec<u32> {
        let mut held = vec![false; self.placement.partitions()];
        for worker in self.table.workers.iter().filter(|w| w.alive) {
            for &partition in &worker.partitions {
                if let Some(slot) = held.get_mut(partition as usize) {
                    *slot = true;
                }
            }
        }
        (0..held.len() as u32)
            .filter(|&p| !held[p as usize])
            .collect()
    }

    /// A worker that joins a running run gets a partition, so that it takes tasks at once
    /// (asynchronous reduces dispatch to any worker holding data). Partitions no live worker
    /// holds (all their holders were lost) come first and become its own: one if other
    /// replacements are on their way, all of them otherwise. Else it takes over the last
    /// partition of the worker holding several that is slowest to come back to each (the heir
    /// of a lost one, say: a replacement takes back its predecessor's work), which is told to
    /// free it, or, when every
    /// worker holds one, gets a copy of the next in turn.
    pub(crate) fn equip_late_joiner(&mut self, worker: usize) {
        let parts = self.placement.partitions();
        if parts == 0 {
            return;
        }
        self.stats.late_joiners += 1;
        let mut orphans = self.unheld_partitions();
        if self.local.awaiting(self.config.join_timeout) {
            orphans.truncate(1);
        }
        if orphans.is_empty() {
            let donor = placement::donor(&self.table.workers);
            let taken = donor.and_then(|d| self.table.workers[d].partitions.pop().map(|p| (d, p)));
            let partition = match taken {
                Some((donor, partition)) => {
                    self.placement.rehome(partition, donor, worker);
                    // Its tasks go to the newcomer from now on: the giver frees its copy
                    // once those it holds are done, rather than keep it for the run.
                    self.send(donor, &ToWorker::Release { partition });
                    partition
                }
                None => ((self.stats.late_joiners - 1) as usize % parts) as u32,
            };
            self.give_partition(worker, partition);
        }
        for partition in orphans {
            // Its owner is gone: the newcomer owns it, and is sent its tasks.
            let lost = self.placement.owners()[partition as usize];
            self.placement.rehome(partition, lost, worker);
            self.give_partition(worker, partition);
        }
    }

    /// The partition owners of the shipped dataset.
    pub(crate) fn owners(&self) -> &[usize] {
        self.placement.owners()
    }

    /// The version of each broadcast variable a task reads: the latest, or the one a
    /// pinned read (`w.at(v)`) names, if the driver still keeps it.
    pub(crate) fn resolve_reads(
        &mut self,
        task: &'static str,
        reads: &[ReadSpec],
    ) -> Result<ResolvedReads, RuntimeError> {
        let mut slots = Vec::with_capacity(reads.len());
        let mut named = Vec::with_capacity(reads.len());
        for read in reads {
            let name = read.name;
            let slot = self.versions.slot(name).ok_or_else(|| {
                RuntimeError::Config(format!(
                    "reduce! reads `{name}`, which was never broadcast: call broadcast!({name}) first"
                ))
            })?;
            let latest = self.versions.latest(slot).expect("a slot has a version");
            let version = match read.at {
                None => latest.version,
                Some(version) if self.versions.get(slot, version).is_some() => {
                    self.versions.note_read_back(slot);
                    version
                }
                Some(version) => {
                    let restored_alone = self.versions.restored_alone(slot);
                    let why = if version > latest.version || version == 0 {
                        format!(
                            "was never published (the latest is {}; take versions from \
                             `cx.version(\"{name}\")` or `cx.last_result()`)",
                            latest.version
                        )
                    } else if let Some(restored) = restored_alone.filter(|&at| version < at) {
                        format!(
                            "was published before this run resumed its checkpoint at version \
                             {restored}, which holds its latest version only: a checkpoint saves \
                             the versions the driver keeps of a variable once a task read an \
                             older one (`{name}.at(v)`), and none had before it was taken (read \
                             `{name}.at(v)` from the first pass, or broadcast what is read back \
                             as a variable of its own, as SVRG does its snapshot)"
                        )
                    } else {
                        format!(
                            "the driver no longer keeps: it keeps the last {} versions of each \
                             variable (`cx.keep_versions(n)` in the optimizer, \
                             `ClusterConfig::keep_versions`, `--keep-versions` on the command \
                             line, `Optimizer::keeps_versions`), the oldest now {}",
                            self.versions.keep(),
                            self.versions.oldest(slot).unwrap_or(latest.version)
                        )
                    };
                    return Err(RuntimeError::VersionUnavailable {
                        task: task.to_owned(),
                        name: name.to_owned(),
                        version,
                        why,
                    });
                }
            };
            slots.push((slot, version));
            named.push(VersionRead {
                name,
                version,
                pinned: read.at.is_some(),
            });
        }
        Ok((slots, named.into()))
    }

    /// Sends worker `worker` the task on `partition`, with the versions it reads and lacks.
    pub(crate) fn dispatch(&mut self, worker: usize, partition: u32, spec: &TaskSpec<'_>) -> u64 {
        let reads = &spec.reads;
        let (mut versions, mut versions_len) = (Vec::new(), 0);
        for &(slot, version) in reads {
            let Some(Shipment {
                body,
                whole,
                wire_len,
            }) = self.holdings.ship(&self.versions, worker, slot, version)
            else {
                self.stats.versions_reused += 1;
                continue;
            };
            // What sending it whole would have cost, to report the saving.
            self.stats.broadcast_full_bytes += whole as u64;
            match body {
                VersionBody::Alias { .. } => self.stats.versions_aliased += 1,
                VersionBody::Patch { .. } => self.stats.versions_patched += 1,
                VersionBody::Full(_) => {}
            }
            // The version's bytes in the task order: its slot, its id and its body.
            let len = delta::wire_len(&(slot, version)) + wire_len;
            versions_len += len;
            self.stats.broadcast_bytes += len as u64;
            self.stats.versions_sent += 1;
            versions.push(ShippedVersion {
                slot,
                version,
                body,
            });
        }
        let history = self.history_slices(partition, spec);
        let history_len: usize = history.iter().map(|h| h.len()).sum();
        let clock = self.table.clock;
        let seq = self.tasks.open(
            worker,
            spec.task,
            partition,
            clock,
            spec.versions.clone(),
            spec.sample,
        );
        let (model, seed) = (self.config.stragglers, self.config.seed);
        let sleep_s = straggling::sleep_before(model, partition, seq, seed, &self.table.workers);
        let len = self.send(
            worker,
            &ToWorker::Task(TaskOrder {
                seq,
                versions,
                task: spec.task.to_owned(),
                partition,
                reads: reads.clone(),
                captures: ByteBuf::from(spec.captures),
                sample: spec.sample,
                history,
                sleep_s,
            }),
        );
        self.stats.history_bytes += history_len as u64;
        self.stats.task_bytes += len.saturating_sub(history_len + versions_len) as u64;
        self.stats.tasks_sent += 1;
        let now_s = self.elapsed_s();
        let info = &mut self.table.workers[worker];
        info.stop_waiting(now_s);
        let admitted = info.admitted;
        info.startup_s
            .get_or_insert_with(|| admitted.elapsed().as_secs_f64());
        info.in_flight += 1;
        self.refresh_oldest_in_flight();
        seq
    }

    /// The next partition of `worker` (see [`tasks::next_partition`]): for a site that
    /// updates history (`exclusive`, by name), one with no task in flight and no result in hand
    /// on it; a worker that holds only busy ones waits, counted.
    pub(crate) fn next_partition(&mut self, worker: usize, exclusive: Option<&str>) -> Option<u32> {
        let (tasks, results) = (&self.tasks, &self.results);
        let info = &mut self.table.workers[worker];
        let busy = |partition| {
            tasks.on_partition(partition)
                || exclusive.is_some_and(|site| results.holds_partition(partition, site))
        };
        let next = tasks::next_partition(info, exclusive.is_some(), busy);
        if next.is_none() && exclusive.is_some() && !info.partitions.is_empty() {
            self.stats.exclusive_waits += 1;
        }
        next
    }

    /// The global ids of the rows a task on `partition` of the shipped dataset runs on (its
    /// minibatch's for `sample`), drawn as the worker draws them; `None` if no such partition
    /// was shipped.
    pub(crate) fn task_rows(&self, partition: u32, sample: Option<Sample>) -> Option<Vec<u64>> {
        let meta = self.placement.part(partition)?;
        Some(match sample {
            Some(sample) => sample_indices(
                meta.rows.len(),
                sample.batch as usize,
                meta.seed,
                partition,
                sample.k as usize,
            )
            .into_iter()
            .map(|row| meta.rows.get(row))
            .collect(),
            None => meta.rows.iter().collect(),
        })
    }

    /// The history entries of the rows the task on `partition` will touch, encoded.
    fn history_slices(&self, partition: u32, spec: &TaskSpec<'_>) -> Vec<ByteBuf> {
        if spec.histories.is_empty() {
            return Vec::new();
        }
        let ids = self
            .task_rows(partition, spec.sample)
            .expect("data was shipped");
        spec.histories
            .iter()
            .map(|table| {
                let slice = table.slice(ids.iter().copied());
                ByteBuf::from(postcard::to_allocvec(&slice).expect("a slice encodes"))
            })
            .collect()
    }

    /// Dispatches the task to every idle worker (one with a free credit) `select` picks;
    /// returns how many got one.
    pub(crate) fn dispatch_to_idle(
        &mut self,
        spec: &TaskSpec<'_>,
        select: &dyn Fn(&WorkerInfo, &WorkerTable) -> bool,
    ) -> usize {
        let table = &self.table;
        let mut idle: Vec<usize> = (0..table.workers.len())
            .filter(|&i| table.workers[i].is_idle() && select(&table.workers[i], table))
            .collect();
        // The longest idle first: when workers share a partition that only one may work on
        // at a time, each gets its turn. Workers still computing (room for a prefetched task,
        // no idle time: `None`) come last, as a task sent to them
        // waits for their current one (idle since "never").
        let idle_since = |i: usize| table.workers[i].idle_since.unwrap_or(f64::INFINITY);
        idle.sort_by(|&a, &b| idle_since(a).total_cmp(&idle_since(b)));
        let mut sent = 0;
        let exclusive = (!spec.histories.is_empty()).then_some(spec.task);
        // Who was asked matters only until the site's shape is settled: asked once per call
        // here, not once per task.
        let shape_unsettled = !self.shapes.is_settled(spec.task);
        for worker in idle {
            if let Some(partition) = self.next_partition(worker, exclusive) {
                if self.table.workers[worker].in_flight > 0 {
                    self.stats.prefetched += 1;
                }
                self.dispatch(worker, partition, spec);
                if shape_unsettled {
                    self.shapes.asked(spec.task, worker);
                }
                sent += 1;
            }
        }
        sent
    }
}

/// The largest piece of an encoded partition sent in one frame: well under the frame limit
/// (`max_frame`, and the workers' default), and at most 8 MiB so that no single frame costs
/// much memory on either side, and chunks for several workers interleave finely.
pub(crate) fn chunk_bytes(max_frame: usize) -> usize {
    const HEADROOM: usize = 4 << 10;
    max_frame
        .min(crate::transport::DEFAULT_MAX_FRAME)
        .min(8 << 20)
        .saturating_sub(HEADROOM)
        .max(1)
}

/// Everything one `reduce!` call sends with each of its tasks.
pub(crate) struct TaskSpec<'a> {
    pub task: &'static str,
    pub captures: &'a [u8],
    pub reads: Vec<(u16, u64)>,
    /// The same reads by name, recorded with each task for its result's metadata.
    pub versions: Arc<[VersionRead]>,
    pub sample: Option<Sample>,
    pub histories: &'a [&'a History],
}

/// The versions a task reads, by slot for the task order and by name for its result's
/// metadata.
pub(crate) type ResolvedReads = (Vec<(u16, u64)>, Arc<[VersionRead]>);

/// A broadcast variable a `reduce!` closure reads: its latest version, or version `at`.
#[derive(Debug, Clone, Copy)]
pub struct ReadSpec {
    /// The variable.
    pub name: &'static str,
    /// The version a pinned read (`w.at(v)`) names.
    pub at: Option<u64>,
}
