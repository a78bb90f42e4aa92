//! Sessions: what binds every frame after admission to the handshake that admitted its peer.
//!
//! Sans-IO: a [`Sealer`] turns a plain frame from [`frame::encode`] into a sealed one, an
//! [`Opener`] checks a sealed frame and returns its body; neither touches a socket, so every
//! case (forged, replayed, reordered, truncated) is a unit test. An opener's check of the tag
//! (its [`Verifier`]) can run on another thread, for a large frame, and the sequence number
//! it returns is taken ([`Opener::accept`]) back on the opener's; so can a sealer's sealing of
//! a large frame, under a number taken in its turn ([`Sealer::reserve`]).
//!
//! A sealed frame is the header, the kind ([`frame::KIND_MAC`] or [`frame::KIND_AEAD`], plus
//! [`frame::KIND_BEAT`] for a heartbeat), the sender's sequence number (u64 LE), the body (clear
//! or encrypted), and the tag: HMAC-SHA256 under the session key over the direction and
//! everything before the tag, or the ChaCha20-Poly1305 tag (nonce: direction, space and
//! sequence number; associated data: header, kind and sequence number). The key is new for
//! every session (see [`crate::auth`]), so a frame of one session never opens in another;
//! sequence numbers only grow, so a frame opens once.
//!
//! Heartbeats count in a [`Space`] of their own: a large frame can take its number, be sealed
//! on another thread, and still be taken in order though heartbeats sealed meanwhile went out
//! first. The kind is under the tag, so a frame counts only in the space it was sealed in, and
//! only heartbeats are heard in the heartbeat space ([`Verifier::verify_message`]).
//!
//! ```
//! use asyncopt_runtime::protocol::ToWorker;
//! use asyncopt_runtime::transport::frame;
//! use asyncopt_runtime::transport::session::{Direction, Opener, Sealer, SessionError};
//!
//! let key = [7u8; 32];
//! let mut sealer = Sealer::new(&key, Direction::ToWorker, false);
//! let mut opener = Opener::new(&key, Direction::ToWorker, false);
//! let order = sealer.seal(frame::encode(1, &ToWorker::Shutdown { another_run: false }));
//! let beat = sealer.seal_beat(frame::encode(1, &ToWorker::Heartbeat));
//! // Each space counts on its own: the heartbeat may overtake the order.
//! let (_, message) = opener.open_message::<ToWorker>(&beat).unwrap();
//! assert!(matches!(message, Ok(ToWorker::Heartbeat)));
//! let (_, message) = opener.open_message::<ToWorker>(&order).unwrap();
//! assert!(matches!(message, Ok(ToWorker::Shutdown { .. })));
//! // The same frame again is a replay.
//! assert!(matches!(opener.open(&order), Err(SessionError::Replayed { .. })));
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, KeyInit, Mac};
use serde::de::DeserializeOwned;
use sha2::Sha256;

use super::frame::{self, FrameError, ENVELOPE_LEN, HEADER_LEN, KIND_AEAD, KIND_BEAT, KIND_MAC};

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

/// Which sequence of numbers a frame counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Every message but heartbeats: taken in the order sealed.
    Data,
    /// Heartbeats: they go out while a large frame is sealed elsewhere, so they cannot take
    /// numbers from the data's order.
    Beat,
}

/// A frame's place: the space it counts in and its sequence number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Its space.
    pub space: Space,
    /// Its number in that space.
    pub seq: u64,
}

/// A sealed frame's stamp and message (or why its body does not decode), once its tag verified
/// and its message was found in the right space.
pub type Verified<T> = Result<(Stamp, Result<T, FrameError>), SessionError>;

/// A message type with heartbeats: they, and nothing else, are sealed in [`Space::Beat`].
pub trait Heartbeats {
    /// Whether this message is a heartbeat.
    fn is_heartbeat(&self) -> bool;
}

/// A number per space.
#[derive(Debug, Default)]
struct PerSpace {
    data: u64,
    beat: u64,
}

