//! The driver's side of checkpoints: when one is due, what goes into it, and how a restarted
//! driver takes it back before its training loop starts.
//!
//! The training thread only gathers the checkpoint's parts (the loop's variables encoded, the
//! versions saved shared with the version store, not copied, and the annex's closure);
//! encoding, hashing, the application's annex
//! (the trace, whose objectives may still have to be computed) and the synced write run on a
//! thread of their own, so that the driver keeps serving its workers meanwhile. One checkpoint
//! is written at a time: while one is being written, a checkpoint by time is not due, and one
//! by updates waits for it (so that checkpoints land at exactly every N updates).
//!
//! The state is [`Checkpoints`](super::checkpoints::Checkpoints)'s, and the decision whether
//! one is due is its pure `due`; this file is the driver's side, which reads the counters, the
//! clock and the versions, and ends the run when a checkpoint fails.

use std::sync::Arc;
use std::time::Instant;

use super::checkpoints::{Due, Mark};
use super::driver::{Driver, Progress};
use crate::broadcaster::VersionStore;
use crate::checkpoint::{Annex, Checkpoint, CheckpointError, CheckpointPolicy, Saved};
use crate::error::RuntimeError;

impl Driver {
    /// Writes a checkpoint as `policy` says, at the top of a pass of the training loop.
    pub fn checkpoint_to(&mut self, policy: CheckpointPolicy) {
        let now = self.checkpoint_mark();
        self.checkpoints.set_policy(policy, now);
    }

    /// [`Driver::checkpoint_to`], into `folder`, which the program took where it locked it
    /// ([`Folder::take`](crate::checkpoint::Folder::take)), so that the run holds the very
    /// folder the lock is in: one removed or replaced since is neither made again nor written
    /// into ([`CheckpointError::FolderGone`]). `policy.dir` is taken to be the folder's.
    pub fn checkpoint_into(&mut self, folder: crate::checkpoint::Folder, policy: CheckpointPolicy) {
        let now = self.checkpoint_mark();
        self.checkpoints.set_policy_into(policy, folder, now);
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
    pub fn checkpoint_annex(&mut self, annex: impl FnMut() -> Annex + Send + 'static) {
        self.checkpoints.set_annex(annex);
    }

    /// Has `judge` look at the model each checkpoint would hold (the loop variable the
    /// optimizer broadcasts as its model, decoded as a `T`, with its name) before it is
    /// written: a model it finds wrong (`Some(why)`: a diverged one, say) is not
    /// checkpointed, and the last good checkpoint stays the one a resume gets. A warning says
    /// so, with `why`. The name is the model's among the checkpoint's loop variables
    /// ([`Saved::name`]), which the application may record in its annex: another variable
    /// may hold the same weights (a snapshot just taken of the model).
    pub fn checkpoint_judge<T: serde::de::DeserializeOwned + 'static>(
        &mut self,
        mut judge: impl FnMut(&Progress, &str, &T) -> Option<String> + Send + 'static,
    ) {
        self.checkpoints
            .set_judge(Box::new(move |progress, name, bytes| {
                // A variable of another type than the judge's is not this judge's to refuse.
                let model = postcard::from_bytes::<T>(bytes).ok()?;
                judge(progress, name, &model)
            }));
    }

    /// Continues the run of `saved` (read with [`checkpoint::read`], which refuses a torn
    /// checkpoint or one of another job): the counters and the broadcast versions go on from
    /// the saved ones, and the optimizer restores its variables and skips the passes done.
    /// The returned checkpoint keeps the rest (counters, annex): its versions and variables
    /// have moved to the version store and to the optimizer.
    ///
    /// [`checkpoint::read`]: crate::checkpoint::read
    pub fn resume(&mut self, mut saved: Checkpoint) -> &Checkpoint {
        self.stats = saved.stats.clone();
        self.updates_at_start = saved.stats.updates;
        // The worker table's clock is the updates applied: barrier rules and results'
        // dispatch marks read it, and a resumed run has applied the saved ones.
        self.table.clock = saved.stats.updates;
        self.training_time.resume_from(saved.elapsed_s);
        for version in std::mem::take(&mut saved.versions) {
            // Decoded just now, the bytes are the checkpoint's alone: taken, not copied.
            let bytes = Arc::unwrap_or_clone(version.bytes);
            self.versions.restore(&version.name, version.version, bytes);
        }
        let at = Mark {
            updates: self.stats.updates,
            elapsed_s: saved.elapsed_s,
        };
        self.checkpoints.resume(saved, at)
    }

