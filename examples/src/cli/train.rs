//! The training command: its checkpoint flags, its outputs checked before the run, the run, and
//! its files written.

use std::path::{Path, PathBuf};

use anyhow::Result;
use asyncopt_runtime::data::Dataset;

use super::args::TrainArgs;
use super::exit::UsageError;
use super::output::{is_stdout, refuse_overwriting};
use crate::interrupt;
use crate::job::{self, Checkpointing, Outcome};
use crate::provenance::Provenance;
use crate::run_files::RunFiles;
use crate::trace::{check_writable, same_file};
use crate::words::plural;

/// The training command: the job and its checkpoint flags checked, its outputs checked before
/// the run, the run, and its files written.
pub(super) fn train(args: TrainArgs, provenance: Provenance) -> Result<()> {
    let mut spec = args.run.resumable_job(args.algo)?;
    spec.provenance = provenance;
    job::check_params(&spec.params, &[args.algo])?;
    job::check_settings(&spec, &[args.algo])?;
    spec.checkpointing = checkpointing(&args)?;
    check_outputs(&args, &spec.checkpointing)?;
    let data = spec.load_data()?;
    // From here a Ctrl-C stops the run and lets its files be written.
    let saving = interrupt::Saving::begin();
    let mut files = RunFiles::new(&saving);
    let outputs = [&args.trace, &args.summary, &args.save_model, &args.plot];
    files.will_write(outputs.into_iter().flatten().cloned());
    let outcome = job::run(&spec, &data)?;
    let _files = saving.writing_files();
    if let Some((updates, elapsed_s)) = outcome.resumed_from {
        say!(
            "resumed from the checkpoint at {} ({elapsed_s:.2} s)",
            plural(updates, "update")
        );
        if outcome.report.stats.updates == updates && outcome.time_to_target().is_some() {
            say!("its model reaches the target already: nothing left to train");
        }
    }
    // A run that never trained has no result: its error (a file no worker could read, say)
    // is what happened, not "objective ... after 0 updates".
    if !outcome.failed_untrained() {
        say!("{}", outcome.result_lines());
        let file = args
            .run
            .data
            .as_ref()
            .map(|path| path.display().to_string());
        let line = outcome.sample_line(
            args.save_model.as_deref(),
            file.as_deref().unwrap_or("FILE"),
        );
        if let Some(line) = line {
            say!("{line}");
        }
    }
    // Known before the files are written: a failed run's model replaces no earlier one.
    let ended = outcome.result();
    let failed = outcome.ended_by() == "failure";
    let kept = write_outputs(&args, &outcome, &data, &mut files, failed);
    if let Some(dir) = args.checkpoint.as_ref().or(args.resume.as_ref()) {
        say_checkpoint(dir, &outcome);
    }
    // The error says where the model went: its kind (a signal's, a missed target's) kept.
    let ended = match kept {
        Some(kept) => ended.map_err(|e| e.context(kept)),
        None => ended,
    };
    super::with_unwritten(files.unwritten(), ended)
}

/// The file a failed run's model is kept in, in its checkpoint folder, when `--save-model`
/// holds an earlier model.
const FAILED_MODEL: &str = "failed-model.json";

/// Where the run's model goes, and what the command's error says of it: `--save-model`,
/// unless the run `failed` (a divergence, a lost cluster: its model is no result) and that
/// is a regular file that exists. An earlier model is not replaced by a failed run's, which
/// goes into the checkpoint folder when there is one, and beside the earlier model otherwise
/// (`m.json` → `m.failed.json`, or `m.failed-2.json` when that is taken). A run stopped by a signal or short of its target wrote a
/// model worth keeping: it replaces the file as a run that succeeded does.
fn model_destination(args: &TrainArgs, failed: bool) -> (Option<PathBuf>, Option<String>) {
    let Some(path) = &args.save_model else {
        return (None, None);
    };
    // Only a model in a regular file is spared: a device or a pipe keeps no earlier model.
    if !failed || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return (Some(path.clone()), None);
    }
    let kept = unused_name(match args.checkpoint.as_ref().or(args.resume.as_ref()) {
        Some(dir) => dir.join(FAILED_MODEL),
        None => path.with_extension("failed.json"),
    });
    let note = format!(
        "--save-model {} is left as it was, as this run failed: its model is in {}",
        path.display(),
        kept.display()
    );
    (Some(kept), Some(note))
}

