//! Ctrl-C (SIGINT), SIGTERM and SIGHUP during a run end it the way a stop rule does: the training loop
//! stops at its next `broadcast!` or `reduce!` (with `--checkpoint`, at the top of its next
//! pass, after a last checkpoint there), the trace, summary, plot and model are written as
//! after any run, and the command exits with 128 + the signal's number ([`exit_code`]: 130
//! for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP) if the signal stopped a run or kept one from
//! starting; one that came once the last run was over, while its files were written, stops
//! nothing and leaves the exit code as it was. A second signal, or one while no run is going
//! on, quits at once, naming the outputs the runs named and have not written. A
//! terminal that closes (SIGHUP) so keeps the run's files; a command started under `nohup`,
//! which ignores SIGHUP, still ignores it and goes on.
//!
//! SIGXFSZ is ignored, so a write past a file size limit fails as one on a full disk does.
//!
//! The command line installs the handler ([`install`], Unix only); every job's driver stops
//! on the one process-wide [`StopHandle`] ([`stop_handle`]), which nothing asks without it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use asyncopt_runtime::worker::{Progress, SoFar};
use asyncopt_runtime::StopHandle;

static STOP: LazyLock<StopHandle> = LazyLock::new(StopHandle::new);

/// The signal that asked the runs to stop, 0 before one did.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Runs going on whose files are not written yet: what a first signal would save.
static SAVING: AtomicUsize = AtomicUsize::new(0);

/// Whether a run has begun in this process: a signal before (the data read, the optimum
/// computed) quits with nothing trained, and says so.
static BEGUN: AtomicBool = AtomicBool::new(false);

/// Of those, the runs whose training is over and whose files are being written: a first
/// signal then stops no run, only the runs that would follow.
static WRITING: AtomicUsize = AtomicUsize::new(0);

/// Runs being prepared (the optimum f* computed, the data scanned, the cluster started): a
/// first signal then keeps the run from starting once it is prepared.
static PREPARING: AtomicUsize = AtomicUsize::new(0);

/// The first signal came while a run was prepared: the run stops there, and says so rather
/// than name the wait for the workers it never began.
static STOPPED_PREPARING: AtomicBool = AtomicBool::new(false);

/// Drivers waiting for their workers to join: a first signal then ends the wait, and the run
/// does not start.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// What the worker this process is (`worker`) has served: a signal to it quits at once, and
/// says what it stopped from this ("nothing was trained" was said of a worker that served a
/// run).
static WORKER: std::sync::OnceLock<std::sync::Arc<Progress>> = std::sync::OnceLock::new();

/// This process is a worker counting what it serves in `progress`: a signal says what it
/// stopped from it.
pub fn serving_as_worker(progress: std::sync::Arc<Progress>) {
    // Once per process: a second worker of the same process would count into its own.
    let _ = WORKER.set(progress);
}

/// What a signal to a command that trains nothing (`evaluate`, `predict`) says it stopped:
/// "nothing was trained" was said of a model being scored.
static SCORING: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// This process trains nothing but scores a model: a signal quits at once and says `stopped`.
pub fn scoring(stopped: &'static str) {
    let _ = SCORING.set(stopped);
}

/// The outputs the runs going on are to write and have not written yet, in the order they
/// were named: what a quit at once leaves unwritten.
fn unwritten() -> MutexGuard<'static, Vec<PathBuf>> {
    static UNWRITTEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    UNWRITTEN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The outputs a quit at once would name now.
#[cfg(test)]
pub(crate) fn not_written() -> Vec<PathBuf> {
    unwritten().clone()
}

/// The handle every job's driver stops on.
pub fn stop_handle() -> StopHandle {
    STOP.clone()
}

/// Whether a signal asked the runs to stop.
pub fn requested() -> bool {
    STOP.is_requested()
}

/// Whether the signal that asked the runs to stop came while a run was prepared, before its
/// driver waited for its workers.
pub fn stopped_while_preparing() -> bool {
    STOPPED_PREPARING.load(Ordering::SeqCst)
}

/// The exit code of a command a signal stopped: 128 + the signal's number, as shells report
/// a command a signal ended (130 for Ctrl-C).
pub fn exit_code() -> u8 {
    let signal = SIGNAL.load(Ordering::SeqCst);
    u8::try_from(128 + signal.clamp(1, 127)).unwrap_or(130)
}

