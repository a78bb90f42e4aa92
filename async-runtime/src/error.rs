//! The runtime's errors.

use crate::transport::frame::FrameError;

/// Makes an error's `Debug` its message. A `main` that returns `Result<_, Box<dyn Error>>`
/// (the README's programs) prints the `Debug` of its error; a derived one hides the message
/// in a variant's fields (`Error: Config("...")`), with its quotes escaped.
macro_rules! debug_is_display {
    ($($error:ty),+) => {$(
        impl std::fmt::Debug for $error {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(self, f)
            }
        }
    )+};
}
pub(crate) use debug_is_display;

debug_is_display!(RuntimeError);

/// What can go wrong in a run.
#[derive(thiserror::Error)]
pub enum RuntimeError {
    /// The driver could not listen on its address.
    #[error("cannot listen on {address}: {reason}")]
    Bind {
        /// The address asked for.
        address: String,
        /// What the socket layer said.
        reason: String,
    },
    /// A worker process could not be started.
    #[error("cannot start worker process {exe}: {reason}")]
    Spawn {
        /// The executable.
        exe: String,
        /// What the OS said.
        reason: String,
    },
    /// Fewer workers than expected joined in time.
    // Tenths: a `--join-timeout` below a second is not reported as "within 1 s".
    #[error(
        "only {joined} of {expected} workers joined within {waited_s:.1} s{}; {hint}",
        refusals_said(*.refused, .last_refusal.as_deref())
    )]
    WorkersMissing {
        /// Workers admitted.
        joined: usize,
        /// Workers expected.
        expected: usize,
        /// Seconds waited.
        waited_s: f64,
        /// Workers refused meanwhile (another build, another token, a name taken).
        refused: u64,
        /// Why the last of them was.
        last_refusal: Option<String>,
        /// What to check.
        hint: String,
    },
    /// A stop was asked for (a Ctrl-C) while the driver waited for its workers.
    #[error("stopped while waiting for the workers ({joined} of {expected} joined)")]
    StoppedWaiting {
        /// Workers admitted.
        joined: usize,
        /// Workers expected.
        expected: usize,
    },
    /// A `reduce!` waited for results when the run was stopped (a stop asked for, its time
    /// limit passed), and none came to end it at its next update (a task that hangs): the
    /// training loop ends there, its model so far kept, as a stop ends it. Not a failure: the
    /// loop ends and [`Driver::finish`](crate::Driver::finish) reports the run.
    #[error("stopped while waiting for results: {0}")]
    Stopped(String),
    /// No live worker is left to run tasks.
    #[error(
        "no live worker is left ({lost} lost{}{}){}",
        .last_excluded.as_ref().map(|why| format!(", the last one excluded: {why}")).unwrap_or_default(),
        .none_came.as_ref().map(|why| format!("; {why}")).unwrap_or_default(),
        .failed_everywhere.as_ref().map(|task| format!(
            ": each was excluded for failing task `{task}` or sending results of it that fail \
             their checks, as it does wherever it runs (a bug in its closure?)"
        )).unwrap_or_default()
    )]
    NoWorkers {
        /// Workers lost during the run.
        lost: usize,
        /// Why the last worker excluded was (an author's task that panics on every worker
        /// excludes them all: its message is the run's cause).
        last_excluded: Option<String>,
        /// The task every lost worker was excluded for failing (two at least): the task, not
        /// the workers, is at fault.
        failed_everywhere: Option<String>,
        /// Why no worker came in their place: the replacements `--max-respawns` allows were
        /// all started, or no remote worker joined within `--join-timeout`.
        none_came: Option<String>,
    },
    /// A task failed wherever it runs: the task's fault, not the workers'. It failed 4 times at
    /// least, on most of the live workers or on every one (a partition of a synchronous
    /// reduce), or 4 times in a row on most of them (a site of an asynchronous one), a panic say; or it hung on most of them; or its results held
    /// numbers that are not finite (NaN, an infinity) on most of them. `message` says which,
    /// and on which workers.
    #[error("task {task} failed on worker {worker}: {message}")]
    TaskFailed {
        /// The task id.
        task: String,
        /// The worker.
        worker: String,
        /// What the worker reported.
        message: String,
    },
    /// The results of a synchronous `reduce!`, each of which decoded and passed its checks,
    /// were refused together by their type's `Combine::check` (arrays of different shapes).
    #[error(
        "the results of task {task} cannot be combined: {reason} (Combine::check of its \
         result type refused the partitions' results)"
    )]
    Uncombinable {
        /// The task id.
        task: String,
        /// What `Combine::check` said.
        reason: String,
    },
    /// The sockets failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The driver refused this worker (another build, a name it admits under no condition, its
    /// budget of joins spent), or a peer answering in its place said so, or this worker left a
    /// driver that does not encrypt when it requires one that does: the words say which.
    #[error("{0}")]
    Refused(String),
    /// The driver went away (silent, disconnected) without ending the run.
    #[error("the driver is unreachable or gone: {0}")]
    DriverLost(String),
    /// A worker ended its session with the driver for a fault of its own, not the driver's: a
    /// message it could not seal (a bug; the words say which, with the panic). With
    /// `--reconnect` it joins again, as after a lost driver.
    #[error("{0}")]
    SessionFailed(String),
    /// A frame failed its checks.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A dataset could not be partitioned or loaded.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A worker could not read or decode its partition.
    #[error("worker {worker} cannot load partition {partition}: {message}")]
    WorkerData {
        /// The worker.
        worker: String,
        /// The partition.
        partition: u32,
        /// What it reported (file and line where it can).
        message: String,
    },
    /// A checkpoint could not be written or resumed.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// The optimizer ended the run (see [`Driver::abort`](crate::Driver::abort)).
    #[error("the optimizer stopped the run: {0}")]
    Aborted(String),
    /// A setting is impossible.
    #[error("invalid setting: {0}")]
    Config(String),
    /// A process the driver spawned as a worker launched a driver of its own: its `main` does
    /// not call [`run_worker_if_spawned`](crate::run_worker_if_spawned) first.
    #[error(
        "this process was started as worker {worker} (it has {env} set) and is launching a \
         driver: call `run_worker_if_spawned()` first thing in `main`, before anything that \
         launches a `Driver`, so that spawned processes become workers instead of starting \
         clusters of their own",
        env = crate::cluster::WORKER_ENV
    )]
    LaunchedInWorker {
        /// The worker's name.
        worker: String,
    },
    /// A `reduce!` reads a broadcast version the driver cannot provide: never published, or
    /// no longer kept.
    #[error("reduce! {task} reads `{name}` at version {version}, which {why}")]
    VersionUnavailable {
        /// The task id.
        task: String,
        /// The broadcast variable.
        name: String,
        /// The version asked for.
        version: u64,
        /// Why it cannot be read.
        why: String,
    },
    /// A barrier's selection lets no idle worker work while nothing is in flight: no result
    /// can ever change the worker table, so the run would wait forever.
    #[error(
        "the barrier of reduce! {task} deadlocks: its selection picks none of the idle workers \
         ({idle}) and no task is in flight, so no result can ever change the worker table; \
         let the selection pick at least one live worker"
    )]
    BarrierDeadlock {
        /// The task id.
        task: String,
        /// The idle workers, by name.
        idle: String,
    },
}

