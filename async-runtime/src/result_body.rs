//! How a result's bytes travel to the driver: whole, or as the 8-byte words that are not zero
//! when that is smaller. A gradient over a minibatch of sparse rows is a dense vector mostly
//! of zeros: 256 rows of 20 features among a million touch about 5,000 of them, and the
//! result shrinks from 8 MB to about 100 kB, for every result type alike (the encoding is
//! over the postcard bytes, as a broadcast's patch is: [`VersionBody`]).
//!
//! The driver expands a body only to check and use it, and never past the frame limit: a
//! body is a peer's word, so the length it claims is bounded before anything is allocated.
//!
//! [`VersionBody`]: crate::broadcaster::delta::VersionBody

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::broadcaster::delta::{
    apply_onto, ascending_words, gather, wire_len, VersionBody, PATCH_WORD_BYTES,
};

/// A result's postcard bytes on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum ResultBody {
    /// The bytes, whole.
    Whole(ByteBuf),
    /// Bytes zero but for some 8-byte words (boxed: every message holds a body's room).
    NonzeroWords(Box<NonzeroWords>),
}

/// `len` bytes, zero but for these 8-byte words (the last one may be shorter, and travels
/// padded with zeros).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NonzeroWords {
    /// The length of the bytes.
    pub len: u64,
    /// Indices of the words that are not zero, ascending: a list that does not ascend does
    /// not decode, so it holds no more words than the bytes it fills.
    #[serde(deserialize_with = "ascending_words")]
    pub words: Vec<u32>,
    /// Their contents, 8 bytes each.
    pub values: ByteBuf,
}

impl Default for ResultBody {
    fn default() -> Self {
        ResultBody::Whole(ByteBuf::new())
    }
}

impl From<Vec<u8>> for ResultBody {
    /// The smaller of the two forms of `bytes`.
    fn from(bytes: Vec<u8>) -> Self {
        ResultBody::smallest(bytes)
    }
}

impl ResultBody {
    /// The smaller of the two forms of `bytes` on the wire.
    pub fn smallest(bytes: Vec<u8>) -> Self {
        // Past this many nonzero words (each its 8 bytes and at least one of index) they
        // cannot be the smaller form, and counting them stops (a dense result costs one
        // partial pass, and no list of its words).
        let worth_at_most = bytes.len() / PATCH_WORD_BYTES;
        let mut words = Vec::new();
        for (i, word) in bytes.chunks(8).enumerate() {
            if word.iter().any(|&b| b != 0) {
                if words.len() >= worth_at_most {
                    return ResultBody::Whole(bytes.into());
                }
                let Ok(i) = u32::try_from(i) else {
                    return ResultBody::Whole(bytes.into());
                };
                words.push(i);
            }
        }
        let sparse = ResultBody::NonzeroWords(Box::new(NonzeroWords {
            len: bytes.len() as u64,
            values: gather(&bytes, &words).into(),
            words,
        }));
        // `Whole` is laid out as a whole broadcast version is: a variant index, the bytes.
        if sparse.wire_len() < VersionBody::full_wire_len(bytes.len()) {
            sparse
        } else {
            ResultBody::Whole(bytes.into())
        }
    }

    /// Bytes this body takes in postcard.
    pub fn wire_len(&self) -> usize {
        wire_len(self)
    }

    /// The length of the bytes it stands for, as it claims.
    pub fn len(&self) -> u64 {
        match self {
            ResultBody::Whole(bytes) => bytes.len() as u64,
            ResultBody::NonzeroWords(sparse) => sparse.len,
        }
    }