    /// Waits for the checkpoint being written, if one is, so that [`Driver::report`] counts it
    /// ([`Driver::finish`] waits too). Waiting for the disk is not training: the checkpoint
    /// holds the training time of its update, and a report taken after the wait must say the
    /// same of that update, or a resumed run's clock runs behind the first run's trace.
    pub fn wait_for_checkpoint(&mut self) {
        let begun = Instant::now();
        self.settle_checkpoint(true);
        self.training_time.add_pause(begun.elapsed());
    }

    /// The checkpoint this run resumed from, if it did.
    pub fn resumed(&self) -> Option<&Checkpoint> {
        self.checkpoints.resumed()
    }

    /// The training loop was left: a stop is acted on at once again, and another loop's
    /// variables are checked anew. A stop rule's verdict ended the loop it watched and is
    /// cleared: what follows runs (a final evaluation's `reduce!`, which returned `Default`
    /// unrun after a `--time` or target stop), and the rule is asked again at the next model
    /// broadcast. A failure or a stop asked for from outside still ends everything.
    pub(crate) fn loop_left(&mut self) {
        self.stop_seen_at_top = None;
        self.stopped = false;
    }

    /// Whether this is, in a run that takes checkpoints, the top of the training loop's first
    /// pass: no top has been seen since the loop began (asked before
    /// [`checkpoint_due`](Driver::checkpoint_due), which marks the top).
    pub(crate) fn first_pass_with_checkpoints(&self) -> bool {
        self.checkpoints.policy().is_some() && self.stop_seen_at_top.is_none()
    }

    /// Whether the policy asks for a checkpoint now, at the top of a pass of the training
    /// loop: something new happened since the last one and enough updates or time went by.
    pub(crate) fn checkpoint_due(&mut self) -> bool {
        // The stop the pass acts on is the one asked for by now: one asked later waits for
        // the next top, so that its checkpoint is of a pass boundary.
        self.stop_seen_at_top = Some(self.stop_requested());
        self.checkpoint_due_at(false)
    }

    /// Whether the state a training loop leaves when it runs out takes a last checkpoint:
    /// whenever something happened since the last one.
    pub(crate) fn final_checkpoint_due(&mut self) -> bool {
        self.checkpoint_due_at(true)
    }

    fn checkpoint_due_at(&mut self, loop_end: bool) -> bool {
        // Asked once per pass of the training loop: without a policy, not even the clock.
        if self.checkpoints.policy().is_none() {
            return false;
        }
        self.settle_checkpoint(false);
        // A stop asked for from outside takes a last checkpoint, so that the run resumes
        // where it stopped, and so does a loop's end, so that a run given more updates goes
        // on from it; a stop rule's end or a failure takes none.
        let last = loop_end || self.stop_seen_at_top == Some(true);
        let mut due = self.checkpoints.due(self.checkpoint_mark(), last);
        if due == Due::AfterTheOneBeingWritten {
            self.settle_checkpoint(true);
            due = self.checkpoints.due(self.checkpoint_mark(), last);
        }
        due == Due::Yes && !self.stopped && self.failure.is_none()
    }

