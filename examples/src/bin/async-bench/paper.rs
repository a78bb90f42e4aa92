//! `async-bench paper`: the ASYNC paper's experiments. SGD against ASGD and SAGA against ASAGA
//! at delay intensities 0.3, 0.6 and 1.0 (`intensity:C`: one worker sleeps C times its mean
//! compute after every task) and under the cloud model (`slow-partitions`), with 32 partitions
//! on 8 workers, on bio_kdd04 (dense), reviews_tfidf (sparse, rcv1-like) and a9a, each pair to a
//! fixed target. Writes one figure per setting ((f-f*)/f* against time, both algorithms), a
//! speedup-against-intensity figure, and the numbers under the key `paper` of the figures file.
//!
//! `async-bench paper [--datasets bio,a9a] [--settings 0.3,cloud] [--pairs sgd] [--time 30]`
//!
//! The whole sweep (48 runs) takes about 10 minutes on 2 cores.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, Result};
use async_train::cli::numbers;
use async_train::cli::RunArgs;
use async_train::job::{self, Outcome};
use async_train::plot::{self, Style};
use async_train::words::plural;
use asyncopt_algorithms::{Algorithm, Metric};
use asyncopt_runtime::{Dataset, Stragglers};
use serde_json::{json, Value};

use crate::{figures, large_data, ran, speedup};

/// Settings of the paper's experiments.
#[derive(Debug, clap::Args)]
pub struct PaperArgs {
    /// Datasets to run, of bio (bio_kdd04), reviews (reviews_tfidf), a9a.
    #[arg(long, value_delimiter = ',', default_value = "bio,reviews,a9a")]
    datasets: Vec<PaperSet>,
    /// Straggler settings to run: delay intensities (0 to 100) and `cloud` (the slow-partitions
    /// model).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.3,0.6,1.0,cloud",
        allow_negative_numbers = true
    )]
    settings: Vec<Setting>,
    /// Algorithm pairs to run, of sgd (SGD/ASGD) and saga (SAGA/ASAGA).
    #[arg(long, value_delimiter = ',', default_value = "sgd,saga")]
    pairs: Vec<Pair>,
    /// Worker processes.
    #[arg(long, default_value_t = 8, allow_hyphen_values = true, value_parser = crate::local_workers)]
    workers: usize,
    /// Partitions per worker (the paper: 32 partitions on 8 workers).
    #[arg(long, default_value_t = 4, allow_hyphen_values = true, value_parser = numbers::partitions_per_worker)]
    partitions_per_worker: usize,
    /// Seconds of training at most per run; a run that misses its target by then counts as
    /// not reaching it.
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true, value_parser = crate::positive_seconds)]
    time: f64,
    /// ASAGA's step as a fraction of its default: with 32 partitions on 8 workers the default
    /// (SAGA's times 2/sqrt(workers)) diverges on bio_kdd04.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true, value_parser = step_scale)]
    asaga_step_scale: f64,
    /// Seed of partitioning, sampling and stragglers.
    #[arg(long, default_value_t = 7, allow_hyphen_values = true, value_parser = numbers::zero_or_more::<u64>)]
    seed: u64,
    /// Where the numbers go (key `paper`).
    #[arg(long, default_value = "bench/figures.json")]
    out: PathBuf,
    /// Where the figures go.
    #[arg(long, default_value = "bench/paper")]
    figures_dir: PathBuf,
    /// Figure format: png or svg.
    #[arg(long, default_value = "png", value_parser = figure_format)]
    format: String,
}

/// A dataset of the experiments, with the targets its pairs train to.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PaperSet {
    key: &'static str,
    file: &'static str,
    /// Least-squares optimum (`data/README.md`, `../shared/data/README.md`).
    optimum: f64,
    /// Target relative suboptimality of SGD/ASGD and of SAGA/ASAGA.
    targets: (f64, f64),
    /// Rows sampled per task.
    batch: usize,
}

const SETS: [PaperSet; 3] = [
    PaperSet {
        key: "bio",
        file: "bio_kdd04.normalized.xz",
        optimum: 0.01890429339,
        targets: (1e-2, 1e-2),
        batch: 256,
    },
    PaperSet {
        key: "reviews",
        file: "reviews_tfidf.xz",
        optimum: 0.08409862623,
        targets: (0.5, 0.5),
        batch: 64,
    },
    PaperSet {
        key: "a9a",
        file: "a9a.xz",
        optimum: 0.2242095732,
        targets: (1e-2, 2e-3),
        batch: 128,
    },
];

