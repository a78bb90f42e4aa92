//! Sockets, framing and sessions. The driver's ROUTER socket lives on a thread of its own
//! (`DriverLink`) so that heartbeats flow while the algorithm computes; its session layer
//! (`gate`) admits workers and seals and checks every frame. Workers run their DEALER socket
//! inside their own event loop (see [`crate::worker`]).

mod admitted_hellos;
mod dial;
mod driver_link;
pub mod frame;
pub(crate) mod gate;
mod in_order;
mod outgoing;
pub(crate) mod said;
pub mod session;

pub use dial::{dialable, host_name};
pub(crate) use driver_link::{DriverLink, Link, LinkConfig};
pub use gate::Refusal;
pub(crate) use gate::{address_text, answer_challenge, source_text, Inbound, SessionId, Source};

/// Frames larger than this are refused unless configured otherwise (partitions of large
/// datasets are the biggest messages).
pub const DEFAULT_MAX_FRAME: usize = 512 << 20;

/// Why `endpoint` cannot be used, if it cannot: the runtime speaks ZeroMQ over TCP only (the
/// transport's other schemes would panic at bind or connect), to a host and a port the
/// transport can parse (said here, not as its syntax error at bind or connect).
pub fn endpoint_problem(endpoint: &str) -> Option<String> {
    tcp_problem(endpoint, "0 to 65535 (0: any free port)")
}

/// Why `endpoint` cannot be the driver's address a worker dials, if it cannot:
/// [`endpoint_problem`]'s rule, and neither port 0 nor the host `*`, which only a listener
/// takes (any free port, every interface) and no connection reaches.
pub fn dial_problem(endpoint: &str) -> Option<String> {
    if let Some(problem) = tcp_problem(endpoint, "1 to 65535") {
        return Some(problem);
    }
    let (host, port) = endpoint.strip_prefix("tcp://")?.rsplit_once(':')?;
    if port.parse::<u16>() == Ok(0) {
        Some(
            "port 0 is a listener's (any free port), not one to reach: give the port the \
             driver listens on, which its `start each with` line names"
                .to_owned(),
        )
    } else if host == "*" {
        Some(
            "`*` is a listener's host (every interface), not one to reach: give the driver's \
             host name or address"
                .to_owned(),
        )
    } else {
        None
    }
}

/// The address a listener binds for `endpoint`: ZeroMQ's `*` host (every interface) as
/// `0.0.0.0`, which the transport takes; any other as it is.
pub(crate) fn listen_address(endpoint: &str) -> String {
    match endpoint.strip_prefix("tcp://*:") {
        Some(port) => format!("tcp://0.0.0.0:{port}"),
        None => endpoint.to_owned(),
    }
}

/// [`endpoint_problem`], its ports said as `ports`.
fn tcp_problem(endpoint: &str, ports: &str) -> Option<String> {
    let Some(address) = endpoint.strip_prefix("tcp://") else {
        return Some(
            "not a tcp:// address: the runtime speaks ZeroMQ over TCP only \
             (e.g. tcp://127.0.0.1:5555, tcp://0.0.0.0:5555)"
                .to_owned(),
        );
    };
    // An IPv6 host is bracketed (`[::1]:5555`): its own colons are no port's.
    let host_ok = |host: &str| {
        !host.is_empty() && (!host.contains(':') || host.starts_with('[') && host.ends_with(']'))
    };
    let port = address.rsplit_once(':').filter(|&(host, _)| host_ok(host));
    match port {
        Some((_, port))
            if port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok() =>
        {
            None
        }
        _ => Some(format!(
            "not tcp://HOST:PORT with a port from {ports}, e.g. tcp://10.0.0.1:7000"
        )),
    }
}

/// Whether a ZeroMQ address is on loopback only: its host a loopback IP address (`127.*`,
/// `[::1]`) or `localhost`. Only there may a run go without a token: a driver listening beyond
/// it needs one, and a worker joining beyond it too (see [`crate::worker::run`]). A host is
/// judged by what it is, not how it starts: the transport resolves names, and one such as
/// `127.0.0.1.example.com` resolves wherever its owner points it.
pub fn is_loopback(address: &str) -> bool {
    let Some((host, _port)) = address
        .strip_prefix("tcp://")
        .and_then(|rest| rest.rsplit_once(':'))
    else {
        return false;
    };
    let ip = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    host == "localhost"
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod endpoint_tests {
    #[test]
    fn loopback_is_an_address_not_a_name_that_starts_like_one() {
        for near in [
            "tcp://127.0.0.1:5555",
            "tcp://127.8.9.10:0",
            "tcp://localhost:7000",
            "tcp://[::1]:5555",
        ] {
            assert!(super::is_loopback(near), "{near}");
        }
        // Names the transport resolves to any host; not an address at all.
        for far in [
            "tcp://127.0.0.1.example.com:5555",
            "tcp://127.attacker.example:5555",
            "tcp://localhost.example.com:5555",
            "tcp://[::ffff:10.0.0.1]:5555",
            "tcp://0.0.0.0:5555",
            "tcp://127.0.0.1",
            "127.0.0.1:5555",
        ] {
            assert!(!super::is_loopback(far), "{far}");
        }
    }

    #[test]
    fn a_driver_to_dial_has_neither_port_0_nor_the_host_star() {
        assert!(super::dial_problem("tcp://10.0.0.1:7000").is_none());
        assert!(super::dial_problem("tcp://[::1]:7000").is_none());
        let problem = |address| super::dial_problem(address).unwrap_or_default();
        assert!(problem("tcp://10.0.0.1:0").contains("port 0"));
        assert!(problem("tcp://*:7000").contains("`*`"));
        assert!(problem("tcp://10.0.0.1:7000/").contains("a port from 1 to 65535"));
        assert!(problem("ipc:///tmp/x").contains("not a tcp:// address"));
        assert_eq!(super::listen_address("tcp://*:7000"), "tcp://0.0.0.0:7000");
        assert_eq!(super::listen_address("tcp://h:7000"), "tcp://h:7000");
    }

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
        // A port the transport would refuse with a syntax error at bind or connect.
        assert!(super::endpoint_problem("tcp://0.0.0.0:0").is_none());
        assert!(super::endpoint_problem("tcp://[::1]:65535").is_none());
        for bad in [
            "tcp://10.0.0.1",
            "tcp://10.0.0.1:",
            "tcp://10.0.0.1:x",
            "tcp://0.0.0.0:*",
            "tcp://10.0.0.1:65536",
            "tcp://10.0.0.1:+7",
            "tcp://:7000",
        ] {
            let problem = super::endpoint_problem(bad).unwrap_or_default();
            assert!(
                problem.contains("a port from 0 to 65535"),
                "{bad}: {problem}"
            );
        }
    }
}
