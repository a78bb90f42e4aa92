//! The benchmark of asynchrony under stragglers: SGD and ASGD on the large dense set
//! (bio_kdd04, least squares) with 8 workers and the slow-workers straggler model (or
//! `--stragglers` and `--partitions-per-worker`: the ASYNC paper's own setting is
//! `--stragglers slow-partitions --partitions-per-worker 4`).
//!
//! Writes its figures to a JSON file (default `bench/figures.json`) and prints them:
//! 1. time for SGD and ASGD to reach 1e-2 relative suboptimality, and the speedup, for each
//!    of three seeds (`--seeds`);
//! 2. ASGD's update throughput against the ideal, the sum of each worker's own task rate, and
//!    its elapsed time against the CPU-bound time (updates x mean CPU time per task /
//!    min(cores, workers));
//! 3. the driver's own time per task (encoding, dispatch, bookkeeping, decoding);
//! 4. time for SAGA and ASAGA to reach 1e-3, and the speedup;
//! 5. the same with the full preconditioner, to 1e-4;
//! 6. bytes of partial against full broadcast for SGD on the sparse reviews set.
//!
//! `cargo run --release --bin async-bench -- [--data PATH] [--workers 8] [--out FILE]`
//!
//! Other parts of the benchmark are subcommands (`async-bench --help` lists them); each part
//! rewrites only its own keys of the figures file ([`figures::merge`]).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result};
use async_train::cli::numbers::{self, zero_or_more};
use async_train::cli::{RunArgs, UsageError, EXIT_USAGE};
use async_train::job::Outcome;
use async_train::words::plural;
use asyncopt_algorithms::{Algorithm, Precondition};
use asyncopt_runtime::Stragglers;
use clap::{Parser, Subcommand};

mod faults;
mod figures;
mod paper;
mod ran;
mod scale;
mod session;
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
    /// SGD/ASGD and SAGA/ASAGA under stragglers on bio_kdd04 (the default; slow-workers,
    /// one partition per worker unless told otherwise).
    Stragglers(BenchArgs),
    /// The cost of sealing frames, per frame and per task: with a MAC, and encrypted as
    /// `async-train --encrypt` does (both are measured).
    Session(session::SessionArgs),
    /// The ASYNC paper's experiments: SGD/ASGD and SAGA/ASAGA at delay intensities 0.3, 0.6,
    /// 1.0 and under the cloud model, 32 partitions on 8 workers, on bio, reviews and a9a;
    /// figures into bench/paper/.
    Paper(paper::PaperArgs),
    /// Results per second one driver sustains with 16 to 128 workers of trivial tasks.
    Scale(scale::ScaleArgs),
    /// What a fault costs SGD and ASGD: a worker killed, or stopped past the liveness
    /// timeout, on the built-in comparison.
    Faults(faults::FaultsArgs),
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
    /// The dataset (default: bio_kdd04.normalized.xz in $ASYNC_DATA_DIR, data/large or
    /// ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Its least-squares optimum f* (default: computed exactly from the data, as
    /// `async-train` does).
    #[arg(long, allow_negative_numbers = true, value_parser = optimum)]
    optimum: Option<f64>,
    /// Worker processes.
    #[arg(long, default_value_t = 8, allow_hyphen_values = true, value_parser = local_workers)]
    workers: usize,
    /// Partitions per worker (the ASYNC paper ran 32 partitions on 8 workers).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true, value_parser = numbers::partitions_per_worker)]
    partitions_per_worker: usize,
    /// The straggler model (see `async-train --help`).
    #[arg(long, default_value = "slow-workers", value_parser = Stragglers::from_str)]
    stragglers: Stragglers,
    /// Target relative suboptimality of SGD and ASGD.
    #[arg(long, default_value_t = 1e-2, allow_negative_numbers = true, value_parser = suboptimality)]
    target: f64,
    /// Target relative suboptimality of SAGA and ASAGA.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true, value_parser = suboptimality)]
    vr_target: f64,
    /// Target of SAGA and ASAGA with the full preconditioner.
    #[arg(long, default_value_t = 1e-4, allow_negative_numbers = true, value_parser = suboptimality)]
    preconditioned_target: f64,
    /// The sparse dataset of the broadcast figure (default: reviews_tfidf.xz where the default
    /// --data is looked for).
    #[arg(long)]
    sparse_data: Option<PathBuf>,
    /// Rows sampled per partition and task (0: the whole partition).
    #[arg(long, default_value_t = 256, allow_hyphen_values = true, value_parser = zero_or_more::<usize>)]
    batch: usize,
    /// Seeds of partitioning, sampling and stragglers: SGD and ASGD run once per seed; the
    /// other figures use the first.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "7,8,9",
        allow_hyphen_values = true,
        value_parser = zero_or_more::<u64>
    )]
    seeds: Vec<u64>,
    /// Tasks a worker may hold at once (see `async-train --help`).
    #[arg(long, default_value_t = asyncopt_runtime::DEFAULT_PREFETCH, allow_hyphen_values = true, value_parser = numbers::prefetch)]
    prefetch: usize,
    /// Seconds of training at most per run; a run that misses its target by then has no time
    /// to target.
    #[arg(long, default_value_t = 300.0, allow_negative_numbers = true, value_parser = positive_seconds)]
    time: f64,
    /// Only SGD and ASGD: skip the variance-reduced and broadcast figures (an earlier run's
    /// are removed from --out: they were made under settings this run overwrites).
    #[arg(long)]
    sgd_only: bool,
    /// Where the figures go.
    #[arg(long, default_value = "bench/figures.json")]
    out: PathBuf,
}

