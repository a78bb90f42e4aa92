//! Trust, with real processes: impostors under the workers' names, replayed frames, bad and
//! failing workers, a task longer than the liveness timeout, a stopped worker that comes back.
//! The executable is its own worker; `cargo test --release -p asyncopt-runtime --test trust NAME`
//! runs the tests whose name contains NAME.

mod wire;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use asyncopt_runtime::cluster::{DATA_ENV_PREFIX, DRIVER_ENV, TOKEN_ENV, WORKER_ENV};
use asyncopt_runtime::data::Features;
use asyncopt_runtime::worker::WorkerOptions;
use asyncopt_runtime::{
    async_optimizer, ClusterConfig, Combine, Dataset, Driver, Flow, History, HistorySlice,
    HistoryUpdate, Partition, RunReport, RuntimeError, Token,
};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

fn main() {
    asyncopt_runtime::run_worker_if_spawned();
    if let Ok(endpoint) = std::env::var(FLOODER_ENV) {
        return flooder(&endpoint);
    }
    let tests: &[test_support::Test] = &[
        (
            "impostors_under_every_workers_name_are_refused_and_counted",
            impostors_are_refused,
        ),
        (
            "a_worker_failing_every_task_is_excluded",
            failing_worker_is_excluded,
        ),
        (
            "a_worker_sending_wrong_shapes_is_excluded",
            wrong_shapes_are_refused,
        ),
        (
            "a_20_s_task_does_not_lose_its_worker",
            long_task_keeps_its_worker,
        ),
        (
            "a_task_hanging_on_every_worker_ends_the_run_keeping_the_model_so_far",
            task_hanging_everywhere_fails_the_run,
        ),
        (
            "an_asynchronous_task_hanging_on_every_worker_ends_the_run",
            async_task_hanging_everywhere_fails_the_run,
        ),
        (
            "a_task_returning_nan_on_every_worker_ends_the_run_keeping_the_model_so_far",
            task_nan_everywhere_fails_the_run,
        ),
        (
            "spawned_workers_keep_to_the_drivers_frame_limit",
            spawned_workers_keep_to_the_drivers_frame_limit,
        ),
        (
            "an_asynchronous_task_returning_nan_on_every_worker_ends_the_run",
            async_task_nan_everywhere_fails_the_run,
        ),
        (
            "a_stopped_worker_rejoins_and_takes_tasks",
            stopped_worker_rejoins,
        ),
        (
            "an_admitted_peer_that_falls_silent_is_let_go_and_its_connection_closed",
            silent_insider_is_let_go,
        ),
        (
            "an_admitted_peer_that_lies_about_its_results_is_excluded_and_the_run_trains_on",
            lying_insider_is_excluded,
        ),
        (
            "an_insider_under_four_names_hanging_its_tasks_ends_no_asynchronous_run",
            hanging_insider_names_end_no_async_run,
        ),
        ("encrypted_sessions_train_alike", encrypted_run_trains),
        (
            "silent_connections_are_capped_and_closed_in_time",
            silent_connections_are_capped,
        ),
        (
            "a_stranger_that_never_reads_its_refusals_holds_up_no_one",
            deaf_flood_holds_up_no_one,
        ),
        (
            "a_stranger_repeating_its_zmtp_ready_is_cut_off_and_holds_up_no_one",
            repeated_ready_is_cut_off,
        ),
        (
            "a_stranger_sending_messages_of_many_frames_is_cut_off_and_holds_up_no_one",
            many_frame_messages_are_cut_off,
        ),
        (
            "a_worker_whose_name_a_stranger_holds_joins_under_a_fresh_one",
            squatted_name_is_worked_around,
        ),
        (
            "a_worker_gives_up_on_a_peer_that_never_answers_its_hello",
            deaf_driver_is_given_up_on,
        ),
        (
            "strangers_holding_every_handshake_keep_no_worker_out",
            held_handshakes_keep_no_one_out,
        ),
        (
            "a_flood_from_one_host_keeps_no_distant_worker_out",
            one_hosts_flood_keeps_no_distant_worker_out,
        ),
        (
            "a_handshake_put_on_a_workers_path_that_makes_room_is_counted_and_its_session_goes_on",
            handshake_on_a_workers_path_makes_room,
        ),
        (
            "a_worker_with_reconnect_tries_again_after_an_unproven_refusal",
            unproven_refusal_is_tried_again,
        ),
        (
            "a_fake_drivers_refusal_reaches_the_terminal_as_one_bounded_line",
            fake_refusal_is_one_bounded_line,
        ),
        (
            "a_fake_drivers_refusal_can_neither_reorder_nor_hide_nor_break_the_workers_stderr",
            fake_refusal_keeps_the_layout,
        ),
        (
            "a_worker_without_a_token_reaches_no_driver_beyond_loopback",
            tokenless_worker_stays_on_loopback,
        ),
        (
            "a_fake_drivers_flood_is_logged_sparingly_and_keeps_no_worker_waiting",
            flood_is_logged_sparingly,
        ),
        (
            "a_frame_declared_huge_before_the_proof_closes_the_connection",
            huge_frame_before_proof_closes,
        ),
        (
            "a_token_holder_joining_in_a_loop_gets_a_bounded_number_of_joins",
            join_loop_is_bounded,
        ),
        (
            "an_insider_writing_history_rows_its_task_was_not_given_is_excluded",
            history_liar_is_excluded,
        ),
        (
            "an_insiders_flood_while_the_driver_is_busy_is_not_kept",
            insider_flood_is_not_kept,
        ),
        (
            "an_insiders_heartbeat_flood_while_the_driver_is_busy_is_capped",
            heartbeat_flood_is_capped,
        ),
        (
            "an_insider_under_two_names_failing_a_split_of_a_good_file_ends_no_run",
            split_liars_end_no_run,
        ),
        (
            "an_insider_that_never_says_it_holds_its_partition_holds_up_no_run",
            mute_loader_holds_up_no_run,
        ),
        (
            "a_drivers_partition_beyond_the_workers_memory_is_refused_at_its_first_chunk",
            endless_partition_is_refused,
        ),
        (
            "a_drivers_orders_of_millions_of_empty_entries_are_refused_before_they_grow",
            bloated_orders_are_refused,
        ),
        (
            "a_drivers_partition_declaring_more_row_ids_than_rows_is_refused_before_they_grow",
            row_ids_beyond_rows_are_refused,
        ),
        (
            "a_drivers_sparse_partition_declaring_more_nonzeros_than_its_frame_holds_is_refused",
            sparse_indices_beyond_the_frame_are_refused,
        ),
        (
            "a_handshake_recorded_and_replayed_is_refused",
            replayed_handshake_is_refused,
        ),
        (
            "a_driver_lying_in_every_kind_of_order_is_answered_and_crashes_no_worker",
            lying_driver_crashes_no_worker,
        ),
    ];
    test_support::run_tests(tests);
}

/// How a worker misbehaves in a test run, by its name.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Misbehave {
    Nothing,
    /// Every task on this worker panics.
    FailOn(String),
    /// This worker returns a gradient of two elements.
    WrongShapeOn(String),
    /// This worker's first task sleeps this many seconds.
    SleepOnceOn(String, u64),
    /// From this update on (counted from 0), every task never ends: a loop in the closure,
    /// wherever it runs. By the update, as [`Misbehave::NanFrom`]: counted by each worker's
    /// tasks, a respawned worker's first tasks would answer well.
    HangFrom(usize),
    /// From this update on (counted from 0), every task returns NaN: a division by zero in the
    /// closure, wherever it runs. By the update, not by each worker's count of its tasks: a
    /// respawned worker's first tasks would answer well, and a task that answers well on a
    /// fresh worker is no task failing wherever it runs.
    NanFrom(usize),
    /// From this update on (counted from 0), every task returns this many elements: a result
    /// past a small frame limit, wherever it runs.
    WideFrom(usize, usize),
}

/// The settings the reduce closures capture.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plan {
    updates: usize,
    step: f64,
    misbehave: Misbehave,
}

static SLEPT: AtomicBool = AtomicBool::new(false);

/// The least-squares gradient on one partition for update `update`, as `plan` makes this
/// worker behave.
fn gradient(
    part: &Partition,
    w: ndarray::ArrayView1<'_, f64>,
    plan: &Plan,
    update: usize,
) -> Array1<f64> {
    let me = std::env::var(WORKER_ENV).unwrap_or_default();
    match &plan.misbehave {
        Misbehave::FailOn(name) if *name == me => panic!("{me} fails every task"),
        Misbehave::WrongShapeOn(name) if *name == me => return Array1::zeros(2),
        Misbehave::SleepOnceOn(name, secs)
            if *name == me && !SLEPT.swap(true, Ordering::SeqCst) =>
        {
            std::thread::sleep(Duration::from_secs(*secs))
        }
        Misbehave::HangFrom(first) if update >= *first => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
        Misbehave::NanFrom(first) if update >= *first => {
            return Array1::from_elem(w.len(), f64::NAN)
        }
        Misbehave::WideFrom(first, len) if update >= *first => return Array1::ones(*len),
        _ => {}
    }
    let data = part.data();
    let n = data.n_rows();
    let mut g = Array1::zeros(w.len());
    let labels = data.labels();
    for i in 0..n {
        let mut dot = 0.0;
        data.for_each_entry(i, |j, x| dot += x * w[j]);
        let r = (dot - labels[i]) / n as f64;
        data.for_each_entry(i, |j, x| g[j] += r * x);
    }
    g
}

/// Synchronous gradient descent.
#[async_optimizer]
fn gd(cx: &mut Driver, data: &Dataset, plan: &Plan) -> Array1<f64> {
    let mut w: Array1<f64> = Array1::zeros(data.dim());
    for k in 0..plan.updates {
        broadcast!(w);
        let g = reduce!(data, |part| gradient(part, w.view(), plan, k));
        w.scaled_add(-plan.step, &g);
    }
    w
}

/// Asynchronous gradient descent: any idle worker gets work.
#[async_optimizer]
fn agd(cx: &mut Driver, data: &Dataset, plan: &Plan) -> Array1<f64> {
    let mut w: Array1<f64> = Array1::zeros(data.dim());
    for k in 0..plan.updates {
        broadcast!(w);
        barrier!(|workers| workers.idle() >= 1);
        let g = reduce!(
            data,
            |part| gradient(part, w.view(), plan, k),
            max_staleness = 1000u64
        );
        w.scaled_add(-plan.step / 4.0, &g);
    }
    w
}

/// What a task of [`gd_with_history`] returns: its partition's gradient, and a history entry
/// for each of its rows, the row's own id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Terms {
    gradient: Array1<f64>,
    history: HistoryUpdate,
}

impl Combine for Terms {
    /// The mean gradient, as an array's results combine, and every history entry.
    fn combine(parts: Vec<Self>) -> Self {
        let count = parts.len() as f64;
        let mut parts = parts.into_iter();
        let mut total = parts.next().expect("at least one partition");
        for part in parts {
            total.gradient += &part.gradient;
            total.history.extend(part.history);
        }
        total.gradient /= count;
        total
    }
}

fn terms(
    part: &Partition,
    w: ndarray::ArrayView1<'_, f64>,
    plan: &Plan,
    update: usize,
    _: &HistorySlice,
) -> Terms {
    let mut history = HistoryUpdate::default();
    for &row in part.global_ids() {
        history.push(row, row as f64);
    }
    Terms {
        gradient: gradient(part, w, plan, update),
        history,
    }
}

/// Synchronous gradient descent that keeps a history table, each row's entry written by the
/// tasks on its row as the row's id. The model, and how many times an entry was found holding
/// anything else than its id or 0 (not written yet) after an update.
#[async_optimizer]
fn gd_with_history(cx: &mut Driver, data: &Dataset, plan: &Plan) -> (Array1<f64>, u64) {
    let mut w: Array1<f64> = Array1::zeros(data.dim());
    let mut seen: History = History::zeros(data.full_rows());
    let mut foreign = 0u64;
    for k in 0..plan.updates {
        broadcast!(w);
        let t = reduce!(data, |part| terms(part, w.view(), plan, k, seen));
        w.scaled_add(-plan.step, &t.gradient);
        seen.apply(&t.history);
        foreign += (0..seen.len() as u64)
            .filter(|&row| seen.get(row) != 0.0 && seen.get(row) != row as f64)
            .count() as u64;
    }
    (w, foreign)
}

