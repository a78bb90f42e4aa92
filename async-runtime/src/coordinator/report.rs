//! The books of a run: counters kept as the run goes, and the report handed out at its end.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::table::{ForgottenWorkers, WorkerInfo};

/// Counters of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunStats {
    /// Updates applied (results handed to the algorithm).
    pub updates: u64,
    /// Tasks dispatched.
    pub tasks_sent: u64,
    /// Of those, tasks sent to a worker still computing an earlier one (prefetch).
    #[serde(default)]
    pub prefetched: u64,
    /// Results that arrived.
    pub results_received: u64,
    /// Results dropped because they were staler than the reduce's bound.
    pub dropped_stale: u64,
    /// Results handed to the algorithm (one per asynchronous update, every result of a
    /// drain, every partition's of a synchronous reduce).
    pub results_used: u64,
    /// Results of another asynchronous site put aside until that site runs again, dropped
    /// when more than [`MAX_PARKED_PER_SITE`](crate::coordinator::MAX_PARKED_PER_SITE) wait.
    pub dropped_orphan: u64,
    /// Results of an asynchronous site dropped while its results' shape was not settled yet
    /// (its first results, until more than half of the workers that can answer it agree on
    /// it, and at least two).
    pub dropped_unconfirmed: u64,
    /// Late results of tasks done again elsewhere because they hung (the first result won).
    pub dropped_superseded: u64,
    /// Times an asynchronous reduce dispatched although its barrier's rule said no, because
    /// nothing was in flight and no result waited: no result could ever change the table
    /// (a rule no live worker can satisfy, e.g. a quorum above the workers left). Logged.
    pub barrier_overrides: u64,
    /// New versions `broadcast!` published (a value equal to the latest is not one).
    pub versions_published: u64,
    /// Bytes of broadcast versions sent.
    pub broadcast_bytes: u64,
    /// Broadcast versions sent to workers.
    pub versions_sent: u64,
    /// Of those, sent as a patch against a version the worker held.
    pub versions_patched: u64,
    /// Of those, sent as a reference to an identical version the worker held.
    pub versions_aliased: u64,
    /// Bytes the versions sent would have cost whole (values only).
    pub broadcast_full_bytes: u64,
    /// Dispatches where the worker already held the version, so nothing was sent.
    pub versions_reused: u64,
    /// Bytes of history entries sent with tasks.
    pub history_bytes: u64,
    /// Bytes of task orders (ids, captures, version ids) sent, history entries left out.
    pub task_bytes: u64,
    /// Bytes of dataset partitions sent.
    pub data_bytes: u64,
    /// Bytes of every message the driver sent to workers, as encoded: the socket's
    /// heartbeats, MACs and transport framing are left out, and a message the link dropped
    /// because its session had ended meanwhile is in (and in `ended_session_frames`).
    pub bytes_sent: u64,
    /// Bytes of everything received from workers.
    pub bytes_received: u64,
    /// Messages that failed their checks and were dropped.
    pub rejected_messages: u64,
    /// Joins that failed at admission: hellos refused, and peers that left their handshake
    /// after the driver's challenge without proving the token (a worker holding another token
    /// leaves there).
    pub refused_workers: u64,
    /// Workers lost during the run.
    pub lost_workers: u64,
    /// Partitions moved from lost workers to live ones.
    pub moved_partitions: u64,
    /// Workers admitted after the run started.
    pub late_joiners: u64,
    /// Joins refused because the run's budget of joins was spent (told to try again later).
    #[serde(default)]
    pub joins_refused: u64,
    /// Local worker processes started in place of ones that exited during the run.
    pub respawned_workers: u64,
    /// Times an idle worker got no task because each of its partitions had one in flight, on
    /// a site that updates history tables (one task per partition keeps them exact).
    pub exclusive_waits: u64,
    /// Frames of peers without a session dropped: sealed ones, and plain ones other than the
    /// handshake's (a stranger's; a frame under an open session's identity is
    /// `unsealed_session_frames`).
    pub unauthenticated_frames: u64,
    /// Frames to or from sessions that had ended: orders meant for a worker's earlier session
    /// (queued before the driver heard it close or be replaced), and what a peer the driver
    /// let go (or turned back at its join) sent before its session ended at the link.
    #[serde(default)]
    pub ended_session_frames: u64,
    /// Floods of a peer's frames, each dropped (past its first 4096 events waiting for the
    /// driver, say while the driver was busy) and counted once.
    #[serde(default)]
    pub floods: u64,
    /// Sealed frames whose MAC did not verify.
    pub bad_mac_frames: u64,
    /// Sealed frames replayed or out of order.
    pub replayed_frames: u64,
    /// Handshake frames over the pre-admission size limit, from peers without a session (one
    /// on a session's connection is `unsealed_session_frames`).
    pub oversized_handshakes: u64,
    /// Handshakes not finished in time.
    pub handshake_timeouts: u64,
    /// Handshakes closed to make room for newer ones while the cap on unadmitted peers was
    /// reached (the oldest goes; one under an admitted worker's identity ends, its connection
    /// staying the session's), and new handshakes under an admitted worker's identity dropped
    /// while the cap is reached.
    pub strangers_turned_away: u64,
    /// Connections without a session closed for sending more than a handshake: a second
    /// hello, anything after their refusal, or more frames than a handshake takes. (A second
    /// hello on a session's connection closes nothing: `unsealed_session_frames`.)
    pub strangers_cut_off: u64,
    /// Results dropped by the driver's checks (task not in flight on that worker, wrong
    /// shape, non-finite numbers, undecodable).
    pub bad_results: u64,
    /// Tasks that workers reported failed.
    pub failed_tasks: u64,
    /// Tasks sent again after a failure or a bad result.
    pub retried_tasks: u64,
    /// Tasks of synchronous reduces done again elsewhere because they hung.
    pub hung_tasks: u64,
    /// Workers excluded for failing tasks, sending bad results, hanging, or not loading
    /// their data (those are [`RunReport::unreadable_data_exclusions`]).
    pub excluded_workers: u64,
    /// Checkpoints written (by this driver and the ones it resumed from).
    pub checkpoints_written: u64,
    /// Seconds the training thread spent on checkpoints (gathering their parts; encoding and
    /// writing run on their own thread).
    pub checkpoint_training_s: f64,
    /// Seconds the training loop spent inside runtime calls (`broadcast!`, `reduce!`),
    /// shipping data and observers left out.
    pub runtime_s: f64,
    /// Of those, seconds spent blocked waiting for workers.
    pub blocked_s: f64,
    /// Connections closed before they finished ZeroMQ's own handshake, so before any of the
    /// run's: bytes that are no ZeroMQ greeting, silence until the admission deadline, or
    /// closed while still in it to make room for newer connections. A port scan, a probe or
    /// a client of another protocol; no worker ever ends so. After the fields of format 3, so
    /// that a checkpoint of that format is today's without it (see `checkpoint::formats_three_four`).
    #[serde(default)]
    pub zeromq_handshakes_failed: u64,
    /// Frames under an open session's identity dropped as no sealed message of it: frames
    /// that do not open (another protocol version, say), plain messages other than a new
    /// handshake's (a hello again while that handshake is open, which ends it), plain frames
    /// over the handshake's 4 KiB, handshake messages sealed inside it. A worker's bug, or
    /// anyone on the path between it and the driver; the session goes on. Last, so that a
    /// checkpoint of format 4 is today's without it (see `checkpoint::formats_three_four`).
    #[serde(default)]
    pub unsealed_session_frames: u64,
}

