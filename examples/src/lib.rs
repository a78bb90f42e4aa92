//! The `async-train` toolkit: the command line, training jobs, comparisons, and the files a
//! run leaves behind (trace CSV, summary JSON, SVG plot, the saved model), for the built-in
//! optimizers and for an author's own ([`Optimizer`], [`cli::run`]).
// The summary is one `serde_json::json!` document, deeper than the default limit allows.
#![recursion_limit = "256"]

/// `println!` that never panics: a closed standard output (`async-train ... | head -1`) must
/// not end a run before its files are written.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics, for the same reason, and writes its line in one piece.
macro_rules! say_err {
    ($($arg:tt)*) => {{
        let _ = asyncopt_runtime::cluster::write_line(
            &mut std::io::stderr().lock(),
            format_args!($($arg)*),
        );
    }};
}

/// `bail!` with a [`cli::UsageError`]: a flag's value the command refuses after parsing, which
/// exits with [`cli::EXIT_USAGE`] as the parser's own refusals do.
macro_rules! bail_usage {
    ($($arg:tt)*) => {
        return Err(crate::cli::UsageError(format!($($arg)*)).into())
    };
}

pub mod builtin;
pub mod cli;
pub mod compare;
pub mod even_points;
mod host;
pub mod interrupt;
pub mod job;
pub mod model;
pub mod model_file;
pub mod optimizer;

pub mod plot;
pub mod progress;
mod run_files;
pub mod score;
pub mod trace;
pub mod watch;

pub use optimizer::{Hyper, Optimizer, Setting};
