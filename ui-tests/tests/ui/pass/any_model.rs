// Any serde value can be broadcast (an `Array2`, a struct, a tuple), and a synchronous
// reduce! combines `Array2`s and tuples of three.
use asyncopt_runtime::data::Rows;
use asyncopt_runtime::{async_optimizer, Dataset, Driver};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
struct Settings {
    step: f64,
    decay: Array1<f64>,
}

#[async_optimizer]
fn softmax(cx: &mut Driver, data: &Dataset, classes: usize, updates: usize) -> Array2<f64> {
    let mut w: Array2<f64> = Array2::zeros((data.dim(), classes));
    let mut settings: Settings = Settings { step: 0.1, decay: Array1::ones(classes) };
    let mut pair: (f64, u32) = (1.0, 0);
    for _ in 0..updates {
        broadcast!(w);
        broadcast!(settings);
        broadcast!(pair);
        let (g, loss, count) = reduce!(data, |part| {
            let g = Array2::<f64>::zeros(w.dim()) * settings.step * pair.0;
            (g, part.len() as f64, Array1::<f64>::zeros(1))
        });
        w.scaled_add(-settings.step, &g);
        settings.step *= 0.99;
        pair = (loss + count[0], pair.1 + 1);
    }
    w
}

fn main() {}
