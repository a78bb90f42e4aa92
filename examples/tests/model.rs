//! The model a run keeps, and what a user does with it next: `--save-model`, then `evaluate`
//! and `predict` on held-out data; ridge least squares, the bias feature, the labels a loss
//! reads, and one clear line for every number that makes no sense.

use std::path::Path;
use std::process::{Command, Output};

use test_support::{assert_clear_error, data, scratch, succeeded as assert_success};

const EXE: &str = env!("CARGO_BIN_EXE_async-train");

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(EXE)
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .output()
        .expect("async-train starts")
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// scikit-learn 1.9.1 on the same objective, `1/n sum log(1 + exp(-y x.w)) + 1e-4/2 |w|^2`
/// over a9a with a constant feature 1 appended (its weight regularised like the others):
///
/// ```python
/// X, y = load_svmlight_file(a9a, n_features=123); Xt, yt = (a9a.t, likewise)
/// Xb = hstack([X, ones((n, 1))]); Xtb = hstack([Xt, ones((nt, 1))])
/// m = LogisticRegression(C=1/(n*1e-4), fit_intercept=False, solver="lbfgs", tol=1e-10,
///                        max_iter=10000).fit(Xb, y)
/// # f* = 0.3244834517; on a9a.t: accuracy 0.849886, log-loss 0.323828, ROC AUC 0.902381
/// ```
const SKLEARN_ACCURACY: f64 = 0.849886;
const SKLEARN_LOG_LOSS: f64 = 0.323828;
const SKLEARN_AUC: f64 = 0.902381;

