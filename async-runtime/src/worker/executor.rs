//! The worker's task thread: it holds the partitions and the cached broadcast versions, runs
//! the registered tasks in order, sleeps the straggler delay, and hands results to the
//! socket's thread, so that heartbeats never wait on a task.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc as tokio_mpsc;

use super::cache::VersionCache;
use super::memory::{Held, Kind, MemoryAccount};
use super::queued::{body_bytes, QueuedTask};
use super::readable::GrantedBy;
use super::straggler::{ordered_sleep, StragglerDelay};
use super::{MAX_PARTITIONS, MAX_SLOTS};
use crate::data::Partition;
use crate::error::TaskError;
use crate::history::HistorySlice;
use crate::protocol::{peer_text, ShippedVersion, SplitOrder, TaskOrder, ToDriver};
use crate::result_body::ResultBody;
use crate::task::{self, TaskContext};
use crate::transport::said::Said;

/// The most a result's frame holds beside its body: the frame's header, kind and number
/// (23 bytes), the message's variant, task number and four times (at most 43), and the
/// session's tag (32, or 16 encrypted); a frame past the limit closes the connection.
const RESULT_FRAME_OVERHEAD: usize = 128;

/// Work for the executor thread, in the order the driver sent it.
pub(super) enum Work {
    Settings {
        delay_factor: f64,
        cache_versions: u32,
    },
    /// A partition assembled, its bytes still counted as arriving.
    Partition {
        partition: u32,
        bytes: Vec<u8>,
        arriving: Held,
    },
    ReadSplit(Box<SplitOrder>),
    /// A partition the driver gave to another worker: freed, its bytes no longer counted.
    Release(u32),
    /// A task order, counted as queued, and when its frame was received: its result reports
    /// how long this worker held it from then on.
    Task(TaskOrder, QueuedTask, Instant),
}

/// The task thread's state: partitions, cached versions, the straggler delay.
pub(super) struct Executor {
    name: String,
    /// The partitions held, each with its bytes counted in `memory`.
    partitions: HashMap<u32, (Partition, Held)>,
    cache: VersionCache,
    delay: StragglerDelay,
    memory: Arc<MemoryAccount>,
    /// Tasks that failed here: the driver is told of each, this worker's log of the first
    /// few and then of each power of two.
    failed: Said,
    /// The files and folders a split order may name ([`WorkerOptions::readable`]).
    ///
    /// [`WorkerOptions::readable`]: super::WorkerOptions::readable
    readable: Vec<PathBuf>,
    granted: GrantedBy,
    /// Its driver grants it more files on its standard input (a local worker's).
    grants_on_stdin: bool,
    /// The most bytes a result may have: the driver expands none larger (its frame limit).
    result_limit: usize,
}

impl Executor {
    /// The task thread of the worker `name`, holding nothing yet; what it holds is counted
    /// in `memory`, beside what the event loop holds; split orders may name only what
    /// `readable` allows, `granted` as it says.
    pub(super) fn new(
        name: String,
        memory: Arc<MemoryAccount>,
        readable: Vec<PathBuf>,
        granted: GrantedBy,
    ) -> Executor {
        Executor {
            name,
            partitions: HashMap::new(),
            cache: VersionCache::new(8, memory.clone()),
            delay: StragglerDelay::default(),
            memory,
            failed: Said::default(),
            readable,
            granted,
            grants_on_stdin: false,
            result_limit: crate::transport::DEFAULT_MAX_FRAME,
        }
    }

    /// The same, its results at most `limit` bytes (the frame limit it shares with its
    /// driver): a larger one fails its task, saying so, rather than travel as its nonzero
    /// words to be refused by the driver as a lie.
    pub(super) fn with_result_limit(mut self, limit: usize) -> Executor {
        self.result_limit = limit;
        self
    }

    /// The same, also reading the files its own driver grants it on standard input
    /// ([`crate::grants`]) when an order names one `readable` does not allow.
    pub(super) fn with_grants_on_stdin(mut self) -> Executor {
        self.grants_on_stdin = true;
        self
    }

    /// Does the work the event loop hands over, in its order, and hands back each answer;
    /// returns once the event loop hangs up or no longer takes answers (its session ended).
    pub(super) fn serve(
        mut self,
        work: std_mpsc::Receiver<Work>,
        results: tokio_mpsc::UnboundedSender<ToDriver>,
    ) {
        while let Ok(item) = work.recv() {
            let Some(answer) = self.work(item) else {
                continue;
            };
            if results.send(answer).is_err() {
                return;
            }
        }
    }

