//! Launching a cluster: the settings of a run, local worker processes of the current
//! executable on loopback, and the entry point that turns such a process into a worker.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::auth::Token;
use crate::error::RuntimeError;
use crate::stragglers::Stragglers;
use crate::transport::DEFAULT_MAX_FRAME;
use crate::worker::{self, WorkerOptions, MAX_CACHE_VERSIONS, MAX_QUEUED_TASKS};

/// Environment variable that makes a spawned process of the executable a worker.
pub const WORKER_ENV: &str = "ASYNC_RUNTIME_WORKER";
/// Environment variable that hands a spawned worker the run's token, in hex.
pub const TOKEN_ENV: &str = "ASYNC_RUNTIME_TOKEN";
/// Environment variable that tells a spawned worker where its driver listens.
pub const DRIVER_ENV: &str = "ASYNC_RUNTIME_DRIVER";
/// Prefix of the environment variables (`ASYNC_RUNTIME_DATA_0`, `_1`, ...) that name the
/// files and folders a spawned worker may read ([`ClusterConfig::worker_data`]): one a path,
/// so that any path passes, whatever characters it holds.
pub const DATA_ENV_PREFIX: &str = "ASYNC_RUNTIME_DATA_";
/// Environment variable that tells a spawned worker its driver grants it more files to read
/// on its standard input, a pipe only that driver writes to: the files of the shared datasets
/// it has the worker read.
pub const GRANTS_ENV: &str = "ASYNC_RUNTIME_GRANTS_ON_STDIN";
/// Environment variable that tells a spawned worker the largest frame it accepts, in bytes:
/// its driver's [`ClusterConfig::max_frame`], so that what the driver may send (a broadcast
/// version up to its room) the worker takes, and what the worker sends the driver takes.
pub const FRAME_ENV: &str = "ASYNC_RUNTIME_MAX_FRAME";

/// Tasks a worker holds at once by default: one, no prefetch. A second task in hand hides the
/// round trip to the driver, but its result is older by a whole task when it arrives: on
/// bio_kdd04 with 8 workers on 2 cores (where the cores, not the round trip, bound the rate)
/// prefetch 2 about doubled ASGD's staleness (the toolkit's default step divides by workers x
/// prefetch for that). Ask for it with [`ClusterConfig::prefetch`] where workers have cores
/// of their own.
pub const DEFAULT_PREFETCH: usize = 1;

/// The most worker processes one driver starts on its own host.
pub const MAX_LOCAL_WORKERS: usize = 1024;

/// The most versions of each broadcast variable a driver keeps: each is a copy of the
/// variable in the driver's memory.
pub const MAX_KEEP_VERSIONS: usize = 1024;

