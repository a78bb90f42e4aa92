//! A request, from outside the training loop, to end a run the way a stop rule does: a Ctrl-C
//! handler, a user interface or a supervisor on another thread asks; the driver ends the
//! loop at its next `broadcast!` or `reduce!`. With checkpoints on, it first finishes the pass
//! going on and saves the state at the top of the next one, so that the run resumes from a
//! pass boundary; a pass that takes longer than [`STOP_WAITS_FOR_PASS`] (an epoch of many
//! updates in a nested loop) is not waited for, and the run resumes from its last periodic
//! checkpoint. A stop before the run's first update ends it at once, checkpoints on or not:
//! nothing is new since its start (or the checkpoint it resumed, which stays as it was).
//! [`Driver::finish`](super::Driver::finish) reports the run as it stood. Nothing computed is
//! thrown away: the optimizer returns its model as after any stop rule.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long a stop waits for the top of the next pass, where its checkpoint is taken.
pub const STOP_WAITS_FOR_PASS: Duration = Duration::from_secs(10);

/// Asks the runs that share it to stop. Cloning shares the request; one handle can stop
/// every run of a process ([`Driver::stop_on`](super::Driver::stop_on)).
///
/// ```no_run
/// use asyncopt_runtime::{ClusterConfig, Driver, StopHandle};
/// # fn main() -> Result<(), asyncopt_runtime::RuntimeError> {
/// let mut driver = Driver::launch(ClusterConfig::local(4))?;
/// let stop: StopHandle = driver.stop_handle();
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_secs(60));
///     stop.request(); // the training loop ends at its next broadcast! or reduce!
/// });
/// // ... call an #[async_optimizer] function with `&mut driver`: it returns its model ...
/// let report = driver.finish()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<OnceLock<Instant>>);

impl StopHandle {
    /// A handle nobody has asked to stop yet.
    pub fn new() -> StopHandle {
        StopHandle::default()
    }

    /// Asks the runs sharing this handle to stop. Safe from any thread, and from a signal
    /// handler's thread; asking again changes nothing.
    pub fn request(&self) {
        let _ = self.0.set(Instant::now());
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.0.get().is_some()
    }

    /// How long ago the stop was first asked for, if it was.
    pub fn asked_since(&self) -> Option<Duration> {
        self.0.get().map(Instant::elapsed)
    }

    /// Asks as if at `at`, for tests of what a stop waits for.
    #[cfg(test)]
    pub(crate) fn request_at(&self, at: Instant) {
        let _ = self.0.set(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reaches_every_clone() {
        let handle = StopHandle::new();
        let other = handle.clone();
        assert!(!other.is_requested());
        handle.request();
        assert!(other.is_requested() && handle.is_requested());
        assert!(!StopHandle::new().is_requested(), "a new handle is its own");
    }
}
