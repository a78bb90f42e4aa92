//! ASYNC's API against real worker processes: what a result read (and `asvrg` never mixing
//! snapshots), pinned reads of older versions, barriers that select workers, drains of every
//! result in hand, two asynchronous sites in one loop, and the clock.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

mod library_hyper;

use async_train::cli::RunArgs;
use async_train::job;
use asyncopt_algorithms::{Algorithm, Loss, Model, Params, Precondition};
use asyncopt_runtime::checkpoint::{self, CheckpointPolicy};
use asyncopt_runtime::data::{Dataset, LoadOptions, Rows, SharedOptions};
use asyncopt_runtime::{
    asp, async_optimizer, ClusterConfig, Collected, Driver, Flow, RunStats, RuntimeError,
    Stragglers,
};

fn main() {
    asyncopt_runtime::run_worker_if_spawned();
    test_support::run_tests(&[
        (
            "asvrg_never_combines_a_result_with_another_snapshot",
            asvrg_never_mixes_snapshots,
        ),
        (
            "a_pinned_read_is_served_and_sent_again_when_evicted",
            pinned_read_is_sent_again_when_evicted,
        ),
        (
            "a_pinned_read_of_a_version_never_published_is_a_clear_error",
            pinned_read_of_unknown_version_is_an_error,
        ),
        (
            "version_of_gives_the_latest_read_beside_a_pinned_one",
            version_of_prefers_the_latest_read,
        ),
        (
            "a_selecting_barrier_starves_the_worker_it_never_picks",
            selecting_barrier_starves_a_worker,
        ),
        (
            "a_selection_that_picks_nobody_is_a_deadlock_error",
            empty_selection_is_a_deadlock_error,
        ),
        (
            "a_selection_reading_the_table_keeps_every_worker_within_its_lead",
            selection_in_table_keeps_workers_even,
        ),
        (
            "a_rule_that_never_holds_is_overridden_and_counted",
            impossible_rule_is_overridden_and_counted,
        ),
        (
            "a_drain_returns_every_result_in_hand_once_as_one_update",
            drain_returns_every_result_in_hand,
        ),
        (
            "two_asynchronous_sites_in_one_loop_each_get_their_results",
            two_async_sites_in_one_loop,
        ),
        (
            "a_final_reduce_runs_after_a_stop_rule_ended_the_loop",
            final_reduce_runs_after_a_stop_rule,
        ),
        (
            "reduces_outside_the_loop_are_no_updates",
            reduces_outside_the_loop_are_no_updates,
        ),
        (
            "optimizers_of_one_name_resume_their_own_checkpoints",
            optimizers_of_one_name_resume_their_own_checkpoints,
        ),
        (
            "a_closure_reads_the_binding_rust_scopes_it_to",
            closures_read_what_rust_scopes_them_to,
        ),
        (
            "variables_named_like_the_expansion_s_own_are_the_author_s",
            names_of_the_expansion_are_the_author_s,
        ),
        (
            "optimizers_of_one_name_in_two_functions_run_their_own_closures",
            optimizers_of_one_name_run_their_own_closures,
        ),
        (
            "parts_a_type_s_check_refuses_end_the_run_saying_they_cannot_be_combined",
            refused_parts_cannot_be_combined,
        ),
        (
            "a_resume_mid_epoch_reads_its_anchor",
            a_resume_mid_epoch_reads_its_anchor,
        ),
        (
            "a_resume_reads_a_fixed_lag_within_the_kept_versions",
            a_resume_reads_a_fixed_lag,
        ),
        (
            "a_resume_reads_a_fixed_lag_on_the_driver_with_value_at",
            a_resume_reads_a_fixed_lag_with_value_at,
        ),
        (
            "local_workers_read_a_shared_file_without_cluster_config_worker_data",
            local_workers_read_a_shared_file_without_worker_data,
        ),
        (
            "a_token_holding_driver_that_did_not_start_a_worker_cannot_have_it_read_a_file",
            a_stand_in_driver_cannot_grant_a_file,
        ),
        (
            "garbage_on_a_local_workers_grants_pipe_is_a_clear_refusal",
            garbage_on_the_grants_pipe_is_a_clear_refusal,
        ),
        (
            "an_unset_hyperparameter_says_how_a_library_caller_sets_it",
            library_hyper::an_unset_hyperparameter_says_how_a_library_caller_sets_it,
        ),
        (
            "a_run_on_a_thread_of_its_own_trains_as_on_the_main_thread",
            run_on_a_spawned_thread_trains_alike,
        ),
    ]);
}

/// Synchronous SGD on `driver` on a thread of its own; the driver comes back with the model.
fn sgd_on_a_thread(mut driver: Driver, data: &Arc<Dataset>, params: &Params) -> (Driver, Model) {
    let (data, params) = (data.clone(), params.clone());
    std::thread::spawn(move || {
        let w = asyncopt_algorithms::sgd(&mut driver, &data, &params);
        (driver, w)
    })
    .join()
    .expect("the run's thread ends")
}

