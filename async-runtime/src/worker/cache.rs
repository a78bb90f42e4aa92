//! The worker's version cache: the most recent versions of each broadcast variable, decoded
//! lazily into the type the first task that reads them asks for.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use super::memory::{Held, Kind, MemoryAccount};
use crate::broadcast::Broadcast;
use crate::broadcaster::delta::{self, VersionBody};
use crate::error::TaskError;

/// One cached version of a broadcast variable.
pub struct CachedVersion {
    version: u64,
    bytes: Vec<u8>,
    decoded: OnceLock<Box<dyn Any + Send + Sync>>,
    /// Its bytes, counted in the worker's memory until it is evicted.
    _held: Held,
}

impl CachedVersion {
    /// The value, decoded as `T` on first use.
    pub(crate) fn value<T: Broadcast>(&self) -> Result<&T, TaskError> {
        if self.decoded.get().is_none() {
            let value = T::decode(&self.bytes).map_err(|reason| TaskError::Decode {
                what: "a broadcast value",
                reason,
            })?;
            let _ = self.decoded.set(Box::new(value));
        }
        self.decoded
            .get()
            .and_then(|v| v.downcast_ref::<T>())
            .ok_or_else(|| TaskError::Decode {
                what: "a broadcast value",
                reason: "two tasks read this version as different types".into(),
            })
    }
}

/// Recent versions per slot, oldest evicted first, counted in the worker's memory.
pub(crate) struct VersionCache {
    slots: HashMap<u16, VecDeque<CachedVersion>>,
    capacity: usize,
    /// Where the versions are counted, beside the rest the worker holds: a driver, even one
    /// holding the token, sends as many versions of as many slots as it likes, up to 64 of
    /// 1,024 slots of up to a frame's size each, far past any host's memory.
    memory: Arc<MemoryAccount>,
}

impl VersionCache {
    /// A cache of `capacity` versions per slot, whose versions `memory` counts.
    pub fn new(capacity: usize, memory: Arc<MemoryAccount>) -> VersionCache {
        VersionCache {
            slots: HashMap::new(),
            capacity: capacity.max(1),
            memory,
        }
    }

    /// Whether the cache holds versions of `slot`, and how many slots it holds.
    pub fn slots(&self, slot: u16) -> (bool, usize) {
        (self.slots.contains_key(&slot), self.slots.len())
    }

    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
    }

    /// Stores a version received in any of its forms; an error when it refers to a version
    /// this cache does not hold or the worker cannot keep it. `counted`: bytes of `body`
    /// the worker counts already (its task's), freed once the version is kept.
    pub fn receive(
        &mut self,
        slot: u16,
        version: u64,
        body: VersionBody,
        counted: u64,
    ) -> Result<(), TaskError> {
        if self.refresh(slot, version) {
            return Ok(());
        }
        let bytes = match body {
            VersionBody::Full(bytes) => bytes.into_vec(),
            VersionBody::Patch {
                base,
                words,
                values,
            } => {
                let base_bytes = &self.get(slot, base)?.bytes;
                delta::apply(base_bytes, &words, &values).ok_or_else(|| TaskError::Decode {
                    what: "a broadcast patch",
                    reason: "it does not fit its base version".into(),
                })?
            }
            VersionBody::Alias {
                slot: other,
                version: same,
            } => self.get(other, same)?.bytes.clone(),
        };
        let freeing = counted.saturating_add(self.evicted_by(slot));
        let held = self
            .memory
            .reserve(Kind::Versions, bytes.len() as u64, freeing)?;
        self.insert(slot, version, bytes, held);
        Ok(())
    }

    /// Bytes a new version of `slot` evicts.
    fn evicted_by(&self, slot: u16) -> u64 {
        let Some(versions) = self.slots.get(&slot) else {
            return 0;
        };
        let evicted = (versions.len() + 1).saturating_sub(self.capacity);
        versions
            .iter()
            .take(evicted)
            .map(|v| v.bytes.len() as u64)
            .sum()
    }

    /// Makes a version held already the newest of its slot; whether it was held. A driver
    /// sends one again only when it lost track of what this worker holds (a task of it
    /// failed), and from then on takes it to be the newest, evicted last: so it is here too,
    /// and its bytes, counted once, are not counted again (which near the memory budget
    /// would refuse a copy of a version the cache holds).
    fn refresh(&mut self, slot: u16, version: u64) -> bool {
        let Some(versions) = self.slots.get_mut(&slot) else {
            return false;
        };
        let Some(at) = versions.iter().position(|v| v.version == version) else {
            return false;
        };
        let held = versions.remove(at).expect("found above");
        versions.push_back(held);
        true
    }

    /// Keeps a version not held yet, evicting the oldest of its slot past the capacity.
    fn insert(&mut self, slot: u16, version: u64, bytes: Vec<u8>, held: Held) {
        let versions = self.slots.entry(slot).or_default();
        versions.push_back(CachedVersion {
            version,
            bytes,
            decoded: OnceLock::new(),
            _held: held,
        });
        while versions.len() > self.capacity {
            versions.pop_front();
        }
    }

    pub fn get(&self, slot: u16, version: u64) -> Result<&CachedVersion, TaskError> {
        self.slots
            .get(&slot)
            .and_then(|versions| versions.iter().find(|v| v.version == version))
            .ok_or(TaskError::MissingVersion { slot, version })
    }
}

