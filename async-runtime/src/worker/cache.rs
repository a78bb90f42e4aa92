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

/// Recent versions per slot, oldest evicted first.
pub(crate) struct VersionCache {
    slots: HashMap<u16, VecDeque<CachedVersion>>,
    capacity: usize,
}

impl VersionCache {
    pub fn new(capacity: usize) -> VersionCache {
        VersionCache {
            slots: HashMap::new(),
            capacity: capacity.max(1),
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
        self.insert(slot, version, bytes);
        Ok(())
    }

    pub fn insert(&mut self, slot: u16, version: u64, bytes: Vec<u8>) {
        let versions = self.slots.entry(slot).or_default();
        if versions.iter().any(|v| v.version == version) {
            return;
        }
        versions.push_back(CachedVersion {
            version,
            bytes,
            decoded: OnceLock::new(),
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
}