/// A consistent least-squares problem: y = X w*, so the optimum is w* with objective 0.
fn problem() -> (Dataset, Array1<f64>) {
    let (n, d) = (600, 8);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let x = Array2::from_shape_fn((n, d), |_| next());
    let truth = Array1::from_shape_fn(d, |j| j as f64 - 3.5);
    let y = x.dot(&truth);
    let data = Dataset::new("synthetic", Features::Dense(x), y).expect("a valid dataset");
    (data, truth)
}

fn plan(updates: usize, misbehave: Misbehave) -> Plan {
    Plan {
        updates,
        step: 8.0,
        misbehave,
    }
}

/// Distance of `w` to the optimum, relative to the optimum's norm.
fn error(w: &Array1<f64>, truth: &Array1<f64>) -> f64 {
    let diff = w - truth;
    diff.dot(&diff).sqrt() / truth.dot(truth).sqrt()
}

fn local(workers: usize) -> ClusterConfig {
    let mut config = ClusterConfig::local(workers);
    config.seed = 7;
    config
}

/// A driver's settings for `workers` remote workers holding `token`.
fn remote(workers: usize, token: &Token) -> ClusterConfig {
    let mut config = local(workers);
    config.spawn_local = false;
    config.token = Some(token.clone());
    config
}

/// Trains on while an attack goes on: the run stops at 400 updates or more once `attacked`.
fn stop_once_after_400(driver: &mut Driver, attacked: std::sync::Arc<AtomicBool>) {
    driver.observe(move |progress, _: &Array1<f64>| {
        if attacked.load(Ordering::SeqCst) && progress.updates >= 400 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    });
}

/// A driver for two remote workers of `token`, its endpoint, and its workers `w0` and `w1`,
/// both joined.
fn two_workers_joined(token: &Token) -> (Driver, String, Vec<Child>) {
    let mut driver = Driver::bind(remote(2, token)).expect("the driver listens");
    let endpoint = driver.endpoint().to_owned();
    let workers = vec![
        spawn_worker("w0", &endpoint, token),
        spawn_worker("w1", &endpoint, token),
    ];
    driver.wait_for_workers().expect("both workers join");
    (driver, endpoint, workers)
}

fn spawn_worker(name: &str, endpoint: &str, token: &Token) -> Child {
    spawn_worker_reading(name, endpoint, token, None)
}

/// [`spawn_worker`], allowed to read the file `data` when the driver names it.
fn spawn_worker_reading(
    name: &str,
    endpoint: &str,
    token: &Token,
    data: Option<&std::path::Path>,
) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("this executable"));
    if let Some(data) = data {
        command.env(format!("{DATA_ENV_PREFIX}0"), data);
    }
    command
        .env(WORKER_ENV, name)
        .env(DRIVER_ENV, endpoint)
        .env(TOKEN_ENV, token.to_hex())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("a worker starts")
}

fn print_counts(report: &RunReport) {
    let s = &report.stats;
    println!(
        "    updates {} unauthenticated {} unsealed_in_session {} bad_mac {} replayed {} \
         oversized_handshakes {} handshake_timeouts {} turned_away {} cut_off {} refused {} \
         rejected {} bad_results {} failed {} retried {} excluded {} lost {}",
        s.updates,
        s.unauthenticated_frames,
        s.unsealed_session_frames,
        s.bad_mac_frames,
        s.replayed_frames,
        s.oversized_handshakes,
        s.handshake_timeouts,
        s.strangers_turned_away,
        s.strangers_cut_off,
        s.refused_workers,
        s.rejected_messages,
        s.bad_results,
        s.failed_tasks,
        s.retried_tasks,
        s.excluded_workers,
        s.lost_workers
    );
}

/// Two workers with the token, one of them behind a proxy that replays its results; an
/// impostor without the token under each worker's name sends every kind of message, and
/// strangers declare and send huge frames. The run reaches its target and counts the refusals.
fn impostors_are_refused() {
    let (data, truth) = problem();
    let token = Token::random();
    let mut driver = Driver::bind(remote(2, &token)).expect("the driver listens");
    let endpoint = driver.endpoint().to_owned();
    let proxy = wire::ReplayProxy::start(&endpoint);
    let mut workers = vec![
        spawn_worker("w0", &endpoint, &token),
        spawn_worker("w1", &proxy.endpoint(), &token),
    ];
    driver.wait_for_workers().expect("both workers join");

    let attack = {
        let endpoint = endpoint.clone();
        std::thread::spawn(move || wire::attack(&endpoint, &["w0", "w1"]))
    };
    // Train while the attack goes on, then a while after it.
    let attacked = std::sync::Arc::new(AtomicBool::new(false));
    stop_once_after_400(&mut driver, attacked.clone());
    let watcher = std::thread::spawn(move || {
        let sent = attack.join().expect("the attack thread ends");
        attacked.store(true, Ordering::SeqCst);
        sent
    });
    let w = gd(&mut driver, &data, &plan(1_000_000, Misbehave::Nothing));
    let sent = watcher.join().expect("the watcher ends");
    let report = driver.finish().expect("the run is unaffected");
    print_counts(&report);
    println!(
        "    attack: {sent:?}; replayed by the proxy: {}",
        proxy.replayed()
    );
    let stats = &report.stats;
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    assert_eq!(report.workers.len(), 2, "no impostor became a worker");
    assert!(report.workers.iter().all(|w| w.alive), "no worker was lost");
    assert_eq!(stats.lost_workers, 0);
    assert_eq!(
        stats.bad_results, 0,
        "no impostor result reached the checks"
    );
    assert!(proxy.replayed() >= 3, "the proxy replayed real results");
    assert!(
        stats.replayed_frames >= proxy.replayed(),
        "every replayed frame is counted: {} of {}",
        stats.replayed_frames,
        proxy.replayed()
    );
    // Plain frames put on the worker's connection inside its session are told apart from
    // strangers': each is counted there, and none of the impostors' is.
    assert!(proxy.injected() >= 1, "the proxy put frames on the path");
    assert_eq!(
        stats.unsealed_session_frames,
        proxy.injected(),
        "each frame put on a session's path is counted as such"
    );
    // An impostor's connection is read for what a handshake sends (plain frames have no
    // session; sealed ones carry no run id it could know), each frame counted, and closed at
    // the next: it cannot make the driver read its flood.
    assert!(
        stats.strangers_cut_off >= 2,
        "each impostor's connection is closed: {}",
        stats.strangers_cut_off
    );
    assert!(
        stats.unauthenticated_frames + stats.rejected_messages >= 2 * 4,
        "what was read of the impostors' messages is counted"
    );
    assert!(
        sent.unsealed > stats.unauthenticated_frames + stats.rejected_messages,
        "the rest was never read"
    );
    assert!(
        stats.refused_workers + stats.strangers_cut_off >= sent.hellos,
        "impostors' hellos are refused, or their connections closed before them"
    );
    assert!(
        stats.oversized_handshakes >= 1,
        "a handshake frame over the small limit is counted"
    );
    // Strangers get a few KiB each before admission: the 400 MiB frames never grew the
    // driver (this process holds it; the workers are other processes).
    let peak = peak_resident_mib();
    println!("    driver process peak resident memory: {peak} MiB");
    assert!(peak < MEMORY_BOUND_MIB, "peak {peak} MiB");
    for worker in &mut workers {
        assert!(worker.wait().expect("workers exit").success());
    }
}

/// The bound the driver's memory stays under during the attack.
const MEMORY_BOUND_MIB: u64 = 128;

/// This process's peak resident memory (VmHWM), in MiB.
fn peak_resident_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib / 1024)
        .expect("VmHWM in /proc/self/status")
}

/// A worker whose every task panics is excluded after a few failures; its tasks are retried
/// on the others and the run ends as if it had never been there.
fn failing_worker_is_excluded() {
    let (data, truth) = problem();
    let mut driver = Driver::launch(local(3)).expect("cluster starts");
    let w = gd(
        &mut driver,
        &data,
        &plan(300, Misbehave::FailOn("w1".into())),
    );
    let report = driver.finish().expect("the run completes on the others");
    print_counts(&report);
    let stats = &report.stats;
    assert_eq!(stats.updates, 300);
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    assert_eq!(stats.excluded_workers, 1);
    assert!(stats.failed_tasks >= 3 && stats.retried_tasks >= stats.failed_tasks);
    let bad = report.workers.iter().find(|w| w.name == "w1").unwrap();
    assert!(bad.excluded && !bad.alive && bad.failures >= 3);
    assert!(report
        .workers
        .iter()
        .filter(|w| w.name != "w1")
        .all(|w| w.alive && !w.excluded));
}

/// A worker that returns wrong-shaped gradients: each is refused (no driver panic), counted,
/// and the worker excluded; an asynchronous run completes on the others.
fn wrong_shapes_are_refused() {
    let (data, truth) = problem();
    let mut driver = Driver::launch(local(3)).expect("cluster starts");
    let w = agd(
        &mut driver,
        &data,
        &plan(3000, Misbehave::WrongShapeOn("w2".into())),
    );
    let report = driver.finish().expect("the run completes on the others");
    print_counts(&report);
    let stats = &report.stats;
    assert_eq!(stats.updates, 3000);
    assert!(error(&w, &truth) < 1e-4, "error {}", error(&w, &truth));
    assert_eq!(stats.bad_results, 3);
    assert_eq!(stats.excluded_workers, 1);
    let bad = report.workers.iter().find(|w| w.name == "w2").unwrap();
    assert!(bad.excluded && bad.bad_results == 3 && !bad.alive);
}

/// A task of 20 s, four times the liveness timeout: its worker keeps beating and is not lost;
/// the synchronous step does not wait for it past the hang limit.
fn long_task_keeps_its_worker() {
    let (data, truth) = problem();
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let w = gd(
        &mut driver,
        &data,
        &plan(200, Misbehave::SleepOnceOn("w0".into(), 20)),
    );
    let report = driver.finish().expect("the run succeeds");
    print_counts(&report);
    assert_eq!(report.stats.lost_workers, 0, "no worker was declared lost");
    assert_eq!(report.stats.moved_partitions, 0);
    // The hung task was done again elsewhere after the 10 s floor; the sleeper stays.
    assert!(report.stats.hung_tasks >= 1);
    let sleeper = report.workers.iter().find(|w| w.name == "w0").unwrap();
    assert!(sleeper.alive && sleeper.tasks_done > 0);
    assert_eq!(report.stats.updates, 200);
    assert!(error(&w, &truth) < 1e-4, "error {}", error(&w, &truth));
}

/// Whether `error` is a task failure naming both workers it hung on.
fn hung_on_both(error: &RuntimeError) -> bool {
    let message = error.to_string();
    matches!(error, RuntimeError::TaskFailed { .. })
        && (message.contains("hung on w0 and w1") || message.contains("hung on w1 and w0"))
}

/// A synchronous step whose task hangs on every worker (a loop in its closure) waited for
/// good: each worker took one strike, the task being done again on the other, where it hung
/// too. Now the run ends with the task's failure, its model so far kept.
fn task_hanging_everywhere_fails_the_run() {
    let (data, _) = problem();
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let w = gd(&mut driver, &data, &plan(200, Misbehave::HangFrom(5)));
    let error = driver
        .finish()
        .expect_err("the task hangs wherever it runs");
    assert!(hung_on_both(&error), "{error}");
    assert!(error.to_string().contains("gd#"), "names the task: {error}");
    assert!(
        w.iter().all(|x| x.is_finite()) && w.iter().any(|&x| x != 0.0),
        "the model of the steps before is kept: {w}"
    );
}

/// The asynchronous twin: its workers were struck out, then their replacements, and the run
/// then waited for good on tasks that never answer.
fn async_task_hanging_everywhere_fails_the_run() {
    let (data, _) = problem();
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    agd(&mut driver, &data, &plan(200, Misbehave::HangFrom(5)));
    let error = driver
        .finish()
        .expect_err("the task hangs wherever it runs");
    assert!(hung_on_both(&error), "{error}");
}

