//! This host's name and the name this program was started under: what hints and worker
//! names say, from one place.

use std::ffi::OsString;

/// This host's name, if the system says one.
pub(crate) fn name() -> Option<String> {
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

/// The name the program was started under (an author's binary built on [`run`](crate::cli::run) is not
/// `async-train`), for the examples in `--help` and the hints that name the program.
pub(crate) fn program_name(args: &[OsString]) -> String {
    args.first()
        .and_then(|arg0| std::path::Path::new(arg0).file_name())
        .and_then(|name| name.to_str())
        .filter(|name| !name.is_empty())
        .unwrap_or("async-train")
        .to_owned()
}