#[cfg(test)]
mod tests {
    use super::super::memory::tests::host_with;
    use super::*;

    /// Versions of `len` bytes, full, as a driver sends them.
    fn full(len: usize) -> VersionBody {
        VersionBody::Full(vec![0u8; len].into())
    }

    #[test]
    fn keeps_the_newest_versions_and_decodes_lazily() {
        let mut cache = VersionCache::new(2, MemoryAccount::of_host());
        for version in 1..=3u64 {
            let body = VersionBody::Full((version as f64).encode().into());
            cache.receive(0, version, body, 0).unwrap();
        }
        assert!(matches!(
            cache.get(0, 1),
            Err(TaskError::MissingVersion { .. })
        ));
        assert_eq!(*cache.get(0, 3).unwrap().value::<f64>().unwrap(), 3.0);
        assert_eq!(*cache.get(0, 2).unwrap().value::<f64>().unwrap(), 2.0);
    }

    #[test]
    fn versions_past_the_memory_budget_are_refused_and_the_oldest_make_room() {
        // A host with 800 bytes available.
        let memory = host_with(800);
        let mut cache = VersionCache::new(2, memory.clone());
        cache.receive(0, 1, full(300), 0).unwrap();
        // A driver's versions of slot after slot were each kept, until the host's memory ran
        // out: 600 past half of the 300 held and 800 available.
        assert!(matches!(
            cache.receive(1, 1, full(300), 0),
            Err(TaskError::OverMemory {
                wanted: 300,
                held: 300,
                budget: 550,
                ..
            })
        ));
        assert!(cache.get(1, 1).is_err());
        cache.receive(1, 1, full(200), 0).unwrap();
        assert_eq!(memory.held(Kind::Versions), 500);
        // A version that evicts the oldest of its slot counts without it (800 held with it,
        // past half of 400 and 1,000).
        let memory = host_with(1000);
        let mut cache = VersionCache::new(1, memory.clone());
        cache.receive(0, 1, full(400), 0).unwrap();
        cache.receive(0, 2, full(400), 0).unwrap();
        assert!(cache.get(0, 1).is_err() && cache.get(0, 2).is_ok());
        assert_eq!(memory.held(Kind::Versions), 400);
        drop(cache);
        assert_eq!(memory.total(), 0, "versions dropped are released");
    }

    #[test]
    fn a_version_received_again_becomes_the_newest_and_is_not_counted_twice() {
        // A driver that lost track of what this worker holds sends a version again, and
        // takes it to be the newest: the next version evicts the other one.
        let mut cache = VersionCache::new(2, MemoryAccount::of_host());
        cache.receive(0, 1, full(8), 0).unwrap();
        cache.receive(0, 2, full(8), 0).unwrap();
        cache.receive(0, 1, full(8), 0).unwrap();
        cache.receive(0, 3, full(8), 0).unwrap();
        assert!(cache.get(0, 1).is_ok() && cache.get(0, 3).is_ok());
        assert!(cache.get(0, 2).is_err(), "the oldest once 1 was sent again");
        // 300 bytes held of 800 available: a second copy would be 600, past the budget of
        // 550; the copy of a version held is no new bytes.
        let memory = host_with(800);
        let mut cache = VersionCache::new(2, memory.clone());
        cache.receive(0, 1, full(300), 0).unwrap();
        cache.receive(0, 1, full(300), 0).unwrap();
        assert_eq!(memory.held(Kind::Versions), 300);
    }
}
