//! The worker: receives partitions, broadcast versions and tasks; runs registered tasks on its
//! partitions; adds simulated straggler delay; reports results. It exits by itself when the
//! driver is gone, so no worker outlives its run.

mod cache;
mod straggler;

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use futures::StreamExt;
use zeromq::{
    DealerSocket, Socket, SocketEvent, SocketOptions, SocketRecv, SocketSend, ZmqMessage,
};

pub use cache::CachedVersion;
use cache::VersionCache;
use straggler::StragglerDelay;

use crate::auth::Token;
use crate::data::Partition;
use crate::error::{RuntimeError, TaskError};
use crate::history::HistorySlice;
use crate::protocol::{Hello, TaskOrder, ToDriver, ToWorker};
use crate::task::{self, TaskContext};
use crate::transport::frame::{self, FrameError, ANY_RUN};
use crate::transport::DEFAULT_MAX_FRAME;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Stable name, also the routing identity.
    pub name: String,
    /// The driver's address, e.g. `tcp://10.0.0.1:7000`.
    pub driver: String,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// The driver is gone when silent this long.
    pub driver_timeout: Duration,
    /// Largest frame accepted.
    pub max_frame: usize,
    /// The run's token, to answer the driver's challenge.
    pub token: Option<Token>,
    /// After losing the driver, keep trying to join it (or a new driver at the same address)
    /// this long; `None` exits at once.
    pub reconnect: Option<Duration>,
}

impl WorkerOptions {
    /// Defaults for worker `name` of the driver at `driver`.
    pub fn new(name: String, driver: String) -> WorkerOptions {
        WorkerOptions {
            name,
            driver,
            heartbeat: Duration::from_millis(500),
            driver_timeout: Duration::from_secs(5),
            max_frame: DEFAULT_MAX_FRAME,
            token: None,
            reconnect: None,
        }
    }
}

/// Runs a worker until the driver says the run is over or goes away.
pub fn run(options: WorkerOptions) -> Result<(), RuntimeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RuntimeError::Transport(format!("tokio: {e}")))?;
    runtime.block_on(serve_with_reconnect(options))
}

