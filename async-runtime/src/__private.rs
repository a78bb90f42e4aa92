//! The calls `#[async_optimizer]` expands to. Each `DSL` form maps to one function here, so
//! expanded code stays short and readable.

pub use inventory;
pub use serde;

pub use crate::data::{Batch, Partition};
pub use crate::error::TaskError;
pub use crate::history::HistorySlice;
pub use crate::task::{TaskContext, TaskEntry};

use serde::{de::DeserializeOwned, Serialize};

use crate::broadcast::Broadcast;
use crate::checkpoint::{CheckpointError, Saved};
pub use crate::coordinator::ReadSpec;
use crate::coordinator::TaskSpec;
use crate::coordinator::{Barrier, Collected, Combine, Driver, WorkerInfo, WorkerTable};
use crate::data::Dataset;
use crate::error::RuntimeError;
use crate::history::History;
use crate::protocol::{Sample, MAX_TASK_LIST};

/// `broadcast!(x)`: publishes a version of `x`; `true` means the loop must end. Observers see
/// the model: the variable the optimizer returns.
pub fn broadcast<T: Broadcast>(
    cx: &mut Driver,
    name: &'static str,
    value: &T,
    is_model: bool,
) -> bool {
    cx.runtime_call(|cx| cx.publish(name, value, is_model))
}

/// `barrier!(rule)`: gives a closure rule its parameter type (the worker table);
/// `barrier!(rule, select = pred)` adds `.select(pred)`, whose parameter is a worker's row,
/// and `select = |w, table| ...` adds `.select_in_table(pred)`.
pub fn barrier<B: Fn(&WorkerTable) -> bool>(
    rule: B,
) -> Barrier<B, fn(&WorkerInfo, &WorkerTable) -> bool> {
    Barrier::new(rule)
}

/// `barrier!(rule, select = pred)`: the predicate behind one known type, so that one that is
/// no predicate is reported once, where it is written, and not again by the `reduce!` that
/// uses the barrier.
pub fn selection<'a>(
    select: Box<dyn Fn(&WorkerInfo) -> bool + 'a>,
) -> Box<dyn Fn(&WorkerInfo) -> bool + 'a> {
    select
}

/// A selection that reads the whole table beside the worker's row, behind one known type.
pub type InTable<'a> = Box<dyn Fn(&WorkerInfo, &WorkerTable) -> bool + 'a>;

/// `barrier!(rule, select = |w, table| ...)`: as [`selection`], for a predicate that also
/// reads the whole table.
pub fn selection_in_table(select: InTable<'_>) -> InTable<'_> {
    select
}

/// A broadcast variable a `reduce!` closure reads at its latest version.
pub fn read(name: &'static str) -> ReadSpec {
    ReadSpec { name, at: None }
}

/// `w.at(v)` in a `reduce!` closure: reads version `v` of `w`, evaluated on the driver.
pub fn read_at<V: VersionId>(name: &'static str, version: V) -> ReadSpec {
    ReadSpec {
        name,
        at: Some(version.version()),
    }
}

/// The argument of a pinned read `w.at(v)`.
#[diagnostic::on_unimplemented(
    message = "`w.at(v)` reads version `v` of a broadcast variable, a `u64`, not `{Self}`",
    label = "expected a version number (`u64`)",
    note = "take versions from the driver: `cx.version(\"w\")` (the latest) or \
            `cx.last_result()` then `.version_of(\"w\")` (the one a result read), unwrapped"
)]
pub trait VersionId {
    /// The version number.
    fn version(self) -> u64;
}

impl VersionId for u64 {
    fn version(self) -> u64 {
        self
    }
}

/// A `max_staleness = ..` bound: any unsigned integer.
#[diagnostic::on_unimplemented(
    message = "`max_staleness` must be an unsigned integer, not `{Self}`",
    label = "expected an unsigned integer (u32, u64, usize)",
    note = "write a number of updates, such as `4` or `p.max_staleness`; convert a computed value with `as u64`"
)]
pub trait StalenessBound {
    /// The bound in updates.
    fn updates(self) -> u64;
}

macro_rules! staleness_bound {
    ($($t:ty),*) => {$(
        impl StalenessBound for $t {
            fn updates(self) -> u64 {
                self as u64
            }
        }
    )*};
}
staleness_bound!(u8, u16, u32, u64, usize);

