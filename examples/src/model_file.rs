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
//!   "data": { "name": "a9a.xz", "rows": 32561, "sha256": "...", "objective_rows": 32561 },
//!   "settings": { "algo": "asgd", "step": 0.5, ... },
//!   "objective": 0.3249,
//!   "ended_by": "updates",
//!   "weights": [0.12, -0.3, ...]
//! }
//! ```
//!
//! `weights` has `features` entries, plus one last entry for the bias feature when `bias` is
//! not null: the prediction for a row `x` (1-based LIBSVM indices `j`) is
//! `sum_j weights[j-1] x_j + bias * weights[features]`; for `logistic` the probability of `+1`
//! is `1 / (1 + exp(-prediction))`. Every f64 is written in its shortest exact decimal form,
//! so the weights read back bit for bit.
//!
//! The model of an author's own type ([`Optimizer::of_model`](crate::Optimizer::of_model))
//! has no `weights`: its field `own` holds the model as its serde JSON, which
//! [`SavedModel::own`] reads back. `evaluate` and `predict` of a program that knows the
//! optimizer `settings.algo` names read it as that optimizer's model type and score it as the
//! type says ([`Trainable`](crate::model::Trainable)); [`SavedModel::params`] gives its
//! objective the run's settings.

mod budget;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use asyncopt_algorithms::{Loss, Model, Params};
use asyncopt_runtime::data::{Dataset, Features, Labels, LoadOptions};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::trace::write_whole;
use crate::words::plural;

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
    /// What `sha256` hashes: `"rows"`, every row of the data; `"sample"`, the driver's
    /// evaluation sample of a file read with shared access, with the checksums of the whole
    /// file's text (another sample of the same file hashes otherwise). `None` in a file
    /// written without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_of: Option<String>,
    /// The rows the model's `objective` was measured on: fewer than `rows` when its run scored
    /// an evaluation sample (`--data-access shared`); `None` in a file written without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective_rows: Option<usize>,
}

impl DataInfo {
    /// `data`'s name, rows and fingerprint, with the rows a model's objective was measured on.
    pub fn of(data: &Dataset, objective_rows: usize) -> DataInfo {
        DataInfo {
            name: data.name().into(),
            rows: data.full_rows(),
            sha256: data.fingerprint(),
            sha256_of: Some(sha256_of(data).into()),
            objective_rows: Some(objective_rows),
        }
    }
}

/// What [`Dataset::fingerprint`] hashes of `data`: every row, or an evaluation sample.
pub fn sha256_of(data: &Dataset) -> &'static str {
    if data.is_whole() {
        "rows"
    } else {
        "sample"
    }
}

/// A saved model.
///
/// Read back to predict, in an author's own code (the README's "Keeping the model"):
///
/// ```no_run
/// # fn main() -> anyhow::Result<()> {
/// use async_train::model_file::SavedModel;
/// use asyncopt_runtime::data::Rows;
///
/// let saved = SavedModel::read("m.json".as_ref())?; // checks the format and the loss
/// let w = saved.model()?; // features, then the bias weight
/// let rows = saved.load_rows("data/a9a.t.xz".as_ref())?; // an error names a row beyond it
/// let p = 1.0 / (1.0 + (-rows.dot(0, w.view())).exp()); // row 0's probability of +1
/// # let _ = p;
/// # Ok(())
/// # }
/// ```
///
/// Deserialized through serde directly (`serde_json::from_str`, a field of another type), its
/// weights and JSON values are counted as they are read against the default memory budget
/// ([`LoadOptions::DEFAULT_MAX_DIM`] features), which an error beyond it names as the default;
/// [`SavedModel::deserialize_within`] takes another. Only [`read()`](SavedModel::read) and
/// [`SavedModel::read_within`] also check what the model says (its format, loss, weights),
/// and name a field of the wrong type by its path (`data.rows`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout's version, [`VERSION`].
    pub version: u32,
    /// `least-squares` or `logistic`; null for a model of an author's own type whose
    /// optimizer does not read the loss (its objective is its type's), as in its settings.
    /// Required, null or not: a file without it is refused, not scored under a default.
    #[serde(deserialize_with = "required")]
    pub loss: Option<String>,
    /// The L2 weight of the objective; null where the optimizer does not read it, as `loss`.
    /// Required as `loss` is: a missing one was scored as 0, another objective.
    #[serde(deserialize_with = "required")]
    pub lambda: Option<f64>,
    /// Features of the data, without the bias feature.
    pub features: usize,
    /// The value of the constant feature appended to every row, if any.
    pub bias: Option<f64>,
    /// The training data.
    pub data: DataInfo,
    /// The run's settings, as in its summary (what they take in memory counted against the
    /// memory budget as they are read).
    #[serde(deserialize_with = "budget::settings")]
    pub settings: serde_json::Value,
    /// The training objective of these weights (NaN after a divergence, written as null).
    #[serde(deserialize_with = "null_as_nan")]
    pub objective: f64,
    /// What ended the run that trained it, in the summary's words (`ended_by`): `updates`,
    /// `time`, `target`, `optimizer`, or `failure` (a divergence, say) and `signal`, whose
    /// model is not that of a finished run; `None` in a file written without it (by an
    /// earlier version, or [`SavedModel::linear`] and [`SavedModel::of_own`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
    /// One weight per feature, then the bias feature's (a linear model).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "budget::weights"
    )]
    pub weights: Vec<f64>,
    /// The model of an author's own type, as its serde JSON (instead of `weights`). What it
    /// takes in memory is counted against the memory budget as it is read: as much as the
    /// budget's weights (8 bytes each), or 16 MiB if that is more; a `Value` takes 72 bytes,
    /// and a string its bytes besides.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "budget::own"
    )]
    pub own: Option<serde_json::Value>,
}

impl SavedModel {
    /// The linear model `w` that a program of its own trained on `data` under `params` (with
    /// `Driver::launch`, where no `--save-model` writes it), its optimizer named `algo` in
    /// the settings: the file `evaluate`, `predict` and [`SavedModel::read`] read. `w` has a
    /// weight per column of `data`, the last one a bias column of value `bias` if the program
    /// appended one to every row. Write it with [`SavedModel::write`].
    pub fn linear(
        algo: &str,
        w: &Model,
        data: &Dataset,
        bias: Option<f64>,
        params: &Params,
    ) -> Result<SavedModel> {
        if w.len() != data.dim() {
            bail!(
                "the model has {} and the data {}: a linear model has one weight per column",
                plural(w.len(), "weight"),
                plural(data.dim(), "column")
            );
        }
        let mut saved = SavedModel::of_program(algo, data, bias, params)?;
        saved.objective = params.loss.objective(data, w.view());
        saved.weights = w.to_vec();
        Ok(saved)
    }

