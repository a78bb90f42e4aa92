//! Why workers were excluded from the run: the cause of a run that runs out of workers. When
//! every worker was excluded for failing the same task, the task, not the workers, is at
//! fault (an author's closure that panics wherever it runs), and the run's error says so.

/// The exclusions of a run so far.
#[derive(Debug, Default)]
pub(crate) struct Exclusions {
    /// Workers excluded.
    count: usize,
    /// Why the last one was.
    last: Option<String>,
    /// The task every exclusion so far was for failing: `None` before the first, `Some(None)`
    /// once one was for something else or for another task.
    failed_task: Option<Option<&'static str>>,
}

impl Exclusions {
    /// A worker was excluded for `reason`; `failed_task` is the task whose failures made it.
    pub fn record(&mut self, reason: &str, failed_task: Option<&'static str>) {
        self.count += 1;
        self.last = Some(reason.to_owned());
        self.failed_task = match self.failed_task {
            None => Some(failed_task),
            Some(same) if same == failed_task => Some(same),
            Some(_) => Some(None),
        };
    }

    /// Why the last worker excluded was.
    pub fn last(&self) -> Option<&str> {
        self.last.as_deref()
    }

    /// The task that every one of the `lost` workers was excluded for failing, when there
    /// were two of them at least and no other loss: the task fails wherever it runs.
    pub fn failed_everywhere(&self, lost: usize) -> Option<&'static str> {
        match self.failed_task {
            Some(Some(task)) if self.count >= 2 && self.count == lost => Some(task),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_task_failing_on_every_lost_worker_is_named() {
        let mut exclusions = Exclusions::default();
        assert_eq!(exclusions.failed_everywhere(0), None);
        exclusions.record("it failed 3 tasks in a row", Some("grad"));
        assert_eq!(
            exclusions.failed_everywhere(1),
            None,
            "one worker proves nothing"
        );
        exclusions.record("it failed 3 tasks in a row", Some("grad"));
        assert_eq!(exclusions.failed_everywhere(2), Some("grad"));
        // A worker lost otherwise (killed) may have done the task well.
        assert_eq!(exclusions.failed_everywhere(3), None);
        assert_eq!(exclusions.last(), Some("it failed 3 tasks in a row"));
    }

    #[test]
    fn exclusions_for_other_tasks_or_reasons_name_no_task() {
        let mut other_task = Exclusions::default();
        other_task.record("failed", Some("grad"));
        other_task.record("failed", Some("loss"));
        assert_eq!(other_task.failed_everywhere(2), None);
        let mut other_reason = Exclusions::default();
        other_reason.record("it sent 3 bad results", None);
        other_reason.record("failed", Some("grad"));
        other_reason.record("failed", Some("grad"));
        assert_eq!(other_reason.failed_everywhere(3), None);
    }
}
