//! A small test runner for tests whose executable must also serve as the worker executable:
//! `main` first hands spawned worker processes to the runtime, then runs the tests in turn.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// A named test.
pub type Test = (&'static str, fn());

/// Runs `tests` (filtered by the first free command-line argument, as `cargo test NAME`
/// does) and prints the closing line `N passed, N failed`. Exits non-zero on a failure.
pub fn run(tests: &[Test]) {
    asyncopt_runtime::run_worker_if_spawned();
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|(name, _)| filter.as_ref().is_none_or(|f| name.contains(f.as_str())))
        .collect();
    println!("running {} tests", selected.len());
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in selected {
        let begun = Instant::now();
        match catch_unwind(AssertUnwindSafe(test)) {
            Ok(()) => {
                passed += 1;
                println!(
                    "test {name} ... ok ({:.1} s)",
                    begun.elapsed().as_secs_f64()
                );
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(101);
    }
}
