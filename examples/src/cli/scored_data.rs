//! The rows `evaluate` and `predict` read without `--data`: the built-in set, when the model
//! was trained on it, so that the model of a first run is scored with no file to find.

use std::path::Path;

use anyhow::Result;
use asyncopt_runtime::data::Dataset;

use crate::model_file::SavedModel;

/// The built-in set as `model` reads it (its bias, its loss's labels), if `model` was
/// trained on it; otherwise a usage error naming the data it was, `then` saying what
/// `--data FILE` is for.
pub(super) fn builtin_of(model: &SavedModel, path: &Path, then: &str) -> Result<Dataset> {
    // The fingerprint, not the name: a file may be named as the built-in set and hold other
    // rows, and the fingerprint also covers the bias the model appended.
    let builtin = crate::builtin::cal_housing_scale()
        .and_then(|data| crate::job::prepare(data, model.bias, &model.loss()?));
    match builtin {
        Ok(data) if data.fingerprint() == model.data.sha256 => Ok(data),
        _ => bail_usage!(
            "--data is needed: {} was trained on {} ({} rows), not on the built-in set; pass \
             --data FILE {then}",
            path.display(),
            model.data.name.escape_debug(),
            model.data.rows
        ),
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
