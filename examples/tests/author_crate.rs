//! An algorithm author's crate outside the workspace (`tests/fixtures/author-crate`, with its
//! own `[workspace]`) builds against the runtime by path, with no `[patch]`, and its own
//! synchronous and asynchronous optimizers train on real worker processes.
//!
//! The fixture builds offline from the populated cargo registry into its own target folder
//! under this workspace's `target/tmp` (the workspace's own target folder is locked while this
//! test runs), so after the first run only the changed crates rebuild.

use std::path::Path;
use std::process::Command;

fn max_error(stdout: &str, prefix: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}` in:\n{stdout}"));
    let value = line
        .split("= ")
        .nth(1)
        .and_then(|v| v.split_whitespace().next());
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number in `{line}`"))
}

#[test]
fn an_outside_crate_builds_by_path_and_trains_sync_and_async() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = root.join("tests/fixtures/author-crate/Cargo.toml");
    let manifest_text = std::fs::read_to_string(&manifest).expect("the fixture's manifest");
    assert!(
        !manifest_text
            .lines()
            .any(|line| line.trim_start().starts_with("[patch")),
        "the fixture must build without a [patch] section"
    );
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("author-crate");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Command::new(&cargo)
        .args(["build", "--release", "--offline", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        build.status.success(),
        "the author's crate does not build:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new(target.join("release/author-crate"))
        .output()
        .expect("the fixture runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the fixture failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let sync = max_error(&stdout, "sync two-output gd");
    let asynchronous = max_error(&stdout, "async linear asgd");
    assert!(sync < 1e-3, "synchronous Array2 model off by {sync}");
    assert!(
        asynchronous < 1e-2,
        "asynchronous struct model off by {asynchronous}"
    );
}

#[test]
fn every_library_crate_packages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package");
    let _ = std::fs::remove_dir_all(target.join("package"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Verifying a package builds it against the registry, where the vendored zeromq is not
    // published: the packages are checked for completeness, not built again.
    let common = [
        "--no-verify",
        "--offline",
        "--allow-dirty",
        "--exclude-lockfile",
    ];
    let workspace = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "package",
            "--workspace",
            "--exclude",
            "async-train",
            "--exclude",
            "ui-tests",
            "--exclude",
            "test-support",
        ])
        .args(common)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        workspace.status.success(),
        "cargo package failed:\n{}",
        String::from_utf8_lossy(&workspace.stderr)
    );
    let zeromq = Command::new(&cargo)
        .current_dir(&root)
        .args(["package", "--manifest-path", "vendor/zeromq/Cargo.toml"])
        .args(common)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        zeromq.status.success(),
        "cargo package of the vendored zeromq failed:\n{}",
        String::from_utf8_lossy(&zeromq.stderr)
    );
    let mut crates: Vec<String> = std::fs::read_dir(target.join("package"))
        .expect("packages written")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".crate"))
        .collect();
    crates.sort();
    assert_eq!(
        crates.len(),
        4,
        "runtime, macros, algorithms, zeromq: {crates:?}"
    );
    assert!(
        crates.iter().any(|c| c.starts_with("asyncopt-zeromq-")),
        "{crates:?}"
    );
}