    /// Does one piece of work; its answer to the driver, if it has one.
    pub(super) fn work(&mut self, item: Work) -> Option<ToDriver> {
        Some(match item {
            Work::Settings {
                delay_factor,
                cache_versions,
            } => {
                self.delay = StragglerDelay::new(delay_factor);
                self.cache.set_capacity(cache_versions as usize);
                return None;
            }
            Work::Partition {
                partition,
                bytes,
                arriving,
            } => self.decode(partition, bytes, arriving),
            Work::ReadSplit(order) => self.read(&order),
            Work::Release(partition) => {
                self.partitions.remove(&partition);
                return None;
            }
            Work::Task(order, queued, received) => self.task(order, queued, received),
        })
    }

    /// Keeps the partition the driver shipped as `bytes`, or says why not. Decoded here: a
    /// large partition must not stop the heartbeats. Its bytes are freed, and no longer
    /// counted as `arriving`, before the answer.
    fn decode(&mut self, partition: u32, bytes: Vec<u8>, arriving: Held) -> ToDriver {
        let decoded = Partition::decode(&bytes);
        drop((bytes, arriving));
        match decoded {
            Ok(decoded) if decoded.id() == partition => self.own(decoded),
            Ok(decoded) => ToDriver::DataFailed {
                partition,
                message: format!("partition {partition} holds partition {}", decoded.id()),
            },
            Err(e) => ToDriver::DataFailed {
                partition,
                message: format!("partition {partition} does not decode: {e}"),
            },
        }
    }

    /// Reads and keeps the split `order` names, or says why not. Read here, on the task
    /// thread: heartbeats go on however long it takes, and the tasks sent meanwhile wait
    /// behind it. Opened here too, one file at a time: orders waiting hold no descriptor.
    pub(super) fn read(&mut self, order: &SplitOrder) -> ToDriver {
        let file = match self.open(&order.path) {
            Ok(file) => file,
            Err(message) => {
                return ToDriver::DataFailed {
                    partition: order.partition,
                    message,
                }
            }
        };
        match crate::data::own_split::read_opened(order, file) {
            Ok(partition) if partition.id() == order.partition => self.own(partition),
            Ok(partition) => ToDriver::DataFailed {
                partition: order.partition,
                message: format!(
                    "the split of partition {} read as partition {}",
                    order.partition,
                    partition.id()
                ),
            },
            Err(error) => ToDriver::DataFailed {
                partition: order.partition,
                message: error.to_string(),
            },
        }
    }

    /// Opens `path` if this worker may read it; if not, and its driver grants files on its
    /// standard input, once more after taking the grants there: the driver wrote the grant
    /// of a file before the order to read it, so the grant is there by now.
    fn open(&mut self, path: &std::path::Path) -> Result<std::fs::File, String> {
        let refused = match super::readable::open(path, &self.readable, self.granted) {
            Ok(file) => return Ok(file),
            Err(refused) if !self.grants_on_stdin => return Err(refused),
            Err(refused) => refused,
        };
        let granted = crate::grants::take_from_stdin()
            .map_err(|why| format!("this local worker may not read {}: {why}", path.display()))?;
        let new: Vec<PathBuf> = granted
            .into_iter()
            .filter(|path| !self.readable.contains(path))
            .collect();
        if new.is_empty() {
            return Err(refused);
        }
        self.readable.extend(new);
        super::readable::open(path, &self.readable, self.granted)
    }

    /// Runs a task order with its simulated straggling; its result, once it no longer counts
    /// as `queued`, with the time held since it was `received`.
    fn task(
        &mut self,
        mut order: TaskOrder,
        mut queued: QueuedTask,
        received: Instant,
    ) -> ToDriver {
        // The versions first: the task reads them. One the worker refuses makes the task
        // fail with a missing version, which the driver hears of. Kept or not, a version's
        // bytes are no longer the task's.
        for shipped in std::mem::take(&mut order.versions) {
            let bytes = body_bytes(&shipped.body);
            self.hold(shipped, bytes);
            queued.shrink(bytes);
        }
        // The task-level straggler model sleeps before the task, the worker-level one after
        // it; the result reports both.
        let before = ordered_sleep(order.sleep_s, &self.name);
        std::thread::sleep(before);
        let (mut message, delay) = self.execute(order, before);
        // The simulated straggler sleeps here, not in the event loop: its heartbeats go on.
        std::thread::sleep(delay);
        drop(queued);
        if let ToDriver::Result { held_s, .. } = &mut message {
            // Measured last: the result goes out as soon as the event loop takes it.
            *held_s = received.elapsed().as_secs_f64();
        }
        message
    }

