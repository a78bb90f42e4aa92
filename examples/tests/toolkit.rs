//! An author's own optimizer through the toolkit: this test executable is an author's
//! `async-train`, with an Adam of its own beside the built-in six (`cli::run`). Run with
//! `TOOLKIT_CLI=1` it is that command line; otherwise it runs it as a user would, in real
//! processes with real workers, and checks that the author's optimizer gets the same files as
//! a built-in one: trace, summary, plot, saved model, a checkpoint that resumes, `compare`.
//! Beside it, the softmax example's optimizer, whose model is a matrix of its own type, which
//! `evaluate` and `predict` score, and a guess of its own type that does not predict.

use std::path::Path;
use std::process::{Command, ExitCode, Output};

use async_train::model::Trainable;
use async_train::{Hyper, Optimizer};
use asyncopt_algorithms::{Model, Params};
use asyncopt_runtime::data::Rows;
use asyncopt_runtime::{async_optimizer, Dataset, Driver};
use serde::{Deserialize, Serialize};
use test_support::succeeded;

#[path = "../examples/softmax_cli.rs"]
mod softmax_cli;

/// Adam (Kingma & Ba), the moments kept on the driver: the workers only compute gradients.
/// Its first moment's decay is a hyperparameter of its own (`--param beta1=...`).
#[async_optimizer]
fn adam(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let beta1 = p.hyper(cx, "beta1");
    let mut w: Model = Model::zeros(data.dim());
    let mut m: Model = Model::zeros(data.dim());
    let mut v: Model = Model::zeros(data.dim());
    let mut t: i32 = 0;
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), w.view()));
        t += 1;
        m = beta1 * &m + (1.0 - beta1) * &g;
        v = 0.999 * &v + 0.001 * &(&g * &g);
        let m_hat = &m / (1.0 - beta1.powi(t));
        let v_hat = &v / (1.0 - 0.999f64.powi(t));
        w.scaled_add(-p.step, &(m_hat / (v_hat.mapv(f64::sqrt) + 1e-8)));
    }
    w
}

const ADAM: Optimizer = Optimizer::new("adam", adam).params(&[Hyper::new(
    "beta1",
    0.9,
    "the decay of the first moment",
)
.within(0.0, 0.999)]);

/// Plain SGD whose code misspells the hyperparameter it declares (`rate`).
#[async_optimizer]
fn misread(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let rate = p.hyper(cx, "rte");
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-rate, &g);
    }
    w
}

const MISREAD: Optimizer =
    Optimizer::new("misread", misread).params(&[Hyper::new("rate", 0.1, "the step")]);

/// Plain SGD as one build of an author's program has it.
#[async_optimizer]
fn before_rebuild(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

/// The same optimizer after its author rebuilt it (a loop variable more, the function renamed):
/// under the same name, the checkpoint of the build before does not restore it.
#[async_optimizer]
fn after_rebuild(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut passes: u64 = 0;
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
        passes += 1;
    }
    assert!(passes <= p.updates as u64);
    w
}

/// Plain SGD with an author's bug: after `--param at=N` updates it indexes past its model.
#[async_optimizer]
fn brittle(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let at = p.hyper(cx, "at") as usize;
    let mut w: Model = Model::zeros(data.dim());
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
        if k + 1 == at {
            let past = w.len();
            w[past] = 0.0;
        }
    }
    w
}

/// An author's optimizer with a bug before any loop: it indexes past its model at once, before
/// any model of its is looked at, so its run has nothing to keep.
#[async_optimizer]
fn hasty(_cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let past = w.len();
    w[past] = p.step;
    w
}

/// Plain SGD that returns a copy kept aside (as a "best so far" would be), not the variable
/// it broadcasts: the trace and the stop rules follow the broadcast one.
#[async_optimizer]
fn aside(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut kept: Model = w.clone();
    for k in 0..p.updates {
        broadcast!(w);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), w.view()));
        w.scaled_add(-p.step, &g);
        kept = w.clone();
    }
    kept
}

const ASIDE: Optimizer = Optimizer::new("aside", aside);

/// Gradient descent that broadcasts its iterate `y` and returns another model, a tenth of it
/// (as a method returning `w` while it broadcasts a lookahead `y` would): the stop rules
/// follow `y`, and the model kept is far above any target `y` reaches.
#[async_optimizer]
fn damped(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut y: Model = Model::zeros(data.dim());
    let mut w: Model = y.clone();
    for k in 0..p.updates {
        broadcast!(y);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), y.view()));
        y.scaled_add(-p.step, &g);
        w = &y * 0.1;
    }
    w
}

/// Gradient descent whose gradient is taken at the model of 20 updates before (a delayed
/// gradient): it reads history deeper than the 16 versions the driver keeps by default.
#[async_optimizer]
fn lagged(cx: &mut Driver, data: &Dataset, p: &Params) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut first: u64 = 0;
    for k in 0..p.updates {
        broadcast!(w);
        let latest = cx.version("w").unwrap_or(0);
        if k == 0 {
            first = latest;
        }
        let lag = latest.saturating_sub(20).max(first);
        let g = reduce!(data, |part| p
            .loss
            .gradient(&part.sample(p.batch, k), w.at(lag).view()));
        w.scaled_add(-p.step, &g);
    }
    w
}

const LAGGED: Optimizer = Optimizer::new("lagged", lagged).gradient_delay(20);
const LAGGED_UNDECLARED: Optimizer = Optimizer::new("lagged-undeclared", lagged);

const BRITTLE: Optimizer = Optimizer::new("brittle", brittle).params(&[Hyper::new(
    "at",
    50.0,
    "the update after which it panics",
)
.whole()]);

