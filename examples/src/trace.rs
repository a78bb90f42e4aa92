//! The trace of a run: one row per evaluation point, written as CSV.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// One evaluation point.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct TracePoint {
    /// Seconds of training.
    pub elapsed_s: f64,
    /// Updates applied.
    pub updates: u64,
    /// The objective at that point.
    pub objective: f64,
    /// (f - f*)/f*, when f* is known and above 0 (see [`relative_subopt`]; an f* within
    /// rounding of 0 is 0: [`resolved_optimum`]).
    pub subopt: Option<f64>,
    /// Results dropped as too stale so far.
    pub dropped_stale: u64,
}

impl TracePoint {
    /// Whether its relative suboptimality is known and at most `target`.
    pub fn reaches(&self, target: f64) -> bool {
        self.subopt.is_some_and(|s| s <= target)
    }

    /// The point with its suboptimality against `optimum`: a resumed run's earlier points were
    /// measured against the f* of the run that wrote them, which a resume may give anew
    /// (`--optimum`), and one trace must not mix two.
    pub fn against(self, optimum: Option<f64>) -> TracePoint {
        TracePoint {
            subopt: optimum.and_then(|f| relative_subopt(self.objective, f)),
            ..self
        }
    }

    /// Whether the objective is below f* by more than rounding: a relative suboptimality
    /// under `-below_by` ([`below_optimum_rounding`]).
    pub fn is_below_optimum(&self, below_by: f64) -> bool {
        self.subopt.is_some_and(|s| s < -below_by)
    }
}

/// The relative error of an f* pasted with ten significant digits (`0.2242095732` for
/// 0.2242095731892): at most half a unit of the tenth digit of a number whose first is 1.
pub const PASTED_OPTIMUM: f64 = 5e-10;

/// How far below f*, relative, an objective over `rows` rows may fall by rounding alone: the
/// error of a sum of `rows` terms (`rows` units of roundoff), plus that of an f* pasted with
/// ten significant digits ([`PASTED_OPTIMUM`]). Further below, f* is not the optimum. (It was
/// 1e-6, which let an f* 5.6e-7 too high "reach" a target of 1e-9.)
pub fn below_optimum_rounding(rows: usize) -> f64 {
    PASTED_OPTIMUM + rows as f64 * f64::EPSILON
}

/// The relative suboptimality `(f - f*)/f*` of `objective`, `None` when `optimum` is not
/// above 0: an optimum of 0 (data fitted exactly) makes it infinite or NaN at every point.
/// An optimum within rounding of 0 is made 0 first ([`resolved_optimum`]).
pub fn relative_subopt(objective: f64, optimum: f64) -> Option<f64> {
    (optimum > 0.0).then(|| (objective - optimum) / optimum)
}

/// The size from which an objective is printed in scientific notation: ten decimals of a
/// larger one are digits nobody reads (a value of 1e300 in the data gave hundreds of digits).
pub(crate) const OBJECTIVE_FIXED_BELOW: f64 = 1e6;

/// An objective as the run's lines print it: ten decimals, or in scientific notation when
/// those would hide its digits (below 1e-4 and not 0: a fit to data fitted exactly ends near
/// 1e-30, which ten decimals print as 0.0000000000) or drown them (from 1e6 on).
pub fn objective_text(objective: f64) -> String {
    let size = objective.abs();
    if (objective != 0.0 && size < 1e-4) || size >= OBJECTIVE_FIXED_BELOW {
        format!("{objective:.6e}")
    } else {
        format!("{objective:.10}")
    }
}

/// The fraction of the objective at `w = 0` at or below which f* is rounding, not an
/// optimum above 0: the unit roundoff of f64.
pub const OPTIMUM_RESOLUTION: f64 = f64::EPSILON;

/// `optimum`, or 0 when it is within rounding of 0: at most [`OPTIMUM_RESOLUTION`] times the
/// objective at `w = 0`, `at_zero`, in size (an `at_zero` not finite leaves it as it is).
///
/// Data fitted exactly leaves residuals rounded to about 1e-16 of the labels, so an f* of
/// about 1e-32 of `at_zero`, positive or not: dividing by it gave relative suboptimalities of
/// 1e30, or -1 once the objective rounded to 0 itself.
pub fn resolved_optimum(optimum: f64, at_zero: f64) -> f64 {
    if at_zero.is_finite() && optimum.abs() <= OPTIMUM_RESOLUTION * at_zero.abs() {
        0.0
    } else {
        optimum
    }
}