    /// The model of an author's own type `model` ([`Trainable`](crate::model::Trainable)) that a program of its own
    /// trained on `data` under `params` (with `Driver::launch`, where no `--save-model` writes
    /// it), its optimizer named `algo` in the settings: the file [`SavedModel::own`] reads back,
    /// and that `evaluate` and `predict` of a program built on the toolkit score when it is
    /// given an optimizer of that name and model type ([`Optimizer::of_model`](crate::Optimizer::of_model)).
    /// `data` is the data as the program trained on it, its bias column of value `bias` last
    /// if it appended one; the file records `params`' loss and lambda, as the toolkit's own
    /// runs do for an optimizer that reads them (`evaluate` reads the labels as that loss does:
    /// a `logistic` run's 0/1 as -1/+1), and the objective `model` has on `data`. Write it with
    /// [`SavedModel::write`]:
    ///
    /// ```
    /// # fn main() -> anyhow::Result<()> {
    /// use async_train::model::Trainable;
    /// use async_train::model_file::SavedModel;
    /// use asyncopt_algorithms::{Loss, Params};
    /// use asyncopt_runtime::data::{Dataset, Features, Rows};
    /// use ndarray::{array, Array2};
    /// use serde::{Deserialize, Serialize};
    ///
    /// /// Two linear outputs, one weight column each.
    /// #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    /// struct TwoOutputs {
    ///     weights: Array2<f64>,
    /// }
    ///
    /// impl Trainable for TwoOutputs {
    ///     fn objective(&self, data: &Dataset, _params: &Params) -> f64 {
    ///         let squares: f64 = (0..data.len())
    ///             .map(|i| (data.dot(i, self.weights.column(0)) - data.label(i)).powi(2))
    ///             .sum();
    ///         0.5 * squares / data.len() as f64
    ///     }
    ///
    ///     fn norm(&self) -> f64 {
    ///         self.weights.iter().map(|w| w * w).sum::<f64>().sqrt()
    ///     }
    /// }
    ///
    /// let x = Array2::from_shape_vec((2, 1), vec![1.0, 2.0])?;
    /// let data = Dataset::new("two", Features::Dense(x), array![2.0, 4.0])?;
    /// let params = Params::new(Loss::LeastSquares);
    /// // ... `let model = my_optimizer(&mut driver, &data, &params);` ...
    /// let model = TwoOutputs { weights: array![[2.0, 0.5]] };
    /// let saved = SavedModel::of_own("two-outputs", &model, &data, None, &params)?;
    /// # let dir = std::env::temp_dir().join(format!("of-own-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("m.json");
    /// saved.write(&path)?; // "m.json"
    /// let read = SavedModel::read(&path)?;
    /// assert_eq!(read.own::<TwoOutputs>()?, model);
    /// assert_eq!(read.objective, 0.0);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn of_own<M: crate::model::Trainable>(
        algo: &str,
        model: &M,
        data: &Dataset,
        bias: Option<f64>,
        params: &Params,
    ) -> Result<SavedModel> {
        let mut saved = SavedModel::of_program(algo, data, bias, params)?;
        saved.own = Some(serde_json::to_value(model).with_context(|| {
            format!(
                "the model ({}) has no JSON form",
                std::any::type_name::<M>()
            )
        })?);
        saved.objective = model.objective(data, params);
        Ok(saved)
    }

    /// The document of a model a program of its own trained on `data` under `params`, its
    /// optimizer named `algo`, without the model: [`SavedModel::linear`] and
    /// [`SavedModel::of_own`] add it.
    fn of_program(
        algo: &str,
        data: &Dataset,
        bias: Option<f64>,
        params: &Params,
    ) -> Result<SavedModel> {
        let Some(features) = data.dim().checked_sub(usize::from(bias.is_some())) else {
            bail!("a bias column needs a data column to be in");
        };
        let settings = serde_json::json!({
            "algo": algo,
            "dataset": data.name(),
            "loss": params.loss.name(),
            "lambda": params.loss.lambda(),
            "bias": bias,
            "updates": params.updates,
            "step": params.step,
            "batch": params.batch,
            "precondition": params.precondition.name(),
            "momentum": params.momentum,
            "quorum": params.quorum,
            "max_staleness": params.max_staleness,
            "staleness_aware": params.staleness_aware,
            "epoch": params.epoch,
            "params": params.extra,
        });
        Ok(SavedModel {
            format: FORMAT.into(),
            version: VERSION,
            loss: Some(params.loss.name().into()),
            lambda: Some(params.loss.lambda()),
            features,
            bias,
            data: DataInfo::of(data, data.n_rows()),
            settings,
            objective: f64::NAN,
            ended_by: None,
            weights: Vec::new(),
            own: None,
        })
    }

    /// The loss this model was trained with. A model of an author's own type that names none
    /// was trained under the default, which its objective does not read: least squares, the
    /// labels as they are.
    pub fn loss(&self) -> Result<Loss> {
        let lambda = self.lambda.unwrap_or(0.0);
        match self.loss.as_deref() {
            Some("least-squares") => Ok(Loss::with_lambda(true, lambda)),
            Some("logistic") => Ok(Loss::with_lambda(false, lambda)),
            // The file's word, which may hold line breaks: the error stays one line.
            Some(other) => bail!(
                "the model's loss `{}` is not least-squares or logistic",
                other.escape_debug()
            ),
            None if self.own.is_some() => Ok(Loss::with_lambda(true, lambda)),
            None => bail!("the model names no loss (least-squares or logistic)"),
        }
    }

    /// The weights of a linear model as a model vector: features, then the bias weight. A
    /// model of an author's own type has none, and is an error that says to read it with
    /// [`SavedModel::own`] (an empty vector here would fail later, inside the first `dot`).
    pub fn model(&self) -> Result<Model> {
        if self.own.is_some() {
            bail!(
                "this model is of an author's own type (trained by {}), not a linear one \
                 (weights): read it with SavedModel::own",
                self.trained_by()
            );
        }
        Ok(Model::from(self.weights.clone()))
    }

    /// Whether it is a linear model (weights), which the loss scores; otherwise it holds a
    /// model of its optimizer's own type (`own`).
    pub fn is_linear(&self) -> bool {
        self.own.is_none()
    }

    /// The model of an author's own type `M`, read back from its JSON.
    pub fn own<M: DeserializeOwned>(&self) -> Result<M> {
        let Some(json) = &self.own else {
            bail!("this is a linear model (weights), not one of an author's own type");
        };
        M::deserialize(json).with_context(|| {
            format!(
                "the saved model is not a {} (trained by {})",
                std::any::type_name::<M>(),
                self.trained_by()
            )
        })
    }

    /// A warning for a model whose run did not finish (`ended_by` `failure`, a divergence
    /// say, or `signal`): scored as any other, but likely not the model that was wanted.
    pub fn unfinished_warning(&self) -> Option<String> {
        let ended_by = self.ended_by.as_deref()?;
        let how = match ended_by {
            "failure" => "failed (a divergence, say; its summary's `failure` tells which)",
            "signal" => "was stopped by a signal",
            _ => return None,
        };
        Some(format!(
            "the run that trained this model {how} (ended_by `{ended_by}`): it is not the \
             model of a finished run"
        ))
    }

    /// The name of the optimizer that trained it, as its settings record it.
    pub fn algo(&self) -> Option<&str> {
        self.settings["algo"].as_str()
    }

    /// The optimizer that trained it, for messages.
    fn trained_by(&self) -> &str {
        self.algo().unwrap_or("an unnamed optimizer")
    }

    /// The settings of the run that trained it, as an objective reads them: the loss, and
    /// the step, batch, ..., and the optimizer's own hyperparameters (`params`) its settings
    /// record, the defaults of [`Params::new`] for those they do not. A recorded setting of
    /// the wrong type is an error naming it.
    pub fn params(&self) -> Result<Params> {
        /// The settings an objective may read; the others (workers, seed, ...) are left out.
        #[derive(Deserialize)]
        struct Recorded {
            updates: Option<usize>,
            step: Option<f64>,
            momentum: Option<f64>,
            batch: Option<usize>,
            quorum: Option<usize>,
            max_staleness: Option<u64>,
            staleness_aware: Option<bool>,
            epoch: Option<usize>,
            precondition: Option<String>,
            params: Option<BTreeMap<String, f64>>,
        }
        let recorded = Recorded::deserialize(&self.settings)
            .context("the model's settings are not those of a run")?;
        let mut params = Params::new(self.loss()?);
        let defaults = params.clone();
        params.updates = recorded.updates.unwrap_or(defaults.updates);
        params.step = recorded.step.unwrap_or(defaults.step);
        params.momentum = recorded.momentum.unwrap_or(defaults.momentum);
        params.batch = recorded.batch.unwrap_or(defaults.batch);
        params.quorum = recorded.quorum.unwrap_or(defaults.quorum);
        params.max_staleness = recorded.max_staleness.unwrap_or(defaults.max_staleness);
        params.staleness_aware = recorded.staleness_aware.unwrap_or(defaults.staleness_aware);
        params.epoch = recorded.epoch.unwrap_or(defaults.epoch);
        if let Some(name) = recorded.precondition {
            params.precondition = name.parse().map_err(|e: String| {
                anyhow::anyhow!("the model's settings: {}", e.escape_debug())
            })?;
        }
        params.extra = recorded.params.unwrap_or_default();
        Ok(params)
    }

    /// Writes the model as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        write_whole(path, text.as_bytes())
            .with_context(|| format!("cannot write the model {}", path.display()))
    }

    /// Reads and checks a model file, under the default memory budget
    /// ([`LoadOptions::DEFAULT_MAX_DIM`] features).
    pub fn read(path: &Path) -> Result<SavedModel> {
        SavedModel::read_within(path, LoadOptions::DEFAULT_MAX_DIM)
    }

    /// Reads and checks a model file of at most `max_features` features (the memory budget,
    /// as `--max-features`), its weights and JSON values counted against it as they are read.
    pub fn read_within(path: &Path, max_features: usize) -> Result<SavedModel> {
        // A regular file only: a named pipe with no writer blocked the open for good.
        let file = asyncopt_runtime::regular_file::open(path)
            .with_context(|| format!("cannot read the model {}", path.display()))?;
        let budget = budget::Budget::of(max_features);
        let length = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        if length.is_some_and(|length| length > budget.file_bytes()) {
            bail!(
                "cannot read the model {}: {}",
                path.display(),
                budget.file_too_long(length)
            );
        }
        // Read as it is parsed, so that what is no JSON (a device, a binary) is refused at its
        // first bytes rather than read whole.
        let capped = budget::Capped::new(file, budget);
        let mut json = serde_json::Deserializer::from_reader(std::io::BufReader::new(capped));
        // serde_json's error says where in the text it failed, not which field to fix.
        let mut track = serde_path_to_error::Track::new();
        let tracked = serde_path_to_error::Deserializer::new(&mut json, &mut track);
        let parsed = SavedModel::deserialize_within(tracked, max_features)
            .and_then(|model| json.end().map(|()| model));
        let model: SavedModel = match parsed {
            Ok(model) => model,
            Err(e) if e.is_io() => bail!("cannot read the model {}: {e}", path.display()),
            Err(e) => {
                // A model of another layout version, or a JSON file of another kind, fails on
                // a field of this layout: its header says what it is, when it can be read again.
                // A model of more features than the budget fails on its weights, which are
                // counted as they are read: its `features` say what to raise.
                if e.is_data() {
                    if let Ok(header) = Header::read(path) {
                        check_header(path, &header.format, header.version)?;
                        if let Some(features) = header.features {
                            check_features(path, features, max_features)?;
                        }
                    }
                }
                // JSON has no NaN or infinity: `NaN` in a weight's place is a syntax error.
                let field = track.path();
                let finite = if e.is_syntax() && field.to_string().starts_with("weights[") {
                    ": weights must be finite numbers (null only in a diverged run's model)"
                } else {
                    ""
                };
                bail!(
                    "{} is not a model file: {}{e}{finite}",
                    path.display(),
                    field_of(&field)
                );
            }
        };
        check_header(path, &model.format, model.version)?;
        let lambda = model.lambda.unwrap_or(0.0);
        if !(lambda.is_finite() && lambda >= 0.0) {
            bail!("{}: lambda {} is not a number >= 0", path.display(), lambda);
        }
        // Refused as a run's --lambda is: the objective of such a model overflows for all but
        // the smallest weights, and evaluate's error would then blame the weights and data.
        if !(lambda * lambda).is_finite() {
            bail!(
                "{}: lambda {:e} is too large: the smoothness it adds overflows, so no run \
                 trains with it",
                path.display(),
                lambda
            );
        }
        // The file's word, checked before any arithmetic on it: the data is read in the
        // model's feature space, under the same budget.
        check_features(path, model.features as u64, max_features)?;
        check_agrees_with_settings(path, &model)?;
        if model.own.is_some() {
            if !model.weights.is_empty() {
                bail!(
                    "{}: a model has weights or its own form, not both",
                    path.display()
                );
            }
            return Ok(model);
        }
        let expected = model.features + usize::from(model.bias.is_some());
        if model.weights.len() != expected {
            bail!(
                "{}: {} for {}{}",
                path.display(),
                plural(model.weights.len(), "weight"),
                plural(model.features, "feature"),
                // One weight too many is a bias weight whose `bias` is null.
                if model.bias.is_some() {
                    " and a bias"
                } else {
                    " and no bias (`bias` is null or missing)"
                }
            );
        }
        if let Some(bad) = model.weights.iter().position(|w| !w.is_finite()) {
            bail!(
                "{} holds the model of a run that diverged: weight {bad} is not a finite number \
                 (null in the file), so there is nothing to score",
                path.display()
            );
        }
        model.loss().with_context(|| path.display().to_string())?;
        if model.lambda.is_none() {
            bail!(
                "{}: lambda is null, and a linear model's objective reads it (0 for none)",
                path.display()
            );
        }
        Ok(model)
    }

    /// The features of a linear model file at `path`, read from its header without holding
    /// its weights: what its size in memory can be told from before it is read. `None` for
    /// what is no regular file, whose header cannot be read (the read says why), or a model of
    /// an optimizer's own type (its JSON is counted as it is read).
    pub fn declared_features(path: &Path) -> Option<u64> {
        let header = Header::read(path).ok()?;
        header.own.is_none().then_some(header.features).flatten()
    }

    /// Deserializes a model, its weights and JSON values counted against a memory budget of
    /// `max_features` features as they are read (that of [`SavedModel::read_within`], which
    /// also checks what the model says).
    pub fn deserialize_within<'de, D: Deserializer<'de>>(
        d: D,
        max_features: usize,
    ) -> std::result::Result<SavedModel, D::Error> {
        let _budget = budget::Scope::enter(max_features);
        SavedModel::deserialize(d)
    }

    /// A warning for `data`, loaded by [`load_data`](SavedModel::load_data) or
    /// [`load_numbered_rows`](SavedModel::load_numbered_rows), whose largest feature index
    /// is at most half this model's features: legal (a file need not use the last features),
    /// but most likely other data than the model's, which it scores as if its missing
    /// features were 0. `None` for data that uses more than half of them.
    pub fn narrow_data_warning(&self, data: &Dataset) -> Option<String> {
        let largest = largest_feature_index(data, self.features);
        if largest > self.features / 2 {
            return None;
        }
        let uses = match largest {
            0 => "uses no feature".to_owned(),
            _ => format!("uses features up to index {largest}"),
        };
        Some(format!(
            "{} {uses}, and the model has {} (trained on {}): at most half of them, so this \
             is likely other data than the model's, scored with its missing features as 0",
            data.name(),
            plural(self.features, "feature"),
            self.data.name.escape_debug()
        ))
    }

    /// Loads `path` in this model's feature space: its features, the bias column, the labels
    /// its loss needs.
    pub fn load_data(&self, path: &Path) -> Result<Dataset> {
        crate::job::load_for(path, &self.load_options(), self.bias, &self.loss()?)
    }

    /// Loads `path` in this model's feature space to predict its rows: its features and the
    /// bias column, whatever its labels (a prediction does not read them). A row may lack its
    /// label ([`Labels::Optional`]); its label reads as NaN.
    pub fn load_rows(&self, path: &Path) -> Result<Dataset> {
        let data = crate::job::load_file(path, &self.row_options())?;
        Ok(self.with_bias(data))
    }

    /// [`load_rows`](SavedModel::load_rows), with the 1-based line of `path` each row was
    /// read from (blank and comment lines are no rows): what `predict` names its rows by.
    pub fn load_numbered_rows(&self, path: &Path) -> Result<(Dataset, Vec<usize>)> {
        let (data, lines) = crate::job::load_numbered_file(path, &self.row_options())?;
        Ok((self.with_bias(data), lines))
    }

    fn row_options(&self) -> LoadOptions {
        LoadOptions {
            labels: Labels::Optional,
            ..self.load_options()
        }
    }

    fn with_bias(&self, data: Dataset) -> Dataset {
        match self.bias {
            Some(value) => data.with_bias(value),
            None => data,
        }
    }

    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            dim: Some(self.features),
            // The model's features are within the budget it was read under (or already held
            // in memory): its data is not refused under the default one.
            max_dim: self.features,
            ..LoadOptions::default()
        }
    }
}

