//! Sessions: what binds every frame after admission to the handshake that admitted its peer.
//!
//! Sans-IO: a [`Sealer`] turns a plain frame from [`frame::encode`] into a sealed one, an
//! [`Opener`] checks a sealed frame and returns its body; neither touches a socket, so every
//! case (forged, replayed, reordered, truncated) is a unit test. An opener's check of the tag
//! (its [`Verifier`]) can run on another thread, for a large frame, and the sequence number
//! it returns is taken ([`Opener::accept`]) back on the opener's.
//!
//! A sealed frame is the header, the kind ([`frame::KIND_MAC`] or [`frame::KIND_AEAD`]), the
//! sender's sequence number (u64 LE), the body (clear or encrypted), and the tag: HMAC-SHA256
//! under the session key over the direction and everything before the tag, or the
//! ChaCha20-Poly1305 tag (nonce: direction and sequence number; associated data: header, kind
//! and sequence number). The key is new for every session (see [`crate::auth`]), so a frame of
//! one session never opens in another; sequence numbers only grow, so a frame opens once.
//!
//! ```
//! use asyncopt_runtime::protocol::ToWorker;
//! use asyncopt_runtime::transport::frame;
//! use asyncopt_runtime::transport::session::{Direction, Opener, Sealer, SessionError};
//!
//! let key = [7u8; 32];
//! let mut sealer = Sealer::new(&key, Direction::ToWorker, false);
//! let mut opener = Opener::new(&key, Direction::ToWorker, false);
//! let sealed = sealer.seal(frame::encode(1, &ToWorker::Heartbeat));
//! let body = opener.open(&sealed).unwrap();
//! assert!(matches!(frame::decode_body::<ToWorker>(&body), Ok(ToWorker::Heartbeat)));
//! // The same frame again is a replay.
//! assert!(matches!(opener.open(&sealed), Err(SessionError::Replayed { .. })));
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::frame::{self, ENVELOPE_LEN, HEADER_LEN, KIND_AEAD, KIND_MAC};

/// Bytes of an HMAC-SHA256 tag.
const MAC_LEN: usize = 32;
/// Bytes of a ChaCha20-Poly1305 tag.
const AEAD_TAG_LEN: usize = 16;

/// Which way a frame goes: part of what its tag covers, so a frame cannot be reflected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Driver to worker.
    ToWorker,
    /// Worker to driver.
    ToDriver,
}

impl Direction {
    fn byte(self) -> u8 {
        match self {
            Direction::ToWorker => 1,
            Direction::ToDriver => 2,
        }
    }
}

/// Why a frame did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not a sealed frame of this session's kind, or too short to be one.
    #[error("not a sealed frame of this session")]
    NotSealed,
    /// The tag does not match: forged, altered, or of another session.
    #[error("the frame's MAC does not verify")]
    BadMac,
    /// A sequence number not above the last one accepted: replayed or reordered.
    #[error("sequence number {seq} is not above {last}: replayed or out of order")]
    Replayed {
        /// The frame's sequence number.
        seq: u64,
        /// The last one accepted.
        last: u64,
    },
}

enum Cipher {
    Mac(Hmac<Sha256>),
    Aead(Box<ChaCha20Poly1305>),
}

impl Cipher {
    fn new(key: &[u8; 32], encrypt: bool) -> Cipher {
        if encrypt {
            Cipher::Aead(Box::new(
                ChaCha20Poly1305::new_from_slice(key).expect("a 32-byte key"),
            ))
        } else {
            Cipher::Mac(<Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key"))
        }
    }
}

fn nonce(direction: Direction, seq: u64) -> chacha20poly1305::Nonce {
    let mut bytes = [0u8; 12];
    bytes[0] = direction.byte();
    bytes[4..].copy_from_slice(&seq.to_le_bytes());
    chacha20poly1305::Nonce::from(bytes)
}

/// Seals the frames one side sends in a session.
pub struct Sealer {
    cipher: Cipher,
    direction: Direction,
    next: u64,
}

impl Sealer {
    /// A sealer under `key` for frames going `direction`.
    pub fn new(key: &[u8; 32], direction: Direction, encrypt: bool) -> Sealer {
        Sealer {
            cipher: Cipher::new(key, encrypt),
            direction,
            next: 1,
        }
    }

