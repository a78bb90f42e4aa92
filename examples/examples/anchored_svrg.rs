//! History through the versioned broadcast: an SVRG whose anchor is not a variable of its own
//! but an older version of the model itself, which the workers read with `w.at(anchor)`
//! (ASYNC's `value(version)`). Every `epoch` updates the loop notes the version of `w` it has
//! just broadcast and takes the full gradient there; an update then steps along
//! `(1/|B|) sum_{i in B} (l'_i(w) - l'_i(w_anchor)) x_i + full`. The asynchronous twin adds a
//! barrier, a staleness bound and three lines that drop a result whose task read the anchor
//! before the latest one (its correction belongs to another full gradient). Least squares on
//! `data/a9a.xz`, checked against the exact optimum.
//!
//! `cargo run --release --example anchored_svrg` prints the relative suboptimality of each.
use asyncopt_algorithms::{least_squares_optimum, Loss, Model};
use asyncopt_runtime::data::{Dataset, LoadOptions, Rows};
use asyncopt_runtime::{async_optimizer, ClusterConfig, Driver};
use ndarray::ArrayView1;

/// The settings of both loops.
pub struct Settings {
    pub step: f64,
    pub batch: usize,
    pub epoch: usize,
    pub updates: usize,
}

/// `(1/|B|) sum_{i in B} (l'_i(w) - l'_i(a)) x_i`.
fn correction<R: Rows>(rows: &R, w: ArrayView1<f64>, a: ArrayView1<f64>) -> Model {
    let loss = Loss::LeastSquares;
    let mut g = Model::zeros(rows.dim());
    for i in 0..rows.len() {
        let y = rows.label(i);
        let d = loss.derivative(rows.dot(i, w), y) - loss.derivative(rows.dot(i, a), y);
        rows.axpy(i, d, g.view_mut());
    }
    g / rows.len().max(1) as f64
}

/// The gradient's sum over the rows and their count: the combined tuple's ratio is the exact
/// mean over every row, whatever the partitions' sizes.
fn gradient_sum<R: Rows>(rows: &R, w: ArrayView1<f64>) -> (Model, f64) {
    let mut g = Model::zeros(rows.dim());
    for i in 0..rows.len() {
        let d = Loss::LeastSquares.derivative(rows.dot(i, w), rows.label(i));
        rows.axpy(i, d, g.view_mut());
    }
    (g, rows.len() as f64)
}

#[async_optimizer]
fn anchored(cx: &mut Driver, data: &Dataset, s: &Settings) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut full: Model = Model::zeros(data.dim());
    let mut anchor: u64 = 0;
    // The anchor is at most an epoch old: the driver keeps that many versions, whatever the
    // epoch (the default is 16).
    cx.keep_versions(s.epoch + 1);
    for k in 0..s.updates {
        broadcast!(w);
        if k % s.epoch == 0 {
            anchor = cx.version("w").expect("w was broadcast");
            let (sum, rows) = reduce!(data, |part| gradient_sum(part, w.view()));
            full = sum / rows;
        }
        let c = reduce!(data.sample(s.batch, k), |batch| correction(
            batch,
            w.view(),
            w.at(anchor).view()
        ));
        w.scaled_add(-s.step, &(c + &full));
    }
    w
}

#[async_optimizer]
fn a_anchored(cx: &mut Driver, data: &Dataset, s: &Settings) -> Model {
    let mut w: Model = Model::zeros(data.dim());
    let mut full: Model = Model::zeros(data.dim());
    let mut anchor: u64 = 0;
    // The anchor is at most an epoch old: the driver keeps that many versions, whatever the
    // epoch (the default is 16).
    cx.keep_versions(s.epoch + 1);
    for k in 0..s.updates {
        broadcast!(w);
        if k % s.epoch == 0 {
            anchor = cx.version("w").expect("w was broadcast");
            let (sum, rows) = reduce!(data, |part| gradient_sum(part, w.view()));
            full = sum / rows;
        }
        barrier!(|workers| workers.idle() >= 1);
        let c = reduce!(
            data.sample(s.batch, k),
            |batch| correction(batch, w.view(), w.at(anchor).view()),
            max_staleness = 16
        );
        // The task's first read of `w` is the latest at its dispatch: before `anchor`, the
        // task read the previous anchor.
        let read = cx.last_result().and_then(|r| r.version_of("w"));
        if read.is_some_and(|v| v < anchor) {
            continue;
        }
        w.scaled_add(-s.step, &(c + &full));
    }
    w
}

/// Trains both loops on 3 local workers and returns their relative suboptimalities, synchronous
/// first.
pub fn run() -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/a9a.xz");
    let data = Dataset::load(path, &LoadOptions::default())?;
    let (_, optimum) = least_squares_optimum(&data)?;
    let subopt = |w: &Model| (Loss::LeastSquares.objective(&data, w.view()) - optimum) / optimum;
    let sync = Settings {
        step: 0.15,
        batch: 256,
        epoch: 25,
        updates: 4000,
    };
    let mut cx = Driver::launch(ClusterConfig::local(3))?;
    let w = anchored(&mut cx, &data, &sync);
    cx.finish()?;
    // Results up to 3 updates stale: a third of the step.
    let asynchronous = Settings { step: 0.05, ..sync };
    let mut cx = Driver::launch(ClusterConfig::local(3))?;
    let w_async = a_anchored(&mut cx, &data, &asynchronous);
    cx.finish()?;
    Ok((subopt(&w), subopt(&w_async)))
}

fn main() -> std::process::ExitCode {
    asyncopt_runtime::run_worker_if_spawned(); // spawned worker processes stop here
    match run() {
        Ok((sync, asynchronous)) => {
            println!("(f - f*)/f*: synchronous {sync:.2e}, asynchronous {asynchronous:.2e}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