/// The settings of a run's cluster.
///
/// ```
/// use asyncopt_runtime::{ClusterConfig, Stragglers};
///
/// let mut config = ClusterConfig::local(8); // 8 local worker processes on loopback
/// config.stragglers = Stragglers::SlowWorkers;
/// config.seed = 7;
/// assert!(config.token.is_some(), "a local cluster makes its own token");
/// ```
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Workers the run waits for before it starts.
    pub workers: usize,
    /// Start the workers as local processes of `worker_exe` on loopback.
    pub spawn_local: bool,
    /// Address the driver listens on (`tcp://127.0.0.1:0` picks a free port).
    pub bind: String,
    /// Executable of local workers (default: the current executable).
    pub worker_exe: Option<PathBuf>,
    /// Arguments given to local worker processes before the role is read from the environment.
    pub worker_args: Vec<String>,
    /// The files (or folders of files) local workers may read from the start when the driver
    /// names them. Not needed for a shared dataset's file
    /// ([`Dataset::open_shared`](crate::data::Dataset::open_shared)): the driver grants its
    /// local workers that file itself, on a pipe to each that only it holds, before it has
    /// them read it. A worker reads no file neither this nor such a grant allows, whoever
    /// its driver is.
    pub worker_data: Vec<PathBuf>,
    /// Simulated stragglers.
    pub stragglers: Stragglers,
    /// Seed of partitioning and of the straggler draw.
    pub seed: u64,
    /// Partitions per worker.
    pub partitions_per_worker: usize,
    /// Tasks of asynchronous reduces a worker may hold at once (running, queued, or answered
    /// and not yet used): with 2 or more, a worker is sent its next task while it computes
    /// one, so the round trip to the driver hides behind computation. A prefetched task's
    /// staleness counts from its dispatch. Synchronous reduces send one task per partition
    /// whatever this is, so their results do not depend on it. Default
    /// [`DEFAULT_PREFETCH`].
    pub prefetch: usize,
    /// Versions of each broadcast variable the workers keep, 1 to
    /// [`MAX_CACHE_VERSIONS`].
    pub cache_versions: usize,
    /// Versions of each broadcast variable the driver keeps (at least `cache_versions`, at
    /// most [`MAX_KEEP_VERSIONS`]): the oldest a pinned read `w.at(v)` can name; an older one
    /// is an error that says so. An optimizer may raise it during its run
    /// ([`Driver::keep_versions`](crate::Driver::keep_versions)).
    pub keep_versions: usize,
    /// Heartbeat period, both ways: the driver tells its workers in their welcome, and they
    /// beat as often. From [`MIN_HEARTBEAT`] to
    /// [`MAX_HEARTBEAT`](crate::worker::MAX_HEARTBEAT); default 500 ms.
    pub heartbeat: Duration,
    /// A worker silent this many heartbeats is lost (default 10: 5 s); at least 2, so that
    /// one heartbeat late is not a loss.
    pub liveness_beats: u32,
    /// How long the driver waits for the expected workers.
    pub join_timeout: Duration,
    /// Largest frame accepted.
    pub max_frame: usize,
    /// The run's shared secret; workers must prove they hold it, and the driver proves it to
    /// them. Without one (loopback only) a public token keeps the same code path.
    pub token: Option<Token>,
    /// Encrypt every frame after admission (ChaCha20-Poly1305 under the session key), for
    /// untrusted networks; otherwise frames carry a MAC only.
    pub encrypt: bool,
    /// Connections in the middle of a handshake at most (at least twice `workers`, so that a
    /// whole cluster saying hello at once fits); a newer hello closes the oldest one of the
    /// host (IP address, IPv6 /64) that holds the most.
    pub max_strangers: usize,
    /// A handshake not finished this long after its hello is dropped.
    pub handshake_deadline: Duration,
    /// Local worker processes that may be started in place of ones that exited during the
    /// run (crashed, killed); 0 lets the run go on with the others. Default: `workers`.
    pub max_respawns: u32,
    /// Where this run stands among runs served at the same address (`compare` with remote
    /// workers, each started with `worker --runs K`). Default: [`Series::Alone`].
    pub series: Series,
}

/// Where a run stands among runs at the same address, for its remote workers: whether they
/// are to wait for another driver when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Series {
    /// A run of its own: when it ends, its workers exit, or wait for a restarted driver if
    /// they were started with `--reconnect`.
    #[default]
    Alone,
    /// A run that others follow: when it finishes (not stopped), its workers are told another
    /// follows; when it ends any other way (stopped, failed to start), the series ends there
    /// and they are dismissed.
    NotLast,
    /// The last run of a series: its workers are dismissed however it ends.
    Last,
}

/// The shortest heartbeat period: workers are told it in whole milliseconds, and a shorter
/// one would keep both sides' loops busy with heartbeats alone.
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(1);

/// The longest handshake deadline: an hour (the link multiplies it).
const MAX_HANDSHAKE_DEADLINE: Duration = Duration::from_secs(3600);

/// Room kept in a frame beside a broadcast version: the task's order, its captures (warned of
/// over 1 MiB) and the frame's own header; half the frame when frames are smaller than 8 MiB.
const FRAME_HEADROOM: usize = 4 << 20;

impl ClusterConfig {
    /// The largest encoded broadcast version a frame to a worker carries beside its task:
    /// every version travels whole at least once, so a larger one can never be sent (a
    /// dense `f64` model takes 8 bytes a feature).
    pub fn broadcast_room(&self) -> usize {
        self.max_frame - FRAME_HEADROOM.min(self.max_frame / 2)
    }

    /// `workers` local worker processes on loopback.
    pub fn local(workers: usize) -> ClusterConfig {
        ClusterConfig {
            workers,
            spawn_local: true,
            bind: "tcp://127.0.0.1:0".into(),
            worker_exe: None,
            worker_args: Vec::new(),
            worker_data: Vec::new(),
            stragglers: Stragglers::None,
            seed: 0,
            partitions_per_worker: 1,
            prefetch: DEFAULT_PREFETCH,
            cache_versions: 8,
            keep_versions: 16,
            heartbeat: Duration::from_millis(500),
            liveness_beats: 10,
            join_timeout: Duration::from_secs(30),
            max_frame: DEFAULT_MAX_FRAME,
            token: Some(Token::random()),
            encrypt: false,
            max_strangers: 64,
            handshake_deadline: Duration::from_secs(5),
            max_respawns: u32::try_from(workers).unwrap_or(u32::MAX),
            series: Series::Alone,
        }
    }

