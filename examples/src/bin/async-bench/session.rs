//! The cost of sessions: every frame after admission is sealed, with an HMAC-SHA256 tag or
//! (`--encrypt`) ChaCha20-Poly1305. Measured two ways:
//! 1. sealing and opening frames of the sizes a run sends (a task order, a model or gradient
//!    of bio_kdd04's and of a sparse set's dimension, a partition), per frame;
//! 2. whole ASGD runs on the dense set with and without `--encrypt`, alternated, per task.
//!
//! Writes the key `session_cost` of the figures file.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use async_train::cli::numbers;
use async_train::cli::RunArgs;
use asyncopt_algorithms::Algorithm;
use asyncopt_runtime::transport::frame;
use asyncopt_runtime::transport::session::{Direction, Opener, Sealer};
use serde_json::json;

use crate::figures;

/// Settings of the session-cost figures.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// The dense dataset of the whole runs (default: bio_kdd04.normalized.xz in
    /// $ASYNC_DATA_DIR, data/large or ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Worker processes of the whole runs.
    #[arg(long, default_value_t = 8, allow_hyphen_values = true, value_parser = crate::local_workers)]
    workers: usize,
    /// Updates per whole run.
    #[arg(long, default_value_t = 20_000, allow_hyphen_values = true, value_parser = numbers::at_least_one::<usize>)]
    updates: usize,
    /// Whole runs per mode (alternated; the median is reported).
    #[arg(long, default_value_t = 3, allow_hyphen_values = true, value_parser = numbers::at_least_one::<usize>)]
    repeats: usize,
    /// MiB sealed per batch of the per-frame figures (at least 20 frames; 7 batches per size
    /// and mode, the median kept).
    #[arg(long, default_value_t = 64, allow_hyphen_values = true, value_parser = seal_mib)]
    seal_mib: usize,
    /// Where the figures go.
    #[arg(long, default_value = "bench/figures.json")]
    out: PathBuf,
}

/// MiB sealed per batch, for `--seal-mib`: at least one, and no more than a machine holds.
fn seal_mib(text: &str) -> Result<usize, String> {
    numbers::whole(text, 1, 4096)
}

/// Frame body sizes in bytes, with what sends them.
const SIZES: [(&str, usize); 5] = [
    ("task order", 96),
    ("bio_kdd04 model or gradient (75 f64)", 600),
    ("a9a model or gradient (123 f64)", 984),
    ("sparse model of 20,000 features", 160_000),
    ("partition of 4 MiB", 4 << 20),
];

