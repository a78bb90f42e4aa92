//! What a mini-batch's draw costs: [`sample_indices`] per call, in CPU time of this thread (a
//! busy machine does not inflate it), for the partition sizes of the README's runs, beside
//! the parts of it: the generator's seeding, rand's `index::sample`, and the random draws
//! alone (`amount` calls of `random_range(i..length)`, which any way of drawing the same
//! indices makes: what is above them is the work on the index vector). Workers draw once per
//! task, and the driver draws again for a task that carries history entries (SAGA's).
//!
//! rand 0.9 picks by `(length, amount)`: for an amount of 163 or more, `sample_inplace` below
//! `270 * amount` rows (a vector of every index of the partition, then `amount` swaps), else
//! `sample_rejection` (a hash set); below 163, Floyd's or `sample_inplace` (see
//! `rand::seq::index::sample`).
//!
//! ```text
//! cargo run --release -p asyncopt-runtime --example sample_cost
//! ```

use std::hint::black_box;

use asyncopt_runtime::data::partition::batch_seed;
use asyncopt_runtime::data::sample_indices;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Calls timed per case, after as many to warm up.
const CALLS: usize = 20_000;

fn main() {
    let batch = 256;
    let cases = [
        ("a9a, 8 workers", 32_561 / 8),
        ("a9a, 4 workers", 32_561 / 4),
        ("bio, 8 workers", 145_751 / 8),
        ("bio, 4 workers", 145_751 / 4),
        ("bio, 2 workers", 145_751 / 2),
    ];
    println!("batch {batch}, CPU ns per call (median of 5 rounds of {CALLS} calls)");
    println!(
        "{:<16} {:>7} {:>10} {:>14} {:>8} {:>13} {:>10}",
        "partition",
        "rows",
        "rand picks",
        "sample_indices",
        "seeding",
        "index::sample",
        "draws only"
    );
    for (name, len) in cases {
        let whole = ns_per_call(|k| sample_indices(len, batch, 7, 3, k).len());
        let seeding = ns_per_call(|k| {
            let rng = ChaCha8Rng::seed_from_u64(batch_seed(7, 3, k));
            black_box(rng).get_seed()[0] as usize
        });
        let index = ns_per_call(|k| {
            let mut rng = ChaCha8Rng::seed_from_u64(batch_seed(7, 3, k));
            rand::seq::index::sample(&mut rng, len, batch).len()
        });
        let draws = ns_per_call(|k| {
            let mut rng = ChaCha8Rng::seed_from_u64(batch_seed(7, 3, k));
            (0..batch as u32)
                .map(|i| rng.random_range(i..len as u32) as usize)
                .sum()
        });
        println!(
            "{name:<16} {len:>7} {:>10} {whole:>14.0} {seeding:>8.0} {index:>13.0} {draws:>10.0}",
            algorithm(len, batch),
        );
    }
}

/// The algorithm rand 0.9's `index::sample` uses for `amount` of `length` (its own rule).
fn algorithm(length: usize, amount: usize) -> &'static str {
    let (length, amount) = (length as f32, amount as f32);
    let large = length >= 500_000.0;
    if amount < 163.0 {
        let (c0, c1) = if large {
            (8.0 / 45.0, 70.0 / 9.0)
        } else {
            (1.6, 10.0)
        };
        if amount > 11.0 && length < (c1 + c0 * amount) * amount {
            "inplace"
        } else {
            "floyd"
        }
    } else if length < if large { 330.0 / 9.0 } else { 270.0 } * amount {
        "inplace"
    } else {
        "rejection"
    }
}

/// The median over 5 rounds of the CPU nanoseconds `draw(k)` takes, `k` the call's iteration.
fn ns_per_call(mut draw: impl FnMut(usize) -> usize) -> f64 {
    for k in 0..CALLS {
        black_box(draw(k));
    }
    let mut rounds: Vec<f64> = (0..5)
        .map(|round| {
            let begun = thread_cpu_ns();
            for k in 0..CALLS {
                black_box(draw(round * CALLS + k));
            }
            (thread_cpu_ns() - begun) as f64 / CALLS as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

/// This thread's CPU time in nanoseconds.
#[cfg(unix)]
fn thread_cpu_ns() -> u128 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to write.
    let done = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(done, 0, "the thread's CPU clock reads");
    now.tv_sec as u128 * 1_000_000_000 + now.tv_nsec as u128
}

/// Wall time where no thread CPU clock is at hand.
#[cfg(not(unix))]
fn thread_cpu_ns() -> u128 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos()
}
