//! The worker processes a driver started on its own host (`ClusterConfig::spawn_local`): all of
//! them at launch, a replacement for one that exits during the run (crashed, killed, out of
//! memory) while the budget lasts, and their shutdown at the end. A replacement joins under a
//! fresh name, as any late joiner, and is given a partition at once.
//!
//! [`LocalWorkers`] is the one owner of the child processes and of the replacements awaited.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use crate::cluster::{self, ClusterConfig};
use crate::error::RuntimeError;
use crate::grants::GrantPipe;

/// The local worker processes of a run.
#[derive(Default)]
pub(crate) struct LocalWorkers {
    /// The processes started, by the name each was started under.
    children: Vec<(String, Child)>,
    /// Replacements started so far.
    replaced: u32,
    /// Replacements started and not admitted yet, with when they were started.
    awaited: Vec<(String, Instant)>,
    /// The pipe each process takes grants of files on, by its process id.
    grants: HashMap<u32, GrantPipe>,
}

impl LocalWorkers {
    /// Starts `config.workers` processes, `w0`, `w1`, ..., connecting to `endpoint`.
    pub fn start(config: &ClusterConfig, endpoint: &str) -> Result<LocalWorkers, RuntimeError> {
        LocalWorkers::start_with(config.workers, |name| {
            cluster::spawn_local_worker(config, endpoint, name)
        })
    }

    /// Starts `workers` processes with `spawn`, by name; if one cannot start, those started
    /// are ended (a dropped `Child` is not) and the error returned: no worker of a driver
    /// that never ran is left waiting for it.
    fn start_with(
        workers: usize,
        mut spawn: impl FnMut(&str) -> Result<Child, RuntimeError>,
    ) -> Result<LocalWorkers, RuntimeError> {
        let mut local = LocalWorkers::default();
        for i in 0..workers {
            let name = format!("w{i}");
            match spawn(&name) {
                Ok(child) => local.adopt(name, child),
                Err(error) => {
                    local.reap(Duration::ZERO, &[]);
                    return Err(error);
                }
            }
        }
        Ok(local)
    }

    /// Processes started elsewhere, under their names, as if this driver had started them.
    #[cfg(test)]
    pub fn of(children: Vec<(String, Child)>) -> LocalWorkers {
        let mut local = LocalWorkers::default();
        for (name, child) in children {
            local.adopt(name, child);
        }
        local
    }

    /// Keeps `child`, started as `name`, and the pipe it takes grants on.
    fn adopt(&mut self, name: String, mut child: Child) {
        self.grants.insert(child.id(), GrantPipe::of(&mut child));
        self.children.push((name, child));
    }

    /// Grants the process `pid` (if this driver started it) the file `path`, before it is
    /// sent the order to read it: on the pipe only this driver holds, so that the grant is
    /// there when the order comes. Whether it was granted.
    pub fn grant(&mut self, pid: u32, path: &Path) -> bool {
        self.grants
            .get_mut(&pid)
            .is_some_and(|pipe| pipe.grant(path))
    }

    /// Whether this driver started no process.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// The exit status of the first process that already ended, if one did.
    #[cfg(test)]
    pub fn first_exited(&mut self) -> Option<String> {
        self.children.iter_mut().find_map(|(_, child)| {
            let status = child.try_wait().ok().flatten()?;
            Some(exited_early(status))
        })
    }

    /// The processes that ended since the last call, by name and exit status: no longer ours.
    pub fn take_exited(&mut self) -> Vec<(String, ExitStatus)> {
        let mut exited = Vec::new();
        self.children
            .retain_mut(|(name, child)| match child.try_wait() {
                Ok(Some(status)) => {
                    exited.push((name.clone(), status));
                    false
                }
                _ => true,
            });
        let children = &self.children;
        self.grants
            .retain(|pid, _| children.iter().any(|(_, child)| child.id() == *pid));
        exited
    }

    /// Starts a replacement of the process named `of`, if the budget of `config.max_respawns`
    /// allows one; its name (`w3.respawn1`) when it started.
    pub fn replace(
        &mut self,
        config: &ClusterConfig,
        endpoint: &str,
        of: &str,
    ) -> Result<Option<String>, RuntimeError> {
        if self.replaced >= config.max_respawns {
            return Ok(None);
        }
        self.replaced += 1;
        let slot = of.split('.').next().unwrap_or(of);
        let name = format!("{slot}.respawn{}", self.replaced);
        let child = cluster::spawn_local_worker(config, endpoint, &name)?;
        self.adopt(name.clone(), child);
        self.awaited.push((name.clone(), Instant::now()));
        Ok(Some(name))
    }

