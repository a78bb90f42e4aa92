//! Waiting for data delivery: shipping ends when the workers hold their partitions, not when
//! the driver queued them, so that the training time of a run does not include the transfer
//! and decoding of its data.

use super::driver::Driver;
use crate::error::RuntimeError;
use crate::protocol::ToWorker;

impl Driver {
    /// Sends every live worker holding partitions a fence and waits until each answered or
    /// was lost. A worker answers a fence after everything sent before it, so an answer
    /// means its partitions are decoded and stored.
    pub(crate) fn await_delivery(&mut self) -> Result<(), RuntimeError> {
        let id = self.next_seq;
        self.next_seq += 1;
        let holders: Vec<usize> = (0..self.table.workers.len())
            .filter(|&w| {
                let info = &self.table.workers[w];
                info.alive && !info.partitions.is_empty()
            })
            .collect();
        for &worker in &holders {
            self.send(worker, &ToWorker::Fence { id });
        }
        self.fence = Some((id, holders.into_iter().collect()));
        // The wait is left out of the runtime's time by the caller, so it must not count as
        // time blocked within it either.
        let blocked = self.stats.blocked_s;
        let outcome = loop {
            let Some((_, waiting)) = &mut self.fence else {
                break Ok(());
            };
            waiting.retain(|&w| self.table.workers[w].alive);
            if waiting.is_empty() {
                break Ok(());
            }
            if let Err(error) = self.pump() {
                break Err(error);
            }
        };
        self.fence = None;
        self.stats.blocked_s = blocked;
        outcome
    }
}
