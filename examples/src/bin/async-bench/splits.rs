//! `async-bench splits`: workers reading their own splits of a data file against the driver
//! shipping them, on a generated LIBSVM file of 0.5 and 1.5 GB with 4 workers.
//!
//! For each size and access mode a fresh driver process (`async-bench splits-probe`) loads
//! the data, starts the workers and runs synchronous SGD until its first update; it reports
//! the wall time from its start to that update and its peak resident memory (`VmHWM`), so
//! that each figure is one process's own. The file is generated in a temporary folder and
//! deleted afterwards; it is never committed.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use async_train::cli::numbers;
use async_train::cli::{DataAccessName, RunArgs};
use asyncopt_algorithms::{Algorithm, Loss, Model, Params};
use asyncopt_runtime::{Driver, Flow};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Settings of the own-splits figures.
#[derive(Debug, clap::Args)]
pub struct SplitsArgs {
    /// Sizes of the generated file, in MB (10^6 bytes), up to 100,000 (100 GB).
    #[arg(long, value_delimiter = ',', default_value = "500,1500", allow_hyphen_values = true,
          value_parser = size_mb)]
    sizes_mb: Vec<u64>,
    /// Worker processes.
    #[arg(long, default_value_t = 4, allow_hyphen_values = true, value_parser = crate::local_workers)]
    workers: usize,
    /// The folder of the generated file (default: the system's temporary folder).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Where the figures go (key `own_splits`).
    #[arg(long, default_value = "bench/figures.json")]
    out: PathBuf,
}

/// Settings of one probe (a driver process of its own).
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The data file.
    #[arg(long)]
    data: PathBuf,
    /// shared or ship.
    #[arg(long, value_enum)]
    access: DataAccessName,
    /// Worker processes.
    #[arg(long, default_value_t = 4, allow_hyphen_values = true, value_parser = crate::local_workers)]
    workers: usize,
}

/// A size of `--sizes-mb`: a larger one filled the disk until it failed, and one past
/// `u64::MAX` bytes wrapped around.
fn size_mb(text: &str) -> Result<u64, String> {
    numbers::whole(text, 1, 100_000)
}

/// Features of the generated rows.
const DIM: u64 = 1000;

/// Writes about `bytes` of LIBSVM rows (about 40 of 1,000 features each, 4-digit values) to
/// `path`; returns the number of rows.
fn generate(path: &Path, bytes: u64) -> Result<u64> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    // A full disk is said with the file it stopped: the system's words name none.
    write_rows(BufWriter::with_capacity(1 << 20, file), bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// [`generate`]'s rows, written to `out`.
fn write_rows(mut out: impl Write, bytes: u64) -> std::io::Result<u64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let (mut written, mut rows) = (0u64, 0u64);
    let mut line = String::with_capacity(1024);
    while written < bytes {
        use std::fmt::Write as _;
        line.clear();
        line.push_str(if rng.random_bool(0.5) { "1" } else { "-1" });
        let mut index = 0;
        loop {
            index += rng.random_range(1..=48);
            if index > DIM {
                break;
            }
            let _ = write!(line, " {index}:0.{:04}", rng.random_range(0..10_000u32));
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
        rows += 1;
    }
    out.flush()?;
    Ok(rows)
}

/// The driver's peak resident memory so far, in MiB (`VmHWM` of `/proc/self/status`).
fn peak_mib() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")?;
    Ok(kb / 1024.0)
}

/// One driver process: load, start the workers, run SGD to its first update; prints JSON.
pub fn probe(args: ProbeArgs) -> Result<()> {
    let begun = Instant::now();
    let mut run = RunArgs::parse_defaults();
    run.data = Some(args.data.clone());
    run.data_access = args.access;
    run.workers = args.workers;
    run.quiet = true;
    let spec = run.job(Algorithm::Sgd)?;
    let data = spec.load_data()?;
    let loaded_s = begun.elapsed().as_secs_f64();
    let mut driver = Driver::launch(spec.run_cluster())?;
    let first = std::sync::Arc::new(std::sync::OnceLock::new());
    let seen = first.clone();
    driver.observe(move |progress, _: &Model| {
        if progress.updates >= 1 {
            seen.get_or_init(|| begun.elapsed().as_secs_f64());
            return Flow::Stop;
        }
        Flow::Continue
    });
    let params = Params {
        updates: 2,
        step: 1e-3,
        batch: 256,
        ..Params::new(Loss::LeastSquares)
    };
    Algorithm::Sgd.run(&mut driver, &data, &params);
    let report = driver.finish()?;
    let Some(&first_update_s) = first.get() else {
        bail!("the run ended before its first update");
    };
    let figures = json!({
        "first_update_s": first_update_s,
        "driver_load_s": loaded_s,
        "driver_peak_mib": peak_mib()?,
        "rows": data.full_rows(),
        "driver_rows": data.n_rows(),
        "data_bytes_sent": report.stats.data_bytes,
    });
    println!("{figures}");
    Ok(())
}

