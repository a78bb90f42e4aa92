//! The memory this process may still take: the least of what the host has available
//! (`MemAvailable`), what its cgroup v2 limits leave (a container's `--memory`, a pod's
//! limit) and what `ulimit -v` (RLIMIT_AS) leaves. The host's figure alone let a process in a
//! container or under `ulimit -v` plan for memory it could never get, and be killed or abort.
//!
//! The parsing is in pure functions of the files' texts; a file that cannot be read or
//! parsed gives no limit, never an error.

use std::path::Path;

/// What this process may still take now, if anything says.
pub(crate) fn available_now() -> Option<u64> {
    let read = |path: &Path| std::fs::read_to_string(path).ok();
    let host = read(Path::new("/proc/meminfo")).and_then(|text| meminfo_available(&text));
    let cgroup = read(Path::new("/proc/self/cgroup"))
        .and_then(|text| cgroup_v2_path(&text).map(str::to_owned))
        .and_then(|path| cgroup_left(Path::new("/sys/fs/cgroup"), &path, read));
    let address_space = address_space_limit().and_then(|limit| {
        let size = read(Path::new("/proc/self/status")).and_then(|text| vm_size(&text))?;
        Some(limit.saturating_sub(size))
    });
    least([host, cgroup, address_space])
}

/// The least of the limits known, or none.
fn least(limits: [Option<u64>; 3]) -> Option<u64> {
    limits.into_iter().flatten().min()
}

/// The value of a `NAME:   N kB` line of `/proc/meminfo` or `/proc/self/status`, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let rest = text.lines().find_map(|line| line.strip_prefix(name))?;
    let kib = rest.strip_prefix(':')?.trim().strip_suffix("kB")?;
    kib.trim()
        .parse::<u64>()
        .ok()
        .map(|kib| kib.saturating_mul(1024))
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn meminfo_available(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemAvailable")
}

/// `VmSize` of a `/proc/self/status` text, in bytes: what RLIMIT_AS counts.
fn vm_size(status: &str) -> Option<u64> {
    kib_field(status, "VmSize")
}

/// The cgroup v2 path of a `/proc/self/cgroup` text (its `0::/path` line), if any.
fn cgroup_v2_path(cgroups: &str) -> Option<&str> {
    cgroups
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::trim_end)
        .filter(|path| path.starts_with('/'))
}

/// What a cgroup's `memory.max` and `memory.current` texts leave: none for `max` (no limit)
/// or a text that is not a number.
fn limit_left(max: &str, current: &str) -> Option<u64> {
    let max = max.trim().parse::<u64>().ok()?;
    let current = current.trim().parse::<u64>().unwrap_or(0);
    Some(max.saturating_sub(current))
}

/// What the cgroup at `path` under `root`, and each cgroup above it, leave: the least, since
/// every one of them limits. `read` gives a file's text, or none.
fn cgroup_left(root: &Path, path: &str, read: impl Fn(&Path) -> Option<String>) -> Option<u64> {
    let mut left = None;
    let mut at = Some(path.trim_matches('/'));
    while let Some(relative) = at {
        // `..` would leave the cgroup tree: such a path gives no limit.
        if relative.split('/').any(|part| part == "..") {
            return None;
        }
        let dir = root.join(relative);
        let here = read(&dir.join("memory.max")).and_then(|max| {
            limit_left(&max, &read(&dir.join("memory.current")).unwrap_or_default())
        });
        left = least([left, here, None]);
        at = (!relative.is_empty()).then(|| relative.rsplit_once('/').map_or("", |(up, _)| up));
    }
    left
}

/// The soft RLIMIT_AS (`ulimit -v`) in bytes, if finite.
fn address_space_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn meminfo_and_status_fields_are_read_in_bytes() {
        let meminfo =
            "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(meminfo_available(meminfo), Some(8_000_000 * 1024));
        assert_eq!(meminfo_available("MemTotal: 5 kB\n"), None);
        assert_eq!(meminfo_available("MemAvailable: lots kB\n"), None);
        let status = "Name:\tasync-train\nVmPeak:\t  300000 kB\nVmSize:\t  250000 kB\n";
        assert_eq!(vm_size(status), Some(250_000 * 1024));
        assert_eq!(vm_size("VmSizeX: 1 kB\n"), None);
    }

    #[test]
    fn the_cgroup_v2_line_gives_the_path() {
        let mixed = "12:memory:/docker/abc\n0::/kubepods/pod1/ctr\n";
        assert_eq!(cgroup_v2_path(mixed), Some("/kubepods/pod1/ctr"));
        assert_eq!(cgroup_v2_path("0::/\n"), Some("/"));
        assert_eq!(cgroup_v2_path("4:memory:/x\n"), None);
        assert_eq!(cgroup_v2_path(""), None);
    }

    #[test]
    fn a_memory_max_of_max_or_garbage_is_no_limit() {
        assert_eq!(limit_left("max\n", "100\n"), None);
        assert_eq!(limit_left("", "100"), None);
        assert_eq!(limit_left("1000\n", "300\n"), Some(700));
        assert_eq!(limit_left("1000", "5000"), Some(0));
        // An unreadable memory.current: the whole limit.
        assert_eq!(limit_left("1000", ""), Some(1000));
    }

    #[test]
    fn every_cgroup_up_the_tree_limits_and_unreadable_ones_are_ignored() {
        let files: HashMap<&str, &str> = HashMap::from([
            ("/cg/pod/ctr/memory.max", "max\n"),
            ("/cg/pod/ctr/memory.current", "10\n"),
            ("/cg/pod/memory.max", "1000\n"),
            ("/cg/pod/memory.current", "400\n"),
            // /cg/memory.max unreadable (the root has none).
        ]);
        let read = |path: &Path| files.get(path.to_str()?).map(|text| text.to_string());
        assert_eq!(cgroup_left(Path::new("/cg"), "/pod/ctr", read), Some(600));
        assert_eq!(cgroup_left(Path::new("/cg"), "/", read), None);
        assert_eq!(cgroup_left(Path::new("/cg"), "/other", read), None);
        assert_eq!(cgroup_left(Path::new("/cg"), "/pod/../x", read), None);
        let nothing = |_: &Path| None;
        assert_eq!(cgroup_left(Path::new("/cg"), "/pod/ctr", nothing), None);
    }

    #[test]
    fn the_least_limit_known_counts() {
        assert_eq!(least([Some(5), None, Some(3)]), Some(3));
        assert_eq!(least([None, None, None]), None);
    }
}
