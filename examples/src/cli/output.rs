//! What the commands write: outputs that would destroy an input refused, `-` for standard
//! output.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::trace::{same_file, write_whole};

/// Refuses an output `flag` names when it is one of the command's `inputs` (name, path):
/// writing it would destroy what the user came with.
pub(super) fn refuse_overwriting(
    flag: &str,
    out: &Path,
    inputs: &[(&str, &PathBuf)],
) -> Result<()> {
    match inputs.iter().find(|(_, input)| same_file(input, out)) {
        Some((name, _)) => bail_usage!("{flag} {} would overwrite the {name}", out.display()),
        None => Ok(()),
    }
}

/// Whether a command's output path is `-`, standard output.
pub(super) fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

/// Writes `text` to `path`, or to standard output for `-`, where a reader that stops early (as
/// `| head` does) is no failure.
pub(super) fn write_output(path: &Path, text: &str) -> Result<()> {
    if is_stdout(path) {
        return match std::io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(e).context("cannot write to standard output")
            }
            _ => Ok(()),
        };
    }
    write_whole(path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}
