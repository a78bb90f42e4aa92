//! Where a job's data comes from and how its loss reads it: the built-in set or a LIBSVM file,
//! shipped by the driver or read by every worker, its labels checked and its bias appended.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use asyncopt_algorithms::Loss;
use asyncopt_runtime::data::{DataError, Dataset, LabelRule, LoadOptions, SharedOptions};

use super::JobSpec;

/// Where the data comes from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// The built-in California housing set.
    Builtin,
    /// A LIBSVM file.
    File {
        /// Its path.
        path: PathBuf,
        /// The number of features, if the file does not use the last.
        dim: Option<usize>,
        /// The largest number of features accepted (the memory budget of a model).
        max_dim: usize,
        /// How the workers get their partitions.
        access: DataAccess,
    },
}

/// How workers get their partitions of a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataAccess {
    /// The driver reads the whole file and ships each worker its partitions.
    Ship,
    /// Every worker reads its own byte-range splits of the file (the same path on every
    /// host); the driver scans it and reads an evaluation sample of at most `eval_rows` rows.
    Shared {
        /// Rows of the driver's evaluation sample.
        eval_rows: usize,
        /// Chosen by `--data-access auto`, not asked for: a file whose byte ranges cannot
        /// give every partition a row is shipped instead of refused.
        auto: bool,
    },
}

impl DataSource {
    /// Loads the dataset as it is in the file: whole, or (shared access) the driver's
    /// evaluation sample standing for the file; `seed` draws the sample.
    pub fn load(&self, seed: u64) -> Result<Dataset> {
        match self {
            DataSource::Builtin => crate::builtin::cal_housing_scale(),
            DataSource::File {
                path,
                dim,
                max_dim,
                access,
            } => {
                let options = LoadOptions {
                    dim: *dim,
                    max_dim: *max_dim,
                    ..LoadOptions::default()
                };
                match access {
                    DataAccess::Ship => load_file(path, &options),
                    DataAccess::Shared { eval_rows, .. } => {
                        if !path.exists() {
                            bail!("data file {} does not exist", path.display());
                        }
                        let shared = SharedOptions {
                            load: options,
                            eval_rows: *eval_rows,
                            seed,
                        };
                        Dataset::open_shared(path, &shared).context("cannot load the data")
                    }
                }
            }
        }
    }
}

pub(crate) fn load_file(path: &Path, options: &LoadOptions) -> Result<Dataset> {
    check_exists(path)?;
    // The data layer's errors name the file (and the line) and say why.
    Dataset::load(path, options).context("cannot load the data")
}

/// [`load_file`], with the 1-based line each row was read from.
pub(crate) fn load_numbered_file(
    path: &Path,
    options: &LoadOptions,
) -> Result<(Dataset, Vec<usize>)> {
    check_exists(path)?;
    Dataset::load_numbered(path, options).context("cannot load the data")
}

fn check_exists(path: &Path) -> Result<()> {
    if !path.exists() {
        bail!("data file {} does not exist", path.display());
    }
    Ok(())
}

/// Loads a LIBSVM file for `loss`: its labels checked, the bias feature appended.
pub fn load_for(
    path: &Path,
    options: &LoadOptions,
    bias: Option<f64>,
    loss: &Loss,
) -> Result<Dataset> {
    prepare(load_file(path, options)?, bias, loss)
}

/// The data as `loss` reads it: classification labels are `+1`/`-1` (a file of 0/1 labels is
/// read with 0 as -1; any other label is an error naming its line in the file, or its row in
/// data read from no file, said as the other errors of loading the data are), and with
/// `bias`, a constant
/// feature is appended to every row.
pub fn prepare(data: Dataset, bias: Option<f64>, loss: &Loss) -> Result<Dataset> {
    let mut data = data;
    if loss.is_classification() {
        let labels = data.labels();
        // A file's rule comes from all its rows: for a shared file, which its workers read,
        // not from the driver's sample (one of only 1s would make the 0s elsewhere errors).
        let file_labels = data.file_labels();
        let is = |values: &[f64]| match file_labels {
            Some(seen) => seen.all_in(values),
            None => labels.iter().all(|y| values.contains(y)),
        };
        let (zero_one, signed) = (is(&[0.0, 1.0]), is(&[1.0, -1.0]));
        if let Some(values) = file_labels.filter(|_| !zero_one && !signed) {
            // Named by its line, which the user fixes (a row's index skips blank and comment
            // lines); a shared file's workers would each find it mid-run: said before any runs.
            let place = match values.conflict() {
                Some((line, what)) => format!("{}:{line}: {what}", data.name()),
                None => format!("{}: its labels are {}", data.name(), values.seen()),
            };
            bail!("cannot load the data: {place}: the logistic loss reads +1/-1 or 0/1 labels");
        }
        // Workers reading their own splits apply the same rule to their rows.
        let rule = if zero_one && !signed {
            tracing::info!("labels 0/1 read as -1/+1 for the logistic loss");
            LabelRule::ZeroOneAsSigned
        } else {
            LabelRule::Signed
        };
        data = data.with_labels(rule).map_err(|e| {
            anyhow!("cannot load the data: {e}: the logistic loss reads +1/-1 or 0/1 labels")
        })?;
    }
    Ok(match bias {
        Some(value) => data.with_bias(value),
        None => data,
    })
}

impl JobSpec {
    /// The job's data as its loss reads it (see [`prepare`]).
    pub fn load_data(&self) -> Result<Arc<Dataset>> {
        // A large file takes seconds to read: a terminal shows that it is being read.
        let _reading = match &self.data {
            DataSource::File { path, .. } => Some(crate::progress::Working::start(
                &format!("reading {}", path.display()),
                self.quiet,
            )),
            DataSource::Builtin => None,
        };
        let mut data = self.data.load(self.cluster.seed)?;
        if let Some(shipped) = self.shipped_instead(&data) {
            data = shipped.load(self.cluster.seed)?;
        }
        Ok(Arc::new(prepare(data, self.bias, &self.loss)?))
    }

    /// The data shipped, when `auto` chose shared access for a file whose byte ranges cannot
    /// give every partition a row (a long comment header and few rows): shipping cuts it one
    /// row per block, where shared access would refuse it. Asked for, shared access keeps
    /// refusing it (`run` says why).
    fn shipped_instead(&self, data: &Dataset) -> Option<DataSource> {
        let DataSource::File {
            path,
            dim,
            max_dim,
            access: DataAccess::Shared { auto: true, .. },
        } = &self.data
        else {
            return None;
        };
        let parts = self
            .cluster
            .workers
            .checked_mul(self.cluster.partitions_per_worker)?;
        match data.origin()?.orders(parts, self.cluster.seed) {
            Err(
                error @ (DataError::EmptyPartition { .. }
                | DataError::TooFewRanges { .. }
                | DataError::PathNotUtf8 { .. }),
            ) => {
                tracing::info!("{error}: --data-access auto ships the file instead");
                Some(DataSource::File {
                    path: path.clone(),
                    dim: *dim,
                    max_dim: *max_dim,
                    access: DataAccess::Ship,
                })
            }
            _ => None,
        }
    }
}