fn run_on_a_spawned_thread_trains_alike() {
    let data = shared("cal_housing.scale.xz");
    let params = Params {
        batch: 16,
        updates: 20,
        step: 0.05,
        ..Params::new(Loss::LeastSquares)
    };
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let here = asyncopt_algorithms::sgd(&mut driver, &data, &params);
    let report = driver
        .finish()
        .expect("the run on the main thread succeeds");
    assert_eq!(report.stats.updates, 20);

    // Launched here, trained on another thread, finished back here; its observer, set here,
    // is called there.
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let observed = Arc::new(AtomicU64::new(0));
    let seen = observed.clone();
    driver.observe(move |_, _: &Model| {
        seen.fetch_add(1, Ordering::Relaxed);
        Flow::Continue
    });
    let (driver, there) = sgd_on_a_thread(driver, &data, &params);
    let report = driver.finish().expect("the run on its own thread succeeds");
    assert_eq!(report.stats.updates, 20);
    assert!(
        observed.load(Ordering::Relaxed) > 0,
        "the observer saw models"
    );
    assert!(here.iter().any(|&x| x != 0.0), "the runs trained: {here}");
    assert_eq!(
        here, there,
        "same seed, same synchronous method, same model"
    );
}

/// A result of one value per something that differs between partitions: its `Combine` adds
/// them, and its `check` refuses parts of different lengths.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct PerPartition(Vec<f64>);

impl asyncopt_runtime::Combine for PerPartition {
    fn combine(parts: Vec<Self>) -> Self {
        let mut sum = vec![0.0; parts.first().map_or(0, |p| p.0.len())];
        for part in parts {
            sum.iter_mut().zip(part.0).for_each(|(s, v)| *s += v);
        }
        PerPartition(sum)
    }

    fn check(parts: &[&Self]) -> Result<(), String> {
        let lengths: Vec<usize> = parts.iter().map(|p| p.0.len()).collect();
        match lengths.windows(2).all(|l| l[0] == l[1]) {
            true => Ok(()),
            false => Err(format!("lengths {lengths:?} differ")),
        }
    }
}

#[async_optimizer]
fn uncombinable(cx: &mut Driver, data: &Dataset, updates: &usize) -> f64 {
    let mut total: f64 = 0.0;
    for _ in 0..*updates {
        broadcast!(total);
        let parts: PerPartition =
            reduce!(data, |part| PerPartition(vec![1.0; 1 + part.id() as usize]));
        total += parts.0.iter().sum::<f64>();
    }
    total
}

fn refused_parts_cannot_be_combined() {
    let data = shared("cal_housing.scale.xz");
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    uncombinable(&mut driver, &data, &3);
    assert_eq!(
        driver.stats().updates,
        0,
        "a round whose parts cannot be combined updates nothing (the old code counted it)"
    );
    let error = driver.finish().expect_err("the run fails");
    let message = error.to_string();
    // The workers' results decoded; the author's `check` refused them together, and the
    // error says so with its reason, naming the task.
    assert!(
        message.contains("cannot be combined")
            && message.contains("lengths [1, 2] differ")
            && message.contains("uncombinable"),
        "{message}"
    );
    assert!(!message.contains("does not decode"), "{message}");
}

