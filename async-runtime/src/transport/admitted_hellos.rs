//! The nonces of the hellos the gate admitted last, kept after their connections closed: a
//! worker draws a fresh nonce for every connection, so a hello carrying one of them again was
//! recorded on the way and sent again. Only admissions are kept (each proved the token), so a
//! flood of hellos from anyone cannot push them out; and only the latest [`KEPT`], so a run
//! of any length holds at most a few tens of KiB.

use std::collections::{HashSet, VecDeque};

/// Admissions whose hello nonces are kept: 1,024 of 32 bytes each.
pub(crate) const KEPT: usize = 1024;

/// Nonces of the latest admitted hellos, the oldest forgotten first.
#[derive(Default)]
pub(crate) struct AdmittedHellos {
    order: VecDeque<Vec<u8>>,
    kept: HashSet<Vec<u8>>,
}

impl AdmittedHellos {
    /// Keeps `nonce`, of a hello just admitted; past [`KEPT`] the oldest goes.
    pub(crate) fn record(&mut self, nonce: &[u8]) {
        if !self.kept.insert(nonce.to_vec()) {
            return;
        }
        self.order.push_back(nonce.to_vec());
        if self.order.len() > KEPT {
            if let Some(oldest) = self.order.pop_front() {
                self.kept.remove(&oldest);
            }
        }
    }

    /// Whether a hello with `nonce` was admitted before (among the latest [`KEPT`]).
    pub(crate) fn contains(&self, nonce: &[u8]) -> bool {
        self.kept.contains(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_admissions_are_kept_and_the_oldest_forgotten() {
        let mut hellos = AdmittedHellos::default();
        let nonce = |n: usize| n.to_le_bytes().to_vec();
        for n in 0..KEPT {
            hellos.record(&nonce(n));
        }
        assert!(hellos.contains(&nonce(0)) && hellos.contains(&nonce(KEPT - 1)));
        // Recorded again, a nonce takes no second place.
        hellos.record(&nonce(1));
        assert_eq!(hellos.order.len(), KEPT);
        hellos.record(&nonce(KEPT));
        assert!(!hellos.contains(&nonce(0)), "the oldest made room");
        assert!(hellos.contains(&nonce(1)) && hellos.contains(&nonce(KEPT)));
        assert_eq!((hellos.order.len(), hellos.kept.len()), (KEPT, KEPT));
    }
}
