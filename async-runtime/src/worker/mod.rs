//! The worker: receives partitions (or reads them from a file it sees), broadcast versions
//! and tasks; runs registered tasks on its partitions; adds simulated straggler delay; reports
//! results. It exits by itself when the driver is gone, so no worker outlives its run.

pub(crate) mod cache;
mod connect;
mod executor;
pub(crate) mod memory;
mod progress;
mod queued;
mod readable;
mod served;
mod straggler;
mod tries;

use connect::{connected_peer, reach, send, DriverFrameLimit, BEFORE_PROOF_FRAME, CONNECT_ATTEMPT};
use executor::{Executor, Work};
use memory::{Held, Kind, MemoryAccount};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_bytes::ByteBuf;
use tokio::sync::mpsc as tokio_mpsc;
use zeromq::{DealerSocket, Socket, SocketEvent, SocketOptions, SocketRecv, ZmqMessage};

use crate::transport::said::Said;
pub use cache::CachedVersion;
pub use progress::{Progress, SoFar};
pub use served::Served;
use tries::{Then, Tries};

use crate::auth::Token;
use crate::auth::Transcript;
use crate::error::RuntimeError;
use crate::protocol::{peer_text, Hello, ToDriver, ToWorker};
use crate::seconds_text::seconds_text;
use crate::task;
use crate::transport::frame::{self, FrameError, ANY_RUN, MAX_PLAIN_FRAME};
use crate::transport::session::{Heartbeats, Opener, Reserved, Sealer, Space, Stamp, Verifier};
use crate::transport::{answer_challenge, DEFAULT_MAX_FRAME};

/// What a driver can make a worker hold, at most: partitions,
pub const MAX_PARTITIONS: usize = 4096;
/// tasks queued behind the running one,
pub const MAX_QUEUED_TASKS: usize = 64;
/// broadcast variables,
pub const MAX_SLOTS: usize = 1024;
/// versions kept of each,
pub const MAX_CACHE_VERSIONS: u32 = 64;
/// the straggler delay factor (times the mean task time),
pub const MAX_DELAY_FACTOR: f64 = 100.0;
/// and the simulated straggling a task order asks for before the task: a driver cannot make
/// a worker sleep longer than this per task (longer orders are cut to it).
pub const MAX_ORDERED_SLEEP: Duration = Duration::from_secs(30);

/// How long a remote worker waits for a silent driver whose connection is still open: a
/// minute, so that a driver paused, or cut off by a partition or a link's flap (whose TCP
/// backoff stretches a 3 s cut past 5 s of silence), for up to about that long keeps its
/// workers; the driver, once back, gives them fresh windows. A driver that exits or crashes
/// closes its connections and is seen gone at once: only one silent for good (its host dead,
/// cut off for good) costs its workers this wait.
pub const DEFAULT_DRIVER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a worker keeps trying to reach a driver that is not listening yet: a driver binds
/// its port only once its data is loaded, which takes minutes for a file of gigabytes, and
/// workers started beside it (a batch job's steps, a Deployment's pods) are often first.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(600);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Stable name, also the routing identity.
    pub name: String,
    /// The driver's address, e.g. `tcp://10.0.0.1:7000`.
    pub driver: String,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// The driver is gone when silent this long with the connection still open; `None`: only
    /// a closed connection says so (a local worker's: its driver's death closes it, while a
    /// driver that is only paused, stopped or suspended, keeps it open and must be waited for).
    pub driver_timeout: Option<Duration>,
    /// Keep trying to reach a driver that refuses connections or whose name does not resolve
    /// yet this long, before giving up; and to join one whose handshake went unanswered (its
    /// connection silent or closed before it said a word: a slow or stalled link).
    pub connect_timeout: Duration,
    /// Largest frame accepted.
    pub max_frame: usize,
    /// The run's token: the driver must prove it, and the worker proves it back. Without one,
    /// the public loopback token ([`Token::loopback`]), for a driver on loopback only.
    pub token: Option<Token>,
    /// After losing the driver, keep trying to join it (or a new driver at the same address)
    /// this long; `None` exits at once.
    pub reconnect: Option<Duration>,
    /// Started by its driver (a local worker): it ends with that driver and never joins
    /// another, so its last word does not suggest `--reconnect`.
    pub spawned: bool,
    /// The files a driver may have this worker read (`--data-access shared`), and the folders
    /// whose files it may: a split order naming any other path is refused, so that a peer
    /// holding the token cannot read this host's other files. Empty: none.
    pub readable: Vec<PathBuf>,
    /// What it has served so far, counted as it serves: a clone of the options counts into
    /// the same, which a caller keeps to read while the worker serves (a signal's handler).
    pub progress: Arc<Progress>,
    /// Join only a driver that encrypts the session's frames
    /// ([`ClusterConfig::encrypt`](crate::ClusterConfig::encrypt)): one that proves the token
    /// but would send rows, models and gradients in the clear is left before this worker
    /// proves anything back, for good. The choice is inside the transcript both proofs cover,
    /// so no one on the way can take it off.
    pub require_encrypt: bool,
    /// Its driver started it and grants it more files on its standard input, a pipe only
    /// that driver writes to ([`GRANTS_ENV`](crate::cluster::GRANTS_ENV)).
    pub(crate) grants_on_stdin: bool,
}

impl WorkerOptions {
    /// Defaults for worker `name` of the driver at `driver`.
    pub fn new(name: String, driver: String) -> WorkerOptions {
        WorkerOptions {
            name,
            driver,
            heartbeat: Duration::from_millis(500),
            driver_timeout: Some(DEFAULT_DRIVER_TIMEOUT),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_frame: DEFAULT_MAX_FRAME,
            token: None,
            reconnect: None,
            spawned: false,
            readable: Vec::new(),
            progress: Arc::default(),
            require_encrypt: false,
            grants_on_stdin: false,
        }
    }
}

/// The longest heartbeat period a worker follows, and a cluster's (`--heartbeat`): a minute.
/// A worker waits three of its driver's periods before it takes a silent driver for gone, so a
/// period of an hour left it waiting three hours for a dead one; a longer silence is what
/// `--lost-after` (the driver's patience) and `--driver-timeout` (the worker's) are for.
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(60);

/// The longest connect timeout or reconnect window a worker takes: a century, far beyond any
/// run, and a deadline this far still fits the clock's arithmetic (one past it panicked).
pub const MAX_WAIT: Duration = Duration::from_secs(3_200_000_000);

impl WorkerOptions {
    /// Why these options cannot run a worker, if they cannot: a name the driver would refuse,
    /// a heartbeat period of zero (the ticker panics) or past [`MAX_HEARTBEAT`], a wait past
    /// [`MAX_WAIT`] (its deadline overflows the clock).
    fn problem(&self) -> Option<String> {
        if let Some(problem) =
            crate::protocol::name_problem(&self.name, crate::protocol::MAX_WORKER_NAME)
        {
            return Some(problem);
        }
        if self.heartbeat.is_zero() || self.heartbeat > MAX_HEARTBEAT {
            return Some(format!(
                "its heartbeat period must be more than 0 and at most {} s, not {:?}",
                MAX_HEARTBEAT.as_secs(),
                self.heartbeat
            ));
        }
        let waits = [
            ("connect timeout", Some(self.connect_timeout)),
            ("reconnect window", self.reconnect),
        ];
        waits.into_iter().find_map(|(what, wait)| {
            wait.filter(|&wait| wait > MAX_WAIT).map(|wait| {
                format!(
                    "its {what} must be at most {} s, not {wait:?}",
                    MAX_WAIT.as_secs()
                )
            })
        })
    }
}

/// How a worker's run ended, when it ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// The run is over, and the driver's program goes on with another at the same address
    /// (`compare`): a worker expecting more runs waits for the next driver.
    AnotherFollows,
    /// The run is over and no other follows.
    Last,
    /// The driver gave up before its run started (too few workers joined within its join
    /// timeout, a stop while it waited): no run was served, and none follows.
    NotStarted,
}

/// Runs a worker until the driver says the run is over or goes away: what an executable calls
/// to be a worker of a driver it did not start ([`ClusterConfig::remote`](crate::ClusterConfig::remote)).
/// A driver holding another token, or of another build, ends it with an error that says so.
pub fn run(options: WorkerOptions) -> Result<RunEnd, RuntimeError> {
    run_served(options).map(|served| served.end)
}

/// [`run`], saying also how many runs the worker served: more than one when, declared lost
/// as a run ended, it joined again at the same address and the next run's driver admitted it.
pub fn run_served(options: WorkerOptions) -> Result<Served, RuntimeError> {
    if let Some(problem) = options.problem() {
        return Err(RuntimeError::Config(format!(
            "this worker cannot join: {problem}"
        )));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RuntimeError::Transport(format!("tokio: {e}")))?;
    runtime.block_on(serve_with_reconnect(options))
}

/// How a session with the driver ended, when it ended well.
enum Ended {
    /// The run is over.
    Shutdown(RunEnd),
    /// The driver declared this worker lost, inside its session: join again as a fresh one.
    Rejoin(String),
    /// Before any session, the peer refused this worker (`said`, ready to show), or said that
    /// its name is held (taken, or a lost worker's). Unproven: a stranger can say as much.
    Unproven { said: String, name_held: bool },
    /// Before any session, the driver refused this worker (`said`) with a MAC over this
    /// worker's hello that verifies under its token: the driver's own word that no retry
    /// changes it, so final even with `reconnect`.
    Refused(String),
    /// Before any session, this worker left a driver that proved the token but does not
    /// encrypt, as its options require (`said`): final, as a proven refusal is.
    Declined(String),
    /// Inside the session it just opened, the driver said to join again `after` a while: its
    /// budget of joins is spent. Proven, and not final.
    TryLater { said: String, after: Duration },
    /// Before any session, no word from the driver (`reason`): its connection went silent
    /// or closed. A link slow or stalled past the driver's handshake deadline does this to a
    /// healthy driver, so it is tried again within the connect timeout.
    Unanswered(String),
}

/// The least time a peer that took the connection is given to answer the hello (the
/// driver's own handshake deadline is 5 s by default).
const MIN_HELLO_WAIT: Duration = Duration::from_secs(5);

/// The longest silence a hello is waited through before joining again on a fresh
/// connection, whatever the longer `driver_timeout` a session's pauses are waited through:
/// past the driver's default handshake deadline a healthy driver dropped it.
const HELLO_SILENCE: Duration = Duration::from_secs(5);

/// Why a driver's connection closes with no word: a run that ends dismisses its workers
/// first, so not that it ended.
const DRIVER_GONE: &str = "exited before its run ended (it could not start, was interrupted, \
                           crashed or was killed), or it let this worker go";

