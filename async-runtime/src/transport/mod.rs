//! Sockets and framing. The driver's ROUTER socket lives on a thread of its own
//! (`DriverLink`) so that heartbeats flow while the algorithm computes; workers run their
//! DEALER socket inside their own event loop (see [`crate::worker`]).

mod driver_link;
pub mod frame;

pub(crate) use driver_link::LinkConfig;

pub(crate) use driver_link::{DriverLink, Inbound};

/// Frames larger than this are refused unless configured otherwise (partitions of large
/// datasets are the biggest messages).
pub const DEFAULT_MAX_FRAME: usize = 512 << 20;
