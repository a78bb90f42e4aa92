//! The driver's end of the wire: a ROUTER socket served by a dedicated thread with its own
//! single-threaded tokio runtime. The coordinator talks to it through channels only.

use std::collections::HashSet;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc as tokio_mpsc;
use zeromq::{
    RouterSocket, Socket, SocketEvent, SocketOptions, SocketRecv, SocketSend, ZmqMessage,
};

use super::frame;
use crate::error::RuntimeError;
use crate::protocol::{ToDriver, ToWorker};

/// What the link hands to the coordinator.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A decoded message from a worker.
    Message {
        peer: String,
        message: ToDriver,
        bytes: usize,
    },
    /// A frame that failed its checks; already logged.
    Rejected {
        peer: String,
        error: frame::FrameError,
    },
    /// The transport saw the peer go away.
    Disconnected { peer: String },
}

struct Outbound {
    peer: String,
    frame: Vec<u8>,
}

/// The driver's socket thread.
pub(crate) struct DriverLink {
    endpoint: String,
    outbound: Option<tokio_mpsc::UnboundedSender<Outbound>>,
    inbound: std_mpsc::Receiver<Inbound>,
    thread: Option<JoinHandle<()>>,
}

/// Settings of the link.
pub(crate) struct LinkConfig {
    pub bind: String,
    pub run_id: u64,
    pub heartbeat: Duration,
    pub max_frame: usize,
}

impl DriverLink {
    /// Binds the ROUTER socket and starts serving it.
    pub fn start(config: LinkConfig) -> Result<DriverLink, RuntimeError> {
        let (inbound_tx, inbound) = std_mpsc::channel();
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
            thread: Some(thread),
        })
    }

    /// The address workers connect to, e.g. `tcp://127.0.0.1:41234`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Queues `frame` for `peer`. Queued is not delivered: the coordinator's in-flight table
    /// accounts for what never comes back.
    pub fn send(&self, peer: &str, frame: Vec<u8>) {
        if let Some(out) = &self.outbound {
            // Fails only when the link thread is gone, which the next receive reports.
            let _ = out.send(Outbound {
                peer: peer.to_owned(),
                frame,
            });
        }
    }

    /// Waits up to `timeout` for the next inbound event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Inbound>, RuntimeError> {
        match self.inbound.recv_timeout(timeout) {
            Ok(event) => Ok(Some(event)),
            Err(std_mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(RuntimeError::Transport(
                "the driver's socket thread stopped".into(),
            )),
        }
    }

    /// Returns an inbound event if one is waiting.
    pub fn try_recv(&self) -> Option<Inbound> {
        self.inbound.try_recv().ok()
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
    inbound: std_mpsc::Sender<Inbound>,
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
    inbound: std_mpsc::Sender<Inbound>,
    mut outbound: tokio_mpsc::UnboundedReceiver<Outbound>,
    ready: std_mpsc::Sender<Result<String, RuntimeError>>,
) {
    // A peer declaring a frame beyond the bound is cut off before anything is reserved for it.
    let mut options = SocketOptions::default();
    options.max_frame_size(config.max_frame);
    let mut socket = RouterSocket::with_options(options);
    let mut events = socket.monitor();
    let endpoint = match socket.bind(&config.bind).await {
        Ok(endpoint) => endpoint.to_string(),
        Err(e) => {
            let _ = ready.send(Err(RuntimeError::Bind {
                address: config.bind.clone(),
                reason: e.to_string(),
            }));
            return;
        }
    };
    let _ = ready.send(Ok(endpoint));
    let (mut send_half, mut recv_half) = socket.split();
    let heartbeat = frame::encode(config.run_id, &ToWorker::Heartbeat);
    let mut peers: HashSet<String> = HashSet::new();
    let mut ticker = tokio::time::interval(config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        tokio::select! {
            received = recv_half.recv() => {
                let Ok(message) = received else { break };
                let Some(event) = decode_inbound(&config, message) else { continue };
                if let Inbound::Message { peer, .. } = &event {
                    peers.insert(peer.clone());
                }
                if inbound.send(event).is_err() {
                    break;
                }
            }
            queued = outbound.recv() => {
                let Some(Outbound { peer, frame }) = queued else { break };
                if !send_to(&mut send_half, &peer, frame).await {
                    peers.remove(&peer);
                    let _ = inbound.send(Inbound::Disconnected { peer });
                }
            }
            _ = ticker.tick() => {
                let mut gone = Vec::new();
                for peer in &peers {
                    if !send_to(&mut send_half, peer, heartbeat.clone()).await {
                        gone.push(peer.clone());
                    }
                }
                for peer in gone {
                    peers.remove(&peer);
                    let _ = inbound.send(Inbound::Disconnected { peer });
                }
            }
            Some(event) = events.next() => {
                if let SocketEvent::Disconnected(id) = event {
                    let peer = identity_name(&Bytes::from(id));
                    peers.remove(&peer);
                    let _ = inbound.send(Inbound::Disconnected { peer });
                }
            }
        }
    }
    // ZeroMQ queues are not flushed when the socket is dropped: give the last messages (the
    // workers' shutdown) a moment to leave.
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn send_to(socket: &mut zeromq::RouterSendHalf, peer: &str, frame: Vec<u8>) -> bool {
    let mut message = ZmqMessage::from(frame);
    message.push_front(identity_bytes(peer));
    socket.send(message).await.is_ok()
}

/// A routing identity as text: itself when it is UTF-8 (our workers' names), else `0x` and
/// its hex digits (identities ZeroMQ made up for anonymous peers).
fn identity_name(identity: &[u8]) -> String {
    match std::str::from_utf8(identity) {
        Ok(name) if !name.starts_with("0x") => name.to_owned(),
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

fn decode_inbound(config: &LinkConfig, message: ZmqMessage) -> Option<Inbound> {
    let mut frames = message.into_vec();
    if frames.len() != 2 {
        tracing::warn!(
            frames = frames.len(),
            "dropped a message with an unexpected frame count"
        );
        return None;
    }
    let body = frames.pop()?;
    let peer = identity_name(&frames[0]);
    // A worker's hello may precede its knowing the run id; every later message must carry it.
    match frame::decode::<ToDriver>(&body, config.run_id, true, config.max_frame) {
        Ok(message) => Some(Inbound::Message {
            peer,
            message,
            bytes: body.len(),
        }),
        Err(e) => {
            tracing::warn!(%peer, error = %e, "rejected a message");
            Some(Inbound::Rejected { peer, error: e })
        }
    }
}