/// Whether `error` is a task failure for results that are not finite, naming the task.
fn not_finite_everywhere(error: &RuntimeError) -> bool {
    let message = error.to_string();
    matches!(error, RuntimeError::TaskFailed { .. })
        && message.contains("returned results that are not finite on w")
        && message.contains("NaN")
        && message.contains("#")
}

/// A synchronous step whose task returns NaN on every worker (an author's bug) had each worker
/// struck out for bad results, and the run ended saying no live worker was left. Now it ends
/// with the task's failure, saying its results are not finite, its model so far kept.
fn task_nan_everywhere_fails_the_run() {
    let (data, _) = problem();
    let mut driver = Driver::launch(local(3)).expect("cluster starts");
    let w = gd(&mut driver, &data, &plan(200, Misbehave::NanFrom(5)));
    let error = driver
        .finish()
        .expect_err("the task returns NaN wherever it runs");
    assert!(not_finite_everywhere(&error), "{error}");
    assert!(
        w.iter().all(|x| x.is_finite()) && w.iter().any(|&x| x != 0.0),
        "the model of the steps before is kept: {w}"
    );
}

/// A driver whose frame limit is below the default: its local workers are told the limit,
/// so a result past it is refused by the worker that computed it (a task failing wherever it
/// runs, said so), not sent to a driver that drops it. They kept the default, and sent it.
fn spawned_workers_keep_to_the_drivers_frame_limit() {
    let (data, _) = problem();
    let mut config = local(2);
    config.max_frame = 256 << 10;
    config.max_respawns = 0;
    let mut driver = Driver::launch(config).expect("cluster starts");
    // 40,000 elements: 320 kB, past 256 KiB; the model (8 elements) fits.
    let w = gd(
        &mut driver,
        &data,
        &plan(20, Misbehave::WideFrom(3, 40_000)),
    );
    let error = driver
        .finish()
        .expect_err("the result fits no frame the driver takes")
        .to_string();
    assert!(error.contains("past the frame limit of 262144"), "{error}");
    assert!(
        w.iter().all(|x| x.is_finite()),
        "the model so far is kept: {w}"
    );
}

/// The asynchronous twin: its workers were struck out, then their replacements.
fn async_task_nan_everywhere_fails_the_run() {
    let (data, _) = problem();
    let mut driver = Driver::launch(local(3)).expect("cluster starts");
    let w = agd(&mut driver, &data, &plan(200, Misbehave::NanFrom(5)));
    let error = driver
        .finish()
        .expect_err("the task returns NaN wherever it runs");
    assert!(not_finite_everywhere(&error), "{error}");
    assert!(
        w.iter().all(|x| x.is_finite()),
        "the model so far is kept: {w}"
    );
}

/// A worker stopped for 8 s is declared lost; resumed, it is told so, joins again as a fresh
/// worker, and takes tasks.
fn stopped_worker_rejoins() {
    let (data, _) = problem();
    let mut driver = Driver::launch(local(3)).expect("cluster starts");
    let pid = driver
        .workers()
        .all()
        .iter()
        .find(|w| w.name == "w1")
        .expect("w1 joined")
        .pid;
    let begun = Instant::now();
    let signals = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        signal("STOP", pid);
        std::thread::sleep(Duration::from_secs(8));
        signal("CONT", pid);
    });
    driver.observe(move |_, _: &Array1<f64>| {
        if begun.elapsed() > Duration::from_secs(16) {
            Flow::Stop
        } else {
            Flow::Continue
        }
    });
    agd(&mut driver, &data, &plan(usize::MAX, Misbehave::Nothing));
    signals.join().expect("signals sent");
    let report = driver.finish().expect("the run succeeds");
    print_counts(&report);
    assert_eq!(
        report.stats.lost_workers, 1,
        "the stopped worker was declared lost"
    );
    let old = report.workers.iter().find(|w| w.name == "w1").unwrap();
    assert!(!old.alive && old.pid == pid);
    let back = report
        .workers
        .iter()
        .find(|w| w.name.starts_with("w1.r"))
        .expect("w1 joined again under a fresh name");
    assert!(back.alive && back.pid == pid, "the same process");
    assert!(back.tasks_done > 0, "and it took tasks");
}

/// A peer holding the token is admitted, then says nothing more, its connection open (a hung
/// host, or an insider keeping the session it was given): it was declared lost, but its
/// session stayed open, fed heartbeats as long as it kept the connection. Now the driver ends
/// the session when it declares the peer lost, and closes the connection a moment later.
fn silent_insider_is_let_go() {
    let (data, truth) = problem();
    let token = Token::random();
    let (mut driver, endpoint, mut workers) = two_workers_joined(&token);
    let liveness = Duration::from_millis(500) * 10;
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let insider = {
        let (token, done) = (token.clone(), done.clone());
        std::thread::spawn(move || {
            let wait = liveness + Duration::from_secs(25);
            let closed = wire::silent_insider(&endpoint, "x-insider", &token, wait);
            done.store(true, Ordering::SeqCst);
            closed
        })
    };
    stop_once_after_400(&mut driver, done);
    let w = gd(&mut driver, &data, &plan(1_000_000, Misbehave::Nothing));
    let report = driver.finish().expect("the run trains on");
    print_counts(&report);
    let closed = insider.join().expect("the insider ends");
    let after = closed.expect("the driver closed the silent insider's connection");
    println!("    closed {:.1} s after its proof", after.as_secs_f64());
    assert!(after > liveness, "only once declared lost: {after:?}");
    let row = report.workers.iter().find(|w| w.name == "x-insider");
    assert!(row.is_some_and(|w| !w.alive), "admitted, then lost");
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    for worker in &mut workers {
        assert!(worker.wait().expect("workers exit").success());
    }
}

/// A peer holding the token is admitted beside two real workers, and answers its first task
/// with lies: a result for a task it was never given, its task's result holding NaN and
/// infinity (with a task time of 1e300 s), the same result again. Each is a bad result; at the
/// third it is excluded, told so in its session, and its connection closed; the run trains on
/// the others to the optimum, nothing of theirs lost.
fn lying_insider_is_excluded() {
    let (data, truth) = problem();
    let (w, report, lies) = beside_two_workers(
        |endpoint, token| wire::lying_insider(&endpoint, "x-liar", &token, Duration::from_secs(60)),
        |driver| gd(driver, &data, &plan(1_000_000, Misbehave::Nothing)),
    );
    println!("    {lies:?}");
    assert_eq!(lies.told, 3, "it was given a task");
    let excluded = lies.excluded.expect("told it is excluded");
    assert!(excluded.contains("3 bad results"), "{excluded}");
    assert!(lies.closed, "its connection closed");
    let stats = &report.stats;
    assert!(stats.bad_results >= 3, "{}", stats.bad_results);
    assert_eq!(stats.excluded_workers, 1);
    let row = report.workers.iter().find(|w| w.name == "x-liar");
    assert!(row.is_some_and(|w| w.excluded && !w.alive && w.bad_results == 3));
    assert!(report
        .workers
        .iter()
        .filter(|w| w.name != "x-liar")
        .all(|w| w.alive && !w.excluded));
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
}

/// One peer holding the token joins under four names beside one real worker: each name
/// heartbeats, says it holds its partition, and never answers a task. Their four hangs were
/// seen at once, at the hang floor, past the real worker's good answers to later tasks: most
/// of the five workers, so the run ended blaming its task, which ran well all along. Now
/// those answers clear them: the four names are excluded, their partitions move to the real
/// worker, and the run goes on to its own stop.
fn hanging_insider_names_end_no_async_run() {
    let (data, truth) = problem();
    let token = Token::random();
    let names = ["x-a", "x-b", "x-c", "x-d"];
    let mut driver = Driver::bind(remote(1 + names.len(), &token)).expect("the driver listens");
    let endpoint = driver.endpoint().to_owned();
    let mut worker = spawn_worker("w0", &endpoint, &token);
    let insiders: Vec<_> = names
        .iter()
        .map(|&name| {
            let (endpoint, token) = (endpoint.clone(), token.clone());
            std::thread::spawn(move || {
                wire::hanging_insider(&endpoint, name, &token, Duration::from_secs(120))
            })
        })
        .collect();
    driver.wait_for_workers().expect("all five join");
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let lies: Vec<wire::Lies> = insiders
                .into_iter()
                .map(|insider| insider.join().expect("the insider ends"))
                .collect();
            done.store(true, Ordering::SeqCst);
            lies
        })
    };
    stop_once_after_400(&mut driver, done);
    let w = agd(&mut driver, &data, &plan(usize::MAX, Misbehave::Nothing));
    let report = driver.finish().expect("the run trains on to its own stop");
    print_counts(&report);
    for (name, lies) in names.iter().zip(watcher.join().expect("the watcher ends")) {
        println!("    {name}: {lies:?}");
        assert!(lies.told >= 1, "{name} was given a task");
        let excluded = lies.excluded.expect("told it is excluded");
        assert!(excluded.contains("answered"), "{name}: {excluded}");
        let row = report.workers.iter().find(|w| w.name == *name);
        assert!(
            row.is_some_and(|w| w.excluded && !w.alive && w.tasks_done == 0),
            "{name}"
        );
    }
    let real = report.workers.iter().find(|w| w.name == "w0").expect("w0");
    assert!(real.alive && !real.excluded);
    let used = report.stats.results_used;
    assert!(
        used > 0 && used <= real.tasks_done,
        "every result used is w0's"
    );
    assert!(report.stats.updates >= 400);
    assert!(error(&w, &truth) < 1e-3, "error {}", error(&w, &truth));
    assert!(worker.wait().expect("the worker exits").success());
}

/// Trains with `train` on three workers the run waits for: two real ones, and the insider
/// `insider(endpoint, token)` runs on a thread of its own (it holds a partition). The run is
/// stopped 400 updates after the insider ended. The model, the report and what the insider
/// heard and did; the real workers exit cleanly.
fn beside_two_workers<W>(
    insider: impl FnOnce(String, Token) -> wire::Lies + Send + 'static,
    train: impl FnOnce(&mut Driver) -> W,
) -> (W, RunReport, wire::Lies) {
    let token = Token::random();
    let mut driver = Driver::bind(remote(3, &token)).expect("the driver listens");
    let endpoint = driver.endpoint().to_owned();
    let mut workers = vec![
        spawn_worker("w0", &endpoint, &token),
        spawn_worker("w1", &endpoint, &token),
    ];
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let liar = {
        let done = done.clone();
        std::thread::spawn(move || {
            let lies = insider(endpoint, token);
            done.store(true, Ordering::SeqCst);
            lies
        })
    };
    driver.wait_for_workers().expect("all three join");
    stop_once_after_400(&mut driver, done);
    let w = train(&mut driver);
    let report = driver.finish().expect("the run trains on");
    print_counts(&report);
    let lies = liar.join().expect("the liar ends");
    for worker in &mut workers {
        assert!(worker.wait().expect("the worker exits").success());
    }
    (w, report, lies)
}

