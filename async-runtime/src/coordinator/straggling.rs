//! The driver's half of the slow-partitions straggler model
//! ([`Stragglers::SlowPartitions`]): it keeps each worker's mean compute per task of the
//! results it receives, and gives each task order the sleep its partition's draw asks for.
//!
//! Compute as the workers report it is what the ASYNC code's driver collected (its
//! executors' task run times). The round trip the driver sees would not do: it includes a
//! task's wait behind the tasks queued before it on its worker, and their sleeps, so the mean
//! would feed on the model's own delays. What a worker reports is its word, though: the
//! sleeps follow the median of the workers' means, which a worker reporting inflated times
//! (an insider holding each task as long as it may) cannot move unless it is half of them,
//! where a mean over every result let it stretch every straggling task's sleep up to the cap.

use crate::Stragglers;

/// Each worker's compute per task so far, and the sleep each task order carries.
#[derive(Debug, Default)]
pub(crate) struct TaskStraggling {
    /// Per worker (by its index in the table): seconds computed and results.
    per_worker: Vec<(f64, u64)>,
}

impl TaskStraggling {
    /// Counts the compute time a result of `worker` reported (its simulated delay left out,
    /// so that straggling does not feed on itself).
    pub fn record(&mut self, worker: usize, compute_s: f64) {
        if self.per_worker.len() <= worker {
            self.per_worker.resize(worker + 1, (0.0, 0));
        }
        let (sum, results) = &mut self.per_worker[worker];
        *sum += compute_s;
        *results += 1;
    }

    /// The lower median of the workers' mean seconds computed per task (0 before the first
    /// result).
    pub fn mean_compute_s(&self) -> f64 {
        let mut means: Vec<f64> = self
            .per_worker
            .iter()
            .filter(|(_, results)| *results > 0)
            .map(|(sum, results)| sum / *results as f64)
            .collect();
        means.sort_unstable_by(f64::total_cmp);
        means
            .get(means.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(0.0)
    }

    /// Seconds the worker should sleep before task `seq` on `partition`: the model's draw
    /// for it times the workers' mean compute per task so far.
    pub fn sleep_before(&self, model: Stragglers, partition: u32, seq: u64, seed: u64) -> f64 {
        let factor = model.task_factor(partition, seq, seed);
        if factor == 0.0 {
            return 0.0;
        }
        factor * self.mean_compute_s()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_the_draw_times_the_mean_compute() {
        let mut straggling = TaskStraggling::default();
        let model = Stragglers::SlowPartitions;
        // Nothing measured yet: no sleep.
        assert_eq!(straggling.sleep_before(model, 0, 1, 7), 0.0);
        straggling.record(0, 0.01);
        straggling.record(0, 0.03);
        assert!((straggling.mean_compute_s() - 0.02).abs() < 1e-12);
        let sleep = straggling.sleep_before(model, 4, 9, 7);
        assert_eq!(sleep, model.task_factor(4, 9, 7) * 0.02);
        assert!((0.03..=0.2).contains(&sleep));
        assert_eq!(straggling.sleep_before(model, 5, 9, 7), 0.0);
        assert_eq!(
            straggling.sleep_before(Stragglers::SlowWorkers, 4, 9, 7),
            0.0
        );
    }

    #[test]
    fn a_worker_reporting_inflated_times_does_not_stretch_the_sleeps() {
        let mut straggling = TaskStraggling::default();
        for _ in 0..10 {
            straggling.record(0, 0.01);
            straggling.record(2, 0.01);
            // An insider holding each task 30 s and calling it compute.
            straggling.record(1, 30.0);
        }
        assert!((straggling.mean_compute_s() - 0.01).abs() < 1e-12);
    }
}
