//! The command line: `async-train [--algo NAME ...]`, `async-train compare ...`,
//! `async-train evaluate|predict --model M --data D`, `async-train worker --driver ADDR`.
//! With no arguments at all it runs the built-in comparison.

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use asyncopt_algorithms::{Algorithm, Loss, Params, Precondition};
use asyncopt_runtime::cluster::MAX_LOCAL_WORKERS;
use asyncopt_runtime::data::{LoadOptions, SharedOptions};
use asyncopt_runtime::protocol::{name_problem, MAX_WORKER_NAME};
use asyncopt_runtime::worker::{RunEnd, MAX_PARTITIONS};
use asyncopt_runtime::{ClusterConfig, Stragglers, Token, DEFAULT_PREFETCH};
use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::compare::{self, CompareOutputs};
use crate::interrupt;
use crate::job::{self, Checkpointing, DataAccess, DataSource, JobSpec, StopRules};
use crate::model_file::SavedModel;
use crate::optimizer::{Optimizer, Registry};
use crate::score::Scorer;
use crate::trace::{check_writable, create_parent, same_file};

/// The exit code of a run that ended without reaching its `--target-subopt`.
pub const EXIT_TARGET_MISSED: u8 = 3;

/// The exit code of a usage error: a flag or value the parser refuses, or a [`UsageError`].
pub const EXIT_USAGE: u8 = 2;

/// A flag's value refused after parsing (out of its range, or one the optimizer would not
/// read, or a flag missing beside another): `main` exits with [`EXIT_USAGE`], as for a flag
/// the parser refuses, with the reason as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A run ended without reaching its target: `main` exits with [`EXIT_TARGET_MISSED`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetMissed(pub String);

/// A signal stopped a run, whose files were written: `main` exits with 128 + the signal's
/// number ([`interrupt::exit_code`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

const EXAMPLES: &str = "\
Examples:
  async-train --algo asaga --data train.libsvm.xz --workers 4 --stragglers slow-workers \\
      --target-subopt 1e-4 --trace run.csv --summary run.json --plot run.svg
  async-train --algo asgd --loss logistic --lambda 1e-4 --bias --data a9a.xz --save-model m.json
  async-train evaluate --model m.json --data a9a.t.xz

Exit codes: 0 done, 1 error, 2 usage error (a flag or a value refused), 3 a --target-subopt
that was not reached, 130 (143, 129) stopped by Ctrl-C (SIGTERM, SIGHUP: a closed terminal,
unless under nohup): the run ended at its next update and its files are written; a second
Ctrl-C quits at once.
Logs: RUST_LOG (or ASYNC_LOG) takes tracing filters, e.g. RUST_LOG=debug.";

/// Distributed asynchronous optimization on LIBSVM data.
#[derive(Debug, Parser)]
#[command(
    name = "async-train",
    version,
    args_conflicts_with_subcommands = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: TrainArgs,
    /// More log lines (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run several algorithms on the same data and seed and compare their time to the target.
    Compare(Box<CompareArgs>),
    /// Score a saved model on a LIBSVM file: RMSE and R^2, or accuracy, log-loss and ROC AUC;
    /// a model of an optimizer's own type, its objective and the metrics its type gives.
    Evaluate(EvaluateArgs),
    /// Write a saved model's prediction for every row of a LIBSVM file, as CSV.
    Predict(PredictArgs),
    /// Run as a worker of a driver on another host.
    Worker(WorkerArgs),
}

/// `--data-access auto` lets workers read their own splits of plain files of at least this
/// many bytes (64 MiB).
pub const AUTO_SHARED_BYTES: u64 = 64 << 20;

/// `--data-access`: how workers get their partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DataAccessName {
    /// Shared for a plain file of at least 64 MiB and local workers, ship otherwise.
    Auto,
    /// Every worker reads its own splits of the file.
    Shared,
    /// The driver reads the file and sends the partitions.
    Ship,
}

/// Settings shared by `train` and `compare`.
/// The largest `--max-features`: a model of more features could not even be allocated on
/// most hosts, and its size in bytes would overflow the allocator's arithmetic.
const MAX_FEATURES_CEILING: usize = 1 << 31;