/// The largest 1-based index of a feature below `features` (the bias column beyond them left
/// out) that some row of `data` holds, 0 for none.
fn largest_feature_index(data: &Dataset, features: usize) -> usize {
    let within = |column: usize| column < features;
    match data.features() {
        Features::Sparse(m) => m.indices().iter().copied().filter(|&c| within(c)).max(),
        Features::Dense(x) => (0..x.ncols().min(features))
            .rev()
            .find(|&c| x.column(c).iter().any(|&v| v != 0.0)),
    }
    .map_or(0, |column| column + 1)
}

/// The objective, null read as NaN: JSON has no NaN or infinity, which serde_json writes as
/// null, so a diverged run's model file reads back and [`SavedModel::read`] can say what it
/// holds.
fn null_as_nan<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// A field that may be null but not missing: serde reads a missing `Option` as `None`.
fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// Refuses a model whose `loss`, `lambda` or `bias` is not what its `settings` record (a
/// field edited by hand, its twin not): which of them the model was trained under cannot be
/// told. A setting not recorded is not compared.
fn check_agrees_with_settings(path: &Path, model: &SavedModel) -> Result<()> {
    let fields = [
        ("loss", serde_json::json!(model.loss)),
        ("lambda", serde_json::json!(model.lambda)),
        ("bias", serde_json::json!(model.bias)),
    ];
    for (field, value) in fields {
        let Some(recorded) = model.settings.get(field) else {
            continue;
        };
        // `1` and `1.0` are one number.
        let same = match (value.as_f64(), recorded.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => value == *recorded,
        };
        if !same {
            bail!(
                "{}: its fields contradict each other: {field} {value} but settings.{field} \
                 {recorded}",
                path.display()
            );
        }
    }
    Ok(())
}

