//! The driver's session layer, sans-IO: admission by the mutual handshake, then a session per
//! admitted peer whose frames are sealed and checked. The link thread feeds it frames, timer
//! ticks and disconnections; it answers with frames to send and events for the coordinator.
//! Nothing a peer sends before it proved the token reaches the coordinator except as a count.
//!
//! Before admission a connection gets what a handshake takes and no more: one hello, one
//! proof, one answer. A refusal no retry can change (another build, a name no driver admits)
//! carries a MAC over the hello it answers, so that a worker holding the token knows it is
//! final; the others (a name in use, a proof that does not check, another protocol version)
//! go without, and a worker tries again within its reconnect window. A second hello, anything
//! after its refusal, or more frames than a handshake sends closes it; when the cap on open handshakes is reached the oldest one of
//! the source (the host) holding the most is closed to make room, so connections that never
//! prove anything cannot keep a worker out, however fast one host opens them.
//!
//! A hello under the name of an open session, on another connection, waits a moment for its
//! verdict: the transport may read a reconnecting worker's new hello before its old
//! connection's close (a driver resumed from a stop). If that connection closes meanwhile the
//! worker is told the name is free again and joins under it; if not, the name is in use. The
//! session under the name is never ended for such a hello.
//!
//! A peer's routing identity is only where its frames come from. A frame from an admitted
//! peer's identity that does not open under that peer's session is dropped; a new hello under
//! that identity starts a handshake of its own, and the session is replaced only when that
//! handshake proves the token.
//!
//! Each session has an id of its own, never reused: the coordinator addresses a frame to a
//! session, not to a name, so what it meant for an earlier session under a name (queued before
//! it heard that session end) is dropped and counted, never sealed for the next one. The
//! coordinator also ends sessions ([`Gate::end`]): a peer it let go (a join turned back, a
//! worker declared lost or excluded) keeps nothing here. Its keys are forgotten at once, its
//! connection hears nothing more and is closed a moment later (room for the last word queued
//! before the end), so that it comes back only by a fresh handshake on a fresh connection.
//!
//! Even an admitted peer's messages are kept for the coordinator only as far as it asked for
//! them: the coordinator may read nothing for a while (its own work between two steps), and
//! the link holds what arrives meanwhile. A result keeps its body only if it answers a task
//! the session was sent and has not answered yet, a peer's text is cut to 4 KiB
//! ([`MAX_KEPT_TEXT`]); what else a peer sends is small.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::admitted_hellos::AdmittedHellos;
use super::frame::{self, FrameError, KIND_PLAIN, MAX_PLAIN_FRAME};
use super::session::{self, Direction, Opener, Sealer, SessionError, Verifier};
use crate::auth::{self, Token, Transcript};
use crate::protocol::{
    name_problem, Hello, ToDriver, ToWorker, MAX_ADMITTED_NAME, NAME_FREED, NAME_TAKEN,
};

/// Bytes of the nonces of the handshake.
pub const NONCE_LEN: usize = 32;

/// What was dropped, counted in the run's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A message from a peer without a session: a sealed frame, or a plain one other than
    /// the handshake's.
    Unauthenticated,
    /// A frame under an open session's identity that is no sealed message of that session:
    /// one that does not open, a plain message other than a new handshake's (a hello again
    /// while that handshake is open ends it), a plain frame over the handshake's limit, or a
    /// handshake message sealed inside it. A worker's bug, or anyone on the path; the
    /// connection stays the session's.
    Unsealed,
    /// A sealed frame whose tag did not verify, or that its sender's key sealed in the wrong
    /// space (a heartbeat outside the heartbeat space, another message inside it).
    BadMac,
    /// A sealed frame replayed or out of order.
    Replayed,
    /// A handshake frame over the small pre-admission limit, from a peer without a session
    /// (under a session's identity such a frame is [`Refusal::Unsealed`]).
    OversizedHandshake,
    /// A handshake not finished before its deadline.
    HandshakeTimeout,
    /// A handshake closed to make room for a newer one: the cap on unadmitted peers was
    /// reached and it was the oldest of the host holding the most (one under an open
    /// session's identity ends, its connection stays the session's), or a new one under a
    /// session's identity dropped, as it makes no room at others' expense.
    TooManyStrangers,
    /// A connection without a session closed for sending more than a handshake: a second
    /// hello, anything after its refusal, or more frames than a handshake takes (4). Under a
    /// session's identity a second hello is [`Refusal::Unsealed`]: nothing is closed.
    CutOff,
    /// A frame to or from a session that has ended: an order the coordinator addressed to a
    /// session closed or replaced before it heard so, or what a peer it let go sent before
    /// its connection closed.
    SessionEnded,
    /// A peer's events dropped by the link because 4096 of them waited for the coordinator
    /// already (the driver link's `MAX_UNREAD`): a flood while the driver was busy. Said once
    /// per flood.
    Flooded,
}

/// Which session of a peer: a new one for every admission, never reused in a run.
pub(crate) type SessionId = u64;

/// How long a connection whose session the coordinator ended stays open, at least, hearing
/// nothing: room for the last word queued before the end (why it was let go) to leave, since
/// closing a connection drops what is queued for it. The link looks at each heartbeat, so the
/// connection closes up to a heartbeat period later.
pub(crate) const LAST_WORD_LINGER: Duration = Duration::from_secs(1);

/// How long a connection whose session the coordinator ended stays open, at most, while what
/// was queued for it is not written yet: a worker stopped (SIGSTOP) while a partition was on
/// its way reads nothing, so its why waits behind the partition; closed after one second, it
/// was dropped, and the worker, resumed, found its connection cut mid-frame and exited instead
/// of joining again. Past this bound it holds the driver's copy of that queue no longer.
pub(crate) const LAST_WORD_MAX_LINGER: Duration = Duration::from_secs(60);

/// What the gate hands to the coordinator.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A checked message of an admitted peer's session.
    Message {
        peer: String,
        message: ToDriver,
        bytes: usize,
        /// When the link received it: a result's round trip ends here, not when the
        /// coordinator, busy with an update, gets to it.
        received: Instant,
    },
    /// A peer proved the token: its session is open (a previous one of the same identity is
    /// replaced).
    Admitted {
        peer: String,
        session: SessionId,
        hello: Hello,
        /// Where its connection comes from (see [`Source`]).
        source: Source,
    },
    /// Nothing for the coordinator: a peer was sent a challenge, or cut off (see
    /// [`Gate::drain_closing`]).
    Handled,
    /// A peer was refused at admission and told why; `source` is where its connection comes
    /// from (see [`Source`]).
    Refused {
        peer: String,
        reason: String,
        source: Source,
    },
    /// A peer left after the driver's challenge, without its proof: a worker holding another
    /// token leaves there. `source` is where its connection came from.
    LeftUnproven { peer: String, source: Source },
    /// A frame that failed its checks; already logged.
    Rejected {
        peer: String,
        error: frame::FrameError,
    },
    /// A frame dropped by the session layer, counted.
    Dropped { peer: String, why: Refusal },
    /// The transport saw the peer go away.
    Disconnected { peer: String },
    /// This many more connections were closed by the transport before their ZeroMQ handshake
    /// finished (no greeting, or none in time): they never became peers the gate could see.
    Unshaken { connections: u64 },
}

/// Settings of the gate.
pub(crate) struct GateConfig {
    pub run_id: u64,
    pub token: Token,
    pub fingerprint: u64,
    pub encrypt: bool,
    pub max_frame: usize,
    pub max_strangers: usize,
    pub handshake_deadline: Duration,
}

/// Where a connection comes from: the address its TCP connection came from (an IPv6 one cut
/// to its /64), as the transport saw it; `None` when the transport no longer knows it (the
/// connection closed meanwhile). Never anything the peer said.
pub(crate) type Source = Option<IpAddr>;

/// A [`Source`] as a log line shows it: an IPv4 address, an IPv6 one as its /64 (`fd00:1::/64`),
/// `unknown` when the transport no longer knew it.
pub(crate) fn source_text(source: Source) -> String {
    source.map_or_else(|| "unknown".into(), address_text)
}

/// A known source's address as the log and the worker table show it: an IPv4 address, an
/// IPv6 one as its /64.
pub(crate) fn address_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("{ip}/64"),
    }
}

struct Stranger {
    hello: Hello,
    driver_nonce: [u8; NONCE_LEN],
    since: Instant,
    source: Source,
}

/// Frames a connection may send before it is admitted: a worker sends two (its hello and
/// its proof); the rest is slack.
pub const STRANGER_FRAMES: u32 = 4;

/// A connection not admitted within this many handshake deadlines of its acceptance is
/// closed by the transport (30 s by default): a worker is admitted within one deadline of its
/// Hello, and says Hello as soon as it is connected. A connection's count of frames is kept
/// as long.
pub const ADMISSION_DEADLINES: u32 = 6;

/// What a connection without a session has sent: counted against [`STRANGER_FRAMES`].
struct Unproven {
    frames: u32,
    since: Instant,
}

struct Session {
    id: SessionId,
    /// The nonce of the hello that opened it: the same hello again on another connection is
    /// a replay (see [`Gate::replays`]).
    hello_nonce: Vec<u8>,
    sealer: Sealer,
    opener: Opener,
    /// The sequence numbers of the tasks sealed for it and not answered yet (by a result or a
    /// failure): the answers whose bodies are kept for the coordinator.
    owed: HashSet<u64>,
}

/// The most of a failure's or a load failure's text the coordinator is given (a log line or
/// an error shows 400 characters of it): a peer's text is not kept whole, whatever its size.
pub(crate) const MAX_KEPT_TEXT: usize = 4096;

impl Session {
    /// What of an admitted peer's `message` the coordinator is given, which holds it until it
    /// reads it (a driver busy between two steps reads nothing meanwhile): a result's body
    /// only for a task it was sent and has not answered yet; any other result (a lie: a
    /// worker answers each task it is sent once) comes without its body, to be refused as a
    /// bad result; texts cut to [`MAX_KEPT_TEXT`] bytes. So what waits for the coordinator
    /// is bounded by what the peer was asked for, however much it sends.
    fn keep(&mut self, mut message: ToDriver) -> ToDriver {
        match &mut message {
            ToDriver::Result { seq, body, .. } if !self.owed.remove(seq) => {
                *body = crate::protocol::ResultBody::default();
            }
            ToDriver::Failed { seq, message } => {
                self.owed.remove(seq);
                cut_to_kept(message);
            }
            ToDriver::DataFailed { message, .. } => cut_to_kept(message),
            _ => {}
        }
        message
    }
}

/// Cuts `text` to at most [`MAX_KEPT_TEXT`] bytes, at a character's boundary.
fn cut_to_kept(text: &mut String) {
    if text.len() > MAX_KEPT_TEXT {
        let mut cut = MAX_KEPT_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.shrink_to_fit();
    }
}

/// Admission and sessions of the driver's peers.
pub(crate) struct Gate {
    config: GateConfig,
    /// The source of a peer's connection, by its identity.
    sources: Box<dyn Fn(&str) -> Source>,
    strangers: HashMap<String, Stranger>,
    sessions: HashMap<String, Session>,
    /// The id of the last session opened.
    last_session: SessionId,
    /// Connections whose session the coordinator ended, and when each is closed: until then
    /// they hear nothing and their names stay routed to them, so a newcomer under one is told
    /// to join again under another.
    let_go: HashMap<String, Instant>,
    /// Frames of connections without a session, within a handshake deadline.
    unproven: HashMap<String, Unproven>,
    /// Connections to close, and why (see [`Gate::drain_closing`]).
    closing: Vec<(String, Refusal)>,
    /// Handshakes under an open session's identity ended beside a frame's answer, and why
    /// (see [`Gate::drain_ended_handshakes`]): their connections stay the sessions'.
    ended_handshakes: Vec<(String, Refusal)>,
    /// The nonces of the latest admitted hellos, kept after their connections closed: the
    /// same hello again is a replay (a worker draws a fresh nonce for every connection).
    admitted_hellos: AdmittedHellos,
    /// Connections whose hello names a worker with an open session, by their identity: the
    /// name they asked for and when (see [`Gate::next_freed`]).
    awaiting_name: HashMap<String, (String, Instant)>,
    /// Connections of `awaiting_name` whose name's connection closed: to be told it is free.
    freed: Vec<(String, String)>,
}