/// One number guessed for every label: a model of its own type that says its objective and
/// nothing more, so `evaluate` reports that and `predict` says it does not predict.
#[derive(Clone, Serialize, Deserialize)]
struct Guess {
    value: f64,
}

impl Trainable for Guess {
    /// Half the mean squared error.
    fn objective(&self, data: &Dataset, _: &Params) -> f64 {
        let total: f64 = (0..data.len())
            .map(|i| 0.5 * (data.label(i) - self.value).powi(2))
            .sum();
        total / data.len().max(1) as f64
    }

    fn norm(&self) -> f64 {
        self.value.abs()
    }
}

/// The mean of `value - y` over `rows`: the gradient of [`Guess`]'s objective.
fn residual(rows: &impl Rows, value: f64) -> f64 {
    let total: f64 = (0..rows.len()).map(|i| value - rows.label(i)).sum();
    total / rows.len().max(1) as f64
}

#[async_optimizer]
fn guess(cx: &mut Driver, data: &Dataset, p: &Params) -> Guess {
    let mut model: Guess = Guess { value: 0.0 };
    for k in 0..p.updates {
        broadcast!(model);
        let g = reduce!(data.sample(p.batch, k), |batch| residual(
            batch,
            model.value
        ));
        model.value -= p.step * g;
    }
    model
}

fn main() -> ExitCode {
    asyncopt_runtime::run_worker_if_spawned();
    if std::env::var_os("TOOLKIT_CLI").is_some() {
        // The author's command line: std::env::args are the user's.
        return async_train::cli::Program::new("my-train", "2.1.0").run(&[
            ADAM,
            MISREAD,
            BRITTLE,
            Optimizer::new("hasty", hasty),
            ASIDE,
            Optimizer::new("damped", damped),
            LAGGED,
            LAGGED_UNDECLARED,
            softmax_cli::optimizer(),
            Optimizer::of_model("guess", guess).default_step(0.5),
            // The same without the default step its model of an own type needs.
            Optimizer::of_model("stepless", guess),
            // TOOLKIT_REBUILT: the program as its author rebuilt it.
            match std::env::var_os("TOOLKIT_REBUILT") {
                None => Optimizer::new("rebuilt", before_rebuild),
                Some(_) => Optimizer::new("rebuilt", after_rebuild),
            },
        ]);
    }
    test_support::run_tests(&[
        (
            "an_authors_optimizer_writes_the_files_of_a_builtin_one",
            files_like_a_builtin,
        ),
        (
            "an_authors_optimizer_is_listed_compared_and_resumed",
            listed_compared_and_resumed,
        ),
        (
            "a_model_of_the_authors_own_type_is_traced_kept_and_resumed",
            own_model_type_gets_the_command_line,
        ),
        (
            "a_model_of_the_authors_own_type_is_evaluated_and_predicted_as_its_type_says",
            own_model_type_is_evaluated_and_predicted,
        ),
        (
            "an_authors_hyperparameter_reaches_its_optimizer_its_files_and_its_checkpoint",
            own_hyperparameter_gets_the_command_line,
        ),
        (
            "an_optimizer_that_panics_ends_its_run_keeping_its_latest_model_and_trace",
            a_panic_keeps_the_latest_model,
        ),
        (
            "an_optimizer_returning_a_copy_is_still_traced_and_stopped_by_its_target",
            a_returned_copy_is_still_followed,
        ),
        (
            "a_target_the_returned_model_did_not_reach_is_not_claimed",
            a_target_only_the_followed_variable_reached_is_missed,
        ),
        (
            "an_optimizer_reading_deep_history_declares_it_or_is_given_it",
            deep_history_is_declared_or_given,
        ),
        (
            "an_optimizer_reading_a_fixed_lag_declares_its_delay_and_gets_a_step_for_it",
            gradient_delay_sets_the_default_step,
        ),
        (
            "an_optimizer_reading_a_fixed_lag_resumes_to_the_model_of_a_run_never_stopped",
            deep_history_resumes,
        ),
        (
            "a_comparison_with_an_own_model_lacking_its_optimum_is_refused_before_any_run",
            own_model_compared_without_optimum,
        ),
        (
            "a_comparison_with_an_own_model_lacking_its_step_is_refused_before_any_run",
            own_model_compared_without_step,
        ),
        (
            "a_checkpoint_another_build_cannot_restore_writes_no_model_in_its_name",
            checkpoint_of_another_build,
        ),
        (
            "a_comparison_with_a_classification_loss_an_own_model_does_not_read_is_refused",
            compared_loss_not_read,
        ),
        (
            "a_comparison_goes_on_past_a_run_that_fails_and_names_it",
            compare_past_a_failed_run,
        ),
    ]);
    ExitCode::SUCCESS
}

/// Runs this executable as the author's `async-train` in `dir`.
fn cli(args: &[&str], dir: &Path) -> Output {
    Command::new(std::env::current_exe().expect("the test executable"))
        .args(args)
        .current_dir(dir)
        .env("TOOLKIT_CLI", "1")
        .env("RUST_LOG", "error")
        .output()
        .expect("the author's command starts")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the file is written"))
        .expect("JSON")
}

/// A logistic run on `a9a` (its path) on 2 workers with `step`, for `updates` updates.
fn on_a9a<'a>(a9a: &'a str, step: &'a str, updates: &'a str) -> [&'a str; 10] {
    [
        "--data",
        a9a,
        "--loss",
        "logistic",
        "--step",
        step,
        "--updates",
        updates,
        "--workers",
        "2",
    ]
}

