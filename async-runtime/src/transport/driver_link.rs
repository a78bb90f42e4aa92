//! The driver's end of the wire: a ROUTER socket served by a dedicated thread with its own
//! single-threaded tokio runtime. The coordinator talks to it through channels only.

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc as tokio_mpsc;
use zeromq::util::PeerIdentity;
use zeromq::{RouterSocket, Socket, SocketOptions, SocketRecv, ZmqMessage};

use super::frame;
use super::gate::{
    verify_sealed, Gate, GateConfig, Inbound, Outbox, Refusal, Screened, SessionId, Verified,
    ADMISSION_DEADLINES,
};
use super::in_order::{InOrder, Ticket, Waited};
use super::outgoing::{Outbound, Outgoing, Turn};
use super::said::Said;
use super::session::{Reserved, SessionError, Verifier};
use crate::auth::Token;
use crate::error::RuntimeError;
use crate::protocol::ToWorker;

/// Largest ZeroMQ frame a connection may send before it is admitted: room for a handshake
/// frame ([`frame::MAX_PLAIN_FRAME`]) and the transport's own commands.
const PRE_ADMISSION_FRAME: usize = 2 * frame::MAX_PLAIN_FRAME;

/// Accepted connections not admitted yet, at most, per stranger the gate lets say Hello at
/// once: the gate bounds strangers who speak, this bounds those who never do.
const UNADMITTED_PER_STRANGER: usize = 4;

/// How long the link, once the coordinator is gone, waits for its last messages to be
/// written before it closes the socket. A peer reading its socket takes them at once: this
/// bounds only a peer that stopped reading.
const FLUSH_AT_CLOSE: Duration = Duration::from_secs(1);

/// The driver's socket thread.
pub(crate) struct DriverLink {
    endpoint: String,
    outbound: Option<tokio_mpsc::UnboundedSender<Outbound>>,
    inbound: std_mpsc::Receiver<Inbound>,
    /// Each peer's events in `inbound`, shared with the link thread.
    backlog: Arc<Backlog>,
    thread: Option<JoinHandle<()>>,
}

/// Settings of the link.
pub(crate) struct LinkConfig {
    pub bind: String,
    pub run_id: u64,
    pub heartbeat: Duration,
    pub max_frame: usize,
    pub token: Token,
    pub encrypt: bool,
    pub max_strangers: usize,
    pub handshake_deadline: Duration,
}

/// What the coordinator needs of its end of the wire: send sealed frames to a peer's session,
/// end a session, receive the session layer's events. [`DriverLink`] is the socket; the
/// coordinator's tests put a scripted fake behind it, so every protocol rule runs without a
/// process. `Send`, as the [`Driver`](crate::Driver) holding it may move to another thread.
pub(crate) trait Link: Send {
    /// The address workers connect to.
    fn endpoint(&self) -> &str;
    /// Queues `frame` for `peer`'s `session`, sealed by it; dropped and counted
    /// ([`Refusal::SessionEnded`]) if that session is no longer open, so that an order meant
    /// for an earlier session under a name never reaches a later one.
    fn send(&self, peer: &str, session: SessionId, frame: Vec<u8>);
    /// [`send`](Link::send) for the order of task `seq`: the link keeps the body of one result
    /// of `seq` from that session for the coordinator (a result of a task a session was not
    /// sent, or already answered, comes without its body, see [`Gate`]).
    fn send_task(&self, peer: &str, session: SessionId, seq: u64, frame: Vec<u8>) {
        let _ = seq;
        self.send(peer, session, frame);
    }
    /// Lets go of `peer`'s `session` after what was queued for it (see [`Gate::end`]): it
    /// comes back only by a fresh handshake. Nothing if that session is no longer open.
    fn end_session(&self, peer: &str, session: SessionId);
    /// Waits up to `timeout` for the next inbound event; `Err` once the link is gone.
    fn recv_timeout(&self, timeout: Duration) -> Result<Option<Inbound>, RuntimeError>;
    /// An inbound event if one is waiting.
    fn try_recv(&self) -> Option<Inbound>;
}

impl Link for DriverLink {
    fn endpoint(&self) -> &str {
        DriverLink::endpoint(self)
    }
    fn send(&self, peer: &str, session: SessionId, frame: Vec<u8>) {
        self.queue(Outbound::Frame {
            peer: peer.to_owned(),
            session,
            frame,
            task: None,
        });
    }
    fn send_task(&self, peer: &str, session: SessionId, seq: u64, frame: Vec<u8>) {
        self.queue(Outbound::Frame {
            peer: peer.to_owned(),
            session,
            frame,
            task: Some(seq),
        });
    }
    fn end_session(&self, peer: &str, session: SessionId) {
        self.queue(Outbound::End {
            peer: peer.to_owned(),
            session,
        });
    }
    fn recv_timeout(&self, timeout: Duration) -> Result<Option<Inbound>, RuntimeError> {
        DriverLink::recv_timeout(self, timeout)
    }
    fn try_recv(&self) -> Option<Inbound> {
        DriverLink::try_recv(self)
    }
}

impl DriverLink {
    /// Binds the ROUTER socket and starts serving it.
    pub fn start(config: LinkConfig) -> Result<DriverLink, RuntimeError> {
        let (sender, inbound) = std_mpsc::channel();
        let backlog = Arc::new(Backlog::default());
        let inbound_tx = ToCoordinator {
            sender,
            backlog: backlog.clone(),
        };
        let (outbound_tx, outbound_rx) = tokio_mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("async-driver-link".into())
            .spawn(move || serve(config, inbound_tx, outbound_rx, ready_tx))
            .map_err(|e| RuntimeError::Transport(format!("cannot start the link thread: {e}")))?;
        let endpoint = ready_rx
            .recv()
            .map_err(|_| RuntimeError::Transport("the link thread died while binding".into()))??;
        Ok(DriverLink {
            endpoint,
            outbound: Some(outbound_tx),
            inbound,
            backlog,
            thread: Some(thread),
        })
    }

    /// The address workers connect to, e.g. `tcp://127.0.0.1:41234`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Queues a frame (from [`frame::encode`]) or a session's end, in order. Queued is not
    /// delivered: the coordinator's in-flight table accounts for what never comes back.
    fn queue(&self, outbound: Outbound) {
        if let Some(out) = &self.outbound {
            // Fails only when the link thread is gone, which the next receive reports.
            let _ = out.send(outbound);
        }
    }

