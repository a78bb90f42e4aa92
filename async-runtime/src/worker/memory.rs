//! The worker's one account of the memory it holds: partitions held and arriving, broadcast
//! versions kept, tasks queued (their bytes and how many). A driver, even one holding the
//! token, decides how much of each it sends; each kind asking the host on its own let each
//! take half of what was available however much the others (a worker's gigabytes of
//! partitions) held already.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::MAX_QUEUED_TASKS;
use crate::data::file::share_of;
use crate::error::TaskError;

/// What a worker may hold without asking the host: reading `/proc/meminfo` takes 10-15 us,
/// as much CPU as a small task's whole message, and a worker asks for every task it queues and
/// every version it keeps.
pub(crate) const HELD_UNASKED: u64 = 64 << 20;

/// How long the host's answer stands for what it admits. A worker holding more than
/// [`HELD_UNASKED`] of partitions asks for every task; within this it asks at most ten times a
/// second, and a refusal always rests on a fresh answer.
const ANSWER_STANDS: Duration = Duration::from_millis(100);

/// What the worker holds bytes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Partitions decoded (or read) and kept.
    Partitions,
    /// Partitions arriving in chunks, at the size their first chunk declared.
    Arriving,
    /// Broadcast versions kept in the cache.
    Versions,
    /// Tasks handed to the task thread and not done.
    Tasks,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Partitions => "a partition",
            Kind::Arriving => "a partition arriving",
            Kind::Versions => "a broadcast version",
            Kind::Tasks => "a task",
        }
    }
}

/// Where the memory the host has available now comes from: `/proc/meminfo` (less where a
/// container's cgroup or `ulimit -v` leaves less) in a worker, a number in tests. `None`:
/// unknown, and then no bound.
type Available = Box<dyn Fn() -> Option<u64> + Send + Sync>;

/// The bytes a worker holds, by [`Kind`], shared by its event loop and its task thread.
pub(crate) struct MemoryAccount {
    state: Mutex<State>,
    /// What the worker holds without asking the host.
    unasked: u64,
    /// How long an answer of the host admits without asking again.
    answer_stands: Duration,
    available: Available,
}

#[derive(Debug, Default)]
struct State {
    /// Bytes held, by [`Kind`].
    held: [u64; 4],
    /// Tasks queued and not done: one per [`Held`] of [`Kind::Tasks`].
    tasks: usize,
    /// The host's last answer, and when it was asked.
    answer: Option<(Instant, Option<u64>)>,
}

/// Bytes counted in a [`MemoryAccount`] for as long as this lives: dropping it releases them,
/// so what is evicted, replaced, refused or done can never stay counted.
#[derive(Debug)]
pub(crate) struct Held {
    account: Arc<MemoryAccount>,
    kind: Kind,
    bytes: u64,
}

impl std::fmt::Debug for MemoryAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryAccount")
            .field("held", &self.lock().held)
            .finish_non_exhaustive()
    }
}

impl MemoryAccount {
    /// The account of a worker on this host, asking `/proc/meminfo` past [`HELD_UNASKED`].
    pub fn of_host() -> Arc<MemoryAccount> {
        MemoryAccount::new(
            HELD_UNASKED,
            ANSWER_STANDS,
            crate::data::file::available_now,
        )
    }

    /// An account that asks `available` once the worker would hold more than `unasked`, and
    /// takes an answer that admits as standing for `answer_stands`.
    pub fn new(
        unasked: u64,
        answer_stands: Duration,
        available: impl Fn() -> Option<u64> + Send + Sync + 'static,
    ) -> Arc<MemoryAccount> {
        Arc::new(MemoryAccount {
            state: Mutex::new(State::default()),
            unasked,
            answer_stands,
            available: Box::new(available),
        })
    }

    /// Counts `bytes` of `kind`, or refuses them ([`TaskError::OverMemory`]): when the worker's total with them (less
    /// `freeing`, bytes it already counts and drops once these are kept) would exceed half of
    /// what it holds in memory and the host has available. Partitions arriving are only
    /// declared, not in memory yet (the host's available memory has not shrunk by them), so
    /// they are not part of that half: alone, they may take half of what is available.
    pub fn reserve(
        self: &Arc<Self>,
        kind: Kind,
        bytes: u64,
        freeing: u64,
    ) -> Result<Held, TaskError> {
        self.admit(&mut self.lock(), kind, bytes, freeing)?;
        Ok(self.held_as(kind, bytes))
    }