    /// Starts writing the checkpoint of pass `iteration` with the loop's variables `state` on
    /// a thread of its own. A failed write does not end the run (a full disk is a fault the
    /// run can outlive): it is logged, tried again at the next checkpoint, and reported, so the
    /// user never believes a checkpoint is there that is not.
    pub(crate) fn write_checkpoint(&mut self, optimizer: &str, iteration: u64, state: Vec<Saved>) {
        let Some(job) = self.checkpoints.policy().map(|policy| policy.job.clone()) else {
            return;
        };
        let begun = Instant::now();
        let at = self.checkpoint_mark();
        let progress = Progress {
            updates: at.updates,
            elapsed_s: at.elapsed_s,
            dropped_stale: self.stats.dropped_stale,
            workers: self.table.alive(),
        };
        if let Some(why) = self.checkpoints.refuse(&progress, &state, at) {
            let kept = match self.checkpoints.on_disk() {
                Some(updates) => format!("the checkpoint of update {updates} is kept"),
                None => "no checkpoint is kept".to_owned(),
            };
            tracing::warn!(
                "the model of update {} is not checkpointed: {why}; {kept}",
                at.updates
            );
            return;
        }
        // A run resumed from this checkpoint reads it back, so it was written: its counters
        // count it, or each resume would lose one from `checkpoints_written`.
        let mut stats = self.stats.clone();
        stats.checkpoints_written += 1;
        let checkpoint = Checkpoint {
            job,
            optimizer: optimizer.to_owned(),
            iteration,
            elapsed_s: at.elapsed_s,
            stats,
            state,
            versions: versions_to_save(&self.versions),
            annex: Vec::new(),
            write_failures: self.checkpoints.failures().clone(),
        };
        // The seconds of this gathering are in the checkpoint too: a resume loses none.
        match self.checkpoints.start_writing(checkpoint, at, begun) {
            Ok(gathered) => self.stats.checkpoint_training_s += gathered,
            Err(e) => self.fail(RuntimeError::Checkpoint(CheckpointError::State(format!(
                "cannot start the checkpoint's thread: {e}"
            )))),
        }
    }

    /// Takes the result of the checkpoint being written, once it is done (or at once, waiting
    /// for it, with `wait`): counts it, or logs why it could not be written (a warning the
    /// first time for each reason, since the last one written).
    pub(crate) fn settle_checkpoint(&mut self, wait: bool) {
        let Some(settled) = self.checkpoints.finish_writing(wait) else {
            return;
        };
        let updates = settled.at.updates;
        match settled.written {
            Ok(bytes) => {
                self.stats.checkpoints_written += 1;
                tracing::debug!(updates, bytes, "checkpoint written");
            }
            // The run's report counts them all.
            Err(error) if settled.warned_before => {
                tracing::debug!(updates, %error, "a checkpoint could not be written, again");
            }
            Err(error) => tracing::warn!(
                updates,
                %error,
                "a checkpoint could not be written: the run goes on, and the next one tries again \
                 (those failing alike are counted in the run's report, not warned of again)"
            ),
        }
    }

    /// Where the run stands now, as the checkpoint part counts it.
    fn checkpoint_mark(&self) -> Mark {
        Mark {
            updates: self.stats.updates,
            elapsed_s: self.elapsed_s(),
        }
    }
}

/// The versions a checkpoint saves, their bytes shared with `store`: gathered on the training
/// thread, they cost no copy of the window there (the store's are never changed, only
/// replaced).
fn versions_to_save(store: &VersionStore) -> Vec<Saved> {
    store
        .to_checkpoint()
        .map(|(name, stored)| Saved {
            name: name.to_owned(),
            version: stored.version,
            bytes: Arc::clone(&stored.bytes),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_saved_share_the_stores_bytes_and_read_back_the_same() {
        let mut store = VersionStore::new(3);
        for value in 1..=4u8 {
            store.publish("w", vec![value; 1000]);
        }
        let slot = store.slot("w").unwrap();
        store.note_read_back(slot);
        let saved = versions_to_save(&store);
        let numbers: Vec<u64> = saved.iter().map(|s| s.version).collect();
        assert_eq!(numbers, [2, 3, 4]);
        for s in &saved {
            let stored = store.get(slot, s.version).unwrap();
            assert!(
                Arc::ptr_eq(&s.bytes, &stored.bytes),
                "version {} copied",
                s.version
            );
        }
        // Encoded and decoded, the bytes are what the store holds.
        let checkpoint = Checkpoint {
            versions: saved,
            ..Checkpoint::default()
        };
        let back: Checkpoint =
            postcard::from_bytes(&postcard::to_allocvec(&checkpoint).unwrap()).unwrap();
        assert_eq!(back.versions, checkpoint.versions);
        assert_eq!(*back.versions[0].bytes, vec![2u8; 1000]);
    }
}
