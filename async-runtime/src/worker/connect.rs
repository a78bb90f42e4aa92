//! The worker's connection to the driver: reaching it while it is not up yet, the frame
//! limit that stays small until the driver proved the token, and sending a frame.

use std::time::{Duration, Instant};

use zeromq::util::PeerIdentity;
use zeromq::{DealerSocket, FrameLimits, Socket, SocketEvent, SocketSend, ZmqMessage};

use crate::error::RuntimeError;
use crate::transport::frame::MAX_PLAIN_FRAME;

/// The largest frame a peer may send before it proved the token: a handshake frame's, with
/// room for ZeroMQ's own commands (larger handshake frames are dropped undecoded anyway).
pub(super) const BEFORE_PROOF_FRAME: usize = 2 * MAX_PLAIN_FRAME;

/// The frame limit of the connection to the driver: small until the driver proved the token.
pub(super) struct DriverFrameLimit {
    pub(super) limits: FrameLimits,
    /// The connection's identity in `limits`, as the transport announced it.
    pub(super) peer: Option<PeerIdentity>,
    pub(super) max: usize,
}

impl DriverFrameLimit {
    /// Lets the proven driver send frames up to the worker's limit (partitions are large).
    pub(super) fn raise(&self) {
        let raised = self
            .peer
            .as_ref()
            .is_some_and(|peer| self.limits.set(peer, self.max));
        if !raised {
            tracing::warn!("the driver's frame limit could not be raised: large frames will close the connection");
        }
    }
}

/// The identity the transport gave the connection to the driver, which it announced on
/// connecting (the event is queued before `connect` returns).
pub(super) fn connected_peer(
    events: &mut futures::channel::mpsc::Receiver<SocketEvent>,
) -> Option<PeerIdentity> {
    while let Ok(event) = events.try_recv() {
        if let SocketEvent::Connected(_, peer) = event {
            return Some(peer);
        }
    }
    None
}

/// One connection attempt's limit. Within it zmq.rs retries a refused connection with pauses
/// doubling from 50 ms, so the cap keeps a waiting worker's tries at most about a second apart.
pub(super) const CONNECT_ATTEMPT: Duration = Duration::from_secs(2);
/// The least time between two tries, for failures that return at once (a name not resolved).
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// How often a waiting worker says it is still waiting.
const WAITING_NOTICE_EVERY: Duration = Duration::from_secs(30);

/// Connects to the driver, trying again until `deadline` while it refuses connections, does
/// not answer, or its name does not resolve: it may still be loading its data, or its address
/// not be published yet. An address that does not parse fails at once.
pub(super) async fn reach(
    socket: &mut DealerSocket,
    driver: &str,
    deadline: Instant,
) -> Result<(), RuntimeError> {
    let started = Instant::now();
    let mut last_notice: Option<Instant> = None;
    loop {
        let attempt = Instant::now();
        let error = match socket.connect(driver).await {
            Ok(()) => {
                if last_notice.is_some() {
                    let waited_s = started.elapsed().as_secs();
                    tracing::info!(driver, waited_s, "reached the driver");
                }
                return Ok(());
            }
            Err(error) => error,
        };
        // zmq.rs retries a refused connection within the attempt, and reports only its timeout.
        let reason = match &error {
            zeromq::ZmqError::ConnectTimeout(_) => {
                // A stopped driver's host accepts the connection and nothing answers it; a
                // live driver's greeting over a slow link comes after the attempt ended.
                format!(
                    "nothing answered there: nothing listens, the driver is stopped (a paused \
                     process, a suspended host), it does not speak ZeroMQ, or its answer takes \
                     longer than the {} s a try waits (a link whose round trip is a second or more)",
                    CONNECT_ATTEMPT.as_secs()
                )
            }
            other => format!(
                "the connection failed ({})",
                zeromq_said(&other.to_string())
            ),
        };
        if matches!(error, zeromq::ZmqError::Endpoint(_)) || Instant::now() >= deadline {
            let waited = match started.elapsed().as_secs() {
                0 => String::new(),
                s => format!(" (tried for {s} s)"),
            };
            return Err(RuntimeError::DriverLost(format!(
                "cannot reach it at {driver}{waited}: {reason}"
            )));
        }
        if last_notice.is_none_or(|at| at.elapsed() >= WAITING_NOTICE_EVERY) {
            let waited_s = started.elapsed().as_secs();
            let left_s = deadline.saturating_duration_since(Instant::now()).as_secs();
            tracing::info!(
                driver,
                %reason,
                waited_s,
                left_s,
                "waiting for the driver: not reachable yet (it may still be loading its data, or be stopped)"
            );
            last_notice = Some(Instant::now());
        }
        let pause = RETRY_PAUSE.saturating_sub(attempt.elapsed());
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

pub(super) async fn send(
    tx: &mut zeromq::DealerSendHalf,
    frame: Vec<u8>,
) -> Result<(), RuntimeError> {
    tx.send(ZmqMessage::from(frame)).await.map_err(|e| {
        RuntimeError::DriverLost(format!(
            "cannot send to it: the connection is gone ({})",
            zeromq_said(&e.to_string())
        ))
    })
}

/// ZeroMQ's own words for a failure, labelled as its: kept for the cause (a reset, a frame
/// cut short), after the worker's own words for the operator.
pub(super) fn zeromq_said(error: &str) -> String {
    format!("ZeroMQ said: {}", crate::protocol::peer_text(error))
}
