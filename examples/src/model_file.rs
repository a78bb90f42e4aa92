//! The model a run keeps: its weights with everything needed to use them again (the loss, the
//! dimension, the bias feature, the training data's name and fingerprint, the run's settings),
//! as one JSON document that any language reads without this crate:
//!
//! ```json
//! {
//!   "format": "asyncopt-model",
//!   "version": 1,
//!   "loss": "logistic",
//!   "lambda": 0.0001,
//!   "features": 123,
//!   "bias": 1.0,
//!   "data": { "name": "a9a.xz", "rows": 32561, "sha256": "..." },
//!   "settings": { "algo": "asgd", "step": 0.5, ... },
//!   "objective": 0.3249,
//!   "weights": [0.12, -0.3, ...]
//! }
//! ```
//!
//! `weights` has `features` entries, plus one last entry for the bias feature when `bias` is
//! not null: the prediction for a row `x` (1-based LIBSVM indices `j`) is
//! `sum_j weights[j-1] x_j + bias * weights[features]`; for `logistic` the probability of `+1`
//! is `1 / (1 + exp(-prediction))`. Every f64 is written in its shortest exact decimal form,
//! so the weights read back bit for bit.

use std::path::Path;

use anyhow::{bail, Context, Result};
use asyncopt_algorithms::{Loss, Model};
use asyncopt_runtime::data::{Dataset, LoadOptions};
use serde::{Deserialize, Serialize};

use crate::trace::create_parent;

/// The `format` field of a model file.
pub const FORMAT: &str = "asyncopt-model";

/// The version of the layout this crate writes and reads.
pub const VERSION: u32 = 1;

/// The training data a model was fitted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// The data set's name (its file name).
    pub name: String,
    /// Its rows.
    pub rows: usize,
    /// [`Dataset::fingerprint`] of the data trained on (bias column included).
    pub sha256: String,
}

/// A saved model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout's version, [`VERSION`].
    pub version: u32,
    /// `least-squares` or `logistic`.
    pub loss: String,
    /// The L2 weight of the objective.
    pub lambda: f64,
    /// Features of the data, without the bias feature.
    pub features: usize,
    /// The value of the constant feature appended to every row, if any.
    pub bias: Option<f64>,
    /// The training data.
    pub data: DataInfo,
    /// The run's settings, as in its summary.
    pub settings: serde_json::Value,
    /// The training objective of these weights.
    pub objective: f64,
    /// One weight per feature, then the bias feature's.
    pub weights: Vec<f64>,
}

impl SavedModel {
    /// The loss this model was trained with.
    pub fn loss(&self) -> Result<Loss> {
        match self.loss.as_str() {
            "least-squares" => Ok(Loss::with_lambda(true, self.lambda)),
            "logistic" => Ok(Loss::with_lambda(false, self.lambda)),
            other => bail!("the model's loss `{other}` is not least-squares or logistic"),
        }
    }

    /// The weights as a model vector.
    pub fn model(&self) -> Model {
        Model::from(self.weights.clone())
    }

    /// Writes the model as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<()> {
        create_parent(path)?;
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write the model {}", path.display()))
    }

    /// Reads and checks a model file.
    pub fn read(path: &Path) -> Result<SavedModel> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the model {}", path.display()))?;
        let model: SavedModel = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a model file", path.display()))?;
        if model.format != FORMAT {
            bail!(
                "{} is not a model file (format `{}`, expected `{FORMAT}`)",
                path.display(),
                model.format
            );
        }
        if model.version != VERSION {
            bail!(
                "{} is a model of layout version {}; this build reads version {VERSION}",
                path.display(),
                model.version
            );
        }
        let expected = model.features + usize::from(model.bias.is_some());
        if model.weights.len() != expected {
            bail!(
                "{}: {} weights for {} features{}",
                path.display(),
                model.weights.len(),
                model.features,
                if model.bias.is_some() {
                    " and a bias"
                } else {
                    ""
                }
            );
        }
        if let Some(bad) = model.weights.iter().position(|w| !w.is_finite()) {
            bail!("{}: weight {bad} is not a finite number", path.display());
        }
        model.loss()?;
        Ok(model)
    }

    /// Loads `path` in this model's feature space: its features, the bias column, the labels
    /// its loss needs.
    pub fn load_data(&self, path: &Path) -> Result<Dataset> {
        let options = LoadOptions {
            dim: Some(self.features),
            ..LoadOptions::default()
        };
        crate::job::load_for(path, &options, self.bias, &self.loss()?)
    }
}
