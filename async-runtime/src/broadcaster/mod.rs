//! The driver's version store: every `broadcast!` publishes a version of a variable; workers
//! are later sent only the versions they lack (the [`Holdings`] model says which), as cheaply
//! as [`delta`] can.

pub mod delta;
mod holdings;

pub(crate) use holdings::{Holdings, Shipment};

use std::any::TypeId;
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// One stored version: its bytes and their content hash.
#[derive(Clone)]
pub(crate) struct Stored {
    pub version: u64,
    pub bytes: Arc<Vec<u8>>,
    pub hash: u64,
}

/// A published type's search of a version's bytes for the first number not finite or whose
/// square overflows (`Broadcast::overflowing`).
pub(crate) type OverflowingIn = fn(&[u8]) -> Option<f64>;

/// One broadcast variable's recent versions.
struct Slot {
    name: String,
    versions: VecDeque<Stored>,
    next_version: u64,
    /// The latest version a checkpoint restored: older ones were never in this process,
    /// unless its history was read (see `history_read`).
    restored_at: Option<u64>,
    /// Whether a pinned read (`w.at(v)`) or the driver's `value_at` read a version of it: a
    /// checkpoint then saves every version kept, the window the optimizer declared it reads
    /// back, so that a resumed run reads an anchor or a fixed lag as the run it continues
    /// would have. A `Cell`: `value_at` reads through `&Driver`.
    history_read: Cell<bool>,
    /// Whether the checkpoint restored held older versions of it beside the latest.
    restored_history: bool,
    /// The Rust type its first publish in this process had, and that type's name: a read
    /// back as another type would decode the bytes into a wrong value.
    published_as: Option<(TypeId, &'static str)>,
    /// That type's search of a version's bytes for a number not finite or whose square
    /// overflows (`Broadcast::overflowing`): run only when a task that read the version
    /// returned results that are not finite, never as a version is published.
    overflowing_in: Option<OverflowingIn>,
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
            history_read: Cell::new(false),
            restored_history: false,
            published_as: None,
            overflowing_in: None,
        });
        self.by_name.insert(name.to_owned(), slot);
        slot
    }

    /// Makes `bytes` version `version` of `name`, as a checkpoint saved it: a resumed run
    /// goes on numbering from the latest one restored, and publishing the same value again
    /// reuses it. Versions restored beside the latest were kept for pinned reads, and stay
    /// readable (and saved by the next checkpoint) while kept.
    pub fn restore(&mut self, name: &str, version: u64, bytes: Vec<u8>) {
        let slot = self.slot_or_new(name);
        let entry = &mut self.slots[slot as usize];
        if entry.restored_at.is_none() {
            // Whatever this process published before the resume is another run's.
            entry.versions.clear();
            entry.history_read.set(false);
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
        entry.restored_history = entry.versions.len() > 1;
        if entry.restored_history {
            entry.history_read.set(true);
        }
        let latest = entry.versions.back().map_or(version, |s| s.version);
        entry.next_version = latest + 1;
        entry.restored_at = Some(latest);
    }

    /// Notes that a pinned read or `value_at` asked for a version of `slot`: from now on a
    /// checkpoint saves every version of it kept.
    pub fn note_read_back(&self, slot: u16) {
        if let Some(entry) = self.slots.get(slot as usize) {
            entry.history_read.set(true);
        }
    }

    /// The version of `slot` a checkpoint restored, if the run resumed one that held its
    /// latest version only (one whose history no task had read): older ones are not here
    /// because of the resume, not because the window evicted them.
    pub fn restored_alone(&self, slot: u16) -> Option<u64> {
        let entry = self.slots.get(slot as usize)?;
        entry.restored_at.filter(|_| !entry.restored_history)
    }

    /// What a checkpoint saves of every variable, with its name, oldest first: every kept
    /// version of one whose history pinned reads read, the latest only of any other (an
    /// optimizer that never reads back pays for no history).
    pub fn to_checkpoint(&self) -> impl Iterator<Item = (&str, &Stored)> {
        self.slots.iter().flat_map(|slot| {
            let skip = match slot.history_read.get() {
                true => 0,
                false => slot.versions.len().saturating_sub(1),
            };
            slot.versions
                .iter()
                .skip(skip)
                .map(move |s| (slot.name.as_str(), s))
        })
    }

    /// The slot of variable `name`, if it was ever broadcast.
    pub fn slot(&self, name: &str) -> Option<u16> {
        self.by_name.get(name).copied()
    }

    /// Records the type `slot` is published as, and that type's search for overflowing
    /// numbers, if none is yet.
    pub fn note_type(
        &mut self,
        slot: u16,
        published_as: (TypeId, &'static str),
        overflowing_in: OverflowingIn,
    ) {
        if let Some(entry) = self.slots.get_mut(slot as usize) {
            entry.published_as.get_or_insert(published_as);
            entry.overflowing_in.get_or_insert(overflowing_in);
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

    /// The first number of version `version` of `slot` that is not finite or whose square
    /// overflows, if it holds one and is still kept: results computed from it that are not
    /// finite are no worker's fault.
    pub fn overflowing(&self, slot: u16, version: u64) -> Option<f64> {
        let overflowing_in = self.slots.get(slot as usize)?.overflowing_in?;
        overflowing_in(&self.get(slot, version)?.bytes)
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
    fn a_checkpoint_saves_every_kept_version_of_a_variable_read_back() {
        let mut store = VersionStore::new(3);
        for value in 1..=4 {
            store.publish("w", vec![value]);
        }
        store.publish("v", vec![0]);
        assert_eq!(saved(&store), vec![("w", 4), ("v", 1)], "no read back yet");
        store.note_read_back(0);
        // Not only the version read: a fixed lag reads the next one after a resume.
        assert_eq!(saved(&store), vec![("w", 2), ("w", 3), ("w", 4), ("v", 1)]);
        store.publish("w", vec![5]);
        assert_eq!(saved(&store), vec![("w", 3), ("w", 4), ("w", 5), ("v", 1)]);
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
        assert_eq!(
            store.restored_alone(slot),
            None,
            "older versions came with it"
        );
        assert_eq!(store.publish("w", vec![10]).version, 10);
        // Still saved by the next checkpoint.
        assert_eq!(saved(&store), vec![("w", 5), ("w", 9), ("w", 10)]);
    }

    #[test]
    fn a_variable_restored_alone_says_so() {
        let mut store = VersionStore::new(4);
        store.restore("w", 9, vec![9]);
        let slot = store.slot("w").unwrap();
        assert_eq!(store.restored_alone(slot), Some(9));
        store.publish("w", vec![10]);
        assert_eq!(saved(&store), vec![("w", 10)], "never read back");
    }
}
