//! The smoothness constant L of an objective (the largest eigenvalue of its Hessian bound),
//! estimated by power iteration on `X^T X / n`, plain or in a preconditioner's metric. Step
//! sizes are set from it (`1/L`).

use asyncopt_runtime::data::Rows;
use ndarray::Array1;

use crate::{Loss, Metric, Model};

/// Estimates L for `loss` on `rows`: `lambda_max(X^T X / n)` for least squares, a quarter of
/// it plus `lambda` for logistic regression.
pub fn smoothness(loss: &Loss, rows: &impl Rows) -> f64 {
    preconditioned_smoothness(loss, rows, &Metric::identity())
}

/// L in the metric of the preconditioner `metric` (`P`): the largest eigenvalue of
/// `P (c X^T X / n + lambda I)`, with `c` the loss's [curvature](Loss::curvature). About 1 for
/// the full preconditioner.
pub fn preconditioned_smoothness(loss: &Loss, rows: &impl Rows, metric: &Metric) -> f64 {
    let scale = loss.curvature() / rows.len().max(1) as f64;
    let lambda = loss.lambda();
    largest_eigenvalue(rows.dim(), |v| {
        let mut next = Array1::zeros(rows.dim());
        for i in 0..rows.len() {
            let xv = rows.dot(i, v.view());
            rows.axpy(i, xv * scale, next.view_mut());
        }
        next.scaled_add(lambda, v);
        metric.apply(next)
    })
}

/// The largest smoothness constant of a single sample's loss, `max_i |x_i|^2` for least
/// squares (a quarter of it plus `lambda` for logistic): SAGA and SVRG steps are set from it.
pub fn max_row_smoothness(loss: &Loss, rows: &impl Rows) -> f64 {
    preconditioned_max_row_smoothness(loss, rows, &Metric::identity())
}

/// [`max_row_smoothness`] in the metric of `metric` (`P`): `max_i c x_i^T P x_i`, plus
/// `lambda` times the largest eigenvalue of `P`.
pub fn preconditioned_max_row_smoothness(loss: &Loss, rows: &impl Rows, metric: &Metric) -> f64 {
    let dim = rows.dim();
    let mut largest: f64 = 0.0;
    let mut row = Array1::zeros(dim);
    for i in 0..rows.len() {
        row.fill(0.0);
        rows.axpy(i, 1.0, row.view_mut());
        largest = largest.max(metric.quadratic_form(&row));
    }
    let lambda = loss.lambda();
    let regulariser = if lambda == 0.0 {
        0.0
    } else if metric.is_identity() {
        lambda
    } else {
        lambda * largest_eigenvalue(dim, |v| metric.apply(v.clone()))
    };
    loss.curvature() * largest + regulariser
}

/// The largest eigenvalue of `op`, a positive semi-definite operator in a metric (its
/// eigenvalues are real and non-negative), by power iteration from the all-ones direction.
fn largest_eigenvalue(dim: usize, op: impl Fn(&Model) -> Model) -> f64 {
    let mut v = Array1::from_elem(dim, 1.0 / (dim.max(1) as f64).sqrt());
    let mut lambda = 0.0;
    for _ in 0..100 {
        let next = op(&v);
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
    lambda
}