/// The probe running now, 0 when none: a signal to the part ends it too, as its data file is
/// removed under it.
static PROBE: AtomicU32 = AtomicU32::new(0);

/// The sizes measured so far, which a signal keeps as partial figures as the other parts do
/// (a signal lost them all): `None` once the part writes its figures itself.
static DONE: Mutex<Option<Done>> = Mutex::new(None);

/// What the part has measured, and what it needs to write it.
struct Done {
    out: PathBuf,
    workers: usize,
    load_before: Option<f64>,
    planned: usize,
    sizes: Vec<Value>,
}

impl Done {
    /// The figures of the sizes done, marked partial when they are not all planned.
    fn figures(&self) -> Value {
        let partial = match self.sizes.len() < self.planned {
            true => crate::ran::partial("splits", self.sizes.len(), self.planned),
            false => Value::Null,
        };
        figures(self.workers, self.load_before, &self.sizes, partial)
    }
}

/// The sizes done so far, if the part has not written its figures yet.
fn done() -> std::sync::MutexGuard<'static, Option<Done>> {
    DONE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a signal does with the sizes measured: merges them into `out` marked partial, or
/// says that nothing was written; the line said.
fn keep_done() -> Option<String> {
    let done = done().take()?;
    let planned = done.planned;
    let count = done.sizes.len();
    let out = done.out.display().to_string();
    let written = if count == 0 {
        format!("nothing written; {out} is unchanged")
    } else {
        match crate::figures::merge(&done.out, "own_splits", done.figures()) {
            Ok(()) => format!("figures written to {out}, marked partial"),
            Err(e) => format!("the figures could not be written: {e:#}"),
        }
    };
    Some(crate::ran::stopped_line("splits", count, planned, &written))
}

/// Runs a probe in a process of its own and returns its figures.
fn run_probe(data: &Path, access: &str, workers: usize) -> Result<Value> {
    let child = Command::new(std::env::current_exe()?)
        .args([
            "splits-probe",
            "--access",
            access,
            "--workers",
            &workers.to_string(),
            "--data",
        ])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start a probe")?;
    PROBE.store(child.id(), Ordering::SeqCst);
    let output = child.wait_with_output();
    PROBE.store(0, Ordering::SeqCst);
    let output = output.context("cannot read the probe's output")?;
    if !output.status.success() {
        // A mode that cannot get the data to the workers is a figure too.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Ok(json!({ "failed": reason }));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().context("the probe printed nothing")?;
    Ok(serde_json::from_str(line)?)
}

/// The own-splits figures, under the key `own_splits`.
pub fn splits(args: SplitsArgs) -> Result<()> {
    crate::distinct("--sizes-mb", &args.sizes_mb, u64::to_string)?;
    crate::figures::check(&args.out)?;
    let folder = format!("asyncopt-splits-{}", std::process::id());
    if let Some(given) = &args.dir {
        // Found before the file is generated, in words that name the flag: the system's
        // "Not a directory" named neither.
        async_train::trace::check_folder("--dir", given)?;
        async_train::trace::check_flag_writable("--dir", given, &given.join(&folder))?;
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(folder);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create folder {}", dir.display()))?;
    let load_before = super::figures::load_average();
    *done() = Some(Done {
        out: args.out.clone(),
        workers: args.workers,
        load_before,
        planned: args.sizes_mb.len(),
        sizes: Vec::new(),
    });
    remove_on_signal(dir.clone());
    let outcome = measure(&args, &dir);
    // The file is never kept, whatever happened.
    let _ = std::fs::remove_dir_all(&dir);
    // From here the part writes its figures itself: a signal adds none.
    done().take();
    let sizes = outcome?;
    let figures = figures(args.workers, load_before, &sizes, Value::Null);
    println!("{}", serde_json::to_string_pretty(&figures)?);
    crate::figures::merge(&args.out, "own_splits", figures)?;
    eprintln!("figures written to {}", args.out.display());
    Ok(())
}

/// The own-splits figures of `sizes`, with `partial` (null for a part that ran to its end).
fn figures(workers: usize, load_before: Option<f64>, sizes: &[Value], partial: Value) -> Value {
    let speedups: Vec<Option<f64>> = sizes
        .iter()
        .map(|s| {
            let ship = s["ship"]["first_update_s"].as_f64();
            let shared = s["shared"]["first_update_s"].as_f64();
            ship.zip(shared).map(|(ship, shared)| ship / shared)
        })
        .collect();
    json!({
        "partial": partial,
        "workers": workers,
        "machine_cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "load_average_before": load_before,
        "what": "a generated LIBSVM file (about 40 of 1,000 features per row); per size and \
                 mode a fresh driver process loads the data, starts the workers and runs \
                 synchronous SGD to its first update: first_update_s is the wall time from the \
                 driver's start to that update, driver_peak_mib its VmHWM. shared: each worker \
                 reads its own byte-range splits, the driver scans the file and reads a \
                 50,000-row evaluation sample; ship: the driver reads the file and sends the \
                 partitions (in chunks of at most 8 MiB, interleaved across the workers).",
        "sizes": sizes,
        "first_update_speedup_shared_over_ship": speedups,
    })
}

/// From now on, a Ctrl-C, SIGTERM or SIGHUP (unless ignored, as under `nohup`) ends the part
/// with the generated folder `dir` removed, its probe stopped and the sizes measured kept as
/// partial figures (as the other parts keep their runs done): the default action of the
/// signal left a file of up to the largest `--sizes-mb` (1.5 GB by default) in the
/// temporary folder.
#[cfg(unix)]
fn remove_on_signal(dir: PathBuf) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut handled = vec![SIGINT, SIGTERM];
    // SAFETY: with no new action, sigaction only writes the current one into `current`,
    // zeroed memory of the right type.
    let hangup_ignored = unsafe {
        let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
        libc::sigaction(SIGHUP, std::ptr::null(), current.as_mut_ptr()) == 0
            && current.assume_init().sa_sigaction == libc::SIG_IGN
    };
    if !hangup_ignored {
        handled.push(SIGHUP);
    }
    let mut signals = match signal_hook::iterator::Signals::new(handled) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!(
                "warning: a signal will leave the generated file in {}: {e}",
                dir.display()
            );
            return;
        }
    };
    let shown = dir.display().to_string();
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let probe = PROBE.load(Ordering::SeqCst);
                if probe != 0 {
                    // SAFETY: a signal to a child this process started and has not reaped.
                    unsafe { libc::kill(probe as libc::pid_t, libc::SIGTERM) };
                }
                let removed = match std::fs::remove_dir_all(&dir) {
                    Ok(()) => "removed".to_owned(),
                    // Removed already: the signal came once the part was done with it.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => "removed".to_owned(),
                    Err(e) => format!("not removed: {e}"),
                };
                eprintln!(
                    "stopped by a signal; the generated folder {} is {removed}",
                    dir.display()
                );
                if let Some(said) = keep_done() {
                    eprintln!("{said}");
                }
                std::process::exit(128 + signal);
            }
        });
    if let Err(e) = spawned {
        eprintln!("warning: a signal will leave the generated file in {shown}: {e}");
    }
}

