//! The driver's half of the slow-partitions straggler model
//! ([`Stragglers::SlowPartitions`]): it keeps the mean compute per task of the results it
//! receives, and gives each task order the sleep its partition's draw asks for.
//!
//! Compute as the workers report it is what the ASYNC code's driver collected (its
//! executors' task run times). The round trip the driver sees would not do: it includes a
//! task's wait behind the tasks queued before it on its worker, and their sleeps, so the mean
//! would feed on the model's own delays.

use crate::Stragglers;

/// Mean compute per task so far, and the sleep each task order carries.
#[derive(Debug, Default)]
pub(crate) struct TaskStraggling {
    compute_s: f64,
    results: u64,
}

impl TaskStraggling {
    /// Counts the compute time a result reported (its simulated delay left out, so that
    /// straggling does not feed on itself).
    pub fn record(&mut self, compute_s: f64) {
        self.compute_s += compute_s;
        self.results += 1;
    }

    /// Mean seconds a task computed, over every result received (0 before the first).
    pub fn mean_compute_s(&self) -> f64 {
        if self.results == 0 {
            0.0
        } else {
            self.compute_s / self.results as f64
        }
    }

    /// Seconds the worker should sleep before task `seq` on `partition`: the model's draw
    /// for it times the mean compute per task so far.
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
        straggling.record(0.01);
        straggling.record(0.03);
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
}
