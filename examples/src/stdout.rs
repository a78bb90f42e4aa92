//! The command's lines on standard output: written without panicking, a closed pipe
//! (`async-train ... | head -1`) ignored, and any other failure (a full disk behind `> file`)
//! kept, for the command to report once its files are written.

use std::io::Write as _;
use std::sync::Mutex;

/// The first failure to write to standard output that a closed pipe does not explain.
static FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// Writes `line` and a newline to standard output; a failure is kept, not returned.
pub(crate) fn say(line: std::fmt::Arguments) {
    if let Err(error) = writeln!(std::io::stdout(), "{line}") {
        note(&error);
    }
}

/// Keeps `error`, a failure to write to standard output, unless a closed pipe explains it or
/// an earlier one is kept.
pub(crate) fn note(error: &std::io::Error) {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        return;
    }
    let mut failure = FAILURE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    failure.get_or_insert_with(|| format!("cannot write to standard output: {error}"));
}

/// The failure kept, if standard output could not be written.
pub(crate) fn failure() -> Option<String> {
    FAILURE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}
