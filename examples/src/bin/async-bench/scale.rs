//! `async-bench scale`: how many results per second one driver sustains as workers grow.
//!
//! Each size starts that many local worker processes whose task is trivial (an optional short
//! sleep, no computation), and runs an asynchronous loop in which every result is one update
//! and every update a new broadcast version, so that the driver does all of its per-task
//! work (receive, check, apply, publish, patch, dispatch) and the workers almost none. Written
//! to the `driver_scale` key of the figures file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_train::cli::numbers;
use asyncopt_runtime::data::Features;
use asyncopt_runtime::{async_optimizer, ClusterConfig, Dataset, Driver, Partition};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::figures;

/// Settings of the scale figures.
#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// Worker processes, one run per count.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128", allow_hyphen_values = true, value_parser = crate::local_workers)]
    workers: Vec<usize>,
    /// Results each run collects.
    #[arg(long, default_value_t = 20_000, allow_hyphen_values = true, value_parser = numbers::at_least_one::<usize>)]
    results: usize,
    /// Microseconds each task sleeps (0: returns at once), up to a second.
    #[arg(long, default_value_t = 1000, allow_hyphen_values = true, value_parser = task_sleep_us)]
    task_sleep_us: u64,
    /// Tasks a worker may hold at once.
    #[arg(long, default_value_t = asyncopt_runtime::DEFAULT_PREFETCH, allow_hyphen_values = true, value_parser = numbers::prefetch)]
    prefetch: usize,
    /// Where the figures go.
    #[arg(long, default_value = "bench/figures.json")]
    out: PathBuf,
}

/// A task's sleep of `--task-sleep-us`, up to a second: a trivial task is short, and a
/// longer sleep left the part waiting for hours (forever at `u64::MAX`).
fn task_sleep_us(text: &str) -> Result<u64, String> {
    numbers::whole(text, 0, 1_000_000)
}

/// What the trivial task captures.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plan {
    updates: usize,
    sleep_us: u64,
}

/// The trivial task: sleeps if asked, returns one number.
fn trivial(part: &Partition, plan: &Plan) -> f64 {
    if plan.sleep_us > 0 {
        std::thread::sleep(Duration::from_micros(plan.sleep_us));
    }
    part.id() as f64
}

/// One update per result, a new model version per update.
#[async_optimizer]
fn echo(cx: &mut Driver, data: &Dataset, plan: &Plan) -> Array1<f64> {
    let mut w: Array1<f64> = Array1::zeros(data.dim());
    for k in 0..plan.updates {
        broadcast!(w);
        barrier!(|workers| workers.idle() >= 1);
        let got = reduce!(
            data,
            |part| trivial(part, plan) + w[0] * 0.0,
            max_staleness = u64::MAX
        );
        w[k % 8] += got;
    }
    w
}

/// Rows enough for one partition per worker at the largest size.
fn dataset(rows: usize) -> Result<Dataset> {
    let x = Array2::from_shape_fn((rows, 8), |(i, j)| ((i * 8 + j) % 13) as f64);
    let y = Array1::from_shape_fn(rows, |i| (i % 7) as f64);
    Dataset::new("trivial", Features::Dense(x), y).context("the trivial dataset")
}

/// Runs every size and writes `driver_scale`.
pub fn run(args: ScaleArgs) -> Result<()> {
    crate::distinct("--workers", &args.workers, usize::to_string)?;
    figures::check(&args.out)?;
    let largest = args.workers.iter().copied().max().unwrap_or(1);
    let data = dataset(largest.max(1) * 4)?;
    let plan = Plan {
        updates: args.results,
        sleep_us: args.task_sleep_us,
    };
    let load_before = figures::load_average();
    let mut sizes = Vec::new();
    let mut signals = crate::ran::Stoppable::begin("scale", args.workers.len());
    for &workers in &args.workers {
        if signals.stopped() {
            break;
        }
        let mut config = ClusterConfig::local(workers);
        config.seed = 7;
        config.prefetch = args.prefetch;
        config.join_timeout = Duration::from_secs(120);
        let started = Instant::now();
        let mut driver = match Driver::launch(config) {
            Ok(driver) => driver,
            // A signal while the workers started: the sizes done are kept.
            Err(_) if signals.stopped() => break,
            Err(error) => {
                return Err(error).with_context(|| format!("starting {workers} workers"));
            }
        };
        // A signal stops the run at its next update, its workers with it.
        driver.stop_on(async_train::interrupt::stop_handle());
        let joined_s = started.elapsed().as_secs_f64();
        echo(&mut driver, &data, &plan);
        let stopped = driver.stop_requested();
        let report = driver.finish()?;
        if !signals.ended(stopped) {
            break;
        }
        let stats = &report.stats;
        let results_per_s = stats.updates as f64 / report.elapsed_s.max(1e-9);
        // Each worker could return one result per sleep: the rate the workers allow.
        let workers_allow = if args.task_sleep_us > 0 {
            workers as f64 * 1e6 / args.task_sleep_us as f64
        } else {
            f64::INFINITY
        };
        let figure = serde_json::json!({
            "workers": workers,
            "results": stats.updates,
            "elapsed_s": report.elapsed_s,
            "results_per_s": results_per_s,
            "workers_allow_results_per_s": workers_allow.is_finite().then_some(workers_allow),
            "driver_time_per_task_us": stats.driver_overhead_per_task_s() * 1e6,
            "wall_time_per_result_us": 1e6 / results_per_s.max(1e-9),
            "driver_blocked_s": stats.blocked_s,
            "join_s": joined_s,
        });
        eprintln!(
            "{workers:>4} workers: {results_per_s:>8.0} results/s, driver {:.1} us/task, \
             {:.1} us/result, joined in {joined_s:.2} s",
            stats.driver_overhead_per_task_s() * 1e6,
            1e6 / results_per_s.max(1e-9),
        );
        sizes.push(figure);
    }
    if signals.nothing_done() {
        return signals.finish_unwritten(&args.out);
    }
    let value = serde_json::json!({
        "partial": signals.partial(),
        "what": "one driver, N local worker processes with trivial tasks: results per second \
                 and the driver's own time per task",
        "task_sleep_us": args.task_sleep_us,
        "prefetch": args.prefetch,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "load_average_before": load_before,
        "sizes": sizes,
    });
    println!("{}", serde_json::to_string_pretty(&value)?);
    figures::merge(&args.out, "driver_scale", value)?;
    let written = format!("figures written to {}", args.out.display());
    if signals.stopped() {
        return signals.finish(&format!("{written}, marked partial"));
    }
    eprintln!("{written}");
    Ok(())
}