fn shared(name: &str) -> Arc<Dataset> {
    let path = test_support::data(name);
    Arc::new(Dataset::load(&path, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}")))
}

fn local(workers: usize) -> ClusterConfig {
    let mut config = ClusterConfig::local(workers);
    config.seed = 7;
    config
}

/// A loop a stop rule ends after a few of its 1000 passes, then a final evaluation.
#[async_optimizer]
fn evaluated_at_the_end(cx: &mut Driver, data: &Dataset) -> (f64, f64) {
    let mut w: f64 = 0.0;
    for _ in 0..1000 {
        broadcast!(w);
        w = reduce!(data, |_part| *w + 1.0);
    }
    let score: f64 = reduce!(data, |_part| *w * 2.0);
    (w, score)
}

fn final_reduce_runs_after_a_stop_rule() {
    let data = shared("cal_housing.scale.xz");
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    assert_eq!(
        driver.seed(),
        7,
        "the run's seed, for the optimizer's own draws"
    );
    driver.observe(|progress, _: &f64| {
        if progress.updates >= 3 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    });
    let (w, score) = evaluated_at_the_end(&mut driver, &data);
    driver.finish().expect("the run succeeds");
    assert!((1.0..1000.0).contains(&w), "the rule ended the loop at {w}");
    // The old code returned the score's Default (0) without running it.
    assert_eq!(
        score,
        2.0 * w,
        "the final evaluation ran on the model the rule stopped at"
    );
}

/// A loop of `updates` updates between an initial reduce! and a final one.
#[async_optimizer]
fn bracketed(cx: &mut Driver, data: &Dataset, updates: &usize) -> f64 {
    let start: f64 = reduce!(data, |_part| 1.0);
    let mut w: f64 = start;
    for _ in 0..*updates {
        broadcast!(w);
        w = reduce!(data, |_part| *w + 1.0);
    }
    let score: f64 = reduce!(data, |_part| *w);
    score
}

fn reduces_outside_the_loop_are_no_updates() {
    let data = shared("cal_housing.scale.xz");
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let score = bracketed(&mut driver, &data, &5);
    let report = driver.finish().expect("the run succeeds");
    assert_eq!(score, 6.0);
    // The old code counted 7: the initial and the final reduce! as updates of the model.
    assert_eq!(report.stats.updates, 5, "--updates 5 reports 5");
}

/// The rows the partitions hold and the sum of their labels (a reduce without a barrier
/// combines every partition's result by their mean).
#[async_optimizer]
fn rows_and_labels(cx: &mut Driver, data: &Dataset) -> (f64, f64) {
    let rows: f64 = reduce!(data, |part| part.data().n_rows() as f64);
    let labels: f64 = reduce!(data, |part| part.data().labels().sum());
    let parts = cx.partitions(data) as f64;
    (rows * parts, labels * parts)
}

fn shared_options() -> SharedOptions {
    SharedOptions {
        load: LoadOptions::default(),
        eval_rows: SharedOptions::DEFAULT_EVAL_ROWS,
        seed: 7,
    }
}

/// A library user opens a shared dataset and starts local workers without listing the file
/// in `ClusterConfig::worker_data`: the workers refused it, and the run ended. Now the driver
/// grants its local workers the file itself, and they read every row of it.
fn local_workers_read_a_shared_file_without_worker_data() {
    let path = test_support::data("cal_housing.scale.xz");
    let data = Dataset::open_shared(&path, &shared_options()).unwrap_or_else(|e| panic!("{e}"));
    let mut config = local(2);
    config.partitions_per_worker = 2;
    config.max_respawns = 0;
    assert!(config.worker_data.is_empty());
    let mut driver = Driver::launch(config).expect("cluster starts");
    let (rows, labels) = rows_and_labels(&mut driver, &data);
    let report = driver
        .finish()
        .unwrap_or_else(|e| panic!("the run succeeds: {e}"));
    assert_eq!(
        report.stats.lost_workers, 0,
        "no worker was refused the file"
    );
    // The same rows as the dataset shipped whole.
    let shipped = shared("cal_housing.scale.xz");
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let (shipped_rows, shipped_labels) = rows_and_labels(&mut driver, &shipped);
    driver.finish().expect("the shipped run succeeds");
    assert_eq!(rows, shipped.n_rows() as f64);
    assert_eq!(rows, shipped_rows);
    assert!(
        (labels - shipped_labels).abs() <= 1e-9 * shipped_labels.abs().max(1.0),
        "{labels} against {shipped_labels}"
    );
}

/// Two small files in a fresh scratch folder, `secret.svm` and `granted.svm`.
fn two_files(name: &str) -> (test_support::Scratch, PathBuf, PathBuf) {
    let scratch = test_support::scratch(name);
    let (secret, granted) = (scratch.join("secret.svm"), scratch.join("granted.svm"));
    for file in [&secret, &granted] {
        std::fs::write(file, "1 1:0.5 2:1\n-1 1:1 2:0.5\n").expect("scratch is writable");
    }
    (scratch, secret, granted)
}

/// A driver holding the token that did not start its one worker: the worker started as a
/// driver starts its local workers, its grants pipe held by this test, `on_pipe` written there.
fn stand_in_driver(on_pipe: &[u8]) -> (Driver, std::process::Child, std::process::ChildStdin) {
    let token = asyncopt_runtime::Token::random();
    let mut config = local(1);
    config.spawn_local = false;
    config.token = Some(token.clone());
    let mut driver = Driver::bind(config).expect("the stand-in binds");
    let mut worker = std::process::Command::new(std::env::current_exe().unwrap())
        .env(asyncopt_runtime::cluster::WORKER_ENV, "w0")
        .env(asyncopt_runtime::cluster::DRIVER_ENV, driver.endpoint())
        .env(asyncopt_runtime::cluster::TOKEN_ENV, token.to_hex())
        .env(asyncopt_runtime::cluster::GRANTS_ENV, "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the worker starts");
    let mut pipe = worker.stdin.take().expect("a pipe");
    std::io::Write::write_all(&mut pipe, on_pipe).expect("the pipe is written");
    driver.wait_for_workers().expect("the worker joins");
    // The pipe kept open, as a driver keeps it: the worker sees no end of its grants.
    (driver, worker, pipe)
}

fn open_shared(file: &std::path::Path) -> Dataset {
    Dataset::open_shared(file, &shared_options()).unwrap_or_else(|e| panic!("{e}"))
}

/// A peer holding the token that stands in for the driver of a worker it did not start (its
/// standard input is another's pipe) orders it to read a file nothing granted: refused. The
/// grant of another file on its pipe grants that one only, and no grant travels over the link.
fn a_stand_in_driver_cannot_grant_a_file() {
    let (_scratch, secret, granted) = two_files("api-stand-in-driver");
    let mut grant = granted.as_os_str().as_encoded_bytes().to_vec();
    grant.push(0);
    let (mut driver, mut worker, _pipe) = stand_in_driver(&grant);
    // The file granted on its pipe it reads.
    assert_eq!(bracketed(&mut driver, &open_shared(&granted), &1), 2.0);
    bracketed(&mut driver, &open_shared(&secret), &1);
    let message = driver
        .finish()
        .expect_err("the worker reads no file it was not granted")
        .to_string();
    assert!(
        message.contains(&format!("may not read {}", secret.display())),
        "{message}"
    );
    let _ = worker.kill();
    let _ = worker.wait();
}

/// A local worker whose grants pipe carries what no driver writes refuses the read, saying
/// so, and runs on: no panic, no grant made of the garbage.
fn garbage_on_the_grants_pipe_is_a_clear_refusal() {
    let (_scratch, _, granted) = two_files("api-grants-garbage");
    let mut garbage = granted.as_os_str().as_encoded_bytes().to_vec();
    garbage.insert(0, 0);
    let (mut driver, mut worker, _pipe) = stand_in_driver(&garbage);
    bracketed(&mut driver, &open_shared(&granted), &1);
    let message = driver
        .finish()
        .expect_err("the read is refused")
        .to_string();
    assert!(
        message
            .contains("the grants on this worker's standard input are malformed (an empty grant)"),
        "{message}"
    );
    let _ = worker.kill();
    let _ = worker.wait();
}

/// Counts asvrg's "combined a result with a full gradient" events: all, those whose result
/// read a snapshot other than the current one, and those combined with another snapshot's
/// full gradient than the one read.
#[derive(Default)]
struct Pairings {
    combined: AtomicU64,
    across: AtomicU64,
    mixed: AtomicU64,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for &'static Pairings {
    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        metadata.target() == "asyncopt::asvrg"
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        #[derive(Default)]
        struct Fields {
            read: Option<u64>,
            full_of: Option<u64>,
            current: Option<u64>,
        }
        impl tracing::field::Visit for Fields {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                match field.name() {
                    "read" => self.read = Some(value),
                    "full_of" => self.full_of = Some(value),
                    "current" => self.current = Some(value),
                    _ => {}
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let (Some(read), Some(full_of), Some(current)) =
            (fields.read, fields.full_of, fields.current)
        else {
            return;
        };
        self.combined.fetch_add(1, Ordering::Relaxed);
        if read != current {
            self.across.fetch_add(1, Ordering::Relaxed);
        }
        if read != full_of {
            self.mixed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn asvrg_never_mixes_snapshots() {
    use tracing_subscriber::layer::SubscriberExt;
    static PAIRINGS: std::sync::OnceLock<Pairings> = std::sync::OnceLock::new();
    let pairings: &'static Pairings = PAIRINGS.get_or_init(Pairings::default);
    let subscriber = tracing_subscriber::registry().with(pairings);
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let name = "cal_housing.scale.xz";
    let mut args = RunArgs::parse_defaults();
    args.data = Some(test_support::data(name));
    args.optimum = Some(test_support::optimum(name));
    args.target_subopt = Some(1e-6);
    args.quiet = true;
    args.precondition = Precondition::Full;
    args.updates = Some(100_000);
    args.eval_every = 0.01;
    // A snapshot every 5 updates, and a worker 5 times slower than the others: results keep
    // arriving computed against the snapshot before the current one.
    args.epoch = 5;
    args.stragglers = Stragglers::Intensity(5.0);
    let spec = args.job(Algorithm::Asvrg).expect("valid settings");
    let data = spec.load_data().expect("data loads");
    let outcome = job::run(&spec, &data).expect("the job runs");
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    let optimum = outcome.optimum.expect("an optimum");
    let subopt = (outcome.final_objective() - optimum) / optimum;
    assert!(subopt <= 1e-6, "asvrg reached only {subopt:e}");

    let combined = pairings.combined.load(Ordering::Relaxed);
    let across = pairings.across.load(Ordering::Relaxed);
    let mixed = pairings.mixed.load(Ordering::Relaxed);
    assert!(combined > 0, "the check saw asvrg's results");
    assert!(
        across > 0,
        "results arrived across snapshot changes ({across} of {combined}), so the check could fail"
    );
    assert_eq!(
        mixed, 0,
        "results combined with another snapshot's full gradient"
    );
}

/// Reads `w` at the version of the first update while `w` changes every update.
#[async_optimizer]
fn pinned_first(cx: &mut Driver, data: &Dataset, updates: &usize) -> Vec<(f64, f64)> {
    let mut w: Vec<f64> = vec![1.0];
    let mut seen = Vec::new();
    let mut first: u64 = 0;
    for k in 0..*updates {
        w[0] = (k + 1) as f64;
        broadcast!(w);
        if k == 0 {
            first = cx.version("w").expect("w was broadcast");
        }
        let pair = reduce!(data, |part| (
            w.at(first)[0] + 0.0 * part.len() as f64,
            w[0]
        ));
        seen.push(pair);
    }
    seen
}

fn pinned_read_is_sent_again_when_evicted() {
    let data = shared("cal_housing.scale.xz");
    let workers = 2;
    let updates = 8;
    let mut config = local(workers);
    // Workers keep 2 versions: with a new `w` every update, the pinned first one is evicted.
    config.cache_versions = 2;
    let mut driver = Driver::launch(config).expect("cluster starts");
    let seen = pinned_first(&mut driver, &data, &updates);
    let stats = driver.finish().expect("the run succeeds").stats;
    assert_eq!(seen.len(), updates);
    for (k, &(pinned, latest)) in seen.iter().enumerate() {
        assert_eq!(pinned, 1.0, "update {k} read the first version");
        assert_eq!(latest, (k + 1) as f64, "update {k} read the latest version");
    }
    // Each worker gets each new version once, and the first one again whenever its cache
    // evicted it: every other update.
    let new_versions = (workers * updates) as u64;
    assert!(
        stats.versions_sent >= new_versions + (workers * (updates / 2 - 1)) as u64,
        "the pinned version was sent again: {} versions sent for {new_versions} new ones",
        stats.versions_sent
    );
}

#[async_optimizer]
fn pinned_unknown(cx: &mut Driver, data: &Dataset, updates: &usize) -> Vec<f64> {
    let mut w: Vec<f64> = vec![1.0];
    let never: u64 = 999;
    for _ in 0..*updates {
        broadcast!(w);
        let g = reduce!(data, |part| w.at(never)[0] + 0.0 * part.len() as f64);
        w[0] += g;
    }
    w
}

fn pinned_read_of_unknown_version_is_an_error() {
    let data = shared("cal_housing.scale.xz");
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    pinned_unknown(&mut driver, &data, &3);
    let error = driver.finish().expect_err("the run fails");
    let message = error.to_string();
    assert!(
        matches!(error, RuntimeError::VersionUnavailable { version: 999, .. }),
        "{message}"
    );
    assert!(
        message.contains("`w` at version 999") && message.contains("never published"),
        "{message}"
    );
    // The error points at the reduce! itself, by file and line, not only at its function.
    let line = 1 + include_str!("main.rs")
        .lines()
        .position(|l| l.contains("reduce!(data, |part| w.at(never)"))
        .expect("the site is in this file");
    assert!(
        message.contains(&format!("main.rs:{line})")),
        "no main.rs:{line} in: {message}"
    );
}

/// Reads `w` pinned at its first version, then as it is, in an asynchronous reduce; keeps
/// what `version_of("w")` says of each result, the version of its unpinned read, and the
/// pinned one.
#[async_optimizer]
fn pinned_then_latest(
    cx: &mut Driver,
    data: &Dataset,
    updates: &usize,
) -> Vec<(Option<u64>, Option<u64>, u64)> {
    let mut w: Vec<f64> = vec![1.0];
    let mut seen = Vec::new();
    let mut first: u64 = 0;
    for k in 0..*updates {
        w[0] = (k + 1) as f64;
        broadcast!(w);
        if k == 0 {
            first = cx.version("w").expect("w was broadcast");
        }
        barrier!(|workers| workers.idle() >= 1);
        let _sum = reduce!(data, |part| w.at(first)[0] + w[0] + 0.0 * part.len() as f64);
        let meta = cx.last_result().expect("an asynchronous reduce's result");
        let latest = meta.reads.iter().find(|r| r.name == "w" && !r.pinned);
        seen.push((meta.version_of("w"), latest.map(|r| r.version), first));
    }
    seen
}

fn version_of_prefers_the_latest_read() {
    let data = shared("cal_housing.scale.xz");
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let seen = pinned_then_latest(&mut driver, &data, &10);
    driver.finish().expect("the run succeeds");
    // The pinned read comes first in the closure, yet version_of names the latest read: the
    // version the result's staleness counts from.
    assert!(
        seen.iter()
            .all(|(of, latest, _)| of == latest && latest.is_some()),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|&(of, _, first)| of > Some(first)),
        "{seen:?}"
    );
}

/// Settings of the barrier tests: the updates, and the worker the selection leaves out.
struct Starve {
    updates: usize,
    starved: String,
    rule_holds: bool,
}

#[async_optimizer]
fn asgd_selecting(cx: &mut Driver, data: &Dataset, p: &Starve) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(
            |workers| p.rule_holds && workers.idle() >= 1,
            select = |worker| worker.name != p.starved
        );
        let g = reduce!(data, |part| Loss::LeastSquares
            .gradient(&part.sample(16, k), w.view()));
        w.scaled_add(-0.01, &g);
    }
    w
}

fn selecting_barrier_starves_a_worker() {
    let data = shared("cal_housing.scale.xz");
    let params = Starve {
        updates: 300,
        starved: "w1".into(),
        rule_holds: true,
    };
    let mut driver = Driver::launch(local(3)).expect("cluster starts");
    asgd_selecting(&mut driver, &data, &params);
    let report = driver.finish().expect("the run succeeds");
    assert_eq!(report.stats.updates, params.updates as u64);
    assert_eq!(report.stats.barrier_overrides, 0);
    for worker in &report.workers {
        if worker.name == params.starved {
            assert_eq!(
                (worker.tasks_done, worker.in_flight),
                (0, 0),
                "the starved worker got no task"
            );
        } else {
            assert!(
                worker.tasks_done > 50,
                "{} did {}",
                worker.name,
                worker.tasks_done
            );
        }
    }
}

/// A selection relative to the others: no worker more than `lead` tasks ahead of the live
/// one that did least.
#[async_optimizer]
fn asgd_even(cx: &mut Driver, data: &Dataset, lead: &u64) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..300usize {
        broadcast!(w);
        barrier!(
            asp(),
            select = |worker, table| {
                let least = table
                    .all()
                    .iter()
                    .filter(|o| o.alive)
                    .map(|o| o.tasks_done)
                    .min();
                worker.tasks_done <= least.unwrap_or(0) + lead
            }
        );
        let g = reduce!(data, |part| Loss::LeastSquares
            .gradient(&part.sample(16, k), w.view()));
        w.scaled_add(-0.01, &g);
    }
    w
}

fn selection_in_table_keeps_workers_even() {
    let data = shared("cal_housing.scale.xz");
    // The last of 3 workers sleeps 100 times its compute after each task.
    let mut config = local(3);
    config.stragglers = Stragglers::Intensity(100.0);
    let spread = |lead: u64| {
        let mut driver = Driver::launch(config.clone()).expect("cluster starts");
        asgd_even(&mut driver, &data, &lead);
        let report = driver.finish().expect("the run succeeds");
        assert_eq!(report.stats.updates, 300);
        let done: Vec<u64> = report.workers.iter().map(|w| w.tasks_done).collect();
        let spread = done.iter().max().unwrap() - done.iter().min().unwrap();
        (spread, done)
    };
    // Without a binding lead the straggler falls far behind...
    let (free, done) = spread(1_000_000);
    assert!(free > 10, "the straggler falls behind: {done:?}");
    // ...with one, a worker is sent a task only while at most 2 ahead, so it ends at most 3
    // ahead (the task it was sent then).
    let (held, done) = spread(2);
    assert!(held <= 3, "every worker within its lead: {done:?}");
}

fn empty_selection_is_a_deadlock_error() {
    let data = shared("cal_housing.scale.xz");
    let params = Starve {
        updates: 10,
        starved: "w0".into(),
        rule_holds: true,
    };
    // One worker, never selected: nobody may work.
    let mut driver = Driver::launch(local(1)).expect("cluster starts");
    asgd_selecting(&mut driver, &data, &params);
    let error = driver.finish().expect_err("the run cannot go on");
    let message = error.to_string();
    assert!(
        matches!(error, RuntimeError::BarrierDeadlock { .. }),
        "{message}"
    );
    assert!(
        message.contains("picks none of the idle workers (w0)"),
        "{message}"
    );
}

fn impossible_rule_is_overridden_and_counted() {
    let data = shared("cal_housing.scale.xz");
    let params = Starve {
        updates: 40,
        starved: "nobody".into(),
        rule_holds: false,
    };
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    asgd_selecting(&mut driver, &data, &params);
    let report = driver.finish().expect("the run goes on");
    assert_eq!(report.stats.updates, 40);
    // Each override sends a task to both idle workers, whose two results make two updates.
    assert!(
        report.stats.barrier_overrides >= 20,
        "every dispatch was an override, counted: {}",
        report.stats.barrier_overrides
    );
}

/// What one drain returned, and the books right after it.
struct Drained {
    seqs: Vec<u64>,
    staleness: Vec<u64>,
    clock: u64,
    in_flight: usize,
    in_flight_by_table: usize,
    in_hand: usize,
    stats: RunStats,
}

#[derive(Default)]
struct Probe {
    updates: usize,
    drains: RefCell<Vec<Drained>>,
}

impl Probe {
    fn record(&self, cx: &Driver, results: &[Collected<Model>]) {
        self.drains.borrow_mut().push(Drained {
            seqs: results.iter().map(|r| r.meta.seq).collect(),
            staleness: results.iter().map(|r| r.meta.staleness).collect(),
            clock: cx.workers().clock(),
            in_flight: cx.in_flight(),
            in_flight_by_table: cx.workers().all().iter().map(|w| w.in_flight).sum(),
            in_hand: cx.in_hand(),
            stats: cx.stats().clone(),
        });
    }
}

#[async_optimizer]
fn asgd_drained(cx: &mut Driver, data: &Dataset, p: &Probe) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp());
        let results = reduce!(
            data,
            |part| Loss::LeastSquares.gradient(&part.sample(16, k), w.view()),
            collect = all
        );
        p.record(cx, &results);
        for result in &results {
            w.scaled_add(-0.01 / results.len() as f64, &result.value);
        }
        // The driver is slower than the workers: results pile up between drains.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    w
}

