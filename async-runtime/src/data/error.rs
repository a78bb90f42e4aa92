//! [`DataError`]: everything that can go wrong while reading, building or partitioning a
//! dataset. Parse errors name the file and the 1-based line, like a compiler does.

use std::path::PathBuf;

use super::libsvm::Quoted;

crate::error::debug_is_display!(DataError);

/// An error of the data layer.
#[derive(thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read (including a corrupt compressed stream).
    // The reason is in the message (it travels as text from the workers) and so is not also
    // the error's source, which would have a chain of errors print it twice.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying I/O error.
        error: std::io::Error,
    },
    /// A line of a LIBSVM file is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file being read.
        path: PathBuf,
        /// The 1-based number of the offending line.
        line: usize,
        /// What is wrong, quoting the bad token.
        message: String,
    },
    /// A row of a LIBSVM file has a feature beyond the dimension the data is read with
    /// (`--dim`, or the features of the model that reads it). A kind of its own, not a
    /// [`DataError::Parse`]: a caller such as a model scoring the file words it its own way.
    #[error(
        "{}:{line}: {} exceeds the dimension {dim} the data is read with (--dim, or the \
         features of the model that reads it)",
        path.display(), feature_named(*index, feature)
    )]
    BeyondDimension {
        /// The file being read.
        path: PathBuf,
        /// The 1-based number of the offending line.
        line: usize,
        /// The feature's 1-based index, `None` if it is past any integer (all digits, too
        /// many).
        index: Option<usize>,
        /// The feature as written, `index:value`.
        feature: String,
        /// The dimension the data is read with.
        dim: usize,
    },
    /// The file is compressed or encoded in a way that is not read (plain UTF-8 text, gzip
    /// and xz are).
    #[error(
        "{}: {what}, which is not read (plain UTF-8 text, gzip or xz are): convert it first \
         ({command} FILE), or compress the text with xz or gzip",
        path.display()
    )]
    UnreadEncoding {
        /// The file being read.
        path: PathBuf,
        /// What it is.
        what: &'static str,
        /// The command that converts it to text.
        command: &'static str,
    },
    /// The file holds no row (only blank or comment lines, or nothing at all).
    #[error("{}: the file holds no data row", path.display())]
    Empty {
        /// The file being read.
        path: PathBuf,
    },
    /// Two things that must have the same length do not.
    #[error("dimension mismatch: {what}: expected {expected}, found {found}")]
    DimensionMismatch {
        /// What was compared, e.g. "labels vs feature rows".
        what: String,
        /// The length required.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// The matrix would not fit in memory as requested: its cells overflow `usize`, or their
    /// bytes exceed the largest allocation (`isize::MAX`).
    #[error("a {rows} x {cols} dense matrix is too large")]
    TooLarge {
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
    /// The forced dimension exceeds the memory budget of a model.
    #[error(
        "{}: {dim} features exceed the memory budget of {max} features (8 bytes each per model \
         copy): raise it with --max-features if that is meant",
        path.display()
    )]
    TooManyFeatures {
        /// The file being read.
        path: PathBuf,
        /// The dimension asked for.
        dim: usize,
        /// The budget.
        max: usize,
    },
    /// The rows read so far take more memory than the host can give them.
    #[error(
        "{}: its rows up to line {line} already take {} MiB in memory, over the budget of {} \
         MiB (half the memory this process may take): read it on a host with more memory, or \
         spread it: with --data-access shared each worker holds only its partitions, and more \
         workers (--workers) hold less each",
        path.display(), held / (1 << 20), budget / (1 << 20)
    )]
    OverMemoryBudget {
        /// The file being read.
        path: PathBuf,
        /// The line the reader had reached.
        line: usize,
        /// Bytes the rows read so far hold.
        held: u64,
        /// The budget, in bytes.
        budget: u64,
    },
    /// The driver's evaluation sample takes more memory than the host can give it.
    #[error(
        "{}: the evaluation sample of --eval-rows {eval_rows} rows already takes {} MiB at \
         line {line}, over the budget of {} MiB (half the memory this process may take): \
         lower --eval-rows",
        path.display(), held / (1 << 20), budget / (1 << 20)
    )]
    SampleOverMemoryBudget {
        /// The file being scanned.
        path: PathBuf,
        /// The line the scan had reached.
        line: usize,
        /// The sample's size asked for.
        eval_rows: usize,
        /// Bytes the sample's lines hold.
        held: u64,
        /// The budget, in bytes.
        budget: u64,
    },
    /// A dense matrix would take more memory than the host can give it.
    #[error(
        "{}: a dense {rows} x {cols} matrix would take {} MiB, over the budget of {} MiB (half \
         the memory this process may take): read it on a host with more memory, or \
         spread it: with --data-access shared each worker holds only its partitions, and more \
         workers (--workers) hold less each",
        path.display(), bytes / (1 << 20), budget / (1 << 20)
    )]
    DenseOverMemoryBudget {
        /// The file being read.
        path: PathBuf,
        /// Rows of the matrix.
        rows: usize,
        /// Its columns.
        cols: usize,
        /// Bytes it would take.
        bytes: u64,
        /// The budget, in bytes.
        budget: u64,
    },
    /// A sparse matrix is structurally invalid (bad index pointer, unsorted indices, ...).
    #[error("invalid sparse matrix: {0}")]
    InvalidMatrix(String),
    /// A label the label rule refuses.
    #[error("data row {row} of {name} (blank and comment lines not counted) has label {label}, not one of the {rule}")]
    Label {
        /// The dataset.
        name: String,
        /// The 1-based row.
        row: u64,
        /// The label found.
        label: f64,
        /// The rule.
        rule: super::label::LabelRule,
    },
    /// More partitions than a file has byte ranges for workers to read (a small file).
    #[error(
        "{}: {parts} partitions cannot each hold a row of the file: workers read it in byte \
         ranges of at least 64 bytes, and it has {ranges}: use fewer workers or partitions per \
         worker, or ship the file from the driver (--data-access ship)",
        path.display()
    )]
    TooFewRanges {
        /// The file.
        path: PathBuf,
        /// Byte ranges the file has.
        ranges: usize,
        /// Partitions asked for.
        parts: usize,
    },
    /// A partition of a file would hold no row (a small file cut into many partitions).
    #[error(
        "{}: partition {partition} of {parts} would hold no row (too few rows, or too long \
         lines, for that many partitions): use fewer workers or partitions per worker, or ship \
         the file from the driver (--data-access ship)",
        path.display()
    )]
    EmptyPartition {
        /// The file.
        path: PathBuf,
        /// The partition.
        partition: usize,
        /// Partitions asked for.
        parts: usize,
    },
    /// A worker read another number of rows than the driver counted in its split.
    #[error(
        "{}: the split at bytes {start}..{end} holds {found} rows, not the {expected} the \
         driver counted: did the file change, or differ on this host?",
        path.display()
    )]
    SplitMismatch {
        /// The file.
        path: PathBuf,
        /// Where the split starts.
        start: u64,
        /// Where it ends.
        end: u64,
        /// Rows counted by the driver.
        expected: u64,
        /// Rows read.
        found: u64,
    },
    /// A shared file that is no regular file: its workers cannot read it from the middle.
    #[error(
        "{}: the workers read a shared file from the middle, which a pipe or a device does \
         not allow: ship it from the driver (--data-access ship)",
        path.display()
    )]
    NotSeekable {
        /// The file.
        path: PathBuf,
    },
    /// A shared file whose path is not UTF-8: a split order carries the path as text, so no
    /// worker could be told to read it.
    #[error(
        "{}: the workers are sent a shared file's path as text, and this path is not UTF-8: \
         rename the file, or ship it from the driver (--data-access ship)",
        path.display()
    )]
    PathNotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// A split order from the driver that no scan of a file can have produced (a range
    /// ending before it starts): refused before anything is read.
    #[error(
        "{}: the driver's split order for partition {partition} is malformed: {reason} (are \
         the driver and this worker of the same version?)",
        path.display()
    )]
    BadSplitOrder {
        /// The file the order names.
        path: PathBuf,
        /// The partition it is for.
        partition: u32,
        /// What is wrong with it.
        reason: String,
    },
    /// A worker's copy of a shared file differs from the driver's in a partition's block.
    #[error(
        "{}: bytes {start}..{end} differ from the driver's copy of the file (their CRC-32 \
         differs): every host must see the same file",
        path.display()
    )]
    ContentMismatch {
        /// The file.
        path: PathBuf,
        /// Where the block starts.
        start: u64,
        /// Where it ends.
        end: u64,
    },
    /// `partition_dataset` was asked for zero parts or for more parts than rows.
    #[error("cannot split {rows} rows into {parts} partitions (need 1 <= parts <= rows)")]
    InvalidPartition {
        /// Parts requested.
        parts: usize,
        /// Rows available.
        rows: usize,
    },
}

impl DataError {
    /// The 1-based line of the file it names, for an error of one line's text (a parse, a
    /// feature beyond the dimension): the line a read of the whole file may name an earlier
    /// bad line in place of.
    pub(crate) fn line(&self) -> Option<usize> {
        match self {
            DataError::Parse { line, .. } | DataError::BeyondDimension { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// A feature as [`DataError::BeyondDimension`] names it: ``index 9 in feature `9:1` ``, an
/// `index` past any integer (`None`) as written, the feature quoted with its control
/// characters escaped. For a caller that words the rest of the error its own way.
pub fn feature_named(index: Option<usize>, feature: &str) -> String {
    let shown = match index {
        Some(index) => index.to_string(),
        None => Quoted(feature.split(':').next().unwrap_or_default()).to_string(),
    };
    format!("index {shown} in feature {}", Quoted(feature))
}
