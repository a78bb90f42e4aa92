//! From the command line to a job: the defaults, the built-in comparison, and
//! [`RunArgs::job`], which checks every value (a value out of its range is a
//! [`UsageError`](super::UsageError)) and builds the [`JobSpec`].

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use asyncopt_algorithms::Loss;
use asyncopt_runtime::cluster::{MAX_LOCAL_WORKERS, MIN_HEARTBEAT};
use asyncopt_runtime::data::split::MAX_GRAINS;
use asyncopt_runtime::data::SharedOptions;
use asyncopt_runtime::worker::MAX_HEARTBEAT;
use asyncopt_runtime::{ClusterConfig, Stragglers, Token};
use clap::Args;

use super::args::{DataAccessName, LossName, RunArgs, TrainArgs, AUTO_SHARED_BYTES};
use super::numbers::MAX_SECONDS;
use crate::job::{Checkpointing, DataAccess, DataSource, JobSpec, StopRules};
use crate::optimizer::{readable, Optimizer};
use crate::provenance::Provenance;

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

/// The largest `--max-features`: a model of more features could not even be allocated on
/// most hosts, and its size in bytes would overflow the allocator's arithmetic.
pub(super) const MAX_FEATURES_CEILING: usize = 1 << 31;

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
        let shared = |auto| DataAccess::Shared {
            eval_rows: self.eval_rows.unwrap_or(SharedOptions::DEFAULT_EVAL_ROWS),
            auto,
        };
        // The scan cuts a shared file into at most MAX_GRAINS byte ranges, each read by one
        // partition at least: more partitions cannot share it, whatever the file's size.
        let parts = self.workers.saturating_mul(self.partitions_per_worker);
        let too_many = parts as u64 > MAX_GRAINS;
        let access = match self.data_access {
            DataAccessName::Ship => DataAccess::Ship,
            DataAccessName::Shared if too_many => {
                bail_usage!(
                    "--data-access shared reads the file in at most {MAX_GRAINS} byte ranges, \
                     one or more per partition, and --workers {} x --partitions-per-worker {} \
                     make {parts} partitions: lower --partitions-per-worker, or use \
                     --data-access ship",
                    self.workers,
                    self.partitions_per_worker
                )
            }
            DataAccessName::Shared if self.remote_workers && self.token_file.is_none() => {
                bail_usage!(
                    "--data-access shared with --remote-workers needs --token-file: a worker \
                     without a token reads no file a driver names"
                )
            }
            DataAccessName::Shared => shared(false),
            DataAccessName::Auto => {
                // A small file costs little to ship, and may have too few bytes for its
                // byte ranges to fill every partition.
                let large = std::fs::metadata(path).is_ok_and(|m| m.len() >= AUTO_SHARED_BYTES);
                let plain = large
                    && !asyncopt_runtime::data::libsvm::is_compressed(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                if plain && !self.remote_workers && !too_many {
                    shared(true)
                } else {
                    DataAccess::Ship
                }
            }
        };
        if let (DataAccess::Ship, Some(rows)) = (access, self.eval_rows) {
            // Asked once per job (a comparison builds one per optimizer): said once.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                tracing::warn!(
                    "--eval-rows {rows} is unused: the data is shipped (--data-access ship, or \
                     auto for a compressed or small file, or remote workers), and the objective \
                     is measured on every row"
                )
            });
        }
        Ok(access)
    }

    /// The job these settings describe for `algorithm`: the one place where the command line
    /// becomes a job.
    pub fn job(&self, algorithm: impl Into<Optimizer>) -> Result<JobSpec> {
        self.job_of(algorithm.into(), Resume::NotTaken)
    }

    /// [`RunArgs::job`] for the training command, the one that takes `--resume`: a bound that
    /// trains nothing is refused in words that say what the bound means for a resume too.
    pub(super) fn resumable_job(&self, algorithm: Optimizer) -> Result<JobSpec> {
        self.job_of(algorithm, Resume::Taken)
    }

    fn job_of(&self, algorithm: Optimizer, resume: Resume) -> Result<JobSpec> {
        self.check_ranges(resume)?;
        // The token file is read before the data file is looked at.
        let cluster = self.cluster()?;
        Ok(JobSpec {
            algorithm,
            data: self.data_source()?,
            bias: self.bias.then_some(1.0),
            loss: self.loss(),
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
            token_file: self.token_file.clone(),
            worker_runs: 1,
            stop: StopRules {
                time_s: self.time,
                target_subopt: self.target_subopt,
                optimum: self.optimum,
            },
            eval_every_s: self.eval_every,
            quiet: self.quiet,
            checkpointing: Checkpointing::default(),
            // The command line's entry gives its own.
            provenance: Provenance::default(),
        })
    }

    /// Refuses a value out of its range, as a usage error naming the flag.
    fn check_ranges(&self, resume: Resume) -> Result<()> {
        // The parser refuses these ranges under each flag's name; a `RunArgs` built in code
        // skips it, and the runtime refuses the cluster's (workers, prefetch, partitions, kept
        // versions) but not these.
        if self.quorum == 0 {
            // A barrier waiting for no idle worker dispatches to none: the run went on as
            // with 1 while its summary said 0.
            bail_usage!("--quorum must be at least 1 (idle workers needed before dispatching)");
        }
        if !self.remote_workers && self.quorum > self.workers {
            // Local workers are never more than the count (a lost one is replaced, not
            // added to): the barrier waited forever and its timeout overrode it at every
            // round. Remote workers may join past the count, so there it can be met.
            bail_usage!(
                "--quorum {} can never be met by --workers {}: a barrier waits for that many \
                 idle workers; give at most {} (more needs --remote-workers joining past the \
                 count)",
                self.quorum,
                self.workers,
                self.workers
            );
        }
        if let Some(step) = self.step {
            if !(step > 0.0 && step.is_finite()) {
                bail_usage!("--step must be a positive number, not {}", readable(step));
            }
        }
        if !(0.0..1.0).contains(&self.momentum) {
            bail_usage!(
                "--momentum must be in [0, 1), not {}",
                readable(self.momentum)
            );
        }
        let lambda = self.lambda_or_default();
        if !(lambda >= 0.0 && lambda.is_finite()) {
            bail_usage!("--lambda must be a number >= 0, not {}", readable(lambda));
        }
        // What the default step refuses once the data is read (`job::step`), refused for every
        // run before it: with `--step` given, the run diverged at its first update.
        if !(lambda * lambda).is_finite() {
            bail_usage!(
                "--lambda {lambda:e} is too large: the smoothness it adds overflows, so no step \
                 fits"
            );
        }
        seconds("--join-timeout", self.join_timeout)?;
        // Bounds that train nothing: the run said "after 0 updates" and exited 0. A resume's
        // bounds count from the start of the run it resumes, and one already passed is said
        // after it; 0 is passed by every checkpoint. Only a command with `--resume` speaks of
        // it: `compare` has none.
        let for_resume = |what: &str| match resume {
            Resume::Taken => format!(" (with --resume, {what} in all, more than the checkpoint's)"),
            Resume::NotTaken => String::new(),
        };
        if self.updates == Some(0) {
            bail_usage!(
                "--updates 0 trains nothing: give at least 1{}",
                for_resume("the updates to reach")
            );
        }
        if let Some(time) = self.time {
            // A time limit shorter than any update is --time 0 by another name: 1e-300 trained
            // nothing and exited 0, where 0 was refused.
            if (0.0..MIN_TIME_S).contains(&time) {
                bail_usage!(
                    "--time {} trains nothing: give the seconds to train, at least \
                     {MIN_TIME_S:e}{}",
                    readable(time),
                    for_resume("the seconds of training")
                );
            }
            positive_seconds("--time", time)?;
        }
        seconds("--eval-every", self.eval_every)?;
        if let Some(target) = self.target_subopt {
            // 0 is reached only at f* itself, which rounding keeps a run from telling.
            if !(target > 0.0 && target.is_finite()) {
                bail_usage!(
                    "--target-subopt must be a number > 0, not {}",
                    readable(target)
                );
            }
        }
        if let Some(optimum) = self.optimum {
            if !optimum.is_finite() {
                bail_usage!(
                    "--optimum must be a finite number, not {}",
                    readable(optimum)
                );
            }
            if optimum < 0.0 {
                bail_usage!("--optimum must be >= 0: the objectives are losses, never negative");
            }
            if optimum == 0.0 && self.target_subopt.is_some() {
                bail_usage!(
                    "--target-subopt is relative to f*, which --optimum 0 makes undefined: \
                     stop with --time or --updates instead"
                );
            }
        }
        // Depends on two flags, so the parser cannot say it; the runtime refuses it too, naming
        // no flag.
        if !self.remote_workers && self.workers > MAX_LOCAL_WORKERS {
            bail_usage!(
                "--workers: at most {MAX_LOCAL_WORKERS} local worker processes, not {}: more \
                 would exhaust the host's processes and memory; run workers on other hosts \
                 (--remote-workers)",
                self.workers
            );
        }
        check_max_features(self.max_features)?;
        if self.eval_rows == Some(0) {
            bail_usage!("--eval-rows must be at least 1");
        }
        Ok(())
    }

    /// `--lambda`, or the loss's default L2 weight.
    fn lambda_or_default(&self) -> f64 {
        match (self.lambda, self.loss) {
            (Some(lambda), _) => lambda,
            (None, LossName::LeastSquares) => 0.0,
            (None, LossName::Logistic) => DEFAULT_LOGISTIC_LAMBDA,
        }
    }

    /// The objective: the loss with its L2 weight.
    fn loss(&self) -> Loss {
        Loss::with_lambda(
            matches!(self.loss, LossName::LeastSquares),
            self.lambda_or_default(),
        )
    }

    /// The cluster: workers, partitions, kept versions, stragglers, address and token.
    fn cluster(&self) -> Result<ClusterConfig> {
        let mut cluster = ClusterConfig::local(self.workers);
        cluster.partitions_per_worker = self.partitions_per_worker;
        if let Some(versions) = self.keep_versions {
            cluster.keep_versions = versions;
        }
        cluster.stragglers = self.stragglers;
        cluster.seed = self.seed;
        cluster.prefetch = self.prefetch;
        let join_timeout = seconds("--join-timeout", self.join_timeout)?;
        cluster.join_timeout = join_timeout.max(Duration::from_millis(100));
        (cluster.heartbeat, cluster.liveness_beats) =
            liveness(self.heartbeat, self.lost_after, &cluster)?;
        if let Some(respawns) = self.max_respawns {
            cluster.max_respawns = respawns;
        }
        cluster.spawn_local = !self.remote_workers;
        cluster.encrypt = self.encrypt;
        if let Some(bind) = &self.bind {
            cluster.bind = bind.clone();
        }
        // Before the loopback check, which would call `ipc://x` beyond loopback.
        if let Some(problem) = asyncopt_runtime::transport::endpoint_problem(&cluster.bind) {
            bail_usage!("--bind {}: {problem}", cluster.bind);
        }
        let beyond_loopback = !asyncopt_runtime::transport::is_loopback(&cluster.bind);
        if self.remote_workers && self.token_file.is_none() && beyond_loopback {
            // The runtime refuses too, in words that name no flag of any program.
            bail_usage!(
                "--bind {} is beyond loopback and needs --token-file: any host could join the \
                 run",
                cluster.bind
            );
        }
        if let Some(path) = &self.token_file {
            cluster.token = Some(token_file(path)?);
        } else if self.remote_workers {
            // Remote workers can only present a token they were given.
            cluster.token = None;
        }
        Ok(cluster)
    }

    /// Where the data comes from: `--data`, read as `--data-access` says, or the built-in set.
    fn data_source(&self) -> Result<DataSource> {
        Ok(match &self.data {
            Some(path) => DataSource::File {
                path: path.clone(),
                dim: self.dim,
                max_dim: self.max_features,
                access: self.data_access(path)?,
            },
            None => DataSource::Builtin,
        })
    }
}

