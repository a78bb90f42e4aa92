//! The broadcaster's model of what each worker holds: per worker and variable, the versions
//! sent to it, forgotten as the worker's cache evicts them (oldest first, at the capacity the
//! worker was welcomed with). From it comes what a task needs shipped with it: nothing for a
//! version the worker holds, else the cheapest body [`delta`] offers against what it holds.
//! A pinned read (`w.at(v)`) of a version the worker's cache evicted is so sent again.
//!
//! [`Holdings`] is the one owner of this model; it reads the [`VersionStore`] and sends
//! nothing: the driver sends the body it returns.

use std::collections::HashMap;

use serde_bytes::ByteBuf;

use super::delta::{self, VersionBody};
use super::VersionStore;
use crate::worker::MAX_CACHE_VERSIONS;

/// What the driver sends so that a worker holds a version.
pub(crate) struct Shipment {
    /// The version, as a reference, a patch or whole.
    pub body: VersionBody,
    /// What sending it whole costs: the value's size.
    pub whole: usize,
    /// Bytes the body takes on the wire ([`VersionBody::wire_len`]).
    pub wire_len: usize,
}

/// The versions each worker holds, as the driver models its cache.
pub(crate) struct Holdings {
    /// Per worker (by index in the table), per slot, oldest first.
    workers: Vec<HashMap<u16, Vec<u64>>>,
    /// Versions per slot a worker's cache keeps.
    capacity: usize,
}

impl Holdings {
    /// The model for workers welcomed with a cache of `capacity` versions of each variable,
    /// which they clamp to `1..=MAX_CACHE_VERSIONS`.
    pub fn new(capacity: usize) -> Holdings {
        Holdings {
            workers: Vec::new(),
            capacity: capacity.clamp(1, MAX_CACHE_VERSIONS as usize),
        }
    }

    /// Worker `worker` joined (or joined again, with a fresh cache): it holds nothing.
    pub fn joined(&mut self, worker: usize) {
        if worker >= self.workers.len() {
            self.workers.resize_with(worker + 1, HashMap::new);
        }
        self.workers[worker].clear();
    }

    /// A task of `worker` failed: the versions its order carried may never have been
    /// stored (an order refused on receipt stores none; the cache may refuse one), and the
    /// failure does not say which were. The worker is taken to hold nothing, as when it
    /// joined: no record of what each order in flight carried is needed, and what the worker
    /// does hold costs one copy sent again, which it keeps as its newest (see
    /// `worker::cache`), as this model does. Failures are rare: a worker failing three in a
    /// row is excluded.
    pub fn task_failed(&mut self, worker: usize) {
        if let Some(held) = self.workers.get_mut(worker) {
            held.clear();
        }
    }

    /// Whether `worker` holds `version` of `slot`.
    pub fn holds(&self, worker: usize, slot: u16, version: u64) -> bool {
        self.workers
            .get(worker)
            .and_then(|held| held.get(&slot))
            .is_some_and(|versions| versions.contains(&version))
    }

    /// What to send `worker` so that it holds `version` of `slot`, a version `store` keeps:
    /// `None` if it holds it already; else the cheapest body, and from now on the worker is
    /// taken to hold the version (and no longer the one its cache evicts for it).
    pub fn ship(
        &mut self,
        store: &VersionStore,
        worker: usize,
        slot: u16,
        version: u64,
    ) -> Option<Shipment> {
        if self.holds(worker, slot, version) {
            return None;
        }
        let shipment = self.cheapest(store, worker, slot, version);
        if worker >= self.workers.len() {
            self.workers.resize_with(worker + 1, HashMap::new);
        }
        let held = self.workers[worker].entry(slot).or_default();
        held.push(version);
        if held.len() > self.capacity {
            held.remove(0);
        }
        Some(shipment)
    }

