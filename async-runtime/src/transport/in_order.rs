//! Each peer's frames in the order they came, while some are opened off the link thread.
//!
//! Sans-IO: the link thread asks whether a peer's frame may go through now or must wait behind
//! an open in flight ([`InOrder::wait`]), marks an open's start ([`InOrder::start`]) and end
//! ([`InOrder::finish`]), then feeds the frames that waited ([`InOrder::next`]). Other peers'
//! frames pass meanwhile.

use std::collections::{HashMap, VecDeque};

use super::gate::SessionId;

/// An open in flight: the session it was started under, and a serial number never reused, so
/// that an open of a peer since forgotten is told from a later one under the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub session: SessionId,
    serial: u64,
}

/// Frames that wait behind each peer's open in flight. A peer's queue is full once a frame of
/// `large` bytes or more waits in it, or `bound` frames, or `small_bytes` of smaller ones:
/// then the link reads no frame of anyone until it drains ([`InOrder::full`]), as it read none
/// while it opened every frame itself. Nothing a worker sent is dropped, and a peer's flood
/// costs the driver two large frames at most, not the flood.
pub(crate) struct InOrder<T> {
    limits: Limits,
    serial: u64,
    lanes: HashMap<String, Lane<T>>,
    /// Lanes that are full.
    full: usize,
}

struct Lane<T> {
    in_flight: Option<Ticket>,
    waiting: VecDeque<(T, usize)>,
    /// Bytes of the small frames waiting, and how many large ones wait.
    small: usize,
    large: usize,
}

impl<T> Lane<T> {
    fn new() -> Lane<T> {
        Lane {
            in_flight: None,
            waiting: VecDeque::new(),
            small: 0,
            large: 0,
        }
    }
}

/// What became of a frame given to [`InOrder::wait`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Waited<T> {
    /// Its peer has no open in flight and no frame waiting: it goes through now.
    Go(T),
    /// It waits behind its peer's open in flight.
    Queued,
}

impl<T> InOrder<T> {
    /// A peer's queue is full with a frame of `large` bytes or more, or `bound` frames, or
    /// `small_bytes` of smaller ones.
    pub fn new(bound: usize, large: usize, small_bytes: usize) -> InOrder<T> {
        InOrder {
            limits: Limits {
                bound,
                large,
                small_bytes,
            },
            serial: 0,
            lanes: HashMap::new(),
            full: 0,
        }
    }

    /// Whether some peer's queue is full: the link reads no further frame until it is not.
    pub fn full(&self) -> bool {
        self.full > 0
    }

    /// `frame` of `peer`, of `bytes`: through now, or behind the frames of that peer before it.
    pub fn wait(&mut self, peer: &str, frame: T, bytes: usize) -> Waited<T> {
        let limits = self.limits;
        let Some(lane) = self.lanes.get_mut(peer) else {
            return Waited::Go(frame);
        };
        let was_full = limits.hold(lane);
        match bytes >= limits.large {
            true => lane.large += 1,
            false => lane.small += bytes,
        }
        lane.waiting.push_back((frame, bytes));
        self.full += usize::from(!was_full && limits.hold(lane));
        Waited::Queued
    }

    /// `peer`'s frame begins to be opened elsewhere, under `session`: its later frames wait.
    pub fn start(&mut self, peer: &str, session: SessionId) -> Ticket {
        self.serial += 1;
        let ticket = Ticket {
            session,
            serial: self.serial,
        };
        let lane = self.lanes.entry(peer.to_owned()).or_insert_with(Lane::new);
        lane.in_flight = Some(ticket);
        ticket
    }

    /// The open of `ticket` is done: whether it is still `peer`'s (its peer not forgotten
    /// since); then the frames that waited behind it come out of [`InOrder::next`].
    pub fn finish(&mut self, peer: &str, ticket: Ticket) -> bool {
        let Some(lane) = self.lanes.get_mut(peer) else {
            return false;
        };
        if lane.in_flight != Some(ticket) {
            return false;
        }
        lane.in_flight = None;
        self.tidy(peer);
        true
    }

    /// The next frame of `peer` that waited, if no open of it is in flight.
    pub fn next(&mut self, peer: &str) -> Option<T> {
        let limits = self.limits;
        let lane = self.lanes.get_mut(peer)?;
        if lane.in_flight.is_some() {
            return None;
        }
        let was_full = limits.hold(lane);
        let (frame, bytes) = lane.waiting.pop_front()?;
        match bytes >= limits.large {
            true => lane.large -= 1,
            false => lane.small -= bytes,
        }
        self.full -= usize::from(was_full && !limits.hold(lane));
        self.tidy(peer);
        Some(frame)
    }

    /// Whether `peer` has an open in flight or a frame waiting: if not, its next frame goes
    /// through ([`InOrder::wait`]).
    pub fn holds(&self, peer: &str) -> bool {
        self.lanes.contains_key(peer)
    }

