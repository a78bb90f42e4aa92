//! The name this program was started under: what hints and `--help` say, from one place
//! (this host's name is the runtime's, [`asyncopt_runtime::transport::host_name`]).

use std::ffi::OsString;

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
