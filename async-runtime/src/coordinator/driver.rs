//! The driver handle an `#[async_optimizer]` function receives: launch, observe, finish.

use std::any::{type_name, Any, TypeId};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::checkpoints::Checkpoints;
use super::clock::RunClock;
use super::joins::Joins;
use super::local::LocalWorkers;
use super::placement::{shipping_key, Placement};
use super::report::{DriverPauses, RunReport, RunStats};
use super::result_meta::ResultMeta;
use super::results::ResultQueue;
use super::shapes::SiteShapes;
use super::split_reads::SplitReads;
use super::stop::StopHandle;
use super::table::{WorkerTable, DEPARTED_ROWS_KEPT};
use super::tasks::{SiteFailures, TaskBook, WorkersOn};
use crate::broadcast::Broadcast;
use crate::broadcaster::{Holdings, VersionStore};
use crate::cluster::{self, ClusterConfig, Series, MAX_KEEP_VERSIONS};
use crate::data::Dataset;
use crate::error::RuntimeError;
use crate::protocol::ToWorker;
use crate::transport::frame;
use crate::transport::{DriverLink, Link};

/// Whether the training loop goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep training.
    Continue,
    /// Leave the loop: a stop rule fired.
    Stop,
}

/// Where the run stands, as observers see it.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Updates applied so far.
    pub updates: u64,
    /// Seconds of training so far, without the observers' own time.
    pub elapsed_s: f64,
    /// Results dropped as too stale so far.
    pub dropped_stale: u64,
    /// Workers taking part now ([`WorkerTable::alive`]): more than the run's count while
    /// workers that joined past it are live.
    pub workers: usize,
}

type Observer = Box<dyn FnMut(&Progress, &dyn Any) -> Flow + Send>;

/// The driver of a run: the coordinator and the broadcaster behind one handle.
///
/// ```no_run
/// use asyncopt_runtime::{ClusterConfig, Driver};
/// # fn main() -> Result<(), asyncopt_runtime::RuntimeError> {
/// let mut driver = Driver::launch(ClusterConfig::local(4))?;
/// // ... call an #[async_optimizer] function with `&mut driver` ...
/// let report = driver.finish()?;
/// println!("{} updates in {:.2} s", report.stats.updates, report.elapsed_s);
/// # Ok(()) }
/// ```
pub struct Driver {
    /// The wire: the socket thread, or a scripted fake in the coordinator's tests.
    pub(crate) link: Box<dyn Link>,
    pub(crate) run_id: u64,
    pub(crate) config: ClusterConfig,
    pub(crate) table: WorkerTable,
    pub(crate) versions: VersionStore,
    /// What each worker holds of the versions.
    pub(crate) holdings: Holdings,
    /// The shipped dataset, its partitions' owners, the partitions on their way.
    pub(crate) placement: Placement,
    /// The driver's own reads of splits that two hosts said they cannot read.
    pub(crate) split_reads: SplitReads,
    /// The tasks in flight, failed and written off.
    pub(crate) tasks: TaskBook,
    /// The results in hand, and which of them count.
    pub(crate) results: ResultQueue,
    pub(crate) stats: RunStats,
    pub(crate) failure: Option<RuntimeError>,
    /// An observer's stop rule fired.
    pub(crate) stopped: bool,
    /// Whether the workers were told the run is over.
    workers_shut_down: bool,
    /// A stop asked for from outside the loop (Ctrl-C).
    stop: StopHandle,
    /// The training time after which the training loop ends ([`Driver::stop_after`]).
    time_limit: Option<Duration>,
    /// With checkpoints on, a stop is acted on only once the top of a pass of the training
    /// loop has seen it and saved the state there: one seen mid-pass would leave the loop
    /// with no checkpoint of where it stopped. `None` outside a training loop: before its
    /// first pass, and once it is left.
    pub(crate) stop_seen_at_top: Option<bool>,
    /// The updates the run began with: 0, or those of the checkpoint it resumed. A stop
    /// asked for before any update after them waits for none ([`Driver::wait_given_up`]).
    pub(crate) updates_at_start: u64,
    /// Training time: from the first broadcast, without pauses, after the resumed run's.
    pub(crate) training_time: RunClock,
    /// The worker processes this driver started on its own host, and their replacements.
    pub(crate) local: LocalWorkers,
    /// When the workers' liveness was last checked.
    pub(crate) last_liveness_check: Instant,
    /// Since when no remote worker is alive: they may come back (a network cut, restarted
    /// hosts) within the join timeout.
    pub(crate) all_lost_since: Option<Instant>,
    /// The times the driver itself did not run, as its liveness checks found them.
    pub(crate) pauses: DriverPauses,
    /// The shape each `reduce!` site's results must have.
    pub(crate) shapes: SiteShapes,
    /// Per asynchronous `reduce!` site: failures since its last good result, and on whom.
    pub(crate) site_failures: SiteFailures,
    /// Per asynchronous `reduce!` site: the workers its tasks hung on since its last good
    /// result.
    pub(crate) sites_hung: WorkersOn<&'static str>,
    /// Per asynchronous `reduce!` site: the workers that returned results of it that are not
    /// finite since its last good result.
    pub(crate) sites_not_finite: WorkersOn<&'static str>,
    /// What the optimizer chose at run time and recorded (see [`Driver::note`]).
    notes: BTreeMap<String, f64>,
    observer: Option<Observer>,
    /// Checkpoints: the policy, the last one and the one being written, the one resumed.
    pub(crate) checkpoints: Checkpoints,
    /// Why workers were excluded: the cause of a run that runs out of workers.
    pub(crate) exclusions: super::exclusions::Exclusions,
    /// The budget of joins, and how often their lines are logged.
    pub(crate) joins: Joins,
}

