//! The command line's entry points: parse, run what the arguments ask for, and turn the
//! result into an exit code.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches};

use super::args::{Cli, Command, BARE_RUN_EXAMPLE, EXAMPLES};
use super::logging::init_logging;
use super::parsers::AlgorithmParser;
use super::score::{evaluate, predict};
use super::train::train;
use super::worker::run_worker;
use super::{compare, Interrupted, TargetMissed, UsageError, EXIT_TARGET_MISSED, EXIT_USAGE};
use crate::interrupt;
use crate::optimizer::{Optimizer, Registry};
use crate::provenance::Provenance;

/// The whole command line for the built-in optimizers and `extra`, an author's own: parses the
/// process's arguments, runs what they ask for, prints an error as one line, and returns the
/// exit code (0 done, 1 error, [`EXIT_USAGE`] a usage error, [`EXIT_TARGET_MISSED`] a target
/// not reached,
/// 128 + the signal's number, 130 for Ctrl-C, when a signal stopped a run or kept one from
/// starting, and the files were written). Call
/// `asyncopt_runtime::run_worker_if_spawned()` before it, first thing in `main`: `run` calls
/// it too, but what `main` does before would run again in every worker.
///
/// This is `async-train`'s own command line: `--version` names `async-train`, and no arguments
/// run its built-in comparison of SGD and ASGD. An author's program names itself with
/// [`Program`].
pub fn run(extra: &[Optimizer]) -> ExitCode {
    Program::ASYNC_TRAIN.run(extra)
}

/// [`run`] on the arguments `args` (the first is the program's name).
pub fn run_from(args: impl IntoIterator<Item = OsString>, extra: &[Optimizer]) -> ExitCode {
    Program::ASYNC_TRAIN.run_from(args, extra)
}

/// A program built on the toolkit: the name and version its `--version` prints. An author's
/// program is its crate's,
/// `Program::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")).run(&[...])`, and prints
/// its usage (its optimizers listed) when started with no arguments: the built-in comparison
/// of SGD and ASGD is `async-train`'s ([`Program::ASYNC_TRAIN`]), not the author's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program {
    name: &'static str,
    version: &'static str,
    builtin_comparison: bool,
}

impl Program {
    /// `async-train` itself, [`run`]'s program.
    pub const ASYNC_TRAIN: Program = Program {
        name: "async-train",
        version: env!("CARGO_PKG_VERSION"),
        builtin_comparison: true,
    };

    /// An author's program of `name` and `version` (`--version` prints `name version`).
    pub const fn new(name: &'static str, version: &'static str) -> Program {
        Program {
            name,
            version,
            builtin_comparison: false,
        }
    }

    /// As [`run`], for this program: parses the process's arguments, runs what they ask for,
    /// and returns the exit code.
    pub fn run(&self, extra: &[Optimizer]) -> ExitCode {
        asyncopt_runtime::run_worker_if_spawned();
        self.run_from(std::env::args_os(), extra)
    }

    /// [`Program::run`] on the arguments `args` (the first is the program's name).
    pub fn run_from(
        &self,
        args: impl IntoIterator<Item = OsString>,
        extra: &[Optimizer],
    ) -> ExitCode {
        interrupt::install();
        exit_code(self.main_from(args, extra))
    }

    /// As [`main_from`], for this program.
    pub fn main_from(
        &self,
        args: impl IntoIterator<Item = OsString>,
        extra: &[Optimizer],
    ) -> Result<()> {
        let registry = Registry::with(extra).map_err(anyhow::Error::msg)?;
        let args: Vec<OsString> = args.into_iter().collect();
        let no_arguments = args.len() == 1;
        let program = crate::host::program_name(&args);
        let provenance = Provenance::started(self.name, self.version, &args);
        let parser = AlgorithmParser(registry.clone());
        let command = Cli::command()
            .name(self.name)
            .version(self.version)
            // An author's program has no comparison of its own to run: it says what it offers.
            .arg_required_else_help(!self.builtin_comparison)
            .after_help(examples_of(&program, self.builtin_comparison))
            .mut_arg("algo", |a| a.value_parser(parser.clone()))
            .mut_subcommand("compare", |c| {
                c.mut_arg("algos", |a| a.value_parser(parser.clone()))
            });
        let matches = command.get_matches_from(args);
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        init_logging(cli_quiet(&cli), cli.verbose);
        match cli.command {
            Some(Command::Worker(args)) => run_worker(args),
            Some(Command::Evaluate(args)) => evaluate(args, &registry),
            Some(Command::Predict(args)) => predict(args, &registry),
            Some(Command::Compare(args)) => compare::compare(&args, provenance),
            None if no_arguments => compare::builtin(&program, provenance),
            None => train(cli.train, provenance),
        }
    }
}