    /// `workers` workers started by hand (on this host or others) that join the driver at
    /// `bind` with `token`: each runs this executable, calling
    /// [`worker::run`] with the same token, since the workers must hold
    /// the tasks of the driver's optimizers (another build is refused).
    ///
    /// ```
    /// use asyncopt_runtime::{ClusterConfig, Token};
    ///
    /// let token = Token::new(b"sixteen bytes at least").unwrap();
    /// let config = ClusterConfig::remote(4, "tcp://0.0.0.0:7000", token);
    /// assert!(!config.spawn_local, "the driver starts no worker");
    /// ```
    pub fn remote(workers: usize, bind: impl Into<String>, token: Token) -> ClusterConfig {
        ClusterConfig {
            spawn_local: false,
            bind: bind.into(),
            token: Some(token),
            ..ClusterConfig::local(workers)
        }
    }

    pub(crate) fn validate(&self) -> Result<(), RuntimeError> {
        refuse_inside_worker(std::env::var(WORKER_ENV).ok().as_deref())?;
        if self.workers == 0 {
            return Err(RuntimeError::Config(
                "a run needs at least one worker".into(),
            ));
        }
        // Before the token rule, whose "any host could join" is no reason for an address
        // nobody can listen on.
        if let Some(reason) = crate::transport::endpoint_problem(&self.bind) {
            return Err(RuntimeError::Bind {
                address: self.bind.clone(),
                reason,
            });
        }
        if self.token.is_none() && !crate::transport::is_loopback(&self.bind) {
            return Err(RuntimeError::Config(format!(
                "refusing to listen on {} without a token: any host could join the run; \
                 give the run a token",
                self.bind
            )));
        }
        if self.max_strangers == 0 {
            return Err(RuntimeError::Config(
                "the cap on unadmitted connections must be at least 1".into(),
            ));
        }
        if !(1..=MAX_QUEUED_TASKS).contains(&self.prefetch) {
            return Err(RuntimeError::Config(format!(
                "prefetch must be between 1 (no prefetch) and {MAX_QUEUED_TASKS} tasks, not {}",
                self.prefetch
            )));
        }
        // Workers clamp their cache to this range: outside it the driver's model of what they
        // hold would differ from what they do.
        if !(1..=MAX_CACHE_VERSIONS as usize).contains(&self.cache_versions) {
            return Err(RuntimeError::Config(format!(
                "workers keep between 1 and {MAX_CACHE_VERSIONS} versions of each broadcast \
                 variable, not {}",
                self.cache_versions
            )));
        }
        if !(1..=MAX_KEEP_VERSIONS).contains(&self.keep_versions) {
            return Err(RuntimeError::Config(format!(
                "the driver keeps between 1 and {MAX_KEEP_VERSIONS} versions of each broadcast \
                 variable (each is a copy of it in memory), not {}",
                self.keep_versions
            )));
        }
        // A worker caps its delay factor: beyond, it would sleep less than the run records.
        if let Stragglers::Intensity(c) = self.stragglers {
            if !(0.0..=crate::worker::MAX_DELAY_FACTOR).contains(&c) {
                return Err(RuntimeError::Config(format!(
                    "a straggler intensity {c} is outside 0 to {}, the most a worker sleeps \
                     (times its mean compute)",
                    crate::worker::MAX_DELAY_FACTOR
                )));
            }
        }
        // The link and the liveness check multiply these: out of range they would overflow
        // (a panic on the link's thread) or time out everything at once.
        // The heartbeat's bound is the worker's, so that a cluster never asks its workers for
        // a period they refuse.
        for (what, period, max) in [
            (
                "heartbeat period",
                self.heartbeat,
                crate::worker::MAX_HEARTBEAT,
            ),
            (
                "handshake deadline",
                self.handshake_deadline,
                MAX_HANDSHAKE_DEADLINE,
            ),
        ] {
            if period.is_zero() || period > max {
                return Err(RuntimeError::Config(format!(
                    "the {what} must be more than 0 and at most {} s, not {period:?}",
                    max.as_secs()
                )));
            }
        }
        if self.heartbeat < MIN_HEARTBEAT {
            return Err(RuntimeError::Config(format!(
                "the heartbeat period must be at least {MIN_HEARTBEAT:?}, not {:?}",
                self.heartbeat
            )));
        }
        if self.liveness_beats < 2 {
            return Err(RuntimeError::Config(format!(
                "a worker is lost after at least 2 silent heartbeats (one late is no loss), not \
                 {}",
                self.liveness_beats
            )));
        }
        if self.partitions_per_worker == 0 {
            return Err(RuntimeError::Config(
                "partitions per worker must be at least 1".into(),
            ));
        }
        if self.partitions_per_worker > crate::worker::MAX_PARTITIONS {
            return Err(RuntimeError::Config(format!(
                "partitions per worker must be at most {}, the most a worker holds, not {}",
                crate::worker::MAX_PARTITIONS,
                self.partitions_per_worker
            )));
        }
        if self.spawn_local && self.workers > MAX_LOCAL_WORKERS {
            return Err(RuntimeError::Config(format!(
                "at most {MAX_LOCAL_WORKERS} local worker processes, not {}: more would exhaust \
                 the host's processes and memory; run workers on other hosts (remote workers)",
                self.workers
            )));
        }
        Ok(())
    }