#[test]
fn a_logistic_model_trained_on_a9a_scores_on_a9a_t_like_scikit_learn() {
    let dir = scratch("model-a9a");
    let train = run(
        &[
            "--algo",
            "asgd",
            "--loss",
            "logistic",
            "--lambda",
            "1e-4",
            "--bias",
            "--data",
            path(&data("a9a.xz")),
            "--save-model",
            "m.json",
            "--quiet",
        ],
        &dir,
    );
    assert_success(&train);
    let model = json(&dir.join("m.json"));
    assert_eq!(model["format"], "asyncopt-model");
    assert_eq!(model["loss"], "logistic");
    assert_eq!(model["lambda"], 1e-4);
    assert_eq!(model["features"], 123);
    assert_eq!(model["bias"], 1.0);
    assert_eq!(model["weights"].as_array().map(Vec::len), Some(124));
    assert_eq!(model["data"]["name"], "a9a.xz");
    assert_eq!(model["data"]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(model["settings"]["algo"], "asgd");
    // Every setting that changes the iterates, so that two models can be told apart.
    for setting in [
        "momentum",
        "quorum",
        "max_staleness",
        "prefetch",
        "partitions_per_worker",
    ] {
        assert!(model["settings"][setting].is_number(), "{setting}: {model}");
    }

    // The test set, scored and predicted by the saved model into `out` (`-`: stdout).
    let test_set = data("a9a.t.xz");
    let on_test_set = |command: &str, out: &str| {
        let args = [command, "--model", "m.json", "--data", path(&test_set)];
        run(&[&args[..], &["--out", out]].concat(), &dir)
    };
    let printed = assert_success(&on_test_set("evaluate", "metrics.json"));
    assert!(printed.contains("accuracy"), "{printed}");
    let written = json(&dir.join("metrics.json"));
    // `--out -`: the same JSON on stdout, the line for people on stderr.
    let piped = on_test_set("evaluate", "-");
    assert_success(&piped);
    let on_stdout: serde_json::Value = serde_json::from_slice(&piped.stdout).expect("JSON");
    assert_eq!(on_stdout, written);
    assert!(String::from_utf8_lossy(&piped.stderr).contains("accuracy"));
    let metrics = &written["metrics"];
    assert_eq!(metrics["kind"], "classification");
    assert_eq!(metrics["rows"], 16_281);
    let accuracy = metrics["accuracy"].as_f64().unwrap();
    assert!(
        (accuracy - SKLEARN_ACCURACY).abs() <= 0.005,
        "accuracy {accuracy} against scikit-learn's {SKLEARN_ACCURACY}"
    );
    let log_loss = metrics["log_loss"].as_f64().unwrap();
    assert!(
        (log_loss - SKLEARN_LOG_LOSS).abs() <= 0.01,
        "log-loss {log_loss}"
    );
    let auc = metrics["auc"].as_f64().unwrap();
    assert!((auc - SKLEARN_AUC).abs() <= 0.01, "AUC {auc}");

    assert_success(&on_test_set("predict", "preds.csv"));
    let csv = std::fs::read_to_string(dir.join("preds.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("line,probability,label"));
    let (numbers, rows): (Vec<usize>, Vec<(f64, i32)>) = lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let [number, p, label] = fields[..] else {
                panic!("three columns: {line}");
            };
            let row = (p.parse().unwrap(), label.parse().unwrap());
            (number.parse::<usize>().unwrap(), row)
        })
        .unzip();
    assert_eq!(rows.len(), 16_281);
    // a9a.t has no blank or comment line: row i is line i + 1.
    assert!(numbers.iter().enumerate().all(|(i, &line)| line == i + 1));
    assert!(rows
        .iter()
        .all(|&(p, label)| (0.0..=1.0).contains(&p) && label == if p >= 0.5 { 1 } else { -1 }));
    // `--out -` is the same CSV on stdout, its account on stderr.
    let piped = on_test_set("predict", "-");
    assert_success(&piped);
    assert_eq!(String::from_utf8_lossy(&piped.stdout), csv);
    assert!(String::from_utf8_lossy(&piped.stderr).contains("16281 predictions"));

    // The README's Python snippet reads both files with the standard library alone.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the README");
    let snippet = readme
        .split("<!-- tested: examples/tests/model.rs -->")
        .nth(1)
        .and_then(|rest| rest.split("```python").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("the README's Python snippet");
    let python = Command::new("python3")
        .arg("-c")
        .arg(snippet)
        .current_dir(&dir)
        .output()
        .expect("python3 runs (a prerequisite of the README's snippet)");
    let out = String::from_utf8_lossy(&python.stdout);
    assert!(
        python.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&python.stderr)
    );
    assert!(out.contains("16281 predictions"), "{out}");
}

#[test]
fn ridge_least_squares_reaches_the_exact_ridge_optimum() {
    let dir = scratch("ridge");
    let output = run(
        &[
            "--algo",
            "saga",
            "--precondition",
            "full",
            "--lambda",
            "1e-3",
            "--updates",
            "100000",
            "--target-subopt",
            "1e-6",
            "--eval-every",
            "0.01",
            "--summary",
            "s.json",
            "--save-model",
            "m.json",
            "--quiet",
        ],
        &dir,
    );
    assert_success(&output);
    let summary = json(&dir.join("s.json"));
    assert_eq!(summary["loss"], "least-squares");
    assert_eq!(summary["lambda"], 1e-3);
    // numpy: solve(X^T X/n + 1e-3 I, X^T y/n) on cal_housing.scale, f = 0.280519172023.
    let optimum = summary["optimum"].as_f64().unwrap();
    assert!(
        (optimum - 0.280519172023).abs() <= 1e-9 * optimum,
        "{optimum}"
    );
    assert!(summary["final_subopt"].as_f64().unwrap() <= 1e-6);
    // Evaluated on its own training data, the model's objective is the ridge objective.
    let evaluate = run(
        &[
            "evaluate",
            "--model",
            "m.json",
            "--data",
            path(&data("cal_housing.scale.xz")),
            "--out",
            "e.json",
        ],
        &dir,
    );
    assert_success(&evaluate);
    let metrics = &json(&dir.join("e.json"))["metrics"];
    assert_eq!(metrics["kind"], "regression");
    let objective = metrics["objective"].as_f64().unwrap();
    assert!((objective - optimum) / optimum <= 1.001e-6, "{objective}");
    assert!((0.5..0.7).contains(&metrics["r2"].as_f64().unwrap()));
}

#[test]
fn the_logistic_loss_reads_plus_minus_one_or_zero_one_labels_only() {
    let dir = scratch("labels");
    // The built-in set's labels are house prices.
    let output = run(&["--loss", "logistic"], &dir);
    assert_clear_error(
        &output,
        "cannot load the data: cal_housing.scale:1: label 4.526 is neither +1/-1 nor 0/1",
    );
    // A file's label is named by its line (row 2 is line 3), shipped or shared alike.
    std::fs::write(
        dir.join("three.libsvm"),
        "# three classes\n1 1:1\n2 1:2\n3 2:1\n1 2:2\n",
    )
    .unwrap();
    let args = ["--loss", "logistic", "--data", "three.libsvm"];
    for access in ["ship", "shared"] {
        let output = run(
            &[&args[..], &["--workers", "1", "--data-access", access]].concat(),
            &dir,
        );
        assert_clear_error(
            &output,
            "cannot load the data: three.libsvm:3: label 2 is neither +1/-1 nor 0/1: the logistic loss reads",
        );
    }
    // 0/1 labels are read as -1/+1.
    std::fs::write(
        dir.join("binary.libsvm"),
        "1 1:1\n0 1:-1\n1 1:0.5 2:1\n0 2:-1\n",
    )
    .unwrap();
    let output = run(
        &[
            "--loss",
            "logistic",
            "--data",
            "binary.libsvm",
            "--workers",
            "2",
            "--updates",
            "50",
            "--save-model",
            "m.json",
        ],
        &dir,
    );
    assert_success(&output);
    let evaluate = run(
        &[
            "evaluate",
            "--model",
            "m.json",
            "--data",
            "binary.libsvm",
            "--out",
            "e.json",
        ],
        &dir,
    );
    assert_success(&evaluate);
    assert_eq!(json(&dir.join("e.json"))["metrics"]["accuracy"], 1.0);
    // A prediction reads no label: rows of any label are predicted.
    let args = [
        "--model",
        "m.json",
        "--data",
        "three.libsvm",
        "--out",
        "p.csv",
    ];
    assert_success(&run(&[&["predict"][..], &args].concat(), &dir));
    let predictions = std::fs::read_to_string(dir.join("p.csv")).unwrap();
    assert_eq!(
        predictions.lines().count(),
        5,
        "a header and 4 rows: {predictions}"
    );
    let output = run(&[&["evaluate"][..], &args[..4]].concat(), &dir);
    assert_clear_error(
        &output,
        "cannot load the data: three.libsvm:3: label 2 is neither +1/-1 nor 0/1: the logistic loss",
    );
    // Workers reading a shared file apply the rule of all its rows, not of the driver's
    // sample: a sample of only 1s made the file's few 0s errors on the workers.
    let mostly_ones: String = (0..4000)
        .map(|i| format!("{} 1:{}\n", u8::from(i % 400 != 7), i % 3))
        .collect();
    std::fs::write(dir.join("mostly-ones.libsvm"), mostly_ones).unwrap();
    for seed in ["1", "2", "3"] {
        let output = run(
            &[
                "--loss",
                "logistic",
                "--data",
                "mostly-ones.libsvm",
                "--data-access",
                "shared",
                "--eval-rows",
                "20",
                "--seed",
                seed,
                "--workers",
                "2",
                "--updates",
                "20",
                "--quiet",
            ],
            &dir,
        );
        assert_success(&output);
        // Its objective is the sample's, and says so.
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("(on a sample of 20 of 4000 rows)"),
            "{stdout}"
        );
    }
    // Labels no rule reads are refused before the run, whatever the sample held.
    let mixed: String = (0..4000)
        .map(|i| format!("{} 1:1\n", [1, 0, 1, -1][i % 4]))
        .collect();
    std::fs::write(dir.join("mixed.libsvm"), mixed).unwrap();
    let args = [
        "--loss",
        "logistic",
        "--data",
        "mixed.libsvm",
        "--data-access",
        "shared",
    ];
    let output = run(
        &[&args[..], &["--eval-rows", "20", "--quiet"]].concat(),
        &dir,
    );
    assert_clear_error(
        &output,
        "mixed.libsvm:4: label -1 in a file with label 0 (line 2): the logistic loss reads",
    );
    // Classes 1/2 (LIBSVM's other habit): the first 2 is named by its line.
    let twos: String = (0..4000).map(|i| format!("{} 1:1\n", 1 + i % 2)).collect();
    std::fs::write(dir.join("twos.libsvm"), format!("# classes\n{twos}")).unwrap();
    let args = [&args[..3], &["twos.libsvm", "--data-access", "shared"]].concat();
    let output = run(
        &[&args[..], &["--eval-rows", "20", "--quiet"]].concat(),
        &dir,
    );
    assert_clear_error(&output, "twos.libsvm:3: label 2 is neither +1/-1 nor 0/1");
}

