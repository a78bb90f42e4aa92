//! A saved model scored on data, for `evaluate` and `predict`: a linear model by its loss
//! (RMSE and R^2, or accuracy, log-loss and AUC), a model of an author's own type as its
//! [`Trainable`](crate::model::Trainable) says (its objective, its metrics, its prediction
//! columns). The own type is that of the optimizer the file names, looked up in the program's
//! [`Registry`]: a program built with [`cli::run`](crate::cli::run) scores the models of the
//! optimizers it was given. No file is read or written here; the command line does that.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use asyncopt_algorithms::metrics::{self, Metrics};
use asyncopt_algorithms::{Loss, Model, Params};
use asyncopt_runtime::data::{Dataset, Rows};

use crate::model::TrainedModel;
use crate::model_file::SavedModel;
use crate::optimizer::Registry;
use crate::words::plural;
use asyncopt_runtime::panics;

/// Names the toolkit gives every own model's metrics, which its author's may not reuse.
const RESERVED: [&str; 3] = ["kind", "rows", "objective"];

/// The column `predict` writes first, for every model: the data line a row was read from.
const LINE: &str = "line";

/// A saved model, read back as what can score it.
pub enum Scorer {
    /// Weights, scored by the loss they were trained with.
    Linear {
        /// The loss.
        loss: Loss,
        /// The weights, the bias feature's last.
        weights: Model,
    },
    /// A model of an author's own type, scored as the type says.
    Own {
        /// The optimizer that trained it.
        algo: &'static str,
        /// The model.
        model: TrainedModel,
        /// The settings of its run, which its objective reads.
        params: Params,
    },
}

/// What `evaluate` reports: a line for people and the metrics as JSON.
#[derive(Debug)]
pub struct Evaluation {
    /// `NAME (N rows): objective ..., ...`.
    pub line: String,
    /// The metrics: `kind` (`regression`, `classification`, or `own`), `rows`, `objective`,
    /// and the others of the kind.
    pub metrics: serde_json::Value,
}

/// What `predict` writes: one row per data row, the line of the data file it was read from,
/// then named columns. A program of its own reads them as numbers, a model file scored as
/// `predict` scores it:
///
/// ```
/// # fn main() -> anyhow::Result<()> {
/// use async_train::{model_file::SavedModel, optimizer::Registry, score::Scorer};
/// use asyncopt_algorithms::{Loss, Params};
/// use asyncopt_runtime::data::{Dataset, Features};
///
/// let x = ndarray::Array2::from_shape_vec((2, 1), vec![1.0, 2.0])?;
/// let data = Dataset::new("two", Features::Dense(x), ndarray::array![2.0, 4.0])?;
/// let params = Params::new(Loss::Ridge { lambda: 0.0 });
/// let saved = SavedModel::linear("mine", &ndarray::array![2.0], &data, None, &params)?;
/// // In a program: SavedModel::read, then load_numbered_rows of the data file.
/// let registry = Registry::with(&[]).map_err(anyhow::Error::msg)?;
/// let scorer = Scorer::of(&saved, "m.json".as_ref(), &registry)?;
/// let predictions = scorer.predict(&data, &[1, 2])?;
/// assert_eq!(predictions.columns, ["prediction"]);
/// assert_eq!((predictions.lines(), predictions.row(1)), (&[1, 2][..], &[4.0][..]));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, PartialEq)]
pub struct Predictions {
    /// The columns' names (the line's not among them).
    pub columns: Vec<String>,
    /// The 1-based line of each row.
    lines: Vec<usize>,
    /// The values, row after row.
    values: Vec<f64>,
}

impl Predictions {
    /// Rows predicted.
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    /// The 1-based line of the data file each row was read from.
    pub fn lines(&self) -> &[usize] {
        &self.lines
    }

    /// Row `i`'s values, one per column.
    ///
    /// # Panics
    /// If `i` is not below [`rows`](Predictions::rows).
    pub fn row(&self, i: usize) -> &[f64] {
        let width = self.columns.len();
        &self.values[i * width..(i + 1) * width]
    }

