//! What every test of the workspace needs, in one place: the path of a dataset the repository
//! carries (`data/`), the exact optima of `data/README.md`, scratch folders, and a slow link
//! to a driver ([`DelayRelay`]).
//!
//! ```
//! let a9a = test_support::data("a9a.xz");
//! assert!(a9a.exists());
//! assert_eq!(test_support::optimum("a9a.xz"), 0.2242095732);
//! ```

mod relay;
pub use relay::{DelayRelay, Toward};

use std::ffi::OsStr;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

/// The repository's `data/` folder.
///
/// Found from the running test's package, which cargo names at run time: every package of the
/// workspace sits one folder below its root. The folder this crate was built in is the
/// fallback; alone it would point into another clone whose build a shared target folder reused.
pub fn data_dir() -> PathBuf {
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    package.join("../data")
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

/// A new, empty scratch folder for the test `name`, unique to this process, removed when the
/// returned guard drops.
pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("asyncopt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Private whatever the umask: a checkpoint folder every user can write is refused.
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    Scratch { dir }
}

/// The id of a process that ran and is gone (`true`, waited for): what a write killed outright
/// left in its temporary file's name.
pub fn gone_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `true`: {e}"));
    child
        .wait()
        .unwrap_or_else(|e| panic!("cannot wait for `true`: {e}"));
    child.id()
}

/// A scratch folder that is removed with everything in it when dropped, so test runs do not
/// fill `/tmp`; dropped by a panic (a failing test) it is kept, for a look at what was left.
/// Reads as the folder's `Path`.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.dir
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.dir
    }
}