/// The refusal of a hello under `name` while another connection's session holds it: not final
/// (the worker joins under a fresh name), so said without a MAC.
fn name_in_use(name: &str) -> String {
    format!(
        "{NAME_TAKEN} {name} (a worker still running, or stopped, under it): give this one \
         another name, or end the other"
    )
}

/// What [`Gate::screen`] makes of a frame.
pub(crate) enum Screened {
    /// Its answer.
    Done(Inbound),
    /// A frame to open under `peer`'s open `session`, with that session's `verifier`.
    Sealed {
        peer: String,
        session: SessionId,
        verifier: Verifier,
    },
}

/// A sealed frame's stamp and message (or why its body does not decode), once its tag
/// verified; not accepted yet.
pub(crate) type Verified = session::Verified<ToDriver>;

/// Checks a sealed frame's tag under a session's `verifier` and decodes its body, a heartbeat
/// in the heartbeat space only: pure, so that a large frame is opened on another thread than
/// the gate's.
pub(crate) fn verify_sealed(verifier: &Verifier, bytes: &[u8]) -> Verified {
    verifier.verify_message(bytes)
}

/// Frames the gate wants sent: (peer, frame).
pub(crate) type Outbox = Vec<(String, Vec<u8>)>;

impl Gate {
    /// `sources` tells where a peer's connection comes from (the transport's table, or a
    /// test's fake).
    pub fn new(config: GateConfig, sources: impl Fn(&str) -> Source + 'static) -> Gate {
        Gate {
            config,
            sources: Box::new(sources),
            strangers: HashMap::new(),
            sessions: HashMap::new(),
            last_session: 0,
            let_go: HashMap::new(),
            unproven: HashMap::new(),
            closing: Vec::new(),
            ended_handshakes: Vec::new(),
            admitted_hellos: AdmittedHellos::default(),
            awaiting_name: HashMap::new(),
            freed: Vec::new(),
        }
    }

    /// A connection waiting for a name whose own connection has closed since, told so now
    /// (its answer in `out`): a worker back after the driver stopped, whose new hello the
    /// transport read before its old connection's close. It joins again under its name, as
    /// the transport now gives it, instead of under a fresh one.
    pub fn next_freed(&mut self, out: &mut Outbox) -> Option<Inbound> {
        let (peer, name) = self.freed.pop()?;
        let reason = format!(
            "{NAME_FREED}: {name}'s earlier connection closed after this one's hello came; \
             join again under it"
        );
        Some(self.refuse(peer, reason, out))
    }

    /// Connections the gate cut off since the last call: the link closes each (dropping
    /// what is queued for it) and counts it with its reason.
    pub fn drain_closing(&mut self) -> Vec<(String, Refusal)> {
        std::mem::take(&mut self.closing)
    }

    /// Handshakes under an open session's identity the gate ended since the last call, beside
    /// the answer to the frame that ended them (one made room for a newer handshake): the link
    /// counts each with its reason, closing nothing.
    pub fn drain_ended_handshakes(&mut self) -> Vec<(String, Refusal)> {
        std::mem::take(&mut self.ended_handshakes)
    }

    /// Closes `peer`'s connection, ending its handshake. A peer with a session keeps its
    /// connection: only its new handshake ends (what comes under its identity may have been
    /// put on the path by anyone), counted all the same.
    fn cut_off(&mut self, peer: String, why: Refusal) -> Inbound {
        self.strangers.remove(&peer);
        self.awaiting_name.remove(&peer);
        if self.sessions.contains_key(&peer) {
            self.ended_handshakes.push((peer, why));
            return Inbound::Handled;
        }
        self.unproven.remove(&peer);
        self.closing.push((peer, why));
        Inbound::Handled
    }

    /// Why a plain frame of `peer` that no handshake of it awaits is dropped: under an open
    /// session's identity it is out of place there, told apart from a stranger's.
    fn unauthenticated(&self, peer: &str) -> Refusal {
        if self.sessions.contains_key(peer) {
            Refusal::Unsealed
        } else {
            Refusal::Unauthenticated
        }
    }

    /// Counts one more frame of `peer`, a connection without a session; whether it is
    /// still within what a handshake sends.
    fn within_handshake(&mut self, peer: &str, now: Instant) -> bool {
        let unproven = self.unproven.entry(peer.to_owned()).or_insert(Unproven {
            frames: 0,
            since: now,
        });
        unproven.frames += 1;
        unproven.frames <= STRANGER_FRAMES
    }

    /// The coordinator let go of `peer`'s `session` (a join turned back, a worker declared lost
    /// or excluded): its keys are forgotten now, its connection hears nothing more and is
    /// closed once [`LAST_WORD_LINGER`] passed (see [`Gate::let_go_due`]). Whether that session
    /// was open: a session closed or replaced meanwhile is left as it is.
    pub fn end(&mut self, peer: &str, session: SessionId, now: Instant) -> bool {
        if self
            .sessions
            .get(peer)
            .is_none_or(|open| open.id != session)
        {
            return false;
        }
        self.sessions.remove(peer);
        self.unproven.remove(peer);
        // A handshake its connection began again ends too: nothing it sends is heard now,
        // and left open it would count, at the close, as a worker that left unproven.
        self.strangers.remove(peer);
        self.let_go.insert(peer.to_owned(), now + LAST_WORD_LINGER);
        true
    }

    /// Connections of peers let go whose time to close has come: the link closes each. That is
    /// once [`LAST_WORD_LINGER`] passed and `written(peer)` says what was queued for it left
    /// (closing drops the queue, its last word with it), or at [`LAST_WORD_MAX_LINGER`] in any
    /// case.
    pub fn let_go_due(&mut self, now: Instant, written: impl Fn(&str) -> bool) -> Vec<String> {
        let most = LAST_WORD_MAX_LINGER - LAST_WORD_LINGER;
        let due: Vec<String> = self
            .let_go
            .iter()
            .filter(|(peer, &at)| now >= at && (now >= at + most || written(peer)))
            .map(|(peer, _)| peer.clone())
            .collect();
        for peer in &due {
            self.let_go.remove(peer);
        }
        due
    }

    /// Peers with an open session, and its id.
    pub fn sessions(&self) -> impl Iterator<Item = (&String, SessionId)> {
        self.sessions
            .iter()
            .map(|(peer, session)| (peer, session.id))
    }

    /// Peers the link may still owe frames: those with a session and those let go, whose
    /// last words may be queued.
    pub fn addressed(&self) -> impl Iterator<Item = &String> {
        self.sessions.keys().chain(self.let_go.keys())
    }

    /// Peers in the middle of a handshake.
    #[cfg(test)]
    pub fn strangers(&self) -> usize {
        self.strangers.len()
    }

    /// A frame from `peer`: [`Gate::screen`], then, for a frame of its session, its opening,
    /// all here (the link opens a large frame elsewhere).
    #[cfg(test)]
    pub fn on_frame(
        &mut self,
        peer: &str,
        bytes: &[u8],
        now: Instant,
        out: &mut Outbox,
    ) -> Inbound {
        match self.screen(peer, bytes, now, out) {
            Screened::Done(event) => event,
            Screened::Sealed {
                peer,
                session,
                verifier,
            } => self.open_here(peer, session, &verifier, bytes, now),
        }
    }

    /// A frame of `peer`'s `session` screened to be opened ([`Gate::screen`]), opened here:
    /// [`verify_sealed`], then [`Gate::opened`].
    pub fn open_here(
        &mut self,
        peer: String,
        session: SessionId,
        verifier: &Verifier,
        bytes: &[u8],
        now: Instant,
    ) -> Inbound {
        let verified = verify_sealed(verifier, bytes);
        self.opened(peer, session, verified, bytes.len(), now)
    }

    /// What the gate makes of a frame from `peer` without opening it: the answer, or that it
    /// is to be opened under the peer's open `session` ([`verify_sealed`], then
    /// [`Gate::opened`]), here or, for a large frame, on another thread.
    pub fn screen(&mut self, peer: &str, bytes: &[u8], now: Instant, out: &mut Outbox) -> Screened {
        let peer = peer.to_owned();
        Screened::Done(match self.screen_event(peer, bytes, now, out) {
            Ok(event) => event,
            Err(peer) => {
                let open = &self.sessions[&peer];
                return Screened::Sealed {
                    session: open.id,
                    verifier: open.opener.verifier().clone(),
                    peer,
                };
            }
        })
    }

    /// [`Gate::screen`]'s answer, or `Err` with the peer whose session is to open the frame.
    fn screen_event(
        &mut self,
        peer: String,
        bytes: &[u8],
        now: Instant,
        out: &mut Outbox,
    ) -> Result<Inbound, String> {
        if self.let_go.contains_key(&peer) {
            // Let go by the coordinator: back only by a fresh handshake, on a fresh connection.
            // What it still sends is dropped until its linger ends, not cut off earlier:
            // closing a connection drops what is queued for it, and the last word (why it was
            // let go) is queued, sent by the socket's writer when it next runs. A worker still
            // sending results when it is excluded must hear why, or it would rejoin as if lost.
            return Ok(Inbound::Dropped {
                peer,
                why: Refusal::SessionEnded,
            });
        }
        let in_session = self.sessions.contains_key(&peer);
        if !in_session && !self.within_handshake(&peer, now) {
            return Ok(self.cut_off(peer, Refusal::CutOff));
        }
        let run = match frame::open(bytes, self.config.max_frame) {
            Ok((run, _)) => run,
            // Inside a session a frame that does not open is dropped, whatever its header
            // claims: only the handshake hears about versions, or one unsealed frame from
            // anyone on the path would end a worker's session.
            Err(_) if in_session => {
                return Ok(Inbound::Dropped {
                    peer,
                    why: Refusal::Unsealed,
                })
            }
            Err(error @ FrameError::Version { .. }) => {
                return Ok(self.refuse(peer, error.to_string(), out))
            }
            Err(error) => return Ok(Inbound::Rejected { peer, error }),
        };
        if frame::kind(bytes) == Some(KIND_PLAIN) {
            if bytes.len() > MAX_PLAIN_FRAME {
                // Under a session's identity it is dropped undecoded all the same, but as a
                // plain frame out of place in that session (anyone on its path can send one),
                // not as a stranger's handshake.
                let why = if in_session {
                    Refusal::Unsealed
                } else {
                    Refusal::OversizedHandshake
                };
                return Ok(Inbound::Dropped { peer, why });
            }
            let plain = frame::decode::<ToDriver>(bytes, self.config.run_id, true, MAX_PLAIN_FRAME);
            return Ok(match plain {
                Ok(ToDriver::Hello(hello)) => self.hello(peer, hello, now, out),
                Ok(ToDriver::Proof { mac }) => self.proof(peer, &mac, out),
                Ok(_) => Inbound::Dropped {
                    why: self.unauthenticated(&peer),
                    peer,
                },
                Err(error) => Inbound::Rejected { peer, error },
            });
        }
        if run != self.config.run_id {
            return Ok(Inbound::Rejected {
                peer,
                error: FrameError::ForeignRun {
                    got: run,
                    expected: self.config.run_id,
                },
            });
        }
        if !self.sessions.contains_key(&peer) {
            return Ok(Inbound::Dropped {
                peer,
                why: Refusal::Unauthenticated,
            });
        }
        Err(peer)
    }

