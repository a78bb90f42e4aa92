//! Which files a driver may have this worker read: only those the worker's own options name
//! ([`WorkerOptions::readable`](super::WorkerOptions::readable)), so that a peer holding the
//! token and standing in for the driver cannot read the host's other files (a data error
//! quotes the start of the offending line back to the driver).
//!
//! The file is opened first and what was opened is checked, never the name before the open:
//! whoever can write in an allowed folder could otherwise swap a link between the check and
//! the open and have the worker read any file of its user.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Who allowed this worker its files, so that a refusal names the remedy that applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GrantedBy {
    /// Its own command line (`--data PATH`).
    CommandLine,
    /// The driver that started it: its `ClusterConfig::worker_data`, and the files it grants
    /// on the worker's standard input (`crate::grants`).
    Driver,
}

/// `named`, opened, when the file opened is one of the files `readable` names or lies under
/// one of the folders it names; why not otherwise. Paths are compared canonical, so neither
/// `..` nor a symbolic link leads out; the same answer for a missing file as for a forbidden
/// one, so that a driver learns nothing of files outside. The file returned is the one to
/// read: opening the name again could open another.
pub(super) fn open(named: &Path, readable: &[PathBuf], granted: GrantedBy) -> Result<File, String> {
    match crate::regular_file::open_without_waiting(named) {
        Ok(file) if opened_allowed(&file, named, readable) => Ok(file),
        _ => Err(refusal(named, granted)),
    }
}

fn refusal(named: &Path, granted: GrantedBy) -> String {
    let named = named.display();
    match granted {
        GrantedBy::CommandLine => format!(
            "this worker may not read {named}: it reads only the files its --data names and \
             those under the folders it names, and this one is not among them or is missing on \
             its host (start the worker with --data PATH, of the file or of its folder)"
        ),
        // Its driver grants it the file of each shared dataset before it has it read it:
        // refused, the file is missing here or the grant failed; ClusterConfig::worker_data
        // is what grants a file from the start.
        GrantedBy::Driver => format!(
            "this local worker may not read {named}: it is missing, or its driver did not \
             grant it (a driver grants its local workers the file of each shared dataset it \
             has them read; for any other file, add the file or its folder to \
             ClusterConfig::worker_data)"
        ),
    }
}

/// Whether `file`, opened by the name `named`, is a regular file `readable` allows: where it
/// was actually opened (on Linux the link of its descriptor in `/proc/self/fd`; elsewhere
/// `named` resolved now), canonical, must be allowed and name this very file still (same
/// device and inode), so that a link swapped before the open, or back after it, leads out
/// of no allowed folder.
fn opened_allowed(file: &File, named: &Path, readable: &[PathBuf]) -> bool {
    let Ok(opened) = file.metadata() else {
        return false;
    };
    let at = opened_at(file).unwrap_or_else(|| named.to_path_buf());
    let Ok(path) = at.canonicalize() else {
        return false;
    };
    let inside = readable.iter().any(|entry| match entry.canonicalize() {
        Ok(entry) if entry.is_dir() => path.starts_with(&entry),
        Ok(entry) => path == entry,
        Err(_) => false,
    });
    opened.is_file()
        && inside
        && std::fs::metadata(&path).is_ok_and(|there| same_file(&opened, &there))
}

/// The path the descriptor of `file` was opened at, where the system says (Linux).
fn opened_at(file: &File) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

/// Whether two metadata are of one file (its device and inode).
#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Without inodes to compare, the canonical path's check stands alone.
#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::io::Read;

    /// What `open` gives: the text of the file opened, or that it was refused.
    fn read(named: &Path, readable: &[PathBuf]) -> Result<String, String> {
        let mut text = String::new();
        open(named, readable, GrantedBy::CommandLine)?
            .read_to_string(&mut text)
            .unwrap();
        Ok(text)
    }

    /// A fresh folder holding `data/train.svm`, a `secret` beside `data`, and in `data` a
    /// symbolic link `escape` to that secret.
    pub(in crate::worker) fn tree() -> test_support::Scratch {
        // Tests of one process build trees at once: each its own name.
        let root = test_support::scratch(&format!("readable-{}", rand::random::<u32>()));
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/train.svm"), "1 1:1\n").unwrap();
        std::fs::write(root.join("secret"), "key\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("secret"), root.join("data/escape")).unwrap();
        root
    }

    #[test]
    fn only_named_files_and_files_under_named_folders_are_allowed() {
        let root = tree();
        let train = root.join("data/train.svm");
        for given in [root.join("data"), train.clone()] {
            let readable = [given.clone()];
            assert_eq!(read(&train, &readable), Ok("1 1:1\n".into()), "{given:?}");
            assert_eq!(
                read(&root.join("data/../data/train.svm"), &readable),
                Ok("1 1:1\n".into())
            );
            for outside in [
                root.join("secret"),
                root.join("data/../secret"),
                root.join("data/escape"),
                root.join("data/missing.svm"),
                root.join("data"),
            ] {
                let said = read(&outside, &readable).expect_err("refused");
                assert!(said.contains("start the worker with --data PATH"), "{said}");
            }
        }
        assert!(read(&train, &[]).is_err(), "nothing named, nothing read");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_swapped_between_check_and_open_leads_nowhere_outside() {
        // The worker checked the name, then opened it: a link in an allowed folder pointing at
        // an allowed file when checked, at the user's key when opened, and back again after.
        let root = tree();
        let readable = [root.join("data")];
        let link = root.join("data/flip");
        let point = |at: &str| {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(root.join(at), &link).unwrap();
        };
        point("data/train.svm");
        let checked = link.canonicalize().unwrap();
        assert!(checked.starts_with(root.join("data").canonicalize().unwrap()));
        point("secret");
        let opened = crate::regular_file::open_without_waiting(&link).unwrap();
        point("data/train.svm");
        assert_eq!(
            link.canonicalize().unwrap(),
            checked,
            "the name passes any check"
        );
        assert!(
            !opened_allowed(&opened, &link, &readable),
            "the file opened is the secret"
        );
        assert_eq!(read(&link, &readable), Ok("1 1:1\n".into()));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let root = tree();
        let fifo = root.join("data/fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let said = read(&fifo, &[root.join("data")]).expect_err("refused");
        assert!(said.contains("start the worker with --data PATH"), "{said}");
    }

    #[test]
    fn a_local_worker_refused_a_file_names_the_clusters_worker_data() {
        // A local worker refused a file its driver did not grant: the refusal spoke of a
        // --data option the user never saw.
        let root = tree();
        let said = open(&root.join("data/train.svm"), &[], GrantedBy::Driver).expect_err("refused");
        assert!(
            said.contains("it is missing, or its driver did not grant it")
                && said.contains("add the file or its folder to ClusterConfig::worker_data"),
            "{said}"
        );
        assert!(!said.contains("--data"), "{said}");
    }
}