/// Every file a run writes: trace, summary, plot, model and checkpoints every 100 updates.
const EVERY_FILE: [&str; 12] = [
    "--trace",
    "trace.csv",
    "--summary",
    "summary.json",
    "--plot",
    "plot.svg",
    "--save-model",
    "model.json",
    "--checkpoint",
    "ckpt",
    "--checkpoint-updates",
    "100",
];

/// The settings of a short logistic run on a9a, writing every file into `dir`.
fn run_with_files(algo: &str, step: &str, dir: &Path) -> serde_json::Value {
    let a9a = test_support::data("a9a.xz");
    let run = on_a9a(a9a.to_str().unwrap(), step, "300");
    let output = cli(
        &[&["--algo", algo][..], &run, &EVERY_FILE, &["--quiet"]].concat(),
        dir,
    );
    succeeded(&output);
    for file in ["trace.csv", "summary.json", "plot.svg", "model.json"] {
        assert!(dir.join(file).is_file(), "{algo} wrote no {file}");
    }
    assert!(
        dir.join("ckpt/checkpoint.bin").is_file(),
        "{algo}: a checkpoint"
    );
    json(&dir.join("summary.json"))
}

fn files_like_a_builtin() {
    let mine = test_support::scratch("toolkit-adam");
    let builtin = test_support::scratch("toolkit-sgd");
    let adam = run_with_files("adam", "0.01", &mine);
    let sgd = run_with_files("sgd", "1", &builtin);
    assert_eq!(adam["algo"], "adam");
    assert_eq!(adam["updates"], 300);
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&adam),
        keys(&sgd),
        "the same summary as a built-in optimizer"
    );
    // Adam learns: from log 2 = 0.693 at w = 0 well down towards f* = 0.3245.
    let objective = adam["final_objective"].as_f64().unwrap();
    assert!(objective < 0.36, "adam's objective {objective}");
    let model = json(&mine.join("model.json"));
    assert_eq!(model["settings"]["algo"], "adam");
    let trace = std::fs::read_to_string(mine.join("trace.csv")).unwrap();
    assert!(trace.starts_with("elapsed_s,updates,objective") && trace.lines().count() > 2);
}

fn listed_compared_and_resumed() {
    let dir = test_support::scratch("toolkit-more");
    let help = succeeded(&cli(&["--help"], &dir));
    assert!(help.contains("adam") && help.contains("asvrg"), "{help}");
    // Each optimizer's own hyperparameters are listed with their defaults.
    assert!(help.contains("--param beta1=0.9"), "{help}");
    // Its examples name the author's program, not the built-in one.
    let program = std::env::current_exe().expect("the test executable");
    let program = program.file_name().unwrap().to_str().unwrap();
    assert!(
        help.contains(&format!("\n  {program} --algo asaga")),
        "{help}"
    );
    assert!(!help.contains("async-train"), "{help}");
    // It names itself, and without arguments says what it offers rather than running
    // async-train's comparison of SGD and ASGD.
    assert_eq!(succeeded(&cli(&["--version"], &dir)), "my-train 2.1.0\n");
    let bare = cli(&[], &dir);
    let usage = String::from_utf8_lossy(&bare.stderr);
    assert_eq!(bare.status.code(), Some(2), "{usage}");
    assert!(
        usage.contains("adam") && usage.contains("--algo"),
        "{usage}"
    );
    assert!(!usage.contains("SGD and ASGD"), "{usage}");
    assert!(!dir.join("runs").exists(), "no comparison ran");

    // A checkpoint of the author's optimizer resumes like a built-in one's.
    run_with_files("adam", "0.01", &dir);
    let a9a = test_support::data("a9a.xz");
    let a9a = a9a.to_str().unwrap();
    let resumed = cli(
        &[
            &["--algo", "adam"][..],
            &on_a9a(a9a, "0.01", "400"),
            &["--resume", "ckpt", "--summary", "resumed.json", "--quiet"],
        ]
        .concat(),
        &dir,
    );
    let stdout = succeeded(&resumed);
    // The 300-update run's loop ran out at 300 and took its last checkpoint there (its
    // periodic ones came at the top of a pass, the last at 200).
    assert!(
        stdout.contains("resumed from the checkpoint at 300 updates"),
        "{stdout}"
    );
    assert_eq!(json(&dir.join("resumed.json"))["updates"], 400);

    let compare = cli(
        &[
            &["compare", "--algos", "sgd,adam"][..],
            &on_a9a(a9a, "0.01", "100"),
            &["--out", "cmp", "--quiet"],
        ]
        .concat(),
        &dir,
    );
    let table = succeeded(&compare);
    assert!(!table.contains("objectives differ"), "{table}");
    // A run of a model of its own type minimizes its type's objective, not the loss the
    // others do: its final objective beside theirs is said to be no ranking.
    let mixed = succeeded(&cli(
        &[
            "compare",
            "--algos",
            "sgd,guess",
            "--updates",
            "20",
            "--workers",
            "2",
            "--out",
            "mixed",
            "--quiet",
        ],
        &dir,
    ));
    assert!(
        mixed.contains(
            "objectives differ (sgd: least-squares, guess: toolkit::Guess): their final \
             objectives are not comparable"
        ),
        "{mixed}"
    );
    for file in [
        "adam.trace.csv",
        "adam.summary.json",
        "adam.model.json",
        "compare.svg",
    ] {
        assert!(
            dir.join("cmp").join(file).is_file(),
            "compare wrote no {file}"
        );
    }
    let unknown = cli(&["--algo", "adamw"], &dir);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("unknown algorithm `adamw`") && stderr.contains("adam"));
}