    /// Where a frame [`Gate::screen`] found sealed for `peer`'s `session` goes, `verified`
    /// (by [`verify_sealed`], here or elsewhere): its sequence number is accepted only if that
    /// session is still open, and only above the last one.
    pub fn opened(
        &mut self,
        peer: String,
        session: SessionId,
        verified: Verified,
        bytes: usize,
        now: Instant,
    ) -> Inbound {
        let open = self
            .sessions
            .get_mut(&peer)
            .filter(|open| open.id == session);
        let Some(open) = open.filter(|_| !self.let_go.contains_key(&peer)) else {
            return Inbound::Dropped {
                peer,
                why: Refusal::SessionEnded,
            };
        };
        let decoded = verified.and_then(|(stamp, decoded)| {
            open.opener.accept(stamp)?;
            Ok(decoded)
        });
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(error) => {
                let why = match error {
                    SessionError::BadMac | SessionError::WrongSpace => Refusal::BadMac,
                    SessionError::Replayed { .. } => Refusal::Replayed,
                    SessionError::NotSealed => Refusal::Unsealed,
                };
                return Inbound::Dropped { peer, why };
            }
        };
        match decoded {
            Ok(ToDriver::Hello(_) | ToDriver::Proof { .. }) => Inbound::Dropped {
                peer,
                why: Refusal::Unsealed,
            },
            Ok(message) => Inbound::Message {
                message: open.keep(message),
                peer,
                bytes,
                received: now,
            },
            Err(error) => Inbound::Rejected { peer, error },
        }
    }

    /// Tells `peer` why it is refused; its next frame closes its connection. Unproven to the
    /// worker: one started with `--reconnect` tries again.
    fn refuse(&mut self, peer: String, reason: String, out: &mut Outbox) -> Inbound {
        let answer = ToWorker::Refused {
            reason: reason.clone(),
            mac: None,
        };
        self.last_word(peer, reason, &answer, out)
    }

    /// Refuses `peer` for a reason about its `hello` that no retry changes, with a MAC over
    /// that hello and the reason: a worker holding the token stops at once. The MAC covers
    /// the hello as read here, so a refusal of a hello altered on the way does not verify at
    /// the worker; a hello without a valid nonce gets none (its refusal could be replayed).
    fn refuse_for_good(
        &mut self,
        peer: String,
        hello: &Hello,
        reason: String,
        out: &mut Outbox,
    ) -> Inbound {
        let mac = (hello.nonce.len() == NONCE_LEN).then(|| {
            self.config.token.refusal_mac(&auth::Refusal {
                run_id: self.config.run_id,
                name: &hello.name,
                fingerprint: hello.fingerprint,
                worker_nonce: &hello.nonce,
                reason: &reason,
            })
        });
        let answer = ToWorker::Refused {
            reason: reason.clone(),
            mac: mac.map(Into::into),
        };
        self.last_word(peer, reason, &answer, out)
    }

    /// Sends `peer` its last answer before admission (a refusal, or word to join under
    /// another name), ending its handshake; its next frame closes its connection.
    fn last_word(
        &mut self,
        peer: String,
        reason: String,
        answer: &ToWorker,
        out: &mut Outbox,
    ) -> Inbound {
        self.strangers.remove(&peer);
        if let Some(unproven) = self.unproven.get_mut(&peer) {
            unproven.frames = STRANGER_FRAMES;
        }
        out.push((peer.clone(), frame::encode(self.config.run_id, answer)));
        let source = (self.sources)(&peer);
        Inbound::Refused {
            peer,
            reason,
            source,
        }
    }

    fn hello(&mut self, peer: String, hello: Hello, now: Instant, out: &mut Outbox) -> Inbound {
        if let Some(problem) = name_problem(&hello.name, MAX_ADMITTED_NAME) {
            return self.refuse_for_good(peer, &hello, problem, out);
        }
        if hello.name != peer && self.let_go.contains_key(&hello.name) {
            // A replacement (a restarted pod, say) under the name of a worker let go whose
            // connection is not closed yet: it joins again under a fresh name, as a lost
            // worker does, instead of being refused until that connection closes.
            let reason = format!(
                "the name {} is held by the open connection of a worker declared lost: join \
                 again under another",
                hello.name
            );
            let lost = ToWorker::Lost {
                reason: reason.clone(),
            };
            return self.last_word(peer, reason, &lost, out);
        }
        if hello.name != peer {
            let reason = if self.replays(&hello) {
                // Not a worker's doing (each of its connections draws a fresh nonce): someone
                // who recorded the hello on the path.
                format!(
                    "a replayed hello: its nonce is that of the hello of the connection under \
                     the name {} (recorded on the way and sent again)",
                    hello.name
                )
            } else if self.admitted_hellos.contains(&hello.nonce) {
                replayed_after_close(&hello.name)
            } else if self.sessions.contains_key(&hello.name)
                && (self.awaiting_name.contains_key(&peer)
                    || self.awaiting_name.len() < self.config.max_strangers)
            {
                // A worker reconnecting as the driver wakes from a stop: the transport may
                // read its new hello before its old connection's close, and that closing
                // comes a moment later. Its verdict waits for it, or for [`Gate::sweep`] to
                // find the name still in use: the session under it is never cut for a
                // hello, and the waiting ones are as many as handshakes at most.
                self.awaiting_name.entry(peer).or_insert((hello.name, now));
                return Inbound::Handled;
            } else {
                // Also what a second connection under an admitted worker's identity sees: the
                // transport gives it an identity of its own, so it never shadows the first.
                name_in_use(&hello.name)
            };
            // Not final (a worker joins under a fresh name), so without a MAC.
            return self.refuse(peer, reason, out);
        }
        if !self.sessions.contains_key(&peer) && self.admitted_hellos.contains(&hello.nonce) {
            // Its connection closed, so its name is free: left to the proof, it was refused
            // in words that did not say replay. Under a session's identity, a new handshake
            // is left to prove itself (what comes there may have been put on the path).
            return self.refuse(peer, replayed_after_close(&hello.name), out);
        }
        if hello.fingerprint != self.config.fingerprint {
            return self.refuse_for_good(
                peer,
                &hello,
                "it runs another build: its registered tasks differ from the driver's; \
                 run the same executable on every host"
                    .into(),
                out,
            );
        }
        if hello.nonce.len() != NONCE_LEN {
            return self.refuse(peer, "its hello carries no valid nonce".into(), out);
        }
        if self.strangers.contains_key(&peer) {
            // One challenge per connection: a hello again would keep its handshake open.
            if self.sessions.contains_key(&peer) {
                // Under a session's identity it may have been put on the path by anyone: its
                // handshake ends, the connection stays the session's, and the hello is a
                // plain frame out of place within that session, not a stranger cut off.
                self.strangers.remove(&peer);
                return Inbound::Dropped {
                    peer,
                    why: Refusal::Unsealed,
                };
            }
            return self.cut_off(peer, Refusal::CutOff);
        }
        if self.strangers.len() >= self.config.max_strangers && self.sessions.contains_key(&peer) {
            // A new handshake under a session's identity makes no room at others' expense.
            return Inbound::Dropped {
                peer,
                why: Refusal::TooManyStrangers,
            };
        }
        let source = (self.sources)(&peer);
        if self.strangers.len() >= self.config.max_strangers {
            // The oldest handshake of the host holding the most makes room: a worker's takes
            // one round trip, and a host that floods hellos faster only ends its own.
            if let Some(oldest) = self.oldest_of_largest_source(source) {
                self.cut_off(oldest, Refusal::TooManyStrangers);
            }
        }
        let driver_nonce: [u8; NONCE_LEN] = rand::random();
        let transcript = Transcript {
            run_id: self.config.run_id,
            name: &peer,
            fingerprint: hello.fingerprint,
            worker_nonce: &hello.nonce,
            driver_nonce: &driver_nonce,
            encrypt: self.config.encrypt,
        };
        let proof = self.config.token.driver_proof(&transcript);
        out.push((
            peer.clone(),
            frame::encode(
                self.config.run_id,
                &ToWorker::Challenge {
                    nonce: driver_nonce.to_vec().into(),
                    proof: proof.into(),
                    encrypt: self.config.encrypt,
                },
            ),
        ));
        self.strangers.insert(
            peer.clone(),
            Stranger {
                hello,
                driver_nonce,
                since: now,
                source,
            },
        );
        Inbound::Handled
    }

    /// Whether `hello`, from another connection than the one under its name, repeats the
    /// nonce of that connection's hello (its session's, or its handshake's under way): a
    /// worker draws a fresh nonce for every connection, so only a recording sends one again.
    fn replays(&self, hello: &Hello) -> bool {
        let session = self.sessions.get(&hello.name).map(|s| &s.hello_nonce[..]);
        let handshake = self.strangers.get(&hello.name).map(|s| &s.hello.nonce[..]);
        [session, handshake]
            .into_iter()
            .flatten()
            .any(|nonce| nonce == &hello.nonce[..])
    }

    /// The oldest open handshake of the source that holds the most, counting a newcomer from
    /// `newcomer`: the transport's own rule for its queue.
    fn oldest_of_largest_source(&self, newcomer: Source) -> Option<String> {
        let open = self.strangers.values().map(|s| (s.source, s.since));
        let at = zeromq::oldest_of_largest(open, newcomer)?;
        self.strangers.keys().nth(at).cloned()
    }

    fn proof(&mut self, peer: String, mac: &[u8], out: &mut Outbox) -> Inbound {
        let Some(stranger) = self.strangers.remove(&peer) else {
            return Inbound::Dropped {
                why: self.unauthenticated(&peer),
                peer,
            };
        };
        let transcript = Transcript {
            run_id: self.config.run_id,
            name: &peer,
            fingerprint: stranger.hello.fingerprint,
            worker_nonce: &stranger.hello.nonce,
            driver_nonce: &stranger.driver_nonce,
            encrypt: self.config.encrypt,
        };
        if !self.config.token.verify_worker(&transcript, mac) {
            // Unproven, not final: a worker with another token never gets here (it leaves at
            // the challenge), and a relay that altered a proof must not make a worker that
            // holds the token stop for good.
            return self.refuse(peer, "it does not hold the run's token".into(), out);
        }
        let key = self.config.token.session_key(&transcript);
        let encrypt = self.config.encrypt;
        self.unproven.remove(&peer);
        self.admitted_hellos.record(&stranger.hello.nonce);
        self.last_session += 1;
        let session = self.last_session;
        self.sessions.insert(
            peer.clone(),
            Session {
                id: session,
                hello_nonce: stranger.hello.nonce.to_vec(),
                sealer: Sealer::new(&key, Direction::ToWorker, encrypt),
                opener: Opener::new(&key, Direction::ToDriver, encrypt),
                owed: HashSet::new(),
            },
        );
        Inbound::Admitted {
            peer,
            session,
            hello: stranger.hello,
            source: stranger.source,
        }
    }

    /// Seals a frame from [`frame::encode`] for `peer`'s `session`; `None` when that session
    /// is not open (closed, ended, or replaced by a newer one under the same name).
    pub fn seal(&mut self, peer: &str, session: SessionId, frame: Vec<u8>) -> Option<Vec<u8>> {
        Some(self.reserve(peer, session, None)?.seal(frame))
    }

    /// The next data number of `peer`'s `session`, for a frame sealed later, elsewhere (see
    /// [`Sealer::reserve`]); with `task`, the order of that task: its answer is owed, as by
    /// [`seal_task`](Gate::seal_task). `None` when that session is not open.
    pub fn reserve(
        &mut self,
        peer: &str,
        session: SessionId,
        task: Option<u64>,
    ) -> Option<session::Reserved> {
        let open = self.open_session(peer, session)?;
        if let Some(seq) = task {
            open.owed.insert(seq);
        }
        Some(open.sealer.reserve(session::Space::Data))
    }

    /// Whether `peer`'s `session` is still open: a frame sealed elsewhere for it goes only then.
    pub fn is_open(&self, peer: &str, session: SessionId) -> bool {
        self.sessions
            .get(peer)
            .is_some_and(|open| open.id == session)
    }

    /// [`seal`](Gate::seal) for a heartbeat's frame, in the heartbeat space.
    pub fn seal_beat(&mut self, peer: &str, session: SessionId, frame: Vec<u8>) -> Option<Vec<u8>> {
        Some(self.open_session(peer, session)?.sealer.seal_beat(frame))
    }

    /// `peer`'s `session`, if it is open.
    fn open_session(&mut self, peer: &str, session: SessionId) -> Option<&mut Session> {
        self.sessions
            .get_mut(peer)
            .filter(|open| open.id == session)
    }

    /// [`seal`](Gate::seal) for the order of task `seq`: its answer is owed (see
    /// [`Session::keep`]).
    pub fn seal_task(
        &mut self,
        peer: &str,
        session: SessionId,
        seq: u64,
        frame: Vec<u8>,
    ) -> Option<Vec<u8>> {
        Some(self.reserve(peer, session, Some(seq))?.seal(frame))
    }

    /// Handshakes past their deadline are dropped; a connection's count of frames is
    /// forgotten once the transport has closed it for not being admitted in time (its
    /// closing may have gone unheard: a closed connection's count must not outlive it).
    /// A hello waiting for a name held by an open session is refused past half a
    /// deadline, as a name in use (the worker is not yet tired of waiting for an answer).
    pub fn sweep(&mut self, now: Instant, out: &mut Outbox) -> Vec<Inbound> {
        let deadline = self.config.handshake_deadline;
        let waited: Vec<String> = self
            .awaiting_name
            .iter()
            .filter(|(_, (_, since))| now.duration_since(*since) >= deadline / 2)
            .map(|(peer, _)| peer.clone())
            .collect();
        let mut events = Vec::new();
        for peer in waited {
            let (name, _) = self.awaiting_name.remove(&peer).expect("listed");
            events.push(self.refuse(peer, name_in_use(&name), out));
        }
        let kept = deadline * ADMISSION_DEADLINES;
        self.unproven
            .retain(|_, unproven| now.duration_since(unproven.since) <= kept);
        let late: Vec<String> = self
            .strangers
            .iter()
            .filter(|(_, s)| now.duration_since(s.since) > deadline)
            .map(|(peer, _)| peer.clone())
            .collect();
        events.extend(late.into_iter().map(|peer| {
            self.strangers.remove(&peer);
            Inbound::Dropped {
                peer,
                why: Refusal::HandshakeTimeout,
            }
        }));
        events
    }

    /// Where the connection of `peer`, in its handshake, comes from: `None` without a
    /// handshake under way.
    pub fn handshake_source(&self, peer: &str) -> Option<Source> {
        self.strangers.get(peer).map(|s| s.source)
    }

    /// The peer's connection closed: its session and handshake end. Returns whether it was
    /// challenged and left without its proof, as a worker holding another token does (it
    /// finds the driver's proof wrong and answers nothing).
    /// Hellos waiting for its name hear it is free ([`Gate::next_freed`]).
    pub fn forget(&mut self, peer: &str) -> bool {
        if self.sessions.remove(peer).is_some() && !self.let_go.contains_key(peer) {
            let waiting = self
                .awaiting_name
                .iter()
                .filter(|(_, (name, _))| name == peer);
            let waiting: Vec<String> = waiting.map(|(waiting, _)| waiting.clone()).collect();
            for waiting in waiting {
                self.awaiting_name.remove(&waiting);
                self.freed.push((waiting, peer.to_owned()));
            }
        }
        self.awaiting_name.remove(peer);
        self.freed.retain(|(waiting, _)| waiting != peer);
        self.let_go.remove(peer);
        self.unproven.remove(peer);
        self.strangers.remove(peer).is_some()
    }
}

