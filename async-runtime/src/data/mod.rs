//! Datasets for the optimizer: loading LIBSVM files, partitioning them among workers and
//! drawing mini-batches.
//!
//! - [`error`]: [`DataError`], what can go wrong (parse errors name file and line).
//! - [`dataset`]: [`Dataset`] (sparse CSR or dense [`Features`] plus labels) and [`Rows`], the
//!   row access used by loss functions.
//! - [`libsvm`]: the LIBSVM/SVMlight reader (plain, gzip, xz) and [`Dataset::load`] (or
//!   [`Dataset::load_numbered`], with each row's line), with [`LoadOptions`] and [`Layout`].
//! - [`partition`]: [`partition_dataset`], [`Partition`], and deterministic mini-batches
//!   ([`Batch`], [`sample_indices`]).
//! - [`split`]: how partitions are cut, over the grains of a file's text, so that the driver
//!   and workers reading their own splits agree row for row.
//! - [`shared`]: a file every worker sees, as the driver knows it ([`SharedFile`]), and the
//!   [`SplitOrder`] of each partition; `scan` opens one ([`Dataset::open_shared`]): the
//!   driver's scan and evaluation sample; [`own_split`]: a worker reading its split
//!   ([`read_split`]).
//! - [`lines`]: lines of a text stream with their offsets, shared by both sides; `checksum`:
//!   the CRC-32 of a shared file's blocks, which a worker checks against the driver's scan.
//!
//! The leaves under them, each with one job: `label` ([`LabelRule`]), `options`
//! ([`LoadOptions`], [`Layout`], [`Labels`]), `file` (opening a file whatever its compression,
//! its name, the memory budget), `gzip` (a gzip file's members) and `xz` (an xz file's
//! streams), each with no bytes after them (`trailing`), `cut_short` (a compressed file that
//! ends early, said so) and `text` (what a line holds past a byte order mark and before a
//! comment). Imports run one way: the loaders (`libsvm`,
//! `scan`, `own_split`) build [`Dataset`]s, and `dataset` imports none of them.
//!
//! ```no_run
//! use asyncopt_runtime::data::{partition_dataset, Dataset, LoadOptions, Rows};
//! let data = Dataset::load("a9a.xz", &LoadOptions::default())?;
//! let parts = partition_dataset(&data, 4, 42)?;
//! let batch = parts[0].sample(32, 0); // iteration 0's mini-batch of partition 0
//! assert_eq!(batch.len(), 32);
//! # Ok::<(), asyncopt_runtime::data::DataError>(())
//! ```

mod checksum;
mod cut_short;
pub mod dataset;
pub mod error;
pub(crate) mod file;
mod gzip;
mod host_memory;
mod label;
pub mod libsvm;
pub mod lines;
mod options;
pub mod own_split;
pub mod partition;
mod scan;
pub mod shared;
mod shipped;
pub mod split;
mod text;
mod trailing;
mod xz;

pub use dataset::{Dataset, Features, Rows};
pub use error::DataError;
pub use label::LabelRule;
pub use options::{Labels, Layout, LoadOptions};
pub use own_split::read_split;
pub use partition::{partition_dataset, partition_rows, sample_indices, Batch, Partition};
pub use shared::{LabelValues, SharedFile, SharedOptions, SplitOrder};
pub use split::{GrainPlan, RowRanges};
