//! `reduce!`: synchronous (every partition, combined) and asynchronous (one result at a time,
//! as the barrier lets work out, stale ones dropped).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use super::barrier::Gate;
use super::dispatch::TaskSpec;
use super::driver::Driver;
use super::inbox::EXCLUDE_AFTER;
use super::inspect::Inspected;
use super::result_meta::ResultMeta;
use super::results::{Arrived, Screened};
use super::table::{WorkerInfo, WorkerTable};
use super::tasks::{self, Attempts, Failed, WorkersOn};
use crate::data::Dataset;
use crate::error::RuntimeError;
use crate::worker::MAX_QUEUED_TASKS;

/// What the checks made of a result.
enum Verdict<R> {
    /// Use it.
    Good(R),
    /// Dropped and counted against its worker, for this reason.
    Bad(String),
    /// It holds a number that is not finite, for this reason: dropped, and judged with its
    /// task's other results before it counts against its worker (see
    /// [`Driver::not_finite_result`]).
    NotFinite(String),
    /// Its site's shape is not known yet: dropped, not counted; the task is done again.
    Unconfirmed,
}

/// Decodes a result body and returns it with its shape and the history rows it names, or why
/// it is refused.
pub(crate) type Decoder<'a, R> = &'a dyn Fn(&[u8]) -> Result<(R, Inspected), String>;

/// One synchronous reduce in progress.
struct Round<R> {
    /// Each partition's result, once accepted.
    results: Vec<Option<R>>,
    /// Tasks awaited, by sequence number, with their partitions.
    pending: HashMap<u64, usize>,
    /// Partitions whose hung task was sent again elsewhere: the only ones with two tasks
    /// awaited at once (a retry or a task asked again replaces its answered or failed one).
    hedged: HashSet<usize>,
    /// Results whose site's shape is not settled yet: they wait for a second worker's opinion
    /// instead of being computed again.
    held: Vec<(usize, Arrived)>,
    /// Failed attempts per partition, and the workers they failed on.
    attempts: Attempts,
    /// The workers each partition's task hung on.
    hung_on: WorkersOn<usize>,
    /// The workers each partition's task returned results that are not finite on.
    not_finite_on: WorkersOn<usize>,
    /// Tasks not sent yet: their worker is not alive (a lost worker's, until a live one owns
    /// its partition), or it already holds as many tasks as a worker queues
    /// ([`MAX_QUEUED_TASKS`]), as one holding many partitions, or a lost one's, does.
    waiting: VecDeque<Unsent>,
}

/// A task of a synchronous reduce waiting to be sent.
struct Unsent {
    partition: usize,
    /// The worker chosen to do it (a retry's, or the worker whose held result is asked
    /// again), while it lives; else its partition's owner.
    on: Option<usize>,
}

impl Unsent {
    fn to_owner(partition: usize) -> Self {
        Unsent {
            partition,
            on: None,
        }
    }
}

