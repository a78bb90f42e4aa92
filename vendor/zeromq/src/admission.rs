//! Accepted connections not admitted yet, oldest first. When too many wait, the oldest
//! connection of the source (the peer's host) that holds the most waiting ones is closed to
//! make room for the newest. Closing the newest instead let a few hundred silent
//! connections, reopened as soon as they were closed, keep every legitimate peer out; closing
//! the oldest of all let one host that opened connections faster than a distant peer's
//! handshake round trip keep that peer out. Now a host only ever closes its own connections
//! while it holds the most.

use crate::async_rt;
use crate::endpoint::{Endpoint, Host};
use crate::util::PeerIdentity;
use crate::MultiPeerBackend;

use futures::future::AbortHandle;
use parking_lot::Mutex;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

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

/// Accepted connections waiting for admission, in the order they were accepted, each with its
/// deadline: the rule of [`crate::SocketOptions::admission`] without sockets or clocks, so it
/// can be tested on its own. Each entry is one connection, named by a number no other
/// connection has, never by its routing identity: a newer connection may take the identity
/// of one that went away, and what closes the old one must not close it. What the queue holds
/// about a connection is its stage `T`, chosen by the caller.
///
/// It never holds more than the `max` its caller enters connections with, and nothing else
/// keeps a connection's deadline: what a socket's admission costs is bounded by its cap, not
/// by how fast connections come and go.
pub struct AdmissionQueue<T> {
    waiting: VecDeque<Waiting<T>>,
}

struct Waiting<T> {
    connection: u64,
    source: Option<IpAddr>,
    deadline: Instant,
    stage: T,
}

impl<T> Default for AdmissionQueue<T> {
    fn default() -> Self {
        Self {
            waiting: VecDeque::new(),
        }
    }
}

impl<T> AdmissionQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enters `connection` from `source`, at `stage`, to be admitted by `deadline`. First drops
    /// the entries `still_waiting` says no longer wait (closed, or admitted), then, while `max`
    /// or more wait, takes out the oldest of the source that holds the most, counting the
    /// newcomer ([`oldest_of_largest`]). Returns those taken out, for the caller to close.
    ///
    /// A deadline earlier than the newest entry's counts as that one (a clock read a moment
    /// before another's): deadlines stay in the order of acceptance.
    pub fn enter(
        &mut self,
        connection: u64,
        source: Option<IpAddr>,
        stage: T,
        deadline: Instant,
        max: usize,
        mut still_waiting: impl FnMut(u64, &T) -> bool,
    ) -> Vec<(u64, T)> {
        self.waiting
            .retain(|waiting| still_waiting(waiting.connection, &waiting.stage));
        let mut evicted = Vec::new();
        while self.waiting.len() >= max.max(1) {
            let ages = self.waiting.iter().map(|w| (w.source, w.connection));
            let Some(oldest) =
                oldest_of_largest(ages, source).and_then(|at| self.waiting.remove(at))
            else {
                break;
            };
            evicted.push((oldest.connection, oldest.stage));
        }
        let deadline = match self.waiting.back() {
            Some(newest) => deadline.max(newest.deadline),
            None => deadline,
        };
        self.waiting.push_back(Waiting {
            connection,
            source,
            deadline,
            stage,
        });
        evicted
    }

    /// `connection` moves on to `stage`; `false` if it no longer waits (taken out to make room,
    /// or past its deadline).
    pub fn advance(&mut self, connection: u64, stage: T) -> bool {
        match self.waiting.iter_mut().find(|w| w.connection == connection) {
            Some(waiting) => {
                waiting.stage = stage;
                true
            }
            None => false,
        }
    }

    /// `connection` no longer waits (it is gone); its stage, if it was waiting.
    pub fn leave(&mut self, connection: u64) -> Option<T> {
        let at = self
            .waiting
            .iter()
            .position(|w| w.connection == connection)?;
        self.waiting.remove(at).map(|waiting| waiting.stage)
    }

    /// Takes out the connections whose deadline is `now` or past, for the caller to close.
    pub fn expired(&mut self, now: Instant) -> Vec<(u64, T)> {
        let mut expired = Vec::new();
        while self.waiting.front().is_some_and(|w| w.deadline <= now) {
            if let Some(waiting) = self.waiting.pop_front() {
                expired.push((waiting.connection, waiting.stage));
            }
        }
        expired
    }

    /// The earliest deadline of those waiting: when [`AdmissionQueue::expired`] next has
    /// something to take out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.waiting.front().map(|w| w.deadline)
    }

    /// How many connections wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// Where a waiting connection of a socket is.
enum Stage {
    /// In the ZMTP handshake: closed by aborting it.
    Handshaking(AbortHandle),
    /// Connected under this identity, its frame limit not raised yet.
    Connected(PeerIdentity),
}