/// A value a `reduce!` closure captures: it must travel to the workers.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is captured by a reduce! closure but cannot travel to the workers",
    label = "captured by the closure of this reduce!",
    note = "captured values are sent to worker processes: derive `serde::Serialize` and `serde::Deserialize` for `{Self}` if it is a type of yours",
    note = "a type of another crate without them (`std::time::Instant`, a file, a lock) cannot travel: capture what the workers need of it instead (a number, a `Duration`)"
)]
pub trait Capture: Serialize + DeserializeOwned {}
// Reported as a missing `Capture`, once, rather than once per serde trait the type lacks.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> Capture for T {}

/// Type-checks a capture at its span and borrows it for encoding.
pub fn capture<T: Capture>(value: &T) -> &T {
    value
}

/// A `reduce!` result: it must travel back from the workers.
#[diagnostic::on_unimplemented(
    message = "the reduce! closure returns `{Self}`, which cannot travel back from the workers",
    label = "returned by the closure of this reduce!",
    note = "results are sent back from worker processes: derive `serde::Serialize` and `serde::Deserialize` for `{Self}`"
)]
pub trait Outcome: Serialize + DeserializeOwned {}
// Reported as a missing `Outcome`, once, rather than once per serde trait the type lacks.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> Outcome for T {}

/// The result of a `reduce!` outside the training loop once the run has stopped or failed.
#[diagnostic::on_unimplemented(
    message = "a reduce! outside the training loop returns `{Self}`, which has no `Default`",
    label = "this reduce! runs outside the training loop",
    note = "when the run has already stopped, a reduce! outside the training loop yields the default value \
            and the training loop then ends at once: return a type with `Default` (`f64`, `Array1<f64>`, a tuple of them)"
)]
pub trait OneOff: Default {}
impl<T: Default> OneOff for T {}

/// What a one-off `reduce!` yields when the run has stopped: the default value. The training
/// loop's first DSL call then leaves it, and [`Driver::finish`] reports why.
pub fn one_off_stopped<R: OneOff>() -> R {
    R::default()
}

/// Captured values larger than this are sent with every task, and deserve a warning.
pub const LARGE_CAPTURE_BYTES: usize = 1 << 20;

/// The warning for `task`'s captures of `len` bytes: once per task, if they are large.
fn large_capture_warning(task: &'static str, len: usize) -> Option<String> {
    use std::sync::Mutex;
    static WARNED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    if len < LARGE_CAPTURE_BYTES {
        return None;
    }
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.contains(&task) {
        return None;
    }
    warned.push(task);
    Some(format!(
        "the closure of reduce! {task} captures {:.1} MiB, sent with every task: \
             broadcast! large values instead (workers keep them and are sent only changes), \
             or compute them on the workers from the partition",
        len as f64 / (1 << 20) as f64
    ))
}

fn encode_captures<C: Serialize>(
    cx: &mut Driver,
    task: &'static str,
    captures: &C,
) -> Option<Vec<u8>> {
    match postcard::to_allocvec(captures) {
        Ok(bytes) => {
            if let Some(warning) = large_capture_warning(task, bytes.len()) {
                tracing::warn!("{warning}");
                if !tracing::dispatcher::has_been_set() {
                    eprintln!("warning: {warning}");
                }
            }
            Some(bytes)
        }
        Err(e) => {
            cx.fail(RuntimeError::Config(format!(
                "captured values do not encode: {e}"
            )));
            None
        }
    }
}

/// Decodes a result and inspects it: returns its shape, the history rows it names and the
/// first number in it that is not finite, for the driver to judge against the site's shape,
/// the task's rows and the task's other results.
fn decode_result<R: Serialize + DeserializeOwned>(
    body: &[u8],
) -> Result<(R, crate::coordinator::Inspected), String> {
    let value: R = postcard::from_bytes(body).map_err(|e| format!("it does not decode: {e}"))?;
    let inspected = crate::coordinator::inspect(&value)?;
    Ok((value, inspected))
}

/// What a `reduce!` runs on: every row of each partition, or a minibatch of each.
pub struct Source<'a> {
    data: &'a Dataset,
    sample: Option<Sample>,
}

