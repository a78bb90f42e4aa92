//! The trace of a run: one row per evaluation point, written as CSV.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One evaluation point.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct TracePoint {
    /// Seconds of training.
    pub elapsed_s: f64,
    /// Updates applied.
    pub updates: u64,
    /// The objective at that point.
    pub objective: f64,
    /// (f - f*)/f*, when f* is known.
    pub subopt: Option<f64>,
    /// Results dropped as too stale so far.
    pub dropped_stale: u64,
}

/// The evaluation points of a run, in time order.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// The rows.
    pub points: Vec<TracePoint>,
}

impl Trace {
    /// The first time the relative suboptimality reached `target`.
    pub fn time_to(&self, target: f64) -> Option<f64> {
        self.points
            .iter()
            .find(|p| p.subopt.is_some_and(|s| s <= target))
            .map(|p| p.elapsed_s)
    }

    /// Writes `elapsed_s,updates,objective,subopt,dropped_stale` rows.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        create_parent(path)?;
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        );
        writeln!(out, "elapsed_s,updates,objective,subopt,dropped_stale")?;
        for p in &self.points {
            let subopt = p.subopt.map_or(String::new(), |s| format!("{s:.6e}"));
            writeln!(
                out,
                "{:.6},{},{:.12e},{},{}",
                p.elapsed_s, p.updates, p.objective, subopt, p.dropped_stale
            )?;
        }
        out.flush()
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Creates the folder a file goes into.
pub fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    Ok(())
}

/// Whether `a` and `b` are one file: the same file once both exist (a hard link is one too),
/// else the same path once `.`, `..` and the links of their folders are resolved.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt;
        return (a.dev(), a.ino()) == (b.dev(), b.ino());
    }
    resolved(a).is_some_and(|a| resolved(b).is_some_and(|b| a == b))
}

/// Where `path` is or would be: taken one component at a time, as the system takes it, each
/// existing prefix canonicalized (its links followed) before a `..` steps out of it.
fn resolved(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut at = PathBuf::new();
    for component in std::path::absolute(path).ok()?.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                at.pop();
            }
            other => {
                at.push(other);
                if let Ok(real) = at.canonicalize() {
                    at = real;
                }
            }
        }
    }
    Some(at)
}

/// Fails now, not after the run, if `path` cannot be written: creates its folder and opens
/// it for writing without truncating it (a new file is removed again). An output that cannot
/// be written would otherwise lose a run's results only once it has ended.
pub fn check_writable(path: &Path) -> Result<()> {
    create_parent(path)?;
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("trace-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        dir
    }

    #[test]
    fn paths_through_dot_dot_or_a_hard_link_name_one_file() {
        let dir = folder("same");
        // Neither exists yet.
        assert!(same_file(&dir.join("sub/../t.csv"), &dir.join("t.csv")));
        assert!(same_file(&dir.join("new/../t.csv"), &dir.join("./t.csv")));
        assert!(!same_file(&dir.join("sub/t.csv"), &dir.join("t.csv")));
        std::fs::write(dir.join("data.svm"), "1 1:1\n").unwrap();
        std::fs::hard_link(dir.join("data.svm"), dir.join("sub/hard.svm")).unwrap();
        assert!(same_file(&dir.join("sub/hard.svm"), &dir.join("data.svm")));
        std::fs::write(dir.join("copy.svm"), "1 1:1\n").unwrap();
        assert!(!same_file(&dir.join("copy.svm"), &dir.join("data.svm")));
        // `..` steps out of where a link leads, as the system takes it.
        std::fs::create_dir_all(dir.join("other/deep")).unwrap();
        std::os::unix::fs::symlink(dir.join("other/deep"), dir.join("link")).unwrap();
        assert!(same_file(
            &dir.join("link/../t.csv"),
            &dir.join("other/t.csv")
        ));
        assert!(!same_file(&dir.join("link/../t.csv"), &dir.join("t.csv")));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