    /// As CSV: a header, then a line per row, its data line first (blank and comment lines,
    /// which are no rows, are then seen to have none), each number in its shortest exact form.
    pub fn to_csv(&self) -> String {
        let mut text = String::with_capacity(self.values.len() * 24 + self.lines.len() * 8 + 64);
        text.push_str(LINE);
        for column in &self.columns {
            text.push(',');
            text.push_str(column);
        }
        text.push('\n');
        let rows = self.values.chunks(self.columns.len().max(1));
        for (line, row) in self.lines.iter().zip(rows) {
            text.push_str(&line.to_string());
            for value in row {
                text.push(',');
                // `Display` never uses an exponent: 1e300 was 301 digits, 1e-300 300 zeros.
                // Adding 0 turns -0 into 0: a row without entries (a sum from -0) predicts 0.
                text.push_str(&crate::optimizer::readable(*value + 0.0));
            }
            text.push('\n');
        }
        text
    }
}

impl Scorer {
    /// The scorer of `saved` (read from `path`, which messages name): its weights, or its own
    /// model read as the model of the optimizer of `registry` that its settings name.
    pub fn of(saved: &SavedModel, path: &Path, registry: &Registry) -> Result<Scorer> {
        let Some(json) = &saved.own else {
            return Ok(Scorer::Linear {
                loss: saved.loss()?,
                weights: saved.model()?,
            });
        };
        let file = path.display();
        let Some(name) = saved.algo() else {
            bail!(
                "{file} holds a model of an author's own type but not the name of its optimizer \
                 (settings.algo), which says what type it is"
            );
        };
        let Some(optimizer) = registry.all().iter().find(|o| o.name() == name) else {
            let known: Vec<&str> = registry.all().iter().map(|o| o.name()).collect();
            bail!(
                "{file} holds a model of {}'s own type, which this program does not know \
                 (its optimizers: {}): score it with the program that trained it",
                // The file's words, which may hold line breaks: the error stays one line.
                name.escape_debug(),
                known.join(", ")
            );
        };
        let model = match optimizer.model_from_json(json) {
            Some(Ok(model)) => model,
            Some(Err(e)) => bail!("{file} does not hold a model of {name}: {e}"),
            None => bail!(
                "{file} holds a model of its own form (own), but {name} trains a linear model \
                 (weights)"
            ),
        };
        let mut params = saved.params().with_context(|| file.to_string())?;
        // A hyperparameter the file does not record (hand-written, older) is its default,
        // as in the run.
        for hyper in optimizer.hypers() {
            params
                .extra
                .entry(hyper.name.into())
                .or_insert(hyper.default);
        }
        Ok(Scorer::Own {
            algo: optimizer.name(),
            model,
            params,
        })
    }

    /// Its metrics on `data`, loaded by [`SavedModel::load_data`].
    pub fn evaluate(&self, data: &Dataset) -> Result<Evaluation> {
        let rows = data.len();
        let (model, params, algo) = match self {
            Scorer::Linear { loss, weights } => {
                let scores = metrics::evaluate(loss, data, weights.view())
                    .map_err(|e| does_not_fit(data, e))?;
                let (Metrics::Regression { objective, .. }
                | Metrics::Classification { objective, .. }) = scores;
                if !objective.is_finite() {
                    return Err(overflows(data, "the objective"));
                }
                return Ok(Evaluation {
                    line: linear_line(data.name(), &scores),
                    metrics: serde_json::to_value(&scores)?,
                });
            }
            Scorer::Own {
                algo,
                model,
                params,
            } => (model, params, *algo),
        };
        let (objective, more) =
            panics::catch(|| (model.objective(data, params), model.metrics(data, params)))
                .map_err(|panic| failed(algo, "score", data, &panic))?;
        let mut line = format!(
            "{} ({}): objective {}",
            data.name(),
            plural(rows, "row"),
            crate::trace::objective_text(objective)
        );
        let mut json = serde_json::Map::new();
        json.insert("kind".into(), "own".into());
        json.insert("rows".into(), rows.into());
        json.insert("objective".into(), objective.into());
        for (name, value) in more {
            if RESERVED.contains(&name.as_str()) || json.contains_key(&name) {
                bail!(
                    "{algo}'s model names two of its metrics `{name}` (its Trainable::metrics; \
                     `kind`, `rows` and `objective` are the toolkit's)"
                );
            }
            line.push_str(&format!(", {name} {}", metric_text(value)));
            json.insert(name, value.into());
        }
        Ok(Evaluation {
            line,
            metrics: json.into(),
        })
    }