/// Serves the driver; with `reconnect`, a lost driver is joined again as a new worker
/// (`name.r1`, `name.r2`, ...: a fresh identity, so the driver's stale connection of the old
/// one cannot shadow it), rebuilding everything from the driver.
async fn serve_with_reconnect(options: WorkerOptions) -> Result<(), RuntimeError> {
    let Some(window) = options.reconnect else {
        return serve(options).await;
    };
    let mut attempt = 0;
    let mut lost_at = None;
    loop {
        let mut this = options.clone();
        if attempt > 0 {
            this.name = format!("{}.r{attempt}", options.name);
        }
        match serve(this).await {
            Err(RuntimeError::DriverLost(reason)) => {
                let since = *lost_at.get_or_insert_with(Instant::now);
                if since.elapsed() > window {
                    return Err(RuntimeError::DriverLost(reason));
                }
                tracing::warn!(worker = %options.name, %reason, "driver lost; joining again");
                tokio::time::sleep(Duration::from_millis(500)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A result held back for its straggler delay.
struct Pending {
    ready_at: Instant,
    frame: Vec<u8>,
}

struct Worker {
    options: WorkerOptions,
    run_id: Option<u64>,
    partitions: HashMap<u32, Partition>,
    cache: VersionCache,
    delay: StragglerDelay,
    queue: VecDeque<TaskOrder>,
    pending: Option<Pending>,
    last_heard: Instant,
    beat: bool,
    /// Frames to send before anything else (answers to the driver).
    outbox: Vec<Vec<u8>>,
}

enum Next {
    Continue,
    Exit(Result<(), RuntimeError>),
}

async fn serve(options: WorkerOptions) -> Result<(), RuntimeError> {
    let mut socket_options = SocketOptions::default();
    let identity = options
        .name
        .parse()
        .map_err(|e| RuntimeError::Config(format!("worker name {}: {e}", options.name)))?;
    socket_options
        .peer_identity(identity)
        .max_frame_size(options.max_frame);
    let mut socket = DealerSocket::with_options(socket_options);
    let mut events = socket.monitor();
    socket.connect(&options.driver).await.map_err(|e| {
        RuntimeError::DriverLost(format!("cannot reach it at {}: {e}", options.driver))
    })?;
    let (mut tx, mut rx) = socket.split();
    let hello = Hello {
        name: options.name.clone(),
        fingerprint: task::fingerprint(),
        pid: std::process::id(),
    };
    send(&mut tx, frame::encode(ANY_RUN, &ToDriver::Hello(hello))).await?;

    let mut ticker = tokio::time::interval(options.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut worker = Worker {
        options,
        run_id: None,
        partitions: HashMap::new(),
        cache: VersionCache::new(8),
        delay: StragglerDelay::default(),
        queue: VecDeque::new(),
        pending: None,
        last_heard: Instant::now(),
        beat: false,
        outbox: Vec::new(),
    };
    loop {
        let pending_at = worker.pending.as_ref().map(|p| p.ready_at);
        let next = tokio::select! {
            // Messages first: a driver's last words arrive before its disconnection.
            biased;
            received = rx.recv() => match received {
                Ok(message) => worker.on_frame(message),
                Err(e) => Next::Exit(Err(RuntimeError::DriverLost(format!("driver link: {e}")))),
            },
            _ = ticker.tick() => worker.on_tick(),
            _ = sleep_until(pending_at), if pending_at.is_some() => Next::Continue,
            Some(event) = events.next() => match event {
                SocketEvent::Disconnected(_) => Next::Exit(Err(RuntimeError::DriverLost(
                    "the driver closed the connection".into(),
                ))),
                _ => Next::Continue,
            },
        };
        if let Next::Exit(outcome) = next {
            return outcome;
        }
        for frame in std::mem::take(&mut worker.outbox) {
            send(&mut tx, frame).await?;
        }
        // Send what is due, then start queued tasks until one is held back by its delay.
        loop {
            if let Some(pending) = worker.pending.take() {
                if pending.ready_at > Instant::now() {
                    worker.pending = Some(pending);
                    break;
                }
                send(&mut tx, pending.frame).await?;
            }
            let Some(order) = worker.queue.pop_front() else {
                break;
            };
            worker.pending = Some(worker.execute(order));
        }
        if worker.run_id.is_some() && worker.heartbeat_due() {
            send(&mut tx, worker.encode(&ToDriver::Heartbeat)).await?;
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

async fn send(tx: &mut zeromq::DealerSendHalf, frame: Vec<u8>) -> Result<(), RuntimeError> {
    tx.send(ZmqMessage::from(frame))
        .await
        .map_err(|e| RuntimeError::DriverLost(format!("cannot send to it: {e}")))
}

impl Worker {
    fn encode(&self, message: &ToDriver) -> Vec<u8> {
        frame::encode(self.run_id.unwrap_or(ANY_RUN), message)
    }

    fn heartbeat_due(&mut self) -> bool {
        std::mem::take(&mut self.beat)
    }

    fn on_tick(&mut self) -> Next {
        if self.last_heard.elapsed() > self.options.driver_timeout {
            return Next::Exit(Err(RuntimeError::DriverLost(format!(
                "the driver has been silent for {:.1} s",
                self.last_heard.elapsed().as_secs_f64()
            ))));
        }
        self.beat = true;
        Next::Continue
    }

    fn on_frame(&mut self, message: ZmqMessage) -> Next {
        let Some(bytes) = message.into_vec().pop() else {
            return Next::Continue;
        };
        // Until the welcome, the worker learns the run id from the driver's frames.
        let expected = match self.run_id {
            Some(id) => id,
            None => match frame::open(&bytes, self.options.max_frame) {
                Ok((id, _)) => id,
                Err(e @ FrameError::Version { .. }) => {
                    return Next::Exit(Err(RuntimeError::Transport(format!("the driver: {e}"))))
                }
                Err(e) => return self.reject(&e.to_string()),
            },
        };
        let message =
            match frame::decode::<ToWorker>(&bytes, expected, false, self.options.max_frame) {
                Ok(message) => message,
                Err(e) => return self.reject(&e.to_string()),
            };
        self.last_heard = Instant::now();
        match message {
            ToWorker::Welcome(welcome) => {
                self.run_id = Some(expected);
                self.delay = StragglerDelay::new(welcome.delay_factor);
                self.cache.set_capacity(welcome.cache_versions as usize);
                tracing::info!(worker = %self.options.name, index = welcome.index, "admitted");
            }
            ToWorker::Challenge { nonce } => {
                let Some(token) = &self.options.token else {
                    return Next::Exit(Err(RuntimeError::Config(
                        "the driver asks for the run's token: give it with --token-file".into(),
                    )));
                };
                let mac = token.prove(expected, &nonce, &self.options.name, task::fingerprint());
                self.outbox.push(frame::encode(
                    expected,
                    &ToDriver::Proof { mac: mac.into() },
                ));
            }
            ToWorker::Refused { reason } => {
                return Next::Exit(Err(RuntimeError::Transport(format!(
                    "the driver refused this worker: {reason}"
                ))));
            }
            _ if self.run_id.is_none() => return self.reject("message before the welcome"),
            ToWorker::Partition { body, .. } => match postcard::from_bytes::<Partition>(&body) {
                Ok(partition) => {
                    self.partitions.insert(partition.id(), partition);
                }
                Err(e) => return self.reject(&format!("partition does not decode: {e}")),
            },
            ToWorker::Version {
                slot,
                version,
                body,
            } => {
                if let Err(e) = self.cache.receive(slot, version, body) {
                    return self.reject(&e.to_string());
                }
            }
            ToWorker::Task(order) => self.queue.push_back(order),
            ToWorker::Heartbeat => {}
            ToWorker::Shutdown => return Next::Exit(Ok(())),
        }
        Next::Continue
    }

    fn reject(&self, reason: &str) -> Next {
        tracing::warn!(worker = %self.options.name, reason, "rejected a message");
        Next::Continue
    }

    /// Runs a task now and returns its result frame, due after the straggler delay.
    fn execute(&mut self, order: TaskOrder) -> Pending {
        let begun = Instant::now();
        let outcome = self.run_task(&order);
        let compute = begun.elapsed();
        let delay = self.delay.after(compute);
        let message = match outcome {
            Ok(body) => ToDriver::Result {
                seq: order.seq,
                compute_s: compute.as_secs_f64(),
                delay_s: delay.as_secs_f64(),
                body: body.into(),
            },
            Err(error) => ToDriver::Failed {
                seq: order.seq,
                message: error.to_string(),
            },
        };
        Pending {
            ready_at: begun + compute + delay,
            frame: self.encode(&message),
        }
    }

    fn run_task(&self, order: &TaskOrder) -> Result<Vec<u8>, TaskError> {
        let run = task::find(&order.task).ok_or_else(|| TaskError::Unknown(order.task.clone()))?;
        let partition = self
            .partitions
            .get(&order.partition)
            .ok_or(TaskError::NoPartition(order.partition))?;
        let reads = order
            .reads
            .iter()
            .map(|&(slot, version)| self.cache.get(slot, version))
            .collect::<Result<Vec<_>, _>>()?;
        let history = order
            .history
            .iter()
            .map(|bytes| {
                postcard::from_bytes::<HistorySlice>(bytes).map_err(|e| TaskError::Decode {
                    what: "history entries",
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let batch = order
            .sample
            .map(|s| partition.sample(s.batch as usize, s.k as usize));
        let context = TaskContext {
            partition,
            batch,
            captures: &order.captures,
            reads,
            history,
        };
        catch_unwind(AssertUnwindSafe(|| run(&context))).unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without message".into());
            Err(TaskError::Panicked(message))
        })
    }
}
