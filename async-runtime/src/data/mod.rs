//! Datasets for the optimizer: loading LIBSVM files, partitioning them among workers and
//! drawing mini-batches.
//!
//! - [`error`]: [`DataError`], what can go wrong (parse errors name file and line).
//! - [`libsvm`]: the LIBSVM/SVMlight reader (plain, gzip, xz), [`LoadOptions`], [`Layout`].
//! - [`dataset`]: [`Dataset`] (sparse CSR or dense [`Features`] plus labels) and [`Rows`], the
//!   row access used by loss functions.
//! - [`partition`]: [`partition_dataset`], [`Partition`], and deterministic mini-batches
//!   ([`Batch`], [`sample_indices`]).
//!
//! ```no_run
//! use asyncopt_runtime::data::{partition_dataset, Dataset, LoadOptions, Rows};
//! let data = Dataset::load("a9a.xz", &LoadOptions::default())?;
//! let parts = partition_dataset(&data, 4, 42)?;
//! let batch = parts[0].sample(32, 0); // iteration 0's mini-batch of partition 0
//! assert_eq!(batch.len(), 32);
//! # Ok::<(), asyncopt_runtime::data::DataError>(())
//! ```

pub mod dataset;
pub mod error;
pub mod libsvm;
pub mod partition;

pub use dataset::{Dataset, Features, Rows};
pub use error::DataError;
pub use libsvm::{Layout, LoadOptions};
pub use partition::{partition_dataset, sample_indices, Batch, Partition};
