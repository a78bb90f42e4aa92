//! A run's output files, kept in one place: each named before the run, so that a signal that
//! quits at once can say which are not written ([`Saving::will_write`]), then written or given
//! up, each ending in the list of files written or in that of the errors of those not written.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::interrupt::Saving;

/// The files of the runs `saving` marks as going on: those named, written, and not written.
pub struct RunFiles<'a> {
    saving: &'a Saving,
    written: Vec<PathBuf>,
    unwritten: Vec<String>,
}

impl<'a> RunFiles<'a> {
    /// No file named yet.
    pub fn new(saving: &'a Saving) -> RunFiles<'a> {
        RunFiles {
            saving,
            written: Vec::new(),
            unwritten: Vec::new(),
        }
    }

    /// The runs are to write `files`: until each is written, a signal that quits at once
    /// names it.
    pub fn will_write(&self, files: impl IntoIterator<Item = PathBuf>) {
        self.saving.will_write(files);
    }

    /// `files`, named, will not be written: their run did not run, which the command says.
    pub fn will_not_write(&self, files: &[PathBuf]) {
        files.iter().for_each(|file| self.saving.written(file));
    }

    /// Writes `path` with `write`: whether it was written. A file that could not be written
    /// is still named by a signal that quits at once, and its error kept.
    pub fn write(&mut self, path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> bool {
        match write(path) {
            Ok(()) => {
                self.saving.written(path);
                self.written.push(path.to_path_buf());
                true
            }
            Err(e) => {
                self.unwritten.push(format!("{e:#}"));
                false
            }
        }
    }

    /// Why each file that could not be written was not, one line each.
    pub fn unwritten(&self) -> &[String] {
        &self.unwritten
    }

    /// The files written and the errors of those that were not.
    pub fn into_lists(self) -> (Vec<PathBuf>, Vec<String>) {
        (self.written, self.unwritten)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_file_named_ends_written_failed_or_given_up() {
        let saving = Saving::begin();
        let mut files = RunFiles::new(&saving);
        let dir = Path::new("run-files-test");
        let [trace, model, plot, other] =
            ["t.csv", "m.json", "p.svg", "o.csv"].map(|f| dir.join(f));
        files.will_write([trace.clone(), model.clone(), plot.clone()]);
        files.will_write([other.clone()]);
        // Other tests' runs may name files meanwhile: only this one's are looked at.
        let not_written = || -> Vec<PathBuf> {
            (crate::interrupt::not_written().into_iter())
                .filter(|f| f.starts_with(dir))
                .collect()
        };
        let named = [trace.clone(), model.clone(), plot.clone(), other.clone()];
        assert_eq!(not_written(), named);

        assert!(files.write(&trace, |_| Ok(())));
        let full_disk = |path: &Path| anyhow::bail!("cannot write {}: disk full", path.display());
        assert!(!files.write(&model, full_disk));
        assert!(files.write(&plot, |_| Ok(())));
        files.will_not_write(&[other]);

        // The file that failed is still not written, as a quit at once would say; the one
        // given up is not named, nor counted as written.
        assert_eq!(not_written(), [model]);
        let (written, unwritten) = files.into_lists();
        assert_eq!(written, [trace, plot]);
        assert_eq!(unwritten, ["cannot write run-files-test/m.json: disk full"]);
    }
}