impl Driver {
    /// Starts a run: binds the driver's socket, starts local worker processes if the
    /// configuration asks for them, and waits until the expected workers joined.
    pub fn launch(config: ClusterConfig) -> Result<Driver, RuntimeError> {
        let mut driver = Driver::bind(config)?;
        driver.wait_for_workers()?;
        Ok(driver)
    }

    /// Binds the driver's socket and starts local workers if asked, without waiting for them:
    /// [`Driver::endpoint`] tells remote workers where to connect, then
    /// [`Driver::wait_for_workers`] admits them.
    pub fn bind(mut config: ClusterConfig) -> Result<Driver, RuntimeError> {
        config.validate()?;
        if config.spawn_local && config.token.is_none() {
            // Local workers are handed the token: a fresh one costs nothing.
            config.token = Some(crate::Token::random());
        }
        let run_id = cluster::new_run_id();
        let link = DriverLink::start(crate::transport::LinkConfig {
            bind: config.bind.clone(),
            run_id,
            heartbeat: config.heartbeat,
            max_frame: config.max_frame,
            token: config.token.clone().unwrap_or_else(crate::Token::loopback),
            encrypt: config.encrypt,
            // A whole cluster says hello at once: none of its handshakes must make room.
            max_strangers: config.max_strangers.max(2 * config.workers),
            handshake_deadline: config.handshake_deadline,
        })?;
        let mut driver = Driver::assemble(config, run_id, Box::new(link));
        if driver.config.spawn_local {
            driver.local = LocalWorkers::start(&driver.config, driver.link.endpoint())?;
        }
        Ok(driver)
    }

