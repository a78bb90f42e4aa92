//! What the event loop handed the task thread and it has not done yet: tasks, and the bytes
//! they carry. A driver, even one holding the token, decides how many tasks it sends and how
//! large each is (a frame of up to 512 MiB of versions, captures and history entries), so
//! both are bounded before a task is queued.

use std::sync::Arc;

use super::memory::{Held, MemoryAccount};
use crate::protocol::{TaskOrder, VersionBody};

/// A task counted as queued, and its bytes, in the worker's memory until this is dropped
/// (the task done): the account owns both counts, so they are released together.
pub(super) type QueuedTask = Held;

/// Counts `order` as queued, or says why it is not: more than
/// [`MAX_QUEUED_TASKS`](super::MAX_QUEUED_TASKS) tasks queued, or its bytes ([`order_bytes`])
/// refused by the worker's `memory`.
pub(super) fn take(order: &TaskOrder, memory: &Arc<MemoryAccount>) -> Result<QueuedTask, String> {
    memory
        .reserve_task(order_bytes(order))
        .map_err(|refused| refused.to_string())
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
    use super::super::memory::Kind;
    use super::super::MAX_QUEUED_TASKS;
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
        let first = take(&order(400), &memory).unwrap();
        let _second = take(&order(400), &memory).unwrap();
        let refused = take(&order(400), &memory).unwrap_err();
        assert!(refused.contains("a task of 0 MiB would take"), "{refused}");
        assert_eq!(memory.tasks(), 2);
        drop(first);
        assert_eq!(memory.tasks(), 1);
        take(&order(400), &memory).unwrap();
    }

    #[test]
    fn a_task_done_releases_its_count_and_its_bytes_together() {
        // The count lived beside the account, in a guard of its own: two owners of what one
        // task holds. The account counts both now, and one guard releases both.
        let memory = super::super::memory::tests::host_with(u64::MAX);
        let queued: Vec<QueuedTask> = (0..=MAX_QUEUED_TASKS)
            .map(|_| take(&order(10), &memory).unwrap())
            .collect();
        let refused = take(&order(10), &memory).unwrap_err();
        assert_eq!(
            refused,
            format!("more than {MAX_QUEUED_TASKS} tasks queued")
        );
        let held = 10 * (MAX_QUEUED_TASKS as u64 + 1);
        assert_eq!(
            (memory.tasks(), memory.held(Kind::Tasks)),
            (MAX_QUEUED_TASKS + 1, held)
        );
        let mut queued = queued.into_iter();
        let mut done = queued.next().unwrap();
        // A task's versions moved into the cache release bytes, not the task.
        done.shrink(10);
        assert_eq!(
            (memory.tasks(), memory.held(Kind::Tasks)),
            (MAX_QUEUED_TASKS + 1, held - 10)
        );
        drop(done);
        assert_eq!(
            (memory.tasks(), memory.held(Kind::Tasks)),
            (MAX_QUEUED_TASKS, held - 10)
        );
        let _last = take(&order(10), &memory).unwrap();
        drop(queued);
        assert_eq!((memory.tasks(), memory.held(Kind::Tasks)), (1, 10));
    }
}
