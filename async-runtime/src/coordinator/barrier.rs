//! Barriers: the rule, checked before each dispatch, that says whether the idle workers get a
//! task now or the driver first waits for more results. Any `Fn(&WorkerTable) -> bool` is a
//! barrier; the presets name the classic models.
//!
//! ```
//! use asyncopt_runtime::{asp, bsp, quorum, WorkerTable};
//!
//! let empty = WorkerTable::default();
//! assert!(bsp()(&empty)); // nobody is busy
//! assert!(!asp()(&empty)); // but nobody is idle either
//! let custom = |workers: &WorkerTable| workers.idle() >= 2 && workers.max_staleness_in_flight() < 8;
//! assert!(!custom(&empty));
//! assert!(!quorum(3)(&empty));
//! ```

use super::table::WorkerTable;

/// Bulk synchronous: dispatch only when every live worker is idle.
pub fn bsp() -> impl Fn(&WorkerTable) -> bool {
    |w: &WorkerTable| w.idle() == w.alive()
}

/// Asynchronous: dispatch as soon as any worker is idle.
pub fn asp() -> impl Fn(&WorkerTable) -> bool {
    |w: &WorkerTable| w.idle() >= 1
}

/// Stale synchronous: dispatch to idle workers while no task in flight is more than
/// `bound` updates old.
pub fn ssp(bound: u64) -> impl Fn(&WorkerTable) -> bool {
    move |w: &WorkerTable| w.idle() >= 1 && w.max_staleness_in_flight() <= bound
}

/// Dispatch once at least `k` workers (or every live one, if fewer are left) are idle.
pub fn quorum(k: usize) -> impl Fn(&WorkerTable) -> bool {
    move |w: &WorkerTable| w.idle() >= k.min(w.alive()).max(1)
}
