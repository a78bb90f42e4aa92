//! The driver's half of the slow-partitions straggler model
//! ([`Stragglers::SlowPartitions`]): it keeps the mean task time of the results it receives
//! as the driver sees it, from sending the order to receiving the result (the ASYNC code
//! measured task time on its driver, so a straggler is slow by its whole task, round trip
//! included), and gives each task order the sleep its partition's draw asks for.

use crate::Stragglers;

/// Mean task time so far, and the sleep each task order carries.
#[derive(Debug, Default)]
pub(crate) struct TaskStraggling {
    task_s: f64,
    results: u64,
}

impl TaskStraggling {
    /// Counts a result whose order went out `round_trip_s` ago and whose worker slept
    /// `delay_s` of it simulating a straggler: the sleep is left out, so that straggling does
    /// not feed on itself.
    pub fn record(&mut self, round_trip_s: f64, delay_s: f64) {
        self.task_s += (round_trip_s - delay_s).max(0.0);
        self.results += 1;
    }

    /// Mean seconds of a task as the driver saw it, over every result received (0 before
    /// the first).
    pub fn mean_task_s(&self) -> f64 {
        if self.results == 0 {
            0.0
        } else {
            self.task_s / self.results as f64
        }
    }

    /// Seconds the worker should sleep before task `seq` on `partition`: the model's draw
    /// for it times the mean task time so far.
    pub fn sleep_before(&self, model: Stragglers, partition: u32, seq: u64, seed: u64) -> f64 {
        let factor = model.task_factor(partition, seq, seed);
        if factor == 0.0 {
            return 0.0;
        }
        factor * self.mean_task_s()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_the_draw_times_the_mean_task_time() {
        let mut straggling = TaskStraggling::default();
        let model = Stragglers::SlowPartitions;
        // Nothing measured yet: no sleep.
        assert_eq!(straggling.sleep_before(model, 0, 1, 7), 0.0);
        straggling.record(0.01, 0.0);
        // A straggler's own sleep is not task time.
        straggling.record(0.08, 0.05);
        assert!((straggling.mean_task_s() - 0.02).abs() < 1e-12);
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