impl<'a> Source<'a> {
    /// `reduce!(data, |part| ...)`: the closure gets whole partitions.
    pub fn all(data: &'a Dataset) -> Source<'a> {
        Source { data, sample: None }
    }

    /// `reduce!(data.sample(batch, k), |batch| ...)`: the closure gets the minibatch each
    /// partition draws for update `k`; the driver draws the same rows to slice histories.
    pub fn sampled(data: &'a Dataset, batch: usize, k: usize) -> Source<'a> {
        Source {
            data,
            sample: Some(Sample {
                batch: u32::try_from(batch).unwrap_or(u32::MAX),
                k: k as u64,
            }),
        }
    }
}

/// One `reduce!` site, as its expansion describes it: what it runs on, the registered task,
/// the captured values, the broadcast variables it reads and the history tables it slices.
pub struct Site<'a, C> {
    /// What the closure runs on.
    pub source: Source<'a>,
    /// The task's stable id.
    pub task: &'static str,
    /// The captured values, as one tuple.
    pub captures: &'a C,
    /// The broadcast variables it reads, latest or pinned.
    pub reads: &'a [ReadSpec],
    /// The history tables it reads.
    pub histories: &'a [&'a History],
    /// Outside the training loop (an initial full gradient, a final evaluation): no update.
    pub one_off: bool,
}

/// Builds the task of one `reduce!` call; `None` when the loop must end.
fn task_spec<'a, C: Serialize>(
    cx: &mut Driver,
    site: &Site<'a, C>,
    encoded: &'a mut Vec<u8>,
) -> Option<TaskSpec<'a>> {
    if cx.halted() {
        return None;
    }
    let rows = site.source.data.full_rows();
    if let Some(short) = site.histories.iter().find(|table| table.len() < rows) {
        // Its tasks would read entries of rows it does not have.
        cx.fail(RuntimeError::Config(format!(
            "a History table that `{}` reads has {} entries for {rows} rows: size it by \
             data.full_rows() (with shared data access, data.n_rows() counts only the \
             driver's evaluation sample)",
            site.task,
            short.len()
        )));
        return None;
    }
    if let Some(error) = beyond_task_lists(site) {
        cx.fail(error);
        return None;
    }
    *encoded = encode_captures(cx, site.task, site.captures)?;
    match cx.resolve_reads(site.task, site.reads) {
        Ok((reads, versions)) => Some(TaskSpec {
            task: site.task,
            captures: encoded,
            reads,
            versions,
            sample: site.source.sample,
            histories: site.histories,
        }),
        Err(e) => {
            cx.fail(e);
            None
        }
    }
}

/// A site whose task order would hold a list longer than a worker decodes
/// ([`MAX_TASK_LIST`]): refused here, by name, or each worker would refuse its order as a
/// malformed frame. The versions shipped are at most one per read, so reads and history tables
/// are what to count.
fn beyond_task_lists<C>(site: &Site<'_, C>) -> Option<RuntimeError> {
    let (reads, tables) = (site.reads.len(), site.histories.len());
    let (count, what, instead) = if reads > MAX_TASK_LIST {
        (
            reads,
            "broadcast reads",
            "broadcast one variable that holds them together",
        )
    } else if tables > MAX_TASK_LIST {
        (
            tables,
            "History tables",
            "keep the entries in fewer, wider tables",
        )
    } else {
        return None;
    };
    Some(RuntimeError::Config(format!(
        "reduce! `{}` has {count} {what}, more than the {MAX_TASK_LIST} a task order carries \
         to a worker: {instead}",
        site.task
    )))
}

