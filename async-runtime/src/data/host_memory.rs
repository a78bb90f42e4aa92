//! The memory this process may still take: the least of what the host has available
//! (`MemAvailable`), what its cgroup limits leave (a container's `--memory`, a pod's limit;
//! cgroup v2's `memory.max`, or v1's `memory.limit_in_bytes` on hosts that still mount the v1
//! memory controller) and what `ulimit -v` (RLIMIT_AS) leaves. The host's figure alone let a process in a
//! container or under `ulimit -v` plan for memory it could never get, and be killed or abort.
//!
//! The parsing is in pure functions of the files' texts; a file that cannot be read or
//! parsed gives no limit, never an error.

use std::path::Path;

/// What this process may still take now, if anything says.
pub(crate) fn available_now() -> Option<u64> {
    let read = |path: &Path| std::fs::read_to_string(path).ok();
    let host = read(Path::new("/proc/meminfo")).and_then(|text| meminfo_available(&text));
    let cgroups = read(Path::new("/proc/self/cgroup")).unwrap_or_default();
    let v2 = cgroup_v2_path(&cgroups)
        .and_then(|path| cgroup_left(Path::new("/sys/fs/cgroup"), path, &V2, read));
    // A v1 hierarchy has its own mount, which only the mount table names.
    let v1 = cgroup_v1_memory_path(&cgroups).and_then(|path| {
        let mounts = read(Path::new("/proc/self/mountinfo"))?;
        let (root, relative) = v1_memory_mount(&mounts, path)?;
        cgroup_left(Path::new(root), relative, &V1, read)
    });
    let address_space = address_space_limit().and_then(|limit| {
        let size = read(Path::new("/proc/self/status")).and_then(|text| vm_size(&text))?;
        Some(limit.saturating_sub(size))
    });
    least([host, v2, v1, address_space])
}

/// The least of the limits known, or none.
fn least<const N: usize>(limits: [Option<u64>; N]) -> Option<u64> {
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

/// The cgroup v1 path of a `/proc/self/cgroup` text (the line whose controllers include
/// `memory`, as in `4:memory:/docker/abc` or `7:cpu,memory:/x`), if any.
fn cgroup_v1_memory_path(cgroups: &str) -> Option<&str> {
    cgroups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let path = path.trim_end();
        (controllers.split(',').any(|c| c == "memory") && path.starts_with('/')).then_some(path)
    })
}

/// Where the cgroup v1 memory hierarchy is mounted, from a `/proc/self/mountinfo` text, and
/// the cgroup `path` relative to that mount: a container sees its own cgroup at the mount's
/// root (the mount's root field is then that cgroup), the host sees the whole tree. None if
/// no such mount, or `path` lies outside what it shows.
fn v1_memory_mount<'a>(mountinfo: &'a str, path: &'a str) -> Option<(&'a str, &'a str)> {
    mountinfo.lines().find_map(|line| {
        // `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER_OPTIONS`
        let (mount, filesystem) = line.split_once(" - ")?;
        let mut fs = filesystem.split_whitespace();
        let (fstype, super_options) = (fs.next()?, fs.nth(1)?);
        if fstype != "cgroup" || !super_options.split(',').any(|o| o == "memory") {
            return None;
        }
        let mut fields = mount.split_whitespace();
        let (root, point) = (fields.nth(3)?, fields.next()?);
        let relative = match root {
            "/" => path,
            root => path
                .strip_prefix(root)
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))?,
        };
        Some((point, relative))
    })
}

/// A cgroup version's files: its limit and its usage.
struct Files {
    limit: &'static str,
    usage: &'static str,
}

const V2: Files = Files {
    limit: "memory.max",
    usage: "memory.current",
};

const V1: Files = Files {
    limit: "memory.limit_in_bytes",
    usage: "memory.usage_in_bytes",
};

/// A v1 limit this large is none: "unlimited" reads as the largest page count in bytes
/// (9223372036854771712 with 4 KiB pages), and no host has 4 EiB.
const V1_UNLIMITED: u64 = 1 << 62;

/// What a cgroup's limit (`memory.max`, `memory.limit_in_bytes`) and usage (`memory.current`,
/// `memory.usage_in_bytes`) texts leave: none for `max` or v1's unlimited (no limit) or a
/// text that is not a number.
fn limit_left(max: &str, current: &str) -> Option<u64> {
    let max = max
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|&max| max < V1_UNLIMITED)?;
    let current = current.trim().parse::<u64>().unwrap_or(0);
    Some(max.saturating_sub(current))
}