fn main() -> std::process::ExitCode {
    asyncopt_runtime::run_worker_if_spawned();
    // One line, as async-train says its errors, not the Debug form with its backtrace; a value
    // refused after parsing exits as one the parser refuses.
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // A signal stopped the part: its runs done are in the figures, as `async-train`
            // says a stopped comparison, and exits 128 + the signal.
            if error.is::<async_train::cli::Interrupted>() {
                eprintln!("{error:#}");
                return std::process::ExitCode::from(async_train::interrupt::exit_code());
            }
            eprintln!("error: {error:#}");
            match error.is::<UsageError>() {
                true => std::process::ExitCode::from(EXIT_USAGE),
                false => std::process::ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.part {
        None => stragglers(cli.stragglers),
        Some(Part::Stragglers(args)) => stragglers(args),
        Some(Part::Session(args)) => session::run(args),
        Some(Part::Paper(args)) => paper::paper(args),
        Some(Part::Scale(args)) => scale::run(args),
        Some(Part::Faults(args)) => faults::run(args),
        Some(Part::Splits(args)) => splits::splits(args),
        Some(Part::SplitsProbe(args)) => splits::probe(args),
    }
}

/// The stragglers figures: the top-level keys of the figures file that [`sgd_asgd_figures`]
/// and [`vr_figures`] return.
fn stragglers(args: BenchArgs) -> Result<()> {
    distinct("--seeds", &args.seeds, u64::to_string)?;
    let data_path = match &args.data {
        // Said first: a missing sparse set must not hide that --data itself is wrong.
        Some(path) => data_file("--data", path)?,
        None => large_data("bio_kdd04.normalized.xz", "give it with --data")?,
    };
    // Found before any run: missing, it would end the part after minutes of runs.
    let sparse = match (&args.sparse_data, args.sgd_only) {
        (_, true) => None,
        (Some(path), false) => Some(data_file("--sparse-data", path)?),
        (None, false) => Some(large_data(
            "reviews_tfidf.xz",
            "give it with --sparse-data, or leave out its figure with --sgd-only",
        )?),
    };
    // After the refusals that create nothing: this one creates the folder of --out.
    figures::check(&args.out)?;
    let mut run = RunArgs::parse_defaults();
    run.data = Some(data_path.clone());
    run.optimum = args.optimum;
    run.target_subopt = Some(args.target);
    run.workers = args.workers;
    run.stragglers = args.stragglers;
    run.partitions_per_worker = args.partitions_per_worker;
    let Some(&seed) = args.seeds.first() else {
        anyhow::bail!("--seeds needs at least one seed");
    };
    run.seed = seed;
    run.prefetch = args.prefetch;
    run.batch = args.batch;
    run.updates = Some(10_000_000);
    run.time = Some(args.time);
    run.quiet = true;
    // Time to target is read off the trace: evaluate often enough to resolve sub-second runs.
    run.eval_every = 0.01;
    // One job, from the command line's own defaults; each run changes its algorithm and target.
    let mut spec = run.job(Algorithm::Sgd)?;
    ran::reading(&data_path);
    let data = spec.load_data()?;
    eprintln!(
        "{}: {}, {}; {}, {} each, stragglers {}, target {:e}",
        data.name(),
        plural(data.n_rows(), "row"),
        plural(data.dim(), "feature"),
        plural(args.workers, "worker"),
        plural(args.partitions_per_worker, "partition"),
        args.stragglers,
        args.target
    );
    let load_before = figures::load_average();
    // SGD and ASGD once per seed: a speedup near a line must hold for more than one draw.
    let mut pairs = Vec::new();
    let planned = 2 * args.seeds.len() + if sparse.is_some() { 5 } else { 0 };
    let mut signals = ran::Stoppable::begin("stragglers", planned);
    for &seed in &args.seeds {
        spec.cluster.seed = seed;
        spec.stop.target_subopt = Some(args.target);
        let mut pair = Vec::new();
        for algorithm in [Algorithm::Sgd, Algorithm::Asgd] {
            spec.algorithm = algorithm.into();
            let label = format!("seed {seed}: {algorithm}");
            let Some(outcome) = signals.run(&label, &spec, &data)? else {
                break;
            };
            eprintln!("seed {seed}: {}", ran::said(&outcome));
            pair.push(outcome);
        }
        // A signal stopped the pair: its figures are those of the pairs done.
        if pair.len() < 2 {
            break;
        }
        let asgd = pair.pop().expect("two runs");
        let sgd = pair.pop().expect("two runs");
        pairs.push((seed, sgd, asgd));
    }
    if pairs.is_empty() {
        // Stopped before a pair was done: no figure to make, and the earlier ones are kept.
        return signals.finish_unwritten(&args.out);
    }
    let mut figures = serde_json::json!({
        "dataset": data_path.display().to_string(),
        "workers": args.workers,
        "stragglers": args.stragglers.to_string(),
        "partitions_per_worker": args.partitions_per_worker,
        "batch": args.batch,
        "prefetch": args.prefetch,
        "load_average_before": load_before,
        "target_subopt": args.target,
        "time_cap_s": args.time,
    });
    extend(&mut figures, sgd_asgd_figures(&args, &pairs));
    // The variance-reduced figures need all their runs: a signal among them leaves them out.
    if let Some(sparse) = sparse.filter(|_| !signals.stopped()) {
        spec.cluster.seed = seed;
        let mut runs = Vec::new();
        for algorithm in [Algorithm::Saga, Algorithm::Asaga] {
            spec.algorithm = algorithm.into();
            spec.stop.target_subopt = Some(args.vr_target);
            if let Some(outcome) = signals.run(&algorithm.to_string(), &spec, &data)? {
                eprintln!("{}", ran::said(&outcome));
                runs.push(outcome);
            }
        }
        spec.precondition = Precondition::Full;
        for algorithm in [Algorithm::Saga, Algorithm::Asaga] {
            spec.algorithm = algorithm.into();
            spec.stop.target_subopt = Some(args.preconditioned_target);
            let label = format!("preconditioned {algorithm}");
            if let Some(outcome) = signals.run(&label, &spec, &data)? {
                eprintln!("preconditioned {}", ran::said(&outcome));
                runs.push(outcome);
            }
        }
        if let Some(broadcast) = partial_broadcast(&sparse, &mut signals)? {
            if runs.len() == 4 {
                extend(&mut figures, vr_figures(&args, &runs, broadcast));
            }
        }
    }
    extend(
        &mut figures,
        serde_json::json!({ "partial": signals.partial() }),
    );
    println!("{}", serde_json::to_string_pretty(&figures)?);
    let serde_json::Value::Object(keys) = figures else {
        unreachable!("figures are an object")
    };
    // Figures of an earlier run that this one did not remake would sit under the settings
    // just written (its workers, time cap, load), which did not make them: dropped.
    let dropped: Vec<&str> = VR_KEYS
        .into_iter()
        .filter(|key| !keys.contains_key(*key))
        .collect();
    figures::replace(&args.out, keys, &dropped)?;
    let written = format!("figures written to {}", args.out.display());
    if signals.stopped() {
        return signals.finish(&format!("{written}, marked partial"));
    }
    eprintln!("{written}");
    Ok(())
}

/// The data file `flag` names, refused before any run when it is missing or a folder (a
/// folder passed for a file until it was loaded, after the runs before it). Exit 1, as
/// `async-train` says a data file it cannot read.
pub(crate) fn data_file(flag: &str, path: &Path) -> Result<PathBuf> {
    anyhow::ensure!(path.exists(), "{flag} {}: no such file", path.display());
    anyhow::ensure!(
        !path.is_dir(),
        "{flag} {} is a folder, not a data file",
        path.display()
    );
    Ok(path.to_path_buf())
}

/// A large dataset the repository does not carry: in `$ASYNC_DATA_DIR`, in `data/large/`
/// (where `scripts/fetch-data.sh` puts them), or in a `shared/data` folder beside the checkout.
/// `otherwise` ends the error: how else this part takes the file.
pub(crate) fn large_data(name: &str, otherwise: &str) -> Result<PathBuf> {
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
                 scripts/fetch-data.sh, or {otherwise}"
            )
        })
}

