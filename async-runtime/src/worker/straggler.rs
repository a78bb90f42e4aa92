//! The worker's own straggler delay: after a warm-up that measures its mean task time, a slow
//! worker sleeps its factor times that mean after every task.

use std::time::Duration;

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