/// Marks a run and the writing of its files as going on until the guard is dropped: a first
/// signal meanwhile stops the run and lets the files be written.
#[must_use = "the run counts as going on only while the guard lives"]
pub struct Saving(());

impl Saving {
    /// A run begins.
    pub fn begin() -> Saving {
        BEGUN.store(true, Ordering::SeqCst);
        SAVING.fetch_add(1, Ordering::SeqCst);
        Saving(())
    }

    /// The run is to write `files`: a second signal names those not written by then. Through
    /// [`RunFiles`](crate::run_files::RunFiles), which keeps what became of each.
    pub(crate) fn will_write(&self, files: impl IntoIterator<Item = PathBuf>) {
        unwritten().extend(files);
    }

    /// `file` is written (or will not be: `will_write` named it for a run that did not run).
    pub(crate) fn written(&self, file: &Path) {
        unwritten().retain(|f| f != file);
    }
}

impl Saving {
    /// The run's training is over and its files are written while the guard lives.
    pub fn writing_files(&self) -> InPhase {
        InPhase::enter(&WRITING)
    }
}

impl Drop for Saving {
    fn drop(&mut self) {
        if SAVING.fetch_sub(1, Ordering::SeqCst) == 1 {
            unwritten().clear();
        }
    }
}

/// A driver begins to wait for its workers, and waits while the guard lives.
pub fn waiting_for_workers() -> InPhase {
    InPhase::enter(&WAITING)
}

/// The error of a `what` ("run", "comparison") a signal stopped while it was prepared (its
/// optimum computed, its cluster started), before it trained.
pub(crate) fn preparation_stopped(what: &str) -> anyhow::Error {
    crate::cli::Interrupted(format!(
        "stopped by a signal while the {what} was being prepared; nothing was trained"
    ))
    .into()
}

/// A run begins to be prepared, before its driver waits for its workers, and is prepared
/// while the guard lives.
pub fn preparing() -> InPhase {
    InPhase::enter(&PREPARING)
}

