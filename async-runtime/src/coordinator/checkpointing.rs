//! The driver's side of checkpoints: when one is due, what goes into it, and how a restarted
//! driver takes it back before its training loop starts.

use super::driver::Driver;
use crate::checkpoint::{self, Checkpoint, CheckpointPolicy, LoopResume, Saved};
use crate::error::RuntimeError;

impl Driver {
    /// Writes a checkpoint as `policy` says, at the top of a pass of the training loop.
    pub fn checkpoint_to(&mut self, policy: CheckpointPolicy) {
        self.last_checkpoint = (self.stats.updates, self.elapsed_s());
        self.checkpoint = Some(policy);
    }

    /// Saves `annex()` with every checkpoint: what the application needs to go on too (the
    /// command line saves the trace so far). It reads it back from [`Driver::resumed`].
    pub fn checkpoint_annex(&mut self, annex: impl FnMut() -> Vec<u8> + 'static) {
        self.annex = Some(Box::new(annex));
    }

    /// Continues the run of `saved` (read with [`checkpoint::read`], which refuses a torn
    /// checkpoint or one of another job): the counters and the broadcast versions go on from
    /// the saved ones, and the optimizer restores its variables and skips the passes done.
    /// The returned checkpoint keeps the rest (counters, annex): its versions and variables
    /// have moved to the version store and to the optimizer.
    pub fn resume(&mut self, mut saved: Checkpoint) -> &Checkpoint {
        self.stats = saved.stats.clone();
        self.resumed_elapsed = saved.elapsed_s;
        for version in std::mem::take(&mut saved.versions) {
            self.versions
                .restore(&version.name, version.version, version.bytes);
        }
        self.last_checkpoint = (self.stats.updates, self.resumed_elapsed);
        self.loop_resume = Some(LoopResume {
            optimizer: saved.optimizer.clone(),
            iteration: saved.iteration,
            state: std::mem::take(&mut saved.state),
        });
        self.resumed.insert(saved)
    }

    /// The checkpoint this run resumed from, if it did.
    pub fn resumed(&self) -> Option<&Checkpoint> {
        self.resumed.as_ref()
    }

    /// Whether the policy asks for a checkpoint now: something new happened since the last one
    /// and enough updates or time went by.
    pub(crate) fn checkpoint_due(&self) -> bool {
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

    /// Writes the checkpoint of pass `iteration` with the loop's variables `state`. A failed
    /// write ends the run: the user asked for checkpoints and must not believe they have one.
    pub(crate) fn write_checkpoint(&mut self, optimizer: &str, iteration: u64, state: Vec<Saved>) {
        let Some(policy) = self.checkpoint.clone() else {
            return;
        };
        let elapsed_s = self.elapsed_s();
        let written = self.pause_for(|driver| {
            let checkpoint = Checkpoint {
                job: policy.job.clone(),
                optimizer: optimizer.to_owned(),
                iteration,
                elapsed_s,
                stats: driver.stats.clone(),
                state,
                versions: driver
                    .versions
                    .latest_all()
                    .map(|(name, stored)| Saved {
                        name: name.to_owned(),
                        version: stored.version,
                        bytes: stored.bytes.to_vec(),
                    })
                    .collect(),
                annex: driver
                    .annex
                    .as_mut()
                    .map(|annex| annex())
                    .unwrap_or_default(),
            };
            checkpoint::write(&policy.dir, &checkpoint)
        });
        match written {
            Ok(bytes) => {
                self.stats.checkpoints_written += 1;
                self.last_checkpoint = (self.stats.updates, elapsed_s);
                tracing::debug!(
                    updates = self.stats.updates,
                    bytes,
                    dir = %policy.dir.display(),
                    "checkpoint written"
                );
            }
            Err(error) => self.fail(RuntimeError::Checkpoint(error)),
        }
    }
}