fn drain_returns_every_result_in_hand() {
    let data = shared("cal_housing.scale.xz");
    let probe = Probe {
        updates: 60,
        ..Probe::default()
    };
    let mut driver = Driver::launch(local(4)).expect("cluster starts");
    asgd_drained(&mut driver, &data, &probe);
    let report = driver.finish().expect("the run succeeds");
    let drains = probe.drains.into_inner();
    assert_eq!(drains.len(), 60);
    let mut seen = HashSet::new();
    for (i, drain) in drains.iter().enumerate() {
        assert!(
            !drain.seqs.is_empty(),
            "a drain returns at least one result"
        );
        for &seq in &drain.seqs {
            assert!(seen.insert(seq), "result {seq} returned twice");
        }
        // One drain is one update, however many results it returned.
        assert_eq!(drain.clock, i as u64 + 1, "drain {i}");
        assert_eq!(drain.stats.updates, i as u64 + 1);
        // Every result received was handed over or dropped: none waits after a drain.
        let s = &drain.stats;
        assert_eq!(drain.in_hand, 0, "drain {i} left results in hand");
        assert_eq!(
            s.results_received,
            s.results_used
                + s.dropped_stale
                + s.dropped_orphan
                + s.bad_results
                + s.dropped_superseded
                + s.dropped_unconfirmed,
            "drain {i}: {s:?}"
        );
        // The pending count: tasks sent and not answered.
        assert_eq!(drain.in_flight, drain.in_flight_by_table);
        assert_eq!(
            s.tasks_sent,
            s.results_received + drain.in_flight as u64,
            "drain {i}"
        );
        for &staleness in &drain.staleness {
            assert!(staleness <= i as u64);
        }
    }
    assert_eq!(seen.len() as u64, report.stats.results_used);
    let most = drains.iter().map(|d| d.seqs.len()).max().unwrap_or(0);
    assert!(
        most > 1,
        "some drain returned several results (at most {most})"
    );
}