    /// A driver of run `run_id` on `link`, with no worker yet.
    pub(crate) fn assemble(config: ClusterConfig, run_id: u64, link: Box<dyn Link>) -> Driver {
        let joins = Joins::new(&config, Instant::now());
        let table = WorkerTable::keeping(DEPARTED_ROWS_KEPT.max(config.workers));
        Driver {
            link,
            run_id,
            versions: VersionStore::new(config.keep_versions.max(config.cache_versions)),
            holdings: Holdings::new(config.cache_versions),
            config,
            table,
            placement: Placement::default(),
            split_reads: SplitReads::default(),
            tasks: TaskBook::default(),
            results: ResultQueue::default(),
            stats: RunStats::default(),
            failure: None,
            stopped: false,
            workers_shut_down: false,
            stop: StopHandle::new(),
            time_limit: None,
            stop_seen_at_top: None,
            updates_at_start: 0,
            training_time: RunClock::default(),
            local: LocalWorkers::default(),
            shapes: SiteShapes::default(),
            site_failures: SiteFailures::default(),
            sites_hung: WorkersOn::default(),
            sites_not_finite: WorkersOn::default(),
            notes: BTreeMap::new(),
            last_liveness_check: Instant::now(),
            all_lost_since: None,
            pauses: DriverPauses::default(),
            observer: None,
            checkpoints: Checkpoints::default(),
            exclusions: Default::default(),
            joins,
        }
    }

    /// The run has no live worker left, and will get none.
    pub(crate) fn no_workers(&self) -> RuntimeError {
        let failed_everywhere = self
            .exclusions
            .failed_everywhere(self.stats.lost_workers as usize)
            .map(str::to_owned);
        RuntimeError::NoWorkers {
            lost: self.stats.lost_workers as usize,
            last_excluded: self.exclusions.last().map(str::to_owned),
            // A task that fails wherever it runs would fail on newcomers too: no setting
            // about workers is the cause.
            none_came: match failed_everywhere {
                Some(_) => None,
                None => self.why_no_worker_came(),
            },
            failed_everywhere,
        }
    }

    /// Why the lost workers were not made up for, in the flag that decided it: a user who
    /// reads only `no live worker is left` cannot tell which setting would have kept the run
    /// going.
    pub(super) fn why_no_worker_came(&self) -> Option<String> {
        let config = &self.config;
        if !config.spawn_local {
            return Some(format!(
                "none joined again within --join-timeout {} s",
                config.join_timeout.as_secs_f64()
            ));
        }
        match config.max_respawns {
            _ if self.local.replaced() < config.max_respawns => None,
            0 => Some("--max-respawns 0 allows no replacement".into()),
            1 => Some("the one replacement --max-respawns 1 allows was started".into()),
            n => Some(format!(
                "the {n} replacements --max-respawns {n} allows were all started"
            )),
        }
    }

    /// The address workers connect to.
    pub fn endpoint(&self) -> &str {
        self.link.endpoint()
    }

    /// The worker table.
    pub fn workers(&self) -> &WorkerTable {
        &self.table
    }

    /// The partitions `data` is cut into: those it was shipped in, or, before a `reduce!`
    /// over it ships it, as many as that will cut it into (the live workers times
    /// `partitions_per_worker`). A lost worker's partitions move to others: the count stays.
    pub fn partitions(&self, data: &Dataset) -> usize {
        if self.placement.is_shipped(shipping_key(data)) {
            self.placement.partitions()
        } else {
            self.table.alive() * self.config.partitions_per_worker
        }
    }

    /// Records `value` under `name`: a value the optimizer chose at run time, such as an
    /// epoch length it computed from the data or a step a line search found, so that the run
    /// says what it used. Kept in [`RunReport::notes`] (the command line writes them in its
    /// summary); a later note of the same name replaces the earlier one.
    pub fn note(&mut self, name: &str, value: f64) {
        self.notes.insert(name.to_owned(), value);
    }

    /// The counters so far.
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// Where the last result handed to the algorithm came from (worker, staleness,
    /// partition, the versions its task read). After a drain (`collect = all`) that is the
    /// last of its results, in the order they arrived: each result's own is its
    /// [`Collected::meta`](crate::Collected::meta).
    pub fn last_result(&self) -> Option<&ResultMeta> {
        self.results.last()
    }

