//! An algorithm author's crate outside the workspace (`tests/fixtures/author-crate`, with its
//! own `[workspace]`) builds against the runtime by path, with no `[patch]`, and its own
//! synchronous and asynchronous optimizers train on real worker processes. The README's
//! ```rust blocks build the same way, as such a crate of their own.
//!
//! The fixture builds offline from the populated cargo registry into its own target folder
//! under this workspace's `target/tmp` (the workspace's own target folder is locked while this
//! test runs), so after the first run only the changed crates rebuild. It builds in the dev
//! profile: its dependencies build unoptimized in a fifth of the time a release build takes
//! (which a fresh checkout's test run pays in full), and its problems are small.

use std::path::Path;
use std::process::Command;

#[path = "author_crate/readme_snippets.rs"]
mod readme_snippets;

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

/// The target folder of the crates built outside the workspace (whose own folder is locked
/// while the tests run): the author crate and the README's blocks share its dependencies.
fn author_target() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("author-crate")
}

/// Builds the crate of `manifest` offline, in the dev profile, into [`author_target`].
fn build_offline(manifest: &Path) -> std::process::Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(&cargo)
        .args(["build", "--offline", "--manifest-path"])
        .arg(manifest)
        .env("CARGO_TARGET_DIR", author_target())
        .output()
        .expect("cargo runs")
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
    let dir = test_support::scratch("author-local");
    let run = Command::new(built_fixture(&dir))
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

/// The fixture's crate at `manifest` built, its executable copied to `dir`: builds of the
/// fixture as written and of an edited copy share [`author_target`] and the name of their
/// executable, so each test runs a copy of its own, made while no other build can replace it.
fn built_copy(manifest: &Path, dir: &Path, name: &str) -> std::path::PathBuf {
    static BUILDS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _alone = BUILDS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let build = build_offline(manifest);
    assert!(
        build.status.success(),
        "the author's crate does not build:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let copy = dir.join(name);
    std::fs::copy(author_target().join("debug/author-crate"), &copy)
        .expect("the fixture's executable copied");
    copy
}

/// The fixture built, its executable (copied to `dir`): the driver and every worker of a
/// remote run.
fn built_fixture(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    built_copy(
        &root.join("tests/fixtures/author-crate/Cargo.toml"),
        dir,
        "author-crate",
    )
}

/// The fixture's `remote-driver` started on `token`: the process, the rest of its standard
/// output, and the address it listens on (its first line).
fn remote_driver(
    exe: &Path,
    token: &Path,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
    String,
) {
    use std::io::BufRead;
    let mut driver = Command::new(exe)
        .arg("remote-driver")
        .arg(token)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the driver starts");
    let mut stdout = std::io::BufReader::new(driver.stdout.take().expect("piped"));
    let mut first = String::new();
    stdout
        .read_line(&mut first)
        .expect("the driver's first line");
    let address = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    (driver, stdout, address)
}

/// The author's fixture started as `worker ADDRESS TOKEN_FILE NAME`.
fn hand_started_worker(exe: &Path, address: &str, token: &Path, name: &str) -> Command {
    let mut worker = Command::new(exe);
    worker.arg("worker").arg(token).args([address, name]);
    worker
}

/// The author's own executable as a driver (`ClusterConfig::remote`) and as workers started by
/// hand (`worker::run`) with a token file, as README.md's "Your own crate" shows: a worker
/// holding another token is told the tokens differ, the right ones train the optimizer.
#[test]
fn the_authors_executable_runs_its_own_remote_workers_with_a_token() {
    use std::io::Read;
    let dir = test_support::scratch("author-remote");
    let exe = built_fixture(&dir);
    let token = dir.join("run.token");
    let wrong = dir.join("wrong.token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef").expect("token file");
    std::fs::write(&wrong, "fedcba9876543210fedcba9876543210").expect("token file");
    let (mut driver, mut stdout, address) = remote_driver(&exe, &token);
    let refused = hand_started_worker(&exe, &address, &wrong, "intruder")
        .output()
        .expect("the worker runs");
    assert!(
        !refused.status.success(),
        "a worker of another token joined"
    );
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("does not match this worker's token"),
        "the worker does not say why: {said}"
    );
    let workers: Vec<_> = ["w0", "w1"]
        .into_iter()
        .map(|name| {
            hand_started_worker(&exe, &address, &token, name)
                .spawn()
                .expect("the worker starts")
        })
        .collect();
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .expect("the driver's output");
    assert!(driver.wait().expect("the driver ends").success(), "{rest}");
    for mut worker in workers {
        assert!(worker.wait().expect("the worker ends").success());
    }
    let error = max_error(&rest, "remote two-output gd");
    assert!(error < 1e-3, "remote run off by {error}");
}

