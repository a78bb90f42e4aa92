//! `evaluate` and `predict`: a saved model scored on, or applied to, a LIBSVM file, or the
//! built-in set it was trained on.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use asyncopt_runtime::data::error::feature_named;
use asyncopt_runtime::data::libsvm::memory_budget;
use asyncopt_runtime::data::{DataError, Dataset};
use asyncopt_runtime::regular_file::special_kind;

use super::args::{EvaluateArgs, PredictArgs};
use super::output::{is_stdout, refuse_overwriting, write_output};
use super::scored_data::{builtin_of, numbered_builtin_of};
use crate::model_file::SavedModel;
use crate::optimizer::Registry;
use crate::progress::Working;
use crate::score::Scorer;
use crate::trace::check_writable;
use crate::words::plural;

/// Refuses a `--model` that is a named pipe, a device or a folder as the command line's
/// mistake: a named pipe with no writer blocked the read for good. A missing file is left to
/// the read, which says so.
fn refuse_special_model(model: &Path) -> Result<()> {
    if let Some(kind) = special_kind(model) {
        bail_usage!("--model {}: is a {kind}, not a file", model.display());
    }
    Ok(())
}

/// What tells the objective `evaluate` prints from the one in a model file whose run scored an
/// evaluation sample: the sample's rows and objective.
fn sampled_note(model: &SavedModel) -> Option<String> {
    let (rows, of) = (model.data.objective_rows?, model.data.rows);
    (rows < of).then(|| {
        format!(
            "(the model file's objective, {}, is that of its run's {rows}-row evaluation sample \
             of {of} rows)",
            crate::trace::objective_text(model.objective)
        )
    })
}

/// A warning for a model scored on the very data its record names (the same fingerprint)
/// whose objective is not the one it records, beyond rounding: a weight or setting edited
/// since its run wrote it. A warning, not an error: the file is scored as it stands, which
/// may be meant (a weight pruned by hand), but its record no longer describes its weights.
fn not_as_recorded(model: &SavedModel, data: &Dataset, objective: f64) -> Option<String> {
    let recorded = model.objective;
    // A sample's objective is not the file's; a diverged run's is no number to match.
    let sampled = (model.data.objective_rows).is_some_and(|rows| rows != model.data.rows);
    if sampled || !recorded.is_finite() || data.fingerprint() != model.data.sha256 {
        return None;
    }
    // The run computed it with the same sums: only their order may differ.
    let scale = recorded.abs().max(objective.abs()).max(f64::MIN_POSITIVE);
    if (objective - recorded).abs() <= 1e-9 * scale {
        return None;
    }
    Some(format!(
        "{} is the data this model records (same sha256), but it scores objective {} there \
         where the model records {}: the file was edited since its run wrote it (its weights, \
         loss or lambda), and its record no longer describes it",
        data.name(),
        crate::trace::objective_text(objective),
        crate::trace::objective_text(recorded)
    ))
}

pub(super) fn evaluate(args: EvaluateArgs, registry: &Registry) -> Result<()> {
    crate::interrupt::scoring("stopped by a signal before the model was scored");
    if let Some(out) = &args.out {
        refuse_overwriting("--out", out, &inputs(&args.data, &args.model))?;
    }
    if let Some(out) = args.out.as_ref().filter(|out| !is_stdout(out)) {
        // Before the data is read and scored, as a run's outputs are checked before it.
        check_writable(out)?;
    }
    refuse_special_model(&args.model)?;
    check_model_memory(&args.model, memory_budget())?;
    let model = SavedModel::read_within(&args.model, args.max_features)?;
    if let Some(warning) = model.unfinished_warning() {
        tracing::warn!("{}: {warning}", args.model.display());
    }
    // Known before the data is read: a model this program cannot score costs no load.
    let scorer = Scorer::of(&model, &args.model, registry)?;
    let data = match &args.data {
        Some(path) => {
            let _reading = Working::start(&format!("reading {}", path.display()), false);
            model.load_data(path).map_err(beyond_the_model)?
        }
        None => builtin_of(&model, &args.model, "to score it on")?,
    };
    if let Some(warning) = model.narrow_data_warning(&data) {
        tracing::warn!("{warning}");
    }
    let evaluation = scorer.evaluate(&data)?;
    let objective = evaluation.metrics["objective"].as_f64();
    if let Some(warning) = objective.and_then(|o| not_as_recorded(&model, &data, o)) {
        tracing::warn!("{}: {warning}", args.model.display());
    }
    let line = &match sampled_note(&model) {
        Some(note) => format!("{}\n{note}", evaluation.line),
        None => evaluation.line.clone(),
    };
    let Some(path) = &args.out else {
        say!("{line}");
        return Ok(());
    };
    let json = serde_json::json!({
        // As the data's name: a path that is no UTF-8 is no JSON string.
        "model": args.model.to_string_lossy(),
        "data": data.name(),
        "data_sha256": data.fingerprint(),
        "metrics": evaluation.metrics,
    });
    let text = serde_json::to_string_pretty(&json)? + "\n";
    if is_stdout(path) {
        // Standard output holds the JSON alone.
        say_err!("{line}");
        return write_output(path, &text);
    }
    say!("{line}");
    write_output(path, &text)?;
    say!("metrics: {}", path.display());
    Ok(())
}