    /// The name of the worker at row `row` of the table (`w0`, ...; a worker's
    /// [`ResultMeta::worker`] is its row): the name `select` sees and the report lists.
    /// `None` past the table.
    pub fn worker_name(&self, row: usize) -> Option<&str> {
        self.table.workers.get(row).map(|w| w.name.as_str())
    }

    /// The latest version of broadcast variable `name`, or `None` if it was never broadcast.
    /// A task reading it now reads this version; `w.at(v)` in a `reduce!` closure reads an
    /// older one. Versions start at 1 and count changes: a `broadcast!` of a value equal to
    /// the latest keeps its number, so `version - k` is not the version of `k` updates ago.
    pub fn version(&self, name: &str) -> Option<u64> {
        let slot = self.versions.slot(name)?;
        Some(self.versions.latest(slot)?.version)
    }

    /// Version `version` of broadcast variable `name`, decoded as `T` (the type its
    /// `broadcast!` published), while the driver keeps it: the value an older result's task
    /// read (`cx.last_result()`, then `version_of("w")`), as a delay-compensated step needs,
    /// without a copy of its own per update. `None` if it was never published, is no longer
    /// kept (only the last [`ClusterConfig::keep_versions`] are: raise it with
    /// [`Driver::keep_versions`] to read further back), or is not a `T` (a warning then names
    /// the type `name` is broadcast as). Once it has read a variable, a checkpoint saves
    /// every version of it kept, which a resumed run reads as this one would have.
    ///
    /// ```no_run
    /// # fn after_reduce(cx: &asyncopt_runtime::Driver) {
    /// let then = cx.last_result().and_then(|m| m.version_of("w")).expect("its task read w");
    /// let w_then: ndarray::Array1<f64> = cx.value_at("w", then).expect("still kept");
    /// # }
    /// ```
    pub fn value_at<T: Broadcast>(&self, name: &str, version: u64) -> Option<T> {
        let slot = self.versions.slot(name)?;
        if let Some((published, published_name)) = self.versions.published_as(slot) {
            if published != TypeId::of::<T>() {
                // Else the caller's `expect("kept")` would blame eviction for a wrong type.
                tracing::warn!(
                    "value_at::<{}>(\"{name}\", {version}) gives None: `{name}` is broadcast as \
                     {published_name}",
                    type_name::<T>()
                );
                return None;
            }
        }
        let stored = self.versions.get(slot, version)?;
        // A variable read back is checkpointed with its kept versions, for a resumed run to
        // read them too.
        self.versions.note_read_back(slot);
        T::decode(&stored.bytes).ok()
    }

    /// Tasks sent and not yet answered (every site's): the results still to come.
    pub fn in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// Results received and not yet handed to the algorithm (every site's).
    pub fn in_hand(&self) -> usize {
        self.results.in_hand()
    }

    /// Staleness of the last result handed to the algorithm (0 before any). After a drain
    /// (`collect = all`), that of the last of its results in the order they arrived, not of
    /// each: read each one's [`ResultMeta::staleness`] from its `meta`.
    pub fn staleness(&self) -> u64 {
        self.results.last().map_or(0, |m| m.staleness)
    }

    /// Seconds of training so far: from the first broadcast, without the pauses (observers,
    /// shipping data), and with the training before the checkpoint the run resumed from.
    pub fn elapsed_s(&self) -> f64 {
        self.training_time.elapsed_s()
    }

    /// Calls `observer` with every new value of the model (the variable the optimizer
    /// returns, or else the first one it broadcasts); it returns [`Flow::Stop`] to end the loop. Its own time is not counted
    /// as training time.
    pub fn observe<T: Broadcast>(
        &mut self,
        mut observer: impl FnMut(&Progress, &T) -> Flow + Send + 'static,
    ) {
        let mut warned = false;
        self.observer = Some(Box::new(move |progress, value| {
            match value.downcast_ref::<T>() {
                Some(model) => observer(progress, model),
                None => {
                    // Not an error (the run goes on), but nothing would tell the user why
                    // their trace is empty.
                    if !std::mem::replace(&mut warned, true) {
                        tracing::warn!(
                            "the run's observer reads models of type {}, and the model this \
                             optimizer broadcasts is not one, so the observer never sees it: \
                             broadcast the variable the optimizer returns",
                            std::any::type_name::<T>()
                        );
                    }
                    Flow::Continue
                }
            }
        }));
    }

