//! Everything that goes out: partitions once, broadcast versions a worker lacks, task orders.


use serde_bytes::ByteBuf;

use super::driver::{Driver, InFlight, Shipped};
use crate::data::{partition_dataset, Dataset};
use crate::error::RuntimeError;
use crate::protocol::{TaskOrder, ToWorker};

impl Driver {
    /// Partitions `data` and sends each live worker its partitions, once per dataset.
    pub(crate) fn ensure_shipped(&mut self, data: &Dataset) -> Result<(), RuntimeError> {
        let key = (data as *const Dataset as usize, data.n_rows(), data.dim());
        if self.shipped.as_ref().is_some_and(|s| s.key == key) {
            return Ok(());
        }
        self.pause_for(|driver| driver.ship(data, key))
    }

    fn ship(&mut self, data: &Dataset, key: (usize, usize, usize)) -> Result<(), RuntimeError> {
        let live: Vec<usize> = (0..self.table.workers.len())
            .filter(|&i| self.table.workers[i].alive)
            .collect();
        if live.is_empty() {
            return Err(RuntimeError::NoWorkers {
                lost: self.stats.lost_workers as usize,
            });
        }
        let parts = live.len() * self.config.partitions_per_worker;
        if parts > data.n_rows() {
            return Err(RuntimeError::Config(format!(
                "{parts} partitions for {} rows: use fewer workers",
                data.n_rows()
            )));
        }
        let partitions = partition_dataset(data, parts, self.config.seed)?;
        let dataset_id = (key.0 as u64) ^ ((key.1 as u64) << 20) ^ (key.2 as u64);
        let mut owners = Vec::with_capacity(parts);
        for &worker in &live {
            self.table.workers[worker].partitions.clear();
        }
        for (i, partition) in partitions.iter().enumerate() {
            let worker = live[i % live.len()];
            let body = postcard::to_allocvec(partition)
                .map_err(|e| RuntimeError::Transport(format!("cannot encode a partition: {e}")))?;
            let len = self.send(
                worker,
                &ToWorker::Partition {
                    dataset: dataset_id,
                    body: ByteBuf::from(body),
                },
            );
            self.stats.data_bytes += len as u64;
            self.table.workers[worker].partitions.push(i as u32);
            owners.push(worker);
        }
        self.shipped = Some(Shipped { key, owners });
        Ok(())
    }

    /// The partition owners of the shipped dataset.
    pub(crate) fn owners(&self) -> &[usize] {
        self.shipped.as_ref().map_or(&[], |s| &s.owners)
    }

    /// The latest version of each broadcast variable a task reads.
    pub(crate) fn resolve_reads(
        &self,
        names: &[&'static str],
    ) -> Result<Vec<(u16, u64)>, RuntimeError> {
        names
            .iter()
            .map(|name| {
                let slot = self.versions.slot(name).ok_or_else(|| {
                    RuntimeError::Config(format!(
                        "reduce! reads `{name}`, which was never broadcast: call broadcast!({name}) first"
                    ))
                })?;
                let (version, _) = self.latest_version(slot).expect("a slot has a version");
                Ok((slot, version))
            })
            .collect()
    }

    /// Sends worker `worker` the task, preceded by the versions it lacks.
    pub(crate) fn dispatch(
        &mut self,
        worker: usize,
        task: &'static str,
        partition: u32,
        reads: &[(u16, u64)],
        captures: &[u8],
    ) -> u64 {
        for &(slot, version) in reads {
            if self.table.workers[worker].holds(slot, version) {
                self.stats.versions_reused += 1;
                continue;
            }
            let (latest, bytes) = self
                .latest_version(slot)
                .expect("a read slot has a version");
            debug_assert_eq!(latest, version, "tasks read the latest version");
            let len = self.send(
                worker,
                &ToWorker::Version {
                    slot,
                    version,
                    body: ByteBuf::from(bytes.as_slice()),
                },
            );
            self.stats.broadcast_bytes += len as u64;
            self.stats.versions_sent += 1;
            let capacity = self.config.cache_versions;
            self.table.workers[worker].remember(slot, version, capacity);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let len = self.send(
            worker,
            &ToWorker::Task(TaskOrder {
                seq,
                task: task.to_owned(),
                partition,
                reads: reads.to_vec(),
                captures: ByteBuf::from(captures),
            }),
        );
        self.stats.task_bytes += len as u64;
        self.stats.tasks_sent += 1;
        let info = &mut self.table.workers[worker];
        if let Some(since) = info.idle_since.take() {
            info.wait_s += since.elapsed().as_secs_f64();
        }
        info.in_flight += 1;
        let clock = self.table.clock;
        self.in_flight.insert(
            seq,
            InFlight {
                worker,
                task,
                partition,
                clock,
            },
        );
        self.table.oldest_in_flight =
            Some(self.table.oldest_in_flight.map_or(clock, |c| c.min(clock)));
        seq
    }

    /// The next partition of `worker`, round robin.
    pub(crate) fn next_partition(&mut self, worker: usize) -> Option<u32> {
        let info = &mut self.table.workers[worker];
        if info.partitions.is_empty() {
            return None;
        }
        let partition = info.partitions[info.next_partition % info.partitions.len()];
        info.next_partition += 1;
        Some(partition)
    }

    /// Dispatches the task to every idle worker; returns how many got one.
    pub(crate) fn dispatch_to_idle(
        &mut self,
        task: &'static str,
        reads: &[(u16, u64)],
        captures: &[u8],
    ) -> usize {
        let idle: Vec<usize> = (0..self.table.workers.len())
            .filter(|&i| self.table.workers[i].is_idle())
            .collect();
        let mut sent = 0;
        for worker in idle {
            if let Some(partition) = self.next_partition(worker) {
                self.dispatch(worker, task, partition, reads, captures);
                sent += 1;
            }
        }
        sent
    }
}