/// A peer holding the token is admitted beside two real workers and answers every task of a
/// reduce that keeps history with a result of the right shape whose history update writes
/// 1e6 into every row of the table, its task's and all the others'. The algorithm applies a
/// history update as it comes, so this overwrote the entries of the partitions other workers
/// answer for. Now a result naming rows its task was not given is a bad result: the liar is
/// excluded at the third, no entry of the table ever holds its value, and the run trains on.
fn history_liar_is_excluded() {
    let (data, truth) = problem();
    let rows = data.full_rows() as u64;
    let lie = move |_: &asyncopt_runtime::protocol::TaskOrder| {
        let mut history = HistoryUpdate::default();
        for row in 0..rows {
            history.push(row, 1e6);
        }
        let terms = Terms {
            gradient: Array1::zeros(8),
            history,
        };
        postcard::to_allocvec(&terms).expect("encodes")
    };
    let ((w, foreign), report, lies) = beside_two_workers(
        move |endpoint, token| {
            let wait = Duration::from_secs(30);
            wire::answering_insider(&endpoint, "x-liar", &token, wait, lie)
        },
        |driver| gd_with_history(driver, &data, &plan(1_000_000, Misbehave::Nothing)),
    );
    println!("    {lies:?}; entries found foreign: {foreign}");
    assert!(lies.told >= 3, "it was given tasks: {}", lies.told);
    assert_eq!(foreign, 0, "no entry ever held the liar's value");
    let excluded = lies.excluded.expect("told it is excluded");
    assert!(
        excluded.contains("3 bad results") && excluded.contains("was not given"),
        "{excluded}"
    );
    assert!(lies.closed, "its connection closed");
    let row = report.workers.iter().find(|w| w.name == "x-liar");
    assert!(row.is_some_and(|w| w.excluded && !w.alive && w.bad_results == 3));
    assert!(report
        .workers
        .iter()
        .filter(|w| w.name != "x-liar")
        .all(|w| w.alive && !w.excluded && w.bad_results == 0));
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
}

/// Two peers holding the token under two names (one insider, as far as the driver can tell)
/// beside one real worker, on a data file every worker reads its own split of: `x-a` says it
/// cannot read its split; `x-b`, its heir, says it holds its own split and cannot read
/// `x-a`'s either. Two host names failing the same split ended the run as for a malformed
/// file. Now the driver reads that split itself, finds it good, excludes both, and the run
/// trains on the real worker to the optimum.
fn split_liars_end_no_run() {
    use asyncopt_runtime::data::{LoadOptions, SharedOptions};
    let (data, truth) = problem();
    let mut text = String::new();
    for (i, y) in data.labels().iter().enumerate() {
        text += &y.to_string();
        data.for_each_entry(i, |j, x| text += &format!(" {}:{x}", j + 1));
        text.push('\n');
    }
    let path = std::env::temp_dir().join(format!("trust-split-liars-{}.svm", std::process::id()));
    std::fs::write(&path, text).expect("the data file is written");
    let options = SharedOptions {
        load: LoadOptions::default(),
        eval_rows: SharedOptions::DEFAULT_EVAL_ROWS,
        seed: 7,
    };
    let shared = Dataset::open_shared(&path, &options).expect("a good file");
    let token = Token::random();
    let mut driver = Driver::bind(remote(3, &token)).expect("the driver listens");
    let endpoint = driver.endpoint().to_owned();
    // `x-b` is admitted first: holding one partition, as the real worker does, it is the
    // heir of `x-a`'s.
    let (welcomed, first_in) = std::sync::mpsc::channel();
    let b = split_liar(&endpoint, &token, "x-b", true, move || {
        welcomed.send(()).expect("heard")
    });
    let others = {
        let (endpoint, token, path) = (endpoint.clone(), token.clone(), path.clone());
        std::thread::spawn(move || {
            first_in.recv().expect("x-b is welcomed");
            let a = split_liar(&endpoint, &token, "x-a", false, || {});
            (
                a,
                spawn_worker_reading("w0", &endpoint, &token, Some(&path)),
            )
        })
    };
    driver.wait_for_workers().expect("all three join");
    let (a, mut worker) = others.join().expect("the others are started");
    let w = gd(&mut driver, &shared, &plan(300, Misbehave::Nothing));
    let report = driver.finish();
    let _ = std::fs::remove_file(&path);
    let report = report.expect("the file is good: the run trains on");
    print_counts(&report);
    for (name, liar) in [("x-a", a), ("x-b", b)] {
        let lies = liar.join().expect("the liar ends");
        println!("    {name}: {lies:?}");
        assert_eq!(lies.told, 1, "{name} failed one split read");
        let excluded = lies.excluded.expect("told it is excluded");
        assert!(excluded.contains("cannot load partition"), "{excluded}");
        let row = report.workers.iter().find(|w| w.name == name);
        assert!(row.is_some_and(|w| w.excluded && !w.alive), "{name}");
    }
    let real = report.workers.iter().find(|w| w.name == "w0").unwrap();
    assert!(real.alive && !real.excluded && real.partitions.len() == 3);
    assert_eq!(report.stats.updates, 300);
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    assert!(worker.wait().expect("the worker exits").success());
}

/// A peer holding the token is admitted beside two real workers, is shipped its partition,
/// and heartbeats on without ever saying that it holds it, or that it cannot. The driver
/// waits for every load before the first step: it waited for as long as the insider kept
/// beating (here 3 minutes, then it left; forever, had it stayed), training nothing. Now a
/// load that takes far longer than the others' (8 times the slowest, and 10 s at least) is
/// the worker's failure to load: it is excluded, told why, its partition goes to another, and
/// the run trains on, to the optimum.
fn mute_loader_holds_up_no_run() {
    let (data, truth) = problem();
    let (w, report, lies) = beside_two_workers(
        |endpoint, token| wire::mute_loader(&endpoint, "x-mute", &token, Duration::from_secs(180)),
        |driver| gd(driver, &data, &plan(1_000_000, Misbehave::Nothing)),
    );
    println!("    {lies:?}");
    assert!(lies.told >= 1, "it was given a partition");
    let excluded = lies.excluded.expect("told it is excluded before it left");
    assert!(excluded.contains("cannot load partition"), "{excluded}");
    assert!(lies.closed, "its connection closed");
    let row = report.workers.iter().find(|w| w.name == "x-mute");
    assert!(row.is_some_and(|w| w.excluded && !w.alive));
    assert!(report
        .workers
        .iter()
        .filter(|w| w.name != "x-mute")
        .all(|w| w.alive && !w.excluded));
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
}

/// [`wire::split_failing_insider`] `name` on a thread of its own, for up to a minute.
fn split_liar(
    endpoint: &str,
    token: &Token,
    name: &'static str,
    keeps_first: bool,
    welcomed: impl FnOnce() + Send + 'static,
) -> std::thread::JoinHandle<wire::Lies> {
    let (endpoint, token) = (endpoint.to_owned(), token.clone());
    std::thread::spawn(move || {
        let wait = Duration::from_secs(60);
        wire::split_failing_insider(&endpoint, name, &token, wait, keeps_first, welcomed)
    })
}

/// A peer holding the token is admitted beside two real workers; once welcomed, while the
/// driver is busy between two steps (10 s of its own work: it reads nothing meanwhile), it
/// sends 40 frames of 64 MiB, results and failures (with a 64 MiB text) of tasks it was never
/// given. The link thread kept every message whole for the coordinator, 2.5 GiB of the
/// driver's memory; now it keeps an answer's body only for a task the session was sent, and a
/// peer's text cut to 4 KiB. Each lie is still a bad result: the insider is excluded and the
/// run trains on. The insider is a process of its own, so that only the driver's memory is
/// measured.
fn insider_flood_is_not_kept() {
    let (lies, peak, report) = flooded_while_busy("lies");
    assert!(lies.contains("told: 40,"), "it sent its whole flood");
    assert!(peak < FLOOD_MEMORY_BOUND_MIB, "peak {peak} MiB");
    // Its lies are bad results, and three exclude it. On a loaded machine its own flood can
    // hold its heartbeats back past the liveness timeout: it is then let go as lost first, and
    // its lies, of a session that ended, are never read as results.
    let excluded = lies.contains("3 bad results");
    let lost_first = report.stats.bad_results == 0 && lies.contains("closed: true");
    assert!(
        excluded || lost_first,
        "told it is excluded, or let go: {lies}"
    );
    let row = report.workers.iter().find(|w| w.name == "x-flood");
    assert!(row.is_some_and(|w| w.excluded == excluded && !w.alive));
}

/// As [`insider_flood_is_not_kept`], the insider sending 3 million heartbeats (about 100
/// bytes each on the driver until it reads them): the driver held them all, 300 MiB more the
/// longer it is busy. Now a session's frames past 4096 messages unread are dropped and
/// counted: the driver's memory stays where it was, and the insider, lying about nothing,
/// stays a worker.
fn heartbeat_flood_is_capped() {
    let (lies, peak, report) = flooded_while_busy("heartbeats");
    assert!(
        lies.contains(&format!("told: {HEARTBEAT_FLOOD},")),
        "it sent its whole flood"
    );
    assert!(peak < HEARTBEAT_FLOOD_MEMORY_BOUND_MIB, "peak {peak} MiB");
    assert!(
        report.stats.floods >= 1,
        "the flood was dropped and counted"
    );
    // Heartbeats are no lie: a flood of them is capped, never a reason to let the insider go.
    // It never says it holds the partition it is sent, though, and a loaded machine can take
    // past that load's hang limit before the run ends: let go for that, and only that, is
    // the rule of `an_insider_that_never_says_it_holds_its_partition_holds_up_no_run`.
    let row = report.workers.iter().find(|w| w.name == "x-flood");
    let let_go_for_its_load = lies.contains("cannot load partition");
    assert!(
        row.is_some_and(|w| !w.excluded || let_go_for_its_load),
        "{lies}"
    );
}

/// A run of two real workers, trained to the optimum while a flooding insider ([`flooder`],
/// sending `kind`) is admitted as a third, the driver busy for 10 s once it is and, for
/// lies, training on until the flooder is told it is excluded: what the flooder said, the driver process's peak resident memory (MiB), the run's report. The
/// insider is a process of its own, so that only the driver's memory is measured.
fn flooded_while_busy(kind: &str) -> (String, u64, RunReport) {
    use std::io::BufRead;
    // The peak is this test's: earlier tests of this process do not count.
    std::fs::write("/proc/self/clear_refs", "5").expect("the peak resident memory is reset");
    let (data, truth) = problem();
    let token = Token::random();
    let (mut driver, endpoint, mut workers) = two_workers_joined(&token);
    let mut child = Command::new(std::env::current_exe().expect("this executable"))
        .env(FLOODER_ENV, &endpoint)
        .env(FLOOD_KIND_ENV, kind)
        .env(TOKEN_ENV, token.to_hex())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the flooder starts");
    let welcomed = std::sync::Arc::new(AtomicBool::new(false));
    let flooded = std::sync::Arc::new(AtomicBool::new(false));
    let told = std::sync::Arc::new(AtomicBool::new(false));
    let said = {
        let (stdout, welcomed, flooded, told) = (
            child.stdout.take().expect("piped"),
            welcomed.clone(),
            flooded.clone(),
            told.clone(),
        );
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
            assert_eq!(next(), "welcomed");
            welcomed.store(true, Ordering::SeqCst);
            // `flooded`, unless its flood was cut short: then what came of it at once.
            let mut outcome = next();
            if outcome == "flooded" {
                flooded.store(true, Ordering::SeqCst);
                outcome = next();
            }
            told.store(true, Ordering::SeqCst);
            outcome
        })
    };
    // The driver's own work between two steps, once the insider is admitted: the link thread
    // alone hears it meanwhile. A liar is then waited on until it is told (a loaded machine
    // delivers 2.5 GiB slowly, and a run of 400 updates ended before the lies arrived), a
    // heartbeat flooder, never told anything, until its flood is sent (on a loaded machine a
    // run of 400 updates ended before 3 million heartbeats were), for two minutes at most.
    let (mut busy, waits_for_the_liar) = (true, kind == "lies");
    let given_up = Instant::now() + Duration::from_secs(120);
    driver.observe(move |progress, _: &Array1<f64>| {
        if busy && welcomed.load(Ordering::SeqCst) {
            busy = false;
            std::thread::sleep(Duration::from_secs(10));
        }
        let waited =
            told.load(Ordering::SeqCst) || (!waits_for_the_liar && flooded.load(Ordering::SeqCst));
        match progress.updates >= 400 && (waited || Instant::now() > given_up) {
            true => Flow::Stop,
            false => Flow::Continue,
        }
    });
    let w = gd(&mut driver, &data, &plan(1_000_000, Misbehave::Nothing));
    let report = driver.finish().expect("the run trains on");
    print_counts(&report);
    let lies = said.join().expect("the flooder's output is read");
    assert!(child.wait().expect("the flooder exits").success());
    let peak = peak_resident_mib();
    println!("    {lies}; driver process peak resident memory: {peak} MiB");
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    for worker in &mut workers {
        assert!(worker.wait().expect("the worker exits").success());
    }
    (lies, peak, report)
}