pub fn run(args: SessionArgs) -> Result<()> {
    // Found before the per-frame figures, which take a while: missing, it ends the part.
    let data_path = match &args.data {
        Some(path) => crate::data_file("--data", path)?,
        None => crate::large_data("bio_kdd04.normalized.xz", "give it with --data")?,
    };
    figures::check(&args.out)?;
    let load_before = figures::load_average();
    let mut signals = crate::ran::Stoppable::begin("session", 2 * args.repeats);
    let per_frame: Vec<serde_json::Value> = SIZES
        .iter()
        .map(|&(what, size)| {
            let mac = seal_open_ns(size, false, args.seal_mib);
            let aead = seal_open_ns(size, true, args.seal_mib);
            eprintln!(
                "{what} ({size} B): seal+open {mac:.0} ns with a MAC, {aead:.0} ns encrypted"
            );
            json!({
                "frame": what,
                "body_bytes": size,
                "mac_seal_open_ns": mac,
                "encrypt_seal_open_ns": aead,
            })
        })
        .collect();
    let whole = whole_runs(&args, &mut signals, data_path)?;
    let figures = json!({
        "partial": signals.partial(),
        "per_frame": per_frame,
        "seal_mib_per_batch": args.seal_mib,
        "asgd_runs": whole,
        "load_average_before": load_before,
        "note": "seal+open is what both ends spend per frame; a task costs the driver one \
                 task order (plus a model version when the worker lacks it) sealed and one \
                 result opened, and the worker the reverse",
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);
    figures::merge(&args.out, "session_cost", figures)?;
    let written = format!("figures written to {}", args.out.display());
    if signals.stopped() {
        // The per-frame figures are whole: kept beside the runs done.
        return signals.finish(&format!("{written}, marked partial"));
    }
    eprintln!("{written}");
    Ok(())
}

/// Nanoseconds to seal and open one frame with a `size`-byte body (the median of 7 batches of
/// about `mib` MiB each).
fn seal_open_ns(size: usize, encrypt: bool, mib: usize) -> f64 {
    let key = [7u8; 32];
    let mut sealer = Sealer::new(&key, Direction::ToWorker, encrypt);
    let mut opener = Opener::new(&key, Direction::ToWorker, encrypt);
    let template = frame::encode(1, &vec![0.5f64; size / 8]);
    let frames = ((mib << 20) / size.max(1)).clamp(20, 100_000);
    let mut batches: Vec<f64> = (0..7)
        .map(|_| {
            let begun = Instant::now();
            for _ in 0..frames {
                let sealed = sealer.seal(template.clone());
                let body = opener.open(&sealed).expect("a frame just sealed opens");
                std::hint::black_box(body);
            }
            // The copy of the template is not the session's cost.
            let copying = {
                let begun = Instant::now();
                for _ in 0..frames {
                    std::hint::black_box(template.clone());
                }
                begun.elapsed()
            };
            (begun.elapsed().saturating_sub(copying)).as_secs_f64() * 1e9 / frames as f64
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[batches.len() / 2]
}

/// ASGD for a fixed number of updates, without stragglers, with and without encryption; a
/// mode a signal left with no run done has no figure (`null`).
fn whole_runs(
    args: &SessionArgs,
    signals: &mut crate::ran::Stoppable,
    data_path: PathBuf,
) -> Result<serde_json::Value> {
    let mut run = RunArgs::parse_defaults();
    run.data = Some(data_path.clone());
    run.workers = args.workers;
    run.updates = Some(args.updates);
    run.batch = 256;
    run.quiet = true;
    run.eval_every = 1e9;
    let mut spec = run.job(Algorithm::Asgd)?;
    // A signal during the per-frame figures: the data is not read for runs that will not run.
    if signals.stopped() {
        return Ok(serde_json::Value::Null);
    }
    crate::ran::reading(&data_path);
    let data = spec.load_data()?;
    let (mut mac, mut encrypted) = (Vec::new(), Vec::new());
    'runs: for _ in 0..args.repeats {
        for encrypt in [false, true] {
            spec.cluster.encrypt = encrypt;
            let label = format!("asgd, encrypt {encrypt}");
            let Some(outcome) = signals.run(&label, &spec, &data)? else {
                break 'runs;
            };
            // The figures are medians over the runs: one that never trained has no number
            // to give them, and ends the part with its error.
            if outcome.failed_untrained() {
                anyhow::bail!("encrypt {encrypt}: {}", crate::ran::said(&outcome));
            }
            let report = &outcome.report;
            let per_task_us = report.elapsed_s * 1e6 / report.stats.results_received.max(1) as f64;
            eprintln!(
                "asgd, {} updates, encrypt {encrypt}: {:.3} s, {per_task_us:.1} us per result",
                report.stats.updates, report.elapsed_s
            );
            if encrypt { &mut encrypted } else { &mut mac }.push(per_task_us);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let (mac_us, encrypted_us) = (median(&mut mac), median(&mut encrypted));
    let overhead = mac_us.zip(encrypted_us).map(|(m, e)| e / m - 1.0);
    Ok(json!({
        "dataset": data_path.display().to_string(),
        "workers": args.workers,
        "updates": args.updates,
        "repeats": args.repeats,
        "mac_us_per_result": mac_us,
        "encrypt_us_per_result": encrypted_us,
        "encryption_overhead": overhead,
    }))
}
