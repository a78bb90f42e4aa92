//! `async-train`: trains an optimizer of the `algorithms` crate on a LIBSVM dataset with local
//! or remote worker processes. Run with no arguments for a built-in comparison of SGD and ASGD.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Local workers are processes of this same executable: they stop here.
    asyncopt_runtime::run_worker_if_spawned();
    async_train::cli::run(&[])
}