/// Elsewhere a signal ends the part as it always does.
#[cfg(not(unix))]
fn remove_on_signal(_: PathBuf) {}

/// `bytes` in the decimal unit that fits (as `--sizes-mb` counts them): a 2 MB file was said
/// "0.00 GB".
fn size_text(bytes: u64) -> String {
    let units = [(1e9, "GB"), (1e6, "MB"), (1e3, "kB")];
    match units.into_iter().find(|(size, _)| bytes as f64 >= *size) {
        Some((size, unit)) => format!("{:.2} {unit}", bytes as f64 / size),
        None => format!("{bytes} B"),
    }
}

fn measure(args: &SplitsArgs, dir: &Path) -> Result<Vec<Value>> {
    let mut sizes = Vec::new();
    for &mb in &args.sizes_mb {
        let path = dir.join(format!("generated-{mb}mb.svm"));
        // Each step takes seconds at the default sizes (writing 1.5 GB, a driver shipping
        // it): said as it begins, not only once done.
        eprintln!("generating {} ({mb} MB)", path.display());
        let begun = Instant::now();
        let rows = generate(&path, mb * 1_000_000)?;
        let bytes = std::fs::metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        eprintln!(
            "generated {} ({rows} rows, {}) in {:.1} s",
            path.display(),
            size_text(bytes),
            begun.elapsed().as_secs_f64()
        );
        let probe = |access: &str| {
            eprintln!("{access}: a driver to its first update...");
            let figures = run_probe(&path, access, args.workers)?;
            eprintln!("{access}: {figures}");
            anyhow::Ok(figures)
        };
        let (shared, ship) = (probe("shared")?, probe("ship")?);
        let size = json!({
            "file_bytes": bytes,
            "rows": rows,
            "shared": shared,
            "ship": ship,
        });
        if let Some(done) = done().as_mut() {
            done.sizes.push(size.clone());
        }
        sizes.push(size);
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::size_text;

    #[test]
    fn a_size_is_said_in_the_unit_that_fits() {
        assert_eq!(size_text(2_000_000), "2.00 MB");
        assert_eq!(size_text(1_500_000_000), "1.50 GB");
        assert_eq!(size_text(3_200), "3.20 kB");
        assert_eq!(size_text(12), "12 B");
    }
}