impl Driver {
    /// Checks an arrived result: it decodes, its numbers are finite, its shape is its site's
    /// (see [`SiteShapes`](super::shapes::SiteShapes)), its history updates name only rows
    /// its task was given (see [`Driver::history_rows_problem`]). A bad one is dropped and
    /// counted against its worker, but one whose numbers are not finite is left to the caller
    /// to judge with its task's other results ([`Verdict::NotFinite`]). While the site's shape is not settled, the workers that can answer
    /// it are heard: for a `synchronous` reduce the live owners of partitions, the only
    /// workers it asks (a late joiner holding a copy is never asked, and waiting for its
    /// opinion would ask the others again forever); for an asynchronous one the live workers
    /// its barrier sent a task to, at least two when two live (a barrier that selects 2 of 8
    /// workers settles the shape once both agree, where waiting for a majority of all 8 dropped
    /// its first 18 results).
    fn accept<R>(
        &mut self,
        arrived: &Arrived,
        decode: Decoder<'_, R>,
        synchronous: bool,
    ) -> Verdict<R> {
        let bytes = arrived.body.bytes(self.config.max_frame);
        let decoded = bytes.and_then(|bytes| decode(&bytes));
        if let Ok((
            _,
            Inspected {
                not_finite: Some(number),
                ..
            },
        )) = decoded
        {
            return Verdict::NotFinite(format!("it holds a non-finite number ({number})"));
        }
        let decoded = decoded.and_then(|(value, inspected)| {
            match self.history_rows_problem(arrived, &inspected.history_rows) {
                Some(problem) => Err(problem),
                None => Ok((value, inspected.shape)),
            }
        });
        let (table, owners) = (&self.table, self.placement.owners());
        let checked = decoded.and_then(|(value, shape)| {
            let answering = |asked: &[usize]| {
                if synchronous {
                    live_owners(table, owners)
                } else {
                    let live_asked = asked.iter().filter(|&&w| table.workers[w].alive).count();
                    live_asked.max(table.alive().min(2))
                }
            };
            // By the worker it is, as failures and hangs are counted: one back under its
            // name has a row of its own, and must not agree with itself.
            let worker = table.workers[arrived.worker].worker();
            let fits = self.shapes.check(arrived.task, shape, worker, answering)?;
            Ok(fits.then_some(value))
        });
        match checked {
            Ok(Some(value)) => {
                self.table.workers[arrived.worker].failure_streak = 0;
                self.site_failures.succeeded(arrived.task, arrived.seq);
                self.sites_hung.answered(&arrived.task, arrived.seq);
                self.sites_not_finite.answered(&arrived.task, arrived.seq);
                Verdict::Good(value)
            }
            Ok(None) => Verdict::Unconfirmed,
            Err(reason) => {
                self.bad_result_of(arrived.worker, &reason, Some(arrived.task));
                Verdict::Bad(reason)
            }
        }
    }

    /// Why the history rows a result names (`rows`) are not its to write, if they are not:
    /// each must be one its task was given. A worker's history updates are applied by the
    /// algorithm to the driver's table as they are: one naming another partition's rows would
    /// overwrite entries other workers' tasks read, where a worker's lie should reach no further
    /// than its own task's rows.
    fn history_rows_problem(&self, arrived: &Arrived, rows: &[u64]) -> Option<String> {
        if rows.is_empty() {
            return None;
        }
        let partition = arrived.partition;
        let Some(given) = self.task_rows(partition, arrived.sample) else {
            return Some(format!(
                "its history update names rows, and partition {partition} is not one of the \
                 shipped dataset's"
            ));
        };
        let given: HashSet<u64> = given.into_iter().collect();
        let outside = rows.iter().filter(|row| !given.contains(row));
        let count = outside.clone().count();
        let first = outside.min()?;
        let rows = |n: usize| if n == 1 { "row" } else { "rows" };
        Some(format!(
            "its history update names {count} {} its task on partition {partition} was not \
             given (row {first}, the lowest): a task writes the entries of its own {} {} only",
            rows(count),
            given.len(),
            rows(given.len()),
        ))
    }

    /// A result of `arrived`'s task holding a number that is not finite (`reason`), `blamed`
    /// what recording its worker among those the task did so on said (see
    /// [`WorkersOn::add`]; `what` names the partition or the site). Once those are most of the
    /// live workers, the task returns such results wherever it runs: the run ends with
    /// [`RuntimeError::TaskFailed`], no worker blamed, where every worker was struck out for
    /// an author's bug and the run ended saying no worker was left. Until then it is a bad
    /// result of its worker (a faulty host), and its task is done elsewhere.
    fn not_finite_result(
        &mut self,
        arrived: &Arrived,
        reason: &str,
        blamed: Result<(), Vec<String>>,
        what: &str,
    ) -> Result<(), RuntimeError> {
        if let Some(message) = self.computed_from_diverged(arrived, reason, what) {
            return Err(RuntimeError::TaskFailed {
                task: arrived.task.to_owned(),
                worker: self.table.workers[arrived.worker].name.clone(),
                message,
            });
        }
        if let Err(on) = blamed {
            return Err(RuntimeError::TaskFailed {
                task: arrived.task.to_owned(),
                worker: self.table.workers[arrived.worker].name.clone(),
                message: tasks::not_finite_everywhere(what, &on, reason),
            });
        }
        self.bad_result_of(arrived.worker, reason, Some(arrived.task));
        Ok(())
    }

