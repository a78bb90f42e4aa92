//! Hand-written peers for the trust tests: an impostor that speaks ZeroMQ under the workers'
//! names without the token, raw TCP peers that declare huge frames, and a proxy that replays a
//! real worker's sealed results on its own connection.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use asyncopt_runtime::protocol::{Hello, ToDriver};
use asyncopt_runtime::transport::frame::{self, HEADER_LEN, KIND_MAC, MAX_PLAIN_FRAME};
use asyncopt_runtime::transport::session::{Direction, Sealer};
use zeromq::{Socket, SocketOptions, SocketSend};

/// What the attack sent.
#[derive(Debug, Default)]
pub struct Sent {
    /// Messages that only an admitted session may send, plain or sealed under a guessed key.
    pub unsealed: u64,
    /// Hellos of impostors (each must be refused).
    pub hellos: u64,
}

fn result(seq: u64, len: usize) -> ToDriver {
    ToDriver::Result {
        seq,
        compute_s: 0.0,
        cpu_s: 0.0,
        delay_s: 0.0,
        held_s: 0.0,
        body: postcard::to_allocvec(&ndarray::Array1::<f64>::zeros(len))
            .unwrap()
            .into(),
    }
}

/// A runtime on this thread for a hand-written peer.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Under each name: every message a worker sends, without the token.
pub fn attack(endpoint: &str, names: &[&str]) -> Sent {
    let runtime = runtime();
    let mut sent = Sent::default();
    for name in names {
        runtime.block_on(impostor(endpoint, name, &mut sent));
    }
    let address = endpoint.trim_start_matches("tcp://");
    for _ in 0..2 {
        assert!(
            huge_frame_is_cut_off(address),
            "a huge frame closes the connection"
        );
    }
    sent
}

async fn impostor(endpoint: &str, name: &str, sent: &mut Sent) {
    let mut options = SocketOptions::default();
    options.peer_identity(name.parse().expect("a name"));
    let mut socket = zeromq::DealerSocket::with_options(options);
    socket
        .connect(endpoint)
        .await
        .expect("the impostor connects");
    let run = frame::ANY_RUN;
    let mut frames = Vec::new();
    // Plain: a failure, results of the wrong shape for guessed sequence numbers, heartbeats.
    frames.push(frame::encode(
        run,
        &ToDriver::Failed {
            seq: 1,
            message: "evil".into(),
        },
    ));
    for seq in 1..=20 {
        frames.push(frame::encode(run, &result(seq, 2)));
    }
    for _ in 0..20 {
        frames.push(frame::encode(run, &ToDriver::Heartbeat));
    }
    // Sealed under a guessed key.
    let mut guess = Sealer::new(&[7; 32], Direction::ToDriver, false);
    for seq in 1..=10 {
        frames.push(guess.seal(frame::encode(run, &result(seq, 2))));
    }
    sent.unsealed += frames.len() as u64;
    for frame in frames {
        socket.send(frame.into()).await.expect("queued");
    }
    // A hello under the admitted name (its connection has an identity of its own, so it is
    // refused), and one under a new name that cannot answer the challenge.
    for (hello_name, answer) in [(name.to_owned(), false), (format!("evil-{name}"), true)] {
        let hello = Hello {
            name: hello_name.clone(),
            fingerprint: asyncopt_runtime::task::fingerprint(),
            pid: 1,
            nonce: vec![1; 32].into(),
        };
        if answer {
            let mut options = SocketOptions::default();
            options.peer_identity(hello_name.parse().expect("a name"));
            let mut fresh = zeromq::DealerSocket::with_options(options);
            fresh.connect(endpoint).await.expect("connects");
            fresh
                .send(frame::encode(run, &ToDriver::Hello(hello)).into())
                .await
                .expect("queued");
            use zeromq::SocketRecv;
            let challenge = tokio::time::timeout(std::time::Duration::from_secs(10), fresh.recv())
                .await
                .expect("a challenge in time")
                .expect("a challenge");
            let bytes = challenge.into_vec().pop().expect("a frame");
            let (driver_run, _) = frame::open(&bytes, MAX_PLAIN_FRAME).expect("a frame of ours");
            fresh
                .send(
                    frame::encode(
                        driver_run,
                        &ToDriver::Proof {
                            mac: vec![0; 32].into(),
                        },
                    )
                    .into(),
                )
                .await
                .expect("queued");
            let refusal = tokio::time::timeout(std::time::Duration::from_secs(10), fresh.recv())
                .await
                .expect("a refusal in time")
                .expect("a refusal");
            let bytes = refusal.into_vec().pop().expect("a frame");
            let reply: asyncopt_runtime::protocol::ToWorker =
                frame::decode(&bytes, driver_run, false, MAX_PLAIN_FRAME).expect("plain");
            assert!(
                format!("{reply:?}").contains("does not hold the run's token"),
                "{reply:?}"
            );
        } else {
            socket
                .send(frame::encode(run, &ToDriver::Hello(hello)).into())
                .await
                .expect("queued");
        }
        sent.hellos += 1;
    }
    // A handshake frame over the small limit (but under the transport's): dropped, counted.
    // On a connection of its own: the first has sent more than a handshake and is closed.
    let mut big = frame::encode(run, &ToDriver::Heartbeat);
    big.resize(MAX_PLAIN_FRAME + 1000, 0);
    let mut fresh = zeromq::DealerSocket::new();
    fresh.connect(endpoint).await.expect("connects");
    fresh.send(big.into()).await.expect("queued");
    // Let the driver read it all before the sockets close.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

/// A raw peer that declares a frame of 400 MiB and starts sending it: the driver must close
/// the connection at once (before admission a peer gets a few KiB).
fn huge_frame_is_cut_off(address: &str) -> bool {
    let mut peer = TcpStream::connect(address).expect("the port accepts");
    peer.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let greeting = test_support::zmtp_null_greeting();
    peer.write_all(&greeting).unwrap();
    let mut theirs = [0u8; 64];
    if peer.read_exact(&mut theirs).is_err() {
        return false;
    }
    let mut header = vec![0x02];
    header.extend_from_slice(&(400u64 << 20).to_be_bytes());
    let _ = peer.write_all(&header);
    // Up to 64 MiB of it: the driver hangs up long before.
    let chunk = vec![0u8; 1 << 20];
    let mut written = 0;
    while written < 64 && peer.write_all(&chunk).is_ok() {
        written += 1;
    }
    let mut rest = Vec::new();
    let closed = peer.read_to_end(&mut rest);
    written < 64 || closed.is_ok()
}

/// A TCP proxy between one worker and the driver that sends the first few sealed results the
/// worker sends twice: a replay of real frames on a real session.
pub struct ReplayProxy {
    port: u16,
    replayed: Arc<AtomicU64>,
    injected: Arc<AtomicU64>,
}

/// Results the proxy replays.
const REPLAYS: u64 = 3;

impl ReplayProxy {
    pub fn start(driver: &str) -> ReplayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().unwrap().port();
        let driver = driver.trim_start_matches("tcp://").to_owned();
        let replayed = Arc::new(AtomicU64::new(0));
        let injected = Arc::new(AtomicU64::new(0));
        let count = Counts {
            replayed: replayed.clone(),
            injected: injected.clone(),
        };
        std::thread::spawn(move || {
            let (worker, _) = listener.accept().expect("the worker connects");
            let upstream = TcpStream::connect(&driver).expect("the driver accepts");
            let (mut from_driver, mut to_worker) =
                (upstream.try_clone().unwrap(), worker.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_driver, &mut to_worker);
            });
            let _ = forward_replaying(worker, upstream, &count);
        });
        ReplayProxy {
            port,
            replayed,
            injected,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    pub fn replayed(&self) -> u64 {
        self.replayed.load(Ordering::SeqCst)
    }

    /// Frames the proxy put on the worker's connection inside its session that the driver
    /// is to drop as unsealed there.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }
}

