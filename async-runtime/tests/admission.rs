//! The vendored transport's admission rule (`zeromq::SocketOptions::admission`): its queue
//! without sockets, then a ROUTER with the rule against raw ZMTP peers on loopback. No test
//! here depends on how long anything takes; the waits on the socket's events are only guards
//! against a hang.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zeromq::{AdmissionQueue, RouterSocket, Socket, SocketEvent, SocketOptions, SocketRecv};

fn host(last: u8) -> Option<IpAddr> {
    Some(IpAddr::from([10, 0, 0, last]))
}

/// Every entry still waits.
fn all(_: u64, _: &&str) -> bool {
    true
}

#[test]
fn expired_takes_out_exactly_those_past_their_deadline_oldest_first() {
    let t0 = Instant::now();
    let mut queue = AdmissionQueue::new();
    for (connection, after) in [(1, 1), (2, 2), (3, 3)] {
        let deadline = t0 + Duration::from_secs(after);
        assert!(queue
            .enter(connection, host(1), "x", deadline, 8, all)
            .is_empty());
    }
    assert!(queue.expired(t0).is_empty());
    assert_eq!(queue.next_deadline(), Some(t0 + Duration::from_secs(1)));
    let expired: Vec<u64> = queue
        .expired(t0 + Duration::from_secs(2))
        .into_iter()
        .map(|(connection, _)| connection)
        .collect();
    assert_eq!(expired, [1, 2]);
    assert_eq!(queue.next_deadline(), Some(t0 + Duration::from_secs(3)));
    assert_eq!(queue.expired(t0 + Duration::from_secs(9)).len(), 1);
    assert!(queue.is_empty());
    assert_eq!(queue.next_deadline(), None);
}

#[test]
fn a_deadline_read_a_moment_early_keeps_the_queue_in_order() {
    let t0 = Instant::now();
    let mut queue = AdmissionQueue::new();
    queue.enter(1, host(1), "a", t0 + Duration::from_secs(2), 8, all);
    // Its clock was read just before the first one's.
    queue.enter(2, host(1), "b", t0 + Duration::from_secs(1), 8, all);
    assert_eq!(queue.next_deadline(), Some(t0 + Duration::from_secs(2)));
    let expired = queue.expired(t0 + Duration::from_secs(2));
    assert_eq!(expired, [(1, "a"), (2, "b")]);
}

/// What a reconnect loop costs is bounded by the cap: a connection that never leaves the
/// queue by itself is taken out by a newer one, and nothing else holds its deadline.
#[test]
fn a_reconnect_loop_never_grows_the_queue_past_its_cap() {
    let t0 = Instant::now();
    let mut queue = AdmissionQueue::new();
    let mut evicted = Vec::new();
    for connection in 0..10_000u64 {
        let deadline = t0 + Duration::from_secs(30);
        evicted.extend(queue.enter(connection, host(1), "x", deadline, 8, all));
        assert!(queue.len() <= 8);
    }
    // The oldest made room each time, in order.
    let evicted: Vec<u64> = evicted
        .into_iter()
        .map(|(connection, _)| connection)
        .collect();
    assert_eq!(evicted, (0..10_000 - 8).collect::<Vec<_>>());
    // A connection that left is dropped at the next entry, not closed.
    let left = |connection: u64, _: &&str| connection.is_multiple_of(2);
    let closed = queue.enter(20_000, host(1), "y", t0, 8, left);
    assert!(closed.is_empty());
    assert_eq!(queue.len(), 5);
}

#[test]
fn a_full_queue_takes_out_the_oldest_of_the_host_holding_the_most() {
    let t0 = Instant::now();
    let mut queue = AdmissionQueue::new();
    queue.enter(1, host(9), "far", t0, 3, all);
    queue.enter(2, host(1), "flood", t0, 3, all);
    queue.enter(3, host(1), "flood", t0, 3, all);
    let evicted = queue.enter(4, host(1), "flood", t0, 3, all);
    assert_eq!(evicted, [(2, "flood")]);
    assert_eq!(queue.len(), 3);
}