#[test]
fn numbers_that_make_no_sense_are_one_clear_line() {
    let dir = scratch("numbers");
    std::fs::write(dir.join("tiny.libsvm"), "1 1:0.5\n-1 1:1\n1 2:2\n-1 2:1\n").unwrap();
    for (args, needle) in [
        (&["--lambda=-1"][..], "--lambda must be a number >= 0"),
        (&["--lambda", "NaN"], "--lambda must be a number >= 0"),
        // A negative number after its flag is the flag's value, not another flag.
        (&["--step", "-1"], "--step must be a positive number"),
        (&["--time", "-2.5"], "--time must be a finite"),
        (
            &["--join-timeout", "inf"],
            "--join-timeout must be a finite",
        ),
        (&["--time", "NaN"], "--time must be a finite"),
        (&["--eval-every=-1"], "--eval-every must be a finite"),
        (
            &["--target-subopt=-1"],
            "--target-subopt must be a number > 0",
        ),
        (&["--optimum=-1"], "--optimum must be >= 0"),
        (
            &["--param", "momentum=0.5", "--param", "momentum=0.9"],
            "--param momentum is given twice",
        ),
        (
            &["--optimum", "0", "--target-subopt", "1e-3"],
            "--target-subopt is relative to f*, which --optimum 0 makes undefined",
        ),
        (
            &["--checkpoint", "ck", "--checkpoint-seconds", "1e20"],
            "--checkpoint-seconds must be a positive number",
        ),
        (
            &[
                "worker",
                "--driver",
                "tcp://127.0.0.1:9",
                "--reconnect",
                "inf",
            ],
            "--reconnect must be a finite",
        ),
        (
            // Finite, but past what a duration holds: the conversion panicked.
            &[
                "worker",
                "--driver",
                "tcp://127.0.0.1:9",
                "--connect-timeout",
                "1e30",
            ],
            "--connect-timeout must be a finite number of seconds from 0 to",
        ),
        (&["--time", "1e30"], "--time must be a finite"),
        (
            &["--data", "tiny.libsvm", "--dim", "10000000000"],
            "10000000000 features exceed the memory budget",
        ),
        (&["--algo", "adam"], "unknown algorithm `adam`"),
        (&["--stragglers", "many"], "unknown straggler model `many`"),
    ] {
        let output = run(args, &dir);
        assert_clear_error(&output, needle);
    }
    // A feature index of 2^32 would be a 34 GB model.
    std::fs::write(dir.join("huge.libsvm"), "1 1:1\n-1 4294967296:1\n").unwrap();
    let output = run(&["--data", "huge.libsvm"], &dir);
    assert_clear_error(&output, "huge.libsvm:2: index 4294967296");
    // A file without line ends is refused at the limit of a line, in bounded memory.
    let output = run(&["--data", "/dev/zero"], &dir);
    assert_clear_error(&output, "/dev/zero:1: a line longer than");
}

