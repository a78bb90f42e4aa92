//! The coordinator: the driver side of a run. It owns the worker table, decides with the
//! barrier who gets work, dispatches tasks with only the broadcast versions a worker lacks,
//! collects results with their staleness, and keeps the books of the run.

mod barrier;
mod checkpointing;
mod dispatch;
mod driver;
#[cfg(test)]
mod fake_link;
mod inbox;
mod inspect;
mod reduce;
mod report;
mod results;
mod shapes;
mod straggling;
mod table;
mod tasks;

pub use crate::combine::Combine;
pub use barrier::{asp, bsp, everyone, quorum, ssp, Barrier};
pub use dispatch::ReadSpec;
pub(crate) use dispatch::TaskSpec;
pub use driver::{Driver, Flow, Progress, ResultMeta, VersionRead};
pub(crate) use inspect::{inspect, Shape};
pub use reduce::Collected;
pub use report::{RunReport, RunStats};
pub use results::MAX_PARKED_PER_SITE;
pub use table::{WorkerInfo, WorkerTable};
