//! Simulated stragglers: which workers are slow and by how much, drawn from the seed. The
//! driver draws the factors; each worker applies its own as real sleep after each task.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::str::FromStr;

/// How workers are slowed down.
///
/// ```
/// use asyncopt_runtime::Stragglers;
///
/// let model: Stragglers = "paper".parse().unwrap();
/// let factors = model.factors(8, 7); // 8 workers, seed 7
/// assert_eq!(factors.iter().filter(|f| **f > 0.0).count(), 2); // 25% straggle
/// assert_eq!("intensity:20".parse(), Ok(Stragglers::Intensity(20.0)));
/// assert_eq!(Stragglers::Intensity(20.0).to_string(), "intensity:20");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Stragglers {
    /// Nobody is slowed down.
    #[default]
    None,
    /// The ASYNC paper's model: 25% of workers straggle; 80% of those sleep 1.5-2.5x their mean
    /// task time after each task, the rest 2.5-10x.
    Paper,
    /// One worker sleeps `C` times its mean task time after each task.
    Intensity(f64),
}

impl Stragglers {
    /// The delay factor of each of `workers` workers, deterministic for `seed`.
    pub fn factors(&self, workers: usize, seed: u64) -> Vec<f64> {
        let mut factors = vec![0.0; workers];
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5354_5241_4747_4c45);
        match *self {
            Stragglers::None => {}
            Stragglers::Intensity(c) => {
                if let Some(last) = factors.last_mut() {
                    *last = c;
                }
            }
            Stragglers::Paper => {
                let slow = ((workers as f64) * 0.25).round().max(1.0) as usize;
                let mut ids: Vec<usize> = (0..workers).collect();
                for i in 0..slow.min(workers) {
                    let j = rng.random_range(i..workers);
                    ids.swap(i, j);
                    factors[ids[i]] = if rng.random_bool(0.8) {
                        rng.random_range(1.5..=2.5)
                    } else {
                        rng.random_range(2.5..=10.0)
                    };
                }
            }
        }
        factors
    }
}

/// The command line's spelling, which [`FromStr`] reads back: `none`, `paper`, `intensity:C`.
impl std::fmt::Display for Stragglers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stragglers::None => f.write_str("none"),
            Stragglers::Paper => f.write_str("paper"),
            Stragglers::Intensity(c) => write!(f, "intensity:{c}"),
        }
    }
}

impl FromStr for Stragglers {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Stragglers::None),
            "paper" => Ok(Stragglers::Paper),
            _ => match s.strip_prefix("intensity:").map(str::parse::<f64>) {
                Some(Ok(c)) if c.is_finite() && c >= 0.0 => Ok(Stragglers::Intensity(c)),
                _ => Err(format!(
                    "unknown straggler model `{s}`: use none, paper or intensity:C with C >= 0"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_slows_a_quarter_deterministically() {
        let a = Stragglers::Paper.factors(8, 7);
        assert_eq!(a, Stragglers::Paper.factors(8, 7));
        assert_eq!(a.iter().filter(|f| **f > 0.0).count(), 2);
        assert!(a.iter().all(|f| *f == 0.0 || (1.5..=10.0).contains(f)));
        assert_ne!(a, Stragglers::Paper.factors(8, 8));
    }

    #[test]
    fn parses_the_command_line_forms() {
        assert_eq!("intensity:20".parse(), Ok(Stragglers::Intensity(20.0)));
        assert_eq!("paper".parse(), Ok(Stragglers::Paper));
        assert!("intensity:x".parse::<Stragglers>().is_err());
        assert!("slow".parse::<Stragglers>().is_err());
    }
}