/// SGD on a sparse set: bytes the broadcasts cost, against sending every version whole;
/// `None` when a signal stopped the run or came before it.
fn partial_broadcast(
    path: &std::path::Path,
    signals: &mut ran::Stoppable,
) -> Result<Option<serde_json::Value>> {
    if signals.stopped() {
        return Ok(None);
    }
    let mut run = RunArgs::parse_defaults();
    run.data = Some(path.to_path_buf());
    run.batch = 8;
    run.updates = Some(200);
    run.step = Some(0.5);
    run.quiet = true;
    let spec = run.job(Algorithm::Sgd)?;
    ran::reading(path);
    let data = spec.load_data()?;
    let Some(outcome) = signals.run("partial broadcast", &spec, &data)? else {
        return Ok(None);
    };
    // A run that never trained sent no broadcast to count: its figure is its failure.
    if outcome.failed_untrained() {
        eprintln!(
            "partial broadcast on {}: {}",
            data.name(),
            ran::said(&outcome)
        );
        return Ok(Some(serde_json::json!({
            "dataset": data.name(),
            "features": data.dim(),
            "algo": "sgd",
            "failure": outcome.failure,
        })));
    }
    let stats = &outcome.report.stats;
    eprintln!(
        "partial broadcast on {}: {} of {} bytes",
        data.name(),
        stats.broadcast_bytes,
        stats.broadcast_full_bytes
    );
    Ok(Some(serde_json::json!({
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
    })))
}