/// `reduce!` without a barrier: runs the task on every partition and combines the results.
/// `None` means the loop must end (a stop rule fired or the run failed).
///
/// `_witness` is the closure itself, never called on the driver: it fixes the result type.
pub fn reduce_sync<C, P, X, R, F>(cx: &mut Driver, site: Site<'_, C>, _witness: F) -> Option<R>
where
    C: Serialize,
    R: Outcome + Combine,
    F: FnOnce(P, X) -> R,
{
    cx.runtime_call(|cx| {
        let mut encoded = Vec::new();
        let spec = task_spec(cx, &site, &mut encoded)?;
        let task = site.task;
        // Each result is checked alone as it is decoded (type, shape, finite); the parts are
        // then checked together before they are combined (same shapes across partitions).
        let outcome = cx
            .gather_all(site.source.data, &spec, &decode_result::<R>)
            .and_then(|parts| {
                R::check(&parts.iter().collect::<Vec<&R>>()).map_err(|reason| {
                    RuntimeError::Uncombinable {
                        task: task.to_owned(),
                        reason,
                    }
                })?;
                if !site.one_off {
                    cx.count_update();
                }
                Ok(R::combine(parts))
            });
        settle(cx, outcome)
    })
}

/// `reduce!` after a `barrier!`: dispatches to the workers the barrier releases and returns the
/// next result within the staleness bound. `None` means the loop must end.
pub fn reduce_async<C, P, X, R, F, B, T, S>(
    cx: &mut Driver,
    site: Site<'_, C>,
    barrier: &Barrier<B, T>,
    max_staleness: Option<S>,
    _witness: F,
) -> Option<R>
where
    C: Serialize,
    R: Outcome,
    F: FnOnce(P, X) -> R,
    B: Fn(&WorkerTable) -> bool,
    T: Fn(&WorkerInfo, &WorkerTable) -> bool,
    S: StalenessBound,
{
    let bound = max_staleness.map(StalenessBound::updates);
    cx.runtime_call(|cx| {
        let mut encoded = Vec::new();
        let spec = task_spec(cx, &site, &mut encoded)?;
        let outcome = cx.reduce_next(
            site.source.data,
            &spec,
            barrier.parts(),
            bound,
            &decode_result::<R>,
        );
        settle(cx, outcome.map(|collected| collected.value))
    })
}

/// `reduce!(..., collect = all)` after a `barrier!`: dispatches as `reduce_async` does, waits
/// for one result within the bound, then returns it with every other result already in hand,
/// each with its metadata. One update. `None` means the loop must end.
pub fn reduce_drain<C, P, X, R, F, B, T, S>(
    cx: &mut Driver,
    site: Site<'_, C>,
    barrier: &Barrier<B, T>,
    max_staleness: Option<S>,
    _witness: F,
) -> Option<Vec<Collected<R>>>
where
    C: Serialize,
    R: Outcome,
    F: FnOnce(P, X) -> R,
    B: Fn(&WorkerTable) -> bool,
    T: Fn(&WorkerInfo, &WorkerTable) -> bool,
    S: StalenessBound,
{
    let bound = max_staleness.map(StalenessBound::updates);
    cx.runtime_call(|cx| {
        let mut encoded = Vec::new();
        let spec = task_spec(cx, &site, &mut encoded)?;
        let outcome = cx.reduce_drain(
            site.source.data,
            &spec,
            barrier.parts(),
            bound,
            &decode_result::<R>,
        );
        settle(cx, outcome)
    })
}

fn settle<R>(cx: &mut Driver, outcome: Result<R, RuntimeError>) -> Option<R> {
    match outcome {
        Ok(result) => Some(result),
        // A stop asked for while no worker was left to finish the pass: the loop ends as a
        // stop ends it, not as a failure.
        Err(RuntimeError::StoppedWaiting { .. }) if cx.stop_requested() => None,
        // A wait for results left at a stop before the run's first update: what the user
        // asked for, done at once.
        Err(RuntimeError::Stopped(why)) if cx.stopped_before_first_update() => {
            tracing::info!("{why}: the run ends where it waits, with the model it began with");
            cx.stopped = true;
            None
        }
        // A wait for results with no update in sight, left a grace after a stop or the time
        // limit: a task that hangs, say.
        Err(RuntimeError::Stopped(why)) => {
            tracing::warn!("{why}: the run ends where it waits, its model so far kept");
            cx.stopped = true;
            None
        }
        Err(e) => {
            cx.fail(e);
            None
        }
    }
}

/// The type a `max_staleness` left out defaults to.
pub type NoBound = u64;

/// A history table a `reduce!` closure reads.
pub fn history(table: &History) -> &History {
    table
}

/// The training loop's variables, gathered for a checkpoint.
#[derive(Default)]
pub struct LoopState {
    saved: Vec<Saved>,
    unsaveable: Vec<String>,
    /// Only finding the variables that cannot be saved: nothing is encoded.
    probe: bool,
}

/// A loop variable to save: [`SaveSerialize`] when its type is `Serialize`, else
/// [`SaveOpaque`] (chosen by method resolution, so optimizers that never checkpoint need no
/// serde on their variables).
pub struct StateSlot<'a, T>(pub &'a T);

/// Saves a serializable loop variable.
pub trait SaveSerialize {
    /// Adds the variable to `state`.
    fn save_into(&self, state: &mut LoopState, name: &str);
}

