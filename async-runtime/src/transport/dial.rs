//! The address another host dials to reach a driver: what the hints that tell workers how to
//! join say, from one place (the runtime's and the toolkit's).

/// This host's name, if the system says one.
pub fn host_name() -> Option<String> {
    #[cfg(unix)]
    {
        let mut buffer = [0u8; 256];
        // SAFETY: the buffer outlives the call, which writes at most its length.
        let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
        if status != 0 {
            return None;
        }
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        let name = std::str::from_utf8(&buffer[..end]).ok()?.trim();
        (!name.is_empty()).then(|| name.to_owned())
    }
    #[cfg(not(unix))]
    None
}

/// `endpoint` (the address a driver listens on) as a worker on another host would dial it:
/// an unspecified bind address (`0.0.0.0`, `::`) is no address to connect to, so it becomes
/// this host's name, or `<this host>` when the system says none.
///
/// ```
/// use asyncopt_runtime::transport::dialable;
///
/// assert_eq!(dialable("tcp://10.0.0.5:7000"), "tcp://10.0.0.5:7000");
/// assert!(!dialable("tcp://0.0.0.0:7000").contains("0.0.0.0"));
/// ```
pub fn dialable(endpoint: &str) -> String {
    dialable_on(endpoint, host_name().as_deref())
}

/// [`dialable`] on a host named `host` (`None`: no name).
fn dialable_on(endpoint: &str, host: Option<&str>) -> String {
    let Some((address, port)) = endpoint
        .strip_prefix("tcp://")
        .and_then(|rest| rest.rsplit_once(':'))
    else {
        return endpoint.to_owned();
    };
    match address {
        "0.0.0.0" | "[::]" | "::" | "*" => {
            format!("tcp://{}:{port}", host.unwrap_or("<this host>"))
        }
        _ => endpoint.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::dialable_on;

    #[test]
    fn an_unspecified_bind_address_becomes_the_hosts_name() {
        let named = Some("trainer-1");
        assert_eq!(
            dialable_on("tcp://0.0.0.0:7000", named),
            "tcp://trainer-1:7000"
        );
        assert_eq!(
            dialable_on("tcp://[::]:7000", named),
            "tcp://trainer-1:7000"
        );
        // A host without a name: the user fills it in.
        assert_eq!(
            dialable_on("tcp://0.0.0.0:7000", None),
            "tcp://<this host>:7000"
        );
        assert_eq!(dialable_on("tcp://*:7000", None), "tcp://<this host>:7000");
        for kept in ["tcp://10.0.0.5:7000", "tcp://127.0.0.1:7000", "tcp://h:7"] {
            assert_eq!(dialable_on(kept, named), kept);
        }
    }

    #[test]
    fn this_hosts_name_is_the_systems() {
        // Where the system names the host, the hint names it: `<this host>` only without one.
        let name = super::host_name();
        let dialed = super::dialable("tcp://0.0.0.0:7000");
        match name {
            Some(name) => assert_eq!(dialed, format!("tcp://{name}:7000")),
            None => assert_eq!(dialed, "tcp://<this host>:7000"),
        }
    }
}