    /// A handle that stops this run from another thread (a Ctrl-C handler, say): the
    /// training loop ends at its next `broadcast!` or `reduce!` as if a stop rule fired; with
    /// checkpoints on, at the top of its next pass, after a last checkpoint there, unless no
    /// update came since the run began (a resumed run's checkpoint holds it all): it ends at once.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops this run when `handle` is asked to, instead of on its own handle: one handle can
    /// stop every run of a process. A handle already asked ends the run at its first pass.
    pub fn stop_on(&mut self, handle: StopHandle) {
        self.stop = handle;
    }

    /// Ends the training loop once `training` of training time ([`Driver::elapsed_s`]) has
    /// passed, at its next `broadcast!` as a stop rule would (an observer saying
    /// [`Flow::Stop`] then does the same). A `reduce!` that waits for results then (a task
    /// that hangs wherever it runs, say) is left once the limit is
    /// [`STOP_WAITS_FOR_PASS`](super::stop::STOP_WAITS_FOR_PASS) behind, as a stop from
    /// outside leaves it: the model so far is kept and [`Driver::finish`] reports the run.
    pub fn stop_after(&mut self, training: Duration) {
        self.time_limit = Some(training);
    }

    /// Why a wait for results, inside `reduce!`, ends with none: a stop asked for, or the
    /// time limit of a training loop passed, [`STOP_WAITS_FOR_PASS`] ago, and no update came
    /// to end the loop meanwhile (the run ends at its next update, and this one was not in
    /// sight). `None` while the wait goes on.
    ///
    /// [`STOP_WAITS_FOR_PASS`]: super::stop::STOP_WAITS_FOR_PASS
    pub(crate) fn wait_given_up(&self) -> Option<String> {
        let grace = super::stop::STOP_WAITS_FOR_PASS;
        if self.stopped_before_first_update() {
            return Some("a stop was asked for before the run's first update".to_owned());
        }
        if self.stop.asked_since().is_some_and(|since| since >= grace) {
            return Some(format!(
                "a stop was asked for, and no update came within {} s",
                grace.as_secs()
            ));
        }
        // Only inside the training loop: what follows it (a final evaluation) still runs.
        let limit = self
            .time_limit
            .filter(|_| self.stop_seen_at_top.is_some())?;
        (self.elapsed_s() >= (limit + grace).as_secs_f64()).then(|| {
            format!(
                "the time limit of {} s passed, and no update came within {} s",
                limit.as_secs_f64(),
                grace.as_secs()
            )
        })
    }

    /// Whether a stop was asked for inside the training loop before its first update (workers
    /// still reading their splits of a large file): no model beyond the one the run began with
    /// is to wait for, and the wait lasted as long as the reading, seconds to minutes after a
    /// Ctrl-C. With checkpoints on too: with no update since the start, or since the checkpoint
    /// the run resumed, there is nothing new to checkpoint, and that checkpoint stays as it is.
    pub(crate) fn stopped_before_first_update(&self) -> bool {
        let inside_loop = self.stop_seen_at_top.is_some();
        inside_loop && self.stats.updates == self.updates_at_start && self.stop.is_requested()
    }

    /// Whether the training loop's time limit ([`Driver::stop_after`]) has passed.
    fn out_of_time(&self) -> bool {
        self.stop_seen_at_top.is_some()
            && (self.time_limit).is_some_and(|limit| self.elapsed_s() >= limit.as_secs_f64())
    }