impl<T: Serialize> SaveSerialize for StateSlot<'_, T> {
    fn save_into(&self, state: &mut LoopState, name: &str) {
        if state.probe {
            return;
        }
        match postcard::to_allocvec(self.0) {
            Ok(bytes) => state.saved.push(Saved {
                name: name.to_owned(),
                version: 0,
                bytes: bytes.into(),
            }),
            Err(e) => state.unsaveable.push(format!("`{name}` ({e})")),
        }
    }
}

/// Notes a loop variable that cannot be saved.
pub trait SaveOpaque {
    /// Records that the variable cannot be saved.
    fn save_into(&self, state: &mut LoopState, name: &str);
}

impl<T> SaveOpaque for &StateSlot<'_, T> {
    fn save_into(&self, state: &mut LoopState, name: &str) {
        state
            .unsaveable
            .push(format!("`{name}: {}`", std::any::type_name::<T>()));
    }
}

/// At the top of each pass of the training loop: writes a checkpoint when one is due, with the
/// variables `gather` adds (every `mut` binding declared before the loop), and counts the pass.
pub fn checkpoint(
    cx: &mut Driver,
    optimizer: &str,
    passes: &mut u64,
    gather: impl Fn(&mut LoopState),
) {
    let iteration = *passes;
    *passes += 1;
    if cx.first_pass_with_checkpoints() {
        // A variable no checkpoint can save is said before any training, not at the first
        // checkpoint due, which may be the run's end.
        let mut probe = LoopState {
            probe: true,
            ..LoopState::default()
        };
        gather(&mut probe);
        if refused(cx, optimizer, &probe) {
            return;
        }
    }
    if cx.checkpoint_due() {
        save(cx, optimizer, iteration, gather);
    }
}

/// After the training loop, however it was left: the driver's state of the loop's passes
/// (the stop seen at their tops, the check of its variables) is cleared.
pub fn loop_left(cx: &mut Driver) {
    cx.loop_left();
}

/// Where a `for` training loop runs out, after `passes` passes: a last checkpoint of the state
/// it leaves, whatever the policy's interval, so that a run given more updates resumes from its
/// end rather than from its last periodic checkpoint. A loop left by a stop rule, a stop or a
/// failure takes none here (a stop took its own at the top of its last pass).
pub fn checkpoint_at_end(
    cx: &mut Driver,
    optimizer: &str,
    passes: u64,
    gather: impl Fn(&mut LoopState),
) {
    if cx.final_checkpoint_due() {
        save(cx, optimizer, passes, gather);
    }
}

/// Writes the checkpoint of pass `iteration` with the variables `gather` adds, or ends the run
/// naming those a checkpoint cannot save.
fn save(cx: &mut Driver, optimizer: &str, iteration: u64, gather: impl Fn(&mut LoopState)) {
    let mut state = LoopState::default();
    gather(&mut state);
    if refused(cx, optimizer, &state) {
        return;
    }
    cx.runtime_call(|cx| cx.write_checkpoint(optimizer, iteration, state.saved));
}

/// Ends the run if `state` holds variables a checkpoint cannot save, naming them; whether
/// it did.
fn refused(cx: &mut Driver, optimizer: &str, state: &LoopState) -> bool {
    if state.unsaveable.is_empty() {
        return false;
    }
    cx.fail(RuntimeError::Checkpoint(CheckpointError::State(format!(
        "{optimizer} keeps {} across passes of its training loop, and a checkpoint cannot save \
         it: derive serde's Serialize and Deserialize for its type, mark its `let` \
         #[transient] if a resumed run may start it anew, or run without checkpoints",
        state.unsaveable.join(", ")
    ))));
    true
}

/// The variables of the checkpoint a run resumes from, for the optimizer to restore.
pub struct Resumed {
    optimizer: String,
    iteration: u64,
    state: Vec<Saved>,
}

impl Resumed {
    /// Passes of the training loop already done.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The passes a `for` loop skips.
    pub fn skip(resumed: &Option<Resumed>) -> usize {
        resumed.as_ref().map_or(0, |r| r.iteration as usize)
    }
}