impl PerSpace {
    fn of(&mut self, space: Space) -> &mut u64 {
        match space {
            Space::Data => &mut self.data,
            Space::Beat => &mut self.beat,
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
    /// A heartbeat sealed outside the heartbeat space, or another message inside it: no peer
    /// following the protocol seals one, so it is refused as a forged frame is.
    #[error("a heartbeat outside the heartbeat space, or another message in it")]
    WrongSpace,
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

/// Unique per key: the two directions and the two spaces each count from 1.
fn nonce(direction: Direction, stamp: Stamp) -> chacha20poly1305::Nonce {
    let mut bytes = [0u8; 12];
    bytes[0] = direction.byte();
    bytes[1] = match stamp.space {
        Space::Data => 0,
        Space::Beat => 1,
    };
    bytes[4..].copy_from_slice(&stamp.seq.to_le_bytes());
    chacha20poly1305::Nonce::from(bytes)
}

/// Seals the frames one side sends in a session: the next number of each space.
pub struct Sealer {
    cipher: Arc<Cipher>,
    direction: Direction,
    next: PerSpace,
}

impl Sealer {
    /// A sealer under `key` for frames going `direction`.
    pub fn new(key: &[u8; 32], direction: Direction, encrypt: bool) -> Sealer {
        Sealer {
            cipher: Arc::new(Cipher::new(key, encrypt)),
            direction,
            next: PerSpace { data: 1, beat: 1 },
        }
    }

    /// Seals a frame made by [`frame::encode`] with the next number of the data space.
    pub fn seal(&mut self, frame: Vec<u8>) -> Vec<u8> {
        self.reserve(Space::Data).seal(frame)
    }

    /// Seals a heartbeat's frame made by [`frame::encode`] with the next number of the
    /// heartbeat space.
    pub fn seal_beat(&mut self, frame: Vec<u8>) -> Vec<u8> {
        self.reserve(Space::Beat).seal(frame)
    }

    /// Takes the next number of `space` for a frame to seal later, elsewhere: frames of a
    /// space must be sent in the order their numbers were taken.
    pub fn reserve(&mut self, space: Space) -> Reserved {
        let next = self.next.of(space);
        let stamp = Stamp { space, seq: *next };
        *next += 1;
        Reserved {
            cipher: self.cipher.clone(),
            direction: self.direction,
            stamp,
        }
    }
}

/// A sequence number taken by [`Sealer::reserve`], with what seals a frame under it: sendable,
/// so that a large frame is sealed on another thread.
pub struct Reserved {
    cipher: Arc<Cipher>,
    direction: Direction,
    stamp: Stamp,
}

impl Reserved {
    /// Seals a frame made by [`frame::encode`] under this number.
    pub fn seal(self, mut frame: Vec<u8>) -> Vec<u8> {
        assert!(frame.len() >= ENVELOPE_LEN, "a frame from frame::encode");
        let space = match self.stamp.space {
            Space::Data => 0,
            Space::Beat => KIND_BEAT,
        };
        frame[HEADER_LEN + 1..ENVELOPE_LEN].copy_from_slice(&self.stamp.seq.to_le_bytes());
        match &*self.cipher {
            Cipher::Mac(keyed) => {
                frame[HEADER_LEN] = KIND_MAC | space;
                let mut mac = keyed.clone();
                mac.update(&[self.direction.byte()]);
                mac.update(&frame);
                let tag = mac.finalize().into_bytes();
                frame.extend_from_slice(&tag);
            }
            Cipher::Aead(cipher) => {
                frame[HEADER_LEN] = KIND_AEAD | space;
                let (aad, body) = frame.split_at_mut(ENVELOPE_LEN);
                let tag = cipher
                    .encrypt_inout_detached(&nonce(self.direction, self.stamp), aad, body.into())
                    .expect("frames are far below ChaCha20's length limit");
                frame.extend_from_slice(&tag);
            }
        }
        frame
    }
}

/// Opens the frames one side receives in a session: a [`Verifier`] and the last sequence
/// number accepted in each space.
pub struct Opener {
    verifier: Verifier,
    last: PerSpace,
}

impl Opener {
    /// An opener under `key` for frames coming `direction`.
    pub fn new(key: &[u8; 32], direction: Direction, encrypt: bool) -> Opener {
        Opener {
            verifier: Verifier {
                cipher: Arc::new(Cipher::new(key, encrypt)),
                direction,
            },
            last: PerSpace::default(),
        }
    }

    /// Checks a sealed frame (its header already checked by [`frame::open`]) and returns its
    /// body: [`Verifier::verify`], then [`Opener::accept`].
    pub fn open<'a>(&mut self, frame: &'a [u8]) -> Result<Cow<'a, [u8]>, SessionError> {
        let (body, stamp) = self.verifier.verify(frame)?;
        self.accept(stamp)?;
        Ok(body)
    }

    /// [`Opener::open`] and decode: [`Verifier::verify_message`], then [`Opener::accept`].
    pub fn open_message<T: DeserializeOwned + Heartbeats>(&mut self, frame: &[u8]) -> Verified<T> {
        let (stamp, message) = self.verifier.verify_message(frame)?;
        self.accept(stamp)?;
        Ok((stamp, message))
    }

    /// This session's check of a frame's tag, to run elsewhere (a large frame, on another
    /// thread); what it verified counts only once [`Opener::accept`] took its number.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Takes the number of a frame that verified: refused unless above the last one taken in
    /// its space, so that a frame counts once and in its space's order, wherever it was
    /// verified.
    pub fn accept(&mut self, stamp: Stamp) -> Result<(), SessionError> {
        let last = self.last.of(stamp.space);
        if stamp.seq <= *last {
            return Err(SessionError::Replayed {
                seq: stamp.seq,
                last: *last,
            });
        }
        *last = stamp.seq;
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
    /// its body and stamp, whose number only [`Opener::accept`] takes.
    pub fn verify<'a>(&self, frame: &'a [u8]) -> Result<(Cow<'a, [u8]>, Stamp), SessionError> {
        let kind = frame::kind(frame).ok_or(SessionError::NotSealed)?;
        let space = match kind & KIND_BEAT {
            0 => Space::Data,
            _ => Space::Beat,
        };
        let kind = kind & !KIND_BEAT;
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
                let stamp = Stamp {
                    space,
                    seq: sequence(frame),
                };
                Ok((Cow::Borrowed(&signed[ENVELOPE_LEN..]), stamp))
            }
            Cipher::Aead(cipher) => {
                if kind != KIND_AEAD || frame.len() < ENVELOPE_LEN + AEAD_TAG_LEN {
                    return Err(SessionError::NotSealed);
                }
                let stamp = Stamp {
                    space,
                    seq: sequence(frame),
                };
                let (sealed, tag) = frame.split_at(frame.len() - AEAD_TAG_LEN);
                let mut body = sealed[ENVELOPE_LEN..].to_vec();
                let tag = chacha20poly1305::Tag::try_from(tag).map_err(|_| SessionError::BadMac)?;
                cipher
                    .decrypt_inout_detached(
                        &nonce(self.direction, stamp),
                        &sealed[..ENVELOPE_LEN],
                        body.as_mut_slice().into(),
                        &tag,
                    )
                    .map_err(|_| SessionError::BadMac)?;
                Ok((Cow::Owned(body), stamp))
            }
        }
    }

    /// [`Verifier::verify`], then decodes the body: its stamp, and its message or why the body
    /// does not decode. A message in the wrong space (see [`Heartbeats`]) is refused.
    pub fn verify_message<T: DeserializeOwned + Heartbeats>(&self, frame: &[u8]) -> Verified<T> {
        let (body, stamp) = self.verify(frame)?;
        let message = frame::decode_body::<T>(&body);
        match &message {
            Ok(message) if message.is_heartbeat() != (stamp.space == Space::Beat) => {
                Err(SessionError::WrongSpace)
            }
            // A beat must be one: a body that does not decode there is no heartbeat.
            Err(_) if stamp.space == Space::Beat => Err(SessionError::WrongSpace),
            _ => Ok((stamp, message)),
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
                [&first, &second].map(|sealed| verifier.verify(sealed).map(|(_, stamp)| stamp))
            })
            .join()
            .unwrap();
            let [first, second] = verified.map(|stamp| stamp.expect("verifies"));
            assert_eq!((first.seq, second.seq), (1, 2));
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
            let (_, stamp) = opener.verifier().verify(&third).unwrap();
            opener.accept(stamp).unwrap();
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

    fn beat_frame() -> Vec<u8> {
        frame::encode(5, &ToDriver::Heartbeat)
    }

    /// What `opener` makes of `sealed` as a worker's message: its stamp and whether it is a
    /// heartbeat, or why it is refused.
    fn heard(opener: &mut Opener, sealed: &[u8]) -> Result<(Stamp, bool), SessionError> {
        let (stamp, message) = opener.open_message::<ToDriver>(sealed)?;
        Ok((stamp, message.expect("decodes").is_heartbeat()))
    }

    #[test]
    fn heartbeats_overtake_a_data_frame_sealed_later_elsewhere() {
        for encrypt in [false, true] {
            let (mut sealer, mut opener) = pair(encrypt);
            let first = sealer.seal(result_frame(1));
            // A large frame takes its number, and is sealed on another thread meanwhile.
            let large = sealer.reserve(Space::Data);
            let beats = [
                sealer.seal_beat(beat_frame()),
                sealer.seal_beat(beat_frame()),
            ];
            let large = std::thread::spawn(move || large.seal(result_frame(2)))
                .join()
                .unwrap();
            let after = sealer.seal(result_frame(3));
            let beat = |seq| {
                Ok((
                    Stamp {
                        space: Space::Beat,
                        seq,
                    },
                    true,
                ))
            };
            let data = |seq| {
                Ok((
                    Stamp {
                        space: Space::Data,
                        seq,
                    },
                    false,
                ))
            };
            // Sent in the order they were ready: beats first; each space in its own order.
            assert_eq!(heard(&mut opener, &first), data(1));
            assert_eq!(heard(&mut opener, &beats[0]), beat(1));
            assert_eq!(heard(&mut opener, &beats[1]), beat(2));
            assert_eq!(heard(&mut opener, &large), data(2));
            assert_eq!(heard(&mut opener, &after), data(3));
            let beat = sealer.seal_beat(beat_frame());
            assert_eq!(
                heard(&mut opener, &beat),
                Ok((
                    Stamp {
                        space: Space::Beat,
                        seq: 3
                    },
                    true
                ))
            );
        }
    }

    #[test]
    fn heartbeats_replayed_or_reordered_are_refused_in_their_space_only() {
        for encrypt in [false, true] {
            let (mut sealer, mut opener) = pair(encrypt);
            let beats = [
                sealer.seal_beat(beat_frame()),
                sealer.seal_beat(beat_frame()),
            ];
            let result = sealer.seal(result_frame(1));
            assert!(heard(&mut opener, &beats[1]).is_ok());
            assert_eq!(
                heard(&mut opener, &beats[0]),
                Err(SessionError::Replayed { seq: 1, last: 2 })
            );
            assert_eq!(
                heard(&mut opener, &beats[1]),
                Err(SessionError::Replayed { seq: 2, last: 2 })
            );
            // The data space did not move: its first frame opens after beat 2.
            assert_eq!(
                heard(&mut opener, &result),
                Ok((
                    Stamp {
                        space: Space::Data,
                        seq: 1
                    },
                    false
                ))
            );
        }
    }

    #[test]
    fn a_frame_moved_to_the_other_space_is_forged() {
        for encrypt in [false, true] {
            let (mut sealer, mut opener) = pair(encrypt);
            let beat = sealer.seal_beat(beat_frame());
            let result = sealer.seal(result_frame(1));
            assert_eq!(beat[HEADER_LEN] & KIND_BEAT, KIND_BEAT);
            assert_eq!(result[HEADER_LEN] & KIND_BEAT, 0);
            // Its kind is under the tag: a beat replayed as data, or data as a beat, is forged.
            let mut as_data = beat.clone();
            as_data[HEADER_LEN] &= !KIND_BEAT;
            let mut as_beat = result.clone();
            as_beat[HEADER_LEN] |= KIND_BEAT;
            assert_eq!(opener.open(&as_data), Err(SessionError::BadMac));
            assert_eq!(opener.open(&as_beat), Err(SessionError::BadMac));
            // A beat of another session's key, or of the other direction, does not open.
            let mut other = Sealer::new(&[4u8; 32], Direction::ToDriver, encrypt);
            assert_eq!(
                opener.open(&other.seal_beat(beat_frame())),
                Err(SessionError::BadMac)
            );
            let mut reflected = Sealer::new(&[3u8; 32], Direction::ToWorker, encrypt);
            let reflected = reflected.seal_beat(beat_frame());
            assert_eq!(opener.open(&reflected), Err(SessionError::BadMac));
            // Both genuine frames still open.
            assert!(heard(&mut opener, &beat).is_ok());
            assert!(heard(&mut opener, &result).is_ok());
        }
    }

    #[test]
    fn the_two_spaces_never_share_a_nonce() {
        // Both count from 1 under one key: the same number in each must encrypt differently.
        let (mut sealer, _) = pair(true);
        let data = sealer.seal(beat_frame());
        let beat = sealer.seal_beat(beat_frame());
        assert_eq!(sequence(&data), sequence(&beat));
        assert_ne!(data[ENVELOPE_LEN..], beat[ENVELOPE_LEN..]);
    }

    #[test]
    fn only_heartbeats_are_heard_in_the_heartbeat_space() {
        for encrypt in [false, true] {
            let (mut sealer, mut opener) = pair(encrypt);
            // Sealed by a key holder, so they verify; each is refused as forged all the same.
            let mut garbage = beat_frame();
            garbage.truncate(ENVELOPE_LEN);
            garbage.extend_from_slice(&[250, 1, 2]);
            for misplaced in [
                sealer.seal_beat(result_frame(1)),
                sealer.seal_beat(garbage),
                sealer.seal(beat_frame()),
            ] {
                assert!(opener.verifier().verify(&misplaced).is_ok());
                assert_eq!(
                    heard(&mut opener, &misplaced),
                    Err(SessionError::WrongSpace)
                );
            }
            // None of them took a number: the next frames of each space open.
            let beat = sealer.seal_beat(beat_frame());
            let result = sealer.seal(result_frame(2));
            assert_eq!(heard(&mut opener, &beat).map(|(_, is)| is), Ok(true));
            assert_eq!(heard(&mut opener, &result).map(|(_, is)| is), Ok(false));
        }
    }
}