    /// The run's seed ([`ClusterConfig::seed`], `--seed`): for an optimizer's own draws on the
    /// driver (a random start), so that they follow the run's seed as its partitions do.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Keeps at least `versions` versions of each broadcast variable from now on, for pinned
    /// reads (`w.at(v)`) and [`Driver::value_at`] whose distance back the optimizer learns
    /// only at run time, such as an epoch's length or a staleness bound: never fewer than the run's
    /// [`ClusterConfig::keep_versions`]. More than [`MAX_KEEP_VERSIONS`] ends the run with an
    /// error that says so, and where the call is.
    #[track_caller]
    pub fn keep_versions(&mut self, versions: usize) {
        if versions > MAX_KEEP_VERSIONS {
            let at = std::panic::Location::caller();
            self.fail(RuntimeError::Config(format!(
                "keep_versions({versions}) at {at}: the driver keeps at most {MAX_KEEP_VERSIONS} \
                 versions of each broadcast variable (each is a copy of it in memory)"
            )));
            return;
        }
        self.versions.keep_at_least(versions);
    }

    /// Whether a stop was asked for through the run's [`StopHandle`].
    pub fn stop_requested(&self) -> bool {
        self.stop.is_requested()
    }

    /// Why the run failed, if it did; the algorithm's loop ended early then.
    pub fn failure(&self) -> Option<&RuntimeError> {
        self.failure.as_ref()
    }

    /// Ends the run: workers are told to exit, and the report is returned, or the error that
    /// ended the run early.
    pub fn finish(self) -> Result<RunReport, RuntimeError> {
        let (report, ended) = self.end();
        ended.map(|()| report)
    }

    /// [`Driver::finish`], with the report also of a run that failed: taken after what
    /// already arrived was handled, so that it counts the workers whose connections closed
    /// while the run ended, as its log says them lost.
    pub fn end(mut self) -> (RunReport, Result<(), RuntimeError>) {
        // A checkpoint still being written is waited for: the user must not believe they
        // have one that is not on disk.
        self.wait_for_checkpoint();
        // What already arrived counts in the report (a refusal the link answered just now).
        self.drain();
        let report = self.report();
        let another_run = self.config.series == Series::NotLast && !self.stop_requested();
        let _ = self.shutdown_workers(another_run);
        match self.failure.take() {
            Some(error) => (report, Err(error)),
            None => (report, Ok(())),
        }
    }

    /// The report of the run so far.
    pub fn report(&self) -> RunReport {
        let mut workers = self.table.all().to_vec();
        let now_s = self.elapsed_s();
        for worker in &mut workers {
            worker.stop_waiting(now_s);
        }
        let failures = self.checkpoints.failures();
        RunReport {
            elapsed_s: self.elapsed_s(),
            stats: self.stats.clone(),
            workers,
            forgotten_workers: self.table.forgotten().clone(),
            checkpoint_updates: self.checkpoints.on_disk(),
            checkpoints_failed: failures.count,
            checkpoint_error: failures.last.clone(),
            notes: self.notes.clone(),
            driver_pauses: self.pauses,
        }
    }