    /// Counts a task queued and its `bytes`, or refuses it: [`TaskError::TooManyTasks`] past
    /// [`MAX_QUEUED_TASKS`] (behind the one running), or its bytes as [`Self::reserve`] does.
    /// The task stays counted until the [`Held`] is dropped, which releases both at once.
    pub fn reserve_task(self: &Arc<Self>, bytes: u64) -> Result<Held, TaskError> {
        let mut state = self.lock();
        if state.tasks > MAX_QUEUED_TASKS {
            return Err(TaskError::TooManyTasks(MAX_QUEUED_TASKS));
        }
        self.admit(&mut state, Kind::Tasks, bytes, 0)?;
        Ok(self.held_as(Kind::Tasks, bytes))
    }

    /// Adds `bytes` of `kind` to `state`, or says why they do not fit ([`Self::reserve`]).
    fn admit(
        &self,
        state: &mut State,
        kind: Kind,
        bytes: u64,
        freeing: u64,
    ) -> Result<(), TaskError> {
        let total = state
            .held
            .iter()
            .fold(0u64, |sum, &bytes| sum.saturating_add(bytes));
        let after = total.saturating_sub(freeing).saturating_add(bytes);
        if after > self.unasked {
            let in_memory = total - state.held[Kind::Arriving as usize];
            let budget_on = |available| share_of(in_memory, available);
            let standing = state
                .answer
                .filter(|(asked, _)| asked.elapsed() < self.answer_stands)
                .map(|(_, available)| budget_on(available));
            let budget = match standing {
                Some(budget) if after <= budget => budget,
                _ => {
                    let available = (self.available)();
                    state.answer = Some((Instant::now(), available));
                    budget_on(available)
                }
            };
            if after > budget {
                return Err(TaskError::OverMemory {
                    what: kind.what(),
                    wanted: bytes,
                    held: total,
                    budget,
                });
            }
        }
        state.count(kind, bytes);
        Ok(())
    }

    /// Counts `bytes` of `kind` already in memory (a partition decoded or read under its own
    /// budget): never refused, since refusing would free nothing the host has not given.
    pub fn hold(self: &Arc<Self>, kind: Kind, bytes: u64) -> Held {
        self.lock().count(kind, bytes);
        self.held_as(kind, bytes)
    }

    /// The bytes held of `kind`.
    #[cfg(test)]
    pub fn held(&self, kind: Kind) -> u64 {
        self.lock().held[kind as usize]
    }

    /// The bytes held in all.
    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.lock().held.iter().sum()
    }

    /// The tasks queued and not done.
    #[cfg(test)]
    pub fn tasks(&self) -> usize {
        self.lock().tasks
    }

    fn held_as(self: &Arc<Self>, kind: Kind, bytes: u64) -> Held {
        Held {
            account: self.clone(),
            kind,
            bytes,
        }
    }

    /// Releases `bytes` of `kind`, and, when the [`Held`] `ends`, the task it counted (if of
    /// [`Kind::Tasks`]) in the same step.
    fn release(&self, kind: Kind, bytes: u64, ends: bool) {
        let mut state = self.lock();
        state.held[kind as usize] = state.held[kind as usize].saturating_sub(bytes);
        if ends && kind == Kind::Tasks {
            state.tasks = state.tasks.saturating_sub(1);
        }
    }

    /// The counts: a thread that panicked holding them left them whole (each change is one
    /// addition or subtraction).
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Adds `bytes` of `kind`; a [`Held`] of [`Kind::Tasks`] is one task more.
    fn count(&mut self, kind: Kind, bytes: u64) {
        self.held[kind as usize] = self.held[kind as usize].saturating_add(bytes);
        if kind == Kind::Tasks {
            self.tasks += 1;
        }
    }
}