    /// Why a result of `arrived`'s task that is not finite (`reason`) ends the run blaming no
    /// worker, if it was computed from a broadcast version that holds a number not finite or
    /// whose square overflows: the model diverged before the task (a worker's huge result
    /// applied, a step too large), and no worker could have computed a finite result from it.
    /// Such results were struck as a faulty host's, and a worker holding the token whose huge
    /// results blew the model up saw the honest workers excluded one by one.
    fn computed_from_diverged(
        &self,
        arrived: &Arrived,
        reason: &str,
        what: &str,
    ) -> Option<String> {
        arrived.reads.iter().find_map(|read| {
            let slot = self.versions.slot(read.name)?;
            let number = self.versions.overflowing(slot, read.version)?;
            Some(format!(
                "{what} returned results that are not finite on {} ({reason}), computed from \
                 broadcast `{}` version {}, which holds {number:e} itself: the run diverged \
                 before this task (a result too large applied, a step too large?), and no \
                 worker is blamed for what it computed from that",
                self.table.workers[arrived.worker].worker(),
                read.name,
                read.version,
            ))
        })
    }

    /// Chooses who does the task on `partition` again, a live worker that has not failed it
    /// if there is one (see [`tasks::retry_target`]), and gives it the partition; `Err` once
    /// the task failed [`MAX_ATTEMPTS`](tasks::MAX_ATTEMPTS) times on most of the live
    /// workers, or on all of them (see [`Attempts::failed`]).
    fn retry(
        &mut self,
        spec: &TaskSpec<'_>,
        partition: usize,
        attempts: &mut Attempts,
        worker: usize,
        message: &str,
    ) -> Result<Unsent, RuntimeError> {
        let tried = match attempts.failed(partition, worker, &self.table.workers) {
            Ok(tried) => tried,
            Err(tried) => {
                let distinct = tasks::distinct_workers(&self.table.workers, tried);
                return Err(RuntimeError::TaskFailed {
                    task: spec.task.to_owned(),
                    worker: self.table.workers[worker].name.clone(),
                    message: format!(
                        "{message} (partition {partition} failed {} times, on {distinct} \
                         workers)",
                        tried.len()
                    ),
                });
            }
        };
        let Some(heir) = tasks::retry_target(&self.table.workers, partition as u32, tried, worker)
        else {
            return Err(self.no_workers());
        };
        if !self.table.workers[heir]
            .partitions
            .contains(&(partition as u32))
        {
            self.give_partition(heir, partition as u32);
        }
        self.stats.retried_tasks += 1;
        tracing::info!(partition, to = %self.table.workers[heir].name, "retrying a task");
        Ok(Unsent {
            partition,
            on: Some(heir),
        })
    }

