//! Everything that comes in: admission of workers, results, heartbeats, losses.

use std::time::{Duration, Instant};

use super::driver::{Arrived, Driver};
use super::table::WorkerInfo;
use crate::error::RuntimeError;
use crate::protocol::{Hello, ToDriver, ToWorker, Welcome};
use crate::task;
use crate::transport::frame::{self, FrameError};
use crate::transport::Inbound;

impl Driver {
    /// Waits until the expected number of workers joined, or the join timeout passed.
    pub fn wait_for_workers(&mut self) -> Result<(), RuntimeError> {
        let begun = Instant::now();
        while self.table.alive() < self.config.workers {
            let waited = begun.elapsed();
            if waited >= self.config.join_timeout {
                return Err(RuntimeError::WorkersMissing {
                    joined: self.table.alive(),
                    expected: self.config.workers,
                    waited_s: waited.as_secs_f64(),
                    hint: format!(
                        "start workers with `--driver {}` and the run's token, or check their logs",
                        self.link.endpoint()
                    ),
                });
            }
            if let Some(child) = crate::cluster::first_exited(&mut self.children) {
                return Err(RuntimeError::Spawn {
                    exe: self.config.worker_exe_display(),
                    reason: format!("worker process exited early ({child})"),
                });
            }
            let wait = (self.config.join_timeout - waited).min(Duration::from_millis(100));
            if let Some(event) = self.link.recv_timeout(wait)? {
                self.handle(event);
            }
        }
        Ok(())
    }

    /// Waits for one inbound event and handles it; checks liveness every heartbeat period,
    /// whether or not other workers keep the driver busy.
    pub(crate) fn pump(&mut self) -> Result<(), RuntimeError> {
        loop {
            if self.last_liveness_check.elapsed() >= self.config.heartbeat {
                self.last_liveness_check = Instant::now();
                self.check_liveness();
            }
            if self.table.alive() == 0 {
                return Err(RuntimeError::NoWorkers {
                    lost: self.stats.lost_workers as usize,
                });
            }
            let begun = Instant::now();
            let received = self.link.recv_timeout(self.config.heartbeat)?;
            self.stats.blocked_s += begun.elapsed().as_secs_f64();
            if let Some(event) = received {
                self.handle(event);
                return Ok(());
            }
        }
    }

    /// Handles every event already waiting, without blocking.
    pub(crate) fn drain(&mut self) {
        while let Some(event) = self.link.try_recv() {
            self.handle(event);
        }
    }

    fn handle(&mut self, event: Inbound) {
        match event {
            Inbound::Message {
                peer,
                message,
                bytes,
            } => {
                self.stats.bytes_received += bytes as u64;
                match message {
                    ToDriver::Hello(hello) => return self.admit(&peer, hello),
                    ToDriver::Proof { mac } => return self.answer(&peer, &mac),
                    _ => {}
                }
                let Some(worker) = self.table.index_of(&peer) else {
                    tracing::warn!(%peer, "message from a worker that was never admitted");
                    self.stats.rejected_messages += 1;
                    return;
                };
                let info = &mut self.table.workers[worker];
                info.bytes_in += bytes as u64;
                info.last_heard = Instant::now();
                self.on_message(worker, message);
            }
            Inbound::Rejected { peer, error } => {
                self.stats.rejected_messages += 1;
                // A peer of another protocol version is told so, in ours.
                if let FrameError::Version { .. } = error {
                    self.refuse(&peer, error.to_string());
                }
            }
            Inbound::Disconnected { peer } => {
                if let Some(worker) = self.table.index_of(&peer) {
                    self.lose(worker, "its connection closed");
                }
            }
        }
    }

    fn on_message(&mut self, worker: usize, message: ToDriver) {
        match message {
            ToDriver::Result {
                seq,
                compute_s,
                delay_s,
                body,
            } => {
                self.stats.results_received += 1;
                let Some(task) = self.in_flight.remove(&seq) else {
                    // Written off when its worker was thought lost: the work is redone elsewhere.
                    return;
                };
                let info = &mut self.table.workers[task.worker];
                info.in_flight = info.in_flight.saturating_sub(1);
                info.unconsumed += 1;
                if info.in_flight == 0 {
                    info.idle_since = Some(Instant::now());
                }
                info.record_task_time(compute_s + delay_s);
                self.refresh_oldest_in_flight();
                self.arrived.push_back(Arrived {
                    seq,
                    worker,
                    task: task.task,
                    partition: task.partition,
                    clock: task.clock,
                    body: body.into_vec(),
                });
            }
            ToDriver::Failed { seq, message } => {
                let task = self.in_flight.remove(&seq).map_or("?", |t| t.task);
                let error = RuntimeError::TaskFailed {
                    task: task.to_owned(),
                    worker: self.table.workers[worker].name.clone(),
                    message,
                };
                self.fail(error);
            }
            ToDriver::Heartbeat => {}
            ToDriver::Hello(_) | ToDriver::Proof { .. } => {
                unreachable!("admission messages are handled before")
            }
        }
    }