/// Whether the command a job is built for takes `--resume`.
#[derive(Clone, Copy)]
enum Resume {
    Taken,
    NotTaken,
}

/// `--heartbeat` and `--lost-after` as the cluster's period and the heartbeats a worker may
/// miss (rounded up), each flag's default the cluster's; refused, naming the flag, past the
/// runtime's bounds or with fewer than 2 heartbeats in the silence allowed.
fn liveness(
    heartbeat: Option<f64>,
    lost_after: Option<f64>,
    defaults: &ClusterConfig,
) -> Result<(Duration, u32)> {
    // Bounded by a minute, so one message serves every value out of range (NaN and
    // infinities too), not the century of the other duration flags.
    let period = match heartbeat {
        Some(s) => Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO),
        None => defaults.heartbeat,
    };
    if !(MIN_HEARTBEAT..=MAX_HEARTBEAT).contains(&period) {
        bail_usage!(
            "--heartbeat must be from {} to {} seconds, not {}",
            MIN_HEARTBEAT.as_secs_f64(),
            MAX_HEARTBEAT.as_secs(),
            readable(heartbeat.unwrap_or_default())
        );
    }
    let Some(lost_after) = lost_after else {
        return Ok((period, defaults.liveness_beats));
    };
    let silence = seconds("--lost-after", lost_after)?;
    let beats = silence.as_nanos().div_ceil(period.as_nanos());
    if silence < period * 2 {
        bail_usage!(
            "--lost-after {} must be at least 2 heartbeats ({} s): a heartbeat late is no loss",
            readable(lost_after),
            (period * 2).as_secs_f64()
        );
    }
    match u32::try_from(beats) {
        Ok(beats) => Ok((period, beats)),
        Err(_) => bail_usage!(
            "--lost-after {} is more than {} heartbeats of {} s: raise --heartbeat",
            readable(lost_after),
            u32::MAX,
            period.as_secs_f64()
        ),
    }
}

