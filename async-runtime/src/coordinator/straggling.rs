//! The driver's half of the slow-partitions straggler model
//! ([`Stragglers::SlowPartitions`]): the sleep each task order carries, its partition's draw
//! times the workers' mean compute per task, as the worker table keeps it.
//!
//! Compute as the workers report it is what the ASYNC code's driver collected (its
//! executors' task run times). The round trip the driver sees would not do: it includes a
//! task's wait behind the tasks queued before it on its worker, and their sleeps, so the mean
//! would feed on the model's own delays. What a worker reports is its word, though: the
//! sleeps follow the median of the workers' means, which a worker reporting inflated times
//! (an insider holding each task as long as it may) cannot move unless it is half of them,
//! where a mean over every result let it stretch every straggling task's sleep up to the cap.

use super::table::{lower_median, WorkerInfo};
use crate::Stragglers;

/// The lower median of the mean seconds computed per task of the workers that reported any
/// (0 before the first result); a result's simulated delay is not in it, so that straggling
/// does not feed on itself.
pub(crate) fn median_compute_s(workers: &[WorkerInfo]) -> f64 {
    let reported = workers.iter().filter(|w| w.tasks_done > 0);
    lower_median(reported.map(|w| w.mean_compute_s)).unwrap_or(0.0)
}

/// Seconds the worker should sleep before task `seq` on `partition`: the model's draw for it
/// times the workers' mean compute per task so far ([`median_compute_s`]).
pub(crate) fn sleep_before(
    model: Stragglers,
    partition: u32,
    seq: u64,
    seed: u64,
    workers: &[WorkerInfo],
) -> f64 {
    let factor = model.task_factor(partition, seq, seed);
    if factor == 0.0 {
        return 0.0;
    }
    factor * median_compute_s(workers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Workers that reported these compute times, each one list.
    fn reported(compute_s: &[&[f64]]) -> Vec<WorkerInfo> {
        compute_s
            .iter()
            .enumerate()
            .map(|(i, times)| {
                let mut info = WorkerInfo::new(format!("w{i}"), 1, 0.0);
                for &time in *times {
                    info.record_task_time(time, time, 0.0);
                }
                info
            })
            .collect()
    }

    #[test]
    fn sleeps_the_draw_times_the_mean_compute() {
        let model = Stragglers::SlowPartitions;
        // Nothing measured yet: no sleep.
        assert_eq!(sleep_before(model, 0, 1, 7, &reported(&[&[]])), 0.0);
        let workers = reported(&[&[0.01, 0.03]]);
        assert!((median_compute_s(&workers) - 0.02).abs() < 1e-12);
        let sleep = sleep_before(model, 4, 9, 7, &workers);
        assert_eq!(
            sleep,
            model.task_factor(4, 9, 7) * median_compute_s(&workers)
        );
        assert!((0.03..=0.2).contains(&sleep));
        assert_eq!(sleep_before(model, 5, 9, 7, &workers), 0.0);
        assert_eq!(
            sleep_before(Stragglers::SlowWorkers, 4, 9, 7, &workers),
            0.0
        );
    }

    #[test]
    fn a_worker_reporting_inflated_times_does_not_stretch_the_sleeps() {
        // An insider holding each task 30 s and calling it compute, beside two honest workers.
        let workers = reported(&[&[0.01; 10], &[30.0; 10], &[0.01; 10]]);
        assert!((median_compute_s(&workers) - 0.01).abs() < 1e-12);
    }
}