    fn refuse(&mut self, peer: &str, reason: String) {
        tracing::warn!(%peer, %reason, "refused a worker");
        self.stats.refused_workers += 1;
        let frame = frame::encode(self.run_id, &ToWorker::Refused { reason });
        self.link.send(peer, frame);
    }

    /// Checks a hello; with a token, challenges the worker before admitting it.
    fn admit(&mut self, peer: &str, hello: Hello) {
        if hello.name != peer {
            return self.refuse(
                peer,
                format!("its name {} differs from its identity", hello.name),
            );
        }
        if hello.fingerprint != task::fingerprint() {
            return self.refuse(
                peer,
                "it runs another build: its registered tasks differ from the driver's; \
                 run the same executable on every host"
                    .into(),
            );
        }
        if self
            .table
            .index_of(peer)
            .is_some_and(|i| self.table.workers[i].alive)
        {
            return self.refuse(peer, format!("a live worker is already named {peer}"));
        }
        if self.config.token.is_some() {
            let nonce = rand::random::<[u8; 32]>().to_vec();
            let frame = frame::encode(
                self.run_id,
                &ToWorker::Challenge {
                    nonce: nonce.clone().into(),
                },
            );
            self.link.send(peer, frame);
            self.challenges.insert(peer.to_owned(), (hello, nonce));
            return;
        }
        self.admit_checked(peer, hello);
    }

    /// Admits a worker whose proof answers its challenge.
    fn answer(&mut self, peer: &str, proof: &[u8]) {
        let Some((hello, nonce)) = self.challenges.remove(peer) else {
            return self.refuse(peer, "it answered no challenge of this run".into());
        };
        let token = self.config.token.as_ref().expect("challenges need a token");
        if token.verify(self.run_id, &nonce, peer, hello.fingerprint, proof) {
            self.admit_checked(peer, hello);
        } else {
            self.refuse(peer, "it does not hold the run's token".into());
        }
    }

    fn admit_checked(&mut self, peer: &str, hello: Hello) {
        let index = self
            .table
            .index_of(peer)
            .unwrap_or(self.table.workers.len());
        let delay_factor = self
            .config
            .stragglers
            .factors(self.config.workers.max(index + 1), self.config.seed)[index];
        self.table
            .admit(WorkerInfo::new(peer.to_owned(), hello.pid, delay_factor));
        tracing::info!(worker = %peer, pid = hello.pid, delay_factor, "worker joined");
        self.send(
            index,
            &ToWorker::Welcome(Welcome {
                index: index as u32,
                delay_factor,
                cache_versions: self.config.cache_versions as u32,
            }),
        );
        self.equip_late_joiner(index);
    }

    /// Marks a worker lost and writes off its tasks in flight.
    pub(crate) fn lose(&mut self, worker: usize, why: &str) {
        let info = &mut self.table.workers[worker];
        if !info.alive {
            return;
        }
        info.alive = false;
        info.in_flight = 0;
        info.unconsumed = 0;
        info.idle_since = None;
        tracing::warn!(worker = %info.name, why, "worker lost");
        self.stats.lost_workers += 1;
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, t)| t.worker == worker)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in lost {
            self.in_flight.remove(&seq);
            self.written_off.push(seq);
        }
        self.refresh_oldest_in_flight();
        self.rehome_partitions(worker);
    }

    fn check_liveness(&mut self) {
        let timeout = self.config.liveness_timeout();
        let silent: Vec<usize> = (0..self.table.workers.len())
            .filter(|&i| {
                let w = &self.table.workers[i];
                w.alive && w.last_heard.elapsed() > timeout
            })
            .collect();
        for worker in silent {
            self.lose(worker, "it fell silent past the liveness timeout");
        }
    }

    /// The algorithm used (or dropped) a result: its worker may get work again.
    pub(crate) fn consume(&mut self, arrived: &Arrived) {
        let info = &mut self.table.workers[arrived.worker];
        info.unconsumed = info.unconsumed.saturating_sub(1);
    }

    pub(crate) fn refresh_oldest_in_flight(&mut self) {
        self.table.oldest_in_flight = self.in_flight.values().map(|t| t.clock).min();
    }
}
