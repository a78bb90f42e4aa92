//! Sockets, framing and sessions. The driver's ROUTER socket lives on a thread of its own
//! (`DriverLink`) so that heartbeats flow while the algorithm computes; its session layer
//! (`gate`) admits workers and seals and checks every frame. Workers run their DEALER socket
//! inside their own event loop (see [`crate::worker`]).

mod driver_link;
pub mod frame;
pub(crate) mod gate;
pub(crate) mod said;
pub mod session;

pub(crate) use driver_link::LinkConfig;

pub(crate) use driver_link::{DriverLink, Link};
pub use gate::Refusal;
pub(crate) use gate::{answer_challenge, Inbound, SessionId};

/// Frames larger than this are refused unless configured otherwise (partitions of large
/// datasets are the biggest messages).
pub const DEFAULT_MAX_FRAME: usize = 512 << 20;

/// Why `endpoint` cannot be used, if it cannot: the runtime speaks ZeroMQ over TCP only (the
/// transport's other schemes would panic at bind or connect).
pub(crate) fn endpoint_problem(endpoint: &str) -> Option<String> {
    (!endpoint.starts_with("tcp://")).then(|| {
        "not a tcp:// address: the runtime speaks ZeroMQ over TCP only \
         (e.g. tcp://127.0.0.1:5555, tcp://0.0.0.0:5555)"
            .to_owned()
    })
}

/// Whether a ZeroMQ address is on loopback only (by its name: `127.*`, `localhost`, `[::1]`).
/// Only there may a run go without a token: a driver listening beyond it needs one, and a
/// worker joining beyond it too (see [`crate::worker::run`]).
pub(crate) fn is_loopback(address: &str) -> bool {
    let host = address
        .strip_prefix("tcp://")
        .and_then(|rest| rest.rsplit_once(':'))
        .map_or("", |(host, _)| host);
    matches!(host, "localhost" | "[::1]") || host.starts_with("127.")
}

#[cfg(test)]
mod endpoint_tests {
    #[test]
    fn only_tcp_addresses_are_taken() {
        assert!(super::endpoint_problem("tcp://127.0.0.1:5555").is_none());
        for bad in [
            "ipc:///tmp/x",
            "inproc://a",
            "udp://1.2.3.4:5",
            "127.0.0.1:5555",
            "",
        ] {
            assert!(super::endpoint_problem(bad).is_some(), "{bad}");
        }
    }
}