/// Counts of the results each of two asynchronous sites handed over.
#[derive(Default)]
struct TwoSites {
    updates: usize,
    first: RefCell<usize>,
    second: RefCell<usize>,
}

#[async_optimizer]
fn two_async_sites(cx: &mut Driver, data: &Dataset, p: &TwoSites) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        barrier!(asp());
        let g = reduce!(data, |part| Loss::LeastSquares
            .gradient(&part.sample(16, k), w.view()));
        *p.first.borrow_mut() += 1;
        w.scaled_add(-0.01, &g);
        barrier!(asp());
        let rows = reduce!(data, |part| part.len() as f64);
        assert!(
            rows > 0.0,
            "the second site's own result, not the first's gradient"
        );
        *p.second.borrow_mut() += 1;
    }
    w
}

fn two_async_sites_in_one_loop() {
    let data = shared("cal_housing.scale.xz");
    let probe = TwoSites {
        updates: 100,
        ..TwoSites::default()
    };
    let mut driver = Driver::launch(local(3)).expect("cluster starts");
    two_async_sites(&mut driver, &data, &probe);
    let report = driver.finish().expect("the run succeeds");
    assert_eq!((*probe.first.borrow(), *probe.second.borrow()), (100, 100));
    assert_eq!(report.stats.updates, 200);
    assert_eq!(
        report.stats.dropped_orphan, 0,
        "no result of one site is dropped because the other ran"
    );
}