    /// The columns of its predictions, or an error if it does not predict: known before the
    /// data is read.
    pub fn prediction_columns(&self) -> Result<Vec<String>> {
        let (model, algo) = match self {
            Scorer::Linear { loss, .. } if loss.is_classification() => {
                return Ok(vec!["probability".into(), "label".into()])
            }
            Scorer::Linear { .. } => return Ok(vec!["prediction".into()]),
            Scorer::Own { algo, model, .. } => (model, *algo),
        };
        let columns = panics::catch(|| model.prediction_columns()).map_err(|panic| {
            anyhow!("{algo}'s model cannot name its predictions: its code failed ({panic})")
        })?;
        let Some(columns) = columns else {
            bail!(
                "{algo}'s model ({}) does not predict: its type's Trainable gives no \
                 prediction_columns",
                model.type_name()
            );
        };
        check_columns(algo, &columns)?;
        Ok(columns)
    }

    /// Its prediction for every row of `data`, read from the lines `lines` of its file, both
    /// by [`SavedModel::load_numbered_rows`] (whose labels it does not read).
    pub fn predict(&self, data: &Dataset, lines: &[usize]) -> Result<Predictions> {
        if lines.len() != data.len() {
            bail!(
                "{} for the {} of {}",
                plural(lines.len(), "line number"),
                plural(data.len(), "row"),
                data.name()
            );
        }
        let columns = self.prediction_columns()?;
        let lines = lines.to_vec();
        let (model, algo) = match self {
            Scorer::Linear { loss, weights } => {
                // Margins of its own (a label is decided on the margin, not on the
                // probability `metrics::predict` gives), after metrics' check of their width.
                metrics::check_width(data, weights.view()).map_err(|e| does_not_fit(data, e))?;
                let values = linear_predictions(loss, weights, data).map_err(|row| {
                    overflows(data, &format!("the prediction of line {}", lines[row]))
                })?;
                return Ok(Predictions {
                    columns,
                    lines,
                    values,
                });
            }
            Scorer::Own { algo, model, .. } => (model, *algo),
        };
        let values = panics::catch(|| -> Result<Vec<f64>> {
            let mut values = Vec::with_capacity(data.len() * columns.len());
            for (i, line) in lines.iter().enumerate() {
                let row = model.predict_row(data, i);
                if row.len() != columns.len() {
                    bail!(
                        "{algo}'s model predicted {} for the row of line {line}, for its {}",
                        plural(row.len(), "value"),
                        plural(columns.len(), "column")
                    );
                }
                values.extend(row);
            }
            Ok(values)
        })
        .map_err(|panic| failed(algo, "predict", data, &panic))??;
        Ok(Predictions {
            columns,
            lines,
            values,
        })
    }
}

/// The error of an author's model whose code panicked on `data`: a file whose model does not
/// fit the data (a matrix of other dimensions) as much as a bug.
fn failed(algo: &str, what: &str, data: &Dataset, panic: &str) -> anyhow::Error {
    anyhow!(
        "{algo}'s model cannot {what} {}: its code failed ({panic}), on a model that does not \
         fit the data or by a bug of its type",
        data.name()
    )
}

/// The error of data whose columns are not the linear model's weights, one each (a model file
/// whose `features` were edited), as [`metrics::check_width`] finds whatever read the data:
/// said with the data's name and what its columns hold.
fn does_not_fit(data: &Dataset, e: metrics::WidthError) -> anyhow::Error {
    anyhow!(
        "cannot score the model on {}: it has {} and the data {} (its features and any \
         bias column): a linear model has one weight per column",
        data.name(),
        plural(e.weights, "weight"),
        plural(e.features, "column")
    )
}

/// The error of a linear model whose `what` on `data` is not a finite number: finite weights and
/// finite values whose products overflow (values of 1e300, which a run refuses to train on).
fn overflows(data: &Dataset, what: &str) -> anyhow::Error {
    anyhow!(
        "cannot score the model on {}: {what} overflows: \
         the model's weights and the data's feature values are too large together",
        data.name()
    )
}

