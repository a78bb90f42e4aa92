//! The messages driver and workers exchange. Every message travels inside a
//! [`frame`](crate::transport::frame) that carries the magic, the protocol version and the run id.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

pub use crate::broadcaster::delta::VersionBody;
pub use crate::data::SplitOrder;
pub use crate::peer_text::peer_text;
pub use crate::result_body::{NonzeroWords, ResultBody};

/// Bumped whenever a message changes shape; a peer speaking another version is refused.
pub const PROTOCOL_VERSION: u16 = 14;

/// What the driver sends to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// The worker was admitted: its settings for this run.
    Welcome(Welcome),
    /// The driver's half of the mutual handshake: its nonce and its proof that it holds the
    /// token; the worker answers with its own proof (see [`crate::auth`]).
    Challenge {
        /// Fresh random bytes.
        nonce: ByteBuf,
        /// HMAC-SHA256 of the token over the handshake's transcript.
        proof: ByteBuf,
        /// Whether the session's frames are encrypted.
        encrypt: bool,
    },
    /// The driver declared this worker lost (it fell silent, say while stopped): its tasks and
    /// partitions went to others. It should join again as a fresh worker.
    Lost {
        /// Why it was declared lost.
        reason: String,
    },
    /// The worker was not admitted; it should exit and report the reason. Inside the
    /// session: it is let go (excluded).
    Refused {
        /// Why, in words a person can act on.
        reason: String,
        /// Before the session, on a refusal the driver means as final (another build): its
        /// MAC under the token over the hello it answers and the reason
        /// ([`Token::refusal_mac`](crate::Token::refusal_mac)), so that a worker holding the
        /// token stops at once rather than try again. `None` on refusals a retry may change
        /// (a name in use) and on those inside a session, which are sealed.
        mac: Option<ByteBuf>,
    },
    /// One piece of a partition of a dataset, postcard-encoded, that the worker now owns. A
    /// partition larger than a frame travels in several chunks, in order.
    Partition {
        /// Identifies the dataset the partition belongs to.
        dataset: u64,
        /// The partition's id.
        partition: u32,
        /// This chunk's index, from 0.
        chunk: u32,
        /// The partition's number of chunks.
        chunks: u32,
        /// A piece of the encoded [`Partition`](crate::data::Partition).
        body: ByteBuf,
    },
    /// Read a partition of a file this worker can see, and own it.
    ReadSplit {
        /// Identifies the dataset the partition belongs to.
        dataset: u64,
        /// Where the partition's rows are.
        order: SplitOrder,
    },
    /// Run a registered task on one partition (after storing the versions it carries).
    Task(TaskOrder),
    /// The driver is alive. Sealed in the heartbeat space, and only there
    /// ([`Space::Beat`](crate::transport::session::Space::Beat)).
    Heartbeat,
    /// The run is over: exit cleanly, or, with `another_run`, serve the next run's driver at
    /// the same address if the worker expects one (`worker --runs K`, for `compare`).
    Shutdown {
        /// Whether the driver's program goes on with another run at the same address.
        another_run: bool,
    },
    /// Not admitted now, inside the session the worker just opened: the driver's budget of
    /// joins is spent (a peer holding the token joined too often). Not final: a worker started
    /// with `--reconnect` tries again after `after_ms`, under its own name.
    TryLater {
        /// Why, in words a person can act on.
        reason: String,
        /// Milliseconds until the driver admits a join again.
        after_ms: u64,
    },
    /// The driver gave up before its run started (too few workers joined within its join
    /// timeout, a stop while it waited): no run follows, and the worker exits as at a run's
    /// end, even one started with `--reconnect`.
    NotStarting {
        /// Why, in words a person can act on.
        reason: String,
    },
    /// The partition is no longer this worker's (it went to a worker that joined, or another
    /// dataset is shipped): free it, once the tasks sent before this are done. Tasks on it
    /// come no more; one that does fails, as on any partition the worker does not hold.
    Release {
        /// The partition's id.
        partition: u32,
    },
}

/// A worker's settings for the run, sent once it is admitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    /// The worker's index in the worker table.
    pub index: u32,
    /// Simulated straggling: after its warm-up the worker sleeps `delay_factor` times its mean
    /// task time after each task (0 = no delay).
    pub delay_factor: f64,
    /// How many recent versions of each broadcast variable the worker keeps.
    pub cache_versions: u32,
    /// The driver's heartbeat period, in milliseconds: the worker beats as often, so that the
    /// driver's liveness timeout (at least two periods) always spans two of its heartbeats.
    pub heartbeat_ms: u64,
}