/// Why a hello whose nonce is that of an admitted hello whose connection closed is refused.
fn replayed_after_close(name: &str) -> String {
    format!(
        "a replayed hello: its nonce is that of the hello of an earlier connection under the \
         name {name}, admitted and since closed (recorded on the way and sent again)"
    )
}

/// Why a worker leaves a driver whose proof does not verify with its token.
const DRIVER_PROOF_WRONG: &str = "the driver's proof does not match this worker's token: the \
     driver and this worker hold different tokens, or this is not the run's driver";

/// The worker's half of the handshake: checks the driver's proof and returns the worker's
/// proof with the session's sealer and opener, or why the driver is not to be trusted.
pub(crate) fn answer_challenge(
    token: &Token,
    transcript: &Transcript<'_>,
    driver_proof: &[u8],
) -> Result<(Vec<u8>, Sealer, Opener), String> {
    if transcript.driver_nonce.len() != NONCE_LEN {
        return Err("the driver's challenge carries no valid nonce".into());
    }
    if !token.verify_driver(transcript, driver_proof) {
        return Err(DRIVER_PROOF_WRONG.into());
    }
    let key = token.session_key(transcript);
    Ok((
        token.worker_proof(transcript),
        Sealer::new(&key, Direction::ToDriver, transcript.encrypt),
        Opener::new(&key, Direction::ToWorker, transcript.encrypt),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: u64 = 99;
    const FINGERPRINT: u64 = 1234;

    /// Why the gate dropped a frame, if it dropped it (the peer's name aside).
    fn dropped_for(event: &Inbound) -> Option<Refusal> {
        match event {
            Inbound::Dropped { why, .. } => Some(*why),
            _ => None,
        }
    }

    /// A gate with room for two handshakes, whose peers all come from one source.
    fn gate(token: &Token, encrypt: bool) -> Gate {
        gate_with_sources(token, encrypt, |_| None)
    }

    /// A gate whose peers named `x…` come from 10.0.0.2 ([`source_of_x`]), the others from
    /// 10.0.0.1.
    fn gate_of_two_hosts(token: &Token) -> Gate {
        gate_with_sources(token, false, |peer| {
            let host = if peer.starts_with('x') { 2 } else { 1 };
            Some(std::net::Ipv4Addr::new(10, 0, 0, host).into())
        })
    }

    fn gate_with_sources(
        token: &Token,
        encrypt: bool,
        sources: impl Fn(&str) -> Source + 'static,
    ) -> Gate {
        Gate::new(
            GateConfig {
                run_id: RUN,
                token: token.clone(),
                fingerprint: FINGERPRINT,
                encrypt,
                max_frame: 1 << 20,
                max_strangers: 2,
                handshake_deadline: Duration::from_secs(5),
            },
            sources,
        )
    }

    /// A worker's side of the wire, for the tests.
    struct Peer {
        name: String,
        token: Token,
        nonce: [u8; NONCE_LEN],
        session: Option<(Sealer, Opener)>,
    }

    impl Peer {
        fn new(name: &str, token: &Token) -> Peer {
            Peer {
                name: name.into(),
                token: token.clone(),
                nonce: rand::random(),
                session: None,
            }
        }

        fn hello(&self) -> Vec<u8> {
            frame::encode(
                frame::ANY_RUN,
                &ToDriver::Hello(Hello {
                    name: self.name.clone(),
                    fingerprint: FINGERPRINT,
                    pid: 1,
                    nonce: self.nonce.to_vec().into(),
                }),
            )
        }

        /// Answers the driver's challenge (with its token, right or wrong).
        fn answer(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
            let ToWorker::Challenge {
                nonce,
                proof,
                encrypt,
            } = frame::decode::<ToWorker>(challenge, RUN, false, MAX_PLAIN_FRAME).unwrap()
            else {
                panic!("not a challenge")
            };
            let transcript = Transcript {
                run_id: RUN,
                name: &self.name,
                fingerprint: FINGERPRINT,
                worker_nonce: &self.nonce,
                driver_nonce: &nonce,
                encrypt,
            };
            match answer_challenge(&self.token, &transcript, &proof) {
                Ok((mac, sealer, opener)) => {
                    self.session = Some((sealer, opener));
                    Ok(frame::encode(RUN, &ToDriver::Proof { mac: mac.into() }))
                }
                Err(e) => Err(e),
            }
        }

        fn seal(&mut self, message: &ToDriver) -> Vec<u8> {
            let (sealer, _) = self.session.as_mut().expect("admitted");
            sealer.seal(frame::encode(RUN, message))
        }
    }

    /// Whether `worker`'s session still takes its results: its result `seq`, sealed, passes
    /// the gate.
    fn session_goes_on(gate: &mut Gate, worker: &mut Peer, seq: u64, now: Instant) -> bool {
        let sealed = worker.seal(&result(seq));
        let name = worker.name.clone();
        matches!(
            gate.on_frame(&name, &sealed, now, &mut Outbox::new()),
            Inbound::Message { .. }
        )
    }

    fn result(seq: u64) -> ToDriver {
        ToDriver::Result {
            seq,
            compute_s: 0.0,
            cpu_s: 0.0,
            delay_s: 0.0,
            held_s: 0.0,
            body: vec![0; 4].into(),
        }
    }

    /// Sends `peer`'s hello at `now`; returns the gate's challenge to it.
    fn challenged(gate: &mut Gate, peer: &Peer, now: Instant) -> Vec<u8> {
        let mut out = Outbox::new();
        gate.on_frame(&peer.name, &peer.hello(), now, &mut out);
        out.pop().expect("a challenge").1
    }

    /// Runs the whole handshake of `peer`; returns the gate's last event.
    fn handshake(gate: &mut Gate, peer: &mut Peer) -> Inbound {
        let now = Instant::now();
        let mut out = Outbox::new();
        let event = gate.on_frame(&peer.name.clone(), &peer.hello(), now, &mut out);
        assert!(matches!(event, Inbound::Handled), "{event:?}");
        let (_, challenge) = out.pop().expect("a challenge");
        let proof = match peer.answer(&challenge) {
            Ok(proof) => proof,
            Err(_) => {
                // The peer found the driver's proof wrong: a real worker stops here.
                return Inbound::Refused {
                    peer: peer.name.clone(),
                    reason: DRIVER_PROOF_WRONG.into(),
                    source: None,
                };
            }
        };
        gate.on_frame(&peer.name.clone(), &proof, now, &mut out)
    }

    #[test]
    fn a_worker_with_the_token_is_admitted_and_its_frames_open() {
        for encrypt in [false, true] {
            let token = Token::random();
            let mut gate = gate(&token, encrypt);
            let mut worker = Peer::new("w0", &token);
            assert!(matches!(
                handshake(&mut gate, &mut worker),
                Inbound::Admitted { .. }
            ));
            let frame = worker.seal(&result(3));
            let event = gate.on_frame("w0", &frame, Instant::now(), &mut Outbox::new());
            assert!(
                matches!(
                    event,
                    Inbound::Message {
                        message: ToDriver::Result { seq: 3, .. },
                        ..
                    }
                ),
                "{event:?}"
            );
            // What the driver seals, the worker opens: its heartbeats in their own space.
            let (_, session) = gate.sessions().next().expect("a session");
            let sealed = gate
                .seal_beat("w0", session, frame::encode(RUN, &ToWorker::Heartbeat))
                .unwrap();
            let (_, opener) = worker.session.as_mut().unwrap();
            let (_, heard) = opener.open_message::<ToWorker>(&sealed).expect("opens");
            assert!(matches!(heard, Ok(ToWorker::Heartbeat)));
        }
    }

    #[test]
    fn a_worker_refuses_a_driver_without_the_token() {
        let mut fake = gate(&Token::random(), false);
        let mut worker = Peer::new("w0", &Token::random());
        let mut out = Outbox::new();
        fake.on_frame("w0", &worker.hello(), Instant::now(), &mut out);
        let (_, challenge) = out.pop().unwrap();
        assert!(
            worker.answer(&challenge).is_err(),
            "no proof for a fake driver"
        );
        assert!(worker.session.is_none());
    }

    #[test]
    fn a_challenged_peer_that_leaves_unproven_is_told_apart() {
        let token = Token::random();
        let mut gate = gate(&token, false);
        let mut out = Outbox::new();
        let mut worker = Peer::new("w0", &Token::random());
        gate.on_frame("w0", &worker.hello(), Instant::now(), &mut out);
        let (_, challenge) = out.pop().unwrap();
        let refused = worker.answer(&challenge).unwrap_err();
        assert!(refused.contains("hold different tokens"), "{refused}");
        assert!(gate.forget("w0"), "it left during its handshake");
        assert!(!gate.forget("w0"), "once");
        assert!(!gate.forget("never-seen"));
    }

    #[test]
    fn an_impostor_without_the_token_gets_no_session() {
        let token = Token::random();
        let mut gate = gate(&token, false);
        let mut impostor = Peer::new("w1", &Token::random());
        let now = Instant::now();
        let mut out = Outbox::new();
        gate.on_frame("w1", &impostor.hello(), now, &mut out);
        let (_, challenge) = out.pop().unwrap();
        assert!(
            impostor.answer(&challenge).is_err(),
            "its token is not the run's"
        );
        // It answers anyway, with a proof under its own token: refused.
        let ToWorker::Challenge { nonce, encrypt, .. } =
            frame::decode::<ToWorker>(&challenge, RUN, false, MAX_PLAIN_FRAME).unwrap()
        else {
            unreachable!()
        };
        let guessed = impostor.token.worker_proof(&Transcript {
            run_id: RUN,
            name: "w1",
            fingerprint: FINGERPRINT,
            worker_nonce: &impostor.nonce,
            driver_nonce: &nonce,
            encrypt,
        });
        let proof = frame::encode(
            RUN,
            &ToDriver::Proof {
                mac: guessed.into(),
            },
        );
        let event = gate.on_frame("w1", &proof, now, &mut out);
        assert!(matches!(event, Inbound::Refused { .. }), "{event:?}");
        assert_eq!(gate.sessions().count(), 0);
        // Plain messages other than the handshake, and sealed frames without a session, drop
        // (each from a connection of its own: the refused one's next frame closes it).
        for (connection, message) in ["0x01", "0x02", "0x03"].into_iter().zip([
            result(1),
            ToDriver::Heartbeat,
            ToDriver::Failed {
                seq: 1,
                message: "evil".into(),
            },
        ]) {
            let event = gate.on_frame(connection, &frame::encode(RUN, &message), now, &mut out);
            assert_eq!(
                dropped_for(&event),
                Some(Refusal::Unauthenticated),
                "{event:?}"
            );
            let mut forged = Sealer::new(&[0; 32], Direction::ToDriver, false);
            let event = gate.on_frame(
                connection,
                &forged.seal(frame::encode(RUN, &message)),
                now,
                &mut out,
            );
            assert_eq!(
                dropped_for(&event),
                Some(Refusal::Unauthenticated),
                "{event:?}"
            );
        }
    }

    #[test]
    fn frames_under_an_admitted_identity_must_open_in_its_session() {
        let token = Token::random();
        let mut gate = gate(&token, false);
        let mut worker = Peer::new("w1", &token);
        handshake(&mut gate, &mut worker);
        let now = Instant::now();
        let mut out = Outbox::new();
        // Forged under another key: bad MAC.
        let mut forged = Sealer::new(&[9; 32], Direction::ToDriver, false);
        let event = gate.on_frame(
            "w1",
            &forged.seal(frame::encode(RUN, &result(1))),
            now,
            &mut out,
        );
        assert_eq!(dropped_for(&event), Some(Refusal::BadMac), "{event:?}");
        // A real frame replayed: dropped the second time.
        let real = worker.seal(&result(1));
        assert!(matches!(
            gate.on_frame("w1", &real, now, &mut out),
            Inbound::Message { .. }
        ));
        let event = gate.on_frame("w1", &real, now, &mut out);
        assert_eq!(dropped_for(&event), Some(Refusal::Replayed), "{event:?}");
        // A new hello under w1 without the token leaves w1's session as it was.
        let mut impostor = Peer::new("w1", &Token::random());
        gate.on_frame("w1", &impostor.hello(), now, &mut out);
        let (_, challenge) = out.pop().unwrap();
        assert!(impostor.answer(&challenge).is_err());
        assert!(session_goes_on(&mut gate, &mut worker, 2, now));
        // A second hello under w1 while the first's handshake is open is dropped as out of
        // place in w1's session (anyone on the path could send it), no stranger cut off; once
        // that one expired, a handshake that proves the token replaces the session.
        let event = gate.on_frame("w1", &Peer::new("w1", &token).hello(), now, &mut out);
        assert_eq!(dropped_for(&event), Some(Refusal::Unsealed), "{event:?}");
        assert_eq!(
            gate.strangers(),
            0,
            "the open handshake ends, the session stays"
        );
        assert!(gate.drain_closing().is_empty());
        let mut restarted = Peer::new("w1", &token);
        assert!(matches!(
            handshake(&mut gate, &mut restarted),
            Inbound::Admitted { .. }
        ));
        let old = worker.seal(&result(3));
        let event = gate.on_frame("w1", &old, now, &mut out);
        assert_eq!(dropped_for(&event), Some(Refusal::BadMac), "{event:?}");
        let new = restarted.seal(&result(3));
        assert!(matches!(
            gate.on_frame("w1", &new, now, &mut out),
            Inbound::Message { .. }
        ));
    }

    #[test]
    fn unsealed_frames_under_a_session_are_told_apart_from_strangers() {
        // Under an open session's identity: a plain message, a proof no handshake awaits, a
        // handshake message sealed in the session. A worker's bug or anyone on the path, not
        // a stranger's frame.
        let token = Token::random();
        let mut gate = gate(&token, false);
        let mut worker = Peer::new("w0", &token);
        handshake(&mut gate, &mut worker);
        let now = Instant::now();
        let mut out = Outbox::new();
        let sealed_hello = worker.seal(&ToDriver::Hello(Hello {
            name: "w0".into(),
            fingerprint: FINGERPRINT,
            pid: 1,
            nonce: vec![0; NONCE_LEN].into(),
        }));
        for bytes in [
            frame::encode(RUN, &ToDriver::Heartbeat),
            frame::encode(
                RUN,
                &ToDriver::Proof {
                    mac: vec![0; 32].into(),
                },
            ),
            sealed_hello,
        ] {
            let event = gate.on_frame("w0", &bytes, now, &mut out);
            assert_eq!(dropped_for(&event), Some(Refusal::Unsealed), "{event:?}");
        }
        assert!(out.is_empty() && gate.drain_closing().is_empty());
        // The same plain messages from a peer without a session are a stranger's.
        for (peer, bytes) in [
            ("0x01", frame::encode(RUN, &ToDriver::Heartbeat)),
            (
                "0x02",
                frame::encode(
                    RUN,
                    &ToDriver::Proof {
                        mac: vec![0; 32].into(),
                    },
                ),
            ),
        ] {
            let event = gate.on_frame(peer, &bytes, now, &mut out);
            assert_eq!(
                dropped_for(&event),
                Some(Refusal::Unauthenticated),
                "{event:?}"
            );
        }
        // The session goes on.
        assert!(session_goes_on(&mut gate, &mut worker, 1, now));
    }

    #[test]
    fn an_oversized_plain_frame_under_a_session_is_out_of_place_there() {
        // Over the handshake's limit, under an open session's identity: no stranger's
        // handshake but a frame put on the session's path (or a worker's bug), dropped
        // undecoded and counted as such; the connection stays the session's.
        let token = Token::random();
        let mut gate = gate(&token, false);
        let mut worker = Peer::new("w0", &token);
        handshake(&mut gate, &mut worker);
        let now = Instant::now();
        let mut out = Outbox::new();
        let mut big = frame::encode(RUN, &ToDriver::Heartbeat);
        big.resize(MAX_PLAIN_FRAME + 1, 0);
        let event = gate.on_frame("w0", &big, now, &mut out);
        assert_eq!(dropped_for(&event), Some(Refusal::Unsealed), "{event:?}");
        assert!(out.is_empty() && gate.drain_closing().is_empty());
        assert!(gate.drain_ended_handshakes().is_empty());
        // From a peer without a session it is an oversized handshake frame.
        let event = gate.on_frame("0x01", &big, now, &mut out);
        assert_eq!(
            dropped_for(&event),
            Some(Refusal::OversizedHandshake),
            "{event:?}"
        );
        // The session goes on.
        assert!(session_goes_on(&mut gate, &mut worker, 1, now));
    }

    #[test]
    fn strangers_cost_little_and_do_not_linger() {
        let token = Token::random();
        let mut gate = gate(&token, false);
        let now = Instant::now();
        let mut out = Outbox::new();
        // A handshake frame over the small limit is dropped undecoded.
        let mut big = frame::encode(frame::ANY_RUN, &ToDriver::Heartbeat);
        big.resize(MAX_PLAIN_FRAME + 1, 0);
        let event = gate.on_frame("x", &big, now, &mut out);
        assert_eq!(
            dropped_for(&event),
            Some(Refusal::OversizedHandshake),
            "{event:?}"
        );
        // At most two strangers at a time here; a third takes the oldest one's place, whose
        // connection is closed.
        for (name, at) in [("a", 0), ("b", 1), ("c", 2)] {
            let at = now + Duration::from_millis(at);
            let event = gate.on_frame(name, &Peer::new(name, &token).hello(), at, &mut out);
            assert!(matches!(event, Inbound::Handled), "{event:?}");
        }
        assert_eq!(
            gate.drain_closing(),
            [("a".to_owned(), Refusal::TooManyStrangers)]
        );
        assert_eq!(gate.strangers(), 2);
        // Past the deadline they are dropped, and room is made.
        let later = now + Duration::from_secs(6);
        assert_eq!(gate.sweep(later, &mut Outbox::new()).len(), 2);
        assert_eq!(gate.strangers(), 0);
        let event = gate.on_frame("d", &Peer::new("d", &token).hello(), later, &mut out);
        assert!(matches!(event, Inbound::Handled));
    }

    #[test]
    fn a_handshake_under_a_sessions_identity_that_makes_room_is_counted() {
        // A hello on an admitted worker's connection opens a handshake there, the oldest when
        // the cap of two is reached: it makes room, its connection stays the session's, and
        // it is counted as any handshake closed to make room.
        let token = Token::random();
        let mut gate = gate(&token, false);
        let mut worker = Peer::new("w0", &token);
        handshake(&mut gate, &mut worker);
        let now = Instant::now();
        let mut out = Outbox::new();
        for (name, at) in [("w0", 0), ("a", 1), ("b", 2)] {
            let at = now + Duration::from_millis(at);
            let event = gate.on_frame(name, &Peer::new(name, &token).hello(), at, &mut out);
            assert!(matches!(event, Inbound::Handled), "{event:?}");
        }
        assert_eq!(
            gate.drain_ended_handshakes(),
            [("w0".to_owned(), Refusal::TooManyStrangers)]
        );
        assert!(gate.drain_closing().is_empty(), "no connection closed");
        assert_eq!(gate.strangers(), 2);
        assert!(session_goes_on(&mut gate, &mut worker, 1, now));
        // Said once.
        assert!(gate.drain_ended_handshakes().is_empty());
    }

    #[test]
    fn admissions_refusals_and_peers_left_unproven_carry_the_transports_source() {
        // The driver logged a refused peer by its identity, a name it chose, and an admitted
        // one by its name and pid: not the address that connected.
        let token = Token::random();
        let mut gate = gate_of_two_hosts(&token);
        let now = Instant::now();
        let mut out = Outbox::new();
        let mut worker = Peer::new("w0", &token);
        let challenge = challenged(&mut gate, &worker, now);
        let proof = worker.answer(&challenge).expect("the driver's proof");
        let event = gate.on_frame("w0", &proof, now, &mut out);
        let Inbound::Admitted { source, .. } = event else {
            panic!("{event:?}")
        };
        assert_eq!(source_text(source), "10.0.0.1");
        let stranger = Peer::new("x1", &Token::random());
        gate.on_frame("x1", &stranger.hello(), now, &mut out);
        assert_eq!(gate.handshake_source("x1"), Some(source_of_x()));
        let bad_name = Peer::new("x\u{7}", &token);
        let event = gate.on_frame("x2", &bad_name.hello(), now, &mut out);
        let Inbound::Refused { source, .. } = event else {
            panic!("{event:?}")
        };
        assert_eq!(source_text(source), "10.0.0.2");
        assert_eq!(source_text(None), "unknown");
        let v6: std::net::IpAddr = "fd00:1::".parse().unwrap();
        assert_eq!(source_text(Some(v6)), "fd00:1::/64");
    }

    fn source_of_x() -> Source {
        Some(std::net::Ipv4Addr::new(10, 0, 0, 2).into())
    }

    #[test]
    fn a_flooding_host_makes_room_only_at_its_own_expense() {
        let token = Token::random();
        // Peers named x… come from one host, the others from another.
        let mut gate = gate_of_two_hosts(&token);
        let now = Instant::now();
        let mut out = Outbox::new();
        let mut worker = Peer::new("w0", &token);
        let challenge = challenged(&mut gate, &worker, now);
        // The flood starts after the worker's hello and goes on past the cap of two: each
        // newer hello ends the flood's own oldest handshake, never the worker's (the oldest).
        for i in 1..=10 {
            let name = format!("x{i}");
            let at = now + Duration::from_millis(i);
            gate.on_frame(&name, &Peer::new(&name, &token).hello(), at, &mut out);
        }
        let closed: Vec<String> = gate.drain_closing().into_iter().map(|(p, _)| p).collect();
        let expected: Vec<String> = (1..=9).map(|i| format!("x{i}")).collect();
        assert_eq!(closed, expected);
        assert_eq!(gate.strangers(), 2);
        // The worker's proof, a round trip later, finds its handshake open.
        let proof = worker.answer(&challenge).expect("the driver's proof");
        let event = gate.on_frame("w0", &proof, now + Duration::from_millis(100), &mut out);
        assert!(matches!(event, Inbound::Admitted { .. }), "{event:?}");
    }

    #[test]
    fn between_hosts_holding_as_many_the_oldest_handshake_makes_room() {
        let token = Token::random();
        // Each peer its own host, but c and c2 share one.
        let mut gate = gate_with_sources(&token, false, |peer| {
            let host = match peer {
                "a" => 1,
                "b" => 2,
                _ => 3,
            };
            Some(std::net::Ipv4Addr::new(10, 0, 0, host).into())
        });
        let now = Instant::now();
        let mut out = Outbox::new();
        let mut hello = |gate: &mut Gate, name: &str, at: u64| {
            let at = now + Duration::from_millis(at);
            gate.on_frame(name, &Peer::new(name, &token).hello(), at, &mut out);
            gate.drain_closing()
        };
        assert!(hello(&mut gate, "a", 0).is_empty());
        assert!(hello(&mut gate, "b", 1).is_empty());
        // One each, and the newcomer's host holds none: the oldest of all goes.
        assert_eq!(
            hello(&mut gate, "c", 2),
            [("a".to_owned(), Refusal::TooManyStrangers)]
        );
        // A newcomer from c's host makes that host the one holding the most: c goes, though
        // b is older.
        assert_eq!(
            hello(&mut gate, "c2", 3),
            [("c".to_owned(), Refusal::TooManyStrangers)]
        );
    }

    #[test]
    fn a_hello_declaring_huge_lengths_is_rejected_without_reserving_them() {
        let token = Token::random();
        let mut gate = gate(&token, false);
        let mut out = Outbox::new();
        // Hello, then a name, then a nonce, each declared 2^63 bytes long (postcard varints).
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        let mut name_huge = frame::encode(frame::ANY_RUN, &ToDriver::Heartbeat);
        name_huge.truncate(frame::ENVELOPE_LEN);
        let mut nonce_huge = name_huge.clone();
        name_huge.push(0);
        name_huge.extend_from_slice(&huge);
        nonce_huge.extend_from_slice(&[0, 2, b'w', b'0', 1, 0]);
        nonce_huge.extend_from_slice(&huge);
        for (peer, bytes) in [("w0", &name_huge), ("w1", &nonce_huge)] {
            let event = gate.on_frame(peer, bytes, Instant::now(), &mut out);
            assert!(
                matches!(
                    &event,
                    Inbound::Rejected {
                        error: FrameError::Body(_),
                        ..
                    }
                ),
                "{event:?}"
            );
        }
        assert!(out.is_empty() && gate.strangers() == 0);
    }

    #[test]
    fn a_connection_gets_what_a_handshake_takes_and_no_more() {
        let token = Token::random();
        let mut gate = gate(&token, false);
        let now = Instant::now();
        let mut out = Outbox::new();
        // Garbage: a few frames are rejected one by one, then the connection is closed.
        for _ in 0..STRANGER_FRAMES {
            let event = gate.on_frame("0x01", b"junk", now, &mut out);
            assert!(matches!(event, Inbound::Rejected { .. }), "{event:?}");
        }
        assert!(gate.drain_closing().is_empty());
        assert!(matches!(
            gate.on_frame("0x01", b"junk", now, &mut out),
            Inbound::Handled
        ));
        assert_eq!(gate.drain_closing(), [("0x01".to_owned(), Refusal::CutOff)]);

        // A second hello on one connection closes it: it would keep its handshake open.
        let peer = Peer::new("w0", &token);
        gate.on_frame("w0", &peer.hello(), now, &mut out);
        assert_eq!(gate.strangers(), 1);
        gate.on_frame("w0", &peer.hello(), now, &mut out);
        assert_eq!(gate.drain_closing(), [("w0".to_owned(), Refusal::CutOff)]);
        assert_eq!(gate.strangers(), 0);

        // A refused peer hears why once; its next frame closes its connection.
        let wrong = frame::encode(
            frame::ANY_RUN,
            &ToDriver::Hello(Hello {
                name: "w1".into(),
                fingerprint: FINGERPRINT + 1,
                pid: 1,
                nonce: vec![0; NONCE_LEN].into(),
            }),
        );
        out.clear();
        assert!(matches!(
            gate.on_frame("w1", &wrong, now, &mut out),
            Inbound::Refused { .. }
        ));
        assert_eq!(out.len(), 1, "one refusal");
        gate.on_frame("w1", &wrong, now, &mut out);
        assert_eq!(out.len(), 1, "no second refusal");
        assert_eq!(gate.drain_closing(), [("w1".to_owned(), Refusal::CutOff)]);

        // The count is kept as long as the transport keeps a connection that is not admitted
        // (a closed one's count must not outlive it).
        for _ in 0..STRANGER_FRAMES {
            gate.on_frame("0x02", b"junk", now, &mut out);
        }
        gate.sweep(now + Duration::from_secs(6), &mut Outbox::new());
        assert!(matches!(
            gate.on_frame("0x02", b"junk", now + Duration::from_secs(6), &mut out),
            Inbound::Handled
        ));
        assert_eq!(gate.drain_closing(), [("0x02".to_owned(), Refusal::CutOff)]);
        for _ in 0..STRANGER_FRAMES {
            gate.on_frame("0x03", b"junk", now, &mut out);
        }
        let later = now + Duration::from_secs(31);
        gate.sweep(later, &mut Outbox::new());
        assert!(matches!(
            gate.on_frame("0x03", b"junk", later, &mut out),
            Inbound::Rejected { .. }
        ));
        assert!(gate.drain_closing().is_empty());
    }

    #[test]
    fn only_a_handshake_hears_of_another_protocol_version() {
        let token = Token::random();
        let mut gate = gate(&token, false);
        let now = Instant::now();
        let mut out = Outbox::new();
        let mut other_version = frame::encode(frame::ANY_RUN, &ToDriver::Heartbeat);
        other_version[4..6].copy_from_slice(&(crate::protocol::PROTOCOL_VERSION - 1).to_le_bytes());
        // A stranger of another version is told so.
        let event = gate.on_frame("0x01", &other_version, now, &mut out);
        assert!(matches!(event, Inbound::Refused { .. }), "{event:?}");
        assert_eq!(out.len(), 1);
        // Inside a session such a frame is anyone's on the path: dropped, the session goes on.
        let mut worker = Peer::new("w0", &token);
        handshake(&mut gate, &mut worker);
        out.clear();
        let event = gate.on_frame("w0", &other_version, now, &mut out);
        assert_eq!(dropped_for(&event), Some(Refusal::Unsealed), "{event:?}");
        assert!(out.is_empty(), "no answer");
        assert!(gate.drain_closing().is_empty(), "no closing");
        // Nor is a session's connection closed by hellos put on its path.
        for _ in 0..2 * STRANGER_FRAMES {
            gate.on_frame("w0", &Peer::new("w0", &token).hello(), now, &mut out);
        }
        assert!(gate.drain_closing().is_empty());
        assert!(session_goes_on(&mut gate, &mut worker, 1, now));
    }

    #[test]
    fn a_hello_under_another_identity_or_build_is_refused() {
        let token = Token::random();
        let mut gate = gate(&token, false);
        let mut out = Outbox::new();
        let event = gate.on_frame(
            "0xab",
            &Peer::new("w0", &token).hello(),
            Instant::now(),
            &mut out,
        );
        // Under the identity the transport gave it, because a live connection holds its name.
        assert!(
            matches!(&event, Inbound::Refused { reason, .. }
                if reason.contains("another connection uses the name w0")),
            "{event:?}"
        );
        let nameless = gate.on_frame(
            "0xac",
            &Peer::new("", &token).hello(),
            Instant::now(),
            &mut out,
        );
        assert!(
            matches!(&nameless, Inbound::Refused { reason, .. } if reason == "its name is empty"),
            "{nameless:?}"
        );
        let other_build = frame::encode(
            frame::ANY_RUN,
            &ToDriver::Hello(Hello {
                name: "w0".into(),
                fingerprint: FINGERPRINT + 1,
                pid: 1,
                nonce: vec![0; NONCE_LEN].into(),
            }),
        );
        let event = gate.on_frame("w0", &other_build, Instant::now(), &mut out);
        assert!(matches!(event, Inbound::Refused { .. }), "{event:?}");
    }

    #[test]
    fn a_hello_replayed_from_another_connection_is_told_apart_from_a_name_in_use() {
        let token = Token::random();
        let (mut gate, w0, _) = admitted_w0(&token);
        let mut out = Outbox::new();
        let now = Instant::now();
        // w0's own hello, recorded on the way, sent again on a connection of its own while
        // w0's session is open.
        let replayed = gate.on_frame("0xab", &w0.hello(), now, &mut out);
        assert!(
            matches!(&replayed, Inbound::Refused { reason, .. }
                if reason.starts_with("a replayed hello") && reason.contains("name w0")
                    && !reason.contains(NAME_TAKEN)),
            "{replayed:?}"
        );
        let Some((_, ToWorker::Refused { reason, mac: None })) = out.pop().map(|(peer, f)| {
            (
                peer,
                frame::decode(&f, RUN, false, MAX_PLAIN_FRAME).unwrap(),
            )
        }) else {
            panic!("a refusal without a MAC")
        };
        assert!(reason.starts_with("a replayed hello"), "{reason}");
        // So of a handshake under way: w1 was challenged and has not answered yet.
        let w1 = Peer::new("w1", &token);
        assert!(matches!(
            gate.on_frame("w1", &w1.hello(), now, &mut out),
            Inbound::Handled
        ));
        let replayed = gate.on_frame("0xac", &w1.hello(), now, &mut out);
        assert!(
            matches!(&replayed, Inbound::Refused { reason, .. } if reason.starts_with("a replayed hello")),
            "{replayed:?}"
        );
        // A fresh hello under a name in use (a second worker, a restarted one) is not a replay:
        // it waits for the name, in vain.
        let fresh = gate.on_frame("0xad", &Peer::new("w0", &token).hello(), now, &mut out);
        assert!(matches!(fresh, Inbound::Handled), "{fresh:?}");
        let fresh = gate.sweep(now + Duration::from_secs(5), &mut out);
        assert!(
            matches!(&fresh[..], [Inbound::Refused { reason, .. }] if reason.starts_with(NAME_TAKEN)),
            "{fresh:?}"
        );
    }

    #[test]
    fn a_hello_replayed_after_its_connection_closed_is_refused_as_a_replay() {
        let token = Token::random();
        let (mut gate, w0, _) = admitted_w0(&token);
        let mut out = Outbox::new();
        let now = Instant::now();
        // w0's connection closed; its hello, recorded on the way, comes again under its name
        // (free now) and under an identity of its own.
        gate.forget("w0");
        for connection in ["w0", "0xab"] {
            let replayed = gate.on_frame(connection, &w0.hello(), now, &mut out);
            assert!(
                matches!(&replayed, Inbound::Refused { reason, .. }
                    if reason.starts_with("a replayed hello") && reason.contains("name w0")
                        && reason.contains("since closed")),
                "{connection}: {replayed:?}"
            );
        }
        assert_eq!(gate.strangers(), 0, "no handshake begun for it");
        // A worker coming back, on a connection of its own, draws a fresh nonce: challenged
        // as ever.
        gate.forget("w0");
        let fresh = gate.on_frame("w0", &Peer::new("w0", &token).hello(), now, &mut out);
        assert!(matches!(fresh, Inbound::Handled), "{fresh:?}");
    }

    /// The session id of `peer`'s open session.
    fn session_of(gate: &Gate, peer: &str) -> Option<SessionId> {
        gate.sessions()
            .find(|(name, _)| name.as_str() == peer)
            .map(|(_, id)| id)
    }

    /// A gate (see [`gate`]) that admitted `w0`: the gate, w0's side, its session.
    fn admitted_w0(token: &Token) -> (Gate, Peer, SessionId) {
        let mut gate = gate(token, false);
        let mut w0 = Peer::new("w0", token);
        let Inbound::Admitted { session, .. } = handshake(&mut gate, &mut w0) else {
            panic!("admitted")
        };
        (gate, w0, session)
    }

    #[test]
    fn a_worker_heartbeat_counts_in_its_own_space_and_only_a_heartbeat_does() {
        let token = Token::random();
        let (mut gate, mut w0, _) = admitted_w0(&token);
        let now = Instant::now();
        let mut on_frame = |frame: Vec<u8>| gate.on_frame("w0", &frame, now, &mut Outbox::new());
        let (sealer, _) = w0.session.as_mut().expect("admitted");
        // A result's number taken before a heartbeat that goes out first: both are heard.
        let late = sealer.reserve(session::Space::Data);
        let beat = sealer.seal_beat(frame::encode(RUN, &ToDriver::Heartbeat));
        let late = late.seal(frame::encode(RUN, &result(1)));
        let event = on_frame(beat.clone());
        assert!(
            matches!(
                event,
                Inbound::Message {
                    message: ToDriver::Heartbeat,
                    ..
                }
            ),
            "{event:?}"
        );
        let event = on_frame(late);
        assert!(
            matches!(
                event,
                Inbound::Message {
                    message: ToDriver::Result { seq: 1, .. },
                    ..
                }
            ),
            "{event:?}"
        );
        // The heartbeat again is a replay in its space.
        assert_eq!(dropped_for(&on_frame(beat)), Some(Refusal::Replayed));
        // A heartbeat in the data space, or a result in the heartbeat space: as forged.
        let (sealer, _) = w0.session.as_mut().expect("admitted");
        let misplaced = [
            sealer.seal(frame::encode(RUN, &ToDriver::Heartbeat)),
            sealer.seal_beat(frame::encode(RUN, &result(2))),
        ];
        for frame in misplaced {
            assert_eq!(dropped_for(&on_frame(frame)), Some(Refusal::BadMac));
        }
    }

    #[test]
    fn a_task_order_reserved_to_seal_elsewhere_owes_its_answer_while_its_session_is_open() {
        let token = Token::random();
        let (mut gate, mut w0, session) = admitted_w0(&token);
        let now = Instant::now();
        let order = ToWorker::Shutdown { another_run: true };
        let number = gate.reserve("w0", session, Some(4)).expect("open");
        let sealed = std::thread::spawn(move || number.seal(frame::encode(RUN, &order)))
            .join()
            .expect("sealed on another thread");
        let (_, opener) = w0.session.as_mut().expect("admitted");
        let (_, heard) = opener.open_message::<ToWorker>(&sealed).expect("opens");
        assert!(
            matches!(heard, Ok(ToWorker::Shutdown { another_run: true })),
            "opens in its session"
        );
        let result_len = |gate: &mut Gate, w0: &mut Peer| match gate.on_frame(
            "w0",
            &w0.seal(&result(4)),
            now,
            &mut Outbox::new(),
        ) {
            Inbound::Message {
                message: ToDriver::Result { body, .. },
                ..
            } => body.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(result_len(&mut gate, &mut w0), 4, "owed as by seal_task");
        assert!(gate.is_open("w0", session) && !gate.is_open("w0", session + 1));
        assert!(gate.end("w0", session, now));
        assert!(!gate.is_open("w0", session), "a seal back now is dropped");
        assert!(gate.reserve("w0", session, Some(5)).is_none());
    }

    #[test]
    fn an_answer_keeps_its_body_only_for_a_task_its_session_was_sent() {
        let token = Token::random();
        let (mut gate, mut w0, session) = admitted_w0(&token);
        let now = Instant::now();
        let mut on_frame =
            |frame: Vec<u8>| match gate.on_frame("w0", &frame, now, &mut Outbox::new()) {
                Inbound::Message { message, .. } => message,
                other => panic!("{other:?}"),
            };
        let body_len = |message: ToDriver| match message {
            ToDriver::Result { body, .. } => body.len(),
            other => panic!("{other:?}"),
        };
        // No task sealed yet: a result comes without its body.
        assert_eq!(body_len(on_frame(w0.seal(&result(2)))), 0);
        // Tasks 2 and 3: a result of 2 is kept once, a failure of 3 answers 3; a result of a
        // task it was not sent, or of one answered, comes bare.
        let order = || frame::encode(RUN, &ToWorker::Heartbeat);
        for seq in [2, 3] {
            assert!(gate.seal_task("w0", session, seq, order()).is_some());
        }
        // Other orders owe nothing.
        assert!(gate.seal("w0", session, order()).is_some());
        let mut on_frame =
            |frame: Vec<u8>| match gate.on_frame("w0", &frame, now, &mut Outbox::new()) {
                Inbound::Message { message, .. } => message,
                other => panic!("{other:?}"),
            };
        assert_eq!(body_len(on_frame(w0.seal(&result(7)))), 0, "never sent");
        assert_eq!(body_len(on_frame(w0.seal(&result(2)))), 4);
        assert_eq!(body_len(on_frame(w0.seal(&result(2)))), 0, "answered");
        let long = ToDriver::Failed {
            seq: 3,
            message: "é".repeat(MAX_KEPT_TEXT),
        };
        match on_frame(w0.seal(&long)) {
            ToDriver::Failed { message, .. } => {
                assert!(message.len() <= MAX_KEPT_TEXT && message.len() >= MAX_KEPT_TEXT - 1);
                assert!(message.chars().all(|c| c == 'é'), "cut at a character");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(body_len(on_frame(w0.seal(&result(3)))), 0, "answered");
        let load = ToDriver::DataFailed {
            partition: 0,
            message: "x".repeat(10 * MAX_KEPT_TEXT),
        };
        match on_frame(w0.seal(&load)) {
            ToDriver::DataFailed { message, .. } => assert_eq!(message.len(), MAX_KEPT_TEXT),
            other => panic!("{other:?}"),
        }
    }

    /// Screens `frame` of `peer` and verifies it on another thread, as the link does a large
    /// one: the session it was screened under, and what the verification gave.
    fn verified_elsewhere(gate: &mut Gate, peer: &str, frame: Vec<u8>) -> (SessionId, Verified) {
        let Screened::Sealed {
            session, verifier, ..
        } = gate.screen(peer, &frame, Instant::now(), &mut Outbox::new())
        else {
            panic!("a frame of its session")
        };
        let verified = std::thread::spawn(move || verify_sealed(&verifier, &frame));
        (session, verified.join().unwrap())
    }

    #[test]
    fn a_frame_opened_elsewhere_counts_once_and_only_in_its_session() {
        let token = Token::random();
        let (mut gate, mut w0, session) = admitted_w0(&token);
        let now = Instant::now();
        let first = w0.seal(&result(1));
        let (screened, verified) = verified_elsewhere(&mut gate, "w0", first.clone());
        assert_eq!(screened, session);
        let event = gate.opened("w0".into(), session, verified, first.len(), now);
        assert!(matches!(event, Inbound::Message { .. }), "{event:?}");
        // Verified again elsewhere, its number was taken: a replay.
        let (_, again) = verified_elsewhere(&mut gate, "w0", first);
        let event = gate.opened("w0".into(), session, again, 0, now);
        assert_eq!(dropped_for(&event), Some(Refusal::Replayed));
        // One that comes back after its session ended is dropped, and so after a new session
        // under the name: its number is not taken there.
        let (_, late) = verified_elsewhere(&mut gate, "w0", w0.seal(&result(2)));
        let (_, later) = verified_elsewhere(&mut gate, "w0", w0.seal(&result(3)));
        assert!(gate.end("w0", session, now));
        let event = gate.opened("w0".into(), session, late, 0, now);
        assert_eq!(dropped_for(&event), Some(Refusal::SessionEnded));
        gate.forget("w0");
        let mut back = Peer::new("w0", &token);
        let Inbound::Admitted { session: new, .. } = handshake(&mut gate, &mut back) else {
            panic!("admitted again")
        };
        let event = gate.opened("w0".into(), session, later, 0, now);
        assert_eq!(dropped_for(&event), Some(Refusal::SessionEnded));
        let event = gate.on_frame("w0", &back.seal(&result(1)), now, &mut Outbox::new());
        assert!(matches!(event, Inbound::Message { .. }), "{event:?}");
        assert_ne!(new, session);
    }

    #[test]
    fn a_session_the_coordinator_ends_keeps_nothing_and_a_fresh_handshake_brings_it_back() {
        let token = Token::random();
        let (mut gate, mut w0, session) = admitted_w0(&token);
        let mut out = Outbox::new();
        let now = Instant::now();
        assert!(gate.end("w0", session, now), "its session was open");
        assert!(!gate.end("w0", session, now), "once");
        // Nothing is sealed for it any more, heartbeats included (they go to `sessions`).
        assert_eq!(gate.sessions().count(), 0);
        let order = frame::encode(RUN, &ToWorker::Heartbeat);
        assert!(gate.seal("w0", session, order).is_none());
        // What its connection sends is dropped, a hello on it too: no handshake on it.
        for frame in [w0.seal(&result(1)), Peer::new("w0", &token).hello()] {
            let event = gate.on_frame("w0", &frame, now, &mut out);
            assert_eq!(
                dropped_for(&event),
                Some(Refusal::SessionEnded),
                "{event:?}"
            );
        }
        assert!(out.is_empty(), "no answer to a connection let go");
        // While that connection is open, a newcomer under its name joins under another.
        gate.on_frame("0xab", &Peer::new("w0", &token).hello(), now, &mut out);
        let (to, answer) = out.pop().expect("an answer");
        assert_eq!(to, "0xab");
        assert!(matches!(
            frame::decode::<ToWorker>(&answer, RUN, false, MAX_PLAIN_FRAME),
            Ok(ToWorker::Lost { .. })
        ));
        // The connection is closed once its last word had time to leave.
        let written = |_: &str| true;
        assert!(gate.let_go_due(now, written).is_empty());
        assert_eq!(gate.let_go_due(now + LAST_WORD_LINGER, written), ["w0"]);
        assert!(gate
            .let_go_due(now + 2 * LAST_WORD_LINGER, written)
            .is_empty());
        assert!(gate.drain_closing().is_empty());
        // Its closing is heard; a fresh handshake under its name opens a session of its own.
        gate.forget("w0");
        let mut back = Peer::new("w0", &token);
        let Inbound::Admitted { session: again, .. } = handshake(&mut gate, &mut back) else {
            panic!("admitted again")
        };
        assert_ne!(again, session);
        assert!(!gate.end("w0", session, now), "the old id ends nothing");
        assert_eq!(session_of(&gate, "w0"), Some(again));
    }

    #[test]
    fn a_session_ended_during_a_new_handshake_on_its_connection_does_not_close_as_unproven() {
        let token = Token::random();
        let (mut gate, _, session) = admitted_w0(&token);
        let mut out = Outbox::new();
        let now = Instant::now();
        // Its connection says hello again, and the coordinator lets it go meanwhile.
        let again = Peer::new("w0", &token);
        gate.on_frame("w0", &again.hello(), now, &mut out);
        assert_eq!(gate.strangers(), 1);
        gate.end("w0", session, now);
        assert!(!gate.forget("w0"), "let go, not left unproven");
    }

    #[test]
    fn a_peer_let_go_that_keeps_talking_is_dropped_and_closed_only_at_its_linger() {
        let token = Token::random();
        let (mut gate, mut w0, session) = admitted_w0(&token);
        let mut out = Outbox::new();
        let now = Instant::now();
        gate.end("w0", session, now);
        // A worker excluded while it computes keeps sending results: closing its connection
        // at once would drop the word of why, queued for it.
        for _ in 0..4 * STRANGER_FRAMES {
            let event = gate.on_frame("w0", &w0.seal(&result(1)), now, &mut out);
            assert_eq!(dropped_for(&event), Some(Refusal::SessionEnded));
        }
        assert!(
            gate.drain_closing().is_empty(),
            "not cut off before its linger"
        );
        assert_eq!(gate.let_go_due(now + LAST_WORD_LINGER, |_| true), ["w0"]);
    }

    #[test]
    fn a_peer_let_go_that_reads_nothing_is_closed_once_its_last_word_left() {
        let token = Token::random();
        let (mut gate, _, session) = admitted_w0(&token);
        let now = Instant::now();
        gate.end("w0", session, now);
        // Stopped while a partition was on its way: the why waits behind it, and a close
        // would drop both, so the worker, resumed, would never read that it was let go.
        let mut left = false;
        let written = |_: &str| left;
        assert!(gate.let_go_due(now + LAST_WORD_LINGER, written).is_empty());
        assert!(gate
            .let_go_due(now + LAST_WORD_MAX_LINGER / 2, written)
            .is_empty());
        // Resumed, it reads its queue: the connection closes at the next look.
        left = true;
        let written = |_: &str| left;
        assert_eq!(
            gate.let_go_due(now + LAST_WORD_MAX_LINGER / 2, written),
            ["w0"]
        );
        // One that never reads is closed at the bound, its queue with it.
        let (mut gate, _, session) = admitted_w0(&token);
        gate.end("w0", session, now);
        let never = |_: &str| false;
        assert!(gate
            .let_go_due(now + LAST_WORD_MAX_LINGER / 2, never)
            .is_empty());
        assert_eq!(gate.let_go_due(now + LAST_WORD_MAX_LINGER, never), ["w0"]);
    }

    #[test]
    fn an_order_for_an_earlier_session_under_a_name_never_reaches_the_next() {
        let token = Token::random();
        let mut gate = gate(&token, false);
        let mut out = Outbox::new();
        let now = Instant::now();
        let order = |seq| {
            frame::encode(
                RUN,
                &ToWorker::Shutdown {
                    another_run: seq > 0,
                },
            )
        };
        // The first w1's connection closes; a restarted w1 proves the token under the same
        // name before the coordinator heard of the closing, and its orders for the first are
        // still queued.
        let mut first = Peer::new("w1", &token);
        handshake(&mut gate, &mut first);
        let old = session_of(&gate, "w1").expect("open");
        gate.forget("w1");
        let mut second = Peer::new("w1", &token);
        handshake(&mut gate, &mut second);
        let new = session_of(&gate, "w1").expect("open");
        assert_ne!(old, new);
        assert!(gate.seal("w1", old, order(0)).is_none(), "dropped");
        // A session replaced under a live identity (a new handshake that proved the token) is
        // just as ended.
        let mut third = Peer::new("w1", &token);
        let challenge = challenged(&mut gate, &third, now);
        let proof = third.answer(&challenge).expect("the driver's proof");
        assert!(matches!(
            gate.on_frame("w1", &proof, now, &mut out),
            Inbound::Admitted { .. }
        ));
        let newest = session_of(&gate, "w1").expect("open");
        assert!(gate.seal("w1", new, order(0)).is_none(), "dropped");
        // The session it was meant for gets it, and opens it.
        let sealed = gate.seal("w1", newest, order(1)).expect("sealed");
        let (_, opener) = third.session.as_mut().expect("admitted");
        let body = opener.open(&sealed).expect("opens in its session");
        assert!(matches!(
            frame::decode_body::<ToWorker>(&body),
            Ok(ToWorker::Shutdown { another_run: true })
        ));
    }

    #[test]
    fn a_name_that_could_forge_a_log_line_or_shadow_an_identity_is_refused() {
        let token = Token::random();
        let mut gate = gate(&token, false);
        let mut out = Outbox::new();
        let long = "w".repeat(MAX_ADMITTED_NAME + 1);
        for (name, why) in [
            ("w7\nINFO worker joined", "characters other than"),
            ("\u{1b}[2Jw7", "characters other than"),
            ("0xdead", "starts with 0x"),
            (long.as_str(), "longer than"),
        ] {
            let event = gate.on_frame(
                name,
                &Peer::new(name, &token).hello(),
                Instant::now(),
                &mut out,
            );
            match &event {
                Inbound::Refused { reason, .. } => {
                    assert!(reason.contains(why), "{name:?}: {reason}");
                    assert!(
                        !reason.contains('\n') && !reason.contains('\u{1b}'),
                        "{reason}"
                    );
                }
                other => panic!("{name:?} was not refused: {other:?}"),
            }
        }
        let fine = "w-node-7.r2:gpu@rack+1";
        assert_eq!(name_problem(fine, MAX_ADMITTED_NAME), None);
    }

    #[test]
    fn only_refusals_no_retry_changes_carry_a_mac_over_the_hello() {
        let token = Token::random();
        let mut gate = gate(&token, false);
        let now = Instant::now();
        let mut out = Outbox::new();
        let nonce = [5u8; NONCE_LEN];
        let hello = |name: &str, fingerprint: u64| {
            frame::encode(
                frame::ANY_RUN,
                &ToDriver::Hello(Hello {
                    name: name.into(),
                    fingerprint,
                    pid: 1,
                    nonce: nonce.to_vec().into(),
                }),
            )
        };
        let answer = |gate: &mut Gate, out: &mut Outbox, connection: &str, frame: &[u8]| {
            gate.on_frame(connection, frame, now, out);
            let (_, frame) = out.pop().expect("an answer");
            match frame::decode::<ToWorker>(&frame, RUN, false, MAX_PLAIN_FRAME) {
                Ok(ToWorker::Refused { reason, mac }) => (reason, mac.map(|m| m.into_vec())),
                other => panic!("expected a refusal, got {other:?}"),
            }
        };
        let verifies = |name: &str, fingerprint: u64, reason: &str, mac: &[u8]| {
            token.verify_refusal(
                &auth::Refusal {
                    run_id: RUN,
                    name,
                    fingerprint,
                    worker_nonce: &nonce,
                    reason,
                },
                mac,
            )
        };
        // Another build: final, and the MAC binds the hello as the driver read it.
        let (reason, mac) = answer(&mut gate, &mut out, "w0", &hello("w0", FINGERPRINT + 1));
        let mac = mac.expect("a MAC");
        assert!(verifies("w0", FINGERPRINT + 1, &reason, &mac));
        assert!(
            !verifies("w0", FINGERPRINT, &reason, &mac),
            "another build's"
        );
        // A name no driver admits: final too.
        let (reason, mac) = answer(&mut gate, &mut out, "0xaa", &hello("0xdead", FINGERPRINT));
        assert!(verifies(
            "0xdead",
            FINGERPRINT,
            &reason,
            &mac.expect("a MAC")
        ));
        // A name in use: the worker joins under another, so no MAC (said once the hello
        // waited for the name in vain).
        let mut w1 = Peer::new("w1", &token);
        handshake(&mut gate, &mut w1);
        gate.on_frame("0xab", &hello("w1", FINGERPRINT), now, &mut out);
        gate.sweep(now + Duration::from_secs(5), &mut out);
        let Some(ToWorker::Refused { reason, mac }) = last_answer(&mut out, "0xab") else {
            panic!("a refusal")
        };
        assert!(reason.contains(NAME_TAKEN) && mac.is_none(), "{reason}");
        // A proof that does not check: no MAC (a relay may have altered it).
        let mut w2 = Peer::new("w2", &token);
        let challenge = challenged(&mut gate, &w2, now);
        let mut proof = w2.answer(&challenge).expect("the driver's proof");
        *proof.last_mut().expect("a MAC") ^= 1;
        let (reason, mac) = answer(&mut gate, &mut out, "w2", &proof);
        assert!(reason.contains("token") && mac.is_none(), "{reason}");
        // Another protocol version: no hello to bind it to.
        let mut other_version = hello("w3", FINGERPRINT);
        other_version[4..6].copy_from_slice(&(crate::protocol::PROTOCOL_VERSION + 1).to_le_bytes());
        let (reason, mac) = answer(&mut gate, &mut out, "w3", &other_version);
        assert!(
            reason.contains("protocol version") && mac.is_none(),
            "{reason}"
        );
    }

    /// The answer the gate sent to `peer` last, decoded.
    fn last_answer(out: &mut Outbox, peer: &str) -> Option<ToWorker> {
        let at = out.iter().rposition(|(to, _)| to == peer)?;
        let (_, frame) = out.remove(at);
        Some(frame::decode(&frame, RUN, false, MAX_PLAIN_FRAME).unwrap())
    }

    #[test]
    fn a_worker_back_before_its_old_connection_is_seen_closed_keeps_its_name() {
        // The driver, stopped, is continued: the transport reads the reconnecting worker's
        // new hello (under an identity of its own, as its old connection still holds the
        // name) before that old connection's close.
        let token = Token::random();
        let (mut gate, _old, _) = admitted_w0(&token);
        let mut out = Outbox::new();
        let now = Instant::now();
        let back = Peer::new("w0", &token);
        let event = gate.on_frame("0xab", &back.hello(), now, &mut out);
        assert!(
            !matches!(&event, Inbound::Refused { reason, .. } if reason.contains(NAME_TAKEN)),
            "refused before the old connection's close was applied: {event:?}"
        );
        assert!(last_answer(&mut out, "0xab").is_none(), "no verdict yet");
        // The old connection's close comes: the waiting worker is told its name is free.
        gate.forget("w0");
        let told = gate.next_freed(&mut out);
        assert!(
            matches!(&told, Some(Inbound::Refused { peer, reason, .. })
                if peer == "0xab" && reason.contains(NAME_FREED) && !reason.contains(NAME_TAKEN)),
            "{told:?}"
        );
        let Some(ToWorker::Refused { reason, mac: None }) = last_answer(&mut out, "0xab") else {
            panic!("a refusal without a MAC")
        };
        assert!(reason.contains(NAME_FREED), "{reason}");
        assert!(gate.next_freed(&mut out).is_none(), "told once");
        // It comes back under its name, as the transport now gives it, and is admitted.
        let mut again = Peer::new("w0", &token);
        assert!(matches!(
            handshake(&mut gate, &mut again),
            Inbound::Admitted { .. }
        ));
    }

    #[test]
    fn a_hello_under_a_live_workers_name_is_refused_once_it_waited_and_cuts_nothing() {
        let token = Token::random();
        let (mut gate, mut w0, _) = admitted_w0(&token);
        let mut out = Outbox::new();
        let now = Instant::now();
        let other = Peer::new("w0", &token);
        gate.on_frame("0xab", &other.hello(), now, &mut out);
        // Within its wait nothing is said; past it, the name is in use, as before.
        assert!(gate.sweep(now, &mut out).is_empty());
        let late = now + Duration::from_secs(5);
        let events = gate.sweep(late, &mut out);
        assert!(
            matches!(&events[..], [Inbound::Refused { peer, reason, .. }]
                if peer == "0xab" && reason.starts_with(NAME_TAKEN)),
            "{events:?}"
        );
        assert!(matches!(
            last_answer(&mut out, "0xab"),
            Some(ToWorker::Refused { mac: None, .. })
        ));
        assert!(gate.drain_closing().is_empty());
        assert!(gate.next_freed(&mut out).is_none());
        assert!(session_goes_on(&mut gate, &mut w0, 1, late));
        // Hellos waiting for a name are as many as handshakes at most: past, refused at once.
        for (i, peer) in ["0xb0", "0xb1", "0xb2"].into_iter().enumerate() {
            let event = gate.on_frame(peer, &Peer::new("w0", &token).hello(), late, &mut out);
            let refused =
                matches!(&event, Inbound::Refused { reason, .. } if reason.starts_with(NAME_TAKEN));
            assert_eq!(refused, i >= 2, "{peer}: {event:?}");
        }
    }
}