/// What the proxy did to the worker's frames.
struct Counts {
    replayed: Arc<AtomicU64>,
    injected: Arc<AtomicU64>,
}

/// The plain hello frame a worker of this build named `name` sends first, with `nonce`.
fn hello_frame(name: &str, nonce: &[u8]) -> Vec<u8> {
    frame::encode(
        frame::ANY_RUN,
        &ToDriver::Hello(Hello {
            name: name.to_owned(),
            fingerprint: asyncopt_runtime::task::fingerprint(),
            pid: 1,
            nonce: nonce.to_vec().into(),
        }),
    )
}

/// Plain frames put on an admitted worker's connection, as anyone on the path could, and
/// whether each is dropped as unsealed within its session, which goes on: a heartbeat, a
/// plain frame over the handshake's limit, and a hello twice under the worker's name (the
/// first opens a handshake, the second ends it).
fn injections() -> Vec<(Vec<u8>, bool)> {
    let hello = hello_frame("w1", &[3; 32]);
    let mut oversized = frame::encode(frame::ANY_RUN, &ToDriver::Heartbeat);
    oversized.resize(MAX_PLAIN_FRAME + 1, 0);
    vec![
        (frame::encode(frame::ANY_RUN, &ToDriver::Heartbeat), true),
        (oversized, true),
        (hello.clone(), false),
        (hello, true),
    ]
}

/// One ZMTP 3.0 frame as read: its header (flags, then a short or long length) as it came, and
/// its body.
struct ZmtpFrame {
    header: Vec<u8>,
    body: Vec<u8>,
}

fn read_zmtp_frame(from: &mut impl Read) -> std::io::Result<ZmtpFrame> {
    let mut flags = [0u8; 1];
    from.read_exact(&mut flags)?;
    let mut header = flags.to_vec();
    let len = if flags[0] & 0x02 != 0 {
        let mut len = [0u8; 8];
        from.read_exact(&mut len)?;
        header.extend_from_slice(&len);
        u64::from_be_bytes(len) as usize
    } else {
        let mut len = [0u8; 1];
        from.read_exact(&mut len)?;
        header.push(len[0]);
        len[0] as usize
    };
    let mut body = vec![0u8; len];
    from.read_exact(&mut body)?;
    Ok(ZmtpFrame { header, body })
}

/// Copies ZMTP from the worker to the driver frame by frame, sending sealed results twice,
/// and after the first result (inside the worker's session) the [`injections`].
fn forward_replaying(
    mut from: TcpStream,
    mut to: TcpStream,
    count: &Counts,
) -> std::io::Result<()> {
    let mut injected_once = false;
    let mut greeting = [0u8; 64];
    from.read_exact(&mut greeting)?;
    to.write_all(&greeting)?;
    loop {
        let ZmtpFrame { header, body } = read_zmtp_frame(&mut from)?;
        to.write_all(&header)?;
        to.write_all(&body)?;
        let is_result = is_sealed_result(&header, &body);
        if is_result && count.replayed.load(Ordering::SeqCst) < REPLAYS {
            to.write_all(&header)?;
            to.write_all(&body)?;
            count.replayed.fetch_add(1, Ordering::SeqCst);
        }
        if is_result && !std::mem::replace(&mut injected_once, true) {
            for (injected, unsealed) in injections() {
                to.write_all(&zmtp_message(&injected))?;
                count
                    .injected
                    .fetch_add(u64::from(unsealed), Ordering::SeqCst);
            }
        }
    }
}

/// Whether a ZMTP frame a worker sent is a sealed `ToDriver::Result`: a message frame of
/// kind MAC, and variant 2 right after the envelope.
fn is_sealed_result(header: &[u8], body: &[u8]) -> bool {
    let command = header[0] & 0x04 != 0;
    !command
        && body.len() > frame::ENVELOPE_LEN
        && body[HEADER_LEN] == KIND_MAC
        && body[frame::ENVELOPE_LEN] == 2
}

/// A TCP proxy between one worker and the driver that, once the worker's session is under way
/// (after its first sealed result), puts a hello under the worker's name on its connection, as
/// anyone on the path could: the driver opens a handshake there. The proxy keeps the driver's
/// challenge to that hello from the worker and answers nothing, so the handshake stays open.
pub struct HelloOnPath {
    port: u16,
    challenged: std::sync::mpsc::Receiver<()>,
}

impl HelloOnPath {
    /// Between the driver at `driver` and the worker `name` that connects to
    /// [`HelloOnPath::endpoint`].
    pub fn start(driver: &str, name: &str) -> HelloOnPath {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().unwrap().port();
        let driver = driver.trim_start_matches("tcp://").to_owned();
        let hello = hello_frame(name, &[5; 32]);
        let (tell, challenged) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let (worker, _) = listener.accept().expect("the worker connects");
            let upstream = TcpStream::connect(&driver).expect("the driver accepts");
            // A frame is written in two parts: without this each waits for the last one's
            // acknowledgement, and the run slows to a crawl.
            for stream in [&worker, &upstream] {
                stream.set_nodelay(true).expect("no delay");
            }
            let (from_driver, to_worker) =
                (upstream.try_clone().unwrap(), worker.try_clone().unwrap());
            let injected = Arc::new(AtomicBool::new(false));
            let heard = injected.clone();
            std::thread::spawn(move || {
                let _ = forward_keeping_challenge(from_driver, to_worker, &heard, &tell);
            });
            let _ = forward_injecting(worker, upstream, &hello, &injected);
        });
        HelloOnPath { port, challenged }
    }

    pub fn endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Whether the driver challenged the hello put on the path within `wait`: its handshake
    /// is open then.
    pub fn challenged_within(&self, wait: std::time::Duration) -> bool {
        self.challenged.recv_timeout(wait).is_ok()
    }
}

