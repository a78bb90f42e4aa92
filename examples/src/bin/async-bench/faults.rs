//! `async-bench faults`: what a fault costs SGD and ASGD. The built-in comparison (California
//! housing, 4 workers, slow-workers stragglers, to 2% of the optimum) runs once without a
//! fault, once with a worker killed, once with a worker stopped (SIGSTOP) past the liveness
//! timeout and then resumed, and once with the driver itself stopped as long; each worker
//! fault strikes the last worker started, a fixed time after the workers appeared. A fault's
//! cost is the median time to target it adds to the median of the runs without one. Written to
//! the `faults` key of the figures file.

use std::path::PathBuf;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_train::cli::builtin_comparison;
use async_train::cli::numbers;
use async_train::job::Outcome;
use asyncopt_algorithms::Algorithm;
use asyncopt_runtime::RunStats;

use crate::{figures, ran};

/// Settings of the faults figures.
#[derive(Debug, clap::Args)]
pub struct FaultsArgs {
    /// Seconds after the workers appeared when the fault strikes (ASGD reaches the target in
    /// about a second on a quiet 2-core machine), at most 180, the runs' time limit.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true, value_parser = seconds)]
    at: f64,
    /// Seconds the stopped worker, or the stopped driver, stays stopped (the liveness timeout
    /// is 5 s), at most 180.
    #[arg(long, default_value_t = 8.0, allow_negative_numbers = true, value_parser = seconds)]
    stop: f64,
    /// Seed of partitioning, sampling and stragglers.
    #[arg(long, default_value_t = 7, allow_hyphen_values = true, value_parser = numbers::zero_or_more::<u64>)]
    seed: u64,
    /// Runs of each fault and algorithm: the figures are their medians (SGD's time alone
    /// varies by seconds from run to run on a small set).
    #[arg(long, default_value_t = 3, allow_hyphen_values = true, value_parser = numbers::at_least_one::<usize>)]
    repeats: usize,
    /// Where the figures go.
    #[arg(long, default_value = "bench/figures.json")]
    out: PathBuf,
}

/// The latest a fault strikes or ends, in seconds: the built-in comparison's time limit
/// (`builtin_comparison`), past which no run is left to strike. A later one kept the part
/// waiting on its injector after every run, for as long as asked (`--at 1e15`: for ever).
const LATEST_S: f64 = 180.0;

/// A number of seconds from 0 to [`LATEST_S`], for `--at` and `--stop`: a negative one read as
/// an unknown flag, and NaN was refused with the standard library's words.
fn seconds(text: &str) -> Result<f64, String> {
    let fits = |s: f64| (0.0..=LATEST_S).contains(&s);
    numbers::number(
        text,
        fits,
        &format!("a number of seconds from 0 to {LATEST_S}"),
    )
}

/// What strikes the last worker started.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    /// SIGKILL: its connection closes, the driver knows at once.
    Kill,
    /// SIGSTOP for this long, then SIGCONT: silent, its connection open.
    Stop(Duration),
    /// The driver (this process) stopped so, by a process of its own: its workers hear
    /// nothing, and it finds every worker's heartbeat late when it goes on.
    StopDriver(Duration),
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Kill => "kill",
            Fault::Stop(_) => "stop",
            Fault::StopDriver(_) => "stop-driver",
        }
    }
}

pub fn run(args: FaultsArgs) -> Result<()> {
    figures::check(&args.out)?;
    let at = Duration::try_from_secs_f64(args.at).context("--at: seconds >= 0")?;
    let stop = Duration::try_from_secs_f64(args.stop).context("--stop: seconds >= 0")?;
    let mut run = builtin_comparison();
    run.seed = args.seed;
    run.quiet = true;
    let mut spec = run.job(Algorithm::Sgd)?;
    let data = spec.load_data()?;
    let workers = spec.cluster.workers;
    let load_before = figures::load_average();
    let mut rows = Vec::new();
    let mut baseline = [None, None];
    let mut signals = ran::Stoppable::begin("faults", 4 * 2 * args.repeats);
    'faults: for fault in [
        Fault::None,
        Fault::Kill,
        Fault::Stop(stop),
        Fault::StopDriver(stop),
    ] {
        for (i, algorithm) in [Algorithm::Sgd, Algorithm::Asgd].into_iter().enumerate() {
            spec.algorithm = algorithm.into();
            let mut runs = Vec::new();
            for _ in 0..args.repeats {
                let injector = inject(fault, at, workers);
                let label = format!("{:>11} {:>4}", fault.name(), algorithm.name());
                // Stopped by a signal: its injector, which may wait for workers that never
                // come, is left to end with the process.
                let Some(outcome) = signals.run(&label, &spec, &data)? else {
                    break;
                };
                let struck = injector
                    .join()
                    .map_err(|_| anyhow::anyhow!("the injector panicked"))??;
                eprintln!(
                    "{:>11} {:>4}: {}",
                    fault.name(),
                    algorithm.name(),
                    ran::said(&outcome)
                );
                runs.push(run_figures(&outcome, struck));
            }
            if runs.is_empty() {
                break 'faults;
            }
            let time = fault_median(fault, &runs);
            if matches!(fault, Fault::None) {
                baseline[i] = time;
            }
            let cost = time.zip(baseline[i]).map(|(t, base)| t - base);
            rows.push(serde_json::json!({
                "fault": fault.name(),
                "algo": algorithm.name(),
                "median_time_to_target_s": time,
                "cost_s": cost,
                "runs_not_struck": runs.iter().filter(|r| !measured(fault, r)).count(),
                "runs": runs,
            }));
            if signals.stopped() {
                break 'faults;
            }
        }
    }
    if signals.nothing_done() {
        return signals.finish_unwritten(&args.out);
    }
    let figures = serde_json::json!({
        "partial": signals.partial(),
        "dataset": "cal_housing (built in)",
        "workers": workers,
        "stragglers": spec.cluster.stragglers.to_string(),
        "target_subopt": spec.stop.target_subopt,
        "fault_at_s": args.at,
        "stop_s": args.stop,
        "seed": args.seed,
        "load_average_before": load_before,
        "runs": rows,
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);
    figures::merge(&args.out, "faults", figures)?;
    let written = format!("figures written to {}", args.out.display());
    if signals.stopped() {
        return signals.finish(&format!("{written}, marked partial"));
    }
    eprintln!("{written}");
    Ok(())
}