/// What a task reports when it cannot run; sent back to the driver as text.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The worker has no task of that id (it runs other code).
    #[error("no task registered as `{0}` in this worker's build")]
    Unknown(String),
    /// The worker does not own the partition.
    #[error("partition {0} is not held by this worker")]
    NoPartition(u32),
    /// The worker lacks a broadcast version the task reads.
    #[error("broadcast slot {slot} version {version} is not in this worker's cache")]
    MissingVersion {
        /// The slot.
        slot: u16,
        /// The version.
        version: u64,
    },
    /// The captured values or a broadcast value did not decode as the task's types.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The task's result is larger than a frame may carry to the driver.
    #[error(
        "its result is {bytes} bytes, past the frame limit of {limit}: it cannot reach the driver"
    )]
    ResultTooLarge {
        /// The result's bytes (on the wire, when its frame is what is too large).
        bytes: usize,
        /// The frame limit (less the rest of its frame, when its frame is what is too large).
        limit: usize,
    },
    /// The task's code panicked; the worker survives it.
    #[error("task panicked: {0}")]
    Panicked(String),
    /// The worker has this many tasks queued and not done already: a driver, even one
    /// holding the token, decides how many it sends.
    #[error("more than {0} tasks queued")]
    TooManyTasks(usize),
    /// Keeping what the driver sent would take the worker past its memory budget: half of
    /// what it holds (partitions, versions, queued tasks) and its host has available.
    #[error(
        "{what} of {} MiB would take this worker past its memory budget of {} MiB (half of \
         what it holds, {} MiB in all, and its host has available)",
        wanted / (1 << 20), budget / (1 << 20), held / (1 << 20)
    )]
    OverMemory {
        /// What was sent.
        what: &'static str,
        /// Its bytes.
        wanted: u64,
        /// Bytes the worker held before it, in all.
        held: u64,
        /// The budget, in bytes.
        budget: u64,
    },
}

/// What [`RuntimeError::WorkersMissing`] says of the workers `refused` while the driver
/// waited: often the reason no one joined (a worker of another build, or token).
fn refusals_said(refused: u64, last: Option<&str>) -> String {
    match (refused, last) {
        (0, _) => String::new(),
        (n, Some(reason)) => format!(", and {n} were refused (the last: {reason})"),
        (n, None) => format!(", and {n} were refused"),
    }
}

#[cfg(test)]
mod tests {
    use super::RuntimeError;
    use crate::checkpoint::CheckpointError;
    use crate::data::DataError;

    /// What `fn main() -> Result<(), Box<dyn Error>>` prints after `Error: ` is the message.
    #[test]
    fn an_error_debugs_as_its_message() {
        let errors: Vec<Box<dyn std::error::Error>> = vec![
            Box::new(RuntimeError::Config("call \"x\" first".into())),
            Box::new(DataError::Empty {
                path: "train.xz".into(),
            }),
            Box::new(CheckpointError::NotACheckpoint {
                path: "ck/checkpoint.bin".into(),
            }),
        ];
        for error in errors {
            assert_eq!(format!("{error:?}"), error.to_string());
        }
    }

    #[test]
    fn a_wait_under_a_second_is_not_rounded_up() {
        let missing = RuntimeError::WorkersMissing {
            joined: 1,
            expected: 2,
            waited_s: 0.5,
            refused: 0,
            last_refusal: None,
            hint: "check the token".into(),
        };
        assert_eq!(
            missing.to_string(),
            "only 1 of 2 workers joined within 0.5 s; check the token"
        );
    }

    #[test]
    fn workers_refused_during_the_wait_are_said_with_the_last_reason() {
        let missing = RuntimeError::WorkersMissing {
            joined: 0,
            expected: 2,
            waited_s: 5.0,
            refused: 3,
            last_refusal: Some("another build".into()),
            hint: "check their logs".into(),
        };
        assert_eq!(
            missing.to_string(),
            "only 0 of 2 workers joined within 5.0 s, and 3 were refused (the last: another \
             build); check their logs"
        );
    }
}
