//! Accepted connections not admitted yet, oldest first. When too many wait, the oldest is
//! closed to make room for the newest: a peer that holds connections open without ever
//! being admitted then keeps no one out unless it opens them faster than a legitimate peer
//! completes its handshake. (Closing the newest instead let a few hundred silent
//! connections, reopened as soon as they were closed, keep every legitimate peer out.)

use crate::util::PeerIdentity;

use futures::future::AbortHandle;
use parking_lot::Mutex;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a waiting connection is.
enum Stage {
    /// In the ZMTP handshake: closed by aborting it.
    Handshaking(AbortHandle),
    /// Connected under this identity, its frame limit not raised yet.
    Connected(PeerIdentity),
}

struct Waiting {
    ticket: u64,
    stage: Stage,
}

/// The queue of accepted connections waiting for admission.
#[derive(Default)]
pub(crate) struct Unadmitted {
    queue: Mutex<VecDeque<Waiting>>,
    next_ticket: AtomicU64,
}

impl Unadmitted {
    /// Enters a connection whose ZMTP handshake `abort` stops, closing the oldest waiting
    /// ones while `max` or more wait. `still_waiting` says whether a connected peer is still
    /// connected and not admitted; `close` closes one that is. Returns the new one's ticket.
    pub(crate) fn enter(
        &self,
        abort: AbortHandle,
        max: usize,
        still_waiting: impl Fn(&PeerIdentity) -> bool,
        close: impl Fn(&PeerIdentity),
    ) -> u64 {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let mut evicted = Vec::new();
        {
            let mut queue = self.queue.lock();
            queue.retain(|waiting| match &waiting.stage {
                Stage::Handshaking(_) => true,
                Stage::Connected(peer) => still_waiting(peer),
            });
            while queue.len() >= max.max(1) {
                let Some(oldest) = queue.pop_front() else {
                    break;
                };
                evicted.push(oldest.stage);
            }
            queue.push_back(Waiting {
                ticket,
                stage: Stage::Handshaking(abort),
            });
        }
        // Closed outside the lock: closing a peer takes the socket's own locks.
        for stage in evicted {
            match stage {
                Stage::Handshaking(abort) => abort.abort(),
                Stage::Connected(peer) => close(&peer),
            }
        }
        ticket
    }

    /// The connection of `ticket` finished its ZMTP handshake as `peer`; `false` if it was
    /// closed to make room meanwhile (its handshake ended before the abort could stop it):
    /// the caller closes it, or it would escape the cap.
    pub(crate) fn connected(&self, ticket: u64, peer: PeerIdentity) -> bool {
        let mut queue = self.queue.lock();
        match queue.iter_mut().find(|w| w.ticket == ticket) {
            Some(waiting) => {
                waiting.stage = Stage::Connected(peer);
                true
            }
            None => false,
        }
    }

    /// The connection of `ticket` is gone (its handshake failed or was aborted).
    pub(crate) fn leave(&self, ticket: u64) {
        self.queue.lock().retain(|w| w.ticket != ticket);
    }
}