/// The field an error was met in (`data.rows`, `weights[3]`), to put before it; nothing for
/// the document itself (a missing field). Escaped: a key of `settings` may hold a line break.
fn field_of(path: &serde_path_to_error::Path) -> String {
    if path.iter().len() == 0 {
        return String::new();
    }
    format!("`{}`: ", path.to_string().escape_debug())
}

/// The fields that say what a JSON file is, whatever its other fields.
#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
    /// Read when it is a number: a file whose `features` are not is refused by its parse.
    #[serde(default)]
    features: Option<u64>,
    /// A model of an optimizer's own type, whose size its features do not give.
    #[serde(default)]
    own: Option<serde::de::IgnoredAny>,
}

impl Header {
    /// Reads them from `path`, its other fields skipped as they are read; a named pipe or a
    /// device is refused unread.
    fn read(path: &Path) -> Result<Header> {
        let file = std::io::BufReader::new(asyncopt_runtime::regular_file::open(path)?);
        Ok(serde_json::from_reader(file)?)
    }
}

/// Refuses a model of more than `max_features` features, the memory budget it is read under.
fn check_features(path: &Path, features: u64, max_features: usize) -> Result<()> {
    if features > max_features as u64 {
        bail!(
            "{}: {features} features exceed the memory budget of {max_features} features: \
             raise it with --max-features if that is meant",
            path.display()
        );
    }
    Ok(())
}

