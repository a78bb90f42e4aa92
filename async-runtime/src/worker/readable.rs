//! Which files a driver may have this worker read: only those the worker's own options name
//! ([`WorkerOptions::readable`](super::WorkerOptions::readable)), so that a peer holding the
//! token and standing in for the driver cannot read the host's other files (a data error
//! quotes the start of the offending line back to the driver).

use std::path::{Path, PathBuf};

/// The canonical path of `named` when it is one of the files `readable` names or lies under
/// one of the folders it names; why not otherwise. Paths are compared canonical, so neither
/// `..` nor a symbolic link leads out; the same answer for a missing file as for a forbidden
/// one, so that a driver learns nothing of files outside.
pub(super) fn allowed(named: &Path, readable: &[PathBuf]) -> Result<PathBuf, String> {
    let inside = |path: &Path| {
        readable.iter().any(|entry| match entry.canonicalize() {
            Ok(entry) if entry.is_dir() => path.starts_with(&entry),
            Ok(entry) => path == entry,
            Err(_) => false,
        })
    };
    match named.canonicalize() {
        Ok(path) if path.is_file() && inside(&path) => Ok(path),
        _ => Err(format!(
            "this worker may not read {}: it reads only the files its --data names and those \
             under the folders it names, and this one is not among them or is missing on its \
             host (start the worker with --data PATH, of the file or of its folder)",
            named.display()
        )),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A fresh folder holding `data/train.svm`, a `secret` beside `data`, and in `data` a
    /// symbolic link `escape` to that secret.
    pub(in crate::worker) fn tree() -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "asyncopt-readable-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
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
        let canonical = train.canonicalize().unwrap();
        for given in [root.join("data"), train.clone()] {
            let readable = [given.clone()];
            assert_eq!(
                allowed(&train, &readable),
                Ok(canonical.clone()),
                "{given:?}"
            );
            assert_eq!(
                allowed(&root.join("data/../data/train.svm"), &readable),
                Ok(canonical.clone())
            );
            for outside in [
                root.join("secret"),
                root.join("data/../secret"),
                root.join("data/escape"),
                root.join("data/missing.svm"),
                root.join("data"),
            ] {
                let said = allowed(&outside, &readable).expect_err("refused");
                assert!(said.contains("start the worker with --data PATH"), "{said}");
            }
        }
        assert!(allowed(&train, &[]).is_err(), "nothing named, nothing read");
        std::fs::remove_dir_all(root).unwrap();
    }
}