    /// Publishes a new version of a broadcast variable; returns `true` when the loop must end.
    pub(crate) fn publish<T: Broadcast>(&mut self, name: &str, value: &T, is_model: bool) -> bool {
        if self.halted() {
            return true;
        }
        self.training_time.start();
        let encoded = value.encode();
        // Every version travels whole to each worker at least once, in a task's frame: one
        // no frame can hold would be refused by every worker, again and again.
        let room = self.config.broadcast_room();
        if encoded.len() > room {
            self.fail(RuntimeError::Config(format!(
                "broadcast variable `{name}` encodes to {} bytes, and a frame to a worker holds \
                 at most {room} beside its task (ClusterConfig::max_frame, {} bytes): a value \
                 this large cannot be sent (a model of fewer features can)",
                encoded.len(),
                self.config.max_frame
            )));
            return true;
        }
        let published = self.versions.publish(name, encoded);
        self.versions.note_type(
            published.slot,
            (TypeId::of::<T>(), type_name::<T>()),
            overflowing_in::<T>,
        );
        if published.is_new {
            self.stats.versions_published += 1;
            tracing::trace!(
                name,
                slot = published.slot,
                version = published.version,
                "new version"
            );
        }
        if is_model && self.observer.is_some() {
            let progress = Progress {
                updates: self.stats.updates,
                elapsed_s: self.elapsed_s(),
                dropped_stale: self.stats.dropped_stale,
                workers: self.table.alive(),
            };
            if let Some(observer) = self.observer.as_mut() {
                let begun = Instant::now();
                let flow = observer(&progress, value as &dyn Any);
                self.leave_out_since(begun);
                if flow == Flow::Stop {
                    self.stopped = true;
                }
            }
        }
        // After the observer: it sees the last model.
        if self.out_of_time() {
            self.stopped = true;
        }
        self.halted()
    }

    /// Ends the run with `reason`, for an optimizer that finds it cannot go on (a setting its
    /// data does not allow, say): the next `broadcast!` leaves the training loop, and
    /// [`Driver::finish`] returns the reason as an error.
    pub fn abort(&mut self, reason: impl Into<String>) {
        self.fail(RuntimeError::Aborted(reason.into()));
    }

    /// Records a fatal error: the loop ends and [`Driver::finish`] returns it. Only a later
    /// one, which `finish` does not return, is logged as a warning: the first would otherwise
    /// be said twice.
    pub(crate) fn fail(&mut self, error: RuntimeError) {
        if self.failure.is_none() {
            tracing::debug!(%error, "the run cannot go on");
            self.failure = Some(error);
        } else {
            tracing::warn!(%error, "a further error after the run had failed");
        }
    }

    /// Whether the training loop must end: a stop rule fired, a stop was asked for, or the
    /// run failed.
    pub(crate) fn halted(&self) -> bool {
        self.stopped || self.stop_acted_on() || self.failure.is_some()
    }

    /// Whether a stop asked for from outside ends the loop now: at once, or, inside a
    /// training loop that takes checkpoints, once the top of a pass has saved its state (or
    /// the pass took too long to wait for).
    fn stop_acted_on(&self) -> bool {
        match self.stop_seen_at_top {
            Some(seen) if self.checkpoints.policy().is_some() => {
                seen || self
                    .stop
                    .asked_since()
                    .is_some_and(|waited| waited >= super::stop::STOP_WAITS_FOR_PASS)
            }
            _ => self.stop.is_requested(),
        }
    }

    /// Time spent in work that is not training (shipping data) is left out of `elapsed_s`
    /// and of the runtime's own time.
    pub(crate) fn pause_for<R>(&mut self, work: impl FnOnce(&mut Self) -> R) -> R {
        let (begun, blocked_s) = (Instant::now(), self.stats.blocked_s);
        // Left out while it goes on too: a time limit checked during the wait counted it.
        self.training_time.begin_pause(begun);
        let out = work(self);
        self.leave_out_since(begun);
        // Waiting for the data is not the runtime's blocked time either: counted there, it
        // came off the runtime's own time twice and made its time per task 0.
        self.stats.blocked_s = blocked_s;
        out
    }

    /// Leaves the time since `begun` out of the training time and of the runtime's own time:
    /// it was neither (an observer, shipping data).
    fn leave_out_since(&mut self, begun: Instant) {
        let pause = begun.elapsed();
        self.training_time.add_pause(pause);
        self.stats.runtime_s -= pause.as_secs_f64();
    }

    /// Runs a runtime call of the training loop, counting its time as the runtime's.
    pub(crate) fn runtime_call<R>(&mut self, call: impl FnOnce(&mut Self) -> R) -> R {
        let begun = Instant::now();
        let out = call(self);
        self.stats.runtime_s += begun.elapsed().as_secs_f64();
        out
    }

