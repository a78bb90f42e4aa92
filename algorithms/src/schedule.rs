//! Step-size schedules: plain functions of the update counter, for an optimizer's loop.

/// `step / sqrt(k + 1)` at update `k` (counted from 0): the decreasing step of stochastic
/// gradient methods on convex problems, `step` at the first update.
///
/// ```
/// use asyncopt_algorithms::schedule::inverse_sqrt;
///
/// assert_eq!(inverse_sqrt(0.5, 0), 0.5);
/// assert_eq!(inverse_sqrt(0.5, 3), 0.25);
/// ```
pub fn inverse_sqrt(step: f64, k: usize) -> f64 {
    step / ((k as f64) + 1.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_sqrt_decreases_and_sums_to_infinity_slowly() {
        let steps: Vec<f64> = (0..100).map(|k| inverse_sqrt(1.0, k)).collect();
        assert!(steps.windows(2).all(|w| w[1] < w[0]));
        assert!((steps[99] - 0.1).abs() < 1e-12);
        let squares: f64 = steps.iter().map(|s| s * s).sum();
        assert!((squares - (1..=100).map(|i| 1.0 / i as f64).sum::<f64>()).abs() < 1e-9);
    }
}