pub(super) fn predict(args: PredictArgs, registry: &Registry) -> Result<()> {
    crate::interrupt::scoring("stopped by a signal before the predictions were written");
    refuse_overwriting("--out", &args.out, &inputs(&args.data, &args.model))?;
    if !is_stdout(&args.out) {
        check_writable(&args.out)?;
    }
    refuse_special_model(&args.model)?;
    check_model_memory(&args.model, memory_budget())?;
    let model = SavedModel::read_within(&args.model, args.max_features)?;
    if let Some(warning) = model.unfinished_warning() {
        tracing::warn!("{}: {warning}", args.model.display());
    }
    let scorer = Scorer::of(&model, &args.model, registry)?;
    // A model that does not predict is said before the data is read.
    scorer.prediction_columns()?;
    let (data, lines) = match &args.data {
        Some(path) => {
            let _reading = Working::start(&format!("reading {}", path.display()), false);
            model.load_numbered_rows(path).map_err(beyond_the_model)?
        }
        None => numbered_builtin_of(&model, &args.model, "with the rows to predict")?,
    };
    if let Some(warning) = model.narrow_data_warning(&data) {
        tracing::warn!("{warning}");
    }
    let predictions = scorer.predict(&data, &lines)?;
    write_output(&args.out, &predictions.to_csv())?;
    let written = format!(
        "{} of {}",
        plural(predictions.rows(), "prediction"),
        data.name()
    );
    if is_stdout(&args.out) {
        say_err!("{written} written to stdout");
    } else {
        say!("{written} written to {}", args.out.display());
    }
    Ok(())
}

/// `e`, if it is a feature beyond the model's, said with what the user can do here: the data
/// layer's words name `--dim`, a flag of training, and evaluate and predict read data in the
/// model's features and have none.
fn beyond_the_model(e: anyhow::Error) -> anyhow::Error {
    let beyond = e.chain().find_map(|cause| match cause.downcast_ref() {
        Some(DataError::BeyondDimension {
            path,
            line,
            index,
            feature,
            dim,
        }) => Some(anyhow::anyhow!(
            "cannot load the data: {}:{line}: {} exceeds the dimension {dim} of the model: a \
             model scores data of its own features only; train a model on this file (or with \
             --dim covering both) to score it",
            path.display(),
            feature_named(*index, feature)
        )),
        _ => None,
    });
    beyond.unwrap_or(e)
}

/// Vectors of 8 bytes a weight `evaluate` and `predict` may hold at once: the weights as
/// they are read (a growing vector holds up to three times its weights' room while it moves
/// them), then the file's and the scorer's beside each other.
const MODEL_VECTORS: u64 = 3;

/// Refuses a model file whose weights need more than `budget` bytes (the memory budget),
/// by the features its header declares, before they are read: an allocation past what the
/// process may take (`ulimit -v`, a container's limit) aborts it rather than saying why. A
/// file whose header cannot be read is left to the read, which says what it is not.
fn check_model_memory(path: &Path, budget: u64) -> Result<()> {
    let Some(features) = SavedModel::declared_features(path) else {
        return Ok(());
    };
    let needed = features.saturating_add(1).saturating_mul(8 * MODEL_VECTORS);
    if needed > budget {
        bail!(
            "{}: its {features} features need {} MiB to read and score ({MODEL_VECTORS} \
             vectors of 8 bytes a weight), over the memory budget of {} MiB (half of what this \
             process may take: the host's, its container's or ulimit -v's): give more memory",
            path.display(),
            needed >> 20,
            budget >> 20
        );
    }
    Ok(())
}

/// The files a command reads, which its output may not overwrite.
fn inputs<'a>(data: &'a Option<PathBuf>, model: &'a PathBuf) -> Vec<(&'static str, &'a PathBuf)> {
    let data = data.iter().map(|path| ("data", path));
    data.chain([("model", model)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(data: DataError) -> anyhow::Error {
        anyhow::Error::new(data).context("cannot load the data")
    }

    #[test]
    fn a_model_past_the_memory_budget_is_refused_naming_it_before_it_is_read() {
        let path = std::env::temp_dir().join(format!("budget-{}.json", std::process::id()));
        // Weights are not counted: the header's word decides, before they are held.
        let text =
            r#"{"format": "asyncopt-model", "version": 1, "features": 1000, "weights": [0]}"#;
        std::fs::write(&path, text).unwrap();
        let needed = 1001 * 8 * MODEL_VECTORS;
        let err = check_model_memory(&path, needed - 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "{}: its 1000 features need 0 MiB to read and score (3 vectors of 8 bytes a \
                 weight), over the memory budget of 0 MiB",
                path.display()
            )),
            "{err}"
        );
        assert!(check_model_memory(&path, needed).is_ok());
        // What no header says is left to the read, as is a model of its own type, whose
        // features do not give its size.
        assert!(check_model_memory(&std::env::temp_dir(), 0).is_ok());
        let own = text.replace(r#""weights""#, r#""own": {"layers": [3]}, "weights""#);
        std::fs::write(&path, own).unwrap();
        assert!(check_model_memory(&path, 0).is_ok());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_feature_beyond_the_model_is_told_by_its_kind_not_its_words() {
        let beyond = DataError::BeyondDimension {
            path: "wide.libsvm".into(),
            line: 3,
            index: Some(9),
            feature: "9:1".into(),
            dim: 7,
        };
        // The data layer's words, as a parse error of any other kind could hold them.
        let words = beyond.to_string();
        let message = words
            .split_once(":3: ")
            .map(|(_, m)| m.to_string())
            .unwrap();
        let said = beyond_the_model(error(beyond)).to_string();
        assert!(
            said.starts_with(
                "cannot load the data: wide.libsvm:3: index 9 in feature `9:1` exceeds the \
                 dimension 7 of the model: "
            ) && !said.contains("--dim,"),
            "{said}"
        );
        let parse = DataError::Parse {
            path: "wide.libsvm".into(),
            line: 3,
            message,
        };
        assert_eq!(parse.to_string(), words);
        let kept = beyond_the_model(error(parse));
        assert_eq!(
            format!("{kept:#}"),
            format!("cannot load the data: {words}")
        );
    }
}
