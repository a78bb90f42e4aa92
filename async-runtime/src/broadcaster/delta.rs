//! How a version travels to a worker that lacks it: as a patch against a version it holds
//! when few 8-byte words changed, as a reference to an identical version it holds under
//! another name, or whole. The encoding is over bytes, so it serves every broadcast type.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// A version's body on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum VersionBody {
    /// The whole value.
    Full(ByteBuf),
    /// The 8-byte words that differ from version `base` of the same variable.
    Patch {
        /// The version the worker holds.
        base: u64,
        /// Indices of the changed words, ascending.
        words: Vec<u32>,
        /// Their new contents, 8 bytes each.
        values: ByteBuf,
    },
    /// The same bytes as a version the worker holds of another variable (an SVRG snapshot is
    /// a model version the workers already have).
    Alias {
        /// That variable.
        slot: u16,
        /// That version.
        version: u64,
    },
}

impl VersionBody {
    /// Bytes a whole value of `len` bytes takes in postcard: the variant's index (one byte),
    /// the length, the bytes.
    pub fn full_wire_len(len: usize) -> usize {
        1 + wire_len(&len) + len
    }

    /// Bytes this body takes in postcard, exactly: for choosing the smallest, and for
    /// counting what the broadcast cost.
    pub fn wire_len(&self) -> usize {
        wire_len(self)
    }
}

/// Bytes `value` takes in postcard, counted without encoding it.
pub fn wire_len(value: &(impl serde::Serialize + ?Sized)) -> usize {
    postcard::experimental::serialized_size(value)
        .expect("postcard's size flavor never runs out of room")
}

/// A patch turning `base` into `new`, if both have the same length. Words are 8 bytes; the
/// last one may be shorter (a serde value's encoding need not be whole words), and travels
/// padded with zeros.
pub fn diff(base_version: u64, base: &[u8], new: &[u8]) -> Option<VersionBody> {
    if base.len() != new.len() {
        return None;
    }
    let mut words = Vec::new();
    let mut values = Vec::new();
    for (i, (old, now)) in base.chunks(8).zip(new.chunks(8)).enumerate() {
        if old != now {
            words.push(u32::try_from(i).ok()?);
            values.extend_from_slice(now);
            values.resize(values.len() + 8 - now.len(), 0);
        }
    }
    Some(VersionBody::Patch {
        base: base_version,
        words,
        values: ByteBuf::from(values),
    })
}

/// Applies a patch to the base bytes; `None` when the patch does not fit them.
pub fn apply(base: &[u8], words: &[u32], values: &[u8]) -> Option<Vec<u8>> {
    if values.len() != words.len().checked_mul(8)? {
        return None;
    }
    let mut out = base.to_vec();
    for (word, value) in words.iter().zip(values.chunks_exact(8)) {
        let at = (*word as usize).checked_mul(8)?;
        if at >= out.len() {
            return None;
        }
        let end = (at + 8).min(out.len());
        out[at..end].copy_from_slice(&value[..end - at]);
    }
    Some(out)
}

/// A fast content hash, stable across processes and builds (unlike `std`'s hasher): it
/// finds identical versions and fingerprints task registries.
pub fn content_hash(bytes: &[u8]) -> u64 {
    let mut hash = StableHash::default();
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        hash.word(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
    }
    for byte in chunks.remainder() {
        hash.word(u64::from(*byte));
    }
    hash.finish(bytes.len() as u64)
}

/// FNV-1a over 8-byte words: a few cycles per word, stable across processes. Fed a word at a
/// time, it hashes data that is not one byte slice without copying it into one.
pub(crate) struct StableHash(u64);

impl Default for StableHash {
    fn default() -> Self {
        StableHash(0xcbf2_9ce4_8422_2325)
    }
}

impl StableHash {
    pub fn word(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(0x0000_0100_0000_01b3);
    }

    /// The hash, salted with the length hashed.
    pub fn finish(&self, len: u64) -> u64 {
        self.0 ^ len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn wire_len_is_the_postcard_length() {
        let bodies = [
            VersionBody::Full(ByteBuf::from(vec![7; 300])),
            VersionBody::Full(ByteBuf::new()),
            VersionBody::Patch {
                base: 1 << 40,
                words: vec![0, 127, 128, 70_000, u32::MAX],
                values: ByteBuf::from(vec![1; 40]),
            },
            VersionBody::Alias {
                slot: 300,
                version: 5,
            },
        ];
        for body in bodies {
            let encoded = postcard::to_allocvec(&body).expect("encodes");
            assert_eq!(body.wire_len(), encoded.len(), "{body:?}");
        }
    }

    #[test]
    fn a_patch_carries_only_changed_words_and_restores_the_value() {
        let base = bytes(&[1.0, 2.0, 3.0, 4.0]);
        let new = bytes(&[1.0, 2.5, 3.0, 4.0]);
        let Some(VersionBody::Patch {
            base: b,
            words,
            values,
        }) = diff(9, &base, &new)
        else {
            panic!("a patch")
        };
        assert_eq!((b, words.as_slice()), (9, &[1u32][..]));
        assert_eq!(apply(&base, &words, &values).unwrap(), new);
        assert!(apply(&base, &[7], &values).is_none(), "out of range");
        assert!(diff(9, &base, &new[..8]).is_none(), "lengths differ");
    }

    #[test]
    fn values_of_any_length_patch_their_last_short_word_too() {
        let base: Vec<u8> = (0..21).collect();
        let mut new = base.clone();
        new[3] = 99;
        new[20] = 77;
        let Some(VersionBody::Patch { words, values, .. }) = diff(1, &base, &new) else {
            panic!("a patch")
        };
        assert_eq!(words, vec![0, 2]);
        assert_eq!(apply(&base, &words, &values).unwrap(), new);
        assert!(apply(&base, &[3], &values[..8]).is_none(), "past the end");
    }

    #[test]
    fn equal_bytes_hash_equal() {
        assert_eq!(
            content_hash(&bytes(&[1.0, 2.0])),
            content_hash(&bytes(&[1.0, 2.0]))
        );
        assert_ne!(
            content_hash(&bytes(&[1.0, 2.0])),
            content_hash(&bytes(&[2.0, 1.0]))
        );
    }
}
