//! The coordinator against a scripted link: fake workers answer the driver's orders in the
//! same call that sends them, so whole `reduce!` calls (shipping, dispatch, retries, results
//! of other sites, staleness) run in microseconds with no socket and no process. The system
//! tests, with real workers over real sockets, stay the proof that the parts fit.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ndarray::{Array1, Array2};
use serde_bytes::ByteBuf;

use super::barrier::Gate;
use super::dispatch::{ReadSpec, TaskSpec};
use super::driver::Driver;
use super::inbox::EXCLUDE_AFTER;
use super::inspect::Inspected;
use super::joins::JoinBudget;
use super::local::LocalWorkers;
use super::placement::PartSource;
use super::report::DriverPauses;
use super::table::{WorkerInfo, WorkerTable, DEPARTED_ROWS_KEPT};
use super::tasks::{WorkersOn, HANG_FLOOR};
use crate::cluster::ClusterConfig;
use crate::data::libsvm::tests::TempFile;
use crate::data::{DataError, Dataset, Features, LoadOptions, SharedOptions};
use crate::error::RuntimeError;
use crate::protocol::{Hello, ResultBody, Sample, TaskOrder, ToDriver, ToWorker};
use crate::transport::{frame, Inbound, Link, Refusal, SessionId, Source};
use crate::worker::MAX_QUEUED_TASKS;

/// How a fake worker answers a task order.
enum Reply {
    /// A result with this body.
    Result(Vec<u8>),
    /// A result with this body that says its task computed this many seconds.
    Took(Vec<u8>, f64),
    /// A failure with this message.
    Fail(String),
    /// Nothing (yet): the task stays in flight.
    Silent,
    /// A result with this body, after the tasks queued before it: the worker's queue holds at
    /// most [`MAX_QUEUED_TASKS`] tasks and refuses any more, as a real worker's does, and
    /// hands back one result each time the driver receives.
    Queued(Vec<u8>),
    /// The worker's connection closes.
    Disconnect,
}

/// The fake workers: a reply per (worker, task order).
type Script = Box<dyn FnMut(&str, &TaskOrder) -> Reply + Send>;

/// What the fake link saw and what it will deliver.
struct Wire {
    /// Every order delivered, decoded, with its peer, in order.
    sent: Vec<(String, ToWorker)>,
    /// Each peer's open session, as the gate has it: an admission the driver received opens
    /// one, a disconnection or an end closes it. A test that changes it plays the link seeing
    /// what the driver has not heard yet.
    sessions: HashMap<String, SessionId>,
    /// The last session id given.
    last_session: SessionId,
    /// Orders for a session that was not open, dropped as the link drops them.
    stale: Vec<(String, SessionId, ToWorker)>,
    /// Sessions the driver ended.
    ended: Vec<(String, SessionId)>,
    /// Events for the driver to receive.
    inbox: VecDeque<Inbound>,
    script: Option<Script>,
    /// Workers that cannot load a partition (a host without the file).
    cannot_load: HashSet<String>,
    /// Workers that say they cannot read the split of a partition, as (worker, partition).
    unreadable: HashSet<(String, u32)>,
    /// Each worker's results of [`Reply::Queued`] tasks, not handed back yet.
    queues: BTreeMap<String, VecDeque<Inbound>>,
    /// Once the inbox is empty, a wait times out quietly instead of failing the test.
    quiet_when_dry: bool,
}

/// State the test and the fake link both hold: behind a lock, as the driver holding the link
/// is `Send`; the names are `RefCell`'s, which it was before.
struct Shared<T>(Mutex<T>);

impl<T> Shared<T> {
    fn new(value: T) -> Shared<T> {
        Shared(Mutex::new(value))
    }
    fn borrow(&self) -> MutexGuard<'_, T> {
        self.0.lock().expect("no test panicked holding it")
    }
    fn borrow_mut(&self) -> MutexGuard<'_, T> {
        self.borrow()
    }
}

/// A [`Link`] whose workers are a script.
struct FakeLink(Arc<Shared<Wire>>);

impl FakeLink {
    /// The fake workers' answer to `order`, queued for the driver.
    fn answer(wire: &mut Wire, peer: &str, order: &ToWorker) {
        let reply = match order {
            ToWorker::Partition {
                partition,
                chunk,
                chunks,
                ..
            } if chunk + 1 == *chunks => {
                if wire.cannot_load.contains(peer) {
                    ToDriver::DataFailed {
                        partition: *partition,
                        message: "data/w.svm: No such file or directory".into(),
                    }
                } else {
                    ToDriver::DataReady {
                        partition: *partition,
                    }
                }
            }
            ToWorker::ReadSplit { order, .. } => {
                let partition = order.partition;
                if wire.cannot_load.contains(peer)
                    || wire.unreadable.contains(&(peer.to_owned(), partition))
                {
                    ToDriver::DataFailed {
                        partition,
                        message: format!(
                            "{}:1: a line the worker says is bad",
                            order.path.display()
                        ),
                    }
                } else {
                    ToDriver::DataReady { partition }
                }
            }
            ToWorker::Task(task) => {
                let script = wire.script.as_mut().expect("a script for tasks");
                let result = |body: Vec<u8>, compute_s: f64| ToDriver::Result {
                    seq: task.seq,
                    compute_s,
                    cpu_s: compute_s,
                    delay_s: 0.0,
                    held_s: 0.0,
                    body: ResultBody::from(body),
                };
                match script(peer, task) {
                    Reply::Result(body) => result(body, 0.001),
                    Reply::Took(body, seconds) => result(body, seconds),
                    Reply::Fail(message) => ToDriver::Failed {
                        seq: task.seq,
                        message,
                    },
                    Reply::Silent => return,
                    Reply::Queued(body) => {
                        let queue = wire.queues.entry(peer.to_owned()).or_default();
                        if queue.len() < MAX_QUEUED_TASKS {
                            queue.push_back(Inbound::Message {
                                peer: peer.to_owned(),
                                message: result(body, 0.001),
                                bytes: 64,
                                received: Instant::now(),
                            });
                            return;
                        }
                        ToDriver::Failed {
                            seq: task.seq,
                            message: crate::error::TaskError::TooManyTasks(MAX_QUEUED_TASKS)
                                .to_string(),
                        }
                    }
                    Reply::Disconnect => {
                        wire.inbox.push_back(Inbound::Disconnected {
                            peer: peer.to_owned(),
                        });
                        return;
                    }
                }
            }
            _ => return,
        };
        wire.inbox.push_back(Inbound::Message {
            peer: peer.to_owned(),
            message: reply,
            bytes: 64,
            received: Instant::now(),
        });
    }
}

impl Link for FakeLink {
    fn endpoint(&self) -> &str {
        "fake://driver"
    }

    fn send(&self, peer: &str, session: SessionId, bytes: Vec<u8>) {
        let (run, _) = frame::open(&bytes, usize::MAX).expect("the driver frames what it sends");
        let order: ToWorker = frame::decode(&bytes, run, false, usize::MAX).expect("decodes");
        let mut wire = self.0.borrow_mut();
        if wire.sessions.get(peer) != Some(&session) {
            wire.stale.push((peer.to_owned(), session, order));
            wire.inbox.push_back(Inbound::Dropped {
                peer: peer.to_owned(),
                why: Refusal::SessionEnded,
            });
            return;
        }
        FakeLink::answer(&mut wire, peer, &order);
        wire.sent.push((peer.to_owned(), order));
    }

    fn end_session(&self, peer: &str, session: SessionId) {
        let mut wire = self.0.borrow_mut();
        if wire.sessions.get(peer) == Some(&session) {
            wire.sessions.remove(peer);
            wire.ended.push((peer.to_owned(), session));
        }
    }

    fn recv_timeout(&self, timeout: Duration) -> Result<Option<Inbound>, RuntimeError> {
        // A script that runs dry is a test that would wait forever: end it instead, unless
        // the test waits for a timeout of the driver's.
        match self.try_recv() {
            Some(event) => Ok(Some(event)),
            None if self.0.borrow().quiet_when_dry => {
                std::thread::sleep(timeout);
                Ok(None)
            }
            None => Err(RuntimeError::Transport(
                "the script has nothing more".into(),
            )),
        }
    }

    fn try_recv(&self) -> Option<Inbound> {
        let mut wire = self.0.borrow_mut();
        if wire.inbox.is_empty() {
            // Each worker with a queue finishes its next task.
            let queued: Vec<Inbound> = wire
                .queues
                .values_mut()
                .filter_map(VecDeque::pop_front)
                .collect();
            wire.inbox.extend(queued);
        }
        let event = wire.inbox.pop_front()?;
        match &event {
            Inbound::Admitted { peer, session, .. } => {
                wire.sessions.insert(peer.clone(), *session);
            }
            Inbound::Disconnected { peer } => {
                wire.sessions.remove(peer);
            }
            _ => {}
        }
        Some(event)
    }
}

impl Wire {
    /// A wire on which nothing happened yet, whose workers answer tasks with `script`.
    fn answering(script: Script) -> Arc<Shared<Wire>> {
        Arc::new(Shared::new(Wire {
            sent: Vec::new(),
            sessions: HashMap::new(),
            last_session: 0,
            stale: Vec::new(),
            ended: Vec::new(),
            inbox: VecDeque::new(),
            script: Some(script),
            cannot_load: HashSet::new(),
            unreadable: HashSet::new(),
            queues: BTreeMap::new(),
            quiet_when_dry: false,
        }))
    }
}

/// A driver whose `workers` fake workers joined, answering tasks with `script`, and the wire
/// to inspect.
fn driver(workers: usize, script: Script) -> (Driver, Arc<Shared<Wire>>) {
    driver_with(ClusterConfig::local(workers), script)
}

/// [`driver`] with `config`'s workers and settings.
fn driver_with(mut config: ClusterConfig, script: Script) -> (Driver, Arc<Shared<Wire>>) {
    let workers = config.workers;
    let wire = Wire::answering(script);
    config.spawn_local = false;
    let mut driver = Driver::assemble(config, 7, Box::new(FakeLink(wire.clone())));
    for w in 0..workers {
        join(&wire, &format!("w{w}"), w as u32);
    }
    driver.wait_for_workers().expect("the fake workers join");
    (driver, wire)
}

/// A worker named `name` joins (its admission is the driver's next event); its session id.
fn join(wire: &Arc<Shared<Wire>>, name: &str, pid: u32) -> SessionId {
    join_from(wire, name, pid, None)
}

/// [`join`], its connection coming from `source` as the transport saw it.
fn join_from(wire: &Arc<Shared<Wire>>, name: &str, pid: u32, source: Source) -> SessionId {
    let mut wire = wire.borrow_mut();
    wire.last_session += 1;
    let session = wire.last_session;
    wire.inbox.push_back(Inbound::Admitted {
        peer: name.into(),
        session,
        hello: Hello {
            name: name.into(),
            fingerprint: 0,
            pid,
            nonce: ByteBuf::new(),
        },
        source,
    });
    session
}

/// Eight rows of two features.
fn data() -> Dataset {
    let features = Array2::from_shape_fn((8, 2), |(i, j)| (i * 2 + j) as f64);
    Dataset::new("fake", Features::Dense(features), Array1::ones(8)).unwrap()
}