    /// Replacements started so far.
    pub fn replaced(&self) -> u32 {
        self.replaced
    }

    /// The process an awaited replacement named `name` stands in for (`w3` for `w3.respawn2`):
    /// it runs on the same host, so it straggles as that one did. `None` for any other name.
    pub fn predecessor<'a>(&self, name: &'a str) -> Option<&'a str> {
        self.awaited
            .iter()
            .any(|(awaited, _)| awaited == name)
            .then(|| name.split('.').next().unwrap_or(name))
    }

    /// Awaits a replacement named `name` as if it had just been started.
    #[cfg(test)]
    pub fn await_replacement(&mut self, name: &str) {
        self.awaited.push((name.to_owned(), Instant::now()));
    }

    /// A worker was admitted: if it is an awaited replacement, it is awaited no more.
    pub fn admitted(&mut self, name: &str) {
        self.awaited.retain(|(awaited, _)| awaited != name);
    }

    /// Whether a replacement started less than `within` ago is still to join: the run waits
    /// for it rather than end for want of workers.
    pub fn awaiting(&self, within: Duration) -> bool {
        self.awaited
            .iter()
            .any(|(_, started)| started.elapsed() < within)
    }

    /// Ends every process: those whose id is in `told` (live workers told the run is over)
    /// are given up to `grace` to exit, then killed; the others at once. A worker declared
    /// lost (stopped, hung) or a replacement not admitted yet was told nothing, and exits
    /// only when the driver's connection closes, after this: waiting for it held the end of
    /// the run, and its files, for the whole grace. How each told one ended, in order.
    pub fn reap(&mut self, grace: Duration, told: &[u32]) -> Vec<Option<ExitStatus>> {
        self.grants.clear();
        let (mut waited, untold): (Vec<Child>, Vec<Child>) = self
            .children
            .drain(..)
            .map(|(_, child)| child)
            .partition(|child| told.contains(&child.id()));
        for mut child in untold {
            let _ = child.kill();
            let _ = child.wait();
        }
        cluster::reap(&mut waited, grace)
    }
}

/// What a worker process that `status` ended before it joined says of itself. A worker never
/// exits by itself before it joined: one that ended well ran the program's own main, where
/// `run_worker_if_spawned` was not called first. (The worker says so on its standard error,
/// which the program may drop.)
pub(crate) fn exited_early(status: ExitStatus) -> String {
    if ran_the_program(status) {
        format!(
            "{status}: it ran the program instead of a worker; call \
             asyncopt_runtime::run_worker_if_spawned() first in main"
        )
    } else {
        status.to_string()
    }
}

/// Whether a worker process that ended with `status` before it joined ran the program instead
/// of a worker: a replacement would do the same.
pub(crate) fn ran_the_program(status: ExitStatus) -> bool {
    status.success()
}

