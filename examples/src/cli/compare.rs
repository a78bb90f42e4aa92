//! `compare`, and the built-in comparison of a command line with no arguments: runs of several
//! optimizers into a folder of their own, and their table.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use asyncopt_algorithms::Algorithm;

use super::args::CompareArgs;
use super::spec::builtin_comparison;
use crate::compare::{self, CompareOutputs};
use crate::provenance::Provenance;

/// `compare`: the runs of `args.algos`, into `--out` or a new folder of `runs/`.
pub(super) fn compare(args: &CompareArgs, provenance: Provenance) -> Result<()> {
    let mut spec = args.run.job(args.algos[0])?;
    spec.provenance = provenance;
    if let (Some(out), Some(token)) = (&args.out, &args.run.token_file) {
        // As a run's outputs are checked: a model written over the token would keep the
        // workers holding it from joining the next run. A new folder of `runs/` holds none.
        if let Some(file) = compare::file_overwriting(&args.algos, out, token) {
            bail_usage!(
                "--out {}: its {file} would overwrite the token file",
                out.display()
            );
        }
    }
    let out = match args.out.clone() {
        Some(out) => out,
        None => default_out_dir()?,
    };
    let outputs = compare::run(&spec, &args.algos, &out)?;
    print_outputs(&outputs);
    outputs.check_targets()
}

/// The command line with no arguments: SGD and ASGD on the built-in set
/// ([`builtin_comparison`]), `program` being the name to give for `--help`.
pub(super) fn builtin(program: &str, provenance: Provenance) -> Result<()> {
    let run = builtin_comparison();
    let out = default_out_dir()?;
    say!(
        "No arguments: comparing SGD and ASGD on the built-in California housing set \
         (4 workers, stragglers `slow-workers`). `{program} --help` lists the options."
    );
    let mut spec = run.job(Algorithm::Sgd)?;
    spec.provenance = provenance;
    let pair = [Algorithm::Sgd.into(), Algorithm::Asgd.into()];
    let outputs = compare::run(&spec, &pair, &out)?;
    print_outputs(&outputs);
    outputs.check_targets()
}

fn print_outputs(outputs: &CompareOutputs) {
    say!("{}", outputs.table());
    if outputs.files.is_empty() {
        // The error that follows says why.
        say!("no file written in {}", outputs.dir.display());
        return;
    }
    say!("files in {}:", outputs.dir.display());
    for file in &outputs.files {
        say!("  {}", file.display());
    }
}

/// A new folder `runs/run-SECONDS` for a comparison, taken by creating it, so that two
/// comparisons started in the same second get one each (`run-SECONDS-2`, ...).
fn default_out_dir() -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let runs = PathBuf::from("runs");
    crate::trace::create_folder(&runs)
        .context("without --out, the comparison goes into runs/run-<time>")?;
    for n in 1..=1000 {
        let name = match n {
            1 => format!("run-{stamp}"),
            n => format!("run-{stamp}-{n}"),
        };
        match std::fs::create_dir(runs.join(&name)) {
            Ok(()) => return Ok(runs.join(name)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create folder runs/{name}")),
        }
    }
    bail!("runs/ holds 1000 comparisons of this second: give --out a folder")
}