    fn reject(&self, reason: &str) {
        tracing::warn!(worker = %self.name, reason, "refused what the driver sent");
    }

    /// Keeps a broadcast version a task order carried, unless it is one variable too many;
    /// `counted`: its bytes, counted as its task's.
    fn hold(&mut self, shipped: ShippedVersion, counted: u64) {
        let ShippedVersion {
            slot,
            version,
            body,
        } = shipped;
        let (held, slots) = self.cache.slots(slot);
        if !held && slots >= MAX_SLOTS {
            self.reject(&format!("more than {MAX_SLOTS} broadcast variables"));
        } else if let Err(e) = self.cache.receive(slot, version, body, counted) {
            self.reject(&e.to_string());
        }
    }

    /// Keeps `partition`, counting its bytes (it is in memory already, so it is not refused
    /// for them), and says so to the driver; or, one too many, says why not. One it replaces
    /// is released.
    fn own(&mut self, partition: Partition) -> ToDriver {
        let id = partition.id();
        if self.partitions.len() >= MAX_PARTITIONS && !self.partitions.contains_key(&id) {
            let message = format!("this worker holds {MAX_PARTITIONS} partitions already");
            self.reject(&message);
            return ToDriver::DataFailed {
                partition: id,
                message,
            };
        }
        let held = self.memory.hold(Kind::Partitions, partition.heap_bytes());
        self.partitions.insert(id, (partition, held));
        ToDriver::DataReady { partition: id }
    }

    /// Runs a task now and returns its result, with the straggler delay due after it;
    /// `slept` is the delay already slept before it.
    fn execute(&mut self, order: TaskOrder, slept: Duration) -> (ToDriver, Duration) {
        let begun = Instant::now();
        let cpu_begun = cpu_time::ThreadTime::try_now().ok();
        let outcome = self.run_task(&order);
        let compute = begun.elapsed();
        // Without a thread CPU clock, the wall time is the best bound on what the task used.
        let cpu = cpu_begun
            .and_then(|t| t.try_elapsed().ok())
            .unwrap_or(compute);
        let delay = self.delay.after(compute);
        let message = match outcome {
            Ok(body) => ToDriver::Result {
                seq: order.seq,
                compute_s: compute.as_secs_f64(),
                cpu_s: cpu.as_secs_f64(),
                delay_s: (slept + delay).as_secs_f64(),
                held_s: 0.0, // set once the delay after it is slept
                body,
            },
            Err(error) => {
                if self.failed.again() {
                    let failed = self.failed.count();
                    let task = peer_text(&order.task);
                    tracing::warn!(worker = %self.name, %task, failed, "a task failed: {error}");
                }
                ToDriver::Failed {
                    seq: order.seq,
                    message: error.to_string(),
                }
            }
        };
        (message, delay)
    }