/// The evaluation points of a run, in time order.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// The rows.
    pub points: Vec<TracePoint>,
}

impl Trace {
    /// The first time the relative suboptimality reached `target`; `None` in a trace with a
    /// point below f* by more than `below_by` ([`below_optimum`](Trace::below_optimum)):
    /// against an f* that is not the optimum, a target reached means nothing.
    pub fn time_to(&self, target: f64, below_by: f64) -> Option<f64> {
        if self.below_optimum(below_by).is_some() {
            return None;
        }
        self.first_at(target)
    }

    /// The first time the relative suboptimality reached `target`, even in a trace with a
    /// point below f*: that of a sample's objective, which may fall below the file's f*.
    /// `None` unless the last point, the model the run kept, is at or below it too: the
    /// points before it may be another variable's than the one the optimizer returns (a
    /// lookahead it broadcasts), and a target only they reached is no target of the model.
    pub fn first_at(&self, target: f64) -> Option<f64> {
        self.points.last().filter(|p| p.reaches(target))?;
        self.followed_at(target).map(|p| p.elapsed_s)
    }

    /// The first point at or below `target`, whether or not the model kept is: where the stop
    /// rules, which follow the variable the optimizer broadcasts, saw it reached.
    pub fn followed_at(&self, target: f64) -> Option<&TracePoint> {
        self.points.iter().find(|p| p.reaches(target))
    }

    /// The first point whose objective is below f* by more than rounding, `below_by`
    /// ([`below_optimum_rounding`]): f* is then not the optimum.
    pub fn below_optimum(&self, below_by: f64) -> Option<&TracePoint> {
        self.points.iter().find(|p| p.is_below_optimum(below_by))
    }