    /// The smallest way to give `worker` version `version` of `slot`: a reference to an
    /// identical version it holds, a patch against its newest version of the slot, or whole.
    fn cheapest(&self, store: &VersionStore, worker: usize, slot: u16, version: u64) -> Shipment {
        let wanted = store.get(slot, version).expect("a read version is kept");
        let whole = wanted.bytes.len();
        let Some(held) = self.workers.get(worker) else {
            return Shipment {
                body: VersionBody::Full(ByteBuf::from(wanted.bytes.as_slice())),
                whole,
                wire_len: VersionBody::full_wire_len(whole),
            };
        };
        let identical = held.iter().find_map(|(&other_slot, versions)| {
            versions.iter().find_map(|&other| {
                let stored = store.get(other_slot, other)?;
                (stored.hash == wanted.hash && stored.bytes == wanted.bytes).then_some(
                    VersionBody::Alias {
                        slot: other_slot,
                        version: other,
                    },
                )
            })
        });
        if let Some(alias) = identical {
            let wire_len = alias.wire_len();
            return Shipment {
                body: alias,
                whole,
                wire_len,
            };
        }
        let patch = held
            .get(&slot)
            .and_then(|versions| versions.iter().rev().find_map(|&v| store.get(slot, v)))
            .and_then(|base| delta::diff(base.version, &base.bytes, &wanted.bytes));
        let full_len = VersionBody::full_wire_len(whole);
        let (body, wire_len) = match patch.map(|patch| (patch.wire_len(), patch)) {
            Some((len, patch)) if len < full_len => (patch, len),
            _ => (
                VersionBody::Full(ByteBuf::from(wanted.bytes.as_slice())),
                full_len,
            ),
        };
        Shipment {
            body,
            whole,
            wire_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broadcaster::Published;

    /// A value of `n` 8-byte words, word `i` equal to `i + offset`.
    fn words(n: u64, offset: u64) -> Vec<u8> {
        (0..n).flat_map(|i| (i + offset).to_le_bytes()).collect()
    }

    /// Two versions of `w`, 512 words, the second with its first word changed: a patch is
    /// the cheapest way to ship it to a worker holding the first.
    fn two_versions_a_word_apart(store: &mut VersionStore) -> (Published, Published) {
        let v1 = store.publish("w", words(512, 0));
        let mut changed = words(512, 0);
        changed[..8].copy_from_slice(&99u64.to_le_bytes());
        (v1, store.publish("w", changed))
    }

    #[test]
    fn a_version_a_worker_holds_is_not_sent_again() {
        let mut store = VersionStore::new(8);
        let w = store.publish("w", words(64, 0));
        let mut holdings = Holdings::new(2);
        holdings.joined(0);
        holdings.joined(1);
        let first = holdings
            .ship(&store, 0, w.slot, w.version)
            .expect("lacks it");
        assert!(matches!(first.body, VersionBody::Full(_)));
        assert_eq!(first.whole, 64 * 8);
        assert!(holdings.holds(0, w.slot, w.version));
        assert!(holdings.ship(&store, 0, w.slot, w.version).is_none());
        assert!(!holdings.holds(1, w.slot, w.version), "per worker");
    }

    #[test]
    fn a_small_change_goes_as_a_patch_against_the_newest_version_held() {
        let mut store = VersionStore::new(8);
        let (v1, v2) = two_versions_a_word_apart(&mut store);
        let mut holdings = Holdings::new(2);
        holdings.joined(0);
        holdings.ship(&store, 0, v1.slot, v1.version);
        let shipment = holdings.ship(&store, 0, v2.slot, v2.version).unwrap();
        match shipment.body {
            VersionBody::Patch { base, .. } => assert_eq!(base, v1.version),
            _ => panic!("one word changed: a patch"),
        }
        assert_eq!(
            shipment.whole,
            512 * 8,
            "the saving is reported against this"
        );
    }

    #[test]
    fn a_value_equal_to_another_variables_version_held_goes_as_a_reference() {
        let mut store = VersionStore::new(8);
        let w = store.publish("w", words(64, 3));
        let snapshot = store.publish("snapshot", words(64, 3));
        let mut holdings = Holdings::new(2);
        holdings.joined(0);
        holdings.ship(&store, 0, w.slot, w.version);
        let shipment = holdings
            .ship(&store, 0, snapshot.slot, snapshot.version)
            .unwrap();
        match shipment.body {
            VersionBody::Alias { slot, version } => {
                assert_eq!((slot, version), (w.slot, w.version))
            }
            _ => panic!("an identical value held: a reference"),
        }
    }

    #[test]
    fn a_pinned_read_of_a_version_the_workers_cache_evicted_is_sent_again() {
        let mut store = VersionStore::new(8);
        let versions: Vec<_> = (0..3)
            .map(|i| store.publish("w", words(64, i * 100)))
            .collect();
        let mut holdings = Holdings::new(2);
        holdings.joined(0);
        for v in &versions {
            holdings.ship(&store, 0, v.slot, v.version);
        }
        let oldest = &versions[0];
        assert!(!holdings.holds(0, oldest.slot, oldest.version), "evicted");
        assert!(holdings.holds(0, oldest.slot, versions[1].version));
        assert!(
            holdings
                .ship(&store, 0, oldest.slot, oldest.version)
                .is_some(),
            "a pinned read of it needs it shipped again"
        );
        assert!(
            !holdings.holds(0, oldest.slot, versions[1].version),
            "which evicts the next oldest"
        );
    }

    #[test]
    fn a_worker_that_joins_again_holds_nothing() {
        let mut store = VersionStore::new(8);
        let w = store.publish("w", words(8, 0));
        let mut holdings = Holdings::new(2);
        holdings.joined(0);
        holdings.ship(&store, 0, w.slot, w.version);
        holdings.joined(0);
        assert!(!holdings.holds(0, w.slot, w.version));
        assert!(matches!(
            holdings.ship(&store, 0, w.slot, w.version).unwrap().body,
            VersionBody::Full(_)
        ));
    }

    #[test]
    fn a_worker_whose_task_failed_is_sent_its_versions_again_whole() {
        let mut store = VersionStore::new(8);
        let (v1, v2) = two_versions_a_word_apart(&mut store);
        let mut holdings = Holdings::new(2);
        holdings.joined(0);
        holdings.joined(1);
        holdings.ship(&store, 0, v1.slot, v1.version);
        holdings.ship(&store, 1, v1.slot, v1.version);
        // The order that carried v1 to worker 0 may have been refused: v2 is no patch on it.
        holdings.task_failed(0);
        assert!(!holdings.holds(0, v1.slot, v1.version));
        assert!(holdings.holds(1, v1.slot, v1.version), "per worker");
        assert!(matches!(
            holdings.ship(&store, 0, v2.slot, v2.version).unwrap().body,
            VersionBody::Full(_)
        ));
    }

    #[test]
    fn the_model_keeps_what_a_workers_cache_keeps_even_for_an_out_of_range_setting() {
        let mut store = VersionStore::new(2 * MAX_CACHE_VERSIONS as usize);
        // A cache of 0 is one version on the worker: the latest is held, not sent again.
        let mut one = Holdings::new(0);
        one.joined(0);
        let v = store.publish("w", words(4, 0));
        assert!(one.ship(&store, 0, v.slot, v.version).is_some());
        assert!(one.ship(&store, 0, v.slot, v.version).is_none());
        // Beyond the worker's maximum, the oldest is evicted at the maximum.
        let mut many = Holdings::new(10 * MAX_CACHE_VERSIONS as usize);
        many.joined(0);
        let first = store.publish("w", words(4, 1));
        many.ship(&store, 0, first.slot, first.version);
        for i in 0..MAX_CACHE_VERSIONS as u64 {
            let v = store.publish("w", words(4, i + 2));
            many.ship(&store, 0, v.slot, v.version);
        }
        assert!(!many.holds(0, first.slot, first.version));
    }
}
