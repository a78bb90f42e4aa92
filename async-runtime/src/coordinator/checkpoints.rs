//! The driver's checkpoint state: the policy, the last checkpoint written, the one being
//! written on its own thread, the application's annex, and the checkpoint a run resumed from.
//!
//! [`Checkpoints`] is the one owner of this state; whether a checkpoint is due is the pure
//! [`due`], which sees counters only. The orchestration (gathering the variables and the
//! versions, counting, failing the run) is `checkpointing`'s `impl Driver`.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::checkpoint::{
    self, Annex, Checkpoint, CheckpointError, CheckpointPolicy, LoopResume, Saved, WriteFailures,
};

/// Where a run stands, for checkpoints: updates applied and seconds of training.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Mark {
    pub updates: u64,
    pub elapsed_s: f64,
}

/// Whether the policy asks for a checkpoint now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Not now.
    No,
    /// Now.
    Yes,
    /// Enough updates went by since the checkpoint being written: wait for it, then ask again.
    AfterTheOneBeingWritten,
}

/// Whether `policy` asks for a checkpoint at `now`, the last one written at `last`, and one
/// taken at `writing` still being written.
///
/// One checkpoint is written at a time. A checkpoint every N updates is taken at exactly those
/// updates (a resumed run must land where the uninterrupted one was), so one by updates waits
/// for the one being written; one by time is simply not due meanwhile.
pub(crate) fn due(policy: &CheckpointPolicy, now: Mark, last: Mark, writing: Option<Mark>) -> Due {
    let by_updates_since = |mark: Mark| {
        policy
            .every_updates
            .is_some_and(|n| now.updates.saturating_sub(mark.updates) >= n)
    };
    if let Some(writing) = writing {
        return if by_updates_since(writing) {
            Due::AfterTheOneBeingWritten
        } else {
            Due::No
        };
    }
    // Nothing new since the last checkpoint: it would save the same state again.
    if now.updates <= last.updates {
        return Due::No;
    }
    let by_time = policy
        .every
        .is_some_and(|every| now.elapsed_s - last.elapsed_s >= every.as_secs_f64());
    if by_updates_since(last) || by_time {
        Due::Yes
    } else {
        Due::No
    }
}

/// Whether a run asked to stop takes a last checkpoint at `now`, whatever the policy's
/// interval: yes if anything happened since the last one, after the one being written if it
/// is older than `now`. The run then resumes where it stopped.
pub(crate) fn due_at_stop(now: Mark, last: Mark, writing: Option<Mark>) -> Due {
    match writing {
        Some(writing) if now.updates > writing.updates => Due::AfterTheOneBeingWritten,
        Some(_) => Due::No,
        None if now.updates > last.updates => Due::Yes,
        None => Due::No,
    }
}

/// A checkpoint being written on its own thread.
struct Writing {
    thread: JoinHandle<Result<u64, CheckpointError>>,
    /// Where the run stood when it was taken.
    at: Mark,
}

/// How the checkpoint being written ended, and where the run stood when it was taken.
pub(crate) struct Settled {
    /// The bytes written, or why it could not be.
    pub written: Result<u64, CheckpointError>,
    pub at: Mark,
    /// A failure for the reason already warned of since the last written checkpoint.
    pub warned_before: bool,
}

/// Judges a checkpoint's model, at the progress it was taken at, from its name among the
/// loop variables and its saved bytes.
pub(crate) type Judge = Box<dyn FnMut(&crate::Progress, &str, &[u8]) -> Option<String> + Send>;

/// Checkpoints of one run: when to write, what is being written, what the run went on from.
#[derive(Default)]
pub(crate) struct Checkpoints {
    /// Where and when to write checkpoints; none unless asked.
    policy: Option<CheckpointPolicy>,
    /// The policy's folder, held once it is there (when the policy is set, or after the
    /// write that made it): a folder removed or replaced since is not written into.
    folder: Option<Arc<checkpoint::Folder>>,
    /// Where the run stood at the last checkpoint (or the start of checkpointing, or the
    /// checkpoint it resumed from).
    last: Mark,
    /// The updates of the checkpoint on disk (written, or resumed from), if there is one.
    on_disk: Option<u64>,
    /// Checkpoints that could not be written, and why the last one could not: this run's,
    /// on from the ones its checkpoint counted when it resumed.
    failures: WriteFailures,
    /// The reason warned of since the last written checkpoint: failing alike again (a disk
    /// that stays full) is counted, not warned of at every checkpoint of a long run.
    warned: Option<String>,
    /// What the application saves with each checkpoint.
    annex: Option<Box<dyn FnMut() -> Annex + Send>>,
    /// What judges the model a checkpoint holds, from its bytes; `Some(why)` refuses it.
    judge: Option<Judge>,
    /// The name the optimizer broadcasts its model under: its loop variable of that name.
    model_name: Option<&'static str>,
    /// The checkpoint being written on its own thread, if one is.
    writing: Option<Writing>,
    /// The checkpoint this run goes on from.
    resumed: Option<Checkpoint>,
    /// Its loop variables, until the optimizer takes them.
    loop_resume: Option<LoopResume>,
}