/// The queue names connections by number: the entry of a connection that went away says no
/// more than that number, so a newer connection under the same identity is not what it takes
/// out.
#[test]
fn a_stale_entry_under_a_reused_identity_is_dropped_not_closed() {
    let t0 = Instant::now();
    let mut queue = AdmissionQueue::new();
    queue.enter(1, host(1), "x", t0, 2, all);
    queue.enter(2, host(1), "x", t0, 2, all);
    // Connection 1 went away; 2 holds the identity "x" now.
    let holds_x = |connection: u64, identity: &&str| *identity != "x" || connection == 2;
    let evicted = queue.enter(3, host(1), "c", t0, 2, holds_x);
    assert!(evicted.is_empty(), "closed {evicted:?}");
    assert!(!queue.advance(1, "x"));
    assert!(queue.advance(2, "x admitted"));
    assert_eq!(queue.leave(2), Some("x admitted"));
    assert_eq!(queue.leave(2), None);
}

#[test]
fn a_connection_taken_out_cannot_move_on() {
    let t0 = Instant::now();
    let mut queue = AdmissionQueue::new();
    queue.enter(1, host(1), "handshaking", t0, 1, all);
    assert_eq!(queue.enter(2, host(1), "handshaking", t0, 1, all).len(), 1);
    assert!(!queue.advance(1, "connected"));
    assert_eq!(queue.expired(t0).len(), 1);
    assert!(!queue.advance(2, "connected"));
}

// The rule on a real socket.

const INITIAL: usize = 1024;

struct Router {
    endpoint: String,
    events: futures::channel::mpsc::Receiver<SocketEvent>,
    limits: zeromq::FrameLimits,
    failures: zeromq::HandshakeFailures,
}

/// A ROUTER on loopback with the admission rule (at most `max` waiting, each for `deadline`),
/// as the driver configures its own, and a task that reads it (a closed peer is noticed there).
async fn router(max: usize, deadline: Duration) -> Router {
    let mut options = SocketOptions::default();
    options
        .max_frame_size(1 << 20)
        .initial_frame_size(INITIAL)
        .unique_peer_identities(true)
        .admission(max, deadline);
    let limits = options.frame_limits();
    let failures = options.handshake_failures();
    let mut socket = RouterSocket::with_options(options);
    let events = socket.monitor();
    let endpoint = socket.bind("tcp://127.0.0.1:0").await.expect("bind");
    let endpoint = endpoint
        .to_string()
        .trim_start_matches("tcp://")
        .to_string();
    tokio::spawn(async move { while socket.recv().await.is_ok() {} });
    Router {
        endpoint,
        events,
        limits,
        failures,
    }
}

impl Router {
    /// The socket's next event other than `Listening`.
    async fn next_event(&mut self) -> SocketEvent {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(60), self.events.next())
                .await
                .expect("the socket reports within a minute")
                .expect("the monitor is open");
            if !matches!(event, SocketEvent::Listening(_)) {
                return event;
            }
        }
    }

    /// Asserts the next event is `what` for `identity`.
    async fn expect(&mut self, what: &str, identity: &str) {
        let event = self.next_event().await;
        let seen = match &event {
            SocketEvent::Accepted(_, peer) => ("accepted", peer.to_vec()),
            SocketEvent::Disconnected(peer) => ("disconnected", peer.to_vec()),
            _ => ("other", Vec::new()),
        };
        assert_eq!(
            seen,
            (what, identity.as_bytes().to_vec()),
            "expected {what} {identity}, the socket said {event:?}"
        );
    }

    /// A peer whose TCP connection is accepted and that has its greeting: the socket has
    /// entered it in its admission queue.
    async fn greeted(&self) -> TcpStream {
        greeted(&self.endpoint).await
    }
}

/// A peer of the socket at `endpoint` that has exchanged greetings with it.
async fn greeted(endpoint: &str) -> TcpStream {
    let mut peer = TcpStream::connect(endpoint).await.expect("connect");
    peer.write_all(&test_support::zmtp_null_greeting())
        .await
        .expect("greeting");
    let mut theirs = [0u8; 64];
    peer.read_exact(&mut theirs).await.expect("its greeting");
    peer
}