    /// Tasks of `pending` running far beyond their worker's usual time are sent to another
    /// live worker too (once per partition, when one has room for it); the first result wins.
    /// A worker with a hung task that has answered nothing for the hang floor is struck, once
    /// per hang floor of silence (the driver looks at every heartbeat, and a task with nowhere
    /// else to go stays hung between looks): one struck [`EXCLUDE_AFTER`] times in a row
    /// (heartbeats going on, nothing answered) is excluded, or every step would wait the hang
    /// limit for it. A worker still answering is not: the tasks queued behind its others only
    /// look hung, as their age counts from their sending. A partition whose task hung on
    /// [`most_of`](tasks::most_of) the live workers, each answering nothing else for the hang
    /// floor, ends the run with [`RuntimeError::TaskFailed`]: the task hangs wherever
    /// it runs, and waiting for it would wait for good.
    pub(super) fn redispatch_hung(
        &mut self,
        spec: &TaskSpec<'_>,
        pending: &mut HashMap<u64, usize>,
        hedged: &mut HashSet<usize>,
        hung_on: &mut WorkersOn<usize>,
    ) -> Result<(), RuntimeError> {
        // Woken from a pause, the driver takes it off first: nobody watched the tasks then.
        self.see_own_pause();
        let workers = &self.table.workers;
        let hung = self
            .tasks
            .hung(pending, tasks::usual_task_s(workers), Instant::now());
        let mut struck = HashSet::new();
        for (partition, worker, seq) in hung {
            // A worker still answering may hold the task queued behind its others: only a
            // silent one's hang counts against the task.
            if self.silent_for_hang_floor(worker) {
                let info = &self.table.workers[worker];
                if let Err(on) = hung_on.add(partition, info.worker(), self.table.alive(), seq) {
                    return Err(RuntimeError::TaskFailed {
                        task: spec.task.to_owned(),
                        worker: info.name.clone(),
                        message: tasks::hung_everywhere(&format!("partition {partition}"), &on),
                    });
                }
            }
            if !struck.contains(&worker) && self.strike_if_silent(worker) {
                struck.insert(worker);
            }
            // Done again elsewhere once: its copy is awaited beside it.
            if hedged.contains(&partition) {
                continue;
            }
            let Some(other) = tasks::hedge_target(&self.table.workers, worker) else {
                continue;
            };
            if !self.table.workers[other]
                .partitions
                .contains(&(partition as u32))
            {
                self.give_partition(other, partition as u32);
            }
            hedged.insert(partition);
            self.stats.hung_tasks += 1;
            tracing::warn!(
                partition,
                from = %self.table.workers[worker].name,
                to = %self.table.workers[other].name,
                "a task hangs; doing it again elsewhere"
            );
            let again = self.dispatch(other, partition as u32, spec);
            pending.insert(again, partition);
        }
        self.exclude_struck_out(struck);
        Ok(())
    }

    /// Whether `worker` has answered nothing for the hang floor.
    fn silent_for_hang_floor(&self, worker: usize) -> bool {
        self.table.workers[worker].last_result.elapsed() >= tasks::HANG_FLOOR
    }

    /// Strikes `worker`, whose task hangs, if it has answered nothing for the hang floor since
    /// its last result or strike; whether it was struck.
    fn strike_if_silent(&mut self, worker: usize) -> bool {
        let info = &mut self.table.workers[worker];
        let silent_since = info
            .last_struck
            .map_or(info.last_result, |at| at.max(info.last_result));
        if silent_since.elapsed() < tasks::HANG_FLOOR {
            return false;
        }
        info.hang_strikes += 1;
        info.last_struck = Some(Instant::now());
        true
    }

    /// Excludes those of `struck` struck [`EXCLUDE_AFTER`] times in a row.
    fn exclude_struck_out(&mut self, struck: impl IntoIterator<Item = usize>) {
        for worker in struck {
            let streak = self.table.workers[worker].hang_strikes;
            if streak >= EXCLUDE_AFTER {
                let reason =
                    format!("it answered nothing for the hang limit {streak} times in a row");
                self.exclude(worker, &reason);
            }
        }
    }

    /// An asynchronous site never waits on one task, but a worker whose tasks hang while its
    /// heartbeats go on (a stuck task thread, or an insider taking tasks and answering none)
    /// kept its partitions out of training for good, silently. It is struck as a synchronous
    /// step strikes it, and once struck out it is excluded and its partitions move.
    pub(super) fn strike_hanging_workers(&mut self) {
        // Woken from a pause, the driver takes it off first: nobody watched the tasks then.
        self.see_own_pause();
        let now = Instant::now();
        // Asked after every event: the medians below are worked out once a second at most.
        if !self.tasks.time_to_look_for_hangs(now) {
            return;
        }
        let workers = &self.table.workers;
        let hanging = self.tasks.hanging_tasks(tasks::usual_task_s(workers), now);
        // A site whose tasks hang on most of the workers, silent, hangs wherever it runs: each
        // worker struck out in turn, then their replacements, and the run trained nothing for
        // good.
        let alive = self.table.alive();
        for &(worker, site, seq) in &hanging {
            let info = &self.table.workers[worker];
            if !info.alive || !self.silent_for_hang_floor(worker) {
                continue;
            }
            if let Err(on) = self.sites_hung.add(site, info.worker(), alive, seq) {
                let error = RuntimeError::TaskFailed {
                    task: site.to_owned(),
                    worker: info.name.clone(),
                    message: tasks::hung_everywhere("its task", &on),
                };
                self.fail(error);
                return;
            }
        }
        let mut workers: Vec<usize> = hanging.into_iter().map(|(worker, ..)| worker).collect();
        workers.dedup();
        let struck: Vec<usize> = workers
            .into_iter()
            .filter(|&worker| self.table.workers[worker].alive && self.strike_if_silent(worker))
            .collect();
        self.exclude_struck_out(struck);
    }

