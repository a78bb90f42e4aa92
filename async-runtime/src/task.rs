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
    source_hash: u64,
    crate_version: Option<&'static str>,
}

impl TaskEntry {
    /// A task of stable id `id` (module path, function name and site number), from a function
    /// whose tokens as written hash to `source_hash`, in a crate of version `crate_version`.
    pub const fn new(
        id: &'static str,
        run: TaskFn,
        source_hash: u64,
        crate_version: Option<&'static str>,
    ) -> TaskEntry {
        TaskEntry {
            id,
            run,
            source_hash,
            crate_version,
        }
    }
}

inventory::collect!(TaskEntry);

fn registry() -> &'static HashMap<&'static str, &'static TaskEntry> {
    static REGISTRY: OnceLock<HashMap<&'static str, &'static TaskEntry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        inventory::iter::<TaskEntry>
            .into_iter()
            .map(|entry| (entry.id, entry))
            .collect()
    })
}

/// The task registered as `id`, if this build has one.
pub fn find(id: &str) -> Option<TaskFn> {
    registry().get(id).map(|entry| entry.run)
}

/// A fingerprint of this build's task registry and protocol: two processes agree on it only if
/// they can run each other's tasks and compute the same with them, as far as the macro sees
/// (the optimizer functions as written and their crates' versions; not the functions they
/// call).
pub fn fingerprint() -> u64 {
    fingerprint_of(registry().values().copied())
}

fn fingerprint_of<'a>(entries: impl Iterator<Item = &'a TaskEntry>) -> u64 {
    let mut entries: Vec<&TaskEntry> = entries.collect();
    entries.sort_unstable_by_key(|entry| entry.id);
    let mut text = format!(
        "{}\0{}\0",
        crate::protocol::PROTOCOL_VERSION,
        env!("CARGO_PKG_VERSION")
    );
    for entry in entries {
        text.push_str(&format!(
            "{}\0{:016x}\0{}\0",
            entry.id,
            entry.source_hash,
            entry.crate_version.unwrap_or("")
        ));
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
        self.batch.as_ref().ok_or_else(|| TaskError::Decode {
            what: "the task's minibatch",
            reason: "the driver sent no sample for a sampled reduce".into(),
        })
    }

    /// The history entries of the task's rows, of the `index`-th table it reads.
    pub fn history(&self, index: usize) -> Result<&HistorySlice, TaskError> {
        self.history.get(index).ok_or_else(|| TaskError::Decode {
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
        let version = self.reads.get(index).ok_or_else(|| TaskError::Decode {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc_count::allocations_in;
    use crate::broadcaster::delta::VersionBody;
    use crate::data::{Dataset, Features};
    use crate::worker::cache::VersionCache;
    use crate::worker::memory::MemoryAccount;
    use ndarray::{Array1, Array2};
    use serde_bytes::ByteBuf;

    #[test]
    fn a_task_reads_its_inputs_without_allocating() {
        let x = Array2::from_shape_fn((4, 2), |(r, c)| (r + c) as f64);
        let data = Dataset::new("t", Features::Dense(x), Array1::zeros(4)).unwrap();
        let partition = Partition::new(0, 1, data, vec![0, 1, 2, 3]).unwrap();
        let mut cache = VersionCache::new(2, MemoryAccount::of_host());
        let w = Array1::from(vec![0.5, -1.0]);
        let body = VersionBody::Full(ByteBuf::from(Broadcast::encode(&w)));
        cache.receive(0, 1, body, 0).unwrap();
        let history = postcard::from_bytes(&postcard::to_allocvec(&[1.0f64, 2.0][..]).unwrap());
        let context = TaskContext {
            partition: &partition,
            batch: Some(partition.sample(2, 0)),
            captures: &[],
            reads: vec![cache.get(0, 1).unwrap()],
            history: vec![history.unwrap()],
        };
        // The first read decodes the value once; from then on each task's reads are lookups.
        assert_eq!(context.read::<Array1<f64>>(0).unwrap(), &w);
        let allocations = allocations_in(|| {
            assert_eq!(context.read::<Array1<f64>>(0).unwrap(), &w);
            assert_eq!(context.batch().unwrap().rows().len(), 2);
            assert_eq!(context.history(0).unwrap().values(), [1.0, 2.0]);
        });
        assert_eq!(
            allocations, 0,
            "an error built and dropped on every success"
        );
        // The errors are still there when an input is missing.
        assert!(context.read::<Array1<f64>>(1).is_err());
        assert!(context.history(1).is_err());
    }

    fn nothing(_: &TaskContext<'_>) -> Result<Vec<u8>, TaskError> {
        Ok(Vec::new())
    }

    fn entry(id: &'static str, source_hash: u64, version: Option<&'static str>) -> TaskEntry {
        TaskEntry::new(id, nothing, source_hash, version)
    }

    #[test]
    fn the_fingerprint_covers_each_tasks_source_and_crate_version() {
        let (a, b) = (
            entry("m::gd#1@3:4", 7, Some("0.1.0")),
            entry("m::sgd#1@9:4", 8, None),
        );
        let base = fingerprint_of([&a, &b].into_iter());
        // The registry's order is no part of it.
        assert_eq!(base, fingerprint_of([&b, &a].into_iter()));
        // The same id, another body: another build.
        let changed = entry("m::gd#1@3:4", 70, Some("0.1.0"));
        assert_ne!(base, fingerprint_of([&changed, &b].into_iter()));
        // The same body, another version of the author's crate.
        let bumped = entry("m::gd#1@3:4", 7, Some("0.1.1"));
        assert_ne!(base, fingerprint_of([&bumped, &b].into_iter()));
        // Another id, as before.
        let moved = entry("m::gd#1@4:4", 7, Some("0.1.0"));
        assert_ne!(base, fingerprint_of([&moved, &b].into_iter()));
    }
}
