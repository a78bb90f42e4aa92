//! What every test of the workspace needs, in one place: the path of a dataset the repository
//! carries (`data/`), the exact optima of `data/README.md`, and scratch folders.
//!
//! ```
//! let a9a = test_support::data("a9a.xz");
//! assert!(a9a.exists());
//! assert_eq!(test_support::optimum("a9a.xz"), 0.2242095732);
//! ```

use std::path::{Path, PathBuf};

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