/// What the cgroup at `path` under `root`, and each cgroup above it, leave: the least, since
/// every one of them limits. `files` names the limit and usage files; `read` gives a file's
/// text, or none.
fn cgroup_left(
    root: &Path,
    path: &str,
    files: &Files,
    read: impl Fn(&Path) -> Option<String>,
) -> Option<u64> {
    let mut left = None;
    let mut at = Some(path.trim_matches('/'));
    while let Some(relative) = at {
        // `..` would leave the cgroup tree: such a path gives no limit.
        if relative.split('/').any(|part| part == "..") {
            return None;
        }
        let dir = root.join(relative);
        let here = read(&dir.join(files.limit))
            .and_then(|max| limit_left(&max, &read(&dir.join(files.usage)).unwrap_or_default()));
        left = least([left, here]);
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
        let left = |path| cgroup_left(Path::new("/cg"), path, &V2, read);
        assert_eq!(left("/pod/ctr"), Some(600));
        assert_eq!(left("/"), None);
        assert_eq!(left("/other"), None);
        assert_eq!(left("/pod/../x"), None);
        let nothing = |_: &Path| None;
        assert_eq!(
            cgroup_left(Path::new("/cg"), "/pod/ctr", &V2, nothing),
            None
        );
    }

    #[test]
    fn the_cgroup_v1_memory_line_gives_the_path() {
        let v1 = "9:name=systemd:/\n5:devices:/\n4:memory:/process_api/ef92\n0::/\n";
        assert_eq!(cgroup_v1_memory_path(v1), Some("/process_api/ef92"));
        assert_eq!(cgroup_v1_memory_path("7:cpu,memory:/x\n"), Some("/x"));
        assert_eq!(cgroup_v1_memory_path("3:memory_extra:/x\n0::/y\n"), None);
        assert_eq!(cgroup_v1_memory_path("0::/kubepods/pod1\n"), None);
        assert_eq!(cgroup_v1_memory_path(""), None);
    }

    #[test]
    fn the_v1_memory_mount_is_found_in_mountinfo() {
        let host = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                    32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                    35 31 0:32 / /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory\n\
                    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            v1_memory_mount(host, "/process_api/ef92"),
            Some(("/sys/fs/cgroup/memory", "/process_api/ef92"))
        );
        // A container without a cgroup namespace: its cgroup is the mount's root.
        let docker =
            "700 690 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n";
        let memory = "/sys/fs/cgroup/memory";
        assert_eq!(v1_memory_mount(docker, "/docker/abc"), Some((memory, "")));
        assert_eq!(
            v1_memory_mount(docker, "/docker/abc/sub"),
            Some((memory, "/sub"))
        );
        assert_eq!(v1_memory_mount(docker, "/docker/abcd"), None);
        assert_eq!(v1_memory_mount(docker, "/other"), None);
        // Only the v2 hierarchy, or no mount table.
        let v2 = "41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,memory\n";
        assert_eq!(v1_memory_mount(v2, "/x"), None);
        assert_eq!(v1_memory_mount("", "/x"), None);
    }

    #[test]
    fn a_v1_limit_of_unlimited_is_none_and_its_usage_counts() {
        assert_eq!(
            limit_left(
                "9223372036854771712
",
                "4999065600
"
            ),
            None
        );
        // With 64 KiB pages "unlimited" reads otherwise, as large.
        assert_eq!(
            limit_left(
                "9223372036854710272
",
                "1"
            ),
            None
        );
        let files: HashMap<&str, &str> = HashMap::from([
            (
                "/m/docker/abc/memory.limit_in_bytes",
                "2147483648
",
            ),
            (
                "/m/docker/abc/memory.usage_in_bytes",
                "1073741824
",
            ),
            (
                "/m/docker/memory.limit_in_bytes",
                "9223372036854771712
",
            ),
            (
                "/m/memory.limit_in_bytes",
                "9223372036854771712
",
            ),
            // v2's names are not v1's.
            (
                "/m/docker/abc/memory.max",
                "10
",
            ),
        ]);
        let read = |path: &Path| files.get(path.to_str()?).map(|text| text.to_string());
        assert_eq!(
            cgroup_left(Path::new("/m"), "/docker/abc", &V1, read),
            Some(1 << 30)
        );
        assert_eq!(cgroup_left(Path::new("/m"), "/docker", &V1, read), None);
        // As a container sees itself at the mount's root.
        assert_eq!(
            cgroup_left(Path::new("/m/docker/abc"), "", &V1, read),
            Some(1 << 30)
        );
    }

    #[test]
    fn the_least_limit_known_counts() {
        assert_eq!(least([Some(5), None, Some(3), None]), Some(3));
        assert_eq!(least([None, None, None]), None);
    }
}