/// Copies ZMTP from the worker to the driver frame by frame, and after the worker's first
/// sealed result writes `hello` on the same connection (then sets `injected`).
fn forward_injecting(
    mut from: TcpStream,
    mut to: TcpStream,
    hello: &[u8],
    injected: &AtomicBool,
) -> std::io::Result<()> {
    let mut greeting = [0u8; 64];
    from.read_exact(&mut greeting)?;
    to.write_all(&greeting)?;
    loop {
        let ZmtpFrame { header, body } = read_zmtp_frame(&mut from)?;
        to.write_all(&header)?;
        to.write_all(&body)?;
        if is_sealed_result(&header, &body) && !injected.load(Ordering::SeqCst) {
            // Set first: the challenge may come back before the write returns.
            injected.store(true, Ordering::SeqCst);
            to.write_all(&zmtp_message(hello))?;
        }
    }
}

/// Copies ZMTP from the driver to the worker frame by frame, but for the plain frame that
/// answers the hello put on the path (once `injected`): the challenge, kept from the worker
/// and told on `tell`.
fn forward_keeping_challenge(
    mut from: TcpStream,
    mut to: TcpStream,
    injected: &AtomicBool,
    tell: &std::sync::mpsc::SyncSender<()>,
) -> std::io::Result<()> {
    let mut greeting = [0u8; 64];
    from.read_exact(&mut greeting)?;
    to.write_all(&greeting)?;
    loop {
        let ZmtpFrame { header, body } = read_zmtp_frame(&mut from)?;
        let command = header[0] & 0x04 != 0;
        let plain = !command && body.len() > HEADER_LEN && body[HEADER_LEN] == frame::KIND_PLAIN;
        if plain && injected.load(Ordering::SeqCst) {
            let _ = tell.try_send(());
            continue;
        }
        to.write_all(&header)?;
        to.write_all(&body)?;
    }
}

/// Whether the driver answered each of `peers` (strangers that said hello) within `wait`: it
/// heard their hellos then.
pub fn all_answered(peers: &mut [TcpStream], wait: std::time::Duration) -> bool {
    peers.iter_mut().all(|peer| {
        peer.set_read_timeout(Some(wait)).expect("a timeout");
        answered(peer)
    })
}

/// A ZMTP 3.0 DEALER's handshake, raw: the NULL greeting, then its READY command once the
/// driver's greeting is read.
fn zmtp_dealer(peer: &mut TcpStream) -> std::io::Result<()> {
    zmtp_dealer_named(peer, None)
}

/// The same, presenting `identity` as its routing identity if given.
fn zmtp_dealer_named(peer: &mut TcpStream, identity: Option<&str>) -> std::io::Result<()> {
    zmtp_handshake(peer, "DEALER", identity)
}

/// A ZMTP 3.0 handshake, raw, as a socket of `kind` (`DEALER`, `ROUTER`).
fn zmtp_handshake(peer: &mut TcpStream, kind: &str, identity: Option<&str>) -> std::io::Result<()> {
    peer.write_all(&test_support::zmtp_null_greeting())?;
    let mut theirs = [0u8; 64];
    peer.read_exact(&mut theirs)?;
    let mut ready = vec![5u8];
    ready.extend_from_slice(b"READY");
    ready.push(11);
    ready.extend_from_slice(b"Socket-Type");
    ready.extend_from_slice(&(kind.len() as u32).to_be_bytes());
    ready.extend_from_slice(kind.as_bytes());
    if let Some(identity) = identity {
        ready.push(8);
        ready.extend_from_slice(b"Identity");
        ready.extend_from_slice(&(identity.len() as u32).to_be_bytes());
        ready.extend_from_slice(identity.as_bytes());
    }
    let mut command = vec![0x04, ready.len() as u8];
    command.extend_from_slice(&ready);
    peer.write_all(&command)
}

/// What a flood of hellos came to.
#[derive(Debug)]
pub struct Flood {
    /// Hellos written before the driver cut the connection (all of them if it did not).
    pub written: usize,
    /// Whether the driver closed the connection.
    pub cut_off: bool,
}

/// A stranger without the token that sends `hellos` hellos under a name that is not its
/// connection's (each refused at once) and never reads the refusals, its receive buffer
/// small: the driver's answers to it pile up.
pub fn deaf_flood(address: &str, hellos: usize) -> Flood {
    let address: std::net::SocketAddr = address.parse().expect("an IP address and port");
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        None,
    )
    .expect("a socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&address.into()).expect("the port accepts");
    let mut peer: TcpStream = socket.into();
    zmtp_dealer(&mut peer).expect("the ZMTP handshake");
    let hello = hello_frame("not-this-connection", &[1; 32]);
    let mut message = vec![0x00, hello.len() as u8];
    message.extend_from_slice(&hello);
    let batch: Vec<u8> = message.repeat(1000);
    let mut written = 0;
    while written < hellos {
        if peer.write_all(&batch).is_err() {
            return Flood {
                written,
                cut_off: true,
            };
        }
        written += 1000;
    }
    // Then read, to see whether it was cut off after the last one.
    peer.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut rest = [0u8; 1 << 16];
    let cut_off = loop {
        match peer.read(&mut rest) {
            Ok(0) | Err(_) => break true,
            Ok(_) => continue,
        }
    };
    Flood { written, cut_off }
}

/// A stranger that, after the ZMTP handshake, starts a message that never ends: empty frames,
/// each flagged "more". Whether the driver cut it off before 64 MiB of them (32 million
/// frames, which it buffered whole).
pub fn endless_message_is_cut_off(address: &str) -> bool {
    let mut peer = TcpStream::connect(address).expect("the port accepts");
    zmtp_dealer(&mut peer).expect("the ZMTP handshake");
    let chunk: Vec<u8> = [0x01u8, 0x00].repeat(1 << 19);
    (0..64).any(|_| peer.write_all(&chunk).is_err())
}

/// A stranger that, after the ZMTP handshake, sends tiny frames of garbage as fast as it can
/// and reads nothing (one such connection kept the driver's link thread from its writers, and
/// the workers lost their heartbeats). Whether the driver closed it within `frames` frames.
pub fn garbage_is_cut_off(address: &str, frames: usize) -> bool {
    let mut peer = TcpStream::connect(address).expect("the port accepts");
    zmtp_dealer(&mut peer).expect("the ZMTP handshake");
    let batch: Vec<u8> = [0x00u8, 0x01, b'x'].repeat(10_000);
    (0..frames / 10_000).any(|_| peer.write_all(&batch).is_err())
}

