//! The calls `#[async_optimizer]` expands to. Each `DSL` form maps to one function here, so
//! expanded code stays short and readable.

pub use inventory;
pub use serde;

pub use crate::data::Partition;
pub use crate::error::TaskError;
pub use crate::task::{TaskContext, TaskEntry};

use serde::{de::DeserializeOwned, Serialize};

use crate::broadcast::Broadcast;
use crate::coordinator::{Combine, Driver, WorkerTable};
use crate::data::Dataset;
use crate::error::RuntimeError;

/// `broadcast!(x)`: publishes a version of `x`; `true` means the loop must end.
pub fn broadcast<T: Broadcast>(cx: &mut Driver, name: &'static str, value: &T) -> bool {
    cx.runtime_call(|cx| cx.publish(name, value))
}

/// `barrier!(rule)`: gives a closure rule its parameter type (the worker table).
pub fn barrier<B: Fn(&WorkerTable) -> bool>(rule: B) -> B {
    rule
}

/// A `max_staleness = ..` bound: any unsigned integer.
#[diagnostic::on_unimplemented(
    message = "`max_staleness` must be an unsigned integer, not `{Self}`",
    label = "expected an unsigned integer (u32, u64, usize)"
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
    label = "captured here",
    note = "captured values are sent to worker processes: derive `serde::Serialize` and `serde::Deserialize` for `{Self}`"
)]
pub trait Capture: Serialize + DeserializeOwned {}
impl<T: Serialize + DeserializeOwned> Capture for T {}

/// Type-checks a capture at its span and borrows it for encoding.
pub fn capture<T: Capture>(value: &T) -> &T {
    value
}

/// A `reduce!` result: it must travel back from the workers.
#[diagnostic::on_unimplemented(
    message = "the reduce! closure returns `{Self}`, which cannot travel back from the workers",
    label = "the result of this closure",
    note = "derive `serde::Serialize` and `serde::Deserialize` for it"
)]
pub trait Outcome: Serialize + DeserializeOwned {}
impl<T: Serialize + DeserializeOwned> Outcome for T {}

fn encode_captures<C: Serialize>(cx: &mut Driver, captures: &C) -> Option<Vec<u8>> {
    match postcard::to_allocvec(captures) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            cx.fail(RuntimeError::Config(format!(
                "captured values do not encode: {e}"
            )));
            None
        }
    }
}

fn decode_result<R: DeserializeOwned>(
    cx: &Driver,
    task: &'static str,
    worker: usize,
    body: &[u8],
) -> Result<R, RuntimeError> {
    postcard::from_bytes(body).map_err(|e| RuntimeError::BadResult {
        task: task.to_owned(),
        worker: cx.workers().all()[worker].name.clone(),
        reason: e.to_string(),
    })
}

/// `reduce!` without a barrier: runs the task on every partition and combines the results.
/// `None` means the loop must end (a stop rule fired or the run failed).
///
/// `_witness` is the closure itself, never called on the driver: it fixes the result type.
pub fn reduce_sync<C, X, R, F>(
    cx: &mut Driver,
    data: &Dataset,
    task: &'static str,
    captures: &C,
    reads: &[&'static str],
    _witness: F,
) -> Option<R>
where
    C: Serialize,
    R: Outcome + Combine,
    F: FnOnce(&Partition, X) -> R,
{
    cx.runtime_call(|cx| reduce_sync_inner(cx, data, task, captures, reads))
}

fn reduce_sync_inner<C: Serialize, R: Outcome + Combine>(
    cx: &mut Driver,
    data: &Dataset,
    task: &'static str,
    captures: &C,
    reads: &[&'static str],
) -> Option<R> {
    if cx.halted() {
        return None;
    }
    let captures = encode_captures(cx, captures)?;
    let outcome = cx
        .reduce_all(data, task, &captures, reads)
        .and_then(|bodies| {
            let parts = bodies
                .iter()
                .enumerate()
                .map(|(partition, body)| {
                    let worker = cx.owners()[partition];
                    decode_result::<R>(cx, task, worker, body)
                })
                .collect::<Result<Vec<R>, _>>()?;
            Ok(R::combine(parts))
        });
    match outcome {
        Ok(result) => Some(result),
        Err(e) => {
            cx.fail(e);
            None
        }
    }
}

/// `reduce!` after a `barrier!`: dispatches to the workers the barrier releases and returns the
/// next result within the staleness bound. `None` means the loop must end.
#[allow(clippy::too_many_arguments)]
pub fn reduce_async<C, X, R, F, B, S>(
    cx: &mut Driver,
    data: &Dataset,
    task: &'static str,
    captures: &C,
    reads: &[&'static str],
    barrier: B,
    max_staleness: Option<S>,
    _witness: F,
) -> Option<R>
where
    C: Serialize,
    R: Outcome,
    F: FnOnce(&Partition, X) -> R,
    B: Fn(&WorkerTable) -> bool,
    S: StalenessBound,
{
    let bound = max_staleness.map(StalenessBound::updates);
    cx.runtime_call(|cx| reduce_async_inner(cx, data, task, captures, reads, &barrier, bound))
}

fn reduce_async_inner<C: Serialize, R: Outcome>(
    cx: &mut Driver,
    data: &Dataset,
    task: &'static str,
    captures: &C,
    reads: &[&'static str],
    barrier: &dyn Fn(&WorkerTable) -> bool,
    bound: Option<u64>,
) -> Option<R> {
    if cx.halted() {
        return None;
    }
    let captures = encode_captures(cx, captures)?;
    let outcome = cx
        .reduce_next(data, task, &captures, reads, barrier, bound)
        .and_then(|arrived| decode_result::<R>(cx, task, arrived.worker, &arrived.body));
    match outcome {
        Ok(result) => Some(result),
        Err(e) => {
            cx.fail(e);
            None
        }
    }
}

/// The type a `max_staleness` left out defaults to.
pub type NoBound = u64;