/// Ends a greeted peer's ZMTP handshake as a DEALER named `identity`.
async fn ready(peer: &mut TcpStream, identity: &str) {
    let mut ready = vec![5u8];
    ready.extend_from_slice(b"READY");
    ready.push(11);
    ready.extend_from_slice(b"Socket-Type");
    ready.extend_from_slice(&6u32.to_be_bytes());
    ready.extend_from_slice(b"DEALER");
    ready.push(8);
    ready.extend_from_slice(b"Identity");
    ready.extend_from_slice(&(identity.len() as u32).to_be_bytes());
    ready.extend_from_slice(identity.as_bytes());
    let mut command = vec![0x04, ready.len() as u8];
    command.extend_from_slice(&ready);
    peer.write_all(&command).await.expect("READY");
}

/// A connection that went away left its entry in the admission queue; a newer connection took
/// its identity. Making room must not close the newer one by that identity: before the fix,
/// the stale entry counted as waiting (its identity was connected and not admitted), was the
/// oldest, and closed the newer connection.
#[tokio::test]
async fn a_stale_entry_closes_no_newer_connection_under_its_identity() {
    let mut router = router(2, Duration::from_secs(600)).await;
    let mut old = router.greeted().await;
    ready(&mut old, "x").await;
    router.expect("accepted", "x").await;
    // The newer one is accepted while the old one still waits.
    let mut newer = router.greeted().await;
    drop(old);
    router.expect("disconnected", "x").await;
    ready(&mut newer, "x").await;
    router.expect("accepted", "x").await;
    // A third makes the queue full if the old entry still counted.
    let mut third = router.greeted().await;
    ready(&mut third, "c").await;
    router.expect("accepted", "c").await;
    // And the newer connection still works: the socket hears it.
    drop(third);
    router.expect("disconnected", "c").await;
    drop(newer);
    router.expect("disconnected", "x").await;
}

/// One task closes every connection at its deadline: after many connections came and went,
/// none is left behind per connection (before, each kept a task asleep for the whole
/// deadline, which grew a driver under a reconnect loop by tens of MB).
#[tokio::test]
async fn connections_that_came_and_went_leave_no_task_behind() {
    let mut router = router(4, Duration::from_secs(600)).await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    for n in 0..100 {
        let mut peer = router.greeted().await;
        let name = format!("p{n}");
        ready(&mut peer, &name).await;
        router.expect("accepted", &name).await;
        drop(peer);
        router.expect("disconnected", &name).await;
    }
    // Let the stopped writers end.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let alive = metrics.num_alive_tasks();
    assert!(
        alive <= before + 5,
        "{alive} tasks alive after 100 connections came and went, {before} before"
    );
}

/// At its deadline an unadmitted connection is closed, an admitted one is not (its deadline
/// came first), and one stuck in its ZMTP handshake is closed too.
#[tokio::test]
async fn the_sweeper_closes_only_what_was_not_admitted_in_time() {
    // The admitted one is admitted well within its deadline.
    let mut router = router(8, Duration::from_secs(2)).await;
    let mut admitted = router.greeted().await;
    ready(&mut admitted, "a").await;
    router.expect("accepted", "a").await;
    assert!(router.limits.set(b"a", 1 << 20));
    let mut waiting = router.greeted().await;
    ready(&mut waiting, "w").await;
    router.expect("accepted", "w").await;
    router.expect("disconnected", "w").await;
    let mut stuck = router.greeted().await;
    match router.next_event().await {
        SocketEvent::AcceptFailed(_) => {}
        other => panic!("expected the stuck handshake to fail, the socket said {other:?}"),
    }
    // It reads the socket's READY, then the end of the connection.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), stuck.read_to_end(&mut rest))
        .await
        .expect("closed within a minute");
    assert!(rest.len() < 64, "read {read:?}: {rest:?}");
    // The admitted one was never closed.
    drop(admitted);
    router.expect("disconnected", "a").await;
}