/// A stranger that, after the ZMTP handshake, repeats its READY command as fast as it can and
/// reads nothing. A command is no frame of a message, so no bound on a stranger's frames counted
/// it: the driver parsed and skipped each until the admission deadline, and a few such
/// connections slowed a run 500-fold. Whether the driver closed it within `commands` of them.
pub fn repeated_ready_is_cut_off(address: &str, commands: usize) -> bool {
    let mut peer = TcpStream::connect(address).expect("the port accepts");
    zmtp_dealer(&mut peer).expect("the ZMTP handshake");
    // The shortest READY: a short command frame of the name alone, no properties.
    let batch: Vec<u8> = [0x04u8, 0x06, 0x05, b'R', b'E', b'A', b'D', b'Y'].repeat(10_000);
    (0..commands / 10_000).any(|_| peer.write_all(&batch).is_err())
}

/// A stranger that, after the ZMTP handshake, sends messages of three empty frames as fast as
/// it can and reads nothing: the driver's link dropped each (a message of the runtime is one
/// frame) without counting it against the stranger, which went on until its admission
/// deadline. Whether the driver closed it within `messages` of them.
pub fn many_frame_messages_are_cut_off(address: &str, messages: usize) -> bool {
    let mut peer = TcpStream::connect(address).expect("the port accepts");
    zmtp_dealer(&mut peer).expect("the ZMTP handshake");
    // Two empty frames flagged "more", then the empty last one.
    let batch: Vec<u8> = [0x01u8, 0x00, 0x01, 0x00, 0x00, 0x00].repeat(10_000);
    (0..messages / 10_000).any(|_| peer.write_all(&batch).is_err())
}

/// Strangers that each send one valid hello under their own identity and never prove the
/// token, holding handshakes open (and all the driver's handshake slots, if there are
/// `count` of them or more). Their connections, to keep them open.
pub fn hold_handshakes(address: &str, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|i| {
            let name = format!("holder{i}");
            let mut peer = TcpStream::connect(address).expect("the port accepts");
            zmtp_dealer_named(&mut peer, Some(&name)).expect("the ZMTP handshake");
            let hello = hello_frame(&name, &[1; 32]);
            let mut message = vec![0x00, hello.len() as u8];
            message.extend_from_slice(&hello);
            peer.write_all(&message).expect("the hello is sent");
            peer
        })
        .collect()
}

/// A stranger that connects under the routing identity `name` before the worker of that name
/// does, and says nothing: the name is taken while its connection stays open.
pub fn squat(address: &str, name: &str) -> TcpStream {
    let mut peer = TcpStream::connect(address).expect("the port accepts");
    zmtp_dealer_named(&mut peer, Some(name)).expect("the ZMTP handshake");
    peer
}

/// A peer that speaks ZeroMQ as a ROUTER, as a driver does, and never answers: it reads
/// what it is sent and drops it. Its address.
pub fn deaf_driver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("bound");
    std::thread::spawn(move || {
        for mut peer in listener.incoming().flatten() {
            std::thread::spawn(move || {
                if zmtp_handshake(&mut peer, "ROUTER", None).is_ok() {
                    let _ = std::io::copy(&mut peer, &mut std::io::sink());
                }
            });
        }
    });
    format!("tcp://{address}")
}

/// A fake driver without the token, as a ROUTER: every connection is answered by `answer`
/// once its ZMTP handshake is done. Its address and the count of connections it took.
fn fake_driver<F>(answer: F) -> (String, Arc<AtomicU64>)
where
    F: Fn(&mut TcpStream) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("bound");
    let connections = Arc::new(AtomicU64::new(0));
    let counted = connections.clone();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for mut peer in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            std::thread::spawn(move || {
                if zmtp_handshake(&mut peer, "ROUTER", None).is_ok() {
                    answer(&mut peer);
                }
            });
        }
    });
    (format!("tcp://{address}"), connections)
}

/// One ZMTP message of one short frame.
fn zmtp_short_message(body: &[u8]) -> Vec<u8> {
    let mut message = vec![0x00, u8::try_from(body.len()).expect("a short frame")];
    message.extend_from_slice(body);
    message
}

/// One ZMTP message of one frame, short or long.
fn zmtp_message(body: &[u8]) -> Vec<u8> {
    match u8::try_from(body.len()) {
        Ok(_) => zmtp_short_message(body),
        Err(_) => {
            let mut message = vec![0x02];
            message.extend_from_slice(&(body.len() as u64).to_be_bytes());
            message.extend_from_slice(body);
            message
        }
    }
}

