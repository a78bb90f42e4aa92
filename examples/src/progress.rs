//! Progress of a run: a live bar with updates per second and the objective on a terminal,
//! plain log lines every few seconds otherwise, nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports progress of one run.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    quiet: bool,
    last_line: Instant,
}

impl Progress {
    /// Progress of algorithm `label` over at most `updates` updates.
    pub fn new(label: &str, updates: u64, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(updates);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>6} [{elapsed_precise}] {bar:30} {pos}/{len} updates ({per_sec}) {msg}",
                )
                .expect("a valid template"),
            );
            bar.set_prefix(label.to_owned());
            bar
        });
        Progress {
            bar,
            label: label.to_owned(),
            quiet,
            last_line: Instant::now(),
        }
    }

    /// Shows the latest evaluation point.
    pub fn update(&mut self, updates: u64, elapsed_s: f64, objective: f64, subopt: Option<f64>) {
        let text = match subopt {
            Some(s) => format!("f = {objective:.6e}, (f-f*)/f* = {s:.3e}"),
            None => format!("f = {objective:.6e}"),
        };
        if let Some(bar) = &self.bar {
            bar.set_position(updates);
            bar.set_message(text);
        } else if !self.quiet && self.last_line.elapsed() >= Duration::from_secs(2) {
            self.last_line = Instant::now();
            eprintln!(
                "{}: {updates} updates, {elapsed_s:.1} s, {text}",
                self.label
            );
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