fn spec(task: &'static str, sample: Option<Sample>) -> TaskSpec<'static> {
    TaskSpec {
        task,
        captures: &[],
        reads: Vec::new(),
        versions: Arc::from(Vec::new()),
        sample,
        histories: &[],
    }
}

/// Results are their bytes; the shape is their length; they name no history row.
fn decode(body: &[u8]) -> Result<(Vec<u8>, Inspected), String> {
    let shape = vec![body.len() as u64];
    Ok((
        body.to_vec(),
        Inspected {
            shape,
            history_rows: Vec::new(),
            not_finite: None,
            overflowing: None,
        },
    ))
}

/// What `pick` takes of each order sent, in order, given its peer.
fn sent<T>(wire: &Arc<Shared<Wire>>, pick: impl Fn(&str, &ToWorker) -> Option<T>) -> Vec<T> {
    let wire = wire.borrow();
    wire.sent
        .iter()
        .filter_map(|(peer, order)| pick(peer, order))
        .collect()
}

/// The task orders sent, in order, as (peer, order).
fn tasks(wire: &Arc<Shared<Wire>>) -> Vec<(String, u64, u32, Option<Sample>)> {
    sent(wire, |peer, order| match order {
        ToWorker::Task(t) => Some((peer.to_owned(), t.seq, t.partition, t.sample)),
        _ => None,
    })
}

/// Fake workers that answer each task with its partition's number, twice (a result of shape
/// `[2]`).
fn echoing() -> Script {
    Box::new(|_, task| Reply::Result(vec![task.partition as u8; 2]))
}

/// Two [`echoing`] workers, the shape of site `grad` settled, after one synchronous step of
/// it on `data` (shipped, every partition answered once). The driver knows a dataset by its
/// address: later steps must be on the same `data`.
fn after_one_step(data: &Dataset) -> (Driver, Arc<Shared<Wire>>) {
    let (mut driver, wire) = driver(2, echoing());
    settle(&mut driver, &["grad"]);
    driver
        .reduce_all(data, &spec("grad", None), &decode)
        .unwrap();
    (driver, wire)
}

/// Settles the shape of `sites`' results, as two workers agreeing on it would: every result
/// of theirs is then used or refused at once.
fn settle(driver: &mut Driver, sites: &[&'static str]) {
    for site in sites {
        driver.shapes.settle(site, vec![2]);
    }
}

/// A driver of `workers` workers, its site `site` settled, where `w0` answers every task at
/// once and every other worker takes tasks and answers none (stopped, hung, or an insider).
fn only_w0_answers(workers: usize, site: &'static str) -> (Driver, Arc<Shared<Wire>>) {
    let script: Script = Box::new(|peer, task| match peer {
        "w0" => Reply::Result(vec![task.partition as u8; 2]),
        _ => Reply::Silent,
    });
    let (mut driver, wire) = driver(workers, script);
    settle(&mut driver, &[site]);
    (driver, wire)
}

const EVERYONE: Gate<'static> = (
    &|_: &WorkerTable| true,
    &|_: &WorkerInfo, _: &WorkerTable| true,
);

#[test]
fn a_retried_task_keeps_its_partition_and_sample_under_a_new_sequence_number() {
    let mut failed_once = false;
    let script: Script = Box::new(move |peer, task| {
        if peer == "w0" && !failed_once {
            failed_once = true;
            return Reply::Fail("out of memory".into());
        }
        Reply::Result(vec![task.partition as u8; 4])
    });
    // Three workers: the two that answer agree on the results' shape.
    let (mut driver, wire) = driver(3, script);
    let sample = Some(Sample { batch: 2, k: 9 });
    let results = driver
        .reduce_all(&data(), &spec("grad", sample), &decode)
        .expect("the retry succeeds");
    assert_eq!(results, [[0; 4], [1; 4], [2; 4]], "in partition order");
    let sent = tasks(&wire);
    let first = sent.iter().find(|t| t.0 == "w0").unwrap().clone();
    let retried: Vec<_> = sent.iter().filter(|t| t.2 == first.2).collect();
    assert_eq!(
        retried.len(),
        2,
        "partition {} sent twice: {sent:?}",
        first.2
    );
    let again = retried[1];
    assert_eq!(
        again.0, "w1",
        "done again on the worker that did not fail it"
    );
    assert_ne!(again.1, first.1, "under a new sequence number");
    assert_eq!(again.3, sample, "with the same sample");
    let stats = driver.stats();
    assert_eq!((stats.failed_tasks, stats.retried_tasks), (1, 1));
    assert_eq!(stats.updates, 1);
    assert_eq!(driver.in_flight(), 0);
}

#[test]
fn another_sites_result_waits_for_its_site_and_its_staleness_counts_from_dispatch() {
    let script: Script = Box::new(|_, task| Reply::Result(vec![task.task.len() as u8; 2]));
    let (mut driver, wire) = driver(2, script);
    settle(&mut driver, &["a", "b"]);
    let data = data();
    // Site "b" sends both workers a task; one result is used, the other stays in hand.
    let b = driver
        .reduce_next(&data, &spec("b", None), EVERYONE, None, &decode)
        .unwrap();
    assert_eq!((b.meta.dispatched_at, b.meta.staleness), (0, 0));
    assert_eq!(
        (driver.in_flight(), driver.in_hand()),
        (1, 0),
        "the other one's answer is not received yet"
    );
    // Site "a" runs: the idle worker gets its task; b's result is set aside, not used.
    let a = driver
        .reduce_next(&data, &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    assert_eq!(a.value, [1, 1], "a's own result");
    assert_eq!(driver.in_hand(), 1, "b's result waits for b");
    let set_aside = tasks(&wire)[1].1;
    // Back at "b", two updates later: the result set aside comes first, its staleness
    // counted from the update its task was dispatched at.
    let b = driver
        .reduce_next(&data, &spec("b", None), EVERYONE, None, &decode)
        .unwrap();
    assert_eq!(b.meta.seq, set_aside);
    assert_eq!((b.meta.dispatched_at, b.meta.staleness), (0, 2));
    assert_eq!(driver.last_result().map(|m| m.seq), Some(set_aside));
    assert_eq!(driver.stats().updates, 3);
    assert_eq!(driver.stats().dropped_orphan, 0);
}

#[test]
fn a_history_site_sends_no_task_on_a_partition_whose_set_aside_result_it_has_not_applied() {
    let (mut driver, wire) = driver(2, echoing());
    settle(&mut driver, &["saga", "other"]);
    let data = data();
    let table = crate::history::History::zeros(8);
    let tables = [&table];
    let saga = TaskSpec {
        histories: &tables,
        ..spec("saga", Some(Sample { batch: 2, k: 0 }))
    };
    // Both workers get a saga task; one result is used, the other is not received yet.
    driver
        .reduce_next(&data, &saga, EVERYONE, None, &decode)
        .unwrap();
    // Another site runs on w0 alone: the other saga result arrives and is set aside.
    let only_w0: Gate<'static> = (
        &|_: &WorkerTable| true,
        &|w: &WorkerInfo, _: &WorkerTable| w.name == "w0",
    );
    driver
        .reduce_next(&data, &spec("other", None), only_w0, None, &decode)
        .unwrap();
    let before = tasks(&wire).len();
    // Back at saga: its set-aside result comes first, and until the algorithm has applied
    // it to the table no task may read that partition's entries.
    let applied = driver
        .reduce_next(&data, &saga, EVERYONE, None, &decode)
        .unwrap();
    let sent = tasks(&wire);
    let again: Vec<_> = sent[before..]
        .iter()
        .filter(|t| t.2 == applied.meta.partition)
        .collect();
    assert!(
        again.is_empty(),
        "partition {} sent again before its result was applied: {again:?}",
        applied.meta.partition
    );
}

#[test]
fn a_task_time_longer_than_the_task_was_out_counts_as_that_long() {
    // A hostile or broken worker says it computed for 1e300 s: left as said, its mean task
    // time overflowed the hang limit's Duration and the driver panicked.
    let script: Script = Box::new(|peer, task| {
        let body = vec![task.partition as u8; 2];
        if peer == "w0" {
            Reply::Took(body, 1e300)
        } else {
            Reply::Result(body)
        }
    });
    let (mut driver, _) = driver(2, script);
    settle(&mut driver, &["grad"]);
    let start = Instant::now();
    driver
        .reduce_all(&data(), &spec("grad", None), &decode)
        .unwrap();
    let bound = start.elapsed().as_secs_f64();
    let w0 = &driver.table.workers[0];
    assert!(
        w0.mean_task_s <= bound && w0.mean_cpu_s <= bound,
        "{} s recorded for a task out less than {bound} s",
        w0.mean_task_s
    );
    assert!(super::straggling::median_compute_s(&driver.table.workers) <= bound);
    driver
        .reduce_all(&data(), &spec("grad", None), &decode)
        .unwrap();
}

#[test]
fn a_silent_worker_is_declared_lost_while_the_others_results_keep_the_driver_busy() {
    // w0 answers at once, so every call finds a result in hand and never waits for one:
    // the liveness check ran only while waiting, and w1, stopped with its task, was never
    // declared lost, its task never written off, its partition never moved.
    let (mut driver, _) = only_w0_answers(2, "a");
    // A period long enough that a test process descheduled on a loaded machine is not taken
    // for a paused driver (3 periods), whose pause would give w1 a fresh window every time.
    driver.config.heartbeat = Duration::from_millis(100);
    let data = data();
    let deadline = Instant::now() + driver.config.liveness_timeout() * 4;
    while driver.table.workers[1].alive && Instant::now() < deadline {
        let used = driver
            .reduce_next(&data, &spec("a", None), EVERYONE, None, &decode)
            .unwrap();
        assert_eq!(used.meta.worker, 0);
        std::thread::sleep(driver.config.heartbeat / 4);
    }
    assert!(
        !driver.table.workers[1].alive,
        "silent past the timeout: lost"
    );
    assert!(driver.table.workers[0].alive);
    assert_eq!(driver.stats().lost_workers, 1);
}

#[test]
fn a_task_hanging_on_a_live_worker_does_not_hold_a_synchronous_barrier_forever() {
    // w1's heartbeats go on but its task thread is stuck: under bsp the idle w0 waited for
    // it forever, as a task in flight could always still change the table.
    let (mut driver, wire) = only_w0_answers(2, "a");
    let rule = crate::bsp();
    let bsp: Gate<'_> = (&rule, &|_: &WorkerInfo, _: &WorkerTable| true);
    let data = data();
    driver
        .reduce_next(&data, &spec("a", None), bsp, None, &decode)
        .unwrap();
    let stuck = tasks(&wire).iter().find(|t| t.0 == "w1").unwrap().1;
    driver
        .tasks
        .sent_before(stuck, HANG_FLOOR + Duration::from_secs(1));
    let next = driver
        .reduce_next(&data, &spec("a", None), bsp, None, &decode)
        .expect("w0 works on");
    assert_eq!(next.meta.worker, 0);
    assert_eq!(driver.stats().barrier_overrides, 1);
}

/// The staleness of each result of `updates` one-result reduces under bsp, on three
/// echoing workers with `prefetch`, and the tasks in flight at each dispatch.
fn under_bsp(prefetch: usize, updates: usize) -> (Vec<u64>, Vec<usize>) {
    let mut config = ClusterConfig::local(3);
    config.prefetch = prefetch;
    let (mut driver, _) = driver_with(config, echoing());
    settle(&mut driver, &["a"]);
    let in_flight_at_dispatch = Arc::new(Mutex::new(Vec::new()));
    let seen = in_flight_at_dispatch.clone();
    let rule = crate::bsp();
    // The selection is asked once per idle worker at each dispatch: it sees the table then.
    let select = move |_: &WorkerInfo, table: &WorkerTable| {
        let held: usize = table.all().iter().map(|w| w.in_flight).sum();
        seen.lock().unwrap().push(held);
        true
    };
    let bsp: Gate<'_> = (&rule, &select);
    let data = data();
    let staleness = (0..updates)
        .map(|_| {
            let used = driver
                .reduce_next(&data, &spec("a", None), bsp, None, &decode)
                .unwrap();
            used.meta.staleness
        })
        .collect();
    let in_flight = in_flight_at_dispatch.lock().unwrap().clone();
    (staleness, in_flight)
}

#[test]
fn bsp_keeps_its_rounds_whatever_the_prefetch() {
    // "Idle" means "room for another task": with prefetch 3, `idle() == alive()` let bsp send
    // task after task to workers still computing, and results 6 to 8 updates old were used.
    let (alone, _) = under_bsp(1, 30);
    let (prefetched, in_flight) = under_bsp(3, 30);
    let worst = |s: &[u64]| s.iter().copied().max().unwrap();
    assert_eq!(worst(&alone), 2, "a round of three: {alone:?}");
    assert!(
        worst(&prefetched) <= worst(&alone),
        "prefetch 3: {prefetched:?}, prefetch 1: {alone:?}"
    );
    assert!(!in_flight.is_empty());
    assert!(
        in_flight.iter().all(|&n| n == 0),
        "tasks in flight at a dispatch: {in_flight:?}"
    );
}

#[test]
fn a_results_worker_row_leads_to_the_name_its_task_was_sent_to() {
    // Only w2 answers: its row, not a name, is in the result's metadata.
    let script: Script = Box::new(|peer, task| match peer {
        "w2" => Reply::Result(vec![task.partition as u8; 2]),
        _ => Reply::Silent,
    });
    let (mut driver, wire) = driver(3, script);
    settle(&mut driver, &["a"]);
    let used = driver
        .reduce_next(&data(), &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    let sent_to = tasks(&wire)
        .into_iter()
        .find(|t| t.1 == used.meta.seq)
        .map(|t| t.0);
    assert_eq!(
        driver.worker_name(used.meta.worker).map(str::to_owned),
        sent_to
    );
    assert_eq!(driver.worker_name(driver.workers().all().len()), None);
}

#[test]
fn a_worker_that_cannot_load_its_partition_is_excluded_and_the_others_take_it() {
    let (mut driver, wire) = driver(3, echoing());
    settle(&mut driver, &["grad"]);
    wire.borrow_mut().cannot_load.insert("w2".into());
    let results = driver
        .reduce_all(&data(), &spec("grad", None), &decode)
        .expect("two workers can read the data");
    assert_eq!(
        results,
        [[0; 2], [1; 2], [2; 2]],
        "every partition, w2's too"
    );
    assert!(driver.table.workers[2].excluded);
    assert_eq!(driver.stats().moved_partitions, 1);
    // Told apart from an exclusion for failing tasks: the file may be the one at fault.
    assert!(driver.table.workers[2].unreadable_data);
    assert_eq!(driver.report().unreadable_data_exclusions(), 1);
    // A worker that says it could not load a partition it was never given is lying: a
    // strike, not the end of the run, nor a mark against the partition.
    wire.borrow_mut().inbox.push_back(Inbound::Message {
        peer: "w1".into(),
        message: ToDriver::DataFailed {
            partition: 0,
            message: "malicious".into(),
        },
        bytes: 64,
        received: Instant::now(),
    });
    driver
        .reduce_all(&data(), &spec("grad", None), &decode)
        .expect("the lie ends nothing");
    assert_eq!(driver.stats().bad_results, 1);
    assert!(driver.table.workers[1].alive);

    // When none can, the run ends with what the last one could not read.
    let (mut none_can, wire) = self::driver(2, echoing());
    wire.borrow_mut()
        .cannot_load
        .extend(["w0".into(), "w1".into()]);
    match none_can.reduce_all(&data(), &spec("grad", None), &decode) {
        Err(RuntimeError::WorkerData { message, .. }) => {
            assert!(message.contains("No such file"), "{message}")
        }
        other => panic!("expected the data error, got {:?}", other.err()),
    }
}

/// Sixty rows of two features, as a file the workers read their splits of, and the driver's
/// view of it.
fn shared_file() -> (TempFile, Dataset) {
    let text = "1 1:0.5 2:0.25\n".repeat(60);
    let file = TempFile::new("shared.svm", text.as_bytes());
    let options = SharedOptions {
        load: LoadOptions::default(),
        eval_rows: 10,
        seed: 3,
    };
    let data = Dataset::open_shared(&file.0, &options).expect("a good file");
    (file, data)
}

/// Three [`echoing`] workers of which `w0`, then `w1` (its heir), say they cannot read the
/// split of partition 0; nothing else fails.
fn two_hosts_fail_split_0() -> (Driver, Arc<Shared<Wire>>) {
    let (mut driver, wire) = driver(3, echoing());
    settle(&mut driver, &["grad"]);
    wire.borrow_mut()
        .unreadable
        .extend([("w0".into(), 0), ("w1".into(), 0)]);
    (driver, wire)
}

#[test]
fn two_names_failing_a_split_the_driver_reads_are_at_fault_and_the_run_goes_on() {
    // Names are the peers' own choice: `w0` and `w1` may be one insider. The driver reads
    // the split itself; it reads fine, so they are excluded and `w2` takes it. This ended
    // the run as for a malformed file.
    let (file, data) = shared_file();
    let (mut driver, wire) = two_hosts_fail_split_0();
    let results = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("the file is good: the run goes on");
    assert_eq!(results, [[0; 2], [1; 2], [2; 2]], "every partition");
    let excluded: Vec<bool> = driver.table.workers.iter().map(|w| w.excluded).collect();
    assert_eq!(excluded, [true, true, false]);
    assert!(driver.failure().is_none());
    let reads_of_0 = sent(&wire, |peer, m| {
        (peer == "w2" && matches!(m, ToWorker::ReadSplit { order, .. } if order.partition == 0))
            .then_some(())
    })
    .len();
    assert_eq!(reads_of_0, 1, "w2 was given partition 0");
    drop(file);
}

#[test]
fn a_split_too_large_for_the_drivers_memory_ends_no_run() {
    // The driver's host may have less memory than the workers' (a small head node, or its
    // own workers holding their splits): two names claiming a good split is malformed made
    // the driver read it, the read went over its memory budget, and the run ended with that
    // error, as if the data were at fault. A read the driver cannot hold refutes nothing:
    // the claimants are at fault, as for a split it read, and the run goes on.
    let (file, data) = shared_file();
    let (mut driver, _wire) = two_hosts_fail_split_0();
    driver.split_reads.budget = Some(16);
    let results = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("the data is not known to be at fault: the run goes on");
    assert_eq!(results, [[0; 2], [1; 2], [2; 2]], "every partition");
    let excluded: Vec<bool> = driver.table.workers.iter().map(|w| w.excluded).collect();
    assert_eq!(excluded, [true, true, false]);
    drop(file);
}

#[test]
fn a_split_the_driver_cannot_read_either_ends_the_run_with_its_own_error() {
    // The file changed after the driver scanned it: each line of it is malformed now, and
    // the driver's own read says its bytes differ from the scan's, before any line.
    let (file, data) = shared_file();
    let text = std::fs::read_to_string(&file.0).unwrap();
    std::fs::write(&file.0, text.replace("1:0.5", "1:x.5")).unwrap();
    let (mut driver, wire) = two_hosts_fail_split_0();
    wire.borrow_mut().quiet_when_dry = true;
    let error = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect_err("the data is at fault");
    let first_byte = match driver.placement.part(0).map(|p| &p.source) {
        Some(PartSource::Split(order)) => order.blocks[0].bytes.start,
        _ => panic!("partition 0 is a split"),
    };
    match &error {
        RuntimeError::Data(DataError::ContentMismatch { path, start, .. }) => {
            assert_eq!((path, *start), (&file.0, first_byte), "{error}");
        }
        other => panic!("expected the driver's own error, got {other}"),
    }
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: bytes {first_byte}..", file.0.display())),
        "{error}"
    );
}

#[test]
fn remote_workers_all_lost_at_once_may_join_again_within_the_join_timeout() {
    let data = data();
    // Heartbeats far apart: the wide margins below must not cross one (the script has none).
    let mut config = ClusterConfig::local(2);
    config.heartbeat = Duration::from_secs(10);
    let (mut driver, wire) = driver_with(config, echoing());
    settle(&mut driver, &["grad"]);
    driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .unwrap();
    // A network cut: both are lost; one host comes back.
    driver.lose(0, "test");
    driver.lose(1, "test");
    join(&wire, "w0.r1", 9);
    let results = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("the run waits for a worker to join again");
    assert_eq!(
        results,
        [[0; 2], [1; 2]],
        "the newcomer took both partitions"
    );
    // A second outage, long after the first, waits as long as the first did. The margins
    // are wide so that a loaded machine's scheduling cannot use up the wait.
    std::thread::sleep(Duration::from_millis(600));
    driver.config.join_timeout = Duration::from_millis(500);
    driver.lose(2, "test");
    join(&wire, "w0.r2", 10);
    driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("the second outage is waited out too");
    // Past the join timeout it gives up.
    driver.config.join_timeout = Duration::ZERO;
    driver.lose(3, "test");
    match driver.reduce_all(&data, &spec("grad", None), &decode) {
        Err(error @ RuntimeError::NoWorkers { lost: 4, .. }) => {
            // The line names the setting that ended the wait.
            let said = error.to_string();
            assert!(
                said.contains("(4 lost; none joined again within --join-timeout 0 s)"),
                "{said}"
            );
        }
        other => panic!("expected NoWorkers, got {:?}", other.err()),
    }
}

#[test]
fn local_workers_all_lost_past_the_respawn_allowance_say_so() {
    let data = data();
    let (mut driver, _wire) = after_one_step(&data);
    // Local workers whose allowance of replacements is spent (none here): the run ends.
    driver.config.spawn_local = true;
    driver.config.max_respawns = 0;
    driver.lose(0, "test");
    driver.lose(1, "test");
    match driver.reduce_all(&data, &spec("grad", None), &decode) {
        Err(error @ RuntimeError::NoWorkers { lost: 2, .. }) => {
            let said = error.to_string();
            assert!(
                said.contains("(2 lost; --max-respawns 0 allows no replacement)"),
                "{said}"
            );
        }
        other => panic!("expected NoWorkers, got {:?}", other.err()),
    }
}

#[test]
fn a_stop_with_every_remote_worker_lost_ends_the_wait_for_them_at_once() {
    let data = data();
    let (mut driver, _wire) = after_one_step(&data);
    // Without the stop the run would wait this long, then end for want of workers.
    driver.config.join_timeout = Duration::from_secs(2);
    let stop = crate::StopHandle::new();
    driver.stop_on(stop.clone());
    driver.lose(0, "test");
    driver.lose(1, "test");
    stop.request();
    match driver.reduce_all(&data, &spec("grad", None), &decode) {
        Err(RuntimeError::StoppedWaiting { joined: 0, .. }) => {}
        other => panic!("expected StoppedWaiting, got {:?}", other.err()),
    }
}

#[test]
fn a_result_with_negative_task_times_is_a_strike_and_its_task_is_done_again_at_once() {
    let mut lied = false;
    let script: Script = Box::new(move |peer, task| {
        let body = vec![task.partition as u8; 2];
        if peer == "w0" && !std::mem::replace(&mut lied, true) {
            Reply::Took(body, -1.0)
        } else {
            Reply::Result(body)
        }
    });
    let (mut driver, wire) = driver(2, script);
    settle(&mut driver, &["grad"]);
    let results = driver
        .reduce_all(&data(), &spec("grad", None), &decode)
        .expect("done again elsewhere, without waiting for the hang limit");
    assert_eq!(results, [[0; 2], [1; 2]]);
    assert_eq!(driver.stats().bad_results, 1);
    assert_eq!(driver.stats().retried_tasks, 1);
    assert_eq!(tasks(&wire).len(), 3, "partition 0 sent again");
}

#[test]
fn a_worker_whose_tasks_keep_hanging_is_excluded() {
    // w1's heartbeats go on, but it answers nothing: every synchronous step waited the hang
    // limit for it, then did its task elsewhere, and sent it the next one all the same.
    let script: Script = Box::new(|peer, task| match peer {
        "w1" => Reply::Silent,
        _ => Reply::Result(vec![task.partition as u8; 2]),
    });
    let (mut driver, _) = driver(3, script);
    settle(&mut driver, &["grad"]);
    driver.ensure_shipped(&data()).unwrap();
    // The others answered before: their times are what w1's silence is judged by.
    for worker in [0, 2] {
        driver.table.workers[worker].tasks_done = 5;
        driver.table.workers[worker].mean_task_s = 0.1;
    }
    let grad = spec("grad", None);
    let long_ago = Instant::now() - HANG_FLOOR - Duration::from_secs(1);
    let hang = |driver: &mut Driver, tasks: usize| {
        let mut pending = HashMap::new();
        for _ in 0..tasks {
            let seq = driver.dispatch(1, 1, &grad);
            driver
                .tasks
                .sent_before(seq, HANG_FLOOR + Duration::from_secs(1));
            pending.insert(seq, 1);
        }
        driver
            .redispatch_hung(
                &grad,
                &mut pending,
                &mut HashSet::new(),
                &mut WorkersOn::default(),
            )
            .unwrap();
        pending.len()
    };
    // Still answering: tasks queued behind its others only look hung; no strike.
    // Four tasks on one partition: it is done again elsewhere once, not once per task.
    assert_eq!(hang(&mut driver, 4), 5, "done again elsewhere once");
    assert_eq!(driver.table.workers[1].hang_strikes, 0);
    // Answering nothing for the hang floor: one strike per round, however many tasks hang.
    driver.table.workers[1].last_result = long_ago;
    for round in 1..=3 {
        // Each round a hang floor after the last strike.
        if let Some(struck) = &mut driver.table.workers[1].last_struck {
            *struck = long_ago;
        }
        hang(&mut driver, 4);
        assert_eq!(
            driver.table.workers[1].alive,
            round < 3,
            "after {round} rounds"
        );
    }
    assert!(driver.table.workers[1].excluded);
}

#[test]
fn a_worker_whose_hung_tasks_are_answered_late_is_not_struck_out() {
    // Two workers: w0 answers at once (an insider calling each task 0 s of compute sets the
    // lower median of two so), w1 takes 30 s a task. Each of w1's tasks passes the hang
    // floor, is struck and done again on w0, and w1's answer comes late, superseded: a
    // result coming between strikes, which are of a worker answering nothing in a row.
    let script: Script = Box::new(|peer, task| match peer {
        "w1" => Reply::Silent,
        _ => Reply::Result(vec![task.partition as u8; 2]),
    });
    let (mut driver, wire) = driver(2, script);
    settle(&mut driver, &["grad"]);
    driver.ensure_shipped(&data()).unwrap();
    for (worker, mean) in [(0, 0.0), (1, 30.0)] {
        let info = &mut driver.table.workers[worker];
        info.mean_task_s = mean;
        info.tasks_done = 5;
    }
    let grad = spec("grad", None);
    let silent = HANG_FLOOR + Duration::from_secs(1);
    for round in 1..=2 * EXCLUDE_AFTER {
        let seq = driver.dispatch(1, 1, &grad);
        driver.tasks.sent_before(seq, silent);
        let w1 = &mut driver.table.workers[1];
        w1.last_result = Instant::now() - silent;
        w1.last_struck = w1.last_struck.map(|_| Instant::now() - silent);
        let mut pending = HashMap::from([(seq, 1)]);
        driver
            .redispatch_hung(
                &grad,
                &mut pending,
                &mut HashSet::new(),
                &mut WorkersOn::default(),
            )
            .unwrap();
        assert_eq!(pending.len(), 2, "round {round}: done again on w0");
        // w1's own answer, late.
        wire.borrow_mut().inbox.push_back(Inbound::Message {
            peer: "w1".into(),
            message: ToDriver::Result {
                seq,
                compute_s: 30.0,
                cpu_s: 30.0,
                delay_s: 0.0,
                held_s: 0.0,
                body: ResultBody::from(vec![1; 2]),
            },
            bytes: 64,
            received: Instant::now(),
        });
        driver.drain();
        let w1 = &driver.table.workers[1];
        assert!(
            w1.alive && !w1.excluded,
            "round {round}: w1, answering every task, was struck out"
        );
    }
    // Silent for good, it is struck out as before.
    for round in 1..=EXCLUDE_AFTER {
        let seq = driver.dispatch(1, 1, &grad);
        driver.tasks.sent_before(seq, silent);
        let w1 = &mut driver.table.workers[1];
        w1.last_result = Instant::now() - silent;
        w1.last_struck = w1.last_struck.map(|_| Instant::now() - silent);
        let mut pending = HashMap::from([(seq, 1)]);
        driver
            .redispatch_hung(
                &grad,
                &mut pending,
                &mut HashSet::new(),
                &mut WorkersOn::default(),
            )
            .unwrap();
        assert_eq!(driver.table.workers[1].alive, round < EXCLUDE_AFTER);
    }
}

#[test]
fn a_struck_out_name_that_never_answered_leaves_its_partition_to_a_worker_that_did() {
    // One insider under w1 and w2, taking tasks and answering none, beside w0. Once w1 was
    // struck out, its partition went to w2 (holding the fewest), never to w0, and the next
    // synchronous steps waited on the next name, name after name.
    let (mut driver, _) = only_w0_answers(3, "grad");
    driver.ensure_shipped(&data()).unwrap();
    driver.table.workers[0].tasks_done = 5;
    driver.table.workers[0].mean_task_s = 0.1;
    let silent = HANG_FLOOR + Duration::from_secs(1);
    let grad = spec("grad", None);
    let seq = driver.dispatch(1, 1, &grad);
    driver.tasks.sent_before(seq, silent);
    let mut pending = HashMap::from([(seq, 1)]);
    let mut hedged = HashSet::new();
    for _ in 0..EXCLUDE_AFTER {
        let w1 = &mut driver.table.workers[1];
        w1.last_result = Instant::now() - silent;
        w1.last_struck = w1.last_struck.map(|_| Instant::now() - silent);
        driver
            .redispatch_hung(&grad, &mut pending, &mut hedged, &mut WorkersOn::default())
            .unwrap();
    }
    let w1 = &driver.table.workers[1];
    assert!(w1.excluded && !w1.alive, "struck out");
    assert!(
        driver.table.workers[0].partitions.contains(&1),
        "w0 took it"
    );
    assert!(!driver.table.workers[2].partitions.contains(&1), "not w2");
    assert_eq!(driver.owners()[1], 0);
}

#[test]
fn a_worker_that_grew_its_own_mean_task_time_is_not_waited_for_without_end() {
    // An insider answering each task just under 8 times its own mean task time is never
    // hung, never struck, and its mean grows with every task (9.9 s, 79 s, 350 s, ...): each
    // synchronous step waited for it longer, geometrically. Its mean now counts at most 8
    // times the live workers' (lower) median: 1,000 s beside workers of 0.1 s is judged as
    // 0.8 s, so its task 20 s out is hung (the hang floor) and done again elsewhere.
    let script: Script = Box::new(|peer, task| match peer {
        "w1" => Reply::Silent,
        _ => Reply::Result(vec![task.partition as u8; 2]),
    });
    let (mut driver, _) = driver(3, script);
    settle(&mut driver, &["grad"]);
    driver.ensure_shipped(&data()).unwrap();
    for (worker, mean) in [(0, 0.1), (1, 1000.0), (2, 0.1)] {
        let info = &mut driver.table.workers[worker];
        info.mean_task_s = mean;
        info.tasks_done = 20;
    }
    let grad = spec("grad", None);
    let seq = driver.dispatch(1, 1, &grad);
    driver.tasks.sent_before(seq, Duration::from_secs(20));
    let mut pending = HashMap::from([(seq, 1)]);
    let mut hedged = HashSet::new();
    driver
        .redispatch_hung(&grad, &mut pending, &mut hedged, &mut WorkersOn::default())
        .unwrap();
    assert_eq!(pending.len(), 2, "done again elsewhere");
    assert!(hedged.contains(&1));
    // A worker as slow as the others is judged on its own mean, as before: not hung.
    let seq = driver.dispatch(0, 0, &grad);
    driver.tasks.sent_before(seq, Duration::from_secs(5));
    let mut pending = HashMap::from([(seq, 0)]);
    driver
        .redispatch_hung(
            &grad,
            &mut pending,
            &mut HashSet::new(),
            &mut WorkersOn::default(),
        )
        .unwrap();
    assert_eq!(pending.len(), 1);
}

#[test]
fn a_hung_task_with_nowhere_else_to_go_strikes_its_worker_once_per_hang_floor() {
    // One worker: a task past the hang floor cannot be done again elsewhere, and the driver
    // looks at it at every heartbeat. Three looks are not three hang limits of silence.
    let script: Script = Box::new(|_, _| Reply::Silent);
    let (mut driver, _) = driver(1, script);
    settle(&mut driver, &["grad"]);
    driver.ensure_shipped(&data()).unwrap();
    // It answered tasks of 0.1 s before this one got stuck.
    driver.table.workers[0].tasks_done = 5;
    driver.table.workers[0].mean_task_s = 0.1;
    let grad = spec("grad", None);
    let seq = driver.dispatch(0, 0, &grad);
    let silent = HANG_FLOOR + Duration::from_secs(1);
    driver.tasks.sent_before(seq, silent);
    driver.table.workers[0].last_result = Instant::now() - silent;
    let mut pending = HashMap::from([(seq, 0)]);
    let mut hedged = HashSet::new();
    for _ in 0..5 {
        driver
            .redispatch_hung(&grad, &mut pending, &mut hedged, &mut WorkersOn::default())
            .unwrap();
    }
    let worker = &driver.table.workers[0];
    assert_eq!(worker.hang_strikes, 1, "struck once");
    assert!(worker.alive && !worker.excluded, "still in the run");
    assert!(hedged.is_empty(), "no other worker to do it again");
    // Another hang floor of silence is another strike.
    driver.table.workers[0].last_struck = Some(Instant::now() - silent);
    driver
        .redispatch_hung(&grad, &mut pending, &mut hedged, &mut WorkersOn::default())
        .unwrap();
    assert_eq!(driver.table.workers[0].hang_strikes, 2);
}

#[test]
fn a_resumed_run_s_clock_goes_on_from_its_saved_updates() {
    let (mut driver, _) = driver(2, echoing());
    settle(&mut driver, &["a"]);
    let mut saved = crate::checkpoint::Checkpoint::default();
    saved.stats.updates = 40;
    driver.resume(saved);
    assert_eq!(
        driver.workers().clock(),
        40,
        "barrier rules read the updates applied"
    );
    let used = driver
        .reduce_next(&data(), &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    assert_eq!(used.meta.dispatched_at, 40);
    assert_eq!(driver.workers().clock(), driver.stats().updates);
}

#[test]
fn a_result_staler_than_the_bound_is_dropped_and_counted() {
    let (mut driver, _wire) = driver(2, echoing());
    settle(&mut driver, &["a", "b"]);
    let data = data();
    driver
        .reduce_next(&data, &spec("b", None), EVERYONE, Some(0), &decode)
        .unwrap();
    driver
        .reduce_next(&data, &spec("a", None), EVERYONE, Some(0), &decode)
        .unwrap();
    // b's second result was dispatched two updates ago: beyond a bound of 1, dropped.
    let b = driver
        .reduce_next(&data, &spec("b", None), EVERYONE, Some(1), &decode)
        .unwrap();
    assert_eq!(b.meta.staleness, 0, "a fresh one is used instead");
    assert_eq!(driver.stats().dropped_stale, 1);
}

#[test]
fn a_result_from_a_worker_its_task_was_not_sent_to_is_refused() {
    // w0 keeps its task; w1 answers.
    let script: Script = Box::new(|peer, _| match peer {
        "w0" => Reply::Silent,
        _ => Reply::Result(vec![0; 2]),
    });
    let (mut driver, wire) = driver(2, script);
    driver
        .reduce_next(&data(), &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    let (_, seq, ..) = tasks(&wire)
        .into_iter()
        .find(|t| t.0 == "w0")
        .expect("w0 got a task");
    let answer = |peer: &str| Inbound::Message {
        peer: peer.into(),
        message: ToDriver::Result {
            seq,
            compute_s: 0.0,
            cpu_s: 0.0,
            delay_s: 0.0,
            held_s: 0.0,
            body: ResultBody::from(vec![0; 2]),
        },
        bytes: 64,
        received: Instant::now(),
    };
    wire.borrow_mut().inbox.push_back(answer("w1"));
    driver.drain();
    assert_eq!(driver.stats().bad_results, 1, "w1 answered w0's task");
    assert_eq!(driver.in_flight(), 1, "the task is still w0's");
    wire.borrow_mut().inbox.push_back(answer("w0"));
    driver.drain();
    assert_eq!((driver.in_flight(), driver.in_hand()), (0, 1));
    assert_eq!(driver.stats().bad_results, 1);
}

#[test]
fn a_workers_lie_about_how_long_it_held_a_task_keeps_the_wire_time_within_the_round_trip() {
    // w3 answers on its own; w0, w1 and w2 answer below, each with another lie.
    let script: Script = Box::new(|peer, _| match peer {
        "w3" => Reply::Result(vec![0; 2]),
        _ => Reply::Silent,
    });
    let (mut driver, wire) = driver(4, script);
    let begun = Instant::now();
    driver
        .reduce_next(&data(), &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    let sent = tasks(&wire);
    let lies = [("w0", f64::NAN), ("w1", 1e300), ("w2", -5.0)];
    for (peer, held_s) in lies {
        let (_, seq, ..) = sent.iter().find(|t| t.0 == peer).expect("a task");
        wire.borrow_mut().inbox.push_back(Inbound::Message {
            peer: peer.into(),
            message: ToDriver::Result {
                seq: *seq,
                compute_s: 0.0,
                cpu_s: 0.0,
                delay_s: 0.0,
                held_s,
                body: ResultBody::from(vec![0; 2]),
            },
            bytes: 64,
            received: Instant::now(),
        });
    }
    driver.drain();
    assert_eq!(driver.stats().bad_results, 0, "a hold is no strike");
    assert_eq!(driver.in_hand(), 3, "every result is used");
    let w = |i: usize| &driver.table.workers[i];
    assert_eq!(
        (w(0).network_samples, w(0).mean_network_s),
        (0, 0.0),
        "NaN says nothing"
    );
    assert_eq!(
        (w(1).network_samples, w(1).mean_network_s),
        (1, 0.0),
        "at most the round trip"
    );
    let whole = w(2).mean_network_s;
    assert_eq!(w(2).network_samples, 1);
    assert!(
        whole >= 0.0 && whole <= begun.elapsed().as_secs_f64(),
        "the whole round trip, no more: {whole}"
    );
}

/// A driver with one worker holding partition `a`, whose checkpoint policy takes one into
/// `dir` at every update (each `write_checkpoint` of a test).
fn checkpointing_every_update(dir: &std::path::Path) -> Driver {
    let (mut driver, _wire) = driver(2, echoing());
    settle(&mut driver, &["a"]);
    driver.checkpoint_to(crate::checkpoint::CheckpointPolicy {
        dir: dir.to_path_buf(),
        every_updates: Some(1),
        every: None,
        job: "test".into(),
    });
    driver
}

#[test]
fn a_checkpoint_that_cannot_be_written_is_reported_and_the_run_goes_on() {
    let scratch = test_support::scratch("checkpoint-blocked");
    let dir = scratch.join("ckpt");
    let mut driver = checkpointing_every_update(&dir);
    // A file where the folder should be: the write fails, as on a full or read-only disk.
    std::fs::write(&dir, b"in the way").unwrap();
    driver.write_checkpoint("opt", 1, Vec::new());
    driver.wait_for_checkpoint();
    assert!(driver.failure().is_none(), "{:?}", driver.failure());
    let report = driver.report();
    assert_eq!(
        (report.checkpoints_failed, report.checkpoint_updates),
        (1, None)
    );
    let error = report.checkpoint_error.expect("why it failed");
    assert!(error.contains("ckpt"), "{error}");
    // Once the disk is mended, the next checkpoint lands.
    std::fs::remove_file(&dir).unwrap();
    driver.write_checkpoint("opt", 2, Vec::new());
    driver.wait_for_checkpoint();
    let report = driver.report();
    assert_eq!(report.stats.checkpoints_written, 1);
    assert_eq!(report.checkpoint_updates, Some(0));
    assert_eq!(
        report.checkpoints_failed, 1,
        "the earlier failure stays reported"
    );
    std::fs::remove_dir_all(dir.parent().unwrap()).ok();
}

#[test]
fn a_resumed_run_counts_the_checkpoint_it_resumed_from_as_written() {
    // The counters were saved before the checkpoint holding them was written: a run killed
    // and resumed eight times reported eight checkpoints fewer than its folder had seen.
    let dir = test_support::scratch("checkpoint-count").join("ckpt");
    let mut first = checkpointing_every_update(&dir);
    for pass in 1..=2 {
        first.write_checkpoint("opt", pass, Vec::new());
        first.wait_for_checkpoint();
    }
    assert_eq!(first.report().stats.checkpoints_written, 2);

    let (mut resumed, _wire) = driver(2, echoing());
    resumed.resume(crate::checkpoint::read(&dir, "test").expect("the checkpoint reads"));
    assert_eq!(
        resumed.report().stats.checkpoints_written,
        2,
        "the one resumed from was written too"
    );
    std::fs::remove_dir_all(dir.parent().unwrap()).ok();
}

#[test]
fn a_checkpoint_holds_the_training_seconds_of_its_own_gathering() {
    // Its counters were taken before its own gathering was timed: each resume lost the
    // training thread's seconds of the checkpoint it resumed from.
    let scratch = test_support::scratch("checkpoint-gathering-time");
    let dir = scratch.join("ckpt");
    let mut driver = checkpointing_every_update(&dir);
    for pass in 1..=2 {
        driver.write_checkpoint("opt", pass, Vec::new());
        driver.wait_for_checkpoint();
    }
    let live = driver.report().stats.checkpoint_training_s;
    let saved = crate::checkpoint::read(&dir, "test").expect("the checkpoint reads");
    assert!(live > 0.0, "two gatherings take some time: {live}");
    assert_eq!(
        saved.stats.checkpoint_training_s, live,
        "the last checkpoint holds every gathering, its own too"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_resumed_run_goes_on_counting_the_checkpoints_that_could_not_be_written() {
    // Only the process's own failures were counted: a run whose disk filled, then resumed,
    // reported none, and its summary said every checkpoint had been written.
    let scratch = test_support::scratch("checkpoint-failures-resumed");
    let dir = scratch.join("ckpt");
    let mut first = checkpointing_every_update(&dir);
    // A file where the folder should be: the first write fails, as on a full disk.
    std::fs::write(&dir, b"in the way").unwrap();
    first.write_checkpoint("opt", 1, Vec::new());
    first.wait_for_checkpoint();
    std::fs::remove_file(&dir).unwrap();
    first.write_checkpoint("opt", 2, Vec::new());
    first.wait_for_checkpoint();
    let before = first.report();
    assert_eq!(
        (before.checkpoints_failed, before.stats.checkpoints_written),
        (1, 1)
    );
    let why = before.checkpoint_error.expect("why the first failed");

    let (mut resumed, _wire) = driver(2, echoing());
    resumed.resume(crate::checkpoint::read(&dir, "test").expect("the checkpoint reads"));
    let after = resumed.report();
    assert_eq!(after.checkpoints_failed, 1, "the failure before the resume");
    assert_eq!(after.checkpoint_error.as_deref(), Some(why.as_str()));
    std::fs::remove_dir_all(&dir).ok();
}

/// A driver with one worker holding partition `a`, stopped by the handle returned, whose
/// checkpoint policy takes one an hour (so only a stop or a loop's end takes one in a test).
fn stoppable_with_hourly_checkpoints() -> (Driver, crate::StopHandle) {
    let (mut driver, _wire) = driver(2, echoing());
    settle(&mut driver, &["a"]);
    let stop = crate::StopHandle::new();
    driver.stop_on(stop.clone());
    driver.checkpoint_to(crate::checkpoint::CheckpointPolicy {
        dir: std::env::temp_dir(),
        every_updates: None,
        every: Some(Duration::from_secs(3600)),
        job: "test".into(),
    });
    (driver, stop)
}

#[test]
fn a_stop_asked_from_outside_ends_the_loop_after_a_last_checkpoint() {
    let (mut driver, stop) = stoppable_with_hourly_checkpoints();
    let data = data();
    assert!(!driver.publish("w", &1.0_f64, true), "the loop goes on");
    driver
        .reduce_next(&data, &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    assert!(!driver.checkpoint_due(), "an hour has not passed");
    stop.request();
    assert!(driver.stop_requested());
    // The top of the next pass saves the state the stop leaves, whatever the policy's
    // interval; the broadcast after it ends the loop.
    assert!(driver.checkpoint_due());
    assert!(driver.publish("w", &2.0_f64, true), "the loop ends");
}

#[test]
fn the_judge_reads_the_model_its_optimizer_names_before_and_after_many_broadcasts() {
    let (mut driver, _stop) = stoppable_with_hourly_checkpoints();
    let judged = Arc::new(Shared::new(Vec::new()));
    let seen = judged.clone();
    driver.checkpoint_judge(move |_, name, w: &f64| {
        seen.borrow_mut().push((name.to_owned(), *w));
        Some("diverged".into())
    });
    let state = |w: f64| {
        let saved = |name: &str, value: f64| crate::checkpoint::Saved {
            name: name.into(),
            version: 0,
            bytes: postcard::to_allocvec(&value).unwrap().into(),
        };
        vec![saved("step", 0.5), saved("w", w)]
    };
    // An earlier optimizer on the same driver broadcast its model as `v`: the name was noted
    // at each broadcast, so the next optimizer's first checkpoint, before it broadcast, was
    // looked for under `v` and written unjudged.
    assert!(!driver.publish("v", &9.0_f64, true));
    // The optimizer names its model once, as its training loop begins.
    assert!(crate::__private::resume(&mut driver, "opt", Some("w")).is_none());
    driver.write_checkpoint("opt", 0, state(1.0));
    for step in 0..1000 {
        assert!(!driver.publish("w", &f64::from(step), true));
    }
    driver.write_checkpoint("opt", 1, state(2.0));
    // Told by its name, which `step`, of the same type, is not.
    assert_eq!(
        *judged.borrow(),
        [("w".to_owned(), 1.0), ("w".to_owned(), 2.0)]
    );
    assert_eq!(driver.report().stats.checkpoints_written, 0, "both refused");
}

#[test]
fn a_stop_asked_mid_pass_with_checkpoints_on_waits_for_the_next_top_and_its_checkpoint() {
    let (mut driver, stop) = stoppable_with_hourly_checkpoints();
    let data = data();
    assert!(!driver.checkpoint_due(), "the top of the first pass");
    assert!(!driver.publish("w", &1.0_f64, true));
    driver
        .reduce_next(&data, &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    assert!(
        !driver.checkpoint_due(),
        "the top of the second: an hour has not passed"
    );
    // Asked after the top of a pass, the run trained: its broadcast and reduce go on, or the
    // loop would end with no checkpoint of where it stopped.
    stop.request();
    assert!(!driver.publish("w", &2.0_f64, true), "the pass goes on");
    assert!(!driver.halted(), "its reduce too");
    driver
        .reduce_next(&data, &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    assert!(driver.checkpoint_due(), "the next top saves the state");
    assert!(driver.publish("w", &3.0_f64, true), "the loop ends");
}

#[test]
fn a_stop_before_the_first_update_with_checkpoints_on_ends_the_wait_at_once() {
    // It waited for the next top (up to the stop's grace of 10 s, or a whole read of the
    // workers' splits) to checkpoint a state no newer than the one the run began with.
    let (mut driver, stop) = stoppable_with_hourly_checkpoints();
    assert!(!driver.checkpoint_due(), "the top of the first pass");
    stop.request();
    assert!(!driver.publish("w", &1.0_f64, true), "the pass goes on");
    match driver.reduce_next(&data(), &spec("a", None), EVERYONE, None, &decode) {
        Err(RuntimeError::Stopped(why)) => assert!(why.contains("first update"), "{why}"),
        other => panic!("expected a stop, got {:?}", other.err()),
    }
    assert!(driver.stopped_before_first_update());
    assert!(!driver.final_checkpoint_due(), "nothing new to checkpoint");
    assert_eq!(driver.report().stats.updates, 0);
}

#[test]
fn a_history_table_shorter_than_the_data_ends_the_run_before_any_task() {
    let script: Script = Box::new(|_, _| panic!("no task is sent"));
    let (mut driver, wire) = driver(2, script);
    settle(&mut driver, &["a"]);
    let data = data();
    // Sized by a sample of 3 rows (data.n_rows() under shared access) for 8.
    let short = crate::History::zeros(3);
    let site = crate::__private::Site {
        source: crate::__private::Source::all(&data),
        task: "a",
        captures: &(),
        reads: &[],
        histories: &[&short],
        one_off: false,
    };
    let failure = failure_before_any_task(&mut driver, &wire, site);
    assert!(
        failure.contains("has 3 entries for 8 rows: size it by data.full_rows()"),
        "{failure}"
    );
}

#[test]
fn a_site_reading_more_than_a_task_order_carries_ends_the_run_naming_it_and_the_bound() {
    // A worker decodes at most MAX_TASK_LIST reads (and versions, history tables) per order:
    // the driver sent such an order anyway, and every worker refused it as a malformed frame.
    let script: Script = Box::new(|_, _| panic!("no task is sent"));
    let (mut driver, wire) = driver(2, script);
    settle(&mut driver, &["many"]);
    driver.versions.publish("w", vec![1; 8]);
    let data = data();
    let reads = vec![crate::__private::read("w"); crate::protocol::MAX_TASK_LIST + 1];
    let site = crate::__private::Site {
        source: crate::__private::Source::all(&data),
        task: "many",
        captures: &(),
        reads: &reads,
        histories: &[],
        one_off: false,
    };
    let failure = failure_before_any_task(&mut driver, &wire, site);
    assert!(
        failure.contains("`many` has 4097 broadcast reads, more than the 4096"),
        "{failure}"
    );
}

/// Runs `site`'s reduce, which must end the loop before any task is sent; the run's failure.
fn failure_before_any_task(
    driver: &mut Driver,
    wire: &Arc<Shared<Wire>>,
    site: crate::__private::Site<'_, ()>,
) -> String {
    let out = crate::__private::reduce_sync(driver, site, |_: u8, _: u8| 0.0_f64);
    assert!(out.is_none(), "the loop ends");
    assert_eq!(tasks(wire), [], "no task is sent");
    driver.failure().expect("the run failed").to_string()
}

#[test]
fn a_stop_does_not_wait_longer_than_its_bound_for_the_next_top() {
    let (mut driver, stop) = stoppable_with_hourly_checkpoints();
    assert!(!driver.checkpoint_due(), "the top of a long pass");
    stop.request_at(Instant::now() - crate::STOP_WAITS_FOR_PASS);
    assert!(
        driver.publish("w", &1.0_f64, true),
        "the pass is left, its checkpoint given up"
    );
}

#[test]
fn after_its_training_loop_a_stop_acts_at_once_again() {
    let (mut driver, stop) = stoppable_with_hourly_checkpoints();
    assert!(!driver.checkpoint_due(), "a pass of the loop");
    driver.loop_left();
    // A one-off reduce after it, or another optimizer's loop the macro did not instrument.
    stop.request();
    assert!(
        driver.publish("w", &1.0_f64, true),
        "no pass top to wait for"
    );
}

#[test]
fn a_stop_rule_ends_its_loop_and_what_follows_runs_but_a_stop_asked_for_does_not() {
    let (mut driver, _wire) = driver(2, echoing());
    driver.observe(|_, _: &f64| crate::Flow::Stop);
    assert!(
        driver.publish("w", &1.0_f64, true),
        "the rule ends the loop"
    );
    assert!(driver.halted());
    driver.loop_left();
    // A final evaluation after the loop: the old code kept the rule's verdict, and its
    // reduce! returned Default without running.
    assert!(!driver.halted(), "a reduce! after the loop runs");
    let stop = crate::StopHandle::new();
    driver.stop_on(stop.clone());
    stop.request();
    assert!(
        driver.halted(),
        "a stop asked for from outside ends everything"
    );
}

#[test]
fn a_stop_without_checkpoints_ends_the_loop_at_once() {
    let (mut driver, _wire) = driver(2, echoing());
    settle(&mut driver, &["a"]);
    let stop = crate::StopHandle::new();
    driver.stop_on(stop.clone());
    assert!(!driver.checkpoint_due());
    stop.request();
    assert!(
        driver.publish("w", &1.0_f64, true),
        "nothing to save: the loop ends"
    );
}

#[test]
fn a_driver_that_did_not_run_does_not_read_its_own_pause_as_the_workers_silence() {
    let (mut driver, _wire) = driver(2, echoing());
    let timeout = driver.config.liveness_timeout();
    let long_ago = Instant::now() - 2 * timeout;
    for worker in &mut driver.table.workers {
        worker.last_heard = long_ago;
    }
    // A task sent just before it stopped, and unanswered since as far as it has read.
    let seq = driver.tasks.open(0, "a", 0, 0, Arc::from(Vec::new()), None);
    driver
        .tasks
        .sent_before(seq, HANG_FLOOR + Duration::from_secs(1));
    let pending: HashMap<u64, usize> = [(seq, 0)].into();
    let hung = |driver: &Driver| driver.tasks.hung(&pending, |_| 0.001, Instant::now());
    assert_eq!(
        hung(&driver),
        [(0, 0, seq)],
        "judged on the wall clock alone"
    );
    // Its last check was as long ago as their last word: it was stopped all that time.
    driver.last_liveness_check = long_ago;
    let _ = driver.pump();
    assert_eq!(driver.table.alive(), 2, "no worker is declared lost");
    assert!(hung(&driver).is_empty(), "nor its task taken for hung");
    // A check on time judges silence as before.
    for worker in &mut driver.table.workers {
        worker.last_heard = long_ago;
    }
    driver.last_liveness_check = Instant::now() - driver.config.heartbeat;
    let _ = driver.pump();
    assert_eq!(driver.table.alive(), 0, "silent past the timeout: lost");
}

#[test]
fn the_drivers_own_pauses_are_measured_in_its_report() {
    // A driver stopped for 20 s went on with every worker, but its report said nothing of the
    // pause: the summary and the faults line read as a clean run, its cost nowhere.
    let (mut driver, _wire) = driver(2, echoing());
    driver.config.heartbeat = Duration::from_millis(100);
    assert_eq!(driver.report().driver_pauses, DriverPauses::default());
    for worker in &mut driver.table.workers {
        worker.last_heard = Instant::now();
    }
    driver.last_liveness_check = Instant::now() - Duration::from_secs(20);
    driver.watch();
    // A check a few periods late is a busy machine, not a pause.
    driver.last_liveness_check = Instant::now() - 4 * driver.config.heartbeat;
    driver.watch();
    driver.last_liveness_check = Instant::now() - Duration::from_secs(3);
    driver.watch();
    let pauses = driver.report().driver_pauses;
    assert_eq!(pauses.count, 2, "{pauses:?}");
    assert!(
        (23.0..24.0).contains(&pauses.total_s) && (20.0..21.0).contains(&pauses.longest_s),
        "{pauses:?}"
    );
    assert_eq!(driver.table.alive(), 2, "nor does it lose a worker");
}

#[test]
fn a_check_a_few_milliseconds_late_is_no_pause_worth_a_warning() {
    // `--heartbeat 0.001`: a check 5 ms after the last is three periods late, which a busy
    // machine's scheduling makes of a healthy run, and was warned of as the driver's pause.
    let (mut driver, _wire) = driver(2, echoing());
    driver.config.heartbeat = Duration::from_millis(1);
    let warnings = |driver: &mut Driver, since_check: Duration| {
        for worker in &mut driver.table.workers {
            worker.last_heard = Instant::now();
        }
        driver.last_liveness_check = Instant::now() - since_check;
        let ((), levels) = test_support::levels_logged(|| driver.watch());
        levels
            .iter()
            .filter(|&&level| level == tracing::Level::WARN)
            .count()
    };
    assert_eq!(warnings(&mut driver, Duration::from_millis(5)), 0);
    assert_eq!(driver.table.alive(), 2);
    // A pause a person would call one is still said.
    assert_eq!(warnings(&mut driver, Duration::from_secs(2)), 1);
    assert_eq!(driver.table.alive(), 2, "nor does it lose a worker");
}

#[test]
fn a_broadcast_no_frame_can_hold_ends_the_run_with_its_size() {
    let (mut driver, _wire) = driver(2, echoing());
    settle(&mut driver, &["grad"]);
    // A small frame (a test's 256 KiB, say) keeps half of itself for the value.
    driver.config.max_frame = 4000;
    assert!(!driver.publish("small", &vec![0.0_f64; 200], true));
    assert!(
        driver.publish("w", &vec![0.0_f64; 300], true),
        "the loop ends"
    );
    match driver.failure() {
        Some(RuntimeError::Config(message)) => {
            assert!(message.contains("`w` encodes to"), "{message}");
            assert!(
                message.contains("at most 2000 beside its task"),
                "{message}"
            );
        }
        other => panic!("expected a Config error, got {other:?}"),
    }
}

#[test]
fn a_lost_workers_tasks_wait_for_room_in_their_heirs_queue() {
    // w1 leaves at its first task; its partitions and their tasks go to w0, which already
    // holds a full queue of its own: sent at once, they were refused as over its queue,
    // three refusals excluded w0 too, and the run ended with no worker.
    let script: Script = Box::new(|peer, _| match peer {
        "w1" => Reply::Disconnect,
        _ => Reply::Queued(vec![7; 2]),
    });
    let mut config = ClusterConfig::local(2);
    config.partitions_per_worker = 2 * MAX_QUEUED_TASKS;
    let (mut driver, wire) = driver_with(config, script);
    settle(&mut driver, &["grad"]);
    let rows = 4 * 2 * MAX_QUEUED_TASKS;
    let features = Array2::from_shape_fn((rows, 2), |(i, j)| (i * 2 + j) as f64);
    let data = Dataset::new("big", Features::Dense(features), Array1::ones(rows)).unwrap();
    let results = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("w0 does every partition");
    assert_eq!(results.len(), 4 * MAX_QUEUED_TASKS);
    assert!(!driver.table.workers[1].alive);
    assert!(driver.table.workers[0].alive && !driver.table.workers[0].excluded);
    let refused = wire.borrow().queues.values().map(VecDeque::len).max();
    assert_eq!(refused, Some(0), "every queued task answered");
    assert_eq!(
        driver.stats().retried_tasks,
        0,
        "no task refused, none retried"
    );
}

#[test]
fn partitions_left_without_a_live_holder_are_adopted_once_no_replacement_is_awaited() {
    let data = data();
    let (mut driver, wire) = after_one_step(&data);
    // Both local workers die at once and are replaced; only the first replacement joins, and
    // takes one partition while the other is awaited.
    driver.config.heartbeat = Duration::from_millis(20);
    driver.config.join_timeout = Duration::from_millis(50);
    driver.local.await_replacement("w0.respawn1");
    driver.local.await_replacement("w1.respawn2");
    driver.lose(0, "test");
    driver.lose(1, "test");
    join(&wire, "w0.respawn1", 9);
    driver.drain();
    assert_eq!(driver.table.workers[2].partitions.len(), 1);
    // The second never joins: past its join timeout, its partition is the first one's too.
    std::thread::sleep(Duration::from_millis(60));
    let results = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("the joined replacement does every partition");
    assert_eq!(results, [[0; 2], [1; 2]]);
    assert_eq!(driver.table.workers[2].partitions.len(), 2);
}

/// The delay factor of the latest worker named `name`.
fn factor_of(driver: &Driver, name: &str) -> f64 {
    let index = driver.table.index_of(name).expect("joined");
    driver.table.workers[index].delay_factor
}

#[test]
fn a_rejoining_worker_straggles_as_before_and_one_beyond_the_count_does_not() {
    let mut config = ClusterConfig::local(2);
    config.stragglers = crate::Stragglers::Intensity(3.0);
    let (mut driver, wire) = driver_with(config, echoing());
    assert_eq!(
        (factor_of(&driver, "w0"), factor_of(&driver, "w1")),
        (0.0, 3.0)
    );
    // w0 rejoins under a fresh suffix; a third worker joins too. Each was the last worker,
    // the one `intensity` slows.
    driver.lose(0, "test");
    for name in ["w0.r0123abcd", "w9"] {
        join(&wire, name, 9);
    }
    driver.drain();
    assert_eq!(factor_of(&driver, "w0.r0123abcd"), 0.0);
    assert_eq!(factor_of(&driver, "w9"), 0.0);
    assert_eq!(factor_of(&driver, "w1"), 3.0);
}

#[test]
fn a_fresh_name_of_a_slowed_worker_in_the_run_is_another_worker_not_slowed() {
    // The slowed worker's factor also stretches its hang limit (1 + the factor): a peer
    // holding the token that joined as `w1.r...` while w1 was in the run took it, and the
    // looser limit with it, though it is not w1 back (the table counts it as a worker of
    // its own).
    let mut config = ClusterConfig::local(2);
    config.stragglers = crate::Stragglers::Intensity(3.0);
    let (mut driver, wire) = driver_with(config, echoing());
    assert_eq!(factor_of(&driver, "w1"), 3.0);
    join(&wire, "w1.r0000abcd", 9);
    driver.drain();
    let other = driver.table.index_of("w1.r0000abcd").unwrap();
    assert_eq!(driver.table.workers[other].worker(), "w1.r0000abcd");
    assert_eq!(factor_of(&driver, "w1.r0000abcd"), 0.0);
    // w1 lost, and back under a fresh name: it straggles as it did.
    driver.lose(1, "test");
    join(&wire, "w1.r0000bcde", 10);
    driver.drain();
    assert_eq!(factor_of(&driver, "w1.r0000bcde"), 3.0);
}

#[test]
fn a_dataset_changed_since_it_was_shipped_is_shipped_again() {
    let data = data();
    let (mut driver, wire) = after_one_step(&data);
    let shipped = |wire: &Arc<Shared<Wire>>| {
        let sent = &wire.borrow().sent;
        let partitions = sent
            .iter()
            .filter(|(_, m)| matches!(m, ToWorker::Partition { .. }));
        partitions.count()
    };
    assert_eq!(shipped(&wire), 2);
    driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .unwrap();
    assert_eq!(shipped(&wire), 2, "the same dataset is shipped once");
    // Its labels changed: the workers' partitions would be stale.
    let relabelled = data.map_labels(|y| -y);
    driver
        .reduce_all(&relabelled, &spec("grad", None), &decode)
        .unwrap();
    assert_eq!(shipped(&wire), 4, "a changed dataset is shipped again");
    // The driver knew datasets by their address: the same one moved was shipped again, and
    // another of the same size where a dropped one was (the allocator reuses the place) was
    // taken for the one shipped.
    let boxed = Box::new(relabelled);
    driver
        .reduce_all(&boxed, &spec("grad", None), &decode)
        .unwrap();
    assert_eq!(shipped(&wire), 4, "moved, it is the same dataset");
    drop(boxed);
    let other = Box::new(self::data().map_labels(|y| 2.0 * y));
    driver
        .reduce_all(&other, &spec("grad", None), &decode)
        .unwrap();
    assert_eq!(shipped(&wire), 6, "another dataset is shipped");
}

#[test]
fn the_partition_count_is_what_a_reduce_cuts_the_data_into_and_stays_when_a_worker_is_lost() {
    let mut config = ClusterConfig::local(2);
    config.partitions_per_worker = 3;
    let (mut driver, wire) = driver_with(config, echoing());
    settle(&mut driver, &["grad"]);
    let data = data();
    assert_eq!(
        driver.partitions(&data),
        6,
        "before shipping: what it will be cut into"
    );
    driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .unwrap();
    assert_eq!(driver.partitions(&data), 6);
    driver.lose(1, "test");
    assert_eq!(driver.workers().alive(), 1);
    assert_eq!(
        driver.partitions(&data),
        6,
        "a lost worker's partitions move to w0"
    );
    let other = data.map_labels(|y| -y);
    assert_eq!(
        driver.partitions(&other),
        3,
        "another dataset, cut for the one live worker"
    );
    // w0 held all 6 partitions of the first: shipping the other replaced 3 of them (same
    // ids) and left 3 in its memory for the rest of the run.
    // In order: a release to w0 (`Some(partition)`), or a partition shipped (`None`).
    let shipping = |wire: &Arc<Shared<Wire>>| {
        sent(wire, |peer, order| match order {
            ToWorker::Release { partition } if peer == "w0" => Some(Some(*partition)),
            ToWorker::Partition { .. } => Some(None),
            _ => None,
        })
    };
    let before = shipping(&wire).len();
    driver
        .reduce_all(&other, &spec("grad", None), &decode)
        .unwrap();
    let after = shipping(&wire).split_off(before);
    let first_new = after.iter().position(Option::is_none).expect("shipped");
    let mut released: Vec<u32> = after[..first_new].iter().flatten().copied().collect();
    released.sort_unstable();
    assert_eq!(
        released,
        [0, 1, 2, 3, 4, 5],
        "the first dataset's freed, before the other arrives"
    );
    assert!(after[first_new..].iter().all(Option::is_none));
}

#[test]
fn a_worker_giving_a_partition_to_one_that_joins_is_told_to_free_it() {
    // The driver took the partition off the giver's list and said nothing to it: a long-lived
    // worker kept every partition it ever gave away in memory (4 of 8 on bio_kdd04, 87 MB of
    // a 173 MB worker, after four joins), up to the whole data set after churn.
    let mut config = ClusterConfig::local(1);
    config.partitions_per_worker = 3;
    let (mut driver, wire) = driver_with(config, echoing());
    settle(&mut driver, &["grad"]);
    let data = data();
    driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .unwrap();
    for (w, name) in ["w1", "w2"].into_iter().enumerate() {
        join(&wire, name, 1 + w as u32);
        driver.drain();
    }
    assert_eq!(driver.table.alive(), 3);
    let given: Vec<u32> = (1..3)
        .flat_map(|w| driver.table.workers[w].partitions.clone())
        .collect();
    assert_eq!(given.len(), 2, "each joiner took one of w0's");
    let released = sent(&wire, |peer, order| match order {
        ToWorker::Release { partition } => Some((peer.to_owned(), *partition)),
        _ => None,
    });
    let expected: Vec<(String, u32)> = given.iter().map(|&p| ("w0".into(), p)).collect();
    assert_eq!(released, expected, "w0 is told to free what it gave");
    assert_eq!(driver.table.workers[0].partitions.len(), 1);
    // The run goes on over the three, each on its own partitions.
    let before = tasks(&wire).len();
    driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .unwrap();
    let to_w0: Vec<u32> = tasks(&wire)[before..]
        .iter()
        .filter(|(peer, ..)| peer == "w0")
        .map(|&(_, _, partition, _)| partition)
        .collect();
    assert!(
        !to_w0.is_empty() && to_w0.iter().all(|p| !given.contains(p)),
        "no task on a partition w0 freed: {to_w0:?}"
    );
}

#[test]
fn a_worker_whose_failures_are_not_in_a_row_is_not_excluded() {
    // A worker fails every other task it runs (a flaky host): a good result between two
    // failures ends its streak, so it is never excluded, whatever its failures in all.
    let mut runs = 0u32;
    let script: Script = Box::new(move |peer, task| {
        if peer == "w0" {
            runs += 1;
            if runs % 2 == 1 {
                return Reply::Fail("task panicked: now and then".into());
            }
        }
        Reply::Result(vec![task.partition as u8; 2])
    });
    let (mut driver, _) = driver(2, script);
    settle(&mut driver, &["grad"]);
    for _ in 0..8 {
        let parts = driver
            .reduce_all(&data(), &spec("grad", None), &decode)
            .expect("the failed tasks are done again");
        assert_eq!(parts.len(), 2, "a part per partition, w0's among them");
    }
    let w0 = &driver.table.workers[0];
    assert!(
        w0.failures > u64::from(EXCLUDE_AFTER),
        "it failed {} tasks in all",
        w0.failures
    );
    assert!(w0.alive && !w0.excluded, "never {EXCLUDE_AFTER} in a row");
}

#[test]
fn a_task_failing_on_every_worker_ends_the_run_with_its_message() {
    // An author's bug: the task panics wherever it runs. Each worker fails three in a row and
    // is excluded before a partition has failed four times; the run's error said only that
    // no worker was left.
    let script: Script = Box::new(|_, _| Reply::Fail("task panicked: index out of bounds".into()));
    let (mut driver, _) = driver(3, script);
    let error = driver
        .reduce_all(&data(), &spec("grad", None), &decode)
        .expect_err("no worker can do the task");
    let message = error.to_string();
    assert!(
        message.contains("task panicked: index out of bounds"),
        "{message}"
    );
    assert!(
        message.contains("each was excluded for failing task `grad`"),
        "{message}"
    );
}

#[test]
fn a_partition_whose_results_fail_the_checks_everywhere_ends_the_run_saying_why() {
    // An author's bug: one partition's result has another shape than the others', wherever
    // it runs. The run's error said only that its result "failed the driver's checks".
    let script: Script = Box::new(|_, task| {
        let len = if task.partition == 2 { 3 } else { 2 };
        Reply::Result(vec![task.partition as u8; len])
    });
    let (mut driver, _) = driver(3, script);
    let error = driver
        .reduce_all(&data(), &spec("grad", None), &decode)
        .expect_err("partition 2's result never fits");
    let message = error.to_string();
    assert!(message.contains("shape [3]"), "{message}");
}

/// Results are their bytes, read as numbers by the driver's own inspection, `u8::MAX` as NaN;
/// the shape is their length.
fn decode_numbers(body: &[u8]) -> Result<(Vec<u8>, Inspected), String> {
    let numbers: Vec<f64> = body
        .iter()
        .map(|&b| if b == u8::MAX { f64::NAN } else { f64::from(b) })
        .collect();
    let inspected = super::inspect::inspect(&numbers)?;
    let shape = vec![body.len() as u64];
    Ok((body.to_vec(), Inspected { shape, ..inspected }))
}

/// Fake workers whose results hold NaN: all of them, or only `bad`'s.
fn nan_on(bad: Option<&'static str>) -> Script {
    Box::new(move |peer, task| {
        let number = match bad {
            Some(name) if name != peer => task.partition as u8,
            _ => u8::MAX,
        };
        Reply::Result(vec![number; 2])
    })
}

/// Whether `error` is the task's failure for results that are not finite on two of w0, w1 and
/// w2, no worker excluded for them.
fn not_finite_on_two(error: &RuntimeError, driver: &Driver) -> Result<(), String> {
    let RuntimeError::TaskFailed { task, message, .. } = error else {
        return Err(format!("expected TaskFailed, got {error}"));
    };
    let named = ["w0", "w1", "w2"]
        .iter()
        .filter(|w| message.contains(*w))
        .count();
    let blames_the_task = task == "grad"
        && message.contains("returned results that are not finite on")
        && message.contains("NaN")
        && named == 2;
    if !blames_the_task {
        return Err(format!("the message blames no task: {message}"));
    }
    if driver.stats().excluded_workers != 0 {
        return Err(format!("a worker was excluded: {message}"));
    }
    Ok(())
}

#[test]
fn a_synchronous_task_whose_results_are_not_finite_everywhere_ends_the_run_blaming_it() {
    // An author's bug: the closure returns NaN wherever it runs. Each worker was struck out
    // for bad results, and the run ended saying no live worker was left.
    let (mut driver, _) = driver(3, nan_on(None));
    let error = driver
        .reduce_all(&data(), &spec("grad", None), &decode_numbers)
        .expect_err("no result can be taken");
    not_finite_on_two(&error, &driver).unwrap();
    assert!(
        error
            .to_string()
            .starts_with("task grad failed on worker w"),
        "{error}"
    );
}

#[test]
fn an_asynchronous_task_whose_results_are_not_finite_everywhere_ends_the_run_blaming_it() {
    let (mut driver, _) = driver(3, nan_on(None));
    let error = driver
        .reduce_next(
            &data(),
            &spec("grad", None),
            EVERYONE,
            None,
            &decode_numbers,
        )
        .map(|taken| taken.value)
        .expect_err("no result can be taken");
    not_finite_on_two(&error, &driver).unwrap();
}

#[test]
fn one_worker_whose_results_are_not_finite_is_struck_out_and_the_others_do_its_tasks() {
    // A faulty host: its results hold NaN, the others' do not. Its tasks are done elsewhere
    // and, at its third bad result, it is excluded; no task is blamed.
    let data = data();
    let (mut synchronous, _) = driver(3, nan_on(Some("w1")));
    for _ in 0..3 {
        let parts = synchronous
            .reduce_all(&data, &spec("grad", None), &decode_numbers)
            .expect("the others do its tasks");
        assert!(parts.iter().all(|part| !part.contains(&u8::MAX)));
    }
    let w1 = &synchronous.table.workers[1];
    assert!(w1.excluded && w1.bad_results == 3, "w1 struck out");
    assert_eq!(synchronous.stats().excluded_workers, 1);
    // Asynchronous: a good result of the others counts the site's bad ones again from none.
    let (mut asynchronous, _) = driver(3, nan_on(Some("w2")));
    for _ in 0..20 {
        let taken = asynchronous
            .reduce_next(&data, &spec("grad", None), EVERYONE, None, &decode_numbers)
            .expect("the others' results are taken");
        assert!(!taken.value.contains(&u8::MAX));
    }
    let w2 = &asynchronous.table.workers[2];
    assert!(w2.excluded && w2.bad_results == 3, "w2 struck out");
}

#[test]
fn a_read_of_a_version_from_before_a_resume_says_the_checkpoint_did_not_keep_it() {
    // A resumed run holds the versions the checkpoint saved only: the error said the driver
    // keeps the last 16 versions, "the oldest now 300", which was wrong after a resume.
    let (mut driver, _) = driver(2, echoing());
    driver.versions.restore("w", 300, vec![1; 8]);
    driver.versions.publish("w", vec![2; 8]);
    let read = |at| {
        [ReadSpec {
            name: "w",
            at: Some(at),
        }]
    };
    assert!(driver.resolve_reads("grad", &read(300)).is_ok());
    let error = driver
        .resolve_reads("grad", &read(291))
        .expect_err("version 291 was never in this process");
    let message = error.to_string();
    assert!(
        message.contains("before this run resumed its checkpoint at version 300"),
        "{message}"
    );
}

/// What was sent since `from` (an index into the wire's log): welcomes, partition messages.
fn welcomes_and_partitions(wire: &Arc<Shared<Wire>>, from: usize) -> (usize, usize) {
    let wire = wire.borrow();
    let sent = &wire.sent[from..];
    let welcomes = sent
        .iter()
        .filter(|(_, m)| matches!(m, ToWorker::Welcome(_)))
        .count();
    let partitions = sent
        .iter()
        .filter(|(_, m)| matches!(m, ToWorker::Partition { .. } | ToWorker::ReadSplit { .. }))
        .count();
    (welcomes, partitions)
}

/// A token holder joins under `count` fresh names, each connection closing at once.
fn join_and_leave(driver: &mut Driver, wire: &Arc<Shared<Wire>>, count: u32) {
    for i in 0..count {
        let name = format!("x{i}");
        join(wire, &name, 1000 + i);
        wire.borrow_mut()
            .inbox
            .push_back(Inbound::Disconnected { peer: name });
        driver.drain();
    }
}

#[test]
fn a_token_holder_joining_in_a_loop_is_refused_past_the_join_budget() {
    let data = data();
    let (mut driver, wire) = after_one_step(&data);
    let before = wire.borrow().sent.len();
    join_and_leave(&mut driver, &wire, 200);
    let (welcomes, partitions) = welcomes_and_partitions(&wire, before);
    // Two workers, two respawns allowed: a burst of 4 joins beyond the first fill.
    assert!(welcomes <= 4, "{welcomes} of 200 joins admitted");
    assert!(partitions <= 2 * 4, "{partitions} partitions shipped");
    assert!(
        driver.table.workers.len() <= 2 + 4,
        "{} rows",
        driver.table.workers.len()
    );
    let told_later: Vec<(u64, String)> = wire.borrow().sent[before..]
        .iter()
        .filter_map(|(_, m)| match m {
            ToWorker::TryLater { reason, after_ms } => Some((*after_ms, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        told_later.len(),
        200 - welcomes,
        "every other join told to try later"
    );
    assert!(told_later
        .iter()
        .all(|(after_ms, reason)| reason.contains("too many joins")
            && (1..=5_000).contains(after_ms)));
    assert_eq!(driver.stats().joins_refused, 200 - welcomes as u64);
    // A replacement this driver started for a worker that died still joins, and takes its
    // predecessor's partition back.
    driver.local.await_replacement("w1.respawn1");
    driver.lose(1, "test");
    join(&wire, "w1.respawn1", 77);
    driver.drain();
    let replacement = driver.table.index_of("w1.respawn1").expect("admitted");
    assert_eq!(driver.table.workers[replacement].partitions, [1]);
    // The run trains on.
    let results = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("the workers train on");
    assert_eq!(results, [[0; 2], [1; 2]]);
}

/// The orders `peer` was sent from the `from`th on: whether it was welcomed, and told to try
/// again later.
fn welcomed_or_told_later(wire: &Arc<Shared<Wire>>, from: usize, peer: &str) -> (bool, bool) {
    let wire = wire.borrow();
    let to_it = wire.sent[from..].iter().filter(|(p, _)| p == peer);
    let welcomed = to_it
        .clone()
        .any(|(_, m)| matches!(m, ToWorker::Welcome(_)));
    let later = to_it
        .clone()
        .any(|(_, m)| matches!(m, ToWorker::TryLater { .. }));
    (welcomed, later)
}

#[test]
fn a_worker_that_served_is_taken_back_while_a_token_holder_joins_in_a_loop() {
    let data = data();
    let (mut driver, wire) = after_one_step(&data);
    // A token holder spends the budget of joins under fresh names.
    join_and_leave(&mut driver, &wire, 200);
    // w1, which returned results, is cut off and declared lost; it joins again under a
    // fresh name, as a worker the driver declared lost does.
    driver.lose(1, "test");
    let before = wire.borrow().sent.len();
    join(&wire, "w1.r0000abcd", 11);
    driver.drain();
    assert_eq!(
        welcomed_or_told_later(&wire, before, "w1.r0000abcd"),
        (true, false),
        "w1 back is admitted"
    );
    driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("it trains with w0");
    // A name is no credential: under w1's names, joins that never served are the loop's.
    let before = wire.borrow().sent.len();
    for i in 0..50u32 {
        let name = format!("w1.r1111{i:04x}");
        join(&wire, &name, 2000 + i);
        wire.borrow_mut()
            .inbox
            .push_back(Inbound::Disconnected { peer: name });
        driver.drain();
    }
    let (welcomes, _) = welcomes_and_partitions(&wire, before);
    assert_eq!(
        welcomes, 0,
        "{welcomes} of 50 joins under w1's names admitted"
    );
    // w0 served too: its own rejoin is admitted while the loop goes on.
    driver.lose(0, "test");
    let before = wire.borrow().sent.len();
    join(&wire, "w0", 30);
    driver.drain();
    assert_eq!(welcomed_or_told_later(&wire, before, "w0"), (true, false));
    let results = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("both train on");
    assert_eq!(results, [[0; 2], [1; 2]]);
}

#[test]
fn a_whole_cluster_rejoining_at_once_is_admitted_at_once_twice() {
    let data = data();
    let (mut driver, wire) = driver(8, echoing());
    settle(&mut driver, &["grad"]);
    driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .unwrap();
    // Two network cuts in a row: every worker lost, every one back under a fresh name.
    for cut in 0..2u32 {
        for w in 0..driver.table.workers.len() {
            driver.lose(w, "test");
        }
        let before = wire.borrow().sent.len();
        for w in 0..8u32 {
            join(&wire, &format!("w{w}.r{cut:04x}{w:04x}"), 100 + w);
        }
        driver.drain();
        let (welcomes, _) = welcomes_and_partitions(&wire, before);
        assert_eq!(welcomes, 8, "cut {cut}: the whole cluster admitted at once");
        let live = driver.table.workers.iter().filter(|w| w.alive);
        assert_eq!(live.clone().count(), 8);
        assert!(
            live.clone().all(|w| !w.partitions.is_empty()),
            "each took work"
        );
    }
    let results = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("the rejoined cluster trains");
    assert_eq!(results.len(), 8);
}

#[test]
fn the_rows_of_departed_workers_are_bounded_and_counted() {
    let data = data();
    let (mut driver, wire) = after_one_step(&data);
    // A budget that lets every join in: the table's bound alone is tested.
    driver.joins.budget = JoinBudget::new(10_000, 0, Duration::from_secs(5), Instant::now());
    join_and_leave(&mut driver, &wire, 500);
    let rows = driver.table.workers.len();
    assert!(rows <= 2 + DEPARTED_ROWS_KEPT + 1, "{rows} rows");
    assert_eq!(driver.workers().ever(), 502);
    let report = driver.report();
    assert_eq!(
        report.workers.len() as u64 + report.forgotten_workers.workers,
        502,
        "every worker listed or counted"
    );
    assert_eq!(report.forgotten_workers.trained, 0, "none of them computed");
    // The names of forgotten rows are forgotten too, and the live workers kept theirs.
    assert!(driver.table.by_name.len() == rows);
    assert_eq!(driver.table.index_of("w0"), Some(0));
    assert_eq!(driver.table.index_of("x0"), None);
    let results = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("the two workers train on");
    assert_eq!(results, [[0; 2], [1; 2]]);
}

#[test]
fn a_join_turned_back_keeps_no_session_at_the_link() {
    let (mut driver, wire) = driver(2, echoing());
    driver.joins.budget = JoinBudget::new(0, 0, Duration::from_secs(5), Instant::now());
    let session = join(&wire, "x0", 9);
    // Its heartbeat, sent before the link ended its session: nothing wrong, only counted.
    wire.borrow_mut().inbox.push_back(Inbound::Message {
        peer: "x0".into(),
        message: ToDriver::Heartbeat,
        bytes: 40,
        received: Instant::now(),
    });
    driver.drain();
    assert_eq!(
        (
            driver.stats.ended_session_frames,
            driver.stats.rejected_messages
        ),
        (1, 0)
    );
    let wire = wire.borrow();
    let told: Vec<&ToWorker> = wire
        .sent
        .iter()
        .filter(|(peer, _)| peer == "x0")
        .map(|(_, order)| order)
        .collect();
    assert!(
        matches!(told[..], [ToWorker::TryLater { .. }]),
        "told to try later, then nothing: {told:?}"
    );
    // Its session ends after that word: it comes back only by a fresh handshake.
    assert_eq!(wire.ended, [("x0".to_owned(), session)]);
    assert!(!wire.sessions.contains_key("x0"));
    assert!(driver.table.index_of("x0").is_none());
}

#[test]
fn a_worker_lost_to_silence_is_told_why_its_session_ends_and_it_may_come_back_by_a_handshake() {
    let (mut driver, wire) = driver(2, Box::new(|_, _| Reply::Silent));
    let data = data();
    settle(&mut driver, &["a"]);
    let _ = driver.reduce_next(&data, &spec("a", None), EVERYONE, None, &decode);
    let old = driver.table.workers[1].session;
    // A period long enough that the check below is neither early nor taken for a pause of the
    // driver (over 3 periods late), whatever the machine's load.
    driver.config.heartbeat = Duration::from_secs(10);
    let now = Instant::now();
    driver.last_liveness_check = now - 2 * driver.config.heartbeat;
    driver.table.workers[0].last_heard = now;
    driver.table.workers[1].last_heard = now - 2 * driver.config.liveness_timeout();
    let before = wire.borrow().sent.len();
    driver.watch();
    assert!(
        !driver.table.workers[1].alive,
        "silent past the timeout: lost"
    );
    {
        let wire = wire.borrow();
        let told: Vec<&ToWorker> = wire.sent[before..]
            .iter()
            .filter(|(peer, _)| peer == "w1")
            .map(|(_, order)| order)
            .collect();
        assert!(
            matches!(told[..], [ToWorker::Lost { reason }] if reason.contains("silent")),
            "{told:?}"
        );
        assert_eq!(
            wire.ended,
            [("w1".to_owned(), old)],
            "then its session ends"
        );
    }
    // What it sent before the end reached the driver changes nothing and is not answered.
    let before = wire.borrow().sent.len();
    wire.borrow_mut().inbox.push_back(Inbound::Message {
        peer: "w1".into(),
        message: ToDriver::Heartbeat,
        bytes: 64,
        received: Instant::now(),
    });
    driver.drain();
    assert_eq!(wire.borrow().sent.len(), before);
    assert!(
        wire.borrow().stale.is_empty(),
        "nothing addressed to the ended session"
    );
    // Its connection closes; a fresh handshake under its own name opens a session of its own.
    wire.borrow_mut()
        .inbox
        .push_back(Inbound::Disconnected { peer: "w1".into() });
    let again = join(&wire, "w1", 1);
    driver.drain();
    let back = driver.table.index_of("w1").expect("admitted again");
    assert!(driver.table.workers[back].alive);
    assert_eq!(driver.table.workers[back].session, again);
    assert!(
        matches!(wire.borrow().sent.last(), Some((peer, ToWorker::Partition { .. } | ToWorker::Welcome(_))) if peer == "w1"),
        "welcomed and given work"
    );
}

#[test]
fn a_closing_heard_twice_is_one_loss() {
    let data = data();
    let (mut driver, wire) = after_one_step(&data);
    // w1's connection closes and the coordinator hears of it twice (as it did from a failed
    // send and the closing that followed): the second changes nothing.
    let closed = |driver: &mut Driver| {
        wire.borrow_mut()
            .inbox
            .push_back(Inbound::Disconnected { peer: "w1".into() });
        driver.drain();
        let stats = driver.stats();
        let books = (stats.lost_workers, stats.moved_partitions);
        (books, driver.table.alive(), wire.borrow().sent.len())
    };
    let once = closed(&mut driver);
    assert_eq!(once.0 .0, 1, "w1 lost");
    assert!(once.0 .1 > 0, "its partitions moved");
    assert_eq!(closed(&mut driver), once, "heard again, nothing changes");
}

#[test]
fn an_order_for_a_workers_earlier_session_never_reaches_a_later_one_under_its_name() {
    let data = data();
    let (mut driver, wire) = after_one_step(&data);
    let old = driver.table.workers[1].session;
    // The link saw w1's connection close and a restarted w1 prove the token under the same
    // name; the driver has not heard of either yet, and dispatches to the w1 it knows.
    let new = join(&wire, "w1", 11);
    {
        let mut wire = wire.borrow_mut();
        let admitted = wire.inbox.pop_back().expect("the admission");
        wire.inbox
            .push_back(Inbound::Disconnected { peer: "w1".into() });
        wire.inbox.push_back(admitted);
        wire.sessions.insert("w1".into(), new);
    }
    let before = wire.borrow().sent.len();
    let results = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("the step completes");
    assert_eq!(results, [[0; 2], [1; 2]]);
    let wire = wire.borrow();
    // The task meant for the first w1 was dropped at the link, and counted.
    assert!(
        matches!(&wire.stale[..], [(peer, session, ToWorker::Task(_))] if peer == "w1" && *session == old),
        "{:?}",
        wire.stale
    );
    assert_eq!(driver.stats().ended_session_frames, 1);
    // The second w1 heard nothing before its welcome, and answered no task it was not sent.
    let to_new_w1: Vec<&ToWorker> = wire.sent[before..]
        .iter()
        .filter(|(peer, _)| peer == "w1")
        .map(|(_, order)| order)
        .collect();
    assert!(
        matches!(to_new_w1.first(), Some(ToWorker::Welcome(_))),
        "{to_new_w1:?}"
    );
    assert_eq!(driver.stats().bad_results, 0);
    assert!(driver.table.workers[driver.table.index_of("w1").unwrap()].alive);
}

/// The rows of the table named `name`, as (pid, alive, tasks done).
fn rows_of(driver: &Driver, name: &str) -> Vec<(u32, bool, u64)> {
    let rows = driver.report().workers.into_iter();
    rows.filter(|w| w.name == name)
        .map(|w| (w.pid, w.alive, w.tasks_done))
        .collect()
}

/// Whether the report's rows and forgotten rows add up to the run's totals: tasks done (every
/// result received was a good one's), failures, bad results.
fn sums_match_totals(driver: &Driver) -> Result<(), String> {
    let report = driver.report();
    let (rows, gone) = (&report.workers, &report.forgotten_workers);
    let sums = (
        rows.iter().map(|w| w.tasks_done).sum::<u64>() + gone.tasks_done,
        rows.iter().map(|w| w.failures).sum::<u64>() + gone.failures,
        rows.iter().map(|w| w.bad_results).sum::<u64>() + gone.bad_results,
    );
    let stats = &report.stats;
    let totals = (
        stats.results_received,
        stats.failed_tasks,
        stats.bad_results,
    );
    if sums == totals {
        Ok(())
    } else {
        Err(format!("per worker {sums:?}, run {totals:?}"))
    }
}

#[test]
fn a_worker_rejoining_under_its_own_name_keeps_the_numbers_of_its_first_connection() {
    // w1 fails its first task, then answers; cut off, it joins again under its name (a worker
    // started with `--reconnect`), as another process (pid 11). Its row was reused: the first
    // connection's tasks and failure were gone from the report, the run's totals kept them.
    let mut failed = false;
    let script: Script = Box::new(move |peer, task| {
        if peer == "w1" && !failed {
            failed = true;
            return Reply::Fail("out of memory".into());
        }
        Reply::Result(vec![task.partition as u8; 2])
    });
    let (mut driver, wire) = driver(3, script);
    settle(&mut driver, &["grad"]);
    let data = data();
    for _ in 0..3 {
        driver
            .reduce_all(&data, &spec("grad", None), &decode)
            .unwrap();
    }
    let first = rows_of(&driver, "w1");
    assert_eq!(first, [(1, true, 2)], "one failed, two done");
    wire.borrow_mut()
        .inbox
        .push_back(Inbound::Disconnected { peer: "w1".into() });
    join(&wire, "w1", 11);
    driver.drain();
    driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .unwrap();
    let rows = rows_of(&driver, "w1");
    assert!(
        rows.contains(&(1, false, 2)),
        "its first connection: {rows:?}"
    );
    assert!(
        rows.iter()
            .any(|&(pid, alive, done)| pid == 11 && alive && done >= 1),
        "the rejoined one: {rows:?}"
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    sums_match_totals(&driver).unwrap();
    assert_eq!(driver.table.alive(), 3);
    // The summary tells them apart.
    let table = serde_json::to_value(driver.report().workers).unwrap();
    let told: Vec<(bool, u64)> = table
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["name"] == "w1")
        .map(|w| (w["alive"] == true, w["incarnation"].as_u64().unwrap_or(99)))
        .collect();
    assert_eq!(told, [(false, 0), (true, 1)]);
}

#[test]
fn a_worker_reconnecting_in_a_loop_keeps_a_bounded_table_whose_rows_add_up() {
    let (mut driver, wire) = driver(3, echoing());
    settle(&mut driver, &["grad"]);
    let data = data();
    driver.joins.budget = JoinBudget::new(10_000, 0, Duration::from_secs(5), Instant::now());
    driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .unwrap();
    // w2 leaves for good; w1 is cut off and joins again under its name 200 times, training
    // in between.
    wire.borrow_mut()
        .inbox
        .push_back(Inbound::Disconnected { peer: "w2".into() });
    driver.drain();
    for pid in 100..300 {
        wire.borrow_mut()
            .inbox
            .push_back(Inbound::Disconnected { peer: "w1".into() });
        join(&wire, "w1", pid);
        driver.drain();
        driver
            .reduce_all(&data, &spec("grad", None), &decode)
            .unwrap();
    }
    let rows = driver.table.workers.len();
    assert!(rows <= 3 + 4, "{rows} rows");
    assert_eq!(driver.workers().ever(), 203, "every join listed or counted");
    // w2's row was not pushed out by w1's loop; the live w1 is its last process.
    assert_eq!(rows_of(&driver, "w2"), [(2, false, 1)]);
    let live = &driver.table.workers[driver.table.index_of("w1").unwrap()];
    assert_eq!((live.pid, live.alive), (299, true));
    let w1 = rows_of(&driver, "w1");
    assert!(w1.len() > 1 && w1.len() <= 4, "{w1:?}");
    sums_match_totals(&driver).unwrap();
    let forgotten = serde_json::to_value(driver.report().forgotten_workers).unwrap();
    assert_eq!(forgotten["trained"], 0, "no worker forgotten: {forgotten}");
}

#[test]
fn a_result_of_a_workers_first_connection_is_booked_to_it_not_to_its_rejoined_one() {
    let (mut driver, wire) = driver(2, echoing());
    settle(&mut driver, &["a"]);
    let data = data();
    driver
        .reduce_next(&data, &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    // w1's result is on its way; then its connection closes and w1 joins again (pid 11).
    wire.borrow_mut()
        .inbox
        .push_back(Inbound::Disconnected { peer: "w1".into() });
    join(&wire, "w1", 11);
    driver.drain();
    assert_eq!(driver.in_hand(), 1, "the first w1's result");
    let used = driver
        .reduce_next(&data, &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    assert_eq!(used.meta.staleness, 1);
    // Its worker is the first w1: the rejoined one computed nothing yet, and its staleness,
    // which a barrier reads, is its own.
    let by = &driver.table.workers[used.meta.worker];
    assert_eq!((by.name.as_str(), by.pid, by.alive), ("w1", 1, false));
    let live = &driver.table.workers[driver.table.index_of("w1").unwrap()];
    assert_eq!((live.pid, live.alive), (11, true));
    assert_eq!((live.tasks_done, live.last_staleness), (0, 0));
    assert_eq!(by.last_staleness, 1);
    sums_match_totals(&driver).unwrap();
}

#[test]
fn a_site_failing_on_one_host_before_and_after_it_joined_again_fails_on_one_worker() {
    // w1's host fails every task of the site, and the barrier selects w1 alone. It is
    // excluded, joins again (a row of its own) under its name or a fresh one, and fails again:
    // that is one host failing, not the site failing on every worker it tried.
    for again in ["w1".to_owned(), crate::protocol::fresh_name("w1")] {
        let script: Script = Box::new(|peer, _| {
            if crate::protocol::original_name(peer) == "w1" {
                Reply::Fail("w1's host is broken".into())
            } else {
                Reply::Silent
            }
        });
        let (mut driver, wire) = driver(3, script);
        settle(&mut driver, &["grad"]);
        let data = data();
        let only_w1: Gate<'static> = (
            &|_: &WorkerTable| true,
            &|w: &WorkerInfo, _: &WorkerTable| w.worker() == "w1",
        );
        let first = driver
            .reduce_next(&data, &spec("grad", None), only_w1, None, &decode)
            .expect_err("w1 excluded, no one else selected");
        join(&wire, &again, 99);
        driver.drain();
        let second = driver
            .reduce_next(&data, &spec("grad", None), only_w1, None, &decode)
            .expect_err("w1 excluded again");
        let (first, second) = (first.to_string(), second.to_string());
        assert!(!second.contains("on 2 workers"), "{again}: {second}");
        assert_eq!(driver.stats.excluded_workers, 2, "{first} / {second}");
    }
}

#[test]
fn a_worker_silent_at_the_end_does_not_hold_the_end_of_the_run() {
    let data = data();
    let (mut driver, _wire) = after_one_step(&data);
    // w1's process is stopped (SIGSTOP) near the end: silent for 3 s, not yet declared lost.
    // w0 answers, and exits once it is told and the stopped one is gone; a driver that waited
    // for the stopped one first held the run's end for the whole grace, then killed both.
    let (stopped, answering) = super::local::stopped_and_waiting_stand_ins();
    let stopped_pid = stopped.id();
    driver.table.workers[0].pid = answering.id();
    driver.table.workers[1].pid = stopped_pid;
    if let Some(long_ago) = Instant::now().checked_sub(Duration::from_secs(3)) {
        driver.table.workers[1].last_heard = long_ago;
    }
    driver.local = LocalWorkers::of(vec![("w0".into(), answering), ("w1".into(), stopped)]);
    let ended = driver.shutdown_workers(false);
    assert_eq!(
        ended.len(),
        1,
        "only the answering one is waited for: {ended:?}"
    );
    assert!(
        ended[0].is_some_and(|status| status.success()),
        "the answering one exited by itself: {ended:?}"
    );
}

#[test]
fn a_synchronous_sites_shape_is_settled_by_the_workers_it_asks_not_a_late_joiner_it_never_asks() {
    // w0 and w1 disagree on the shape of `grad`; w2 joins once the data is shipped and every
    // worker holds a partition, so it gets a copy and owns none: a synchronous reduce never
    // sends it a task, and its opinion cannot break the tie.
    let script: Script = Box::new(|peer, task| {
        let len = if task.task == "grad" && peer == "w1" {
            3
        } else {
            2
        };
        Reply::Result(vec![task.partition as u8; len])
    });
    let (mut driver, wire) = driver(2, script);
    let data = data();
    settle(&mut driver, &["warm"]);
    driver
        .reduce_all(&data, &spec("warm", None), &decode)
        .unwrap();
    join(&wire, "w2", 2);
    driver.drain();
    assert_eq!(driver.table.alive(), 3);
    assert!(!driver.owners().contains(&2), "a copy, not an owner");
    // The old code waited for w2's first result of `grad`, which never came: the reduce
    // asked w0 and w1 again, forever.
    // (481,770 tasks in 0.6 s, until the fake link had nothing more to say.)
    let sent = driver.stats.tasks_sent;
    let outcome = driver.reduce_all(&data, &spec("grad", None), &decode);
    assert!(driver.shapes.is_settled("grad"));
    assert!(
        driver.stats.tasks_sent - sent < 20,
        "{} tasks for 2 partitions",
        driver.stats.tasks_sent - sent
    );
    // The latest shape wins once both owners were heard past 2 x 2 + 2 results; the
    // partition whose worker disagrees is done again elsewhere (w2 holds a copy).
    assert!(outcome.is_ok(), "{:?}", outcome.err());
}

#[test]
fn an_idle_worker_gets_a_shared_exclusive_partition_before_one_still_computing() {
    let data = data();
    let (mut driver, wire) = after_one_step(&data);
    // Both hold partition 0 (a late join or a move); with a credit of 2, w0 may take a next
    // task while it computes one, and w1 has been idle for a while.
    for w in 0..2 {
        let info = &mut driver.table.workers[w];
        (info.partitions, info.credit) = (vec![0], 2);
    }
    driver.table.workers[0].in_flight = 1;
    driver.table.workers[0].idle_since = None;
    driver.table.workers[1].idle_since = Some(driver.elapsed_s() - 1.0);
    let table = crate::History::zeros(8);
    let tables = [&table];
    let saga = TaskSpec {
        histories: &tables,
        ..spec("saga", Some(Sample { batch: 2, k: 0 }))
    };
    let before = tasks(&wire).len();
    assert_eq!(
        driver.dispatch_to_idle(&saga, &|_, _| true),
        1,
        "one task per partition"
    );
    let sent = tasks(&wire);
    assert_eq!(
        sent[before..]
            .iter()
            .map(|t| t.0.as_str())
            .collect::<Vec<_>>(),
        ["w1"],
        "the idle worker first: the busy one would start it only after its current task"
    );
}

#[test]
fn an_asynchronous_sites_shape_is_settled_by_the_workers_its_barrier_asks() {
    // A barrier that selects w0 and w1 of 8 workers: the other six are never asked, and
    // waiting for a majority of all 8 dropped the site's first 2 x 8 + 2 results (old code:
    // 18 dropped), each a task done for nothing.
    assert_eq!(
        dropped_before_settling(&["w0", "w1"]),
        1,
        "the first result waits for the second asked worker's"
    );
    // A barrier that selects only w0: its first result cannot settle the shape at once (one
    // insider answering first would set it), only the fallback after 2 x 2 + 2 results.
    assert_eq!(dropped_before_settling(&["w0"]), 6);
}

/// The results an asynchronous site of 8 [`echoing`] workers drops before its shape settles,
/// when its barrier selects the workers named `selected`.
fn dropped_before_settling(selected: &'static [&'static str]) -> u64 {
    let (mut driver, _wire) = driver(8, echoing());
    let select = move |w: &WorkerInfo, _: &WorkerTable| selected.contains(&w.name.as_str());
    let gate: Gate<'_> = (&|_: &WorkerTable| true, &select);
    let first = driver
        .reduce_next(&data(), &spec("grad", None), gate, None, &decode)
        .unwrap();
    assert!(driver.shapes.is_settled("grad"));
    assert_eq!(first.value.len(), 2);
    driver.stats().dropped_unconfirmed
}

#[test]
fn workers_that_never_came_are_told_how_to_join_with_the_token_the_run_has() {
    let missing = |token: Option<crate::Token>| {
        let mut config = ClusterConfig::local(1);
        config.token = token;
        config.spawn_local = false;
        config.join_timeout = Duration::ZERO;
        let link = FakeLink(Wire::answering(Box::new(|_, _| Reply::Silent)));
        let mut driver = Driver::assemble(config, 7, Box::new(link));
        match driver.wait_for_workers() {
            Err(RuntimeError::WorkersMissing { hint, .. }) => hint,
            other => panic!("no worker joined: {other:?}"),
        }
    };
    // A run on the public loopback token has no token file to give (the old hint named one).
    let tokenless = missing(None);
    assert!(tokenless.contains("no token file"), "{tokenless}");
    assert!(!tokenless.contains("the run's token"), "{tokenless}");
    let with_token = missing(Some(crate::Token::random()));
    assert!(with_token.contains("the run's token"), "{with_token}");
}

/// A driver waiting up to `join_timeout` for two remote workers, on a wire where nothing
/// comes unless a test puts it there.
fn waiting_for_two(join_timeout: Duration) -> (Driver, Arc<Shared<Wire>>) {
    let mut config = ClusterConfig::local(2);
    config.spawn_local = false;
    config.join_timeout = join_timeout;
    let wire = Wire::answering(Box::new(|_, _| Reply::Silent));
    wire.borrow_mut().quiet_when_dry = true;
    let driver = Driver::assemble(config, 7, Box::new(FakeLink(wire.clone())));
    (driver, wire)
}

#[test]
fn workers_that_never_came_are_told_why_those_that_came_were_refused() {
    // The refusals were only warnings above the error, which said "check their logs".
    let (mut driver, wire) = waiting_for_two(Duration::from_millis(200));
    join(&wire, "w0", 0);
    for (peer, reason) in [("w1", "its token differs"), ("w2", "another build")] {
        let refused = Inbound::Refused {
            peer: peer.into(),
            reason: reason.into(),
            source: None,
        };
        wire.borrow_mut().inbox.push_back(refused);
    }
    let error = driver.wait_for_workers().expect_err("one of two joined");
    let said = error.to_string();
    assert!(
        said.starts_with("only 1 of 2 workers joined within ")
            && said.contains(", and 2 were refused (the last: another build); "),
        "{said}"
    );
}

/// A driver that gives up waiting tells the workers that joined that its run will not start,
/// and why: one started with `--reconnect` would otherwise try to join for its whole window.
#[test]
fn a_driver_that_gives_up_waiting_dismisses_the_workers_that_joined() {
    let (mut driver, wire) = waiting_for_two(Duration::from_millis(300));
    join(&wire, "w0", 0);
    let error = driver.wait_for_workers().expect_err("one of two joined");
    assert!(
        matches!(error, RuntimeError::WorkersMissing { joined: 1, .. }),
        "{error}"
    );
    let dismissals = sent(&wire, |peer, order| match order {
        ToWorker::NotStarting { reason } => Some(format!("{peer}: {reason}")),
        _ => None,
    });
    let expected = "w0: only 1 of 2 workers joined within ";
    assert!(
        dismissals.len() == 1 && dismissals[0].starts_with(expected),
        "{dismissals:?}"
    );
    // Once: dropping the driver, as a run that cannot start does, says nothing more.
    drop(driver);
    let shutdowns = sent(&wire, |_, order| match order {
        ToWorker::Shutdown { .. } => Some(()),
        _ => None,
    });
    assert!(shutdowns.is_empty());
}

/// A driver of remote workers waiting for two, its settings changed by `set`, w0 joined and
/// silent since twice its liveness timeout; its wire ends the wait when dry, not after the
/// join timeout.
fn w0_silent_while_waiting_for_two(
    set: impl FnOnce(&mut ClusterConfig),
) -> (Driver, Arc<Shared<Wire>>) {
    let (mut driver, wire) = waiting_for_two(Duration::from_secs(60));
    set(&mut driver.config);
    wire.borrow_mut().quiet_when_dry = false;
    join(&wire, "w0", 0);
    driver.drain();
    let timeout = driver.config.liveness_timeout();
    driver.table.workers[0].last_heard = Instant::now() - 2 * timeout;
    (driver, wire)
}

#[test]
fn a_worker_silent_before_the_run_starts_is_lost_and_another_takes_its_place() {
    // Silence was judged only once the run started: a worker stopped after it joined was
    // counted on, and the run began a worker short until it was declared lost.
    let (mut driver, wire) = w0_silent_while_waiting_for_two(|_| {});
    join(&wire, "w1", 1);
    join(&wire, "w2", 2);
    driver.wait_for_workers().expect("two live workers joined");
    let alive: Vec<&str> = driver
        .table
        .workers
        .iter()
        .filter(|w| w.alive)
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(alive, ["w1", "w2"], "w0 is lost, w2 takes its place");
    assert_eq!(driver.stats().lost_workers, 1);
    let told = sent(&wire, |peer, order| match order {
        ToWorker::Lost { reason } => Some(format!("{peer}: {reason}")),
        _ => None,
    });
    assert!(
        told.len() == 1 && told[0].starts_with("w0: ") && told[0].contains("liveness timeout"),
        "{told:?}"
    );
}

#[test]
fn a_local_worker_silent_before_the_run_starts_is_left_to_the_runs_check() {
    // Nothing takes a local worker's place while its process runs (a paused one may come
    // back): lost before the start, it left the wait to end at its timeout, in failure.
    let (mut driver, wire) = w0_silent_while_waiting_for_two(|config| config.spawn_local = true);
    join(&wire, "w1", 1);
    driver.wait_for_workers().expect("both joined");
    assert_eq!(driver.table.alive(), 2);
    assert_eq!(driver.stats().lost_workers, 0);
    // The run's first check is a period away, and then finds w0 silent.
    driver.last_liveness_check = Instant::now() - driver.config.heartbeat;
    driver.watch();
    assert_eq!(driver.stats().lost_workers, 1);
}

/// The slow-workers model with a seed under which the first of two workers' slots straggles,
/// and its factor.
fn first_of_two_slow() -> (crate::Stragglers, u64, f64) {
    let model = crate::Stragglers::SlowWorkers;
    let (seed, factors) = (0..)
        .map(|seed| (seed, model.factors(2, seed)))
        .find(|(_, factors)| factors[0] > 0.0)
        .expect("one of two workers straggles");
    (model, seed, factors[0])
}

#[test]
fn a_worker_in_place_of_one_silent_before_the_start_takes_its_straggler_factor() {
    // x2 joined past the count while w0, silent, was not yet declared lost; it started in
    // w0's place with a factor of 0, and the run with fewer stragglers than `--stragglers`
    // said.
    let (model, seed, slow) = first_of_two_slow();
    let (mut driver, wire) = w0_silent_while_waiting_for_two(|config| {
        config.stragglers = model;
        config.seed = seed;
    });
    assert_eq!(factor_of(&driver, "w0"), slow);
    join(&wire, "x1", 1);
    join(&wire, "x2", 2);
    driver.wait_for_workers().expect("two live workers joined");
    assert!(!driver.table.workers[0].alive, "w0 was lost in the wait");
    assert_eq!(factor_of(&driver, "x1"), 0.0);
    assert_eq!(factor_of(&driver, "x2"), slow, "x2 fills w0's slot");
    let told = sent(&wire, |peer, order| match order {
        ToWorker::Welcome(welcome) if peer == "x2" => Some(welcome.delay_factor),
        _ => None,
    });
    assert_eq!(told.last(), Some(&slow), "x2 is told: {told:?}");
}

#[test]
fn a_worker_in_place_of_one_whose_connection_closed_before_the_start_takes_its_factor() {
    let (model, seed, slow) = first_of_two_slow();
    let (mut driver, wire) = waiting_for_two(Duration::from_secs(60));
    driver.config.stragglers = model;
    driver.config.seed = seed;
    join(&wire, "w0", 0);
    wire.borrow_mut()
        .inbox
        .push_back(Inbound::Disconnected { peer: "w0".into() });
    join(&wire, "w1", 1);
    join(&wire, "x2", 2);
    driver.wait_for_workers().expect("two live workers joined");
    assert_eq!(driver.stats().lost_workers, 1);
    assert_eq!(factor_of(&driver, "w1"), slow, "w1 fills w0's slot");
    assert_eq!(factor_of(&driver, "x2"), 0.0);
}

#[test]
fn once_the_run_started_a_stranger_in_place_of_a_lost_straggler_is_not_slowed() {
    // The count is short, but a slot's factor is only for the run's own workers; one that
    // stands for the lost straggler (its rejoin) straggles as it did.
    let (model, seed, slow) = first_of_two_slow();
    let mut config = ClusterConfig::local(2);
    config.stragglers = model;
    config.seed = seed;
    let (mut driver, wire) = driver_with(config, echoing());
    assert_eq!(factor_of(&driver, "w0"), slow);
    wire.borrow_mut()
        .inbox
        .push_back(Inbound::Disconnected { peer: "w0".into() });
    join(&wire, "x9", 9);
    driver.drain();
    assert_eq!(driver.table.alive(), 2);
    assert_eq!(factor_of(&driver, "x9"), 0.0, "a stranger is not slowed");
    join(&wire, "w0.r0123abcd", 10);
    driver.drain();
    assert_eq!(
        factor_of(&driver, "w0.r0123abcd"),
        slow,
        "w0 back straggles as it did"
    );
}

#[test]
fn an_optimizer_keeps_more_versions_once_it_knows_how_far_back_it_reads() {
    // An anchored method learns its epoch at run time: the driver kept only the run's count.
    let mut config = ClusterConfig::local(2);
    config.keep_versions = 4;
    config.cache_versions = 4;
    let (mut driver, _) = driver_with(config, echoing());
    let read = |at| {
        [ReadSpec {
            name: "w",
            at: Some(at),
        }]
    };
    driver.keep_versions(2);
    for value in 0..6u8 {
        driver.versions.publish("w", vec![value; 8]);
    }
    // Never fewer than the run's 4: versions 3 to 6 are kept.
    assert!(driver.resolve_reads("grad", &read(3)).is_ok());
    assert!(driver.resolve_reads("grad", &read(2)).is_err());
    driver.keep_versions(10);
    for value in 6..16u8 {
        driver.versions.publish("w", vec![value; 8]);
    }
    assert!(
        driver.resolve_reads("grad", &read(7)).is_ok(),
        "16 - 10 + 1"
    );
    let error = driver.resolve_reads("grad", &read(6)).unwrap_err();
    assert!(error.to_string().contains("last 10 versions"), "{error}");
    assert!(driver.failure().is_none());
    let call = line!() + 1;
    driver.keep_versions(crate::MAX_KEEP_VERSIONS + 1);
    let failure = driver
        .failure()
        .expect("more than the most is refused")
        .to_string();
    assert!(failure.contains("at most 1024"), "{failure}");
    // Where the optimizer asked, as the error of a version no longer kept says its site.
    let here = format!("at {}:{call}:", file!());
    assert!(failure.contains(&here), "{failure}");
}

#[test]
fn first_tasks_longer_than_the_hang_floor_strike_no_worker_out() {
    // A full pass over a large partition may take minutes. No worker has answered yet, so
    // each worker's mean task time was 0 and its first task hung at the hang floor (10 s):
    // struck every 10 s of silence, every worker was excluded after 30 s, and the run ended
    // with no live worker before any task could answer.
    let (mut driver, _) = driver(3, Box::new(|_, _| Reply::Silent));
    settle(&mut driver, &["grad"]);
    driver.ensure_shipped(&data()).unwrap();
    let grad = spec("grad", None);
    let mut pending = HashMap::new();
    for worker in 0..3 {
        let seq = driver.dispatch(worker, worker as u32, &grad);
        driver.tasks.sent_before(seq, Duration::from_secs(200));
        pending.insert(seq, worker);
    }
    for info in &mut driver.table.workers {
        info.last_result = Instant::now() - Duration::from_secs(200);
    }
    for _ in 0..3 {
        driver
            .redispatch_hung(
                &grad,
                &mut pending,
                &mut HashSet::new(),
                &mut WorkersOn::default(),
            )
            .unwrap();
    }
    assert_eq!(pending.len(), 3, "nothing done again");
    assert!(driver
        .table
        .workers
        .iter()
        .all(|w| w.alive && w.hang_strikes == 0));
    // Once a worker answered, one that has not is judged by the others' time: w0's 0.1 s
    // tasks make w1's, 200 s out, hang (the hang floor).
    driver.table.workers[0].tasks_done = 5;
    driver.table.workers[0].mean_task_s = 0.1;
    pending.retain(|_, &mut worker| worker != 0);
    driver
        .redispatch_hung(
            &grad,
            &mut pending,
            &mut HashSet::new(),
            &mut WorkersOn::default(),
        )
        .unwrap();
    assert!(
        pending.len() > 2,
        "w1's and w2's tasks done again elsewhere"
    );
}

#[test]
fn an_asynchronous_site_strikes_out_a_worker_whose_tasks_hang() {
    // w1 takes tasks and answers none, its heartbeats going on (a stuck task thread, or an
    // insider): an asynchronous site never waits for it, and its partition was kept out of
    // training for good, silently. Now it is struck as a synchronous step strikes it.
    let script: Script = Box::new(|peer, task| match peer {
        "w1" => Reply::Silent,
        _ => Reply::Result(vec![task.partition as u8; 2]),
    });
    let (mut driver, wire) = driver(2, script);
    settle(&mut driver, &["a"]);
    driver.table.workers[0].tasks_done = 5;
    driver.table.workers[0].mean_task_s = 0.1;
    let rule = |_: &WorkerTable| true;
    let gate: Gate<'_> = (&rule, &|_: &WorkerInfo, _: &WorkerTable| true);
    let data = data();
    driver
        .reduce_next(&data, &spec("a", None), gate, None, &decode)
        .unwrap();
    let stuck = tasks(&wire).iter().find(|t| t.0 == "w1").unwrap().1;
    let silent = HANG_FLOOR + Duration::from_secs(1);
    driver.tasks.sent_before(stuck, silent);
    for strike in 1..=3 {
        let w1 = &mut driver.table.workers[1];
        w1.last_result = Instant::now() - silent;
        w1.last_struck = w1.last_struck.map(|_| Instant::now() - silent);
        driver.tasks.look_for_hangs_again();
        driver.strike_hanging_workers();
        assert_eq!(driver.table.workers[1].hang_strikes, strike);
    }
    assert!(driver.table.workers[1].excluded, "struck out");
    assert_eq!(driver.table.workers[0].hang_strikes, 0, "w0 answers");
    assert!(
        driver.table.workers[0].partitions.contains(&1),
        "w1's partition moved"
    );
}

#[test]
fn an_insider_under_many_names_hanging_an_asynchronous_site_is_struck_out_and_the_run_goes_on() {
    // w1..w5 are one insider holding the token: each name takes a task and answers none.
    // w0 answered tasks sent after theirs before their hangs could be seen (the hang floor):
    // seen at once, five names of six hung the site, and the run ended blaming the task.
    let (mut driver, wire) = only_w0_answers(6, "a");
    driver.table.workers[0].tasks_done = 5;
    driver.table.workers[0].mean_task_s = 0.1;
    let data = data();
    for _ in 0..2 {
        driver
            .reduce_next(&data, &spec("a", None), EVERYONE, None, &decode)
            .unwrap();
    }
    let sent = tasks(&wire);
    let first_hung = sent.iter().filter(|t| t.0 != "w0").map(|t| t.1).min();
    let last_answered = sent.iter().filter(|t| t.0 == "w0").map(|t| t.1).max();
    assert!(first_hung < last_answered, "w0 answered a later task");
    let silent = HANG_FLOOR + Duration::from_secs(1);
    for (_, seq, ..) in sent.iter().filter(|t| t.0 != "w0") {
        driver.tasks.sent_before(*seq, silent);
    }
    for _ in 0..EXCLUDE_AFTER {
        for insider in &mut driver.table.workers[1..] {
            insider.last_result = Instant::now() - silent;
            insider.last_struck = insider.last_struck.map(|_| Instant::now() - silent);
        }
        driver.tasks.look_for_hangs_again();
        driver.strike_hanging_workers();
        assert!(driver.failure().is_none(), "{:?}", driver.failure());
    }
    assert!(driver.table.workers[1..].iter().all(|w| w.excluded));
    assert!(driver.table.workers[0].alive && !driver.table.workers[0].excluded);
    driver
        .reduce_next(&data, &spec("a", None), EVERYONE, None, &decode)
        .expect("w0 trains on");
}

#[test]
fn results_whose_history_rows_fail_everywhere_end_the_run_blaming_the_task() {
    // An author's bug: the closure's history update names a row its task was not given,
    // wherever it runs. Each worker was excluded for bad results, and the run's error named
    // only the last one's, as if the workers were at fault.
    let script: Script = Box::new(|_, task| Reply::Result(vec![task.partition as u8; 2]));
    let (mut driver, _) = driver(3, script);
    let names_a_stray_row = |body: &[u8]| {
        decode(body).map(|(value, inspected)| {
            let history_rows = vec![u64::MAX];
            (
                value,
                Inspected {
                    history_rows,
                    ..inspected
                },
            )
        })
    };
    let error = driver
        .reduce_all(&data(), &spec("grad", None), &names_a_stray_row)
        .expect_err("no result can be taken");
    let message = error.to_string();
    assert!(
        message.contains("its history update names 1 row"),
        "{message}"
    );
    assert!(
        message.contains("each was excluded for failing task `grad` or sending results of it"),
        "{message}"
    );
}

#[test]
fn the_driver_reads_an_older_version_back_while_it_keeps_it() {
    let mut config = ClusterConfig::local(1);
    (config.keep_versions, config.cache_versions) = (2, 2);
    let (mut driver, _wire) = driver_with(config, echoing());
    for x in [1.0, 2.0, 3.0] {
        driver.publish("w", &vec![x], false);
    }
    let now = driver.version("w").expect("published");
    assert_eq!(driver.value_at::<Vec<f64>>("w", now), Some(vec![3.0]));
    assert_eq!(driver.value_at::<Vec<f64>>("w", now - 1), Some(vec![2.0]));
    assert_eq!(driver.value_at::<Vec<f64>>("w", now - 2), None, "evicted");
    assert_eq!(
        driver.value_at::<Vec<f64>>("w", now + 1),
        None,
        "never published"
    );
    assert_eq!(
        driver.value_at::<Vec<f64>>("v", now),
        None,
        "never broadcast"
    );
    driver.keep_versions(3);
    driver.publish("w", &vec![4.0], false);
    assert_eq!(
        driver.value_at::<Vec<f64>>("w", now - 1),
        Some(vec![2.0]),
        "kept longer"
    );
}

#[test]
fn the_driver_reads_no_older_version_as_another_type() {
    let (mut driver, _wire) = driver(1, echoing());
    driver.publish("w", &Array1::from(vec![1.0, 2.0]), false);
    let now = driver.version("w").expect("published");
    assert_eq!(
        driver.value_at::<Array1<f64>>("w", now),
        Some(Array1::from(vec![1.0, 2.0]))
    );
    // Its bytes decode as a pair of zeros: without the type check, a silent wrong value.
    assert_eq!(driver.value_at::<(u32, u32)>("w", now), None);
}

/// Two workers whose tasks all hang: both answered tasks of 0.1 s before, nothing for the
/// hang floor since. The shape of `grad` and `a` is settled, the data shipped.
fn both_stuck() -> Driver {
    let (mut driver, _) = driver(2, Box::new(|_, _| Reply::Silent));
    settle(&mut driver, &["grad", "a"]);
    driver.ensure_shipped(&data()).unwrap();
    for info in &mut driver.table.workers {
        info.tasks_done = 5;
        info.mean_task_s = 0.1;
        info.last_result = Instant::now() - HANG_FLOOR - Duration::from_secs(1);
    }
    driver
}

/// Whether `message` names both workers as those the task hung on.
fn hung_on_both(message: &str) -> bool {
    message.contains("hung on w0 and w1") || message.contains("hung on w1 and w0")
}

#[test]
fn a_task_hanging_on_every_worker_ends_the_run_naming_it() {
    // A loop in the closure: each worker's task hung and was done again on the other, where
    // it hung behind the stuck one. Each worker took one strike, never three, and the step
    // waited for good.
    let mut driver = both_stuck();
    let grad = spec("grad", None);
    let silent = HANG_FLOOR + Duration::from_secs(1);
    let mut pending = HashMap::new();
    for worker in 0..2 {
        let seq = driver.dispatch(worker, worker as u32, &grad);
        driver.tasks.sent_before(seq, silent);
        pending.insert(seq, worker);
    }
    let (mut hedged, mut hung_on) = (HashSet::new(), WorkersOn::default());
    driver
        .redispatch_hung(&grad, &mut pending, &mut hedged, &mut hung_on)
        .expect("each hung on one worker: done again on the other");
    assert_eq!(pending.len(), 4, "each partition done again");
    for &seq in pending.keys() {
        driver.tasks.sent_before(seq, silent);
    }
    let error = driver
        .redispatch_hung(&grad, &mut pending, &mut hedged, &mut hung_on)
        .expect_err("hung on both workers");
    match error {
        RuntimeError::TaskFailed { task, message, .. } => {
            assert_eq!(task, "grad");
            assert!(hung_on_both(&message), "{message}");
        }
        other => panic!("expected TaskFailed, got {other}"),
    }
}

#[test]
fn a_copy_of_a_hung_task_queued_behind_a_working_workers_tasks_blames_no_task() {
    // w0 is stuck; w1 answers its other tasks, and the copy it was sent waits behind them
    // past the hang floor: one stuck host is the host's fault, not the task's.
    let mut driver = both_stuck();
    driver.table.workers[1].last_result = Instant::now();
    let grad = spec("grad", None);
    let silent = HANG_FLOOR + Duration::from_secs(1);
    let seq = driver.dispatch(0, 0, &grad);
    driver.tasks.sent_before(seq, silent);
    let mut pending = HashMap::from([(seq, 0)]);
    let (mut hedged, mut hung_on) = (HashSet::new(), WorkersOn::default());
    for _ in 0..2 {
        driver
            .redispatch_hung(&grad, &mut pending, &mut hedged, &mut hung_on)
            .expect("one silent worker is no task's fault");
        for &seq in pending.keys() {
            driver.tasks.sent_before(seq, silent);
        }
    }
    assert_eq!(pending.len(), 2, "done again once");
    assert_eq!(driver.table.workers[1].hang_strikes, 0, "w1 answers");
}

#[test]
fn an_asynchronous_site_hanging_on_every_worker_ends_the_run_naming_it() {
    // Each worker was struck out in turn, then each replacement, and the run trained nothing
    // for good, waiting on tasks that never answer.
    let mut driver = both_stuck();
    let a = spec("a", None);
    for worker in 0..2 {
        let seq = driver.dispatch(worker, worker as u32, &a);
        driver
            .tasks
            .sent_before(seq, HANG_FLOOR + Duration::from_secs(1));
    }
    driver.tasks.look_for_hangs_again();
    driver.strike_hanging_workers();
    match driver.failure() {
        Some(RuntimeError::TaskFailed { task, message, .. }) => {
            assert_eq!(task, "a");
            assert!(hung_on_both(message), "{message}");
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    assert!(
        driver.table.workers.iter().all(|w| !w.excluded),
        "no worker blamed"
    );
}

#[test]
fn a_stop_ends_a_wait_for_results_that_never_come() {
    // Every task hangs: no update comes for the stop to end the loop at, and the run waited
    // for good after a Ctrl-C.
    let (mut driver, _wire) = driver(2, Box::new(|_, _| Reply::Silent));
    settle(&mut driver, &["grad"]);
    driver.ensure_shipped(&data()).unwrap();
    let stop = crate::StopHandle::new();
    driver.stop_on(stop.clone());
    stop.request_at(Instant::now() - crate::STOP_WAITS_FOR_PASS);
    match driver.reduce_all(&data(), &spec("grad", None), &decode) {
        Err(RuntimeError::Stopped(why)) => assert!(why.contains("a stop"), "{why}"),
        other => panic!("expected a stop, got {:?}", other.err()),
    }
    assert!(driver.failure().is_none(), "a stop, not a failure");
}

#[test]
fn a_wait_for_results_ends_a_grace_after_the_time_limit_inside_the_loop_only() {
    let (mut driver, _wire) = driver(2, echoing());
    driver.stop_after(Duration::from_secs(60));
    driver.training_time.resume_from(100.0);
    assert!(
        driver.wait_given_up().is_none(),
        "outside the training loop: a final evaluation runs"
    );
    driver.checkpoint_due();
    let why = driver.wait_given_up().expect("the limit is far behind");
    assert!(why.contains("time limit of 60 s"), "{why}");
    driver
        .training_time
        .resume_from(60.0 + crate::STOP_WAITS_FOR_PASS.as_secs_f64() / 2.0);
    assert!(
        driver.wait_given_up().is_none(),
        "just past the limit: the next update may still come"
    );
    assert!(
        driver.publish("w", &1.0_f64, true),
        "the next broadcast ends the loop"
    );
    driver.count_update();
    let stop = crate::StopHandle::new();
    driver.stop_on(stop.clone());
    stop.request();
    driver.training_time.resume_from(0.0);
    assert!(
        driver.wait_given_up().is_none(),
        "a stop asked just now waits for the next update"
    );
}

#[test]
fn a_stop_before_the_first_update_ends_the_wait_for_it_at_once() {
    // Workers reading their splits of a large file send nothing for as long as they read:
    // a Ctrl-C then waited for the whole read (up to the stop's grace of 10 s) before the
    // run ended, where there was no model beyond the starting one to wait for.
    let (mut driver, _wire) = driver(2, Box::new(|_, _| Reply::Silent));
    settle(&mut driver, &["grad"]);
    driver.ensure_shipped(&data()).unwrap();
    let stop = crate::StopHandle::new();
    driver.stop_on(stop.clone());
    driver.checkpoint_due();
    stop.request();
    match driver.reduce_all(&data(), &spec("grad", None), &decode) {
        Err(RuntimeError::Stopped(why)) => assert!(why.contains("first update"), "{why}"),
        other => panic!("expected a stop, got {:?}", other.err()),
    }
    assert!(driver.failure().is_none(), "a stop, not a failure");
}

#[test]
fn each_row_of_the_table_says_where_its_workers_connection_came_from() {
    // The report named a worker and its pid, which say nothing of its host: which machine
    // straggled or was excluded was left to guess.
    let wire = Wire::answering(echoing());
    let mut config = ClusterConfig::local(3);
    config.spawn_local = false;
    let mut driver = Driver::assemble(config, 7, Box::new(FakeLink(wire.clone())));
    let v6: std::net::IpAddr = "fd00:1::".parse().unwrap();
    join_from(&wire, "w0", 1, Some([10, 0, 0, 2].into()));
    join_from(&wire, "w1", 2, Some(v6));
    join_from(&wire, "w2", 3, None);
    driver.wait_for_workers().expect("the fake workers join");
    let from: Vec<(String, Option<String>)> = (driver.report().workers.iter())
        .map(|w| (w.name.clone(), w.from.clone()))
        .collect();
    let expected = [
        ("w0", Some("10.0.0.2")),
        ("w1", Some("fd00:1::/64")),
        ("w2", None),
    ]
    .map(|(name, from)| (name.to_owned(), from.map(str::to_owned)));
    assert_eq!(from, expected);
    let row = serde_json::to_value(&driver.report().workers[0]).unwrap();
    assert_eq!(row["from"], "10.0.0.2", "{row}");
}

#[test]
fn a_workers_wait_counts_from_the_start_of_training_not_from_its_admission() {
    // It counted from the worker's admission: the start-up and the data's delivery before
    // the first broadcast were waiting, and a run of 0.1 s reported workers waiting 0.45 s.
    let (mut driver, _wire) = driver(2, echoing());
    settle(&mut driver, &["a"]);
    std::thread::sleep(Duration::from_millis(20));
    for worker in driver.report().workers {
        assert_eq!(worker.wait_s, 0.0, "{}: no training yet", worker.name);
        assert_eq!(worker.startup_s, None, "{}: no task yet", worker.name);
    }
    driver.publish("w", &1.0_f64, true);
    driver
        .reduce_next(&data(), &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    let report = driver.report();
    let elapsed_s = driver.elapsed_s();
    for worker in &report.workers {
        assert!(
            worker.wait_s <= elapsed_s,
            "{} waited {} s of {elapsed_s} s of training",
            worker.name,
            worker.wait_s
        );
    }
    let started: Vec<f64> = report.workers.iter().filter_map(|w| w.startup_s).collect();
    assert!(!started.is_empty(), "a worker got the step's task");
    assert!(
        started.iter().all(|&s| s >= 0.02),
        "its start-up holds the time before training: {started:?}"
    );
}

#[test]
fn waiting_for_a_checkpoint_on_disk_is_not_training_time() {
    // The wait before the report was counted, the one in `finish` was not: the trace put
    // the last update tens of ms after the time its own checkpoint holds for it.
    let scratch = test_support::scratch("checkpoint-wait-untimed");
    let dir = scratch.join("ckpt");
    let mut driver = checkpointing_every_update(&dir);
    driver.publish("w", &1.0_f64, true);
    let at = driver.elapsed_s();
    driver.write_checkpoint("opt", 1, Vec::new());
    let before = driver.training_time.paused();
    driver.wait_for_checkpoint();
    assert!(
        driver.training_time.paused() > before,
        "the wait for the write is left out of the training time"
    );
    let report = driver.report();
    assert_eq!(report.stats.checkpoints_written, 1);
    // The gathering on the training thread is training time, in the checkpoint too: a run
    // resumed from it goes on from the clock of the run that wrote it.
    let saved = crate::checkpoint::read(&dir, "test").expect("the checkpoint reads");
    let gathered = report.stats.checkpoint_training_s;
    assert!(
        saved.elapsed_s >= at + gathered,
        "{} s saved, {at} s at the write and {gathered} s gathering",
        saved.elapsed_s
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Fake workers that keep the versions their task orders carry only when they run the task,
/// as a real worker's task thread does (`worker::executor::task`): an order refused on receipt
/// (`worker::queued::take`: a full queue, or its bytes past the worker's memory) never reaches
/// the task thread, and its versions are never held. `w0` refuses its first order so. As a
/// real worker's cache does, they apply a patch only on a base they hold and an alias only of
/// a version they hold.
fn refusing_w0_once() -> Script {
    use crate::protocol::VersionBody;
    use std::collections::HashSet;
    let mut installed: HashMap<String, HashSet<(u16, u64)>> = HashMap::new();
    let mut refused = false;
    Box::new(move |peer, task| {
        if peer == "w0" && !refused {
            refused = true;
            return Reply::Fail(
                crate::error::TaskError::TooManyTasks(MAX_QUEUED_TASKS).to_string(),
            );
        }
        let held = installed.entry(peer.to_owned()).or_default();
        for shipped in &task.versions {
            let usable = match &shipped.body {
                VersionBody::Full(_) => true,
                VersionBody::Patch { base, .. } => held.contains(&(shipped.slot, *base)),
                VersionBody::Alias { slot, version } => held.contains(&(*slot, *version)),
            };
            if usable {
                held.insert((shipped.slot, shipped.version));
            }
        }
        if let Some(&(slot, version)) = task.reads.iter().find(|read| !held.contains(read)) {
            return Reply::Fail(format!("missing version {version} of slot {slot}"));
        }
        Reply::Result(vec![task.partition as u8; 2])
    })
}

#[test]
fn a_worker_that_refused_an_order_is_sent_its_versions_again_and_not_excluded() {
    let (mut driver, wire) = driver(2, refusing_w0_once());
    settle(&mut driver, &["grad"]);
    driver.publish("w", &vec![1.0f64, 2.0], false);
    let (reads, versions) = driver
        .resolve_reads(
            "grad",
            &[ReadSpec {
                name: "w",
                at: None,
            }],
        )
        .unwrap();
    let spec = TaskSpec {
        reads,
        versions,
        ..spec("grad", None)
    };
    let data = data();
    for _ in 0..8 {
        if let Err(e) = driver.reduce_next(&data, &spec, EVERYONE, None, &decode) {
            eprintln!("reduce_next: {e}");
            break;
        }
    }
    let to_w0: Vec<usize> = sent(&wire, |peer, order| match order {
        ToWorker::Task(t) if peer == "w0" => Some(t.versions.len()),
        _ => None,
    });
    let w0 = &driver.workers().all()[0];
    eprintln!(
        "versions carried by each task order to w0: {to_w0:?}; w0 alive={} excluded={} failures={}; stats: failed_tasks={} excluded_workers={}",
        w0.alive,
        w0.excluded,
        w0.failures,
        driver.stats().failed_tasks,
        driver.stats().excluded_workers
    );
    assert!(
        !w0.excluded,
        "w0 refused one order (a full queue) and was excluded for it: every later task read a \
         version the driver took it to hold since that refused order ({to_w0:?})"
    );
}

#[test]
fn one_refused_order_costs_its_worker_one_failure_over_synchronous_steps() {
    let (mut driver, wire) = driver(2, refusing_w0_once());
    settle(&mut driver, &["grad"]);
    let data = data();
    let mut model = vec![0.0f64; 64];
    let mut outcome = Vec::new();
    for step in 0..6 {
        model[step] = step as f64 + 1.0; // one word changes per step: a patch is cheapest
        driver.publish("w", &model, false);
        let (reads, versions) = driver
            .resolve_reads(
                "grad",
                &[ReadSpec {
                    name: "w",
                    at: None,
                }],
            )
            .unwrap();
        let spec = TaskSpec {
            reads,
            versions,
            ..spec("grad", None)
        };
        match driver.reduce_all(&data, &spec, &decode) {
            Ok(_) => outcome.push("ok".to_owned()),
            Err(e) => {
                outcome.push(format!("error: {e}"));
                break;
            }
        }
    }
    let bodies: Vec<String> = sent(&wire, |peer, order| match order {
        ToWorker::Task(t) if peer == "w0" => Some(
            t.versions
                .iter()
                .map(|v| match &v.body {
                    crate::protocol::VersionBody::Full(_) => format!("v{} full", v.version),
                    crate::protocol::VersionBody::Patch { base, .. } => {
                        format!("v{} patch on v{base}", v.version)
                    }
                    crate::protocol::VersionBody::Alias { .. } => format!("v{} alias", v.version),
                })
                .collect::<Vec<_>>()
                .join(",")
                + if t.versions.is_empty() { "nothing" } else { "" },
        ),
        _ => None,
    });
    let w0 = &driver.workers().all()[0];
    eprintln!(
        "steps: {outcome:?}\nversions in each order to w0: {bodies:?}\nw0 alive={} excluded={} \
         failures={}; stats: failed_tasks={} retried_tasks={} excluded_workers={}",
        w0.alive,
        w0.excluded,
        w0.failures,
        driver.stats().failed_tasks,
        driver.stats().retried_tasks,
        driver.stats().excluded_workers
    );
    assert!(
        w0.failures <= 1 && !w0.excluded,
        "one order refused on receipt, and every later task of w0 failed for a version it never \
         held: {bodies:?}"
    );
}

#[test]
fn a_lone_workers_refused_order_is_retried_with_the_versions_it_lacks() {
    let (mut driver, wire) = driver(1, refusing_w0_once());
    settle(&mut driver, &["grad"]);
    driver.publish("w", &vec![1.0f64; 8], false);
    let (reads, versions) = driver
        .resolve_reads(
            "grad",
            &[ReadSpec {
                name: "w",
                at: None,
            }],
        )
        .unwrap();
    let spec = TaskSpec {
        reads,
        versions,
        ..spec("grad", None)
    };
    let step = driver.reduce_all(&data(), &spec, &decode);
    let carried: Vec<usize> = sent(&wire, |_, order| match order {
        ToWorker::Task(t) => Some(t.versions.len()),
        _ => None,
    });
    eprintln!(
        "versions carried by each order: {carried:?}; step: {:?}",
        step.as_ref().map(|_| "ok").map_err(|e| e.to_string())
    );
    assert!(
        step.is_ok(),
        "the retry on the lone worker never carried the version it lacks"
    );
}

/// What a driver stopped for `pause` finds on waking: every task in flight sent and every
/// worker last answering that long ago, its own last liveness check too.
fn wake_from(driver: &mut Driver, pause: Duration, in_flight: &[u64]) {
    let before = Instant::now() - pause;
    for seq in in_flight {
        driver.tasks.sent_before(*seq, pause);
    }
    for worker in &mut driver.table.workers {
        worker.last_result = before;
        worker.last_heard = before;
    }
    driver.last_liveness_check = before;
    driver.tasks.look_for_hangs_again();
}

#[test]
fn an_asynchronous_site_woken_from_the_drivers_pause_blames_no_task_nor_worker() {
    // The driver stopped 20 s with tasks in flight on its four workers; on waking, the
    // asynchronous site's hang check ran before the pause was seen, took the tasks for hung
    // on three workers, and ended the run blaming the task's closure.
    let (mut driver, wire) = only_w0_answers(4, "a");
    driver.table.workers[0].tasks_done = 5;
    driver.table.workers[0].mean_task_s = 0.1;
    let data = data();
    driver
        .reduce_next(&data, &spec("a", None), EVERYONE, None, &decode)
        .unwrap();
    let unanswered: Vec<u64> = tasks(&wire)
        .iter()
        .filter(|t| t.0 != "w0")
        .map(|t| t.1)
        .collect();
    assert_eq!(unanswered.len(), 3);
    let pause = HANG_FLOOR + Duration::from_secs(10);
    wake_from(&mut driver, pause, &unanswered);
    driver.strike_hanging_workers();
    assert!(driver.failure().is_none(), "{:?}", driver.failure());
    for worker in &driver.table.workers {
        assert_eq!(worker.hang_strikes, 0, "{} struck", worker.name);
        assert!(worker.alive, "{} lost", worker.name);
    }
    // Nor is it tallied: the same tasks on the same workers, silent now for the hang floor
    // while the driver ran, are a task that hangs wherever it runs.
    for seq in &unanswered {
        driver.tasks.sent_before(*seq, pause);
    }
    for worker in &mut driver.table.workers[1..] {
        worker.last_result = Instant::now() - pause;
        worker.last_heard = Instant::now();
    }
    driver.last_liveness_check = Instant::now();
    driver.tasks.look_for_hangs_again();
    driver.strike_hanging_workers();
    assert!(driver.failure().is_some(), "hung on three of four workers");
}

#[test]
fn a_synchronous_step_woken_from_the_drivers_pause_hedges_and_strikes_nothing() {
    // The synchronous step's hang check ran before the pause was seen: each task waiting in
    // the unread queue was done again elsewhere and counted as hung, its worker struck.
    let (mut driver, _) = driver(3, Box::new(|_, _| Reply::Silent));
    settle(&mut driver, &["grad"]);
    driver.ensure_shipped(&data()).unwrap();
    for worker in &mut driver.table.workers {
        worker.tasks_done = 5;
        worker.mean_task_s = 0.1;
    }
    let grad = spec("grad", None);
    let mut pending = HashMap::new();
    for partition in 0..3 {
        let seq = driver.dispatch(partition, partition as u32, &grad);
        pending.insert(seq, partition);
    }
    let in_flight: Vec<u64> = pending.keys().copied().collect();
    wake_from(
        &mut driver,
        HANG_FLOOR + Duration::from_secs(10),
        &in_flight,
    );
    let mut hung_on = WorkersOn::default();
    driver
        .redispatch_hung(&grad, &mut pending, &mut HashSet::new(), &mut hung_on)
        .expect("no task hangs everywhere");
    assert_eq!(pending.len(), 3, "nothing done again elsewhere");
    assert_eq!(driver.stats.hung_tasks, 0);
    assert!(driver.table.workers.iter().all(|w| w.hang_strikes == 0));
    // The liveness check that follows loses nobody either.
    driver.watch();
    assert_eq!(driver.table.alive(), 3);
}

#[test]
fn a_failed_runs_report_counts_the_workers_whose_connections_closed_as_it_ended() {
    // The run failed, and its workers' connections closed meanwhile: the log said them
    // lost as the run ended, and the summary, taken before, said every worker alive.
    let (mut driver, wire) = driver(2, echoing());
    driver.fail(RuntimeError::Aborted("the optimizer gave up".into()));
    wire.borrow_mut()
        .inbox
        .push_back(Inbound::Disconnected { peer: "w1".into() });
    let (report, ended) = driver.end();
    assert!(ended.is_err());
    assert_eq!(report.stats.lost_workers, 1);
    assert!(!report.workers[1].alive);
}

/// A driver of two local workers waiting for them to join: `w0`'s process has exited (killed
/// while the cluster started), `w1`'s runs; a replacement is a `sleep` that `join` plays.
fn starting_with_one_dead(max_respawns: u32) -> (Driver, Arc<Shared<Wire>>) {
    let mut config = ClusterConfig::local(2);
    config.join_timeout = Duration::from_secs(20);
    config.max_respawns = max_respawns;
    config.worker_exe = Some("sleep".into());
    config.worker_args = vec!["60".into()];
    let wire = Wire::answering(Box::new(|_, _| Reply::Silent));
    wire.borrow_mut().quiet_when_dry = true;
    let mut driver = Driver::assemble(config, 7, Box::new(FakeLink(wire.clone())));
    let mut dead = std::process::Command::new("sh")
        .args(["-c", "kill -9 $$"])
        .spawn()
        .expect("sh starts");
    // Seen dead before the wait: the child keeps its status for the driver's look.
    while dead.try_wait().expect("its status").is_none() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let live = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("sleep starts");
    driver.local = LocalWorkers::of(vec![("w0".into(), dead), ("w1".into(), live)]);
    (driver, wire)
}

#[test]
fn a_local_worker_killed_while_the_cluster_starts_is_replaced() {
    // The old wait ended the run at the first exit: "worker process exited early".
    let (mut driver, wire) = starting_with_one_dead(2);
    join(&wire, "w1", 1);
    join(&wire, "w0.respawn1", 2);
    driver
        .wait_for_workers()
        .expect("the replacement joins in the dead one's place");
    assert_eq!(driver.stats.respawned_workers, 1);
    assert!(driver.table.index_of("w0.respawn1").is_some());
}

#[test]
fn a_local_worker_killed_while_the_cluster_starts_ends_it_with_no_replacement_left() {
    let (mut driver, wire) = starting_with_one_dead(0);
    join(&wire, "w1", 1);
    let error = driver
        .wait_for_workers()
        .expect_err("no replacement allowed");
    let said = error.to_string();
    assert!(
        said.contains("worker process exited early (signal: 9")
            && said.contains("no replacement left: --max-respawns 0 allows no replacement"),
        "{said}"
    );
    assert_eq!(driver.stats.respawned_workers, 0);
}

/// Results are their bytes read as numbers, `u8::MAX` as NaN and `u8::MAX - 1` as `1e300`
/// (huge, but finite); the shape is their length.
fn decode_huge(body: &[u8]) -> Result<(Vec<f64>, Inspected), String> {
    let numbers: Vec<f64> = body
        .iter()
        .map(|&b| match b {
            u8::MAX => f64::NAN,
            HUGE => 1e300,
            b => f64::from(b),
        })
        .collect();
    let inspected = super::inspect::inspect(&numbers)?;
    let shape = vec![body.len() as u64];
    Ok((numbers, Inspected { shape, ..inspected }))
}

/// The byte [`decode_huge`] reads as `1e300`.
const HUGE: u8 = u8::MAX - 1;

/// Three workers of which `w0` lies: its results are huge (finite, so they pass every check).
/// The honest ones compute from the model they read: once it holds a number whose square
/// overflows, their results hold NaN, as real arithmetic's would. The model `w` (one number per
/// result's entry) is published first; `poisoned` says what the honest workers read.
fn a_liar_and_honest_workers() -> (Driver, Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let poisoned = Arc::new(AtomicBool::new(false));
    let read = poisoned.clone();
    let script: Script = Box::new(move |peer, _| {
        let number = if peer == "w0" {
            HUGE
        } else if read.load(Ordering::SeqCst) {
            u8::MAX
        } else {
            1
        };
        Reply::Result(vec![number; 2])
    });
    let (mut driver, _) = driver(3, script);
    settle(&mut driver, &["grad"]);
    assert!(!driver.publish("w", &vec![0.0_f64; 2], true));
    (driver, poisoned)
}

/// The spec of site `grad` reading the latest `w`.
fn reading_w(driver: &mut Driver) -> TaskSpec<'static> {
    let (reads, versions) = driver
        .resolve_reads(
            "grad",
            &[ReadSpec {
                name: "w",
                at: None,
            }],
        )
        .expect("w is published");
    TaskSpec {
        reads,
        versions,
        ..spec("grad", None)
    }
}

/// Whether `error` ends the run for its diverged model, no worker blamed for it.
fn diverged_blaming_no_worker(error: &RuntimeError, driver: &Driver) -> Result<(), String> {
    let message = error.to_string();
    if !message.contains("broadcast `w` version 2") || !message.contains("diverged") {
        return Err(format!("the divergence is not named: {message}"));
    }
    let struck: Vec<_> = driver
        .table
        .workers
        .iter()
        .filter(|w| w.bad_results > 0)
        .collect();
    if !struck.is_empty() || driver.stats().excluded_workers != 0 {
        return Err(format!("a worker was blamed for it: {message}"));
    }
    Ok(())
}

#[test]
fn honest_results_not_finite_from_a_model_a_liar_blew_up_end_the_run_blaming_no_worker() {
    use std::sync::atomic::Ordering;
    // A worker holding the token returns huge finite gradients; its update is applied, the
    // model's numbers' squares overflow, and the honest workers' next results are NaN. They
    // were struck for them, excluded at their third, and the liar was left alone.
    let data = data();
    let (mut driver, poisoned) = a_liar_and_honest_workers();
    let spec = reading_w(&mut driver);
    let parts = driver.reduce_all(&data, &spec, &decode_huge).unwrap();
    let step: f64 = parts.iter().map(|part| part[0]).sum();
    assert!(!driver.publish("w", &vec![-0.01 * step; 2], true));
    poisoned.store(true, Ordering::SeqCst);
    let mut ended = None;
    for _ in 0..4 {
        let spec = reading_w(&mut driver);
        if let Err(error) = driver.reduce_all(&data, &spec, &decode_huge) {
            ended = Some(error);
            break;
        }
    }
    let error = ended.expect("a diverged model ends the run");
    diverged_blaming_no_worker(&error, &driver).unwrap();
}

#[test]
fn an_asynchronous_sites_results_not_finite_from_a_diverged_model_blame_no_worker() {
    use std::sync::atomic::Ordering;
    let data = data();
    let (mut driver, poisoned) = a_liar_and_honest_workers();
    assert!(!driver.publish("w", &vec![f64::INFINITY; 2], true));
    poisoned.store(true, Ordering::SeqCst);
    let mut ended = None;
    for _ in 0..20 {
        let spec = reading_w(&mut driver);
        if let Err(error) = driver.reduce_next(&data, &spec, EVERYONE, None, &decode_huge) {
            ended = Some(error);
            break;
        }
    }
    let error = ended.expect("a diverged model ends the run");
    diverged_blaming_no_worker(&error, &driver).unwrap();
}

#[test]
fn four_names_failing_every_task_of_nine_workers_end_no_synchronous_step() {
    // An insider under the first four names does its own partitions' tasks well (never
    // failing three in a row) and fails every other task it is sent; one of its names fails
    // its own task once. That task was retried on the lowest fresh row, a liar each time, and
    // its fourth failure ended the run while five workers that had not tried it were live.
    let script: Script = Box::new(|peer, task| {
        let liar = ["w0", "w1", "w2", "w3"].iter().position(|&w| w == peer);
        match liar {
            Some(0) if task.partition == 0 => Reply::Fail("task panicked: a lie".into()),
            Some(own) if own as u32 != task.partition => Reply::Fail("task panicked: a lie".into()),
            _ => Reply::Result(vec![task.partition as u8; 2]),
        }
    });
    let (mut driver, _) = driver(9, script);
    settle(&mut driver, &["grad"]);
    let features = Array2::from_shape_fn((18, 2), |(i, j)| (i * 2 + j) as f64);
    let data = Dataset::new("fake", Features::Dense(features), Array1::ones(18)).unwrap();
    let parts = driver
        .reduce_all(&data, &spec("grad", None), &decode)
        .expect("the honest workers do every partition");
    assert_eq!(parts.len(), 9);
    for (partition, part) in parts.iter().enumerate() {
        assert_eq!(part, &vec![partition as u8; 2]);
    }
    let honest = &driver.table.workers[4..];
    assert!(honest.iter().all(|w| !w.excluded && w.alive));
}
