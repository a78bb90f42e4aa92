//! The command line: `async-train [--algo NAME ...]`, `async-train compare ...`,
//! `async-train evaluate|predict --model M [--data D]`, `async-train worker --driver ADDR`.
//! With no arguments at all it runs the built-in comparison.
//!
//! - `entry`: [`run`], [`run_from`] and [`main_from`], from the arguments to an exit code;
//! - `exit`: the exit codes and the errors that choose them ([`UsageError`], ...);
//! - `args` and `parsers`: the flags ([`Cli`], [`RunArgs`]) and their value parsers;
//! - [`numbers`]: the numeric flags' value parsers, which `async-bench` shares;
//! - `spec`: from the flags to a job ([`RunArgs::job`]), every value checked;
//! - `train`, `compare`, `score` (`evaluate`, `predict`) and `worker`: the commands;
//! - `scored_data`: the built-in set `evaluate` and `predict` read without `--data`;
//! - `output` and `logging`: where the commands write, and their log lines.

mod args;
mod compare;
mod entry;
mod exit;
mod logging;
pub mod numbers;
mod output;
mod parsers;
mod score;
mod scored_data;
mod spec;
mod train;
mod worker;

pub use args::{Cli, DataAccessName, LossName, RunArgs, AUTO_SHARED_BYTES};
pub use entry::{main_from, run, run_from, Program};
pub(crate) use exit::with_unwritten;
pub use exit::{Interrupted, TargetMissed, UsageError, EXIT_TARGET_MISSED, EXIT_USAGE};
pub use spec::{builtin_comparison, DEFAULT_LOGISTIC_LAMBDA, DEFAULT_UPDATES};
