//! The `async-train` application: command line, training jobs, comparisons, and the files a
//! run leaves behind (trace CSV, summary JSON, SVG plot).

pub mod builtin;
pub mod cli;
pub mod compare;
pub mod job;
pub mod plot;
pub mod progress;
pub mod trace;
