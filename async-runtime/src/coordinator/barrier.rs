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
//! assert!(bsp()(&empty)); // nobody holds a task
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

/// Bulk synchronous: rounds. Dispatch only when no live worker holds a task, in flight or
/// answered with a result not yet used; then every idle worker gets one. Whatever the
/// prefetch, a round's results are all used before the next round goes out, so a used
/// result is at most as stale as the results of its own round used before it (with one
/// result per update, at most the live workers less one).
pub fn bsp() -> impl Fn(&WorkerTable) -> bool {
    // Not `idle() == alive()`: with prefetch, a worker still computing is idle (it has room
    // for another task), and rounds would overlap.
    |w: &WorkerTable| w.holding() == 0
}

/// Asynchronous: dispatch as soon as any worker is idle, that is can take a task now (holds
/// fewer tasks than the run's prefetch, see [`WorkerInfo::is_idle`]).
pub fn asp() -> impl Fn(&WorkerTable) -> bool {
    |w: &WorkerTable| w.idle() >= 1
}

/// Stale synchronous: dispatch to idle workers while no task in flight is more than
/// `bound` updates old.
///
/// What it bounds is the age of the tasks in flight when a task goes out, so that no worker
/// gets more than about `bound + 1` tasks ahead of one that is slow to answer. It does not
/// bound the staleness of the results used: a slow worker's result is used after the results
/// the others had in hand when the rule stopped them, so it can be several updates staler than
/// `bound` (more with prefetch, as each worker then holds more). For a hard bound on the
/// results used, drop the staler ones: `reduce!(..., max_staleness = bound)` (counted in
/// `dropped_stale`). "Idle" is [`WorkerInfo::is_idle`]: with prefetch, a worker still
/// computing is idle while it holds fewer tasks than the prefetch.
pub fn ssp(bound: u64) -> impl Fn(&WorkerTable) -> bool {
    move |w: &WorkerTable| w.idle() >= 1 && w.max_staleness_in_flight() <= bound
}

/// Dispatch once at least `k` workers (or every live one, if fewer are left) are idle.
///
/// "Idle" is [`WorkerInfo::is_idle`]: can take a task now. Without prefetch that is a worker
/// holding no task; with prefetch `n`, one holding fewer than `n` tasks, so a worker still
/// computing counts, and the quorum waits for `k` workers with room for another task, not `k`
/// that finished. A quorum of workers that hold nothing is a rule of its own:
/// `|w| w.all().iter().filter(|r| r.is_idle() && r.in_flight + r.unconsumed == 0).count() >= k`.
pub fn quorum(k: usize) -> impl Fn(&WorkerTable) -> bool {
    move |w: &WorkerTable| w.idle() >= k.min(w.alive()).max(1)
}