/// Reads what the peer sends until it closes the connection (or `wait` passes): whether it
/// closed it.
fn closed_within(peer: &mut TcpStream, wait: std::time::Duration) -> bool {
    peer.set_read_timeout(Some(wait)).expect("a timeout");
    let mut sink = [0u8; 1 << 12];
    loop {
        match peer.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// A fake driver that answers every hello with a plain `Refused`, as anyone can: its MAC
/// made up (it does not hold the token), as if to say the refusal is final.
pub fn refusing_driver(reason: &str) -> (String, Arc<AtomicU64>) {
    let refusal = frame::encode(
        7,
        &asyncopt_runtime::protocol::ToWorker::Refused {
            reason: reason.into(),
            mac: Some(vec![0u8; 32].into()),
        },
    );
    fake_driver(move |peer| {
        let _ = peer.write_all(&zmtp_message(&refusal));
        closed_within(peer, std::time::Duration::from_secs(60));
    })
}

/// A fake driver that floods every connection with tiny frames that are not ours, until the
/// worker closes it. Its address and the count of frames written.
pub fn flooding_driver() -> (String, Arc<AtomicU64>) {
    let written = Arc::new(AtomicU64::new(0));
    let counted = written.clone();
    let batch = zmtp_short_message(b"x").repeat(10_000);
    let (address, _) = fake_driver(move |peer| {
        while peer.write_all(&batch).is_ok() {
            counted.fetch_add(10_000, Ordering::SeqCst);
        }
    });
    (address, written)
}

/// A fake driver that declares a 64 MiB frame before any proof, sends a few bytes of it and
/// waits. Its address, and whether the worker closed the connection rather than wait for the
/// rest (checked once per connection).
pub fn huge_frame_driver() -> (String, Arc<AtomicU64>) {
    let closed = Arc::new(AtomicU64::new(0));
    let counted = closed.clone();
    let (address, _) = fake_driver(move |peer| {
        let mut header = vec![0x02];
        header.extend_from_slice(&(64u64 << 20).to_be_bytes());
        header.extend_from_slice(&[0u8; 1024]);
        if peer.write_all(&header).is_ok()
            && closed_within(peer, std::time::Duration::from_secs(30))
        {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    (address, closed)
}

/// What a flood of fresh connections came to.
#[derive(Debug, Default)]
pub struct ConnectFlood {
    /// Connections that said hello (under an identity of their own) and never proved a token.
    pub hellos: u64,
    /// Hellos the driver answered (with its challenge) while their connection was open.
    pub answered: u64,
    /// Connections that said nothing at all.
    pub bare: u64,
    /// Whether it ran until its time bound rather than until it was told to stop.
    pub ended_by_bound: bool,
}

/// Connections from `source` (an address of this host, e.g. 127.0.0.2) to `address`, until
/// `stop` is set or `bound` passes: one fresh connection that says hello under a fresh name and
/// never proves the token, and one that says nothing, then `pause`, over again. The newest few
/// hundred connections are kept open.
///
/// Each hello leaves at once and is answered (or its connection closed) before the flood goes
/// on. A hello held back by Nagle's algorithm until the driver acknowledged the READY before
/// it, while the flood went on by the clock alone, reached a driver short of CPU after the
/// transport had closed its connection to make room for newer ones: the gate never held as many
/// of the flood's handshakes as its cap, and never turned one away.
pub fn flood_from(
    source: std::net::IpAddr,
    address: &str,
    pause: std::time::Duration,
    stop: &std::sync::atomic::AtomicBool,
    bound: std::time::Duration,
) -> ConnectFlood {
    let address: std::net::SocketAddr = address.parse().expect("an IP address and port");
    let connect = || -> std::io::Result<TcpStream> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(address),
            socket2::Type::STREAM,
            None,
        )?;
        socket.bind(&std::net::SocketAddr::new(source, 0).into())?;
        socket.connect(&address.into())?;
        Ok(socket.into())
    };
    let hello_of = |name: &str| {
        let hello = hello_frame(name, &[1; 32]);
        zmtp_short_message(&hello)
    };
    let begun = std::time::Instant::now();
    let mut open = std::collections::VecDeque::new();
    let mut flood = ConnectFlood::default();
    while !stop.load(Ordering::SeqCst) {
        if begun.elapsed() > bound {
            flood.ended_by_bound = true;
            break;
        }
        let name = format!("f{}", flood.hellos);
        // A connection the driver closed meanwhile fails its handshake: it counts all the same.
        if let Ok(mut peer) = connect() {
            let _ = peer.set_read_timeout(Some(std::time::Duration::from_secs(1)));
            let _ = peer.set_nodelay(true);
            if zmtp_dealer_named(&mut peer, Some(&name)).is_ok()
                && peer.write_all(&hello_of(&name)).is_ok()
                && answered(&mut peer)
            {
                flood.answered += 1;
            }
            open.push_back(peer);
            flood.hellos += 1;
        }
        if let Ok(peer) = connect() {
            open.push_back(peer);
            flood.bare += 1;
        }
        while open.len() > 400 {
            open.pop_front();
        }
        std::thread::sleep(pause);
    }
    flood
}

/// Reads what the driver sends after a ZMTP handshake until its first message: whether one
/// came before the connection closed or its read timeout passed. Commands (its READY) are
/// skipped.
fn answered(peer: &mut TcpStream) -> bool {
    loop {
        match read_zmtp_frame(peer) {
            Ok(frame) if frame.header[0] & 0x04 == 0 => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

/// An insider: a peer holding the token that is admitted as worker `name`, then reads what it
/// is sent and says nothing (no heartbeat, no result), as a hung host or a peer keeping a
/// session it was given would. How long after its proof the driver closed its connection, if
/// it did within `wait`.
pub fn silent_insider(
    endpoint: &str,
    name: &str,
    token: &asyncopt_runtime::Token,
    wait: std::time::Duration,
) -> Option<std::time::Duration> {
    use futures::StreamExt;
    use zeromq::{SocketEvent, SocketRecv};
    let runtime = runtime();
    runtime.block_on(async {
        let Insider {
            mut socket,
            mut events,
            ..
        } = Insider::join(endpoint, name, token, 1).await;
        let admitted = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                received = socket.recv() => if received.is_err() {
                    return Some(admitted.elapsed());
                },
                Some(event) = events.next() => if let SocketEvent::Disconnected(_) = event {
                    return Some(admitted.elapsed());
                },
                _ = tokio::time::sleep_until(deadline) => return None,
            }
        }
    })
}

/// A peer holding the token, admitted under a name of its choosing: its socket, the socket's
/// events, and its session's run id and both directions' keys.
struct Insider {
    socket: zeromq::DealerSocket,
    events: futures::channel::mpsc::Receiver<zeromq::SocketEvent>,
    run_id: u64,
    sealer: Sealer,
    opener: asyncopt_runtime::transport::session::Opener,
}

impl Insider {
    /// Connects as `name`, says hello with `pid`, checks nothing of the driver's challenge
    /// but its nonce, and sends the proof that admits it.
    async fn join(
        endpoint: &str,
        name: &str,
        token: &asyncopt_runtime::Token,
        pid: u32,
    ) -> Insider {
        use zeromq::SocketRecv;
        let mut options = SocketOptions::default();
        options.peer_identity(name.parse().expect("a name"));
        let mut socket = zeromq::DealerSocket::with_options(options);
        let events = socket.monitor();
        socket
            .connect(endpoint)
            .await
            .expect("the insider connects");
        let nonce: [u8; 32] = rand::random();
        let fingerprint = asyncopt_runtime::task::fingerprint();
        let hello = Hello {
            name: name.to_owned(),
            fingerprint,
            pid,
            nonce: nonce.to_vec().into(),
        };
        let hello = frame::encode(frame::ANY_RUN, &ToDriver::Hello(hello));
        socket.send(hello.into()).await.expect("queued");
        let challenge = tokio::time::timeout(std::time::Duration::from_secs(10), socket.recv())
            .await
            .expect("a challenge in time")
            .expect("a challenge");
        let challenge = Challenge::open(&challenge.into_vec().pop().expect("a frame"));
        let transcript = challenge.transcript(name, fingerprint, &nonce);
        let (run_id, encrypt) = (challenge.run_id, challenge.encrypt);
        let proof = token.worker_proof(&transcript);
        let key = token.session_key(&transcript);
        let proof = frame::encode(run_id, &ToDriver::Proof { mac: proof.into() });
        socket.send(proof.into()).await.expect("queued");
        Insider {
            socket,
            events,
            run_id,
            sealer: Sealer::new(&key, Direction::ToDriver, encrypt),
            opener: asyncopt_runtime::transport::session::Opener::new(
                &key,
                Direction::ToWorker,
                encrypt,
            ),
        }
    }

    /// Seals `message` in its session (a heartbeat in the heartbeat space, as a worker does)
    /// and sends it; whether it could. The message is dropped once sealed, before the send: a
    /// flood of large frames holds one copy at a time.
    async fn send(&mut self, message: ToDriver) -> bool {
        let frame = frame::encode(self.run_id, &message);
        let sealed = match message {
            ToDriver::Heartbeat => self.sealer.seal_beat(frame),
            _ => self.sealer.seal(frame),
        };
        drop(message);
        self.socket.send(sealed.into()).await.is_ok()
    }
}

/// The body of a frame the driver sent an insider, opened with its session's `opener`; `None`
/// for one that does not open.
fn opened(
    opener: &mut asyncopt_runtime::transport::session::Opener,
    message: zeromq::ZmqMessage,
) -> Option<Vec<u8>> {
    let bytes = message.into_vec().pop().expect("a frame");
    opener.open(&bytes).ok().map(std::borrow::Cow::into_owned)
}

/// What a lying insider heard and did (see [`lying_insider`]).
#[derive(Debug, Default)]
pub struct Lies {
    /// Lies sent: a result for a task it was never given, a result of non-finite numbers with
    /// lying task times, the same result again.
    pub told: u32,
    /// The reason of the sealed refusal it was sent, if one came.
    pub excluded: Option<String>,
    /// Whether the driver closed its connection after.
    pub closed: bool,
}

/// An insider: a peer holding the token, admitted as worker `name`, that heartbeats, says it
/// holds every partition it is shipped, and answers its first task with lies: a result for a
/// task it was never given, a result of its task whose vector holds NaN and infinity, then
/// the same result again; then it fails every task it is given. Until the driver lets it go,
/// or `wait` passes.
pub fn lying_insider(
    endpoint: &str,
    name: &str,
    token: &asyncopt_runtime::Token,
    wait: std::time::Duration,
) -> Lies {
    let respond = |order: &asyncopt_runtime::protocol::TaskOrder, lies: &mut Lies| {
        if lies.told > 0 {
            return vec![ToDriver::Failed {
                seq: order.seq,
                message: "an insider's failure".into(),
            }];
        }
        let nan = ndarray::Array1::from_vec(vec![f64::NAN; 8]);
        let mut inf = nan.clone();
        inf[0] = f64::INFINITY;
        let lie = |seq: u64, body: &ndarray::Array1<f64>, compute_s: f64| ToDriver::Result {
            seq,
            compute_s,
            cpu_s: 0.0,
            delay_s: 0.0,
            held_s: 0.0,
            body: postcard::to_allocvec(body).expect("encodes").into(),
        };
        lies.told = 3;
        vec![
            lie(order.seq + 1_000_000, &nan, 0.001),
            lie(order.seq, &inf, 1e300),
            lie(order.seq, &inf, 0.001),
        ]
    };
    responding_insider(
        endpoint,
        name,
        token,
        wait,
        respond,
        holds_every_split,
        || {},
    )
}

/// A partition shipped or a split to read, as an insider that says it holds every partition
/// answers it.
fn holds_every_split(partition: u32, _: &mut Lies) -> Option<ToDriver> {
    Some(ToDriver::DataReady { partition })
}

/// An insider: a peer holding the token, admitted as worker `name`, that heartbeats and
/// answers its tasks as [`lying_insider`] does, but never says whether it holds a partition
/// it is shipped or told to read (`told` counts those), until the driver lets it go or
/// `wait` passes.
pub fn mute_loader(
    endpoint: &str,
    name: &str,
    token: &asyncopt_runtime::Token,
    wait: std::time::Duration,
) -> Lies {
    let respond = |order: &asyncopt_runtime::protocol::TaskOrder, _: &mut Lies| {
        vec![ToDriver::Failed {
            seq: order.seq,
            message: "an insider's failure".into(),
        }]
    };
    let mute = |_: u32, lies: &mut Lies| {
        lies.told += 1;
        None
    };
    responding_insider(endpoint, name, token, wait, respond, mute, || {})
}

/// An insider: a peer holding the token, admitted as worker `name`, that heartbeats, says it
/// holds every partition it is shipped, and answers every task with a result whose body is
/// `answer`'s (its times plausible). Counts the answers in `told`, until the driver lets it
/// go, or `wait` passes.
pub fn answering_insider(
    endpoint: &str,
    name: &str,
    token: &asyncopt_runtime::Token,
    wait: std::time::Duration,
    answer: impl Fn(&asyncopt_runtime::protocol::TaskOrder) -> Vec<u8>,
) -> Lies {
    let respond = |order: &asyncopt_runtime::protocol::TaskOrder, lies: &mut Lies| {
        lies.told += 1;
        vec![ToDriver::Result {
            seq: order.seq,
            compute_s: 0.001,
            cpu_s: 0.001,
            delay_s: 0.0,
            held_s: 0.0,
            body: answer(order).into(),
        }]
    };
    responding_insider(
        endpoint,
        name,
        token,
        wait,
        respond,
        holds_every_split,
        || {},
    )
}

/// An insider: a peer holding the token, admitted as worker `name`, that heartbeats, says it
/// holds every partition it is shipped, and never answers a task it is sent (`told` counts
/// them), until the driver lets it go, or `wait` passes.
pub fn hanging_insider(
    endpoint: &str,
    name: &str,
    token: &asyncopt_runtime::Token,
    wait: std::time::Duration,
) -> Lies {
    let respond = |_: &asyncopt_runtime::protocol::TaskOrder, lies: &mut Lies| {
        lies.told += 1;
        Vec::new()
    };
    responding_insider(
        endpoint,
        name,
        token,
        wait,
        respond,
        holds_every_split,
        || {},
    )
}

/// An insider: a peer holding the token, admitted as worker `name` (it calls `welcomed`
/// then), that heartbeats and answers the orders to read a split of the data file with a
/// failure (`a line is malformed`), all of them or, if `keeps_first`, all but the first,
/// which it says it holds; it fails every task. Counts the failures it claimed in `told`,
/// until the driver lets it go, or `wait` passes.
pub fn split_failing_insider(
    endpoint: &str,
    name: &str,
    token: &asyncopt_runtime::Token,
    wait: std::time::Duration,
    keeps_first: bool,
    welcomed: impl FnOnce(),
) -> Lies {
    let mut reads = 0;
    let read = |partition: u32, lies: &mut Lies| {
        reads += 1;
        if keeps_first && reads == 1 {
            return Some(ToDriver::DataReady { partition });
        }
        lies.told += 1;
        Some(ToDriver::DataFailed {
            partition,
            message: "data.svm:3: a line is malformed (an insider's claim)".into(),
        })
    };
    let respond = |order: &asyncopt_runtime::protocol::TaskOrder, _: &mut Lies| {
        vec![ToDriver::Failed {
            seq: order.seq,
            message: "an insider's failure".into(),
        }]
    };
    responding_insider(endpoint, name, token, wait, respond, read, welcomed)
}

/// An insider: a peer holding the token, admitted as worker `name` (it calls `welcomed`
/// then), that heartbeats, says it holds every partition it is shipped, answers each order
/// to read a split with what `read` makes of its partition, and each task with what
/// `respond` makes of it (keeping count in `Lies`), until the driver lets it go, or `wait`
/// passes.
fn responding_insider(
    endpoint: &str,
    name: &str,
    token: &asyncopt_runtime::Token,
    wait: std::time::Duration,
    mut respond: impl FnMut(&asyncopt_runtime::protocol::TaskOrder, &mut Lies) -> Vec<ToDriver>,
    mut read: impl FnMut(u32, &mut Lies) -> Option<ToDriver>,
    welcomed: impl FnOnce(),
) -> Lies {
    use asyncopt_runtime::protocol::ToWorker;
    use futures::StreamExt;
    use zeromq::{SocketEvent, SocketRecv};
    let runtime = runtime();
    runtime.block_on(async {
        let mut insider = Insider::join(endpoint, name, token, std::process::id()).await;
        let mut lies = Lies::default();
        let mut welcomed = Some(welcomed);
        let mut beat = tokio::time::interval(std::time::Duration::from_millis(200));
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut answers = Vec::new();
            tokio::select! {
                received = insider.socket.recv() => {
                    let Ok(message) = received else {
                        lies.closed = true;
                        return lies;
                    };
                    let Some(body) = opened(&mut insider.opener, message) else { continue };
                    match frame::decode_body::<ToWorker>(&body).expect("a message") {
                        ToWorker::Partition { partition, chunk, chunks, .. }
                            if chunk + 1 == chunks => answers.extend(read(partition, &mut lies)),
                        ToWorker::ReadSplit { order, .. } => {
                            answers.extend(read(order.partition, &mut lies))
                        }
                        ToWorker::Welcome(_) => if let Some(welcomed) = welcomed.take() {
                            welcomed()
                        },
                        ToWorker::Task(order) => answers.extend(respond(&order, &mut lies)),
                        ToWorker::Refused { reason, .. } => lies.excluded = Some(reason),
                        _ => {}
                    }
                },
                Some(event) = insider.events.next() => if let SocketEvent::Disconnected(_) = event {
                    lies.closed = true;
                    return lies;
                },
                _ = beat.tick() => answers.push(ToDriver::Heartbeat),
                _ = tokio::time::sleep_until(deadline) => return lies,
            }
            for answer in answers {
                if !insider.send(answer).await {
                    return lies;
                }
            }
        }
    })
}

/// An insider: a peer holding the token, admitted as worker `name`, that once welcomed (it
/// calls `welcomed`) sends `frames` messages as fast as it can, the `i`-th `flood(i)`, then
/// (having called `flooded`) reads what it is sent until the driver excludes it or lets it
/// go, or `wait` passes. `told` counts the frames sent.
pub fn flooding_insider(
    endpoint: &str,
    name: &str,
    token: &asyncopt_runtime::Token,
    (frames, flood): (u32, impl Fn(u32) -> ToDriver),
    (welcomed, flooded): (impl FnOnce(), impl FnOnce()),
    wait: std::time::Duration,
) -> Lies {
    use asyncopt_runtime::protocol::ToWorker;
    use futures::StreamExt;
    use zeromq::{SocketEvent, SocketRecv};
    let runtime = runtime();
    runtime.block_on(async {
        let mut insider = Insider::join(endpoint, name, token, std::process::id()).await;
        let mut lies = Lies::default();
        loop {
            let Ok(message) = insider.socket.recv().await else {
                lies.closed = true;
                return lies;
            };
            let Some(body) = opened(&mut insider.opener, message) else { continue };
            if let Ok(ToWorker::Welcome(_)) = frame::decode_body::<ToWorker>(&body) {
                break;
            }
        }
        welcomed();
        for i in 0..frames {
            if !insider.send(flood(i)).await {
                return lies;
            }
            lies.told += 1;
        }
        flooded();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                received = insider.socket.recv() => {
                    let Ok(message) = received else {
                        lies.closed = true;
                        return lies;
                    };
                    let Some(body) = opened(&mut insider.opener, message) else { continue };
                    if let Ok(ToWorker::Refused { reason, .. }) = frame::decode_body::<ToWorker>(&body) {
                        // Its story ends here: the run it is waited on by may go on.
                        lies.excluded = Some(reason);
                        return lies;
                    }
                },
                Some(event) = insider.events.next() => if let SocketEvent::Disconnected(_) = event {
                    lies.closed = true;
                    return lies;
                },
                _ = tokio::time::sleep_until(deadline) => return lies,
            }
        }
    })
}

/// A driver holding the token, hand-written over raw ZMTP: it admits one worker as a real
/// driver does, then says what a test makes it say, sealed in the worker's session.
pub struct TokenDriver {
    peer: TcpStream,
    run_id: u64,
    sealer: Sealer,
    opener: asyncopt_runtime::transport::session::Opener,
}

impl TokenDriver {
    /// Binds a port on loopback: its listener and address.
    pub fn listen() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let address = listener.local_addr().expect("bound");
        (listener, format!("tcp://{address}"))
    }

    /// Takes the worker's connection on `listener`, answers its hello with a challenge that
    /// proves `token` and reads its proof: the worker's session is open.
    pub fn admit(listener: &TcpListener, token: &asyncopt_runtime::Token) -> TokenDriver {
        use asyncopt_runtime::protocol::ToWorker;
        let (mut peer, _) = listener.accept().expect("the worker connects");
        peer.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        zmtp_handshake(&mut peer, "ROUTER", None).expect("a ZMTP handshake");
        let hello = Self::next_message(&mut peer);
        let Ok(ToDriver::Hello(hello)) =
            frame::decode::<ToDriver>(&hello, frame::ANY_RUN, true, MAX_PLAIN_FRAME)
        else {
            panic!("not a hello")
        };
        let run_id = 0x0bad_d21e;
        let driver_nonce: [u8; 32] = rand::random();
        let transcript = asyncopt_runtime::auth::Transcript {
            run_id,
            name: &hello.name,
            fingerprint: hello.fingerprint,
            worker_nonce: &hello.nonce,
            driver_nonce: &driver_nonce,
            encrypt: false,
        };
        let challenge = ToWorker::Challenge {
            nonce: driver_nonce.to_vec().into(),
            proof: token.driver_proof(&transcript).into(),
            encrypt: false,
        };
        peer.write_all(&zmtp_message(&frame::encode(run_id, &challenge)))
            .unwrap();
        let proof = Self::next_message(&mut peer);
        let Ok(ToDriver::Proof { mac }) =
            frame::decode::<ToDriver>(&proof, run_id, false, MAX_PLAIN_FRAME)
        else {
            panic!("not a proof")
        };
        assert!(token.verify_worker(&transcript, &mac), "the worker's proof");
        let key = token.session_key(&transcript);
        TokenDriver {
            peer,
            run_id,
            sealer: Sealer::new(&key, Direction::ToWorker, false),
            opener: asyncopt_runtime::transport::session::Opener::new(
                &key,
                Direction::ToDriver,
                false,
            ),
        }
    }

    /// The body of the next message's frame, past ZMTP commands.
    fn next_message(peer: &mut TcpStream) -> Vec<u8> {
        loop {
            let ZmtpFrame { header, body } = read_zmtp_frame(peer).expect("a frame");
            if header[0] & 0x04 == 0 {
                return body;
            }
        }
    }

    /// Seals `message` in the worker's session and sends it.
    pub fn send(&mut self, message: &asyncopt_runtime::protocol::ToWorker) {
        let sealed = self.seal(message);
        self.write(&sealed);
    }

    /// `message` sealed in the worker's session (a heartbeat in the heartbeat space), as
    /// [`TokenDriver::write`] sends it: the sealed frames must be written in the order they
    /// were sealed.
    pub fn seal(&mut self, message: &asyncopt_runtime::protocol::ToWorker) -> Vec<u8> {
        let frame = frame::encode(self.run_id, message);
        zmtp_message(&match message {
            asyncopt_runtime::protocol::ToWorker::Heartbeat => self.sealer.seal_beat(frame),
            _ => self.sealer.seal(frame),
        })
    }

    /// Sends a message [`TokenDriver::seal`] made.
    pub fn write(&mut self, sealed: &[u8]) {
        self.peer.write_all(sealed).expect("sent");
    }

    /// The worker's next message in its session (its heartbeats included).
    pub fn recv(&mut self) -> ToDriver {
        let sealed = Self::next_message(&mut self.peer);
        let body = self.opener.open(&sealed).expect("a frame of the session");
        frame::decode_body::<ToDriver>(&body).expect("a message")
    }
}

