//! A model of an author's own type through the toolkit's whole command line: softmax
//! regression whose model is a matrix with its class edges, trained by Adam, gets what
//! `async-train` gives the built-in optimizers (stragglers, remote workers, progress, trace,
//! summary, plot, stop rules, checkpoints and `--resume`, Ctrl-C, the saved model).
//!
//! The classes are the quartiles of the data's target (on the built-in California housing
//! set, the median house value: class 0 the cheapest quarter of block groups, ..., class 3 the
//! dearest), so guessing scores 0.25. The objective the trace follows is the mean
//! cross-entropy, ln 4 = 1.386 at the start.
//!
//! ```sh
//! cargo run --release --example softmax_cli -- --algo softmax-adam --workers 4 \
//!     --stragglers slow-workers --trace softmax.csv --plot softmax.svg --save-model softmax.json
//! ```
//!
//! The saved model holds the matrix and the edges as JSON; [`Softmax::read`] reads it back,
//! and the program's `evaluate` and `predict` score it, as the model's [`Trainable`] says:
//! `evaluate` reports the mean cross-entropy and the accuracy, `predict` writes each row's
//! class and the probability of each class (`line,class,p0,p1,p2,p3`: the data line first).
//!
//! ```sh
//! cargo run --release --example softmax_cli -- evaluate --model softmax.json \
//!     --data data/cal_housing.scale.xz --out metrics.json
//! cargo run --release --example softmax_cli -- predict --model softmax.json \
//!     --data data/cal_housing.scale.xz --out preds.csv
//! ```
use std::path::Path;
use std::process::ExitCode;

use async_train::model::Trainable;
use async_train::model_file::SavedModel;
use async_train::Optimizer;
use asyncopt_algorithms::Params;
use asyncopt_runtime::data::{Dataset, Rows};
use asyncopt_runtime::{async_optimizer, Driver};
use ndarray::{s, Array1, Array2};
use serde::{Deserialize, Serialize};

/// Softmax regression over the classes that `edges` cut the labels into.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Softmax {
    /// `(features + 1) x classes`; the last row is the intercept.
    pub weights: Array2<f64>,
    /// The class of a label is how many of these edges it reaches.
    pub edges: Vec<f64>,
}

impl Softmax {
    /// The model of a file `--save-model` wrote.
    pub fn read(path: &Path) -> anyhow::Result<Softmax> {
        SavedModel::read(path)?.own()
    }

    /// The class of row `i` it predicts.
    pub fn predict(&self, rows: &impl Rows, i: usize) -> usize {
        most_likely(&probabilities(rows, i, &self.weights))
    }

    /// The share of `rows` whose class it predicts.
    pub fn accuracy(&self, rows: &impl Rows) -> f64 {
        let right = (0..rows.len())
            .filter(|&i| self.predict(rows, i) == class_of(rows.label(i), &self.edges))
            .count();
        right as f64 / rows.len().max(1) as f64
    }
}

impl Trainable for Softmax {
    /// The mean cross-entropy.
    fn objective(&self, data: &Dataset, _params: &Params) -> f64 {
        let total: f64 = (0..data.len())
            .map(|i| {
                let p = probabilities(data, i, &self.weights);
                -p[class_of(data.label(i), &self.edges)]
                    .max(f64::MIN_POSITIVE)
                    .ln()
            })
            .sum();
        total / data.len().max(1) as f64
    }

    fn norm(&self) -> f64 {
        self.weights.iter().map(|w| w * w).sum::<f64>().sqrt()
    }

    /// What `evaluate` reports besides the cross-entropy: the accuracy.
    fn metrics(&self, data: &Dataset, _params: &Params) -> Vec<(String, f64)> {
        vec![("accuracy".into(), self.accuracy(data))]
    }

    /// What `predict` writes: the class, then the probability of each class.
    fn prediction_columns(&self) -> Option<Vec<String>> {
        let classes = (0..self.weights.ncols()).map(|c| format!("p{c}"));
        Some(std::iter::once("class".to_owned()).chain(classes).collect())
    }