    /// Runs `task` on every partition and returns the results in partition order, one update
    /// ([`Driver::gather_all`], then [`Driver::count_update`]).
    #[cfg(test)]
    pub(crate) fn reduce_all<R>(
        &mut self,
        data: &Dataset,
        spec: &TaskSpec<'_>,
        decode: Decoder<'_, R>,
    ) -> Result<Vec<R>, RuntimeError> {
        let parts = self.gather_all(data, spec, decode)?;
        self.count_update();
        Ok(parts)
    }

    /// One update of the model: the clock ticks. A synchronous reduce counts as one once its
    /// parts were combined, and only inside the training loop: a one-off reduce (an initial
    /// full gradient, a final evaluation) updates nothing, and a round whose parts cannot be
    /// combined ends the run at the update before.
    pub(crate) fn count_update(&mut self) {
        self.table.clock += 1;
        self.stats.updates += 1;
    }

    /// Runs `task` on every partition and returns the results in partition order. A failed
    /// task or a bad result is tried again elsewhere, up to
    /// [`MAX_ATTEMPTS`](tasks::MAX_ATTEMPTS) times (more while the workers it failed on are
    /// not most of the live ones: [`Attempts::failed`]).
    pub(crate) fn gather_all<R>(
        &mut self,
        data: &Dataset,
        spec: &TaskSpec<'_>,
        decode: Decoder<'_, R>,
    ) -> Result<Vec<R>, RuntimeError> {
        self.ensure_shipped(data)?;
        let partitions = self.owners().len();
        let mut round = Round {
            results: (0..partitions).map(|_| None).collect(),
            pending: HashMap::with_capacity(partitions),
            hedged: HashSet::new(),
            held: Vec::new(),
            attempts: Attempts::default(),
            hung_on: WorkersOn::default(),
            not_finite_on: WorkersOn::default(),
            waiting: (0..partitions).map(Unsent::to_owner).collect(),
        };
        while !round.pending.is_empty() || !round.held.is_empty() || !round.waiting.is_empty() {
            self.send_waiting(spec, &mut round);
            if round.pending.is_empty() {
                // Nothing left that could settle the shape: ask the held ones' workers again,
                // or, for a worker lost since, the partition's new owner.
                for (partition, arrived) in std::mem::take(&mut round.held) {
                    round.waiting.push_back(Unsent {
                        partition,
                        on: Some(arrived.worker),
                    });
                }
                self.send_waiting(spec, &mut round);
            }
            self.pump()?;
            if self.failure.is_some() {
                return Err(self.failure.take().expect("checked"));
            }
            self.redispatch_hung(
                spec,
                &mut round.pending,
                &mut round.hedged,
                &mut round.hung_on,
            )?;
            // Tasks of lost workers are done again by their partitions' new owners, as soon as
            // there is a live one.
            for seq in self.tasks.take_written_off() {
                if let Some(partition) = round.pending.remove(&seq) {
                    round.waiting.push_back(Unsent::to_owner(partition));
                }
            }
            // This site's failures; an asynchronous site's wait for its next call.
            let pending = &round.pending;
            let ours = |f: &Failed| f.task == spec.task || pending.contains_key(&f.seq);
            for failed in self.tasks.take_failures(ours) {
                if let Some(partition) = round.pending.remove(&failed.seq) {
                    let again = self.retry(
                        spec,
                        partition,
                        &mut round.attempts,
                        failed.worker,
                        &failed.message,
                    )?;
                    round.waiting.push_back(again);
                }
            }
            // Results of asynchronous sites are put aside for them.
            for arrived in self.results.take_arrived() {
                self.consume(&arrived);
                if self
                    .results
                    .drop_if_superseded(arrived.seq, &mut self.stats)
                {
                    continue;
                }
                let Some(partition) = round.pending.remove(&arrived.seq) else {
                    self.results.park(arrived, &mut self.stats);
                    continue;
                };
                self.judge(spec, decode, &mut round, partition, arrived)?;
            }
            // Held results are judged again once a second worker has settled their shape.
            let settled = round
                .held
                .first()
                .is_some_and(|(_, a)| self.shapes.is_settled(a.task));
            if settled {
                for (partition, arrived) in std::mem::take(&mut round.held) {
                    self.judge(spec, decode, &mut round, partition, arrived)?;
                }
            }
        }
        self.stats.results_used += round.results.len() as u64;
        Ok(round
            .results
            .into_iter()
            .map(|r| r.expect("every partition answered"))
            .collect())
    }

