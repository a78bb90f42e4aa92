// The data of a `reduce!` held as a `&Dataset` reaches it through whatever derefs to one: an
// `Arc`, a reference to one, an author's own wrapper (as the deref coercion of a `&Dataset`
// parameter took them).
use std::ops::Deref;
use std::sync::Arc;

use asyncopt_runtime::{async_optimizer, Dataset, Driver};

/// An author's own holder of the data.
pub struct Shared {
    rows: Arc<Dataset>,
}

impl Deref for Shared {
    type Target = Dataset;
    fn deref(&self) -> &Dataset {
        &self.rows
    }
}

#[async_optimizer]
fn mean_label(cx: &mut Driver, data: &Arc<Dataset>, own: &Shared, updates: usize) -> f64 {
    let mut m: f64 = 0.0;
    for k in 0..updates {
        broadcast!(m);
        let whole = reduce!(data, |_part| *m + 1.0);
        let mine = reduce!(own.sample(8, k), |_batch| *m + 2.0);
        m = 0.5 * (whole + mine);
    }
    m
}

fn main() {}