    /// Seals a frame made by [`frame::encode`] with the next sequence number.
    pub fn seal(&mut self, mut frame: Vec<u8>) -> Vec<u8> {
        assert!(frame.len() >= ENVELOPE_LEN, "a frame from frame::encode");
        let seq = self.next;
        self.next += 1;
        frame[HEADER_LEN + 1..ENVELOPE_LEN].copy_from_slice(&seq.to_le_bytes());
        match &self.cipher {
            Cipher::Mac(keyed) => {
                frame[HEADER_LEN] = KIND_MAC;
                let mut mac = keyed.clone();
                mac.update(&[self.direction.byte()]);
                mac.update(&frame);
                let tag = mac.finalize().into_bytes();
                frame.extend_from_slice(&tag);
            }
            Cipher::Aead(cipher) => {
                frame[HEADER_LEN] = KIND_AEAD;
                let (aad, body) = frame.split_at_mut(ENVELOPE_LEN);
                let tag = cipher
                    .encrypt_inout_detached(&nonce(self.direction, seq), aad, body.into())
                    .expect("frames are far below ChaCha20's length limit");
                frame.extend_from_slice(&tag);
            }
        }
        frame
    }
}

/// Opens the frames one side receives in a session: a [`Verifier`] and the last sequence
/// number accepted.
pub struct Opener {
    verifier: Verifier,
    last: u64,
}

impl Opener {
    /// An opener under `key` for frames coming `direction`.
    pub fn new(key: &[u8; 32], direction: Direction, encrypt: bool) -> Opener {
        Opener {
            verifier: Verifier {
                cipher: Arc::new(Cipher::new(key, encrypt)),
                direction,
            },
            last: 0,
        }
    }

    /// Checks a sealed frame (its header already checked by [`frame::open`]) and returns its
    /// body: [`Verifier::verify`], then [`Opener::accept`].
    pub fn open<'a>(&mut self, frame: &'a [u8]) -> Result<Cow<'a, [u8]>, SessionError> {
        let (body, seq) = self.verifier.verify(frame)?;
        self.accept(seq)?;
        Ok(body)
    }

    /// This session's check of a frame's tag, to run elsewhere (a large frame, on another
    /// thread); what it verified counts only once [`Opener::accept`] took its number.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Takes the sequence number of a frame that verified: refused unless above the last one
    /// taken, so that a frame counts once and in order, wherever it was verified.
    pub fn accept(&mut self, seq: u64) -> Result<(), SessionError> {
        if seq <= self.last {
            return Err(SessionError::Replayed {
                seq,
                last: self.last,
            });
        }
        self.last = seq;
        Ok(())
    }
}

/// The check of a session's incoming frames, without the memory of which were accepted: cheap
/// to clone and sendable to another thread.
#[derive(Clone)]
pub struct Verifier {
    cipher: Arc<Cipher>,
    direction: Direction,
}

impl Verifier {
    /// Checks a sealed frame's tag (its header already checked by [`frame::open`]) and returns
    /// its body and sequence number, which only [`Opener::accept`] takes.
    pub fn verify<'a>(&self, frame: &'a [u8]) -> Result<(Cow<'a, [u8]>, u64), SessionError> {
        let kind = frame::kind(frame).ok_or(SessionError::NotSealed)?;
        match &*self.cipher {
            Cipher::Mac(keyed) => {
                if kind != KIND_MAC || frame.len() < ENVELOPE_LEN + MAC_LEN {
                    return Err(SessionError::NotSealed);
                }
                let (signed, tag) = frame.split_at(frame.len() - MAC_LEN);
                let mut mac = keyed.clone();
                mac.update(&[self.direction.byte()]);
                mac.update(signed);
                mac.verify_slice(tag).map_err(|_| SessionError::BadMac)?;
                Ok((Cow::Borrowed(&signed[ENVELOPE_LEN..]), sequence(frame)))
            }
            Cipher::Aead(cipher) => {
                if kind != KIND_AEAD || frame.len() < ENVELOPE_LEN + AEAD_TAG_LEN {
                    return Err(SessionError::NotSealed);
                }
                let seq = sequence(frame);
                let (sealed, tag) = frame.split_at(frame.len() - AEAD_TAG_LEN);
                let mut body = sealed[ENVELOPE_LEN..].to_vec();
                let tag = chacha20poly1305::Tag::try_from(tag).map_err(|_| SessionError::BadMac)?;
                cipher
                    .decrypt_inout_detached(
                        &nonce(self.direction, seq),
                        &sealed[..ENVELOPE_LEN],
                        body.as_mut_slice().into(),
                        &tag,
                    )
                    .map_err(|_| SessionError::BadMac)?;
                Ok((Cow::Owned(body), seq))
            }
        }
    }
}

