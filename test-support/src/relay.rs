//! A slow link between a worker and its driver, on the loopback, without `tc netem`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A TCP relay on 127.0.0.1 to the driver that holds every byte `delay` before passing it on,
/// both ways: a worker behind it is as far from the driver as a worker on a distant host (one
/// round trip takes twice `delay`). Its connections to the driver come from 127.0.0.1.
pub struct DelayRelay {
    port: u16,
}

impl DelayRelay {
    /// Starts relaying to `driver` (`tcp://HOST:PORT` or `HOST:PORT`).
    pub fn start(driver: &str, delay: Duration) -> DelayRelay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().unwrap().port();
        let driver = driver.trim_start_matches("tcp://").to_owned();
        std::thread::spawn(move || {
            for worker in listener.incoming().flatten() {
                let Ok(upstream) = TcpStream::connect(&driver) else {
                    continue;
                };
                let _ = worker.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                let (worker_in, upstream_in) =
                    (worker.try_clone().unwrap(), upstream.try_clone().unwrap());
                relay_delayed(worker_in, upstream, delay);
                relay_delayed(upstream_in, worker, delay);
            }
        });
        DelayRelay { port }
    }

    /// Where a worker connects to reach the driver through the relay.
    pub fn endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read; closes `to` when `from` ends.
fn relay_delayed(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (chunks, delayed) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 1 << 16];
        while let Ok(n @ 1..) = from.read(&mut buffer) {
            if chunks
                .send((Instant::now() + delay, buffer[..n].to_vec()))
                .is_err()
            {
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
