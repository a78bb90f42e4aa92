//! How often to warn about what anyone can send: a peer that proved nothing must not be able
//! to turn each cheap frame into a log line.

/// Warnings of one kind so far: the first few are logged, then only each power of two, each
/// with the count, so a flood of millions of frames costs a few dozen lines.
#[derive(Debug, Default)]
pub(crate) struct Said(u64);

/// Warnings always logged before the rest thin out.
const FIRST_FEW: u64 = 5;

impl Said {
    /// Counts one more; whether to log it.
    pub(crate) fn again(&mut self) -> bool {
        self.0 += 1;
        self.0 <= FIRST_FEW || self.0.is_power_of_two()
    }

    /// How many were counted, logged or not.
    pub(crate) fn count(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_few_then_only_powers_of_two_are_said() {
        let mut said = Said::default();
        let logged: Vec<u64> = (1..=1000).filter(|_| said.again()).collect();
        assert_eq!(logged, [1, 2, 3, 4, 5, 8, 16, 32, 64, 128, 256, 512]);
        assert_eq!(said.count(), 1000);
    }

    #[test]
    fn a_million_frames_cost_a_few_dozen_lines() {
        let mut said = Said::default();
        let lines = (0..1_000_000).filter(|_| said.again()).count();
        assert!(lines < 30, "{lines} lines");
    }
}
