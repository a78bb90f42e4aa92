//! Everything that comes in: admission of workers, results, heartbeats, losses.

use std::time::{Duration, Instant};

use super::driver::Driver;
use super::joins::{Join, TOO_MANY_JOINS};
use super::placement::{self, LoadFailure};
use super::results::Arrived;
use super::table::WorkerInfo;
use super::tasks::Failed;
use crate::error::RuntimeError;
use crate::protocol::{peer_text, Hello, ResultBody, ToDriver, ToWorker, Welcome};
use crate::seconds_text::seconds_text;
use crate::transport::frame;
use crate::transport::{address_text, source_text, Inbound, Refusal, SessionId, Source};

/// A worker that fails this many tasks in a row, or sends this many bad results, is excluded.
pub(crate) const EXCLUDE_AFTER: u32 = 3;

/// Peers that left their handshake unproven are logged this many times, then only counted.
const LOGGED_REFUSALS: u64 = 5;

/// A liveness check this many heartbeat periods late means the driver itself did not run.
const PAUSED_AFTER_PERIODS: u32 = 3;

/// The least stall warned of as the driver's pause: with a heartbeat of a millisecond, three
/// periods are a busy machine's scheduling, which a healthy run sees, and a warning would
/// tell of nothing anyone would call a pause.
const PAUSE_WORTH_A_WARNING: Duration = Duration::from_secs(1);

/// How late a due liveness check found itself, `since_check` after the last one, at a
/// `heartbeat` period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lateness {
    /// Within [`PAUSED_AFTER_PERIODS`]: the driver ran, and the workers' silence is judged.
    OnTime,
    /// Past them, but under [`PAUSE_WORTH_A_WARNING`]: not judged, said at debug level only.
    Stalled,
    /// Past both: a pause of the driver, not judged, and warned of.
    Paused,
}

/// [`Lateness`] of a check `since_check` after the last, at a `heartbeat` period.
fn lateness(since_check: Duration, heartbeat: Duration) -> Lateness {
    if since_check <= heartbeat * PAUSED_AFTER_PERIODS {
        Lateness::OnTime
    } else if since_check <= PAUSE_WORTH_A_WARNING {
        Lateness::Stalled
    } else {
        Lateness::Paused
    }
}

/// The driver's wait for its workers to join, as long as it ran: a stop of the driver
/// (SIGSTOP, a suspended host) during the wait is no wait for a worker, which could not join
/// meanwhile. A driver stopped past its `--join-timeout` gave up on waking, before reading
/// the hellos of the workers that reached it while it was stopped.
#[derive(Debug)]
struct JoinWait {
    /// The start of the wait.
    begun: Instant,
    /// The previous look at the wait.
    last_look: Instant,
    /// The stretches between two looks that were pauses of the driver (see [`lateness`]).
    paused: Duration,
}

impl JoinWait {
    fn new(begun: Instant) -> Self {
        Self {
            begun,
            last_look: begun,
            paused: Duration::ZERO,
        }
    }

    /// The time waited by `now`, the driver's pauses left out: a look at the wait comes at
    /// least every heartbeat, so one three periods late (and a second, see [`lateness`])
    /// found the driver stopped since the last, all but a period of it.
    fn waited(&mut self, now: Instant, heartbeat: Duration) -> Duration {
        let gap = now.saturating_duration_since(self.last_look);
        if lateness(gap, heartbeat) == Lateness::Paused {
            self.paused += gap.saturating_sub(heartbeat);
        }
        self.last_look = now;
        now.saturating_duration_since(self.begun)
            .saturating_sub(self.paused)
    }
}

/// While the driver reads a split itself, how often the link is looked at between waits
/// for the read's end.
const SPLIT_READ_POLL: Duration = Duration::from_millis(20);

/// How long a local worker's exit may take to be seen after its connection closed.
const EXITS_SEEN_WITHIN: Duration = Duration::from_secs(1);

/// The times a worker's result reports for its task, in seconds: its word, checked and bounded
/// before it is believed.
struct ReportedTimes {
    compute_s: f64,
    cpu_s: f64,
    delay_s: f64,
    /// From the order's receipt to the result's sending.
    held_s: f64,
}

impl Driver {
    /// What to do when the workers did not come: how a worker joins this run.
    fn join_hint(&self) -> String {
        let endpoint = crate::transport::dialable(self.link.endpoint());
        match self.config.token {
            Some(_) => format!(
                "start workers with `--driver {endpoint}` and the run's token, or check their logs"
            ),
            // The public loopback token: a worker on this host joins without one.
            None => format!(
                "start workers on this host with `--driver {endpoint}` (no token file: this run \
                 has none), or check their logs"
            ),
        }
    }