/// `path`, or, when a file is there (an earlier failed run's model), the first of `NAME-2.json`,
/// `NAME-3.json`, ... that is not: a failed run's model replaces no other model either.
fn unused_name(path: PathBuf) -> PathBuf {
    if !path.exists() {
        return path;
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    (2..10_000)
        .map(|n| path.with_file_name(format!("{stem}-{n}.json")))
        .find(|next| !next.exists())
        .unwrap_or(path)
}

/// The checkpoints the flags ask for: `--checkpoint-updates` and `--checkpoint-seconds` in
/// range, and only with a folder to write them into.
fn checkpointing(args: &TrainArgs) -> Result<Checkpointing> {
    if let Some(seconds) = args.checkpoint_seconds {
        if !(seconds > 0.0 && seconds <= job::MAX_CHECKPOINT_S) {
            bail_usage!(
                "--checkpoint-seconds must be a positive number of seconds up to a year, not \
                 {seconds}"
            );
        }
    }
    let checkpoint_dir = args.checkpoint.clone().or_else(|| args.resume.clone());
    if checkpoint_dir.is_none()
        && (args.checkpoint_updates.is_some() || args.checkpoint_seconds.is_some())
    {
        bail_usage!("--checkpoint-updates and --checkpoint-seconds need --checkpoint DIR");
    }
    Ok(Checkpointing {
        dir: args.checkpoint.clone(),
        every_updates: args.checkpoint_updates,
        every_s: args.checkpoint_seconds,
        resume: args.resume.clone(),
    })
}

/// Refuses, before the training, an output that cannot be written, or that would overwrite
/// another output, an input (the data, the token file) or the checkpoint folder's files.
fn check_outputs(args: &TrainArgs, checkpointing: &Checkpointing) -> Result<()> {
    // An output that cannot be written fails the command before the training, not after; so
    // does one that would overwrite another output or an input.
    let outputs = [
        ("--trace", &args.trace),
        ("--summary", &args.summary),
        ("--plot", &args.plot),
        ("--save-model", &args.save_model),
    ];
    let named: Vec<(&str, &PathBuf)> = outputs
        .iter()
        .filter_map(|(flag, path)| path.as_ref().map(|path| (*flag, path)))
        .collect();
    let inputs: Vec<(&str, &PathBuf)> = [
        ("data", &args.run.data),
        ("token file", &args.run.token_file),
    ]
    .into_iter()
    .filter_map(|(name, path)| path.as_ref().map(|path| (name, path)))
    .collect();
    let checkpoint_folders = [&checkpointing.dir, &checkpointing.resume];
    for dir in checkpoint_folders.into_iter().flatten() {
        if let Some((flag, path)) = named.iter().find(|(_, p)| same_file(p, dir)) {
            bail_usage!(
                "{flag} {} names the checkpoint folder: give the output a file of its own",
                path.display()
            );
        }
        for own in [
            asyncopt_runtime::checkpoint::FILE,
            asyncopt_runtime::checkpoint::SUMMARY_FILE,
            job::CHECKPOINT_LOCK,
        ] {
            if let Some((flag, path)) = named.iter().find(|(_, p)| same_file(p, &dir.join(own))) {
                bail_usage!(
                    "{flag} {} would overwrite the checkpoint folder's {own}",
                    path.display()
                );
            }
        }
    }
    for (i, (flag, path)) in named.iter().enumerate() {
        if is_stdout(path) {
            bail_usage!("{flag} -: a run's outputs go to files (its lines go to standard output)");
        }
        if let Some((other, _)) = named[..i].iter().find(|(_, p)| same_file(p, path)) {
            bail_usage!(
                "{other} and {flag} both name {}: give each output a file of its own",
                path.display()
            );
        }
        refuse_overwriting(flag, path, &inputs)?;
        check_writable(path)?;
    }
    if let Some(plot) = &args.plot {
        // An extension the plot cannot be written in is the command line's mistake.
        crate::plot::format_of(plot).map_err(|e| UsageError(format!("--plot {e}")))?;
    }
    if let Some(dir) = &checkpointing.dir {
        crate::trace::check_folder("--checkpoint", dir)?;
        // Made private before anything is put in it; one every user can write is refused.
        asyncopt_runtime::checkpoint::prepare_folder(dir)?;
        check_writable(&dir.join(asyncopt_runtime::checkpoint::FILE))?;
    }
    Ok(())
}

/// Writes the outputs the flags name into `files`, each whatever became of the others (a disk
/// may fill meanwhile), the model where [`model_destination`] says: what the command's error
/// is to say of it, if anything.
fn write_outputs(
    args: &TrainArgs,
    outcome: &Outcome,
    data: &Dataset,
    files: &mut RunFiles,
    failed: bool,
) -> Option<String> {
    let (model, note) = model_destination(args, failed);
    if model != args.save_model {
        files.will_not_write(args.save_model.as_slice());
        files.will_write(model.clone());
    }
    let mut write = |label: &str, path: &Option<PathBuf>, result: &dyn Fn(&Path) -> Result<()>| {
        let written = path.as_ref().is_some_and(|path| files.write(path, result));
        if let (true, Some(path)) = (written, path) {
            say!("{label:<8} {}", path.display())
        }
        written
    };
    write("trace:", &args.trace, &|path| {
        outcome.trace.write_csv(path, outcome.objective_rows())
    });
    write("summary:", &args.summary, &|path| {
        outcome.write_summary(path, data)
    });
    // The results before the plot, which is drawn from them: a disk the plot fills, or a
    // second Ctrl-C while a PNG is drawn, costs the plot only.
    let written = write("model:", &model, &|path| {
        outcome.saved_model(data)?.write(path)
    });
    write("plot:", &args.plot, &|path| {
        crate::plot::write_plot(
            path,
            &[(outcome.algorithm.name(), &outcome.trace)],
            outcome.optimum,
            outcome.spec.stop.target_subopt,
            &outcome.plot_about(),
        )
    });
    // A model that could not be written is in no file: its write's error says so.
    note.filter(|_| written || model.is_none())
}

/// Says what a resume from the checkpoint folder `dir` would go on from.
fn say_checkpoint(dir: &Path, outcome: &Outcome) {
    // A stop rule's end or a failure takes no last checkpoint: say what a resume gets.
    let (dir, updates) = (dir.display(), outcome.report.stats.updates);
    match outcome.report.checkpoint_updates {
        Some(at) if at == updates => say!("checkpoint: {dir}"),
        Some(at) => say!(
            "checkpoint: {dir}, of update {at}: a resume goes on from there, not from \
             update {updates}"
        ),
        None => say!(
            "checkpoint: none in {dir} (none was due, or none could be written): a resume cannot go on from this run"
        ),
    }
    if let Some(error) = &outcome.report.checkpoint_error {
        let failed = outcome.report.checkpoints_failed;
        say!("checkpoint: {failed} could not be written, the last: {error}");
    }
}