/// The fixture with one closure's body changed on the same lines (`- target` becomes
/// `- 2.0 * target`), as a crate of its own under `target/tmp`: its tasks keep their ids
/// (module path, function, line and column).
fn edited_fixture() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().expect("the workspace's folder");
    let fixture = root.join("tests/fixtures/author-crate");
    let krate = Path::new(env!("CARGO_TARGET_TMPDIR")).join("author-crate-edited");
    std::fs::create_dir_all(krate.join("src")).expect("the crate's folder");
    let manifest = std::fs::read_to_string(fixture.join("Cargo.toml")).expect("the manifest");
    let runtime = format!(
        "path = {:?}",
        root.join("async-runtime").display().to_string()
    );
    let manifest = manifest.replace("path = \"../../../async-runtime\"", &runtime);
    assert!(
        manifest.contains(&runtime),
        "the fixture's runtime path moved"
    );
    // A feature of its own gives the copy units of its own in the shared target folder: cargo
    // hashes a workspace root's package by its path relative to the root, the same for both.
    let manifest = format!("{manifest}\n[features]\ndefault = [\"edited\"]\nedited = []\n");
    let main = std::fs::read_to_string(fixture.join("src/main.rs")).expect("the source");
    let original = "let r = rows.dot(i, w.column(j)) - target;";
    assert_eq!(
        main.matches(original).count(),
        1,
        "the fixture's closure changed"
    );
    let edited = main.replace(original, "let r = rows.dot(i, w.column(j)) - 2.0 * target;");
    // Written only when changed: an unchanged file keeps the build cached.
    for (path, text) in [
        (krate.join("Cargo.toml"), manifest),
        (krate.join("src/main.rs"), edited),
    ] {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text).expect("the edited crate");
        }
    }
    std::fs::copy(fixture.join("Cargo.lock"), krate.join("Cargo.lock")).expect("Cargo.lock");
    krate.join("Cargo.toml")
}

/// A worker built from a source whose closure computes something else on the same lines (the
/// same task ids) is refused as another build, rather than admitted to compute wrong results.
#[test]
fn a_worker_whose_closure_changed_on_the_same_lines_is_refused() {
    let dir = test_support::scratch("author-edited");
    let exe = built_fixture(&dir);
    let edited = built_copy(&edited_fixture(), &dir, "author-crate-edited");
    let token = dir.join("run.token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef").expect("token file");
    let (mut driver, _stdout, address) = remote_driver(&exe, &token);
    let refused = hand_started_worker(&edited, &address, &token, "edited")
        .output()
        .expect("the worker runs");
    // The driver waits for workers it will never get: it is done with.
    let _ = driver.kill();
    let _ = driver.wait();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "a worker of the edited build was admitted: {said}"
    );
    assert!(
        said.contains("another build"),
        "the worker does not say it runs another build: {said}"
    );
}

/// The README's complete ```rust blocks compile against the current API: a throwaway crate
/// under `target/tmp` (never in the repository) builds them, sharing the author crate's target
/// folder, where the dependencies are already built.
#[test]
fn the_readme_rust_blocks_compile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().expect("the workspace's folder");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let modules = readme_snippets::modules(&readme);
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let krate = tmp.join("readme-snippets");
    let _ = std::fs::remove_dir_all(&krate);
    std::fs::create_dir_all(krate.join("src")).expect("the crate's folder");
    std::fs::write(krate.join("Cargo.toml"), readme_snippets::manifest(&root)).expect("manifest");
    // The workspace's lock file: the same versions as the workspace, so nothing new to build.
    std::fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).expect("Cargo.lock");
    std::fs::write(
        krate.join("src/main.rs"),
        readme_snippets::main_rs(&modules),
    )
    .expect("main");
    for m in &modules {
        std::fs::write(krate.join(format!("src/{}.rs", m.name)), &m.text).expect("module");
    }
    let build = build_offline(&krate.join("Cargo.toml"));
    assert!(
        build.status.success(),
        "a ```rust block of README.md no longer compiles (each {}/src/MODULE.rs is one block, \
         wrapped; its first line names the block):\n{}",
        krate.display(),
        String::from_utf8_lossy(&build.stderr)
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
