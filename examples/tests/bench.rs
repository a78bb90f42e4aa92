//! `async-bench` runs outside the test suite, so a part of it could break unseen: each part
//! runs here once, short (a few workers, the small sets of `data/`, small counts; the faults
//! part's stops of 1 s, under the liveness timeout: a long stop's cost is the system suite's),
//! in turn, so that one part's load does not skew another's runs. Each writes into a scratch
//! folder, never `bench/`, and its figures are checked for what they say, never for how fast.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use test_support::{assert_clear_error, data, data_dir, scratch, succeeded};

const BENCH: &str = env!("CARGO_BIN_EXE_async-bench");

fn main() {
    test_support::run_tests(&[
        (
            "the_stragglers_part_writes_one_row_per_seed_and_every_pair_reaches_its_targets",
            stragglers,
        ),
        (
            "the_session_part_writes_every_frame_size_and_both_modes_of_whole_runs",
            session,
        ),
        (
            "the_paper_part_writes_one_entry_and_one_figure_per_setting_and_pair",
            paper,
        ),
        (
            "the_scale_part_writes_one_row_per_worker_count_of_every_result",
            scale,
        ),
        (
            "the_splits_part_writes_both_modes_per_size_and_keeps_no_generated_file",
            splits,
        ),
        (
            "the_faults_part_writes_one_row_per_fault_and_algorithm_and_the_run_survives_each",
            faults,
        ),
        (
            "a_signal_during_the_splits_part_removes_its_generated_file",
            splits_signalled,
        ),
        (
            "a_signal_during_the_splits_part_keeps_its_sizes_done_as_partial_figures",
            splits_signalled_after_a_size,
        ),
        (
            "a_signal_during_the_paper_part_keeps_its_runs_done_as_partial_figures",
            paper_signalled,
        ),
        (
            "a_signal_during_the_scale_part_keeps_its_sizes_done_as_partial_figures",
            scale_signalled,
        ),
        (
            "a_value_repeated_in_a_list_flag_is_refused_before_any_run",
            repeated_values,
        ),
        (
            "a_missing_dataset_ends_a_part_in_one_line_before_any_run",
            missing_dataset,
        ),
        (
            "a_run_that_failed_before_its_first_update_is_said_failed_with_no_figures",
            failed_before_first_update,
        ),
        (
            "an_output_that_cannot_take_the_figures_ends_a_part_in_one_line_before_any_run",
            unwritable_output,
        ),
        (
            "an_out_that_is_no_regular_file_or_too_long_is_refused_before_it_is_read",
            special_output,
        ),
    ]);
}

/// Runs `async-bench ARGS --out DIR/figures.json` from `dir` (so that a relative default lands
/// there too), with the large sets looked for in `data/` only; returns the figures file and
/// what the part said on stderr as it ran.
fn bench(dir: &Path, args: &[&str]) -> (Value, String) {
    let figures = dir.join("figures.json");
    let output = Command::new(BENCH)
        .args(args)
        .arg("--out")
        .arg(&figures)
        .current_dir(dir)
        .env("ASYNC_DATA_DIR", data_dir())
        .env("RUST_LOG", "error")
        .output()
        .expect("async-bench starts");
    succeeded(&output);
    let text = std::fs::read_to_string(&figures).expect("the figures file");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (serde_json::from_str(&text).expect("JSON"), stderr)
}

