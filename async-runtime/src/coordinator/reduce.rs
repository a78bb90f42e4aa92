//! `reduce!`: synchronous (every partition, combined) and asynchronous (one result at a time,
//! as the barrier lets work out, stale ones dropped).

use std::collections::HashMap;

use super::dispatch::TaskSpec;
use super::driver::{Arrived, Driver, ResultMeta};
use super::table::WorkerTable;
use crate::data::Dataset;
use crate::error::RuntimeError;

impl Driver {
    /// Runs `task` on every partition and returns the results in partition order.
    pub(crate) fn reduce_all(
        &mut self,
        data: &Dataset,
        spec: &TaskSpec<'_>,
    ) -> Result<Vec<Vec<u8>>, RuntimeError> {
        self.ensure_shipped(data)?;
        let owners = self.owners().to_vec();
        let mut pending: HashMap<u64, usize> = HashMap::with_capacity(owners.len());
        for (partition, &worker) in owners.iter().enumerate() {
            let seq = self.dispatch(worker, partition as u32, spec);
            pending.insert(seq, partition);
        }
        let mut results: Vec<Option<Vec<u8>>> = vec![None; owners.len()];
        while !pending.is_empty() {
            self.pump()?;
            if self.failure.is_some() {
                return Err(self.failure.take().expect("checked"));
            }
            // Tasks of lost workers are done again by their partitions' new owners.
            for seq in std::mem::take(&mut self.written_off) {
                if let Some(partition) = pending.remove(&seq) {
                    let owner = self.owners()[partition];
                    let again = self.dispatch(owner, partition as u32, spec);
                    pending.insert(again, partition);
                }
            }
            // Results of other reduces stay queued for them.
            for arrived in std::mem::take(&mut self.arrived) {
                match pending.remove(&arrived.seq) {
                    Some(partition) => {
                        self.consume(&arrived);
                        results[partition] = Some(arrived.body);
                    }
                    None => self.arrived.push_back(arrived),
                }
            }
        }
        self.table.clock += 1;
        self.stats.updates += 1;
        Ok(results
            .into_iter()
            .map(|r| r.expect("every partition answered"))
            .collect())
    }

    /// Lets the barrier dispatch work, then returns the next result fresh enough to use.
    pub(crate) fn reduce_next(
        &mut self,
        data: &Dataset,
        spec: &TaskSpec<'_>,
        barrier: &dyn Fn(&WorkerTable) -> bool,
        max_staleness: Option<u64>,
    ) -> Result<Arrived, RuntimeError> {
        self.ensure_shipped(data)?;
        let task = spec.task;
        self.drain();
        // Tasks of lost workers are simply not awaited: other workers take their partitions.
        self.written_off.clear();
        // The barrier decides whether idle workers get work now. With nothing in flight and
        // nothing waiting, no result can ever change the table: dispatch regardless, or the
        // run would wait forever on a barrier no worker can satisfy.
        let stuck = self.arrived.is_empty() && self.in_flight.is_empty();
        if barrier(&self.table) || stuck {
            self.dispatch_to_idle(spec);
        }
        loop {
            if let Some(failure) = self.failure.take() {
                return Err(failure);
            }
            while let Some(arrived) = self.arrived.pop_front() {
                self.consume(&arrived);
                if arrived.task != task {
                    self.stats.dropped_orphan += 1;
                    continue;
                }
                let staleness = self.table.clock - arrived.clock;
                self.table.workers[arrived.worker].last_staleness = staleness;
                if max_staleness.is_some_and(|bound| staleness > bound) {
                    self.stats.dropped_stale += 1;
                    continue;
                }
                self.last = Some(ResultMeta {
                    worker: arrived.worker,
                    staleness,
                    partition: arrived.partition,
                });
                self.table.clock += 1;
                self.stats.updates += 1;
                return Ok(arrived);
            }
            if self.in_flight.is_empty() {
                // Every result was too stale: hand out fresh work at the current version.
                self.dispatch_to_idle(spec);
            }
            self.pump()?;
        }
    }
}