/// Refuses a `--max-features` over [`MAX_FEATURES_CEILING`], as a usage error.
fn check_max_features(max_features: usize) -> Result<()> {
    if max_features > MAX_FEATURES_CEILING {
        bail_usage!(
            "--max-features must be at most {MAX_FEATURES_CEILING} (2^31 features, 16 GiB per \
             model copy), not {max_features}"
        );
    }
    Ok(())
}

/// The shortest `--time`: a microsecond, less than any update takes (each waits for a
/// worker's answer), so that a shorter one, which trains nothing, is refused as 0 is.
const MIN_TIME_S: f64 = 1e-6;

/// The L2 weight of the logistic loss when `--lambda` is not given.
pub const DEFAULT_LOGISTIC_LAMBDA: f64 = 1e-4;

/// `value` seconds of the flag `flag`, or why not: a negative, NaN or infinite number, or one
/// past [`MAX_SECONDS`] (far enough past it, converting it to a `Duration` panics).
pub(super) fn seconds(flag: &str, value: f64) -> Result<Duration> {
    match Duration::try_from_secs_f64(value) {
        Ok(duration) if value.is_finite() && value <= MAX_SECONDS => Ok(duration),
        _ => bail_usage!(
            "{flag} must be a finite number of seconds from 0 to {MAX_SECONDS:e}, not {}",
            readable(value)
        ),
    }
}