/// Refuses a file whose `format` is not a model's, or whose `version` is not [`VERSION`].
fn check_header(path: &Path, format: &str, version: u32) -> Result<()> {
    if format != FORMAT {
        bail!(
            "{} is not a model file (format `{}`, expected `{FORMAT}`)",
            path.display(),
            format.escape_debug()
        );
    }
    if version != VERSION {
        bail!(
            "{} is a model of layout version {version}; this build reads version {VERSION}",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(weights: Vec<f64>, own: Option<serde_json::Value>) -> SavedModel {
        SavedModel {
            format: FORMAT.into(),
            version: VERSION,
            loss: Some("least-squares".into()),
            lambda: Some(0.0),
            features: weights.len(),
            bias: None,
            data: DataInfo {
                name: "test".into(),
                rows: 1,
                sha256: String::new(),
                sha256_of: None,
                objective_rows: None,
            },
            settings: serde_json::json!({"algo": "mine"}),
            objective: 1.0,
            ended_by: None,
            weights,
            own,
        }
    }

    /// A library program's model reads back as `--save-model`'s: its weights, its data's
    /// fingerprint and the settings an objective reads.
    #[test]
    fn a_library_programs_linear_model_reads_back() {
        use asyncopt_runtime::data::Features;
        let x = ndarray::Array2::from_shape_vec((2, 2), vec![1.0, 1.0, 2.0, 1.0]).unwrap();
        let data = Dataset::new("two", Features::Dense(x), ndarray::array![1.0, 3.0]).unwrap();
        let mut params = Params::new(Loss::Ridge { lambda: 0.5 });
        params.step = 0.25;
        params.extra.insert("beta".into(), 0.9);
        let w = ndarray::array![1.5, -0.5];
        let saved = SavedModel::linear("mine", &w, &data, Some(1.0), &params).unwrap();
        let back = round_trip(&saved, "library-linear").unwrap();
        assert_eq!(back.model().unwrap(), w);
        assert_eq!((back.features, back.bias), (1, Some(1.0)));
        assert_eq!(back.algo(), Some("mine"));
        assert_eq!(back.data.sha256, data.fingerprint());
        let read = back.params().unwrap();
        assert_eq!((read.step, read.loss.lambda()), (0.25, 0.5));
        assert_eq!(read.extra, params.extra);
        assert_eq!(back.objective, params.loss.objective(&data, w.view()));
        let short = SavedModel::linear("mine", &ndarray::array![1.0], &data, None, &params);
        let message = short.unwrap_err().to_string();
        assert!(
            message.contains("1 weight and the data 2 columns"),
            "{message}"
        );
    }

    /// A model of an author's own type, trained by a program of its own: `own` reads it back,
    /// and the toolkit's scorer, given its optimizer, evaluates it as `evaluate` would.
    #[test]
    fn a_library_programs_own_model_reads_back_and_is_scored() {
        use crate::model::Trainable;
        use crate::optimizer::Registry;
        use crate::score::Scorer;
        use asyncopt_runtime::data::{Features, Rows};
        use asyncopt_runtime::Driver;

        /// One weight per output, two outputs: the label and twice the label.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        struct Pair {
            weights: ndarray::Array2<f64>,
        }
        impl Trainable for Pair {
            fn objective(&self, data: &Dataset, params: &Params) -> f64 {
                let scale = params.extra.get("scale").copied().unwrap_or(1.0);
                let squares: f64 = (0..data.len())
                    .map(|i| {
                        let a = data.dot(i, self.weights.column(0)) - data.label(i);
                        let b = data.dot(i, self.weights.column(1)) - 2.0 * data.label(i);
                        a * a + b * b
                    })
                    .sum();
                scale * squares / data.len() as f64
            }
            fn norm(&self) -> f64 {
                self.weights.iter().map(|w| w * w).sum::<f64>().sqrt()
            }
        }
        fn pair(_: &mut Driver, _: &Dataset, _: &Params) -> Pair {
            unreachable!("never trained here")
        }

        let x = ndarray::Array2::from_shape_vec((2, 2), vec![1.0, 1.0, 2.0, 1.0]).unwrap();
        let data = Dataset::new("two", Features::Dense(x), ndarray::array![1.0, 3.0]).unwrap();
        let mut params = Params::new(Loss::LeastSquares);
        params.extra.insert("scale".into(), 3.0);
        // Row 0 predicts (1.5, 2), row 1 (3.5, 5): residuals (0.5, 0) and (0.5, -1).
        let model = Pair {
            weights: ndarray::array![[2.0, 3.0], [-0.5, -1.0]],
        };
        let saved = SavedModel::of_own("pair", &model, &data, Some(1.0), &params).unwrap();
        let back = round_trip(&saved, "library-own").unwrap();
        assert_eq!(back.own::<Pair>().unwrap(), model);
        assert!(!back.is_linear());
        assert_eq!((back.features, back.bias), (1, Some(1.0)));
        assert_eq!(back.algo(), Some("pair"));
        assert_eq!(back.data.sha256, data.fingerprint());
        // 3 * (0.25 + 0 + 0.25 + 1) / 2.
        assert_eq!(back.objective, 2.25);
        let registry = Registry::with(&[crate::Optimizer::of_model("pair", pair)]).unwrap();
        let scorer = Scorer::of(&back, Path::new("m.json"), &registry).unwrap();
        let evaluation = scorer.evaluate(&data).unwrap();
        assert_eq!(
            evaluation.metrics,
            serde_json::json!({ "kind": "own", "rows": 2, "objective": 2.25 })
        );
    }

    fn round_trip(model: &SavedModel, name: &str) -> Result<SavedModel> {
        let path = std::env::temp_dir().join(format!("{name}-{}.json", std::process::id()));
        model.write(&path)?;
        let back = SavedModel::read(&path);
        std::fs::remove_file(&path).ok();
        back
    }

    #[test]
    fn weights_read_back_bit_for_bit() {
        // Magnitudes from 1e-300 to 1e300 with full mantissas: the ones a parser that is
        // not exact gets an ulp wrong.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let weights: Vec<f64> = (0..20_000i32)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mantissa = (x >> 11) as f64 / (1u64 << 53) as f64;
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                sign * mantissa * 10f64.powi(i % 601 - 300)
            })
            .collect();
        let back = round_trip(&saved(weights.clone(), None), "bits").unwrap();
        let bits = |w: &[f64]| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back.weights), bits(&weights));
    }

    #[test]
    fn a_declared_size_beyond_the_budget_is_refused_not_overflowed() {
        // `features` is the file's word: usize::MAX with a bias overflowed the count of
        // weights expected (a panic with overflow checks, a wrap to 0 that let `[]` pass
        // without them).
        for (features, bias) in [(usize::MAX, Some(1.0)), (usize::MAX, None), (1 << 40, None)] {
            let mut model = saved(Vec::new(), None);
            model.features = features;
            model.bias = bias;
            let error = round_trip(&model, "huge").unwrap_err().to_string();
            assert!(
                error.contains(&format!(
                    "{features} features exceed the memory budget of {} features",
                    LoadOptions::DEFAULT_MAX_DIM
                )),
                "{error}"
            );
        }
    }

    #[test]
    fn a_model_beyond_the_default_budget_is_read_within_a_larger_one_with_its_data() {
        // A model trained with a larger --max-features was refused by evaluate and predict,
        // which read it, and its data, under the default budget alone. Its own form keeps
        // the file small; a model of `features` weights is counted against the same budget.
        let features = LoadOptions::DEFAULT_MAX_DIM + 1;
        let mut model = saved(Vec::new(), Some(serde_json::json!(1)));
        model.features = features;
        let path = std::env::temp_dir().join(format!("wide-{}.json", std::process::id()));
        let rows = std::env::temp_dir().join(format!("wide-{}.libsvm", std::process::id()));
        model.write(&path).unwrap();
        std::fs::write(&rows, format!("1 1:0.5 {features}:2\n")).unwrap();
        let refused = format!("{:#}", SavedModel::read(&path).unwrap_err());
        let read = SavedModel::read_within(&path, features)
            .and_then(|m| Ok((m.features, m.load_rows(&rows)?.dim())));
        let linear = saved(vec![1.0, 2.0, 3.0, 4.0], None);
        linear.write(&path).unwrap();
        let weights = format!("{:#}", SavedModel::read_within(&path, 2).unwrap_err());
        std::fs::remove_file(&path).ok();
        std::fs::remove_file(&rows).ok();
        assert!(
            refused.contains(&format!(
                "{features} features exceed the memory budget of {} features: raise it with \
                 --max-features",
                LoadOptions::DEFAULT_MAX_DIM
            )),
            "{refused}"
        );
        assert_eq!(read.unwrap(), (features, features));
        // A valid model of 4 features, whose weights are the first to pass the budget: it is
        // said to be no model file no more, but a model of more features than the budget.
        assert!(
            weights.ends_with(
                ": 4 features exceed the memory budget of 2 features: raise it with \
                 --max-features if that is meant"
            ) && !weights.contains("not a model file"),
            "{weights}"
        );
    }

    /// `model` as JSON text, its `weights` then its `own` replaced by `weights` and `own`.
    fn with_text(model: &SavedModel, weights: &str, own: &str) -> String {
        let mut json = serde_json::to_value(model).unwrap();
        json["weights"] = serde_json::Value::Null;
        json["own"] = serde_json::Value::Null;
        json.to_string()
            .replacen("\"weights\":null", &format!("\"weights\":{weights}"), 1)
            .replacen("\"own\":null", &format!("\"own\":{own}"), 1)
    }

    /// The error of a read that must be refused, without the model in the message if it is
    /// not.
    fn refusal(read: Result<SavedModel>) -> String {
        match read {
            Ok(model) => panic!("read, of features {}", model.features),
            Err(e) => format!("{e:#}"),
        }
    }

    /// Reads `text` as a model file under a budget of `max_features`.
    fn read_text(text: &str, name: &str, max_features: usize) -> Result<SavedModel> {
        let path = std::env::temp_dir().join(format!("{name}-{}.json", std::process::id()));
        std::fs::write(&path, text)?;
        let read = SavedModel::read_within(&path, max_features);
        std::fs::remove_file(&path).ok();
        read
    }

    #[test]
    fn weights_beyond_the_budget_are_refused_as_they_are_read() {
        // Each `0,` of the file took 16 bytes, all of them read before `features` was
        // compared: a file of a few GB of them ran the host out of memory. Read whole, these
        // would be refused as 1001 weights for 1 feature.
        let zeros = format!("[{}0]", "0,".repeat(1000));
        let text = with_text(&saved(vec![0.0], None), &zeros, "null");
        let error = refusal(read_text(&text, "many", 100));
        assert!(
            error.contains(
                "is not a model file: `weights`: more than 101 weights exceed the memory budget \
                 of 100 features and a bias"
            ),
            "{error}"
        );
    }

    #[test]
    fn an_own_model_or_settings_beyond_the_budget_are_refused_as_they_are_read() {
        // `own` and `settings` were read into a `serde_json::Value` without a limit, 72 bytes
        // for each `0,` of the file: a file of a few hundred MB ran the host out of memory.
        // They may take what the budget's weights would, but 16 MiB at least.
        let beyond = "values in `own` taking more than 16777216 bytes in memory exceed the memory \
                      budget of 1000 features and a bias";
        let model = saved(Vec::new(), None);
        let zeros = format!("[{}0]", "0,".repeat(240_000));
        let long = format!("{:?}", "x".repeat(budget::JSON_FLOOR));
        let keys = format!(
            "{{{}}}",
            (0..120_000)
                .map(|k| format!("\"{k}\":null"))
                .collect::<Vec<_>>()
                .join(",")
        );
        for own in [&zeros, &long, &keys] {
            let error = refusal(read_text(&with_text(&model, "[]", own), "own-huge", 1000));
            assert!(
                error.starts_with(&std::env::temp_dir().display().to_string())
                    && error.contains("is not a model file: `own")
                    && error.contains(beyond)
                    && !error.contains('\n'),
                "{error}"
            );
        }
        let mut wordy = saved(Vec::new(), Some(serde_json::json!(1)));
        // Its path said on one line, whatever the key.
        wordy.settings["my\nnotes"] = "x".repeat(budget::JSON_FLOOR).into();
        let text = serde_json::to_string(&wordy).unwrap();
        let error = refusal(read_text(&text, "settings-huge", 1000));
        assert!(
            error.contains(&format!(
                "`settings.my\\nnotes`: {}",
                beyond.replace("`own`", "`settings`")
            )) && !error.contains('\n'),
            "{error}"
        );
        // The same within the default budget; a model of its own type of 100 numbers, or a
        // run's settings, within a budget of no features.
        let text = with_text(&model, "[]", &zeros);
        let read = read_text(&text, "own-large", LoadOptions::DEFAULT_MAX_DIM).unwrap();
        assert_eq!(read.own::<Vec<f64>>().unwrap(), vec![0.0; 240_001]);
        let layers = serde_json::json!({"layers": [vec![0.5; 50], vec![-0.25; 50]]});
        let small = saved(Vec::new(), Some(layers.clone()));
        let read = read_text(&serde_json::to_string(&small).unwrap(), "own-small", 0);
        assert_eq!(read.unwrap().own, Some(layers));
    }

    #[test]
    fn a_file_longer_than_any_model_within_the_budget_is_refused_before_it_is_parsed() {
        // serde_json holds a string whole before a visitor sees it: a file that was one long
        // `loss` or data name took its whole length in memory, whatever the budget. A sparse
        // file stands for a long one: refused by its length, no byte of it read.
        let budget = budget::Budget::of(1000);
        let path = std::env::temp_dir().join(format!("long-{}.json", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(budget.file_bytes() + 1).unwrap();
        let error = refusal(SavedModel::read_within(&path, 1000));
        std::fs::remove_file(&path).ok();
        assert!(
            error.contains(&format!(
                "long-{}.json: longer ({} bytes) than a model within the memory budget of 1000 \
                 features and a bias can be ({} bytes): raise it with --max-features",
                std::process::id(),
                budget.file_bytes() + 1,
                budget.file_bytes()
            )),
            "{error}"
        );
        // A stream of unknown length (a pipe) fails past the same length, saying so; a model
        // of the budget's largest size, written as `write` lays it out, is within it.
        let mut stream = budget::Capped::new(std::io::repeat(b' '), budget);
        let error = std::io::copy(&mut stream, &mut std::io::sink()).unwrap_err();
        assert!(
            error.to_string().starts_with("longer than a model within"),
            "{error}"
        );
        let widest = vec![-2.2250738585072014e-308; 1001];
        let mut model = saved(widest[..1000].to_vec(), None);
        model.bias = Some(1.0);
        model.weights = widest;
        let text = serde_json::to_string_pretty(&model).unwrap();
        assert!((text.len() as u64) < budget.file_bytes());
        assert!(read_text(&text, "widest", 1000).is_ok());
    }

    #[test]
    fn a_model_deserialized_through_serde_is_held_to_the_default_budget_or_the_one_given() {
        let text = with_text(
            &saved(Vec::new(), None),
            "[]",
            &format!("[{}0]", "0,".repeat(240_000)),
        );
        let within = |max_features| {
            SavedModel::deserialize_within(
                &mut serde_json::Deserializer::from_str(&text),
                max_features,
            )
        };
        let error = match within(1000) {
            Ok(_) => panic!("read within 1000 features"),
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains(
                "values in `own` taking more than 16777216 bytes in memory exceed the memory \
                 budget of 1000 features and a bias"
            ),
            "{error}"
        );
        // The budget given ends with the read, refused (as here) or not: serde alone is held
        // to the default, which its error names as such.
        let direct: SavedModel = serde_json::from_str(&text).unwrap();
        assert_eq!(direct.own.unwrap().as_array().map(Vec::len), Some(240_001));
        within(usize::MAX).unwrap();
        // Nor after a read that was not refused.
        let default: serde_json::Error =
            budget::Budget::current().exceeded(format_args!("more than N weights"));
        assert_eq!(
            default.to_string(),
            format!(
                "more than N weights exceed the default memory budget of {} features and a bias \
                 (SavedModel::read_within and deserialize_within take another)",
                LoadOptions::DEFAULT_MAX_DIM
            )
        );
    }

    #[test]
    fn a_diverged_model_reads_back_to_say_so() {
        let mut diverged = saved(vec![1.0, f64::NAN, f64::INFINITY], None);
        diverged.objective = f64::NAN;
        let error = round_trip(&diverged, "nan").unwrap_err().to_string();
        assert!(
            error.contains("holds the model of a run that diverged: weight 1 is not a finite"),
            "{error}"
        );
    }

    #[test]
    fn an_own_model_reads_back_as_its_type_with_its_optimizer_and_settings() {
        let own = serde_json::json!({"layers": [[0.1, 0.2], [0.3]]});
        let back = round_trip(&saved(Vec::new(), Some(own)), "own").unwrap();
        assert!(!back.is_linear());
        // It has no weights: `model()` says so (it gave an empty vector, which the first
        // `dot` panicked on).
        let linear = back.model().unwrap_err().to_string();
        assert_eq!(
            linear,
            "this model is of an author's own type (trained by mine), not a linear one \
             (weights): read it with SavedModel::own"
        );
        let layers: std::collections::BTreeMap<String, Vec<Vec<f64>>> = back.own().unwrap();
        assert_eq!(layers["layers"], vec![vec![0.1, 0.2], vec![0.3]]);
        let wrong = back.own::<Vec<f64>>().unwrap_err();
        assert!(
            format!("{wrong:#}").contains("trained by mine"),
            "{wrong:#}"
        );
        assert_eq!(back.algo(), Some("mine"));
        // A negative L2 weight would score a negative objective.
        let mut negative = saved(vec![1.0], None);
        negative.lambda = Some(-1.0);
        let error = round_trip(&negative, "lambda").unwrap_err().to_string();
        assert!(error.contains("lambda -1 is not a number >= 0"), "{error}");
        // Weights and an own form at once is not a model file.
        let both = saved(vec![1.0], Some(serde_json::json!(1)));
        assert!(round_trip(&both, "both").is_err());
    }

    #[test]
    fn a_lambda_whose_square_overflows_is_refused_naming_the_file() {
        // Finite, so it was read; a run refuses it as --lambda, and evaluate's error blamed
        // the weights and the data for the objective it overflowed.
        let mut huge = saved(vec![1.0], None);
        huge.lambda = Some(1e200);
        let error = round_trip(&huge, "huge-lambda").unwrap_err().to_string();
        assert!(
            error.starts_with(&std::env::temp_dir().display().to_string())
                && error.ends_with(
                    ": lambda 1e200 is too large: the smoothness it adds overflows, so no run \
                     trains with it"
                ),
            "{error}"
        );
        let mut large = saved(vec![1.0], None);
        large.lambda = Some(1e150);
        assert_eq!(
            round_trip(&large, "large-lambda").unwrap().lambda,
            Some(1e150)
        );
    }

    #[test]
    fn a_wrong_format_loss_or_preconditioner_is_said_on_one_line_naming_the_file() {
        let mut model = saved(vec![1.0], None);
        model.loss = Some("hinge\nerror: fake".into());
        let error = format!("{:#}", round_trip(&model, "loss").unwrap_err());
        assert!(
            error.starts_with(&std::env::temp_dir().display().to_string())
                && error.ends_with(
                    ": the model's loss `hinge\\nerror: fake` is not least-squares or logistic"
                ),
            "{error}"
        );
        let mut model = saved(vec![1.0], None);
        model.format = "x\ny".into();
        let error = format!("{:#}", round_trip(&model, "format").unwrap_err());
        assert!(error.contains("(format `x\\ny`, expected"), "{error}");
        let mut model = saved(vec![1.0], None);
        model.settings["precondition"] = "a\nb".into();
        let error = format!("{:#}", model.params().unwrap_err());
        assert!(error.contains("unknown preconditioner `a\\nb`"), "{error}");
    }

    #[test]
    fn a_file_of_another_version_or_kind_says_so_whatever_its_other_fields() {
        // A later layout that renames a field, or another tool's JSON: they failed on this
        // layout's first missing field, and never reached the version or format check.
        let path = std::env::temp_dir().join(format!("layout-{}.json", std::process::id()));
        let read = |json: serde_json::Value| {
            std::fs::write(&path, json.to_string()).unwrap();
            format!("{:#}", SavedModel::read(&path).unwrap_err())
        };
        let later = read(serde_json::json!({
            "format": FORMAT, "version": 2, "loss": "logistic", "regularizer": {"l2": 0.1},
        }));
        let other = read(serde_json::json!({"format": "asyncopt-trace", "version": 1}));
        let unlabelled = read(serde_json::json!({"format": FORMAT, "weights": [1.0]}));
        std::fs::remove_file(&path).ok();
        assert!(
            later.ends_with("is a model of layout version 2; this build reads version 1"),
            "{later}"
        );
        assert!(
            other.ends_with(
                "is not a model file (format `asyncopt-trace`, expected `asyncopt-model`)"
            ),
            "{other}"
        );
        // Without a header, the field this layout misses.
        assert!(
            unlabelled.contains("is not a model file: missing field `version`"),
            "{unlabelled}"
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_or_range_is_named_in_one_line() {
        // serde_json said where the text failed, not which field: `invalid type: string "8",
        // expected usize at line 1 column 98`.
        let text = serde_json::to_string(&saved(vec![1.0], None)).unwrap();
        for (from, to, field) in [
            ("\"features\":1", "\"features\":\"8\"", "features"),
            ("\"features\":1", "\"features\":-1", "features"),
            ("\"version\":1", "\"version\":1000000000000", "version"),
            ("\"objective\":1.0", "\"objective\":1e999", "objective"),
            ("\"lambda\":0.0", "\"lambda\":\"0\"", "lambda"),
            // A nested field by its path: the wrapper of each field said only `data`.
            ("\"rows\":1", "\"rows\":-5", "data.rows"),
            ("\"name\":\"test\"", "\"name\":7", "data.name"),
            ("\"bias\":null", "\"bias\":true", "bias"),
            ("\"weights\":[1.0]", "\"weights\":[\"1\"]", "weights[0]"),
            ("\"weights\":[1.0]", "\"weights\":[1.0,1e400]", "weights[1]"),
        ] {
            assert!(text.contains(from), "{text}");
            let error = format!(
                "{:#}",
                refusal(read_text(&text.replacen(from, to, 1), "field", 10))
            );
            assert!(
                error.contains(&format!("is not a model file: `{field}`: "))
                    && error.matches(" at line ").count() == 1
                    && !error.contains('\n'),
                "{to}: {error}"
            );
        }
        // A file without a bias field reads as one without a bias, as before.
        let unbiased = text.replacen("\"bias\":null,", "", 1);
        assert_eq!(read_text(&unbiased, "no-bias", 10).unwrap().bias, None);
    }

    #[test]
    fn a_nan_weight_or_a_bias_weight_without_a_bias_says_what_is_wrong() {
        let mut model = saved(vec![1.0, 2.0], None);
        let text = serde_json::to_string(&model).unwrap();
        for bad in ["NaN", "Infinity", "-inf"] {
            let nan = text.replacen("[1.0,2.0]", &format!("[1.0,{bad}]"), 1);
            let error = refusal(read_text(&nan, "nan-weight", 10));
            assert!(
                error.contains("`weights[1]`: ")
                    && error.ends_with(
                        ": weights must be finite numbers (null only in a diverged run's model)"
                    ),
                "{error}"
            );
        }
        model.features = 1;
        let error = refusal(round_trip(&model, "bias-null"));
        assert!(
            error.ends_with(": 2 weights for 1 feature and no bias (`bias` is null or missing)"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_lambda_or_loss_is_refused_and_so_are_fields_that_contradict_the_settings() {
        // A logistic model without `lambda` was scored as lambda 0, another objective.
        let mut model = saved(vec![1.0], None);
        model.lambda = Some(0.5);
        let text = serde_json::to_string(&model).unwrap();
        for field in ["\"lambda\":0.5,", "\"loss\":\"least-squares\","] {
            assert!(text.contains(field), "{text}");
            let error = refusal(read_text(&text.replacen(field, "", 1), "missing", 10));
            let name = field.split('"').nth(1).unwrap();
            assert!(
                error.contains(&format!("is not a model file: missing field `{name}`")),
                "{error}"
            );
        }
        let null = text.replacen("\"lambda\":0.5", "\"lambda\":null", 1);
        let error = refusal(read_text(&null, "null-lambda", 10));
        assert!(
            error.contains("lambda is null, and a linear model"),
            "{error}"
        );
        // The loss changed at the top, its settings' twin not: which one trained it is unknown.
        model.settings = serde_json::json!({
            "algo": "mine", "loss": "logistic", "lambda": 0.5, "bias": null,
        });
        let error = refusal(round_trip(&model, "contradict"));
        assert!(
            error.ends_with(
                ": its fields contradict each other: loss \"least-squares\" but settings.loss \
                 \"logistic\""
            ),
            "{error}"
        );
        model.settings["loss"] = "least-squares".into();
        model.settings["lambda"] = serde_json::json!(0.25);
        let error = refusal(round_trip(&model, "contradict-lambda"));
        assert!(
            error.contains("lambda 0.5 but settings.lambda 0.25"),
            "{error}"
        );
        model.settings["lambda"] = serde_json::json!(0.5);
        model.settings["bias"] = serde_json::json!(1);
        let error = refusal(round_trip(&model, "contradict-bias"));
        assert!(error.contains("bias null but settings.bias 1"), "{error}");
        // Agreeing, an integer for a float included, it reads.
        model.lambda = Some(1.0);
        model.settings["lambda"] = serde_json::json!(1);
        model.settings["bias"] = serde_json::Value::Null;
        assert!(round_trip(&model, "agree").is_ok());
    }

    #[test]
    fn the_settings_give_an_objective_its_params_or_say_which_is_wrong() {
        let mut model = saved(vec![1.0], None);
        model.lambda = Some(0.5);
        model.settings = serde_json::json!({
            "algo": "mine", "step": 0.25, "batch": 32, "precondition": "diagonal",
            "workers": 4, "params": {"beta1": 0.5},
        });
        let params = model.params().unwrap();
        assert_eq!(params.loss, Loss::with_lambda(true, 0.5));
        assert_eq!((params.step, params.batch), (0.25, 32));
        assert_eq!(params.precondition.name(), "diagonal");
        assert_eq!(params.param("beta1"), Some(0.5));
        // Not recorded: the defaults.
        assert_eq!(params.momentum, 0.0);
        model.settings["params"] = serde_json::json!({"beta1": "high"});
        let error = format!("{:#}", model.params().unwrap_err());
        assert!(
            error.contains("the model's settings are not those of a run"),
            "{error}"
        );
        model.settings["params"] = serde_json::json!({});
        model.settings["precondition"] = serde_json::json!("cubic");
        let error = format!("{:#}", model.params().unwrap_err());
        assert!(error.contains("unknown preconditioner `cubic`"), "{error}");
    }
}