/// The most versions of each broadcast variable `--keep-versions` keeps.
const MAX_KEEP_VERSIONS: usize = 1024;

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// LIBSVM file (plain, .gz or .xz); without it, the built-in California housing set.
    #[arg(long, help_heading = "Data")]
    pub data: Option<PathBuf>,
    /// Number of features, when the file does not use the last one.
    #[arg(long, requires = "data", help_heading = "Data")]
    pub dim: Option<usize>,
    /// The memory budget of a model, in features: a file using a larger index (or a larger
    /// --dim) is refused before anything is allocated for it.
    #[arg(long, default_value_t = LoadOptions::DEFAULT_MAX_DIM, requires = "data", help_heading = "Data")]
    pub max_features: usize,
    /// Append a constant feature 1 to every row (an intercept, as LIBLINEAR's -B 1).
    #[arg(long, help_heading = "Data")]
    pub bias: bool,
    /// How workers get their partitions of --data: `shared` (each worker reads its own
    /// byte-range splits of the file, which must be at the same path on every host; a
    /// compressed file is read whole by each worker, keeping its rows), `ship` (the driver
    /// reads the file and sends each worker its partitions), or `auto`: shared for a plain
    /// file of at least 64 MiB and local workers, ship otherwise.
    #[arg(long, value_enum, default_value_t = DataAccessName::Auto, requires = "data", help_heading = "Data")]
    pub data_access: DataAccessName,
    /// With shared data access: the driver evaluates the objective (and computes f*, the
    /// default step and preconditioner) on this many rows of the file, drawn by the seed; a
    /// file with no more rows is read whole, and its objective is exact.
    #[arg(long, default_value_t = SharedOptions::DEFAULT_EVAL_ROWS, requires = "data", help_heading = "Data")]
    pub eval_rows: usize,
    /// Versions of each broadcast variable the driver keeps for reads of older ones
    /// (`w.at(v)`), at least what the optimizer declares; each is a copy of the variable on
    /// the driver [default: 16]
    #[arg(long, help_heading = "Optimizer")]
    pub keep_versions: Option<usize>,
    /// Partitions per worker (the ASYNC paper ran 32 partitions on 8 workers: 4). A worker
    /// takes its partitions' tasks in turn; a synchronous step reduces over all of them.
    #[arg(long, default_value_t = 1, help_heading = "Cluster")]
    pub partitions_per_worker: usize,
    /// Objective.
    #[arg(long, value_enum, default_value_t = LossName::LeastSquares, help_heading = "Objective")]
    pub loss: LossName,
    /// L2 regularisation lambda/2 |w|^2: ridge for least squares (default 0), 1e-4 by default
    /// for logistic.
    #[arg(long, allow_negative_numbers = true, help_heading = "Objective")]
    pub lambda: Option<f64>,
    /// The optimal objective f*; computed for least squares when not given.
    #[arg(long, allow_negative_numbers = true, help_heading = "Objective")]
    pub optimum: Option<f64>,
    /// Step size; by default from the smoothness L of the data and the algorithm (1/L for SGD,
    /// smaller for the asynchronous and variance-reduced ones: see the README).
    #[arg(long, allow_negative_numbers = true, help_heading = "Optimizer")]
    pub step: Option<f64>,
    /// A hyperparameter of an author's optimizer, NAME=VALUE (repeatable); an unknown NAME
    /// is refused with the list of those the optimizer takes.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param, help_heading = "Optimizer")]
    pub params: Vec<(String, f64)>,
    /// Heavy-ball momentum.
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 0.0,
        help_heading = "Optimizer"
    )]
    pub momentum: f64,
    /// Preconditioner of the update direction, built once on the driver: none, diagonal
    /// (Jacobi: each feature scaled to unit curvature, any dimension), or full (the inverse of
    /// X^T X/n by Cholesky, at most 2000 features; for ill-conditioned data).
    #[arg(long, default_value = "none", value_parser = parse_precondition, help_heading = "Optimizer")]
    pub precondition: Precondition,
    /// Rows sampled per partition and task (0: the whole partition).
    #[arg(long, default_value_t = 256, help_heading = "Optimizer")]
    pub batch: usize,
    /// Asynchronous methods: idle workers needed before dispatching.
    #[arg(long, default_value_t = Params::DEFAULT_QUORUM, help_heading = "Optimizer")]
    pub quorum: usize,
    /// Asynchronous methods: drop results more than this many updates old.
    #[arg(long, default_value_t = Params::DEFAULT_MAX_STALENESS, help_heading = "Optimizer")]
    pub max_staleness: u64,
    /// Asynchronous methods: divide the step by 1 + staleness.
    #[arg(long, help_heading = "Optimizer")]
    pub staleness_aware: bool,
    /// SVRG: updates per snapshot (0: one pass over the data, rows / (batch x partitions) for
    /// SVRG, rows / batch for ASVRG). Each snapshot counts as one more update.
    #[arg(long, default_value_t = 0, help_heading = "Optimizer")]
    pub epoch: usize,
    /// Seed of partitioning, sampling and stragglers.
    #[arg(long, default_value_t = 7, help_heading = "Optimizer")]
    pub seed: u64,
    /// Stop after this many updates: the bound of the optimizer's loop, `p.updates` (one
    /// update per pass for the built-in optimizers, plus one per SVRG snapshot) [default:
    /// 5000, none with --time]
    #[arg(long, help_heading = "Stop rules")]
    pub updates: Option<usize>,
    /// Stop after this many seconds of training (with no bound on the updates unless
    /// --updates gives one).
    #[arg(long, allow_negative_numbers = true, help_heading = "Stop rules")]
    pub time: Option<f64>,
    /// Stop once (f - f*)/f* is at most this; exit code 3 if it is never reached.
    #[arg(long, allow_negative_numbers = true, help_heading = "Stop rules")]
    pub target_subopt: Option<f64>,
    /// Worker processes.
    #[arg(long, default_value_t = 4, help_heading = "Cluster")]
    pub workers: usize,
    /// Simulated stragglers: none; slow-workers (alias paper: 25% of the workers, each with a
    /// factor drawn once, 80% 1.5-2.5x and the rest 2.5-10x, sleep that times their mean
    /// compute after every task); slow-partitions (alias asyncpaper: every fourth partition's
    /// tasks are preceded by a sleep of a factor drawn per task, same ranges, times the mean
    /// compute the driver measured); or intensity:C (one worker sleeps C times its mean compute
    /// after every task).
    #[arg(long, default_value = "none", value_parser = StragglersParser, help_heading = "Cluster")]
    pub stragglers: Stragglers,
    /// Asynchronous methods: tasks a worker may hold at once; with 2 it is sent its next task
    /// while it computes one, hiding the round trip to the driver (1: no prefetch).
    /// Synchronous methods give the same result whatever it is.
    #[arg(long, default_value_t = DEFAULT_PREFETCH, help_heading = "Cluster")]
    pub prefetch: usize,
    /// Address the driver listens on (default: loopback, any free port).
    #[arg(long, help_heading = "Cluster")]
    pub bind: Option<String>,
    /// Wait for remote workers instead of starting local ones.
    #[arg(long, help_heading = "Cluster")]
    pub remote_workers: bool,
    /// File holding the run's shared token (required to listen beyond loopback).
    #[arg(long, help_heading = "Cluster")]
    pub token_file: Option<PathBuf>,
    /// Encrypt every frame after admission (ChaCha20-Poly1305), for untrusted networks.
    #[arg(long, help_heading = "Cluster")]
    pub encrypt: bool,
    /// Seconds to wait for the workers to join.
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 60.0,
        help_heading = "Cluster"
    )]
    pub join_timeout: f64,
    /// Local worker processes that may be started in place of ones that die during the run
    /// (crashed, killed, out of memory); 0: the run goes on with the others [default: the
    /// number of workers].
    #[arg(long, help_heading = "Cluster")]
    pub max_respawns: Option<u32>,
    /// Seconds of training between the trace's points: the stop rules' evaluations (stretched
    /// to keep them under 10% of the time) and, between them, models recorded and evaluated
    /// after the run (0: evaluations only, as often as their budget allows).
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 0.05,
        help_heading = "Output"
    )]
    pub eval_every: f64,
    /// No progress output, warnings and errors only.
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,
}