    pub(crate) fn liveness_timeout(&self) -> Duration {
        self.heartbeat * self.liveness_beats
    }

    pub(crate) fn worker_exe_display(&self) -> String {
        self.worker_exe.as_ref().map_or_else(
            || "(current executable)".into(),
            |p| p.display().to_string(),
        )
    }
}

/// A process the driver spawned as worker `worker` must not launch a cluster of its own: that
/// happens when `main` forgets [`run_worker_if_spawned`], and every worker would start workers
/// in turn.
fn refuse_inside_worker(worker: Option<&str>) -> Result<(), RuntimeError> {
    match worker {
        Some(name) => Err(RuntimeError::LaunchedInWorker {
            worker: name.to_owned(),
        }),
        None => Ok(()),
    }
}

/// A fresh random run id (never [`ANY_RUN`](crate::transport::frame::ANY_RUN)).
pub(crate) fn new_run_id() -> u64 {
    loop {
        let id: u64 = rand::random();
        if id != crate::transport::frame::ANY_RUN {
            return id;
        }
    }
}

/// The command of a local worker `name` of `exe` joining the driver at `endpoint`: its
/// arguments and what it is told in its environment (its role, its driver, the token, the
/// frame limit).
fn worker_command(config: &ClusterConfig, exe: &Path, endpoint: &str, name: &str) -> Command {
    let mut command = Command::new(exe);
    command
        .args(&config.worker_args)
        .env(WORKER_ENV, name)
        .env(DRIVER_ENV, endpoint)
        .env(FRAME_ENV, config.max_frame.to_string());
    if let Some(token) = &config.token {
        command.env(TOKEN_ENV, token.to_hex());
    }
    command
}

/// The frame limit a spawned worker is told in [`FRAME_ENV`], or why it cannot be one.
fn frame_limit(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(limit) if limit > 0 => Ok(limit),
        _ => Err(format!("`{value}` is not a frame limit in bytes")),
    }
}

/// Starts one process of the worker executable, named `name`, connected to `endpoint`.
pub(crate) fn spawn_local_worker(
    config: &ClusterConfig,
    endpoint: &str,
    name: &str,
) -> Result<Child, RuntimeError> {
    let exe = match &config.worker_exe {
        Some(exe) => exe.clone(),
        None => std::env::current_exe().map_err(|e| RuntimeError::Spawn {
            exe: "(current executable)".into(),
            reason: e.to_string(),
        })?,
    };
    let mut command = worker_command(config, &exe, endpoint, name);
    // None inherited from this process's environment: only what this run allows.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with(DATA_ENV_PREFIX) {
            command.env_remove(key);
        }
    }
    for (i, path) in config.worker_data.iter().enumerate() {
        command.env(format!("{DATA_ENV_PREFIX}{i}"), path);
    }
    // Its standard input is a pipe only this process writes to: the files it has the worker
    // read are granted there (`crate::grants`), never over the link, where a peer holding
    // the token could stand in for it. Unix only: there the worker reads it without waiting.
    let grants = if cfg!(unix) {
        command.env(GRANTS_ENV, "1");
        Stdio::piped()
    } else {
        command.env_remove(GRANTS_ENV);
        Stdio::null()
    };
    // A process group of its own: the terminal's Ctrl-C goes to the driver alone, which
    // ends the run in order and then shuts its workers down (a worker whose driver dies
    // exits on its own).
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
        .stdin(grants)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| RuntimeError::Spawn {
            exe: exe.display().to_string(),
            reason: e.to_string(),
        })
}

