//! The command line: `async-train [--algo NAME ...]`, `async-train compare ...`,
//! `async-train worker --driver ADDR`. With no arguments at all it runs the built-in
//! comparison.

use std::path::PathBuf;
use std::time::Duration;

use algorithms::{Algorithm, Loss, Precondition};
use anyhow::{bail, Context, Result};
use async_runtime::{ClusterConfig, Stragglers, Token};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::compare::{self, CompareOutputs};
use crate::job::{self, Checkpointing, DataSource, JobSpec, StopRules};

/// Distributed asynchronous optimization on LIBSVM data.
#[derive(Debug, Parser)]
#[command(name = "async-train", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run several algorithms on the same data and seed and compare their time to the target.
    Compare(Box<CompareArgs>),
    /// Run as a worker of a driver on another host.
    Worker(WorkerArgs),
}

/// Settings shared by `train` and `compare`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// LIBSVM file (plain, .gz or .xz); without it, the built-in California housing set.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Number of features, when the file does not use the last one.
    #[arg(long)]
    pub dim: Option<usize>,
    /// Objective.
    #[arg(long, value_enum, default_value_t = LossName::LeastSquares)]
    pub loss: LossName,
    /// L2 regularisation of the logistic loss.
    #[arg(long, default_value_t = 1e-4)]
    pub lambda: f64,
    /// Worker processes.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Simulated stragglers: none, paper, or intensity:C.
    #[arg(long, default_value = "none", value_parser = parse_stragglers)]
    pub stragglers: Stragglers,
    /// Seed of partitioning, sampling and stragglers.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Stop after this many updates.
    #[arg(long, default_value_t = 5000)]
    pub updates: usize,
    /// Stop after this many seconds of training.
    #[arg(long)]
    pub time: Option<f64>,
    /// Stop once (f - f*)/f* is at most this.
    #[arg(long)]
    pub target_subopt: Option<f64>,
    /// The optimal objective f*; computed for least squares when not given.
    #[arg(long)]
    pub optimum: Option<f64>,
    /// Step size; default 1/L, with L estimated from the data.
    #[arg(long)]
    pub step: Option<f64>,
    /// Heavy-ball momentum.
    #[arg(long, default_value_t = 0.0)]
    pub momentum: f64,
    /// Preconditioner of the update direction, built once on the driver: none, diagonal
    /// (Jacobi: each feature scaled to unit curvature, any dimension), or full (the inverse of
    /// X^T X/n by Cholesky, at most 2000 features; for ill-conditioned data).
    #[arg(long, default_value = "none", value_parser = parse_precondition)]
    pub precondition: Precondition,
    /// Rows sampled per partition and task (0: the whole partition).
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Asynchronous methods: idle workers needed before dispatching.
    #[arg(long, default_value_t = 1)]
    pub quorum: usize,
    /// Asynchronous methods: drop results more than this many updates old.
    #[arg(long, default_value_t = 64)]
    pub max_staleness: u64,
    /// Asynchronous methods: divide the step by 1 + staleness.
    #[arg(long)]
    pub staleness_aware: bool,
    /// SVRG: updates per snapshot (0: one pass over the data).
    #[arg(long, default_value_t = 0)]
    pub epoch: usize,
    /// Seconds of training between objective evaluations.
    #[arg(long, default_value_t = 0.05)]
    pub eval_every: f64,
    /// Address the driver listens on (default: loopback, any free port).
    #[arg(long)]
    pub bind: Option<String>,
    /// Wait for remote workers instead of starting local ones.
    #[arg(long)]
    pub remote_workers: bool,
    /// File holding the run's shared token (required to listen beyond loopback).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Encrypt every frame after admission (ChaCha20-Poly1305), for untrusted networks.
    #[arg(long)]
    pub encrypt: bool,
    /// Seconds to wait for the workers to join.
    #[arg(long, default_value_t = 60.0)]
    pub join_timeout: f64,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
