//! `compare`: several algorithms on the same data, seed and cluster settings; the time each
//! takes to reach the target, the speedup, and one plot.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::job::{self, JobSpec, Outcome};
use crate::optimizer::{Optimizer, Setting};
use crate::run_files::RunFiles;
use asyncopt_runtime::Dataset;

/// What a comparison wrote and measured.
pub struct CompareOutputs {
    /// The folder of the files.
    pub dir: PathBuf,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// The runs, in the order given: a finished one's outcome (a divergence too), or why one
    /// failed without an outcome (an author's optimizer that panicked at once, workers that
    /// could not start): the comparison went on without it.
    pub runs: Vec<Result<Outcome, FailedRun>>,
    /// With remote workers, a run after the first that could not start (its workers did not
    /// join, say), with the runs after it, or the runs a signal kept from starting: the runs
    /// before are kept, and the comparison ends there.
    pub not_run: Option<String>,
    /// Why each file that could not be written was not (a full disk, say): the comparison
    /// goes on, and writes the others.
    pub unwritten: Vec<String>,
    /// A signal stopped a run or kept one from starting. One that came once the last run was
    /// over, while the files were written, stopped nothing: the comparison is complete.
    pub stopped_by_signal: bool,
}

/// A run of the comparison that ended in an error instead of an outcome.
pub struct FailedRun {
    /// Its optimizer.
    pub algorithm: Optimizer,
    /// Its error, as one line.
    pub error: String,
}

/// Runs the job `spec` with each of `algorithms` in turn, on the same data, and writes their
/// files into `out`: per algorithm a trace, a summary and the model; one plot (SVG and PNG)
/// and a table of times to target.
pub fn run(spec: &JobSpec, algorithms: &[Optimizer], out: &Path) -> Result<CompareOutputs> {
    check_request(spec, algorithms)?;
    let created = !out.exists();
    let compared =
        prepare_folder(spec, algorithms, out).and_then(|()| compare(spec, algorithms, out));
    if compared.is_err() && created {
        // A comparison that wrote nothing leaves no empty folder to pass for one: removing a
        // folder fails unless it is empty, so no file written is lost.
        let _ = std::fs::remove_dir(out);
    }
    compared
}