#[test]
fn data_that_allow_no_step_are_refused_not_trained_into_nan() {
    let dir = scratch("no-step");
    // Every feature 0: the default step 1/L is infinite, and the model became NaN while the
    // objective, which reads no weight, looked converged.
    let zeros: String = (0..300).map(|i| format!("{} 1:0 2:0\n", i % 2)).collect();
    std::fs::write(dir.join("zeros.libsvm"), zeros).unwrap();
    // Values whose squares overflow: the step was 0 and nothing trained.
    let huge: String = (0..300)
        .map(|i| format!("{} 1:1e160\n", 2 * (i % 2) - 1))
        .collect();
    std::fs::write(dir.join("huge.libsvm"), huge).unwrap();
    // Values whose squares underflow to 0: they are not zeros, and the data say so.
    let tiny: String = (0..300)
        .map(|i| format!("{} 1:1e-320\n", 2 * (i % 2) - 1))
        .collect();
    std::fs::write(dir.join("tiny.libsvm"), tiny).unwrap();
    for (args, needle) in [
        (
            &["--data", "tiny.libsvm", "--optimum", "1"][..],
            "cannot train on tiny.libsvm: its feature values are too small",
        ),
        (
            &["--data", "zeros.libsvm", "--optimum", "0.25"],
            "cannot train on zeros.libsvm: every feature value is 0",
        ),
        (
            &["--data", "huge.libsvm", "--loss", "logistic"],
            "cannot train on huge.libsvm: its feature values are too large",
        ),
        (
            &["--data", "huge.libsvm"],
            "cannot train on huge.libsvm: its feature values are too large",
        ),
    ] {
        let args = [
            args,
            &[
                "--workers",
                "2",
                "--updates",
                "30",
                "--save-model",
                "m.json",
            ],
        ]
        .concat();
        assert_clear_error(&run(&args, &dir), needle);
        assert!(!dir.join("m.json").exists(), "no model of nothing");
    }
}

