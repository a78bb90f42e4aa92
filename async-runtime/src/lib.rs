//! The runtime of the ASYNC-style distributed optimizer: a driver that coordinates worker
//! processes over ZeroMQ, with versioned broadcast, run-time barriers and asynchronous reduce.
//!
//! Algorithm authors write an `#[async_optimizer]` function with `broadcast!`, `barrier!` and
//! `reduce!`; the macro turns them into calls of this crate. Applications launch a
//! [`Driver`], call the optimizer with it, and [`finish`](Driver::finish) the run:
//!
//! ```no_run
//! asyncopt_runtime::run_worker_if_spawned(); // first thing in main: worker processes stop here
//! let mut driver = asyncopt_runtime::Driver::launch(asyncopt_runtime::ClusterConfig::local(4))?;
//! // let w = my_optimizer(&mut driver, &data, &params);
//! let report = driver.finish()?;
//! # Ok::<(), asyncopt_runtime::RuntimeError>(())
//! ```
//!
//! Workers on other hosts run the same executable, which calls [`worker::run`] with the run's
//! token; the driver waits for them with [`ClusterConfig::remote`].
#![deny(missing_docs)]

#[cfg(test)]
mod alloc_count;
pub mod auth;
mod bounded;
pub mod broadcast;
mod broadcaster;
pub mod checkpoint;
pub mod cluster;
mod combine;
pub mod coordinator;
pub mod data;
mod error;
mod grants;
pub mod history;
pub mod panics;
mod peer_text;
pub mod protocol;
pub mod regular_file;
mod result_body;
mod seconds_text;
pub mod staging;
pub mod stragglers;
pub mod task;
pub mod transport;
pub mod worker;

pub use asyncopt_macros::{async_optimizer, barrier, broadcast, reduce};
pub use auth::{Token, TokenFileError};
pub use broadcast::Broadcast;
pub use cluster::{
    run_worker_if_spawned, ClusterConfig, Series, DEFAULT_PREFETCH, MAX_KEEP_VERSIONS,
};
pub use coordinator::{
    asp, bsp, everyone, quorum, ssp, Barrier, Collected, Combine, Driver, DriverPauses, Flow,
    ForgottenWorkers, Progress, ResultMeta, RunReport, RunStats, StopHandle, VersionRead,
    WorkerInfo, WorkerTable, STOP_WAITS_FOR_PASS,
};
pub use data::{Dataset, Partition};
pub use error::{RuntimeError, TaskError};
pub use history::{History, HistorySlice, HistoryUpdate};
pub use stragglers::Stragglers;

/// What the `#[async_optimizer]` expansion calls. Not a public API: it may change at any time.
#[doc(hidden)]
pub mod __private;