/// [`run`] into the folder `out`, prepared.
fn compare(spec: &JobSpec, algorithms: &[Optimizer], out: &Path) -> Result<CompareOutputs> {
    let data = spec.load_data()?;
    // From here a Ctrl-C stops the run going on, and the files of the runs done are written.
    let saving = crate::interrupt::Saving::begin();
    let mut files = RunFiles::new(&saving);
    let shared = SHARED_FILES.map(|file| out.join(file));
    files.will_write(shared.iter().cloned());
    // One optimum for all runs, computed once: the toolkit's is a linear model's.
    let optimum = if algorithms.iter().all(|a| a.is_linear()) {
        // Its ten vectors of the dimension come before any run's own check: an allocation
        // past the budget aborted the comparison.
        job::check_linear_model(&data, &spec.cluster)?;
        // A signal meanwhile keeps the first run from starting.
        let _preparing = crate::interrupt::preparing();
        job::optimum_shown(
            &spec.loss,
            &data,
            spec.stop.optimum,
            spec.quiet,
            "comparison",
        )?
    } else {
        spec.stop.optimum
    };
    let mut runs: Vec<Result<Outcome, FailedRun>> = Vec::new();
    let mut not_run = None;
    let mut kept_by_signal = false;
    for (i, &algorithm) in algorithms.iter().enumerate() {
        if crate::interrupt::requested() {
            kept_by_signal = true;
            if !runs.iter().any(Result::is_ok) {
                // Only the shared optimum, or runs that failed, came before: nothing to write.
                let stopped = crate::interrupt::preparation_stopped("comparison");
                return Err(with_failed(stopped, &runs));
            }
            // The table says which runs are missing, and why.
            let rest: Vec<&str> = algorithms[i..].iter().map(|a| a.name()).collect();
            not_run = Some(format!("{} not run: stopped by a signal", rest.join(", ")));
            break;
        }
        let mut spec = spec.clone();
        spec.algorithm = algorithm;
        spec.stop.optimum = optimum;
        // Remote workers serving several runs (`worker --runs K`) learn at each run's end
        // whether another follows, and are dismissed when the comparison ends early.
        spec.cluster.series = if i + 1 < algorithms.len() {
            asyncopt_runtime::Series::NotLast
        } else {
            asyncopt_runtime::Series::Last
        };
        spec.worker_runs = algorithms.len() - i;
        let run_files = run_files(algorithm, out);
        files.will_write(run_files.iter().cloned());
        let outcome = match job::run(&spec, &data) {
            Ok(outcome) => outcome,
            // Local workers are each run's own: a run that fails takes no other with it.
            Err(e) if spec.cluster.spawn_local && !e.is::<crate::cli::Interrupted>() => {
                files.will_not_write(&run_files);
                let error = format!("{e:#}");
                if !spec.quiet {
                    say!("{algorithm} failed: {error}");
                }
                runs.push(Err(FailedRun { algorithm, error }));
                continue;
            }
            // The runs done are not lost to a later one that cannot start. With remote
            // workers the runs after it are not tried: its driver dismissed the workers they
            // would need, and what keeps a run from starting before its workers (the data, the
            // cluster) is theirs too.
            Err(e) if runs.iter().any(Result::is_ok) => {
                files.will_not_write(&run_files);
                kept_by_signal = e.is::<crate::cli::Interrupted>();
                not_run = Some(could_not_run(algorithm, &e, &algorithms[i + 1..]));
                break;
            }
            Err(e) => return Err(with_failed(e, &runs)),
        };
        if !spec.quiet && !outcome.failed_untrained() {
            say!("{}", outcome.result_lines());
        }
        // Each file is attempted whatever became of the others, and the next run goes on:
        // its remote workers were told it would.
        let _files = saving.writing_files();
        write_run_files(&mut files, &outcome, &data, run_files);
        runs.push(Ok(outcome));
    }
    if !runs.iter().any(Result::is_ok) {
        // Every run failed: a table and plot of nothing would pass for a comparison.
        files.will_not_write(&shared);
        bail!("{}; no file written", failed_lines(&runs).join("; "));
    }
    let _files = saving.writing_files();
    // After the last run a signal keeps nothing from running: only one during a run, or
    // before one started, stopped anything.
    let stopped_by_signal = kept_by_signal || runs.iter().flatten().any(|o| o.interrupted);
    let mut outputs = CompareOutputs {
        dir: out.to_path_buf(),
        files: Vec::new(),
        runs,
        not_run,
        unwritten: Vec::new(),
        stopped_by_signal,
    };
    // The table before the plots, which are drawn from the runs: a disk the plots fill, or a
    // second Ctrl-C while the PNG is drawn, costs the plots only. A table that cannot be
    // written (a full disk) is still printed: the comparison is not lost with its file.
    let [table, svg, png] = shared;
    let text = serde_json::to_string_pretty(&outputs.json(&data))? + "\n";
    files.write(&table, |table| {
        crate::trace::write_whole(table, text.as_bytes())
            .with_context(|| format!("cannot write {}", table.display()))
    });
    let lines: Vec<(&str, &crate::trace::Trace)> = (outputs.outcomes())
        .map(|o| (o.algorithm.name(), &o.trace))
        .collect();
    let target = spec.stop.target_subopt;
    let about = outputs
        .outcomes()
        .next()
        .map_or(String::new(), Outcome::plot_about);
    for picture in [svg, png] {
        files.write(&picture, |picture| {
            crate::plot::write_plot(picture, &lines, optimum, target, &about)
        });
    }
    (outputs.files, outputs.unwritten) = files.into_lists();
    Ok(outputs)
}

