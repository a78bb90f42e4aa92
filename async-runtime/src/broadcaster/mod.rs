//! The driver's version store: every `broadcast!` publishes a version of a variable; workers
//! are later sent only the versions they lack (the [`Holdings`] model says which), as cheaply
//! as [`delta`] can.

pub mod delta;
mod holdings;

pub(crate) use holdings::{Holdings, Shipment};

use std::any::TypeId;
use std::collections::{BTreeSet, HashMap, VecDeque};
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
    /// The latest version a checkpoint restored: older ones were never in this process,
    /// unless pinned reads had asked for them (see `pinned`).
    restored_at: Option<u64>,
    /// The kept versions a pinned read (`w.at(v)`) asked for: a checkpoint saves them beside
    /// the latest, so that a run resumed in the middle of an epoch still reads its anchor.
    pinned: BTreeSet<u64>,
    /// The Rust type its first publish in this process had, and that type's name: a read
    /// back as another type would decode the bytes into a wrong value.
    published_as: Option<(TypeId, &'static str)>,
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
        while entry.versions.len() > self.keep {
            if let Some(evicted) = entry.versions.pop_front() {
                entry.pinned.remove(&evicted.version);
            }
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
            pinned: BTreeSet::new(),
            published_as: None,
        });
        self.by_name.insert(name.to_owned(), slot);
        slot
    }

    /// Makes `bytes` version `version` of `name`, as a checkpoint saved it: a resumed run
    /// goes on numbering from the latest one restored, and publishing the same value again
    /// reuses it. Versions restored beside the latest are the ones pinned reads had asked for,
    /// and stay readable (and saved by the next checkpoint) while kept.
    pub fn restore(&mut self, name: &str, version: u64, bytes: Vec<u8>) {
        let slot = self.slot_or_new(name);
        let entry = &mut self.slots[slot as usize];
        if entry.restored_at.is_none() {
            // Whatever this process published before the resume is another run's.
            entry.versions.clear();
            entry.pinned.clear();
        }
        let hash = delta::content_hash(&bytes);
        let stored = Stored {
            version,
            bytes: Arc::new(bytes),
            hash,
        };
        // In version order, whatever the checkpoint's; a version twice is kept once.
        match entry.versions.binary_search_by_key(&version, |s| s.version) {
            Ok(at) => entry.versions[at] = stored,
            Err(at) => entry.versions.insert(at, stored),
        }
        entry.pinned.insert(version);
        let latest = entry.versions.back().map_or(version, |s| s.version);
        entry.next_version = latest + 1;
        entry.restored_at = Some(latest);
    }

    /// Notes that a pinned read asked for `version` of `slot`: a checkpoint saves it while
    /// it is kept.
    pub fn note_pinned(&mut self, slot: u16, version: u64) {
        if let Some(entry) = self.slots.get_mut(slot as usize) {
            entry.pinned.insert(version);
        }
    }

    /// The version of `slot` a checkpoint restored, if the run resumed one.
    pub fn restored_at(&self, slot: u16) -> Option<u64> {
        self.slots.get(slot as usize)?.restored_at
    }

    /// What a checkpoint saves of every variable, with its name: the kept versions pinned
    /// reads asked for, oldest first, then the latest.
    pub fn to_checkpoint(&self) -> impl Iterator<Item = (&str, &Stored)> {
        self.slots.iter().flat_map(|slot| {
            let latest = slot.versions.back().map(|s| s.version);
            slot.versions
                .iter()
                .filter(move |s| Some(s.version) == latest || slot.pinned.contains(&s.version))
                .map(move |s| (slot.name.as_str(), s))
        })
    }

    /// The slot of variable `name`, if it was ever broadcast.
    pub fn slot(&self, name: &str) -> Option<u16> {
        self.by_name.get(name).copied()
    }

    /// Records the type `slot` is published as, if none is yet.
    pub fn note_type(&mut self, slot: u16, published_as: (TypeId, &'static str)) {
        if let Some(entry) = self.slots.get_mut(slot as usize) {
            entry.published_as.get_or_insert(published_as);
        }
    }

    /// The type `slot` was first published as in this process, and its name.
    pub fn published_as(&self, slot: u16) -> Option<(TypeId, &'static str)> {
        self.slots.get(slot as usize)?.published_as
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
        assert_eq!(store.latest(0).unwrap().version, 42);
    }

    fn saved(store: &VersionStore) -> Vec<(&str, u64)> {
        store.to_checkpoint().map(|(n, s)| (n, s.version)).collect()
    }

    #[test]
    fn a_checkpoint_saves_the_kept_versions_pinned_reads_asked_for() {
        let mut store = VersionStore::new(3);
        for value in 1..=3 {
            store.publish("w", vec![value]);
        }
        store.publish("v", vec![0]);
        store.note_pinned(0, 2);
        assert_eq!(saved(&store), vec![("w", 2), ("w", 3), ("v", 1)]);
        // Evicted, it is no longer saved.
        store.publish("w", vec![4]);
        store.publish("w", vec![5]);
        assert_eq!(saved(&store), vec![("w", 5), ("v", 1)]);
    }

    #[test]
    fn restored_versions_come_back_in_order_and_readable() {
        let mut store = VersionStore::new(4);
        store.publish("w", vec![0]);
        // A checkpoint's order is not trusted to be the versions'.
        store.restore("w", 9, vec![9]);
        store.restore("w", 5, vec![5]);
        let slot = store.slot("w").unwrap();
        assert_eq!(store.latest(slot).unwrap().version, 9);
        assert_eq!(*store.get(slot, 5).unwrap().bytes, vec![5]);
        assert!(
            store.get(slot, 1).is_none(),
            "the run before the resume is gone"
        );
        assert_eq!(store.restored_at(slot), Some(9));
        assert_eq!(store.publish("w", vec![10]).version, 10);
        // Still saved by the next checkpoint.
        assert_eq!(saved(&store), vec![("w", 5), ("w", 9), ("w", 10)]);
    }
}
