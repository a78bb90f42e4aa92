//! Sockets, framing and sessions. The driver's ROUTER socket lives on a thread of its own
//! (`DriverLink`) so that heartbeats flow while the algorithm computes; its session layer
//! (`gate`) admits workers and seals and checks every frame. Workers run their DEALER socket
//! inside their own event loop (see [`crate::worker`]).

mod driver_link;
pub mod frame;
pub(crate) mod gate;
pub mod session;

pub(crate) use driver_link::LinkConfig;

pub(crate) use driver_link::{DriverLink, Link};
pub use gate::Refusal;
pub(crate) use gate::{answer_challenge, Inbound};

/// Frames larger than this are refused unless configured otherwise (partitions of large
/// datasets are the biggest messages).
pub const DEFAULT_MAX_FRAME: usize = 512 << 20;