/// Serves the driver. A worker the driver declared lost joins again as a fresh worker
/// (`name.r` and 8 random hex digits: a fresh identity, so the driver's stale connection of
/// the old one cannot shadow it, and one a stranger cannot hold in advance to keep it out),
/// rebuilding everything from the driver; so does one whose name is taken (by a stopped
/// process, or a stranger's connection). With `reconnect`, a worker that lost its driver
/// joins again under its own name, which a new driver (a restarted one, `compare`'s next)
/// never knew; a driver that still holds the name says it is taken. A refusal heard before the
/// driver proved the token is unproven: with `reconnect` it counts as a closed connection,
/// unless it carries the driver's MAC over this worker's hello (another build): then it is
/// final.
async fn serve_with_reconnect(options: WorkerOptions) -> Result<Served, RuntimeError> {
    // A permanent mistake, said once: not a lost driver to try again for.
    if let Some(reason) = crate::transport::dial_problem(&options.driver) {
        let driver = crate::protocol::peer_text(&options.driver);
        return Err(RuntimeError::Config(format!(
            "the driver's address {driver}: {reason}"
        )));
    }
    // Without a token the worker holds the public loopback one, as does anyone: no driver
    // beyond loopback admits it (one listening there needs a token), and whatever answered
    // there could admit it and order it about (read files of this host and report their lines).
    if options.token.is_none() && !crate::transport::is_loopback(&options.driver) {
        let driver = crate::protocol::peer_text(&options.driver);
        return Err(RuntimeError::Config(format!(
            "refusing to join {driver} without a token: a driver beyond loopback admits only \
             workers holding its token, and any peer there could pretend to be it; give this \
             worker the token its driver holds"
        )));
    }
    let mut tries = Tries::new(&options.driver, options.reconnect);
    let mut runs = served::RunsServed::default();
    let mut fresh_name = false;
    loop {
        let mut this = options.clone();
        if fresh_name {
            this.name = crate::protocol::fresh_name(&options.name);
        }
        let reach_by = tries.reach_by(options.connect_timeout, Instant::now());
        let mut opened = None;
        let outcome = serve(this, reach_by, &mut opened).await;
        options.progress.left();
        // A session only to hear "try again later" is no session: the window goes on.
        if let Some(run_id) = opened.filter(|_| !matches!(outcome, Ok(Ended::TryLater { .. }))) {
            tries.session_opened();
            runs.opened(run_id);
        }
        match tries.after(&options.name, outcome, Instant::now()) {
            Then::Finish(result) => return result.map(|end| runs.ended(end)),
            Then::Retry {
                fresh_name: fresh,
                pause,
            } => {
                fresh_name = fresh;
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// The session the driver's proof opened: the run it is of, and its keys each way.
struct Session {
    run_id: u64,
    sealer: Sealer,
    opener: Opener,
    /// A welcome came: a later one (a spare filling the slot of a worker lost before the
    /// start) renews its settings, and is not said as a second admission.
    welcomed: bool,
}

struct Worker {
    /// When a peer that has not answered the hello is given up on, whatever `driver_timeout`
    /// (which is for a driver's silence during a run).
    answer_by: Instant,
    options: WorkerOptions,
    token: Token,
    nonce: [u8; 32],
    /// Open once the driver proved the token.
    session: Option<Session>,
    last_heard: Instant,
    /// When the event loop last turned.
    last_awake: Instant,
    work: std_mpsc::Sender<Work>,
    /// What this worker holds, the task thread's and this loop's.
    memory: Arc<MemoryAccount>,
    /// Messages to send, in order (see [`Worker::frames_to_send`]).
    outbox: Vec<ToDriver>,
    /// Frames to send before the outbox's: the handshake's (plain), a frame sealed elsewhere.
    ready: Vec<Vec<u8>>,
    /// Partitions arriving in chunks, by id: the chunks so far.
    arriving: HashMap<u32, Assembly>,
    /// Frames dropped so far: anyone on the path can send them, so few are logged.
    rejected: Said,
    /// Raised once the driver proved the token.
    frame_limit: Option<DriverFrameLimit>,
    /// A large frame of the session to verify and decode off this loop, which then hears
    /// [`Event::Opened`]: a broadcast of 80 MB takes seconds to decrypt, and the heartbeats
    /// must not wait that long.
    to_open: Option<Opening>,
    /// A frame is being opened off this loop: the next is not read until it is done.
    opening: bool,
    /// A large message's frame to seal off this loop, which then hears [`Event::Sealed`]: an
    /// 80 MB result takes over a second to encrypt on a busy core, and the heartbeats must
    /// not wait that long.
    to_seal: Option<Sealing>,
    /// A frame is being sealed off this loop: the messages after it wait until it is done,
    /// but for heartbeats, which count in a space of their own.
    sealing: bool,
}

/// Messages of at least this many bytes (encoded) are sealed off the event loop.
const SEAL_ELSEWHERE_FROM: usize = 1 << 20;

/// A frame to seal on another thread under the number it took in its turn; `what` it holds,
/// for the words if sealing it fails.
struct Sealing {
    number: Reserved,
    frame: Vec<u8>,
    what: &'static str,
}

impl Sealing {
    /// The sealed frame, or why there is none: a panic is caught, so the loop waiting for it
    /// always hears back. A seal that panics is this worker's bug, never the driver's doing.
    fn seal(self) -> Result<Vec<u8>, String> {
        let (len, what) = (self.frame.len(), self.what);
        crate::panics::catch(|| self.number.seal(self.frame)).map_err(|why| {
            format!(
                "sealing {what} of {len} bytes for the driver failed (a bug in this worker, \
                 not the driver's doing; the panic: {why})"
            )
        })
    }
}

/// Frames of at least this many bytes are opened off the event loop.
const OPEN_ELSEWHERE_FROM: usize = 1 << 20;

/// A sealed frame to open on another thread, with what it takes.
struct Opening {
    verifier: Verifier,
    run_id: u64,
    max_frame: usize,
    bytes: bytes::Bytes,
}

impl Opening {
    fn open(self) -> Result<(Stamp, ToWorker), String> {
        verify_sealed(&self.verifier, self.run_id, self.max_frame, &self.bytes)
    }
}

/// The stamp and message of a frame sealed under a session (run `run_id`, checked by
/// `verifier`), or why it is not one. Its number is not taken yet ([`Opener::accept`]).
fn verify_sealed(
    verifier: &Verifier,
    run_id: u64,
    max_frame: usize,
    bytes: &[u8],
) -> Result<(Stamp, ToWorker), String> {
    let (run, _) = frame::open(bytes, max_frame).map_err(|e| e.to_string())?;
    if run != run_id {
        return Err(FrameError::ForeignRun {
            got: run,
            expected: run_id,
        }
        .to_string());
    }
    let (stamp, message) = verifier.verify_message(bytes).map_err(|e| e.to_string())?;
    Ok((stamp, message.map_err(|e| e.to_string())?))
}

/// A partition arriving in chunks.
struct Assembly {
    chunks: u32,
    next: u32,
    /// The first chunk's length: the driver cuts a partition into chunks of this length (the
    /// last one shorter), so `chunks` of it bound what the partition can grow to.
    chunk_len: usize,
    bytes: Vec<u8>,
    /// What it declared, counted in the worker's memory as arriving.
    held: Held,
}

impl Assembly {
    /// The most bytes the partition can take, as its first chunk declared it.
    fn declared(&self) -> u64 {
        self.chunk_len as u64 * u64::from(self.chunks)
    }
}

/// Why a chunk of a partition was not kept.
enum ChunkRefused {
    /// Not a chunk any driver cuts: dropped, as anyone's malformed frame is.
    Malformed(String),
    /// The partition would outgrow this worker's memory: the driver is told it is not kept.
    TooLarge(String),
}

/// Chunks of one partition at most (at the default frame size, far beyond any memory).
pub const MAX_PARTITION_CHUNKS: u32 = 1 << 16;

enum Next {
    Continue,
    Exit(Result<Ended, RuntimeError>),
}

/// What woke the worker's event loop.
enum Event {
    Frame(ZmqMessage),
    LinkFailed(String),
    /// The task thread's answer to send.
    Done(ToDriver),
    /// A large frame of the session, verified and decoded on a blocking thread (see
    /// [`Worker::to_open`]): its stamp and message, or why it is dropped.
    Opened(Result<(Stamp, ToWorker), String>),
    /// A large message's frame, sealed on a blocking thread (see [`Worker::to_seal`]), or why
    /// it could not be.
    Sealed(Result<Vec<u8>, String>),
    Tick,
    Closed,
    Other,
}

/// Serves one connection to the driver; `opened_run` says the run of the session opened on it,
/// if one was.
async fn serve(
    options: WorkerOptions,
    reach_by: Instant,
    opened_run: &mut Option<u64>,
) -> Result<Ended, RuntimeError> {
    let mut socket_options = SocketOptions::default();
    let identity = options
        .name
        .parse()
        .map_err(|e| RuntimeError::Config(format!("worker name {}: {e}", options.name)))?;
    // Until the peer proves the token it may send only frames of a handshake's size: a frame
    // declared larger closes the connection before anything is reserved for it.
    socket_options
        .peer_identity(identity)
        .max_frame_size(options.max_frame)
        .initial_frame_size(BEFORE_PROOF_FRAME.min(options.max_frame))
        .connect_timeout(CONNECT_ATTEMPT);
    let limits = socket_options.frame_limits();
    let mut socket = DealerSocket::with_options(socket_options);
    let mut events = socket.monitor();
    reach(&mut socket, &options.driver, reach_by).await?;
    let frame_limit = DriverFrameLimit {
        limits,
        peer: connected_peer(&mut events),
        max: options.max_frame,
    };
    let (mut tx, mut rx) = socket.split();
    let nonce: [u8; 32] = rand::random();
    let hello = Hello {
        name: options.name.clone(),
        fingerprint: task::fingerprint(),
        pid: std::process::id(),
        nonce: ByteBuf::from(nonce.to_vec()),
    };
    send(&mut tx, frame::encode(ANY_RUN, &ToDriver::Hello(hello))).await?;

    // Tasks run on a thread of their own, so heartbeats flow however long a task takes.
    let (work_tx, work_rx) = std_mpsc::channel();
    let (results_tx, mut results) = tokio_mpsc::unbounded_channel();
    let memory = MemoryAccount::of_host();
    let executor = Executor::new(
        options.name.clone(),
        memory.clone(),
        options.readable.clone(),
        if options.spawned {
            readable::GrantedBy::Driver
        } else {
            readable::GrantedBy::CommandLine
        },
    );
    let executor = executor.with_result_limit(options.max_frame);
    let executor = match options.grants_on_stdin {
        true => executor.with_grants_on_stdin(),
        false => executor,
    };
    std::thread::Builder::new()
        .name("async-worker-tasks".into())
        .spawn(move || executor.serve(work_rx, results_tx))
        .map_err(|e| RuntimeError::Transport(format!("cannot start the task thread: {e}")))?;

    let mut ticker = beating_every(options.heartbeat);
    // A peer that took the connection is not the driver until it answers the hello.
    let answer_by = reach_by.max(Instant::now() + MIN_HELLO_WAIT);
    let mut worker = Worker::new(options, nonce, answer_by, work_tx, memory);
    worker.frame_limit = Some(frame_limit);
    let (opened_tx, mut opened) = tokio_mpsc::unbounded_channel();
    let (sealed_tx, mut sealed) = tokio_mpsc::unbounded_channel();
    loop {
        // While a large frame is opened elsewhere, the next is not read (frames stay in order)
        // nor the connection's closing (it comes after them), but heartbeats go on.
        let reading = !worker.opening;
        let event = tokio::select! {
            // Messages first: a driver's last words arrive before its disconnection.
            biased;
            received = rx.recv(), if reading => match received {
                Ok(message) => Event::Frame(message),
                Err(e) => Event::LinkFailed(e.to_string()),
            },
            Some(message) = opened.recv() => Event::Opened(message),
            Some(frame) = sealed.recv() => Event::Sealed(frame),
            Some(result) = results.recv() => Event::Done(result),
            _ = ticker.tick() => Event::Tick,
            Some(event) = events.next(), if reading => match event {
                SocketEvent::Disconnected(_) => Event::Closed,
                _ => Event::Other,
            },
        };
        let next = worker.on_event(event, Instant::now());
        // The driver's welcome sets the period.
        if ticker.period() != worker.options.heartbeat {
            ticker = beating_every(worker.options.heartbeat);
        }
        if let Some(session) = &worker.session {
            // Told once per session, not on each of its events.
            if opened_run.is_none() {
                worker.options.progress.serving(session.run_id);
            }
            *opened_run = Some(session.run_id);
        }
        if let Some(open) = worker.to_open.take() {
            let opened_tx = opened_tx.clone();
            // Fails only when this loop is gone, which nothing then waits for.
            tokio::task::spawn_blocking(move || {
                // Always answered: the loop reads no frame until it is.
                let opened = crate::panics::catch(|| open.open())
                    .unwrap_or_else(|why| Err(format!("opening the frame panicked: {why}")));
                let _ = opened_tx.send(opened);
            });
        }
        let frames = worker.frames_to_send();
        if let Some(sealing) = worker.to_seal.take() {
            let sealed_tx = sealed_tx.clone();
            // Always answered (see `Sealing::seal`): the loop sends no data frame until it is.
            // Fails only when this loop is gone, which nothing then waits for.
            tokio::task::spawn_blocking(move || {
                let _ = sealed_tx.send(sealing.seal());
            });
        }
        for frame in frames {
            send(&mut tx, frame).await?;
        }
        if let Next::Exit(outcome) = next {
            return outcome;
        }
    }
}

/// The ticker of a worker's heartbeats.
fn beating_every(period: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

impl Worker {
    /// A worker that said hello with `nonce` and has no session yet.
    fn new(
        options: WorkerOptions,
        nonce: [u8; 32],
        answer_by: Instant,
        work: std_mpsc::Sender<Work>,
        memory: Arc<MemoryAccount>,
    ) -> Worker {
        Worker {
            answer_by,
            token: options.token.clone().unwrap_or_else(Token::loopback),
            options,
            nonce,
            session: None,
            last_heard: Instant::now(),
            last_awake: Instant::now(),
            work,
            memory,
            outbox: Vec::new(),
            ready: Vec::new(),
            arriving: HashMap::new(),
            rejected: Said::default(),
            frame_limit: None,
            to_open: None,
            opening: false,
            to_seal: None,
            sealing: false,
        }
    }

    /// The frames to send now, in order: those [`Worker::ready`], then the outbox's messages
    /// sealed here, up to one of [`SEAL_ELSEWHERE_FROM`] bytes or more: it goes to
    /// [`Worker::to_seal`], and the messages after it wait in the outbox until it is sealed,
    /// but for heartbeats. Without a session, messages are dropped.
    fn frames_to_send(&mut self) -> Vec<Vec<u8>> {
        let mut frames = std::mem::take(&mut self.ready);
        let Some(session) = self.session.as_mut() else {
            self.outbox.clear();
            return frames;
        };
        let mut waiting = Vec::new();
        for message in std::mem::take(&mut self.outbox) {
            if message.is_heartbeat() {
                frames.push(
                    session
                        .sealer
                        .seal_beat(frame::encode(session.run_id, &message)),
                );
                continue;
            }
            if self.sealing {
                waiting.push(message);
                continue;
            }
            if let ToDriver::DataFailed { partition, message } = &message {
                // Said here too: the last worker's failure ends the run, and the driver then
                // dismisses it as any other, without a word of why.
                tracing::warn!(partition, reason = %message, "this worker cannot load a partition");
            }
            let frame = frame::encode(session.run_id, &message);
            if frame.len() < SEAL_ELSEWHERE_FROM {
                frames.push(session.sealer.seal(frame));
                continue;
            }
            let number = session.sealer.reserve(Space::Data);
            let what = match message {
                ToDriver::Result { .. } => "a result",
                _ => "a message",
            };
            self.to_seal = Some(Sealing {
                number,
                frame,
                what,
            });
            self.sealing = true;
        }
        self.outbox = waiting;
        frames
    }

    /// Handles one event at `now`, then judges the driver's silence: on every event, not only
    /// on ticks, since a flood of frames that do not open can starve the ticker.
    fn on_event(&mut self, event: Event, now: Instant) -> Next {
        self.wake(now);
        let next = match event {
            Event::Frame(message) => self.on_frame(message),
            // Before a session, whatever is at the address has proven nothing (a fake driver's
            // oversized frame, a driver killed while it answered): tried again, as a close is.
            Event::LinkFailed(reason) if self.session.is_none() => {
                Next::Exit(Ok(Ended::Unanswered(format!(
                    "the connection broke before the driver answered this worker's hello ({})",
                    connect::zeromq_said(&reason)
                ))))
            }
            Event::LinkFailed(reason) => {
                Next::Exit(Err(RuntimeError::DriverLost(self.broken(&reason))))
            }
            Event::Done(result) => {
                if matches!(result, ToDriver::Result { .. }) {
                    self.options.progress.answered();
                }
                self.outbox.push(result);
                Next::Continue
            }
            Event::Opened(verified) => {
                self.opening = false;
                self.on_verified(verified)
            }
            Event::Sealed(sealed) => {
                self.sealing = false;
                match sealed {
                    Ok(frame) => {
                        self.ready.push(frame);
                        Next::Continue
                    }
                    // The session ends as after a send that failed (its number is taken, and
                    // the frames after it would only be refused), but in this worker's words:
                    // the driver did nothing wrong.
                    Err(reason) => Next::Exit(Err(RuntimeError::SessionFailed(reason))),
                }
            }
            Event::Tick => self.on_tick(),
            Event::Closed if self.session.is_none() => Next::Exit(Ok(Ended::Unanswered(
                "the driver closed the connection before it answered this worker's hello".into(),
            ))),
            Event::Closed => Next::Exit(Err(RuntimeError::DriverLost(self.closed()))),
            Event::Other => Next::Continue,
        };
        match next {
            Next::Continue => self.judge_silence(now),
            exit => exit,
        }
    }

    /// Why the driver's closing of the connection ends this session. It closes it when it
    /// exits without dismissing its workers (a run that could not start, a crash, a kill:
    /// a run that ends dismisses them first), and when it lets this worker go (declared lost
    /// or excluded, a join turned back) after saying why; that word may not have been read.
    fn closed(&self) -> String {
        let reason = "the driver closed the connection";
        match (&self.session, self.options.reconnect) {
            (Some(_), None) if self.options.spawned => format!("{reason}: it {DRIVER_GONE}"),
            (Some(_), None) => format!(
                "{reason}: it {DRIVER_GONE} (a worker started with --reconnect SECONDS joins it \
                 again)"
            ),
            _ => reason.into(),
        }
    }

    /// Why a connection that broke (reset: the driver was killed; or closed in the middle of a
    /// frame: a partition on its way when the driver let this worker go) ends this session:
    /// in a session, as a close. ZeroMQ's own words (`reason`) are kept, and labelled as its.
    fn broken(&self, reason: &str) -> String {
        let broke = format!("the connection broke ({})", connect::zeromq_said(reason));
        match (&self.session, self.options.reconnect) {
            (Some(_), None) if self.options.spawned => {
                format!("{broke}: the driver {DRIVER_GONE}")
            }
            (Some(_), None) => format!(
                "{broke}: the driver {DRIVER_GONE} (a worker started with --reconnect SECONDS \
                 joins it again)"
            ),
            _ => broke,
        }
    }

    /// A loop that did not turn for several heartbeats means this process did not run
    /// (stopped, or starved): what the driver sent meanwhile has not been read yet, so its
    /// silence starts anew. A loop kept busy by frames that do not open did run: those frames
    /// are not the driver's, and its silence goes on.
    fn wake(&mut self, now: Instant) {
        if now.duration_since(self.last_awake) > self.options.heartbeat * 3 {
            self.last_heard = now;
        }
        self.last_awake = now;
    }

    /// Beats as often as the driver does, whose liveness timeout spans at least two of its
    /// periods: at a slower period of its own, a worker would be lost while it beats. A silence
    /// window under three of the driver's periods would take the gap between two of its
    /// heartbeats for its death: it is widened to that.
    ///
    /// A period past [`MAX_HEARTBEAT`] (which no driver of this program announces: its
    /// `--heartbeat` has the same bound) is refused, naming it, rather than clamped: beating
    /// faster would do, but this worker would then take the driver for dead between two of its
    /// heartbeats, and followed, it would wait hours for a dead one.
    fn follow_heartbeat(&mut self, period_ms: u64) -> Result<(), RuntimeError> {
        let period = Duration::from_millis(period_ms.max(1));
        if period > MAX_HEARTBEAT {
            return Err(RuntimeError::Config(format!(
                "the driver announced a heartbeat period of {} s, more than the {} s a worker \
                 follows (it would wait three periods before taking a silent driver for gone)",
                period.as_secs_f64(),
                MAX_HEARTBEAT.as_secs()
            )));
        }
        self.options.heartbeat = period;
        let floor = period * 3;
        if let Some(window) = self.options.driver_timeout.as_mut().filter(|w| **w < floor) {
            tracing::warn!(
                driver_timeout_s = window.as_secs_f64(),
                heartbeat_s = period.as_secs_f64(),
                "the driver beats less often than the driver timeout allows: waiting {} s",
                floor.as_secs_f64()
            );
            *window = floor;
        }
        Ok(())
    }

    fn on_tick(&mut self) -> Next {
        if self.session.is_some() {
            self.outbox.push(ToDriver::Heartbeat);
        }
        Next::Continue
    }

    /// Gives up on a peer that never answered the hello, or on a driver silent too long; not
    /// while a frame is being opened (it may be the driver's word, and its frames after it
    /// wait for it), but as soon as it is.
    fn judge_silence(&self, now: Instant) -> Next {
        let silent = now.saturating_duration_since(self.last_heard);
        let window = match self.session {
            Some(_) => self.options.driver_timeout,
            None => self.options.driver_timeout.map(|t| t.min(HELLO_SILENCE)),
        };
        let timeout = (!self.opening)
            .then_some(window)
            .flatten()
            .filter(|t| silent > *t);
        if self.session.is_none() && (now > self.answer_by || timeout.is_some()) {
            // Not a paused driver's silence: no driver spoke yet on this connection.
            return Next::Exit(Ok(Ended::Unanswered(format!(
                "{} took the connection and has not answered this worker's hello: silent for \
                 {} s (not a driver of this program, not running, or out of reach)",
                crate::protocol::peer_text(&self.options.driver),
                seconds_text(silent.as_secs_f64())
            ))));
        }
        if let Some(timeout) = timeout {
            // A driver paused longer than the window (stopped, swapped out, its VM migrated)
            // is taken for dead: the line says which setting decided it, and how to wait.
            return Next::Exit(Err(RuntimeError::DriverLost(format!(
                "the driver has been silent for {} s, past --driver-timeout {} s (a driver \
                 paused that long is taken for dead: raise it to wait through longer pauses, \
                 or 0 to wait as long as its connection is open)",
                seconds_text(silent.as_secs_f64()),
                timeout.as_secs_f64()
            ))));
        }
        Next::Continue
    }

    fn on_frame(&mut self, message: ZmqMessage) -> Next {
        let Some(bytes) = message.into_vec().pop() else {
            return Next::Continue;
        };
        if let Some(session) = self.session.as_ref() {
            if bytes.len() >= OPEN_ELSEWHERE_FROM {
                self.to_open = Some(Opening {
                    verifier: session.opener.verifier().clone(),
                    run_id: session.run_id,
                    max_frame: self.options.max_frame,
                    bytes,
                });
                self.opening = true;
                return Next::Continue;
            }
            let verified = verify_sealed(
                session.opener.verifier(),
                session.run_id,
                self.options.max_frame,
                &bytes,
            );
            return self.on_verified(verified);
        }
        let run = match frame::open(&bytes, self.options.max_frame) {
            Ok((run, _)) => run,
            Err(e @ FrameError::Version { .. }) => {
                return Next::Exit(Ok(Ended::Unproven {
                    said: format!("the driver: {e}"),
                    name_held: false,
                }))
            }
            Err(e) => return self.reject(&e.to_string()),
        };
        self.on_handshake(run, &bytes)
    }

    /// Inside the session only a frame that opens under it is heard. Anything else (another
    /// protocol version or run, a plain frame, a bad tag, a replay) may come from anyone on the
    /// path, so it is dropped and counted, never acted on: not even to end the session.
    fn on_opened(&mut self, opened: Result<ToWorker, String>) -> Next {
        match opened {
            Ok(message) => {
                self.last_heard = Instant::now();
                self.on_message(message)
            }
            Err(reason) => self.reject(&reason),
        }
    }

    /// A frame of the session verified, here or on another thread: heard once its sequence
    /// number is taken.
    fn on_verified(&mut self, verified: Result<(Stamp, ToWorker), String>) -> Next {
        let accepted = verified.and_then(|(stamp, message)| {
            let session = self.session.as_mut().ok_or("no session")?;
            session.opener.accept(stamp).map_err(|e| e.to_string())?;
            Ok(message)
        });
        self.on_opened(accepted)
    }

    /// Before the session: only the driver's challenge (checked) or a refusal.
    fn on_handshake(&mut self, run: u64, bytes: &[u8]) -> Next {
        let message = match frame::decode::<ToWorker>(bytes, run, false, MAX_PLAIN_FRAME) {
            Ok(message) => message,
            Err(e) => return self.reject(&e.to_string()),
        };
        match message {
            ToWorker::Challenge {
                nonce,
                proof,
                encrypt,
            } => {
                let transcript = Transcript {
                    run_id: run,
                    name: &self.options.name,
                    fingerprint: task::fingerprint(),
                    worker_nonce: &self.nonce,
                    driver_nonce: &nonce,
                    encrypt,
                };
                match answer_challenge(&self.token, &transcript, &proof) {
                    // Checked once the proof is: only the driver could have chosen the clear.
                    Ok(_) if self.options.require_encrypt && !encrypt => {
                        Next::Exit(Ok(Ended::Declined(format!(
                            "the driver at {} proved the run's token but sends its frames in \
                             the clear (its run does not encrypt), and this worker joins only a \
                             driver that encrypts them: start the driver with encryption, or \
                             this worker without requiring it",
                            self.options.driver
                        ))))
                    }
                    Ok((mac, sealer, opener)) => {
                        if let Some(limit) = &self.frame_limit {
                            limit.raise();
                        }
                        self.ready
                            .push(frame::encode(run, &ToDriver::Proof { mac: mac.into() }));
                        self.session = Some(Session {
                            run_id: run,
                            sealer,
                            opener,
                            welcomed: false,
                        });
                        self.last_heard = Instant::now();
                        Next::Continue
                    }
                    // As unproven as a refusal: a peer without the token can send a proof
                    // that does not check as easily as a driver of another token does.
                    Err(reason) => Next::Exit(Ok(Ended::Unproven {
                        said: format!(
                            "{reason}: this worker answers nothing to {}{}",
                            self.options.driver,
                            if self.options.token.is_none() {
                                " (it holds no token: give it the one its driver holds)"
                            } else {
                                ""
                            }
                        ),
                        name_held: false,
                    })),
                }
            }
            ToWorker::Refused { reason, mac } => {
                let said = format!("the driver refused this worker: {}", peer_text(&reason));
                let refusal = crate::auth::Refusal {
                    run_id: run,
                    name: &self.options.name,
                    fingerprint: task::fingerprint(),
                    worker_nonce: &self.nonce,
                    reason: &reason,
                };
                // Proven by its MAC over this hello, fresh nonce included: final. Else
                // anyone could have said it, and the reconnect rules weigh it (`tries`).
                if mac.is_some_and(|mac| self.token.verify_refusal(&refusal, &mac)) {
                    return Next::Exit(Ok(Ended::Refused(said)));
                }
                Next::Exit(Ok(Ended::Unproven {
                    name_held: reason.contains(crate::protocol::NAME_TAKEN),
                    said,
                }))
            }
            // Before the proof, anyone could have said it: as unproven as a refusal.
            ToWorker::TryLater { reason, .. } => Next::Exit(Ok(Ended::Unproven {
                name_held: false,
                said: format!("the driver refused this worker: {}", peer_text(&reason)),
            })),
            // Its name is held by a worker the driver declared lost: join again under another.
            ToWorker::Lost { reason } => Next::Exit(Ok(Ended::Unproven {
                said: format!(
                    "the driver holds this name as a lost worker's: {}",
                    peer_text(&reason)
                ),
                name_held: true,
            })),
            _ => self.reject("a message before the handshake"),
        }
    }

    fn on_message(&mut self, message: ToWorker) -> Next {
        let work = match message {
            ToWorker::Welcome(welcome) => {
                let worker = &self.options.name;
                let again = (self.session.as_mut())
                    .is_some_and(|s| std::mem::replace(&mut s.welcomed, true));
                if again {
                    let delay_factor = welcome.delay_factor;
                    tracing::info!(%worker, delay_factor, "the driver renewed this worker's settings");
                } else {
                    tracing::info!(%worker, index = welcome.index, "admitted");
                }
                if let Err(refused) = self.follow_heartbeat(welcome.heartbeat_ms) {
                    return Next::Exit(Err(refused));
                }
                let factor = welcome.delay_factor;
                Work::Settings {
                    delay_factor: if factor.is_finite() {
                        factor.clamp(0.0, MAX_DELAY_FACTOR)
                    } else {
                        0.0
                    },
                    cache_versions: welcome.cache_versions.clamp(1, MAX_CACHE_VERSIONS),
                }
            }
            ToWorker::Partition {
                partition,
                chunk,
                chunks,
                body,
                ..
            } => match self.assemble(partition, chunk, chunks, body.into_vec()) {
                Ok(None) => return Next::Continue,
                // Decoded on the task thread: a large partition must not stop the heartbeats.
                Ok(Some((bytes, arriving))) => Work::Partition {
                    partition,
                    bytes,
                    arriving,
                },
                Err(ChunkRefused::Malformed(reason)) => return self.reject(&reason),
                Err(ChunkRefused::TooLarge(message)) => {
                    self.outbox
                        .push(ToDriver::DataFailed { partition, message });
                    return Next::Continue;
                }
            },
            ToWorker::ReadSplit { order, .. } if self.options.token.is_none() => {
                // On the public loopback token any local user can be this worker's driver:
                // reading a file such a peer names would let it probe this user's files.
                self.outbox.push(ToDriver::DataFailed {
                    partition: order.partition,
                    message: "a worker without a token reads no file a driver names \
                              (give it and its driver the run's token, or ship the data)"
                        .into(),
                });
                return Next::Continue;
            }
            // Whether it may be read is seen on the task thread, on the file opened there.
            ToWorker::ReadSplit { order, .. } => Work::ReadSplit(Box::new(order)),
            ToWorker::Task(order) => match queued::take(&order, &self.memory) {
                Ok(queued) => Work::Task(order, queued, Instant::now()),
                Err(message) => {
                    self.outbox.push(ToDriver::Failed {
                        seq: order.seq,
                        message,
                    });
                    return Next::Continue;
                }
            },
            ToWorker::Heartbeat => return Next::Continue,
            // Freed on the task thread, after the tasks sent before it.
            ToWorker::Release { partition } => Work::Release(partition),
            ToWorker::Shutdown { another_run } => {
                let end = if another_run {
                    RunEnd::AnotherFollows
                } else {
                    RunEnd::Last
                };
                return Next::Exit(Ok(Ended::Shutdown(end)));
            }
            ToWorker::Lost { reason } => return Next::Exit(Ok(Ended::Rejoin(peer_text(&reason)))),
            ToWorker::TryLater { reason, after_ms } => {
                return Next::Exit(Ok(Ended::TryLater {
                    said: format!(
                        "the driver refused this worker for now: {}",
                        peer_text(&reason)
                    ),
                    after: Duration::from_millis(after_ms),
                }))
            }
            ToWorker::NotStarting { reason } => {
                // The driver's word, inside the session: no driver of this run will come.
                let said = format!(
                    "the driver gave up before its run started: {}",
                    peer_text(&reason)
                );
                if self.options.spawned {
                    tracing::debug!(worker = %self.options.name, "{said}");
                } else {
                    tracing::warn!(worker = %self.options.name, "{said}");
                }
                return Next::Exit(Ok(Ended::Shutdown(RunEnd::NotStarted)));
            }
            ToWorker::Refused { reason, .. } => {
                return Next::Exit(Err(RuntimeError::Refused(format!(
                    "the driver refused this worker: {}",
                    peer_text(&reason)
                ))))
            }
            ToWorker::Challenge { .. } => return self.reject("a challenge inside the session"),
        };
        if self.work.send(work).is_err() {
            return Next::Exit(Err(RuntimeError::Transport(
                "the task thread stopped".into(),
            )));
        }
        Next::Continue
    }

    /// Adds a chunk of a partition; returns its bytes, still counted as arriving, once the
    /// last chunk arrived. A partition whose first chunk declares more than the worker's
    /// memory account admits (its chunks times that chunk's length, beside all the worker
    /// holds), or whose later chunk is longer than its first, is not kept: a driver, even one
    /// holding the token, could otherwise send chunks until the worker's host runs out of
    /// memory.
    fn assemble(
        &mut self,
        partition: u32,
        chunk: u32,
        chunks: u32,
        body: Vec<u8>,
    ) -> Result<Option<(Vec<u8>, Held)>, ChunkRefused> {
        if chunks == 0 || chunks > MAX_PARTITION_CHUNKS || chunk >= chunks {
            return Err(ChunkRefused::Malformed(format!(
                "chunk {chunk} of {chunks} of partition {partition}"
            )));
        }
        if chunk == 0 {
            if self.arriving.len() >= MAX_PARTITIONS {
                return Err(ChunkRefused::Malformed(format!(
                    "more than {MAX_PARTITIONS} partitions arriving"
                )));
            }
            self.arriving.remove(&partition);
            let declared = body.len() as u64 * u64::from(chunks);
            let held = self
                .memory
                .reserve(Kind::Arriving, declared, 0)
                .map_err(|refused| {
                    ChunkRefused::TooLarge(format!(
                        "partition {partition} ({chunks} chunks of {} bytes): {refused}",
                        body.len()
                    ))
                })?;
            let assembly = Assembly {
                chunks,
                next: 0,
                chunk_len: body.len(),
                bytes: Vec::new(),
                held,
            };
            self.arriving.insert(partition, assembly);
        }
        let Some(assembly) = self.arriving.get_mut(&partition) else {
            return Err(ChunkRefused::Malformed(format!(
                "chunk {chunk} of partition {partition} without its start"
            )));
        };
        if assembly.chunks != chunks || assembly.next != chunk {
            self.arriving.remove(&partition);
            return Err(ChunkRefused::Malformed(format!(
                "chunk {chunk} of partition {partition} out of order"
            )));
        }
        if body.len() > assembly.chunk_len {
            let first = assembly.chunk_len;
            self.arriving.remove(&partition);
            return Err(ChunkRefused::TooLarge(format!(
                "chunk {chunk} of partition {partition} holds {} bytes, more than its first \
                 chunk's {first}: the partition would outgrow what it declared",
                body.len()
            )));
        }
        assembly.bytes.extend_from_slice(&body);
        assembly.next += 1;
        if assembly.next < chunks {
            return Ok(None);
        }
        Ok(self.arriving.remove(&partition).map(|mut assembled| {
            // The last chunk may be shorter than declared: only what arrived stays counted.
            assembled.held.shrink(
                assembled
                    .declared()
                    .saturating_sub(assembled.bytes.len() as u64),
            );
            (assembled.bytes, assembled.held)
        }))
    }

    /// Drops a frame, logging the first few and then only each power of two.
    fn reject(&mut self, reason: &str) -> Next {
        if self.rejected.again() {
            let rejected = self.rejected.count();
            tracing::warn!(worker = %self.options.name, reason, rejected, "rejected a message");
        }
        Next::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PROTOCOL_VERSION;
    use crate::transport::frame::HEADER_LEN;
    use crate::transport::session::Direction;

    const RUN: u64 = 0x5eed;

    /// A worker that took a real driver's challenge, the driver's sealer for its session, and
    /// the work it is handed.
    fn admitted_worker() -> (Worker, Sealer, std_mpsc::Receiver<Work>) {
        admitted_worker_holding(Some(Token::random()))
    }

    /// As [`admitted_worker`], for a worker whose memory is counted in `memory`.
    fn admitted_worker_counting(
        memory: Arc<MemoryAccount>,
    ) -> (Worker, Sealer, std_mpsc::Receiver<Work>) {
        admitted_worker_on(Some(Token::random()), memory)
    }

    /// As [`admitted_worker`], for a worker given `token` (`None`: the public loopback one).
    fn admitted_worker_holding(given: Option<Token>) -> (Worker, Sealer, std_mpsc::Receiver<Work>) {
        admitted_worker_on(given, MemoryAccount::of_host())
    }

    /// As [`admitted_worker`], for a worker given `token` (`None`: the public loopback one)
    /// whose memory is counted in `memory`.
    fn admitted_worker_on(
        given: Option<Token>,
        memory: Arc<MemoryAccount>,
    ) -> (Worker, Sealer, std_mpsc::Receiver<Work>) {
        let (worker, key, handed) = admitted_worker_keyed(given, memory);
        (
            worker,
            Sealer::new(&key, Direction::ToWorker, false),
            handed,
        )
    }

    /// As [`admitted_worker_on`], with its session's key instead of the driver's sealer.
    fn admitted_worker_keyed(
        given: Option<Token>,
        memory: Arc<MemoryAccount>,
    ) -> (Worker, [u8; 32], std_mpsc::Receiver<Work>) {
        let token = given.clone().unwrap_or_else(Token::loopback);
        let mut options = WorkerOptions::new("w0".into(), "tcp://127.0.0.1:1".into());
        options.token = given;
        let (next, worker, key, handed) = challenged(options, &token, memory, false, false);
        assert!(matches!(next, Next::Continue) && worker.session.is_some());
        (worker, key, handed)
    }

    /// Worker "w0" of `options` given a real driver's challenge under `token`, whose proof
    /// covers `proven_encrypt` and which says `encrypt` (they differ when someone on the way
    /// changed it): what the worker did, the worker, the session key the driver derives, and
    /// the work the worker is handed.
    fn challenged(
        options: WorkerOptions,
        token: &Token,
        memory: Arc<MemoryAccount>,
        proven_encrypt: bool,
        encrypt: bool,
    ) -> (Next, Worker, [u8; 32], std_mpsc::Receiver<Work>) {
        let (work, handed) = std_mpsc::channel();
        let nonce = [7u8; 32];
        let mut worker = Worker::new(options, nonce, Instant::now(), work, memory);
        let driver_nonce = [9u8; 32];
        let transcript = Transcript {
            run_id: RUN,
            name: "w0",
            fingerprint: task::fingerprint(),
            worker_nonce: &nonce,
            driver_nonce: &driver_nonce,
            encrypt: proven_encrypt,
        };
        let challenge = ToWorker::Challenge {
            nonce: ByteBuf::from(driver_nonce.to_vec()),
            proof: ByteBuf::from(token.driver_proof(&transcript)),
            encrypt,
        };
        let next = worker.on_frame(ZmqMessage::from(frame::encode(RUN, &challenge)));
        (next, worker, token.session_key(&transcript), handed)
    }

    /// The task thread of worker "w0", its memory counted in `memory`, allowed no file.
    fn executor_counting(memory: Arc<MemoryAccount>) -> Executor {
        Executor::new(
            "w0".into(),
            memory,
            Vec::new(),
            readable::GrantedBy::CommandLine,
        )
    }

    /// Partition `id` (of seed `seed`): `rows` rows of `features` zeros, labelled 0.
    fn zero_partition(id: u32, seed: u64, rows: usize, features: usize) -> crate::data::Partition {
        let data = crate::data::Dataset::new(
            "d",
            crate::data::Features::Dense(ndarray::Array2::zeros((rows, features))),
            ndarray::Array1::zeros(rows),
        )
        .unwrap();
        crate::data::Partition::new(id, seed, data, (0..rows as u64).collect()).unwrap()
    }

    /// Partition `partition` of dataset 1 in one chunk of `body`.
    fn whole_partition(partition: u32, body: Vec<u8>) -> ToWorker {
        ToWorker::Partition {
            dataset: 1,
            partition,
            chunk: 0,
            chunks: 1,
            body: body.into(),
        }
    }

    /// Task order `seq` on `partition`, carrying `captures` and reading no version.
    fn task_on(seq: u64, partition: u32, captures: Vec<u8>) -> ToWorker {
        ToWorker::Task(crate::protocol::TaskOrder {
            seq,
            versions: Vec::new(),
            task: String::new(),
            partition,
            reads: Vec::new(),
            captures: captures.into(),
            sample: None,
            history: Vec::new(),
            sleep_s: 0.0,
        })
    }

    /// A plain frame whose header claims protocol version `version`.
    fn plain_of_version(version: u16, message: &ToWorker) -> Vec<u8> {
        let mut bytes = frame::encode(RUN, message);
        bytes[4..6].copy_from_slice(&version.to_le_bytes());
        bytes
    }

    fn shutdown() -> ToWorker {
        ToWorker::Shutdown { another_run: false }
    }

    fn welcome(heartbeat_ms: u64) -> ToWorker {
        ToWorker::Welcome(crate::protocol::Welcome {
            index: 0,
            delay_factor: 0.0,
            cache_versions: 8,
            heartbeat_ms,
        })
    }

    /// The messages of the events logged while `f` runs, on this thread.
    fn logged_by(f: impl FnOnce()) -> Vec<String> {
        let (_, events) = test_support::events_logged(f);
        events.into_iter().map(|(_, message)| message).collect()
    }

    #[test]
    fn a_spare_welcomed_again_into_a_lost_workers_slot_is_said_admitted_once() {
        // The driver welcomes a spare again, with the straggler factor of the slot it fills:
        // the worker logged `admitted` for each welcome.
        let (mut worker, _, _handed) = admitted_worker();
        let said = logged_by(|| {
            worker.on_message(welcome(500));
            worker.on_message(welcome(500));
        });
        let admitted = said.iter().filter(|m| *m == "admitted").count();
        assert_eq!(admitted, 1, "{said:?}");
        assert!(said.iter().any(|m| m.contains("renewed")), "{said:?}");
        // Each session of the worker is admitted once: a new one is said again.
        let (mut worker, _, _handed) = admitted_worker();
        let said = logged_by(|| {
            worker.on_message(welcome(500));
        });
        assert_eq!(said, ["admitted"]);
    }

    #[test]
    fn a_worker_beats_at_its_drivers_period() {
        // It beat every 500 ms whatever the driver's period: a driver that lost workers
        // after 300 ms of silence lost them all while they beat.
        let (mut worker, _, _handed) = admitted_worker();
        assert!(matches!(worker.on_message(welcome(100)), Next::Continue));
        assert_eq!(worker.options.heartbeat, Duration::from_millis(100));
        assert_eq!(worker.options.driver_timeout, Some(DEFAULT_DRIVER_TIMEOUT));
        // A driver beating every 30 s is not taken for dead between two of its heartbeats.
        let (mut worker, _, _handed) = admitted_worker();
        worker.on_message(welcome(30_000));
        assert_eq!(worker.options.heartbeat, Duration::from_secs(30));
        assert_eq!(worker.options.driver_timeout, Some(Duration::from_secs(90)));
        // A period of zero, which its ticker cannot take, is its shortest, never a panic.
        worker.on_message(welcome(0));
        assert_eq!(worker.options.heartbeat, Duration::from_millis(1));
    }

    #[test]
    fn by_default_a_remote_worker_waits_through_a_driver_paused_55_s() {
        // It waited 5 s: a driver stopped for 5.5 s, or a 3 s flap of the link stretched by
        // TCP's backoff, cost a run its remote workers, which exited for good.
        let (worker, _, _handed) = admitted_worker();
        let paused = worker.last_heard + Duration::from_secs(55);
        assert!(matches!(worker.judge_silence(paused), Next::Continue));
        // One silent for good is still given up on, saying which setting decided it.
        let gone = worker.last_heard + DEFAULT_DRIVER_TIMEOUT + Duration::from_secs(1);
        match worker.judge_silence(gone) {
            Next::Exit(Err(RuntimeError::DriverLost(reason))) => {
                assert!(reason.contains("past --driver-timeout"), "{reason}")
            }
            _ => panic!("a driver silent past the default window was waited for"),
        }
    }

    #[test]
    fn a_hello_unanswered_past_the_handshake_deadline_is_sent_again_whatever_the_driver_timeout() {
        // The minute a session's pauses are waited through is not waited for a hello: past
        // the driver's handshake deadline a healthy driver dropped it, and a fresh
        // connection may get through a stalled link.
        let mut options = WorkerOptions::new("w0".into(), "tcp://127.0.0.1:1".into());
        options.connect_timeout = Duration::from_secs(600);
        assert_eq!(options.driver_timeout, Some(DEFAULT_DRIVER_TIMEOUT));
        let (work, _handed) = std_mpsc::channel();
        let answer_by = Instant::now() + Duration::from_secs(600);
        let worker = Worker::new(
            options,
            [7u8; 32],
            answer_by,
            work,
            MemoryAccount::of_host(),
        );
        let heard = worker.last_heard;
        assert!(matches!(
            worker.judge_silence(heard + Duration::from_secs(4)),
            Next::Continue
        ));
        assert!(matches!(
            worker.judge_silence(heard + HELLO_SILENCE + Duration::from_secs(1)),
            Next::Exit(Ok(Ended::Unanswered(_)))
        ));
    }

    #[test]
    fn a_worker_follows_a_driver_beating_up_to_a_minute_and_refuses_a_longer_period() {
        // It followed periods up to an hour: three of them, three hours, before it took a
        // silent driver for gone.
        let (mut worker, _, _handed) = admitted_worker();
        assert!(matches!(worker.on_message(welcome(60_000)), Next::Continue));
        assert_eq!(worker.options.heartbeat, MAX_HEARTBEAT);
        assert_eq!(
            worker.options.driver_timeout,
            Some(Duration::from_secs(180))
        );
        for (period_ms, said) in [(60_001, "60.001 s"), (3_600_000, "3600 s")] {
            let (mut worker, _, _handed) = admitted_worker();
            match worker.on_message(welcome(period_ms)) {
                Next::Exit(Err(RuntimeError::Config(message))) => assert!(
                    message.contains(&format!("heartbeat period of {said}, more than the 60 s")),
                    "{message}"
                ),
                _ => panic!("a period of {period_ms} ms is refused"),
            }
        }
        let (mut worker, _, _handed) = admitted_worker();
        assert!(matches!(
            worker.on_message(welcome(u64::MAX)),
            Next::Exit(Err(RuntimeError::Config(_)))
        ));
    }

    #[test]
    fn options_the_event_loop_cannot_run_are_refused_before_any_connection() {
        // Each panicked: a zero period in tokio's ticker once connected, a wait past the
        // clock's range in the deadline `reach_by` adds it to (the reconnect window once the
        // driver is lost); a period of hours would multiply past it.
        type Change = fn(&mut WorkerOptions);
        let options = |change: Change| {
            let mut options = WorkerOptions::new("w0".into(), "tcp://127.0.0.1:1".into());
            options.connect_timeout = Duration::ZERO;
            change(&mut options);
            options
        };
        let cases: [(Change, &str); 4] = [
            (|o| o.heartbeat = Duration::ZERO, "heartbeat period"),
            (|o| o.heartbeat = Duration::MAX, "heartbeat period"),
            (|o| o.connect_timeout = Duration::MAX, "connect timeout"),
            (|o| o.reconnect = Some(Duration::MAX), "reconnect window"),
        ];
        for (change, says) in cases {
            match run(options(change)) {
                Err(RuntimeError::Config(message)) => assert!(
                    message.starts_with("this worker cannot join: its ") && message.contains(says),
                    "{message}"
                ),
                other => panic!("{says}: {other:?}"),
            }
        }
        // At the bounds they run (and find no driver at port 1).
        let at_bounds = options(|o| {
            o.heartbeat = MAX_HEARTBEAT;
            o.reconnect = None;
        });
        assert!(matches!(run(at_bounds), Err(RuntimeError::DriverLost(_))));
        let mut tries = Tries::new("tcp://127.0.0.1:1", Some(MAX_WAIT));
        tries.reach_by(MAX_WAIT, Instant::now());
        let lost = Err(RuntimeError::DriverLost("gone".into()));
        assert!(matches!(
            tries.after("w0", lost, Instant::now()),
            Then::Retry { .. }
        ));
        tries.reach_by(MAX_WAIT, Instant::now());
    }

    #[test]
    fn a_worker_without_a_token_joins_no_name_that_only_starts_like_loopback() {
        // The transport resolves the name, to wherever its owner points it.
        let mut options =
            WorkerOptions::new("w0".into(), "tcp://127.0.0.1.example.com:7000".into());
        options.connect_timeout = Duration::ZERO;
        match run(options) {
            Err(RuntimeError::Config(message)) => assert!(
                message.starts_with(
                    "refusing to join tcp://127.0.0.1.example.com:7000 without a token"
                ),
                "{message}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_worker_without_a_token_reads_no_file_a_driver_names() {
        let read_split = || ToWorker::ReadSplit {
            dataset: 1,
            order: crate::data::SplitOrder::unread("/home/someone/.ssh/id_ed25519", "secrets", 3),
        };
        let (mut worker, mut driver, handed) = admitted_worker_holding(None);
        let sealed = driver.seal(frame::encode(RUN, &read_split()));
        assert!(matches!(
            worker.on_frame(ZmqMessage::from(sealed)),
            Next::Continue
        ));
        assert!(handed.try_recv().is_err(), "nothing is read");
        let refused = worker.outbox.iter().any(|m| {
            matches!(m, ToDriver::DataFailed { partition: 3, message }
                if message.contains("without a token reads no file"))
        });
        assert!(refused, "the driver hears why: {:?}", worker.outbox);
    }

    #[test]
    fn a_worker_holding_partitions_counts_them_against_tasks_and_partitions_sent_next() {
        // Each guard counted only its own kind: a worker holding partitions still queued a
        // task, or took a partition's first chunk, of up to half of what the host had.
        let available = 200_000;
        let memory = memory::tests::host_with(available);
        let (mut worker, mut driver, handed) = admitted_worker_counting(memory.clone());
        let mut executor = executor_counting(memory.clone());
        let partition = zero_partition(0, 1, 100, 100);
        let held = partition.heap_bytes();
        let mut send = |message: &ToWorker| {
            let sealed = driver.seal(frame::encode(RUN, message));
            worker.on_frame(ZmqMessage::from(sealed));
            std::mem::take(&mut worker.outbox)
        };
        // Shipped, arriving, then held once the task thread decoded it.
        assert!(send(&whole_partition(
            0,
            postcard::to_allocvec(&partition).unwrap()
        ))
        .is_empty());
        let answer = executor.work(handed.try_recv().unwrap());
        assert!(matches!(answer, Some(ToDriver::DataReady { partition: 0 })));
        assert_eq!(memory.held(Kind::Arriving), 0);
        assert_eq!(memory.held(Kind::Partitions), held);
        // Half of what the worker holds and the host has available.
        let room = (held + available) / 2 - held;
        let task = |captures: u64| task_on(captures, 0, vec![0u8; captures as usize]);
        let over = room + 1;
        assert!(over < available / 2, "the old rule admitted it");
        let failed = send(&task(over));
        assert!(
            matches!(&failed[..], [ToDriver::Failed { message, .. }]
                if message.starts_with("a task of 0 MiB") && message.contains("0 MiB in all")),
            "{failed:?}"
        );
        let refused = send(&whole_partition(1, vec![0u8; over as usize]));
        assert!(
            matches!(&refused[..], [ToDriver::DataFailed { partition: 1, message }]
                if message.contains("a partition arriving of 0 MiB")),
            "{refused:?}"
        );
        assert_eq!(memory.total(), held, "nothing refused is counted");
        // A task within the room is queued, and released once done.
        assert!(send(&task(room - 100)).is_empty());
        assert_eq!(memory.held(Kind::Tasks), room - 100);
        let answer = executor.work(handed.try_recv().unwrap());
        assert!(
            matches!(answer, Some(ToDriver::Failed { .. })),
            "no such task"
        );
        assert_eq!(memory.total(), held);
    }

    #[test]
    fn a_partition_the_driver_moved_away_is_freed_once_the_tasks_before_it_are_done() {
        // A worker that gave a partition to a worker that joined kept it in memory for the
        // rest of its session: after churn, a long-lived worker held (and counted against its
        // memory) partitions it no longer owned, up to the whole data set.
        let memory = memory::tests::host_with(1 << 30);
        let (mut worker, mut driver, handed) = admitted_worker_counting(memory.clone());
        let mut executor = executor_counting(memory.clone());
        let partition = |id| zero_partition(id, 2, 50, 20);
        let each = partition(0).heap_bytes();
        let mut send = |message: &ToWorker| {
            let sealed = driver.seal(frame::encode(RUN, message));
            worker.on_frame(ZmqMessage::from(sealed));
            assert!(worker.outbox.is_empty(), "{:?}", worker.outbox);
        };
        for id in 0..2 {
            send(&whole_partition(
                id,
                postcard::to_allocvec(&partition(id)).unwrap(),
            ));
        }
        send(&task_on(1, 1, Vec::new()));
        send(&ToWorker::Release { partition: 1 });
        let mut answers = Vec::new();
        while let Ok(work) = handed.try_recv() {
            answers.extend(executor.work(work));
        }
        assert!(
            matches!(
                &answers[..],
                [
                    ToDriver::DataReady { partition: 0 },
                    ToDriver::DataReady { partition: 1 },
                    ToDriver::Failed { seq: 1, .. },
                ]
            ),
            "the release answers nothing: {answers:?}"
        );
        assert_eq!(
            memory.held(Kind::Partitions),
            each,
            "the partition moved away is freed, the other kept"
        );
    }

    #[test]
    fn a_worker_with_a_token_reads_only_the_files_its_own_options_allow() {
        // A peer holding the token, standing in for the driver, named any file of this host,
        // and a data error quoted the start of its offending line back.
        let root = readable::tests::tree();
        let read_split = |path: &std::path::Path| ToWorker::ReadSplit {
            dataset: 1,
            order: crate::data::SplitOrder::unread(path.to_str().unwrap(), "d", 3),
        };
        let outside = [
            root.join("secret"),
            root.join("data/../secret"),
            root.join("data/escape"),
        ];
        let train = root.join("data/train.svm");
        for readable in [vec![], vec![root.join("data")], vec![train.clone()]] {
            let (mut worker, mut driver, handed) = admitted_worker();
            worker.options.readable = readable.clone();
            let mut executor = Executor::new(
                "w0".into(),
                MemoryAccount::of_host(),
                readable.clone(),
                readable::GrantedBy::CommandLine,
            );
            let mut answer = |path: &std::path::Path| {
                let sealed = driver.seal(frame::encode(RUN, &read_split(path)));
                assert!(matches!(
                    worker.on_frame(ZmqMessage::from(sealed)),
                    Next::Continue
                ));
                // Judged on the task thread, on the file it opens.
                match handed.try_recv() {
                    Ok(Work::ReadSplit(order)) => executor.read(&order),
                    _ => panic!("{path:?} is handed to the task thread"),
                }
            };
            let refused = |answer: &ToDriver| {
                matches!(answer, ToDriver::DataFailed { partition: 3, message }
                    if message.contains("start the worker with --data PATH"))
            };
            for path in &outside {
                assert!(
                    refused(&answer(path)),
                    "the driver hears why {path:?} is not read"
                );
            }
            // The allowed file is read (this order names no rows of it).
            assert_eq!(
                refused(&answer(&train)),
                readable.is_empty(),
                "{readable:?}"
            );
        }
    }

    #[test]
    fn inside_a_session_a_frame_of_another_version_is_dropped_and_the_worker_goes_on() {
        let (mut worker, mut driver, _handed) = admitted_worker();
        // 18 bytes, as an on-path attacker sent them: magic, version 5, zeros, "junk".
        let mut junk = b"ASYN".to_vec();
        junk.extend_from_slice(&(PROTOCOL_VERSION - 1).to_le_bytes());
        junk.extend_from_slice(&[0; 8]);
        junk.extend_from_slice(b"junk");
        assert_eq!(junk.len(), 18);
        let injected = [
            junk,
            plain_of_version(PROTOCOL_VERSION + 1, &shutdown()),
            driver.seal(plain_of_version(PROTOCOL_VERSION - 1, &shutdown())),
        ];
        for bytes in injected {
            let next = worker.on_frame(ZmqMessage::from(bytes));
            assert!(matches!(next, Next::Continue), "dropped, not acted on");
        }
        assert_eq!(worker.rejected.count(), 3);
        let next = worker.on_frame(ZmqMessage::from(
            driver.seal(frame::encode(RUN, &shutdown())),
        ));
        assert!(matches!(
            next,
            Next::Exit(Ok(Ended::Shutdown(RunEnd::Last)))
        ));
    }

    #[test]
    fn a_driver_that_gave_up_before_its_run_dismisses_a_reconnecting_worker() {
        let said = |order: ToWorker| {
            let (mut worker, mut driver, _handed) = admitted_worker();
            worker.options.reconnect = Some(Duration::from_secs(600));
            let Next::Exit(outcome) =
                worker.on_frame(ZmqMessage::from(driver.seal(frame::encode(RUN, &order))))
            else {
                panic!("either order ends the session")
            };
            Tries::new("tcp://127.0.0.1:1", Some(Duration::from_secs(600))).after(
                "w0",
                outcome,
                Instant::now(),
            )
        };
        // Its window does not keep it: no driver of this run will come.
        let then = said(ToWorker::NotStarting {
            reason: "only 1 of 2 workers joined within 2.0 s".into(),
        });
        assert!(
            matches!(then, Then::Finish(Ok(RunEnd::NotStarted))),
            "{then:?}"
        );
        // Any other refusal in the session (an exclusion) stays an error.
        let then = said(ToWorker::Refused {
            reason: "excluded from the run: it failed 3 tasks".into(),
            mac: None,
        });
        assert!(matches!(then, Then::Finish(Err(_))), "{then:?}");
    }

    #[test]
    fn a_connection_cut_mid_frame_says_what_a_close_says() {
        // A driver that closes the connection while a partition is on its way (it let this
        // worker go, or its run ended) leaves a frame half read: the worker said only
        // "driver link: Codec Error: bytes remaining in stream".
        let (mut worker, _driver, _handed) = admitted_worker();
        let cut = Event::LinkFailed("Codec Error: bytes remaining in stream".into());
        let Next::Exit(outcome) = worker.on_event(cut, Instant::now()) else {
            panic!("a broken connection ends the session")
        };
        let Then::Finish(Err(error)) =
            Tries::new("tcp://127.0.0.1:1", None).after("w0", outcome, Instant::now())
        else {
            panic!("final without --reconnect")
        };
        let said = error.to_string();
        assert!(
            said.contains("let this worker go")
                && said.contains("--reconnect")
                && said.contains("bytes remaining in stream"),
            "{said}"
        );
    }

    #[test]
    fn a_worker_whose_session_the_driver_closed_rejoins_with_reconnect_and_says_why_without() {
        let (mut worker, _driver, _handed) = admitted_worker();
        let Next::Exit(outcome) = worker.on_event(Event::Closed, Instant::now()) else {
            panic!("a closed connection ends the session")
        };
        // Without --reconnect: final, saying it may have been let go and how to come back.
        let Then::Finish(Err(error)) =
            Tries::new("tcp://127.0.0.1:1", None).after("w0", outcome, Instant::now())
        else {
            panic!("final without --reconnect")
        };
        let said = error.to_string();
        assert!(
            said.contains("let this worker go") && said.contains("--reconnect"),
            "{said}"
        );
        // A local worker, which its driver started, has no --reconnect to be told of.
        let (mut worker, _driver, _handed) = admitted_worker();
        worker.options.spawned = true;
        for event in [Event::Closed, Event::LinkFailed("Connection reset".into())] {
            let Next::Exit(Err(error)) = worker.on_event(event, Instant::now()) else {
                panic!("a closed or broken connection ends the session")
            };
            let said = error.to_string();
            assert!(
                said.contains("let this worker go") && !said.contains("--reconnect"),
                "{said}"
            );
        }
        // With it, a broken connection is said in the worker's words, ZeroMQ's kept as its.
        let (mut worker, _driver, _handed) = admitted_worker();
        worker.options.reconnect = Some(Duration::from_secs(60));
        let reset = Event::LinkFailed("Codec Error: Connection reset by peer".into());
        let Next::Exit(Err(error)) = worker.on_event(reset, Instant::now()) else {
            panic!("a broken connection ends the session")
        };
        assert!(
            error.to_string().ends_with(
                "the connection broke (ZeroMQ said: Codec Error: Connection reset by peer)"
            ),
            "{error}"
        );
        // With it: joins again by a fresh handshake, under its own name (the driver forgot it).
        let (mut worker, _driver, _handed) = admitted_worker();
        worker.options.reconnect = Some(Duration::from_secs(60));
        let Next::Exit(outcome) = worker.on_event(Event::Closed, Instant::now()) else {
            panic!("a closed connection ends the session")
        };
        let mut tries = Tries::new("tcp://127.0.0.1:1", Some(Duration::from_secs(60)));
        assert!(matches!(
            tries.after("w0", outcome, Instant::now()),
            Then::Retry {
                fresh_name: false,
                ..
            }
        ));
    }

    #[test]
    fn frames_that_do_not_open_do_not_count_as_hearing_from_the_driver() {
        let (mut worker, _driver, _handed) = admitted_worker();
        worker.options.driver_timeout = Some(Duration::from_secs(5));
        let start = Instant::now();
        // A flood keeps the loop turning (never 3 heartbeats apart) with frames that do not open.
        let given_up = (1..100u32).find_map(|tenth| {
            let junk = frame::encode(RUN, &shutdown());
            let at = start + Duration::from_millis(100) * tenth;
            match worker.on_event(Event::Frame(ZmqMessage::from(junk)), at) {
                Next::Exit(Err(RuntimeError::DriverLost(reason))) => Some((tenth, reason)),
                _ => None,
            }
        });
        let (tenth, reason) = given_up.expect("the driver's silence is judged during the flood");
        assert!(reason.contains("silent"), "{reason}");
        // The user learns which setting gave up, and how to wait longer.
        assert!(reason.contains("past --driver-timeout 5 s"), "{reason}");
        assert!(
            (50..=52).contains(&tenth),
            "given up at {tenth} tenths of a second"
        );
    }

    #[test]
    fn a_loop_that_did_not_turn_gives_the_driver_a_fresh_window() {
        let (mut worker, _driver, _handed) = admitted_worker();
        worker.options.driver_timeout = Some(Duration::from_secs(5));
        // Stopped 8 s: the first event after it, whatever it is, does not judge the silence.
        let resumed = Instant::now() + Duration::from_secs(8);
        assert!(matches!(
            worker.on_event(Event::Tick, resumed),
            Next::Continue
        ));
        // Then it ticks on, and the driver stays silent: its window counts from the resumption.
        let given_up = (1..20u32).find(|&half| {
            let at = resumed + Duration::from_millis(500) * half;
            matches!(worker.on_event(Event::Tick, at), Next::Exit(_))
        });
        assert_eq!(given_up, Some(11), "given up 5.5 s after the resumption");
    }

    #[test]
    fn inside_a_session_only_frames_that_open_under_it_are_acted_on() {
        let (mut worker, mut driver, _handed) = admitted_worker();
        let refused = ToWorker::Refused {
            reason: "go away".into(),
            mac: None,
        };
        let genuine = driver.seal(frame::encode(RUN, &shutdown()));
        let mut bad_mac = genuine.clone();
        *bad_mac.last_mut().expect("a tag") ^= 1;
        let mut stranger = Sealer::new(&[1; 32], Direction::ToWorker, false);
        let injected = [
            // Plain, of this run or any: a handshake message has no place in a session.
            frame::encode(RUN, &refused),
            frame::encode(
                ANY_RUN,
                &ToWorker::Lost {
                    reason: "lost".into(),
                },
            ),
            // Sealed for another run, under another key, altered.
            driver.seal(frame::encode(RUN + 1, &shutdown())),
            stranger.seal(frame::encode(RUN, &shutdown())),
            bad_mac,
            genuine[..HEADER_LEN].to_vec(),
        ];
        for bytes in injected {
            let next = worker.on_frame(ZmqMessage::from(bytes));
            assert!(matches!(next, Next::Continue), "dropped, not acted on");
        }
        // The genuine frame, then its replay.
        assert!(matches!(
            worker.on_frame(ZmqMessage::from(genuine.clone())),
            Next::Exit(Ok(Ended::Shutdown(_)))
        ));
        assert!(matches!(
            worker.on_frame(ZmqMessage::from(genuine)),
            Next::Continue
        ));
        assert_eq!(worker.rejected.count(), 7);
    }

    #[test]
    fn a_large_frame_is_opened_off_the_loop_which_goes_on_with_heartbeats() {
        let (mut worker, mut driver, handed) = admitted_worker();
        let large = driver.seal(frame::encode(
            RUN,
            &whole_partition(0, vec![0; OPEN_ELSEWHERE_FROM]),
        ));
        let start = Instant::now();
        let frame = Event::Frame(ZmqMessage::from(large.clone()));
        assert!(matches!(worker.on_event(frame, start), Next::Continue));
        assert!(worker.opening, "the loop reads no frame until it is open");
        let open = worker.to_open.take().expect("handed to another thread");
        // The loop goes on: heartbeats, and no verdict on the driver's silence meanwhile.
        let later = start + Duration::from_secs(6);
        for at in [start + Duration::from_millis(500), later] {
            assert!(matches!(worker.on_event(Event::Tick, at), Next::Continue));
        }
        assert_eq!(
            std::mem::take(&mut worker.outbox).len(),
            2,
            "two heartbeats while it opens"
        );
        assert!(handed.try_recv().is_err(), "not acted on before it is open");
        // Opened elsewhere, it is acted on here, and counts as hearing from the driver.
        let opened = std::thread::spawn(move || open.open()).join().unwrap();
        let seq = opened.as_ref().ok().map(|(stamp, _)| stamp.seq);
        assert_eq!(seq, Some(1));
        let now = Instant::now();
        assert!(matches!(
            worker.on_event(Event::Opened(opened), now),
            Next::Continue
        ));
        assert!(!worker.opening && worker.last_heard >= now);
        assert!(matches!(handed.try_recv(), Ok(Work::Partition { .. })));
        // The same frame opened again (a replay) is dropped: its number was taken.
        let frame = Event::Frame(ZmqMessage::from(large));
        assert!(matches!(worker.on_event(frame, now), Next::Continue));
        let replay = worker.to_open.take().expect("large").open();
        assert_eq!(
            replay.as_ref().ok().map(|(stamp, _)| stamp.seq),
            seq,
            "it verifies"
        );
        let rejected = worker.rejected.count();
        worker.on_event(Event::Opened(replay), Instant::now());
        assert!(handed.try_recv().is_err(), "a replay is not acted on");
        assert_eq!(worker.rejected.count(), rejected + 1);
    }

    #[test]
    fn a_handshake_nobody_answered_is_no_paused_driver() {
        // A link stalled past the driver's handshake deadline: silence, or a cut, before any
        // word. Not a driver paused past --driver-timeout: the join is tried again.
        let mut options = WorkerOptions::new("w0".into(), "tcp://127.0.0.1:1".into());
        options.driver_timeout = Some(Duration::from_secs(5));
        let (work, _handed) = std_mpsc::channel();
        let answer_by = Instant::now() + Duration::from_secs(600);
        let mut worker = Worker::new(options, [7; 32], answer_by, work, MemoryAccount::of_host());
        // Ticks that come in time: the loop ran, and heard nothing.
        let start = Instant::now();
        let ticks = (1..=60).map(|tick| start + Duration::from_millis(100 * tick));
        let next = ticks
            .map(|at| worker.on_event(Event::Tick, at))
            .find(|next| matches!(next, Next::Exit(_)));
        match next {
            Some(Next::Exit(Ok(Ended::Unanswered(reason)))) => {
                assert!(
                    reason.contains("has not answered this worker's hello"),
                    "{reason}"
                )
            }
            _ => panic!("expected the handshake unanswered"),
        }
        assert!(matches!(
            worker.on_event(Event::Closed, Instant::now()),
            Next::Exit(Ok(Ended::Unanswered(_)))
        ));
    }

    /// A peer at the driver's address that breaks the connection before any session (a frame
    /// past ZeroMQ's limit from a fake driver) has proven nothing: the join is tried again
    /// within the connect window, as after a close. It ended the worker at once.
    #[test]
    fn a_connection_broken_before_the_handshake_is_tried_again() {
        let (work, _handed) = std_mpsc::channel();
        let answer_by = Instant::now() + Duration::from_secs(600);
        let options = WorkerOptions::new("w0".into(), "tcp://127.0.0.1:1".into());
        let mut worker = Worker::new(options, [7; 32], answer_by, work, MemoryAccount::of_host());
        let oversized = Event::LinkFailed("Codec Error: Frame length exceeds the limit".into());
        let Next::Exit(outcome) = worker.on_event(oversized, Instant::now()) else {
            panic!("a broken connection ends this try")
        };
        match &outcome {
            Ok(Ended::Unanswered(reason)) => assert!(
                reason.contains("before the driver answered")
                    && reason.contains("ZeroMQ said: Codec Error: Frame length exceeds"),
                "{reason}"
            ),
            Ok(_) => panic!("expected an unanswered join"),
            Err(error) => panic!("expected an unanswered join, not {error}"),
        }
        let mut tries = Tries::new("tcp://127.0.0.1:1", None);
        let now = Instant::now();
        tries.reach_by(Duration::from_secs(60), now);
        let then = tries.after("w0", outcome, now);
        assert!(matches!(then, Then::Retry { .. }), "{then:?}");
    }

    #[test]
    fn a_challenge_whose_proof_does_not_check_is_unproven() {
        // A peer without the token answers the hello with a made-up proof: as unproven as a
        // refusal, so a worker told to keep trying does (it exited for good).
        let mut options = WorkerOptions::new("w0".into(), "tcp://127.0.0.1:1".into());
        options.token = Some(Token::random());
        let (work, _handed) = std_mpsc::channel();
        let answer_by = Instant::now() + Duration::from_secs(5);
        let mut worker = Worker::new(options, [7; 32], answer_by, work, MemoryAccount::of_host());
        let challenge = ToWorker::Challenge {
            nonce: ByteBuf::from(vec![9u8; 32]),
            proof: ByteBuf::from(vec![0u8; 32]),
            encrypt: false,
        };
        let next = worker.on_frame(ZmqMessage::from(frame::encode(0x5eed, &challenge)));
        assert!(
            matches!(
                next,
                Next::Exit(Ok(Ended::Unproven {
                    name_held: false,
                    ..
                }))
            ),
            "a made-up proof is unproven"
        );
        assert!(worker.session.is_none());
    }

    #[test]
    fn a_worker_that_requires_encryption_leaves_a_driver_in_the_clear_before_its_proof() {
        // The driver's proof checks, so only the driver chose the clear: the worker proves
        // nothing back (no session, no frame out) and ends for good.
        let token = Token::random();
        // `proven_encrypt`: the choice the driver's proof covers; `encrypt`: the one its
        // challenge carries (they differ when someone on the way changed it).
        let join_as = |require_encrypt: bool, proven_encrypt: bool, encrypt: bool| {
            let mut options = WorkerOptions::new("w0".into(), "tcp://127.0.0.1:1".into());
            options.token = Some(token.clone());
            options.require_encrypt = require_encrypt;
            let memory = MemoryAccount::of_host();
            let (next, worker, _, _) = challenged(options, &token, memory, proven_encrypt, encrypt);
            (next, worker)
        };
        let join =
            |require_encrypt: bool, encrypt: bool| join_as(require_encrypt, encrypt, encrypt);
        let (next, worker) = join(true, false);
        match next {
            Next::Exit(Ok(Ended::Declined(said))) => assert!(
                said.contains("sends its frames in the clear")
                    && said.contains("joins only a driver that encrypts them"),
                "{said}"
            ),
            _ => panic!("a driver in the clear is left"),
        }
        assert!(worker.session.is_none() && worker.ready.is_empty());
        let error = final_error_of(join(true, false).0);
        assert!(error.contains("in the clear"), "{error}");
        for (require_encrypt, encrypt) in [(true, true), (false, false), (false, true)] {
            let (next, worker) = join(require_encrypt, encrypt);
            assert!(
                matches!(next, Next::Continue) && worker.session.is_some(),
                "require {require_encrypt}, encrypt {encrypt}: joined"
            );
        }
        // Encryption taken off on the way: the proof no longer checks, whatever the worker
        // requires.
        for require_encrypt in [true, false] {
            let (next, worker) = join_as(require_encrypt, true, false);
            assert!(
                matches!(next, Next::Exit(Ok(Ended::Unproven { .. }))) && worker.session.is_none(),
                "require {require_encrypt}: a changed choice is unproven"
            );
        }
    }

    /// What a try that ended with `next` ends the worker with, told to keep trying.
    fn final_error_of(next: Next) -> String {
        let Next::Exit(outcome) = next else {
            panic!("the try went on")
        };
        let mut tries = Tries::new("tcp://127.0.0.1:1", Some(Duration::from_secs(600)));
        match tries.after("w0", outcome, Instant::now()) {
            Then::Finish(Err(error)) => error.to_string(),
            then => panic!("expected the end, not {then:?}"),
        }
    }

    #[test]
    fn a_refusal_is_final_only_with_a_mac_over_this_hello_under_the_token() {
        let token = Token::random();
        let nonce = [7u8; 32];
        let worker = || {
            let mut options = WorkerOptions::new("w0".into(), "tcp://127.0.0.1:1".into());
            options.token = Some(token.clone());
            let (work, handed) = std_mpsc::channel();
            let answer_by = Instant::now() + Duration::from_secs(5);
            let worker = Worker::new(options, nonce, answer_by, work, MemoryAccount::of_host());
            (worker, handed)
        };
        let reason = "it runs another build";
        let refusal = |mac: Option<Vec<u8>>| {
            let refused = ToWorker::Refused {
                reason: reason.into(),
                mac: mac.map(ByteBuf::from),
            };
            ZmqMessage::from(frame::encode(RUN, &refused))
        };
        let mac_of = |token: &Token, nonce: &[u8], fingerprint: u64| {
            Some(token.refusal_mac(&crate::auth::Refusal {
                run_id: RUN,
                name: "w0",
                fingerprint,
                worker_nonce: nonce,
                reason,
            }))
        };
        let fingerprint = task::fingerprint();
        let (mut proven, _handed) = worker();
        let next = proven.on_frame(refusal(mac_of(&token, &nonce, fingerprint)));
        assert!(
            matches!(&next, Next::Exit(Ok(Ended::Refused(said))) if said.contains(reason)),
            "a MAC over this hello under the token: final"
        );
        for (mac, what) in [
            (None, "no MAC"),
            (
                mac_of(&Token::random(), &nonce, fingerprint),
                "another token",
            ),
            (
                mac_of(&token, &[8u8; 32], fingerprint),
                "another hello's nonce",
            ),
            (
                mac_of(&token, &nonce, fingerprint ^ 1),
                "a hello altered on the way",
            ),
        ] {
            let (mut worker, _handed) = worker();
            let next = worker.on_frame(refusal(mac));
            assert!(
                matches!(next, Next::Exit(Ok(Ended::Unproven { .. }))),
                "{what}: unproven"
            );
        }
    }

    fn result_of(seq: u64, len: usize) -> ToDriver {
        ToDriver::Result {
            seq,
            compute_s: 0.1,
            cpu_s: 0.1,
            delay_s: 0.0,
            held_s: 0.1,
            body: vec![7; len].into(),
        }
    }

    #[test]
    fn heartbeats_go_out_while_a_large_result_is_sealed_elsewhere() {
        let (mut worker, key, _handed) =
            admitted_worker_keyed(Some(Token::random()), MemoryAccount::of_host());
        let mut driver = Opener::new(&key, Direction::ToDriver, false);
        assert_eq!(worker.frames_to_send().len(), 1, "the handshake's proof");
        let now = Instant::now();
        worker.on_event(Event::Done(result_of(1, SEAL_ELSEWHERE_FROM)), now);
        assert!(worker.frames_to_send().is_empty(), "not sealed on the loop");
        let sealing = worker.to_seal.take().expect("sealed on another thread");
        // Meanwhile a small result waits behind it, and a heartbeat goes out.
        worker.on_event(Event::Done(result_of(2, 8)), now);
        worker.on_event(Event::Tick, now);
        let meanwhile = worker.frames_to_send();
        assert_eq!(meanwhile.len(), 1, "the heartbeat alone");
        let sealed = std::thread::spawn(move || sealing.seal()).join().unwrap();
        assert!(matches!(
            worker.on_event(Event::Sealed(sealed), now),
            Next::Continue
        ));
        let after = worker.frames_to_send();
        assert_eq!(after.len(), 2, "the large result, then the small one");
        assert!(worker.outbox.is_empty() && !worker.sealing);
        // The driver opens them in the order they went out: the results after the heartbeat.
        let heard: Vec<ToDriver> = meanwhile
            .iter()
            .chain(&after)
            .map(|frame| {
                let (_, message) = driver.open_message::<ToDriver>(frame).expect("opens");
                message.expect("decodes")
            })
            .collect();
        assert!(
            matches!(
                heard[..],
                [
                    ToDriver::Heartbeat,
                    ToDriver::Result { seq: 1, .. },
                    ToDriver::Result { seq: 2, .. }
                ]
            ),
            "{heard:?}"
        );
    }

    #[test]
    fn a_seal_that_panics_ends_the_session_in_this_workers_words() {
        let (mut worker, _, _handed) = admitted_worker();
        let session = worker.session.as_mut().expect("admitted");
        // Shorter than an envelope: sealing it panics.
        let sealing = Sealing {
            number: session.sealer.reserve(Space::Data),
            frame: vec![0; 3],
            what: "a result",
        };
        worker.sealing = true;
        let sealed = sealing.seal();
        let error = match worker.on_event(Event::Sealed(sealed), Instant::now()) {
            // Its own variant: with --reconnect it joins again, as after a lost driver.
            Next::Exit(Err(error @ RuntimeError::SessionFailed(_))) => error.to_string(),
            Next::Exit(Err(other)) => panic!("ended otherwise: {other}"),
            Next::Exit(Ok(_)) => panic!("ended as if well"),
            Next::Continue => panic!("the session goes on"),
        };
        // A bug of this worker's, said so, with the panic; not blamed on the driver.
        assert!(
            error.starts_with(
                "sealing a result of 3 bytes for the driver failed (a bug in this worker, not \
                 the driver's doing; the panic: "
            ),
            "{error}"
        );
        assert!(!error.contains("unreachable or gone"), "{error}");
    }
}
