//! What the coordinator queued for each peer, in its order, while a large frame of a peer is
//! sealed off the driver's link thread.
//!
//! Sans-IO: the link thread gives each item the coordinator queued to [`Outgoing::queue`] and
//! acts on the [`Turn`] it gets; a large frame's turn is to be sealed elsewhere, and the peer's
//! later items wait (in [`InOrder`]) until [`Outgoing::sealed`] says it is back, then come out
//! of [`Outgoing::next`]. Other peers' items pass meanwhile; heartbeats never enter here (they
//! count in a space of their own, so they may overtake a frame being sealed).

use super::gate::SessionId;
use super::in_order::{InOrder, Ticket, Waited};

/// An item the coordinator queued for a peer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outbound {
    /// A frame for `peer`'s `session`; `task`: the sequence number of the task it orders,
    /// whose answer the session owes.
    Frame {
        peer: String,
        session: SessionId,
        frame: Vec<u8>,
        task: Option<u64>,
    },
    /// The coordinator let go of `peer`'s `session` (see
    /// [`Gate::end`](super::gate::Gate::end)).
    End { peer: String, session: SessionId },
}

impl Outbound {
    /// The peer it is for.
    pub fn peer(&self) -> &str {
        match self {
            Outbound::Frame { peer, .. } | Outbound::End { peer, .. } => peer,
        }
    }

    /// Its bytes, as it waits: a frame's length; an end holds none.
    fn bytes(&self) -> usize {
        match self {
            Outbound::Frame { frame, .. } => frame.len(),
            Outbound::End { .. } => 0,
        }
    }
}

/// What the link does with an item whose turn came.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Seal (or end) it here, now.
    Here(Outbound),
    /// Seal this large frame on another thread; its peer's later items wait until
    /// [`Outgoing::sealed`] is told `ticket` is back.
    Elsewhere {
        peer: String,
        session: SessionId,
        frame: Vec<u8>,
        task: Option<u64>,
        ticket: Ticket,
    },
    /// It waits behind its peer's frame being sealed.
    Wait,
}

/// Each peer's queued items behind its frame being sealed elsewhere: at most one seal in
/// flight per peer, so no more seals run at once than there are peers. What waits is what the
/// coordinator queued (it bounds that itself), so no queue is ever full.
pub(crate) struct Outgoing {
    lanes: InOrder<Outbound>,
    seal_elsewhere_from: usize,
}

impl Outgoing {
    /// Frames of `seal_elsewhere_from` bytes or more are sealed elsewhere.
    pub fn new(seal_elsewhere_from: usize) -> Outgoing {
        Outgoing {
            // No bound: the coordinator's queue is what holds these items, wherever they wait.
            lanes: InOrder::new(usize::MAX, usize::MAX, usize::MAX),
            seal_elsewhere_from,
        }
    }

    /// An item the coordinator queued: its turn now, or [`Turn::Wait`].
    pub fn queue(&mut self, item: Outbound) -> Turn {
        // The usual case, a peer with nothing being sealed: its item goes on with no copy of
        // its name (this is every task order's path).
        if !self.lanes.holds(item.peer()) {
            return self.turn(item);
        }
        let bytes = item.bytes();
        let peer = item.peer().to_owned();
        match self.lanes.wait(&peer, item, bytes) {
            Waited::Go(item) => self.turn(item),
            Waited::Queued => Turn::Wait,
        }
    }

    /// The seal of `ticket` for `peer` is back (or was not started): whether it is still the
    /// one in flight; then the items that waited behind it come out of [`Outgoing::next`].
    pub fn sealed(&mut self, peer: &str, ticket: Ticket) -> bool {
        self.lanes.finish(peer, ticket)
    }

    /// The turn of `peer`'s next item that waited, if none of its frames is being sealed.
    pub fn next(&mut self, peer: &str) -> Option<Turn> {
        let item = self.lanes.next(peer)?;
        Some(self.turn(item))
    }

    /// Whether no seal is in flight and nothing waits: the link may close.
    pub fn idle(&self) -> bool {
        self.lanes.is_empty()
    }

