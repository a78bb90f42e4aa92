//! Lists of a peer's message decoded up to a bound. A list's length is the peer's word, and its
//! entries can be a byte each on the wire and many times that in memory (an empty byte string
//! is one byte in postcard and 24 in a `Vec`): a frame of a few MiB decoded whole became
//! hundreds of MiB before anything could count it. A list longer than its bound does not
//! decode, so the frame is refused as malformed, having cost no more than the bound.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, Error, SeqAccess, Visitor};

/// Deserializes a list of at most `MAX` entries; a longer one is an error, found before its
/// first entry past the bound is decoded.
pub(crate) fn at_most<'de, D, T, const MAX: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    AtMost::new(MAX).deserialize(deserializer)
}

/// A list of at most `max` entries, as [`at_most`], the bound known only as the message is
/// decoded (a partition's row ids: one per row decoded before them).
pub(crate) struct AtMost<T> {
    max: usize,
    entries: PhantomData<T>,
}

impl<T> AtMost<T> {
    pub fn new(max: usize) -> AtMost<T> {
        AtMost {
            max,
            entries: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for AtMost<T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for AtMost<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at most {} entries", self.max)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let declared = seq.size_hint().unwrap_or(0);
        if declared > self.max {
            return Err(A::Error::invalid_length(declared, &self));
        }
        let mut entries = Vec::with_capacity(declared);
        while let Some(entry) = seq.next_element()? {
            if entries.len() == self.max {
                return Err(A::Error::invalid_length(self.max + 1, &self));
            }
            entries.push(entry);
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct Three {
        #[serde(deserialize_with = "super::at_most::<_, _, 3>")]
        entries: Vec<u8>,
    }

    #[test]
    fn a_list_decodes_up_to_its_bound_and_no_further() {
        let encode = |n: usize| {
            postcard::to_allocvec(&Three {
                entries: vec![7; n],
            })
            .unwrap()
        };
        let three: Three = postcard::from_bytes(&encode(3)).unwrap();
        assert_eq!(three.entries, [7, 7, 7]);
        let refused = postcard::from_bytes::<Three>(&encode(4)).unwrap_err();
        assert!(
            matches!(refused, postcard::Error::SerdeDeCustom),
            "{refused:?}"
        );
        // A length declared past the end of the bytes is refused by its count alone.
        let mut huge = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
        huge.push(7);
        assert!(postcard::from_bytes::<Three>(&huge).is_err());
    }
}
