//! The benchmark of asynchrony under stragglers: SGD and ASGD on the large dense set
//! (bio_kdd04, least squares) with 8 workers and the paper's straggler model.
//!
//! Writes its figures to a JSON file (default `bench/figures.json`) and prints them:
//! 1. time for SGD and ASGD to reach 1e-2 relative suboptimality, and the speedup;
//! 2. ASGD's update throughput against the ideal, the sum of each worker's own task rate;
//! 3. the driver's own time per task (encoding, dispatch, bookkeeping, decoding);
//! 4. time for SAGA and ASAGA to reach 1e-3, and the speedup;
//! 5. the same with the full preconditioner, to 1e-4;
//! 6. bytes of partial against full broadcast for SGD on the sparse reviews set.
//!
//! `cargo run --release --bin async-bench -- [--data PATH] [--workers 8] [--out FILE]`
//!
//! Other parts of the benchmark are subcommands (`async-bench --help` lists them); each part
//! rewrites only its own keys of the figures file ([`figures::merge`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use async_train::cli::RunArgs;
use async_train::job::{self, Outcome};
use asyncopt_algorithms::{Algorithm, Precondition};
use asyncopt_runtime::Stragglers;
use clap::{Parser, Subcommand};

mod figures;
mod splits;

/// The benchmark: with no subcommand, the stragglers figures.
#[derive(Debug, Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    part: Option<Part>,
    #[command(flatten)]
    stragglers: BenchArgs,
}

/// The parts of the benchmark.
#[derive(Debug, Subcommand)]
enum Part {
    /// SGD/ASGD and SAGA/ASAGA under the paper's stragglers on bio_kdd04 (the default).
    Stragglers(BenchArgs),
    /// Workers reading their own splits of a generated 0.5 and 1.5 GB file against the
    /// driver shipping them: time to first update and the driver's peak memory.
    Splits(splits::SplitsArgs),
    /// One driver process of the splits figures (run by `splits`).
    #[command(hide = true)]
    SplitsProbe(splits::ProbeArgs),
}

/// Settings of the stragglers figures.
#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// The dataset (default: bio_kdd04.normalized.xz in ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Its least-squares optimum f*.
    #[arg(long, default_value_t = 0.01890429339)]
    optimum: f64,
    /// Worker processes.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Target relative suboptimality of SGD and ASGD.
    #[arg(long, default_value_t = 1e-2)]
    target: f64,
    /// Target relative suboptimality of SAGA and ASAGA.
    #[arg(long, default_value_t = 1e-3)]
    vr_target: f64,
    /// Target of SAGA and ASAGA with the full preconditioner.
    #[arg(long, default_value_t = 1e-4)]
    preconditioned_target: f64,
    /// The sparse dataset of the broadcast figure (default: reviews_tfidf.xz beside --data).
    #[arg(long)]
    sparse_data: Option<PathBuf>,
    /// Rows sampled per task.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Seed of partitioning, sampling and stragglers.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Where the figures go.
    #[arg(long, default_value = "bench/figures.json")]
    out: PathBuf,
}

fn main() -> Result<()> {
    asyncopt_runtime::run_worker_if_spawned();
    let cli = Cli::parse();
    match cli.part {
        None => stragglers(cli.stragglers),
        Some(Part::Stragglers(args)) => stragglers(args),
        Some(Part::Splits(args)) => splits::splits(args),
        Some(Part::SplitsProbe(args)) => splits::probe(args),
    }
}

/// The stragglers figures: the top-level keys of the figures file that [`stragglers_figures`] returns.
fn stragglers(args: BenchArgs) -> Result<()> {
    let data_path = match args.data.clone() {
        Some(path) => path,
        None => large_data("bio_kdd04.normalized.xz")?,
    };
    let mut run = RunArgs::parse_defaults();
    run.data = Some(data_path.clone());
    run.optimum = Some(args.optimum);
    run.target_subopt = Some(args.target);
    run.workers = args.workers;
    run.stragglers = Stragglers::Paper;
    run.seed = args.seed;
    run.batch = args.batch;
    run.updates = 10_000_000;
    run.time = Some(300.0);
    run.quiet = true;
    // Time to target is read off the trace: evaluate often enough to resolve sub-second runs.
    run.eval_every = 0.01;
    // One job, from the command line's own defaults; each run changes its algorithm and target.
    let mut spec = run.job(Algorithm::Sgd)?;
    let data = spec.load_data()?;
    eprintln!(
        "{}: {} rows, {} features; {} workers, stragglers paper, target {:e}",
        data.name(),
        data.n_rows(),
        data.dim(),
        args.workers,
        args.target
    );
    let mut runs = Vec::new();
    for (algorithm, target) in [
        (Algorithm::Sgd, args.target),
        (Algorithm::Asgd, args.target),
        (Algorithm::Saga, args.vr_target),
        (Algorithm::Asaga, args.vr_target),
    ] {
        spec.algorithm = algorithm.into();
        spec.stop.target_subopt = Some(target);
        let outcome = job::run(&spec, &data)?;
        eprintln!("{}", outcome.one_line());
        runs.push(outcome);
    }
    spec.precondition = Precondition::Full;
    for algorithm in [Algorithm::Saga, Algorithm::Asaga] {
        spec.algorithm = algorithm.into();
        spec.stop.target_subopt = Some(args.preconditioned_target);
        let outcome = job::run(&spec, &data)?;
        eprintln!("{} (preconditioned): {}", algorithm, outcome.one_line());
        runs.push(outcome);
    }
    let sparse = match args.sparse_data.clone() {
        Some(path) => path,
        None => large_data("reviews_tfidf.xz")?,
    };
    let broadcast = partial_broadcast(&sparse)?;
    let figures = stragglers_figures(&args, &data_path, &runs, broadcast);
    println!("{}", serde_json::to_string_pretty(&figures)?);
    let serde_json::Value::Object(keys) = figures else {
        unreachable!("figures are an object")
    };
    for (key, value) in keys {
        figures::merge(&args.out, &key, value)?;
    }
    eprintln!("figures written to {}", args.out.display());
    Ok(())
}