/// The softmax example's optimizer on the built-in data: its `Array2` model of its own type gets
/// the trace, summary, plot, checkpoints and resume of a linear one; the saved model reads back
/// as the model that was trained.
fn own_model_type_gets_the_command_line() {
    use asyncopt_algorithms::Loss;

    let dir = test_support::scratch("toolkit-softmax");
    let run = |more: &[&str]| {
        let common = [
            "--algo",
            "softmax-adam",
            "--workers",
            "2",
            "--stragglers",
            "slow-workers",
            "--quiet",
        ];
        succeeded(&cli(&[&common[..], more].concat(), &dir))
    };
    run(&[&["--updates", "200"][..], &EVERY_FILE].concat());
    for file in ["trace.csv", "summary.json", "plot.svg", "model.json"] {
        assert!(dir.join(file).is_file(), "softmax-adam wrote no {file}");
    }
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["algo"], "softmax-adam");
    assert_eq!(summary["updates"], 200);
    assert_eq!(summary["step"], 0.05, "the author's default step");
    // Its objective is its type's, not the run's loss: `--lambda` changes nothing, so the
    // summary and the saved model's settings say null, as for any setting it does not read.
    assert!(summary["lambda"].is_null(), "{}", summary["lambda"]);
    // Nor does `--loss`: it would only have its labels read as +1/-1, so it is refused.
    assert!(summary["loss"].is_null(), "{}", summary["loss"]);
    let logistic = cli(
        &["--algo", "softmax-adam", "--loss", "logistic", "--quiet"],
        &dir,
    );
    test_support::assert_clear_error(
        &logistic,
        "--loss logistic would change only how the labels are read, not the objective: \
         softmax-adam does not read p.loss",
    );
    let saved = json(&dir.join("model.json"));
    assert!(
        saved["settings"]["lambda"].is_null(),
        "{}",
        saved["settings"]
    );
    // Nor does the file's top level claim the built-in loss for it: a reader of
    // model["loss"] or model["lambda"] learns what its settings say.
    assert!(saved["loss"].is_null(), "loss: {}", saved["loss"]);
    assert!(saved["lambda"].is_null(), "lambda: {}", saved["lambda"]);

    // The trace follows the model during the run: from ln 4 at zero weights, down.
    let trace = std::fs::read_to_string(dir.join("trace.csv")).unwrap();
    let objectives: Vec<f64> = trace
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert!(objectives.len() > 2, "points during the run: {trace}");
    assert!((objectives[0] - 4f64.ln()).abs() < 1e-12, "{trace}");
    let last = *objectives.last().unwrap();
    assert!(last < 0.75 * objectives[0], "{trace}");

    // The kept model is the trained one, bit for bit: its objective is the summary's.
    let model = softmax_cli::Softmax::read(&dir.join("model.json")).expect("it reads back");
    assert_eq!((model.weights.dim(), model.edges.len()), ((9, 4), 3));
    let data = async_train::builtin::cal_housing_scale().unwrap();
    let objective = model.objective(&data, &Params::new(Loss::LeastSquares));
    assert_eq!(Some(objective), summary["final_objective"].as_f64());
    assert!(
        (objective - last).abs() <= 1e-12 * objective,
        "the trace's last point"
    );
    let accuracy = model.accuracy(&data);
    assert!(accuracy > 0.5, "accuracy {accuracy} (guessing: 0.25)");

    // Its checkpoint resumes: the loop ran out at 200 and took its last checkpoint there.
    let stdout = run(&[
        "--updates",
        "300",
        "--resume",
        "ckpt",
        "--summary",
        "resumed.json",
    ]);
    assert!(
        stdout.contains("resumed from the checkpoint at 200 updates"),
        "{stdout}"
    );
    assert_eq!(json(&dir.join("resumed.json"))["updates"], 300);
}