/// Before the training loop: the checkpoint's variables, if the run resumes one (once: a second
/// optimizer on the same driver starts afresh). `model`: the loop variable the optimizer
/// broadcasts as its model, the one a checkpoint's judge reads.
pub fn resume(cx: &mut Driver, optimizer: &str, model: Option<&'static str>) -> Option<Resumed> {
    // A loop left by `return` or `?` never reached its `loop_left`: this one starts afresh.
    cx.loop_left();
    cx.checkpoints.set_model(model);
    let saved = cx.checkpoints.take_loop_resume()?;
    if saved.optimizer != optimizer {
        cx.fail(RuntimeError::Checkpoint(CheckpointError::State(format!(
            "the checkpoint was written by optimizer {}, and this run calls {optimizer}",
            saved.optimizer
        ))));
        return None;
    }
    Some(Resumed {
        optimizer: optimizer.to_owned(),
        iteration: saved.iteration,
        state: saved.state,
    })
}

/// One `#[async_optimizer]` function with a training loop, as the build holds it: its
/// checkpoint id (module path and name).
pub struct OptimizerEntry {
    id: &'static str,
}

impl OptimizerEntry {
    /// The optimizer `id`.
    pub const fn new(id: &'static str) -> OptimizerEntry {
        OptimizerEntry { id }
    }
}

inventory::collect!(OptimizerEntry);

/// The id checkpoints know the optimizer `id` (module path and name) standing at `at` by:
/// `id` itself, the id its existing checkpoints carry, unless another optimizer of the build
/// has the same module path and name (two `fn opt`, each inside a function of one module),
/// when the two would resume each other's checkpoints: then `id@line:column`.
pub fn checkpoint_id(id: &'static str, at: &'static str) -> std::borrow::Cow<'static, str> {
    let namesakes = inventory::iter::<OptimizerEntry>
        .into_iter()
        .filter(|entry| entry.id == id)
        .count();
    if namesakes > 1 {
        std::borrow::Cow::Owned(format!("{id}@{at}"))
    } else {
        std::borrow::Cow::Borrowed(id)
    }
}

/// A loop variable to restore: [`RestoreDeserialize`] when its type is `Deserialize`, else
/// [`RestoreOpaque`].
pub struct RestoreSlot<'a, T>(pub &'a mut T);

/// Restores a deserializable loop variable.
pub trait RestoreDeserialize {
    /// Sets the variable to its saved value.
    fn restore_from(&mut self, cx: &mut Driver, resumed: &Resumed, name: &str);
}

impl<T: DeserializeOwned> RestoreDeserialize for RestoreSlot<'_, T> {
    fn restore_from(&mut self, cx: &mut Driver, resumed: &Resumed, name: &str) {
        let optimizer = &resumed.optimizer;
        let Some(saved) = resumed.state.iter().find(|s| s.name == name) else {
            cx.fail(RuntimeError::Checkpoint(CheckpointError::State(format!(
                "the checkpoint has no variable `{name}`: it was written by another build of {optimizer}"
            ))));
            return;
        };
        match postcard::from_bytes(&saved.bytes) {
            Ok(value) => *self.0 = value,
            Err(e) => cx.fail(RuntimeError::Checkpoint(CheckpointError::State(format!(
                "variable `{name}` of the checkpoint does not decode as {}: {e}; \
                 it was written by another build of {optimizer}",
                std::any::type_name::<T>()
            )))),
        }
    }
}

/// Refuses to restore a loop variable that cannot be saved.
pub trait RestoreOpaque {
    /// Ends the run: the variable cannot have been saved.
    fn restore_from(&mut self, cx: &mut Driver, resumed: &Resumed, name: &str);
}

impl<T> RestoreOpaque for &mut RestoreSlot<'_, T> {
    fn restore_from(&mut self, cx: &mut Driver, resumed: &Resumed, name: &str) {
        cx.fail(RuntimeError::Checkpoint(CheckpointError::State(format!(
            "{} keeps `{name}: {}`, which cannot be restored from a checkpoint",
            resumed.optimizer,
            std::any::type_name::<T>()
        ))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_captures_are_warned_of_once_per_site_with_their_size() {
        assert_eq!(large_capture_warning("test::small#1", 1000), None);
        let warning = large_capture_warning("test::large#1", 3 << 20).expect("a warning");
        assert!(warning.contains("3.0 MiB"), "{warning}");
        assert!(warning.contains("test::large#1"), "{warning}");
        assert_eq!(
            large_capture_warning("test::large#1", 3 << 20),
            None,
            "once"
        );
        assert!(large_capture_warning("test::large#2", 2 << 20).is_some());
    }

    #[test]
    fn a_stopped_one_off_reduce_yields_the_default() {
        let (a, b): (f64, ndarray::Array1<f64>) = one_off_stopped();
        assert_eq!((a, b.len()), (0.0, 0));
    }
}