/// `error`, which ended the comparison, after the lines of the runs before it that failed.
fn with_failed(error: anyhow::Error, runs: &[Result<Outcome, FailedRun>]) -> anyhow::Error {
    let lines = failed_lines(runs);
    if lines.is_empty() {
        return error;
    }
    // A signal keeps its exit code; the runs that failed before it are still named.
    error.context(lines.join("; "))
}

/// The lines of the runs of `runs` that failed, in the order given.
fn failed_lines(runs: &[Result<Outcome, FailedRun>]) -> Vec<String> {
    (runs.iter())
        .filter_map(|run| run.as_ref().err().map(FailedRun::line))
        .collect()
}

impl FailedRun {
    /// The run's error, naming its optimizer.
    fn line(&self) -> String {
        format!("{} failed: {}", self.algorithm, self.error)
    }
}

/// Why `algorithm` did not run (`error`), and the runs of `rest`, after it, not run either.
fn could_not_run(algorithm: Optimizer, error: &anyhow::Error, rest: &[Optimizer]) -> String {
    let why = format!("{algorithm} could not run: {error:#}");
    if rest.is_empty() {
        return why;
    }
    let rest: Vec<&str> = rest.iter().map(|a| a.name()).collect();
    format!("{why}; {} not run after it", rest.join(", "))
}

/// Refuses, before anything is loaded or trained, a comparison that could not give its
/// answer: an optimizer named twice, parameters or settings none of them takes, a target
/// without the optimum an author's model needs, remote workers without a fixed address.
fn check_request(spec: &JobSpec, algorithms: &[Optimizer]) -> Result<()> {
    for (i, algorithm) in algorithms.iter().enumerate() {
        if algorithms[..i].iter().any(|a| a.name() == algorithm.name()) {
            bail_usage!(
                "--algos names {algorithm} twice: each run's files are named after its optimizer"
            );
        }
    }
    job::check_params(&spec.params, algorithms)?;
    job::check_settings(spec, algorithms)?;
    // The loss rewrites the labels of the data every run trains on (-1/+1 for the logistic
    // loss): a run that does not read it would train on labels it was never meant to see.
    if spec.loss.is_classification() {
        if let Some(own) = algorithms.iter().find(|a| !a.reads_setting(Setting::Loss)) {
            bail_usage!(
                "--loss {} rewrites the labels every run of the comparison trains on, but {own} \
                 does not read the loss: compare it without --loss, in a comparison of its own",
                spec.loss.name()
            );
        }
    }
    // Found at that run's start, a step missing would end the comparison after the runs
    // before it had trained.
    for &algorithm in algorithms.iter().filter(|a| !a.is_linear()) {
        job::own_model_step(spec.step, algorithm)?;
    }
    if spec.stop.target_subopt.is_some() && spec.stop.optimum.is_none() {
        // The toolkit computes only a linear model's optimum: found at that run's start, a
        // missing one would end the comparison after the runs before it had trained.
        if let Some(own) = algorithms.iter().find(|a| !a.is_linear()) {
            bail_usage!(
                "--target-subopt needs the optimum: pass --optimum VALUE for {own}, a model of \
                 an author's own type"
            );
        }
    }
    let remote = !spec.cluster.spawn_local;
    if remote && algorithms.len() > 1 {
        // Each run has a driver of its own: the workers must find the next one where the last
        // one was.
        if spec.cluster.bind.ends_with(":0") {
            bail_usage!(
                "compare with remote workers needs --bind ADDRESS with a port: its {} runs \
                 listen one after the other at the same address",
                algorithms.len()
            );
        }
        tracing::info!(
            "compare trains {} runs one after the other, each with a driver of its own at {}: \
             start each remote worker with `worker --runs {}`",
            algorithms.len(),
            spec.cluster.bind,
            algorithms.len()
        );
    }
    Ok(())
}

