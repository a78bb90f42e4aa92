//! What a worker has served so far, readable from another thread while it serves: a program
//! stopped by a signal says from it what the worker did (a worker that served a run said
//! "nothing was trained").

use std::sync::{Mutex, PoisonError};

use super::served::RunsServed;

/// The runs a worker was admitted to, the tasks it answered, and whether it is in a run now;
/// shared by the clones of its [`WorkerOptions`](super::WorkerOptions).
#[derive(Debug, Default)]
pub struct Progress(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    /// The runs, told apart by the one rule the worker's own account uses.
    runs: RunsServed,
    tasks: u64,
    serving: bool,
}

/// A reading of [`Progress`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SoFar {
    /// Runs whose driver admitted this worker (a session of the same run opened again counts
    /// once).
    pub runs: u32,
    /// Tasks answered with a result, in all runs.
    pub tasks: u64,
    /// A session with a driver is open now: the worker serves a run, rather than waits for
    /// one.
    pub serving: bool,
}

impl Progress {
    /// What the worker has served so far.
    pub fn so_far(&self) -> SoFar {
        let state = self.lock();
        SoFar {
            runs: state.runs.count(),
            tasks: state.tasks,
            serving: state.serving,
        }
    }

    /// A session of run `run_id` is open.
    pub(super) fn serving(&self, run_id: u64) {
        let mut state = self.lock();
        state.runs.opened(run_id);
        state.serving = true;
    }

    /// A task's result is sent.
    pub(super) fn answered(&self) {
        self.lock().tasks += 1;
    }

    /// The connection to the driver ended, session or not.
    pub(super) fn left(&self) {
        self.lock().serving = false;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_counts_once_however_many_sessions_it_opened() {
        let progress = Progress::default();
        assert_eq!(progress.so_far().runs, 0);
        progress.serving(7);
        progress.answered();
        progress.left();
        // Joined again at the same driver: the same run.
        progress.serving(7);
        progress.answered();
        let so_far = progress.so_far();
        assert_eq!((so_far.runs, so_far.tasks, so_far.serving), (1, 2, true));
        progress.left();
        progress.serving(9);
        let so_far = progress.so_far();
        assert_eq!((so_far.runs, so_far.tasks, so_far.serving), (2, 2, true));
        progress.left();
        assert!(!progress.so_far().serving);
    }
}