    /// What to check when a worker left without proving the token: where each side's token
    /// comes from. A driver given none holds the public loopback one, and a worker given one
    /// (a token file, or ASYNC_TOKEN in its environment, which a user may not know is set)
    /// leaves it: "check --token-file on both" named a flag no one gave.
    fn token_check(&self) -> &'static str {
        match self.config.token {
            Some(_) => {
                "check the token each side was given: the driver's --token-file, a worker's \
                 --token-file or else its ASYNC_TOKEN environment variable"
            }
            None => {
                "this driver was given no token, and a worker given one (its --token-file, or \
                 else its ASYNC_TOKEN environment variable) leaves it"
            }
        }
    }

    /// Waits until the expected number of workers joined, or the join timeout passed, or a
    /// stop is asked for through the run's [`StopHandle`](crate::StopHandle).
    ///
    /// A driver that gives up tells every worker that joined that its run will not start
    /// ([`ToWorker::NotStarting`](crate::protocol::ToWorker::NotStarting)), so that one started with
    /// `--reconnect` exits rather than try to join again for its whole window.
    pub fn wait_for_workers(&mut self) -> Result<(), RuntimeError> {
        let waited = self.await_workers();
        if let Err(error) = &waited {
            self.dismiss_unstarted(error);
        }
        waited
    }

    /// [`Driver::wait_for_workers`], without the dismissal.
    fn await_workers(&mut self) -> Result<(), RuntimeError> {
        let begun = Instant::now();
        // The first check is due at once; what the driver did before (starting its workers)
        // was no pause of its checks.
        self.last_liveness_check = begun.checked_sub(self.config.heartbeat).unwrap_or(begun);
        let mut wait = JoinWait::new(begun);
        while self.table.alive() < self.config.workers {
            if self.stop_requested() {
                return Err(RuntimeError::StoppedWaiting {
                    joined: self.table.alive(),
                    expected: self.config.workers,
                });
            }
            let waited = wait.waited(Instant::now(), self.config.heartbeat);
            if waited >= self.config.join_timeout {
                return Err(RuntimeError::WorkersMissing {
                    joined: self.table.alive(),
                    expected: self.config.workers,
                    waited_s: waited.as_secs_f64(),
                    refused: self.stats.refused_workers,
                    last_refusal: self.joins.last_refusal.clone(),
                    hint: self.join_hint(),
                });
            }
            if let Some(error) = self.replace_workers_dead_at_start() {
                return Err(error);
            }
            // A remote worker that joined and then fell silent (stopped, its host gone) is lost
            // now, as in the run, so that the run does not start counting on it and another may
            // take its place, as one whose connection closed does. A local one is left to the
            // run's check: nothing would take its place (its process has not exited, and a
            // paused one may come back), so the wait would only end at its timeout, in failure,
            // where the run could go on without it. The check reads what already arrived: the
            // count is looked at again before any wait.
            if !self.config.spawn_local && self.judge_silence() {
                continue;
            }
            // Never longer than a heartbeat, or each check would find itself late and take
            // the driver for paused (see `judge_silence`).
            let wait = (self.config.join_timeout - waited)
                .min(Duration::from_millis(100))
                .min(self.config.heartbeat);
            if let Some(event) = self.link.recv_timeout(wait)? {
                self.handle(event);
            }
        }
        // The wait was the driver running, not paused: the run's first check counts from here.
        self.last_liveness_check = Instant::now();
        self.fill_count_slots();
        self.joins.started = true;
        Ok(())
    }

    /// Acts on the driver's own split reads that ended (see [`Driver::settle_split_reads`]);
    /// every heartbeat period, judges the workers' silence and replaces local workers that
    /// exited. Called by every wait and by every asynchronous `reduce!`, which may find a
    /// result in hand each time and never wait while others keep the driver busy.
    pub(crate) fn watch(&mut self) {
        self.settle_split_reads();
        if !self.judge_silence() {
            return;
        }
        self.replace_exited_workers();
        self.adopt_orphans();
    }

    /// Every heartbeat period, while the run goes on and while the driver waits for its
    /// workers to join: declares lost the workers silent past the liveness timeout. Whether
    /// the period was due (and the check made).
    fn judge_silence(&mut self) -> bool {
        let since_check = self.last_liveness_check.elapsed();
        if since_check < self.config.heartbeat {
            return false;
        }
        self.see_own_pause();
        self.last_liveness_check = Instant::now();
        self.check_liveness();
        true
    }

    /// Leaves the time the driver did not run out of every judgement by time, before any
    /// is made: a liveness check far behind its period means this process was stopped,
    /// suspended or starved, and what the workers sent meanwhile is still unread. Their
    /// silence, a task's running time, a worker's time without an answer or since its last
    /// strike, and the wait since every worker was lost each lose that time, so that neither
    /// a worker nor a task is blamed for it. Called by every such judgement (the liveness
    /// check, the hang checks), whichever runs first on waking: the pause is taken off once.
    pub(crate) fn see_own_pause(&mut self) {
        let since_check = self.last_liveness_check.elapsed();
        let lateness = lateness(since_check, self.config.heartbeat);
        if lateness == Lateness::OnTime {
            return;
        }
        const NOT_JUDGED: &str =
            "the driver did not run for a while: the workers' silence is not judged";
        let paused_s = since_check.as_secs_f64();
        match lateness {
            Lateness::Paused => {
                tracing::warn!(paused_s, "{NOT_JUDGED}");
                self.pauses.record(paused_s);
            }
            _ => tracing::debug!(paused_s, "{NOT_JUDGED}"),
        }
        let unwatched = since_check - self.config.heartbeat;
        let now = Instant::now();
        self.table.heard_all_now();
        self.table.discount_unwatched(unwatched, now);
        self.tasks.discount_unwatched(unwatched);
        if let Some(since) = &mut self.all_lost_since {
            *since = (*since + unwatched).min(now);
        }
        // Taken off: the next check is due now, and finds itself on time.
        self.last_liveness_check = now.checked_sub(self.config.heartbeat).unwrap_or(now);
    }

    /// Waits for one inbound event and handles it, watching the workers (see
    /// [`Driver::watch`]) while it waits.
    pub(crate) fn pump(&mut self) -> Result<(), RuntimeError> {
        loop {
            // The one place the driver waits for results: a stop or a time limit must end
            // the wait even when no result comes (a task that hangs).
            if let Some(why) = self.wait_given_up() {
                return Err(RuntimeError::Stopped(why));
            }
            self.watch();
            // What it watched may have ended the run (a split the driver cannot read either):
            // its caller says so now, not after the next event, a heartbeat later.
            if self.failure.is_some() {
                return Ok(());
            }
            if self.table.alive() == 0 {
                // Nobody could finish the pass a stop waits for: it ends the run now, rather
                // than after the wait for workers to come back.
                if self.stop_requested() {
                    return Err(RuntimeError::StoppedWaiting {
                        joined: 0,
                        expected: self.config.workers,
                    });
                }
                self.replace_the_dead_before_giving_up();
            }
            // A replacement on its way keeps the run waiting for it, and so may remote
            // workers that all went at once (see `Driver::remote_may_return`).
            if self.table.alive() == 0
                && !self.local.awaiting(self.config.join_timeout)
                && !self.remote_may_return()
            {
                return Err(self.no_workers());
            }
            let begun = Instant::now();
            let received = if self.split_reads.pending() {
                // The driver reads a split itself: its verdict is waited for beside the link.
                match self.link.try_recv() {
                    Some(event) => Some(event),
                    None => {
                        self.split_reads
                            .wait(self.config.heartbeat.min(SPLIT_READ_POLL));
                        None
                    }
                }
            } else {
                self.link.recv_timeout(self.config.heartbeat)?
            };
            self.stats.blocked_s += begun.elapsed().as_secs_f64();
            if let Some(event) = received {
                self.handle(event);
                return Ok(());
            }
            if self.settle_split_reads() {
                return Ok(());
            }
        }
    }

    /// Handles every event already waiting, without blocking.
    pub(crate) fn drain(&mut self) {
        while let Some(event) = self.link.try_recv() {
            self.handle(event);
        }
    }

    fn handle(&mut self, event: Inbound) {
        match event {
            Inbound::Message {
                peer,
                message,
                bytes,
                received,
            } => {
                self.stats.bytes_received += bytes as u64;
                let Some(worker) = self.table.index_of(&peer) else {
                    // A join turned back past the budget, told to try later: its heartbeat
                    // sent before the link ended its session. Nothing wrong, nothing to say.
                    self.stats.ended_session_frames += 1;
                    return;
                };
                let info = &mut self.table.workers[worker];
                if !info.alive {
                    // Sent before the link ended its session (`lose`), which told it why.
                    return;
                }
                info.bytes_in += bytes as u64;
                info.last_heard = Instant::now();
                self.on_message(worker, message, received);
            }
            Inbound::Admitted {
                peer,
                session,
                hello,
                source,
            } => {
                // Judged before a session it replaces is lost: one that takes the name of a
                // worker in the run is not that worker back.
                let who = match self.table.served_and_left(&peer) {
                    true => Join::Served,
                    false => Join::Fresh,
                };
                if let Some(old) = self.table.index_of(&peer) {
                    // A new connection under this name proved the token: it replaces the old.
                    self.lose(old, "a new connection under its name proved the token");
                    self.table.workers[old].gone = true;
                }
                // A replacement this driver started is bounded by its respawn allowance.
                let own = self.local.predecessor(&peer).is_some();
                match self.joins.budget.take(Instant::now(), who) {
                    Err(wait) if !own => self.turn_back(&peer, session, wait),
                    _ => self.admit(&peer, session, hello, source),
                }
            }
            Inbound::Refused {
                peer,
                reason,
                source,
            } => {
                // Anyone can send hellos: the first few refusals are logged, then each power
                // of two, with the count, and the address the transport saw (a name is the
                // peer's word).
                self.stats.refused_workers += 1;
                let refused = self.stats.refused_workers;
                if refused <= LOGGED_REFUSALS || refused.is_power_of_two() {
                    let from = source_text(source);
                    tracing::warn!(%peer, %from, %reason, refused, "refused a worker");
                }
                self.joins.last_refusal = Some(reason);
            }
            Inbound::Rejected { .. } => self.stats.rejected_messages += 1,
            Inbound::Dropped { why, .. } => {
                let counter = match why {
                    Refusal::Unauthenticated => &mut self.stats.unauthenticated_frames,
                    Refusal::Unsealed => &mut self.stats.unsealed_session_frames,
                    Refusal::BadMac => &mut self.stats.bad_mac_frames,
                    Refusal::Replayed => &mut self.stats.replayed_frames,
                    Refusal::OversizedHandshake => &mut self.stats.oversized_handshakes,
                    Refusal::HandshakeTimeout => &mut self.stats.handshake_timeouts,
                    Refusal::TooManyStrangers => &mut self.stats.strangers_turned_away,
                    Refusal::CutOff => &mut self.stats.strangers_cut_off,
                    Refusal::SessionEnded => &mut self.stats.ended_session_frames,
                    Refusal::Flooded => &mut self.stats.floods,
                };
                *counter += 1;
            }
            Inbound::LeftUnproven { peer, source } => {
                self.stats.refused_workers += 1;
                self.joins.last_refusal = Some(format!(
                    "a peer left its handshake without proving the token; {}",
                    self.token_check()
                ));
                // Its side of the story never reaches the driver: say what it likely was, a
                // few times (a hostile peer can repeat it at will), and where it came from.
                if self.stats.refused_workers <= LOGGED_REFUSALS {
                    let from = source_text(source);
                    tracing::warn!(
                        %peer,
                        %from,
                        "a peer left during its handshake without proving the token: a worker \
                         whose token differs from the driver's leaves there ({})",
                        self.token_check()
                    );
                }
            }
            Inbound::Handled => {}
            Inbound::Unshaken { connections } => {
                self.stats.zeromq_handshakes_failed += connections;
            }
            Inbound::Disconnected { peer } => {
                if let Some(worker) = self.table.index_of(&peer) {
                    self.lose(worker, "its connection closed");
                    self.table.workers[worker].gone = true;
                }
            }
        }
    }

    /// What `worker` sent, `received` at the link then.
    fn on_message(&mut self, worker: usize, message: ToDriver, received: Instant) {
        match message {
            ToDriver::Result {
                seq,
                compute_s,
                cpu_s,
                delay_s,
                held_s,
                body,
            } => {
                let times = ReportedTimes {
                    compute_s,
                    cpu_s,
                    delay_s,
                    held_s,
                };
                self.on_result(worker, seq, times, received, body)
            }
            ToDriver::Failed { seq, message } => self.on_failed(worker, seq, &message),
            ToDriver::Heartbeat => {}
            ToDriver::DataReady { partition } => {
                self.placement.loaded(worker, partition);
            }
            ToDriver::DataFailed { partition, message } => {
                self.on_data_failed(worker, partition, &message);
            }
            ToDriver::Hello(_) | ToDriver::Proof { .. } => {
                // The session layer never passes handshake messages on.
                self.stats.rejected_messages += 1;
            }
        }
    }

    /// A task's result from `worker`, `received` at the link: checked against the tasks in
    /// flight on it and its times bounded by how long it was out, then queued for the
    /// optimizer.
    fn on_result(
        &mut self,
        worker: usize,
        seq: u64,
        times: ReportedTimes,
        received: Instant,
        body: ResultBody,
    ) {
        let ReportedTimes {
            compute_s,
            cpu_s,
            delay_s,
            held_s,
        } = times;
        self.stats.results_received += 1;
        if !self.tasks.is_on(seq, worker) {
            return self.bad_result(worker, &format!("task {seq} is not in flight on it"));
        }
        if ![compute_s, cpu_s, delay_s]
            .iter()
            .all(|t| t.is_finite() && *t >= 0.0)
        {
            // A lie: a strike, and the task is done again now, as a failed one is,
            // not once it is taken for hung.
            let why = "its task times are not finite and positive";
            self.bad_result(worker, why);
            if !self.table.workers[worker].alive {
                return; // excluded by that strike: its tasks are written off
            }
            return self.on_failed(worker, seq, why);
        }
        let task = self.tasks.close(seq).expect("checked above");
        // No task takes longer than it was out: a time beyond that is a lie or a
        // clock gone wrong, and would set hang limits and straggler sleeps.
        let out_s = task.seconds_out();
        let compute_s = compute_s.min(out_s);
        let (cpu_s, delay_s) = (cpu_s.min(compute_s), delay_s.min(out_s - compute_s));
        let network_s = task.network_s(received, held_s);
        let now_s = self.elapsed_s();
        let info = &mut self.table.workers[task.worker()];
        info.task_answered(now_s);
        // It answers: its strikes for hung tasks were not in a row with the next, even when
        // this task was done again elsewhere and its answer is dropped as late.
        info.hang_strikes = 0;
        info.unconsumed += 1;
        info.record_task_time(compute_s, cpu_s, delay_s);
        if let Some(network_s) = network_s {
            info.record_network_time(network_s);
        }
        info.delay_s += delay_s;
        self.refresh_oldest_in_flight();
        self.results.push(task.arrived(seq, body));
    }

    /// A task `worker` could not run: retried elsewhere, and a worker that fails every task
    /// is excluded.
    fn on_failed(&mut self, worker: usize, seq: u64, message: &str) {
        let message = peer_text(message);
        if !self.tasks.is_on(seq, worker) {
            return self.bad_result(worker, &format!("task {seq} is not in flight on it"));
        }
        let task = self.tasks.close(seq).expect("checked above");
        self.results.forget_superseded(seq);
        self.refresh_oldest_in_flight();
        // Its order's versions may never have been stored: later tasks must carry them.
        self.holdings.task_failed(worker);
        self.stats.failed_tasks += 1;
        let now_s = self.elapsed_s();
        let info = &mut self.table.workers[worker];
        info.task_answered(now_s);
        info.failures += 1;
        info.failure_streak += 1;
        tracing::warn!(worker = %info.name, task = task.task(), %message, "a task failed");
        let streak = info.failure_streak;
        self.tasks.record_failure(Failed {
            seq,
            worker,
            task: task.task(),
            message: message.clone(),
        });
        if streak >= EXCLUDE_AFTER {
            self.exclude_for(
                worker,
                &format!("it failed {streak} tasks in a row, the last with: {message}"),
                Some(task.task()),
            );
        }
    }

    /// `worker` could not load `partition`: its host's problem or the data's.
    fn on_data_failed(&mut self, worker: usize, partition: u32, message: &str) {
        let message = peer_text(message);
        // One host without the file, or with another copy of it, is that host's
        // problem: the others take its partitions. When a second host cannot read the same
        // split either, the driver reads it itself before blaming the data: names are the
        // peers' own choice, and two of them may be one insider ending the run. A partition
        // the driver shipped is never the data's fault (see `Placement::load_failed`).
        let name = &self.table.workers[worker].name;
        match self
            .placement
            .load_failed(partition, worker, name, &message)
        {
            LoadFailure::NotGiven => self.bad_result(
                worker,
                &format!("it could not load partition {partition}, which it was not given"),
            ),
            LoadFailure::ItsHost => self.cannot_load(worker, partition, message),
            LoadFailure::ReadIt(order) => {
                tracing::warn!(
                    worker = %self.table.workers[worker].name,
                    partition,
                    %message,
                    "a second host cannot read this split: the driver reads it itself"
                );
                let generation = self.placement.generation();
                self.split_reads.start(generation, order);
            }
            LoadFailure::BeingRead => {}
        }
    }

    /// `worker` cannot load `partition`, its host's fault: excluded, and the others take its
    /// partitions; the run ends with what it said when no other is left to try.
    pub(crate) fn cannot_load(&mut self, worker: usize, partition: u32, message: String) {
        if self.table.alive() > 1 {
            let reason = format!("it cannot load partition {partition}: {message}");
            // Told apart from failing tasks: the file may be at fault, not the worker.
            let info = &mut self.table.workers[worker];
            info.unreadable_data |= !info.excluded;
            self.exclude(worker, &reason);
        } else {
            let name = self.table.workers[worker].name.clone();
            self.fail(RuntimeError::WorkerData {
                worker: name,
                partition,
                message,
            });
        }
    }

    /// Acts on the driver's own reads of splits that ended: a split it read is the failing
    /// workers' fault (each as a host that cannot load it), one it could not read either
    /// ends the run with its own error. Whether there was any.
    pub(crate) fn settle_split_reads(&mut self) -> bool {
        // Asked by every asynchronous reduce (through `watch`): nothing to look at, nearly
        // always.
        if !self.split_reads.pending() {
            return false;
        }
        let verdicts = self.split_reads.finished();
        let any = !verdicts.is_empty();
        for verdict in verdicts {
            let partition = verdict.partition;
            let readable = verdict.outcome.is_ok();
            let Some(waiting) = self
                .placement
                .split_read(verdict.generation, partition, readable)
            else {
                continue; // a dataset shipped before this one
            };
            match verdict.outcome {
                Ok(()) => {
                    tracing::warn!(
                        partition,
                        workers = waiting.len(),
                        "the driver read the split the workers said they cannot: they are at fault"
                    );
                    for (worker, message) in waiting {
                        if self.table.workers[worker].alive {
                            self.cannot_load(worker, partition, message);
                        }
                    }
                }
                Err(error) => self.fail(error),
            }
        }
        any
    }

    /// A result that fails its checks: dropped and counted; a worker that keeps sending them
    /// is excluded.
    pub(crate) fn bad_result(&mut self, worker: usize, reason: &str) {
        self.bad_result_of(worker, reason, None);
    }

    /// [`bad_result`](Driver::bad_result) of a result of task `task` that decoded but fails
    /// its site's checks: when every worker is excluded for such results of one task (an
    /// author's history update naming rows its task was not given, say), the run's error
    /// says the task, not the workers, is at fault.
    pub(crate) fn bad_result_of(
        &mut self,
        worker: usize,
        reason: &str,
        task: Option<&'static str>,
    ) {
        self.stats.bad_results += 1;
        let info = &mut self.table.workers[worker];
        info.bad_results += 1;
        tracing::warn!(worker = %info.name, reason, "dropped a bad result");
        if info.bad_results >= EXCLUDE_AFTER as u64 {
            let count = info.bad_results;
            self.exclude_for(
                worker,
                &format!("it sent {count} bad results, the last: {reason}"),
                task,
            );
        }
    }

    /// Takes a worker out of the run for good: told so (it exits), then lost.
    pub(crate) fn exclude(&mut self, worker: usize, reason: &str) {
        self.exclude_for(worker, reason, None);
    }

    /// [`exclude`](Driver::exclude), for failing `failed_task` (its last failure) if that
    /// is why.
    fn exclude_for(&mut self, worker: usize, reason: &str, failed_task: Option<&'static str>) {
        if self.table.workers[worker].excluded {
            return;
        }
        self.table.workers[worker].excluded = true;
        self.stats.excluded_workers += 1;
        self.exclusions.record(reason, failed_task);
        let name = self.table.workers[worker].name.clone();
        tracing::warn!(worker = %name, reason, "worker excluded");
        // Before `lose` ends its session: the link sends what was queued first.
        if self.table.workers[worker].alive {
            let refused = ToWorker::Refused {
                reason: format!("excluded from the run: {reason}"),
                mac: None,
            };
            self.send(worker, &refused);
        }
        self.lose(worker, reason);
    }

    /// Tells a worker whose session the link opened that the budget of joins is spent, and
    /// when to try again, and ends that session: it is not admitted, and holds nothing on the
    /// driver (a worker started with `--reconnect` tries again then, by a fresh handshake).
    fn turn_back(&mut self, peer: &str, session: SessionId, wait: Duration) {
        self.stats.joins_refused += 1;
        if self.joins.refused.again() {
            let refused = self.joins.refused.count();
            tracing::warn!(worker = %peer, refused, wait_s = wait.as_secs_f64(), "refused a join: {TOO_MANY_JOINS}");
        }
        let later = ToWorker::TryLater {
            reason: TOO_MANY_JOINS.into(),
            after_ms: wait.as_millis().try_into().unwrap_or(u64::MAX),
        };
        let frame = frame::encode(self.run_id, &later);
        self.stats.bytes_sent += frame.len() as u64;
        self.link.send(peer, session, frame);
        self.link.end_session(peer, session);
    }

    /// Whether nothing of the coordinator refers to the worker at `index` any more: no
    /// partition it owns or is loading, no task of it in flight or failed, no result of it in
    /// hand. Only then may its row make room for a newcomer.
    fn unreferenced(&self, index: usize) -> bool {
        !self.placement.refers_to(index)
            && !self.tasks.refers_to(index)
            && !self.results.refers_to(index)
    }

    /// Admits a worker whose session the link opened.
    fn admit(&mut self, peer: &str, session: SessionId, hello: Hello, source: Source) {
        // A worker joining again under its name (its row departed by now) is its next
        // incarnation, in a row of its own.
        let earlier = self.table.index_of(peer);
        let incarnation = earlier.map_or(0, |i| self.table.workers[i].incarnation + 1);
        let (delay_factor, count_slot) = self.straggler_factor(peer, earlier);
        let (index, _) = self.table.slot_for(peer, |i| self.unreferenced(i));
        let mut info = WorkerInfo::new(peer.to_owned(), hello.pid, delay_factor);
        info.incarnation = incarnation;
        info.count_slot = count_slot;
        info.credit = self.config.prefetch;
        info.session = session;
        info.from = source.map(address_text);
        // Its wait counts from now on the training clock, which before the start stays put.
        info.idle_since = Some(self.elapsed_s());
        self.table.admit(index, info);
        self.all_lost_since = None;
        self.local.admitted(peer);
        self.holdings.joined(index);
        self.joins.admitted += 1;
        // The run's own workers are each said; later joins, which a peer holding the token
        // can repeat, thin out.
        if self.joins.first_fill(self.config.workers) || self.joins.joined.again() {
            let later = self.joins.joined.count();
            let from = source_text(source);
            tracing::info!(worker = %peer, %from, pid = hello.pid, incarnation, delay_factor, later, "worker joined");
        }
        self.welcome(index);
        self.equip_late_joiner(index);
    }

    /// Tells the worker at `index` its settings for the run, as its row holds them.
    fn welcome(&mut self, index: usize) {
        let welcome = Welcome {
            index: index as u32,
            delay_factor: self.table.workers[index].delay_factor,
            cache_versions: self.config.cache_versions as u32,
            heartbeat_ms: u64::try_from(self.config.heartbeat.as_millis()).unwrap_or(u64::MAX),
        };
        self.send(index, &ToWorker::Welcome(welcome));
    }

    /// The simulated straggler factor of `peer`, joining now (its own earlier row `earlier`,
    /// if any), and the slot of the run's count it fills. The factors are per slot of the
    /// count (`Stragglers::factors`), not per row: before the run starts, a worker that fills
    /// the count takes its slot's factor, also the slot of one lost during the wait, so that
    /// the run has the stragglers `--stragglers` says whoever joins. Once it started, or
    /// beyond the count, a worker joining again, under its name or a fresh one
    /// (`w3.r1a2b3c4d`), or a local replacement (`w3.respawn1`), straggles as the one it
    /// stands for did (same host, same slot), so that a fault's cost is the fault's alone;
    /// any other is not slowed: one under a fresh name of a worker still in the run is another
    /// worker, as the table counts it (`WorkerInfo::worker`), and the factor, which also
    /// stretches its hang limit, is not its to take.
    fn straggler_factor(&self, peer: &str, earlier: Option<usize>) -> (f64, Option<usize>) {
        let in_run =
            |host: &str| (self.table.workers.iter()).any(|w| w.alive && w.worker() == host);
        let stood_for = earlier.or_else(|| {
            self.local
                .predecessor(peer)
                .or(Some(placement::host_of(peer)).filter(|&host| host != peer && !in_run(host)))
                .and_then(|slot| self.table.index_of(slot))
        });
        let count = self.config.workers;
        let filling = !self.joins.started && self.table.alive() < count;
        match filling
            .then(|| self.table.unfilled_count_slot(count, stood_for))
            .flatten()
        {
            Some(slot) => {
                let factors = self.config.stragglers.factors(count, self.config.seed);
                (factors[slot], Some(slot))
            }
            None => (
                stood_for.map_or(0.0, |row| self.table.workers[row].delay_factor),
                None,
            ),
        }
    }

    /// At the start: a live worker that joined past the count while another filled it, lost
    /// since, fills the slot left, and takes its straggler factor (see
    /// [`Driver::straggler_factor`]), told by a fresh welcome: no task has reached it yet.
    fn fill_count_slots(&mut self) {
        let count = self.config.workers;
        let factors = self.config.stragglers.factors(count, self.config.seed);
        let spares: Vec<usize> = (0..self.table.workers.len())
            .filter(|&i| self.table.workers[i].alive && self.table.workers[i].count_slot.is_none())
            .collect();
        for index in spares {
            let Some(slot) = self.table.unfilled_count_slot(count, None) else {
                return;
            };
            let info = &mut self.table.workers[index];
            info.count_slot = Some(slot);
            let delay_factor = factors[slot];
            if info.delay_factor != delay_factor {
                info.delay_factor = delay_factor;
                let worker = &info.name;
                tracing::info!(%worker, delay_factor, "in place of a worker lost before the start");
                self.welcome(index);
            }
        }
    }

    /// Starts a process in place of each local worker process that exited, while the budget
    /// lasts: a crashed or killed worker is replaced, not only worked around.
    fn replace_exited_workers(&mut self) {
        for (name, status) in self.local.take_exited() {
            match self.respawn(&name, status, "worker process exited") {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(worker = %name, %status, "worker process exited; no replacement left")
                }
                Err(e) => {
                    tracing::warn!(worker = %name, %status, error = %e, "worker process exited; its replacement did not start")
                }
            }
        }
    }

    /// Starts a process in place of the local worker `name`, whose process exited with
    /// `status` (`what` says when, in the line saying it was replaced), if the respawn
    /// allowance has one left: whether it did.
    fn respawn(
        &mut self,
        name: &str,
        status: std::process::ExitStatus,
        what: &str,
    ) -> Result<bool, RuntimeError> {
        let endpoint = self.link.endpoint().to_owned();
        let Some(new) = self.local.replace(&self.config, &endpoint, name)? else {
            return Ok(false);
        };
        self.stats.respawned_workers += 1;
        tracing::warn!(worker = %name, %status, replacement = %new, "{what}: replaced");
        Ok(true)
    }

    /// While the cluster starts: replaces the local workers whose processes exited (killed,
    /// out of memory) within the respawn allowance, as during the run, so that a death in the
    /// first seconds does not end a run that a later one would not. The error that ends the
    /// start: a process that ran the program instead of a worker (a replacement would too),
    /// no replacement left, or one that could not start.
    fn replace_workers_dead_at_start(&mut self) -> Option<RuntimeError> {
        let exe = self.config.worker_exe_display();
        let early = |status, left: &str| RuntimeError::Spawn {
            exe: exe.clone(),
            reason: format!(
                "worker process exited early ({}{left}); its error is in the lines above. An \
                 executable that runs optimizers calls \
                 `asyncopt_runtime::run_worker_if_spawned()` first thing in `main`: the \
                 workers it starts are the same executable",
                super::local::exited_early(status)
            ),
        };
        for (name, status) in self.local.take_exited() {
            if super::local::ran_the_program(status) {
                return Some(early(status, ""));
            }
            match self.respawn(
                &name,
                status,
                "worker process exited while the cluster started",
            ) {
                Ok(true) => {}
                Ok(false) => {
                    let left = self.why_no_worker_came().unwrap_or_default();
                    return Some(early(status, &format!("; no replacement left: {left}")));
                }
                Err(error) => return Some(error),
            }
        }
        None
    }

    /// With no live worker left in a run of remote workers: whether the join timeout since
    /// the last one went has not passed, so that a network cut or restarted hosts, whose
    /// workers join again, do not end the run. A run of local workers replaces its own.
    fn remote_may_return(&mut self) -> bool {
        if self.config.spawn_local {
            return false;
        }
        // Cleared when a worker is admitted.
        let since = *self.all_lost_since.get_or_insert_with(|| {
            tracing::warn!(
                wait_s = self.config.join_timeout.as_secs_f64(),
                "every worker is lost: waiting for one to join again"
            );
            Instant::now()
        });
        since.elapsed() < self.config.join_timeout
    }

    /// With no live worker left: replaces the local ones whose processes died, giving their
    /// exits a moment to be seen (their connections can close just before), before the run
    /// gives up for want of workers.
    fn replace_the_dead_before_giving_up(&mut self) {
        let deadline = Instant::now() + EXITS_SEEN_WITHIN;
        loop {
            self.replace_exited_workers();
            let waiting = self.local.awaiting(self.config.join_timeout);
            if waiting || self.local.is_empty() || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Marks a worker lost, writes off its tasks in flight, and ends its session at the link
    /// (after what was queued for it, such as why): a worker the driver let go holds nothing
    /// there, and comes back only by a fresh handshake, as a fresh worker. A session already
    /// closed or replaced under its name is left as it is.
    pub(crate) fn lose(&mut self, worker: usize, why: &str) {
        if !self.table.workers[worker].alive {
            return;
        }
        self.table.departed(worker);
        let info = &mut self.table.workers[worker];
        info.in_flight = 0;
        info.unconsumed = 0;
        info.idle_since = None;
        // A worker that left before its first result may be one of a loop of joins: such
        // losses (and their partitions' moves) thin out in the log; they are all counted.
        let said = info.tasks_done > 0 || self.joins.brief.again();
        if said {
            let brief = self.joins.brief.count();
            tracing::warn!(worker = %info.name, why, brief, "worker lost");
        }
        self.link.end_session(&info.name, info.session);
        self.stats.lost_workers += 1;
        for seq in self.tasks.write_off(worker) {
            self.results.forget_superseded(seq);
        }
        self.refresh_oldest_in_flight();
        self.placement.forget_loads(worker);
        self.rehome_partitions(worker, said);
    }

    fn check_liveness(&mut self) {
        // What already arrived counts: a driver busy elsewhere (a checkpoint, an evaluation)
        // must not declare lost a worker whose heartbeats wait in the queue.
        self.drain();
        let timeout = self.config.liveness_timeout();
        let silent: Vec<usize> = (0..self.table.workers.len())
            .filter(|&i| {
                let w = &self.table.workers[i];
                w.alive && w.last_heard.elapsed() > timeout
            })
            .collect();
        for worker in silent {
            // Told why before its session ends: a worker stopped and resumed reads it first,
            // and joins again as a fresh worker.
            // The timeout is said: it is a setting of the run, which a pause may outlast.
            let why = format!(
                "it fell silent past the liveness timeout of {} s",
                seconds_text(timeout.as_secs_f64())
            );
            let reason = format!("the driver declared it lost ({why}); join again");
            self.send(worker, &ToWorker::Lost { reason });
            self.lose(worker, &why);
        }
    }

    /// The algorithm used (or dropped) a result: its worker may get work again.
    pub(crate) fn consume(&mut self, arrived: &Arrived) {
        let info = &mut self.table.workers[arrived.worker];
        info.unconsumed = info.unconsumed.saturating_sub(1);
    }

    /// Copies the task book's oldest dispatch update into the table, where barrier rules read
    /// it ([`WorkerTable::max_staleness_in_flight`]); after every change to the tasks in flight.
    ///
    /// [`WorkerTable::max_staleness_in_flight`]: super::WorkerTable::max_staleness_in_flight
    pub(crate) fn refresh_oldest_in_flight(&mut self) {
        self.table.oldest_in_flight = self.tasks.oldest_clock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_late_check_is_a_pause_past_three_periods_and_warned_of_past_a_second() {
        // `--heartbeat 0.001`: a few milliseconds are a busy machine, not judged, not warned of.
        assert_eq!(lateness(3 * MS, MS), Lateness::OnTime);
        assert_eq!(lateness(4 * MS, MS), Lateness::Stalled);
        assert_eq!(lateness(1000 * MS, MS), Lateness::Stalled);
        assert_eq!(lateness(1001 * MS, MS), Lateness::Paused);
        // The default period of a second: any check three periods late is a pause.
        let second = Duration::from_secs(1);
        assert_eq!(lateness(3 * second, second), Lateness::OnTime);
        assert_eq!(lateness(3 * second + MS, second), Lateness::Paused);
    }

    #[test]
    fn the_join_wait_leaves_out_the_drivers_pauses() {
        let heartbeat = 500 * MS;
        let t0 = Instant::now();
        let mut wait = JoinWait::new(t0);
        assert_eq!(wait.waited(t0 + 100 * MS, heartbeat), 100 * MS);
        // Stopped for 30 s: all but a period of it is no wait for a worker.
        let woke = t0 + 100 * MS + Duration::from_secs(30);
        assert_eq!(wait.waited(woke, heartbeat), 600 * MS);
        // Looks on time count whole, however many.
        assert_eq!(wait.waited(woke + 400 * MS, heartbeat), 1000 * MS);
        // A stall under a second is a busy machine: counted as waited.
        assert_eq!(wait.waited(woke + 1300 * MS, heartbeat), 1900 * MS);
    }
}