/// The softmax example's model, trained a few updates and saved, is scored by the author's
/// program as its type says: `evaluate` reports the objective the trace ended at and the
/// accuracy, `predict` the class and the probabilities of every row. What the program cannot
/// score is one clear line: a type that does not predict, an optimizer it does not know, a
/// model that does not fit the data, a row beyond the model's features.
fn own_model_type_is_evaluated_and_predicted() {
    let dir = test_support::scratch("toolkit-softmax-scored");
    let train = |algo: &str, model: &str| {
        let args = [
            "--algo",
            algo,
            "--workers",
            "2",
            "--updates",
            "60",
            "--quiet",
            "--trace",
        ];
        let trace = format!("{algo}.trace.csv");
        succeeded(&cli(
            &[&args[..], &[&trace, "--save-model", model]].concat(),
            &dir,
        ));
    };
    train("softmax-adam", "m.json");
    let cal = test_support::data("cal_housing.scale.xz");
    let cal = cal.to_str().unwrap();
    let on_cal = |command: &str, model: &str, out: &str| {
        cli(
            &[command, "--model", model, "--data", cal, "--out", out],
            &dir,
        )
    };

    // The objective is the trace's last (the same rows, the run's settings), the accuracy the
    // model's own.
    let printed = succeeded(&on_cal("evaluate", "m.json", "metrics.json"));
    assert!(printed.contains("accuracy"), "{printed}");
    let metrics = &json(&dir.join("metrics.json"))["metrics"];
    assert_eq!(metrics["kind"], "own");
    assert_eq!(metrics["rows"], 20_640);
    let trace = std::fs::read_to_string(dir.join("softmax-adam.trace.csv")).unwrap();
    let last: f64 = trace
        .lines()
        .last()
        .and_then(|line| line.split(',').nth(2))
        .and_then(|objective| objective.parse().ok())
        .unwrap_or_else(|| panic!("the trace's last objective: {trace}"));
    let objective = metrics["objective"].as_f64().expect("the objective");
    assert!(
        (objective - last).abs() <= 1e-12 * last && last < 4f64.ln(),
        "evaluate's {objective}, the trace's {last}"
    );
    let model = softmax_cli::Softmax::read(&dir.join("m.json")).expect("it reads back");
    let data = async_train::builtin::cal_housing_scale().unwrap();
    let accuracy = metrics["accuracy"].as_f64().expect("the accuracy");
    assert_eq!(accuracy, model.accuracy(&data));
    assert!(accuracy > 0.3, "accuracy {accuracy} (guessing: 0.25)");

    // One row per data row, the class and each class's probability.
    succeeded(&on_cal("predict", "m.json", "preds.csv"));
    let csv = std::fs::read_to_string(dir.join("preds.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("line,class,p0,p1,p2,p3"));
    let rows: Vec<Vec<f64>> = lines
        .map(|line| line.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 20_640);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 6, "row {i}: {row:?}");
        // The file has no blank or comment line: row i is line i + 1.
        assert_eq!(row[0], (i + 1) as f64, "row {i}");
        assert_eq!(row[1], model.predict(&data, i) as f64, "row {i}");
        assert!(
            (row[2..].iter().sum::<f64>() - 1.0).abs() < 1e-9,
            "row {i}: {row:?}"
        );
    }

    // A type that does not predict: evaluated, not predicted.
    train("guess", "guess.json");
    let printed = succeeded(&on_cal("evaluate", "guess.json", "guess-metrics.json"));
    assert!(printed.contains("objective"), "{printed}");
    // Said before the data is read.
    let refused = cli(
        &[
            "predict",
            "--model",
            "guess.json",
            "--data",
            "missing.libsvm",
            "--out",
            "guess.csv",
        ],
        &dir,
    );
    test_support::assert_clear_error(
        &refused,
        "guess's model (toolkit::Guess) does not predict: its type's Trainable gives no \
         prediction_columns",
    );
    assert!(!dir.join("guess.csv").exists());

    // A program that does not know the optimizer: the built-in one.
    let builtin = Command::new(env!("CARGO_BIN_EXE_async-train"))
        .args(["evaluate", "--model", "m.json", "--data", cal])
        .current_dir(&dir)
        .env("RUST_LOG", "error")
        .output()
        .expect("async-train starts");
    test_support::assert_clear_error(
        &builtin,
        "m.json holds a model of softmax-adam's own type, which this program does not know",
    );

    // A model whose matrix does not fit the data (a file edited, or of another program).
    let mut edited = json(&dir.join("m.json"));
    edited["own"]["weights"] = serde_json::json!({"v": 1, "dim": [2, 4], "data": vec![0.0; 8]});
    std::fs::write(dir.join("edited.json"), edited.to_string()).unwrap();
    let refused = on_cal("predict", "edited.json", "edited.csv");
    test_support::assert_clear_error(
        &refused,
        "softmax-adam's model cannot predict cal_housing.scale.xz: its code failed (",
    );

    // A row beyond the model's 8 features, read as the linear path reads it.
    std::fs::write(dir.join("wide.libsvm"), "1 1:0.5\n2 3:1 9:1\n").unwrap();
    let wide = cli(
        &["evaluate", "--model", "m.json", "--data", "wide.libsvm"],
        &dir,
    );
    test_support::assert_clear_error(&wide, "wide.libsvm:2");
    test_support::assert_clear_error(&wide, "exceeds the dimension 8");
}

fn own_hyperparameter_gets_the_command_line() {
    let dir = test_support::scratch("toolkit-param");
    let a9a = test_support::data("a9a.xz");
    let run = |extra: &[&str], summary: &str| {
        let args = on_a9a(a9a.to_str().unwrap(), "0.01", "100");
        cli(
            &[&args[..], &["--quiet", "--summary", summary], extra].concat(),
            &dir,
        )
    };
    succeeded(&run(&["--algo", "adam"], "default.json"));
    let set = [
        "--algo",
        "adam",
        "--param",
        "beta1=0.5",
        "--save-model",
        "m.json",
    ];
    succeeded(&run(&set, "set.json"));
    let (default, set) = (json(&dir.join("default.json")), json(&dir.join("set.json")));
    assert_eq!(default["params"]["beta1"], 0.9, "its default, recorded");
    assert_eq!(set["params"]["beta1"], 0.5);
    assert_ne!(
        default["final_objective"], set["final_objective"],
        "it reached the optimizer"
    );
    assert_eq!(
        json(&dir.join("m.json"))["settings"]["params"]["beta1"],
        0.5
    );

    // A name the optimizer does not declare is refused with the ones it does.
    let typo = run(&["--algo", "adam", "--param", "beta=0.5"], "typo.json");
    test_support::assert_clear_error(&typo, "--param beta: adam takes only beta1 (the decay");
    let builtin = run(&["--algo", "sgd", "--param", "beta1=0.5"], "sgd.json");
    test_support::assert_clear_error(&builtin, "sgd takes no parameter of its own");
    // So is a value outside the range it declares.
    let outside = run(&["--algo", "adam", "--param", "beta1=1.5"], "outside.json");
    test_support::assert_clear_error(
        &outside,
        "--param beta1=1.5: adam takes beta1 from 0 to 0.999 (the decay",
    );
    // And a fraction for a count it reads `as usize` (the old code ran with 2, recorded 2.5).
    let fraction = run(&["--algo", "brittle", "--param", "at=2.5"], "fraction.json");
    test_support::assert_clear_error(
        &fraction,
        "--param at=2.5: brittle takes a whole number for at (the update after which it \
         panics), not 2.5",
    );
    // A shared setting its code does not read is refused too: it would change nothing.
    let unread = run(&["--algo", "adam", "--momentum", "0.5"], "unread.json");
    test_support::assert_clear_error(
        &unread,
        "--momentum 0.5 would change nothing: adam does not read p.momentum",
    );
    // So is a name its code reads but does not declare, before any update.
    let misread = run(&["--algo", "misread"], "misread.json");
    test_support::assert_clear_error(
        &misread,
        "the hyperparameter `rte`, which the run does not have (it has: rate)",
    );

    // Another value is another run: its checkpoint does not resume it.
    let ckpt = [
        "--algo",
        "adam",
        "--param",
        "beta1=0.5",
        "--checkpoint",
        "ck",
    ];
    succeeded(&run(&ckpt, "ck.json"));
    let other = ["--algo", "adam", "--param", "beta1=0.6", "--resume", "ck"];
    let refused = run(&other, "other.json");
    test_support::assert_clear_error(&refused, "beta1");
}

