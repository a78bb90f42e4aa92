//! The registry of tasks: closures of `reduce!` sites, compiled into every process of the
//! executable and found by a stable id. Closures never cross the wire; their captures do.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{de::DeserializeOwned, Serialize};

use crate::broadcast::Broadcast;
use crate::broadcaster::delta::content_hash;
use crate::data::{Batch, Partition};
use crate::error::TaskError;
use crate::history::HistorySlice;
use crate::worker::cache::CachedVersion;

/// The worker-side body of a `reduce!` site.
pub type TaskFn = fn(&TaskContext<'_>) -> Result<Vec<u8>, TaskError>;

/// One registered task. The `#[async_optimizer]` macro submits one per `reduce!` site.
pub struct TaskEntry {
    id: &'static str,
    run: TaskFn,
}

impl TaskEntry {
    /// A task of stable id `id` (module path, function name and site number).
    pub const fn new(id: &'static str, run: TaskFn) -> TaskEntry {
        TaskEntry { id, run }
    }
}

inventory::collect!(TaskEntry);

fn registry() -> &'static HashMap<&'static str, TaskFn> {
    static REGISTRY: OnceLock<HashMap<&'static str, TaskFn>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        inventory::iter::<TaskEntry>
            .into_iter()
            .map(|entry| (entry.id, entry.run))
            .collect()
    })
}

/// The task registered as `id`, if this build has one.
pub fn find(id: &str) -> Option<TaskFn> {
    registry().get(id).copied()
}

/// A fingerprint of this build's task registry and protocol: two processes agree on it only if
/// they can run each other's tasks.
pub fn fingerprint() -> u64 {
    let mut ids: Vec<&str> = registry().keys().copied().collect();
    ids.sort_unstable();
    let mut text = format!(
        "{}\0{}\0",
        crate::protocol::PROTOCOL_VERSION,
        env!("CARGO_PKG_VERSION")
    );
    for id in ids {
        text.push_str(id);
        text.push('\0');
    }
    content_hash(text.as_bytes())
}

/// What a running task sees: its partition, its captured values and the broadcast versions it
/// reads. Generated code calls it; algorithm authors never do.
pub struct TaskContext<'a> {
    pub(crate) partition: &'a Partition,
    pub(crate) batch: Option<Batch<'a>>,
    pub(crate) captures: &'a [u8],
    pub(crate) reads: Vec<&'a CachedVersion>,
    pub(crate) history: Vec<HistorySlice>,
}

impl TaskContext<'_> {
    /// The partition the task runs on.
    pub fn partition(&self) -> &Partition {
        self.partition
    }

    /// The minibatch of a sampled reduce.
    pub fn batch(&self) -> Result<&Batch<'_>, TaskError> {
        self.batch.as_ref().ok_or(TaskError::Decode {
            what: "the task's minibatch",
            reason: "the driver sent no sample for a sampled reduce".into(),
        })
    }

    /// The history entries of the task's rows, of the `index`-th table it reads.
    pub fn history(&self, index: usize) -> Result<&HistorySlice, TaskError> {
        self.history.get(index).ok_or(TaskError::Decode {
            what: "history entries",
            reason: format!("the driver sent no history table number {index}"),
        })
    }

    /// The captured values, decoded as the types the macro inferred from their declarations.
    pub fn captures<T: DeserializeOwned>(&self) -> Result<T, TaskError> {
        postcard::from_bytes(self.captures).map_err(|e| TaskError::Decode {
            what: "captured values",
            reason: e.to_string(),
        })
    }

    /// The `index`-th broadcast value the task reads, at the version the driver named.
    pub fn read<T: Broadcast>(&self, index: usize) -> Result<&T, TaskError> {
        let version = self.reads.get(index).ok_or(TaskError::Decode {
            what: "broadcast reads",
            reason: format!("the task reads no broadcast value number {index}"),
        })?;
        version.value::<T>()
    }

    /// Encodes the task's result for the trip back to the driver.
    pub fn encode<R: Serialize>(&self, result: &R) -> Result<Vec<u8>, TaskError> {
        postcard::to_allocvec(result).map_err(|e| TaskError::Decode {
            what: "the result",
            reason: e.to_string(),
        })
    }
}
