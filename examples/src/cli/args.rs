//! The command line's arguments, as clap derives them: the training flags (shared with
//! `compare` in [`RunArgs`]) and each subcommand's.

use std::path::PathBuf;

use asyncopt_algorithms::{Params, Precondition};
use asyncopt_runtime::data::LoadOptions;
use asyncopt_runtime::{Stragglers, DEFAULT_PREFETCH};
use clap::{Args, Parser, Subcommand, ValueEnum};

use super::numbers::{at_least_one, partitions_per_worker, prefetch, zero_or_more};
use super::parsers::{
    keep_versions, max_features, parse_param, parse_precondition, tcp_address, AlgorithmParser,
    StragglersParser,
};
use crate::optimizer::Optimizer;

/// The lines of [`EXAMPLES`] that show `async-train` run with no arguments: an author's
/// program, which has no built-in comparison to run so, leaves them out.
pub(super) const BARE_RUN_EXAMPLE: std::ops::RangeInclusive<usize> = 1..=2;

pub(super) const EXAMPLES: &str = "\
Examples:
  async-train                # no arguments: SGD against ASGD on the built-in set, 4 workers,
                             # stragglers slow-workers, into runs/run-<time>/ (as `compare`)
  async-train --algo asaga --data train.libsvm.xz --workers 4 --stragglers slow-workers \\
      --target-subopt 1e-4 --trace run.csv --summary run.json --plot run.svg
  async-train --algo asgd --loss logistic --lambda 1e-4 --bias --data a9a.xz --save-model m.json
  async-train evaluate --model m.json --data a9a.t.xz
  async-train evaluate --model runs/run-<time>/asgd.model.json   # the built-in set's model

Exit codes: 0 done, 1 error, 2 usage error (a flag or a value refused), 3 a --target-subopt
that was not reached, 130 (143, 129) stopped by Ctrl-C (SIGTERM, SIGHUP: a closed terminal,
unless under nohup): the run ended at its next update and its files are written (a signal
once the last run is over stops nothing, and changes no exit code); a second Ctrl-C quits at
once, naming the files it leaves unwritten.
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
    pub(super) command: Option<Command>,
    #[command(flatten)]
    pub(super) train: TrainArgs,
    /// More log lines (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(super) verbose: u8,
}