fn a_panic_keeps_the_latest_model() {
    let dir = test_support::scratch("toolkit-brittle");
    let a9a = test_support::data("a9a.xz");
    let run = on_a9a(a9a.to_str().unwrap(), "1", "400");
    let files = ["--trace", "trace.csv", "--summary", "summary.json"];
    let args = [
        &["--algo", "brittle", "--quiet"][..],
        &run,
        &files,
        &["--save-model", "model.json"],
    ]
    .concat();
    let output = cli(&args, &dir);
    assert_eq!(output.status.code(), Some(1), "a failed run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("brittle panicked after 50 updates: ndarray: index out of bounds"),
        "{stderr}"
    );
    // The panic is inside ndarray; the line of the optimizer that called it is named too.
    assert!(
        stderr.contains(", called from ") && stderr.contains("tests/toolkit.rs:"),
        "{stderr}"
    );
    let kept: u64 = stderr
        .split("the model kept is that of update ")
        .nth(1)
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("which model is kept: {stderr}"));
    // The latest model looked at: its trace point is the trace's last, its weights the file's.
    let trace = std::fs::read_to_string(dir.join("trace.csv")).unwrap();
    let last = trace.lines().last().unwrap_or_default();
    assert_eq!(
        last.split(',').nth(1),
        Some(kept.to_string().as_str()),
        "{trace}"
    );
    assert!((1..=50).contains(&kept), "{kept}");
    // The run's line scores the model kept, and says its update, not the driver's 50.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let count = if kept == 1 {
        "1 update".to_owned()
    } else {
        format!("{kept} updates")
    };
    assert!(
        stdout.contains(&format!(" after {count} in ")),
        "kept {kept}: {stdout}"
    );
    let model = json(&dir.join("model.json"));
    assert_eq!(model["weights"].as_array().map(Vec::len), Some(123));
    let summary = json(&dir.join("summary.json"));
    let failure = summary["failure"].as_str().unwrap_or_default();
    assert!(failure.contains("panicked"), "{summary}");
    // The summary and the model file speak of the model kept, not of the driver's 50.
    assert_eq!(summary["updates"].as_u64(), Some(kept), "{summary}");
    assert_eq!(summary["stats"]["updates"].as_u64(), Some(50), "{summary}");
    assert_eq!(model["settings"]["updates"].as_u64(), Some(kept), "{model}");
}

fn a_returned_copy_is_still_followed() {
    // The trace and the stop rules saw nothing of a model that is never broadcast: one trace
    // point at the end, and a target that never stopped the run.
    let dir = test_support::scratch("toolkit-aside");
    let a9a = test_support::data("a9a.xz");
    let run = on_a9a(a9a.to_str().unwrap(), "1", "3000");
    let stops = [
        "--optimum",
        "0.3245",
        "--target-subopt",
        "0.2",
        "--eval-every",
        "0.01",
        "--trace",
        "trace.csv",
        "--summary",
        "summary.json",
        "--quiet",
    ];
    succeeded(&cli(
        &[&["--algo", "aside"][..], &run, &stops].concat(),
        &dir,
    ));
    let summary = json(&dir.join("summary.json"));
    let updates = summary["updates"].as_u64().unwrap();
    assert!(updates < 3000, "the target stopped it: {updates} updates");
    let trace = std::fs::read_to_string(dir.join("trace.csv")).unwrap();
    assert!(trace.lines().count() > 3, "points during the run:\n{trace}");
}

fn a_target_only_the_followed_variable_reached_is_missed() {
    // The stop rules follow `y`, which reaches the target and stops the run; the model the
    // optimizer returns is far above it: the run says it missed, exit 3, not `target_reached`.
    let dir = test_support::scratch("toolkit-damped");
    let a9a = test_support::data("a9a.xz");
    let run = on_a9a(a9a.to_str().unwrap(), "1", "3000");
    let stops = [
        "--optimum",
        "0.3245",
        "--target-subopt",
        "0.2",
        "--eval-every",
        "0.01",
        "--summary",
        "summary.json",
        "--save-model",
        "m.json",
        "--quiet",
    ];
    let out = cli(&[&["--algo", "damped"][..], &run, &stops].concat(), &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("damped did not reach the target (f-f*)/f* = 0.2: the model it returned")
            && stderr.contains("broadcast the returned variable too to have it followed"),
        "{stderr}"
    );
    let summary = json(&dir.join("summary.json"));
    let updates = summary["updates"].as_u64().unwrap();
    assert!(updates < 3000, "the target stopped it: {updates} updates");
    assert_eq!(summary["target_reached"], false, "{summary}");
    assert!(summary["time_to_target_s"].is_null(), "{summary}");
    assert_eq!(summary["ended_by"], "target", "{summary}");
    assert!(summary["final_subopt"].as_f64().unwrap() > 0.2, "{summary}");
    // The model file holds the returned model, whose objective is the summary's.
    let model = json(&dir.join("m.json"));
    assert_eq!(model["objective"], summary["final_objective"], "{model}");
}

