//! Temporary files a write stages beside its target before renaming them over it, named
//! `.TARGET.PID-TOKEN.tmp`: hidden, and carrying the writer's process id.
//!
//! A write killed outright (SIGKILL, a power cut) leaves its temporary file; in a folder that
//! runs write into again and again (a checkpoint folder a resumed run reuses) such files would
//! pile up unseen, each as large as what it was to become. The process id lets the next writer
//! remove the ones whose process is gone ([`remove_stale`]) and keep those of a write going on
//! in another live process into the same folder.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// This process's temporary name for the file named `target` (a file name, no folder):
/// `.TARGET.PID-TOKEN.tmp`. `token` (ASCII hexadecimal digits: a counter, or a random number
/// where the name must not be guessed) tells apart this process's writes.
pub fn temporary_name(target: &OsStr, token: &str) -> OsString {
    let mut name = OsString::from(".");
    name.push(target);
    name.push(format!(".{}-{token}.tmp", std::process::id()));
    name
}

/// Removes from `dir` the temporary files of `target` (a file name) that a write of a process
/// now gone left behind. Only names of exactly [`temporary_name`]'s pattern for `target` go,
/// and only those of a process that no longer runs; a link is removed itself, never what it
/// leads to. Best effort: what cannot be read or removed stays.
pub fn remove_stale(dir: &Path, target: &OsStr) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = writer_of(&entry.file_name(), target) else {
            continue;
        };
        if process_is_gone(pid) && std::fs::remove_file(entry.path()).is_ok() {
            tracing::debug!(
                "removed {}, the temporary file of a write by process {pid}, which is gone",
                entry.path().display()
            );
        }
    }
}

/// Renames `temporary` over `target` and syncs their folder: the rename lives in the folder,
/// and a power cut may lose the new file unless the folder is synced too (a folder this user
/// may write but not read, or one a platform cannot open, is left as it is).
pub fn rename_into_place(temporary: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::rename(temporary, target)?;
    if let Some(Ok(folder)) = target.parent().map(std::fs::File::open) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// The process id in `name` when it is a temporary name of `target`
/// (`.TARGET.PID-TOKEN.tmp`, PID a positive decimal, TOKEN hexadecimal digits).
fn writer_of(name: &OsStr, target: &OsStr) -> Option<i32> {
    let rest = name.as_encoded_bytes().strip_prefix(b".")?;
    let rest = rest.strip_prefix(target.as_encoded_bytes())?;
    let rest = std::str::from_utf8(rest.strip_prefix(b".")?.strip_suffix(b".tmp")?).ok()?;
    let (pid, token) = rest.split_once('-')?;
    let decimal = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
    let hexadecimal = !token.is_empty() && token.bytes().all(|b| b.is_ascii_hexdigit());
    // Positive only: `kill` takes 0 and negative ids for process groups.
    let pid = pid.parse::<i32>().ok().filter(|pid| *pid > 0)?;
    (decimal && hexadecimal).then_some(pid)
}

/// Whether no process `pid` runs; one that runs under another user (EPERM) runs.
#[cfg(unix)]
fn process_is_gone(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let status = unsafe { libc::kill(pid, 0) };
    status != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Elsewhere no process can be told gone: every file is kept.
#[cfg(not(unix))]
fn process_is_gone(_pid: i32) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::gone_pid;

    #[test]
    fn only_the_targets_names_of_a_gone_process_are_stale() {
        let target = OsStr::new("checkpoint.bin");
        let gone = gone_pid();
        let me = std::process::id();
        let of = |name: String| writer_of(OsStr::new(&name), target);
        assert_eq!(
            of(format!(".checkpoint.bin.{gone}-0.tmp")),
            Some(gone as i32)
        );
        assert_eq!(
            of(format!(".checkpoint.bin.{me}-00c0ffee.tmp")),
            Some(me as i32)
        );
        for look_alike in [
            format!("checkpoint.bin.{gone}-0.tmp"),
            format!(".checkpoint.bin.{gone}-0.tmp~"),
            format!(".checkpoint.bin.{gone}-.tmp"),
            format!(".checkpoint.bin.{gone}-xyz.tmp"),
            format!(".checkpoint.bin.-{gone}.tmp"),
            ".checkpoint.bin.0-1.tmp".to_owned(),
            format!(".checkpoint.bin.x.{gone}-0.tmp"),
            format!(".checkpoint.json.{gone}-0.tmp"),
            format!(".checkpoint.binary.{gone}-0.tmp"),
        ] {
            assert_eq!(of(look_alike.clone()), None, "{look_alike}");
        }
        assert!(process_is_gone(gone as i32));
        assert!(!process_is_gone(me as i32));
    }

    #[test]
    fn a_stale_temporary_file_goes_and_a_live_ones_and_look_alikes_stay() {
        let dir = test_support::scratch("staging-stale");
        let target = OsStr::new("t.csv");
        let stale = format!(".t.csv.{}-3.tmp", gone_pid());
        let live = format!(".t.csv.{}-3.tmp", std::process::id());
        let look_alike = format!(".t.csv.{}-3.tmp.keep", gone_pid());
        for name in [&stale, &live, &look_alike] {
            std::fs::write(dir.join(name), b"left").unwrap();
        }
        remove_stale(&dir, target);
        assert!(
            !dir.join(&stale).exists(),
            "a gone process's file is removed"
        );
        assert!(dir.join(&live).exists(), "a live process's file stays");
        assert!(dir.join(&look_alike).exists(), "another name stays");
        std::fs::remove_dir_all(&dir).ok();
    }
}
