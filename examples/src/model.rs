//! The model an optimizer returns, as the toolkit sees it: what the trace and the stop rules
//! evaluate, and how the model is kept. A linear model ([`Model`], an `Array1<f64>`) is one,
//! evaluated by the run's loss; so is a serde type of an author's own (a matrix, a struct of
//! layers) that says what its objective is: [`Trainable`]. Such a type may also say what it
//! predicts for a row and what it scores besides its objective, for `evaluate` and `predict`
//! of its saved model.
//!
//! ```
//! use asyncopt_algorithms::Params;
//! use asyncopt_runtime::data::{Dataset, Rows};
//! use async_train::model::Trainable;
//! use ndarray::Array2;
//! use serde::{Deserialize, Serialize};
//!
//! /// Two linear outputs fitted to the label and to its square.
//! #[derive(Clone, Serialize, Deserialize)]
//! struct TwoOutputs {
//!     weights: Array2<f64>,
//! }
//!
//! impl Trainable for TwoOutputs {
//!     fn objective(&self, data: &Dataset, _params: &Params) -> f64 {
//!         let mut total = 0.0;
//!         for i in 0..data.len() {
//!             let y = data.label(i);
//!             let a = data.dot(i, self.weights.column(0)) - y;
//!             let b = data.dot(i, self.weights.column(1)) - y * y;
//!             total += 0.5 * (a * a + b * b);
//!         }
//!         total / data.len().max(1) as f64
//!     }
//!
//!     fn norm(&self) -> f64 {
//!         self.weights.iter().map(|w| w * w).sum::<f64>().sqrt()
//!     }
//!
//!     // Optional: what `predict` writes for a row, and what `evaluate` adds to the objective.
//!     fn prediction_columns(&self) -> Option<Vec<String>> {
//!         Some(vec!["label".into(), "square".into()])
//!     }
//!
//!     fn predict_row(&self, data: &Dataset, i: usize) -> Vec<f64> {
//!         vec![data.dot(i, self.weights.column(0)), data.dot(i, self.weights.column(1))]
//!     }
//!
//!     fn metrics(&self, data: &Dataset, _params: &Params) -> Vec<(String, f64)> {
//!         let errors: f64 = (0..data.len())
//!             .map(|i| (data.dot(i, self.weights.column(0)) - data.label(i)).abs())
//!             .sum();
//!         vec![("mean_absolute_error".into(), errors / data.len().max(1) as f64)]
//!     }
//! }
//! ```

use std::any::Any;

use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::data::Dataset;
use asyncopt_runtime::Broadcast;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A model type the toolkit can train, trace and keep: the return type of an optimizer run by
/// [`cli::run`](crate::cli::run) and [`job::run`](crate::job::run).
pub trait Trainable: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The objective the trace, the stop rules and the summary follow: this model's training
    /// loss on `data` (the evaluation sample under shared data access), under the run's
    /// settings `params` (a linear model reads its loss there). A loss is never negative: a
    /// negative or non-finite value, or one 10^4 times the first, is taken for a divergence.
    fn objective(&self, data: &Dataset, params: &Params) -> f64;

    /// A norm of the model, cheap next to the objective: one that grew tenfold between two
    /// evaluations calls for an evaluation at once, which catches a divergence early.
    fn norm(&self) -> f64;

    /// What `evaluate` reports of its saved model on `data` (rows read as for training: the
    /// model's features, the labels as the run's loss reads them) besides the rows and the
    /// [`objective`](Trainable::objective), which it reports for every model: accuracy, say,
    /// each a name (unique, not `rows` or `objective`) and a value. None by default.
    fn metrics(&self, data: &Dataset, params: &Params) -> Vec<(String, f64)> {
        let _ = (data, params);
        Vec::new()
    }

    /// The names of the values [`predict_row`](Trainable::predict_row) gives, the columns of
    /// `predict`'s CSV after its `line` (each non-empty, not `line`, without `,`, `"` or a
    /// line break), or `None`, the default, for a type that does not predict: `predict` then
    /// says so.
    fn prediction_columns(&self) -> Option<Vec<String>> {
        None
    }

    /// Its prediction for row `i` of `data`, one value per prediction column. The rows are in
    /// the model's features; their labels are whatever the file holds, as a prediction does
    /// not read them.
    fn predict_row(&self, data: &Dataset, i: usize) -> Vec<f64> {
        let _ = (data, i);
        Vec::new()
    }
}

impl Trainable for Model {
    fn objective(&self, data: &Dataset, params: &Params) -> f64 {
        params.loss.objective(data, self.view())
    }

    fn norm(&self) -> f64 {
        self.dot(self).sqrt()
    }
}

/// A trained model of any [`Trainable`] type: a linear [`Model`] or an author's own.
pub struct TrainedModel(Box<dyn AnyTrainable>);

impl TrainedModel {
    /// Wraps `model`.
    pub fn new<M: Trainable>(model: M) -> TrainedModel {
        TrainedModel(Box::new(model))
    }

    /// The model, if it is an `M`.
    pub fn downcast_ref<M: Any>(&self) -> Option<&M> {
        self.0.as_any().downcast_ref()
    }

    /// The linear model, if it is one.
    pub fn linear(&self) -> Option<&Model> {
        self.downcast_ref()
    }

