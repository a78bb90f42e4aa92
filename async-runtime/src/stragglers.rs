//! Simulated stragglers: which workers or tasks are slow and by how much, drawn from the seed.
//!
//! Two models come from the ASYNC paper's evaluation, and differ in what straggles and who
//! decides the delay:
//!
//! | | [`SlowWorkers`](Stragglers::SlowWorkers) (`slow-workers`) | [`SlowPartitions`](Stragglers::SlowPartitions) (`slow-partitions`) |
//! |---|---|---|
//! | what is slow | 25% of the workers | every fourth partition (0, 4, 8, ...) |
//! | factor | drawn once per worker | drawn again for every task |
//! | of what time | the worker's own mean compute, after a warm-up of 5 tasks | the median of the workers' mean compute per task, as the driver has seen their results |
//! | when | the worker sleeps after each task | the worker sleeps before the task, as the task order says |
//!
//! Both draw 80% of the factors from 1.5-2.5 and the rest from 2.5-10. `intensity:C` is the
//! paper's controlled delay: one worker sleeps C times its mean compute after each task.

use crate::worker::MAX_DELAY_FACTOR;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::str::FromStr;

/// How workers are slowed down.
///
/// ```
/// use asyncopt_runtime::Stragglers;
///
/// let model: Stragglers = "slow-workers".parse().unwrap();
/// let factors = model.factors(8, 7); // 8 workers, seed 7
/// assert_eq!(factors.iter().filter(|f| **f > 0.0).count(), 2); // 25% straggle
/// assert_eq!("intensity:20".parse(), Ok(Stragglers::Intensity(20.0)));
/// assert_eq!(Stragglers::Intensity(20.0).to_string(), "intensity:20");
///
/// // The task-level model: partition 4 straggles, partition 5 never does.
/// let cloud = Stragglers::SlowPartitions;
/// assert!((1.5..=10.0).contains(&cloud.task_factor(4, 17, 7)));
/// assert_eq!(cloud.task_factor(5, 17, 7), 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Stragglers {
    /// Nobody is slowed down.
    #[default]
    None,
    /// Slow workers (`slow-workers`; `paper` is its older name): 25% of the workers straggle
    /// for the whole run, each by a factor drawn once from the seed (80% of them 1.5-2.5, the
    /// rest 2.5-10). The worker measures its mean compute over a warm-up of 5 tasks and then
    /// sleeps its factor times that mean after every task.
    SlowWorkers,
    /// Slow partitions (`slow-partitions`, or `asyncpaper`), the ASYNC code's cloud model:
    /// every fourth partition straggles; for every task on one, the driver draws a factor
    /// (80% 1.5-2.5, the rest 2.5-10, from the seed, the partition and the task's sequence
    /// number) and multiplies the mean compute per task it has measured so far (the median of
    /// the workers' means, which one worker reporting inflated times cannot move); the task
    /// order carries that delay and the worker sleeps it before the task, up to
    /// [`MAX_ORDERED_SLEEP`](crate::worker::MAX_ORDERED_SLEEP).
    SlowPartitions,
    /// One worker (the last) sleeps `C` times its mean compute after each task: the paper's
    /// controlled delay of intensity `C`.
    Intensity(f64),
}

/// Every how many partitions one straggles under [`Stragglers::SlowPartitions`].
pub const SLOW_PARTITION_EVERY: u32 = 4;

impl Stragglers {
    /// The delay factor of each of `workers` workers, deterministic for `seed` (0 for all
    /// under [`Stragglers::SlowPartitions`], whose delays belong to tasks).
    pub fn factors(&self, workers: usize, seed: u64) -> Vec<f64> {
        let mut factors = vec![0.0; workers];
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5354_5241_4747_4c45);
        match *self {
            Stragglers::None | Stragglers::SlowPartitions => {}
            Stragglers::Intensity(c) => {
                if let Some(last) = factors.last_mut() {
                    *last = c;
                }
            }
            Stragglers::SlowWorkers => {
                let slow = ((workers as f64) * 0.25).round().max(1.0) as usize;
                let mut ids: Vec<usize> = (0..workers).collect();
                for i in 0..slow.min(workers) {
                    let j = rng.random_range(i..workers);
                    ids.swap(i, j);
                    factors[ids[i]] = straggler_factor(&mut rng);
                }
            }
        }
        factors
    }

    /// The delay factor of the task with sequence number `seq` on `partition`, deterministic
    /// for `seed`: under [`Stragglers::SlowPartitions`], drawn afresh for every task of every
    /// fourth partition; 0 otherwise (and under the other models, whose delays belong to
    /// workers).
    pub fn task_factor(&self, partition: u32, seq: u64, seed: u64) -> f64 {
        if *self != Stragglers::SlowPartitions || !partition.is_multiple_of(SLOW_PARTITION_EVERY) {
            return 0.0;
        }
        let stream = seed ^ 0x5441_534b_534c_4f57 ^ (u64::from(partition) << 40);
        let mut rng = ChaCha8Rng::seed_from_u64(stream);
        rng.set_stream(seq);
        straggler_factor(&mut rng)
    }
}

