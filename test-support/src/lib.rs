//! What every test of the workspace needs, in one place: the path of a dataset the repository
//! carries (`data/`), the exact optima of `data/README.md`, and scratch folders.
//!
//! ```
//! let a9a = test_support::data("a9a.xz");
//! assert!(a9a.exists());
//! assert_eq!(test_support::optimum("a9a.xz"), 0.2242095732);
//! ```

use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository's `data/` folder.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")
}

/// The path of `file` in the repository's `data/` folder.
///
/// # Panics
/// If the file is not there: the tests carry every dataset they read.
pub fn data(file: &str) -> PathBuf {
    let path = data_dir().join(file);
    assert!(
        path.is_file(),
        "{} is missing: tests read only the datasets of data/ (data/README.md)",
        path.display()
    );
    path
}

/// The least-squares optimum `f* = min 1/(2n)|Xw - y|^2` of a dataset of `data/`, as computed
/// independently in `data/README.md`.
///
/// # Panics
/// For a file without a known optimum.
pub fn optimum(file: &str) -> f64 {
    match file {
        "cal_housing.scale.xz" => 0.2636484530,
        "cal_housing.xz" => 0.3021047514,
        "a9a.xz" => 0.2242095732,
        "w8a.xz" => 0.1774438308,
        "bio_kdd04.sub25.xz" => 0.01878437589,
        other => panic!("no known least-squares optimum for {other}"),
    }
}

/// The L2-regularised logistic optimum on a9a with lambda = 1e-4 (`data/README.md`).
pub const A9A_LOGISTIC_1E_4: f64 = 0.3245069247;

/// A new, empty scratch folder for the test `name`, unique to this process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("asyncopt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Asserts that a command succeeded and returns its standard output.
pub fn succeeded(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Asserts that a command failed as a user error should: exit code 1 (an error of the run) or
/// 2 (of usage), one line on stderr that contains `needle`, and no panic.
pub fn assert_clear_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        matches!(output.status.code(), Some(1 | 2)),
        "should fail with 1 or 2, not {:?}: {stderr}",
        output.status.code()
    );
    assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}
