//! [`LoadOptions`], [`Layout`] and [`Labels`]: how a LIBSVM file is read, by the driver loading it
//! whole, scanning it as a shared file, or a worker reading its split of it.

use serde::{Deserialize, Serialize};

/// Storage layout of the feature matrix of a loaded dataset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Dense when at least half of the entries are nonzero (`nnz / (rows * cols) >= 0.5`),
    /// sparse otherwise.
    #[default]
    Auto,
    /// Always a sparse CSR matrix.
    Sparse,
    /// Always a dense row-major matrix.
    Dense,
}

/// Whether every row of a LIBSVM file must have a label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Labels {
    /// Every row starts with its label; a row starting with a feature (`idx:val`) is an
    /// error naming its line. Training and scoring read the labels.
    #[default]
    Required,
    /// A row whose first token is a feature (holds a `:`), or whose label is `?`, has no
    /// label and reads as NaN; rows with labels read as always. For predicting, which reads no label. A blank line
    /// is still no row: a row of neither label nor feature is written with a zero (`1:0`).
    Optional,
}

/// How to load a LIBSVM file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// Force the number of columns (e.g. 123 for `a9a.t`, which never uses feature 123). A row
    /// using a larger index is then an error. `None`: the largest index used in the file.
    pub dim: Option<usize>,
    /// Sparse, dense, or chosen by density.
    pub layout: Layout,
    /// The memory budget of a model: the largest number of features (index, or `dim`) a file
    /// may have, since every model over it holds 8 bytes per feature, in several copies.
    pub max_dim: usize,
    /// The longest line accepted, in bytes: a file without line ends (a binary, `/dev/zero`)
    /// is an error, not an unbounded buffer.
    pub max_line_bytes: usize,
    /// Whether a row may lack its label.
    pub labels: Labels,
}

impl LoadOptions {
    /// The default [`max_dim`](LoadOptions::max_dim): 2^26 = 67,108,864 features, 512 MiB per
    /// copy of a model.
    pub const DEFAULT_MAX_DIM: usize = 1 << 26;

    /// The default [`max_line_bytes`](LoadOptions::max_line_bytes): 64 MiB.
    pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 26;
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            dim: None,
            layout: Layout::Auto,
            max_dim: Self::DEFAULT_MAX_DIM,
            max_line_bytes: Self::DEFAULT_MAX_LINE_BYTES,
            labels: Labels::Required,
        }
    }
}