impl FromStr for PaperSet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SETS.into_iter()
            .find(|set| set.key == s)
            .ok_or_else(|| format!("unknown dataset `{s}`: use bio, reviews or a9a"))
    }
}

/// A straggler setting: a delay intensity, or the cloud model.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Setting {
    Intensity(f64),
    Cloud,
}

impl FromStr for Setting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cloud" | "slow-partitions" | "asyncpaper" => Ok(Setting::Cloud),
            _ => match s.parse::<f64>() {
                // The straggler model's own bound, said before the data is loaded.
                Ok(c) if (0.0..=100.0).contains(&c) => Ok(Setting::Intensity(c)),
                _ => Err(format!(
                    "unknown setting `{s}`: use a delay intensity from 0 to 100 (e.g. 0.3) or cloud"
                )),
            },
        }
    }
}

/// A figure format, png or svg: another was refused only once the part had begun, exit 1.
fn figure_format(text: &str) -> Result<String, String> {
    match text {
        "png" | "svg" => Ok(text.to_owned()),
        _ => Err(format!("`{text}` is not a figure format: use png or svg")),
    }
}

/// A fraction of ASAGA's default step, above 0: NaN ran every ASAGA run with no step at all.
fn step_scale(text: &str) -> Result<f64, String> {
    let what = "a fraction of the step above 0";
    numbers::number(text, |x| x.is_finite() && x > 0.0, what)
}

impl Setting {
    fn stragglers(self) -> Stragglers {
        match self {
            Setting::Intensity(c) => Stragglers::Intensity(c),
            Setting::Cloud => Stragglers::SlowPartitions,
        }
    }

    /// Its name in file names and JSON keys.
    fn key(self) -> String {
        match self {
            Setting::Intensity(c) => format!("intensity-{c}"),
            Setting::Cloud => "cloud".into(),
        }
    }

    fn title(self) -> String {
        match self {
            Setting::Intensity(c) => format!("delay intensity {c}"),
            Setting::Cloud => "cloud model".into(),
        }
    }
}

/// A synchronous algorithm and its asynchronous twin.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pair {
    Sgd,
    Saga,
}

impl FromStr for Pair {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sgd" => Ok(Pair::Sgd),
            "saga" => Ok(Pair::Saga),
            _ => Err(format!("unknown pair `{s}`: use sgd or saga")),
        }
    }
}

impl Pair {
    fn algorithms(self) -> (Algorithm, Algorithm) {
        match self {
            Pair::Sgd => (Algorithm::Sgd, Algorithm::Asgd),
            Pair::Saga => (Algorithm::Saga, Algorithm::Asaga),
        }
    }

    fn key(self) -> &'static str {
        match self {
            Pair::Sgd => "sgd",
            Pair::Saga => "saga",
        }
    }

    fn target(self, set: &PaperSet) -> f64 {
        match self {
            Pair::Sgd => set.targets.0,
            Pair::Saga => set.targets.1,
        }
    }
}

