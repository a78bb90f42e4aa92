//! The exit codes of the command line, and the errors that choose them.

/// The exit code of a run that ended without reaching its `--target-subopt`.
pub const EXIT_TARGET_MISSED: u8 = 3;

/// The exit code of a usage error: a flag or value the parser refuses, or a [`UsageError`].
pub const EXIT_USAGE: u8 = 2;

/// A flag's value refused after parsing (out of its range, or one the optimizer would not
/// read, or a flag missing beside another): `main` exits with [`EXIT_USAGE`], as for a flag
/// the parser refuses, with the reason as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A run ended without reaching its target: `main` exits with [`EXIT_TARGET_MISSED`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetMissed(pub String);

/// A signal stopped a run, whose files were written: `main` exits with 128 + the signal's
/// number ([`interrupt::exit_code`](crate::interrupt::exit_code)).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// The error of a command whose files `unwritten` (each error's line) could not all be
/// written: those, then how the run ended when that is an error too (a divergence, a missed
/// target), which it would otherwise hide; without them, `ended` as it is.
pub(crate) fn with_unwritten(
    unwritten: &[String],
    ended: anyhow::Result<()>,
) -> anyhow::Result<()> {
    if unwritten.is_empty() {
        return ended;
    }
    let end = ended.err().map_or(String::new(), |e| format!("; {e:#}"));
    anyhow::bail!("{}{end}", unwritten.join("; "))
}