    /// Sends `message` to `worker`'s session, a task order as one (see [`Link::send_task`]);
    /// its encoded length.
    ///
    /// [`Link::send_task`]: crate::transport::Link::send_task
    pub(crate) fn send(&mut self, worker: usize, message: &ToWorker) -> usize {
        let task = match message {
            ToWorker::Task(order) => Some(order.seq),
            _ => None,
        };
        let bytes = frame::encode(self.run_id, message);
        let len = bytes.len();
        let info = &mut self.table.workers[worker];
        if let ToWorker::ReadSplit { order, .. } = message {
            // A worker this driver started reads a shared file on its grant, written before
            // the order goes (`crate::grants`); a remote one on its own --data.
            self.local.grant(info.pid, &order.path);
        }
        info.bytes_out += len as u64;
        self.stats.bytes_sent += len as u64;
        match task {
            Some(seq) => self.link.send_task(&info.name, info.session, seq, bytes),
            None => self.link.send(&info.name, info.session, bytes),
        }
        len
    }

    /// Tells every live worker the run is over, and whether `another_run` follows; waits for
    /// the local ones that are answering to exit, and ends the others. Once; how each waited
    /// for ended (as [`LocalWorkers::reap`](super::local::LocalWorkers::reap)).
    pub(crate) fn shutdown_workers(
        &mut self,
        another_run: bool,
    ) -> Vec<Option<std::process::ExitStatus>> {
        if self.workers_shut_down {
            return Vec::new();
        }
        self.dismiss(&ToWorker::Shutdown { another_run })
    }

    /// Tells every worker that joined a run that will not start (the driver gave up waiting
    /// for the others, `error`) why, so that one started with `--reconnect` exits at once
    /// rather than try to join again for its whole window; the admissions already in hand
    /// are told too. Once, as [`Driver::shutdown_workers`], which it stands for.
    pub(crate) fn dismiss_unstarted(&mut self, error: &RuntimeError) {
        if self.workers_shut_down {
            return;
        }
        self.drain();
        let why = match error {
            // Without the hint, which is for the driver's operator.
            RuntimeError::WorkersMissing {
                joined,
                expected,
                waited_s,
                ..
            } => format!("only {joined} of {expected} workers joined within {waited_s:.1} s"),
            other => other.to_string(),
        };
        let _ = self.dismiss(&ToWorker::NotStarting { reason: why });
    }

    /// Sends `dismissal` to every live worker; waits for the local ones that are answering
    /// to exit, and ends the others.
    fn dismiss(&mut self, dismissal: &ToWorker) -> Vec<Option<std::process::ExitStatus>> {
        self.workers_shut_down = true;
        // A live worker silent for three heartbeats (stopped, hung, not yet declared lost)
        // cannot read the order: waited for, it held the run's end for the whole grace.
        let answering = self.config.heartbeat * 3;
        let mut told = Vec::new();
        for index in 0..self.table.workers.len() {
            if self.table.workers[index].alive {
                self.send(index, dismissal);
                let info = &self.table.workers[index];
                if info.last_heard.elapsed() <= answering {
                    told.push(info.pid);
                }
            }
        }
        self.local.reap(Duration::from_secs(5), &told)
    }
}

/// [`Broadcast::overflowing`] of the `T` that `bytes` encode, if they decode as one: looked
/// for in a kept version only when a task that read it returned results that are not finite,
/// not on every publish (the driver's per-update path).
fn overflowing_in<T: Broadcast>(bytes: &[u8]) -> Option<f64> {
    T::decode(bytes).ok()?.overflowing()
}

impl Drop for Driver {
    fn drop(&mut self) {
        // No worker outlives its driver, even on an early return or a panic. A series of runs
        // ends here: its remote workers are dismissed, not left to wait for a next driver
        // that will not come; a run's own remote workers see it go, as for a crash.
        if self.config.series != Series::Alone || !self.local.is_empty() {
            let _ = self.shutdown_workers(false);
        }
    }
}
