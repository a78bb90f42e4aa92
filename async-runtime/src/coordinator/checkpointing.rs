//! The driver's side of checkpoints: when one is due, what goes into it, and how a restarted
//! driver takes it back before its training loop starts.
//!
//! The training thread only gathers the checkpoint's parts (copies of the loop's variables and
//! of the latest versions, and the annex's closure); encoding, hashing, the application's annex
//! (the trace, whose objectives may still have to be computed) and the synced write run on a
//! thread of their own, so that the driver keeps serving its workers meanwhile. One checkpoint
//! is written at a time: while one is being written, a checkpoint by time is not due, and one
//! by updates waits for it (so that checkpoints land at exactly every N updates).

use std::thread::JoinHandle;
use std::time::Instant;

use super::driver::Driver;
use crate::checkpoint::{
    self, Annex, Checkpoint, CheckpointError, CheckpointPolicy, LoopResume, Saved,
};
use crate::error::RuntimeError;

/// A checkpoint being written on its own thread.
pub(crate) struct Writing {
    thread: JoinHandle<Result<u64, CheckpointError>>,
    /// Updates and training seconds it was taken at.
    at: (u64, f64),
}

impl Driver {
    /// Writes a checkpoint as `policy` says, at the top of a pass of the training loop.
    pub fn checkpoint_to(&mut self, policy: CheckpointPolicy) {
        self.last_checkpoint = (self.stats.updates, self.elapsed_s());
        self.checkpoint = Some(policy);
    }

    /// Saves an annex with every checkpoint: what the application needs to go on too (the
    /// command line saves the trace so far). It reads it back from [`Driver::resumed`].
    ///
    /// `annex` runs on the training thread and returns the closure that makes the bytes on the
    /// checkpoint's thread: gather there, compute here.
    ///
    /// ```no_run
    /// # fn f(driver: &mut asyncopt_runtime::Driver) {
    /// let notes = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    /// driver.checkpoint_annex(move || {
    ///     let notes = notes.clone();
    ///     Box::new(move || notes.lock().unwrap().clone())
    /// });
    /// # }
    /// ```
    pub fn checkpoint_annex(&mut self, annex: impl FnMut() -> Annex + 'static) {
        self.annex = Some(Box::new(annex));
    }

    /// Continues the run of `saved` (read with [`checkpoint::read`], which refuses a torn
    /// checkpoint or one of another job): the counters and the broadcast versions go on from
    /// the saved ones, and the optimizer restores its variables and skips the passes done.
    /// The returned checkpoint keeps the rest (counters, annex): its versions and variables
    /// have moved to the version store and to the optimizer.
    pub fn resume(&mut self, mut saved: Checkpoint) -> &Checkpoint {
        self.stats = saved.stats.clone();
        self.clock.resume_from(saved.elapsed_s);
        for version in std::mem::take(&mut saved.versions) {
            self.versions
                .restore(&version.name, version.version, version.bytes);
        }
        self.last_checkpoint = (self.stats.updates, saved.elapsed_s);
        self.loop_resume = Some(LoopResume {
            optimizer: saved.optimizer.clone(),
            iteration: saved.iteration,
            state: std::mem::take(&mut saved.state),
        });
        self.resumed.insert(saved)
    }

    /// Waits for the checkpoint being written, if one is, so that [`Driver::report`] counts it
    /// ([`Driver::finish`] waits too).
    pub fn wait_for_checkpoint(&mut self) {
        self.settle_checkpoint(true);
    }

    /// The checkpoint this run resumed from, if it did.
    pub fn resumed(&self) -> Option<&Checkpoint> {
        self.resumed.as_ref()
    }

    /// Whether the policy asks for a checkpoint now: something new happened since the last one
    /// and enough updates or time went by.
    pub(crate) fn checkpoint_due(&mut self) -> bool {
        self.settle_checkpoint(false);
        let Some(policy) = &self.checkpoint else {
            return false;
        };
        if let Some(writing) = &self.writing {
            // A checkpoint every N updates is taken at exactly those updates (a resumed run
            // must land where the uninterrupted one was): wait for the one being written.
            // One by time is simply not due while another is being written.
            let (updates, _) = writing.at;
            let by_updates = policy
                .every_updates
                .is_some_and(|n| self.stats.updates.saturating_sub(updates) >= n);
            if !by_updates {
                return false;
            }
            self.settle_checkpoint(true);
        }
        let Some(policy) = &self.checkpoint else {
            return false;
        };
        let (updates, at) = self.last_checkpoint;
        let new_updates = self.stats.updates.saturating_sub(updates);
        if new_updates == 0 || self.halted() {
            return false;
        }
        policy.every_updates.is_some_and(|n| new_updates >= n)
            || policy
                .every
                .is_some_and(|every| self.elapsed_s() - at >= every.as_secs_f64())
    }

    /// Starts writing the checkpoint of pass `iteration` with the loop's variables `state` on
    /// a thread of its own. A failed write ends the run: the user asked for checkpoints and
    /// must not believe they have one.
    pub(crate) fn write_checkpoint(&mut self, optimizer: &str, iteration: u64, state: Vec<Saved>) {
        let Some(policy) = self.checkpoint.clone() else {
            return;
        };
        let begun = Instant::now();
        let elapsed_s = self.elapsed_s();
        let checkpoint = Checkpoint {
            job: policy.job.clone(),
            optimizer: optimizer.to_owned(),
            iteration,
            elapsed_s,
            stats: self.stats.clone(),
            state,
            versions: self
                .versions
                .latest_all()
                .map(|(name, stored)| Saved {
                    name: name.to_owned(),
                    version: stored.version,
                    bytes: stored.bytes.to_vec(),
                })
                .collect(),
            annex: Vec::new(),
        };
        let annex: Option<Annex> = self.annex.as_mut().map(|annex| annex());
        let spawned = std::thread::Builder::new()
            .name("checkpoint".to_owned())
            .spawn(move || {
                let mut checkpoint = checkpoint;
                checkpoint.annex = annex.map(|annex| annex()).unwrap_or_default();
                checkpoint::write(&policy.dir, &checkpoint)
            });
        match spawned {
            Ok(thread) => {
                self.writing = Some(Writing {
                    thread,
                    at: (self.stats.updates, elapsed_s),
                });
                self.stats.checkpoint_training_s += begun.elapsed().as_secs_f64();
            }
            Err(e) => self.fail(RuntimeError::Checkpoint(CheckpointError::State(format!(
                "cannot start the checkpoint's thread: {e}"
            )))),
        }
    }

    /// Takes the result of the checkpoint being written, once it is done (or at once, waiting
    /// for it, with `wait`): counts it, or ends the run with its error.
    pub(crate) fn settle_checkpoint(&mut self, wait: bool) {
        let done = self
            .writing
            .as_ref()
            .is_some_and(|writing| wait || writing.thread.is_finished());
        if !done {
            return;
        }
        let Writing { thread, at } = self.writing.take().expect("checked");
        let written = thread.join().unwrap_or_else(|_| {
            Err(CheckpointError::State(
                "the checkpoint's thread panicked".to_owned(),
            ))
        });
        match written {
            Ok(bytes) => {
                self.stats.checkpoints_written += 1;
                self.last_checkpoint = at;
                tracing::debug!(updates = at.0, bytes, "checkpoint written");
            }
            Err(error) => self.fail(RuntimeError::Checkpoint(error)),
        }
    }
}
