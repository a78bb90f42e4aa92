//! Framing: a fixed header (magic, protocol version, run id), an envelope (kind, sequence
//! number) and a postcard body. Every decode is checked, so a malformed, oversized or foreign
//! frame is rejected, not trusted.
//!
//! Only the handshake travels in plain frames (kind [`KIND_PLAIN`], sequence 0); after
//! admission every frame is sealed by its session ([`super::session`]): kind [`KIND_MAC`]
//! (body in the clear, HMAC-SHA256 tag after it) or [`KIND_AEAD`] (body encrypted with
//! ChaCha20-Poly1305, tag after it), plus [`KIND_BEAT`] for a heartbeat. [`encode`] leaves
//! room for the envelope so that sealing adds the tag without copying the body.

use serde::{de::DeserializeOwned, Serialize};

use crate::protocol::PROTOCOL_VERSION;

/// The first bytes of every frame.
pub const MAGIC: [u8; 4] = *b"ASYN";
/// Bytes of the header: magic, protocol version (u16 LE), run id (u64 LE).
pub const HEADER_LEN: usize = 4 + 2 + 8;
/// The run id a worker uses before it knows the run's (only in its hello).
pub const ANY_RUN: u64 = 0;
/// Bytes of header and envelope (kind, sequence number) before the body.
pub const ENVELOPE_LEN: usize = HEADER_LEN + 1 + 8;
/// A handshake frame, not sealed.
pub const KIND_PLAIN: u8 = 0;
/// A frame sealed with a MAC.
pub const KIND_MAC: u8 = 1;
/// A frame sealed with authenticated encryption.
pub const KIND_AEAD: u8 = 2;
/// Added to a sealed kind for a heartbeat, which counts in a sequence space of its own (see
/// [`super::session::Space`]).
pub const KIND_BEAT: u8 = 0x10;
/// Largest plain (handshake) frame: before admission a peer gets no more than this.
pub const MAX_PLAIN_FRAME: usize = 4 << 10;

/// Why a frame was rejected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    /// Fewer bytes than a header.
    #[error("frame of {0} bytes is shorter than the {HEADER_LEN}-byte header")]
    TooShort(usize),
    /// Not one of ours.
    #[error("frame does not start with the magic bytes (foreign peer?)")]
    BadMagic,
    /// Another protocol version.
    #[error("peer speaks protocol version {got}, this build speaks {PROTOCOL_VERSION}")]
    Version {
        /// The version in the frame.
        got: u16,
    },
    /// A frame of another run.
    #[error("frame belongs to run {got:#x}, not to this run {expected:#x}")]
    ForeignRun {
        /// The run id in the frame.
        got: u64,
        /// This run's id.
        expected: u64,
    },
    /// Over the size bound.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body did not decode as the expected message.
    #[error("message body does not decode: {0}")]
    Body(String),
    /// A sealed frame where a plain one was expected (or an unknown kind).
    #[error("frame of kind {0} where a plain handshake frame was expected")]
    Kind(u8),
}

/// Encodes `message` behind a header for run `run_id`, as a plain frame.
///
/// ```
/// use asyncopt_runtime::protocol::ToWorker;
/// use asyncopt_runtime::transport::frame::{decode, encode, FrameError};
///
/// let frame = encode(7, &ToWorker::Heartbeat);
/// assert!(matches!(decode::<ToWorker>(&frame, 7, false, 1 << 20), Ok(ToWorker::Heartbeat)));
/// // A frame of another run is refused, not trusted.
/// assert!(matches!(decode::<ToWorker>(&frame, 8, false, 1 << 20), Err(FrameError::ForeignRun { .. })));
/// ```
pub fn encode<T: Serialize>(run_id: u64, message: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    out.extend_from_slice(&run_id.to_le_bytes());
    out.push(KIND_PLAIN);
    out.extend_from_slice(&0u64.to_le_bytes());
    // Writing into a Vec cannot fail for our message types (no maps with non-string keys,
    // no sequences of unknown length), so an error here is a bug in a message definition.
    postcard::to_io(message, &mut out).expect("message types always encode");
    out
}

/// Checks a frame's header and returns its run id and body.
pub fn open(frame: &[u8], max_len: usize) -> Result<(u64, &[u8]), FrameError> {
    if frame.len() > max_len {
        return Err(FrameError::TooLarge {
            len: frame.len(),
            max: max_len,
        });
    }
    if frame.len() < HEADER_LEN {
        return Err(FrameError::TooShort(frame.len()));
    }
    if frame[..4] != MAGIC {
        return Err(FrameError::BadMagic);
    }
    let version = u16::from_le_bytes([frame[4], frame[5]]);
    if version != PROTOCOL_VERSION {
        return Err(FrameError::Version { got: version });
    }
    let mut run = [0u8; 8];
    run.copy_from_slice(&frame[6..HEADER_LEN]);
    Ok((u64::from_le_bytes(run), &frame[HEADER_LEN..]))
}