    /// Sends the waiting tasks of `round` whose workers are alive and take another task, in
    /// the order they began to wait.
    fn send_waiting<R>(&mut self, spec: &TaskSpec<'_>, round: &mut Round<R>) {
        let pending = &mut round.pending;
        round.waiting.retain(|unsent| {
            let partition = unsent.partition;
            let worker = unsent
                .on
                .filter(|&chosen| self.table.workers[chosen].alive)
                .unwrap_or(self.owners()[partition]);
            let info = &self.table.workers[worker];
            if !info.alive || info.in_flight >= MAX_QUEUED_TASKS {
                return true;
            }
            let seq = self.dispatch(worker, partition as u32, spec);
            pending.insert(seq, partition);
            false
        });
    }

    /// Checks a result of a synchronous reduce for `partition` and uses it, holds it until its
    /// site's shape is settled, or does the task again elsewhere.
    fn judge<R>(
        &mut self,
        spec: &TaskSpec<'_>,
        decode: Decoder<'_, R>,
        round: &mut Round<R>,
        partition: usize,
        arrived: Arrived,
    ) -> Result<(), RuntimeError> {
        match self.accept(&arrived, decode, true) {
            Verdict::Good(value) => {
                round.results[partition] = Some(value);
                // A copy of the task sent because it hung is not awaited any more. Only a
                // hedged partition has one: the others cost no pass over the tasks awaited.
                if !round.hedged.contains(&partition) {
                    return Ok(());
                }
                let twins: Vec<u64> = round
                    .pending
                    .iter()
                    .filter(|(_, &p)| p == partition)
                    .map(|(&seq, _)| seq)
                    .collect();
                for twin in twins {
                    round.pending.remove(&twin);
                    self.results.supersede(twin);
                }
            }
            Verdict::Unconfirmed if self.table.workers[arrived.worker].alive => {
                round.held.push((partition, arrived));
            }
            Verdict::NotFinite(reason) => {
                let worker = self.table.workers[arrived.worker].worker();
                let blamed =
                    round
                        .not_finite_on
                        .add(partition, worker, self.table.alive(), arrived.seq);
                let what = format!("partition {partition}");
                self.not_finite_result(&arrived, &reason, blamed, &what)?;
                let why = format!("its result failed the driver's checks: {reason}");
                let again =
                    self.retry(spec, partition, &mut round.attempts, arrived.worker, &why)?;
                round.waiting.push_back(again);
            }
            verdict => {
                // The reason goes into the run's error if this was the last attempt: an
                // author's task of the wrong shape fails the same way everywhere.
                let why = match verdict {
                    Verdict::Bad(reason) => {
                        format!("its result failed the driver's checks: {reason}")
                    }
                    _ => "its result failed the driver's checks".to_owned(),
                };
                let again =
                    self.retry(spec, partition, &mut round.attempts, arrived.worker, &why)?;
                round.waiting.push_back(again);
            }
        }
        Ok(())
    }

