//! `worker`: a worker process of a driver on another host, for one run or several.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use asyncopt_runtime::protocol::{name_problem, MAX_WORKER_NAME};
use asyncopt_runtime::worker::RunEnd;
use asyncopt_runtime::Token;

use super::args::WorkerArgs;
use super::spec::{seconds, token_file};

pub(super) fn run_worker(args: WorkerArgs) -> Result<()> {
    let name = args
        .name
        .unwrap_or_else(|| format!("w-{}-{}", hostname(), std::process::id()));
    if let Some(problem) = name_problem(&name, MAX_WORKER_NAME) {
        bail_usage!("--name: {problem}; the driver knows its workers by their names");
    }
    let mut options = asyncopt_runtime::worker::WorkerOptions::new(name, args.driver);
    // Its bytes, as a token file's are: a token that is not UTF-8 was taken as none.
    let token_from = match (&args.token_file, std::env::var_os("ASYNC_TOKEN")) {
        (Some(path), _) => {
            options.token = Some(token_file(path)?);
            format!("its token from --token-file {}", path.display())
        }
        (None, Some(text)) => match Token::new(text.as_encoded_bytes().trim_ascii()) {
            Ok(token) => {
                options.token = Some(token);
                "its token from the ASYNC_TOKEN environment variable".to_owned()
            }
            Err(e) => bail_usage!("ASYNC_TOKEN: {e}"),
        },
        (None, None) => "given no token: neither --token-file nor ASYNC_TOKEN".to_owned(),
    };
    // Before the loopback check, which would call `ipc://x` beyond loopback.
    if let Some(problem) = asyncopt_runtime::transport::dial_problem(&options.driver) {
        bail_usage!("--driver {}: {problem}", options.driver);
    }
    if options.token.is_none() && !asyncopt_runtime::transport::is_loopback(&options.driver) {
        // The runtime refuses too, in words that name no flag of any program.
        bail_usage!(
            "--driver {} is beyond loopback: a worker joins it only with the run's token, given \
             with --token-file FILE (or ASYNC_TOKEN); without one, any peer there could pretend \
             to be the driver",
            options.driver
        );
    }
    // Not refused: a file may appear later (a mount not yet up); a host still lacking it is
    // excluded when told to read it. A typo is said now, not minutes later by the driver, and
    // whatever the log filter: it is about the command line, as a usage error would be.
    for (path, why) in unreadable(&args.data) {
        say_err!(
            "warning: --data {}: {why}; this worker starts anyway, and a read of it ordered \
             while it still cannot fails",
            path.display()
        );
    }
    options.readable = args.data;
    options.reconnect = match args.reconnect {
        Some(s) => Some(seconds("--reconnect", s)?),
        None => None,
    };
    options.driver_timeout = match seconds("--driver-timeout", args.driver_timeout)? {
        Duration::ZERO => None,
        timeout => Some(timeout),
    };
    options.connect_timeout = seconds("--connect-timeout", args.connect_timeout)?;
    options.require_encrypt = args.require_encrypt;
    crate::interrupt::serving_as_worker(options.progress.clone());
    let mut run = 1;
    while run <= args.runs {
        if run > 1 {
            tracing::info!(run, of = args.runs, "waiting for the next run's driver");
            // The last run's driver may still hold the address for a moment: a worker that
            // reaches it and loses it tries again, as for a lost driver.
            let window = options
                .connect_timeout
                .max(options.reconnect.unwrap_or_default());
            options.reconnect = Some(window);
        }
        let served = asyncopt_runtime::worker::run_served(options.clone())
            .map_err(|e| token_named(e.into(), &token_from))?;
        // Declared lost as a run ended, it may have joined again at the next run's driver:
        // the run it ended in is a later one.
        run = (run + served.runs - 1).min(args.runs);
        let end = served.end;
        if end == RunEnd::NotStarted {
            // The driver said why, in the line before: no run was served, and none follows.
            tracing::info!("no run to serve: this worker is done");
            return Ok(());
        }
        if end == RunEnd::Last && run < args.runs {
            // A comparison stopped, or whose next run could not start: no driver will come.
            tracing::info!(run, of = args.runs, "the driver said no other run follows");
            break;
        }
        if end == RunEnd::AnotherFollows && run == args.runs {
            // Said here, or the next run's driver waits for it in silence, then fails.
            tracing::warn!(
                runs = args.runs,
                "the driver said another run follows, but this worker serves only the runs its \
                 --runs gave: it leaves, and the next run waits for a worker in its place (start \
                 workers with --runs as many as the comparison's runs)"
            );
        }
        run += 1;
    }
    // Without it, a worker that served its runs ended with no word after `admitted`.
    tracing::info!("the driver ended its run: this worker is done");
    Ok(())
}

/// The error a worker stopped with; one over tokens says where this worker's token came from
/// (`token_from`): ASYNC_TOKEN, set and forgotten, was taken for a token file no one gave.
fn token_named(error: anyhow::Error, token_from: &str) -> anyhow::Error {
    match error.to_string().contains("token") {
        true => error.context(format!("worker stopped ({token_from})")),
        false => error.context("worker stopped"),
    }
}

/// The `--data` entries this worker cannot read now, each with why: missing, not allowed,
/// or neither a regular file nor a folder (which it never reads).
fn unreadable(data: &[PathBuf]) -> Vec<(&Path, String)> {
    data.iter()
        .filter_map(|path| Some((path.as_path(), unreadable_why(path)?)))
        .collect()
}

fn unreadable_why(path: &Path) -> Option<String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some("does not exist on this host".into())
        }
        Err(e) => return Some(format!("cannot be read now: {e}")),
    };
    // Opened only when a regular file or a folder: opening a FIFO would wait for a writer.
    let opened = if meta.is_dir() {
        std::fs::read_dir(path).map(drop)
    } else if meta.is_file() {
        std::fs::File::open(path).map(drop)
    } else {
        return Some("is neither a regular file nor a folder".into());
    };
    opened.err().map(|e| format!("cannot be read now: {e}"))
}

/// This host's name, as a worker name may spell it (at most 40 letters, digits, `.` and `-`).
fn hostname() -> String {
    let name = asyncopt_runtime::transport::host_name().unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "host".into()
    } else {
        name
    }
}