impl AsRef<OsStr> for Scratch {
    fn as_ref(&self) -> &OsStr {
        self.dir.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if std::fs::remove_dir_all(&self.dir).is_err() {
            // A test may have left a folder read-only (an unwritable output): open it up.
            make_writable(&self.dir);
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Gives the owner write and search rights on every folder under `dir`, so it can be emptied.
fn make_writable(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&entry.path());
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
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

/// Says that the running test is skipped, and why, on a line of its own that begins
/// `skipped test: ` and names the test: a test that cannot run here (no root for network
/// namespaces) returns and counts as passed, so the line goes straight to the standard error,
/// past the harness's capture of a passing test's output, where `.ci/run` counts and lists it.
pub fn skipped(reason: &str) {
    use std::io::Write as _;
    let current = std::thread::current();
    let test = current.name().unwrap_or("a test");
    // A line of its own even if the harness has begun one (`test NAME ... `).
    writeln!(std::io::stderr().lock(), "\nskipped test: {test}: {reason}")
        .expect("the standard error takes a line");
}

/// A named test of a test executable that runs its own tests (`harness = false`).
pub type Test = (&'static str, fn());

/// The 64-byte ZMTP 3.0 greeting of a client with the NULL mechanism: what a hand-written
/// peer sends first on a ZeroMQ port (the hostile clients of the tests).
pub fn zmtp_null_greeting() -> Vec<u8> {
    let mut greeting = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0];
    greeting.extend_from_slice(b"NULL");
    greeting.resize(64, 0);
    greeting
}

/// Runs `tests` in turn, filtered by the first free command-line argument as `cargo test NAME`
/// does (less those a `--skip NAME` names), and prints `test NAME ... ok (S s)` lines and the
/// closing `N passed, N failed`; exits with 101 on a failure. For test executables that are
/// also their workers' executable: call `run_worker_if_spawned()` before it.
pub fn run_tests(tests: &[Test]) {
    let (filter, skips) = selection(std::env::args().skip(1));
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|(name, _)| filter.as_ref().is_none_or(|f| name.contains(f.as_str())))
        .filter(|(name, _)| !skips.iter().any(|skip| name.contains(skip.as_str())))
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

/// The filter and the `--skip` names of a test executable's arguments, as libtest reads them:
/// the value of an option that takes one (`--test-threads 1`) is no filter, which would have
/// run no test and passed.
fn selection(args: impl IntoIterator<Item = String>) -> (Option<String>, Vec<String>) {
    const TAKE_A_VALUE: [&str; 7] = [
        "--test-threads",
        "--logfile",
        "--color",
        "--format",
        "--shuffle-seed",
        "-Z",
        "--skip",
    ];
    let (mut filter, mut skips) = (None, Vec::new());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if TAKE_A_VALUE.contains(&arg.as_str()) {
            let value = args.next();
            if arg == "--skip" {
                skips.extend(value);
            }
        } else if !arg.starts_with('-') && filter.is_none() {
            filter = Some(arg);
        }
    }
    (filter, skips)
}

/// What `f` returns, with the levels of the events logged on this thread while it ran: what a
/// test of a log line's level (a warning, or a quiet debug line) reads.
pub fn levels_logged<R>(f: impl FnOnce() -> R) -> (R, Vec<tracing::Level>) {
    let (returned, events) = events_logged(f);
    (
        returned,
        events.into_iter().map(|(level, _)| level).collect(),
    )
}

/// What `f` returns, with the events logged on this thread while it ran, each its level and
/// message: what a test of a log line reads.
pub fn events_logged<R>(f: impl FnOnce() -> R) -> (R, Vec<(tracing::Level, String)>) {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata};
    struct Events(Arc<Mutex<Vec<(tracing::Level, String)>>>);
    struct Message(String);
    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }
    impl tracing::Subscriber for Events {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut message = Message(String::new());
            event.record(&mut message);
            let level = *event.metadata().level();
            self.0.lock().unwrap().push((level, message.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
    let events = Arc::new(Mutex::new(Vec::new()));
    let returned = tracing::subscriber::with_default(Events(events.clone()), f);
    let events = events.lock().unwrap().clone();
    (returned, events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_of_a_test_harness_option_is_no_filter() {
        let args = |line: &str| line.split(' ').map(String::from).collect::<Vec<_>>();
        // It was the filter "1", which no test's name holds: nothing ran, and it passed.
        assert_eq!(selection(args("--test-threads 1")), (None, vec![]));
        assert_eq!(
            selection(args("--nocapture --test-threads 2 flood --skip heartbeat")),
            (Some("flood".into()), vec!["heartbeat".into()])
        );
        assert_eq!(
            selection(args("--test-threads=1 join")),
            (Some("join".into()), vec![])
        );
    }

    #[test]
    fn a_scratch_folder_is_private_and_gone_once_its_guard_drops() {
        let dir = scratch("guard-dropped");
        let path = dir.to_path_buf();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/file"), "x").unwrap();
        drop(dir);
        assert!(!path.exists(), "{} is left behind", path.display());
    }

    #[cfg(unix)]
    #[test]
    fn a_scratch_folder_with_a_read_only_folder_inside_is_gone_too() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("guard-read-only");
        let path = dir.to_path_buf();
        std::fs::create_dir(dir.join("locked")).unwrap();
        std::fs::write(dir.join("locked/file"), "x").unwrap();
        std::fs::set_permissions(dir.join("locked"), std::fs::Permissions::from_mode(0o500))
            .unwrap();
        drop(dir);
        assert!(!path.exists(), "{} is left behind", path.display());
    }

    #[test]
    fn a_scratch_folder_dropped_by_a_panic_is_kept() {
        let path =
            std::env::temp_dir().join(format!("asyncopt-guard-panicked-{}", std::process::id()));
        let panicked = catch_unwind(|| {
            let dir = scratch("guard-panicked");
            std::fs::write(dir.join("evidence"), "x").unwrap();
            panic!("a failing test");
        });
        assert!(panicked.is_err());
        let kept = path.join("evidence").is_file();
        let _ = std::fs::remove_dir_all(&path);
        assert!(kept, "{} is gone", path.display());
    }
}
