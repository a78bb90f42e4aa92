//! What a job is: the optimizer, the data, the objective, the settings, the cluster, the stop
//! rules and the checkpoints, as the command line ([`crate::cli::RunArgs::job`]) gives them.

use std::path::PathBuf;

use asyncopt_algorithms::{Loss, Precondition};
use asyncopt_runtime::ClusterConfig;

use super::DataSource;
use crate::optimizer::Optimizer;
use crate::provenance::Provenance;

/// When a run stops, besides its update bound.
#[derive(Debug, Clone, Default)]
pub struct StopRules {
    /// Seconds of training.
    pub time_s: Option<f64>,
    /// Relative suboptimality to reach.
    pub target_subopt: Option<f64>,
    /// The optimal objective, if known.
    pub optimum: Option<f64>,
}

/// Checkpoints of the driver: where, how often, and which one to resume.
#[derive(Debug, Clone, Default)]
pub struct Checkpointing {
    /// The folder to write checkpoints into.
    pub dir: Option<PathBuf>,
    /// Write one after this many updates.
    pub every_updates: Option<u64>,
    /// Write one after this many seconds of training (10 s when neither is given).
    pub every_s: Option<f64>,
    /// The folder of the checkpoint to resume.
    pub resume: Option<PathBuf>,
}

/// Everything one job needs.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The optimizer.
    pub algorithm: Optimizer,
    /// The data.
    pub data: DataSource,
    /// The value of a constant feature appended to every row (an intercept), if any.
    pub bias: Option<f64>,
    /// The objective.
    pub loss: Loss,
    /// The step; 1/L when `None`.
    pub step: Option<f64>,
    /// Heavy-ball momentum.
    pub momentum: f64,
    /// Rows per partition and task.
    pub batch: usize,
    /// Update bound.
    pub updates: usize,
    /// Idle workers before an asynchronous dispatch.
    pub quorum: usize,
    /// Staleness bound of asynchronous reduces.
    pub max_staleness: u64,
    /// Staleness-aware step.
    pub staleness_aware: bool,
    /// SVRG: updates per snapshot (0: one pass over the data, see `Params::epoch`).
    pub epoch: usize,
    /// The fixed preconditioner of the update direction.
    pub precondition: Precondition,
    /// Values of an author's hyperparameters (`--param NAME=VALUE`); an optimizer gets those
    /// it declares ([`Optimizer::params`](crate::Optimizer::params)), the rest at their
    /// defaults.
    pub params: Vec<(String, f64)>,
    /// The cluster.
    pub cluster: ClusterConfig,
    /// The file `cluster.token` was read from (`--token-file`), for the line that tells
    /// remote workers how to join.
    pub token_file: Option<PathBuf>,
    /// Runs a remote worker serves at this address from this one on (`worker --runs`): more
    /// than 1 in a comparison, whose runs have a driver each, for the line that tells remote
    /// workers how to join.
    pub worker_runs: usize,
    /// Stop rules.
    pub stop: StopRules,
    /// Seconds of training between evaluations, at least ten times an evaluation's cost
    /// (see [`crate::watch`]).
    pub eval_every_s: f64,
    /// No progress output.
    pub quiet: bool,
    /// Driver checkpoints.
    pub checkpointing: Checkpointing,
    /// The command that ran it, which its summary records so that it can be run again.
    pub provenance: Provenance,
}