/// Runs the chosen experiments, writes their figures and merges their numbers into the key
/// `paper` of the figures file (keeping the entries of experiments not run this time).
pub fn paper(args: PaperArgs) -> Result<()> {
    crate::distinct("--datasets", &args.datasets, |set| set.key.to_owned())?;
    crate::distinct("--settings", &args.settings, |setting| setting.title())?;
    crate::distinct("--pairs", &args.pairs, |pair| pair.key().to_owned())?;
    async_train::trace::check_folder("--figures-dir", &args.figures_dir)?;
    // Every set found before the first run: a missing one would end the part after minutes.
    let paths = args
        .datasets
        .iter()
        .map(|set| dataset_path(set.file))
        .collect::<Result<Vec<_>>>()?;
    // After the refusals that create nothing: these create the folders of the outputs. A
    // folder of figures that cannot be written was found at the first figure, after its runs.
    figures::check(&args.out)?;
    let speedup_figure = speedup_plot_path(&args);
    async_train::trace::check_flag_writable("--figures-dir", &args.figures_dir, &speedup_figure)?;
    let mut numbers = previous_numbers(&args.out);
    // Other processes on the machine skew every time: the figures say how busy it was.
    let load_at_start = figures::load_average();
    let planned = args.datasets.len() * args.pairs.len() * args.settings.len() * 2;
    let mut stop = ran::Stoppable::begin("paper", planned).in_pairs();
    'sets: for (set, data_path) in args.datasets.iter().zip(paths) {
        if stop.stopped() {
            break;
        }
        let mut run = RunArgs::parse_defaults();
        run.data = Some(data_path.clone());
        run.optimum = Some(set.optimum);
        run.workers = args.workers;
        run.seed = args.seed;
        run.batch = set.batch;
        run.updates = Some(100_000_000);
        run.time = Some(args.time);
        run.quiet = true;
        run.eval_every = 0.02;
        let mut spec = run.job(Algorithm::Sgd)?;
        spec.cluster.partitions_per_worker = args.partitions_per_worker;
        ran::reading(&data_path);
        let data = spec.load_data()?;
        eprintln!(
            "{}: {}, {}; {} x {}",
            data.name(),
            plural(data.n_rows(), "row"),
            plural(data.dim(), "feature"),
            plural(args.workers, "worker"),
            plural(args.partitions_per_worker, "partition")
        );
        for &pair in &args.pairs {
            for &setting in &args.settings {
                let entry = experiment(&args, &mut stop, &mut spec, &data, set, pair, setting)?;
                if let Some(entry) = entry {
                    let entry = stamped(entry, &run_settings(&args, &data_path));
                    let key = format!("{}/{}/{}", set.key, pair.key(), setting.key());
                    numbers.insert(key, entry);
                }
                // A signal stopped a run: the runs done are kept, and no other starts.
                if stop.stopped() {
                    break 'sets;
                }
            }
        }
    }
    if stop.nothing_done() {
        // Nothing finished: no figure to draw, and the earlier figures are left as they were.
        return stop.finish_unwritten(&args.out);
    }
    speedup_plot(&args, &numbers)?;
    let figures = json!({
        "partial": stop.partial(),
        "workers": args.workers,
        "partitions_per_worker": args.partitions_per_worker,
        "time_cap_s": args.time,
        "seed": args.seed,
        "load_average_at_start": load_at_start,
        "load_average_at_end": figures::load_average(),
        "figures_dir": args.figures_dir.display().to_string(),
        "runs": Value::Object(numbers),
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);
    figures::merge(&args.out, "paper", figures)?;
    let written = format!(
        "figures written to {} and {}",
        args.out.display(),
        args.figures_dir.display()
    );
    if stop.stopped() {
        return stop.finish(&format!("{written}, marked partial"));
    }
    eprintln!("{written}");
    Ok(())
}