/// Two stand-ins for worker processes: one stopped, which never exits by itself (a `sleep`),
/// and one that exits by itself once the first is gone, as a worker told the run is over
/// does. A shutdown that waits for the first before the second holds the second too.
#[cfg(test)]
pub(crate) fn stopped_and_waiting_stand_ins() -> (Child, Child) {
    use std::process::Command;
    let stopped = Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("`sleep` runs");
    let script = format!(
        "while kill -0 {} 2>/dev/null; do sleep 0.01; done",
        stopped.id()
    );
    let waiting = Command::new("sh")
        .args(["-c", &script])
        .spawn()
        .expect("`sh` runs");
    (stopped, waiting)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A child that exits at once, standing for a worker process that died.
    fn dead_child() -> Child {
        Command::new("true").spawn().expect("`true` runs")
    }

    /// The first value `poll` gives, asked every 10 ms for at most 10 s (a process to end).
    fn within_10_s<T>(mut poll: impl FnMut() -> Option<T>) -> T {
        let begun = Instant::now();
        loop {
            if let Some(value) = poll() {
                return value;
            }
            assert!(begun.elapsed() < Duration::from_secs(10), "nothing in 10 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn workers_started_before_one_that_cannot_start_are_ended() {
        let mut started = Vec::new();
        let error = LocalWorkers::start_with(3, |name| {
            if name == "w2" {
                return Err(RuntimeError::Spawn {
                    exe: "worker".into(),
                    reason: "Resource temporarily unavailable".into(),
                });
            }
            // Its output not the test's: a process left over must not hold the harness's pipe.
            let child = Command::new("sleep")
                .arg("600")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("`sleep` runs");
            started.push(child.id());
            Ok(child)
        })
        .err()
        .expect("w2 could not start");
        assert!(
            error.to_string().contains("temporarily unavailable"),
            "{error}"
        );
        assert_eq!(started.len(), 2);
        for pid in started {
            // Killed and waited for: no process of that id is left (not even a zombie).
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "process {pid} outlived the failed start"
            );
        }
    }

    #[test]
    fn exited_processes_are_taken_once_and_replacements_are_awaited_until_admitted() {
        let mut local = LocalWorkers {
            children: vec![("w3".into(), dead_child())],
            ..LocalWorkers::default()
        };
        let exited = within_10_s(|| Some(local.take_exited()).filter(|e| !e.is_empty()));
        assert_eq!(exited.len(), 1);
        assert_eq!(exited[0].0, "w3");
        assert!(local.take_exited().is_empty() && local.is_empty());
        local.awaited.push(("w3.respawn1".into(), Instant::now()));
        assert!(local.awaiting(Duration::from_secs(30)));
        assert!(!local.awaiting(Duration::ZERO), "past its join timeout");
        assert_eq!(local.predecessor("w3.respawn1"), Some("w3"));
        assert_eq!(local.predecessor("w3.respawn9"), None, "not one we started");
        local.admitted("w3.respawn1");
        assert_eq!(local.predecessor("w3.respawn1"), None, "no longer awaited");
        assert!(!local.awaiting(Duration::from_secs(30)));
    }

    #[test]
    fn a_process_that_ended_well_before_it_joined_is_told_to_call_run_worker_if_spawned() {
        let mut local = LocalWorkers {
            children: vec![("w0".into(), dead_child())],
            ..LocalWorkers::default()
        };
        let exited = within_10_s(|| local.first_exited());
        assert!(exited.contains("run_worker_if_spawned() first"), "{exited}");
        let mut failed = LocalWorkers {
            children: vec![("w0".into(), Command::new("false").spawn().unwrap())],
            ..LocalWorkers::default()
        };
        let exited = within_10_s(|| failed.first_exited());
        assert!(!exited.contains("run_worker_if_spawned"), "{exited}");
    }

    #[test]
    fn processes_told_nothing_are_ended_at_once_and_those_told_are_let_exit() {
        // A lost worker's process, stopped: told nothing, it would not exit by itself. A live
        // worker told the run is over: it exits by itself, here once the lost one is gone.
        // Waited for first, it held the lost one's end until the grace ran out, and was
        // killed at it with the other.
        let (lost, told) = stopped_and_waiting_stand_ins();
        let told_pid = told.id();
        let mut local = LocalWorkers {
            children: vec![("w0".into(), told), ("w1".into(), lost)],
            ..LocalWorkers::default()
        };
        let ended = local.reap(Duration::from_secs(60), &[told_pid]);
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert!(
            ended[0].is_some_and(|status| status.success()),
            "the told one was killed: {ended:?}"
        );
        assert!(local.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_replacement_is_granted_files_on_its_own_pipe_once_each() {
        // A "worker" that writes what comes on its standard input to a file.
        let scratch = test_support::scratch(&format!("local-grants-{}", std::process::id()));
        let heard = scratch.join("heard");
        let mut config = ClusterConfig::local(1);
        config.worker_exe = Some("sh".into());
        config.worker_args = vec!["-c".into(), format!("cat > '{}'", heard.display())];
        let mut local = LocalWorkers::default();
        let name = local.replace(&config, "tcp://127.0.0.1:1", "w0").unwrap();
        assert_eq!(name.as_deref(), Some("w0.respawn1"));
        let pid = local.children[0].1.id();
        let path = std::path::Path::new("/data/a9a.svm");
        assert!(local.grant(pid, path));
        assert!(local.grant(pid, path), "granted already");
        assert!(
            !local.grant(pid + 1, path),
            "not a process this driver started"
        );
        // Its pipe closed, it ends: what it heard is the one grant.
        local.grants.clear();
        let ended = local.reap(Duration::from_secs(10), &[pid]);
        assert!(ended[0].is_some_and(|status| status.success()), "{ended:?}");
        assert_eq!(std::fs::read(&heard).unwrap(), b"/data/a9a.svm\0");
    }

    #[test]
    fn no_replacement_beyond_the_budget() {
        let mut config = ClusterConfig::local(2);
        config.max_respawns = 0;
        let mut local = LocalWorkers::default();
        let replaced = local.replace(&config, "tcp://127.0.0.1:1", "w0").unwrap();
        assert_eq!(replaced, None);
        assert!(local.is_empty());
    }
}