fn deep_history_is_declared_or_given() {
    let dir = test_support::scratch("toolkit-history");
    let a9a = test_support::data("a9a.xz");
    let run = |algo: &str, extra: &[&str]| {
        let args = on_a9a(a9a.to_str().unwrap(), "1", "60");
        cli(
            &[&args[..], &["--quiet", "--algo", algo], extra].concat(),
            &dir,
        )
    };
    // It declares the 21 versions it reads back: they are kept.
    succeeded(&run("lagged", &[]));
    // The same code undeclared reads a version the driver no longer keeps, and says so.
    let short = run("lagged-undeclared", &[]);
    test_support::assert_clear_error(&short, "it keeps the last 16 versions of each variable");
    // The command line can keep more for it, but no more than its bound.
    succeeded(&run("lagged-undeclared", &["--keep-versions", "32"]));
    let huge = run("lagged-undeclared", &["--keep-versions", "100000"]);
    let said = String::from_utf8_lossy(&huge.stderr);
    assert_eq!(huge.status.code(), Some(2), "{said}");
    assert!(
        said.contains(
            "for '--keep-versions <KEEP_VERSIONS>': `100000` is not a whole number from 1 to 1024"
        ),
        "{said}"
    );
}

/// A run reading `w` 20 versions back trains at its default step: the delay it declares makes
/// that step 21 times smaller than the same code's undeclared. The step ignored the delay,
/// and the run diverged within 65 updates.
fn gradient_delay_sets_the_default_step() {
    let dir = test_support::scratch("toolkit-history-step");
    let a9a = test_support::data("a9a.xz");
    let run = |algo: &str, summary: &str, extra: &[&str]| {
        let args = [
            "--data",
            a9a.to_str().unwrap(),
            "--loss",
            "least-squares",
            "--updates",
            "300",
            "--workers",
            "2",
            "--quiet",
            "--algo",
            algo,
            "--summary",
            summary,
        ];
        cli(&[&args[..], extra].concat(), &dir)
    };
    succeeded(&run("lagged", "delayed.json", &[]));
    run(
        "lagged-undeclared",
        "plain.json",
        &["--keep-versions", "21"],
    );
    let (delayed, plain) = (
        json(&dir.join("delayed.json")),
        json(&dir.join("plain.json")),
    );
    let step = |summary: &serde_json::Value| summary["step"].as_f64().expect("a step");
    let ratio = step(&plain) / step(&delayed);
    assert!((ratio - 21.0).abs() < 1e-9, "{ratio}");
    // From 0.5 at w = 0 down: it trains.
    let objective = delayed["final_objective"].as_f64().unwrap();
    assert!(objective < 0.5, "{objective}");
}

/// A run reading `w` 20 versions back, stopped at 40 updates and resumed to 60, ends with the
/// model of a run never stopped: its checkpoint saved the 21 versions the driver kept for it.
/// It used to save the versions already read only, and the resumed run failed at once on the
/// next one.
fn deep_history_resumes() {
    let dir = test_support::scratch("toolkit-history-resume");
    let a9a = test_support::data("a9a.xz");
    let run = |updates: &str, extra: &[&str]| {
        let args = on_a9a(a9a.to_str().unwrap(), "1", updates);
        cli(
            &[&args[..], &["--quiet", "--algo", "lagged"], extra].concat(),
            &dir,
        )
    };
    succeeded(&run("60", &["--save-model", "whole.json"]));
    succeeded(&run("40", &["--checkpoint", "ck"]));
    let resumed = succeeded(&run(
        "60",
        &["--resume", "ck", "--save-model", "resumed.json"],
    ));
    assert!(
        resumed.contains("resumed from the checkpoint at 40 updates"),
        "{resumed}"
    );
    let weights = |file: &str| json(&dir.join(file))["weights"].clone();
    assert!(weights("whole.json").is_array());
    assert_eq!(weights("resumed.json"), weights("whole.json"));
}

fn own_model_compared_without_optimum() {
    // The toolkit computes SGD's optimum but not the guess's: a target for both needs
    // --optimum, which the comparison says before it trains SGD, not after.
    let dir = test_support::scratch("toolkit-compare-optimum");
    let args = ["--algos", "sgd,guess", "--target-subopt", "0.01"];
    let expected = "--target-subopt needs the optimum: pass --optimum VALUE for guess";
    compare_refused(&dir, &args, expected);
}

fn own_model_compared_without_step() {
    // SGD's step the toolkit derives from the data, not that of a model of an own type: the
    // comparison says so before it trains SGD, not after.
    let dir = test_support::scratch("toolkit-compare-step");
    let args = ["--algos", "sgd,stepless"];
    compare_refused(&dir, &args, "stepless needs --step");
    // With --step, both run.
    let both = cli(&[&COMPARED[..], &args, &["--step", "0.1"]].concat(), &dir);
    succeeded(&both);
    assert!(dir.join("cmp/stepless.summary.json").is_file());
}