/// Reads of `w` that only Rust's scoping tells apart from the broadcast `w`: a `let` that
/// shadows it, a nested closure's parameter of the same name, and reduce!s after the loop
/// (alone, or in a loop of their own), where `w` has changed since its last broadcast!.
#[async_optimizer]
fn scoped_reads(cx: &mut Driver, data: &Dataset, updates: &usize) -> Vec<f64> {
    let mut w: f64 = 1.0;
    let mut seen: Vec<f64> = Vec::new();
    let k = seen.len();
    for _ in 0..*updates {
        broadcast!(w);
        let a: f64 = reduce!(data, |_part| *w);
        let b: f64 = {
            let w: f64 = a + 100.0;
            reduce!(data, |_part| w)
        };
        let vs: Vec<f64> = vec![1.0, 2.0];
        let c: f64 = reduce!(data, |_part| vs.iter().map(|w| w * 2.0).sum::<f64>() + w);
        // Inside a macro's arguments too: `k` is a closure's parameter, then a named format
        // argument, never the untyped `k` outside (which could not travel).
        let d: f64 = reduce!(data, |_part| {
            let parts = vec![
                vs.iter().map(|k| k * 3.0).sum::<f64>(),
                format!("{k}", k = *w).len() as f64,
            ];
            parts.iter().sum::<f64>()
        });
        seen.extend([a, b, c, d]);
        w += 1.0;
    }
    w += 10.0;
    // A broadcast variable is a `&T` in every closure, and after the loop it has its value.
    let last: f64 = reduce!(data, |_part| *w);
    seen.push(last);
    w += 1.0;
    for _ in 0..1 {
        let again: f64 = reduce!(data, |_part| *w);
        seen.push(again);
    }
    assert_eq!(k, 0);
    seen
}