impl Checkpoints {
    /// Writes checkpoints as `policy` says from now on, the first one counted from `now`.
    pub fn set_policy(&mut self, policy: CheckpointPolicy, now: Mark) {
        // A folder there already is held from now on; one that cannot be taken is tried
        // again, with its error, at each write.
        let folder = match policy.dir.is_dir() {
            true => checkpoint::Folder::take(&policy.dir).ok(),
            false => None,
        };
        self.set_policy_held(policy, folder, now);
    }

    /// [`Checkpoints::set_policy`], into `folder`, which the program took (and locked) before:
    /// taken again here, a folder replaced in between would be the one held, without the
    /// program's lock. `policy.dir` becomes the folder's path.
    pub fn set_policy_into(
        &mut self,
        mut policy: CheckpointPolicy,
        folder: checkpoint::Folder,
        now: Mark,
    ) {
        policy.dir = folder.dir().to_path_buf();
        self.set_policy_held(policy, Some(folder), now);
    }

    fn set_policy_held(
        &mut self,
        policy: CheckpointPolicy,
        folder: Option<checkpoint::Folder>,
        now: Mark,
    ) {
        self.last = now;
        self.folder = folder.map(Arc::new);
        self.policy = Some(policy);
    }

    /// The policy, if checkpoints were asked for.
    pub fn policy(&self) -> Option<&CheckpointPolicy> {
        self.policy.as_ref()
    }

    /// Saves what `annex` returns with every checkpoint.
    pub fn set_annex(&mut self, annex: impl FnMut() -> Annex + Send + 'static) {
        self.annex = Some(Box::new(annex));
    }

    /// Has `judge` look at the model of every checkpoint before it is written.
    pub fn set_judge(&mut self, judge: Judge) {
        self.judge = Some(judge);
    }

    /// The name the optimizer whose training loop begins broadcasts its model under, set
    /// once before its first pass (its first checkpoint may come before its first broadcast).
    pub fn set_model(&mut self, name: Option<&'static str>) {
        self.model_name = name;
    }

    /// Why the model among the loop variables `state` must not be checkpointed, if the judge
    /// finds it so. A refused checkpoint counts as taken for the policy's pace: the next is
    /// due one interval later, not at every pass.
    pub fn refuse(
        &mut self,
        progress: &crate::Progress,
        state: &[Saved],
        at: Mark,
    ) -> Option<String> {
        let (judge, name) = (self.judge.as_mut()?, self.model_name?);
        let model = state.iter().find(|saved| saved.name == name)?;
        let why = judge(progress, name, &model.bytes)?;
        self.last = at;
        Some(why)
    }