/// The most entries a task order's lists hold (its versions, reads and history tables): each
/// is one the closure's source names, so a few dozen at most, and a longer list does not
/// decode (see `bounded`).
pub const MAX_TASK_LIST: usize = 4096;

/// One task: a registered closure, the partition it runs on and what it reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskOrder {
    /// Sequence number, echoed in the result.
    pub seq: u64,
    /// The versions of broadcast variables the task reads that the worker does not hold yet,
    /// stored before the task runs. They travel in the task's own frame: a frame costs the
    /// sockets, the kernel and both threads of each side a wake-up, so one per task.
    #[serde(deserialize_with = "crate::bounded::at_most::<_, _, MAX_TASK_LIST>")]
    pub versions: Vec<ShippedVersion>,
    /// The stable id of the registered task (module path, function, site).
    pub task: String,
    /// The partition the task runs on.
    pub partition: u32,
    /// The broadcast versions the task reads, in the order the task declares them.
    #[serde(deserialize_with = "crate::bounded::at_most::<_, _, MAX_TASK_LIST>")]
    pub reads: Vec<(u16, u64)>,
    /// The values the closure captured, postcard-encoded.
    pub captures: ByteBuf,
    /// For a sampled reduce: the minibatch the task draws from its partition.
    pub sample: Option<Sample>,
    /// The history entries of the task's rows, one postcard-encoded slice per table.
    #[serde(deserialize_with = "crate::bounded::at_most::<_, _, MAX_TASK_LIST>")]
    pub history: Vec<ByteBuf>,
    /// Seconds of simulated straggling the worker sleeps before running the task (0: none),
    /// as [`Stragglers::SlowPartitions`](crate::Stragglers::SlowPartitions) orders. The
    /// worker sleeps at most [`MAX_ORDERED_SLEEP`](crate::worker::MAX_ORDERED_SLEEP) and
    /// nothing for a negative or non-finite value.
    pub sleep_s: f64,
}

/// A version of a broadcast variable, sent to a worker that does not hold it yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShippedVersion {
    /// Which broadcast variable.
    pub slot: u16,
    /// Its version id.
    pub version: u64,
    /// The value, whole or relative to what the worker holds.
    pub body: VersionBody,
}

/// A minibatch draw: `batch` rows (0: all) for update `k`, reproducible from the partition's
/// seed on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Rows drawn.
    pub batch: u32,
    /// The update counter that seeds the draw.
    pub k: u64,
}

/// What a worker sends to the driver.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToDriver {
    /// First message of a worker: who it is and which build it runs.
    Hello(Hello),
    /// The answer to a challenge: HMAC-SHA256 of the token over the handshake's transcript.
    Proof {
        /// The MAC.
        mac: ByteBuf,
    },
    /// A finished task.
    Result {
        /// The task's sequence number.
        seq: u64,
        /// Seconds the task computed (wall clock).
        compute_s: f64,
        /// CPU seconds its thread used for the computation: below `compute_s` when the worker
        /// shares its core with other work.
        cpu_s: f64,
        /// Seconds of simulated straggler delay the worker slept for it, before (ordered by
        /// the driver) and after it (its own factor).
        delay_s: f64,
        /// Seconds the worker held the task, from the receipt of its order to the sending of
        /// this result: waiting in its queue behind another task (prefetch), straggler
        /// sleeps and computation. The driver takes it from the round trip to learn the time
        /// on the wire, bounded by that round trip.
        held_s: f64,
        /// The postcard-encoded result, whole or as its nonzero words.
        body: ResultBody,
    },
    /// A task that could not run.
    Failed {
        /// The task's sequence number.
        seq: u64,
        /// What went wrong.
        message: String,
    },
    /// The worker is alive. Sealed in the heartbeat space, and only there
    /// ([`Space::Beat`](crate::transport::session::Space::Beat)).
    Heartbeat,
    /// The worker holds a partition it was sent or read from its file.
    DataReady {
        /// The partition.
        partition: u32,
    },
    /// The worker could not read or decode a partition it was given (a missing file, a
    /// malformed line): the run cannot go on with it.
    DataFailed {
        /// The partition.
        partition: u32,
        /// What went wrong, naming file and line where it can.
        message: String,
    },
}

