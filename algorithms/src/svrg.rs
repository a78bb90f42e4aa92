//! SVRG and its asynchronous twin, for linear models.
//!
//! Every epoch SVRG takes a snapshot `s` of the model and the full gradient there; an update
//! then steps along `(1/|B|) sum_{i in B} (l'_i(w) - l'_i(s)) x_i + full + lambda w` (times the
//! preconditioner `P`, if any).
//! The snapshot is broadcast like the model: workers hold it as the model version they were
//! already sent, so it costs no bytes (the broadcaster sends a reference to that version).
//!
//! In ASVRG a result may arrive after the next snapshot was taken: its task read the previous
//! snapshot. SVRG's estimate is unbiased only when the correction and the full gradient are
//! taken at the same snapshot, so ASVRG keeps the full gradients of the last few snapshots by
//! version ([`FullGradients`]) and combines each result with the one its task read, as the
//! driver recorded it at dispatch (`cx.last_result()`).

use std::collections::VecDeque;

use asyncopt_runtime::data::{Batch, Rows};
use asyncopt_runtime::{async_optimizer, Dataset, Driver};
use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

use crate::{data_gradient_sum, Loss, Model, Params};

/// The variance-reduced term `(1/|B|) sum_{i in B} (l'_i(w) - l'_i(s)) x_i`.
pub fn svrg_correction(
    loss: &Loss,
    batch: &Batch<'_>,
    w: ArrayView1<f64>,
    snapshot: ArrayView1<f64>,
) -> Model {
    let mut sum = Model::zeros(batch.dim());
    for j in 0..batch.len() {
        let (x_w, x_s) = (batch.dot(j, w), batch.dot(j, snapshot));
        let label = batch.label(j);
        batch.axpy(
            j,
            loss.derivative(x_w, label) - loss.derivative(x_s, label),
            sum.view_mut(),
        );
    }
    sum / batch.len().max(1) as f64
}

/// The full gradients of the last [`FullGradients::KEEP`] snapshots, by snapshot version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FullGradients {
    kept: VecDeque<(u64, Model)>,
}

impl FullGradients {
    /// Snapshots whose full gradients are kept: a result that read an older one is dropped.
    pub const KEEP: usize = 4;

    /// Records the full gradient at snapshot version `version` (replacing an earlier record of
    /// the same version: a snapshot equal to the last one keeps its version).
    pub fn insert(&mut self, version: u64, full: Model) {
        self.kept.retain(|(v, _)| *v != version);
        self.kept.push_back((version, full));
        while self.kept.len() > Self::KEEP {
            self.kept.pop_front();
        }
    }

    /// The full gradient at snapshot version `version`, with that version, if it is kept.
    pub fn of(&self, version: u64) -> Option<(u64, &Model)> {
        self.kept
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(v, full)| (*v, full))
    }
}

/// Updates per epoch: `p.epoch`, or as many as read about every one of `rows` rows once. A
/// synchronous update reads each of the `partitions` minibatches, an asynchronous one a single
/// partition's (a task runs on one partition of its worker, however many it holds); a
/// minibatch is at most its partition, the whole of it for batch 0.
fn epoch_length(p: &Params, rows: usize, partitions: usize, synchronous: bool) -> usize {
    if p.epoch > 0 {
        return p.epoch;
    }
    let partitions = partitions.max(1);
    let partition_rows = (rows / partitions).max(1);
    let per_partition = match p.batch {
        0 => partition_rows,
        batch => batch.min(partition_rows),
    };
    let per_update = if synchronous {
        per_partition * partitions
    } else {
        per_partition
    };
    (rows / per_update).max(1)
}

/// Synchronous SVRG.
///
/// A snapshot's full-gradient pass is a `reduce!` of its own, and the driver counts every
/// `reduce!` of the loop as an update: each pass of the loop runs one, a snapshot's or an
/// inner update's, so that the run stops at `p.updates` counted updates, snapshots included,
/// and the count a run recorded, given back as `p.updates`, trains the same model.
#[async_optimizer]
pub fn svrg(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let epoch = epoch_length(p, data.full_rows(), cx.partitions(data), true);
    cx.note("epoch", epoch as f64);
    let mut w: Model = Model::zeros(data.dim());
    let mut snapshot: Model = Model::zeros(data.dim());
    let mut full = Model::zeros(data.dim());
    let mut velocity = Model::zeros(data.dim());
    // Inner updates so far: the epoch counts them, and they draw the minibatches.
    let mut inner: usize = 0;
    let mut snapshot_due: bool = true;
    let metric = p.metric(cx, data);
    for _ in 0..p.updates {
        if snapshot_due {
            snapshot = w.clone();
            broadcast!(snapshot);
            full = reduce!(data, |part| data_gradient_sum(
                &p.loss,
                part,
                snapshot.view()
            ))
            .mean();
            snapshot_due = false;
            continue;
        }
        broadcast!(w);
        let g = reduce!(data.sample(p.batch, inner), |batch| svrg_correction(
            &p.loss,
            batch,
            w.view(),
            snapshot.view()
        ));
        inner += 1;
        snapshot_due = inner.is_multiple_of(epoch);
        let direction = metric.apply(g + &full + p.loss.lambda() * &w);
        velocity = p.momentum * velocity + direction;
        w.scaled_add(-p.step, &velocity);
    }
    w
}

