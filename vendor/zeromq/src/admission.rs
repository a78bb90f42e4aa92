//! Accepted connections not admitted yet, oldest first. When too many wait, the oldest
//! connection of the source (the peer's host) that holds the most waiting ones is closed to
//! make room for the newest. Closing the newest instead let a few hundred silent
//! connections, reopened as soon as they were closed, keep every legitimate peer out; closing
//! the oldest of all let one host that opened connections faster than a distant peer's
//! handshake round trip keep that peer out. Now a host only ever closes its own connections
//! while it holds the most.

use crate::endpoint::{Endpoint, Host};
use crate::util::PeerIdentity;

use futures::future::AbortHandle;
use parking_lot::Mutex;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a connection comes from, as far as fairness goes: the peer's IP address, an IPv6
/// one cut to its /64 (one host or site usually holds a whole /64), `None` without one (ipc).
pub(crate) fn source_of(remote: &Endpoint) -> Option<IpAddr> {
    let ip = match remote {
        Endpoint::Tcp(Host::Ipv4(ip), _) => IpAddr::V4(*ip),
        Endpoint::Tcp(Host::Ipv6(ip), _) => match ip.to_ipv4_mapped() {
            Some(ip) => IpAddr::V4(ip),
            None => {
                let prefix = u128::from(*ip) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
        _ => return None,
    };
    Some(ip)
}

/// Where a waiting connection is.
enum Stage {
    /// In the ZMTP handshake: closed by aborting it.
    Handshaking(AbortHandle),
    /// Connected under this identity, its frame limit not raised yet.
    Connected(PeerIdentity),
}

struct Waiting {
    ticket: u64,
    source: Option<IpAddr>,
    stage: Stage,
}

/// Among `entries`, each a source and an age (smaller is older), the position of the oldest
/// entry of the source that holds the most, counting a newcomer from `newcomer`; between
/// sources that hold as many, the oldest entry of them all. The rule by which a full queue
/// makes room here, and by which an application's own cap on strangers may: a host that floods
/// only ever evicts its own.
pub fn oldest_of_largest<S, A>(
    entries: impl Iterator<Item = (S, A)> + Clone,
    newcomer: S,
) -> Option<usize>
where
    S: std::hash::Hash + Eq,
    A: Ord,
{
    let mut held: HashMap<S, usize> = HashMap::new();
    for (source, _) in entries.clone() {
        *held.entry(source).or_default() += 1;
    }
    if let Some(count) = held.get_mut(&newcomer) {
        *count += 1;
    }
    let most = held.values().copied().max()?;
    entries
        .enumerate()
        .filter(|(_, (source, _))| held[source] == most)
        .min_by(|(_, (_, a)), (_, (_, b))| a.cmp(b))
        .map(|(at, _)| at)
}

/// The queue of accepted connections waiting for admission.
#[derive(Default)]
pub(crate) struct Unadmitted {
    queue: Mutex<VecDeque<Waiting>>,
    next_ticket: AtomicU64,
}

impl Unadmitted {
    /// Enters a connection from `source` whose ZMTP handshake `abort` stops, closing waiting
    /// ones while `max` or more wait, each the oldest of the source that holds the most.
    /// `still_waiting` says whether a connected peer is still connected and not admitted;
    /// `close` closes one that is. Returns the new one's ticket.
    pub(crate) fn enter(
        &self,
        abort: AbortHandle,
        source: Option<IpAddr>,
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
                let waiting = queue.iter().map(|w| (w.source, w.ticket));
                let Some(oldest) =
                    oldest_of_largest(waiting, source).and_then(|at| queue.remove(at))
                else {
                    break;
                };
                evicted.push(oldest.stage);
            }
            queue.push_back(Waiting {
                ticket,
                source,
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