impl Held {
    /// Releases `bytes` of these (a partition assembled shorter than declared, a task's
    /// versions moved into the cache), keeping the rest counted.
    pub fn shrink(&mut self, bytes: u64) {
        let released = bytes.min(self.bytes);
        self.account.release(self.kind, released, false);
        self.bytes -= released;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.account.release(self.kind, self.bytes, true);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const MIB: u64 = 1 << 20;

    /// An account of a host with `available` bytes available, asked from the first byte.
    pub(crate) fn host_with(available: u64) -> Arc<MemoryAccount> {
        MemoryAccount::new(0, Duration::ZERO, move || Some(available))
    }

    #[test]
    fn a_worker_holding_large_partitions_keeps_no_version_or_task_the_host_cannot_spare() {
        // 1 GiB available, 3 GiB of partitions held: each guard counted only its own kind,
        // so a version or a task of 400 MiB fit in half of the 1 GiB.
        let account = host_with(1024 * MIB);
        let _partitions = account.hold(Kind::Partitions, 3072 * MIB);
        for kind in [Kind::Versions, Kind::Tasks, Kind::Arriving] {
            let refused = account.reserve(kind, 400 * MIB, 0).unwrap_err();
            let said = refused.to_string();
            assert!(
                matches!(refused, TaskError::OverMemory { held, budget, .. }
                    if held == 3072 * MIB && budget == 2048 * MIB),
                "{said}"
            );
            assert!(
                said.starts_with(kind.what()) && said.contains("3072 MiB in all"),
                "{said}"
            );
        }
        assert_eq!(account.total(), 3072 * MIB, "nothing refused is counted");
    }

    #[test]
    fn what_is_released_makes_room_and_what_is_declared_is_not_memory_yet() {
        let account = host_with(1000);
        // Alone, partitions arriving take half of what is available, as before.
        let arriving = account.reserve(Kind::Arriving, 500, 0).unwrap();
        assert!(account.reserve(Kind::Arriving, 1, 0).is_err());
        drop(arriving);
        // A task in memory, and 600 bytes available beside it: half of 1,000.
        let account = host_with(600);
        let mut task = account.hold(Kind::Tasks, 400);
        assert!(account.reserve(Kind::Versions, 200, 0).is_err());
        // A version the task carried moves into the cache: counted once, not twice.
        let version = account.reserve(Kind::Versions, 300, 300).unwrap();
        task.shrink(300);
        assert_eq!((account.held(Kind::Tasks), account.total()), (100, 400));
        drop(task);
        drop(version);
        assert_eq!(account.total(), 0);
    }

    #[test]
    fn a_small_worker_does_not_ask_the_host() {
        static ASKED: AtomicUsize = AtomicUsize::new(0);
        let account = MemoryAccount::new(HELD_UNASKED, Duration::ZERO, || {
            ASKED.fetch_add(1, Ordering::SeqCst);
            Some(0)
        });
        // A worker asks for every task it queues and every version it keeps: reading
        // /proc/meminfo for each took as much CPU as a small task's message.
        let _small = account.reserve(Kind::Tasks, HELD_UNASKED, 0).unwrap();
        assert_eq!(ASKED.load(Ordering::SeqCst), 0);
        assert!(account.reserve(Kind::Versions, 1, 0).is_err());
        assert_eq!(ASKED.load(Ordering::SeqCst), 1);
        // Where the host cannot say, no bound.
        let unknown = MemoryAccount::new(0, Duration::ZERO, || None);
        assert!(unknown.reserve(Kind::Versions, u64::MAX / 2, 0).is_ok());
    }

    #[test]
    fn a_worker_past_the_unasked_bytes_asks_once_while_the_answer_admits() {
        static ASKED: AtomicUsize = AtomicUsize::new(0);
        static AVAILABLE: AtomicUsize = AtomicUsize::new(1000);
        let account = MemoryAccount::new(0, Duration::from_secs(3600), || {
            ASKED.fetch_add(1, Ordering::SeqCst);
            Some(AVAILABLE.load(Ordering::SeqCst) as u64)
        });
        // A worker holding partitions past the unasked bytes asked the host for every task.
        let _partitions = account.hold(Kind::Partitions, 200);
        let tasks: Vec<Held> = (0..100)
            .map(|_| account.reserve(Kind::Tasks, 1, 0).unwrap())
            .collect();
        assert_eq!(ASKED.load(Ordering::SeqCst), 1);
        // What the standing answer would refuse is asked afresh: the host freed memory.
        AVAILABLE.store(2000, Ordering::SeqCst);
        assert!(account.reserve(Kind::Versions, 500, 0).is_ok());
        assert_eq!(ASKED.load(Ordering::SeqCst), 2);
        // And a refusal rests on a fresh answer too.
        AVAILABLE.store(0, Ordering::SeqCst);
        assert!(account.reserve(Kind::Versions, 1000, 0).is_err());
        assert_eq!(ASKED.load(Ordering::SeqCst), 3);
        drop(tasks);
    }
}
