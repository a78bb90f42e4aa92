//! The log lines: tracing to standard error, filtered by the environment or the flags.

use std::io::IsTerminal;

/// Logs to stderr, filtered by `RUST_LOG`, else `ASYNC_LOG` (its older name), else by the
/// flags: warnings with `-q`, information by default, debug with `-v`, trace with `-vv`.
/// Coloured on a terminal unless `NO_COLOR` is set (and not empty).
pub(super) fn init_logging(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_env("ASYNC_LOG"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a terminal, not for a log file or a pipe, nor where NO_COLOR is set
        // to anything but the empty string (no-color.org).
        .with_ansi(std::io::stderr().is_terminal() && !no_color())
        .with_target(false)
        .try_init();
}

/// Whether the environment asks for no colours: `NO_COLOR` set and not empty.
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty())
}