/// Adds the keys of `more` to the object `figures`.
fn extend(figures: &mut serde_json::Value, more: serde_json::Value) {
    if let (serde_json::Value::Object(to), serde_json::Value::Object(from)) = (figures, more) {
        to.extend(from);
    }
}

/// SGD against ASGD for each seed, and ASGD against two limits: the sum of the workers' own
/// rates (what the workers would allow with an infinitely fast driver and a core each), and
/// the CPU-bound time (the computation its updates need, spread over the cores).
fn sgd_asgd_figures(args: &BenchArgs, pairs: &[(u64, Outcome, Outcome)]) -> serde_json::Value {
    let time = ran::time_to_target;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_seed: Vec<serde_json::Value> = pairs
        .iter()
        .map(|(seed, sgd, asgd)| {
            let updates = |o: &Outcome| ran::trained(o, |o| o.report.stats.updates);
            let overhead_ms = |o: &Outcome| {
                ran::trained(o, |o| o.report.stats.driver_overhead_per_task_s() * 1e3)
            };
            let limits = ran::trained(asgd, |asgd| asgd_limits(args, cores, sgd, asgd));
            let (cpu_bound, throughput) = limits.unzip();
            serde_json::json!({
                "seed": seed,
                "time_to_target_s": { "sgd": time(sgd), "asgd": time(asgd) },
                "speedup_asgd_over_sgd": speedup(time(sgd), time(asgd)),
                "updates": { "sgd": updates(sgd), "asgd": updates(asgd) },
                "dropped_stale_asgd": ran::trained(asgd, |o| o.report.stats.dropped_stale),
                "prefetched_asgd": ran::trained(asgd, |o| o.report.stats.prefetched),
                "failures": { "sgd": sgd.failure, "asgd": asgd.failure },
                "asgd_elapsed_s": ran::trained(asgd, |o| o.report.elapsed_s),
                "asgd_cpu_bound": cpu_bound,
                "asgd_throughput": throughput,
                "driver_overhead_per_task_ms": { "sgd": overhead_ms(sgd), "asgd": overhead_ms(asgd) },
            })
        })
        .collect();
    let speedups: Vec<Option<f64>> = pairs
        .iter()
        .map(|(_, sgd, asgd)| speedup(time(sgd), time(asgd)))
        .collect();
    let failed = |o: &Outcome| o.failed_untrained();
    let summary = ran::speedups(
        (speedups.iter().zip(pairs))
            .map(|(speedup, (_, sgd, asgd))| (*speedup, failed(sgd) || failed(asgd))),
    );
    let (_, first_sgd, first_asgd) = &pairs[0];
    let first = &per_seed[0];
    serde_json::json!({
        "seeds": pairs.iter().map(|(seed, ..)| *seed).collect::<Vec<_>>(),
        "asgd_vs_sgd_per_seed": per_seed,
        // Of the pairs that trained: one that failed measured nothing, and is counted here.
        "speedup_asgd_over_sgd_min": summary.min,
        "pairs_failed": summary.pairs_failed,
        // The first seed's figures under the keys earlier versions wrote.
        "seed": pairs[0].0,
        "time_to_target_s": { "sgd": time(first_sgd), "asgd": time(first_asgd) },
        "speedup_asgd_over_sgd": speedups[0],
        "updates": first["updates"].clone(),
        "dropped_stale_asgd": first["dropped_stale_asgd"].clone(),
        "asgd_throughput": first["asgd_throughput"].clone(),
        "asgd_cpu_bound": first["asgd_cpu_bound"].clone(),
        "driver_overhead_per_task_ms": first["driver_overhead_per_task_ms"].clone(),
    })
}