/// A straggler's slowdown: 80% of them 1.5-2.5x, the rest 2.5-10x.
fn straggler_factor(rng: &mut ChaCha8Rng) -> f64 {
    if rng.random_bool(0.8) {
        rng.random_range(1.5..=2.5)
    } else {
        rng.random_range(2.5..=10.0)
    }
}

/// The command line's spelling, which [`FromStr`] reads back: `none`, `slow-workers`,
/// `slow-partitions`, `intensity:C`.
impl std::fmt::Display for Stragglers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stragglers::None => f.write_str("none"),
            Stragglers::SlowWorkers => f.write_str("slow-workers"),
            Stragglers::SlowPartitions => f.write_str("slow-partitions"),
            Stragglers::Intensity(c) => write!(f, "intensity:{}", shortest(*c)),
        }
    }
}

/// `c` in the shorter of its plain and exponent forms, which both read back as `c`:
/// `intensity:1e308` was said with 309 digits.
fn shortest(c: f64) -> String {
    let (plain, exponent) = (c.to_string(), format!("{c:e}"));
    match exponent.len() < plain.len() {
        true => exponent,
        false => plain,
    }
}

impl FromStr for Stragglers {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Stragglers::None),
            "slow-workers" | "paper" => Ok(Stragglers::SlowWorkers),
            "slow-partitions" | "asyncpaper" => Ok(Stragglers::SlowPartitions),
            _ => match s.strip_prefix("intensity:").map(|c| (c, c.parse::<f64>())) {
                Some((_, Ok(c))) if (0.0..=MAX_DELAY_FACTOR).contains(&c) => {
                    Ok(Stragglers::Intensity(c))
                }
                // Said as written: `1e308` was said with its 309 digits.
                Some((written, Ok(c))) if c.is_finite() => Err(format!(
                    "straggler intensity `{s}`: C must be from 0 to {MAX_DELAY_FACTOR}, the most a \
                     worker sleeps (times its mean compute), not {}",
                    written.trim()
                )),
                _ => Err(format!(
                    "unknown straggler model `{s}`: use none, slow-workers (alias paper), \
                     slow-partitions (alias asyncpaper) or intensity:C with 0 <= C <= \
                     {MAX_DELAY_FACTOR} (the most a worker sleeps)"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intensity_is_at_most_what_a_worker_sleeps() {
        // A worker caps its factor at MAX_DELAY_FACTOR: `intensity:200` was taken, slept as
        // 100 and recorded as 200.
        let refused = "intensity:200".parse::<Stragglers>().unwrap_err();
        assert!(refused.contains("from 0 to 100"), "{refused}");
        assert!(!refused.starts_with("unknown"), "a known model: {refused}");
        // As written, not in its 309 digits.
        let huge = "intensity:1e308".parse::<Stragglers>().unwrap_err();
        assert!(huge.ends_with("compute), not 1e308"), "{huge}");
        assert_eq!(
            Stragglers::Intensity(1e-300).to_string(),
            "intensity:1e-300"
        );
        let negative = "intensity:-1".parse::<Stragglers>().unwrap_err();
        assert!(negative.contains("not -1"), "{negative}");
        assert_eq!("intensity:100".parse(), Ok(Stragglers::Intensity(100.0)));
    }

    #[test]
    fn slow_workers_slows_a_quarter_deterministically() {
        let a = Stragglers::SlowWorkers.factors(8, 7);
        assert_eq!(a, Stragglers::SlowWorkers.factors(8, 7));
        assert_eq!(a.iter().filter(|f| **f > 0.0).count(), 2);
        assert!(a.iter().all(|f| *f == 0.0 || (1.5..=10.0).contains(f)));
        assert_ne!(a, Stragglers::SlowWorkers.factors(8, 8));
    }

    #[test]
    fn slow_partitions_draws_per_task_of_every_fourth_partition() {
        let model = Stragglers::SlowPartitions;
        assert_eq!(model.factors(8, 7), vec![0.0; 8]);
        for partition in 0..32u32 {
            let draws: Vec<f64> = (0..2000)
                .map(|seq| model.task_factor(partition, seq, 7))
                .collect();
            if !partition.is_multiple_of(4) {
                assert!(
                    draws.iter().all(|f| *f == 0.0),
                    "partition {partition} straggled"
                );
                continue;
            }
            // Deterministic for the seed, different for another seed, redrawn per task.
            let again: Vec<f64> = (0..2000)
                .map(|seq| model.task_factor(partition, seq, 7))
                .collect();
            assert_eq!(draws, again);
            let other: Vec<f64> = (0..2000)
                .map(|seq| model.task_factor(partition, seq, 8))
                .collect();
            assert_ne!(draws, other);
            assert!(draws.iter().all(|f| (1.5..=10.0).contains(f)));
            let mild = draws.iter().filter(|f| **f <= 2.5).count() as f64 / 2000.0;
            assert!(
                (0.75..=0.85).contains(&mild),
                "{mild} of the draws at most 2.5x"
            );
            assert!(
                draws.iter().any(|f| *f > 5.0),
                "the 2.5-10x tail never drawn"
            );
            assert!(
                draws.windows(2).any(|w| w[0] != w[1]),
                "not redrawn per task"
            );
        }
    }

    /// Share of `draws` at most 2.5x, and whether every draw is within 1.5-10x and the tail
    /// spans 2.5-10x (its mean near 6.25, as uniform draws from it make).
    fn check_paper_proportions(draws: &[f64], what: &str) {
        assert!(draws.len() >= 5000, "{what}: too few draws to judge");
        assert!(
            draws.iter().all(|f| (1.5..=10.0).contains(f)),
            "{what}: a factor outside 1.5-10x"
        );
        let (mild, tail): (Vec<f64>, Vec<f64>) = draws.iter().partition(|f| **f <= 2.5);
        let share = mild.len() as f64 / draws.len() as f64;
        assert!(
            (0.78..=0.82).contains(&share),
            "{what}: {share} at most 2.5x"
        );
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!((1.95..=2.05).contains(&mean(&mild)), "{what}: mild mean");
        assert!((5.9..=6.6).contains(&mean(&tail)), "{what}: tail mean");
        let (low, high) = tail
            .iter()
            .fold((f64::MAX, 0.0_f64), |(l, h), f| (l.min(*f), h.max(*f)));
        assert!(low < 2.7 && high > 9.8, "{what}: tail spans {low}-{high}");
    }

    #[test]
    fn both_models_draw_the_papers_proportions_over_many_draws() {
        // Slow workers: a quarter of 8 workers straggle under every seed, each factor drawn
        // once; over many seeds the factors follow the paper's 80/20 split.
        let mut worker_draws = Vec::new();
        for seed in 0..5000 {
            let factors = Stragglers::SlowWorkers.factors(8, seed);
            let slow: Vec<f64> = factors.into_iter().filter(|f| *f > 0.0).collect();
            assert_eq!(slow.len(), 2, "seed {seed}: not a quarter of 8 straggle");
            worker_draws.extend(slow);
        }
        check_paper_proportions(&worker_draws, "slow-workers");
        // Slow partitions: every task of partitions 0, 4, 8, ... redrawn, under many seeds.
        let model = Stragglers::SlowPartitions;
        let task_draws: Vec<f64> = (0..200u64)
            .flat_map(|seed| {
                (0..50).map(move |seq| model.task_factor(4 * (seed % 8) as u32, seq, seed))
            })
            .collect();
        check_paper_proportions(&task_draws, "slow-partitions");
        // Each slow worker's factor differs from the other's: two draws, not one shared.
        let pairs = (0..1000)
            .map(|seed| Stragglers::SlowWorkers.factors(8, seed))
            .filter(|f| {
                let slow: Vec<&f64> = f.iter().filter(|x| **x > 0.0).collect();
                slow[0] == slow[1]
            })
            .count();
        assert_eq!(pairs, 0, "two slow workers drew one factor");
    }

    #[test]
    fn other_models_have_no_task_factors() {
        for model in [
            Stragglers::None,
            Stragglers::SlowWorkers,
            Stragglers::Intensity(3.0),
        ] {
            assert_eq!(model.task_factor(0, 1, 7), 0.0);
        }
    }

    #[test]
    fn parses_the_command_line_forms() {
        assert_eq!("intensity:20".parse(), Ok(Stragglers::Intensity(20.0)));
        assert_eq!("paper".parse(), Ok(Stragglers::SlowWorkers));
        assert_eq!("slow-workers".parse(), Ok(Stragglers::SlowWorkers));
        assert_eq!("asyncpaper".parse(), Ok(Stragglers::SlowPartitions));
        assert_eq!("slow-partitions".parse(), Ok(Stragglers::SlowPartitions));
        for model in [
            Stragglers::SlowWorkers,
            Stragglers::SlowPartitions,
            Stragglers::None,
        ] {
            assert_eq!(model.to_string().parse(), Ok(model));
        }
        assert!("intensity:x".parse::<Stragglers>().is_err());
        assert!("slow".parse::<Stragglers>().is_err());
    }
}