/// Each accepted connection closed before its ZMTP handshake finished is counted, whatever
/// closed it: bytes that are no greeting, making room, the deadline. One that finished it is
/// not, even when it is closed before admission: it was a peer, which the application saw.
#[tokio::test]
async fn connections_closed_in_their_zmtp_handshake_are_counted() {
    let mut router = router(2, Duration::from_secs(2)).await;
    let failed = |router: &Router, count: u64| assert_eq!(router.failures.count(), count);
    let accept_failed = |event: SocketEvent| match event {
        SocketEvent::AcceptFailed(_) => {}
        other => panic!("expected a handshake to fail, the socket said {other:?}"),
    };
    // A greeting starts with 0xFF: an HTTP request is refused at its first byte.
    let mut garbage = TcpStream::connect(&router.endpoint).await.expect("connect");
    let request = format!("GET / HTTP/1.1\r\n\r\n{:64}", "");
    garbage.write_all(request.as_bytes()).await.expect("bytes");
    accept_failed(router.next_event().await);
    failed(&router, 1);
    // A peer that finishes the handshake, then is closed to make room: not counted.
    let mut peer = router.greeted().await;
    ready(&mut peer, "p").await;
    router.expect("accepted", "p").await;
    let _first = router.greeted().await;
    let _second = router.greeted().await;
    router.expect("disconnected", "p").await;
    failed(&router, 1);
    // A third silent one closes the first, in its handshake.
    let _third = router.greeted().await;
    accept_failed(router.next_event().await);
    failed(&router, 2);
    // The other two at their deadline.
    accept_failed(router.next_event().await);
    accept_failed(router.next_event().await);
    failed(&router, 4);
}

/// An allowance too long for the clock to add is a very long one, not a panic that drops the
/// connection.
#[tokio::test]
async fn an_endless_allowance_admits_as_usual() {
    let mut router = router(2, Duration::MAX).await;
    let mut peer = router.greeted().await;
    ready(&mut peer, "p").await;
    router.expect("accepted", "p").await;
}

/// The driver's link reads closings from `RouterSocket::disconnections`, not from the monitor:
/// the monitor's channel is bounded and takes an event per accepted connection too, so
/// connections that come and go faster than it is read filled it, and a closing was lost (a
/// let-go session then outlived its connection until its linger, turning back its worker's
/// next hello). Every closing is there, in order, while the unread monitor has dropped some.
#[tokio::test]
async fn no_closing_is_lost_while_the_monitor_is_full() {
    let mut options = SocketOptions::default();
    options
        .max_frame_size(1 << 20)
        .initial_frame_size(INITIAL)
        .unique_peer_identities(true)
        .admission(8, Duration::from_secs(600));
    let mut socket = RouterSocket::with_options(options);
    let mut monitor = socket.monitor();
    let mut closings = socket.disconnections();
    let endpoint = socket.bind("tcp://127.0.0.1:0").await.expect("bind");
    let endpoint = endpoint
        .to_string()
        .trim_start_matches("tcp://")
        .to_string();
    let (heard, mut hears) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(message) = socket.recv().await {
            let _ = heard.send(message.get(0).map(|id| id.to_vec()));
        }
    });
    let wait = Duration::from_secs(60);
    let peers = 700;
    for n in 0..peers {
        let mut peer = greeted(&endpoint).await;
        peer.set_nodelay(true).expect("no delay");
        let name = format!("p{n}");
        ready(&mut peer, &name).await;
        // One short message: once the socket has read it, the peer is registered, so its
        // closing is one the socket reports.
        peer.write_all(&[0x00, 1, b'm']).await.expect("message");
        let from = tokio::time::timeout(wait, hears.recv()).await;
        assert_eq!(
            from.expect("heard within a minute"),
            Some(Some(name.clone().into_bytes()))
        );
        drop(peer);
        let closed = tokio::time::timeout(wait, closings.next()).await;
        let closed = closed.expect("closed within a minute").expect("open");
        assert_eq!(closed.to_vec(), name.into_bytes());
    }
    let mut monitored = 0;
    while monitor.try_recv().is_ok() {
        monitored += 1;
    }
    assert!(
        monitored < 2 * peers,
        "the monitor kept all {monitored} events: it no longer shows the loss"
    );
}