    fn run_task(&self, order: &TaskOrder) -> Result<ResultBody, TaskError> {
        let run =
            task::find(&order.task).ok_or_else(|| TaskError::Unknown(peer_text(&order.task)))?;
        let (partition, _) = self
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
        let bytes = crate::panics::catch(|| run(&context))
            .unwrap_or_else(|panic| Err(TaskError::Panicked(panic)))?;
        if bytes.len() > self.result_limit {
            return Err(TaskError::ResultTooLarge {
                bytes: bytes.len(),
                limit: self.result_limit,
            });
        }
        // Its frame holds more than the body: a body that fit the limit alone made a frame
        // past it, which the driver's transport answers by closing the connection, so the
        // worker was lost, wherever the task ran, rather than the task failed.
        let body = ResultBody::from(bytes);
        let room = self.result_limit.saturating_sub(RESULT_FRAME_OVERHEAD);
        if body.wire_len() > room {
            return Err(TaskError::ResultTooLarge {
                bytes: body.wire_len(),
                limit: room,
            });
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::TaskOrder;
    use crate::task::TaskEntry;

    fn answers(_: &TaskContext<'_>) -> Result<Vec<u8>, TaskError> {
        Ok(vec![7])
    }

    inventory::submit!(TaskEntry::new("executor::tests::answers", answers, 0, None));

    /// An executor holding partition 0 of four rows, and an order of the `answers` task on it
    /// that slept `sleep_s` before it.
    fn holding_a_partition(sleep_s: f64) -> (Executor, TaskOrder, Arc<MemoryAccount>) {
        let memory = super::super::memory::tests::host_with(u64::MAX);
        let mut executor = Executor::new(
            "w0".into(),
            memory.clone(),
            Vec::new(),
            super::super::readable::GrantedBy::CommandLine,
        );
        let rows = crate::data::Dataset::new(
            "d",
            crate::data::Features::Dense(ndarray::Array2::zeros((4, 2))),
            ndarray::Array1::zeros(4),
        )
        .unwrap();
        executor.own(Partition::new(0, 1, rows, (0..4).collect()).unwrap());
        let order = TaskOrder {
            seq: 1,
            versions: Vec::new(),
            task: "executor::tests::answers".into(),
            partition: 0,
            reads: Vec::new(),
            captures: Vec::new().into(),
            sample: None,
            history: Vec::new(),
            sleep_s,
        };
        (executor, order, memory)
    }

    /// A task whose result is its captures' bytes, as they came.
    fn echoes(context: &TaskContext<'_>) -> Result<Vec<u8>, TaskError> {
        Ok(context.captures.to_vec())
    }

    inventory::submit!(TaskEntry::new("executor::tests::echoes", echoes, 0, None));

    #[test]
    fn a_result_that_fits_the_frame_limit_alone_but_not_in_its_frame_fails_its_task() {
        // The driver's transport cuts the connection of a peer whose frame is past its limit:
        // a result of up to the limit passed here, its frame (header, times, tag) went past
        // it, and the worker was lost instead of its task failing, on every worker it ran on.
        use crate::transport::frame;
        use crate::transport::session::{Direction, Sealer};
        let limit = 64 << 10;
        for len in (limit - 256)..=limit {
            let (executor, mut order, memory) = holding_a_partition(0.0);
            let mut executor = executor.with_result_limit(limit);
            order.task = "executor::tests::echoes".into();
            // Nonzero bytes, so that the result travels whole.
            order.captures = vec![7u8; len].into();
            let queued = super::super::queued::take(&order, &memory).unwrap();
            let answer = executor.work(Work::Task(order, queued, Instant::now()));
            match answer {
                Some(message @ ToDriver::Result { .. }) => {
                    let mut sealer = Sealer::new(&[3; 32], Direction::ToDriver, false);
                    let sealed = sealer.seal(frame::encode(u64::MAX, &message));
                    assert!(
                        sealed.len() <= limit,
                        "a result of {len} bytes travels in a frame of {}, past {limit}",
                        sealed.len()
                    );
                }
                Some(ToDriver::Failed { message, .. }) => {
                    assert!(len > limit - 200, "a result of {len} bytes fits: {message}");
                    assert!(message.contains("past the frame limit"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_result_past_the_frame_limit_fails_its_task_saying_so() {
        let (executor, order, memory) = holding_a_partition(0.0);
        let mut executor = executor.with_result_limit(0);
        let queued = super::super::queued::take(&order, &memory).unwrap();
        let answer = executor.work(Work::Task(order, queued, Instant::now()));
        let Some(ToDriver::Failed { message, .. }) = answer else {
            panic!("{answer:?}")
        };
        assert!(
            message.contains("its result is 1 bytes, past the frame limit of 0"),
            "{message}"
        );
    }

    #[test]
    fn a_result_reports_the_time_held_since_its_order_came_queueing_included() {
        let (mut executor, order, memory) = holding_a_partition(0.05);
        let queued = super::super::queued::take(&order, &memory).unwrap();
        // Received 300 ms ago: it waited in the queue behind another task (prefetch), which
        // is this worker's time, not the network's.
        let received = Instant::now() - Duration::from_millis(300);
        let answer = executor.work(Work::Task(order, queued, received));
        let Some(ToDriver::Result {
            held_s,
            compute_s,
            delay_s,
            ..
        }) = answer
        else {
            panic!("{answer:?}")
        };
        assert!(
            held_s >= 0.3 + delay_s,
            "held {held_s} s, slept {delay_s} s"
        );
        assert!(held_s >= compute_s + delay_s && delay_s >= 0.05);
    }
}