/// ASGD of one seed against its two limits: its CPU-bound time (beside the SGD run of the
/// seed) and the sum of its workers' own rates. Only of an ASGD run that trained.
fn asgd_limits(
    args: &BenchArgs,
    cores: usize,
    sgd: &Outcome,
    asgd: &Outcome,
) -> (serde_json::Value, serde_json::Value) {
    let time = ran::time_to_target;
    let stats = &asgd.report.stats;
    let workers = &asgd.report.workers;
    // Each worker's own rate: one task per its mean task time (compute plus delay).
    let ideal: f64 = workers
        .iter()
        .filter(|w| w.mean_task_s > 0.0)
        .map(|w| 1.0 / w.mean_task_s)
        .sum();
    let throughput = stats.results_received as f64 / asgd.report.elapsed_s.max(1e-9);
    // Mean computation per task, straggler sleep left out, weighted by tasks done: in
    // CPU time, which the limit needs (more workers than cores stretch a task's wall
    // time by the time slices others took), and in wall time, as the workers saw it.
    let tasks: u64 = workers.iter().map(|w| w.tasks_done).sum();
    let per_task = |of: fn(&asyncopt_runtime::WorkerInfo) -> f64| {
        workers
            .iter()
            .map(|w| of(w) * w.tasks_done as f64)
            .sum::<f64>()
            / tasks.max(1) as f64
    };
    let cpu_s = per_task(|w| w.mean_cpu_s);
    let wall_s = per_task(|w| w.mean_compute_s);
    let cpu_bound_s = stats.updates as f64 * cpu_s / cores.min(args.workers).max(1) as f64;
    let fraction = cpu_bound_s / asgd.report.elapsed_s.max(1e-9);
    // What ASGD would gain over this SGD run at its CPU-bound limit: its time to
    // target shrunk by the fraction. On fewer cores than workers this is the ceiling.
    let at_cpu_bound = time(asgd).map(|t| t * fraction);
    let sgd_ms_per_update = ran::trained(sgd, |sgd| {
        sgd.report.elapsed_s * 1e3 / sgd.report.stats.updates.max(1) as f64
    });
    let cpu_bound = serde_json::json!({
        "mean_cpu_per_task_ms": cpu_s * 1e3,
        "mean_wall_compute_per_task_ms": wall_s * 1e3,
        "cores": cores,
        "cpu_bound_s": cpu_bound_s,
        "fraction_of_cpu_bound": fraction,
        "speedup_over_sgd_at_cpu_bound": speedup(time(sgd), at_cpu_bound),
        "sgd_ms_per_update": sgd_ms_per_update,
    });
    let throughput = serde_json::json!({
        "results_per_s": throughput,
        "ideal_results_per_s": ideal,
        "fraction_of_ideal": throughput / ideal.max(1e-9),
        "worker_delay_factors": workers.iter().map(|w| w.delay_factor).collect::<Vec<_>>(),
    });
    (cpu_bound, throughput)
}