/// The exit code of a command line that `ended` so, its error printed as one line.
fn exit_code(ended: Result<()>) -> ExitCode {
    // A report lost to a full disk behind `> file` is an error too, said after the run's own.
    let lost = crate::stdout::failure();
    let also = lost
        .as_ref()
        .map_or(String::new(), |lost| format!("; {lost}"));
    match ended {
        Ok(()) => match lost {
            None => ExitCode::SUCCESS,
            Some(lost) => {
                say_err!("error: {lost}");
                ExitCode::FAILURE
            }
        },
        Err(error) if error.is::<Interrupted>() => {
            say_err!("{error:#}{also}");
            ExitCode::from(interrupt::exit_code())
        }
        Err(error) => {
            say_err!("error: {error:#}{also}");
            if error.is::<TargetMissed>() {
                ExitCode::from(EXIT_TARGET_MISSED)
            } else if error.is::<UsageError>() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Parses `args` for the built-in optimizers and `extra`, and runs what they ask for, as
/// `async-train`. Without [`run_from`]'s Ctrl-C handling and exit codes: a signal ends the
/// process at once.
pub fn main_from(args: impl IntoIterator<Item = OsString>, extra: &[Optimizer]) -> Result<()> {
    Program::ASYNC_TRAIN.main_from(args, extra)
}

fn cli_quiet(cli: &Cli) -> bool {
    match &cli.command {
        Some(Command::Compare(args)) => args.run.quiet,
        Some(Command::Worker(_) | Command::Evaluate(_) | Command::Predict(_)) => false,
        None => cli.train.run.quiet,
    }
}

/// The examples of `--help` as `program` runs them: a comment continued on the next line stays
/// under the one it continues, whatever the length of the program's name. Without
/// `builtin_comparison`, the program has none to run with no arguments, and that example
/// ([`BARE_RUN_EXAMPLE`]) is left out.
fn examples_of(program: &str, builtin_comparison: bool) -> String {
    const NAME: &str = "async-train";
    let mut text = String::new();
    let lines = EXAMPLES.lines().enumerate();
    for (_, line) in lines.filter(|(i, _)| builtin_comparison || !BARE_RUN_EXAMPLE.contains(i)) {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start().starts_with('#') {
            let indent = (indent + program.len()).saturating_sub(NAME.len()).max(2);
            text.push_str(&" ".repeat(indent));
            text.push_str(line.trim_start());
        } else {
            text.push_str(&line.replace(NAME, program));
        }
        text.push('\n');
    }
    text.pop();
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continued_comment_stays_under_its_line_for_any_program_name() {
        for program in ["async-train", "my-train", "a-much-longer-program-name"] {
            let text = examples_of(program, true);
            let lines: Vec<&str> = text.lines().collect();
            let first = lines
                .iter()
                .position(|l| l.contains("# no arguments"))
                .unwrap();
            let column = |line: &str| line.find('#').unwrap();
            assert_eq!(column(lines[first]), column(lines[first + 1]), "{text}");
            assert!(lines[first].starts_with(&format!("  {program} ")), "{text}");
            assert_eq!(text.lines().count(), EXAMPLES.lines().count());
        }
        assert_eq!(examples_of("async-train", true), EXAMPLES);
    }

    #[test]
    fn an_authors_help_offers_no_builtin_comparison() {
        let text = examples_of("my-train", false);
        assert!(!text.contains("no arguments"), "{text}");
        assert!(!text.contains("built-in set, 4 workers"), "{text}");
        assert!(
            text.starts_with("Examples:\n  my-train --algo asaga"),
            "{text}"
        );
        assert_eq!(text.lines().count(), EXAMPLES.lines().count() - 2);
    }
}