fn closures_read_what_rust_scopes_them_to() {
    let data = shared("cal_housing.scale.xz");
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let seen = scoped_reads(&mut driver, &data, &2);
    driver.finish().expect("the run succeeds");
    // What the same function computes with plain closures.
    assert_eq!(
        seen,
        [1.0, 101.0, 7.0, 10.0, 2.0, 102.0, 8.0, 10.0, 13.0, 14.0]
    );
}

/// Variables named as the expansion's own locals (`task`, `tcx`, `captures`, `result` on the
/// worker and on the driver) are still the author's: the expansion's are hygienic.
#[async_optimizer]
fn expansion_names(cx: &mut Driver, captures: &Dataset, tcx: &f64) -> Vec<f64> {
    let mut task: f64 = 1.0;
    let result: f64 = 10.0;
    let weights: Vec<f64> = vec![0.5, 2.0, 4.0];
    let mut seen: Vec<f64> = Vec::new();
    for (i, x) in weights.iter().enumerate() {
        if i == 1 {
            continue;
        }
        broadcast!(task);
        let a: f64 = reduce!(captures, |_part| *task + *tcx + result + *x + i as f64);
        seen.push(a);
        task += 1.0;
    }
    seen
}

fn names_of_the_expansion_are_the_author_s() {
    let data = shared("cal_housing.scale.xz");
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let seen = expansion_names(&mut driver, &data, &100.0);
    driver.finish().expect("the run succeeds");
    assert_eq!(
        seen,
        [1.0 + 100.0 + 10.0 + 0.5, 2.0 + 100.0 + 10.0 + 4.0 + 2.0]
    );
}

/// The first of two optimizers named `opt` in this module, each inside a function of its own.
fn first_opt(cx: &mut Driver, data: &Dataset) -> f64 {
    #[async_optimizer]
    fn opt(cx: &mut Driver, data: &Dataset) -> f64 {
        let mut w: f64 = 0.0;
        for _ in 0..2 {
            broadcast!(w);
            w = reduce!(data, |_part| *w + 1.0);
        }
        w
    }
    opt(cx, data)
}

/// The second `opt`: its task must be its own, not the first one's.
fn second_opt(cx: &mut Driver, data: &Dataset) -> f64 {
    #[async_optimizer]
    fn opt(cx: &mut Driver, data: &Dataset) -> f64 {
        let mut w: f64 = 0.0;
        for _ in 0..2 {
            broadcast!(w);
            w = reduce!(data, |_part| *w + 10.0);
        }
        w
    }
    opt(cx, data)
}

fn optimizers_of_one_name_run_their_own_closures() {
    let data = shared("cal_housing.scale.xz");
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let first = first_opt(&mut driver, &data);
    let second = second_opt(&mut driver, &data);
    driver.finish().expect("the run succeeds");
    assert_eq!((first, second), (2.0, 20.0));
}

/// Each of the two `opt`s writes and resumes checkpoints of its own: the second is refused
/// the first's, which it used to resume as its own (skipping every pass, returning the
/// first's model, 2 instead of 20).
fn optimizers_of_one_name_resume_their_own_checkpoints() {
    let data = shared("cal_housing.scale.xz");
    let dir = test_support::scratch("namesakes");
    let job = "two opts";
    let mut driver = checkpointing_every_update(&dir, job);
    assert_eq!(first_opt(&mut driver, &data), 2.0);
    driver.finish().expect("the run succeeds");
    let saved = checkpoint::read(&dir, job).expect("the checkpoint reads");
    assert!(saved.optimizer.contains("::opt@"), "{}", saved.optimizer);

    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    driver.resume(saved);
    second_opt(&mut driver, &data);
    let error = driver.finish().expect_err("another optimizer's checkpoint");
    assert!(
        error
            .to_string()
            .contains("the checkpoint was written by optimizer"),
        "{error}"
    );
}