/// Asserts that `said` holds the line `first`, said before `then`.
fn said_before(said: &str, first: &str, then: &str) {
    let at = |text: &str| {
        said.find(text)
            .unwrap_or_else(|| panic!("no `{text}` in:\n{said}"))
    };
    assert!(at(first) < at(then), "`{first}` after `{then}` in:\n{said}");
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn positive(value: &Value) -> bool {
    value.as_f64().is_some_and(|x| x > 0.0)
}

fn stragglers() {
    let dir = scratch("bench-stragglers");
    let (dense, sparse) = (data("bio_kdd04.sub25.xz"), data("reviews_tfidf.sub8.xz"));
    let (figures, said) = bench(
        &dir,
        &[
            "stragglers",
            "--data",
            path(&dense),
            "--sparse-data",
            path(&sparse),
            "--workers",
            "2",
            "--seeds",
            "7,8",
            "--time",
            "60",
        ],
    );
    assert_eq!(figures["workers"], 2, "{figures}");
    assert_eq!(figures["time_cap_s"], 60.0, "{figures}");
    assert_eq!(figures["seeds"], serde_json::json!([7, 8]), "{figures}");
    let per_seed = figures["asgd_vs_sgd_per_seed"].as_array().expect("rows");
    assert_eq!(per_seed.len(), 2, "{figures}");
    for (row, seed) in per_seed.iter().zip([7, 8]) {
        assert_eq!(row["seed"], seed, "{row}");
        for algo in ["sgd", "asgd"] {
            assert!(row["failures"][algo].is_null(), "{row}");
            assert!(positive(&row["time_to_target_s"][algo]), "{row}");
            assert!(row["updates"][algo].as_u64() >= Some(1), "{row}");
        }
        assert!(positive(&row["asgd_throughput"]["results_per_s"]), "{row}");
    }
    // The variance-reduced pairs reach their targets, plain and preconditioned.
    for algo in ["saga", "asaga"] {
        assert!(positive(&figures["vr_time_to_target_s"][algo]), "{figures}");
        let preconditioned = &figures["preconditioned_vr"];
        assert!(
            positive(&preconditioned["time_to_target_s"][algo]),
            "{figures}"
        );
        assert!(
            preconditioned["updates"][algo].as_u64() >= Some(1),
            "{figures}"
        );
    }
    let broadcast = &figures["partial_broadcast"];
    assert_eq!(broadcast["features"], 8462, "{broadcast}");
    let full = broadcast["full_bytes"].as_u64().expect("full bytes");
    let partial = broadcast["partial_bytes"].as_u64().expect("partial bytes");
    assert!(0 < partial && partial <= full, "{broadcast}");
    // Runs of minutes each: every one is told as it ends, not only the figures at the end.
    for seed in [7, 8] {
        for algo in ["sgd", "asgd"] {
            let line = format!("seed {seed}: {algo}: objective");
            assert!(said.contains(&line), "no `{line}` in:\n{said}");
        }
    }
    assert_eq!(said.matches("saga: objective").count(), 4, "{said}");
    // Reading a large file takes seconds: said before, not only its size once read.
    said_before(
        &said,
        &format!("reading {}", path(&dense)),
        "bio_kdd04.sub25.xz: ",
    );
    said_before(
        &said,
        &format!("reading {}", path(&sparse)),
        "partial broadcast on",
    );
    assert_eq!(
        said.matches("preconditioned asaga: objective").count(),
        1,
        "{said}"
    );
    // A partial run over the same file: its settings replace those above, so the figures it
    // did not remake (made with 2 workers, a 60 s cap) must not stay beside them.
    let (after, _) = bench(
        &dir,
        &[
            "--data",
            path(&dense),
            "--workers",
            "3",
            "--seeds",
            "8",
            "--time",
            "10",
            "--sgd-only",
        ],
    );
    assert_eq!(after["workers"], 3, "{after}");
    assert_eq!(after["time_cap_s"], 10.0, "{after}");
    assert_eq!(after["seeds"], serde_json::json!([8]), "{after}");
    for key in [
        "vr_target_subopt",
        "vr_time_to_target_s",
        "speedup_asaga_over_saga",
        "vr_failures",
        "preconditioned_vr",
        "history_bytes",
        "partial_broadcast",
    ] {
        assert!(
            figures.get(key).is_some(),
            "{key} in the full run: {figures}"
        );
        assert!(
            after.get(key).is_none(),
            "{key} left from another run: {after}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn session() {
    let dir = scratch("bench-session");
    let dense = data("bio_kdd04.sub25.xz");
    let (figures, said) = bench(
        &dir,
        &[
            "session",
            "--data",
            path(&dense),
            "--workers",
            "2",
            "--updates",
            "200",
            "--repeats",
            "1",
            "--seal-mib",
            "1",
        ],
    );
    let cost = &figures["session_cost"];
    assert_eq!(cost["seal_mib_per_batch"], 1, "{cost}");
    // As every part's: its timings mean little beside other work.
    assert!(cost["load_average_before"].as_f64() >= Some(0.0), "{cost}");
    let frames = cost["per_frame"].as_array().expect("rows");
    assert_eq!(frames.len(), 5, "{cost}");
    for frame in frames {
        assert!(frame["body_bytes"].as_u64() >= Some(96), "{frame}");
        assert!(positive(&frame["mac_seal_open_ns"]), "{frame}");
        assert!(positive(&frame["encrypt_seal_open_ns"]), "{frame}");
    }
    let runs = &cost["asgd_runs"];
    assert_eq!(runs["updates"], 200, "{runs}");
    assert_eq!(runs["repeats"], 1, "{runs}");
    assert!(positive(&runs["mac_us_per_result"]), "{runs}");
    assert!(positive(&runs["encrypt_us_per_result"]), "{runs}");
    for mode in ["encrypt false", "encrypt true"] {
        assert_eq!(said.matches(mode).count(), 1, "one line per run: {said}");
    }
    said_before(&said, &format!("reading {}", path(&dense)), "encrypt false");
    std::fs::remove_dir_all(&dir).ok();
}

fn paper() {
    let dir = scratch("bench-paper");
    let figures_dir = dir.join("paper");
    let (figures, said) = bench(
        &dir,
        &[
            "paper",
            "--datasets",
            "a9a",
            "--settings",
            "0.3,cloud",
            "--pairs",
            "sgd,saga",
            "--workers",
            "2",
            "--partitions-per-worker",
            "2",
            "--time",
            "60",
            "--figures-dir",
            path(&figures_dir),
        ],
    );
    let paper = &figures["paper"];
    assert_eq!(paper["workers"], 2, "{paper}");
    assert_eq!(paper["partitions_per_worker"], 2, "{paper}");
    let runs = paper["runs"].as_object().expect("entries");
    let mut keys: Vec<&str> = runs.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "a9a/saga/cloud",
            "a9a/saga/intensity-0.3",
            "a9a/sgd/cloud",
            "a9a/sgd/intensity-0.3",
        ]
    );
    for (key, entry) in runs {
        let (sync, asynchronous) = if key.contains("/sgd/") {
            ("sgd", "asgd")
        } else {
            ("saga", "asaga")
        };
        for algo in [sync, asynchronous] {
            let run = &entry[algo];
            assert!(run["failure"].is_null(), "{key}: {run}");
            assert!(positive(&run["time_to_target_s"]), "{key}: {run}");
            assert!(run["updates"].as_u64() >= Some(1), "{key}: {run}");
        }
        let figure = Path::new(entry["figure"].as_str().expect("its figure"));
        assert!(figure.starts_with(&figures_dir), "{key}: {figure:?}");
        assert!(figure.is_file(), "{key}: {figure:?}");
    }
    assert!(figures_dir.join("speedup-vs-intensity.png").is_file());
    for setting in ["intensity-0.3", "cloud"] {
        for algo in ["sgd", "asgd", "saga", "asaga"] {
            let line = format!("a9a {setting}: {algo}: objective");
            assert!(said.contains(&line), "no `{line}` in:\n{said}");
        }
    }
    said_before(&said, "reading ", "a9a.xz: ");
    std::fs::remove_dir_all(&dir).ok();
}

fn scale() {
    let dir = scratch("bench-scale");
    let (figures, said) = bench(&dir, &["scale", "--workers", "2,3", "--results", "300"]);
    let sizes = figures["driver_scale"]["sizes"].as_array().expect("rows");
    let workers: Vec<u64> = sizes.iter().filter_map(|s| s["workers"].as_u64()).collect();
    assert_eq!(workers, [2, 3], "{figures}");
    for size in sizes {
        assert_eq!(size["results"], 300, "{size}");
        assert!(positive(&size["results_per_s"]), "{size}");
    }
    for workers in ["   2 workers:", "   3 workers:"] {
        assert!(said.contains(workers), "no `{workers}` in:\n{said}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn splits() {
    let dir = scratch("bench-splits");
    let generated = dir.join("generated");
    std::fs::create_dir(&generated).expect("the folder of the generated files");
    let (figures, said) = bench(
        &dir,
        &[
            "splits",
            "--sizes-mb",
            "2,3",
            "--workers",
            "2",
            "--dir",
            path(&generated),
        ],
    );
    let sizes = figures["own_splits"]["sizes"].as_array().expect("rows");
    assert_eq!(sizes.len(), 2, "{figures}");
    for (size, mb) in sizes.iter().zip([2, 3]) {
        assert!(
            size["file_bytes"].as_u64() >= Some(mb * 1_000_000),
            "{size}"
        );
        let rows = size["rows"].as_u64().expect("rows");
        assert!(rows > 0, "{size}");
        for mode in ["shared", "ship"] {
            // A mode that failed is written as `{"failed": reason}`: neither may.
            let probe = &size[mode];
            assert!(probe.get("failed").is_none(), "{mode}: {probe}");
            assert!(positive(&probe["first_update_s"]), "{mode}: {probe}");
            assert_eq!(probe["rows"], rows, "{mode}: {probe}");
        }
        // Shipping sends the partitions; with own splits the workers read them.
        let sent = |mode: &str| size[mode]["data_bytes_sent"].as_u64().expect("bytes sent");
        assert!(sent("shared") < sent("ship"), "{size}");
    }
    // Writing the file and each driver take seconds at the default sizes: said as they begin.
    said_before(&said, "generating ", "generated ");
    for mode in ["shared", "ship"] {
        said_before(&said, &format!("{mode}: a driver"), &format!("{mode}: {{"));
    }
    let left = std::fs::read_dir(&generated).expect("the folder").count();
    assert_eq!(left, 0, "the generated files are deleted");
    for mode in ["shared: {", "ship: {"] {
        assert_eq!(said.matches(mode).count(), 2, "one line per probe: {said}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// SIGTERM (a batch scheduler's, `timeout`'s) or Ctrl-C while the file is generated or probed
/// ends the part with the file removed: the signal's default action left up to 1.5 GB in the
/// temporary folder.
#[cfg(unix)]
fn splits_signalled() {
    let dir = scratch("bench-splits-signalled");
    let generated = dir.join("generated");
    std::fs::create_dir(&generated).expect("the folder of the generated files");
    let child = start_splits(&dir, "300", &generated, &dir.join("figures.json"));
    // Signalled once the file is being written into its folder.
    let begun = std::time::Instant::now();
    let writing = || {
        let folders = std::fs::read_dir(&generated).expect("the folder");
        folders.flatten().any(|folder| {
            std::fs::read_dir(folder.path()).is_ok_and(|files| {
                files
                    .flatten()
                    .any(|f| f.metadata().is_ok_and(|m| m.len() > 0))
            })
        })
    };
    while !writing() {
        assert!(
            begun.elapsed() < std::time::Duration::from_secs(120),
            "no generated file in sight"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: a signal to the child this test started and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let output = child.wait_with_output().expect("async-bench ends");
    let said = String::from_utf8_lossy(&output.stderr);
    let left: Vec<_> = std::fs::read_dir(&generated)
        .expect("the folder")
        .flatten()
        .map(|f| f.path())
        .collect();
    assert!(
        left.is_empty(),
        "the generated files are left: {left:?}; {said}"
    );
    assert_eq!(output.status.code(), Some(143), "{said}");
    assert!(
        said.contains("stopped by a signal; the generated folder"),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Starts `async-bench splits` from `dir` on files of `sizes_mb` generated in `generated`, its
/// figures to `out`, its output piped.
#[cfg(unix)]
fn start_splits(dir: &Path, sizes_mb: &str, generated: &Path, out: &Path) -> std::process::Child {
    Command::new(BENCH)
        .args(["splits", "--sizes-mb", sizes_mb, "--workers", "1", "--dir"])
        .arg(generated)
        .arg("--out")
        .arg(out)
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("async-bench starts")
}

#[cfg(not(unix))]
fn splits_signalled() {}

/// A signal after a size was measured kept nothing of it (the part exited at once, its
/// figures unwritten), where every other part keeps its runs done as partial figures: the
/// size done is written, marked partial, and the generated file is still removed.
#[cfg(unix)]
fn splits_signalled_after_a_size() {
    let dir = scratch("bench-splits-signalled-later");
    let generated = dir.join("generated");
    std::fs::create_dir(&generated).expect("the folder of the generated files");
    let out = dir.join("figures.json");
    let child = start_splits(&dir, "1,300", &generated, &out);
    // Signalled once the second size's file is being written: the first is measured.
    let begun = std::time::Instant::now();
    let second_begun = || {
        let folders = std::fs::read_dir(&generated).expect("the folder");
        folders.flatten().any(|folder| {
            let file = folder.path().join("generated-300mb.svm");
            std::fs::metadata(file).is_ok_and(|m| m.len() > 0)
        })
    };
    while !second_begun() {
        assert!(
            begun.elapsed() < std::time::Duration::from_secs(120),
            "no second generated file in sight"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: a signal to the child this test started and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let output = child.wait_with_output().expect("async-bench ends");
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{said}");
    let left: Vec<_> = std::fs::read_dir(&generated)
        .expect("the folder")
        .flatten()
        .collect();
    assert!(left.is_empty(), "the generated files are left: {said}");
    assert!(
        said.contains("splits stopped by a signal after 1 of 2 runs; figures written to")
            && said.contains("marked partial"),
        "{said}"
    );
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}: {said}"));
    let figures: Value = serde_json::from_str(&text).expect("JSON");
    let splits = &figures["own_splits"];
    assert_eq!(runs_done(splits, "splits", 2), 1);
    let sizes = splits["sizes"].as_array().expect("rows");
    assert_eq!(sizes.len(), 1, "{splits}");
    assert!(positive(&sizes[0]["shared"]["first_update_s"]), "{splits}");
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(not(unix))]
fn splits_signalled_after_a_size() {}

/// The processes whose parent is `parent`.
#[cfg(unix)]
fn children_of(parent: u32) -> Vec<u32> {
    let entries = std::fs::read_dir("/proc").expect("/proc");
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The parent is the second field after the command's closing parenthesis.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1) == Some(&parent.to_string())
        })
        .collect()
}

/// Runs `async-bench ARGS --out DIR/figures.json` from `dir`, signals it with `signal` once
/// it said `done` (a run over) and a later run's workers are up, and checks that it exits
/// 128 + `signal`, leaves none of those workers and says `PART stopped by a signal after N of
/// PLANNED runs` and where the figures are; returns what it said and its figures.
#[cfg(unix)]
fn signalled(dir: &Path, args: &[&str], done: &str, signal: i32, planned: u64) -> (String, Value) {
    use std::io::BufRead;
    let out = dir.join("figures.json");
    let mut child = Command::new(BENCH)
        .args(args)
        .args(["--out", path(&out)])
        .current_dir(dir)
        .env("ASYNC_DATA_DIR", data_dir())
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("async-bench starts");
    let stderr = std::io::BufReader::new(child.stderr.take().expect("its stderr"));
    let mut said = String::new();
    let mut workers = Vec::new();
    let mut lines = stderr.lines();
    for line in lines.by_ref() {
        let line = line.expect("a line");
        said += &line;
        said.push('\n');
        if line.contains(done) {
            let begun = std::time::Instant::now();
            while workers.is_empty() {
                assert!(
                    begun.elapsed() < std::time::Duration::from_secs(120),
                    "no worker process in sight: {said}"
                );
                std::thread::sleep(std::time::Duration::from_millis(2));
                workers = children_of(child.id());
            }
            // SAFETY: a signal to the child this test started and has not reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            break;
        }
    }
    for line in lines {
        said += &line.expect("a line");
        said.push('\n');
    }
    let status = child.wait().expect("async-bench ends");
    assert_eq!(status.code(), Some(128 + signal), "{said}");
    assert!(!workers.is_empty(), "no worker process seen: {said}");
    for pid in &workers {
        let left = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(left.is_empty(), "worker {pid} is left: {left}; {said}");
    }
    let part = args[0];
    assert!(
        said.contains(&format!("{part} stopped by a signal after "))
            && said.contains(&format!(" of {planned} runs;"))
            && said.contains(&format!("figures written to {}", out.display()))
            && said.contains("marked partial"),
        "{said}"
    );
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}: {said}"));
    let figures: Value = serde_json::from_str(&text).expect("JSON");
    (said, figures)
}

/// The partial key of a part's figures: the part named, its runs done (at least one, not
/// all of `planned`).
#[cfg(unix)]
fn runs_done(figures: &Value, part: &str, planned: u64) -> u64 {
    let partial = &figures["partial"];
    assert_eq!(partial["part"], part, "{figures}");
    assert_eq!(partial["runs_planned"], planned, "{figures}");
    let done = partial["runs_done"].as_u64().expect("runs done");
    assert!((1..planned).contains(&done), "{figures}");
    done
}

#[cfg(unix)]
fn paper_signalled() {
    let dir = scratch("bench-paper-signalled");
    let figures_dir = dir.join("paper");
    let (_, figures) = signalled(
        &dir,
        &[
            "paper",
            "--datasets",
            "a9a",
            "--settings",
            "0.3,0.6,1.0,cloud",
            "--pairs",
            "sgd",
        ]
        .into_iter()
        .chain([
            "--workers",
            "2",
            "--partitions-per-worker",
            "2",
            "--time",
            "60",
        ])
        .chain(["--figures-dir", path(&figures_dir)])
        .collect::<Vec<_>>(),
        "a9a intensity-0.3: sgd: objective",
        libc::SIGTERM,
        8,
    );
    let paper = &figures["paper"];
    let done = runs_done(paper, "paper", 8);
    // A part stopped between the two runs of a pair counted the half pair in `runs_done`
    // alone: the whole pairs are said beside it.
    assert_eq!(paper["partial"]["pairs_done"], done / 2, "{paper}");
    assert_eq!(paper["partial"]["pairs_planned"], 4, "{paper}");
    let runs = paper["runs"].as_object().expect("entries");
    let entry = &runs["a9a/sgd/intensity-0.3"];
    assert!(entry["sgd"]["updates"].as_u64() >= Some(1), "{entry}");
    if done == 1 {
        assert_eq!(runs.len(), 1, "{paper}");
        assert!(
            entry["asgd"].is_null() && entry["speedup"].is_null(),
            "{entry}"
        );
    }
    // The finished run is drawn; no figure of a setting that never ran.
    let drawn: Vec<_> = std::fs::read_dir(&figures_dir)
        .expect("the figures folder")
        .flatten()
        .map(|f| f.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        drawn.contains(&"a9a-sgd-intensity-0.3.png".to_owned()),
        "{drawn:?}"
    );
    assert!(!drawn.iter().any(|f| f.contains("cloud")), "{drawn:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(unix)]
fn scale_signalled() {
    let dir = scratch("bench-scale-signalled");
    let args = ["scale", "--workers", "2,3,4", "--results", "3000"];
    let (_, figures) = signalled(&dir, &args, "2 workers:", libc::SIGINT, 3);
    let scale = &figures["driver_scale"];
    let done = runs_done(scale, "scale", 3);
    let sizes = scale["sizes"].as_array().expect("rows");
    assert_eq!(sizes.len() as u64, done, "{scale}");
    assert_eq!(sizes[0]["workers"], 2, "{scale}");
    assert_eq!(sizes[0]["results"], 3000, "{scale}");
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(not(unix))]
fn scale_signalled() {}

#[cfg(not(unix))]
fn paper_signalled() {}

fn faults() {
    let dir = scratch("bench-faults");
    let (figures, said) = bench(
        &dir,
        &["faults", "--repeats", "1", "--at", "0.3", "--stop", "1"],
    );
    let rows = figures["faults"]["runs"].as_array().expect("rows");
    let named: Vec<(&str, &str)> = rows
        .iter()
        .map(|row| {
            (
                row["fault"].as_str().unwrap(),
                row["algo"].as_str().unwrap(),
            )
        })
        .collect();
    let mut expected = Vec::new();
    for fault in ["none", "kill", "stop", "stop-driver"] {
        for algo in ["sgd", "asgd"] {
            expected.push((fault, algo));
        }
    }
    assert_eq!(named, expected);
    for (fault, algo) in &expected {
        let line = format!("{fault:>11} {algo:>4}: {algo}: objective");
        assert!(said.contains(&line), "no `{line}` in:\n{said}");
    }
    // Under a run's result line, its faults line, as async-train says it.
    let lines: Vec<&str> = said.lines().collect();
    let faults_after = |algo: &str| {
        let result = format!("{:>11} {algo:>4}: {algo}: objective", "kill");
        let at = lines.iter().position(|l| l.starts_with(&result)).unwrap();
        lines.get(at + 1).copied().unwrap_or_default()
    };
    for row in rows {
        let run = &row["runs"][0];
        // Every fault is survived: each run reaches the target, without a failure.
        assert!(run["failure"].is_null(), "{row}");
        assert!(run["time_to_target_s"].as_f64().is_some(), "{row}");
        // A killed worker that was struck is lost, and its partition moved.
        if row["fault"] == "kill" && run["struck"] == true {
            assert_eq!(run["lost_workers"], 1, "{row}");
            assert!(run["moved_partitions"].as_u64() >= Some(1), "{row}");
            let faults = faults_after(row["algo"].as_str().unwrap());
            assert!(faults.starts_with("  faults: 1 worker lost ("), "{said}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A dataset a part cannot find is said at once: the stragglers part found its sparse set
/// only after minutes of runs, and the session part after its per-frame figures. A missing
/// --data is the one named, not the sparse set's default.
fn missing_dataset() {
    let dir = scratch("bench-missing");
    let missing = dir.join("missing.xz");
    let dense = data("bio_kdd04.sub25.xz");
    let parts: [&[&str]; 3] = [
        &["--data", path(&dense), "--sparse-data", path(&missing)],
        // Without --sparse-data, its default was looked for first and named instead.
        &["--data", path(&missing)],
        &["session", "--data", path(&missing)],
    ];
    for args in parts {
        let output = Command::new(BENCH)
            .args(args)
            .args(["--workers", "2", "--out"])
            .arg(dir.join("figures.json"))
            .env("RUST_LOG", "error")
            .output()
            .expect("async-bench starts");
        assert_clear_error(&output, path(&missing));
        assert!(!dir.join("figures.json").exists(), "{args:?} wrote figures");
    }
}

/// A run that failed before its first update was said as one that ran ("objective ... after 0
/// updates"), and its counters were recorded as figures (0 updates, a throughput of 0). Its
/// data: a plain file large enough for its workers to read their own splits of it, one bad
/// line among many more rows than the driver's evaluation sample, so that only the workers
/// meet it.
fn failed_before_first_update() {
    let dir = scratch("bench-untrained");
    let file = dir.join("bad.svm");
    let mut text = String::with_capacity(70 << 20);
    let mut rows = 0usize;
    while text.len() < 65 << 20 {
        let label = if rows.is_multiple_of(2) { "1" } else { "-1" };
        text.push_str(label);
        for j in 1..=8 {
            text.push_str(&format!(" {j}:0.{:03}", (rows * 7 + j * 13) % 1000));
        }
        text.push('\n');
        rows += 1;
    }
    // A bad line in the middle, which the driver's scan (first and last tokens) passes.
    let middle = text[text.len() / 2..].find('\n').unwrap() + text.len() / 2 + 1;
    text.insert_str(middle, "1 3:1 bogus 5:1\n");
    let line = text[..middle].matches('\n').count() + 1;
    std::fs::write(&file, &text).expect("the data file");
    drop(text);
    let (figures, said) = bench(
        &dir,
        &[
            "stragglers",
            "--data",
            path(&file),
            "--sgd-only",
            // Below any objective of these rows (0.5 at the start): no run stops on it.
            "--optimum",
            "0.001",
            "--workers",
            "2",
            "--seeds",
            "7",
            "--time",
            "10",
        ],
    );
    let error = format!("bad.svm:{line}: missing `:`");
    let row = &figures["asgd_vs_sgd_per_seed"][0];
    // Synchronous SGD needs every partition for its first update: it never has one.
    let failed = said.contains("seed 7: sgd failed before its first update: ");
    assert!(failed && said.contains(&error), "{said}");
    assert!(!said.contains("seed 7: sgd: objective"), "{said}");
    for algo in ["sgd", "asgd"] {
        let failure = row["failures"][algo].as_str().unwrap_or_default();
        if row["updates"][algo].is_null() {
            assert!(failure.contains(&error), "{algo}: {row}");
            assert!(row["time_to_target_s"][algo].is_null(), "{algo}: {row}");
            assert!(row["driver_overhead_per_task_ms"][algo].is_null(), "{row}");
        } else {
            // ASGD may update with the partition that loaded before the other fails.
            assert_eq!(algo, "asgd", "{row}");
            assert!(row["updates"][algo].as_u64() >= Some(1), "{row}");
        }
    }
    assert!(
        row["asgd_cpu_bound"]["sgd_ms_per_update"].is_null(),
        "{row}"
    );
    assert_eq!(figures["updates"], row["updates"], "{figures}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A folder given as `--out` (or a file as `--figures-dir`) was found only when the figures
/// were written, after every run, with the OS's error; one line per run shows none ran.
fn unwritable_output() {
    let dir = scratch("bench-unwritable");
    let file = dir.join("figures.txt");
    std::fs::write(&file, "not a folder").expect("a scratch file");
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "scale",
                "--workers",
                "2",
                "--results",
                "10",
                "--out",
                path(&dir),
            ],
            "is a folder",
        ),
        (
            &["faults", "--repeats", "1", "--out", path(&file)],
            "is not JSON",
        ),
        (
            &[
                "paper",
                "--datasets",
                "a9a",
                "--workers",
                "2",
                "--figures-dir",
                path(&file),
            ],
            "is a file, not a folder",
        ),
    ];
    for (args, needle) in cases {
        let output = Command::new(BENCH)
            .args(args)
            .current_dir(&dir)
            .env("ASYNC_DATA_DIR", data_dir())
            .env("RUST_LOG", "error")
            .output()
            .expect("async-bench starts");
        assert_clear_error(&output, needle);
        // Refused before any run: the command line's mistake, a usage error.
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
    assert!(!dir.join("bench").exists(), "nothing written beside");
    std::fs::remove_dir_all(&dir).ok();
}

/// Each part reads the old figures of `--out` before its runs: a named pipe with no writer
/// blocked that read for good, `/dev/zero` was read until memory ran out, `/dev/null` was
/// said "not JSON". A named pipe or a device is now refused as no file before it is opened,
/// and a regular file is read within a bound (a sparse one here, over it, is no figures file).
fn special_output() {
    let dir = scratch("bench-special-out");
    let fifo = dir.join("figures.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo makes a named pipe");
    let huge = dir.join("huge.json");
    let file = std::fs::File::create(&huge).expect("a scratch file");
    file.set_len(17 << 20).expect("a sparse file");
    let scale = |out: &Path| -> Vec<String> {
        [
            "scale",
            "--workers",
            "2",
            "--results",
            "10",
            "--out",
            path(out),
        ]
        .map(String::from)
        .to_vec()
    };
    let paper = |out: &Path| -> Vec<String> {
        let args = [
            "paper",
            "--datasets",
            "a9a",
            "--workers",
            "2",
            "--out",
            path(out),
        ];
        args.map(String::from).to_vec()
    };
    let cases = [
        (scale(&fifo), "is a named pipe, not a file"),
        (paper(Path::new("/dev/null")), "is a device, not a file"),
        (scale(Path::new("/dev/null")), "is a device, not a file"),
        (scale(&huge), "too long for a figures file"),
    ];
    for (args, needle) in cases {
        let output = Command::new(BENCH)
            .args(&args)
            .current_dir(&dir)
            .env("ASYNC_DATA_DIR", data_dir())
            .env("RUST_LOG", "error")
            .output()
            .expect("async-bench starts");
        assert_clear_error(&output, needle);
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("--out"),
            "{args:?}"
        );
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
    assert!(!dir.join("bench").exists(), "nothing written beside");
    std::fs::remove_dir_all(&dir).ok();
}

/// Each list flag naming one value twice ran the same work twice, the later's figures over the
/// earlier's. The caps keep what the old code ran short.
fn repeated_values() {
    let dir = scratch("bench-repeated");
    let out = dir.join("figures.json");
    let dense = data("bio_kdd04.sub25.xz");
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "--data",
                path(&dense),
                "--seeds",
                "7,7",
                "--sgd-only",
                "--time",
                "1",
            ],
            "--seeds names 7 twice",
        ),
        (
            &[
                "paper",
                "--datasets",
                "a9a,a9a",
                "--settings",
                "cloud",
                "--pairs",
                "sgd",
                "--time",
                "1",
            ],
            "--datasets names a9a twice",
        ),
        (
            &[
                "paper",
                "--datasets",
                "a9a",
                "--settings",
                "1.0,1",
                "--pairs",
                "sgd",
                "--time",
                "1",
            ],
            "--settings names delay intensity 1 twice",
        ),
        (
            &[
                "paper",
                "--datasets",
                "a9a",
                "--settings",
                "cloud",
                "--pairs",
                "sgd,sgd",
                "--time",
                "1",
            ],
            "--pairs names sgd twice",
        ),
        (
            &["scale", "--workers", "2,2", "--results", "10"],
            "--workers names 2 twice",
        ),
        (
            &["splits", "--sizes-mb", "1,1", "--workers", "1"],
            "--sizes-mb names 1 twice",
        ),
    ];
    for (args, needle) in cases {
        let output = Command::new(BENCH)
            .args(args)
            .arg("--out")
            .arg(&out)
            .args(match args[0] {
                "paper" => vec!["--figures-dir", path(&dir)],
                "splits" => vec!["--dir", path(&dir)],
                _ => vec![],
            })
            .current_dir(&dir)
            .env("ASYNC_DATA_DIR", data_dir())
            .env("RUST_LOG", "error")
            .output()
            .expect("async-bench starts");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert_clear_error(&output, needle);
        assert!(!out.exists(), "{args:?} wrote figures");
    }
    std::fs::remove_dir_all(&dir).ok();
}
