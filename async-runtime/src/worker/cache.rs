//! The worker's version cache: the most recent versions of each broadcast variable, decoded
//! lazily into the type the first task that reads them asks for.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;

use crate::broadcast::Broadcast;
use crate::broadcaster::delta::{self, VersionBody};
use crate::error::TaskError;

/// One cached version of a broadcast variable.
pub struct CachedVersion {
    version: u64,
    bytes: Vec<u8>,
    decoded: OnceLock<Box<dyn Any + Send + Sync>>,
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
            .ok_or(TaskError::Decode {
                what: "a broadcast value",
                reason: "two tasks read this version as different types".into(),
            })
    }
}

/// Recent versions per slot, oldest evicted first, within a memory budget.
pub(crate) struct VersionCache {
    slots: HashMap<u16, VecDeque<CachedVersion>>,
    capacity: usize,
    /// Bytes of the versions held.
    held: u64,
    /// The most bytes the versions may take, given what they hold: a driver, even one holding
    /// the token, sends as many versions of as many slots as it likes, up to 64 of 1,024 slots
    /// of up to a frame's size each, far past any host's memory.
    budget: fn(u64, u64) -> u64,
}

impl VersionCache {
    /// A cache of `capacity` versions per slot, within half of what it holds and the host has
    /// available ([`host_share`](crate::data::file::host_share)).
    pub fn new(capacity: usize) -> VersionCache {
        VersionCache::within(capacity, crate::data::file::host_share)
    }

    /// A cache of `capacity` versions per slot whose versions take at most
    /// `budget(held, after)`, `after` being what they would take with a new one.
    fn within(capacity: usize, budget: fn(u64, u64) -> u64) -> VersionCache {
        VersionCache {
            slots: HashMap::new(),
            capacity: capacity.max(1),
            held: 0,
            budget,
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
    /// this cache does not hold or does not fit it.
    pub fn receive(&mut self, slot: u16, version: u64, body: VersionBody) -> Result<(), TaskError> {
        let bytes = match body {
            VersionBody::Full(bytes) => bytes.into_vec(),
            VersionBody::Patch {
                base,
                words,
                values,
            } => {
                let base_bytes = &self.get(slot, base)?.bytes;
                delta::apply(base_bytes, &words, &values).ok_or(TaskError::Decode {
                    what: "a broadcast patch",
                    reason: "it does not fit its base version".into(),
                })?
            }
            VersionBody::Alias {
                slot: other,
                version: same,
            } => self.get(other, same)?.bytes.clone(),
        };
        let after = (self.held + bytes.len() as u64).saturating_sub(self.evicted_by(slot));
        let budget = (self.budget)(self.held, after);
        if after > budget {
            return Err(TaskError::OverMemory {
                what: "a broadcast version",
                held: after,
                budget,
            });
        }
        self.insert(slot, version, bytes);
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

    pub fn insert(&mut self, slot: u16, version: u64, bytes: Vec<u8>) {
        let versions = self.slots.entry(slot).or_default();
        if versions.iter().any(|v| v.version == version) {
            return;
        }
        self.held += bytes.len() as u64;
        versions.push_back(CachedVersion {
            version,
            bytes,
            decoded: OnceLock::new(),
        });
        while versions.len() > self.capacity {
            if let Some(evicted) = versions.pop_front() {
                self.held -= evicted.bytes.len() as u64;
            }
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
    use super::*;

    #[test]
    fn keeps_the_newest_versions_and_decodes_lazily() {
        let mut cache = VersionCache::new(2);
        for version in 1..=3u64 {
            cache.insert(0, version, (version as f64).encode());
        }
        assert!(matches!(
            cache.get(0, 1),
            Err(TaskError::MissingVersion { .. })
        ));
        assert_eq!(*cache.get(0, 3).unwrap().value::<f64>().unwrap(), 3.0);
        assert_eq!(*cache.get(0, 2).unwrap().value::<f64>().unwrap(), 2.0);
    }

    /// Versions of `len` bytes, full, as a driver sends them.
    fn full(len: usize) -> VersionBody {
        VersionBody::Full(vec![0u8; len].into())
    }

    #[test]
    fn versions_past_the_memory_budget_are_refused_and_the_oldest_make_room() {
        // A budget of 500 bytes (half of a host's 1,000).
        let mut cache = VersionCache::within(2, |_, _| 500);
        cache.receive(0, 1, full(300)).unwrap();
        // A driver's versions of slot after slot were each kept, until the host's memory ran
        // out.
        assert!(matches!(
            cache.receive(1, 1, full(300)),
            Err(TaskError::OverMemory {
                held: 600,
                budget: 500,
                ..
            })
        ));
        assert!(cache.get(1, 1).is_err());
        cache.receive(1, 1, full(200)).unwrap();
        // A version that evicts the oldest of its slot counts without it.
        let mut cache = VersionCache::within(1, |_, _| 500);
        cache.receive(0, 1, full(400)).unwrap();
        cache.receive(0, 2, full(400)).unwrap();
        assert!(cache.get(0, 1).is_err() && cache.get(0, 2).is_ok());
        assert_eq!(cache.held, 400);
    }
}
