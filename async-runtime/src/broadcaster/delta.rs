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
        /// Indices of the changed words, ascending: a list that does not ascend does not
        /// decode, so it holds no more words than the value it patches.
        #[serde(deserialize_with = "ascending_words")]
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

/// The fewest bytes a patch's changed word takes on the wire: its 8 bytes and an index byte.
pub(crate) const PATCH_WORD_BYTES: usize = 9;

/// Words of a patch reserved ahead of decoding them: the rest as they come.
const WORDS_RESERVED: usize = 1 << 16;

/// Decodes a patch's word indices, each above the one before. A word is 4 bytes in memory and
/// its index as little as a byte on the wire: a list of zeros grew 4 times past its frame.
/// Ascending, the list holds no more words than the value it patches (each must lie inside
/// it, see [`apply`]), and its indices grow to 3 bytes each on the wire past 16,384 words.
pub(crate) fn ascending_words<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<u32>, D::Error> {
    struct Ascending;
    impl<'de> serde::de::Visitor<'de> for Ascending {
        type Value = Vec<u32>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("word indices, ascending")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u32>, A::Error> {
            let declared = seq.size_hint().unwrap_or(0);
            let mut words: Vec<u32> = Vec::with_capacity(declared.min(WORDS_RESERVED));
            while let Some(word) = seq.next_element::<u32>()? {
                if let Some(&before) = words.last().filter(|&&before| word <= before) {
                    return Err(serde::de::Error::custom(format!(
                        "a patch's word {word} comes after word {before}: its words do not ascend"
                    )));
                }
                words.push(word);
            }
            Ok(words)
        }
    }
    deserializer.deserialize_seq(Ascending)
}

/// Bytes `value` takes in postcard, counted without encoding it.
pub fn wire_len(value: &(impl serde::Serialize + ?Sized)) -> usize {
    postcard::experimental::serialized_size(value)
        .expect("postcard's size flavor never runs out of room")
}

/// A patch turning `base` into `new`, if both have the same length and the patch may be
/// smaller than the whole value. Words are 8 bytes; the last one may be shorter (a serde
/// value's encoding need not be whole words), and travels padded with zeros.
pub fn diff(base_version: u64, base: &[u8], new: &[u8]) -> Option<VersionBody> {
    if base.len() != new.len() {
        return None;
    }
    // A changed word costs at least 9 bytes (its 8 and an index byte): past this many the
    // patch loses to the whole value, as it does on every update of a dense model, so count
    // them first and build no word list and no gather for a patch that would be dropped.
    let most_words = VersionBody::full_wire_len(new.len()) / PATCH_WORD_BYTES;
    let changed = changed_words(base, new).take(most_words + 1).count();
    if changed > most_words {
        return None;
    }
    let mut words = Vec::with_capacity(changed);
    for i in changed_words(base, new) {
        words.push(u32::try_from(i).ok()?);
    }
    let values = ByteBuf::from(gather(new, &words));
    Some(VersionBody::Patch {
        base: base_version,
        words,
        values,
    })
}

/// Indices of the 8-byte words in which two values of one length differ (the last word may
/// be shorter), compared as integers: a `memcmp` call per word cost more than the compare.
fn changed_words<'a>(base: &'a [u8], new: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    let whole = base.len() / 8 * 8;
    let word = |bytes: &[u8]| u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
    let words = base[..whole]
        .chunks_exact(8)
        .zip(new[..whole].chunks_exact(8))
        .map(move |(old, now)| word(old) != word(now));
    let last = (whole < base.len()).then(|| base[whole..] != new[whole..]);
    words
        .chain(last)
        .enumerate()
        .filter_map(|(i, differs)| differs.then_some(i))
}

/// The contents of `words` of `bytes`, 8 bytes each: a last word shorter than that (a serde
/// value's encoding need not be whole words) padded with zeros.
pub(crate) fn gather(bytes: &[u8], words: &[u32]) -> Vec<u8> {
    let mut values = Vec::with_capacity(words.len() * 8);
    for &word in words {
        let at = word as usize * 8;
        let word = &bytes[at..(at + 8).min(bytes.len())];
        values.extend_from_slice(word);
        values.resize(values.len() + 8 - word.len(), 0);
    }
    values
}

/// Applies a patch to the base bytes; `None` when the patch does not fit them.
pub fn apply(base: &[u8], words: &[u32], values: &[u8]) -> Option<Vec<u8>> {
    apply_onto(base.to_vec(), words, values)
}

/// Writes a patch's words over `out`, which holds the base bytes; `None` when the patch does
/// not fit them.
pub(crate) fn apply_onto(mut out: Vec<u8>, words: &[u32], values: &[u8]) -> Option<Vec<u8>> {
    if values.len() != words.len().checked_mul(8)? {
        return None;
    }
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
    fn no_patch_is_built_when_it_cannot_beat_the_whole_value() {
        let base: Vec<f64> = (0..64).map(f64::from).collect();
        let full = VersionBody::full_wire_len(base.len() * 8);
        for changed in 0..=base.len() {
            let mut new = base.clone();
            new.iter_mut().take(changed).for_each(|x| *x += 0.5);
            let (base, new) = (bytes(&base), bytes(&new));
            let words: Vec<u32> = (0..changed as u32).collect();
            let whole_patch = VersionBody::Patch {
                base: 3,
                values: ByteBuf::from(gather(&new, &words)),
                words,
            };
            match diff(3, &base, &new) {
                Some(patch) => assert_eq!(patch.wire_len(), whole_patch.wire_len()),
                None => assert!(
                    whole_patch.wire_len() >= full,
                    "{changed} changed words: a patch smaller than the value was refused"
                ),
            }
        }
        // A dense model's update changes every word: no patch, the value travels whole.
        let every = bytes(&(0..64).map(|i| f64::from(i) + 0.5).collect::<Vec<_>>());
        assert!(diff(3, &bytes(&base), &every).is_none());
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
    fn a_patch_whose_words_do_not_ascend_does_not_decode() {
        let patch = |words: Vec<u32>| {
            let values = ByteBuf::from(vec![0; 8 * words.len()]);
            let body = VersionBody::Patch {
                base: 1,
                words,
                values,
            };
            postcard::to_allocvec(&body).unwrap()
        };
        let honest = postcard::from_bytes::<VersionBody>(&patch(vec![0, 3, 200_000])).unwrap();
        assert!(matches!(honest, VersionBody::Patch { words, .. } if words == [0, 3, 200_000]));
        // A million zeros: a byte each on the wire, 4 in memory, past any value's words.
        for lie in [vec![0; 1 << 20], vec![5, 5], vec![7, 2]] {
            let refused = postcard::from_bytes::<VersionBody>(&patch(lie)).unwrap_err();
            assert!(
                matches!(refused, postcard::Error::SerdeDeCustom),
                "{refused:?}"
            );
        }
        // In a format that keeps the message, it says what is wrong.
        let json = r#"{"Patch":{"base":1,"words":[4,4],"values":[]}}"#;
        let refused = serde_json::from_str::<VersionBody>(json).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("word 4 comes after word 4: its words do not ascend"),
            "{refused}"
        );
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