    /// Writes `elapsed_s,updates,objective,subopt,dropped_stale,objective_rows` rows, the last
    /// the rows the objective was measured on (an evaluation sample's, or every row).
    pub fn write_csv(&self, path: &Path, objective_rows: usize) -> Result<()> {
        use std::fmt::Write as _;
        let mut text =
            String::from("elapsed_s,updates,objective,subopt,dropped_stale,objective_rows\n");
        for p in &self.points {
            let subopt = p.subopt.map_or(String::new(), |s| format!("{s:.6e}"));
            let _ = writeln!(
                text,
                "{:.6},{},{:.12e},{},{},{objective_rows}",
                p.elapsed_s, p.updates, p.objective, subopt, p.dropped_stale
            );
        }
        write_whole(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Creates the folder a file goes into ([`create_folder`]).
pub fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_folder(parent).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Creates the folder `dir` and the folders it goes in. A file in the place of one of them is
/// named as such: the system only said "File exists" or "Not a directory".
pub fn create_folder(dir: &Path) -> Result<()> {
    if let Some(file) = file_in_place_of(dir) {
        bail!("{} is a file, not a folder", file.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))
}

/// Refuses the folder `dir` that `flag` names when a file is in its place, or in the place of
/// one of the folders it goes in, in [`create_folder`]'s words: a
/// [`UsageError`](crate::cli::UsageError), since this check runs before the run and the path
/// is the command line's.
pub fn check_folder(flag: &str, dir: &Path) -> Result<()> {
    let said = match file_in_place_of(dir) {
        Some(file) if file == dir => format!("{flag} {} is a file, not a folder", dir.display()),
        Some(file) => format!(
            "{flag} {}: {} is a file, not a folder",
            dir.display(),
            file.display()
        ),
        None => return Ok(()),
    };
    Err(crate::cli::UsageError(said).into())
}

/// The file (anything but a folder) at `dir` or at one of the folders it goes in, if any.
fn file_in_place_of(dir: &Path) -> Option<&Path> {
    dir.ancestors()
        .filter(|at| !at.as_os_str().is_empty())
        .find(|at| at.exists() && !at.is_dir())
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
/// be written would otherwise lose a run's results only once it has ended. Found before any
/// work, each way it fails (a file in the place of its folder, a folder that cannot be
/// created, a file that cannot be opened) is the command line's mistake: a
/// [`UsageError`](crate::cli::UsageError), as `async-bench`'s [`check_flag_writable`] has it.
pub fn check_writable(path: &Path) -> Result<()> {
    probe_writable(path, &format!("cannot write {}", path.display()))
}

/// [`check_writable`] of `path`, the file the flag `flag` names as `given` (`path` itself, or
/// a file in the folder it names), for a command that checks every output before any work:
/// each way it fails is then the command line's mistake, a
/// [`UsageError`](crate::cli::UsageError) that begins with the flag and `given`.
pub fn check_flag_writable(flag: &str, given: &Path, path: &Path) -> Result<()> {
    probe_writable(path, &format!("{flag} {}", given.display()))
}

/// [`check_writable`]'s work, its errors begun with `lead`, each a
/// [`UsageError`](crate::cli::UsageError).
fn probe_writable(path: &Path, lead: &str) -> Result<()> {
    try_writing(path, lead).map_err(|error| crate::cli::UsageError(format!("{error:#}")).into())
}

/// Whether `path` can be written, found by creating its folder and opening it.
fn try_writing(path: &Path, lead: &str) -> Result<()> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(file) = folder.and_then(file_in_place_of) {
        bail!("{lead}: {} is a file, not a folder", file.display());
    }
    if let Some(folder) = folder {
        create_folder(folder).with_context(|| lead.to_owned())?;
    }
    let existing = std::fs::metadata(path).ok();
    if existing
        .as_ref()
        .is_some_and(|m| !m.is_file() && !m.is_dir())
    {
        // A FIFO opened and closed here would hand its reader an empty stream, and the real
        // write would then wait for a reader forever: a FIFO or a device is only asked.
        return may_write(path).with_context(|| lead.to_owned());
    }
    let existed = existing.is_some();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| lead.to_owned())?;
    if !existed {
        // A dangling link's target was created: it is what is removed, and the link stays.
        let _ = std::fs::remove_file(link_target(path));
    }
    Ok(())
}

/// Whether this process may write `path`, asked without opening it.
#[cfg(unix)]
fn may_write(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    match unsafe { libc::access(name.as_ptr(), libc::W_OK) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Elsewhere a device or a pipe is taken as writable: its write says otherwise.
#[cfg(not(unix))]
fn may_write(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Where a file named `path` is: the end of the chain of links its last component starts
/// (`path` itself when it is no link), so that writing it keeps the links.
fn link_target(path: &Path) -> PathBuf {
    let mut at = path.to_path_buf();
    // As many links as the system follows before it gives up (ELOOP).
    for _ in 0..40 {
        let is_link = std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink());
        let Some(next) = is_link.then(|| std::fs::read_link(&at).ok()).flatten() else {
            break;
        };
        at = match at.parent() {
            Some(parent) => parent.join(next),
            None => next,
        };
    }
    at
}

/// Writes `contents` as the file `path` (its folder created), all or nothing: into a
/// temporary file beside it, synced, then renamed over it. A write that fails half way (a
/// full disk) so leaves an earlier file of that name as it was, and no torn file where there
/// was none; a link is written through. The temporary files of that name a killed write
/// left are removed first ([`asyncopt_runtime::staging::remove_stale`]). What is no regular file (a device, a pipe,
/// `/dev/stdout`) is written in place, as is a file in a folder that only the file itself may
/// be written in.
pub fn write_whole(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    // Its links followed: what is there now, if anything.
    let existing = std::fs::metadata(path).ok();
    let streams = path.starts_with("/dev") || path.starts_with("/proc");
    if streams || existing.as_ref().is_some_and(|m| !m.is_file()) {
        return std::fs::write(path, contents);
    }
    let target = match existing {
        Some(_) => std::fs::canonicalize(path)?,
        // A dangling link names the file to create.
        None => link_target(path),
    };
    let Some(name) = target.file_name() else {
        return std::fs::write(path, contents);
    };
    let folder = target.parent().filter(|p| !p.as_os_str().is_empty());
    asyncopt_runtime::staging::remove_stale(folder.unwrap_or(Path::new(".")), name);
    let token = NEXT.fetch_add(1, Ordering::Relaxed).to_string();
    let temporary = target.with_file_name(asyncopt_runtime::staging::temporary_name(name, &token));
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
    {
        Ok(file) => {
            unfinished().insert(temporary.clone());
            file
        }
        // A folder only the existing file may be written in: in place, as before.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && existing.is_some() => {
            return std::fs::write(&target, contents);
        }
        Err(e) => return Err(e),
    };
    let written = (|| {
        file.write_all(contents)?;
        if let Some(existing) = &existing {
            // The earlier file's permissions are the user's choice: kept.
            file.set_permissions(existing.permissions())?;
        }
        file.sync_all()?;
        drop(file);
        asyncopt_runtime::staging::rename_into_place(&temporary, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    unfinished().remove(&temporary);
    written
}

/// The temporary files [`write_whole`] is writing now, for [`remove_unfinished`].
fn unfinished() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<PathBuf>> {
    static UNFINISHED: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    UNFINISHED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes the temporary files of the writes going on, for a process about to quit at once (a
/// second Ctrl-C): the earlier files of their names stay as they were, and nothing half
/// written is left beside them.
pub fn remove_unfinished() {
    remove_each(std::mem::take(&mut *unfinished()));
}

fn remove_each(temporaries: impl IntoIterator<Item = PathBuf>) {
    for temporary in temporaries {
        let _ = std::fs::remove_file(temporary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> test_support::Scratch {
        let dir = test_support::scratch(&format!("trace-{name}"));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        dir
    }

    fn point(elapsed_s: f64, objective: f64, optimum: f64) -> TracePoint {
        TracePoint {
            elapsed_s,
            updates: 0,
            objective,
            subopt: None,
            dropped_stale: 0,
        }
        .against(Some(optimum))
    }

    #[test]
    fn a_trace_below_its_optimum_reaches_no_target() {
        // f* = 1: the first point is above it, then one is below by far more than rounding.
        let below_by = below_optimum_rounding(20_640);
        let trace = Trace {
            points: vec![point(0.0, 2.0, 1.0), point(1.0, 0.5, 1.0)],
        };
        assert_eq!(trace.time_to(1e-3, below_by), None);
        assert_eq!(
            trace.below_optimum(below_by).map(|p| p.elapsed_s),
            Some(1.0)
        );
        // Below by rounding only: the optimum reached, on time.
        let rounded = Trace {
            points: vec![point(0.0, 2.0, 1.0), point(1.0, 1.0 - 1e-10, 1.0)],
        };
        assert_eq!(rounded.time_to(1e-3, below_by), Some(1.0));
        assert!(rounded.below_optimum(below_by).is_none());
    }

    #[test]
    fn a_target_only_a_point_before_the_kept_model_reached_is_not_reached() {
        // A lookahead the optimizer broadcast reached 3e-2 at 1 s; the model it returned, the
        // last point, is at 4.8e-2: a target of 4e-2 is the lookahead's, not the model's.
        let trace = Trace {
            points: vec![
                point(0.0, 2.0, 1.0),
                point(1.0, 1.03, 1.0),
                point(1.0, 1.048, 1.0),
            ],
        };
        let below_by = below_optimum_rounding(20_640);
        assert_eq!(trace.time_to(4e-2, below_by), None);
        assert_eq!(trace.first_at(4e-2), None);
        assert_eq!(trace.followed_at(4e-2).map(|p| p.elapsed_s), Some(1.0));
        // Reached by the kept model too: the first time it was reached, as before.
        assert_eq!(trace.time_to(5e-2, below_by), Some(1.0));
    }

    #[test]
    fn an_optimum_too_high_by_more_than_its_ten_digits_is_no_optimum() {
        // The audit's f*, 0.26364845298, given as 0.2636486: 5.6e-7 too high, and the run
        // "reached" a target of 1e-9 while 6.3e-8 above the true f*.
        let (truth, given) = (0.26364845298_f64, 0.2636486);
        let below_by = below_optimum_rounding(20_640);
        let reached = point(1.0, truth * (1.0 + 6.3e-8), given);
        assert!(reached.is_below_optimum(below_by));
        // Ten significant digits of the true f* (data/README's 0.2242095732 for
        // 0.2242095731892), the objective at the optimum itself.
        for (truth, pasted) in [(0.2242095731892, 0.2242095732), (1.0000000004999, 1.0)] {
            assert!(!point(1.0, truth, pasted).is_below_optimum(below_by));
        }
        // The sum over many rows rounds further: a billion rows may fall 2.2e-7 below.
        let many = below_optimum_rounding(1_000_000_000);
        assert!(!point(1.0, 1.0 - 2e-7, 1.0).is_below_optimum(many));
        assert!(point(1.0, 1.0 - 2e-7, 1.0).is_below_optimum(below_by));
    }

    #[test]
    fn a_quit_at_once_removes_the_temporary_files_of_writes_going_on() {
        let dir = folder("unfinished");
        write_whole(&dir.join("done.csv"), b"whole\n").unwrap();
        // (Other tests may be writing meanwhile: only this folder's entries are looked at.)
        let in_dir = || unfinished().iter().any(|path| path.starts_with(&dir));
        assert!(!in_dir(), "a finished write leaves nothing to remove");
        // A write cut short by the quit: its temporary file exists and is registered.
        let temporary = dir.join(".t.csv.1-0.tmp");
        std::fs::write(&temporary, b"half").unwrap();
        unfinished().insert(temporary.clone());
        // As `remove_unfinished`, but of this folder's entries only: all of them would
        // remove the temporary files of the other tests' writes going on.
        let ours: Vec<PathBuf> = {
            let mut all = unfinished();
            let ours: Vec<PathBuf> = all
                .iter()
                .filter(|p| p.starts_with(&dir))
                .cloned()
                .collect();
            all.retain(|p| !p.starts_with(&dir));
            ours
        };
        remove_each(ours);
        assert!(!temporary.exists());
        assert_eq!(std::fs::read(dir.join("done.csv")).unwrap(), b"whole\n");
    }

    #[test]
    fn a_write_removes_the_temporary_files_a_killed_write_of_that_name_left() {
        let dir = folder("stale");
        let (gone, live) = (test_support::gone_pid(), std::process::id());
        let stale = format!(".t.csv.{gone}-0.tmp");
        let kept = [
            format!(".t.csv.{live}-999999.tmp"),
            format!(".t.csv.{gone}-0.tmp.orig"),
            format!(".other.csv.{gone}-0.tmp"),
        ];
        for name in kept.iter().chain([&stale]) {
            std::fs::write(dir.join(name), b"half").unwrap();
        }
        write_whole(&dir.join("t.csv"), b"whole\n").unwrap();
        assert!(
            !dir.join(&stale).exists(),
            "a gone process's file is removed"
        );
        for name in &kept {
            assert!(dir.join(name).exists(), "{name} stays");
        }
        assert_eq!(std::fs::read(dir.join("t.csv")).unwrap(), b"whole\n");
    }

    #[test]
    fn an_objective_near_zero_is_printed_with_its_digits() {
        assert_eq!(objective_text(0.2689181113), "0.2689181113");
        assert_eq!(objective_text(0.0), "0.0000000000");
        assert_eq!(objective_text(1e-4), "0.0001000000");
        assert_eq!(objective_text(5.655980e-32), "5.655980e-32");
        assert_eq!(objective_text(-3.2e-7), "-3.200000e-7");
        assert_eq!(objective_text(f64::NAN), "NaN");
    }

    #[test]
    fn a_large_objective_is_printed_short() {
        // Ten decimals of an objective of 1e300 were over 300 characters on evaluate's line.
        assert_eq!(objective_text(3.1394396655e300), "3.139440e300");
        assert_eq!(objective_text(-2.5e6), "-2.500000e6");
        assert_eq!(objective_text(1e6), "1.000000e6");
        assert_eq!(objective_text(999_999.5), "999999.5000000000");
        assert_eq!(objective_text(f64::INFINITY), "inf");
        assert!(objective_text(f64::MAX).len() <= 13);
    }

    #[test]
    fn an_optimum_within_rounding_of_zero_is_zero() {
        // The audit's cases: f* of 1.2e-31 (f(0) 0.64) and 2.5e-32 (f(0) 1.125).
        assert_eq!(resolved_optimum(1.2341359083633406e-31, 0.637), 0.0);
        assert_eq!(resolved_optimum(2.465190328815662e-32, 1.125), 0.0);
        assert_eq!(resolved_optimum(-1e-20, 1.0), 0.0);
        assert_eq!(relative_subopt(0.0, resolved_optimum(2.5e-32, 1.125)), None);
        // The bound itself, and just above it.
        assert_eq!(resolved_optimum(f64::EPSILON, 1.0), 0.0);
        let above = f64::EPSILON * 1.5;
        assert_eq!(resolved_optimum(above, 1.0).to_bits(), above.to_bits());
    }

    #[test]
    fn an_optimum_above_rounding_is_kept_bit_for_bit() {
        for (optimum, at_zero) in [(0.0197, 2.8), (1e-10, 1.0), (-0.5, 1.0), (3.0, 1e15)] {
            assert_eq!(
                resolved_optimum(optimum, at_zero).to_bits(),
                optimum.to_bits()
            );
        }
        // An objective at 0 that is no number says nothing of rounding.
        assert_eq!(resolved_optimum(1e-30, f64::INFINITY), 1e-30);
        assert_eq!(resolved_optimum(1e-30, f64::NAN), 1e-30);
        assert_eq!(relative_subopt(0.03, 0.02), Some((0.03 - 0.02) / 0.02));
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
    }
}