/// One setting of one pair on one dataset: both runs, their figure, their numbers. A signal
/// that stopped its first run leaves `None`; one that stopped its second leaves the first
/// run's numbers and figure, the second's `null` and said not run in the title.
fn experiment(
    args: &PaperArgs,
    stop: &mut ran::Stoppable,
    spec: &mut job::JobSpec,
    data: &Arc<Dataset>,
    set: &PaperSet,
    pair: Pair,
    setting: Setting,
) -> Result<Option<Value>> {
    let target = pair.target(set);
    spec.cluster.stragglers = setting.stragglers();
    spec.stop.target_subopt = Some(target);
    let (sync, asynchronous) = pair.algorithms();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for algorithm in [sync, asynchronous] {
        spec.algorithm = algorithm.into();
        spec.step = None;
        if algorithm == Algorithm::Asaga {
            let metric = Metric::new(spec.precondition, &spec.loss, data)?;
            spec.step = Some(args.asaga_step_scale * job::default_step(spec, data, &metric));
        }
        let label = format!("  {} {}: {algorithm}", set.key, setting.key());
        let Some(outcome) = stop.run(&label, spec, data)? else {
            break;
        };
        eprintln!("  {} {}: {}", set.key, setting.key(), ran::said(&outcome));
        // One that failed before its first update said so above, its error with it.
        if let Some(failure) = outcome
            .failure
            .as_ref()
            .filter(|_| !outcome.failed_untrained())
        {
            eprintln!(
                "  {} {}: {algorithm} failed: {failure}",
                set.key,
                setting.key()
            );
        }
        outcomes.push(outcome);
    }
    let (s, a) = match outcomes.as_slice() {
        [] => return Ok(None),
        [s] => (s, None),
        [s, a, ..] => (s, Some(a)),
    };
    let time = ran::time_to_target;
    let (sync_name, async_name) = (sync.to_string(), asynchronous.to_string());
    // A run that failed before its first update is no line: its title says why.
    let mut runs = vec![(sync_name.as_str(), &s.trace, ran::untrained_error(s))];
    let mut reached = vec![(sync_name.as_str(), time(s))];
    if let Some(a) = a {
        runs.push((async_name.as_str(), &a.trace, ran::untrained_error(a)));
        reached.push((async_name.as_str(), time(a)));
    }
    let (lines, failed) = ran::plotted(&runs);
    let mut title = figure_title(set, setting, target, &reached);
    if let Some(failed) = failed {
        title = format!("{title}; {failed}");
    }
    if a.is_none() {
        title = format!("{title}; {async_name} not run: stopped by a signal");
    }
    let figure = args.figures_dir.join(format!(
        "{}-{}-{}.{}",
        set.key,
        pair.key(),
        setting.key(),
        args.format
    ));
    let style = Style {
        title: &title,
        size: (640, 400),
        target: Some(target),
    };
    // Both failed: nothing to draw, and the part goes on with its other settings.
    let drawn = !lines.is_empty();
    if drawn {
        plot::write_styled(&figure, &lines, Some(set.optimum), &style)?;
    }
    // An earlier run's figure of this experiment, in the other format (or in this one when
    // nothing was drawn), would be taken for this run's.
    remove_stale(&figure, drawn)?;
    let run_numbers = |o: &Outcome| {
        json!({
            "time_to_target_s": ran::time_to_target(o),
            "elapsed_s": ran::trained(o, |o| o.report.elapsed_s),
            "updates": ran::trained(o, |o| o.report.stats.updates),
            // Of a run that never trained: the starting model's, no result of its.
            "final_subopt": ran::trained(o, Outcome::final_subopt).flatten(),
            "dropped_stale": ran::trained(o, |o| o.report.stats.dropped_stale),
            "straggler_sleep_s": ran::trained(o, |o| {
                o.report.workers.iter().map(|w| w.delay_s).sum::<f64>()
                    + o.report.forgotten_workers.delay_s
            }),
            // A run that failed (diverged, or lost its workers) is not one that was slow.
            "failure": o.failure,
        })
    };
    Ok(Some(json!({
        "dataset": set.file,
        "stragglers": setting.stragglers().to_string(),
        "intensity": match setting { Setting::Intensity(c) => Some(c), Setting::Cloud => None },
        "target_subopt": target,
        "batch": set.batch,
        "steps": { sync.to_string(): s.step, asynchronous.to_string(): a.map(|a| a.step) },
        sync.to_string(): run_numbers(s),
        // Not run: a signal stopped the part.
        asynchronous.to_string(): a.map(run_numbers),
        "speedup": a.and_then(|a| speedup(time(s), time(a))),
        "figure": drawn.then(|| figure.display().to_string()),
    })))
}

/// The title of one experiment's figure: its target, and who did not reach it by the time
/// cap (`reached`: each algorithm and its time to target), which "to 2e-3" alone hid.
fn figure_title(
    set: &PaperSet,
    setting: Setting,
    target: f64,
    reached: &[(&str, Option<f64>)],
) -> String {
    let title = format!("{}, {}, to {:e}", set.key, setting.title(), target);
    let missed: Vec<&str> = reached
        .iter()
        .filter(|(_, time)| time.is_none())
        .map(|(name, _)| *name)
        .collect();
    match missed.as_slice() {
        [] => title,
        [one] => format!("{title} ({one} did not reach it)"),
        _ => format!("{title} (not reached by {})", missed.join(" or ")),
    }
}

/// The speedup of each pair on each dataset against the delay intensity, from the entries
/// made with this run's settings ([`speedup_series`]).
fn speedup_plot(args: &PaperArgs, numbers: &serde_json::Map<String, Value>) -> Result<()> {
    let series = speedup_series(args, numbers);
    let path = speedup_plot_path(args);
    // Nothing to draw: an earlier figure, of other settings, would be taken for this run's.
    if series.is_empty() {
        return remove_stale(&path, false);
    }
    let title = format!(
        "time-to-target speedup of the asynchronous twin ({} x {}, cap {} s)",
        plural(args.workers, "worker"),
        plural(args.partitions_per_worker, "partition"),
        args.time
    );
    let style = Style {
        title: &title,
        size: (640, 400),
        target: None,
    };
    plot::write_xy(
        &path,
        &style,
        ("delay intensity", "speedup (sync time / async time)"),
        &series,
    )?;
    remove_stale(&path, true)
}