/// Waits up to `grace` for the processes to exit, then kills what is left; how each ended
/// (`None` if that could not be read).
pub(crate) fn reap(children: &mut Vec<Child>, grace: Duration) -> Vec<Option<ExitStatus>> {
    let deadline = Instant::now() + grace;
    let mut ended = Vec::with_capacity(children.len());
    for mut child in children.drain(..) {
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    ended.push(Some(status));
                    break;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    ended.push(child.wait().ok());
                    break;
                }
            }
        }
    }
    ended
}

/// Writes `line` and a newline to `out` in one `write`, as standard error is unbuffered and
/// `writeln!` writes each piece of its format on its own: a driver's local workers share its
/// terminal, and when it dies they all say so at once, their lines cut into each other
/// (`worker worker w0w2: : the driver ...`). One write of a line (under the 4 KiB a pipe
/// writes whole) keeps each whole.
pub fn write_line(
    out: &mut impl std::io::Write,
    line: std::fmt::Arguments<'_>,
) -> std::io::Result<()> {
    let mut text = line.to_string();
    text.push('\n');
    out.write_all(text.as_bytes())
}

/// [`write_line`] to standard error, whose failure (a closed pipe) is nothing to report on.
fn say_err(line: std::fmt::Arguments<'_>) {
    let _ = write_line(&mut std::io::stderr().lock(), line);
}