/// The keys of [`vr_figures`]: the figures a `--sgd-only` run does not remake.
const VR_KEYS: [&str; 7] = [
    "vr_target_subopt",
    "vr_time_to_target_s",
    "speedup_asaga_over_saga",
    "vr_failures",
    "preconditioned_vr",
    "history_bytes",
    "partial_broadcast",
];

/// SAGA against ASAGA, plain and preconditioned, and the partial broadcast (the keys of
/// [`VR_KEYS`]).
fn vr_figures(
    args: &BenchArgs,
    runs: &[Outcome],
    broadcast: serde_json::Value,
) -> serde_json::Value {
    let (saga, asaga) = (&runs[0], &runs[1]);
    let (saga_p, asaga_p) = (&runs[2], &runs[3]);
    let time = ran::time_to_target;
    let updates = |o: &Outcome| ran::trained(o, |o| o.report.stats.updates);
    let history = |o: &Outcome| ran::trained(o, |o| o.report.stats.history_bytes);
    serde_json::json!({
        "vr_target_subopt": args.vr_target,
        "vr_time_to_target_s": { "saga": time(saga), "asaga": time(asaga) },
        "speedup_asaga_over_saga": speedup(time(saga), time(asaga)),
        "vr_failures": { "saga": saga.failure, "asaga": asaga.failure },
        "preconditioned_vr": {
            "precondition": "full",
            "target_subopt": args.preconditioned_target,
            "time_to_target_s": { "saga": time(saga_p), "asaga": time(asaga_p) },
            "speedup_asaga_over_saga": speedup(time(saga_p), time(asaga_p)),
            "updates": { "saga": updates(saga_p), "asaga": updates(asaga_p) },
            "failures": { "saga": saga_p.failure, "asaga": asaga_p.failure },
        },
        "history_bytes": { "saga": history(saga), "asaga": history(asaga) },
        "partial_broadcast": broadcast,
    })
}

/// A number of seconds above zero, for `--time`: up to the most `async-train --time` takes,
/// which refused more only once the part had begun, exit 1.
pub(crate) fn positive_seconds(text: &str) -> Result<f64, String> {
    numbers::number(
        text,
        |s| s > 0.0 && s <= numbers::MAX_SECONDS,
        &format!(
            "a number of seconds above 0, at most {:e}",
            numbers::MAX_SECONDS
        ),
    )
}

/// Worker processes, all local: from 1 to the most the runtime starts on one host (more was
/// refused only once the part had begun, exit 1, and `scale --workers 18446744073709551615`
/// panicked).
pub(crate) fn local_workers(text: &str) -> Result<usize, String> {
    numbers::whole(text, 1, asyncopt_runtime::cluster::MAX_LOCAL_WORKERS as u64)
}

/// The least-squares optimum of `--optimum`, above 0: the targets are relative to it, and a
/// value refused otherwise was refused once the part had begun (a negative one read as an
/// unknown flag).
fn optimum(text: &str) -> Result<f64, String> {
    let what = "a least-squares optimum above 0 (the targets are relative to it)";
    numbers::number(text, |f| f.is_finite() && f > 0.0, what)
}