/// Columns a CSV header can hold, each once: an author's mistake is said, not written.
fn check_columns(algo: &str, columns: &[String]) -> Result<()> {
    if columns.is_empty() {
        bail!("{algo}'s model names no prediction column");
    }
    for (i, column) in columns.iter().enumerate() {
        if column.is_empty() || column.contains([',', '"', '\n', '\r']) {
            bail!(
                "{algo}'s model names a prediction column {column:?}, which a CSV header cannot \
                 hold as it is: use no comma, quote or line break"
            );
        }
        if columns[..i].contains(column) {
            bail!("{algo}'s model names two prediction columns `{column}`");
        }
        if column == LINE {
            bail!(
                "{algo}'s model names a prediction column `{LINE}`, which predict writes first \
                 for every model (the data line of each row)"
            );
        }
    }
    Ok(())
}

/// `evaluate`'s line for a linear model.
fn linear_line(name: &str, scores: &Metrics) -> String {
    match scores {
        Metrics::Regression {
            rows,
            objective,
            rmse,
            r2,
        } => {
            let objective = crate::trace::objective_text(*objective);
            let rmse = metric_text(*rmse);
            // NaN, which the JSON writes as null, is R^2 of no meaning: said as such.
            let r2 = defined_or(*r2, "undefined (constant labels)");
            let rows = plural(*rows, "row");
            format!("{name} ({rows}): objective {objective}, RMSE {rmse}, R^2 {r2}")
        }
        Metrics::Classification {
            rows,
            objective,
            accuracy,
            log_loss,
            auc,
        } => format!(
            "{name} ({}): objective {}, accuracy {accuracy:.6}, log-loss {}, ROC AUC {}",
            plural(*rows, "row"),
            crate::trace::objective_text(*objective),
            metric_text(*log_loss),
            // An AUC ranks positives against negatives: of one class, there is none to rank.
            defined_or(*auc, "undefined (one class)")
        ),
    }
}

/// `value` as [`metric_text`], or `undefined` for NaN: a metric the data gives no meaning,
/// which the JSON writes as null.
fn defined_or(value: f64, undefined: &str) -> String {
    if value.is_nan() {
        undefined.to_owned()
    } else {
        metric_text(value)
    }
}

/// A metric on `evaluate`'s line: six decimals, or six significant digits in scientific
/// notation for a large one (the RMSE of data with values of 1e150 was 150 digits), as the
/// objective beside it.
fn metric_text(value: f64) -> String {
    if value.abs() >= crate::trace::OBJECTIVE_FIXED_BELOW {
        format!("{value:.6e}")
    } else {
        format!("{value:.6}")
    }
}

