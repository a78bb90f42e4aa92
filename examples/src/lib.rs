//! The `async-train` toolkit: the command line, training jobs, comparisons, and the files a
//! run leaves behind (trace CSV, summary JSON, SVG plot, the saved model), for the built-in
//! optimizers and for an author's own ([`Optimizer`], [`cli::run`]).

pub mod builtin;
pub mod cli;
pub mod compare;
pub mod interrupt;
pub mod job;
pub mod model;
pub mod model_file;
pub mod optimizer;
pub mod plot;
pub mod progress;
pub mod trace;
pub mod watch;

pub use optimizer::{Hyper, Optimizer};
