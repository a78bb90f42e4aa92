#![deny(missing_docs)]
//! The `async-train` toolkit: the command line, training jobs, comparisons, and the files a
//! run leaves behind (trace CSV, summary JSON, SVG plot, the saved model), for the built-in
//! optimizers and for an author's own ([`Optimizer`], [`cli::run`]).
//!
//! An author's `main` gives its own optimizers the whole command line (`--algo adagrad`,
//! `compare`, `--param`, checkpoints, `evaluate`, `worker`): declare the hyperparameters the
//! optimizer reads with [`Hyper`], and the shared settings it reads with [`Setting`], or the
//! command line refuses them for it (the [`optimizer`] module shows a synchronous one).
//!
//! ```no_run
//! use async_train::{Hyper, Optimizer, Setting};
//! use asyncopt_algorithms::{Model, Params};
//! use asyncopt_runtime::{async_optimizer, Dataset, Driver};
//!
//! const ADAGRAD: &[Hyper] = &[Hyper::new("eps", 1e-8, "the denominator's floor").within(0.0, 1.0)];
//!
//! /// Asynchronous AdaGrad: minibatch gradients on the workers, per-coordinate steps here.
//! #[async_optimizer]
//! pub fn adagrad(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
//!     let eps: f64 = p.hyper(cx, "eps"); // `--param eps=..`, or the declared default
//!     let mut w: Model = Model::zeros(data.dim());
//!     let mut squares: Model = Model::zeros(data.dim());
//!     for k in 0..p.updates {
//!         broadcast!(w);
//!         barrier!(|workers| workers.idle() >= p.quorum);
//!         let g = reduce!(data.sample(p.batch, k), |batch| p.loss.gradient(batch, w.view()),
//!                         max_staleness = p.max_staleness);
//!         squares += &(&g * &g);
//!         w -= &(p.step_for(cx) * &g / (squares.mapv(f64::sqrt) + eps));
//!     }
//!     w
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     asyncopt_runtime::run_worker_if_spawned(); // worker processes stop here
//!     async_train::cli::Program::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")).run(&[
//!         Optimizer::new("adagrad", adagrad)
//!             .asynchronous()
//!             .params(ADAGRAD)
//!             .reads(&[Setting::Quorum, Setting::MaxStaleness, Setting::StalenessAware]),
//!     ])
//! }
//! ```
// The summary is one `serde_json::json!` document, deeper than the default limit allows.
#![recursion_limit = "256"]

/// `println!` that never panics: a closed standard output (`async-train ... | head -1`) must
/// not end a run before its files are written. Another failure (a full disk) is reported at
/// the end (the `stdout` module).
macro_rules! say {
    ($($arg:tt)*) => {
        crate::stdout::say(format_args!($($arg)*))
    };
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
pub mod provenance;
mod run_files;
pub mod score;
mod stdout;
pub mod trace;
pub mod watch;
pub mod words;

pub use optimizer::{Hyper, Optimizer, Setting};
