//! Sums over rows with their count: the exact mean over the rows of partitions of unequal
//! sizes, where a mean of per-partition means weights each partition alike.

use asyncopt_runtime::data::Rows;
use asyncopt_runtime::Combine;
use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

use crate::{Loss, Model};

/// A sum over rows and their count, combined across partitions by adding both: exact means
/// over partitions of unequal sizes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowSum {
    /// The sum over the rows.
    pub sum: Model,
    /// The number of rows.
    pub rows: usize,
}

impl RowSum {
    /// The mean over the rows.
    pub fn mean(&self) -> Model {
        &self.sum / self.rows.max(1) as f64
    }
}

impl Combine for RowSum {
    fn combine(parts: Vec<Self>) -> Self {
        let mut parts = parts.into_iter();
        let mut total = parts.next().expect("at least one partition");
        for part in parts {
            total.sum += &part.sum;
            total.rows += part.rows;
        }
        total
    }
}

/// `sum_i l'_i(w) x_i` over `rows`, without regularisation.
pub fn data_gradient_sum(loss: &Loss, rows: &impl Rows, w: ArrayView1<f64>) -> RowSum {
    let mut sum = Model::zeros(rows.dim());
    for i in 0..rows.len() {
        // The next row comes in from memory while this one is computed on (rows of a
        // mini-batch are scattered over the partition).
        rows.prefetch(i + 1);
        let derivative = loss.derivative(rows.dot(i, w), rows.label(i));
        if derivative != 0.0 {
            rows.axpy(i, derivative, sum.view_mut());
        }
    }
    RowSum {
        sum,
        rows: rows.len(),
    }
}