/// A phase of the runs ([`Saving::writing_files`], [`waiting_for_workers`], [`preparing`]),
/// counted as going on, for what a signal says it stops, while the guard lives.
#[must_use = "the phase counts as going on only while the guard lives"]
pub struct InPhase(&'static AtomicUsize);

impl InPhase {
    fn enter(phase: &'static AtomicUsize) -> InPhase {
        phase.fetch_add(1, Ordering::SeqCst);
        InPhase(phase)
    }
}

impl Drop for InPhase {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where the runs stand when a first signal comes, for what it says it stops.
#[derive(Clone, Copy)]
enum Phase {
    /// A run is prepared: it has not started, and will not once a signal came.
    Preparing,
    /// A driver waits for its workers: no run of it has started.
    Waiting,
    /// A run trains.
    Training,
    /// The runs are over, their files being written.
    Writing,
}

/// What a signal does: asks the runs to stop, or quits if nothing is left to save.
fn on_signal(signal: i32) {
    if STOP.is_requested() || SAVING.load(Ordering::SeqCst) == 0 {
        let said = match (WORKER.get(), SCORING.get()) {
            (Some(progress), _) => worker_stopped_message(progress.so_far()),
            (None, Some(stopped)) => (*stopped).to_owned(),
            (None, None) => second_signal_message(&unwritten(), BEGUN.load(Ordering::SeqCst)),
        };
        say_on_signal(&said);
        crate::trace::remove_unfinished();
        SIGNAL
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
            .ok();
        std::process::exit(exit_code().into());
    }
    SIGNAL.store(signal, Ordering::SeqCst);
    STOP.request();
    let phase = if WAITING.load(Ordering::SeqCst) > 0 {
        Phase::Waiting
    } else if PREPARING.load(Ordering::SeqCst) > 0 {
        Phase::Preparing
    } else if SAVING.load(Ordering::SeqCst) > WRITING.load(Ordering::SeqCst) {
        Phase::Training
    } else {
        Phase::Writing
    };
    STOPPED_PREPARING.store(matches!(phase, Phase::Preparing), Ordering::SeqCst);
    say_on_signal(&first_signal_message(
        phase,
        signal == signal_hook::consts::SIGINT,
    ));
}

/// Says a signal's `message` above the progress bar or spinner: said across it, the line was
/// erased when the bar was cleared or drawn again.
fn say_on_signal(message: &str) {
    if !crate::progress::say_above_the_bar(message) {
        say_err!("{}{message}", off_the_line());
    }
}

/// What a first signal does, said as the runs stand (where "the run ends at its next update"
/// was said of a run already over, or of one still prepared or waiting for its workers).
fn first_signal_message(phase: Phase, ctrl_c: bool) -> String {
    let again = if ctrl_c {
        "Ctrl-C again"
    } else {
        "a second signal"
    };
    let what = match phase {
        Phase::Preparing => {
            "the run being prepared does not start, and the files of the runs done are written"
        }
        Phase::Waiting => {
            "the wait for the workers ends, that run does not start, and the files of the runs \
             done are written"
        }
        Phase::Training => {
            "the run ends at its next update (at once before its first) and its files are written"
        }
        Phase::Writing => "the files of the runs done are being written, and no other run starts",
    };
    format!("stopping: {what} ({again} to quit at once, leaving them unwritten)")
}

/// What a signal that quits at once says: that no run had `begun`, or the outputs it leaves
/// unwritten, by their folder's name and then theirs when they share one (a comparison's),
/// else by their paths.
fn second_signal_message(unwritten: &[PathBuf], begun: bool) -> String {
    let Some(first) = unwritten.first() else {
        return match begun {
            true => "stopped at once".to_owned(),
            false => "stopped before a run began; nothing was trained".to_owned(),
        };
    };
    let folder = first.parent().filter(|dir| {
        !dir.as_os_str().is_empty() && unwritten.iter().all(|f| f.parent() == Some(dir))
    });
    match folder {
        Some(dir) => {
            let names: Vec<String> = (unwritten.iter())
                .map(|f| {
                    f.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            format!(
                "stopped at once; not written in {}: {}",
                dir.display(),
                names.join(", ")
            )
        }
        None => {
            let paths: Vec<String> = unwritten.iter().map(|f| f.display().to_string()).collect();
            format!("stopped at once; not written: {}", paths.join(", "))
        }
    }
}

/// What a worker stopped by a signal says, from what it served `so_far`: whether it was
/// admitted to a run, serving one or waiting for a driver, and the tasks it answered.
fn worker_stopped_message(so_far: SoFar) -> String {
    let tasks = match so_far.tasks {
        1 => "1 task".to_owned(),
        n => format!("{n} tasks"),
    };
    match (so_far.runs, so_far.serving) {
        (0, _) => {
            "worker stopped while waiting for a driver to admit it; it served no run".to_owned()
        }
        (1, true) => format!("worker stopped while serving a run, after answering {tasks}"),
        (runs, true) => {
            format!("worker stopped while serving its run {runs}, after answering {tasks} in all")
        }
        (1, false) => format!(
            "worker stopped while waiting for a driver, after serving 1 run ({tasks} answered)"
        ),
        (runs, false) => format!(
            "worker stopped while waiting for a driver, after serving {runs} runs ({tasks} \
             answered)"
        ),
    }
}

/// A line break before a signal's message on a terminal, where the `^C` echo or the progress
/// bar holds the cursor; nothing in a file or a pipe, whose first line it left empty.
fn off_the_line() -> &'static str {
    use std::io::IsTerminal;
    match std::io::stderr().is_terminal() {
        true => "\n",
        false => "",
    }
}

/// Handles SIGINT, SIGTERM and (unless it is ignored) SIGHUP on a thread of their own from
/// now on; once per process.
#[cfg(unix)]
pub fn install() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // A file size limit (`ulimit -f`, a site's RLIMIT_FSIZE) would otherwise kill the
        // driver with SIGXFSZ at its first large write, a checkpoint's, without a word and
        // without its files; ignored, the write fails with EFBIG as on a full disk, and the
        // run says so and goes on (a checkpoint) or writes what it can (its outputs).
        // SAFETY: setting a signal's disposition to SIG_IGN touches no memory of ours.
        unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        let mut handled = vec![SIGINT, SIGTERM];
        if !ignored(SIGHUP) {
            handled.push(SIGHUP);
        }
        let mut signals = match signal_hook::iterator::Signals::new(handled) {
            Ok(signals) => signals,
            Err(e) => {
                say_err!("warning: Ctrl-C will end runs without writing their files: {e}");
                return;
            }
        };
        let spawned = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || signals.forever().for_each(on_signal));
        if let Err(e) = spawned {
            say_err!("warning: Ctrl-C will end runs without writing their files: {e}");
        }
    });
}

