//! SAGA and its asynchronous twin ASAGA, for linear models.
//!
//! SAGA keeps, for every sample i, the loss derivative `a_i` at its last visit, and the mean
//! `(1/n) sum_i a_i x_i`. An update draws a minibatch B and steps along
//! `(1/|B|) sum_{i in B} (l'_i(w) - a_i) x_i + mean + lambda w` (times the preconditioner `P`,
//! if any), then stores the new derivatives. The table holds the data terms only: the L2 term
//! `lambda w` is exact on the driver. The table lives on the driver; each task carries only its
//! minibatch's entries.

use asyncopt_runtime::data::{Batch, Rows};
use asyncopt_runtime::{
    async_optimizer, Combine, Dataset, Driver, History, HistorySlice, HistoryUpdate,
};
use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

use crate::{Loss, Model, Params};

/// What one SAGA task returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SagaTerms {
    /// `sum_{i in B} (l'_i(w) - a_i) x_i` over the task's minibatch.
    pub correction: Model,
    /// `|B|`.
    pub rows: usize,
    /// The new derivatives `l'_i(w)` of the minibatch's samples.
    pub history: HistoryUpdate,
}

impl Combine for SagaTerms {
    fn combine(parts: Vec<Self>) -> Self {
        let mut parts = parts.into_iter();
        let mut total = parts.next().expect("at least one partition");
        for part in parts {
            total.correction += &part.correction;
            total.rows += part.rows;
            total.history.extend(part.history);
        }
        total
    }
}

/// The SAGA terms of a minibatch, given its samples' stored derivatives `seen`.
pub fn saga_terms(
    loss: &Loss,
    batch: &Batch<'_>,
    w: ArrayView1<f64>,
    seen: &HistorySlice,
) -> SagaTerms {
    let mut correction = Model::zeros(batch.dim());
    let mut history = HistoryUpdate::default();
    for j in 0..batch.len() {
        let derivative = loss.derivative(batch.dot(j, w), batch.label(j));
        batch.axpy(j, derivative - seen.get(j), correction.view_mut());
        history.push(batch.sample_id(j), derivative);
    }
    SagaTerms {
        correction,
        rows: batch.len(),
        history,
    }
}

/// Synchronous SAGA: every partition contributes a minibatch to every update.
#[async_optimizer]
pub fn saga(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let n = data.full_rows() as f64;
    let mut w: Model = Model::zeros(data.dim());
    let mut seen: History = History::zeros(data.full_rows());
    let mut mean = Model::zeros(data.dim());
    let mut velocity = Model::zeros(data.dim());
    let metric = p.metric(cx, data);
    for k in 0..p.updates {
        broadcast!(w);
        let s = reduce!(data.sample(p.batch, k), |batch| saga_terms(
            &p.loss,
            batch,
            w.view(),
            seen
        ));
        let direction =
            metric.apply(&s.correction / s.rows.max(1) as f64 + &mean + p.loss.lambda() * &w);
        mean.scaled_add(1.0 / n, &s.correction);
        seen.apply(&s.history);
        velocity = p.momentum * velocity + direction;
        w.scaled_add(-p.step, &velocity);
    }
    w
}

/// Asynchronous SAGA (ASAGA): SAGA plus a barrier and a staleness bound.
#[async_optimizer]
pub fn asaga(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let n = data.full_rows() as f64;
    let mut w: Model = Model::zeros(data.dim());
    let mut seen: History = History::zeros(data.full_rows());
    let mut mean = Model::zeros(data.dim());
    let mut velocity = Model::zeros(data.dim());
    let metric = p.metric(cx, data);
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(|workers| workers.idle() >= p.quorum);
        let s = reduce!(
            data.sample(p.batch, k),
            |batch| saga_terms(&p.loss, batch, w.view(), seen),
            max_staleness = p.max_staleness
        );
        let direction =
            metric.apply(&s.correction / s.rows.max(1) as f64 + &mean + p.loss.lambda() * &w);
        mean.scaled_add(1.0 / n, &s.correction);
        seen.apply(&s.history);
        velocity = p.momentum * velocity + direction;
        w.scaled_add(-p.step_for(cx), &velocity);
    }
    w
}