/// How long a local worker tries to reach the driver that started it.
const LOCAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Turns this process into a worker if the driver spawned it as one; returns otherwise.
///
/// Call it first thing in `main` of every executable that runs `#[async_optimizer]`
/// functions, so that the local cluster can start workers from the same executable.
pub fn run_worker_if_spawned() {
    let Ok(name) = std::env::var(WORKER_ENV) else {
        return;
    };
    let Ok(driver) = std::env::var(DRIVER_ENV) else {
        say_err(format_args!("worker {name}: {DRIVER_ENV} is not set"));
        std::process::exit(2);
    };
    let mut options = WorkerOptions::new(name.clone(), driver);
    // On the driver's host, the driver's death closes the connection: silence alone means a
    // driver paused (stopped, suspended, starved), which the run survives if its workers wait.
    options.driver_timeout = None;
    options.spawned = true;
    // Its driver listens before it starts it: a refused connection means that driver is gone.
    options.connect_timeout = LOCAL_CONNECT_TIMEOUT;
    options.readable = (0..)
        .map_while(|i| std::env::var_os(format!("{DATA_ENV_PREFIX}{i}")))
        .map(PathBuf::from)
        .collect();
    options.grants_on_stdin = std::env::var_os(GRANTS_ENV).is_some();
    // The driver's limit: a worker on the default would refuse the larger frames a driver
    // with a larger one sends, and send results a driver with a smaller one drops.
    if let Ok(value) = std::env::var(FRAME_ENV) {
        match frame_limit(&value) {
            Ok(limit) => options.max_frame = limit,
            Err(e) => {
                say_err(format_args!("worker {name}: {FRAME_ENV}: {e}"));
                std::process::exit(2);
            }
        }
    }
    if let Ok(hex) = std::env::var(TOKEN_ENV) {
        match Token::from_hex(&hex) {
            Ok(token) => options.token = Some(token),
            Err(e) => {
                say_err(format_args!("worker {name}: {TOKEN_ENV}: {e}"));
                std::process::exit(2);
            }
        }
    }
    let code = match worker::run(options) {
        Ok(_) => 0,
        Err(error) => {
            say_err(format_args!("worker {name}: {error}"));
            1
        }
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the writes a line takes.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl std::io::Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_spawned_worker_is_told_its_drivers_frame_limit() {
        let mut config = ClusterConfig::local(2);
        config.max_frame = 3 << 30;
        let command = worker_command(&config, Path::new("w"), "tcp://127.0.0.1:1", "w0");
        let told: Vec<_> = command
            .get_envs()
            .filter(|(key, _)| *key == FRAME_ENV)
            .map(|(_, value)| value.and_then(|v| v.to_str()).map(frame_limit))
            .collect();
        assert_eq!(told, vec![Some(Ok(3 << 30))]);
        assert!(frame_limit("0").is_err());
        assert!(frame_limit("-1").unwrap_err().contains("`-1`"));
    }

    #[test]
    fn a_worker_says_its_last_word_in_one_write() {
        let (name, error) = ("w2", "the driver is unreachable or gone");
        let mut out = Writes::default();
        write_line(&mut out, format_args!("worker {name}: {error}")).unwrap();
        assert_eq!(
            out.0,
            vec![b"worker w2: the driver is unreachable or gone\n".to_vec()]
        );
        // What `eprintln!` does, and what cut the lines of workers sharing a terminal.
        let mut pieces = Writes::default();
        std::io::Write::write_fmt(&mut pieces, format_args!("worker {name}: {error}\n")).unwrap();
        assert!(pieces.0.len() > 1);
    }

    #[test]
    fn only_loopback_may_go_without_a_token() {
        use crate::transport::is_loopback;
        assert!(is_loopback("tcp://127.0.0.1:0"));
        assert!(is_loopback("tcp://localhost:7000"));
        assert!(!is_loopback("tcp://0.0.0.0:7000"));
        assert!(!is_loopback("tcp://10.1.2.3:7000"));
        let mut config = ClusterConfig::local(2);
        config.token = None;
        assert!(config.validate().is_ok());
        config.bind = "tcp://0.0.0.0:7000".into();
        assert!(config.validate().is_err());
        config.token = Some(Token::random());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn an_address_that_is_not_tcp_is_refused_as_such_with_or_without_a_token() {
        let mut config = ClusterConfig::local(2);
        config.bind = "ipc:///tmp/driver".into();
        for token in [None, Some(Token::random())] {
            config.token = token;
            let error = config.validate().expect_err("refused").to_string();
            assert!(error.contains("not a tcp:// address"), "{error}");
        }
    }

    #[test]
    fn a_worker_cache_out_of_range_is_a_clear_error() {
        let mut config = ClusterConfig::local(2);
        for bad in [0, MAX_CACHE_VERSIONS as usize + 1] {
            config.cache_versions = bad;
            let error = config.validate().expect_err("refused").to_string();
            assert!(error.contains(&format!("not {bad}")), "{error}");
        }
        config.cache_versions = MAX_CACHE_VERSIONS as usize;
        assert!(config.validate().is_ok());
    }

    #[test]
    fn an_intensity_beyond_what_a_worker_sleeps_is_refused() {
        // A worker caps its factor at MAX_DELAY_FACTOR: intensity:200 slept as 100 while the
        // summary and the worker table said 200.
        let mut config = ClusterConfig::local(2);
        config.stragglers = Stragglers::Intensity(200.0);
        let error = config.validate().expect_err("refused").to_string();
        assert!(error.contains("intensity 200"), "{error}");
        config.stragglers = Stragglers::Intensity(crate::worker::MAX_DELAY_FACTOR);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn periods_the_link_multiplies_are_bounded() {
        let mut config = ClusterConfig::local(2);
        config.heartbeat = Duration::ZERO;
        let error = config.validate().expect_err("refused").to_string();
        assert!(
            error.contains("heartbeat period must be more than 0"),
            "{error}"
        );
        config.heartbeat = Duration::MAX;
        assert!(config.validate().is_err());
        config.heartbeat = crate::worker::MAX_HEARTBEAT + Duration::from_millis(1);
        let error = config.validate().expect_err("refused").to_string();
        assert!(error.contains("at most 60 s"), "{error}");
        config.heartbeat = crate::worker::MAX_HEARTBEAT;
        assert!(config.validate().is_ok());
        config.handshake_deadline = Duration::MAX;
        let error = config.validate().expect_err("refused").to_string();
        assert!(error.contains("handshake deadline"), "{error}");
        config.handshake_deadline = Duration::from_secs(5);
        config.liveness_beats = 0;
        assert!(config.validate().is_err());
        config.liveness_beats = 1;
        assert!(config.validate().is_err());
        config.liveness_beats = 2;
        config.heartbeat = Duration::from_micros(999);
        let error = config.validate().expect_err("refused").to_string();
        assert!(error.contains("at least 1ms"), "{error}");
        config.heartbeat = MIN_HEARTBEAT;
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_spawned_worker_that_launches_a_driver_is_told_what_to_call() {
        assert!(refuse_inside_worker(None).is_ok());
        let error = refuse_inside_worker(Some("w3")).unwrap_err().to_string();
        // Was an "invalid setting: ..." error, which sent authors to their settings.
        assert!(
            error.starts_with("this process was started as worker w3"),
            "{error}"
        );
        assert!(error.contains("run_worker_if_spawned()"), "{error}");
    }
}
