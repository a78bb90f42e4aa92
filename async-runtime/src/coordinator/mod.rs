//! The coordinator: the driver side of a run. It decides with the barrier who gets work,
//! dispatches tasks with only the broadcast versions a worker lacks, collects results with
//! their staleness, and keeps the books of the run.
//!
//! Each piece of its state has one owner, a plain struct with a small method API and unit
//! tests that need no socket; [`Driver`] composes them and does the I/O through a `Link`:
//!
//! | part | owns |
//! |---|---|
//! | `table::WorkerTable` | what the driver knows of each worker, a row per join (the barrier reads the live ones); the latest departed and 3 earlier incarnations of a name, older ones counted |
//! | `joins::Joins` | the budget of joins (a token bucket, its last `workers` kept for workers back after serving), how often joins and short stays are logged, whether the run started (the wait for its count ended) |
//! | `placement::Placement` | the shipped dataset, partition owners, partitions loading, splits two hosts could not read and the verdicts on them |
//! | `split_reads::SplitReads` | the driver's own reads of those splits, on threads of their own, and their verdicts |
//! | `tasks::TaskBook` | tasks in flight by sequence number, failed, written off; with the choice of partition, hung tasks, retry targets |
//! | `tasks::SiteFailures` | failures in a row of each asynchronous site |
//! | `results::ResultQueue` | results in hand, set aside per site, superseded; which results count |
//! | `shapes::SiteShapes` | the shape each site's results must have |
//! | `broadcaster::Holdings` | which broadcast versions each worker holds, what a task needs shipped |
//! | `checkpoints::Checkpoints` | the checkpoint policy, the last checkpoint and the one being written, the annex, the checkpoint resumed; whether one is due |
//! | `clock::RunClock` | training time: its start, the pauses left out, the resumed run's offset |
//! | `local::LocalWorkers` | the worker processes started on the driver's host, their replacements awaited |
//! | `stop::StopHandle` | a request from another thread (Ctrl-C) to end the run as a stop rule does |
//! | `exclusions::Exclusions` | why workers were excluded; whether all were for failing one task |
//!
//! The orchestration (`dispatch`, `reduce`, `inbox`, `checkpointing`) is `impl Driver`
//! across those parts; `fake_link` runs it against scripted workers.

mod barrier;
mod checkpointing;
mod checkpoints;
mod clock;
mod dispatch;
mod driver;
mod exclusions;
#[cfg(test)]
mod fake_link;
mod inbox;
mod inspect;
mod joins;
mod local;
mod placement;
mod reduce;
mod report;
mod result_meta;
mod results;
mod shapes;
mod split_reads;
mod stop;
mod straggling;
mod table;
mod tasks;
mod wire_time;

pub use crate::combine::Combine;
pub use barrier::{asp, bsp, everyone, quorum, ssp, Barrier};
pub use dispatch::ReadSpec;
pub(crate) use dispatch::TaskSpec;
pub use driver::{Driver, Flow, Progress};
pub(crate) use inspect::{inspect, Inspected};
pub use reduce::Collected;
pub use report::{DriverPauses, RunReport, RunStats};
pub use result_meta::{ResultMeta, VersionRead};
pub use results::MAX_PARKED_PER_SITE;
pub use stop::{StopHandle, STOP_WAITS_FOR_PASS};
pub use table::{ForgottenWorkers, WorkerInfo, WorkerTable};