fn sequence(frame: &[u8]) -> u64 {
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&frame[HEADER_LEN + 1..ENVELOPE_LEN]);
    u64::from_le_bytes(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ToDriver, ToWorker};

    fn pair(encrypt: bool) -> (Sealer, Opener) {
        let key = [3u8; 32];
        (
            Sealer::new(&key, Direction::ToDriver, encrypt),
            Opener::new(&key, Direction::ToDriver, encrypt),
        )
    }

    fn result_frame(seq: u64) -> Vec<u8> {
        frame::encode(
            5,
            &ToDriver::Result {
                seq,
                compute_s: 0.1,
                cpu_s: 0.1,
                delay_s: 0.0,
                held_s: 0.1,
                body: vec![1, 2, 3].into(),
            },
        )
    }

    #[test]
    fn sealed_frames_open_in_order_in_both_modes() {
        for encrypt in [false, true] {
            let (mut sealer, mut opener) = pair(encrypt);
            for seq in 0..3 {
                let sealed = sealer.seal(result_frame(seq));
                let body = opener.open(&sealed).expect("opens");
                match frame::decode_body::<ToDriver>(&body).unwrap() {
                    ToDriver::Result { seq: got, .. } => assert_eq!(got, seq),
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn encryption_hides_the_body() {
        let (mut sealer, _) = pair(true);
        let plain = result_frame(77);
        let sealed = sealer.seal(plain.clone());
        assert_ne!(&sealed[ENVELOPE_LEN..plain.len()], &plain[ENVELOPE_LEN..]);
    }

    #[test]
    fn replayed_and_reordered_frames_are_refused() {
        for encrypt in [false, true] {
            let (mut sealer, mut opener) = pair(encrypt);
            let first = sealer.seal(result_frame(1));
            let second = sealer.seal(result_frame(2));
            assert!(opener.open(&second).is_ok());
            assert_eq!(
                opener.open(&first).unwrap_err(),
                SessionError::Replayed { seq: 1, last: 2 }
            );
            assert!(matches!(
                opener.open(&second),
                Err(SessionError::Replayed { .. })
            ));
        }
    }

    #[test]
    fn a_frame_verified_on_another_thread_is_accepted_once_and_in_order() {
        for encrypt in [false, true] {
            let (mut sealer, mut opener) = pair(encrypt);
            let first = sealer.seal(result_frame(1));
            let second = sealer.seal(result_frame(2));
            let verifier = opener.verifier().clone();
            let verified = std::thread::spawn(move || {
                [&first, &second].map(|sealed| verifier.verify(sealed).map(|(_, seq)| seq))
            })
            .join()
            .unwrap();
            let [first, second] = verified.map(|seq| seq.expect("verifies"));
            assert_eq!((first, second), (1, 2));
            // Verified is not accepted: the opener takes each number once, in order.
            assert_eq!(opener.accept(second), Ok(()));
            assert_eq!(
                opener.accept(first),
                Err(SessionError::Replayed { seq: 1, last: 2 })
            );
            assert_eq!(
                opener.accept(second),
                Err(SessionError::Replayed { seq: 2, last: 2 })
            );
            // A frame verified elsewhere and accepted there does not open again here.
            let third = sealer.seal(result_frame(3));
            let (_, seq) = opener.verifier().verify(&third).unwrap();
            opener.accept(seq).unwrap();
            assert!(matches!(
                opener.open(&third),
                Err(SessionError::Replayed { .. })
            ));
            // Verifying alone takes no number: the next frame still opens.
            let fourth = sealer.seal(result_frame(4));
            assert!(opener.verifier().verify(&fourth).is_ok());
            assert!(opener.open(&fourth).is_ok());
        }
    }

    #[test]
    fn altered_forged_and_foreign_frames_are_refused() {
        for encrypt in [false, true] {
            let (mut sealer, mut opener) = pair(encrypt);
            let sealed = sealer.seal(result_frame(1));
            for at in [
                0,
                HEADER_LEN - 1,
                HEADER_LEN + 1,
                ENVELOPE_LEN,
                sealed.len() - 1,
            ] {
                let mut altered = sealed.clone();
                altered[at] ^= 1;
                assert!(opener.open(&altered).is_err(), "byte {at} altered");
            }
            // A forger who raises the sequence number does not get the next frame refused.
            let mut forged = sealed.clone();
            forged[HEADER_LEN + 1..ENVELOPE_LEN].copy_from_slice(&u64::MAX.to_le_bytes());
            assert_eq!(opener.open(&forged).unwrap_err(), SessionError::BadMac);
            // Another session's key, the other direction, a plain frame, a stub.
            let mut other = Sealer::new(&[4u8; 32], Direction::ToDriver, encrypt);
            assert_eq!(
                opener.open(&other.seal(result_frame(1))).unwrap_err(),
                SessionError::BadMac
            );
            let mut reflected = Sealer::new(&[3u8; 32], Direction::ToWorker, encrypt);
            assert_eq!(
                opener.open(&reflected.seal(result_frame(1))).unwrap_err(),
                SessionError::BadMac
            );
            assert_eq!(
                opener.open(&result_frame(1)).unwrap_err(),
                SessionError::NotSealed
            );
            assert_eq!(
                opener.open(&sealed[..ENVELOPE_LEN + 3]).unwrap_err(),
                SessionError::NotSealed
            );
            // The genuine frame still opens after all that.
            assert!(opener.open(&sealed).is_ok());
        }
    }

    #[test]
    fn a_mac_session_does_not_open_encrypted_frames_or_the_reverse() {
        let (mut mac_sealer, mut mac_opener) = pair(false);
        let (mut aead_sealer, mut aead_opener) = pair(true);
        assert_eq!(
            mac_opener
                .open(&aead_sealer.seal(frame::encode(5, &ToWorker::Heartbeat)))
                .unwrap_err(),
            SessionError::NotSealed
        );
        assert_eq!(
            aead_opener
                .open(&mac_sealer.seal(frame::encode(5, &ToWorker::Heartbeat)))
                .unwrap_err(),
            SessionError::NotSealed
        );
    }
}
