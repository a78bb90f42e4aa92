use asyncopt_runtime::{async_optimizer, Driver};
use serde::{Deserialize, Serialize};

/// Records of the author's own type: a reduce! runs on a `Dataset` only.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub struct Rating {
    user: usize,
    item: usize,
    value: f64,
}

#[async_optimizer]
fn mean_rating(cx: &mut Driver, ratings: &Vec<Rating>, updates: usize) -> f64 {
    let mut m: f64 = 0.0;
    for k in 0..updates {
        broadcast!(m);
        let sum = reduce!(ratings, |part| *m);
        let batch = reduce!(ratings.sample(8, k), |batch| *m);
        m = 0.5 * (sum + batch);
    }
    m
}

fn main() {}
