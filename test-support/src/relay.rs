//! A slow link between a worker and its driver, on the loopback, without `tc netem`; and a
//! link that stalls for a while, as a congested or rerouted one does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A TCP relay on 127.0.0.1 to the driver that holds every byte `delay` before passing it on,
/// both ways: a worker behind it is as far from the driver as a worker on a distant host (one
/// round trip takes twice `delay`). Its connections to the driver come from 127.0.0.1.
pub struct DelayRelay {
    port: u16,
    stall: Arc<Mutex<Option<Stall>>>,
}

/// Which way the bytes a stall holds go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    /// From the worker to the driver.
    Driver,
    /// From the driver to the worker.
    Worker,
}

/// A stall armed on a relay: the first chunk toward `toward` that holds `marker`, and the rest
/// of its connection that way, are held `hold` longer than the delay.
#[derive(Debug, Clone)]
struct Stall {
    toward: Toward,
    marker: Vec<u8>,
    hold: Duration,
}

impl DelayRelay {
    /// Starts relaying to `driver` (`tcp://HOST:PORT` or `HOST:PORT`).
    pub fn start(driver: &str, delay: Duration) -> DelayRelay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().unwrap().port();
        let driver = driver.trim_start_matches("tcp://").to_owned();
        let stall = Arc::new(Mutex::new(None));
        let armed = stall.clone();
        std::thread::spawn(move || {
            for worker in listener.incoming().flatten() {
                let Ok(upstream) = TcpStream::connect(&driver) else {
                    continue;
                };
                let _ = worker.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                let (worker_in, upstream_in) =
                    (worker.try_clone().unwrap(), upstream.try_clone().unwrap());
                let link = |toward| Link {
                    delay,
                    toward,
                    stall: armed.clone(),
                };
                relay_delayed(worker_in, upstream, link(Toward::Driver));
                relay_delayed(upstream_in, worker, link(Toward::Worker));
            }
        });
        DelayRelay { port, stall }
    }

    /// Stalls the link once: the first chunk toward `toward` that holds `marker` (the first
    /// frame of a protocol, say), on whichever connection, and what follows it that way on that
    /// connection, pass `hold` late. Later connections pass as before.
    pub fn stall_once(&self, toward: Toward, marker: &[u8], hold: Duration) {
        *self.stall.lock().unwrap() = Some(Stall {
            toward,
            marker: marker.to_vec(),
            hold,
        });
    }

    /// Where a worker connects to reach the driver through the relay.
    pub fn endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

/// One direction of a relayed connection.
struct Link {
    delay: Duration,
    toward: Toward,
    stall: Arc<Mutex<Option<Stall>>>,
}

impl Link {
    /// How long a chunk read now is held on top of the delay: the armed stall's `hold` if the
    /// chunk sets it off (it is then spent).
    fn stall_for(&self, chunk: &[u8]) -> Option<Duration> {
        let mut armed = self.stall.lock().unwrap();
        let stall = armed.as_ref()?;
        let hits = stall.toward == self.toward
            && chunk
                .windows(stall.marker.len().max(1))
                .any(|w| w == stall.marker.as_slice());
        hits.then(|| armed.take().expect("armed").hold)
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read (and a stall's hold later, from
/// the chunk that sets it off); closes `to` when `from` ends.
fn relay_delayed(mut from: TcpStream, mut to: TcpStream, link: Link) {
    let (chunks, delayed) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 1 << 16];
        let mut held_until = Instant::now();
        while let Ok(n @ 1..) = from.read(&mut buffer) {
            let chunk = buffer[..n].to_vec();
            if let Some(hold) = link.stall_for(&chunk) {
                held_until = Instant::now() + hold;
            }
            let due = (Instant::now() + link.delay).max(held_until);
            if chunks.send((due, chunk)).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for (due, chunk) in delayed {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Both);
    });
}