#[derive(Debug, Args)]
struct TrainArgs {
    /// The optimizer.
    #[arg(long, default_value = "sgd", value_parser = AlgorithmParser::builtin())]
    algo: Optimizer,
    #[command(flatten)]
    run: RunArgs,
    /// Trace CSV: elapsed_s, updates, objective, ...
    #[arg(long, help_heading = "Output")]
    trace: Option<PathBuf>,
    /// Summary JSON.
    #[arg(long, help_heading = "Output")]
    summary: Option<PathBuf>,
    /// Plot of the objective against time: SVG, or PNG for a `.png` name.
    #[arg(long, help_heading = "Output")]
    plot: Option<PathBuf>,
    /// Keep the trained model: a JSON file with its weights (or its own type's JSON), loss,
    /// dimension, bias and the training data's fingerprint (the `evaluate` and `predict`
    /// subcommands read it).
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    save_model: Option<PathBuf>,
    /// Folder to keep a checkpoint of the driver in, rewritten as the run goes (every 10 s of
    /// training unless --checkpoint-updates or --checkpoint-seconds say otherwise).
    #[arg(long, value_name = "DIR", help_heading = "Checkpoints")]
    checkpoint: Option<PathBuf>,
    /// Checkpoint after this many updates.
    #[arg(long, value_name = "N", help_heading = "Checkpoints")]
    checkpoint_updates: Option<u64>,
    /// Checkpoint after this many seconds of training.
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "S",
        help_heading = "Checkpoints"
    )]
    checkpoint_seconds: Option<f64>,
    /// Continue the run checkpointed in DIR: give the same algorithm, data and settings (stop
    /// rules and workers may change; a default step is set anew for the workers). Checkpoints
    /// go on into DIR unless --checkpoint is given.
    #[arg(long, value_name = "DIR", help_heading = "Checkpoints")]
    resume: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// Optimizers, comma-separated.
    #[arg(long, default_value = "sgd,asgd", value_delimiter = ',', value_parser = AlgorithmParser::builtin())]
    algos: Vec<Optimizer>,
    #[command(flatten)]
    run: RunArgs,
    /// Folder for the traces, summaries, models and the plot.
    #[arg(long, help_heading = "Output")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct EvaluateArgs {
    /// A model written by --save-model.
    #[arg(long)]
    model: PathBuf,
    /// LIBSVM file to score the model on (plain, .gz or .xz).
    #[arg(long)]
    data: PathBuf,
    /// Also write the metrics as JSON here (`-`: stdout, the line above going to stderr).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PredictArgs {
    /// A model written by --save-model.
    #[arg(long)]
    model: PathBuf,
    /// LIBSVM file whose rows to predict (its labels, whatever they are, are not used).
    #[arg(long)]
    data: PathBuf,
    /// CSV to write (`-`: stdout): `prediction` per row (least squares),
    /// `probability,label` (logistic), or the columns a model of an optimizer's own type names.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct WorkerArgs {
    /// The driver's address, e.g. tcp://10.0.0.1:7000.
    #[arg(long)]
    driver: String,
    /// This worker's name, unique in the run.
    #[arg(long)]
    name: Option<String>,
    /// File holding the run's shared token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// When the driver is lost, keep trying to join it again for this many seconds
    /// (a worker otherwise exits with its driver).
    #[arg(long, allow_negative_numbers = true)]
    reconnect: Option<f64>,
    /// Seconds the driver may stay silent, its connection open, before it counts as lost (a
    /// driver's host that died leaves no one to close it); 0: only a closed connection.
    #[arg(long, allow_negative_numbers = true, default_value_t = asyncopt_runtime::worker::DEFAULT_DRIVER_TIMEOUT.as_secs_f64())]
    driver_timeout: f64,
    /// Seconds to keep trying to reach a driver that is not listening yet (it binds its port
    /// once its data is loaded) or whose name does not resolve yet.
    #[arg(long, allow_negative_numbers = true, default_value_t = asyncopt_runtime::worker::DEFAULT_CONNECT_TIMEOUT.as_secs_f64())]
    connect_timeout: f64,
    /// Runs to serve one after the other at this address: `compare` with remote workers trains
    /// one run per algorithm, each with a driver of its own.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

/// The objectives on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LossName {
    /// 1/(2n) |Xw - y|^2.
    LeastSquares,
    /// 1/n sum log(1 + exp(-y x.w)) + lambda/2 |w|^2.
    Logistic,
}

/// Parses `--algo` against the optimizers of the command line and lists them in `--help` and
/// shell completions, with a one-line error for an unknown name.
#[derive(Clone)]
struct AlgorithmParser(Registry);

impl AlgorithmParser {
    fn builtin() -> AlgorithmParser {
        AlgorithmParser(Registry::with(&[]).expect("the built-in names differ"))
    }
}

impl TypedValueParser for AlgorithmParser {
    type Value = Optimizer;

    fn parse_ref(
        &self,
        _: &clap::Command,
        _: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Optimizer, clap::Error> {
        self.0
            .get(&value.to_string_lossy())
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e + "\n"))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        // An optimizer's own hyperparameters, with their defaults, beside its name.
        Some(Box::new(self.0.all().iter().map(|o| {
            let hypers: Vec<String> = o
                .hypers()
                .iter()
                .map(|h| match h.admits(f64::MIN) && h.admits(f64::MAX) {
                    true => format!("--param {}={} ({})", h.name, h.default, h.help),
                    false => format!(
                        "--param {}={} ({}; {})",
                        h.name,
                        h.default,
                        h.help,
                        h.range()
                    ),
                })
                .collect();
            let value = PossibleValue::new(o.name());
            match hypers.is_empty() {
                true => value,
                false => value.help(hypers.join(", ")),
            }
        })))
    }
}

