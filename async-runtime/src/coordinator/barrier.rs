//! Barriers: the rule, checked before each dispatch and again after each event while a
//! reduce waits, that says whether the idle workers get a task now or the driver first waits
//! for more results. Any `Fn(&WorkerTable) -> bool` is a rule; the presets name the classic
//! models. A barrier may also select which idle workers get the task: a predicate applied to
//! each worker's row of the table, as ASYNC's `ASYNCbarrier(f, STAT)` applies `f` to each
//! worker's state (`barrier!(rule, select = |w| ...)` in the DSL), or to the row and the whole
//! table, for a choice relative to the others (`select = |w, table| ...`).
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
//!
//! When nothing is in flight and no result waits, no result can ever change the table: a rule
//! that says no then would hold the run forever. The driver dispatches anyway, counts it in
//! `RunStats::barrier_overrides` and logs a warning (a quorum above the workers left, say).
//! A selection is never overridden: one that picks none of the idle workers then ends the run
//! with `RuntimeError::BarrierDeadlock`, which names the idle workers.

use super::table::{WorkerInfo, WorkerTable};

/// A barrier: the rule that says when idle workers get work, and the selection that says
/// which of them do.
///
/// ```
/// use asyncopt_runtime::{asp, Barrier, WorkerInfo, WorkerTable};
///
/// let fresh_only = Barrier::new(asp()).select(|w: &WorkerInfo| w.last_staleness < 4);
/// // Relative to the others: no worker more than 2 tasks ahead of the live one that did least.
/// let even = Barrier::new(asp()).select_in_table(|w: &WorkerInfo, table: &WorkerTable| {
///     let least = table.all().iter().filter(|o| o.alive).map(|o| o.tasks_done).min();
///     w.tasks_done <= least.unwrap_or(0) + 2
/// });
/// # let _ = (fresh_only, even);
/// ```
pub struct Barrier<R, S> {
    rule: R,
    select: S,
}

impl<R: Fn(&WorkerTable) -> bool> Barrier<R, fn(&WorkerInfo, &WorkerTable) -> bool> {
    /// A barrier of `rule` that lets every idle worker work when the rule holds.
    pub fn new(rule: R) -> Self {
        Barrier {
            rule,
            select: everyone,
        }
    }
}

impl<R: Fn(&WorkerTable) -> bool, S: Fn(&WorkerInfo, &WorkerTable) -> bool> Barrier<R, S> {
    /// The same rule; only idle workers for which `select` holds get work.
    pub fn select<T: Fn(&WorkerInfo) -> bool>(
        self,
        select: T,
    ) -> Barrier<R, impl Fn(&WorkerInfo, &WorkerTable) -> bool> {
        self.select_in_table(move |worker: &WorkerInfo, _: &WorkerTable| select(worker))
    }

    /// The same rule; only idle workers for which `select` holds get work, `select` seeing
    /// each one's row and the whole table (the rows of every worker, the clock), as it is
    /// when the driver dispatches.
    pub fn select_in_table<T: Fn(&WorkerInfo, &WorkerTable) -> bool>(
        self,
        select: T,
    ) -> Barrier<R, T> {
        Barrier {
            rule: self.rule,
            select,
        }
    }

    /// The rule and the selection, as the coordinator uses them.
    pub(crate) fn parts(&self) -> Gate<'_> {
        (&self.rule, &self.select)
    }
}

/// A barrier as the coordinator applies it: the rule and the selection.
pub(crate) type Gate<'a> = (
    &'a dyn Fn(&WorkerTable) -> bool,
    &'a dyn Fn(&WorkerInfo, &WorkerTable) -> bool,
);

/// The selection of a barrier without one: every idle worker.
pub fn everyone(_: &WorkerInfo, _: &WorkerTable) -> bool {
    true
}

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
