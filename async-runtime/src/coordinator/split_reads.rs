//! The driver's own reads of splits that two hosts said they cannot read: a split read
//! there without fault clears the data (the workers are at fault), one that fails there too
//! ends the run with the driver's own error, which names the file and the line.
//!
//! A split is a partition of the file: on a large file, a read of seconds or minutes. It runs
//! on a thread of its own (the driver is synchronous code on the caller's thread, with no
//! async runtime to `spawn_blocking` on), so that the driver keeps taking results,
//! heartbeats and joins meanwhile; [`SplitReads::finished`] hands over the verdicts that
//! came. A split the driver's host cannot hold (over its memory budget) is not the data's
//! fault: the claims stand unrefuted, and the claimants are at fault as for a split read. A split is read at most once per dataset shipped: a split found readable is
//! remembered ([`Placement::split_read`](super::placement::Placement::split_read)), so an
//! insider claiming failures under many names costs the driver one read of each split, a
//! read of the file it already scanned. The rows read are dropped at once; the read keeps
//! to the host's memory budget, as a worker's does.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use crate::data::own_split::read_split_within;
use crate::data::{read_split, DataError, SplitOrder};
use crate::error::RuntimeError;

/// The verdict of one read: which dataset (its placement generation) and partition, and
/// whether the driver could read it.
pub(crate) struct Verdict {
    pub generation: u64,
    pub partition: u32,
    pub outcome: Result<(), RuntimeError>,
}

/// The driver's reads under way and the verdicts not yet handed over.
pub(crate) struct SplitReads {
    sender: Sender<Verdict>,
    receiver: Receiver<Verdict>,
    /// Reads started whose verdict was not handed over yet.
    pending: usize,
    /// Verdicts received while waiting, not handed over yet.
    ready: Vec<Verdict>,
    /// The bytes a read may hold, if not the host's memory budget (tests).
    pub budget: Option<u64>,
}

impl Default for SplitReads {
    fn default() -> Self {
        let (sender, receiver) = mpsc::channel();
        SplitReads {
            sender,
            receiver,
            pending: 0,
            ready: Vec::new(),
            budget: None,
        }
    }
}

impl SplitReads {
    /// Starts reading the split `order` names, of the dataset shipped as `generation`.
    pub fn start(&mut self, generation: u64, order: Arc<SplitOrder>) {
        self.pending += 1;
        let partition = order.partition;
        let verdict = move |outcome| Verdict {
            generation,
            partition,
            outcome,
        };
        let (sender, on_thread) = (self.sender.clone(), Arc::clone(&order));
        let budget = self.budget;
        let spawned = std::thread::Builder::new()
            .name(format!("split-read-{partition}"))
            .spawn(move || {
                // The driver may have ended meanwhile: nobody waits for the verdict then.
                let _ = sender.send(verdict(read(&on_thread, budget)));
            });
        if let Err(error) = spawned {
            // No thread to be had: the verdict is still owed (a load waits for it), so the
            // driver reads the split here, and stalls meanwhile.
            tracing::warn!(%error, partition, "no thread for the driver's read of a split: read in line");
            let _ = self.sender.send(verdict(read(&order, self.budget)));
        }
    }

    /// Whether a read is under way or its verdict not handed over.
    pub fn pending(&self) -> bool {
        self.pending > 0
    }

    /// Waits up to `timeout` for a read to end (not at all with none under way).
    pub fn wait(&mut self, timeout: Duration) {
        if self.pending == 0 || !self.ready.is_empty() {
            return;
        }
        match self.receiver.recv_timeout(timeout) {
            Ok(verdict) => self.ready.push(verdict),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
    }

    /// The verdicts of the reads that ended, once each.
    pub fn finished(&mut self) -> Vec<Verdict> {
        self.ready.extend(self.receiver.try_iter());
        self.pending -= self.ready.len();
        std::mem::take(&mut self.ready)
    }
}

/// Reads `order`'s split as a worker would: fine, or the driver's own error (a panic of the
/// reader said as one, not left to leave the verdict owed forever).
fn read(order: &SplitOrder, budget: Option<u64>) -> Result<(), RuntimeError> {
    let read = || match budget {
        Some(budget) => read_split_within(order, budget),
        None => read_split(order),
    };
    match crate::panics::catch(read) {
        Ok(Ok(_partition)) => Ok(()),
        // The driver's host cannot hold the split (it may have less memory than the workers'
        // hosts, or its own workers' splits take it): that says nothing of the data, and
        // ending the run on it would let two names claiming a good split is malformed end it.
        // Unrefuted, the claims are the claimants' fault, as for a split read without fault.
        Ok(Err(error @ DataError::OverMemoryBudget { .. })) => {
            tracing::warn!(
                partition = order.partition,
                %error,
                "the driver cannot hold the split to check it: the workers that said they \
                 cannot read it are taken at fault"
            );
            Ok(())
        }
        Ok(Err(error)) => Err(RuntimeError::Data(error)),
        Err(panic) => Err(RuntimeError::Aborted(format!(
            "the driver's own read of partition {} of {} panicked: {panic}",
            order.partition,
            order.path.display()
        ))),
    }
}
