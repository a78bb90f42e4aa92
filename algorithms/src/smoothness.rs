//! The smoothness constant L of an objective (the largest eigenvalue of its Hessian bound),
//! estimated by power iteration on `X^T X / n`. Step sizes are set from it (`1/L`).

use async_runtime::data::Rows;
use ndarray::Array1;

use crate::Loss;

/// Estimates L for `loss` on `rows`: `lambda_max(X^T X / n)` for least squares, a quarter of
/// it plus `lambda` for logistic regression.
pub fn smoothness(loss: &Loss, rows: &impl Rows) -> f64 {
    let n = rows.len().max(1);
    let mut v = Array1::from_elem(rows.dim(), 1.0 / (rows.dim().max(1) as f64).sqrt());
    let mut lambda = 0.0;
    for _ in 0..100 {
        let mut next = Array1::zeros(rows.dim());
        for i in 0..rows.len() {
            let xv = rows.dot(i, v.view());
            rows.axpy(i, xv / n as f64, next.view_mut());
        }
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
    match loss {
        Loss::LeastSquares => lambda,
        Loss::Logistic { lambda: reg } => lambda / 4.0 + reg,
    }
}

/// The largest smoothness constant of a single sample's loss, `max_i |x_i|^2` for least
/// squares (a quarter of it plus `lambda` for logistic): SAGA and SVRG steps are set from it.
pub fn max_row_smoothness(loss: &Loss, rows: &impl Rows) -> f64 {
    let dim = rows.dim();
    let mut largest: f64 = 0.0;
    let mut row = Array1::zeros(dim);
    for i in 0..rows.len() {
        row.fill(0.0);
        rows.axpy(i, 1.0, row.view_mut());
        largest = largest.max(row.dot(&row));
    }
    match loss {
        Loss::LeastSquares => largest,
        Loss::Logistic { lambda } => largest / 4.0 + lambda,
    }
}