/// The driver's process stays under this while an insider floods it with heartbeats.
const HEARTBEAT_FLOOD_MEMORY_BOUND_MIB: u64 = 128;

/// Set for this executable to be the flooding insider, to the driver's endpoint.
const FLOODER_ENV: &str = "ASYNCOPT_TEST_FLOODER";

/// The driver's process stays under this while an insider floods it with 2.5 GiB (the link
/// reads each 64 MiB frame whole before it decodes it).
const FLOOD_MEMORY_BOUND_MIB: u64 = 512;

/// The flooding insider of [`insider_flood_is_not_kept`] and [`heartbeat_flood_is_capped`]
/// (with [`FLOOD_KIND_ENV`] set to `heartbeats`): says `welcomed` once admitted, `flooded`
/// once its whole flood is sent, then what came of it, on stdout.
fn flooder(endpoint: &str) {
    let token = std::env::var(TOKEN_ENV).expect("the token");
    let token = Token::from_hex(&token).expect("a token");
    let said = (|| println!("welcomed"), || println!("flooded"));
    let wait = Duration::from_secs(60);
    let lies = if std::env::var(FLOOD_KIND_ENV).is_ok_and(|kind| kind == "heartbeats") {
        let flood = (HEARTBEAT_FLOOD, |_| {
            asyncopt_runtime::protocol::ToDriver::Heartbeat
        });
        wire::flooding_insider(endpoint, "x-flood", &token, flood, said, wait)
    } else {
        // Results and failures (with a 64 MiB text) of tasks it was never given.
        let size = 64 << 20;
        let lie = |i: u32| {
            let seq = u64::MAX - u64::from(i);
            if i.is_multiple_of(2) {
                asyncopt_runtime::protocol::ToDriver::Result {
                    seq,
                    compute_s: 0.0,
                    cpu_s: 0.0,
                    delay_s: 0.0,
                    held_s: 0.0,
                    // Whole: zeros would travel as a few bytes of nonzero words.
                    body: asyncopt_runtime::protocol::ResultBody::Whole(vec![0u8; size].into()),
                }
            } else {
                asyncopt_runtime::protocol::ToDriver::Failed {
                    seq,
                    message: "x".repeat(size),
                }
            }
        };
        wire::flooding_insider(endpoint, "x-flood", &token, (40, lie), said, wait)
    };
    println!("{lies:?}");
}

/// What the flooder sends: `heartbeats`, or (unset) 40 lies of 64 MiB.
const FLOOD_KIND_ENV: &str = "ASYNCOPT_TEST_FLOOD_KIND";

/// Heartbeats the flooder of [`heartbeat_flood_is_capped`] sends.
const HEARTBEAT_FLOOD: u32 = 3_000_000;

fn signal(name: &str, pid: u32) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{name} {pid}");
}

/// With `encrypt`, the same run reaches the same model.
fn encrypted_run_trains() {
    let (data, truth) = problem();
    let mut config = local(2);
    config.encrypt = true;
    let mut driver = Driver::launch(config).expect("cluster starts");
    let w = gd(&mut driver, &data, &plan(300, Misbehave::Nothing));
    let report = driver.finish().expect("the run succeeds");
    assert_eq!(report.stats.updates, 300);
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
}

/// Connections that never say anything (not even ZeroMQ's greeting) cost the driver a socket
/// each until admitted: beyond a cap they are closed at once, and every one of them is closed
/// once its admission deadline passes; real workers then join and train.
fn silent_connections_are_capped() {
    use std::io::Read;
    let (data, truth) = problem();
    let token = Token::random();
    let mut config = local(2);
    config.spawn_local = false;
    config.token = Some(token.clone());
    config.max_strangers = 4;
    config.handshake_deadline = Duration::from_millis(500);
    // Four connections per stranger the gate admits to its handshake; each has six deadlines.
    let (cap, deadline) = (16, Duration::from_secs(3));
    let mut driver = Driver::bind(config).expect("the driver listens");
    let endpoint = driver.endpoint().to_owned();
    let address = endpoint.trim_start_matches("tcp://").to_owned();
    let silent: Vec<std::net::TcpStream> = (0..40)
        .map(|_| {
            let stream = std::net::TcpStream::connect(&address).expect("the port accepts");
            // Let the driver take each before the next, so the count is deterministic.
            std::thread::sleep(Duration::from_millis(20));
            stream
        })
        .collect();
    // A closed connection reads to its end; an open one only ever yields the driver's greeting.
    // All are watched at once, so that watching does not outlast the deadline.
    let closed_within = |wait: Duration| -> Vec<bool> {
        let mut closed = vec![false; silent.len()];
        for stream in &silent {
            stream.set_nonblocking(true).expect("non-blocking");
        }
        let until = Instant::now() + wait;
        let mut buffer = [0u8; 256];
        while Instant::now() < until {
            for (stream, closed) in silent.iter().zip(closed.iter_mut()) {
                if *closed {
                    continue;
                }
                match (&*stream).read(&mut buffer) {
                    Ok(0) => *closed = true,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => *closed = true,
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        closed
    };
    let closed = closed_within(Duration::from_millis(300));
    let refused = closed.iter().filter(|c| **c).count();
    println!(
        "    {refused} of {} silent connections closed at once",
        silent.len()
    );
    // Each newer one closed the oldest waiting: the last `cap` are the ones left open (a
    // squatter that holds the first connections cannot keep newcomers out).
    let expected: Vec<bool> = (0..silent.len()).map(|i| i < silent.len() - cap).collect();
    assert_eq!(
        closed, expected,
        "the oldest beyond the cap of {cap}, no more"
    );

    // Workers coming while the cap is full get in: the oldest silent ones make room.
    let mut workers = vec![
        spawn_worker("w0", &endpoint, &token),
        spawn_worker("w1", &endpoint, &token),
    ];
    driver.wait_for_workers().expect("both workers join");
    std::thread::sleep(deadline);
    let closed = closed_within(Duration::from_secs(2));
    assert!(
        closed.iter().all(|c| *c),
        "every silent connection is closed after its deadline"
    );
    let w = gd(&mut driver, &data, &plan(300, Misbehave::Nothing));
    let report = driver.finish().expect("the run succeeds");
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    assert!(report.workers.iter().all(|w| w.alive));
    // None of them said a word of ZeroMQ, so none reached the gate: the run counts them all
    // still, those closed to make room and those closed at their deadline.
    assert_eq!(report.stats.zeromq_handshakes_failed, silent.len() as u64);
    for worker in &mut workers {
        assert!(worker.wait().expect("workers exit").success());
    }
}

/// A stranger without the token floods hellos and never reads the refusals. The driver's link
/// waited on its full queue: it stopped reading and sending heartbeats, lost its workers, and
/// then deadlocked when the stranger left; later it queued 100,000 refusals for each such
/// stranger (15 MB each). Now the stranger hears one refusal and its next hello closes its
/// connection, and the run goes on.
/// Then one sends a message of endless empty frames, which the driver buffered without bound.
fn deaf_flood_holds_up_no_one() {
    let ((flood, endless_cut_off, garbage_cut_off), report) =
        stranger_flood_beside_two_workers(|address| {
            let flood = wire::deaf_flood(address, 400_000);
            let endless_cut_off = wire::endless_message_is_cut_off(address);
            let garbage_cut_off = wire::garbage_is_cut_off(address, 10_000_000);
            (flood, endless_cut_off, garbage_cut_off)
        });
    println!("    flood: {flood:?}");
    assert!(
        flood.cut_off && flood.written < 400_000,
        "the stranger was cut off before its last hello"
    );
    assert_eq!(
        report.stats.refused_workers, 1,
        "one refusal, not one per hello"
    );
    assert!(
        report.stats.strangers_cut_off >= 1,
        "its connection was closed"
    );
    assert!(
        endless_cut_off,
        "a message of endless empty frames closes the connection"
    );
    assert!(
        garbage_cut_off,
        "a flood of tiny frames closes the connection"
    );
    let peak = peak_resident_mib();
    println!("    driver process peak resident memory: {peak} MiB");
    assert!(peak < MEMORY_BOUND_MIB, "peak {peak} MiB");
}

/// A stranger without the token, its ZMTP handshake done, repeats its READY command without
/// end: the driver parsed and skipped every one until the admission deadline (30 s), and eight
/// such connections slowed a run from about 12,000 updates a second to 25. Now a command after
/// the handshake closes the connection, and the run trains on without losing a worker.
fn repeated_ready_is_cut_off() {
    // 16 MB of commands: far beyond what the sockets' buffers hold once it is closed.
    let (cut_off, _) = stranger_flood_beside_two_workers(|address| {
        wire::repeated_ready_is_cut_off(address, 2_000_000)
    });
    assert!(cut_off, "a READY after the handshake closes the connection");
}

/// A stranger without the token, its ZMTP handshake done, sends messages of three frames
/// without end: the driver's link dropped each before its gate, which never counted them
/// against the stranger, until the admission deadline (30 s), and eight such connections
/// halved a run's updates a second. Now each counts as a frame that does not open, and the
/// connection is closed as one sending garbage is.
fn many_frame_messages_are_cut_off() {
    let (cut_off, _) = stranger_flood_beside_two_workers(|address| {
        wire::many_frame_messages_are_cut_off(address, 2_000_000)
    });
    assert!(cut_off, "messages of many frames close the connection");
}

/// Trains on two workers while a stranger's `flood` (given the driver's address) goes on; the
/// run stops 400 updates after it ended. Trains to the optimum, with no worker lost, and the
/// workers exit cleanly. What the flood returned, and the run's report.
fn stranger_flood_beside_two_workers<T: Send + 'static>(
    flood: impl FnOnce(&str) -> T + Send + 'static,
) -> (T, RunReport) {
    let (data, truth) = problem();
    let token = Token::random();
    let (mut driver, endpoint, mut workers) = two_workers_joined(&token);
    let flooded = std::sync::Arc::new(AtomicBool::new(false));
    let flood = {
        let (address, flooded) = (
            endpoint.trim_start_matches("tcp://").to_owned(),
            flooded.clone(),
        );
        std::thread::spawn(move || {
            let outcome = flood(&address);
            flooded.store(true, Ordering::SeqCst);
            outcome
        })
    };
    stop_once_after_400(&mut driver, flooded);
    let w = gd(&mut driver, &data, &plan(1_000_000, Misbehave::Nothing));
    let outcome = flood.join().expect("the flood thread ends");
    let report = driver.finish().expect("the run is unaffected");
    print_counts(&report);
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    assert_eq!(
        report.stats.lost_workers, 0,
        "no worker lost its heartbeats"
    );
    for worker in &mut workers {
        assert!(worker.wait().expect("workers exit").success());
    }
    (outcome, report)
}

/// A stranger without the token connects under a worker's name first and holds it: the
/// worker was refused as "name taken" and exited, and the run lacked it. Now it joins under a
/// fresh name no stranger can guess.
fn squatted_name_is_worked_around() {
    let (data, truth) = problem();
    let token = Token::random();
    let mut driver = Driver::bind(remote(2, &token)).expect("the driver listens");
    let endpoint = driver.endpoint().to_owned();
    let squatter = wire::squat(endpoint.trim_start_matches("tcp://"), "w1");
    std::thread::sleep(Duration::from_millis(200));
    let mut workers = vec![
        spawn_worker("w0", &endpoint, &token),
        spawn_worker("w1", &endpoint, &token),
    ];
    driver.wait_for_workers().expect("both workers join");
    let w = gd(&mut driver, &data, &plan(400, Misbehave::Nothing));
    let report = driver.finish().expect("the run trains");
    drop(squatter);
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    let names: Vec<&str> = report.workers.iter().map(|w| w.name.as_str()).collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("w1.r") && n.len() == "w1.r".len() + 8),
        "{names:?}"
    );
    for worker in &mut workers {
        assert!(worker.wait().expect("workers exit").success());
    }
}