/// Parses `--stragglers` (`none`, `slow-workers`, `slow-partitions`, `intensity:C`, and the
/// aliases `paper`, `asyncpaper`) and lists the models in `--help`.
#[derive(Clone)]
struct StragglersParser;

impl TypedValueParser for StragglersParser {
    type Value = Stragglers;

    fn parse_ref(
        &self,
        _: &clap::Command,
        _: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Stragglers, clap::Error> {
        value
            .to_string_lossy()
            .parse()
            .map_err(|e: String| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e + "\n"))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            [
                PossibleValue::new("none"),
                PossibleValue::new("slow-workers").alias("paper"),
                PossibleValue::new("slow-partitions").alias("asyncpaper"),
                PossibleValue::new("intensity:C"),
            ]
            .into_iter(),
        ))
    }
}

fn parse_precondition(s: &str) -> Result<Precondition, String> {
    s.parse()
}

/// The whole command line for the built-in optimizers and `extra`, an author's own: parses the
/// process's arguments, runs what they ask for, prints an error as one line, and returns the
/// exit code (0 done, 1 error, [`EXIT_USAGE`] a usage error, [`EXIT_TARGET_MISSED`] a target
/// not reached,
/// 128 + the signal's number, 130 for Ctrl-C, when a signal stopped the run and its files
/// were written). Call
/// `asyncopt_runtime::run_worker_if_spawned()` before it, first thing in `main`: `run` calls
/// it too, but what `main` does before would run again in every worker.
pub fn run(extra: &[Optimizer]) -> ExitCode {
    asyncopt_runtime::run_worker_if_spawned();
    run_from(std::env::args_os(), extra)
}

