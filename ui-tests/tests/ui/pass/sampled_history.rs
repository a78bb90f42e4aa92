// A reduce over each partition's minibatch, with a history table of which every task carries
// only its rows' entries (SAGA's shape).
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::data::{Batch, Rows};
use asyncopt_runtime::{async_optimizer, Dataset, Driver, History, HistorySlice, HistoryUpdate};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Terms {
    correction: Model,
    history: HistoryUpdate,
}

impl asyncopt_runtime::Combine for Terms {
    fn combine(parts: Vec<Self>) -> Self {
        let mut parts = parts.into_iter();
        let mut total = parts.next().expect("one partition at least");
        for part in parts {
            total.correction += &part.correction;
            total.history.extend(part.history);
        }
        total
    }
}

fn terms(p: &Params, batch: &Batch<'_>, w: &Model, seen: &HistorySlice) -> Terms {
    let mut correction = Model::zeros(batch.dim());
    let mut history = HistoryUpdate::default();
    for j in 0..batch.len() {
        let derivative = p.loss.derivative(batch.dot(j, w.view()), batch.label(j));
        batch.axpy(j, derivative - seen.get(j), correction.view_mut());
        history.push(batch.sample_id(j), derivative);
    }
    Terms { correction, history }
}

#[async_optimizer]
fn saga_like(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut seen: History = History::zeros(data.n_rows());
    for k in 0..p.updates {
        broadcast!(w);
        let t = reduce!(data.sample(p.batch, k), |batch| terms(p, batch, w, seen));
        seen.apply(&t.history);
        w.scaled_add(-p.step, &t.correction);
    }
    w
}

#[async_optimizer]
fn asaga_like(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut seen: History = History::zeros(data.n_rows());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asyncopt_runtime::asp());
        let t = reduce!(data.sample(p.batch, k), |batch| terms(p, batch, w, seen), max_staleness = 8);
        seen.apply(&t.history);
        w.scaled_add(-p.step, &t.correction);
    }
    w
}

fn main() {}