/// Strangers without the token each open a handshake and never finish it, as many as the
/// driver keeps open at once: a worker's hello was dropped while they held the slots (and a
/// stranger that said hello again kept its slot forever). Now the oldest handshake makes room.
fn held_handshakes_keep_no_one_out() {
    let (data, truth) = problem();
    let token = Token::random();
    let config = remote(1, &token);
    let slots = config.max_strangers;
    let mut driver = Driver::bind(config).expect("the driver listens");
    let endpoint = driver.endpoint().to_owned();
    let holders = wire::hold_handshakes(endpoint.trim_start_matches("tcp://"), slots);
    std::thread::sleep(Duration::from_millis(300));
    let mut worker = spawn_worker("w0", &endpoint, &token);
    driver
        .wait_for_workers()
        .expect("the worker joins past the strangers");
    let w = gd(&mut driver, &data, &plan(400, Misbehave::Nothing));
    let report = driver.finish().expect("the run trains");
    drop(holders);
    print_counts(&report);
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    assert!(
        report.stats.strangers_turned_away >= 1,
        "a stranger's handshake made room"
    );
    assert!(worker.wait().expect("the worker exits").success());
}

/// Someone on a worker's path puts a hello under its name on its connection, opening a
/// handshake there, and strangers on the same host then say hello until the driver's
/// handshake slots are full and one more: that handshake, the oldest, made room, and nothing
/// counted it. Now it is counted as any handshake closed to make room, and the worker's
/// session, whose connection it was, goes on.
fn handshake_on_a_workers_path_makes_room() {
    let (data, truth) = problem();
    let token = Token::random();
    let mut config = remote(2, &token);
    // Four slots (the driver keeps at least twice its count of workers, four here too).
    config.max_strangers = 4;
    let slots = config.max_strangers;
    let mut driver = Driver::bind(config).expect("the driver listens");
    let endpoint = driver.endpoint().to_owned();
    let proxy = wire::HelloOnPath::start(&endpoint, "w1");
    let mut workers = vec![
        spawn_worker("w0", &endpoint, &token),
        spawn_worker("w1", &proxy.endpoint(), &token),
    ];
    driver.wait_for_workers().expect("both workers join");
    let attacked = std::sync::Arc::new(AtomicBool::new(false));
    let attack = {
        let (address, attacked) = (
            endpoint.trim_start_matches("tcp://").to_owned(),
            attacked.clone(),
        );
        std::thread::spawn(move || {
            // The hello on the path is heard (the proxy sends it at the worker's first
            // result) before any stranger's: its handshake is the oldest.
            let wait = Duration::from_secs(30);
            let challenged = proxy.challenged_within(wait);
            let mut holders = Vec::new();
            let mut answered = false;
            if challenged {
                // The other slots, then one more: the last hello makes room.
                holders = wire::hold_handshakes(&address, slots);
                answered = wire::all_answered(&mut holders, wait);
            }
            attacked.store(true, Ordering::SeqCst);
            (challenged, answered, holders)
        })
    };
    // Trained on 400 updates past the attack: their results reach the driver behind what
    // the link made of the last stranger's hello, so that it is counted by then.
    let mut from = None;
    driver.observe(move |progress, _: &Array1<f64>| {
        let attacked = attacked.load(Ordering::SeqCst);
        match attacked.then(|| *from.get_or_insert(progress.updates)) {
            Some(from) if progress.updates >= from + 400 => Flow::Stop,
            _ => Flow::Continue,
        }
    });
    let w = gd(&mut driver, &data, &plan(1_000_000, Misbehave::Nothing));
    let (challenged, answered, holders) = attack.join().expect("the attack thread ends");
    let report = driver.finish().expect("the run is unaffected");
    drop(holders);
    print_counts(&report);
    assert!(
        challenged,
        "the driver challenged the hello put on the path"
    );
    assert!(answered, "the driver heard every stranger's hello");
    assert_eq!(
        report.stats.strangers_turned_away, 1,
        "the handshake on the worker's connection made room, and was counted"
    );
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    assert_eq!(report.stats.lost_workers, 0, "no worker was lost");
    let rows: Vec<_> = report.workers.iter().filter(|w| w.name == "w1").collect();
    assert!(
        rows.len() == 1 && rows[0].alive && rows[0].incarnation == 0,
        "the worker's first session went on to the end: {rows:?}"
    );
    for worker in &mut workers {
        assert!(worker.wait().expect("workers exit").success());
    }
}

/// A stranger on one host opens fresh connections faster than a distant worker's handshake
/// takes, half of them saying hello: each newer one closed the oldest waiting connection (or
/// handshake), the worker's among them, and the worker never joined. Now a cap makes room at
/// the expense of the host that holds the most places: the flood only closes its own, and the
/// worker, 50 ms away each way, joins and trains while it goes on.
fn one_hosts_flood_keeps_no_distant_worker_out() {
    let (data, truth) = problem();
    let token = Token::random();
    let mut config = remote(1, &token);
    // 4 open handshakes, 16 connections waiting: the flood below is ten times what it takes
    // to replace them all within the worker's round trip (100 ms).
    config.max_strangers = 4;
    config.join_timeout = Duration::from_secs(20);
    let mut driver = Driver::bind(config).expect("the driver listens");
    let endpoint = driver.endpoint().to_owned();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flood = {
        let (address, stop) = (
            endpoint.trim_start_matches("tcp://").to_owned(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            let attacker = std::net::Ipv4Addr::new(127, 0, 0, 2).into();
            let pause = Duration::from_millis(2);
            wire::flood_from(attacker, &address, pause, &stop, Duration::from_secs(30))
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let relay = test_support::DelayRelay::start(&endpoint, Duration::from_millis(50));
    let mut worker = spawn_worker("w0", &relay.endpoint(), &token);
    let joined = driver.wait_for_workers();
    let w = joined
        .is_ok()
        .then(|| gd(&mut driver, &data, &plan(30, Misbehave::Nothing)));
    stop.store(true, Ordering::SeqCst);
    let flood = flood.join().expect("the flood thread ends");
    println!("    flood: {flood:?}");
    joined.expect("the worker joins while the flood goes on");
    assert!(
        !flood.ended_by_bound,
        "the run trained before the flood's bound"
    );
    let report = driver.finish().expect("the run trains");
    print_counts(&report);
    let w = w.expect("trained");
    assert!(error(&w, &truth) < 0.1, "error {}", error(&w, &truth));
    // Each of the flood's hellos is answered before its next: the gate holds its cap of them.
    assert!(
        report.stats.strangers_turned_away >= 1,
        "the flood's handshakes made room for each other"
    );
    assert!(worker.wait().expect("the worker exits").success());
}

fn deaf_driver_is_given_up_on() {
    let endpoint = wire::deaf_driver();
    let mut options = WorkerOptions::new("w0".into(), endpoint);
    options.token = Some(Token::random());
    // A driver's silence is never judged, and the peer is reached at once.
    options.driver_timeout = None;
    options.connect_timeout = Duration::from_secs(1);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(asyncopt_runtime::worker::run(options)));
    let ended = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the worker gives up rather than wait forever");
    match ended {
        Err(RuntimeError::DriverLost(reason)) => {
            assert!(
                reason.contains("has not answered this worker's hello"),
                "{reason}"
            )
        }
        other => panic!("expected the driver given up on, got {other:?}"),
    }
}

/// What a worker thread ended with.
type WorkerEnded =
    std::sync::mpsc::Receiver<Result<asyncopt_runtime::worker::RunEnd, RuntimeError>>;

/// A worker on a thread of its own, admitted by a fake driver holding its token (`adjust` sets
/// its other options): the driver, and what the worker ends with.
fn admitted_worker(adjust: impl FnOnce(&mut WorkerOptions)) -> (wire::TokenDriver, WorkerEnded) {
    let token = Token::random();
    let (listener, endpoint) = wire::TokenDriver::listen();
    let mut options = worker_of(endpoint);
    options.token = Some(token.clone());
    adjust(&mut options);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(asyncopt_runtime::worker::run(options)));
    (wire::TokenDriver::admit(&listener, &token), rx)
}

/// Tells the worker `driver` admitted that the run is over, and checks it ends cleanly.
fn shut_down(driver: &mut wire::TokenDriver, ended: WorkerEnded) {
    use asyncopt_runtime::protocol::ToWorker;
    driver.send(&ToWorker::Shutdown { another_run: false });
    let ended = ended
        .recv_timeout(Duration::from_secs(60))
        .expect("the worker ends");
    assert!(ended.is_ok(), "{ended:?}");
}

/// Runs a worker with `options` on a thread of its own, its warnings counted; what it ended
/// with (within `wait`) and how many warnings it logged.
fn run_worker_counting_warnings(
    options: WorkerOptions,
    wait: Duration,
) -> (Result<asyncopt_runtime::worker::RunEnd, RuntimeError>, u64) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tx.send(test_support::levels_logged(|| {
            asyncopt_runtime::worker::run(options)
        }))
    });
    let (ended, levels) = rx.recv_timeout(wait).expect("the worker ends in time");
    (ended, warnings(&levels))
}

/// The warnings among the levels of events logged.
fn warnings(levels: &[tracing::Level]) -> u64 {
    levels
        .iter()
        .filter(|&&l| l == tracing::Level::WARN)
        .count() as u64
}

/// Options of a remote worker `w0` of the driver at `endpoint`, which it reaches at once.
fn worker_of(endpoint: String) -> WorkerOptions {
    let mut options = WorkerOptions::new("w0".into(), endpoint);
    options.token = Some(Token::random());
    options.connect_timeout = Duration::from_secs(1);
    options
}

/// A fake driver without the token refuses the worker in a plain frame. A worker told to keep
/// trying (`--reconnect`) does so within its window, and then names the refusal; one that was
/// not stops at once with it, as before.
fn unproven_refusal_is_tried_again() {
    let (endpoint, connections) = wire::refusing_driver("go away");
    let mut options = worker_of(endpoint.clone());
    options.reconnect = Some(Duration::from_secs(3));
    let (ended, _) = run_worker_counting_warnings(options, Duration::from_secs(60));
    match ended {
        Err(RuntimeError::Refused(reason)) => {
            assert!(reason.contains("refused this worker: go away"), "{reason}")
        }
        other => panic!("expected the refusal named, got {other:?}"),
    }
    let tries = connections.load(Ordering::SeqCst);
    assert!(tries >= 3, "tried {tries} times within the window");

    let (endpoint, connections) = wire::refusing_driver("go away");
    let (ended, _) = run_worker_counting_warnings(worker_of(endpoint), Duration::from_secs(60));
    match ended {
        Err(RuntimeError::Refused(reason)) => {
            assert_eq!(reason, "the driver refused this worker: go away")
        }
        other => panic!("expected the refusal, got {other:?}"),
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

/// A fake driver without the token refuses the worker with a reason of its own making: line
/// breaks to forge log lines, an escape sequence that clears the terminal, 3 KiB of text. The
/// worker's error (its last line on stderr) shows it as the driver's text is shown everywhere
/// else: control characters escaped, at most 400 characters.
fn fake_refusal_is_one_bounded_line() {
    let forged = format!(
        "go away\nERROR the run finished, all data deleted\u{1b}[2J\u{7}{}",
        "x".repeat(3000)
    );
    let (endpoint, _) = wire::refusing_driver(&forged);
    let (ended, _) = run_worker_counting_warnings(worker_of(endpoint), Duration::from_secs(60));
    let Err(RuntimeError::Refused(reason)) = ended else {
        panic!("expected the refusal, got {ended:?}");
    };
    assert!(
        reason.starts_with("the driver refused this worker: go away\\nERROR the run"),
        "{reason}"
    );
    assert!(!reason.chars().any(char::is_control), "{reason:?}");
    assert!(reason.len() < 500, "{} bytes", reason.len());
}

/// A fake driver without the token refuses a worker process with a reason that, shown as it
/// is, would reverse the rest of the line (U+202E), start a forged log line (U+2028, U+2029),
/// hide text (U+200B, tags) and reorder it (isolates). The worker's stderr shows each of them
/// escaped, and the Greek of the reason as it is.
fn fake_refusal_keeps_the_layout() {
    let forged = "δεν\u{202E})txet desrever(\u{202C}\u{2028}INFO forged line\u{2029}and \
                  \u{200B}\u{2066}isolate\u{2069}\u{E0041}\u{85}nel";
    let (endpoint, _) = wire::refusing_driver(forged);
    let worker = spawn_worker("w0", &endpoint, &Token::random());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(worker.wait_with_output()));
    let output = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the worker exits on the refusal")
        .expect("the worker's output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("the driver refused this worker: δεν\\u{202e})txet"),
        "{stderr}"
    );
    for hidden in [
        '\u{202E}', '\u{202C}', '\u{2028}', '\u{2029}', '\u{200B}', '\u{2066}',
    ] {
        assert!(!stderr.contains(hidden), "{hidden:?} in {stderr:?}");
    }
    for escaped in [
        "\\u{2028}INFO forged",
        "\\u{2066}isolate\\u{2069}",
        "\\u{e0041}",
    ] {
        assert!(stderr.contains(escaped), "{escaped} not in {stderr}");
    }
}