    /// Goes on from `saved`, taken at `at`: the next checkpoint is counted from it, so are
    /// the failed ones, and the optimizer takes its loop variables with
    /// [`Checkpoints::take_loop_resume`].
    pub fn resume(&mut self, mut saved: Checkpoint, at: Mark) -> &Checkpoint {
        self.last = at;
        self.on_disk = Some(at.updates);
        self.failures = saved.write_failures.clone();
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

    /// The updates of the checkpoint a resume would go on from: the last written, or the one
    /// this run resumed from; `None` if there is none.
    pub fn on_disk(&self) -> Option<u64> {
        self.on_disk
    }

    /// Checkpoints that could not be written, and why the last one could not.
    pub fn failures(&self) -> &WriteFailures {
        &self.failures
    }

    /// The resumed loop variables, once: a second optimizer on the same driver starts afresh.
    pub fn take_loop_resume(&mut self) -> Option<LoopResume> {
        self.loop_resume.take()
    }

    /// Whether a checkpoint is due at `now`; see [`due`], and [`due_at_stop`] for a run
    /// asked to stop (`stopping`).
    pub fn due(&self, now: Mark, stopping: bool) -> Due {
        let writing = self.writing.as_ref().map(|writing| writing.at);
        match &self.policy {
            Some(_) if stopping => due_at_stop(now, self.last, writing),
            Some(policy) => due(policy, now, self.last, writing),
            None => Due::No,
        }
    }

    /// Starts writing `checkpoint`, taken at `at`, with the annex on a thread of its own;
    /// returns the seconds the training thread spent on it since `begun`, which the
    /// checkpoint's `checkpoint_training_s` counts too. Nothing happens without a policy.
    pub fn start_writing(
        &mut self,
        mut checkpoint: Checkpoint,
        at: Mark,
        begun: Instant,
    ) -> std::io::Result<f64> {
        let Some(dir) = self.policy.as_ref().map(|policy| policy.dir.clone()) else {
            return Ok(0.0);
        };
        // Taken by the first write that makes it; a failure to is this write's.
        let folder = match &self.folder {
            Some(folder) => Ok(Arc::clone(folder)),
            None => checkpoint::Folder::take(&dir).map(Arc::new),
        };
        if let Ok(folder) = &folder {
            self.folder = Some(Arc::clone(folder));
        }
        // The annex gathers here, on the training thread; it makes its bytes on the other.
        let annex: Option<Annex> = self.annex.as_mut().map(|annex| annex());
        // The seconds gathered so far go into the checkpoint itself, so that a run resumed
        // from it counts them too (the thread's start, microseconds, counts in neither).
        let gathered = begun.elapsed().as_secs_f64();
        checkpoint.stats.checkpoint_training_s += gathered;
        // Its training time as well: the run's clock counted the gathering, and a resumed
        // run's clock must go on from where this one's was, not a gathering behind.
        checkpoint.elapsed_s += gathered;
        let thread = std::thread::Builder::new()
            .name("checkpoint".to_owned())
            .spawn(move || {
                let folder = folder?;
                checkpoint.annex = annex.map(|annex| annex()).unwrap_or_default();
                folder.write(&checkpoint)
            })?;
        self.writing = Some(Writing { thread, at });
        Ok(gathered)
    }

    /// Takes the outcome of the checkpoint being written once it is done (or at once, waiting
    /// for it, with `wait`): the bytes written and where it was taken, or why it failed. A
    /// written checkpoint is the one on disk; a failed one is counted. Either way the next is
    /// counted from it: a failing disk is tried again at the policy's pace, not every pass.
    pub fn finish_writing(&mut self, wait: bool) -> Option<Settled> {
        let done = self
            .writing
            .as_ref()
            .is_some_and(|writing| wait || writing.thread.is_finished());
        if !done {
            return None;
        }
        let Writing { thread, at } = self.writing.take()?;
        let written = thread.join().unwrap_or_else(|_| {
            Err(CheckpointError::State(
                "the checkpoint's thread panicked".to_owned(),
            ))
        });
        let warned_before = match &written {
            Ok(_) => {
                self.on_disk = Some(at.updates);
                self.warned = None;
                false
            }
            Err(error) => {
                if matches!(error, CheckpointError::FolderGone { .. }) {
                    // The checkpoint written last went with its folder.
                    self.on_disk = None;
                }
                self.failures.count += 1;
                let reason = error.to_string();
                self.failures.last = Some(reason.clone());
                self.warned.replace(reason) == self.failures.last
            }
        };
        self.last = at;
        Some(Settled {
            written,
            at,
            warned_before,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn policy(every_updates: Option<u64>, every_s: Option<u64>) -> CheckpointPolicy {
        CheckpointPolicy {
            dir: PathBuf::from("unused"),
            every_updates,
            every: every_s.map(Duration::from_secs),
            job: "test".to_owned(),
        }
    }

    fn at(updates: u64, elapsed_s: f64) -> Mark {
        Mark { updates, elapsed_s }
    }

    #[test]
    fn due_by_updates() {
        let every_10 = policy(Some(10), None);
        let last = at(20, 5.0);
        assert_eq!(due(&every_10, at(29, 500.0), last, None), Due::No);
        assert_eq!(due(&every_10, at(30, 5.0), last, None), Due::Yes);
        assert_eq!(due(&every_10, at(31, 5.0), last, None), Due::Yes);
    }

    #[test]
    fn due_by_time() {
        let every_60s = policy(None, Some(60));
        let last = at(20, 100.0);
        assert_eq!(due(&every_60s, at(1000, 159.5), last, None), Due::No);
        assert_eq!(due(&every_60s, at(21, 160.0), last, None), Due::Yes);
    }

    #[test]
    fn not_due_without_a_new_update() {
        let both = policy(Some(1), Some(1));
        let last = at(20, 100.0);
        assert_eq!(due(&both, at(20, 1000.0), last, None), Due::No);
        assert_eq!(due(&both, at(21, 1000.0), last, None), Due::Yes);
    }

    #[test]
    fn by_time_not_due_while_another_is_written() {
        let every_60s = policy(None, Some(60));
        let (last, writing) = (at(0, 0.0), at(10, 60.0));
        assert_eq!(due(&every_60s, at(50, 500.0), last, None), Due::Yes);
        assert_eq!(due(&every_60s, at(50, 500.0), last, Some(writing)), Due::No);
    }

    #[test]
    fn by_updates_waits_for_the_one_being_written() {
        let every_10 = policy(Some(10), None);
        let (last, writing) = (at(0, 0.0), at(10, 1.0));
        // Counted from the one being written, not from the last one on disk.
        assert_eq!(due(&every_10, at(15, 2.0), last, Some(writing)), Due::No);
        assert_eq!(
            due(&every_10, at(20, 2.0), last, Some(writing)),
            Due::AfterTheOneBeingWritten
        );
        // Once it is written, it is the last one, and the next is due.
        assert_eq!(due(&every_10, at(20, 2.0), writing, None), Due::Yes);
    }

    #[test]
    fn a_stop_takes_a_last_checkpoint_of_anything_new() {
        let mut checkpoints = Checkpoints::default();
        checkpoints.set_policy(policy(None, Some(3600)), at(100, 3.0));
        assert_eq!(checkpoints.due(at(101, 4.0), false), Due::No);
        assert_eq!(checkpoints.due(at(101, 4.0), true), Due::Yes);
        // Nothing new since the last one: it is the last state already.
        assert_eq!(due_at_stop(at(100, 9.0), at(100, 3.0), None), Due::No);
        // One being written: the stop waits for it, unless it holds the state already.
        let writing = Some(at(150, 5.0));
        assert_eq!(
            due_at_stop(at(160, 6.0), at(100, 3.0), writing),
            Due::AfterTheOneBeingWritten
        );
        assert_eq!(due_at_stop(at(150, 6.0), at(100, 3.0), writing), Due::No);
    }

    #[test]
    fn a_failure_is_warned_of_once_per_reason_until_one_is_written() {
        // A file where the folder should be: every write fails, for the same reason.
        let dir = std::env::temp_dir().join(format!("checkpoints-warned-{}", std::process::id()));
        std::fs::write(&dir, "not a folder").unwrap();
        let mut checkpoints = Checkpoints::default();
        let write = |checkpoints: &mut Checkpoints, dir: &PathBuf| {
            let mut policy = policy(Some(1), None);
            policy.dir = dir.clone();
            checkpoints.set_policy(policy, at(0, 0.0));
            let checkpoint = Checkpoint {
                job: "test".to_owned(),
                ..Checkpoint::default()
            };
            checkpoints
                .start_writing(checkpoint, at(1, 1.0), std::time::Instant::now())
                .unwrap();
            let settled = checkpoints.finish_writing(true).unwrap();
            (settled.written.is_ok(), settled.warned_before)
        };
        assert_eq!(write(&mut checkpoints, &dir), (false, false));
        assert_eq!(write(&mut checkpoints, &dir), (false, true));
        assert_eq!(write(&mut checkpoints, &dir), (false, true));
        // Another reason is news.
        let other = dir.join("below");
        assert_eq!(write(&mut checkpoints, &other), (false, false));
        // Once one is written, the next failure is news again.
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(write(&mut checkpoints, &dir), (true, false));
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::write(&dir, "not a folder").unwrap();
        assert_eq!(write(&mut checkpoints, &dir), (false, false));
        assert_eq!(checkpoints.failures().count, 5);
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn a_folder_removed_or_replaced_mid_run_is_neither_made_again_nor_written_into() {
        // A folder removed mid-run was made again by the next write, without the lock the
        // program kept in the old one: a second run took it, and both wrote into it.
        let scratch = test_support::scratch("checkpoints-folder-gone");
        // Made before the policy (as a program that locks it does), or by the first write.
        for made_before in [true, false] {
            let dir = scratch.join(format!("made-before-{made_before}"));
            if made_before {
                checkpoint::prepare_folder(&dir).unwrap();
            }
            let mut checkpoints = Checkpoints::default();
            let mut every_update = policy(Some(1), None);
            every_update.dir = dir.clone();
            checkpoints.set_policy(every_update, at(0, 0.0));
            let mut write = |updates: u64| {
                let checkpoint = Checkpoint {
                    job: "test".to_owned(),
                    ..Checkpoint::default()
                };
                let now = std::time::Instant::now();
                let taken = at(updates, updates as f64);
                checkpoints.start_writing(checkpoint, taken, now).unwrap();
                let written = checkpoints.finish_writing(true).unwrap().written;
                (written, checkpoints.on_disk())
            };
            let (written, on_disk) = write(1);
            assert!(written.is_ok() && on_disk == Some(1), "{written:?}");
            std::fs::remove_dir_all(&dir).unwrap();
            let (written, on_disk) = write(2);
            assert!(!dir.exists(), "made again: {written:?}");
            assert!(
                matches!(
                    written,
                    Err(CheckpointError::FolderGone {
                        replaced: false,
                        ..
                    })
                ),
                "{written:?}"
            );
            assert_eq!(
                on_disk, None,
                "the checkpoint of update 1 went with its folder"
            );
            // Another run's folder at the name now: not written into either.
            checkpoint::prepare_folder(&dir).unwrap();
            let (written, on_disk) = write(3);
            assert!(!dir.join(checkpoint::FILE).exists(), "{written:?}");
            assert!(
                matches!(
                    written,
                    Err(CheckpointError::FolderGone { replaced: true, .. })
                ),
                "{written:?}"
            );
            assert_eq!(on_disk, None);
        }
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn a_folder_replaced_before_it_is_handed_over_is_not_written_into() {
        // The program locks its folder before the run; the driver took the folder at its path
        // again when the policy was set, so one replaced in between (the lock gone with the
        // old one) was held, and written into, as the run's own.
        let scratch = test_support::scratch("checkpoints-folder-handed");
        let dir = scratch.join("ck");
        let taken = checkpoint::Folder::take(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        checkpoint::prepare_folder(&dir).unwrap();
        let mut checkpoints = Checkpoints::default();
        checkpoints.set_policy_into(policy(Some(1), None), taken, at(0, 0.0));
        assert_eq!(
            checkpoints.policy().map(|p| p.dir.clone()),
            Some(dir.clone())
        );
        let checkpoint = Checkpoint {
            job: "test".to_owned(),
            ..Checkpoint::default()
        };
        let now = std::time::Instant::now();
        checkpoints
            .start_writing(checkpoint, at(1, 1.0), now)
            .unwrap();
        let written = checkpoints.finish_writing(true).unwrap().written;
        assert!(
            matches!(
                written,
                Err(CheckpointError::FolderGone { replaced: true, .. })
            ),
            "{written:?}"
        );
        assert!(
            !dir.join(checkpoint::FILE).exists(),
            "written into the other folder"
        );
        assert_eq!(checkpoints.on_disk(), None);
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn no_policy_no_checkpoint() {
        let checkpoints = Checkpoints::default();
        assert_eq!(checkpoints.due(at(1_000_000, 1e6), true), Due::No);
    }

    #[test]
    fn a_policy_counts_from_when_it_was_set() {
        let mut checkpoints = Checkpoints::default();
        checkpoints.set_policy(policy(Some(10), None), at(100, 3.0));
        assert_eq!(checkpoints.due(at(105, 4.0), false), Due::No);
        assert_eq!(checkpoints.due(at(110, 4.0), false), Due::Yes);
    }

    #[test]
    fn resuming_counts_from_the_checkpoint_and_hands_its_variables_once() {
        let mut checkpoints = Checkpoints::default();
        checkpoints.set_policy(policy(Some(10), None), at(0, 0.0));
        let saved = Checkpoint {
            optimizer: "asgd".to_owned(),
            iteration: 7,
            ..Checkpoint::default()
        };
        checkpoints.resume(saved, at(70, 12.0));
        assert_eq!(checkpoints.due(at(75, 13.0), false), Due::No);
        assert_eq!(checkpoints.due(at(80, 13.0), false), Due::Yes);
        assert_eq!(checkpoints.resumed().map(|c| c.iteration), Some(7));
        let taken = checkpoints
            .take_loop_resume()
            .expect("the loop's variables");
        assert_eq!((taken.optimizer.as_str(), taken.iteration), ("asgd", 7));
        assert!(checkpoints.take_loop_resume().is_none());
    }
}