/// A large dataset the repository does not carry: in `$ASYNC_DATA_DIR`, in `data/large/`
/// (where `scripts/fetch-data.sh` puts them), or in a `shared/data` folder beside the checkout.
fn large_data(name: &str) -> Result<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = std::env::var_os("ASYNC_DATA_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([root.join("data/large"), root.join("../shared/data")]);
    let tried: Vec<PathBuf> = candidates.map(|dir| dir.join(name)).collect();
    tried
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .with_context(|| {
            format!(
                "{name} not found (looked in $ASYNC_DATA_DIR, data/large, ../shared/data): run \
             scripts/fetch-data.sh or pass its path"
            )
        })
}

/// SGD on a sparse set: bytes the broadcasts cost, against sending every version whole.
fn partial_broadcast(path: &std::path::Path) -> Result<serde_json::Value> {
    let mut run = RunArgs::parse_defaults();
    run.data = Some(path.to_path_buf());
    run.batch = 8;
    run.updates = 200;
    run.step = Some(0.5);
    run.quiet = true;
    let spec = run.job(Algorithm::Sgd)?;
    let data = spec.load_data()?;
    let outcome = job::run(&spec, &data)?;
    let stats = &outcome.report.stats;
    eprintln!(
        "partial broadcast on {}: {} of {} bytes",
        data.name(),
        stats.broadcast_bytes,
        stats.broadcast_full_bytes
    );
    Ok(serde_json::json!({
        "dataset": data.name(),
        "features": data.dim(),
        "algo": "sgd",
        "batch_per_partition": run.batch,
        "updates": stats.updates,
        "versions_sent": stats.versions_sent,
        "versions_patched": stats.versions_patched,
        "partial_bytes": stats.broadcast_bytes,
        "full_bytes": stats.broadcast_full_bytes,
        "ratio": stats.broadcast_bytes as f64 / stats.broadcast_full_bytes.max(1) as f64,
    }))
}

fn stragglers_figures(
    args: &BenchArgs,
    data: &std::path::Path,
    runs: &[Outcome],
    broadcast: serde_json::Value,
) -> serde_json::Value {
    let (sgd, asgd, saga, asaga) = (&runs[0], &runs[1], &runs[2], &runs[3]);
    let (saga_p, asaga_p) = (&runs[4], &runs[5]);
    let time = |o: &Outcome| o.time_to_target();
    let stats = &asgd.report.stats;
    // Each worker's own rate: one task per its mean task time (compute plus straggler delay).
    let ideal: f64 = asgd
        .report
        .workers
        .iter()
        .filter(|w| w.mean_task_s > 0.0)
        .map(|w| 1.0 / w.mean_task_s)
        .sum();
    let throughput = stats.results_received as f64 / asgd.report.elapsed_s.max(1e-9);
    serde_json::json!({
        "dataset": data.display().to_string(),
        "workers": args.workers,
        "stragglers": "paper",
        "seed": args.seed,
        "batch": args.batch,
        "target_subopt": args.target,
        "time_to_target_s": { "sgd": time(sgd), "asgd": time(asgd) },
        "speedup_asgd_over_sgd": speedup(time(sgd), time(asgd)),
        "vr_target_subopt": args.vr_target,
        "vr_time_to_target_s": { "saga": time(saga), "asaga": time(asaga) },
        "speedup_asaga_over_saga": speedup(time(saga), time(asaga)),
        "preconditioned_vr": {
            "precondition": "full",
            "target_subopt": args.preconditioned_target,
            "time_to_target_s": { "saga": time(saga_p), "asaga": time(asaga_p) },
            "speedup_asaga_over_saga": speedup(time(saga_p), time(asaga_p)),
            "updates": { "saga": saga_p.report.stats.updates, "asaga": asaga_p.report.stats.updates },
        },
        "history_bytes": { "saga": saga.report.stats.history_bytes, "asaga": asaga.report.stats.history_bytes },
        "partial_broadcast": broadcast,
        "asgd_throughput": {
            "results_per_s": throughput,
            "ideal_results_per_s": ideal,
            "fraction_of_ideal": throughput / ideal.max(1e-9),
            "worker_delay_factors": asgd.report.workers.iter().map(|w| w.delay_factor).collect::<Vec<_>>(),
        },
        "driver_overhead_per_task_ms": {
            "sgd": sgd.report.stats.driver_overhead_per_task_s() * 1e3,
            "asgd": stats.driver_overhead_per_task_s() * 1e3,
        },
        "updates": { "sgd": sgd.report.stats.updates, "asgd": stats.updates },
        "dropped_stale_asgd": stats.dropped_stale,
    })
}

fn speedup(sync: Option<f64>, asynchronous: Option<f64>) -> Option<f64> {
    match (sync, asynchronous) {
        (Some(s), Some(a)) if a > 0.0 => Some(s / a),
        _ => None,
    }
}