/// A socket's queue of accepted connections waiting for admission, and whether its sweeper
/// runs: one task per socket that closes each connection at its deadline, there while any
/// waits. (A sleeping task per connection, alive for the whole deadline after the connection
/// was gone, grew a driver by tens of MB under a reconnect loop.)
#[derive(Default)]
pub(crate) struct Unadmitted(Mutex<Sweep>);

#[derive(Default)]
struct Sweep {
    queue: AdmissionQueue<Stage>,
    sweeping: bool,
}

impl Unadmitted {
    /// Enters `connection` (accepted from `source`, its ZMTP handshake stopped by `abort`) to
    /// be admitted within `allowance`, closing waiting ones while `max` or more wait.
    pub(crate) fn enter(
        &self,
        backend: &Arc<dyn MultiPeerBackend>,
        connection: u64,
        abort: AbortHandle,
        source: Option<IpAddr>,
        max: usize,
        allowance: Duration,
    ) {
        // A century stands for any longer allowance: the clock cannot hold every `Duration`.
        let deadline = Instant::now() + allowance.min(Duration::from_secs(100 * 365 * 86_400));
        let evicted = {
            let mut sweep = self.0.lock();
            let evicted = sweep.queue.enter(
                connection,
                source,
                Stage::Handshaking(abort),
                deadline,
                max,
                |connection, stage| waiting(backend.as_ref(), connection, stage),
            );
            if !sweep.sweeping {
                sweep.sweeping = true;
                async_rt::task::spawn(sweep_deadlines(Arc::downgrade(backend)));
            }
            evicted
        };
        // Closed outside the lock: closing a peer takes the socket's own locks.
        for (connection, stage) in evicted {
            close(backend.as_ref(), connection, stage);
        }
    }

    /// `connection` finished its ZMTP handshake as `peer`; `false` if it was taken out
    /// meanwhile (to make room, or at its deadline: its handshake ended before the abort
    /// could stop it), and then it is closed here, or it would escape the cap.
    pub(crate) fn connected(
        &self,
        backend: &dyn MultiPeerBackend,
        connection: u64,
        peer: PeerIdentity,
    ) -> bool {
        let stage = Stage::Connected(peer.clone());
        if self.0.lock().queue.advance(connection, stage) {
            return true;
        }
        // Its own identity, unless it went away meanwhile and another took it.
        let frame_limits = &backend.socket_options().frame_limits;
        if frame_limits.held_by(&peer, connection).is_some() {
            backend.peer_disconnected(&peer);
        }
        false
    }

    /// `connection` is gone (its handshake failed or was aborted).
    pub(crate) fn leave(&self, connection: u64) {
        self.0.lock().queue.leave(connection);
    }
}

/// Whether `connection` still waits for admission: in its handshake, or connected and not
/// admitted yet.
fn waiting(backend: &dyn MultiPeerBackend, connection: u64, stage: &Stage) -> bool {
    match stage {
        Stage::Handshaking(_) => true,
        Stage::Connected(peer) => unadmitted(backend, connection, peer),
    }
}

/// Whether `connection` still holds `peer`'s identity with the initial frame limit. One that
/// went away holds nothing, even when a newer connection took its identity.
fn unadmitted(backend: &dyn MultiPeerBackend, connection: u64, peer: &PeerIdentity) -> bool {
    let options = backend.socket_options();
    let limit = options.frame_limits.held_by(peer, connection);
    backend.has_peer(peer) && limit.is_some() && limit == options.initial_frame_size
}

/// Closes `connection` if it still waits, and only it: never a newer one under its identity.
fn close(backend: &dyn MultiPeerBackend, connection: u64, stage: Stage) {
    match stage {
        Stage::Handshaking(abort) => abort.abort(),
        Stage::Connected(peer) => {
            if unadmitted(backend, connection, &peer) {
                backend.peer_disconnected(&peer);
            }
        }
    }
}

/// The sweeper: closes each waiting connection of the socket at its deadline, sleeping until
/// the earliest; ends when none waits (the next connection entered starts another) or the
/// socket is gone.
async fn sweep_deadlines(backend: Weak<dyn MultiPeerBackend>) {
    loop {
        let next = {
            let Some(backend) = backend.upgrade() else {
                return;
            };
            let unadmitted = &backend.socket_options().unadmitted;
            let (expired, next) = {
                let mut sweep = unadmitted.0.lock();
                let expired = sweep.queue.expired(Instant::now());
                let next = sweep.queue.next_deadline();
                sweep.sweeping = next.is_some();
                (expired, next)
            };
            for (connection, stage) in expired {
                log::debug!("closing connection {}: not admitted in time", connection);
                close(backend.as_ref(), connection, stage);
            }
            next
        };
        let Some(next) = next else {
            return;
        };
        async_rt::task::sleep(next.saturating_duration_since(Instant::now())).await;
    }
}