    /// Whether no peer has an open in flight or a frame waiting.
    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// `peer`'s connection closed: what waited is dropped, and its open in flight, when done,
    /// is not its.
    pub fn forget(&mut self, peer: &str) {
        if let Some(lane) = self.lanes.remove(peer) {
            self.full -= usize::from(self.limits.hold(&lane));
        }
    }

    fn tidy(&mut self, peer: &str) {
        if let Some(lane) = self.lanes.get(peer) {
            if lane.in_flight.is_none() && lane.waiting.is_empty() {
                self.lanes.remove(peer);
            }
        }
    }
}

/// What makes a queue full (see [`InOrder`]).
#[derive(Clone, Copy)]
struct Limits {
    bound: usize,
    large: usize,
    small_bytes: usize,
}

impl Limits {
    /// Whether `lane` holds all it may: the link then reads no more frames.
    fn hold<T>(self, lane: &Lane<T>) -> bool {
        lane.large > 0 || lane.waiting.len() >= self.bound || lane.small >= self.small_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peers_frames_wait_behind_its_open_in_order_while_others_pass() {
        let mut order = InOrder::new(8, 100, 10);
        assert_eq!(order.wait("w0", 1, 1), Waited::Go(1));
        let ticket = order.start("w0", 7);
        assert_eq!(order.wait("w0", 2, 1), Waited::Queued);
        assert_eq!(
            order.wait("w1", 10, 1),
            Waited::Go(10),
            "another peer passes"
        );
        assert_eq!(order.wait("w0", 3, 1), Waited::Queued);
        assert_eq!(order.next("w0"), None, "nothing comes out while in flight");
        assert!(order.finish("w0", ticket));
        assert_eq!(order.next("w0"), Some(2));
        // A frame that waited is itself opened elsewhere: the rest wait again.
        let second = order.start("w0", 7);
        assert_eq!(order.next("w0"), None);
        assert_eq!(order.wait("w0", 4, 1), Waited::Queued);
        assert!(order.finish("w0", second));
        assert_eq!((order.next("w0"), order.next("w0")), (Some(3), Some(4)));
        assert_eq!(order.next("w0"), None);
        assert_eq!(
            order.wait("w0", 5, 1),
            Waited::Go(5),
            "none waiting: through"
        );
        assert!(order.lanes.is_empty());
    }

    #[test]
    fn a_queue_is_full_at_its_bound_and_nothing_is_dropped() {
        let mut order = InOrder::new(2, 100, 10);
        let ticket = order.start("w0", 1);
        assert_eq!(order.wait("w0", 1, 1), Waited::Queued);
        assert!(!order.full());
        assert_eq!(order.wait("w0", 2, 1), Waited::Queued);
        assert!(order.full(), "two frames wait: the link stops reading");
        // A frame read meanwhile still waits, in its place.
        assert_eq!(order.wait("w0", 3, 1), Waited::Queued);
        assert!(order.finish("w0", ticket));
        assert_eq!(order.next("w0"), Some(1));
        assert!(order.full(), "two still wait");
        assert_eq!(order.next("w0"), Some(2));
        assert!(!order.full());
        assert_eq!(order.next("w0"), Some(3));
        assert!(!order.full() && order.lanes.is_empty());
    }

    #[test]
    fn a_large_frame_or_the_small_ones_bytes_fill_a_queue() {
        let mut order = InOrder::new(8, 100, 10);
        let first = order.start("w0", 1);
        let second = order.start("w1", 1);
        assert_eq!(order.wait("w0", 1, 6), Waited::Queued);
        assert!(!order.full());
        assert_eq!(order.wait("w1", 10, 100), Waited::Queued);
        assert!(order.full(), "a large frame waits");
        assert_eq!(order.wait("w0", 2, 4), Waited::Queued);
        assert!(order.full(), "and w0's small ones reach their bytes");
        assert!(order.finish("w1", second));
        assert_eq!(order.next("w1"), Some(10));
        assert!(order.full(), "w0's is still full");
        // A peer gone: its queue no longer counts.
        order.forget("w0");
        assert!(!order.full());
        assert!(!order.finish("w0", first));
        assert!(order.lanes.is_empty());
    }

    #[test]
    fn a_forgotten_peers_open_and_frames_are_not_its_next_connections() {
        let mut order = InOrder::new(8, 100, 10);
        let old = order.start("w0", 1);
        assert_eq!(order.wait("w0", 1, 1), Waited::Queued);
        order.forget("w0");
        assert_eq!(order.next("w0"), None, "what waited is dropped");
        // A new connection under the name, with a session of its own, opens a frame.
        assert_eq!(order.wait("w0", 2, 1), Waited::Go(2));
        let new = order.start("w0", 2);
        assert_eq!(order.wait("w0", 3, 1), Waited::Queued);
        assert_ne!(old, new);
        assert!(!order.finish("w0", old), "the old open is discarded");
        assert_eq!(
            order.next("w0"),
            None,
            "and does not release the new one's frames"
        );
        assert!(order.finish("w0", new));
        assert_eq!(order.next("w0"), Some(3));
        assert!(!order.finish("w1", new), "nor is it anyone else's");
    }
}
