//! The driver's version store: every `broadcast!` publishes a version of a variable; workers
//! are later sent only the versions they lack (the [`Holdings`] model says which), as cheaply
//! as [`delta`] can.

pub mod delta;
mod holdings;

pub(crate) use holdings::{Holdings, Shipment};

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// One stored version: its bytes and their content hash.
#[derive(Clone)]
pub(crate) struct Stored {
    pub version: u64,
    pub bytes: Arc<Vec<u8>>,
    pub hash: u64,
}

/// One broadcast variable's recent versions.
struct Slot {
    name: String,
    versions: VecDeque<Stored>,
    next_version: u64,
    /// The version a checkpoint restored: older ones were never in this process.
    restored_at: Option<u64>,
}

/// Versions of every broadcast variable, newest last.
pub(crate) struct VersionStore {
    slots: Vec<Slot>,
    by_name: HashMap<String, u16>,
    keep: usize,
}

/// The outcome of a publish.
pub(crate) struct Published {
    pub slot: u16,
    pub version: u64,
    /// `false` when the value equals the latest version, which is then reused.
    pub is_new: bool,
}

impl VersionStore {
    pub fn new(keep: usize) -> VersionStore {
        VersionStore {
            slots: Vec::new(),
            by_name: HashMap::new(),
            keep: keep.max(1),
        }
    }

    /// How many versions of each variable are kept.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// Keeps at least `keep` versions of each variable from the next publish on (never fewer
    /// than now).
    pub fn keep_at_least(&mut self, keep: usize) {
        self.keep = self.keep.max(keep);
    }

    /// Publishes `bytes` as the next version of `name`; a value equal to the latest version is
    /// not a new version, so workers holding it are sent nothing.
    pub fn publish(&mut self, name: &str, bytes: Vec<u8>) -> Published {
        let slot = self.slot_or_new(name);
        let entry = &mut self.slots[slot as usize];
        if let Some(latest) = entry.versions.back() {
            if *latest.bytes == bytes {
                return Published {
                    slot,
                    version: latest.version,
                    is_new: false,
                };
            }
        }
        let version = entry.next_version;
        entry.next_version += 1;
        let hash = delta::content_hash(&bytes);
        entry.versions.push_back(Stored {
            version,
            bytes: Arc::new(bytes),
            hash,
        });
        if entry.versions.len() > self.keep {
            entry.versions.pop_front();
        }
        Published {
            slot,
            version,
            is_new: true,
        }
    }

    fn slot_or_new(&mut self, name: &str) -> u16 {
        if let Some(&slot) = self.by_name.get(name) {
            return slot;
        }
        let slot = self.slots.len() as u16;
        self.slots.push(Slot {
            name: name.to_owned(),
            versions: VecDeque::new(),
            next_version: 1,
            restored_at: None,
        });
        self.by_name.insert(name.to_owned(), slot);
        slot
    }

    /// Makes `bytes` version `version` of `name`, as a checkpoint saved it: a resumed run
    /// goes on numbering from there, and publishing the same value again reuses it.
    pub fn restore(&mut self, name: &str, version: u64, bytes: Vec<u8>) {
        let slot = self.slot_or_new(name);
        let entry = &mut self.slots[slot as usize];
        let hash = delta::content_hash(&bytes);
        entry.versions.clear();
        entry.versions.push_back(Stored {
            version,
            bytes: Arc::new(bytes),
            hash,
        });
        entry.next_version = version + 1;
        entry.restored_at = Some(version);
    }

    /// The version of `slot` a checkpoint restored, if the run resumed one.
    pub fn restored_at(&self, slot: u16) -> Option<u64> {
        self.slots.get(slot as usize)?.restored_at
    }

    /// The latest version of every variable, with its name.
    pub fn latest_all(&self) -> impl Iterator<Item = (&str, &Stored)> {
        self.slots
            .iter()
            .filter_map(|slot| Some((slot.name.as_str(), slot.versions.back()?)))
    }

    /// The slot of variable `name`, if it was ever broadcast.
    pub fn slot(&self, name: &str) -> Option<u16> {
        self.by_name.get(name).copied()
    }

    /// The latest version of `slot`.
    pub fn latest(&self, slot: u16) -> Option<&Stored> {
        self.slots.get(slot as usize)?.versions.back()
    }

    /// The oldest version of `slot` still kept.
    pub fn oldest(&self, slot: u16) -> Option<u64> {
        Some(self.slots.get(slot as usize)?.versions.front()?.version)
    }

    /// Version `version` of `slot`, while it is kept.
    pub fn get(&self, slot: u16, version: u64) -> Option<&Stored> {
        self.slots
            .get(slot as usize)?
            .versions
            .iter()
            .find(|s| s.version == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_reuse_the_version() {
        let mut store = VersionStore::new(4);
        let a = store.publish("w", vec![1, 2]);
        let b = store.publish("w", vec![1, 2]);
        let c = store.publish("w", vec![3]);
        assert_eq!((a.version, a.is_new), (1, true));
        assert_eq!((b.version, b.is_new), (1, false));
        assert_eq!((c.version, c.is_new), (2, true));
        assert_eq!(store.publish("v", vec![0]).slot, 1);
        assert_eq!(*store.latest(0).unwrap().bytes, vec![3]);
    }

    #[test]
    fn a_restored_version_numbers_on() {
        let mut store = VersionStore::new(4);
        store.restore("w", 41, vec![7]);
        let same = store.publish("w", vec![7]);
        assert_eq!((same.version, same.is_new), (41, false));
        assert_eq!(store.publish("w", vec![8]).version, 42);
        let latest: Vec<_> = store.latest_all().map(|(n, s)| (n, s.version)).collect();
        assert_eq!(latest, vec![("w", 42)]);
    }
}