/// What a run did, for the summary file.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Seconds of training, without evaluation pauses.
    pub elapsed_s: f64,
    /// The counters.
    #[serde(flatten)]
    pub stats: RunStats,
    /// Each worker's row of the table at the end: the live ones and the latest departed. A
    /// worker that joined again under its name has a row per join, told apart by their
    /// [`incarnation`](WorkerInfo::incarnation): its earlier ones departed, up to 3 listed.
    pub workers: Vec<WorkerInfo>,
    /// Departed rows that made room for newer ones (workers, earlier incarnations), counted.
    pub forgotten_workers: ForgottenWorkers,
    /// The updates of the checkpoint a resume would go on from (the last one written, or the
    /// one the run resumed from); `None` without one.
    pub checkpoint_updates: Option<u64>,
    /// Checkpoints that could not be written (the run went on without them); like
    /// [`RunStats`], a resumed run goes on from its checkpoint's count.
    pub checkpoints_failed: u64,
    /// Why the last of those could not be written.
    pub checkpoint_error: Option<String>,
    /// The values the optimizer recorded with [`Driver::note`](crate::Driver::note).
    pub notes: BTreeMap<String, f64>,
    /// The times the driver itself did not run (stopped, suspended, starved), found by its
    /// liveness checks running late. Not in a checkpoint: a resumed run counts its own.
    pub driver_pauses: DriverPauses,
}