/// Creates `out` and refuses it if it holds an earlier comparison or if a file of this one
/// would overwrite the data.
fn prepare_folder(spec: &JobSpec, algorithms: &[Optimizer], out: &Path) -> Result<()> {
    crate::trace::check_folder("--out", out)?;
    // Before any run, as every output is checked: the command line's mistake.
    std::fs::create_dir_all(out).map_err(|error| {
        crate::cli::UsageError(format!("cannot create folder {}: {error}", out.display()))
    })?;
    if out.join("compare.json").exists() {
        // Its files would be overwritten, or left beside this one's as if they were its own.
        bail_usage!(
            "--out {}: the folder holds an earlier comparison (compare.json): give --out another \
             folder, or delete that one",
            out.display()
        );
    }
    crate::trace::check_writable(&out.join("compare.json"))?;
    if let job::DataSource::File { path: data, .. } = &spec.data {
        if let Some(file) = file_overwriting(algorithms, out, data) {
            bail_usage!(
                "--out {}: its {file} would overwrite the data",
                out.display()
            );
        }
    }
    Ok(())
}

/// The name of the file of a comparison of `algorithms` into `out` that would overwrite
/// `input`, if one would.
pub fn file_overwriting(algorithms: &[Optimizer], out: &Path, input: &Path) -> Option<String> {
    let per_run = algorithms
        .iter()
        .flat_map(|&algorithm| run_files(algorithm, out));
    let shared = SHARED_FILES.map(|file| out.join(file));
    per_run
        .chain(shared)
        .find(|file| crate::trace::same_file(file, input))
        .map(|file| {
            file.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
}

/// The files of the comparison as a whole: its table, and its plot in two formats.
const SHARED_FILES: [&str; 3] = ["compare.json", "compare.svg", "compare.png"];

/// The trace, summary and model of the run of `algorithm` in `out`.
fn run_files(algorithm: Optimizer, out: &Path) -> [PathBuf; 3] {
    ["trace.csv", "summary.json", "model.json"].map(|kind| out.join(format!("{algorithm}.{kind}")))
}

/// Writes one run's trace, summary and model ([`run_files`]) into `files`, each attempted
/// whatever became of the others.
fn write_run_files(files: &mut RunFiles, outcome: &Outcome, data: &Dataset, run: [PathBuf; 3]) {
    let [trace, summary, model] = run;
    files.write(&trace, |path| {
        outcome.trace.write_csv(path, outcome.objective_rows())
    });
    files.write(&summary, |path| outcome.write_summary(path, data));
    files.write(&model, |path| outcome.saved_model(data)?.write(path));
}

impl CompareOutputs {
    /// An error naming every file that could not be written, followed by how the runs ended
    /// when that is an error too (`check_runs`). The table and files are there either way.
    pub fn check_targets(&self) -> Result<()> {
        crate::cli::with_unwritten(&self.unwritten, self.check_runs())
    }

    /// An error naming every run that ended early, else an
    /// [`Interrupted`](crate::cli::Interrupted) if a signal stopped the comparison, else one
    /// naming the run that could not start, else a
    /// [`TargetMissed`](crate::cli::TargetMissed) naming the runs that did not reach the
    /// target, if one was set.
    fn check_runs(&self) -> Result<()> {
        let failed: Vec<String> = (self.runs.iter())
            .filter_map(|run| match run {
                Ok(o) => Some(format!(
                    "{} ended early: {}",
                    o.algorithm,
                    o.failure.as_ref()?
                )),
                Err(f) => Some(f.line()),
            })
            .collect();
        if !failed.is_empty() {
            anyhow::bail!(
                "{}; the files of {} are in {}",
                failed.join("; "),
                self.done(),
                self.dir.display()
            );
        }
        if self.stopped_by_signal {
            return Err(crate::cli::Interrupted(format!(
                "stopped by a signal; the files of {} are in {}",
                self.done(),
                self.dir.display()
            ))
            .into());
        }
        if let Some(not_run) = &self.not_run {
            anyhow::bail!(
                "{not_run}; the files of {} are in {}",
                self.done(),
                self.dir.display()
            );
        }
        let missed: Vec<&str> = self
            .outcomes()
            .filter(|o| o.spec.stop.target_subopt.is_some() && o.time_to_target().is_none())
            .map(|o| o.algorithm.name())
            .collect();
        if missed.is_empty() {
            return Ok(());
        }
        Err(
            crate::cli::TargetMissed(format!("did not reach the target: {}", missed.join(", ")))
                .into(),
        )
    }

    /// Time to target and speedup against the first algorithm that finished, as JSON: a row
    /// per run in the order given, a failed one's with its error and no measure; with what
    /// the summaries of its runs on `data` say to run them again.
    pub fn json(&self, data: &Dataset) -> serde_json::Value {
        let baseline = self.outcomes().next().and_then(Outcome::time_to_target);
        let rows: Vec<serde_json::Value> = (self.runs.iter())
            .map(|run| match run {
                Ok(o) => {
                    let time = o.time_to_target();
                    serde_json::json!({
                        "algo": o.algorithm.name(),
                        "time_to_target_s": time,
                        "speedup": speedup(baseline, time),
                        "final_objective": o.final_objective(),
                        "optimum": o.optimum,
                        "final_subopt": o.final_subopt(),
                        "objective_rows": o.objective_rows(),
                        "data_rows": o.data_rows,
                        "updates": o.report.stats.updates,
                        "elapsed_s": o.report.elapsed_s,
                        "interrupted": o.interrupted,
                        "failure": o.failure.as_ref().map(ToString::to_string),
                    })
                }
                Err(f) => serde_json::json!({
                    "algo": f.algorithm.name(),
                    "time_to_target_s": null,
                    "speedup": null,
                    "final_objective": null,
                    "optimum": null,
                    "final_subopt": null,
                    "objective_rows": null,
                    "data_rows": null,
                    "updates": null,
                    "elapsed_s": null,
                    "interrupted": false,
                    "failure": f.error,
                }),
            })
            .collect();
        let first = self.outcomes().next();
        let mut json = serde_json::json!({
            "target_subopt": first.and_then(|o| o.spec.stop.target_subopt),
            "runs": rows,
            "not_run": self.not_run,
        });
        // The runs share the command, the data, the seed and the cluster: a summary's fields
        // that say so are the comparison's.
        const SHARED: &[&str] = &[
            "program",
            "program_version",
            "command_line",
            "started_utc",
            "dataset",
            "data_path",
            "data_path_canonical",
            "data_sha256",
            "data_sha256_of",
            "data_access",
            "eval_rows",
            "seed",
            "workers",
            "stragglers",
            "time_s",
        ];
        if let (Some(map), Some(serde_json::Value::Object(summary))) =
            (json.as_object_mut(), first.map(|o| o.summary(data)))
        {
            map.extend(
                summary
                    .into_iter()
                    .filter(|(key, _)| SHARED.contains(&key.as_str())),
            );
        }
        json
    }

    /// A small table for the terminal.
    pub fn table(&self) -> String {
        let baseline = self.outcomes().next().and_then(Outcome::time_to_target);
        let rows: Vec<Row> = (self.runs.iter())
            .map(|run| {
                // Why a run failed is the comparison's error line.
                let o = match run {
                    Ok(o) => o,
                    Err(f) => {
                        return Row {
                            name: f.algorithm.name(),
                            time: "failed".to_owned(),
                            speedup: "-".into(),
                            objective: None,
                            optimum: None,
                            subopt: None,
                        }
                    }
                };
                let time = match (o.spec.stop.target_subopt, o.time_to_target()) {
                    _ if o.failure.is_some() => "failed".to_owned(),
                    (None, _) => "no target".to_owned(),
                    (Some(_), None) => "not reached".to_owned(),
                    (Some(_), Some(t)) => format!("{t:.3} s"),
                };
                let speedup = speedup(baseline, o.time_to_target())
                    .map_or("-".to_owned(), |s| format!("{s:.2}x"));
                Row {
                    name: o.algorithm.name(),
                    time,
                    speedup,
                    objective: Some(o.final_objective()),
                    optimum: o.optimum,
                    subopt: o.final_subopt(),
                }
            })
            .collect();
        let kinds: Vec<(&str, String)> = self
            .outcomes()
            .map(|o| (o.algorithm.name(), objective_kind(o)))
            .collect();
        let mut text = table_of(&rows);
        if let Some(note) = objectives_note(&kinds) {
            text = text + "\n" + &note;
        }
        if let Some(line) = self.sample_line() {
            text = text + "\n" + &line;
        }
        text
    }

    /// The line under the table when the runs were scored on an evaluation sample (they share
    /// the data and seed, so the sample): without it their objectives read as the whole file's.
    fn sample_line(&self) -> Option<String> {
        let sampled = self.outcomes().find(|o| o.sampled.is_some())?;
        let model = run_files(sampled.algorithm, &self.dir)[2].clone();
        let data = match &sampled.spec.data {
            crate::job::DataSource::File { path, .. } => path.display().to_string(),
            _ => "FILE".to_owned(),
        };
        sampled.sample_line(Some(&model), &data)
    }

    /// The runs that finished, in the order given.
    pub fn outcomes(&self) -> impl Iterator<Item = &Outcome> {
        self.runs.iter().flatten()
    }

    /// The names of the runs that finished.
    fn done(&self) -> String {
        let done: Vec<&str> = self.outcomes().map(|o| o.algorithm.name()).collect();
        done.join(", ")
    }
}

/// One run's row of the table.
struct Row<'a> {
    name: &'a str,
    time: String,
    speedup: String,
    objective: Option<f64>,
    /// f*, when known: without it a final objective says nothing of how far the run got.
    optimum: Option<f64>,
    /// The final (f - f*)/f*, when f* is known and above 0.
    subopt: Option<f64>,
}

/// The table's lines: a header, then a row per algorithm (name, time to target, speedup, final
/// objective, f* and the final (f-f*)/f*, `-` for what is unknown or a run that failed). The
/// name column is as wide as the longest name, so that an author's `my-long-name` does not
/// push its row's columns out of line.
fn table_of(rows: &[Row<'_>]) -> String {
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .fold(8, usize::max);
    let mut lines = vec![format!(
        "{:<width$} {:>16} {:>10} {:>16} {:>16} {:>10}",
        "algo", "time to target", "speedup", "final objective", "f*", "(f-f*)/f*"
    )];
    let text = |x: Option<f64>| x.map_or("-".to_owned(), crate::trace::objective_text);
    for row in rows {
        let (name, time, speedup) = (row.name, &row.time, &row.speedup);
        let (objective, optimum) = (text(row.objective), text(row.optimum));
        let subopt = row.subopt.map_or("-".to_owned(), |s| format!("{s:.3e}"));
        lines.push(format!(
            "{name:<width$} {time:>16} {speedup:>10} {objective:>16} {optimum:>16} {subopt:>10}"
        ));
    }
    lines.join("\n")
}

/// What a run's objective is: the run's loss for a linear model, its type's own for a model of
/// an author's type.
fn objective_kind(outcome: &Outcome) -> String {
    match outcome.model.linear() {
        Some(_) => outcome.spec.loss.name().to_owned(),
        None => outcome.model.type_name().to_owned(),
    }
}

/// The line under the table when the runs minimize different functions (`kinds`: each run's
/// name and [`objective_kind`]): their final objectives side by side would read as a ranking.
fn objectives_note(kinds: &[(&str, String)]) -> Option<String> {
    let first = &kinds.first()?.1;
    if kinds.iter().all(|(_, kind)| kind == first) {
        return None;
    }
    let each: Vec<String> = kinds
        .iter()
        .map(|(name, kind)| format!("{name}: {kind}"))
        .collect();
    Some(format!(
        "objectives differ ({}): their final objectives are not comparable",
        each.join(", ")
    ))
}

fn speedup(baseline: Option<f64>, time: Option<f64>) -> Option<f64> {
    match (baseline, time) {
        (Some(b), Some(t)) if t > 0.0 => Some(b / t),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{objectives_note, table_of, CompareOutputs, Row};

    #[test]
    fn runs_of_different_objectives_are_said_not_comparable() {
        let kinds = |list: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
            list.iter().map(|&(n, k)| (n, k.to_owned())).collect()
        };
        let same = kinds(&[("sgd", "least-squares"), ("adam", "least-squares")]);
        assert_eq!(objectives_note(&same), None);
        let mixed = kinds(&[("sgd", "least-squares"), ("logreg", "mine::LogReg")]);
        assert_eq!(
            objectives_note(&mixed).as_deref(),
            Some(
                "objectives differ (sgd: least-squares, logreg: mine::LogReg): their final \
                 objectives are not comparable"
            )
        );
    }

    fn outputs(stopped_by_signal: bool) -> CompareOutputs {
        CompareOutputs {
            dir: "runs/run-1".into(),
            files: Vec::new(),
            runs: Vec::new(),
            not_run: None,
            unwritten: Vec::new(),
            stopped_by_signal,
        }
    }

    #[test]
    fn only_a_signal_that_stopped_something_ends_the_comparison_as_interrupted() {
        // A signal while the last run's files were written kept nothing from running: the
        // comparison ends as it would have, as a single run's command does.
        assert!(outputs(false).check_targets().is_ok());
        let stopped = outputs(true).check_targets().unwrap_err();
        assert!(stopped.is::<crate::cli::Interrupted>(), "{stopped:#}");
    }

    #[test]
    fn the_table_keeps_its_columns_in_line_for_long_names() {
        let row = |name, time: &str, speedup: &str| Row {
            name,
            time: time.to_owned(),
            speedup: speedup.to_owned(),
            objective: Some(0.25),
            optimum: Some(0.2),
            subopt: Some(0.25),
        };
        let rows = [
            row("sgd", "1.210 s", "1.00x"),
            row("a-anchored-svrg", "0.605 s", "2.00x"),
        ];
        let table = table_of(&rows);
        let lines: Vec<&str> = table.lines().collect();
        // Every column right-aligned but the first, padded to the longest name: rows as long
        // as the header, and each time ending where the header's "time to target" ends.
        let time_end = lines[0].find("target").unwrap() + "target".len();
        for line in &lines[1..] {
            assert_eq!(line.len(), lines[0].len(), "{table}");
            assert_eq!(line.find(" s ").unwrap() + " s".len(), time_end, "{table}");
        }
    }

    #[test]
    fn the_table_says_each_run_s_optimum_and_final_suboptimality() {
        let row = |optimum, subopt| Row {
            name: "sgd",
            time: "no target".to_owned(),
            speedup: "-".to_owned(),
            objective: Some(0.2752344442),
            optimum,
            subopt,
        };
        let table = table_of(&[row(Some(0.2636484530), Some(4.394e-2)), row(None, None)]);
        let last = |line: &str| -> Vec<String> {
            let words: Vec<&str> = line.split_whitespace().collect();
            words[words.len() - 3..]
                .iter()
                .map(|w| w.to_string())
                .collect()
        };
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(last(lines[0]), ["objective", "f*", "(f-f*)/f*"], "{table}");
        assert_eq!(last(lines[1]), ["0.2752344442", "0.2636484530", "4.394e-2"]);
        assert_eq!(last(lines[2]), ["0.2752344442", "-", "-"]);
        // In line with the header.
        assert!(
            lines.iter().all(|line| line.len() == lines[0].len()),
            "{table}"
        );
    }
}