/// A driver of two local workers that checkpoints `job` into `dir` after every update.
fn checkpointing_every_update(dir: &std::path::Path, job: &str) -> Driver {
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    driver.checkpoint_to(CheckpointPolicy {
        dir: dir.to_path_buf(),
        every_updates: Some(1),
        every: None,
        job: job.into(),
    });
    driver
}

/// The values `probe` reads over 10 updates in one run, and in a run stopped after `stop`
/// updates (a checkpoint after each) and resumed from its checkpoint to 10: the same, when
/// the checkpoint holds what the probe reads back.
fn whole_and_resumed(
    job: &str,
    probe: fn(&mut Driver, &Dataset, &usize) -> Vec<f64>,
    stop: usize,
) -> (Vec<f64>, Vec<f64>) {
    let data = shared("cal_housing.scale.xz");
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    let whole = probe(&mut driver, &data, &10);
    driver.finish().expect("the run succeeds");
    let dir = test_support::scratch(&format!("resume-{job}"));
    let mut driver = checkpointing_every_update(&dir, job);
    probe(&mut driver, &data, &stop);
    driver.finish().expect("the run succeeds");
    let saved = checkpoint::read(&dir, job).expect("the checkpoint reads");
    let mut driver = Driver::launch(local(2)).expect("cluster starts");
    driver.resume(saved);
    let resumed = probe(&mut driver, &data, &10);
    driver.finish().expect("the resumed run succeeds");
    (whole, resumed)
}

/// `w` changes every update; an anchor every 5 updates, read pinned in between.
#[async_optimizer]
fn anchored_probe(cx: &mut Driver, data: &Dataset, updates: &usize) -> Vec<f64> {
    let mut w: Vec<f64> = vec![0.0];
    let mut anchor: u64 = 0;
    let mut seen = Vec::new();
    for k in 0..*updates {
        w[0] = (k + 1) as f64;
        broadcast!(w);
        if k % 5 == 0 {
            anchor = cx.version("w").expect("w was broadcast");
        }
        let a = reduce!(data, |part| w.at(anchor)[0] + 0.0 * part.len() as f64);
        seen.push(a);
    }
    seen
}

/// A run resumed in the middle of an epoch reads its anchor, an older version of `w`, as the
/// run it continues did: the checkpoint saved that version beside the latest. It used to
/// save the latest only, and the resumed run ended with `VersionUnavailable`.
fn a_resume_mid_epoch_reads_its_anchor() {
    let (whole, resumed) = whole_and_resumed("anchor", anchored_probe, 7);
    assert_eq!(whole, [1.0, 1.0, 1.0, 1.0, 1.0, 6.0, 6.0, 6.0, 6.0, 6.0]);
    assert_eq!(resumed, whole);
}

/// `w` changes every update; each update reads the version of `w` 3 updates back (the first
/// one, before there are 3).
#[async_optimizer]
fn lagged_probe(cx: &mut Driver, data: &Dataset, updates: &usize) -> Vec<f64> {
    let mut w: Vec<f64> = vec![0.0];
    let mut seen = Vec::new();
    for k in 0..*updates {
        w[0] = (k + 1) as f64;
        broadcast!(w);
        let lag = cx
            .version("w")
            .expect("w was broadcast")
            .saturating_sub(3)
            .max(1);
        let a = reduce!(data, |part| w.at(lag)[0] + 0.0 * part.len() as f64);
        seen.push(a);
    }
    seen
}

/// A run resumed from a checkpoint reads `w` 3 versions back as the run it continues did: the
/// checkpoint saved every version the driver kept of a variable read back. It used to save
/// the versions already read only, and the resumed run's next lag ended it with
/// `VersionUnavailable`.
fn a_resume_reads_a_fixed_lag() {
    let (whole, resumed) = whole_and_resumed("lag", lagged_probe, 6);
    assert_eq!(whole, [1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    assert_eq!(resumed, whole);
}

/// As [`lagged_probe`], reading the lagged `w` on the driver (`cx.value_at`); -1 when it is
/// not there.
#[async_optimizer]
fn driver_lag_probe(cx: &mut Driver, data: &Dataset, updates: &usize) -> Vec<f64> {
    let mut w: Vec<f64> = vec![0.0];
    let mut seen = Vec::new();
    for k in 0..*updates {
        w[0] = (k + 1) as f64;
        broadcast!(w);
        let lag = cx
            .version("w")
            .expect("w was broadcast")
            .saturating_sub(3)
            .max(1);
        let then = cx
            .value_at::<Vec<f64>>("w", lag)
            .map_or(-1.0, |then| then[0]);
        let rows = reduce!(data, |part| part.len() as f64);
        seen.push(then + 0.0 * rows);
    }
    seen
}

/// The driver's own reads of older versions count as reading `w` back: the checkpoint saves
/// the kept versions and a resumed run reads its lag as the run it continues did. It saved
/// the latest only, and `value_at` gave `None` after the resume.
fn a_resume_reads_a_fixed_lag_with_value_at() {
    let (whole, resumed) = whole_and_resumed("driver-lag", driver_lag_probe, 6);
    assert_eq!(whole, [1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    assert_eq!(resumed, whole);
}