    fn predict_row(&self, data: &Dataset, i: usize) -> Vec<f64> {
        let p = probabilities(data, i, &self.weights);
        std::iter::once(most_likely(&p) as f64).chain(p).collect()
    }
}

/// The class of the highest probability (the first of a tie).
fn most_likely(p: &Array1<f64>) -> usize {
    (0..p.len()).fold(0, |best, c| if p[c] > p[best] { c } else { best })
}

/// The class of a label: how many of the edges it reaches.
pub fn class_of(label: f64, edges: &[f64]) -> usize {
    edges.iter().filter(|&&edge| label >= edge).count()
}

/// The quartiles of `labels`: the 3 edges of 4 balanced classes.
pub fn quartiles(labels: &[f64]) -> Vec<f64> {
    let mut sorted = labels.to_vec();
    sorted.sort_by(f64::total_cmp);
    (1..4).map(|q| sorted[q * sorted.len() / 4]).collect()
}

/// Class probabilities of row `i` under `w`.
fn probabilities(rows: &impl Rows, i: usize, w: &Array2<f64>) -> Array1<f64> {
    let dim = rows.dim();
    let scores = Array1::from_shape_fn(w.ncols(), |c| {
        rows.dot(i, w.slice(s![..dim, c])) + w[[dim, c]]
    });
    let top = scores.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let exp = scores.mapv(|z| (z - top).exp());
    let total = exp.sum();
    exp / total
}

/// The gradient of the mean cross-entropy of `rows` at `w`.
fn gradient(rows: &impl Rows, w: &Array2<f64>, edges: &[f64]) -> Array2<f64> {
    let dim = rows.dim();
    let mut g = Array2::<f64>::zeros(w.dim());
    let scale = 1.0 / rows.len().max(1) as f64;
    for i in 0..rows.len() {
        let mut error = probabilities(rows, i, w);
        error[class_of(rows.label(i), edges)] -= 1.0;
        for c in 0..w.ncols() {
            rows.axpy(i, error[c] * scale, g.slice_mut(s![..dim, c]));
            g[[dim, c]] += error[c] * scale;
        }
    }
    g
}

/// Softmax regression by Adam: the workers compute minibatch gradients (`--batch` rows of
/// each partition), the driver keeps the moments. The model it broadcasts is the one it
/// returns, so the trace follows it.
#[async_optimizer]
pub fn softmax_adam(cx: &mut Driver, data: &Dataset, p: &Params) -> Softmax {
    let edges: Vec<f64> = quartiles(&data.labels().to_vec());
    let mut model: Softmax = Softmax {
        weights: Array2::zeros((data.dim() + 1, edges.len() + 1)),
        edges,
    };
    let mut m: Array2<f64> = Array2::zeros(model.weights.dim());
    let mut v: Array2<f64> = Array2::zeros(model.weights.dim());
    for k in 0..p.updates {
        broadcast!(model);
        let g = reduce!(data.sample(p.batch, k), |batch| gradient(
            batch,
            &model.weights,
            &model.edges
        ));
        m = 0.9 * m + 0.1 * &g;
        v = 0.999 * v + 0.001 * &g * &g;
        let t = (k + 1) as i32;
        let m_hat = &m / (1.0 - 0.9f64.powi(t));
        let v_hat = &v / (1.0 - 0.999f64.powi(t));
        model.weights -= &(p.step * m_hat / (v_hat.mapv(f64::sqrt) + 1e-8));
    }
    model
}

/// The optimizer as the command line knows it: `--algo softmax-adam`, step 0.05 unless
/// `--step` says otherwise.
pub fn optimizer() -> Optimizer {
    Optimizer::of_model("softmax-adam", softmax_adam).default_step(0.05)
}

#[allow(dead_code)] // the toolkit test includes this file as a module, with a main of its own
fn main() -> ExitCode {
    asyncopt_runtime::run_worker_if_spawned();
    async_train::cli::Program::new("softmax_cli", env!("CARGO_PKG_VERSION")).run(&[optimizer()])
}