/// A linear model's predictions, row after row: `prediction` (least squares), or
/// `probability,label` (logistic), the label decided on the margin as `evaluate` counts it;
/// or the first row whose margin is no finite number. A logistic model's probability of such
/// a margin is 0 or 1, finite: refused on the margin, as `evaluate` refuses its objective.
fn linear_predictions(loss: &Loss, weights: &Model, data: &Dataset) -> Result<Vec<f64>, usize> {
    let classification = loss.is_classification();
    let mut values = Vec::with_capacity(data.len() * (1 + usize::from(classification)));
    for i in 0..data.len() {
        let margin = data.dot(i, weights.view());
        if !margin.is_finite() {
            return Err(i);
        }
        values.push(metrics::prediction(loss, margin));
        if classification {
            values.push(f64::from(metrics::label(margin)));
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Trainable;
    use crate::Optimizer;
    use asyncopt_runtime::data::Features;
    use asyncopt_runtime::Driver;
    use ndarray::{array, Array2};
    use serde::{Deserialize, Serialize};

    #[test]
    fn a_metric_without_meaning_is_said_undefined_not_nan() {
        let regression = Metrics::Regression {
            rows: 2,
            objective: 0.5,
            rmse: 1.0,
            r2: f64::NAN,
        };
        let line = linear_line("d", &regression);
        assert!(line.ends_with("R^2 undefined (constant labels)"), "{line}");
        let classification = Metrics::Classification {
            rows: 2,
            objective: 0.5,
            accuracy: 1.0,
            log_loss: 0.25,
            auc: f64::NAN,
        };
        let line = linear_line("d", &classification);
        assert!(line.ends_with("ROC AUC undefined (one class)"), "{line}");
        let defined = Metrics::Classification {
            rows: 2,
            objective: 0.5,
            accuracy: 1.0,
            log_loss: 0.25,
            auc: 0.75,
        };
        assert!(linear_line("d", &defined).ends_with("ROC AUC 0.750000"));
    }

    /// A constant guess, which says nothing beyond its objective.
    #[derive(Clone, Serialize, Deserialize)]
    struct Guess {
        value: f64,
    }

    impl Trainable for Guess {
        fn objective(&self, data: &Dataset, params: &Params) -> f64 {
            let scale = params.param("scale").unwrap_or(1.0);
            (0..data.len())
                .map(|i| scale * (data.label(i) - self.value).abs())
                .sum::<f64>()
                / data.len() as f64
        }

        fn norm(&self) -> f64 {
            self.value.abs()
        }
    }

    /// A model that predicts a row's index and label, and reports the first label; `columns`
    /// and `metric` name what it gives, `short` predicts one value too few, and `panics`
    /// indexes past the data, as a model whose shape the data does not fit would.
    #[derive(Clone, Serialize, Deserialize)]
    struct Says {
        columns: Vec<String>,
        metric: String,
        short: bool,
        #[serde(default)]
        panics: bool,
    }

    impl Trainable for Says {
        fn objective(&self, data: &Dataset, _: &Params) -> f64 {
            if self.panics {
                return data.labels()[data.len()];
            }
            0.5
        }

        fn norm(&self) -> f64 {
            1.0
        }

        fn metrics(&self, data: &Dataset, _: &Params) -> Vec<(String, f64)> {
            vec![(self.metric.clone(), data.label(0))]
        }

        fn prediction_columns(&self) -> Option<Vec<String>> {
            Some(self.columns.clone())
        }

        fn predict_row(&self, data: &Dataset, i: usize) -> Vec<f64> {
            let row = [i as f64, data.label(i)];
            row[..row.len() - usize::from(self.short)].to_vec()
        }
    }

    fn guess(_: &mut Driver, _: &Dataset, _: &Params) -> Guess {
        Guess { value: 0.0 }
    }

    fn says(_: &mut Driver, _: &Dataset, _: &Params) -> Says {
        unreachable!("never trained here")
    }

    fn registry() -> Registry {
        const SCALE: &[crate::Hyper] = &[crate::Hyper::new("scale", 2.0, "")];
        Registry::with(&[
            Optimizer::of_model("guess", guess).params(SCALE),
            Optimizer::of_model("says", says),
        ])
        .unwrap()
    }

    fn saved(algo: &str, own: serde_json::Value) -> SavedModel {
        SavedModel {
            format: crate::model_file::FORMAT.into(),
            version: crate::model_file::VERSION,
            loss: None,
            lambda: None,
            features: 1,
            bias: None,
            data: crate::model_file::DataInfo {
                name: "train".into(),
                rows: 2,
                sha256: String::new(),
                sha256_of: None,
                objective_rows: None,
            },
            settings: serde_json::json!({ "algo": algo }),
            objective: 1.0,
            ended_by: None,
            weights: Vec::new(),
            own: Some(own),
        }
    }

    /// The lines of [`data`]'s two rows, as if a blank line were before each.
    const LINES: [usize; 2] = [2, 4];

    fn data() -> Dataset {
        let x = Array2::from_shape_vec((2, 1), vec![1.0, 2.0]).unwrap();
        Dataset::new("two", Features::Dense(x), array![1.0, 3.0]).unwrap()
    }

    fn scorer(algo: &str, own: serde_json::Value) -> Result<Scorer> {
        Scorer::of(&saved(algo, own), Path::new("m.json"), &registry())
    }

    fn says_json(columns: &[&str], metric: &str, short: bool) -> serde_json::Value {
        serde_json::json!({ "columns": columns, "metric": metric, "short": short })
    }

    #[test]
    fn an_own_model_is_scored_as_its_type_says_with_its_runs_settings() {
        let guess = scorer("guess", serde_json::json!({ "value": 1.0 })).unwrap();
        let evaluation = guess.evaluate(&data()).unwrap();
        // |1 - 1| + |3 - 1| = 2, by the hyperparameter's default 2, over 2 rows.
        assert_eq!(
            evaluation.metrics,
            serde_json::json!({ "kind": "own", "rows": 2, "objective": 2.0 })
        );
        // Written in the order the toolkit and the author give them, not alphabetically.
        assert_eq!(
            evaluation.metrics.to_string(),
            r#"{"kind":"own","rows":2,"objective":2.0}"#
        );
        assert_eq!(evaluation.line, "two (2 rows): objective 2.0000000000");
        let refused = guess.predict(&data(), &LINES).unwrap_err().to_string();
        assert!(
            refused.starts_with("guess's model (")
                && refused.ends_with(
                    "does not predict: its type's Trainable gives no prediction_columns"
                ),
            "{refused}"
        );

        let says = scorer("says", says_json(&["row", "label"], "first", false)).unwrap();
        let evaluation = says.evaluate(&data()).unwrap();
        assert_eq!(evaluation.metrics["first"], 1.0);
        assert!(evaluation
            .line
            .ends_with("objective 0.5000000000, first 1.000000"));
        let predictions = says.predict(&data(), &LINES).unwrap();
        assert_eq!(predictions.rows(), 2);
        assert_eq!(predictions.to_csv(), "line,row,label\n2,0,1\n4,1,3\n");
        let unmatched = says.predict(&data(), &[1]).unwrap_err().to_string();
        assert_eq!(unmatched, "1 line number for the 2 rows of two");
    }

    #[test]
    fn a_linear_model_of_other_columns_than_the_data_is_an_error_not_a_panic() {
        // A model file whose `features` were edited, scored on rows read without it (the
        // built-in set): one weight too many or too few panicked inside the first `dot`.
        for weights in [vec![1.0, 0.0], vec![]] {
            let n = weights.len();
            for loss in [Loss::LeastSquares, Loss::with_lambda(false, 0.0)] {
                let scorer = Scorer::Linear {
                    loss,
                    weights: Model::from(weights.clone()),
                };
                let said = format!(
                    "cannot score the model on two: it has {n} weights and the data 1 column"
                );
                let evaluated = scorer.evaluate(&data()).unwrap_err().to_string();
                assert!(evaluated.starts_with(&said), "{evaluated}");
                let predicted = scorer.predict(&data(), &LINES).unwrap_err().to_string();
                assert!(predicted.starts_with(&said), "{predicted}");
            }
        }
    }

    #[test]
    fn a_linear_model_whose_scores_overflow_is_an_error_not_nan() {
        // Finite weights on finite values whose products overflow, as a run's on values of
        // 1e300 would (which it refuses): scored NaN, or inf, and predicted inf, with success.
        let x = Array2::from_shape_vec((2, 1), vec![1.0, 1e300]).unwrap();
        let data = Dataset::new("huge", Features::Dense(x), array![1.0, -1.0]).unwrap();
        let scorer = |loss| Scorer::Linear {
            loss,
            weights: Model::from(vec![1e10]),
        };
        let error = |result: Result<String>| result.unwrap_err().to_string();
        let said =
            "overflows: the model's weights and the data's feature values are too large together";
        for loss in [Loss::LeastSquares, Loss::with_lambda(false, 0.0)] {
            let evaluated = error(scorer(loss).evaluate(&data).map(|e| e.line));
            assert!(
                evaluated.starts_with("cannot score the model on huge: the objective ")
                    && evaluated.contains(said),
                "{evaluated}"
            );
        }
        // A logistic model's probability of a margin beyond any finite one is 0 or 1, finite:
        // it was written, where least squares and evaluate refuse the overflow.
        for loss in [Loss::LeastSquares, Loss::with_lambda(false, 0.0)] {
            let predicted = error(scorer(loss).predict(&data, &[1, 3]).map(|p| p.to_csv()));
            assert!(
                predicted.starts_with("cannot score the model on huge: the prediction of line 3 ")
                    && predicted.contains(said),
                "{predicted}"
            );
        }
    }

    #[test]
    fn a_large_objective_and_metrics_are_printed_short() {
        // Ten decimals of an objective of 1e300, six of an RMSE of 1e150: hundreds of digits
        // (residuals 2e150 and 1.4: MSE 2e300, the target of variance 1).
        let x = Array2::from_shape_vec((2, 1), vec![1e150, 0.2]).unwrap();
        let data = Dataset::new("big", Features::Dense(x), array![1.0, -1.0]).unwrap();
        let scorer = Scorer::Linear {
            loss: Loss::LeastSquares,
            weights: Model::from(vec![2.0]),
        };
        let line = scorer.evaluate(&data).unwrap().line;
        assert_eq!(
            line,
            "big (2 rows): objective 1.000000e300, RMSE 1.414214e150, R^2 -2.000000e300"
        );
    }

    #[test]
    fn a_huge_or_tiny_prediction_is_written_short_and_exact() {
        // Written with `Display`, 1e300 was 301 digits and 1e-300 300 zeros.
        let values = [1e300, 1e-300, 0.1, 2.0, -1.5e-7];
        let x = Array2::from_shape_vec((values.len(), 1), values.to_vec()).unwrap();
        let labels = ndarray::Array1::zeros(values.len());
        let data = Dataset::new("wide", Features::Dense(x), labels).unwrap();
        let scorer = Scorer::Linear {
            loss: Loss::LeastSquares,
            weights: Model::from(vec![1.0]),
        };
        let lines: Vec<usize> = (1..=values.len()).collect();
        let csv = scorer.predict(&data, &lines).unwrap().to_csv();
        let written: Vec<&str> = csv
            .lines()
            .skip(1)
            .map(|line| line.rsplit(',').next().unwrap())
            .collect();
        assert_eq!(written, ["1e300", "1e-300", "0.1", "2", "-1.5e-7"], "{csv}");
        let read: Vec<f64> = written.iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(read, values, "read back bit for bit");
    }

    #[test]
    fn what_a_program_cannot_score_is_one_clear_error() {
        let lying = scorer("a\nb", serde_json::json!({}))
            .err()
            .unwrap()
            .to_string();
        assert!(lying.contains("a model of a\\nb's own type"), "{lying}");
        let unknown = scorer("softmax", serde_json::json!({}))
            .err()
            .unwrap()
            .to_string();
        assert!(
            unknown.starts_with("m.json holds a model of softmax's own type, which this program does not know (its optimizers: sgd, "),
            "{unknown}"
        );
        let wrong = scorer("guess", serde_json::json!({ "weights": [1] }))
            .err()
            .unwrap();
        assert!(
            wrong
                .to_string()
                .starts_with("m.json does not hold a model of guess: missing field `value`"),
            "{wrong}"
        );
        let linear = scorer("sgd", serde_json::json!({ "value": 1.0 }))
            .err()
            .unwrap();
        assert!(
            linear.to_string().contains("but sgd trains a linear model"),
            "{linear}"
        );
        let mut unnamed = saved("guess", serde_json::json!({ "value": 1.0 }));
        unnamed.settings = serde_json::json!({});
        let unnamed = Scorer::of(&unnamed, Path::new("m.json"), &registry())
            .err()
            .unwrap();
        assert!(
            unnamed
                .to_string()
                .contains("not the name of its optimizer"),
            "{unnamed}"
        );

        // An author's mistakes are said, not written.
        let bad = |json| scorer("says", json).unwrap();
        let error = |result: Result<_>| result.err().map(|e: anyhow::Error| e.to_string()).unwrap();
        let taken = error(
            bad(says_json(&["a", "b"], "objective", false))
                .evaluate(&data())
                .map(|_| ()),
        );
        assert!(
            taken.contains("names two of its metrics `objective`"),
            "{taken}"
        );
        let comma = error(
            bad(says_json(&["a,b", "c"], "m", false))
                .predict(&data(), &LINES)
                .map(|_| ()),
        );
        assert!(comma.contains("a CSV header cannot hold"), "{comma}");
        let twice = error(
            bad(says_json(&["a", "a"], "m", false))
                .predict(&data(), &LINES)
                .map(|_| ()),
        );
        assert!(twice.contains("two prediction columns `a`"), "{twice}");
        let short = error(
            bad(says_json(&["a", "b"], "m", true))
                .predict(&data(), &LINES)
                .map(|_| ()),
        );
        assert!(
            short.contains("predicted 1 value for the row of line 2, for its 2 columns"),
            "{short}"
        );
        let line = error(
            bad(says_json(&["line", "b"], "m", false))
                .predict(&data(), &LINES)
                .map(|_| ()),
        );
        assert!(
            line.contains("names a prediction column `line`, which predict writes first"),
            "{line}"
        );
        let none = error(
            bad(says_json(&[], "m", false))
                .predict(&data(), &LINES)
                .map(|_| ()),
        );
        assert!(none.contains("names no prediction column"), "{none}");
        // So is a panic of its code.
        let mut json = says_json(&["a"], "m", false);
        json["panics"] = true.into();
        let panics = error(bad(json).evaluate(&data()).map(|_| ()));
        assert!(
            panics.starts_with("says's model cannot score two: its code failed (")
                && panics.contains("out of bounds"),
            "{panics}"
        );
    }
}
