//! What the algorithm learns of a result: where it came from and which broadcast versions
//! its task read. The driver records it at dispatch, so it is never the worker's word; the
//! task book, the result queue and the reduce all pass it on.

use std::sync::Arc;

/// Where a result handed to the algorithm came from, and what its task read. The driver
/// records it when it dispatches the task: nothing here is the worker's word.
///
/// ```no_run
/// # fn after_reduce(cx: &asyncopt_runtime::Driver) {
/// if let Some(meta) = cx.last_result() {
///     let read = meta.version_of("snapshot");   // the snapshot version the task read
///     let now = cx.version("snapshot");         // the latest one
///     let name = cx.worker_name(meta.worker);    // `meta.worker` is a row of the table
///     println!("from {name:?}, {} updates old, read {read:?}, now {now:?}", meta.staleness);
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ResultMeta {
    /// The worker that computed it, as its row in the worker table
    /// ([`cx.workers().all()`](super::WorkerTable::all)), not its name: row 0 is the first
    /// worker to join. [`Driver::worker_name`](crate::Driver::worker_name) gives the name
    /// (`w0`, ...) that `select` and the report use. The row is that of the join that
    /// computed it (a worker that joins again under its name gets a new row); once that worker
    /// has left and enough others left after it, the row may go to a newer worker.
    pub worker: usize,
    /// The task's sequence number: unique for the run.
    pub seq: u64,
    /// Updates applied between its dispatch and its use.
    pub staleness: u64,
    /// The partition it was computed on.
    pub partition: u32,
    /// The update (clock tick) at which the task was dispatched.
    pub dispatched_at: u64,
    /// Every broadcast version the task read: the closure's reads of the latest versions, then
    /// its pinned reads (`w.at(v)`), each kind in the closure's order.
    pub reads: Arc<[VersionRead]>,
}

impl ResultMeta {
    /// The version of broadcast variable `name` the task read, or `None` if it did not read
    /// it. A closure that reads `name` as it is and also pinned (`name.at(v)`) gets the
    /// latest at dispatch, whatever the order in the closure; one that reads it pinned only,
    /// the first version it pins.
    pub fn version_of(&self, name: &str) -> Option<u64> {
        self.reads
            .iter()
            .find(|read| read.name == name)
            .map(|read| read.version)
    }
}

/// One broadcast version a task read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRead {
    /// The broadcast variable.
    pub name: &'static str,
    /// Its version.
    pub version: u64,
    /// Whether the closure pinned it (`w.at(v)`) rather than reading the latest.
    pub pinned: bool,
}
