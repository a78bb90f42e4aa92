//! The files a driver grants the local workers it started, on a pipe only it holds: each
//! worker's standard input. A grant never travels over the driver's link: a peer holding
//! the token and standing in for the driver could send one there, and a name a peer chose is
//! no credential. The parent alone writes to its child's standard input.
//!
//! The driver writes a file's grant before it sends the order to read it, so the grant is in
//! the pipe when the order arrives: a worker refused a file first takes what its pipe holds
//! ([`take_from_stdin`]), without waiting, then looks again.
//!
//! On the pipe, a grant is the path's bytes and a NUL, which no Unix path holds.

use std::path::{Path, PathBuf};

/// The longest grant taken: a path the system opens is far shorter (4,096 bytes on Linux).
const MAX_GRANT: usize = 64 * 1024;

/// `path`'s grant as it goes on the pipe; why not, for a path no grant can carry.
pub(crate) fn encode(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = path_bytes(path)?;
    if bytes.is_empty() || bytes.contains(&0) || bytes.len() > MAX_GRANT {
        return Err(format!("{} cannot be granted on a pipe", path.display()));
    }
    bytes.push(0);
    Ok(bytes)
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Result<Vec<u8>, String> {
    use std::os::unix::ffi::OsStrExt;
    Ok(path.as_os_str().as_bytes().to_vec())
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Result<Vec<u8>, String> {
    path.to_str()
        .map(|text| text.as_bytes().to_vec())
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

#[cfg(unix)]
fn bytes_path(bytes: Vec<u8>) -> Result<PathBuf, String> {
    use std::os::unix::ffi::OsStringExt;
    Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

#[cfg(not(unix))]
fn bytes_path(bytes: Vec<u8>) -> Result<PathBuf, String> {
    String::from_utf8(bytes)
        .map(PathBuf::from)
        .map_err(|_| "a grant that is not UTF-8".to_owned())
}

/// Grants parsed from the pipe's bytes as they come, a grant cut between two reads whole
/// once its end came.
#[derive(Debug, Default)]
pub(crate) struct Grants {
    /// The start of a grant whose end has not come yet.
    pending: Vec<u8>,
}

impl Grants {
    /// The grants `bytes` completes; why they are not grants a driver writes (an empty
    /// one, one longer than any path), after which nothing more is to be taken.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<PathBuf>, String> {
        self.pending.extend_from_slice(bytes);
        let mut granted = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == 0) {
            let grant: Vec<u8> = self.pending.drain(..=end).take(end).collect();
            if grant.is_empty() {
                return Err("an empty grant".into());
            }
            granted.push(bytes_path(grant)?);
        }
        if self.pending.len() > MAX_GRANT {
            return Err(format!(
                "a grant of more than {MAX_GRANT} bytes, longer than any path"
            ));
        }
        Ok(granted)
    }
}

/// What this process took from its standard input so far: the paths granted, or why its
/// input holds no grants.
struct Taken {
    grants: Grants,
    granted: Vec<PathBuf>,
    failed: Option<String>,
    /// The driver closed its end: no grant comes any more.
    closed: bool,
}

/// The files granted on this process's standard input so far (all of them, each call), having
/// read what it holds without waiting; why not, when what came is no grant. Standard input is
/// the process's: it is read once, here, whichever session asks.
#[cfg(unix)]
pub(crate) fn take_from_stdin() -> Result<Vec<PathBuf>, String> {
    use std::sync::{Mutex, OnceLock};
    static TAKEN: OnceLock<Mutex<Taken>> = OnceLock::new();
    let taken = TAKEN.get_or_init(|| {
        Mutex::new(Taken {
            grants: Grants::default(),
            granted: Vec::new(),
            failed: None,
            closed: false,
        })
    });
    let mut taken = taken
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if taken.failed.is_none() && !taken.closed {
        let mut input = std::io::stdin();
        match drain(&mut input, &mut taken.grants) {
            Ok((granted, closed)) => {
                taken.granted.extend(granted);
                taken.closed = closed;
            }
            Err(why) => taken.failed = Some(why),
        }
    }
    match &taken.failed {
        Some(why) => Err(format!(
            "the grants on this worker's standard input are malformed ({why})"
        )),
        None => Ok(taken.granted.clone()),
    }
}

#[cfg(not(unix))]
pub(crate) fn take_from_stdin() -> Result<Vec<PathBuf>, String> {
    Ok(Vec::new())
}

/// Reads what `input` holds without waiting (it is made non-blocking), parsed by `grants`:
/// the grants completed and whether its writer closed it.
#[cfg(unix)]
fn drain(
    input: &mut (impl std::io::Read + std::os::fd::AsFd),
    grants: &mut Grants,
) -> Result<(Vec<PathBuf>, bool), String> {
    set_nonblocking(input.as_fd()).map_err(|e| format!("cannot read it: {e}"))?;
    let mut granted = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match input.read(&mut buffer) {
            Ok(0) => return Ok((granted, true)),
            Ok(n) => granted.extend(grants.feed(&buffer[..n])?),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok((granted, false)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read it: {e}")),
        }
    }
}

/// Makes reads and writes of `fd` return at once rather than wait.
#[cfg(unix)]
pub(crate) fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor borrowed for the call, which reads and sets its flags
    // only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The driver's end of one local worker's grants: its standard input, and what was granted
/// on it.
#[derive(Debug, Default)]
pub(crate) struct GrantPipe {
    /// `None` for a process started without a pipe, or once a write to it failed.
    input: Option<std::process::ChildStdin>,
    granted: std::collections::HashSet<PathBuf>,
}

impl GrantPipe {
    /// The pipe to `child`'s standard input, if it has one; writes to it never wait (a
    /// stopped worker that reads nothing must not hold its driver).
    pub fn of(child: &mut std::process::Child) -> GrantPipe {
        let input = child.stdin.take();
        #[cfg(unix)]
        let input = input.filter(|input| {
            set_nonblocking(std::os::fd::AsFd::as_fd(input))
                .inspect_err(|e| tracing::warn!(error = %e, "no grants to a local worker"))
                .is_ok()
        });
        GrantPipe {
            input,
            granted: Default::default(),
        }
    }

    /// Grants `path`, once: written whole before this returns, so it is in the pipe before
    /// any order sent after. Whether the worker has it granted.
    pub fn grant(&mut self, path: &Path) -> bool {
        if self.granted.contains(path) {
            return true;
        }
        let Some(input) = &mut self.input else {
            return false;
        };
        let written = encode(path)
            .and_then(|grant| std::io::Write::write_all(input, &grant).map_err(|e| e.to_string()));
        match written {
            Ok(()) => {
                self.granted.insert(path.to_path_buf());
                true
            }
            Err(error) => {
                // Part of a grant may be in the pipe: nothing written after would parse.
                tracing::warn!(%error, path = %path.display(), "cannot grant a local worker a file");
                self.input = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_cut_anywhere_parse_whole_once_their_end_comes() {
        let paths = [
            PathBuf::from("/data/a9a.svm"),
            PathBuf::from("relative/with space\nand newline.svm"),
        ];
        let mut bytes = Vec::new();
        for path in &paths {
            bytes.extend(encode(path).unwrap());
        }
        for cut in 0..=bytes.len() {
            let mut grants = Grants::default();
            let mut granted = grants.feed(&bytes[..cut]).unwrap();
            granted.extend(grants.feed(&bytes[cut..]).unwrap());
            assert_eq!(granted, paths, "cut at {cut}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_grant() {
        assert!(Grants::default().feed(b"\0").unwrap_err().contains("empty"));
        let endless = vec![b'x'; MAX_GRANT + 1];
        let said = Grants::default().feed(&endless).unwrap_err();
        assert!(said.contains("longer than any path"), "{said}");
        assert!(encode(Path::new("")).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_pipe_is_drained_without_waiting_and_its_close_is_seen() {
        use std::io::Write;
        let (mut reader, mut writer) = std::io::pipe().unwrap();
        let mut grants = Grants::default();
        writer.write_all(&encode(Path::new("/a")).unwrap()).unwrap();
        writer.write_all(b"/b").unwrap();
        // Nothing more is written yet: the read returns what came, it does not wait.
        let (granted, closed) = drain(&mut reader, &mut grants).unwrap();
        assert_eq!((granted, closed), (vec![PathBuf::from("/a")], false));
        writer.write_all(b"\0").unwrap();
        drop(writer);
        let (granted, closed) = drain(&mut reader, &mut grants).unwrap();
        assert_eq!((granted, closed), (vec![PathBuf::from("/b")], true));
    }
}