/// [`run`] on the arguments `args` (the first is the program's name).
pub fn run_from(args: impl IntoIterator<Item = OsString>, extra: &[Optimizer]) -> ExitCode {
    interrupt::install();
    match main_from(args, extra) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<Interrupted>() => {
            say_err!("{error:#}");
            ExitCode::from(interrupt::exit_code())
        }
        Err(error) => {
            say_err!("error: {error:#}");
            if error.is::<TargetMissed>() {
                ExitCode::from(EXIT_TARGET_MISSED)
            } else if error.is::<UsageError>() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Parses `args` for the built-in optimizers and `extra`, and runs what they ask for. Without
/// [`run_from`]'s Ctrl-C handling and exit codes: a signal ends the process at once.
pub fn main_from(args: impl IntoIterator<Item = OsString>, extra: &[Optimizer]) -> Result<()> {
    let registry = Registry::with(extra).map_err(anyhow::Error::msg)?;
    let args: Vec<OsString> = args.into_iter().collect();
    let no_arguments = args.len() == 1;
    let program = program_name(&args);
    let parser = AlgorithmParser(registry.clone());
    let command = Cli::command()
        .after_help(EXAMPLES.replace("async-train", &program))
        .mut_arg("algo", |a| a.value_parser(parser.clone()))
        .mut_subcommand("compare", |c| {
            c.mut_arg("algos", |a| a.value_parser(parser.clone()))
        });
    let matches = command.get_matches_from(args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging(cli_quiet(&cli), cli.verbose);
    match cli.command {
        Some(Command::Worker(args)) => run_worker(args),
        Some(Command::Evaluate(args)) => evaluate(args, &registry),
        Some(Command::Predict(args)) => predict(args, &registry),
        Some(Command::Compare(args)) => {
            let spec = args.run.job(args.algos[0])?;
            let out = match args.out.clone() {
                Some(out) => out,
                None => default_out_dir()?,
            };
            let outputs = compare::run(&spec, &args.algos, &out)?;
            print_outputs(&outputs);
            outputs.check_targets()
        }
        None if no_arguments => {
            let run = builtin_comparison();
            let out = default_out_dir()?;
            say!(
                "No arguments: comparing SGD and ASGD on the built-in California housing set \
                 (4 workers, stragglers `slow-workers`). `{program} --help` lists the options."
            );
            let spec = run.job(Algorithm::Sgd)?;
            let pair = [Algorithm::Sgd.into(), Algorithm::Asgd.into()];
            let outputs = compare::run(&spec, &pair, &out)?;
            print_outputs(&outputs);
            outputs.check_targets()
        }
        None => train(cli.train),
    }
}

/// The name the program was started under (an author's binary built on [`run`] is not
/// `async-train`), for the examples in `--help` and the hints that name the program.
fn program_name(args: &[OsString]) -> String {
    args.first()
        .and_then(|arg0| std::path::Path::new(arg0).file_name())
        .and_then(|name| name.to_str())
        .filter(|name| !name.is_empty())
        .unwrap_or("async-train")
        .to_owned()
}

fn cli_quiet(cli: &Cli) -> bool {
    match &cli.command {
        Some(Command::Compare(args)) => args.run.quiet,
        Some(Command::Worker(_) | Command::Evaluate(_) | Command::Predict(_)) => false,
        None => cli.train.run.quiet,
    }
}

/// Logs to stderr, filtered by `RUST_LOG`, else `ASYNC_LOG` (its older name), else by the
/// flags: warnings with `-q`, information by default, debug with `-v`, trace with `-vv`.
fn init_logging(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_env("ASYNC_LOG"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a terminal, not for a log file or a pipe.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Updates a run makes at most when neither `--updates` nor `--time` bounds it.
pub const DEFAULT_UPDATES: usize = 5000;

/// The built-in run: California housing (scaled), least squares, minibatch SGD and ASGD with
/// their default steps, 4 workers with the slow-workers stragglers, to 2% of the optimum.
/// The run ends at the target; its time limit is only a safety net, wide enough for a slow or
/// busy machine (SGD's 5,000 updates take 5-10 s on a quiet 2-core machine, 27 s beside other
/// tests), since a missed target makes the command fail.
pub fn builtin_comparison() -> RunArgs {
    let mut run = RunArgs::parse_defaults();
    run.stragglers = Stragglers::SlowWorkers;
    run.batch = 1000;
    run.target_subopt = Some(2e-2);
    run.updates = Some(200_000);
    run.time = Some(180.0);
    run
}

impl RunArgs {
    /// The defaults of every option.
    pub fn parse_defaults() -> RunArgs {
        TrainArgs::augment_args(clap::Command::new("defaults"))
            .try_get_matches_from(["defaults"])
            .and_then(|m| <TrainArgs as clap::FromArgMatches>::from_arg_matches(&m))
            .map(|t| t.run)
            .expect("the defaults parse")
    }

    /// How the workers get the data of `path`: `auto` reads a plain file from every local
    /// worker and ships the rest (a compressed file would be decompressed by every worker;
    /// remote workers may not see the path).
    fn data_access(&self, path: &Path) -> Result<DataAccess> {
        let shared = DataAccess::Shared {
            eval_rows: self.eval_rows,
        };
        Ok(match self.data_access {
            DataAccessName::Ship => DataAccess::Ship,
            DataAccessName::Shared => shared,
            DataAccessName::Auto => {
                // A small file costs little to ship, and may have too few bytes for its
                // byte ranges to fill every partition.
                let large = std::fs::metadata(path).is_ok_and(|m| m.len() >= AUTO_SHARED_BYTES);
                let plain = large
                    && !asyncopt_runtime::data::libsvm::is_compressed(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                if plain && !self.remote_workers {
                    shared
                } else {
                    DataAccess::Ship
                }
            }
        })
    }

    /// The job these settings describe for `algorithm`: the one place where the command line
    /// becomes a job.
    pub fn job(&self, algorithm: impl Into<Optimizer>) -> Result<JobSpec> {
        let algorithm = algorithm.into();
        if self.workers == 0 {
            bail_usage!("--workers must be at least 1");
        }
        if !(1..=asyncopt_runtime::worker::MAX_QUEUED_TASKS).contains(&self.prefetch) {
            bail_usage!(
                "--prefetch must be between 1 (no prefetch) and {}, not {}",
                asyncopt_runtime::worker::MAX_QUEUED_TASKS,
                self.prefetch
            );
        }
        if let Some(step) = self.step {
            if !(step > 0.0 && step.is_finite()) {
                bail_usage!("--step must be a positive number, not {step}");
            }
        }
        if !(0.0..1.0).contains(&self.momentum) {
            bail_usage!("--momentum must be in [0, 1), not {}", self.momentum);
        }
        let lambda = match (self.lambda, self.loss) {
            (Some(lambda), _) => lambda,
            (None, LossName::LeastSquares) => 0.0,
            (None, LossName::Logistic) => DEFAULT_LOGISTIC_LAMBDA,
        };
        if !(lambda >= 0.0 && lambda.is_finite()) {
            bail_usage!("--lambda must be a number >= 0, not {lambda}");
        }
        let loss = Loss::with_lambda(matches!(self.loss, LossName::LeastSquares), lambda);
        let join_timeout = seconds("--join-timeout", self.join_timeout)?;
        if let Some(time) = self.time {
            seconds("--time", time)?;
        }
        seconds("--eval-every", self.eval_every)?;
        if let Some(target) = self.target_subopt {
            if !(target >= 0.0 && target.is_finite()) {
                bail_usage!("--target-subopt must be a number >= 0, not {target}");
            }
        }
        if let Some(optimum) = self.optimum {
            if !optimum.is_finite() {
                bail_usage!("--optimum must be a finite number, not {optimum}");
            }
            if optimum < 0.0 {
                bail_usage!("--optimum must be >= 0: the objectives are losses, never negative");
            }
        }
        if self.partitions_per_worker == 0 {
            bail_usage!("--partitions-per-worker must be at least 1");
        }
        // The runtime refuses these too, as a cluster's settings; said here, they are the
        // flags' usage errors.
        if self.partitions_per_worker > MAX_PARTITIONS {
            bail_usage!(
                "--partitions-per-worker: partitions per worker must be at most {MAX_PARTITIONS}, \
                 the most a worker holds, not {}",
                self.partitions_per_worker
            );
        }
        if !self.remote_workers && self.workers > MAX_LOCAL_WORKERS {
            bail_usage!(
                "--workers: at most {MAX_LOCAL_WORKERS} local worker processes, not {}: more \
                 would exhaust the host's processes and memory; run workers on other hosts \
                 (--remote-workers)",
                self.workers
            );
        }
        if self.max_features > MAX_FEATURES_CEILING {
            bail_usage!(
                "--max-features must be at most {MAX_FEATURES_CEILING} (2^31 features, 16 GiB \
                 per model copy), not {}",
                self.max_features
            );
        }
        if self.eval_rows == 0 {
            bail_usage!("--eval-rows must be at least 1");
        }
        let mut cluster = ClusterConfig::local(self.workers);
        cluster.partitions_per_worker = self.partitions_per_worker;
        if let Some(versions) = self.keep_versions {
            if !(1..=MAX_KEEP_VERSIONS).contains(&versions) {
                bail_usage!(
                    "--keep-versions must be between 1 and {MAX_KEEP_VERSIONS} (each is a copy \
                     of every broadcast variable on the driver), not {versions}"
                );
            }
            cluster.keep_versions = versions;
        }
        cluster.stragglers = self.stragglers;
        cluster.seed = self.seed;
        cluster.prefetch = self.prefetch;
        cluster.join_timeout = join_timeout.max(Duration::from_millis(100));
        if let Some(respawns) = self.max_respawns {
            cluster.max_respawns = respawns;
        }
        cluster.spawn_local = !self.remote_workers;
        cluster.encrypt = self.encrypt;
        if let Some(bind) = &self.bind {
            cluster.bind = bind.clone();
        }
        if let Some(path) = &self.token_file {
            cluster.token = Some(Token::from_file(path)?);
        } else if self.remote_workers {
            // Remote workers can only present a token they were given.
            cluster.token = None;
        }
        Ok(JobSpec {
            algorithm,
            data: match &self.data {
                Some(path) => DataSource::File {
                    path: path.clone(),
                    dim: self.dim,
                    max_dim: self.max_features,
                    access: self.data_access(path)?,
                },
                None => DataSource::Builtin,
            },
            bias: self.bias.then_some(1.0),
            loss,
            step: self.step,
            momentum: self.momentum,
            batch: self.batch,
            updates: self.updates.unwrap_or(match self.time {
                Some(_) => usize::MAX,
                None => DEFAULT_UPDATES,
            }),
            quorum: self.quorum,
            max_staleness: self.max_staleness,
            staleness_aware: self.staleness_aware,
            epoch: self.epoch,
            precondition: self.precondition,
            params: self.params.clone(),
            cluster,
            stop: StopRules {
                time_s: self.time,
                target_subopt: self.target_subopt,
                optimum: self.optimum,
            },
            eval_every_s: self.eval_every,
            quiet: self.quiet,
            checkpointing: Checkpointing::default(),
        })
    }
}

/// The L2 weight of the logistic loss when `--lambda` is not given.
pub const DEFAULT_LOGISTIC_LAMBDA: f64 = 1e-4;

/// Longest interval between checkpoints: beyond a year is a typo, not a policy.
const MAX_CHECKPOINT_S: f64 = 365.0 * 24.0 * 3600.0;

fn train(args: TrainArgs) -> Result<()> {
    let mut spec = args.run.job(args.algo)?;
    job::check_params(&spec.params, &[args.algo])?;
    job::check_settings(&spec, &[args.algo])?;
    if args.checkpoint_updates == Some(0) {
        bail_usage!("--checkpoint-updates must be at least 1");
    }
    if let Some(seconds) = args.checkpoint_seconds {
        if !(seconds > 0.0 && seconds <= MAX_CHECKPOINT_S) {
            bail_usage!(
                "--checkpoint-seconds must be a positive number of seconds up to a year, not \
                 {seconds}"
            );
        }
    }
    let checkpoint_dir = args.checkpoint.clone().or_else(|| args.resume.clone());
    if checkpoint_dir.is_none()
        && (args.checkpoint_updates.is_some() || args.checkpoint_seconds.is_some())
    {
        bail_usage!("--checkpoint-updates and --checkpoint-seconds need --checkpoint DIR");
    }
    spec.checkpointing = Checkpointing {
        dir: args.checkpoint.clone(),
        every_updates: args.checkpoint_updates,
        every_s: args.checkpoint_seconds,
        resume: args.resume.clone(),
    };
    // An output that cannot be written fails the command before the training, not after; so
    // does one that would overwrite another output or the data.
    let outputs = [
        ("--trace", &args.trace),
        ("--summary", &args.summary),
        ("--plot", &args.plot),
        ("--save-model", &args.save_model),
    ];
    let named: Vec<(&str, &PathBuf)> = outputs
        .iter()
        .filter_map(|(flag, path)| path.as_ref().map(|path| (*flag, path)))
        .collect();
    let checkpoint_folders = [&spec.checkpointing.dir, &spec.checkpointing.resume];
    for dir in checkpoint_folders.into_iter().flatten() {
        if let Some((flag, path)) = named.iter().find(|(_, p)| same_file(p, dir)) {
            bail!(
                "{flag} {} names the checkpoint folder: give the output a file of its own",
                path.display()
            );
        }
        for own in [
            asyncopt_runtime::checkpoint::FILE,
            asyncopt_runtime::checkpoint::SUMMARY_FILE,
            job::CHECKPOINT_LOCK,
        ] {
            if let Some((flag, path)) = named.iter().find(|(_, p)| same_file(p, &dir.join(own))) {
                bail!(
                    "{flag} {} would overwrite the checkpoint folder's {own}",
                    path.display()
                );
            }
        }
    }
    for (i, (flag, path)) in named.iter().enumerate() {
        if is_stdout(path) {
            bail_usage!("{flag} -: a run's outputs go to files (its lines go to standard output)");
        }
        if let Some((other, _)) = named[..i].iter().find(|(_, p)| same_file(p, path)) {
            bail!(
                "{other} and {flag} both name {}: give each output a file of its own",
                path.display()
            );
        }
        if let Some(data) = &args.run.data {
            refuse_overwriting(flag, path, &[("data", data)])?;
        }
        check_writable(path)?;
    }
    if let Some(plot) = &args.plot {
        crate::plot::format_of(plot)?;
    }
    if let Some(dir) = &spec.checkpointing.dir {
        if dir.exists() && !dir.is_dir() {
            bail!(
                "--checkpoint {} is a file: checkpoints go into a folder",
                dir.display()
            );
        }
        check_writable(&dir.join(asyncopt_runtime::checkpoint::FILE))?;
    }
    let data = spec.load_data()?;
    // From here a Ctrl-C stops the run and lets its files be written.
    let _saving = interrupt::Saving::begin();
    let outcome = job::run(&spec, &data)?;
    if let Some((updates, elapsed_s)) = outcome.resumed_from {
        say!("resumed from the checkpoint at {updates} updates ({elapsed_s:.2} s)");
    }
    say!("{}", outcome.one_line());
    // Each file is attempted whatever became of the others (a disk may fill meanwhile).
    let mut unwritten = Vec::new();
    let mut write = |label: &str, path: &Option<PathBuf>, result: &dyn Fn(&Path) -> Result<()>| {
        if let Some(path) = path {
            match result(path) {
                Ok(()) => say!("{label:<8} {}", path.display()),
                Err(e) => unwritten.push(format!("{e:#}")),
            }
        }
    };
    write("trace:", &args.trace, &|path| outcome.trace.write_csv(path));
    write("summary:", &args.summary, &|path| {
        outcome.write_summary(path)
    });
    write("plot:", &args.plot, &|path| {
        crate::plot::write_plot(
            path,
            &[(outcome.algorithm.name(), &outcome.trace)],
            outcome.optimum,
            outcome.spec.stop.target_subopt,
        )
    });
    write("model:", &args.save_model, &|path| {
        outcome.saved_model(&data)?.write(path)
    });
    if let Some(dir) = &checkpoint_dir {
        // A stop rule's end or a failure takes no last checkpoint: say what a resume gets.
        let (dir, updates) = (dir.display(), outcome.report.stats.updates);
        match outcome.report.checkpoint_updates {
            Some(at) if at == updates => say!("checkpoint: {dir}"),
            Some(at) => say!(
                "checkpoint: {dir}, of update {at}: a resume goes on from there, not from \
                 update {updates}"
            ),
            None => say!(
                "checkpoint: none in {dir} (none was due, or none could be written): a resume cannot go on from this run"
            ),
        }
    }
    if !unwritten.is_empty() {
        bail!("{}", unwritten.join("; "));
    }
    outcome.into_result()
}

fn evaluate(args: EvaluateArgs, registry: &Registry) -> Result<()> {
    if let Some(out) = &args.out {
        refuse_overwriting(
            "--out",
            out,
            &[("data", &args.data), ("model", &args.model)],
        )?;
    }
    let model = SavedModel::read(&args.model)?;
    // Known before the data is read: a model this program cannot score costs no load.
    let scorer = Scorer::of(&model, &args.model, registry)?;
    let data = model.load_data(&args.data)?;
    let evaluation = scorer.evaluate(&data)?;
    let line = &evaluation.line;
    let Some(path) = &args.out else {
        say!("{line}");
        return Ok(());
    };
    let json = serde_json::json!({
        "model": args.model,
        "data": data.name(),
        "data_sha256": data.fingerprint(),
        "metrics": evaluation.metrics,
    });
    let text = serde_json::to_string_pretty(&json)? + "\n";
    if is_stdout(path) {
        // Standard output holds the JSON alone.
        say_err!("{line}");
        return write_output(path, &text);
    }
    say!("{line}");
    write_output(path, &text)?;
    say!("metrics: {}", path.display());
    Ok(())
}

fn predict(args: PredictArgs, registry: &Registry) -> Result<()> {
    refuse_overwriting(
        "--out",
        &args.out,
        &[("data", &args.data), ("model", &args.model)],
    )?;
    let model = SavedModel::read(&args.model)?;
    let scorer = Scorer::of(&model, &args.model, registry)?;
    // A model that does not predict is said before the data is read.
    scorer.prediction_columns()?;
    let data = model.load_rows(&args.data)?;
    let predictions = scorer.predict(&data)?;
    write_output(&args.out, &predictions.to_csv())?;
    let written = format!("{} predictions of {}", predictions.rows(), data.name());
    if is_stdout(&args.out) {
        say_err!("{written} written to stdout");
    } else {
        say!("{written} written to {}", args.out.display());
    }
    Ok(())
}

/// Refuses an output `flag` names when it is one of the command's `inputs` (name, path):
/// writing it would destroy what the user came with.
fn refuse_overwriting(flag: &str, out: &Path, inputs: &[(&str, &PathBuf)]) -> Result<()> {
    match inputs.iter().find(|(_, input)| same_file(input, out)) {
        Some((name, _)) => bail!("{flag} {} would overwrite the {name}", out.display()),
        None => Ok(()),
    }
}

/// `NAME=VALUE` of `--param`, the value a finite number.
fn parse_param(text: &str) -> Result<(String, f64), String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!("`{text}` is not NAME=VALUE"));
    };
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && !name.trim().is_empty() => Ok((name.trim().to_owned(), v)),
        _ => Err(format!(
            "`{text}`: NAME=VALUE with a finite number for VALUE"
        )),
    }
}

/// Whether a command's output path is `-`, standard output.
fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

/// Writes `text` to `path`, or to standard output for `-`, where a reader that stops early (as
/// `| head` does) is no failure.
fn write_output(path: &Path, text: &str) -> Result<()> {
    if is_stdout(path) {
        return match std::io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(e).context("cannot write to standard output")
            }
            _ => Ok(()),
        };
    }
    create_parent(path)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn print_outputs(outputs: &CompareOutputs) {
    say!("{}", outputs.table());
    say!("files in {}:", outputs.dir.display());
    for file in &outputs.files {
        say!("  {}", file.display());
    }
}

/// A new folder `runs/run-SECONDS` for a comparison, taken by creating it, so that two
/// comparisons started in the same second get one each (`run-SECONDS-2`, ...).
fn default_out_dir() -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let runs = PathBuf::from("runs");
    std::fs::create_dir_all(&runs).context("cannot create folder runs")?;
    for n in 1..=1000 {
        let name = match n {
            1 => format!("run-{stamp}"),
            n => format!("run-{stamp}-{n}"),
        };
        match std::fs::create_dir(runs.join(&name)) {
            Ok(()) => return Ok(runs.join(name)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create folder runs/{name}")),
        }
    }
    bail!("runs/ holds 1000 comparisons of this second: give --out a folder")
}

fn run_worker(args: WorkerArgs) -> Result<()> {
    let name = args
        .name
        .unwrap_or_else(|| format!("w-{}-{}", hostname(), std::process::id()));
    if let Some(problem) = name_problem(&name, MAX_WORKER_NAME) {
        bail_usage!("--name: {problem}; the driver knows its workers by their names");
    }
    let mut options = asyncopt_runtime::worker::WorkerOptions::new(name, args.driver);
    options.token = match (&args.token_file, std::env::var("ASYNC_TOKEN")) {
        (Some(path), _) => Some(Token::from_file(path)?),
        (None, Ok(text)) => Some(Token::new(text.trim().as_bytes()).map_err(anyhow::Error::msg)?),
        (None, Err(_)) => None,
    };
    options.reconnect = match args.reconnect {
        Some(s) => Some(seconds("--reconnect", s)?),
        None => None,
    };
    options.driver_timeout = match seconds("--driver-timeout", args.driver_timeout)? {
        Duration::ZERO => None,
        timeout => Some(timeout),
    };
    options.connect_timeout = seconds("--connect-timeout", args.connect_timeout)?;
    for run in 1..=args.runs {
        if run > 1 {
            tracing::info!(run, of = args.runs, "waiting for the next run's driver");
            // The last run's driver may still hold the address for a moment: a worker that
            // reaches it and loses it tries again, as for a lost driver.
            let window = options
                .connect_timeout
                .max(options.reconnect.unwrap_or_default());
            options.reconnect = Some(window);
        }
        let end = asyncopt_runtime::worker::run(options.clone()).context("worker stopped")?;
        if end == RunEnd::Last && run < args.runs {
            // A comparison stopped, or whose next run could not start: no driver will come.
            tracing::info!(run, of = args.runs, "the driver said no other run follows");
            break;
        }
    }
    Ok(())
}

/// `value` seconds of the flag `flag`, or why not: a negative, NaN or infinite number, or one
/// past [`MAX_SECONDS`] (far enough past it, converting it to a `Duration` panics).
fn seconds(flag: &str, value: f64) -> Result<Duration> {
    match Duration::try_from_secs_f64(value) {
        Ok(duration) if value.is_finite() && value <= MAX_SECONDS => Ok(duration),
        _ => bail_usage!(
            "{flag} must be a finite number of seconds from 0 to {MAX_SECONDS:e}, not {value}"
        ),
    }
}

/// The most seconds a duration flag takes: far beyond any run, and a deadline this far (a
/// century) still fits the clock's arithmetic.
const MAX_SECONDS: f64 = 3.2e9;

/// This host's name, as a worker name may spell it (at most 40 letters, digits, `.` and `-`).
fn hostname() -> String {
    let name = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "host".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Setting;
    use asyncopt_algorithms::Model;
    use asyncopt_runtime::{Dataset, Driver};

    fn run_args(args: &[&str]) -> RunArgs {
        let argv = std::iter::once("async-train").chain(args.iter().copied());
        TrainArgs::augment_args(clap::Command::new("async-train"))
            .try_get_matches_from(argv)
            .and_then(|m| <TrainArgs as clap::FromArgMatches>::from_arg_matches(&m))
            .expect("the arguments parse")
            .run
    }

    fn updates(args: &[&str]) -> usize {
        run_args(args)
            .job(Algorithm::Sgd)
            .expect("a valid job")
            .updates
    }

    #[test]
    fn a_time_limit_alone_bounds_the_run_by_time_only() {
        assert_eq!(updates(&[]), DEFAULT_UPDATES);
        assert_eq!(updates(&["--time", "30"]), usize::MAX, "not 5000 silently");
        assert_eq!(updates(&["--time", "30", "--updates", "10"]), 10);
        assert_eq!(updates(&["--target-subopt", "1e-4"]), DEFAULT_UPDATES);
    }

    #[test]
    fn a_setting_no_optimizer_of_the_run_reads_is_refused() {
        fn own(_: &mut Driver, data: &Dataset, _: &Params) -> Model {
            Model::zeros(data.dim())
        }
        let plain = Optimizer::new("plain", own);
        let heavy = Optimizer::new("heavy", own).reads(&[Setting::Momentum]);
        let check = |args: &[&str], algorithms: &[Optimizer]| {
            let spec = run_args(args).job(algorithms[0]).expect("a valid job");
            job::check_settings(&spec, algorithms).map_err(|e| e.to_string())
        };
        let sgd = Optimizer::from(Algorithm::Sgd);
        let asgd = Optimizer::from(Algorithm::Asgd);
        let refused = check(&["--momentum", "0.9"], &[plain]).unwrap_err();
        assert!(
            refused.starts_with(
                "--momentum 0.9 would change nothing: plain does not read \
                 p.momentum"
            ),
            "{refused}"
        );
        assert!(check(&["--momentum", "0.9"], &[heavy]).is_ok());
        // The default, even spelt out, changes nothing either way.
        assert!(check(&["--momentum", "0", "--quorum", "1"], &[plain]).is_ok());
        let sync = check(&["--staleness-aware"], &[sgd]).unwrap_err();
        assert!(
            sync.starts_with("--staleness-aware would change nothing: sgd"),
            "{sync}"
        );
        assert!(check(&["--quorum", "2"], &[sgd]).is_err());
        // A comparison takes a setting one of its optimizers reads.
        assert!(check(&["--quorum", "2"], &[sgd, asgd]).is_ok());
        assert!(check(&["--epoch", "10"], &[sgd, asgd]).is_err());
        let svrg = Optimizer::from(Algorithm::Svrg);
        assert!(check(&["--epoch", "10"], &[svrg]).is_ok());
        assert!(check(&["--precondition", "diagonal"], &[plain]).is_err());
    }

    #[test]
    fn an_own_models_optimizer_takes_a_lambda_only_if_its_code_reads_it() {
        /// A model whose objective has no L2 term.
        #[derive(Clone, serde::Serialize, serde::Deserialize)]
        struct Constant(f64);
        impl crate::model::Trainable for Constant {
            fn objective(&self, _: &Dataset, _: &Params) -> f64 {
                self.0
            }
            fn norm(&self) -> f64 {
                self.0.abs()
            }
        }
        fn constant(_: &mut Driver, _: &Dataset, _: &Params) -> Constant {
            Constant(0.0)
        }
        fn linear(_: &mut Driver, data: &Dataset, _: &Params) -> Model {
            Model::zeros(data.dim())
        }
        let own = Optimizer::of_model("constant", constant);
        let weighted = Optimizer::of_model("weighted", constant).reads(&[Setting::Lambda]);
        let check = |args: &[&str], algorithm: Optimizer| {
            let spec = run_args(args).job(algorithm).expect("a valid job");
            job::check_settings(&spec, &[algorithm]).map_err(|e| e.to_string())
        };
        let refused = check(&["--lambda", "0.1"], own).unwrap_err();
        assert!(
            refused.starts_with(
                "--lambda 0.1 would change nothing: constant does not read p.loss.lambda()"
            ),
            "{refused}"
        );
        assert!(check(&["--loss", "logistic", "--lambda", "0"], own).is_err());
        assert!(check(&["--lambda", "0.1"], weighted).is_ok());
        // The logistic loss's default weight is no one's choice; the loss itself still says
        // how the labels are read.
        assert!(check(&["--loss", "logistic"], own).is_ok());
        // A linear model's objective is the loss, weight included, whatever the code reads.
        assert!(check(&["--lambda", "0.1"], Optimizer::new("plain", linear)).is_ok());
        assert!(check(&["--lambda", "0.1"], Optimizer::from(Algorithm::Sgd)).is_ok());
    }
}