/// Asynchronous SVRG: SVRG plus a barrier and a staleness bound on the inner updates, each
/// result combined with the full gradient of the snapshot its task read.
#[async_optimizer]
pub fn asvrg(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let epoch = epoch_length(p, data.full_rows(), cx.partitions(data), false);
    cx.note("epoch", epoch as f64);
    let mut w: Model = Model::zeros(data.dim());
    let mut snapshot: Model = Model::zeros(data.dim());
    let mut fulls = FullGradients::default();
    let mut velocity = Model::zeros(data.dim());
    // As in `svrg`: one counted `reduce!` a pass, a snapshot's or an inner update's.
    let mut inner: usize = 0;
    let mut snapshot_due: bool = true;
    let metric = p.metric(cx, data);
    for _ in 0..p.updates {
        if snapshot_due {
            snapshot = w.clone();
            broadcast!(snapshot);
            let full = reduce!(data, |part| data_gradient_sum(
                &p.loss,
                part,
                snapshot.view()
            ))
            .mean();
            fulls.insert(cx.version("snapshot").unwrap_or_default(), full);
            snapshot_due = false;
            continue;
        }
        broadcast!(w);
        barrier!(|workers| workers.idle() >= p.quorum);
        let g = reduce!(
            data.sample(p.batch, inner),
            |batch| svrg_correction(&p.loss, batch, w.view(), snapshot.view()),
            max_staleness = p.max_staleness
        );
        // A result dropped below still took its update's place.
        inner += 1;
        snapshot_due = inner.is_multiple_of(epoch);
        let read = cx.last_result().and_then(|m| m.version_of("snapshot"));
        let Some((full_of, full)) = read.and_then(|v| fulls.of(v)) else {
            tracing::debug!(
                ?read,
                "a result read a snapshot whose full gradient is gone"
            );
            continue;
        };
        tracing::debug!(
            target: "asyncopt::asvrg",
            read = read.unwrap_or_default(),
            full_of,
            current = cx.version("snapshot").unwrap_or_default(),
            "combined a result with a full gradient"
        );
        let direction = metric.apply(g + full + p.loss.lambda() * &w);
        velocity = p.momentum * velocity + direction;
        w.scaled_add(-p.step_for(cx), &velocity);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(batch: usize, epoch: usize) -> Params {
        Params {
            batch,
            epoch,
            ..Params::new(Loss::LeastSquares)
        }
    }

    #[test]
    fn the_default_epoch_reads_every_row_about_once() {
        let rows = 20_640;
        // 2 workers of 2 partitions: a synchronous update reads 4 minibatches.
        assert_eq!(epoch_length(&with(256, 0), rows, 4, true), rows / (4 * 256));
        // An asynchronous update reads one task's minibatch, whatever the partitions.
        assert_eq!(epoch_length(&with(256, 0), rows, 4, false), rows / 256);
        assert_eq!(epoch_length(&with(256, 0), rows, 2, false), rows / 256);
    }

    #[test]
    fn a_minibatch_is_at_most_its_partition() {
        let rows = 1_000;
        // Batch 0 takes whole partitions: a synchronous update is a pass, an asynchronous
        // one a partition.
        assert_eq!(epoch_length(&with(0, 0), rows, 4, true), 1);
        assert_eq!(epoch_length(&with(0, 0), rows, 4, false), 4);
        // A batch beyond the partition's 250 rows reads those.
        assert_eq!(epoch_length(&with(400, 0), rows, 4, true), 1);
        assert_eq!(epoch_length(&with(400, 0), rows, 4, false), 4);
        // Never less than one update, not even for a batch beyond every row.
        assert_eq!(epoch_length(&with(5_000, 0), rows, 1, false), 1);
    }

    #[test]
    fn an_explicit_epoch_is_kept() {
        assert_eq!(epoch_length(&with(256, 10), 20_640, 4, true), 10);
        assert_eq!(epoch_length(&with(0, 3), 20_640, 4, false), 3);
    }
}