    /// A failure of an asynchronous site's task: its worker is idle again and others take
    /// the work (see [`SiteFailures`](super::tasks::SiteFailures)).
    fn site_failed(&mut self, failed: Failed) -> Result<(), RuntimeError> {
        let alive = self.table.alive();
        let worker = self.table.workers[failed.worker].worker();
        if let Err((count, workers)) =
            self.site_failures
                .failed(failed.task, worker, alive, failed.seq)
        {
            return Err(RuntimeError::TaskFailed {
                task: failed.task.to_owned(),
                worker: self.table.workers[failed.worker].name.clone(),
                message: format!(
                    "{} (failed {count} times in a row, on {workers} workers)",
                    failed.message
                ),
            });
        }
        self.stats.retried_tasks += 1;
        Ok(())
    }

    /// Lets the barrier dispatch work, then returns the next result fresh enough to use.
    pub(crate) fn reduce_next<R>(
        &mut self,
        data: &Dataset,
        spec: &TaskSpec<'_>,
        barrier: Gate<'_>,
        max_staleness: Option<u64>,
        decode: Decoder<'_, R>,
    ) -> Result<Collected<R>, RuntimeError> {
        let mut taken = self.collect(data, spec, barrier, max_staleness, decode, false)?;
        Ok(taken.pop().expect("collect returns at least one result"))
    }

    /// A drain: lets the barrier dispatch work, waits for one result fresh enough to use, then
    /// takes every other result already received, each with its metadata. One update.
    pub(crate) fn reduce_drain<R>(
        &mut self,
        data: &Dataset,
        spec: &TaskSpec<'_>,
        barrier: Gate<'_>,
        max_staleness: Option<u64>,
        decode: Decoder<'_, R>,
    ) -> Result<Vec<Collected<R>>, RuntimeError> {
        self.collect(data, spec, barrier, max_staleness, decode, true)
    }

    /// The asynchronous reduce: one result (`all == false`) or every result in hand once
    /// there is one (`all == true`); either way one update, one tick of the clock.
    fn collect<R>(
        &mut self,
        data: &Dataset,
        spec: &TaskSpec<'_>,
        (rule, select): Gate<'_>,
        max_staleness: Option<u64>,
        decode: Decoder<'_, R>,
        all: bool,
    ) -> Result<Vec<Collected<R>>, RuntimeError> {
        self.ensure_shipped(data)?;
        let task = spec.task;
        self.drain();
        self.watch();
        // Tasks of lost workers are simply not awaited: other workers take their partitions.
        self.tasks.forget_written_off();
        let mut taken = Vec::new();
        // The barrier first, as every call: workers whose results earlier calls used get work
        // now, even when a result is already in hand.
        self.release(spec, rule, select)?;
        loop {
            if let Some(failure) = self.failure.take() {
                return Err(failure);
            }
            for failed in self.tasks.take_failures(|f| f.task == task) {
                self.site_failed(failed)?;
            }
            while let Some(arrived) = self.next_in_hand(task) {
                let clock = self.table.clock;
                let (arrived, staleness) =
                    match self
                        .results
                        .screen(arrived, task, clock, max_staleness, &mut self.stats)
                    {
                        Screened::Passed => continue,
                        Screened::Stale { worker, staleness } => {
                            self.table.workers[worker].last_staleness = staleness;
                            continue;
                        }
                        Screened::Fresh { arrived, staleness } => (arrived, staleness),
                    };
                self.table.workers[arrived.worker].last_staleness = staleness;
                let value = match self.accept(&arrived, decode, false) {
                    Verdict::Good(value) => value,
                    Verdict::Unconfirmed => {
                        self.stats.dropped_unconfirmed += 1;
                        continue;
                    }
                    Verdict::Bad(_) => continue,
                    Verdict::NotFinite(reason) => {
                        let worker = self.table.workers[arrived.worker].worker();
                        let alive = self.table.alive();
                        let blamed = self.sites_not_finite.add(task, worker, alive, arrived.seq);
                        self.not_finite_result(&arrived, &reason, blamed, "its task")?;
                        continue;
                    }
                };
                taken.push(Collected {
                    value,
                    meta: arrived.into_meta(staleness),
                });
                if !all {
                    break;
                }
            }
            if !taken.is_empty() {
                // A drain also takes what the link already received, without waiting.
                if all {
                    self.drain();
                    if self.results.has_arrived() || self.results.has_parked(task) {
                        continue;
                    }
                }
                break;
            }
            self.release(spec, rule, select)?;
            self.pump()?;
            self.strike_hanging_workers();
        }
        self.results.set_last(taken.last().map(|c| c.meta.clone()));
        self.stats.results_used += taken.len() as u64;
        self.table.clock += 1;
        self.stats.updates += 1;
        Ok(taken)
    }