    fn turn(&mut self, item: Outbound) -> Turn {
        match item {
            Outbound::Frame {
                peer,
                session,
                frame,
                task,
            } if frame.len() >= self.seal_elsewhere_from => {
                let ticket = self.lanes.start(&peer, session);
                Turn::Elsewhere {
                    peer,
                    session,
                    frame,
                    task,
                    ticket,
                }
            }
            item => Turn::Here(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(peer: &str, session: SessionId, len: usize) -> Outbound {
        Outbound::Frame {
            peer: peer.into(),
            session,
            frame: vec![len as u8; len],
            task: None,
        }
    }

    fn elsewhere(turn: Turn) -> (String, Ticket, usize) {
        match turn {
            Turn::Elsewhere {
                peer,
                ticket,
                frame,
                ..
            } => (peer, ticket, frame.len()),
            other => panic!("expected a seal elsewhere, got {other:?}"),
        }
    }

    #[test]
    fn a_large_frame_is_sealed_elsewhere_and_its_peers_later_items_wait_in_order() {
        let mut out = Outgoing::new(100);
        assert_eq!(out.queue(frame("w0", 1, 5)), Turn::Here(frame("w0", 1, 5)));
        let (peer, ticket, len) = elsewhere(out.queue(frame("w0", 1, 100)));
        assert_eq!((peer.as_str(), len), ("w0", 100));
        assert_eq!(out.queue(frame("w0", 1, 6)), Turn::Wait);
        let end = Outbound::End {
            peer: "w0".into(),
            session: 1,
        };
        assert_eq!(out.queue(end), Turn::Wait, "an end waits too");
        assert_eq!(
            out.queue(frame("w1", 3, 7)),
            Turn::Here(frame("w1", 3, 7)),
            "another peer's frames go on"
        );
        assert_eq!(out.next("w0"), None, "nothing comes out while sealing");
        assert!(!out.idle());
        assert!(out.sealed("w0", ticket));
        assert_eq!(out.next("w0"), Some(Turn::Here(frame("w0", 1, 6))));
        let end = Outbound::End {
            peer: "w0".into(),
            session: 1,
        };
        assert_eq!(out.next("w0"), Some(Turn::Here(end)));
        assert_eq!(out.next("w0"), None);
        assert!(out.idle());
    }

    #[test]
    fn a_large_frame_that_waited_is_sealed_elsewhere_in_its_turn_one_at_a_time() {
        let mut out = Outgoing::new(100);
        let (_, first, _) = elsewhere(out.queue(frame("w0", 1, 100)));
        assert_eq!(
            out.queue(frame("w0", 1, 200)),
            Turn::Wait,
            "one seal per peer"
        );
        assert_eq!(out.queue(frame("w0", 1, 1)), Turn::Wait);
        let (_, other, _) = elsewhere(out.queue(frame("w1", 1, 100)));
        assert!(out.sealed("w0", first));
        let (_, second, len) = elsewhere(out.next("w0").expect("its turn"));
        assert_eq!(len, 200);
        assert_eq!(
            out.next("w0"),
            None,
            "the small one waits behind the second"
        );
        assert!(out.sealed("w0", second));
        assert_eq!(out.next("w0"), Some(Turn::Here(frame("w0", 1, 1))));
        assert!(!out.idle(), "w1's seal is still in flight");
        assert!(out.sealed("w1", other));
        assert!(out.idle());
    }

    #[test]
    fn a_seal_not_started_releases_the_items_behind_it_and_a_stale_one_does_not() {
        let mut out = Outgoing::new(100);
        let (_, ticket, _) = elsewhere(out.queue(frame("w0", 1, 100)));
        assert_eq!(out.queue(frame("w0", 2, 1)), Turn::Wait);
        // The session was not open: the link lets the seal go at once.
        assert!(out.sealed("w0", ticket));
        assert!(!out.sealed("w0", ticket), "told once");
        assert_eq!(out.next("w0"), Some(Turn::Here(frame("w0", 2, 1))));
        assert!(out.idle());
    }
}
