//! A request, from outside the training loop, to end a run the way a stop rule does: a Ctrl-C
//! handler, a user interface or a supervisor on another thread asks; the driver ends the
//! loop at its next `broadcast!` or `reduce!`. With checkpoints on, it first finishes the pass
//! going on and saves the state at the top of the next one, so that the run resumes from a
//! pass boundary. [`Driver::finish`](super::Driver::finish) reports the run as it stood. Nothing computed is thrown away: the optimizer returns its model as after any
//! stop rule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// A handle nobody has asked to stop yet.
    pub fn new() -> StopHandle {
        StopHandle::default()
    }

    /// Asks the runs sharing this handle to stop. Safe from any thread, and from a signal
    /// handler's thread; asking again changes nothing.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
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
