//! What the event loop handed the task thread and it has not done yet: tasks, and the bytes
//! they carry. A driver, even one holding the token, decides how many tasks it sends and how
//! large each is (a frame of up to 512 MiB of versions, captures and history entries), so
//! both are bounded before a task is queued.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::MAX_QUEUED_TASKS;
use crate::protocol::{TaskOrder, VersionBody};

/// Tasks queued and not done, and their bytes.
#[derive(Debug, Default)]
pub(super) struct Queued {
    tasks: AtomicUsize,
    bytes: AtomicU64,
}

impl Queued {
    /// Counts `order` as queued, or says why it is not: more than [`MAX_QUEUED_TASKS`] tasks
    /// queued, or its bytes would take those queued past `budget(bytes queued, bytes after)`.
    pub fn take(&self, order: &TaskOrder, budget: fn(u64, u64) -> u64) -> Result<(), String> {
        if self.tasks.load(Ordering::SeqCst) > MAX_QUEUED_TASKS {
            return Err(format!("more than {MAX_QUEUED_TASKS} tasks queued"));
        }
        let bytes = order_bytes(order);
        let held = self.bytes.load(Ordering::SeqCst);
        let after = held.saturating_add(bytes);
        let budget = budget(held, after);
        if after > budget {
            return Err(format!(
                "the tasks queued would take {} MiB, over their budget of {} MiB (half of what \
                 they hold and the host has available)",
                after >> 20,
                budget >> 20
            ));
        }
        self.tasks.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(bytes, Ordering::SeqCst);
        Ok(())
    }

    /// A task of `bytes` ([`order_bytes`]) is done.
    pub fn done(&self, bytes: u64) {
        self.tasks.fetch_sub(1, Ordering::SeqCst);
        self.bytes.fetch_sub(bytes, Ordering::SeqCst);
    }
}

/// The bytes a task order holds: its versions, captures and history entries.
pub(super) fn order_bytes(order: &TaskOrder) -> u64 {
    let versions: usize = order
        .versions
        .iter()
        .map(|shipped| match &shipped.body {
            VersionBody::Full(bytes) => bytes.len(),
            VersionBody::Patch { words, values, .. } => words.len() * 4 + values.len(),
            VersionBody::Alias { .. } => 0,
        })
        .sum();
    let history: usize = order.history.iter().map(|entries| entries.len()).sum();
    (versions + order.captures.len() + history + order.task.len()) as u64
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
        // A budget of 1,000 bytes, tasks of 400: a driver's tasks (up to 512 MiB each) were
        // all queued, 64 of them, however little memory the host had.
        let queued = Queued::default();
        let budget = |_, _| 1000;
        queued.take(&order(400), budget).unwrap();
        queued.take(&order(400), budget).unwrap();
        let refused = queued.take(&order(400), budget).unwrap_err();
        assert!(refused.contains("over their budget"), "{refused}");
        queued.done(order_bytes(&order(400)));
        queued.take(&order(400), budget).unwrap();
    }
}