/// A relative suboptimality to reach, for the targets: checked here, not when its runs begin,
/// so that a bad `--vr-target` does not wait for the SGD runs, and the error names its flag.
/// Above 0: no run reaches a suboptimality of 0, so each ran to its time cap.
fn suboptimality(text: &str) -> Result<f64, String> {
    let what = "a relative suboptimality above 0";
    numbers::number(text, |t| t.is_finite() && t > 0.0, what)
}

/// Refuses a list flag that names one value twice, before any run: its runs would run twice,
/// the later's figures overwriting the earlier's (as `async-train compare --algos sgd,sgd`
/// is refused). A [`UsageError`], exit 2.
pub(crate) fn distinct<T: PartialEq>(
    flag: &str,
    values: &[T],
    name: impl Fn(&T) -> String,
) -> Result<()> {
    for (i, value) in values.iter().enumerate() {
        if values[..i].contains(value) {
            let said = format!("{flag} names {} twice: give each value once", name(value));
            return Err(UsageError(said).into());
        }
    }
    Ok(())
}

/// Time of the synchronous run over time of the asynchronous one, when both reached the target.
pub(crate) fn speedup(sync: Option<f64>, asynchronous: Option<f64>) -> Option<f64> {
    match (sync, asynchronous) {
        (Some(s), Some(a)) if a > 0.0 => Some(s / a),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    #[test]
    fn zero_repeats_are_refused_before_anything_runs() {
        // `session --repeats 0` took the median of no runs and panicked, after the per-frame
        // part; `faults --repeats 0` ran once as if given 1.
        for part in ["session", "faults"] {
            let parsed = Cli::try_parse_from(["async-bench", part, "--repeats", "0"]);
            let error = parsed.expect_err(part).to_string();
            assert!(error.contains("--repeats"), "{part}: {error}");
        }
        assert!(Cli::try_parse_from(["async-bench", "session", "--repeats", "1"]).is_ok());
    }

    #[test]
    fn a_list_default_is_shown_as_the_list_is_written() {
        // `splits --help` showed `[default: 500 1500]`, a list no one can pass that way: the
        // flag takes its sizes separated by commas, as the other parts' lists show theirs.
        use clap::CommandFactory;
        let mut command = Cli::command();
        let splits = command.find_subcommand_mut("splits").expect("splits");
        let help = splits.render_help().to_string();
        assert!(help.contains("[default: 500,1500]"), "{help}");
    }

    #[test]
    fn counts_that_leave_nothing_to_measure_are_refused() {
        // Each ran and wrote figures of nothing: an empty generated file whose failure was
        // recorded as a figure, a session of no updates, a scale run of no results.
        for (part, flag) in [
            ("splits", "--sizes-mb"),
            ("session", "--updates"),
            ("session", "--seal-mib"),
            ("scale", "--results"),
            ("stragglers", "--time"),
        ] {
            let parsed = Cli::try_parse_from(["async-bench", part, flag, "0"]);
            let error = parsed.expect_err(part).to_string();
            assert!(error.contains(flag), "{part}: {error}");
        }
        // A run of no workers: splits wrote the failure of each mode as its figures.
        for part in ["stragglers", "session", "paper", "splits", "scale"] {
            let parsed = Cli::try_parse_from(["async-bench", part, "--workers", "0"]);
            let error = parsed.expect_err(part).to_string();
            assert!(error.contains("--workers"), "{part}: {error}");
        }
        assert!(Cli::try_parse_from(["async-bench", "scale", "--workers", "2,0"]).is_err());
        let sizes = ["async-bench", "splits", "--sizes-mb", "1,0"];
        assert!(Cli::try_parse_from(sizes).is_err(), "every size is checked");
    }

    #[test]
    fn targets_and_time_are_checked_when_parsed_under_their_own_flags() {
        // A target was checked only as its runs began, under async-train's flag name
        // (`--target-subopt`), and a negative one or `--time -1` read as an unknown flag.
        for flag in [
            "--target",
            "--vr-target",
            "--preconditioned-target",
            "--time",
        ] {
            for value in ["nan", "inf", "-1", "0", "-0"] {
                if flag == "--time" && value.ends_with('0') {
                    continue;
                }
                let parsed = Cli::try_parse_from(["async-bench", flag, value]);
                let error = parsed.expect_err(flag).to_string();
                assert!(
                    error.contains(&format!("for '{flag} <")),
                    "{flag} {value}: {error}"
                );
            }
        }
        // faults' --at and --stop: -1 read as a flag, NaN refused in Duration's words.
        for value in ["nan", "-1", "1e300"] {
            for flag in ["--at", "--stop"] {
                let parsed = Cli::try_parse_from(["async-bench", "faults", flag, value]);
                let error = parsed.expect_err(flag).to_string();
                assert!(
                    error.contains("seconds from 0 to 180"),
                    "{flag} {value}: {error}"
                );
            }
        }
    }

    #[test]
    fn every_integer_flag_names_itself_and_what_it_takes_for_a_negative_number() {
        // clap read `--workers -3` as an unknown flag `-3`, naming neither the flag nor what
        // it takes. Each integer flag of each part, with the least value it takes.
        let flags = [
            ("stragglers", "--workers", 1),
            ("stragglers", "--partitions-per-worker", 1),
            ("stragglers", "--batch", 0),
            ("stragglers", "--seeds", 0),
            ("stragglers", "--prefetch", 1),
            ("session", "--workers", 1),
            ("session", "--updates", 1),
            ("session", "--repeats", 1),
            ("session", "--seal-mib", 1),
            ("paper", "--workers", 1),
            ("paper", "--partitions-per-worker", 1),
            ("paper", "--seed", 0),
            ("scale", "--workers", 1),
            ("scale", "--results", 1),
            ("scale", "--task-sleep-us", 0),
            ("scale", "--prefetch", 1),
            ("faults", "--seed", 0),
            ("faults", "--repeats", 1),
            ("splits", "--sizes-mb", 1),
            ("splits", "--workers", 1),
            ("splits-probe", "--workers", 1),
        ];
        for (part, flag, least) in flags {
            let required: &[&str] = match part {
                "splits-probe" => &["--data", "x.svm", "--access", "shared"],
                _ => &[],
            };
            let parse = |value: &str| {
                let args = ["async-bench", part, flag, value];
                Cli::try_parse_from(args.iter().chain(required))
            };
            let below = (least > 0).then(|| (least - 1).to_string());
            for value in ["-3", "-1,2", "x"].into_iter().chain(below.as_deref()) {
                let error = parse(value).expect_err(flag).to_string();
                let said = format!("for '{flag} <");
                assert!(
                    error.contains(&said) && error.contains("is not a whole number"),
                    "{part} {flag} {value}: {error}"
                );
            }
            let fine = parse(&least.to_string());
            assert!(fine.is_ok(), "{part} {flag} {least}: {:?}", fine.err());
        }
        let error = Cli::try_parse_from(["async-bench", "session", "--seal-mib", "4097"]);
        let error = error.expect_err("4097 MiB").to_string();
        assert!(error.contains("a whole number from 1 to 4096"), "{error}");
    }

    #[test]
    fn the_paper_part_checks_its_numbers_when_parsed() {
        // --asaga-step-scale nan ran every run and plotted ASAGA without a step; a negative
        // number read as an unknown flag; intensity 200 was refused once the data was loaded.
        for (flag, value) in [
            ("--time", "-1"),
            ("--time", "nan"),
            ("--asaga-step-scale", "nan"),
            ("--asaga-step-scale", "-1"),
            ("--asaga-step-scale", "0"),
            ("--settings", "200"),
            ("--settings", "-0.3"),
            ("--partitions-per-worker", "0"),
        ] {
            let parsed = Cli::try_parse_from(["async-bench", "paper", flag, value]);
            let error = parsed.expect_err(flag).to_string();
            assert!(
                error.contains(&format!("for '{flag} <")),
                "{flag} {value}: {error}"
            );
        }
        let fine = ["async-bench", "paper", "--settings", "100,cloud"];
        assert!(Cli::try_parse_from(fine).is_ok());
    }
}
