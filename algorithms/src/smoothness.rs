//! The smoothness constant L of an objective (the largest eigenvalue of its Hessian bound),
//! estimated by power iteration on `X^T X / n`, plain or in a preconditioner's metric. Step
//! sizes are set from it (`1/L`).

use asyncopt_runtime::data::Rows;
use ndarray::Array1;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Loss, Metric, Model, Precondition};

/// Estimates L for `loss` on `rows`: `lambda_max(X^T X / n)` for least squares (plus `lambda`
/// for ridge), a quarter of it plus `lambda` for logistic regression.
pub fn smoothness(loss: &Loss, rows: &impl Rows) -> f64 {
    preconditioned_smoothness(loss, rows, &Metric::identity())
}

/// L in the metric of the preconditioner `metric` (`P`): the largest eigenvalue of
/// `P (c X^T X / n + lambda I)`, with `c` the loss's [curvature](Loss::curvature). About 1 for
/// the full preconditioner.
pub fn preconditioned_smoothness(loss: &Loss, rows: &impl Rows, metric: &Metric) -> f64 {
    preconditioned_smoothness_until(loss, rows, metric, &|| true).expect("never asked to stop")
}

/// [`preconditioned_smoothness`], asking `keep_going` between blocks of rows whether to go on:
/// its up to 100 passes over the rows take minutes on a large set, and its caller may no
/// longer need it (a Ctrl-C). `None` when it says no.
pub fn preconditioned_smoothness_until(
    loss: &Loss,
    rows: &impl Rows,
    metric: &Metric,
    keep_going: &dyn Fn() -> bool,
) -> Option<f64> {
    let scale = loss.curvature() / rows.len().max(1) as f64;
    let lambda = loss.lambda();
    let block = rows_per_poll(rows.dim());
    largest_eigenvalue(rows.dim(), |v| {
        let mut next = Array1::zeros(rows.dim());
        for i in 0..rows.len() {
            if i % block == 0 && !keep_going() {
                return None;
            }
            let xv = rows.dot(i, v.view());
            rows.axpy(i, xv * scale, next.view_mut());
        }
        next.scaled_add(lambda, v);
        Some(metric.apply(next))
    })
}

/// Rows of a pass between two questions to `keep_going`: at least 16 (the question costs more
/// than a short sparse row).
fn rows_per_poll(dim: usize) -> usize {
    crate::loss::rows_per_question(dim, 16)
}

/// The largest smoothness constant of a single sample's loss, `max_i |x_i|^2` for least
/// squares (plus `lambda` for ridge; a quarter of it plus `lambda` for logistic): every
/// default step is set from it and [`smoothness`], through `L_b = L + (L_max - L)/b`.
pub fn max_row_smoothness(loss: &Loss, rows: &impl Rows) -> f64 {
    preconditioned_max_row_smoothness(loss, rows, &Metric::identity())
}

/// [`max_row_smoothness`] in the metric of `metric` (`P`): `max_i c x_i^T P x_i`, plus
/// `lambda` times the largest eigenvalue of `P`.
pub fn preconditioned_max_row_smoothness(loss: &Loss, rows: &impl Rows, metric: &Metric) -> f64 {
    preconditioned_max_row_smoothness_until(loss, rows, metric, &|| true)
        .expect("never asked to stop")
}

/// [`preconditioned_max_row_smoothness`], asking `keep_going` between blocks of rows whether
/// to go on: in the full preconditioner's metric each row costs `dim^2`, minutes on a wide,
/// tall set, and its caller may no longer need it (a Ctrl-C). `None` when it says no.
pub fn preconditioned_max_row_smoothness_until(
    loss: &Loss,
    rows: &impl Rows,
    metric: &Metric,
    keep_going: &dyn Fn() -> bool,
) -> Option<f64> {
    let dim = rows.dim();
    let mut largest: f64 = 0.0;
    let mut row = Array1::zeros(dim);
    let work_per_row = match metric.kind() {
        Precondition::Full => dim.saturating_mul(dim),
        _ => dim,
    };
    let block = crate::loss::rows_per_question(work_per_row, 16);
    for i in 0..rows.len() {
        if i % block == 0 && i > 0 && !keep_going() {
            return None;
        }
        rows.axpy(i, 1.0, row.view_mut());
        let form = if metric.is_identity() {
            // |x_i|^2 over the row's own entries: clearing and reading all `dim` entries per
            // row made the default step cost rows x dim (7 s for 20,000 sparse rows of a
            // million features, hours at the 2^26 features --max-features allows).
            rows.dot(i, row.view())
        } else {
            metric.quadratic_form(&row)
        };
        largest = largest.max(form);
        // Back to zeros, exactly (x - x = 0), touching the same entries.
        rows.axpy(i, -1.0, row.view_mut());
        if !form.is_finite() {
            row.fill(0.0);
        }
    }
    let lambda = loss.lambda();
    let regulariser = if lambda == 0.0 {
        0.0
    } else if metric.is_identity() {
        lambda
    } else {
        let eigenvalue = largest_eigenvalue(dim, |v| {
            // Each pass solves with the full metric's factor: `dim^2`.
            keep_going().then(|| metric.apply(v.clone()))
        });
        lambda * eigenvalue?
    };
    Some(loss.curvature() * largest + regulariser)
}

