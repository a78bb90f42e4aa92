//! The rows `evaluate` and `predict` read without `--data`: the built-in set, when the model
//! was trained on it, so that the model of a first run is scored with no file to find.

use std::path::Path;

use anyhow::Result;
use asyncopt_runtime::data::Dataset;

use crate::model_file::SavedModel;
use crate::words::plural;

/// The built-in set as `model` reads it (its bias, its loss's labels), if `model` was
/// trained on it; otherwise a usage error naming the data it was, or saying that the file names
/// the set but does not match it (edited), `then` saying what `--data FILE` is for.
pub(super) fn builtin_of(model: &SavedModel, path: &Path, then: &str) -> Result<Dataset> {
    builtin_loaded_by(model, path, then, crate::builtin::cal_housing_scale)
}

/// [`builtin_of`], the set loaded by `load` only for a model that may have been trained on it.
fn builtin_loaded_by(
    model: &SavedModel,
    path: &Path,
    then: &str,
    load: impl FnOnce() -> Result<Dataset>,
) -> Result<Dataset> {
    let trained_on = || {
        format!(
            "--data is needed: {} was trained on {} ({}), not on the built-in set; pass \
             --data FILE {then}",
            path.display(),
            model.data.name.escape_debug(),
            plural(model.data.rows, "row")
        )
    };
    // The name spares a decompression of 20,640 rows for a model of another file; a file of
    // that name with another number of rows is another file too.
    if model.data.name != crate::builtin::NAME {
        bail_usage!("{}", trained_on());
    }
    let set = load()?;
    if set.n_rows() != model.data.rows {
        bail_usage!("{}", trained_on());
    }
    // The fingerprint decides: it covers the rows, the labels as the loss reads them and the
    // bias column the model appended. The set's name and size with another fingerprint are
    // the set's model edited by hand (its loss, bias or fingerprint), or another version's.
    let read = model
        .loss()
        .and_then(|loss| crate::job::prepare(set, model.bias, &loss));
    match read {
        Ok(data) if data.fingerprint() == model.data.sha256 => Ok(data),
        _ => {
            bail_usage!(
            "--data is needed: {} names the built-in set ({}, {}) but does not match it as its \
             loss ({}) and {} read it: the file was edited, or written by another version; \
             pass --data FILE {then}",
            path.display(),
            crate::builtin::NAME,
            plural(model.data.rows, "row"),
            model.loss.as_deref().unwrap_or("none").escape_debug(),
            model.bias.map_or("no bias".to_owned(), |b| format!("bias {b}"))
        )
        }
    }
}

/// [`builtin_of`] with the line of each row, as `predict` names them: the built-in text has
/// no blank or comment line, so row `i` is line `i + 1`.
pub(super) fn numbered_builtin_of(
    model: &SavedModel,
    path: &Path,
    then: &str,
) -> Result<(Dataset, Vec<usize>)> {
    let data = builtin_of(model, path, then)?;
    let lines = (1..=data.n_rows()).collect();
    Ok((data, lines))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use asyncopt_algorithms::{Loss, Params};
    use asyncopt_runtime::data::Features;

    use super::*;

    /// A least-squares model of zeros trained on `data` (its bias column, if any, appended).
    fn trained_on(data: &Dataset, bias: Option<f64>) -> SavedModel {
        let w = ndarray::Array1::zeros(data.dim());
        let params = Params::new(Loss::Ridge { lambda: 0.0 });
        SavedModel::linear("mine", &w, data, bias, &params).unwrap()
    }

    fn builtin(bias: Option<f64>) -> Dataset {
        let data = crate::builtin::cal_housing_scale().unwrap();
        crate::job::prepare(data, bias, &Loss::Ridge { lambda: 0.0 }).unwrap()
    }

    #[test]
    fn a_model_of_another_file_is_refused_without_loading_the_built_in_set() {
        let x = ndarray::Array2::from_shape_vec((2, 2), vec![1.0, 1.0, 2.0, 1.0]).unwrap();
        let other = Dataset::new("other", Features::Dense(x), ndarray::array![1.0, 3.0]).unwrap();
        let loaded = Cell::new(0);
        let load = || {
            loaded.set(loaded.get() + 1);
            crate::builtin::cal_housing_scale()
        };
        let model = trained_on(&other, None);
        let refused = builtin_loaded_by(&model, Path::new("m.json"), "to score it on", load)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("trained on other (2 rows)"), "{refused}");
        assert_eq!(loaded.get(), 0, "the built-in set was loaded for nothing");
        // A model of the built-in set, with or without the bias, loads it, once.
        for (bias, loads) in [(None, 1), (Some(1.0), 2)] {
            let model = trained_on(&builtin(bias), bias);
            let data = builtin_loaded_by(&model, Path::new("m.json"), "", load).unwrap();
            assert_eq!((data.n_rows(), loaded.get()), (20_640, loads));
            assert_eq!(data.fingerprint(), model.data.sha256);
        }
        // A model of a file named as the built-in set, holding other rows, is refused by the
        // set's fingerprint.
        let mut lookalike = trained_on(&builtin(None), None);
        lookalike.data.sha256 = "0".repeat(64);
        let refused = builtin_loaded_by(&lookalike, Path::new("m.json"), "", load)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains(
                "m.json names the built-in set (cal_housing.scale, 20640 rows) but \
                 does not match it as its loss (least-squares) and no bias read it: the file was \
                 edited"
            ),
            "{refused}"
        );
        // So is one of its loss edited, which reads the set's labels otherwise.
        let mut relabelled = trained_on(&builtin(None), None);
        relabelled.loss = Some("logistic".into());
        let refused = builtin_loaded_by(&relabelled, Path::new("m.json"), "", load)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("as its loss (logistic)"), "{refused}");
        // A file named as the set with another number of rows is another file.
        let mut namesake = trained_on(&builtin(None), None);
        namesake.data.rows = 2;
        let refused = builtin_loaded_by(&namesake, Path::new("m.json"), "", load)
            .unwrap_err()
            .to_string();
        assert!(
            refused
                .contains("m.json was trained on cal_housing.scale (2 rows), not on the built-in"),
            "{refused}"
        );
    }
}