    /// Waits up to `timeout` for the next inbound event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Inbound>, RuntimeError> {
        match self.inbound.recv_timeout(timeout) {
            Ok(event) => {
                self.backlog.taken(&event);
                Ok(Some(event))
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(RuntimeError::Transport(
                "the driver's socket thread stopped".into(),
            )),
        }
    }

    /// Returns an inbound event if one is waiting.
    pub fn try_recv(&self) -> Option<Inbound> {
        let event = self.inbound.try_recv().ok()?;
        self.backlog.taken(&event);
        Some(event)
    }
}

impl Drop for DriverLink {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop after it flushed what was queued.
        self.outbound.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    config: LinkConfig,
    inbound: ToCoordinator,
    outbound: tokio_mpsc::UnboundedReceiver<Outbound>,
    ready: std_mpsc::Sender<Result<String, RuntimeError>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(RuntimeError::Transport(format!("tokio: {e}"))));
            return;
        }
    };
    runtime.block_on(serve_async(config, inbound, outbound, ready));
}

async fn serve_async(
    config: LinkConfig,
    inbound: ToCoordinator,
    mut outbound: tokio_mpsc::UnboundedReceiver<Outbound>,
    ready: std_mpsc::Sender<Result<String, RuntimeError>>,
) {
    let (opened_tx, mut opened) = tokio_mpsc::unbounded_channel();
    let (sealed_tx, mut sealed) = tokio_mpsc::unbounded_channel();
    let back = Back {
        opened: opened_tx,
        sealed: sealed_tx,
    };
    let Some((mut serving, mut recv_half)) = bind(&config, inbound, back, &ready).await else {
        return;
    };
    // The coordinator let go of the link: what it queued behind a frame being sealed still
    // goes, once that frame is back.
    let mut coordinator_gone = false;
    let mut ticker = tokio::time::interval(config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut received_in_a_row = 0u32;
    loop {
        tokio::select! {
            // A peer's frames waiting behind its frame being opened elsewhere are bounded:
            // past that, no frame is read (the senders wait) until they are taken.
            received = recv_half.recv(), if !serving.in_order.full() => {
                let Ok(message) = received else { break };
                if !serving.on_message(message) {
                    break;
                }
                // The socket's writers run on this thread: a peer whose frames never stop
                // coming must not keep them, and every worker's heartbeats, from running. Only
                // between frames: a closing seen during the yield is of a frame not yet read.
                received_in_a_row = received_in_a_row.wrapping_add(1);
                if received_in_a_row.is_multiple_of(YIELD_EVERY) {
                    tokio::task::yield_now().await;
                }
            }
            Some(done) = opened.recv() => {
                if !serving.on_opened(done) {
                    break;
                }
            }
            Some(done) = sealed.recv() => serving.on_sealed(done),
            queued = outbound.recv(), if !coordinator_gone => match queued {
                Some(queued) => serving.on_outbound(queued),
                None => coordinator_gone = true,
            },
            _ = ticker.tick() => serving.on_tick(),
            Some(id) = serving.closings.next() => serving.on_closing(id),
        }
        if coordinator_gone && serving.outgoing.idle() {
            break;
        }
    }
    // ZeroMQ drops a connection's queue with the socket: the last messages (the workers'
    // shutdown) are given until they are written, within a bound, since a peer that does not
    // read keeps its queue full.
    let deadline = tokio::time::Instant::now() + FLUSH_AT_CLOSE;
    while serving.unwritten() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Binds the ROUTER socket with the admission bounds and tells `ready` where it listens (or
/// why it cannot): the state that serves it (frames it opens or seals elsewhere come back to
/// `back`), and its receiving half.
async fn bind(
    config: &LinkConfig,
    inbound: ToCoordinator,
    back: Back,
    ready: &std_mpsc::Sender<Result<String, RuntimeError>>,
) -> Option<(Serving, zeromq::RouterRecvHalf)> {
    // A peer declaring a frame beyond the bound is cut off before anything is reserved for it.
    // A stranger may send frames of a few KiB (the handshake's) until it is admitted, is one
    // of a bounded number, and is cut off if not admitted in time; a new connection under an
    // identity already connected gets one of its own, never the first's.
    let mut options = SocketOptions::default();
    options
        .max_frame_size(config.max_frame)
        .initial_frame_size(PRE_ADMISSION_FRAME.min(config.max_frame))
        .unique_peer_identities(true);
    // Admission is the raise of a connection's frame limit: there is none to raise when the
    // bound is no larger than the handshake's.
    if config.max_frame > PRE_ADMISSION_FRAME {
        options.admission(
            UNADMITTED_PER_STRANGER * config.max_strangers.max(1),
            ADMISSION_DEADLINES * config.handshake_deadline,
        );
    }
    let frame_limits = options.frame_limits();
    let peer_sources = options.peer_sources();
    let handshake_failures = options.handshake_failures();
    let mut socket = RouterSocket::with_options(options);
    // Not the socket's monitor: its channel is bounded and holds an event per accepted
    // connection, so a flood of connections would crowd out a closing.
    let closings = socket.disconnections();
    if let Some(reason) = super::endpoint_problem(&config.bind) {
        let _ = ready.send(Err(RuntimeError::Bind {
            address: config.bind.clone(),
            reason,
        }));
        return None;
    }
    let endpoint = match socket.bind(&super::listen_address(&config.bind)).await {
        Ok(endpoint) => endpoint.to_string(),
        Err(e) => {
            let _ = ready.send(Err(RuntimeError::Bind {
                address: config.bind.clone(),
                reason: bind_failure(&e),
            }));
            return None;
        }
    };
    let _ = ready.send(Ok(endpoint));
    let (send_half, recv_half) = socket.split();
    // Where a connection comes from is what the transport saw when it accepted it.
    let gate = Gate::new(
        GateConfig {
            run_id: config.run_id,
            token: config.token.clone(),
            fingerprint: crate::task::fingerprint(),
            encrypt: config.encrypt,
            max_frame: config.max_frame,
            max_strangers: config.max_strangers,
            handshake_deadline: config.handshake_deadline,
        },
        move |peer| peer_sources.get(&identity_bytes(peer)),
    );
    let serving = Serving {
        gate,
        send_half,
        inbound,
        closings,
        frame_limits,
        handshake_failures,
        unshaken_told: 0,
        max_frame: config.max_frame,
        heartbeat: frame::encode(config.run_id, &ToWorker::Heartbeat),
        out: Outbox::new(),
        said: Said::default(),
        in_order: InOrder::new(MAX_UNREAD, OPEN_ELSEWHERE_FROM, WAITING_SMALL_BYTES),
        outgoing: Outgoing::new(SEAL_ELSEWHERE_FROM),
        back,
    };
    Some((serving, recv_half))
}

/// What the link's thread owns while it serves the socket: the sessions' gate, the socket's
/// sending half, the transport's closings and the channel to the coordinator.
struct Serving {
    gate: Gate,
    send_half: zeromq::RouterSendHalf,
    inbound: ToCoordinator,
    closings: futures::channel::mpsc::UnboundedReceiver<PeerIdentity>,
    /// Raised for a connection once its peer is admitted.
    frame_limits: zeromq::FrameLimits,
    /// Connections the transport closed before their ZeroMQ handshake finished, and how many
    /// of them the coordinator was told of.
    handshake_failures: zeromq::HandshakeFailures,
    unshaken_told: u64,
    max_frame: usize,
    heartbeat: Vec<u8>,
    /// The gate's answers to the frame at hand.
    out: Outbox,
    said: Said,
    /// Each peer's frames behind its frame being opened off this thread.
    in_order: InOrder<(Bytes, std::time::Instant)>,
    /// What the coordinator queued for each peer behind its frame being sealed off this thread.
    outgoing: Outgoing,
    /// Where frames opened or sealed off this thread come back.
    back: Back,
}

/// Where the work done off the link thread comes back to it.
struct Back {
    opened: tokio_mpsc::UnboundedSender<Opened>,
    sealed: tokio_mpsc::UnboundedSender<Sealed>,
}

/// Frames of at least this many bytes are opened (their tag checked, their body decrypted
/// and decoded) off the link thread: an 80 MB result takes up to 2 s, and every worker's
/// heartbeats would wait that long behind it.
const OPEN_ELSEWHERE_FROM: usize = 1 << 20;

/// Bytes of a peer's small frames that wait behind its frame being opened elsewhere before
/// the link stops reading (as it does once a large frame waits there too): a worker sends a
/// heartbeat a period and a result a task, so only a flood meets it, which a count alone
/// would let hold gigabytes.
const WAITING_SMALL_BYTES: usize = 4 << 20;

/// Frames of at least this many bytes are sealed (their tag computed, their body encrypted)
/// off the link thread: an 80 MB broadcast or partition takes over a second under
/// `--encrypt`, and the link would meanwhile read no frame and send no heartbeat.
const SEAL_ELSEWHERE_FROM: usize = 1 << 20;

/// A frame sealed off the link thread, back to be sent, or why sealing it panicked.
struct Sealed {
    peer: String,
    ticket: Ticket,
    frame: Result<Vec<u8>, String>,
}

/// A frame opened off the link thread, back for the gate.
struct Opened {
    peer: String,
    ticket: Ticket,
    verified: Verified,
    bytes: usize,
    received: std::time::Instant,
}

impl Serving {
    /// A message from a peer, through the gate, or behind its frame being opened elsewhere.
    /// `false` once the coordinator is gone.
    fn on_message(&mut self, message: ZmqMessage) -> bool {
        // The transport frees a closed connection's identity and queues its closing in one
        // step on this thread, and drops what it had not read of it: a frame under that
        // identity received after is a newer connection's, and the older one's closing is
        // applied first, or it would end the newer session.
        self.settle_closings();
        let Some((peer, body)) = split_inbound(message, &mut self.said) else {
            return true;
        };
        let bytes = body.len();
        match self
            .in_order
            .wait(&peer, (body, std::time::Instant::now()), bytes)
        {
            Waited::Go((body, received)) => self.on_frame(peer, body, received),
            Waited::Queued => true,
        }
    }

    /// A frame of `peer` whose turn came: a large one of its session is opened elsewhere
    /// ([`Serving::on_opened`] takes it back), any other through the gate here.
    fn on_frame(&mut self, peer: String, body: Bytes, received: std::time::Instant) -> bool {
        let event = match self.gate.screen(&peer, &body, received, &mut self.out) {
            Screened::Done(event) => event,
            Screened::Sealed {
                peer,
                session,
                verifier,
            } => {
                if body.len() >= OPEN_ELSEWHERE_FROM {
                    self.open_elsewhere(peer, session, verifier, body, received);
                    return true;
                }
                self.gate
                    .open_here(peer, session, &verifier, &body, received)
            }
        };
        self.deliver(event)
    }

    /// Opens a large frame of `peer`'s `session` on a blocking thread; its later frames wait
    /// until [`Serving::on_opened`] takes it back.
    fn open_elsewhere(
        &mut self,
        peer: String,
        session: SessionId,
        verifier: Verifier,
        body: Bytes,
        received: std::time::Instant,
    ) {
        let ticket = self.in_order.start(&peer, session);
        let done = self.back.opened.clone();
        tokio::task::spawn_blocking(move || {
            // Always answered: a peer whose open never came back would hold its frames, and
            // once its queue is full, every peer's.
            let verified =
                crate::panics::catch(|| verify_sealed(&verifier, &body)).unwrap_or_else(|why| {
                    tracing::warn!(%why, "opening a frame panicked: it is dropped");
                    Err(SessionError::NotSealed)
                });
            // Fails only when the link is closing, which nothing then waits for.
            let _ = done.send(Opened {
                peer,
                ticket,
                verified,
                bytes: body.len(),
                received,
            });
        });
    }

    /// A frame opened elsewhere is back: the gate takes it (unless its session ended or its
    /// connection closed meanwhile), then the frames of its peer that waited behind it.
    fn on_opened(&mut self, done: Opened) -> bool {
        self.settle_closings();
        if !self.in_order.finish(&done.peer, done.ticket) {
            return true;
        }
        let peer = done.peer.clone();
        let session = done.ticket.session;
        let event = self
            .gate
            .opened(done.peer, session, done.verified, done.bytes, done.received);
        if !self.deliver(event) {
            return false;
        }
        while let Some((body, received)) = self.in_order.next(&peer) {
            if !self.on_frame(peer.clone(), body, received) {
                return false;
            }
        }
        true
    }

    /// The gate's answer to a frame, to the coordinator and the peers.
    fn deliver(&mut self, event: Inbound) -> bool {
        self.tell_unshaken();
        log_event(&event, &mut self.said);
        if let Inbound::Admitted { peer, .. } = &event {
            self.frame_limits.set(&identity_bytes(peer), self.max_frame);
        }
        let mut ends = Ends {
            inbound: &self.inbound,
            send_half: &self.send_half,
        };
        hand_on(event, &mut self.gate, &mut self.out, &mut ends)
    }

    /// A frame or a session's end from the coordinator: handled now, sealed elsewhere, or
    /// behind its peer's frame being sealed elsewhere.
    fn on_outbound(&mut self, queued: Outbound) {
        // A closed connection's session is neither sealed for nor ended: its identity may be
        // a newer connection's already.
        self.settle_closings();
        // Its turn is the only one: an item that does not wait had nothing waiting before it.
        let turn = self.outgoing.queue(queued);
        self.take_turn(turn);
    }

    /// Acts on one item's turn: sent now, sealed elsewhere, or left waiting.
    fn take_turn(&mut self, turn: Turn) {
        match turn {
            Turn::Wait => {}
            Turn::Here(item) => self.send_here(item),
            Turn::Elsewhere {
                peer,
                session,
                frame,
                task,
                ticket,
            } => match self.gate.reserve(&peer, session, task) {
                Some(number) => self.seal_elsewhere(peer, ticket, number, frame),
                None => {
                    self.outgoing.sealed(&peer, ticket);
                    self.session_ended(peer);
                }
            },
        }
    }

    /// Seals (or ends) an item here and sends it.
    fn send_here(&mut self, item: Outbound) {
        let (peer, session, frame, task) = match item {
            Outbound::Frame {
                peer,
                session,
                frame,
                task,
            } => (peer, session, frame, task),
            Outbound::End { peer, session } => {
                // Its frame limit stays until its connection closes: a worker excluded while
                // it computes may send a large result before it reads why, and a frame past
                // the limit would close the connection, dropping the why.
                self.gate.end(&peer, session, std::time::Instant::now());
                return;
            }
        };
        let sealed = match task {
            Some(seq) => self.gate.seal_task(&peer, session, seq, frame),
            None => self.gate.seal(&peer, session, frame),
        };
        match sealed {
            Some(frame) => self.send_sealed(peer, frame),
            None => self.session_ended(peer),
        }
    }

    /// Seals `frame` under `number` on a blocking thread; [`Serving::on_sealed`] takes it back.
    fn seal_elsewhere(&mut self, peer: String, ticket: Ticket, number: Reserved, frame: Vec<u8>) {
        let done = self.back.sealed.clone();
        tokio::task::spawn_blocking(move || {
            // Always answered: a peer whose seal never came back would hold its later frames.
            let frame = crate::panics::catch(|| number.seal(frame));
            // Fails only when the link is closing, which nothing then waits for.
            let _ = done.send(Sealed {
                peer,
                ticket,
                frame,
            });
        });
    }

    /// A frame sealed elsewhere is back: sent if its session is still open, then the items of
    /// its peer that waited behind it. A seal that panicked fails the session as a send does
    /// ([`Serving::session_failed`]).
    fn on_sealed(&mut self, done: Sealed) {
        self.settle_closings();
        let Sealed {
            peer,
            ticket,
            frame,
        } = done;
        if !self.outgoing.sealed(&peer, ticket) {
            return;
        }
        match frame {
            _ if !self.gate.is_open(&peer, ticket.session) => self.session_ended(peer.clone()),
            Ok(frame) => self.send_sealed(peer.clone(), frame),
            Err(why) => {
                tracing::warn!(%peer, %why, "sealing a frame panicked: its session ends");
                self.session_failed(peer.clone());
            }
        }
        // Until one is sealed elsewhere in turn (then `next` gives nothing) or none is left.
        while let Some(turn) = self.outgoing.next(&peer) {
            self.take_turn(turn);
        }
    }

    /// Sends a frame sealed for `peer`; a send that fails ends its session
    /// ([`Serving::session_failed`]).
    fn send_sealed(&mut self, peer: String, frame: Vec<u8>) {
        if !send_to(&self.send_half, &peer, frame) {
            self.session_failed(peer);
        }
    }

    /// A frame for `peer`'s session could not be sent, or could not be sealed (its number is
    /// taken, so the frames after it would only be refused): the session ends. Its connection
    /// is closed (a send that failed on a full queue closed it already; a seal that panicked
    /// did not, and the peer would keep a connection that hears nothing) and the gate forgets
    /// it. The coordinator hears it is gone from that closing ([`Serving::on_closing`]), which
    /// the transport reports once per connection: told here too, it heard it twice.
    fn session_failed(&mut self, peer: String) {
        let _ = self.send_half.disconnect(identity_bytes(&peer));
        self.forget(&peer);
    }

    /// A frame for a session no longer open is dropped, and counted.
    fn session_ended(&mut self, peer: String) {
        let why = Refusal::SessionEnded;
        let _ = self.inbound.send(Inbound::Dropped { peer, why });
    }

    /// Every heartbeat period: the gate's deadlines, the let-go connections whose last words
    /// left, and a heartbeat to every session.
    fn on_tick(&mut self) {
        self.settle_closings();
        self.tell_unshaken();
        let now = std::time::Instant::now();
        for event in self.gate.sweep(now, &mut self.out) {
            let _ = self.inbound.send(event);
        }
        // Hellos that waited for a name in use are refused, as such, after the count.
        for (peer, frame) in self.out.drain(..) {
            let _ = send_to(&self.send_half, &peer, frame);
        }
        // Its closing comes back as the transport's disconnection (the gate forgets it).
        let send_half = &self.send_half;
        let written = |peer: &str| send_half.unwritten(identity_bytes(peer)) == 0;
        for peer in self.gate.let_go_due(now, written) {
            let _ = self.send_half.disconnect(identity_bytes(&peer));
        }
        let peers: Vec<(String, SessionId)> = self
            .gate
            .sessions()
            .map(|(peer, id)| (peer.clone(), id))
            .collect();
        let mut gone = Vec::new();
        for (peer, session) in peers {
            let Some(frame) = self.gate.seal_beat(&peer, session, self.heartbeat.clone()) else {
                continue;
            };
            if !send_to(&self.send_half, &peer, frame) {
                gone.push(peer);
            }
        }
        for peer in gone {
            self.session_failed(peer);
        }
    }

    /// Tells the coordinator of the connections the transport closed before their ZeroMQ
    /// handshake finished since it last heard: the gate never sees them, and a run probed by
    /// raw connections would look clean. Looked at with every event and every heartbeat
    /// period, and said as one count, so a flood of them costs one event.
    fn tell_unshaken(&mut self) {
        let count = self.handshake_failures.count();
        if count > self.unshaken_told {
            let connections = count - self.unshaken_told;
            self.unshaken_told = count;
            let _ = self.inbound.send(Inbound::Unshaken { connections });
        }
    }

    /// Whether anything queued for a peer the link still speaks to is not written yet.
    fn unwritten(&self) -> bool {
        self.gate
            .addressed()
            .any(|peer| self.send_half.unwritten(identity_bytes(peer)) > 0)
    }

    /// `peer`'s connection is gone: the gate forgets it (see [`Gate::forget`]), and its frames
    /// waiting here are dropped.
    fn forget(&mut self, peer: &str) -> bool {
        self.in_order.forget(peer);
        self.gate.forget(peer)
    }

    /// Applies the transport's closings queued so far (see [`Serving::on_closing`]).
    fn settle_closings(&mut self) {
        while let Ok(id) = self.closings.try_recv() {
            self.on_closing(id);
        }
    }

    /// A connection closed: its session or handshake ends, and the coordinator hears of it.
    fn on_closing(&mut self, id: PeerIdentity) {
        let peer = identity_name(&Bytes::from(id));
        let source = self.gate.handshake_source(&peer).flatten();
        if self.forget(&peer) {
            let _ = self.inbound.send(Inbound::LeftUnproven {
                peer: peer.clone(),
                source,
            });
        }
        let _ = self.inbound.send(Inbound::Disconnected { peer });
        // Hellos that waited for its name are told it is free.
        while let Some(event) = self.gate.next_freed(&mut self.out) {
            self.deliver(event);
        }
    }
}

/// Where the gate's answer to a frame goes: the coordinator, and the peers. A trait so that
/// the order of the two is tested without a socket.
trait Answering {
    /// `Err` once the coordinator is gone.
    fn tell(&mut self, event: Inbound) -> Result<(), ()>;
    fn send(&mut self, peer: &str, frame: Vec<u8>);
    fn close(&mut self, peer: &str);
}

/// The link's own ends: the channel to the coordinator and the socket.
struct Ends<'a> {
    inbound: &'a ToCoordinator,
    send_half: &'a zeromq::RouterSendHalf,
}

impl Answering for Ends<'_> {
    fn tell(&mut self, event: Inbound) -> Result<(), ()> {
        self.inbound.send(event)
    }
    fn send(&mut self, peer: &str, frame: Vec<u8>) {
        // Handshake answers go plain: the peer has no session yet.
        let _ = send_to(self.send_half, peer, frame);
    }
    fn close(&mut self, peer: &str) {
        let _ = self.send_half.disconnect(identity_bytes(peer));
    }
}

/// Hands on the gate's answer to a frame (`event`, the frames in `out`, the handshakes it
/// closed or ended). The coordinator hears all of it before any peer does: a run that ends
/// on a peer's answer has counted it, and a handshake closed to make room for a stranger is
/// counted before that stranger has its challenge. `false` once the coordinator is gone.
fn hand_on(event: Inbound, gate: &mut Gate, out: &mut Outbox, ends: &mut impl Answering) -> bool {
    if !matches!(event, Inbound::Handled) && ends.tell(event).is_err() {
        return false;
    }
    let closing = gate.drain_closing();
    let dropped = closing.iter().cloned().chain(gate.drain_ended_handshakes());
    for (peer, why) in dropped {
        let _ = ends.tell(Inbound::Dropped { peer, why });
    }
    for (peer, frame) in out.drain(..) {
        ends.send(&peer, frame);
    }
    for (peer, _) in closing {
        ends.close(&peer);
    }
    true
}

/// The most events of one peer waiting for the coordinator (its messages, and its frames
/// dropped or rejected, each an event to count): beyond, the link drops them, and says so once
/// ([`Refusal::Flooded`]) until the coordinator has read some. The coordinator may read nothing
/// for a while (its own work between two steps), and a worker sends a heartbeat a period and
/// an answer a task (at most 64 queued): only a flood reaches it, where each event held would
/// cost the driver its memory for as long as it is busy. The events that change what the
/// coordinator knows of a connection (admitted, refused, closed) are never dropped.
pub(crate) const MAX_UNREAD: usize = 4096;

/// Per peer: its events sent to the coordinator and not received yet, and whether its
/// events are being dropped. Counted in by the link thread, out by the coordinator's end.
#[derive(Default)]
pub(crate) struct Backlog(std::sync::Mutex<HashMap<String, (usize, bool)>>);

impl Backlog {
    /// The peer of `event`, if it is one of those counted.
    fn counted(event: &Inbound) -> Option<&str> {
        match event {
            Inbound::Message { peer, .. } | Inbound::Rejected { peer, .. } => Some(peer),
            Inbound::Dropped { why, .. } if *why == Refusal::Flooded => None,
            Inbound::Dropped { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// Whether `event` goes to the coordinator; `Err` with the report to send instead, once,
    /// when its peer's backlog is full (boxed: an event is large, and this is the rare case).
    fn admit(&self, event: &Inbound) -> Result<(), Option<Box<Inbound>>> {
        let Some(peer) = Backlog::counted(event) else {
            return Ok(());
        };
        let mut backlog = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (unread, dropping) = backlog.entry(peer.to_owned()).or_default();
        if *unread < MAX_UNREAD {
            *unread += 1;
            *dropping = false;
            return Ok(());
        }
        if std::mem::replace(dropping, true) {
            return Err(None);
        }
        Err(Some(Box::new(Inbound::Dropped {
            peer: peer.to_owned(),
            why: Refusal::Flooded,
        })))
    }

    /// The coordinator received `event`.
    fn taken(&self, event: &Inbound) {
        let Some(peer) = Backlog::counted(event) else {
            return;
        };
        let mut backlog = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((unread, _)) = backlog.get_mut(peer) {
            *unread = unread.saturating_sub(1);
            // Forgotten once all are read, flooded or not: its next event is admitted and
            // clears the flag anyway, and a table kept for every peer that once flooded
            // (names are the peers' choice) would grow for as long as the run lasts.
            if *unread == 0 {
                backlog.remove(peer);
            }
        }
    }
}

/// The link thread's end of the channel to the coordinator: each peer's events in it bounded
/// by [`MAX_UNREAD`].
pub(crate) struct ToCoordinator {
    sender: std_mpsc::Sender<Inbound>,
    backlog: Arc<Backlog>,
}

impl ToCoordinator {
    /// Sends `event` to the coordinator, or drops it if its peer's backlog is full; `Err`
    /// once the coordinator is gone.
    fn send(&self, event: Inbound) -> Result<(), ()> {
        let event = match self.backlog.admit(&event) {
            Ok(()) => event,
            Err(None) => return Ok(()),
            Err(Some(report)) => *report,
        };
        self.sender.send(event).map_err(|_| ())
    }
}

/// Messages received in a row after which the link thread lets its other tasks run.
const YIELD_EVERY: u32 = 32;

/// Queues `frame` for `peer` without waiting: a peer that has not read its queue (100,000
/// messages) is cut off rather than waited for, as a stranger flooding hellos it never reads
/// the answers of would otherwise stop this loop, and with it every worker's heartbeats.
fn send_to(socket: &zeromq::RouterSendHalf, peer: &str, frame: Vec<u8>) -> bool {
    let mut message = ZmqMessage::from(frame);
    message.push_front(identity_bytes(peer));
    socket.try_send(message).is_ok()
}

/// A routing identity as text: itself when it is a worker's name (see
/// [`name_problem`](crate::protocol::name_problem)), else `0x` and its hex digits
/// (identities ZeroMQ made up for anonymous peers, and whatever a stranger sent): a peer's
/// name in a log line or an error cannot carry a line break or a terminal escape.
fn identity_name(identity: &[u8]) -> String {
    match std::str::from_utf8(identity) {
        Ok(name) if crate::protocol::name_problem(name, usize::MAX).is_none() => name.to_owned(),
        _ => format!("0x{}", hex::encode(identity)),
    }
}

fn identity_bytes(name: &str) -> Bytes {
    match name
        .strip_prefix("0x")
        .and_then(|digits| hex::decode(digits).ok())
    {
        Some(bytes) => Bytes::from(bytes),
        None => Bytes::copy_from_slice(name.as_bytes()),
    }
}

/// A ROUTER message's sender and its one body frame. A message of another number of frames
/// comes with an empty body, which the gate refuses as any frame that does not open, and
/// counts against a stranger's handshake: dropped here, such messages were never counted, and
/// a stranger sent them without end until its admission deadline.
fn split_inbound(message: ZmqMessage, said: &mut Said) -> Option<(String, Bytes)> {
    let mut frames = message.into_vec();
    let peer = identity_name(frames.first()?);
    if frames.len() != 2 {
        if said.again() {
            tracing::warn!(
                %peer,
                frames = frames.len(),
                dropped = said.count(),
                "dropped a message with an unexpected frame count"
            );
        }
        return Some((peer, Bytes::new()));
    }
    let body = frames.pop()?;
    Some((peer, body))
}

fn log_event(event: &Inbound, said: &mut Said) {
    match event {
        Inbound::Rejected { peer, error } if said.again() => {
            tracing::warn!(%peer, %error, rejected = said.count(), "rejected a message")
        }
        Inbound::Dropped { peer, why } => tracing::debug!(%peer, ?why, "dropped a frame"),
        _ => {}
    }
}

/// Why binding failed, in words that say what to do when another process holds the port (a
/// second driver on one address, or the one before it still running), and in the socket
/// layer's own words otherwise.
fn bind_failure(error: &zeromq::ZmqError) -> String {
    match error {
        zeromq::ZmqError::Network(io) if io.kind() == std::io::ErrorKind::AddrInUse => {
            "the address is in use: another process (a driver still running?) listens there; \
             stop it, or choose another port (0: any free one)"
                .to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Transcript;
    use crate::protocol::{Hello, ToDriver};
    use crate::transport::gate::answer_challenge;
    use zeromq::{DealerSocket, SocketEvent, SocketSend};

    const RUN: u64 = 7;

    /// The link's state bound on loopback with `token` and its receiving half, a worker `w0`
    /// admitted by a real handshake over a real connection, the worker's socket and its
    /// events, the coordinator's end and w0's session.
    async fn admitted_w0(token: &Token) -> AdmittedW0 {
        admitted_w0_at(token).await.0
    }

    /// What [`admitted_w0`] returns.
    type AdmittedW0 = (
        (Serving, zeromq::RouterRecvHalf),
        DealerSocket,
        futures::channel::mpsc::Receiver<SocketEvent>,
        std_mpsc::Receiver<Inbound>,
        SessionId,
    );

    /// [`admitted_w0`], and where the link listens.
    async fn admitted_w0_at(token: &Token) -> (AdmittedW0, String) {
        let config = LinkConfig {
            bind: "tcp://127.0.0.1:0".into(),
            run_id: RUN,
            heartbeat: Duration::from_secs(3600),
            max_frame: 8 << 20,
            token: token.clone(),
            encrypt: false,
            max_strangers: 4,
            handshake_deadline: Duration::from_secs(60),
        };
        let (sender, coordinator) = std_mpsc::channel();
        let inbound = ToCoordinator {
            sender,
            backlog: Arc::default(),
        };
        let back = Back {
            opened: tokio_mpsc::unbounded_channel().0,
            sealed: tokio_mpsc::unbounded_channel().0,
        };
        let (ready, bound) = std_mpsc::channel();
        let (mut serving, mut recv_half) = bind(&config, inbound, back, &ready).await.unwrap();
        let endpoint = bound.recv().unwrap().unwrap();
        let mut options = SocketOptions::default();
        options.peer_identity("w0".parse().unwrap());
        let mut worker = DealerSocket::with_options(options);
        let events = worker.monitor();
        worker.connect(&endpoint).await.unwrap();
        let nonce = [5u8; 32];
        let fingerprint = crate::task::fingerprint();
        let hello = ToDriver::Hello(Hello {
            name: "w0".into(),
            fingerprint,
            pid: 1,
            nonce: nonce.to_vec().into(),
        });
        let hello = frame::encode(frame::ANY_RUN, &hello);
        worker.send(ZmqMessage::from(hello)).await.unwrap();
        assert!(serving.on_message(recv_half.recv().await.unwrap()));
        let challenge = worker.recv().await.unwrap();
        let challenge = challenge.get(0).unwrap();
        let ToWorker::Challenge {
            nonce: driver_nonce,
            proof,
            encrypt,
        } = frame::decode(challenge, RUN, false, frame::MAX_PLAIN_FRAME).unwrap()
        else {
            panic!("a challenge")
        };
        let transcript = Transcript {
            run_id: RUN,
            name: "w0",
            fingerprint,
            worker_nonce: &nonce,
            driver_nonce: &driver_nonce,
            encrypt,
        };
        let (mac, _, _) = answer_challenge(token, &transcript, &proof).unwrap();
        let proof = frame::encode(RUN, &ToDriver::Proof { mac: mac.into() });
        worker.send(ZmqMessage::from(proof)).await.unwrap();
        assert!(serving.on_message(recv_half.recv().await.unwrap()));
        let Ok(Inbound::Admitted { session, .. }) = coordinator.try_recv() else {
            panic!("w0 admitted")
        };
        (
            ((serving, recv_half), worker, events, coordinator, session),
            endpoint,
        )
    }

    #[test]
    fn a_seal_that_panics_ends_the_session_and_closes_the_peers_connection() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let token = Token::random();
            let ((mut serving, mut recv_half), mut worker, mut events, coordinator, session) =
                admitted_w0(&token).await;
            let large = Outbound::Frame {
                peer: "w0".into(),
                session,
                frame: vec![0; SEAL_ELSEWHERE_FROM],
                task: None,
            };
            let Turn::Elsewhere { ticket, .. } = serving.outgoing.queue(large) else {
                panic!("sealed elsewhere")
            };
            // Its seal panicked on the blocking thread, which said so.
            serving.on_sealed(Sealed {
                peer: "w0".into(),
                ticket,
                frame: Err("boom".into()),
            });
            assert!(!serving.gate.is_open("w0", session), "the session ends");
            // The coordinator hears of it once, from the closing the transport reports (already
            // queued: the disconnection above reported it), not a second time from the failure.
            serving.settle_closings();
            let heard: Vec<Inbound> = coordinator.try_iter().collect();
            let gone = heard
                .iter()
                .filter(|event| matches!(event, Inbound::Disconnected { peer } if peer == "w0"))
                .count();
            assert_eq!(gone, 1, "{heard:?}");
            assert!(
                !send_to(&serving.send_half, "w0", b"more".to_vec()),
                "the transport holds no connection of w0's any more"
            );
            // The worker hears its connection close, as after a failed send, instead of
            // keeping one that hears nothing more (heartbeats included) until it times out.
            let closed = async {
                loop {
                    tokio::select! {
                        // As the link's and the worker's loops do: their reading halves let
                        // go of closed connections.
                        _ = recv_half.recv() => {}
                        received = worker.recv() => if received.is_err() {
                            return;
                        },
                        event = events.next() => match event {
                            Some(SocketEvent::Disconnected(_)) | None => return,
                            Some(_) => {}
                        },
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(30), closed)
                .await
                .expect("the driver closed the connection");
        });
    }

    #[test]
    fn a_hello_read_before_its_names_old_connection_closed_hears_the_name_is_free() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let token = Token::random();
            let (((mut serving, mut recv_half), old, _events, coordinator, _), endpoint) =
                admitted_w0_at(&token).await;
            // w0 back on a new connection while its old one is open: the transport gives it an
            // identity of its own, and its hello waits for the name.
            let mut options = SocketOptions::default();
            options.peer_identity("w0".parse().unwrap());
            let mut back = DealerSocket::with_options(options);
            back.connect(&endpoint).await.unwrap();
            let hello = ToDriver::Hello(Hello {
                name: "w0".into(),
                fingerprint: crate::task::fingerprint(),
                pid: 1,
                nonce: vec![6u8; 32].into(),
            });
            back.send(ZmqMessage::from(frame::encode(frame::ANY_RUN, &hello)))
                .await
                .unwrap();
            assert!(serving.on_message(recv_half.recv().await.unwrap()));
            // The old connection closes; its closing reaches the link, which tells the new one.
            drop(old);
            let told = async {
                loop {
                    tokio::select! {
                        received = recv_half.recv() => {
                            assert!(serving.on_message(received.unwrap()));
                        }
                        Some(id) = serving.closings.next() => serving.on_closing(id),
                        answer = back.recv() => return answer.unwrap(),
                    }
                }
            };
            let answer = tokio::time::timeout(Duration::from_secs(30), told)
                .await
                .expect("an answer");
            let answer = answer.get(0).unwrap();
            let ToWorker::Refused { reason, mac: None } =
                frame::decode(answer, RUN, false, frame::MAX_PLAIN_FRAME).unwrap()
            else {
                panic!("a refusal")
            };
            assert!(
                reason.contains(crate::protocol::NAME_FREED)
                    && !reason.contains(crate::protocol::NAME_TAKEN),
                "{reason}"
            );
            let heard: Vec<Inbound> = coordinator.try_iter().collect();
            assert!(
                heard
                    .iter()
                    .any(|event| matches!(event, Inbound::Disconnected { peer } if peer == "w0")),
                "{heard:?}"
            );
        });
    }

    /// Ends that write down, in order, what the coordinator was told and what the peers got.
    #[derive(Default)]
    struct Recorded(Vec<(&'static str, String, Option<Refusal>)>);

    impl Answering for Recorded {
        fn tell(&mut self, event: Inbound) -> Result<(), ()> {
            let (peer, why) = match event {
                Inbound::Dropped { peer, why } => (peer, Some(why)),
                Inbound::Admitted { peer, .. } => (peer, None),
                other => panic!("not told here: {other:?}"),
            };
            self.0.push(("told", peer, why));
            Ok(())
        }
        fn send(&mut self, peer: &str, _: Vec<u8>) {
            self.0.push(("sent", peer.to_owned(), None));
        }
        fn close(&mut self, peer: &str) {
            self.0.push(("closed", peer.to_owned(), None));
        }
    }

    /// A gate with room for one handshake, every peer from one host.
    fn gate_of_one(token: &Token) -> Gate {
        let config = GateConfig {
            run_id: RUN,
            token: token.clone(),
            fingerprint: crate::task::fingerprint(),
            encrypt: false,
            max_frame: 8 << 20,
            max_strangers: 1,
            handshake_deadline: Duration::from_secs(60),
        };
        Gate::new(config, |_| None)
    }

    fn hello(name: &str, nonce: [u8; 32]) -> Vec<u8> {
        let hello = ToDriver::Hello(Hello {
            name: name.into(),
            fingerprint: crate::task::fingerprint(),
            pid: 1,
            nonce: nonce.to_vec().into(),
        });
        frame::encode(frame::ANY_RUN, &hello)
    }

    /// `frame` of `peer` through `gate`, and what the link then did, in order.
    fn answered(gate: &mut Gate, peer: &str, frame: &[u8]) -> Recorded {
        let mut out = Outbox::new();
        let event = gate.on_frame(peer, frame, std::time::Instant::now(), &mut out);
        let mut ends = Recorded::default();
        assert!(hand_on(event, gate, &mut out, &mut ends));
        ends
    }

    fn step(
        what: &'static str,
        peer: &str,
        why: Option<Refusal>,
    ) -> (&'static str, String, Option<Refusal>) {
        (what, peer.to_owned(), why)
    }

    #[test]
    fn a_handshake_closed_to_make_room_is_told_before_the_stranger_is_challenged() {
        let token = Token::random();
        let mut gate = gate_of_one(&token);
        let first = answered(&mut gate, "a", &hello("a", [1; 32]));
        assert_eq!(first.0, [step("sent", "a", None)], "a's challenge");
        // b's hello takes a's place: the coordinator counts a's handshake before b has its
        // challenge, and before a's connection closes.
        let made_room = answered(&mut gate, "b", &hello("b", [2; 32]));
        let too_many = Some(Refusal::TooManyStrangers);
        assert_eq!(
            made_room.0,
            [
                step("told", "a", too_many),
                step("sent", "b", None),
                step("closed", "a", None)
            ]
        );
    }

    #[test]
    fn a_handshake_on_a_sessions_path_ended_to_make_room_is_told_before_the_stranger_is_challenged()
    {
        let token = Token::random();
        let mut gate = gate_of_one(&token);
        // w0 admitted, by a real handshake.
        let nonce = [5u8; 32];
        let mut out = Outbox::new();
        let now = std::time::Instant::now();
        let event = gate.on_frame("w0", &hello("w0", nonce), now, &mut out);
        assert!(matches!(event, Inbound::Handled), "{event:?}");
        let (_, challenge) = out.pop().expect("a challenge");
        let ToWorker::Challenge {
            nonce: driver_nonce,
            proof,
            encrypt,
        } = frame::decode(&challenge, RUN, false, frame::MAX_PLAIN_FRAME).unwrap()
        else {
            panic!("a challenge")
        };
        let transcript = Transcript {
            run_id: RUN,
            name: "w0",
            fingerprint: crate::task::fingerprint(),
            worker_nonce: &nonce,
            driver_nonce: &driver_nonce,
            encrypt,
        };
        let (mac, _, _) = answer_challenge(&token, &transcript, &proof).unwrap();
        let proof = frame::encode(RUN, &ToDriver::Proof { mac: mac.into() });
        let event = gate.on_frame("w0", &proof, now, &mut out);
        assert!(matches!(event, Inbound::Admitted { .. }), "{event:?}");
        // A hello put on w0's path opens the one handshake there is room for; a stranger's
        // ends it, and the coordinator counts it before the stranger has its challenge.
        let on_path = answered(&mut gate, "w0", &hello("w0", [6; 32]));
        assert_eq!(on_path.0, [step("sent", "w0", None)]);
        let made_room = answered(&mut gate, "x", &hello("x", [7; 32]));
        let too_many = Some(Refusal::TooManyStrangers);
        assert_eq!(
            made_room.0,
            [step("told", "w0", too_many), step("sent", "x", None)],
            "w0's connection stays its session's"
        );
    }

    fn heartbeat(peer: &str) -> Inbound {
        Inbound::Message {
            peer: peer.into(),
            message: ToDriver::Heartbeat,
            bytes: 0,
            received: std::time::Instant::now(),
        }
    }

    #[test]
    fn a_peers_events_past_the_backlog_are_dropped_and_said_once() {
        let backlog = Backlog::default();
        for _ in 0..MAX_UNREAD {
            assert!(backlog.admit(&heartbeat("x")).is_ok());
        }
        let flooded = |admitted: Result<(), Option<Box<Inbound>>>| {
            matches!(
                admitted.map_err(|report| report.map(|r| *r)),
                Err(Some(Inbound::Dropped {
                    why: Refusal::Flooded,
                    ..
                }))
            )
        };
        assert!(flooded(backlog.admit(&heartbeat("x"))), "said once");
        assert!(matches!(backlog.admit(&heartbeat("x")), Err(None)));
        let closed = Inbound::Disconnected { peer: "x".into() };
        assert!(backlog.admit(&closed).is_ok(), "a closing is never dropped");
        assert!(backlog.admit(&heartbeat("w0")).is_ok(), "other peers go on");
        // The coordinator reads one: the next goes, and a later flood is said again.
        backlog.taken(&heartbeat("x"));
        assert!(backlog.admit(&heartbeat("x")).is_ok());
        assert!(flooded(backlog.admit(&heartbeat("x"))));
        // Once all are read, the peer is forgotten.
        for _ in 0..MAX_UNREAD {
            backlog.taken(&heartbeat("w0"));
        }
        let peers = backlog.0.lock().unwrap();
        assert!(!peers.contains_key("w0") && peers.contains_key("x"));
    }

    #[test]
    fn peers_that_flooded_are_forgotten_once_their_events_are_read() {
        let backlog = Backlog::default();
        for n in 0..50 {
            let peer = format!("stranger{n}");
            // One event past the backlog: dropped and said once, then all read.
            for _ in 0..=MAX_UNREAD {
                let _ = backlog.admit(&heartbeat(&peer));
            }
            for _ in 0..MAX_UNREAD {
                backlog.taken(&heartbeat(&peer));
            }
        }
        assert_eq!(backlog.0.lock().unwrap().len(), 0, "no peer is kept");
        // A peer forgotten after its flood is admitted again, and a new flood said again.
        for _ in 0..MAX_UNREAD {
            assert!(backlog.admit(&heartbeat("stranger0")).is_ok());
        }
        assert!(matches!(
            backlog
                .admit(&heartbeat("stranger0"))
                .map_err(|r| r.map(|r| *r)),
            Err(Some(Inbound::Dropped {
                why: Refusal::Flooded,
                ..
            }))
        ));
    }
}