/// Whether `run` measured `fault`: a run the fault was to strike but did not (the run was
/// over first, or its victim was not found) ran without it.
fn measured(fault: Fault, run: &serde_json::Value) -> bool {
    matches!(fault, Fault::None) || run["struck"] == true
}

/// The median time to target of the runs that measured `fault`: one it did not strike,
/// counted in its median, pulled the fault's cost towards none.
fn fault_median(fault: Fault, runs: &[serde_json::Value]) -> Option<f64> {
    let measuring = runs.iter().filter(|run| measured(fault, run));
    median(measuring.filter_map(|run| run["time_to_target_s"].as_f64()))
}

/// The median of `values`, if there is one.
fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn run_figures(o: &Outcome, struck: bool) -> serde_json::Value {
    let stat = |of: fn(&RunStats) -> u64| ran::trained(o, |o| of(&o.report.stats));
    serde_json::json!({
        // A fault that found no worker (the run was over first) is no measurement of it.
        "struck": struck,
        "time_to_target_s": ran::time_to_target(o),
        "updates": stat(|s| s.updates),
        "lost_workers": stat(|s| s.lost_workers),
        "moved_partitions": stat(|s| s.moved_partitions),
        "late_joiners": stat(|s| s.late_joiners),
        "hung_tasks": stat(|s| s.hung_tasks),
        "data_bytes": stat(|s| s.data_bytes),
        "failure": o.failure,
    })
}

/// Strikes `fault` at the last of `workers` child processes (or at the driver) `at` after they
/// appeared; `true` if it struck.
fn inject(fault: Fault, at: Duration, workers: usize) -> JoinHandle<Result<bool>> {
    std::thread::spawn(move || {
        if matches!(fault, Fault::None) {
            return Ok(false);
        }
        let begun = Instant::now();
        let pids = loop {
            let pids = children();
            if pids.len() >= workers {
                break pids;
            }
            if begun.elapsed() > Duration::from_secs(60) {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(at);
        let Some(&victim) = pids.iter().max() else {
            return Ok(false);
        };
        match fault {
            Fault::None => Ok(false),
            Fault::Kill => signal("-KILL", victim),
            Fault::Stop(pause) => {
                let stopped = signal("-STOP", victim)?;
                std::thread::sleep(pause);
                signal("-CONT", victim)?;
                Ok(stopped)
            }
            // This thread stops with its process: another process stops and continues it.
            Fault::StopDriver(pause) => {
                // The driver outlives its run: with its workers gone, the run is over.
                if children().len() < workers {
                    return Ok(false);
                }
                let me = std::process::id();
                let script = format!(
                    "kill -STOP {me} && sleep {} ; kill -CONT {me}",
                    pause.as_secs_f64()
                );
                let status = Command::new("sh")
                    .args(["-c", &script])
                    .status()
                    .context("cannot run sh")?;
                Ok(status.success())
            }
        }
    })
}

/// Sends `signal` to `pid`; `false` if it had exited.
fn signal(signal: &str, pid: u32) -> Result<bool> {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .context("cannot run kill")?;
    Ok(status.success())
}

/// This process's running children: its workers (Linux).
fn children() -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the parenthesised command: the state, then the parent's pid.
        let mut fields = stat
            .rsplit_once(") ")
            .map_or("", |(_, rest)| rest)
            .split(' ');
        let (state, parent) = (fields.next(), fields.next());
        if parent == Some(me.as_str()) && state != Some("Z") {
            pids.push(pid);
        }
    }
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_the_fault_did_not_strike_is_left_out_of_its_median() {
        let run = |struck: bool, time: f64| serde_json::json!({"struck": struck, "time_to_target_s": time});
        // The kill found no worker in the second run, which took the no-fault time.
        let runs = [run(true, 2.0), run(false, 1.0), run(true, 3.0)];
        assert_eq!(fault_median(Fault::Kill, &runs), Some(2.5));
        let stop = Fault::Stop(Duration::from_secs(8));
        assert_eq!(fault_median(stop, &[run(false, 1.0)]), None);
        // Runs without a fault are never struck, and all count.
        let none = [run(false, 1.0), run(false, 2.0), run(false, 4.0)];
        assert_eq!(fault_median(Fault::None, &none), Some(2.0));
    }

    #[test]
    fn the_latest_fault_is_at_the_runs_time_limit() {
        let limit = async_train::cli::builtin_comparison().time;
        assert_eq!(limit, Some(LATEST_S));
    }
}