/// The body of the next message on a raw ZMTP connection, past commands.
fn next_raw_message(peer: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    loop {
        let ZmtpFrame { header, body } = read_zmtp_frame(peer)?;
        if header[0] & 0x04 == 0 {
            return Ok(body);
        }
    }
}

/// A driver's challenge, as a peer saying hello reads it.
struct Challenge {
    run_id: u64,
    nonce: Vec<u8>,
    proof: Vec<u8>,
    encrypt: bool,
}

impl Challenge {
    /// The challenge the frame `bytes` holds (panics if it holds none).
    fn open(bytes: &[u8]) -> Challenge {
        use asyncopt_runtime::protocol::ToWorker;
        let (run_id, _) = frame::open(bytes, MAX_PLAIN_FRAME).expect("a frame of ours");
        let Ok(ToWorker::Challenge {
            nonce,
            proof,
            encrypt,
        }) = frame::decode::<ToWorker>(bytes, run_id, false, MAX_PLAIN_FRAME)
        else {
            panic!("not a challenge")
        };
        Challenge {
            run_id,
            nonce: nonce.into_vec(),
            proof: proof.into_vec(),
            encrypt,
        }
    }

    /// The handshake's transcript, for the hello of `name`, `fingerprint` and `worker_nonce`.
    fn transcript<'a>(
        &'a self,
        name: &'a str,
        fingerprint: u64,
        worker_nonce: &'a [u8],
    ) -> asyncopt_runtime::auth::Transcript<'a> {
        asyncopt_runtime::auth::Transcript {
            run_id: self.run_id,
            name,
            fingerprint,
            worker_nonce,
            driver_nonce: &self.nonce,
            encrypt: self.encrypt,
        }
    }
}

