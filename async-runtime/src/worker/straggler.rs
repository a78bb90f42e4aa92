//! Simulated straggling on the worker. Its own delay ([`StragglerDelay`], the slow-workers and
//! intensity models): after a warm-up that measures its mean task time, a slow worker sleeps
//! its factor times that mean after every task. And the delay a task order carries
//! ([`ordered_sleep`], the slow-partitions model), slept before the task, within a bound.

use std::time::Duration;

use super::MAX_ORDERED_SLEEP;

/// How long to sleep before a task whose order asks for `seconds`: nothing for a negative or
/// non-finite value, at most [`MAX_ORDERED_SLEEP`], so that a driver cannot park a worker.
pub(crate) fn ordered_sleep(seconds: f64, worker: &str) -> Duration {
    if !(seconds.is_finite() && seconds > 0.0) {
        return Duration::ZERO;
    }
    if seconds > MAX_ORDERED_SLEEP.as_secs_f64() {
        tracing::warn!(
            worker,
            seconds,
            cap = MAX_ORDERED_SLEEP.as_secs_f64(),
            "a task order asked for a longer straggler sleep than the cap: sleeping the cap"
        );
        return MAX_ORDERED_SLEEP;
    }
    Duration::from_secs_f64(seconds)
}

/// Tasks measured before delays begin.
const WARM_UP_TASKS: u32 = 5;

/// Measures the warm-up and computes each task's delay.
#[derive(Debug, Default)]
pub(crate) struct StragglerDelay {
    factor: f64,
    warm_up_total: Duration,
    warm_up_done: u32,
}

impl StragglerDelay {
    pub fn new(factor: f64) -> StragglerDelay {
        StragglerDelay {
            factor,
            ..StragglerDelay::default()
        }
    }

    /// The delay to add after a task that computed for `compute`.
    pub fn after(&mut self, compute: Duration) -> Duration {
        if self.factor <= 0.0 {
            return Duration::ZERO;
        }
        if self.warm_up_done < WARM_UP_TASKS {
            self.warm_up_total += compute;
            self.warm_up_done += 1;
            return Duration::ZERO;
        }
        (self.warm_up_total / self.warm_up_done).mul_f64(self.factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_sleep_is_bounded() {
        assert_eq!(ordered_sleep(0.25, "w0"), Duration::from_millis(250));
        assert_eq!(ordered_sleep(1e9, "w0"), MAX_ORDERED_SLEEP);
        assert_eq!(ordered_sleep(f64::INFINITY, "w0"), Duration::ZERO);
        assert_eq!(ordered_sleep(f64::NAN, "w0"), Duration::ZERO);
        assert_eq!(ordered_sleep(-1.0, "w0"), Duration::ZERO);
        assert_eq!(ordered_sleep(0.0, "w0"), Duration::ZERO);
    }

    #[test]
    fn delays_by_factor_times_warm_up_mean() {
        let mut delay = StragglerDelay::new(2.0);
        for _ in 0..WARM_UP_TASKS {
            assert_eq!(delay.after(Duration::from_millis(10)), Duration::ZERO);
        }
        assert_eq!(
            delay.after(Duration::from_millis(99)),
            Duration::from_millis(20)
        );
        assert_eq!(
            StragglerDelay::new(0.0).after(Duration::from_secs(1)),
            Duration::ZERO
        );
    }
}