    /// Its objective on `data` under `params`.
    pub fn objective(&self, data: &Dataset, params: &Params) -> f64 {
        self.as_ref().objective(data, params)
    }

    /// Its norm.
    pub fn norm(&self) -> f64 {
        self.as_ref().norm()
    }

    /// Its scores besides the objective ([`Trainable::metrics`]).
    pub fn metrics(&self, data: &Dataset, params: &Params) -> Vec<(String, f64)> {
        self.0.metrics(data, params)
    }

    /// The columns of its predictions, if it predicts ([`Trainable::prediction_columns`]).
    pub fn prediction_columns(&self) -> Option<Vec<String>> {
        self.0.prediction_columns()
    }

    /// Its prediction for row `i` of `data` ([`Trainable::predict_row`]).
    pub fn predict_row(&self, data: &Dataset, i: usize) -> Vec<f64> {
        self.0.predict_row(data, i)
    }

    /// The model as JSON, as its `Serialize` writes it.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        self.0.to_json()
    }

    /// Its Rust type's name, for messages.
    pub fn type_name(&self) -> &'static str {
        self.0.type_name()
    }
}

impl TrainedModel {
    /// A borrowed view of it.
    pub fn as_ref(&self) -> ModelRef<'_> {
        ModelRef(self.0.as_ref())
    }
}

/// A borrowed model of any [`Trainable`] type, as a run's observers see it.
#[derive(Clone, Copy)]
pub struct ModelRef<'a>(&'a dyn AnyTrainable);

impl<'a> ModelRef<'a> {
    /// Views `model`.
    pub fn of<M: Trainable>(model: &'a M) -> ModelRef<'a> {
        ModelRef(model)
    }

    /// Its objective on `data` under `params`.
    pub fn objective(self, data: &Dataset, params: &Params) -> f64 {
        self.0.objective(data, params)
    }

    /// Its norm.
    pub fn norm(self) -> f64 {
        self.0.norm()
    }

    /// Its size on the wire, in bytes: about what a copy of it takes.
    pub fn encoded_len(self) -> usize {
        self.0.encoded_len()
    }

    /// A copy of it.
    pub fn to_owned(self) -> TrainedModel {
        TrainedModel(self.0.clone_box())
    }
}

impl Clone for TrainedModel {
    fn clone(&self) -> TrainedModel {
        TrainedModel(self.0.clone_box())
    }
}

impl std::fmt::Debug for TrainedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TrainedModel")
            .field(&self.type_name())
            .finish()
    }
}

/// [`Trainable`] without its type: what a [`TrainedModel`] holds.
trait AnyTrainable: Send + Sync {
    fn objective(&self, data: &Dataset, params: &Params) -> f64;
    fn norm(&self) -> f64;
    fn metrics(&self, data: &Dataset, params: &Params) -> Vec<(String, f64)>;
    fn prediction_columns(&self) -> Option<Vec<String>>;
    fn predict_row(&self, data: &Dataset, i: usize) -> Vec<f64>;
    fn clone_box(&self) -> Box<dyn AnyTrainable>;
    fn encoded_len(&self) -> usize;
    fn to_json(&self) -> serde_json::Result<serde_json::Value>;
    fn as_any(&self) -> &dyn Any;
    fn type_name(&self) -> &'static str;
}

impl<M: Trainable> AnyTrainable for M {
    fn objective(&self, data: &Dataset, params: &Params) -> f64 {
        Trainable::objective(self, data, params)
    }

    fn norm(&self) -> f64 {
        Trainable::norm(self)
    }

    fn metrics(&self, data: &Dataset, params: &Params) -> Vec<(String, f64)> {
        Trainable::metrics(self, data, params)
    }

    fn prediction_columns(&self) -> Option<Vec<String>> {
        Trainable::prediction_columns(self)
    }

    fn predict_row(&self, data: &Dataset, i: usize) -> Vec<f64> {
        Trainable::predict_row(self, data, i)
    }

    fn clone_box(&self) -> Box<dyn AnyTrainable> {
        Box::new(self.clone())
    }

    fn encoded_len(&self) -> usize {
        Broadcast::encode(self).len()
    }

    fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<M>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncopt_algorithms::Loss;
    use asyncopt_runtime::data::Features;
    use ndarray::{array, Array2};

    #[test]
    fn a_linear_model_is_evaluated_by_the_runs_loss_and_comes_back_as_itself() {
        let x = Array2::from_shape_vec((2, 2), vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        let data = Dataset::new("two", Features::Dense(x), array![1.0, 2.0]).unwrap();
        let model = TrainedModel::new(array![1.0, 0.0]);
        let params = Params::new(Loss::LeastSquares);
        // Residuals 0 and -2: 1/(2n) * 4 = 1.
        assert_eq!(model.objective(&data, &params), 1.0);
        assert_eq!(model.norm(), 1.0);
        assert_eq!(model.linear(), Some(&array![1.0, 0.0]));
        assert!(model.downcast_ref::<Vec<f64>>().is_none());
        assert_eq!(
            model.to_json().unwrap(),
            serde_json::json!({"v": 1, "dim": [2], "data": [1.0, 0.0]})
        );
    }
}