/// A worker without a token holds the public loopback token, which any peer holds too, and no
/// real driver beyond loopback admits it (one listening there needs a token): whatever answers
/// it at such an address is a peer that could pretend to be its driver, admit it and order it
/// to read files of its host and report their lines. It refuses to start, saying it needs the
/// token, and never connects; in words that fit a program of an author's own, which may have no
/// `--token-file` flag. (`tcp://0.0.0.0:PORT` is not loopback by its name, and reaches the fake
/// driver on 127.0.0.1 of this host.)
fn tokenless_worker_stays_on_loopback() {
    let (endpoint, connections) = wire::refusing_driver("go away");
    let beyond = endpoint.replace("tcp://127.0.0.1:", "tcp://0.0.0.0:");
    let mut options = WorkerOptions::new("w0".into(), beyond);
    options.connect_timeout = Duration::from_secs(1);
    let (ended, _) = run_worker_counting_warnings(options, Duration::from_secs(60));
    match ended {
        Err(RuntimeError::Config(reason)) => {
            assert!(reason.contains("the token its driver holds"), "{reason}");
            assert!(!reason.contains("--"), "names a flag: {reason}")
        }
        other => panic!("expected a refusal to start, got {other:?}"),
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0, "it connected");
    // On loopback it goes on as before: the same fake driver's refusal.
    let mut options = WorkerOptions::new("w0".into(), endpoint);
    options.connect_timeout = Duration::from_secs(1);
    let (ended, _) = run_worker_counting_warnings(options, Duration::from_secs(60));
    assert!(
        matches!(&ended, Err(RuntimeError::Refused(r)) if r.contains("go away")),
        "{ended:?}"
    );
}

/// A fake driver floods the worker with tiny frames that are not ours. The worker logs a few
/// of them, not each, and they do not count as hearing from the driver: it gives up on the
/// driver's silence in its time.
fn flood_is_logged_sparingly() {
    let (endpoint, written) = wire::flooding_driver();
    let mut options = worker_of(endpoint);
    options.driver_timeout = Some(Duration::from_secs(2));
    let (ended, warnings) = run_worker_counting_warnings(options, Duration::from_secs(60));
    let frames = written.load(Ordering::SeqCst);
    println!("    {frames} frames written, {warnings} warnings");
    match ended {
        Err(RuntimeError::DriverLost(reason)) => assert!(reason.contains("silent"), "{reason}"),
        other => panic!("expected the driver's silence judged, got {other:?}"),
    }
    assert!(frames >= 10_000, "{frames} frames");
    assert!(warnings <= 40, "{warnings} warnings for {frames} frames");
}

/// Before the driver proved the token, a frame declared at 64 MiB closes the connection:
/// the worker does not reserve it and wait for its bytes. Whatever sent it proved nothing, so
/// the join is tried again within the connect window, as after a close, each try closing its
/// connection; past the window the worker names the broken connection.
fn huge_frame_before_proof_closes() {
    let (endpoint, closed) = wire::huge_frame_driver();
    let mut options = worker_of(endpoint);
    // Silence is never judged: only the frame limit can end this before the hello's deadline.
    options.driver_timeout = None;
    let (ended, _) = run_worker_counting_warnings(options, Duration::from_secs(60));
    match ended {
        Err(RuntimeError::DriverLost(reason)) => {
            assert!(!reason.contains("has not answered"), "{reason}");
            assert!(
                reason.contains("broke before the driver answered")
                    && reason.contains("--connect-timeout"),
                "{reason}"
            )
        }
        other => panic!("expected the connection lost, got {other:?}"),
    }
    std::thread::sleep(Duration::from_millis(200));
    let closed = closed.load(Ordering::SeqCst);
    println!("    {closed} connections closed by the worker");
    assert!(
        closed >= 2,
        "the worker tried again: {closed} connections closed"
    );
}

/// How long the join loop below goes on.
const JOIN_LOOP: Duration = Duration::from_secs(6);

/// A peer holding the token joins in a loop under fresh names, each process killed at once
/// (an insider, or a restart loop gone wrong): every join was admitted, given a partition, and
/// written in the log (274 joins in 30 s shipped 421 MB). Now joins past the driver's budget
/// (a burst of workers + respawns, then one per 5 s) are told to try again later, and the run
/// trains on.
fn join_loop_is_bounded() {
    let (data, truth) = problem();
    let token = Token::random();
    let (mut driver, endpoint, mut workers) = two_workers_joined(&token);
    let looped = std::sync::Arc::new(AtomicBool::new(false));
    let looper = {
        let (endpoint, token, looped) = (endpoint.clone(), token.clone(), looped.clone());
        std::thread::spawn(move || {
            let begun = Instant::now();
            let mut tries = 0;
            while begun.elapsed() < JOIN_LOOP {
                let mut joiner = spawn_worker(&format!("x{tries}"), &endpoint, &token);
                std::thread::sleep(Duration::from_millis(250));
                let _ = joiner.kill();
                let _ = joiner.wait();
                tries += 1;
            }
            looped.store(true, Ordering::SeqCst);
            (tries, begun.elapsed())
        })
    };
    stop_once_after_400(&mut driver, looped);
    let ((w, report), levels) = test_support::levels_logged(|| {
        let w = gd(&mut driver, &data, &plan(1_000_000, Misbehave::Nothing));
        (w, driver.finish().expect("the run trains on"))
    });
    let (tries, took) = looper.join().expect("the join loop ends");
    let joiners = report
        .workers
        .iter()
        .filter(|w| w.name.starts_with('x'))
        .count() as u64
        + report.forgotten_workers.workers;
    print_counts(&report);
    println!(
        "    {tries} joins tried in {:.1} s: {joiners} admitted, {} told to try later, \
         {} partition bytes sent, {} warnings",
        took.as_secs_f64(),
        report.stats.joins_refused,
        report.stats.data_bytes,
        warnings(&levels)
    );
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    // A burst of 4 (2 workers, 2 respawns), then one per 5 s.
    let bound = 4 + took.as_secs() / 5 + 1;
    assert!(joiners <= bound, "{joiners} of {tries} joins admitted");
    assert!(tries as u64 > bound, "the loop tried more than the budget");
    for worker in &mut workers {
        assert!(worker.wait().expect("workers exit").success());
    }
}