/// A comparison's arguments besides its algorithms: a few updates on two workers, into `cmp`.
const COMPARED: [&str; 8] = [
    "compare",
    "--updates",
    "20",
    "--workers",
    "2",
    "--out",
    "cmp",
    "--quiet",
];

/// Checks that `compare` with `args` in `dir` is refused as a usage error saying `expected`,
/// before any run.
fn compare_refused(dir: &Path, args: &[&str], expected: &str) {
    let refused = cli(&[&COMPARED[..], args].concat(), dir);
    test_support::assert_clear_error(&refused, expected);
    assert_eq!(refused.status.code(), Some(2), "a usage error");
    assert!(!dir.join("cmp").exists(), "no run, no folder");
}

fn compare_past_a_failed_run() {
    // hasty panics before any model of its is looked at: its run fails with nothing to keep,
    // every time. The runs before and after it still run, and are written.
    let dir = test_support::scratch("toolkit-compare-failed");
    let run = ["--updates", "50", "--workers", "2", "--step", "0.01"];
    let single = cli(&[&["--algo", "hasty"][..], &run].concat(), &dir);
    let code = single.status.code();
    assert!(code.is_some_and(|c| c != 0), "hasty must fail alone");
    let out = ["--out", "cmp"];
    let compare = cli(
        &[&["compare", "--algos", "sgd,hasty,adam"][..], &run, &out].concat(),
        &dir,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&compare.stdout),
        String::from_utf8_lossy(&compare.stderr),
    );
    assert_eq!(compare.status.code(), code, "as a failed run: {stderr}");
    // Said when it failed, and in the error line with where the others' files are.
    assert!(stdout.contains("hasty failed: "), "{stdout}");
    let line = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(line.starts_with("error: hasty failed: "), "{stderr}");
    assert!(line.contains("index out of bounds"), "{stderr}");
    assert!(
        line.ends_with("the files of sgd, adam are in cmp"),
        "{stderr}"
    );
    for file in [
        "sgd.summary.json",
        "adam.summary.json",
        "adam.trace.csv",
        "compare.svg",
    ] {
        assert!(dir.join("cmp").join(file).is_file(), "{file}: {stderr}");
    }
    assert!(!dir.join("cmp/hasty.summary.json").exists());
    // A row per run in the order given, the failed one with its error.
    let runs = json(&dir.join("cmp/compare.json"))["runs"].clone();
    let algos: Vec<&str> = (runs.as_array().expect("rows").iter())
        .map(|row| row["algo"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(algos, ["sgd", "hasty", "adam"], "{runs}");
    assert!(
        runs[1]["failure"]
            .as_str()
            .is_some_and(|f| f.contains("index out of bounds")),
        "{runs}"
    );
    assert!(runs[1]["final_objective"].is_null(), "{runs}");
    assert!(runs[2]["failure"].is_null(), "{runs}");

    // A comparison of nothing but failures writes no table or plot of nothing.
    let alone = cli(
        &[
            &["compare", "--algos", "hasty"][..],
            &run,
            &["--out", "none"],
        ]
        .concat(),
        &dir,
    );
    // Its one line names the run and its panic: it is the error, not a crash.
    let said = String::from_utf8_lossy(&alone.stderr);
    assert_eq!(alone.status.code(), code, "{said}");
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(said.starts_with("error: hasty failed: "), "{said}");
    assert!(said.trim_end().ends_with("; no file written"), "{said}");
    assert!(!dir.join("none/compare.json").exists());
    assert!(!dir.join("none/compare.svg").exists());
}

fn checkpoint_of_another_build() {
    // A resume that fails before its first update holds the loop's fresh start, not the
    // checkpoint's model: no file may present it as the model of the checkpoint's update.
    let dir = test_support::scratch("toolkit-rebuilt");
    let a9a = test_support::data("a9a.xz");
    let args = |updates| {
        let mut args = on_a9a(a9a.to_str().unwrap(), "0.5", updates).to_vec();
        args.extend(["--algo", "rebuilt", "--quiet"]);
        args
    };
    succeeded(&cli(
        &[&args("50")[..], &["--checkpoint", "ck"]].concat(),
        &dir,
    ));
    let resumed = Command::new(std::env::current_exe().expect("the test executable"))
        .args(args("100"))
        .args([
            "--resume",
            "ck",
            "--save-model",
            "m.json",
            "--trace",
            "t.csv",
        ])
        .current_dir(&dir)
        .env("TOOLKIT_CLI", "1")
        .env("TOOLKIT_REBUILT", "1")
        .env("RUST_LOG", "error")
        .output()
        .expect("the author's command starts");
    test_support::assert_clear_error(
        &resumed,
        "rebuilt failed before its first update from the checkpoint of update 50",
    );
    assert!(
        !dir.join("m.json").exists(),
        "no model in the checkpoint's name"
    );
    assert!(!dir.join("t.csv").exists(), "no trace ending at it");
}

fn compared_loss_not_read() {
    // Labels 0 only: the logistic loss reads them as -1, the guess's own objective as 0. The
    // guess, which does not read the loss, trained on -1 and moved towards it.
    let dir = test_support::scratch("toolkit-compare-unread-loss");
    let rows: String = (1..=8).map(|i| format!("0 1:{i} 2:0.5\n")).collect();
    std::fs::write(dir.join("zeros.txt"), rows).expect("the data is written");
    let args = [
        "--algos",
        "sgd,guess",
        "--data",
        "zeros.txt",
        "--loss",
        "logistic",
    ];
    let args = [&args[..], &["--step", "0.5"]].concat();
    let expected = "--loss logistic rewrites the labels every run of the comparison trains on, \
                    but guess does not read the loss";
    compare_refused(&dir, &args, expected);
}
