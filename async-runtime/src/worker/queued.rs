//! What the event loop handed the task thread and it has not done yet: tasks, and the bytes
//! they carry. A driver, even one holding the token, decides how many tasks it sends and how
//! large each is (a frame of up to 512 MiB of versions, captures and history entries), so
//! both are bounded before a task is queued.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::memory::{Held, Kind, MemoryAccount};
use super::MAX_QUEUED_TASKS;
use crate::protocol::{TaskOrder, VersionBody};

/// How many tasks are queued and not done.
#[derive(Debug, Default)]
pub(super) struct Queued {
    tasks: AtomicUsize,
}

/// A task counted as queued, and its bytes in the worker's memory, until this is dropped
/// (the task done).
#[derive(Debug)]
pub(super) struct QueuedTask {
    queued: Arc<Queued>,
    held: Held,
}

impl Queued {
    /// Counts `order` as queued, or says why it is not: more than [`MAX_QUEUED_TASKS`] tasks
    /// queued, or its bytes ([`order_bytes`]) refused by the worker's `memory`.
    pub fn take(
        self: &Arc<Self>,
        order: &TaskOrder,
        memory: &Arc<MemoryAccount>,
    ) -> Result<QueuedTask, String> {
        if self.tasks.load(Ordering::SeqCst) > MAX_QUEUED_TASKS {
            return Err(format!("more than {MAX_QUEUED_TASKS} tasks queued"));
        }
        let held = memory
            .reserve(Kind::Tasks, order_bytes(order), 0)
            .map_err(|refused| refused.to_string())?;
        self.tasks.fetch_add(1, Ordering::SeqCst);
        Ok(QueuedTask {
            queued: self.clone(),
            held,
        })
    }
}

impl QueuedTask {
    /// `bytes` of the task's are no longer its own to count (its versions, moved into the
    /// cache or dropped).
    pub fn release(&mut self, bytes: u64) {
        self.held.shrink(bytes);
    }
}

impl Drop for QueuedTask {
    fn drop(&mut self) {
        self.queued.tasks.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The bytes a task order holds: its versions, captures and history entries.
pub(super) fn order_bytes(order: &TaskOrder) -> u64 {
    let versions: u64 = order.versions.iter().map(|v| body_bytes(&v.body)).sum();
    let history: usize = order.history.iter().map(|entries| entries.len()).sum();
    versions + (order.captures.len() + history + order.task.len()) as u64
}

/// The bytes a version's body holds as it was shipped.
pub(super) fn body_bytes(body: &VersionBody) -> u64 {
    let bytes = match body {
        VersionBody::Full(bytes) => bytes.len(),
        VersionBody::Patch { words, values, .. } => words.len() * 4 + values.len(),
        VersionBody::Alias { .. } => 0,
    };
    bytes as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(captures: usize) -> TaskOrder {
        TaskOrder {
            seq: 1,
            versions: Vec::new(),
            task: String::new(),
            partition: 0,
            reads: Vec::new(),
            captures: vec![0u8; captures].into(),
            sample: None,
            history: Vec::new(),
            sleep_s: 0.0,
        }
    }

    #[test]
    fn tasks_past_the_memory_budget_are_not_queued_until_those_queued_are_done() {
        // 1,200 bytes available, tasks of 400: a driver's tasks (up to 512 MiB each) were
        // all queued, 64 of them, however little memory the host had.
        let memory = super::super::memory::tests::host_with(1200);
        let queued = Arc::new(Queued::default());
        let first = queued.take(&order(400), &memory).unwrap();
        let _second = queued.take(&order(400), &memory).unwrap();
        let refused = queued.take(&order(400), &memory).unwrap_err();
        assert!(refused.contains("a task of 0 MiB would take"), "{refused}");
        assert_eq!(queued.tasks.load(Ordering::SeqCst), 2);
        drop(first);
        assert_eq!(queued.tasks.load(Ordering::SeqCst), 1);
        queued.take(&order(400), &memory).unwrap();
    }
}