/// The kind of a frame whose header [`open`] accepted.
pub fn kind(frame: &[u8]) -> Option<u8> {
    frame.get(HEADER_LEN).copied()
}

/// Decodes a plain frame of run `expected_run` (or of [`ANY_RUN`] where `allow_any` is set).
pub fn decode<T: DeserializeOwned>(
    frame: &[u8],
    expected_run: u64,
    allow_any: bool,
    max_len: usize,
) -> Result<T, FrameError> {
    let (run, rest) = open(frame, max_len)?;
    if run != expected_run && !(allow_any && run == ANY_RUN) {
        return Err(FrameError::ForeignRun {
            got: run,
            expected: expected_run,
        });
    }
    if rest.len() < ENVELOPE_LEN - HEADER_LEN {
        return Err(FrameError::TooShort(frame.len()));
    }
    if rest[0] != KIND_PLAIN {
        return Err(FrameError::Kind(rest[0]));
    }
    decode_body(&rest[ENVELOPE_LEN - HEADER_LEN..])
}

/// Decodes a message body, refusing trailing bytes.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (message, rest) =
        postcard::take_from_bytes(body).map_err(|e| FrameError::Body(e.to_string()))?;
    if !rest.is_empty() {
        return Err(FrameError::Body(format!(
            "{} trailing bytes after the message",
            rest.len()
        )));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ToDriver, ToWorker};

    const MAX: usize = 1 << 20;

    #[test]
    fn round_trip_keeps_the_message() {
        let frame = encode(
            7,
            &ToDriver::Failed {
                seq: 3,
                message: "boom".into(),
            },
        );
        match decode::<ToDriver>(&frame, 7, false, MAX).unwrap() {
            ToDriver::Failed { seq, message } => assert_eq!((seq, message.as_str()), (3, "boom")),
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn rejects_foreign_run_bad_magic_version_and_size() {
        let frame = encode(7, &ToWorker::Heartbeat);
        assert_eq!(
            decode::<ToWorker>(&frame, 8, false, MAX).unwrap_err(),
            FrameError::ForeignRun {
                got: 7,
                expected: 8
            }
        );
        let mut bad = frame.clone();
        bad[0] = b'X';
        assert_eq!(
            decode::<ToWorker>(&bad, 7, false, MAX).unwrap_err(),
            FrameError::BadMagic
        );
        let mut old = frame.clone();
        old[4] = 0;
        old[5] = 0;
        assert_eq!(
            decode::<ToWorker>(&old, 7, false, MAX).unwrap_err(),
            FrameError::Version { got: 0 }
        );
        assert!(matches!(
            decode::<ToWorker>(&frame, 7, false, 10),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            decode::<ToWorker>(&frame[..5], 7, false, MAX),
            Err(FrameError::TooShort(5))
        ));
    }

    #[test]
    fn rejects_garbage_and_trailing_bytes() {
        let mut frame = encode(7, &ToWorker::Heartbeat);
        frame.push(0);
        assert!(matches!(
            decode::<ToWorker>(&frame, 7, false, MAX),
            Err(FrameError::Body(_))
        ));
        let mut garbage = encode(7, &ToWorker::Heartbeat);
        garbage.truncate(ENVELOPE_LEN);
        garbage.extend_from_slice(&[250, 1, 2, 3]);
        assert!(matches!(
            decode::<ToWorker>(&garbage, 7, false, MAX),
            Err(FrameError::Body(_))
        ));
    }

    #[test]
    fn a_sealed_kind_is_not_decoded_as_plain() {
        let mut frame = encode(7, &ToWorker::Heartbeat);
        frame[HEADER_LEN] = KIND_MAC;
        assert_eq!(
            decode::<ToWorker>(&frame, 7, false, MAX).unwrap_err(),
            FrameError::Kind(KIND_MAC)
        );
    }

    #[test]
    fn hello_may_use_any_run_only_when_allowed() {
        let frame = encode(ANY_RUN, &ToDriver::Heartbeat);
        assert!(decode::<ToDriver>(&frame, 9, true, MAX).is_ok());
        assert!(decode::<ToDriver>(&frame, 9, false, MAX).is_err());
    }
}
