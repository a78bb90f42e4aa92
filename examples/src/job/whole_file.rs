//! The final model scored on the whole shared file, when the run measured its objective on
//! the driver's evaluation sample: one streaming pass, a split at a time, so that the driver
//! never holds more of the file than one small split (each read within the memory budget).

use anyhow::{bail, Result};
use asyncopt_algorithms::{Loss, Model};
use asyncopt_runtime::data::{read_split, Rows, SharedFile};

/// Splits the pass reads the file in, at most: each a small part of the file, as the
/// partitions of a cluster of this many would be.
const PASS_SPLITS: usize = 64;

/// The objective of `w` under `loss` on every row of `file` (mean loss plus the
/// regulariser, as [`Loss::objective`]): its splits read one at a time, with the label rule
/// and bias the workers read them with. A compressed file would be decompressed whole for
/// every split, and is refused.
pub(super) fn objective_on_file(loss: &Loss, w: &Model, file: &SharedFile) -> Result<f64> {
    if file.is_compressed() {
        bail!("a compressed file is decompressed whole for every split");
    }
    let splits = file.plan().rows.len().clamp(1, PASS_SPLITS);
    let (mut sums, mut rows) = (Vec::with_capacity(splits), 0usize);
    for (_, order) in file.orders(splits, 0)? {
        let part = read_split(&order)?;
        sums.push(loss.loss_sum(part.data(), w.view()));
        rows += part.data().len();
    }
    if rows == 0 {
        bail!("the file has no row");
    }
    Ok(loss.objective_of_sums(&sums, rows, w.view()))
}
