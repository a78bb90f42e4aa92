//! Progress of a run: a live bar with updates per second and the objective on a terminal,
//! plain log lines every few seconds otherwise, nothing with `--quiet`; and a spinner while
//! the work before the run goes on (reading a large data file takes seconds), or off a
//! terminal a line every few seconds while it lasts.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::words::plural;

/// The bar or spinner on the terminal now, with its number, for [`say_above_the_bar`].
fn shown() -> MutexGuard<'static, Option<(u64, ProgressBar)>> {
    static SHOWN: Mutex<Option<(u64, ProgressBar)>> = Mutex::new(None);
    SHOWN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks `bar` as the one on the terminal until the guard is dropped.
struct Shown(u64);

impl Shown {
    fn show(bar: &ProgressBar) -> Shown {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        *shown() = Some((number, bar.clone()));
        Shown(number)
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        let mut shown = shown();
        if shown.as_ref().is_some_and(|(number, _)| *number == self.0) {
            *shown = None;
        }
    }
}

/// Says `line` on standard error above the bar or spinner on the terminal, drawn again below
/// it: a line written across the bar was erased when the bar was cleared. False (and nothing
/// said) when none is shown.
pub(crate) fn say_above_the_bar(line: &str) -> bool {
    let Some((_, bar)) = shown().clone() else {
        return false;
    };
    bar.suspend(|| say_err!("{line}"));
    true
}

/// Reports progress of one run.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Marks the bar as shown, for [`say_above_the_bar`], until `finish`.
    shown: Option<Shown>,
    /// The bar counts milliseconds of this time limit, not updates.
    timed: bool,
    label: String,
    quiet: bool,
    last_line: Instant,
}

impl Progress {
    /// Progress of algorithm `label` towards its stop rules: at most `updates` updates, and
    /// `time_s` seconds of training if given, which the bar then follows.
    pub fn new(label: &str, updates: u64, time_s: Option<f64>, quiet: bool) -> Progress {
        let timed = time_s.is_some();
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let (len, counted) = match time_s {
                Some(s) => ((s * 1000.0) as u64, ""),
                None => (updates, " {pos}/{len} updates"),
            };
            let bar = ProgressBar::new(len);
            // Marked as shown before its first draw (`set_prefix` draws), as a spinner is.
            let shown = Shown::show(&bar);
            let template =
                format!("{{prefix:>6}} [{{elapsed_precise}}] {{bar:30}}{counted} {{msg}}");
            bar.set_style(ProgressStyle::with_template(&template).expect("a valid template"));
            bar.set_prefix(label.to_owned());
            (bar, shown)
        });
        let (bar, shown) = bar.unzip();
        Progress {
            shown,
            bar,
            timed,
            label: label.to_owned(),
            quiet,
            last_line: Instant::now(),
        }
    }

    /// Shows the latest evaluation point.
    pub fn update(&mut self, updates: u64, elapsed_s: f64, objective: f64, subopt: Option<f64>) {
        let objective = match subopt {
            Some(s) => format!("f = {objective:.6e}, (f-f*)/f* = {s:.3e}"),
            None => format!("f = {objective:.6e}"),
        };
        let rate = if elapsed_s > 0.0 {
            format!("{:.0}/s", updates as f64 / elapsed_s)
        } else {
            "-/s".to_owned()
        };
        if let Some(bar) = &self.bar {
            if self.timed {
                bar.set_position((elapsed_s * 1000.0) as u64);
                bar.set_message(format!(
                    "{} ({rate}), {objective}",
                    plural(updates, "update")
                ));
            } else {
                bar.set_position(updates);
                bar.set_message(format!("({rate}) {objective}"));
            }
        } else if !self.quiet && self.last_line.elapsed() >= Duration::from_secs(2) {
            self.last_line = Instant::now();
            say_err!(
                "{}: {}, {elapsed_s:.1} s, {objective}",
                self.label,
                plural(updates, "update")
            );
        }
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        // Cleared before it stops counting as shown, as a spinner is (see `Working`'s drop).
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.shown = None;
    }
}