struct TrainArgs {
    /// Algorithm: sgd, asgd, saga, asaga, svrg, asvrg.
    #[arg(long, default_value = "sgd")]
    algo: String,
    #[command(flatten)]
    run: RunArgs,
    /// Trace CSV: elapsed_s, updates, objective, ...
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Summary JSON.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// Plot of the objective against time: SVG, or PNG for a `.png` name.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Folder to keep a checkpoint of the driver in, rewritten as the run goes (every 10 s of
    /// training unless --checkpoint-updates or --checkpoint-seconds say otherwise).
    #[arg(long, value_name = "DIR")]
    checkpoint: Option<PathBuf>,
    /// Checkpoint after this many updates.
    #[arg(long, value_name = "N")]
    checkpoint_updates: Option<u64>,
    /// Checkpoint after this many seconds of training.
    #[arg(long, value_name = "S")]
    checkpoint_seconds: Option<f64>,
    /// Continue the run checkpointed in DIR: give the same algorithm, data and settings (stop
    /// rules and workers may change). Checkpoints go on into DIR unless --checkpoint is given.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// Algorithms, comma-separated.
    #[arg(long, default_value = "sgd,asgd", value_delimiter = ',')]
    algos: Vec<String>,
    #[command(flatten)]
    run: RunArgs,
    /// Folder for the traces, summaries and the plot.
    #[arg(long)]
    out: Option<PathBuf>,
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
    #[arg(long)]
    reconnect: Option<f64>,
}

/// The objectives on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LossName {
    /// 1/(2n) |Xw - y|^2.
    LeastSquares,
    /// 1/n sum log(1 + exp(-y x.w)) + lambda/2 |w|^2.
    Logistic,
}

fn parse_stragglers(s: &str) -> Result<Stragglers, String> {
    s.parse()
}

fn parse_precondition(s: &str) -> Result<Precondition, String> {
    s.parse()
}

/// Parses the command line and runs what it asks for.
pub fn main() -> Result<()> {
    let no_arguments = std::env::args_os().len() == 1;
    let cli = Cli::parse();
    init_logging(cli_quiet(&cli));
    match cli.command {
        Some(Command::Worker(args)) => run_worker(args),
        Some(Command::Compare(args)) => {
            let algorithms = parse_algorithms(&args.algos)?;
            let out = args.out.clone().unwrap_or_else(default_out_dir);
            let outputs = compare::run(&algorithms, &args.run, &out)?;
            print_outputs(&outputs);
            Ok(())
        }
        None if no_arguments => {
            let run = builtin_comparison();
            let out = default_out_dir();
            println!(
                "No arguments: comparing SGD and ASGD on the built-in California housing set \
                 (4 workers, stragglers `paper`). `async-train --help` lists the options."
            );
            let outputs = compare::run(&[Algorithm::Sgd, Algorithm::Asgd], &run, &out)?;
            print_outputs(&outputs);
            Ok(())
        }
        None => train(cli.train),
    }
}

fn cli_quiet(cli: &Cli) -> bool {
    match &cli.command {
        Some(Command::Compare(args)) => args.run.quiet,
        Some(Command::Worker(_)) => false,
        None => cli.train.run.quiet,
    }
}