/// One line per pair and dataset of the speedup against the intensity, of the entries known
/// (this run's and earlier ones kept in the figures file) made with this run's settings and
/// data and the pair's own target: a line through points of other workers, partitions, caps
/// or targets would read as one curve.
fn speedup_series(
    args: &PaperArgs,
    numbers: &serde_json::Map<String, Value>,
) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut series = Vec::new();
    for set in SETS {
        // A set this machine cannot find now has no data to match.
        let Ok(data_path) = dataset_path(set.file) else {
            continue;
        };
        let settings = run_settings(args, &data_path);
        for pair in [Pair::Sgd, Pair::Saga] {
            let prefix = format!("{}/{}/intensity-", set.key, pair.key());
            let same = |entry: &Value| {
                settings.iter().all(|(key, value)| &entry[key] == value)
                    && entry["target_subopt"].as_f64() == Some(pair.target(&set))
            };
            let mut points: Vec<(f64, f64)> = numbers
                .iter()
                .filter(|(key, entry)| key.starts_with(&prefix) && same(entry))
                .filter_map(|(_, v)| Some((v["intensity"].as_f64()?, v["speedup"].as_f64()?)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            if !points.is_empty() {
                let (sync, asynchronous) = pair.algorithms();
                series.push((format!("{asynchronous}/{sync} on {}", set.key), points));
            }
        }
    }
    series
}

/// Removes the other format's file of the figure `path` (png beside svg, or svg beside png),
/// and `path` itself unless `drawn`: each is an earlier run's, of settings that may differ.
fn remove_stale(path: &Path, drawn: bool) -> Result<()> {
    for format in ["png", "svg"] {
        let other = path.with_extension(format);
        if drawn && other == path {
            continue;
        }
        match std::fs::remove_file(&other) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", other.display())),
        }
    }
    Ok(())
}

/// Where [`speedup_plot`] draws.
fn speedup_plot_path(args: &PaperArgs) -> PathBuf {
    args.figures_dir
        .join(format!("speedup-vs-intensity.{}", args.format))
}

/// The settings of this run on the data at `data_path`, beside each entry's own (stragglers,
/// target): the entries an earlier run left may have run under others, and the file's top
/// level holds the last run's.
fn run_settings(args: &PaperArgs, data_path: &Path) -> serde_json::Map<String, Value> {
    let settings = json!({
        "workers": args.workers,
        "partitions_per_worker": args.partitions_per_worker,
        "time_cap_s": args.time,
        "seed": args.seed,
        "asaga_step_scale": args.asaga_step_scale,
        "data": data_path.display().to_string(),
    });
    match settings {
        Value::Object(map) => map,
        _ => unreachable!("settings are an object"),
    }
}

/// `entry` with the settings it ran under ([`run_settings`]).
fn stamped(mut entry: Value, settings: &serde_json::Map<String, Value>) -> Value {
    if let Some(map) = entry.as_object_mut() {
        map.extend(settings.clone());
    }
    entry
}

/// The entries of an earlier run of this part, so that running a subset keeps the rest.
fn previous_numbers(out: &Path) -> serde_json::Map<String, Value> {
    // Read as every part reads the file, within its bound: `figures::check` has refused a
    // file it cannot read.
    super::figures::existing(out)
        .ok()
        .and_then(|figures| figures.get("paper")?["runs"].as_object().cloned())
        .unwrap_or_default()
}