/// Whether `signal` is ignored, as `nohup` leaves SIGHUP for the command it starts.
#[cfg(unix)]
fn ignored(signal: i32) -> bool {
    let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: with no new action, sigaction only writes the current one into `current`,
    // which is zeroed, valid memory of the right type.
    let read = unsafe { libc::sigaction(signal, std::ptr::null(), current.as_mut_ptr()) };
    // SAFETY: zeroed, then filled in by a successful call.
    read == 0 && unsafe { current.assume_init() }.sa_sigaction == libc::SIG_IGN
}

/// Elsewhere a signal ends the process as it always does.
#[cfg(not(unix))]
pub fn install() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_signal_says_what_it_stops() {
        let training = first_signal_message(Phase::Training, true);
        assert!(
            training.starts_with("stopping: the run ends at its next update")
                && training.contains("(Ctrl-C again to quit at once"),
            "{training}"
        );
        // Once the run is over a signal stops no run of it: the files are written.
        // A driver waiting for its workers has no update to end at: the wait ends.
        let waiting = first_signal_message(Phase::Waiting, true);
        assert!(
            waiting.starts_with("stopping: the wait for the workers ends")
                && !waiting.contains("next update"),
            "{waiting}"
        );
        // A run still prepared (its optimum computed, say) never reaches an update: it does
        // not start.
        let preparing = first_signal_message(Phase::Preparing, true);
        assert!(
            preparing.starts_with("stopping: the run being prepared does not start")
                && !preparing.contains("next update"),
            "{preparing}"
        );
        let writing = first_signal_message(Phase::Writing, false);
        assert!(
            writing.starts_with("stopping: the files of the runs done are being written")
                && !writing.contains("next update")
                && writing.contains("(a second signal to quit at once"),
            "{writing}"
        );
    }

    #[test]
    fn a_second_signal_names_the_outputs_it_leaves_unwritten() {
        assert_eq!(second_signal_message(&[], true), "stopped at once");
        // Was the same bare words, as the data was read or the optimum computed.
        assert_eq!(
            second_signal_message(&[], false),
            "stopped before a run began; nothing was trained"
        );
        let comparison = ["sgd.model.json", "compare.json", "compare.png"]
            .map(|name| Path::new("runs/run-1").join(name));
        assert_eq!(
            second_signal_message(&comparison, true),
            "stopped at once; not written in runs/run-1: sgd.model.json, compare.json, compare.png"
        );
        let run = [PathBuf::from("out/run.csv"), PathBuf::from("run.svg")];
        assert_eq!(
            second_signal_message(&run, true),
            "stopped at once; not written: out/run.csv, run.svg"
        );
    }

    #[test]
    fn a_stopped_worker_says_what_it_served() {
        let so_far = |runs, tasks, serving| SoFar {
            runs,
            tasks,
            serving,
        };
        assert_eq!(
            worker_stopped_message(so_far(0, 0, false)),
            "worker stopped while waiting for a driver to admit it; it served no run"
        );
        assert_eq!(
            worker_stopped_message(so_far(1, 12, true)),
            "worker stopped while serving a run, after answering 12 tasks"
        );
        assert_eq!(
            worker_stopped_message(so_far(2, 1, true)),
            "worker stopped while serving its run 2, after answering 1 task in all"
        );
        assert_eq!(
            worker_stopped_message(so_far(1, 30, false)),
            "worker stopped while waiting for a driver, after serving 1 run (30 tasks answered)"
        );
    }

    #[test]
    fn the_outputs_left_are_those_named_and_not_written() {
        let saving = Saving::begin();
        let files = ["t.csv", "s.json", "p.svg"].map(|f| Path::new("unwritten-test").join(f));
        saving.will_write(files.clone());
        saving.written(&files[1]);
        let left: Vec<PathBuf> = (unwritten().iter())
            .filter(|f| f.starts_with("unwritten-test"))
            .cloned()
            .collect();
        assert_eq!(left, [files[0].clone(), files[2].clone()]);
        drop(saving);
        assert!(!unwritten().iter().any(|f| f.starts_with("unwritten-test")));
    }
}