/// A driver holding the token (the run's, or whoever took its address) sends a partition in
/// chunks that add up to more than the worker's host can hold: 65,536 chunks declared, or
/// chunks that outgrow the first. The worker kept every chunk it was sent until the last,
/// without bound. Now it refuses such a partition at its first chunk (past half the memory its
/// host has available, counting the partitions arriving already and all else it holds), or at
/// the chunk that outgrows the first, and tells the driver, keeping nothing of it.
fn endless_partition_is_refused() {
    use asyncopt_runtime::protocol::{TaskOrder, ToDriver, ToWorker};
    use asyncopt_runtime::worker::MAX_PARTITION_CHUNKS;
    let budget = asyncopt_runtime::data::libsvm::memory_budget();
    assert!(
        budget < u64::MAX,
        "a host whose available memory this test can read"
    );
    let (mut driver, rx) = admitted_worker(|_| {});
    let chunk = |partition: u32, chunk: u32, chunks: u32, len: usize| ToWorker::Partition {
        dataset: 1,
        partition,
        chunk,
        chunks,
        body: vec![0u8; len].into(),
    };
    // The first chunk of a partition of `MAX_PARTITION_CHUNKS` that declares `share` of the
    // budget.
    let most = MAX_PARTITION_CHUNKS;
    let first = |partition, share: f64| {
        let len = (budget as f64 * share / f64::from(most)) as usize + 1;
        chunk(partition, 0, most, len)
    };
    driver.send(&first(0, 1.5)); // beyond the budget alone
    driver.send(&first(1, 0.6)); // within it: arriving
    driver.send(&first(2, 0.6)); // beyond it with partition 1
    driver.send(&chunk(3, 0, 4, 1024));
    driver.send(&chunk(3, 1, 4, 4096)); // longer than its first chunk
                                        // A task on a partition the worker does not hold: its failure, from the task thread,
                                        // comes after the answers to the chunks above.
    driver.send(&ToWorker::Task(TaskOrder {
        seq: 7,
        versions: Vec::new(),
        task: "no such task".into(),
        partition: 0,
        reads: Vec::new(),
        captures: Default::default(),
        sample: None,
        history: Vec::new(),
        sleep_s: 0.0,
    }));
    let mut refused = Vec::new();
    loop {
        match driver.recv() {
            ToDriver::DataFailed { partition, message } => {
                println!("    partition {partition}: {message}");
                refused.push(partition);
            }
            ToDriver::Failed { seq: 7, .. } => break,
            ToDriver::Heartbeat => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(refused, [0, 2, 3]);
    shut_down(&mut driver, rx);
}

/// A driver holding the token (the run's, or whoever took its address) lies in every kind of
/// order a worker takes: a welcome with a heartbeat period past a minute (refused, the session
/// ended), or with a NaN straggler factor, no cache and a zero period, a partition that
/// is not one, chunks out of range, splits of a file the worker may not read and of one it
/// may whose blocks lie past its end or whose checksum is wrong, versions patching or aliasing
/// versions it never sent, a NaN sleep and a sample of 2^32 rows, a challenge inside the
/// session. Each order the worker answers gets a failure naming what is wrong (never the
/// contents of a file it may not read), the others are dropped; the worker neither panics nor
/// hangs, and ends cleanly when told to.
fn lying_driver_crashes_no_worker() {
    use asyncopt_runtime::data::split::Block;
    use asyncopt_runtime::protocol::{ShippedVersion, TaskOrder, ToDriver, ToWorker, VersionBody};
    let dir = std::env::temp_dir().join(format!("trust-lying-driver-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let (granted, secret) = (dir.join("granted.svm"), dir.join("secret"));
    std::fs::write(&granted, "1 1:1\n").expect("written");
    std::fs::write(&secret, "not yours\n").expect("written");
    // A heartbeat period past a minute ends the session at once, named: the worker would
    // wait three of them for a silent driver.
    let (mut refused, ended) = admitted_worker(|_| {});
    refused.send(&ToWorker::Welcome(asyncopt_runtime::protocol::Welcome {
        index: 0,
        delay_factor: 1.0,
        cache_versions: 4,
        heartbeat_ms: u64::MAX,
    }));
    let ended = ended
        .recv_timeout(Duration::from_secs(60))
        .expect("the worker ends");
    assert!(
        matches!(&ended, Err(e) if e.to_string().contains("more than the 60 s a worker follows")),
        "{ended:?}"
    );
    let (mut driver, rx) = admitted_worker(|options| options.readable = vec![granted.clone()]);
    driver.send(&ToWorker::Welcome(asyncopt_runtime::protocol::Welcome {
        index: u32::MAX,
        delay_factor: f64::NAN,
        cache_versions: 0,
        // The shortest period there is: a worker beats every millisecond, and is not hurt.
        heartbeat_ms: 0,
    }));
    let chunk = |partition, chunk, chunks, body: Vec<u8>| ToWorker::Partition {
        dataset: 1,
        partition,
        chunk,
        chunks,
        body: body.into(),
    };
    driver.send(&chunk(0, 0, 1, vec![0xff; 64])); // not a partition
    driver.send(&chunk(1, 5, 3, vec![0; 8])); // past its count: dropped
    driver.send(&chunk(2, 1, 2, vec![0; 8])); // without its start: dropped
    let split =
        |path: &std::path::Path, partition, bytes: std::ops::Range<u64>| ToWorker::ReadSplit {
            dataset: 1,
            order: asyncopt_runtime::data::SplitOrder {
                path: path.to_owned(),
                name: "d".into(),
                partition,
                seed: 0,
                blocks: vec![Block {
                    rows: 0..u64::MAX,
                    bytes,
                    first_line: 1,
                }],
                options: Default::default(),
                compressed: false,
                labels: Default::default(),
                bias: None,
                checksums: vec![0],
                text_bytes: 6,
            },
        };
    driver.send(&split(&secret, 3, 0..6));
    driver.send(&split(&granted, 4, 0..u64::MAX));
    driver.send(&split(&granted, 5, 0..6)); // a wrong checksum
    let task = |seq, versions: Vec<ShippedVersion>, reads| {
        ToWorker::Task(TaskOrder {
            seq,
            versions,
            task: "no such task".into(),
            partition: 0,
            reads,
            captures: Default::default(),
            sample: Some(asyncopt_runtime::protocol::Sample {
                batch: u32::MAX,
                k: u64::MAX,
            }),
            history: Vec::new(),
            sleep_s: f64::NAN,
        })
    };
    let shipped = |slot, version, body| ShippedVersion {
        slot,
        version,
        body,
    };
    let patch = VersionBody::Patch {
        base: 41,
        words: vec![1, 2, 3, u32::MAX],
        values: vec![0; 32].into(),
    };
    let alias = VersionBody::Alias {
        slot: 9,
        version: 9,
    };
    driver.send(&task(10, vec![shipped(0, 42, patch)], vec![(0, 42)]));
    driver.send(&task(11, vec![shipped(1, 1, alias)], vec![(1, 1)]));
    driver.send(&ToWorker::Challenge {
        nonce: vec![0; 32].into(),
        proof: vec![0; 32].into(),
        encrypt: true,
    });
    driver.send(&task(12, vec![], vec![]));
    let (mut data, mut failed) = (Vec::new(), Vec::new());
    loop {
        match driver.recv() {
            ToDriver::DataFailed { partition, message } => {
                println!("    partition {partition}: {message}");
                data.push((partition, message));
            }
            ToDriver::Failed { seq, message } => {
                println!("    task {seq}: {message}");
                failed.push(seq);
                if seq == 12 {
                    break;
                }
            }
            ToDriver::Heartbeat => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let partitions: Vec<u32> = data.iter().map(|(p, _)| *p).collect();
    assert_eq!(partitions, [0, 3, 4, 5], "{data:?}");
    assert!(data[0].1.contains("does not decode"), "{}", data[0].1);
    assert!(data[1].1.contains("--data"), "{}", data[1].1);
    assert!(
        !data.iter().any(|(_, m)| m.contains("not yours")),
        "{data:?}"
    );
    assert_eq!(failed, [10, 11, 12]);
    shut_down(&mut driver, rx);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A peer holding the token records a handshake (its hello, and its proof for the driver's
/// challenge, never sent) and replays it on a fresh connection under the same name, as one
/// who captured a worker's handshake on the network would: the driver's new challenge carries
/// a fresh nonce, so the recorded proof does not check and the replay is refused; a real
/// worker then joins and trains, the replaying name never in the run.
fn replayed_handshake_is_refused() {
    let (data, truth) = problem();
    let token = Token::random();
    let mut driver = Driver::bind(remote(1, &token)).expect("the driver listens");
    let endpoint = driver.endpoint().to_owned();
    let address = endpoint.trim_start_matches("tcp://").to_owned();
    let replayed = wire::replayed_handshake(&address, "x-replay", &token);
    println!("    {replayed:?}");
    assert!(
        replayed.fresh_nonce,
        "the driver's second challenge is its own"
    );
    let refused = format!("{:?}", replayed.answer);
    assert!(
        refused.contains("does not hold the run's token"),
        "{refused}"
    );
    let mut worker = spawn_worker("w0", &endpoint, &token);
    driver.wait_for_workers().expect("the real worker joins");
    let w = gd(&mut driver, &data, &plan(300, Misbehave::Nothing));
    let report = driver.finish().expect("the run trains");
    print_counts(&report);
    assert!(report.stats.refused_workers >= 1);
    assert!(report.workers.iter().all(|w| w.name == "w0"));
    assert!(error(&w, &truth) < 1e-6, "error {}", error(&w, &truth));
    assert!(worker.wait().expect("the worker exits").success());
}

/// A driver holding the token sends orders whose lists hold millions of empty entries, a
/// byte or a few each on the wire and 4 to 72 bytes each in memory: a task reading 16 million
/// history tables, one of 4 million broadcast reads, one carrying a million versions, one a
/// version patching 8 million words all 0 (a patch's words ascend), a split of 2 million
/// blocks. The worker decoded each whole (16 MiB on the wire became 384 MiB), and
/// took the tasks, counting none of it against its memory budget. Now a list longer than any
/// driver sends does not decode: each order is dropped as malformed, and the worker's memory
/// stays where it was.
fn bloated_orders_are_refused() {
    use asyncopt_runtime::data::split::Block;
    use asyncopt_runtime::protocol::{ShippedVersion, TaskOrder, ToDriver, ToWorker, VersionBody};
    let (mut driver, rx) = admitted_worker(|_| {});
    let task = |seq| TaskOrder {
        seq,
        versions: Vec::new(),
        task: "no such task".into(),
        partition: 0,
        reads: Vec::new(),
        captures: Default::default(),
        sample: None,
        history: Vec::new(),
        sleep_s: 0.0,
    };
    // Each sealed as it is made, and dropped: the sealed frames are 38 MiB in all.
    let mut bloated = Vec::new();
    let mut order = task(1);
    order.history = vec![Default::default(); 16 << 20];
    bloated.push(driver.seal(&ToWorker::Task(order)));
    let mut order = task(2);
    order.reads = vec![(0, 0); 4 << 20];
    bloated.push(driver.seal(&ToWorker::Task(order)));
    let mut order = task(3);
    let alias = ShippedVersion {
        slot: 0,
        version: 0,
        body: VersionBody::Alias {
            slot: 0,
            version: 0,
        },
    };
    order.versions = vec![alias; 1 << 20];
    bloated.push(driver.seal(&ToWorker::Task(order)));
    let mut order = task(5);
    order.versions = vec![ShippedVersion {
        slot: 0,
        version: 1,
        body: VersionBody::Patch {
            base: 0,
            words: vec![0; 8 << 20],
            values: Default::default(),
        },
    }];
    bloated.push(driver.seal(&ToWorker::Task(order)));
    let blocks = vec![
        Block {
            rows: 0..0,
            bytes: 0..0,
            first_line: 0,
        };
        2 << 20
    ];
    bloated.push(driver.seal(&ToWorker::ReadSplit {
        dataset: 1,
        order: asyncopt_runtime::data::SplitOrder {
            path: "/nonexistent/data.svm".into(),
            name: "d".into(),
            partition: 4,
            seed: 0,
            blocks,
            options: Default::default(),
            compressed: false,
            labels: Default::default(),
            bias: None,
            checksums: Vec::new(),
            text_bytes: 0,
        },
    }));
    // This process's peak from here: the worker is a thread of it.
    std::fs::write("/proc/self/clear_refs", "5").expect("the peak resident memory is reset");
    let before = peak_resident_mib();
    for sealed in &bloated {
        driver.write(sealed);
    }
    driver.send(&ToWorker::Task(task(7)));
    let mut answered = Vec::new();
    loop {
        match driver.recv() {
            ToDriver::Failed { seq, message } => {
                println!("    task {seq}: {message}");
                answered.push(seq);
                if seq == 7 {
                    break;
                }
            }
            ToDriver::DataFailed { partition, message } => {
                println!("    partition {partition}: {message}");
                answered.push(u64::from(partition) + 1000);
            }
            ToDriver::Heartbeat => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let grown = peak_resident_mib().saturating_sub(before);
    println!("    peak resident memory grew by {grown} MiB");
    assert_eq!(answered, [7], "only the order of a sane size is taken");
    assert!(grown < 100, "grew by {grown} MiB");
    shut_down(&mut driver, rx);
}

/// A driver holding the token ships a partition of one row followed by 32 million row ids, a
/// byte each on the wire (32 MiB, within the worker's memory budget) and 8 in memory: the
/// worker decoded them all (256 MiB) before it found one id per row was wanted. Now the ids
/// decode up to the rows' count, and the partition is refused having cost its frame.
fn row_ids_beyond_rows_are_refused() {
    let row = Dataset::new(
        "d",
        Features::Dense(Array2::zeros((1, 1))),
        Array1::zeros(1),
    )
    .expect("a dataset");
    // Bytes below 128 are the varints of as many small ids.
    let ids = vec![1u8; 32 << 20];
    let body = postcard::to_allocvec(&(0u32, 0u64, &row, &ids)).expect("encodes");
    drop(ids);
    let (refused, grown) = hostile_partition(body);
    assert!(
        refused.contains("does not decode: its row ids, one per row, are more than its 1 rows"),
        "{refused}"
    );
    assert!(grown < 160, "grew by {grown} MiB");
}

/// A driver holding the token ships a sparse partition of one row whose row pointers declare
/// 32 million nonzeros, followed by their column indices, a byte each on the wire (32 MiB)
/// and 8 in memory: the worker decoded them all (256 MiB) before sprs checked them against
/// the values, absent. Now the nonzeros a frame can hold (a value of 8 bytes each) bound the
/// row pointers, and the partition is refused before any index decodes, saying why.
fn sparse_indices_beyond_the_frame_are_refused() {
    #[derive(Serialize)]
    struct Csr {
        storage: sprs::CompressedStorage,
        nrows: usize,
        ncols: usize,
        indptr: Vec<usize>,
        indices: serde_bytes::ByteBuf,
        data: Vec<f64>,
    }
    #[derive(Serialize)]
    enum Kind {
        Sparse(Csr),
    }
    let nonzeros = 32 << 20;
    let features = Kind::Sparse(Csr {
        storage: sprs::CompressedStorage::CSR,
        nrows: 1,
        ncols: 1,
        indptr: vec![0, nonzeros],
        // As a list of bytes: a length, then 0s, the varints of as many column indices.
        indices: vec![0u8; nonzeros].into(),
        data: Vec::new(),
    });
    let rows = ("d", features, Array1::<f64>::zeros(1));
    let body = postcard::to_allocvec(&(0u32, 0u64, rows, [0u64])).expect("encodes");
    let (refused, grown) = hostile_partition(body);
    assert!(
        refused.contains("nonzeros cannot fit in the frame"),
        "{refused}"
    );
    assert!(grown < 160, "grew by {grown} MiB");
}

/// Ships `body` as partition 0 to a worker admitted by a driver holding the token: the
/// worker's refusal, and how much this process's peak resident memory grew meanwhile (the
/// worker is a thread of it).
fn hostile_partition(body: Vec<u8>) -> (String, u64) {
    use asyncopt_runtime::protocol::{ToDriver, ToWorker};
    let (mut driver, rx) = admitted_worker(|_| {});
    let sealed = driver.seal(&ToWorker::Partition {
        dataset: 1,
        partition: 0,
        chunk: 0,
        chunks: 1,
        body: body.into(),
    });
    std::fs::write("/proc/self/clear_refs", "5").expect("the peak resident memory is reset");
    let before = peak_resident_mib();
    driver.write(&sealed);
    drop(sealed);
    let refused = loop {
        match driver.recv() {
            ToDriver::DataFailed {
                partition: 0,
                message,
            } => break message,
            ToDriver::Heartbeat => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    let grown = peak_resident_mib().saturating_sub(before);
    println!("    {refused}; peak resident memory grew by {grown} MiB");
    shut_down(&mut driver, rx);
    (refused, grown)
}