/// What a replayed handshake came to (see [`replayed_handshake`]).
#[derive(Debug)]
pub struct Replayed {
    /// Whether the driver's second challenge carried a nonce other than its first.
    pub fresh_nonce: bool,
    /// The driver's answer to the replayed proof.
    pub answer: Option<asyncopt_runtime::protocol::ToWorker>,
}

/// A peer holding the token says hello as `name` on a raw connection, reads the driver's
/// challenge (checking its proof) and computes its own proof, and leaves without sending it:
/// a handshake recorded. Then, on a fresh connection under the same name, it replays the
/// recorded hello (its nonce too) and, whatever the driver's challenge now, the recorded proof.
pub fn replayed_handshake(address: &str, name: &str, token: &asyncopt_runtime::Token) -> Replayed {
    use asyncopt_runtime::protocol::ToWorker;
    let nonce: [u8; 32] = rand::random();
    let fingerprint = asyncopt_runtime::task::fingerprint();
    let hello = hello_frame(name, &nonce);
    // The challenge's run id and nonce, and the proof that answers it.
    let challenged = |peer: &mut TcpStream| -> (u64, Vec<u8>, Vec<u8>) {
        peer.write_all(&zmtp_message(&hello))
            .expect("the hello is sent");
        let challenge = Challenge::open(&next_raw_message(peer).expect("a challenge"));
        let transcript = challenge.transcript(name, fingerprint, &nonce);
        assert!(
            token.verify_driver(&transcript, &challenge.proof),
            "the driver's proof"
        );
        let proof = token.worker_proof(&transcript);
        let run_id = challenge.run_id;
        let proof = frame::encode(run_id, &ToDriver::Proof { mac: proof.into() });
        (run_id, challenge.nonce.clone(), proof)
    };
    let connect = || {
        let mut peer = TcpStream::connect(address).expect("the port accepts");
        peer.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        zmtp_dealer_named(&mut peer, Some(name)).expect("the ZMTP handshake");
        peer
    };
    let mut first = connect();
    let (run_id, first_nonce, recorded) = challenged(&mut first);
    drop(first);
    // The driver sees the recording peer leave before the replay comes.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut second = connect();
    let (_, second_nonce, _) = challenged(&mut second);
    second
        .write_all(&zmtp_message(&recorded))
        .expect("the recorded proof is sent");
    let answer = next_raw_message(&mut second)
        .ok()
        .and_then(|bytes| frame::decode::<ToWorker>(&bytes, run_id, false, MAX_PLAIN_FRAME).ok());
    Replayed {
        fresh_nonce: second_nonce != first_nonce,
        answer,
    }
}