/// Calls `say` with the count of its calls so far every `every`, on a thread of its own, until
/// dropped; the thread is joined then, so nothing is said after the drop.
pub struct Ticker {
    /// Dropped to stop the thread at once, whatever is left of its wait.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Starts calling `say` every `every`; the first call is one `every` from now.
    pub fn start(every: Duration, mut say: impl FnMut(u32) + Send + 'static) -> Ticker {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut said = 0;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                say(said);
                said += 1;
            }
        });
        Ticker {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How often work before a run is said off a terminal while it lasts.
const STILL_WORKING_EVERY: Duration = Duration::from_secs(5);

/// A spinner naming the work going on before a run, on a terminal (not with `--quiet`):
/// drawn at once, ticking on its own thread, and cleared when dropped. Off a terminal, the
/// work and its seconds so far are said every 5 s while it lasts: a log
/// piped to a file said nothing for the 20 s a large file took to read. The work's start and
/// end are logged at debug level wherever the output goes (`-v`): a log file shows which
/// step the time before the first update went to.
pub struct Working {
    spinner: Option<(ProgressBar, Shown)>,
    /// Off a terminal, what says the work while it lasts.
    _ticker: Option<Ticker>,
    what: String,
    begun: Instant,
}

impl Working {
    /// Shows `what` (`reading a9a.xz`) with a spinner and the time spent, until dropped.
    pub fn start(what: &str, quiet: bool) -> Working {
        tracing::debug!("{what}");
        let terminal = std::io::stderr().is_terminal();
        let begun = Instant::now();
        // Work of a few seconds, the most common, says nothing more than it did.
        let ticker = (!quiet && !terminal).then(|| {
            let what = what.to_owned();
            Ticker::start(STILL_WORKING_EVERY, move |_| {
                let seconds = begun.elapsed().as_secs_f64();
                say_err!("{what}: {seconds:.0} s so far");
            })
        });
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::new_spinner();
            // Marked as shown before its first draw (`set_message` draws): a signal's line
            // said once it is on the terminal goes above it, not across it.
            let shown = Shown::show(&bar);
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
                    .expect("a valid template"),
            );
            bar.set_message(what.to_owned());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar.tick();
            (bar, shown)
        });
        Working {
            spinner: bar,
            _ticker: ticker,
            what: what.to_owned(),
            begun,
        }
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        tracing::debug!(
            seconds = self.begun.elapsed().as_secs_f64(),
            "{}: ended",
            self.what
        );
        if let Some((bar, shown)) = self.spinner.take() {
            // Cleared while still marked as shown: a line said meanwhile goes above it, not
            // below it where the clearing would erase it.
            bar.finish_and_clear();
            drop(shown);
        }
    }
}

/// A bar counting `total` pieces of work after a run (the recorded models scored), on a
/// terminal only (and not with `--quiet`); cleared when dropped. Its work is logged at info
/// level wherever the output goes, as `what`.
pub struct Counting {
    bar: Option<(ProgressBar, Shown)>,
}

impl Counting {
    /// Shows `what` and a bar of `total` pieces, at 0.
    pub fn start(what: &str, total: u64, quiet: bool) -> Counting {
        tracing::info!("{what}");
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            let shown = Shown::show(&bar);
            bar.set_style(
                ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
                    .expect("a valid template"),
            );
            bar.set_message(what.to_owned());
            (bar, shown)
        });
        Counting { bar }
    }

    /// `done` pieces are done.
    pub fn set(&self, done: u64) {
        if let Some((bar, _)) = &self.bar {
            bar.set_position(done);
        }
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        if let Some((bar, shown)) = self.bar.take() {
            bar.finish_and_clear();
            drop(shown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticker_says_work_going_on_and_nothing_once_dropped() {
        // The test waits until it has been said twice: no timing decides it.
        let (told, heard) = mpsc::channel();
        let ticker = Ticker::start(Duration::from_millis(1), move |n| {
            let _ = told.send(n);
        });
        assert_eq!(heard.recv().unwrap(), 0);
        assert_eq!(heard.recv().unwrap(), 1);
        drop(ticker);
        // Its thread joined, the sender is gone with it: what is left was said before.
        let left: Vec<u32> = heard.iter().collect();
        assert!(
            left.iter().enumerate().all(|(i, &n)| n == i as u32 + 2),
            "{left:?}"
        );
        // Work that ends at once is not said, and the drop does not wait out the period.
        let (told, heard) = mpsc::channel();
        drop(Ticker::start(Duration::from_secs(3600), move |n| {
            let _ = told.send(n);
        }));
        assert_eq!(heard.iter().count(), 0);
    }

    /// Off a terminal the spinner is not drawn: a run's log (`-v`) still names the work before
    /// the run, and when it ended, where a minute of computing the optimum said nothing.
    #[test]
    fn the_work_before_a_run_is_logged_where_no_spinner_is_drawn() {
        let (_, levels) = test_support::levels_logged(|| {
            drop(Working::start("computing the optimum f* of a9a", true));
        });
        assert_eq!(levels, [tracing::Level::DEBUG, tracing::Level::DEBUG]);
    }
}