/// The largest eigenvalue of `op`, a positive semi-definite operator in a metric (its
/// eigenvalues are real and non-negative), by power iteration from a fixed pseudo-random
/// direction of entries in `[-1, 1]`. Not from the all-ones direction: data whose rows each sum
/// to 0 (pairwise comparisons `e_i - e_j`, rows centred across their features) have `X 1 = 0`,
/// and from there the iteration found L = 0 (and a default step that diverged at once); a
/// top eigenvector nearly orthogonal to `1` made it stop near a smaller eigenvalue. `None` when
/// `op` gives none (its caller asked it to stop).
fn largest_eigenvalue(dim: usize, op: impl Fn(&Model) -> Option<Model>) -> Option<f64> {
    let mut draw = ChaCha8Rng::seed_from_u64(0x5eed_0f1a);
    let start = Array1::from_shape_fn(dim, |_| 2.0 * draw.random::<f64>() - 1.0);
    let length = start.dot(&start).sqrt();
    let mut v = if length > 0.0 { start / length } else { start };
    let mut lambda = 0.0;
    for _ in 0..100 {
        let next = op(&v)?;
        let norm = next.dot(&next).sqrt();
        if norm == 0.0 {
            break;
        }
        let converged = (norm - lambda).abs() <= 1e-6 * norm;
        lambda = norm;
        v = next / norm;
        if converged {
            break;
        }
    }
    Some(lambda)
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncopt_runtime::data::{Dataset, Features};
    use ndarray::{Array1, Array2};

    /// `lambda_max(X^T X / n)` by a dense symmetric eigensolver.
    fn exact(data: &Dataset) -> f64 {
        let a = crate::loss::normal_matrix(data);
        let n = data.n_rows() as f64;
        let d = data.dim();
        let m = nalgebra::DMatrix::from_fn(d, d, |i, j| a[[i, j]] / n);
        m.symmetric_eigen().eigenvalues.max()
    }

    /// Pairwise comparisons of `k` items: row `e_i - e_j` for every ordered pair. Every row
    /// sums to 0, so the all-ones direction is in the null space of `X`.
    fn pairs(k: usize) -> Dataset {
        let mut rows = Vec::new();
        for i in 0..k {
            for j in (0..k).filter(|&j| j != i) {
                let mut row = vec![0.0; k];
                row[i] = 1.0;
                row[j] = -1.0;
                rows.extend(row);
            }
        }
        let n = k * (k - 1);
        let x = Array2::from_shape_vec((n, k), rows).unwrap();
        Dataset::new("pairs", Features::Dense(x), Array1::ones(n)).unwrap()
    }

    #[test]
    fn rows_that_sum_to_zero_have_their_smoothness() {
        for data in [pairs(5), pairs(5).to_sparse()] {
            let l = exact(&data);
            assert!(l > 0.1, "{l}");
            let estimate = smoothness(&Loss::LeastSquares, &data);
            assert!(
                (estimate - l).abs() <= 1e-6 * l,
                "L = {estimate}, exactly {l}"
            );
            let logistic = Loss::Logistic { lambda: 1e-3 };
            let estimate = smoothness(&logistic, &data);
            let l = 0.25 * l + 1e-3;
            assert!(
                (estimate - l).abs() <= 1e-6 * l,
                "L = {estimate}, exactly {l}"
            );
        }
    }

    /// Its passes over a large set take minutes; a Ctrl-C during one stops the estimate at the
    /// next block of rows, where it used to wait for all 100 passes.
    #[test]
    fn the_smoothness_estimate_stops_when_asked() {
        // Three blocks of rows: the first pass asks twice, the second time is told to stop.
        let d = 4;
        let n = 3 * rows_per_poll(d);
        let mut draw = ChaCha8Rng::seed_from_u64(3);
        // Columns of different scales: eigenvalues far apart, which power iteration resolves.
        let x = Array2::from_shape_fn((n, d), |(_, j)| {
            (2.0 * draw.random::<f64>() - 1.0) * (1 + j) as f64
        });
        let tall = Dataset::new("tall", Features::Dense(x), Array1::ones(n)).unwrap();
        let loss = Loss::LeastSquares;
        let identity = Metric::identity();
        for data in [tall.clone(), tall.to_sparse()] {
            let asked = std::cell::Cell::new(0);
            let after_one = || {
                asked.set(asked.get() + 1);
                asked.get() <= 1
            };
            let stopped = preconditioned_smoothness_until(&loss, &data, &identity, &after_one);
            assert_eq!(stopped, None);
            assert_eq!(asked.get(), 2, "sparse={}", data.is_sparse());
            // Let go on, the same estimate as without a question: lambda_max(X^T X / n).
            let asked = std::cell::Cell::new(0);
            let always = || {
                asked.set(asked.get() + 1);
                true
            };
            let estimate = preconditioned_smoothness_until(&loss, &data, &identity, &always);
            assert_eq!(estimate, Some(smoothness(&loss, &data)));
            assert!(asked.get() >= 3 && asked.get() % 3 == 0, "{}", asked.get());
            let (estimate, l) = (estimate.unwrap(), exact(&data));
            assert!(
                (estimate - l).abs() <= 1e-6 * l,
                "L = {estimate}, exactly {l}"
            );
        }
    }

    /// `max_i |x_i|^2`, row by row on a fresh dense copy.
    fn largest_squared_norm(data: &Dataset) -> f64 {
        (0..data.n_rows())
            .map(|i| {
                let mut row = Array1::zeros(data.dim());
                data.axpy(i, 1.0, row.view_mut());
                row.dot(&row)
            })
            .fold(0.0, f64::max)
    }

    /// The largest row's smoothness in the full metric costs `dim^2` a row: on a wide, tall
    /// set a Ctrl-C waited minutes for its pass, which asked nothing.
    #[test]
    fn the_largest_row_smoothness_stops_when_asked() {
        let d = 4;
        let n = 3 * crate::loss::rows_per_question(d * d, 16);
        let mut draw = ChaCha8Rng::seed_from_u64(5);
        let x = Array2::from_shape_fn((n, d), |_| 2.0 * draw.random::<f64>() - 1.0);
        let tall = Dataset::new("tall", Features::Dense(x), Array1::ones(n)).unwrap();
        for lambda in [0.0, 0.1] {
            let loss = Loss::with_lambda(true, lambda);
            for kind in [
                Precondition::None,
                Precondition::Diagonal,
                Precondition::Full,
            ] {
                let metric = Metric::new(kind, &loss, &tall).unwrap();
                let asked = std::cell::Cell::new(0);
                let after_one = || {
                    asked.set(asked.get() + 1);
                    asked.get() <= 1
                };
                let stopped =
                    preconditioned_max_row_smoothness_until(&loss, &tall, &metric, &after_one);
                assert_eq!(stopped, None, "{kind}, lambda {lambda}");
                assert_eq!(asked.get(), 2, "{kind}, lambda {lambda}");
                // Let go on, the same value as without a question.
                let whole =
                    preconditioned_max_row_smoothness_until(&loss, &tall, &metric, &|| true);
                let plain = preconditioned_max_row_smoothness(&loss, &tall, &metric);
                assert_eq!(whole, Some(plain), "{kind}, lambda {lambda}");
                assert!(plain > 0.0 && plain.is_finite(), "{plain}");
            }
        }
    }

    #[test]
    fn the_largest_row_smoothness_is_the_largest_squared_norm() {
        let x = Array2::from_shape_vec(
            (4, 3),
            vec![
                0.5, 0.0, -2.0, 1e200, 0.0, 0.0, 0.0, 3.0, 0.0, 1.0, 1.0, 1.0,
            ],
        )
        .unwrap();
        let huge = Dataset::new("huge", Features::Dense(x), Array1::ones(4)).unwrap();
        for data in [huge.clone(), huge.to_sparse()] {
            // A row whose square overflows makes it infinite, as the step's check expects.
            assert_eq!(
                max_row_smoothness(&Loss::LeastSquares, &data),
                f64::INFINITY
            );
        }
        let rest = huge.select(&[0, 2, 3]);
        for data in [rest.clone(), rest.to_sparse()] {
            assert_eq!(max_row_smoothness(&Loss::LeastSquares, &data), 9.0);
        }
        for name in ["a9a.xz", "cal_housing.scale.xz"] {
            let data = Dataset::load(test_support::data(name), &Default::default()).unwrap();
            let exact = largest_squared_norm(&data);
            let logistic = Loss::Logistic { lambda: 1e-3 };
            assert_eq!(
                max_row_smoothness(&Loss::LeastSquares, &data),
                exact,
                "{name}"
            );
            assert_eq!(max_row_smoothness(&logistic, &data), 0.25 * exact + 1e-3);
        }
    }

    #[test]
    fn smoothness_of_the_repository_data_is_its_largest_eigenvalue() {
        for name in ["cal_housing.scale.xz", "a9a.xz"] {
            let data = Dataset::load(test_support::data(name), &Default::default()).unwrap();
            let (estimate, l) = (smoothness(&Loss::LeastSquares, &data), exact(&data));
            assert!(
                (estimate - l).abs() <= 1e-6 * l,
                "{name}: L = {estimate}, exactly {l}"
            );
        }
    }
}