#[test]
fn a_target_not_reached_exits_with_code_3() {
    let dir = scratch("missed");
    let output = run(
        &[
            "--updates",
            "3",
            "--target-subopt",
            "1e-12",
            "--summary",
            "s.json",
        ],
        &dir,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("did not reach the target"), "{stderr}");
    assert!(
        stderr.contains("after 3 updates, its --updates limit"),
        "which bound ended it: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    // The files are written all the same.
    assert_eq!(json(&dir.join("s.json"))["updates"], 3);
}

#[test]
fn the_summary_speaks_the_command_line() {
    let dir = scratch("spellings");
    let output = run(
        &[
            "--algo",
            "asgd",
            "--data",
            path(&data("a9a.xz")),
            "--loss",
            "logistic",
            "--stragglers",
            "intensity:20",
            "--workers",
            "2",
            "--updates",
            "20",
            "--summary",
            "s.json",
            "--quiet",
        ],
        &dir,
    );
    assert_success(&output);
    let summary = json(&dir.join("s.json"));
    assert_eq!(summary["loss"], "logistic");
    assert_eq!(summary["lambda"], 1e-4, "the logistic default");
    assert_eq!(summary["stragglers"], "intensity:20");
    assert_eq!(summary["algo"], "asgd");
    assert_eq!(summary["precondition"], "none");
}

#[test]
fn evaluate_refuses_what_is_not_its_model_or_its_data() {
    let dir = scratch("evaluate-errors");
    let a9a_t = data("a9a.t.xz");
    let output = run(
        &["evaluate", "--model", "none.json", "--data", path(&a9a_t)],
        &dir,
    );
    assert_clear_error(&output, "cannot read the model none.json");
    std::fs::write(dir.join("other.json"), "{\"weights\": [1.0]}").unwrap();
    let output = run(
        &["evaluate", "--model", "other.json", "--data", path(&a9a_t)],
        &dir,
    );
    assert_clear_error(&output, "other.json is not a model file");
    // A model of 2 features cannot score rows that use feature 3.
    train_small_model(&dir);
    std::fs::write(dir.join("wider.libsvm"), "1 1:1 3:1\n").unwrap();
    let output = run(
        &[
            "predict",
            "--model",
            "m.json",
            "--data",
            "wider.libsvm",
            "--out",
            "p.csv",
        ],
        &dir,
    );
    assert_clear_error(&output, "exceeds the dimension 2");
    // An output naming an input would destroy it: refused, the input left as it was.
    let model_before = std::fs::read(dir.join("m.json")).unwrap();
    for (command, out, input) in [
        ("predict", "small.libsvm", "data"),
        ("predict", "m.json", "model"),
        ("evaluate", "./small.libsvm", "data"),
        ("evaluate", "m.json", "model"),
    ] {
        let args = ["--model", "m.json", "--data", "small.libsvm", "--out", out];
        let output = run(&[&[command][..], &args].concat(), &dir);
        assert_clear_error(&output, &format!("--out {out} would overwrite the {input}"));
        assert_eq!(
            output.status.code(),
            Some(2),
            "a usage error, as a clash of flags"
        );
    }
    assert_eq!(std::fs::read(dir.join("m.json")).unwrap(), model_before);
    assert_eq!(
        std::fs::read(dir.join("small.libsvm")).unwrap(),
        b"1 1:1\n-1 2:1\n"
    );
}

/// A model of an author's own type was read into memory whole, 72 bytes for each `0,` of its
/// `own`: a file of a few hundred MB of them ran the host out of memory before anything was
/// checked. It is counted against the `--max-features` budget as it is read.
#[test]
fn a_model_whose_own_form_exceeds_the_memory_budget_is_refused_as_it_is_read() {
    let dir = scratch("own-budget");
    train_small_model(&dir);
    let mut model = json(&dir.join("m.json"));
    let own = format!("[{}0]", "0,".repeat(240_000));
    model["weights"] = serde_json::Value::Null;
    let text = model
        .to_string()
        .replace("\"weights\":null", &format!("\"own\":{own}"));
    std::fs::write(dir.join("own.json"), text).unwrap();
    let evaluate = |budget: &[&str]| {
        let args = ["evaluate", "--model", "own.json", "--data", "small.libsvm"];
        run(&[&args[..], budget].concat(), &dir)
    };
    // Named by the path of the value where the budget ran out.
    let refused = evaluate(&["--max-features", "1000"]);
    assert_clear_error(&refused, "own.json is not a model file: `own[");
    assert_clear_error(
        &refused,
        "]`: values in `own` taking more than 16777216 bytes in memory exceed the memory budget \
         of 1000 features and a bias",
    );
    // Within the default budget it is read, and then found to be no model of this program's.
    assert_clear_error(
        &evaluate(&[]),
        "own.json holds a model of its own form (own), but",
    );
}

/// Trains `m.json`, a model of 2 features, on `small.libsvm` (2 rows) in `dir`.
fn train_small_model(dir: &Path) {
    std::fs::write(dir.join("small.libsvm"), "1 1:1\n-1 2:1\n").unwrap();
    let args = ["--data", "small.libsvm", "--workers", "1", "--updates", "5"];
    assert_success(&run(
        &[&args[..], &["--save-model", "m.json"]].concat(),
        dir,
    ));
}

/// An `--out` that cannot be written is refused before the data is read and scored, as a
/// run's outputs are before its training: a large file is not read, and predictions not
/// computed, only to be lost.
#[test]
fn an_unwritable_out_is_refused_before_the_data_is_read() {
    let dir = scratch("score-unwritable");
    train_small_model(&dir);
    // A file where a folder is needed: not writable whoever runs the test. The data is
    // malformed on line 2, which is what a read of it would say first.
    std::fs::write(dir.join("a-file"), "").unwrap();
    std::fs::write(dir.join("bad.libsvm"), "1 1:1\n-1 2:x\n").unwrap();
    for command in ["evaluate", "predict"] {
        let args = [
            command,
            "--model",
            "m.json",
            "--data",
            "bad.libsvm",
            "--out",
            "a-file/out",
        ];
        let output = run(&args, &dir);
        assert_clear_error(
            &output,
            "cannot write a-file/out: a-file is a file, not a folder",
        );
    }
}

/// A row without entries (`?` alone, or only zeros) is the row `1:0`, whose prediction is a
/// sum of nothing: it was written `-0` (a float sum starts at -0), which no user expects.
#[test]
fn predict_writes_a_row_without_entries_as_a_prediction_of_0() {
    let dir = scratch("predict-zero-row");
    train_small_model(&dir);
    std::fs::write(dir.join("rows.libsvm"), "?\n? 1:0\n? 2:0\n").unwrap();
    let args = [
        "predict",
        "--model",
        "m.json",
        "--data",
        "rows.libsvm",
        "--out",
        "p.csv",
    ];
    assert_success(&run(&args, &dir));
    let csv = std::fs::read_to_string(dir.join("p.csv")).unwrap();
    assert_eq!(csv, "line,prediction\n1,0\n2,0\n3,0\n");
}