/// A large set where [`large_data`] looks, or a small one the repository carries in `data/`.
fn dataset_path(file: &str) -> Result<PathBuf> {
    let carried = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(file);
    large_data(
        file,
        "set ASYNC_DATA_DIR to its folder, or leave its set out of --datasets",
    )
    .or_else(|e| {
        carried
            .is_file()
            .then(|| carried.clone())
            .with_context(|| format!("{e:#}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn parses_the_subset_options() {
        assert_eq!("cloud".parse(), Ok(Setting::Cloud));
        assert_eq!("0.3".parse(), Ok(Setting::Intensity(0.3)));
        assert!("fast".parse::<Setting>().is_err());
        assert!("-1".parse::<Setting>().is_err());
        assert_eq!("a9a".parse::<PaperSet>().map(|s| s.file), Ok("a9a.xz"));
        assert!("rcv1".parse::<PaperSet>().is_err());
        assert_eq!("saga".parse(), Ok(Pair::Saga));
        assert_eq!(
            Setting::Intensity(0.6).stragglers(),
            Stragglers::Intensity(0.6)
        );
        assert_eq!(Setting::Cloud.stragglers(), Stragglers::SlowPartitions);
    }

    fn parsed(args: &[&str]) -> PaperArgs {
        let all = ["async-bench", "paper"].iter().chain(args);
        match crate::Cli::try_parse_from(all)
            .expect("paper's arguments")
            .part
        {
            Some(crate::Part::Paper(args)) => args,
            other => panic!("not the paper part: {other:?}"),
        }
    }

    /// An entry of a9a's SGD pair at `intensity`, made with `args`.
    fn entry(args: &PaperArgs, intensity: f64, speedup: f64) -> Value {
        let set: PaperSet = "a9a".parse().unwrap();
        let data = dataset_path(set.file).expect("a9a is in data/");
        let made = json!({
            "intensity": intensity,
            "target_subopt": Pair::Sgd.target(&set),
            "speedup": speedup,
        });
        stamped(made, &run_settings(args, &data))
    }

    #[test]
    fn a_title_says_who_did_not_reach_the_target() {
        let set: PaperSet = "a9a".parse().unwrap();
        let title = |reached| figure_title(&set, Setting::Cloud, 2e-3, reached);
        let neither = title(&[("sgd", None), ("asgd", None)]);
        assert_eq!(
            neither,
            "a9a, cloud model, to 2e-3 (not reached by sgd or asgd)"
        );
        let one = title(&[("sgd", Some(1.0)), ("asgd", None)]);
        assert_eq!(one, "a9a, cloud model, to 2e-3 (asgd did not reach it)");
        let both = title(&[("sgd", Some(1.0)), ("asgd", Some(0.5))]);
        assert_eq!(both, "a9a, cloud model, to 2e-3");
    }

    #[test]
    fn the_speedup_figure_joins_only_points_of_this_runs_settings() {
        // An earlier run with 2 workers x 2 partitions and one with 3 x 1 were drawn as one
        // line: the 3 x 1 run's figure must draw its own point only.
        let earlier = parsed(&["--workers", "2", "--partitions-per-worker", "2"]);
        let now = parsed(&["--workers", "3", "--partitions-per-worker", "1"]);
        let mut numbers = serde_json::Map::new();
        numbers.insert("a9a/sgd/intensity-0.3".into(), entry(&earlier, 0.3, 2.0));
        numbers.insert("a9a/sgd/intensity-1".into(), entry(&now, 1.0, 1.5));
        let mut other_target = entry(&now, 0.6, 9.0);
        other_target["target_subopt"] = json!(0.5);
        numbers.insert("a9a/sgd/intensity-0.6".into(), other_target);
        let series = speedup_series(&now, &numbers);
        assert_eq!(series.len(), 1, "{series:?}");
        assert_eq!(series[0].1, vec![(1.0, 1.5)], "{series:?}");
        assert_eq!(speedup_series(&earlier, &numbers)[0].1, vec![(0.3, 2.0)]);
    }

    #[test]
    fn a_figure_of_another_format_left_by_an_earlier_run_is_removed() {
        let dir = std::env::temp_dir().join(format!("paper-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let folder = dir.to_str().unwrap();
        let args = parsed(&["--figures-dir", folder, "--format", "svg"]);
        let stale = dir.join("speedup-vs-intensity.png");
        std::fs::write(&stale, "an earlier run's").unwrap();
        let mut numbers = serde_json::Map::new();
        numbers.insert("a9a/sgd/intensity-1".into(), entry(&args, 1.0, 1.5));
        speedup_plot(&args, &numbers).unwrap();
        assert!(dir.join("speedup-vs-intensity.svg").is_file());
        assert!(!stale.exists(), "the png of an earlier run is left");
        // No point of this run's settings: the figure drawn above is not left either.
        let other = parsed(&["--figures-dir", folder, "--format", "svg", "--workers", "5"]);
        speedup_plot(&other, &numbers).unwrap();
        assert!(!dir.join("speedup-vs-intensity.svg").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
