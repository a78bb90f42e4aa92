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
