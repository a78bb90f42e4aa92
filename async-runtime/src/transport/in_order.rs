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

/// Frames that wait behind each peer's open in flight, per peer at most `bound` of them, of
/// which one large (of `large` bytes or more) and the others `small_bytes` in all: a peer's
/// flood of large frames costs the driver two of them, not the flood.
pub(crate) struct InOrder<T> {
    bound: usize,
    large: usize,
    small_bytes: usize,
    serial: u64,
    lanes: HashMap<String, Lane<T>>,
}

struct Lane<T> {
    in_flight: Option<Ticket>,
    waiting: VecDeque<(T, usize)>,
    /// Bytes of the small frames waiting, and whether a large one waits.
    small: usize,
    holds_large: bool,
    /// Frames have been dropped since the last one that found room.
    dropping: bool,
}

/// What became of a frame given to [`InOrder::wait`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Waited<T> {
    /// Its peer has no open in flight and no frame waiting: it goes through now.
    Go(T),
    /// It waits behind its peer's open in flight.
    Queued,
    /// Its peer has `bound` frames waiting: dropped; `first` for the first drop since a frame
    /// last found room, the one to say.
    Dropped { first: bool },
}

impl<T> InOrder<T> {
    /// Up to `bound` frames wait per peer, one of them of `large` bytes or more, the others
    /// `small_bytes` in all.
    pub fn new(bound: usize, large: usize, small_bytes: usize) -> InOrder<T> {
        InOrder {
            bound,
            large,
            small_bytes,
            serial: 0,
            lanes: HashMap::new(),
        }
    }

    /// `frame` of `peer`, of `bytes`: through now, or behind the frames of that peer before it.
    pub fn wait(&mut self, peer: &str, frame: T, bytes: usize) -> Waited<T> {
        let Some(lane) = self.lanes.get_mut(peer) else {
            return Waited::Go(frame);
        };
        let large = bytes >= self.large;
        let room = match large {
            true => !lane.holds_large,
            false => lane.small + bytes <= self.small_bytes,
        };
        if !room || lane.waiting.len() >= self.bound {
            return Waited::Dropped {
                first: !std::mem::replace(&mut lane.dropping, true),
            };
        }
        lane.dropping = false;
        match large {
            true => lane.holds_large = true,
            false => lane.small += bytes,
        }
        lane.waiting.push_back((frame, bytes));
        Waited::Queued
    }

    /// `peer`'s frame begins to be opened elsewhere, under `session`: its later frames wait.
    pub fn start(&mut self, peer: &str, session: SessionId) -> Ticket {
        self.serial += 1;
        let ticket = Ticket {
            session,
            serial: self.serial,
        };
        let lane = self.lanes.entry(peer.to_owned()).or_insert(Lane {
            in_flight: None,
            waiting: VecDeque::new(),
            small: 0,
            holds_large: false,
            dropping: false,
        });
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
        let lane = self.lanes.get_mut(peer)?;
        if lane.in_flight.is_some() {
            return None;
        }
        let (frame, bytes) = lane.waiting.pop_front()?;
        match bytes >= self.large {
            true => lane.holds_large = false,
            false => lane.small -= bytes,
        }
        self.tidy(peer);
        Some(frame)
    }

    /// `peer`'s connection closed: what waited is dropped, and its open in flight, when done,
    /// is not its.
    pub fn forget(&mut self, peer: &str) {
        self.lanes.remove(peer);
    }

    fn tidy(&mut self, peer: &str) {
        if let Some(lane) = self.lanes.get(peer) {
            if lane.in_flight.is_none() && lane.waiting.is_empty() {
                self.lanes.remove(peer);
            }
        }
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
    fn frames_past_the_bound_are_dropped_and_said_once_per_flood() {
        let mut order = InOrder::new(2, 100, 10);
        let ticket = order.start("w0", 1);
        assert_eq!(order.wait("w0", 1, 1), Waited::Queued);
        assert_eq!(order.wait("w0", 2, 1), Waited::Queued);
        assert_eq!(order.wait("w0", 3, 1), Waited::Dropped { first: true });
        assert_eq!(order.wait("w0", 4, 1), Waited::Dropped { first: false });
        assert_eq!(order.wait("w1", 1, 1), Waited::Go(1));
        assert!(order.finish("w0", ticket));
        assert_eq!(order.next("w0"), Some(1));
        assert_eq!(order.wait("w0", 5, 1), Waited::Queued, "room again");
        assert_eq!(order.wait("w0", 6, 1), Waited::Dropped { first: true });
        assert_eq!((order.next("w0"), order.next("w0")), (Some(2), Some(5)));
    }

    #[test]
    fn one_large_frame_waits_and_small_ones_within_their_bytes() {
        let mut order = InOrder::new(8, 100, 10);
        let ticket = order.start("w0", 1);
        assert_eq!(
            order.wait("w0", 1, 100),
            Waited::Queued,
            "one large frame waits"
        );
        assert_eq!(order.wait("w0", 2, 500), Waited::Dropped { first: true });
        assert_eq!(
            order.wait("w0", 3, 6),
            Waited::Queued,
            "small ones still wait"
        );
        assert_eq!(order.wait("w0", 4, 4), Waited::Queued);
        assert_eq!(order.wait("w0", 5, 1), Waited::Dropped { first: true });
        assert!(order.finish("w0", ticket));
        assert_eq!(order.next("w0"), Some(1));
        let ticket = order.start("w0", 1);
        assert_eq!(
            order.wait("w0", 6, 100),
            Waited::Queued,
            "room for a large one again"
        );
        assert!(order.finish("w0", ticket));
        let rest: Vec<_> = std::iter::from_fn(|| order.next("w0")).collect();
        assert_eq!(rest, [3, 4, 6]);
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