/// [`seconds`] of a flag to which 0 is no use, which says so in its range: a time limit
/// (which would train nothing).
fn positive_seconds(flag: &str, value: f64) -> Result<Duration> {
    match seconds(flag, value) {
        Ok(duration) if value > 0.0 => Ok(duration),
        _ => bail_usage!(
            "{flag} must be a finite number of seconds more than 0 and at most {MAX_SECONDS:e}, \
             not {}",
            readable(value)
        ),
    }
}

/// The token of `--token-file PATH`: a file that cannot be read (missing, not allowed, a
/// folder) or holds no token is the flag's value refused, as a usage error naming it.
pub(super) fn token_file(path: &Path) -> Result<Token> {
    Token::read_file(path)
        .map_err(|e| super::UsageError(format!("--token-file {}: {e}", path.display())).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::UsageError;
    use crate::job;
    use crate::Setting;
    use asyncopt_algorithms::{Algorithm, Model, Params};
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
    fn a_quorum_of_no_worker_built_in_code_is_a_usage_error() {
        // The parser refuses `--quorum 0`; settings built in code skip it.
        let mut args = RunArgs::parse_defaults();
        args.quorum = 0;
        let refused = args.job(Algorithm::Asgd).unwrap_err();
        assert!(refused.is::<UsageError>(), "{refused}");
        assert!(
            refused
                .to_string()
                .starts_with("--quorum must be at least 1"),
            "{refused}"
        );
        assert!(run_args(&["--quorum", "1"]).job(Algorithm::Asgd).is_ok());
    }

    #[test]
    fn a_quorum_above_the_local_workers_is_a_usage_error_but_not_with_remote_ones() {
        let error = run_args(&["--workers", "2", "--quorum", "5"])
            .job(Algorithm::Asgd)
            .unwrap_err();
        assert!(error.is::<UsageError>(), "{error}");
        let message = error.to_string();
        assert!(
            message.contains("--quorum 5") && message.contains("--workers 2"),
            "{message}"
        );
        assert!(run_args(&["--workers", "5", "--quorum", "5"])
            .job(Algorithm::Asgd)
            .is_ok());
        // Remote workers may join past the count: spares can fill a larger quorum.
        let remote = ["--workers", "2", "--quorum", "5", "--remote-workers"];
        assert!(run_args(&remote).job(Algorithm::Asgd).is_ok());
    }

    #[test]
    fn a_lambda_whose_square_overflows_is_a_usage_error_even_with_a_step() {
        // It was found only by the default step, after the data was read: exit 1, and with
        // `--step` not at all, the run diverging at its first update.
        for args in [
            &["--lambda", "1e200"][..],
            &["--lambda", "1e200", "--step", "0.1"],
        ] {
            let refused = run_args(args).job(Algorithm::Sgd).unwrap_err();
            assert!(refused.is::<UsageError>(), "{args:?}: {refused}");
            assert_eq!(
                refused.to_string(),
                "--lambda 1e200 is too large: the smoothness it adds overflows, so no step fits"
            );
        }
        assert!(run_args(&["--lambda", "1e150"]).job(Algorithm::Sgd).is_ok());
    }

    #[test]
    fn a_target_of_zero_is_a_usage_error() {
        // It was taken: no run reaches it, and the one that missed it read "= 0e0".
        for target in ["0", "-0"] {
            let refused = run_args(&["--target-subopt", target])
                .job(Algorithm::Sgd)
                .unwrap_err();
            assert!(refused.is::<UsageError>(), "{refused}");
            assert!(
                refused
                    .to_string()
                    .starts_with("--target-subopt must be a number > 0"),
                "{refused}"
            );
        }
        assert!(run_args(&["--target-subopt", "1e-300"])
            .job(Algorithm::Sgd)
            .is_ok());
    }

    #[test]
    fn a_target_relative_to_an_optimum_given_as_zero_is_a_usage_error() {
        // It read "f*, which is 0 to rounding: the data is fitted exactly", exit 1, after the
        // data was read.
        let refused = run_args(&["--optimum", "0", "--target-subopt", "1e-3"])
            .job(Algorithm::Sgd)
            .unwrap_err();
        assert!(refused.is::<UsageError>(), "{refused}");
        assert!(
            refused
                .to_string()
                .contains("which --optimum 0 makes undefined"),
            "{refused}"
        );
        assert!(run_args(&["--optimum", "0"]).job(Algorithm::Sgd).is_ok());
    }

    #[test]
    fn lost_after_becomes_whole_heartbeats_rounded_up() {
        let cluster = |args: &[&str]| {
            let job = run_args(args).job(Algorithm::Sgd);
            job.map(|j| (j.cluster.heartbeat, j.cluster.liveness_beats))
        };
        let ms = Duration::from_millis;
        assert_eq!(cluster(&[]).unwrap(), (ms(500), 10));
        assert_eq!(cluster(&["--lost-after", "30"]).unwrap(), (ms(500), 60));
        assert_eq!(cluster(&["--heartbeat", "2"]).unwrap(), (ms(2000), 10));
        let short = ["--heartbeat", "0.25", "--lost-after", "1.1"];
        assert_eq!(cluster(&short).unwrap(), (ms(250), 5));
        let refused = |args: &[&str]| {
            let error = cluster(args).unwrap_err();
            assert!(error.is::<UsageError>(), "{args:?}: {error}");
            error.to_string()
        };
        let one_beat = refused(&["--heartbeat", "1", "--lost-after", "1.5"]);
        assert!(
            one_beat.starts_with("--lost-after 1.5 must be at least 2 heartbeats (2 s)"),
            "{one_beat}"
        );
        assert!(refused(&["--lost-after", "-1"]).starts_with("--lost-after must be"));
        assert!(refused(&["--heartbeat", "0"]).starts_with("--heartbeat must be from 0.001"));
        for out_of_range in ["inf", "NaN", "-1", "1e300"] {
            let said = refused(&["--heartbeat", out_of_range]);
            assert!(
                said.starts_with("--heartbeat must be from 0.001 to 60 seconds, not "),
                "{said}"
            );
        }
        assert!(refused(&["--heartbeat", "3601"]).starts_with("--heartbeat must be from"));
        assert!(refused(&["--heartbeat", "nan"]).starts_with("--heartbeat must be"));
        let many = refused(&["--heartbeat", "0.001", "--lost-after", "1e7"]);
        assert!(many.contains("raise --heartbeat"), "{many}");
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
        let neither = check(&["--epoch", "10"], &[sgd, asgd]).unwrap_err();
        assert!(
            neither.starts_with("--epoch 10 would change nothing: none of sgd, asgd reads p.epoch"),
            "{neither}"
        );
        let svrg = Optimizer::from(Algorithm::Svrg);
        assert!(check(&["--epoch", "10"], &[svrg]).is_ok());
        assert!(check(&["--precondition", "diagonal"], &[plain]).is_err());
    }

    #[test]
    fn an_own_models_optimizer_takes_a_loss_or_lambda_only_if_its_code_reads_it() {
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
        // Its objective is its type's: the logistic loss would only rewrite its labels.
        let loss = check(&["--loss", "logistic"], own).unwrap_err();
        assert!(
            loss.starts_with(
                "--loss logistic would change only how the labels are read, not the objective: \
                 constant does not read p.loss"
            ),
            "{loss}"
        );
        let classifier = Optimizer::of_model("classifier", constant).reads(&[Setting::Loss]);
        // The logistic loss's default weight is no one's choice.
        assert!(check(&["--loss", "logistic"], classifier).is_ok());
        assert!(check(&["--loss", "least-squares"], own).is_ok());
        assert!(check(&["--loss", "logistic"], Optimizer::new("plain", linear)).is_ok());
        // A linear model's objective is the loss, weight included, whatever the code reads.
        assert!(check(&["--lambda", "0.1"], Optimizer::new("plain", linear)).is_ok());
        assert!(check(&["--lambda", "0.1"], Optimizer::from(Algorithm::Sgd)).is_ok());
    }
}