#[derive(Debug, Subcommand)]
pub(super) enum Command {
    /// Run several algorithms on the same data and seed and compare their time to the target.
    Compare(Box<CompareArgs>),
    /// Score a saved model on a LIBSVM file (without --data, the built-in set it was trained
    /// on): RMSE and R^2, or accuracy, log-loss and ROC AUC; a model of an optimizer's own
    /// type, its objective and the metrics its type gives.
    Evaluate(EvaluateArgs),
    /// Write a saved model's prediction for every row of a LIBSVM file (without --data, the
    /// built-in set it was trained on), as CSV.
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

/// The settings of a run, shared by `train` and `compare`: the flags `--help` lists under
/// Data, Objective, Optimizer, Cluster, Stop rules, Output and Checkpoints.
/// [`RunArgs::parse_defaults`] gives every default, for a run built in code.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// LIBSVM file (plain, .gz or .xz); without it, the built-in California housing set.
    #[arg(long, help_heading = "Data")]
    pub data: Option<PathBuf>,
    /// Number of features, when the file does not use the last one.
    #[arg(long, requires = "data", allow_hyphen_values = true, value_parser = zero_or_more::<usize>, help_heading = "Data")]
    pub dim: Option<usize>,
    /// The memory budget of a model, in features: a file using a larger index (or a larger
    /// --dim) is refused before anything is allocated for it. A linear model must also fit
    /// a 512 MiB frame to reach the workers (8 bytes a feature: about 6.7e7 features); a
    /// larger one is refused before the run, naming the largest that fits.
    #[arg(long, default_value_t = LoadOptions::DEFAULT_MAX_DIM, requires = "data", allow_hyphen_values = true, value_parser = max_features, help_heading = "Data")]
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
    /// file with no more rows is read whole, and its objective is exact [default: 50000].
    /// Given with data that is shipped, it is unused: a warning says so.
    #[arg(long, requires = "data", allow_hyphen_values = true, value_parser = at_least_one::<usize>, help_heading = "Data")]
    pub eval_rows: Option<usize>,
    /// Versions of each broadcast variable the driver keeps for reads of older ones
    /// (`w.at(v)`), at least what the optimizer declares; each is a copy of the variable on
    /// the driver [default: 16]
    #[arg(long, allow_hyphen_values = true, value_parser = keep_versions, help_heading = "Optimizer")]
    pub keep_versions: Option<usize>,
    /// Partitions per worker (the ASYNC paper ran 32 partitions on 8 workers: 4). A worker
    /// takes its partitions' tasks in turn; a synchronous step reduces over all of them.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true, value_parser = partitions_per_worker, help_heading = "Cluster")]
    pub partitions_per_worker: usize,
    /// Objective; logistic reads labels +1/-1 (0/1 as -1/+1). An optimizer of its own model
    /// type takes it only if it declares reading it.
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
    #[arg(long, default_value_t = 256, allow_hyphen_values = true, value_parser = zero_or_more::<usize>, help_heading = "Optimizer")]
    pub batch: usize,
    /// Asynchronous methods: idle workers needed before dispatching.
    #[arg(long, default_value_t = Params::DEFAULT_QUORUM, allow_hyphen_values = true, value_parser = at_least_one::<usize>, help_heading = "Optimizer")]
    pub quorum: usize,
    /// Asynchronous methods: drop results more than this many updates old.
    #[arg(long, default_value_t = Params::DEFAULT_MAX_STALENESS, allow_hyphen_values = true, value_parser = zero_or_more::<u64>, help_heading = "Optimizer")]
    pub max_staleness: u64,
    /// Asynchronous methods: divide the step by 1 + staleness.
    #[arg(long, help_heading = "Optimizer")]
    pub staleness_aware: bool,
    /// SVRG, ASVRG: updates per snapshot (0: one pass over the data, rows / (batch x partitions) for
    /// SVRG, rows / batch for ASVRG). Each snapshot counts as one of the --updates.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true, value_parser = zero_or_more::<usize>, help_heading = "Optimizer")]
    pub epoch: usize,
    /// Seed of partitioning, sampling and stragglers.
    #[arg(long, default_value_t = 7, allow_hyphen_values = true, value_parser = zero_or_more::<u64>, help_heading = "Optimizer")]
    pub seed: u64,
    /// Stop after this many updates: the bound of the optimizer's loop, `p.updates` (one
    /// update per pass for the built-in optimizers, plus one per SVRG snapshot) [default:
    /// 5000, none with --time]
    #[arg(long, allow_hyphen_values = true, value_parser = zero_or_more::<usize>, help_heading = "Stop rules")]
    pub updates: Option<usize>,
    /// Stop after this many seconds of training (with no bound on the updates unless
    /// --updates gives one), on the wall clock: a pause of the driver (SIGSTOP, sleep) counts.
    /// The summary's stats.driver_pauses says how long it was paused.
    #[arg(long, allow_negative_numbers = true, help_heading = "Stop rules")]
    pub time: Option<f64>,
    /// Stop once (f - f*)/f* is at most this; exit code 3 if it is never reached.
    #[arg(long, allow_negative_numbers = true, help_heading = "Stop rules")]
    pub target_subopt: Option<f64>,
    /// Worker processes.
    #[arg(long, default_value_t = 4, allow_hyphen_values = true, value_parser = at_least_one::<usize>, help_heading = "Cluster")]
    pub workers: usize,
    /// Simulated stragglers: none; slow-workers (alias paper: 25% of the workers, each with a
    /// factor drawn once, 80% 1.5-2.5x and the rest 2.5-10x, sleep that times their mean
    /// compute after every task); slow-partitions (alias asyncpaper: every fourth partition's
    /// tasks are preceded by a sleep of a factor drawn per task, same ranges, times the median
    /// of the workers' mean compute, as the driver measured it); or intensity:C (one worker sleeps C times its mean compute
    /// after every task, C from 0 to 100).
    #[arg(long, default_value = "none", value_parser = StragglersParser, help_heading = "Cluster")]
    pub stragglers: Stragglers,
    /// Asynchronous methods: tasks a worker may hold at once; with 2 it is sent its next task
    /// while it computes one, hiding the round trip to the driver (1: no prefetch).
    /// Synchronous methods give the same result whatever it is.
    #[arg(long, default_value_t = DEFAULT_PREFETCH, allow_hyphen_values = true, value_parser = prefetch, help_heading = "Cluster")]
    pub prefetch: usize,
    /// Address the driver listens on, HOST:PORT or tcp://HOST:PORT, e.g. 0.0.0.0:7000
    /// (default: loopback, any free port).
    #[arg(long, value_parser = tcp_address, help_heading = "Cluster")]
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
    /// Seconds to wait for the workers to join (less than 0.1 is taken as 0.1).
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 60.0,
        help_heading = "Cluster"
    )]
    pub join_timeout: f64,
    /// Seconds between heartbeats, the driver's and (told by it) its workers' [default: 0.5].
    #[arg(
        long,
        value_name = "SECONDS",
        allow_negative_numbers = true,
        help_heading = "Cluster"
    )]
    pub heartbeat: Option<f64>,
    /// Seconds a worker may stay silent before it is lost: its tasks go to others and its
    /// partitions move; raise it where hosts or the network pause longer. At least two
    /// heartbeats; rounded up to whole heartbeats [default: 10 heartbeats, 5 s].
    #[arg(
        long,
        value_name = "SECONDS",
        allow_negative_numbers = true,
        help_heading = "Cluster"
    )]
    pub lost_after: Option<f64>,
    /// Local worker processes that may be started in place of ones that die during the run
    /// (crashed, killed, out of memory); 0: the run goes on with the others [default: the
    /// number of workers].
    #[arg(long, allow_hyphen_values = true, value_parser = zero_or_more::<u32>, help_heading = "Cluster")]
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
pub(super) struct TrainArgs {
    /// The optimizer.
    #[arg(long, default_value = "sgd", value_parser = AlgorithmParser::builtin())]
    pub(super) algo: Optimizer,
    #[command(flatten)]
    pub(super) run: RunArgs,
    /// Trace CSV: elapsed_s, updates, objective, ...
    #[arg(long, help_heading = "Output")]
    pub(super) trace: Option<PathBuf>,
    /// Summary JSON.
    #[arg(long, help_heading = "Output")]
    pub(super) summary: Option<PathBuf>,
    /// Plot of the objective against time: SVG, or PNG for a `.png` name.
    #[arg(long, help_heading = "Output")]
    pub(super) plot: Option<PathBuf>,
    /// Keep the trained model: a JSON file with its weights (or its own type's JSON), loss,
    /// dimension, bias and the training data's fingerprint (the `evaluate` and `predict`
    /// subcommands read it).
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    pub(super) save_model: Option<PathBuf>,
    /// Folder to keep a checkpoint of the driver in, rewritten as the run goes (every 10 s of
    /// training unless --checkpoint-updates or --checkpoint-seconds say otherwise; a resume
    /// keeps the interval of its checkpoint's run unless they do).
    #[arg(long, value_name = "DIR", help_heading = "Checkpoints")]
    pub(super) checkpoint: Option<PathBuf>,
    /// Checkpoint after this many updates.
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = at_least_one::<u64>, help_heading = "Checkpoints")]
    pub(super) checkpoint_updates: Option<u64>,
    /// Checkpoint after this many seconds of training.
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "S",
        help_heading = "Checkpoints"
    )]
    pub(super) checkpoint_seconds: Option<f64>,
    /// Continue the run checkpointed in DIR: give the same algorithm, data and settings (stop
    /// rules and workers may change; a default step is set anew for the workers). Checkpoints
    /// go on into DIR unless --checkpoint is given.
    #[arg(long, value_name = "DIR", help_heading = "Checkpoints")]
    pub(super) resume: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct CompareArgs {
    /// Optimizers, comma-separated.
    #[arg(long, default_value = "sgd,asgd", value_delimiter = ',', value_parser = AlgorithmParser::builtin())]
    pub(super) algos: Vec<Optimizer>,
    #[command(flatten)]
    pub(super) run: RunArgs,
    /// Folder for the traces, summaries, models, compare.json and the plot [default: a new
    /// folder runs/run-<time>].
    #[arg(long, help_heading = "Output")]
    pub(super) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct EvaluateArgs {
    /// A model written by --save-model.
    #[arg(long)]
    pub(super) model: PathBuf,
    /// LIBSVM file to score the model on (plain, .gz or .xz) [default: the built-in
    /// California housing set, if the model was trained on it].
    #[arg(long)]
    pub(super) data: Option<PathBuf>,
    /// The memory budget of a model, in features: a model file of more features (one trained
    /// with a larger --max-features) is refused before anything is allocated for it.
    #[arg(long, default_value_t = LoadOptions::DEFAULT_MAX_DIM, allow_hyphen_values = true, value_parser = max_features)]
    pub(super) max_features: usize,
    /// Also write the metrics as JSON here (`-`: stdout, the line above going to stderr).
    #[arg(long)]
    pub(super) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct PredictArgs {
    /// A model written by --save-model.
    #[arg(long)]
    pub(super) model: PathBuf,
    /// LIBSVM file (plain, .gz or .xz) whose rows to predict. A row needs no label: one
    /// starting with a feature (`idx:val`) or with `?` has none, and a label (any number) is
    /// not used. Blank and comment lines are no rows, so a row without
    /// label or feature is written `1:0`; the `line` column says which line each row is
    /// [default: the built-in California housing set, if the model was trained on it].
    #[arg(long)]
    pub(super) data: Option<PathBuf>,
    /// The memory budget of a model, in features: a model file of more features (one trained
    /// with a larger --max-features) is refused before anything is allocated for it.
    #[arg(long, default_value_t = LoadOptions::DEFAULT_MAX_DIM, allow_hyphen_values = true, value_parser = max_features)]
    pub(super) max_features: usize,
    /// CSV to write (`-`: stdout), a row per data row: `line`, its 1-based line in --data,
    /// then `prediction` (least squares), `probability,label` (logistic), or the columns a
    /// model of an optimizer's own type names.
    #[arg(long)]
    pub(super) out: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct WorkerArgs {
    /// The driver's address, HOST:PORT or tcp://HOST:PORT, e.g. 10.0.0.1:7000.
    #[arg(long, value_parser = tcp_address)]
    pub(super) driver: String,
    /// This worker's name, unique in the run.
    #[arg(long)]
    pub(super) name: Option<String>,
    /// File holding the run's shared token, on one line. Without it, the token is the
    /// ASYNC_TOKEN environment variable's bytes if it is set (surrounding white space
    /// removed), and else none: the public loopback one, for a driver on loopback only.
    #[arg(long)]
    pub(super) token_file: Option<PathBuf>,
    /// A data file the driver may have this worker read (`--data-access shared`), or a folder
    /// whose files it may; repeat for several. A worker reads no other file a driver names;
    /// one it cannot read as it starts is warned of, and the worker joins anyway.
    #[arg(long = "data", value_name = "PATH")]
    pub(super) data: Vec<PathBuf>,
    /// When the driver is lost, keep trying to join it again for this many seconds
    /// (a worker otherwise exits with its driver); 0: a single try at once, then exit.
    #[arg(long, allow_negative_numbers = true)]
    pub(super) reconnect: Option<f64>,
    /// Seconds the driver may stay silent, its connection open, before it counts as lost (a
    /// driver's host that died leaves no one to close it; a driver that exits closes it and is
    /// seen gone at once): a minute outlasts a paused driver or a partition of about as long;
    /// 0: only a closed connection.
    #[arg(long, allow_negative_numbers = true, default_value_t = asyncopt_runtime::worker::DEFAULT_DRIVER_TIMEOUT.as_secs_f64())]
    pub(super) driver_timeout: f64,
    /// Seconds to keep trying to reach a driver that is not listening yet (it binds its port
    /// once its data is loaded) or whose name does not resolve yet, or to join one that leaves
    /// the first handshake unanswered (a slow or stalled link); 0: a single try, then exit.
    #[arg(long, allow_negative_numbers = true, default_value_t = asyncopt_runtime::worker::DEFAULT_CONNECT_TIMEOUT.as_secs_f64())]
    pub(super) connect_timeout: f64,
    /// Runs to serve one after the other at this address: `compare` with remote workers trains
    /// one run per algorithm, each with a driver of its own.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true, value_parser = at_least_one::<u32>)]
    pub(super) runs: u32,
    /// Join only a driver that encrypts its frames (one started with --encrypt): a driver
    /// that proves the token but would send rows, models and gradients in the clear is left
    /// before this worker proves anything, and the worker exits with an error.
    #[arg(long)]
    pub(super) require_encrypt: bool,
}

/// The objectives on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LossName {
    /// 1/(2n) |Xw - y|^2.
    LeastSquares,
    /// 1/n sum log(1 + exp(-y x.w)) + lambda/2 |w|^2.
    Logistic,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn compare_help_names_the_folder_it_writes_into_without_out() {
        // The README documents the default `runs/run-<time>/`; `compare --help` left it out.
        let mut command = Cli::command();
        let compare = command
            .find_subcommand_mut("compare")
            .expect("the compare subcommand");
        let help = compare.render_long_help().to_string();
        let out = help
            .split("--out <OUT>")
            .nth(1)
            .expect("compare --help lists --out");
        assert!(out.contains("runs/run-<time>"), "{out}");
    }

    #[test]
    fn predict_help_says_its_data_needs_no_label() {
        // It said every line needs a number in the label place; predict reads rows without
        // one, but still refuses `?` there and skips blank lines, and names each row's line.
        let mut command = Cli::command();
        let predict = command
            .find_subcommand_mut("predict")
            .expect("the predict subcommand");
        let help = predict.render_long_help().to_string();
        let data = help
            .split("--data <DATA>")
            .last()
            .and_then(|rest| rest.split("--max-features").next())
            .expect("predict --help lists --data");
        let data = data.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            data.contains("A row needs no label: one starting with a feature (`idx:val`)")
                && data.contains("starting with a feature (`idx:val`) or with `?` has none")
                && data.contains("a row without label or feature is written `1:0`")
                && data.contains("the `line` column says which line each row is"),
            "{data}"
        );
        let out = help
            .split("--out <OUT>")
            .last()
            .expect("predict --help lists --out");
        let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            out.contains("a row per data row: `line`, its 1-based line in --data, then"),
            "{out}"
        );
    }

    #[test]
    fn help_says_what_the_program_does_without_arguments() {
        // The README's first command is the program alone (a comparison of SGD and ASGD on
        // the built-in set); `--help` showed only `async-train [OPTIONS]`, whose defaults
        // train SGD alone.
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.contains("async-train                # no arguments: SGD against ASGD"),
            "{help}"
        );
    }
}