fn init_logging(quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ASYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// The built-in run: California housing (scaled), least squares, minibatch SGD and ASGD with
/// their default steps, 4 workers with the paper's stragglers, to 2% of the optimum.
pub fn builtin_comparison() -> RunArgs {
    let mut run = RunArgs::parse_defaults();
    run.stragglers = Stragglers::Paper;
    run.batch = 1000;
    run.target_subopt = Some(2e-2);
    run.updates = 200_000;
    run.time = Some(25.0);
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

    /// The job these settings describe for `algorithm`.
    pub fn job(&self, algorithm: Algorithm) -> Result<JobSpec> {
        if self.workers == 0 {
            bail!("--workers must be at least 1");
        }
        if let Some(step) = self.step {
            if !(step > 0.0 && step.is_finite()) {
                bail!("--step must be a positive number, not {step}");
            }
        }
        if !(0.0..1.0).contains(&self.momentum) {
            bail!("--momentum must be in [0, 1), not {}", self.momentum);
        }
        let loss = match self.loss {
            LossName::LeastSquares => Loss::LeastSquares,
            LossName::Logistic => Loss::Logistic {
                lambda: self.lambda,
            },
        };
        let mut cluster = ClusterConfig::local(self.workers);
        cluster.stragglers = self.stragglers;
        cluster.seed = self.seed;
        cluster.join_timeout = Duration::from_secs_f64(self.join_timeout.max(0.1));
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
                },
                None => DataSource::Builtin,
            },
            loss,
            step: self.step,
            momentum: self.momentum,
            batch: self.batch,
            updates: self.updates,
            quorum: self.quorum,
            max_staleness: self.max_staleness,
            staleness_aware: self.staleness_aware,
            epoch: self.epoch,
            precondition: self.precondition,
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

fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>> {
    names
        .iter()
        .map(|name| name.parse::<Algorithm>().map_err(anyhow::Error::msg))
        .collect()
}

fn train(args: TrainArgs) -> Result<()> {
    let algorithm: Algorithm = args.algo.parse().map_err(anyhow::Error::msg)?;
    let mut spec = args.run.job(algorithm)?;
    if args.checkpoint_updates == Some(0) {
        bail!("--checkpoint-updates must be at least 1");
    }
    if let Some(seconds) = args.checkpoint_seconds {
        if !(seconds > 0.0 && seconds.is_finite()) {
            bail!("--checkpoint-seconds must be a positive number, not {seconds}");
        }
    }
    let checkpoint_dir = args.checkpoint.clone().or_else(|| args.resume.clone());
    if checkpoint_dir.is_none()
        && (args.checkpoint_updates.is_some() || args.checkpoint_seconds.is_some())
    {
        bail!("--checkpoint-updates and --checkpoint-seconds need --checkpoint DIR");
    }
    spec.checkpointing = Checkpointing {
        dir: args.checkpoint.clone(),
        every_updates: args.checkpoint_updates,
        every_s: args.checkpoint_seconds,
        resume: args.resume.clone(),
    };
    let data = spec.data.load()?;
    let outcome = job::run(&spec, &data)?;
    if let Some((updates, elapsed_s)) = outcome.resumed_from {
        println!("resumed from the checkpoint at {updates} updates ({elapsed_s:.2} s)");
    }
    println!("{}", outcome.one_line());
    if let Some(path) = &args.trace {
        outcome.trace.write_csv(path)?;
        println!("trace:   {}", path.display());
    }
    if let Some(path) = &args.summary {
        outcome.write_summary(path)?;
        println!("summary: {}", path.display());
    }
    if let Some(path) = &args.plot {
        crate::plot::write_plot(
            path,
            &[(outcome.algorithm.name(), &outcome.trace)],
            outcome.optimum,
        )?;
        println!("plot:    {}", path.display());
    }
    outcome.into_result()
}

fn print_outputs(outputs: &CompareOutputs) {
    println!("{}", outputs.table());
    println!("files in {}:", outputs.dir.display());
    for file in &outputs.files {
        println!("  {}", file.display());
    }
}

fn default_out_dir() -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from("runs").join(format!("run-{stamp}"))
}

fn run_worker(args: WorkerArgs) -> Result<()> {
    let name = args
        .name
        .unwrap_or_else(|| format!("w-{}-{}", hostname(), std::process::id()));
    let mut options = async_runtime::worker::WorkerOptions::new(name, args.driver);
    options.token = match (&args.token_file, std::env::var("ASYNC_TOKEN")) {
        (Some(path), _) => Some(Token::from_file(path)?),
        (None, Ok(text)) => Some(Token::new(text.trim().as_bytes()).map_err(anyhow::Error::msg)?),
        (None, Err(_)) => None,
    };
    options.reconnect = args.reconnect.map(|s| Duration::from_secs_f64(s.max(0.0)));
    async_runtime::worker::run(options).context("worker stopped")
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into())
}