    /// The next result in hand for `site`: those set aside for it first (already consumed),
    /// then what arrived (consumed now: its worker may work again).
    fn next_in_hand(&mut self, site: &'static str) -> Option<Arrived> {
        if let Some(arrived) = self.results.pop_parked(site) {
            return Some(arrived);
        }
        let arrived = self.results.pop()?;
        self.consume(&arrived);
        Some(arrived)
    }

    /// Whether no result can come to change the worker table: none is in hand for `site`,
    /// and no task in flight may still answer (none is, or each one hangs: its worker is
    /// alive, but its task thread is stuck).
    fn nothing_to_wait_for(&self, site: &'static str) -> bool {
        let workers = &self.table.workers;
        !self.results.has_arrived()
            && !self.results.has_parked(site)
            && self
                .tasks
                .none_expected(tasks::usual_task_s(workers), Instant::now())
    }

    /// Applies the barrier: when its rule holds, the idle workers it selects get the task.
    /// When no result can change the table (see [`Driver::nothing_to_wait_for`]), a rule
    /// that says no is overridden (counted, logged) and a selection that picks no idle
    /// worker ends the run with [`RuntimeError::BarrierDeadlock`].
    fn release(
        &mut self,
        spec: &TaskSpec<'_>,
        rule: &dyn Fn(&WorkerTable) -> bool,
        select: &dyn Fn(&WorkerInfo, &WorkerTable) -> bool,
    ) -> Result<(), RuntimeError> {
        // Whether nothing can answer is asked only of a rule that says no: every update of an
        // asynchronous site passes here.
        if rule(&self.table) {
            self.dispatch_to_idle(spec, select);
        } else if self.table.idle() > 0 && self.nothing_to_wait_for(spec.task) {
            self.stats.barrier_overrides += 1;
            let overrides = self.stats.barrier_overrides;
            if overrides.is_power_of_two() {
                tracing::warn!(
                    task = spec.task,
                    overrides,
                    "the barrier's rule holds every worker back while no task in flight can \
                     answer (none is, or each hangs): no result can change the worker table, \
                     so the task goes out anyway"
                );
            }
            self.dispatch_to_idle(spec, select);
        }
        // Only with nothing in flight at all: a task that seems to hang may still answer.
        if self.tasks.is_empty()
            && !self.results.has_arrived()
            && !self.results.has_parked(spec.task)
        {
            let idle: Vec<&str> = self
                .table
                .workers
                .iter()
                .filter(|w| w.is_idle())
                .map(|w| w.name.as_str())
                .collect();
            if !idle.is_empty() {
                return Err(RuntimeError::BarrierDeadlock {
                    task: spec.task.to_owned(),
                    idle: idle.join(", "),
                });
            }
        }
        Ok(())
    }
}

/// How many live workers own partitions: those a synchronous reduce sends its tasks to.
fn live_owners(table: &WorkerTable, owners: &[usize]) -> usize {
    let mut live: Vec<usize> = owners
        .iter()
        .copied()
        .filter(|&w| table.workers[w].alive)
        .collect();
    live.sort_unstable();
    live.dedup();
    live.len()
}

/// One result of a drain (`reduce!(..., collect = all)`), with where it came from and what it
/// read.
#[derive(Debug, Clone)]
pub struct Collected<R> {
    /// The closure's result.
    pub value: R,
    /// Its worker, partition, staleness and the broadcast versions its task read.
    pub meta: ResultMeta,
}