/// The driver's own pauses: liveness checks found at least a second late (and more than
/// three heartbeats), each a stretch in which the driver read nothing, sent nothing and
/// judged no worker. The run went on after each; this is what they cost it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DriverPauses {
    /// How many.
    pub count: u64,
    /// Their seconds in all, each from the check before it to the one that found it.
    pub total_s: f64,
    /// The longest one's seconds.
    pub longest_s: f64,
}

impl DriverPauses {
    /// Counts a pause of `seconds`.
    pub(crate) fn record(&mut self, seconds: f64) {
        self.count += 1;
        self.total_s += seconds;
        self.longest_s = self.longest_s.max(seconds);
    }
}

impl RunStats {
    /// Seconds the driver itself worked per task sent: runtime time not spent waiting for
    /// workers (encoding, dispatch, bookkeeping, decoding).
    pub fn driver_overhead_per_task_s(&self) -> f64 {
        (self.runtime_s - self.blocked_s).max(0.0) / self.tasks_sent.max(1) as f64
    }
}

impl RunReport {
    /// Seconds each row of the table spent idle waiting for work, in table order (a worker
    /// that joined again under its name has a row per join; the forgotten rows' are summed in
    /// [`RunReport::forgotten_workers`]).
    pub fn wait_s_per_worker(&self) -> Vec<f64> {
        self.workers.iter().map(|w| w.wait_s).collect()
    }

    /// Each row's mean seconds per task on the network ([`WorkerInfo::mean_network_s`]), in
    /// table order: twice the one-way latency behind a slow link, about 0 on the loopback.
    pub fn network_s_per_worker(&self) -> Vec<f64> {
        self.workers.iter().map(|w| w.mean_network_s).collect()
    }

    /// Workers excluded because they could not load the data file they were told to read
    /// ([`WorkerInfo::unreadable_data`]), listed or forgotten: of
    /// [`RunStats::excluded_workers`], those the file, or their host's copy of it, is to
    /// blame for rather than their computing.
    pub fn unreadable_data_exclusions(&self) -> u64 {
        let listed = self.workers.iter().filter(|w| w.unreadable_data).count() as u64;
        listed + self.forgotten_workers.unreadable_data
    }

    /// Workers that completed at least one task, listed or forgotten: a worker that joined
    /// again, under its name or a fresh one ([`WorkerInfo::worker`]), is one worker, whichever
    /// of its joins trained.
    pub fn workers_trained(&self) -> u64 {
        let listed: HashSet<&str> = self
            .workers
            .iter()
            .filter(|w| w.tasks_done > 0)
            .map(WorkerInfo::worker)
            .collect();
        listed.len() as u64 + self.forgotten_workers.trained
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_that_joined_again_under_its_name_trained_as_one() {
        let row = |name: &str, incarnation: u32, tasks_done: u64| {
            let mut row = WorkerInfo::new(name.into(), 1, 0.0);
            (row.incarnation, row.tasks_done) = (incarnation, tasks_done);
            row
        };
        let report = RunReport {
            elapsed_s: 1.0,
            stats: RunStats::default(),
            workers: vec![
                row("w0", 0, 5),
                row("w1", 0, 3),
                row("w2", 0, 0),
                row("w1", 1, 4),
                row("w1.r0000abcd", 0, 2),
            ],
            forgotten_workers: ForgottenWorkers {
                trained: 2,
                ..ForgottenWorkers::default()
            },
            checkpoint_updates: None,
            checkpoints_failed: 0,
            checkpoint_error: None,
            notes: Default::default(),
            driver_pauses: DriverPauses::default(),
        };
        // w1.r0000abcd is w1 back under a fresh name.
        assert_eq!(report.workers_trained(), 2 + 2);
    }
}