    /// Whether it stands for no bytes: the body of a result the link kept from the driver.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The result's bytes, or why the body cannot be them: it claims more than `limit`
    /// bytes (the frame limit, which bounds a whole body too), or its words do not fit.
    pub fn bytes(&self, limit: usize) -> Result<Cow<'_, [u8]>, String> {
        match self {
            ResultBody::Whole(bytes) => Ok(Cow::Borrowed(bytes)),
            ResultBody::NonzeroWords(sparse) => {
                let NonzeroWords { len, words, values } = sparse.as_ref();
                let len = usize::try_from(*len)
                    .ok()
                    .filter(|&len| len <= limit)
                    .ok_or_else(|| {
                        format!("its body claims {len} bytes, past the frame limit of {limit}")
                    })?;
                apply_onto(vec![0; len], words, values)
                    .map(Cow::Owned)
                    .ok_or_else(|| {
                        format!(
                            "its body's {} words do not fit its {len} bytes",
                            words.len()
                        )
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(v: &ndarray::Array1<f64>) -> Vec<u8> {
        postcard::to_allocvec(v).unwrap()
    }

    #[test]
    fn a_gradient_mostly_of_zeros_travels_as_its_nonzero_words_and_comes_back_whole() {
        let mut gradient = ndarray::Array1::<f64>::zeros(100_000);
        for i in (0..100_000).step_by(997) {
            gradient[i] = i as f64 * 0.5 - 3.25;
        }
        let bytes = encoded(&gradient);
        let body = ResultBody::from(bytes.clone());
        assert!(matches!(body, ResultBody::NonzeroWords(_)), "{body:?}");
        assert!(body.wire_len() * 100 < bytes.len(), "{}", body.wire_len());
        let wire = postcard::to_allocvec(&body).unwrap();
        assert_eq!(wire.len(), body.wire_len());
        let back: ResultBody = postcard::from_bytes(&wire).unwrap();
        assert_eq!(back.bytes(1 << 20).unwrap().as_ref(), bytes.as_slice());
    }

    #[test]
    fn a_dense_result_or_one_of_odd_length_travels_whole_when_that_is_smaller() {
        let dense = encoded(&ndarray::Array1::linspace(1.0, 2.0, 1000));
        assert_eq!(
            ResultBody::from(dense.clone()),
            ResultBody::Whole(dense.into())
        );
        let short = vec![0, 0, 7];
        assert_eq!(
            ResultBody::from(short.clone()),
            ResultBody::Whole(short.into())
        );
        // A last word shorter than 8 bytes comes back at its own length.
        let mut odd = vec![0; 8 * 40 + 3];
        odd[8 * 40 + 1] = 9;
        let body = ResultBody::from(odd.clone());
        assert!(matches!(body, ResultBody::NonzeroWords(_)), "{body:?}");
        assert_eq!(body.bytes(1000).unwrap().as_ref(), odd.as_slice());
        assert!(ResultBody::from(Vec::new()).is_empty());
    }

    #[test]
    fn a_body_that_claims_too_much_or_does_not_fit_is_refused_before_it_is_expanded() {
        let huge = ResultBody::NonzeroWords(Box::new(NonzeroWords {
            len: u64::MAX,
            words: vec![],
            values: ByteBuf::new(),
        }));
        let refused = huge.bytes(1 << 20).unwrap_err();
        assert!(
            refused.contains("past the frame limit of 1048576"),
            "{refused}"
        );
        let beyond = ResultBody::NonzeroWords(Box::new(NonzeroWords {
            len: 16,
            words: vec![2],
            values: ByteBuf::from(vec![1; 8]),
        }));
        let refused = beyond.bytes(1 << 20).unwrap_err();
        assert!(
            refused.contains("1 words do not fit its 16 bytes"),
            "{refused}"
        );
        let short_values = ResultBody::NonzeroWords(Box::new(NonzeroWords {
            len: 16,
            words: vec![0, 1],
            values: ByteBuf::from(vec![1; 8]),
        }));
        assert!(short_values.bytes(1 << 20).is_err());
        // Words that do not ascend do not decode (the broadcast patch's rule).
        let repeated = ResultBody::NonzeroWords(Box::new(NonzeroWords {
            len: 16,
            words: vec![1, 1],
            values: ByteBuf::from(vec![1; 16]),
        }));
        let wire = postcard::to_allocvec(&repeated).unwrap();
        assert!(postcard::from_bytes::<ResultBody>(&wire).is_err());
    }
}