impl crate::transport::session::Heartbeats for ToWorker {
    fn is_heartbeat(&self) -> bool {
        matches!(self, ToWorker::Heartbeat)
    }
}

impl crate::transport::session::Heartbeats for ToDriver {
    fn is_heartbeat(&self) -> bool {
        matches!(self, ToDriver::Heartbeat)
    }
}

/// The longest name a worker may take; its rejoins add `.r` and 8 random hex digits, a
/// replacement process `.respawnN`, within [`MAX_ADMITTED_NAME`].
pub const MAX_WORKER_NAME: usize = 64;

/// How the driver's refusal of a name already in use begins: a worker so refused joins under
/// a fresh one.
pub const NAME_TAKEN: &str = "another connection uses the name";

/// How the driver's answer to a hello that waited for its name begins when the connection
/// holding that name closed meanwhile: a worker so answered joins again under the same name.
pub const NAME_FREED: &str = "the name is free again";

/// The longest name the driver admits.
pub const MAX_ADMITTED_NAME: usize = MAX_WORKER_NAME + 16;

/// The name a worker joins under again when the driver holds its own (it declared the worker
/// lost, or an earlier connection under the name lingers): the name and a random suffix,
/// `w1.r0a1b2c3d`.
pub fn fresh_name(name: &str) -> String {
    format!("{name}{FRESH_MARK}{:08x}", rand::random::<u32>())
}

/// What comes between a worker's name and the random part of a [`fresh_name`].
const FRESH_MARK: &str = ".r";

/// The name a worker chose, without the suffix a [`fresh_name`] added: `w1` for
/// `w1.r0a1b2c3d`. Only for telling workers apart in counts and failure accounting, as a
/// worker's own name is: what a peer calls itself is never a credential.
pub fn original_name(name: &str) -> &str {
    let suffix = FRESH_MARK.len() + 8;
    let Some(cut) = name.len().checked_sub(suffix) else {
        return name;
    };
    match name.split_at_checked(cut) {
        Some((original, tail))
            if !original.is_empty()
                && tail.starts_with(FRESH_MARK)
                && tail[FRESH_MARK.len()..]
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) =>
        {
            original
        }
        _ => name,
    }
}

/// Why `name` cannot name a worker, if it cannot: a name is a routing identity and appears in
/// logs and errors, so it is 1 to `max` letters, digits and `. _ - : @ +`, and does not start
/// with `0x`, which stands for identities of connections that gave none.
pub fn name_problem(name: &str, max: usize) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_:@+".contains(c);
    if name.is_empty() {
        Some("its name is empty".into())
    } else if name.len() > max {
        Some(format!("its name is longer than {max} bytes"))
    } else if !name.chars().all(allowed) {
        let shown: String = name.chars().take(40).collect();
        Some(format!(
            "its name {shown:?} holds characters other than letters, digits and . _ - : @ +"
        ))
    } else if name.starts_with("0x") {
        Some(format!(
            "its name {name} starts with 0x, which stands for connections that gave no name"
        ))
    } else {
        None
    }
}

/// A worker's introduction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    /// The worker's stable name, also its ZeroMQ routing identity.
    pub name: String,
    /// Fingerprint of the tasks the worker's build registered: a worker built from other code
    /// is refused.
    pub fingerprint: u64,
    /// The worker's process id, for the run report.
    pub pid: u32,
    /// Fresh random bytes, the worker's half of the handshake.
    pub nonce: ByteBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_name_leads_back_to_the_name_it_was_made_from() {
        for name in ["w1", "gpu-3.east", "w1.r0a1b2c3d"] {
            let fresh = fresh_name(name);
            assert_eq!(original_name(&fresh), name, "{fresh}");
            assert!(name_problem(&fresh, MAX_ADMITTED_NAME).is_none());
        }
        for name in [
            "w1",
            ".r0a1b2c3d",
            "w1.r0A1B2C3D",
            "w1.r0a1b2c3",
            "w1.x0a1b2c3d",
            "ü.r0a1b2c",
        ] {
            assert_eq!(original_name(name), name);
        }
    }
}
