//! Driver checkpoints: what a restarted driver needs to go on where a run stopped.
//!
//! Workers hold nothing that must survive a driver: their partitions, broadcast versions and
//! history slices are sent again by the driver. A checkpoint is therefore the driver's state
//! only: the training loop's variables (the model, a history table, SAGA's mean, ...), the
//! latest version of each broadcast variable with its number (and, for one read back by a
//! pinned read `w.at(v)` or `value_at`, every older version the driver kept, so that a resumed
//! run still reads an anchor or a fixed lag), the run's counters, and an application annex (the trace so far).
//!
//! The file is written whole to a temporary name, synced and renamed over the last one, so a
//! crash leaves the previous checkpoint intact. Its readable summary ([`SUMMARY_FILE`]) only
//! describes it: moved aside before the file lands (and put back if it cannot) and written
//! after, it is never of another checkpoint. It starts with a magic, a format number, the
//! body's length and its SHA-256: a torn or damaged file is refused, never half-read.
//!
//! The SHA-256 tells damage, not forgery: whoever can write the folder can write a consistent
//! checkpoint, which a resume would train on. So the folder is made private (mode 0700) when
//! it is made here, and one that someone else can write (every user: `/tmp` itself, a folder
//! made `0777`; or another user who owns it) is refused, for writing and for reading.
//!
//! ```
//! use asyncopt_runtime::checkpoint::{self, Checkpoint};
//!
//! let dir = std::env::temp_dir().join(format!("ckpt-doc-{}", std::process::id()));
//! let saved = Checkpoint { job: "sgd on a9a".into(), iteration: 40, ..Checkpoint::default() };
//! checkpoint::write(&dir, &saved)?;
//! let read = checkpoint::read(&dir, "sgd on a9a")?;
//! assert_eq!(read.iteration, 40);
//! assert!(checkpoint::read(&dir, "saga on a9a").is_err(), "another job's checkpoint is refused");
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), asyncopt_runtime::checkpoint::CheckpointError>(())
//! ```

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::coordinator::RunStats;
use crate::staging;

mod format_two;
mod formats_three_four;

/// The checkpoint's file in its directory.
pub const FILE: &str = "checkpoint.bin";
/// A readable account of the checkpoint beside it (JSON); the binary file is what counts. It
/// is moved aside before a new binary file lands (put back if it cannot land) and written
/// after: missing after a write killed in between, never an account of another checkpoint
/// than the one beside it.
pub const SUMMARY_FILE: &str = "checkpoint.json";

const MAGIC: &[u8; 8] = b"ASYNCCKP";
/// Bumped whenever [`Checkpoint`]'s layout changes.
const FORMAT: u32 = 5;
/// The format before: [`RunStats`] without `unsealed_session_frames`. Still read, as are the
/// ones before it, so that the checkpoint a previous build left resumes.
const FORMAT_FOUR: u32 = 4;
/// The format before that: [`RunStats`] without `zeromq_handshakes_failed` either.
const FORMAT_THREE: u32 = 3;
/// The format before that: without [`Checkpoint::write_failures`] either.
const FORMAT_TWO: u32 = 2;
/// Magic, format, body length, SHA-256 of the body.
const HEADER: usize = 8 + 4 + 8 + 32;

/// The application's part of a checkpoint, made on the checkpoint's own thread: the driver
/// calls the annex function on the training thread for this closure (which should only
/// gather, cheaply, what it needs), then runs it beside the training loop.
pub type Annex = Box<dyn FnOnce() -> Vec<u8> + Send>;

/// When and where a driver writes checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointPolicy {
    /// The directory that holds [`FILE`]; created by the first write if missing when the
    /// policy is set. From then on the run holds it ([`Folder`]): removed or replaced, it is
    /// neither made again nor written into ([`CheckpointError::FolderGone`]). A program that
    /// took the folder itself (where it locks it) hands it over with the policy instead
    /// (`Driver::checkpoint_into`), and the run holds that one.
    pub dir: PathBuf,
    /// Write after this many updates since the last checkpoint.
    pub every_updates: Option<u64>,
    /// Write after this much training time since the last checkpoint.
    pub every: Option<Duration>,
    /// What the run is (algorithm, data, settings): a checkpoint resumes only the same job.
    pub job: String,
}

/// One saved variable or broadcast version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Saved {
    /// The variable's name in the optimizer.
    pub name: String,
    /// For a broadcast variable, the version number (its latest, or an older one kept for
    /// pinned reads); 0 otherwise.
    pub version: u64,
    /// Its value, encoded with postcard; shared, not copied, with the version store that
    /// holds a broadcast version, so that a checkpoint holds no second copy of its window.
    #[serde(with = "shared_bytes")]
    pub bytes: Arc<Vec<u8>>,
}

/// [`Saved::bytes`] on the wire as `serde_bytes` puts a `Vec<u8>`: the format is the same.
mod shared_bytes {
    use std::sync::Arc;

    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Arc<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        serde_bytes::serialize(bytes.as_slice(), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Vec<u8>>, D::Error> {
        serde_bytes::deserialize(d).map(Arc::new)
    }
}

/// The driver's state at the start of a pass of the training loop.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    /// What the run is; see [`CheckpointPolicy::job`].
    pub job: String,
    /// The optimizer function: its module path and name, and `@line:column` of its name when
    /// another optimizer of the build has the same path and name.
    pub optimizer: String,
    /// Passes of the training loop completed.
    pub iteration: u64,
    /// Seconds of training so far.
    pub elapsed_s: f64,
    /// The run's counters so far.
    pub stats: RunStats,
    /// The training loop's variables: every `mut` binding declared before the loop.
    pub state: Vec<Saved>,
    /// The latest version of each broadcast variable and, of one read back (`w.at(v)`,
    /// `value_at`), the older ones the driver kept, each version once.
    pub versions: Vec<Saved>,
    /// What the application saved with the run (for the command line: the trace so far).
    #[serde(with = "serde_bytes")]
    pub annex: Vec<u8>,
    /// The checkpoints the run could not write before this one (a resumed run goes on
    /// counting from them). Last, so that the layout is format 2's with it added.
    pub write_failures: WriteFailures,
}

/// Checkpoints a run could not write (a full disk, a folder gone): it went on without them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WriteFailures {
    /// How many.
    pub count: u64,
    /// Why the last one could not be written.
    pub last: Option<String>,
}

/// The training loop's part of a resumed checkpoint, waiting for the optimizer to take it.
pub(crate) struct LoopResume {
    /// The optimizer that saved it.
    pub optimizer: String,
    /// Passes of its loop done.
    pub iteration: u64,
    /// Its variables.
    pub state: Vec<Saved>,
}

crate::error::debug_is_display!(CheckpointError);

/// Why a checkpoint cannot be written or resumed.
#[derive(thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing failed.
    // What the OS said is in the message, and so not also the source (see `DataError::Io`).
    #[error("checkpoint {path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The directory holds no checkpoint.
    #[error("no checkpoint in {dir}: it has no {FILE}")]
    Missing {
        /// The directory.
        dir: PathBuf,
    },
    /// The file is not a checkpoint of this program.
    #[error("{path} is not a checkpoint of this program")]
    NotACheckpoint {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a build with another checkpoint format.
    #[error(
        "{path} has checkpoint format {found}, this build reads formats {FORMAT_TWO} to {FORMAT}"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// Its format.
        found: u32,
    },
    /// The file is cut short or damaged.
    #[error("checkpoint {path} is torn or damaged ({reason}); resume from an intact copy or start afresh")]
    Torn {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint belongs to another job.
    #[error(
        "checkpoint {path} belongs to another run: {}",
        differences(found, expected)
    )]
    Foreign {
        /// The file.
        path: PathBuf,
        /// This run.
        expected: String,
        /// The checkpoint's.
        found: String,
    },
    /// A variable of the training loop cannot be saved or restored.
    #[error("{0}")]
    State(String),
    /// The checkpoint is larger than the memory the host can give it: reading it would fail
    /// an allocation (an abort), so it is refused before.
    #[error(
        "checkpoint {path} is {} MiB, over the memory budget of {} MiB (half of what this \
         process may take): resume on a host with more free memory",
        bytes >> 20,
        budget >> 20
    )]
    OverMemoryBudget {
        /// The file.
        path: PathBuf,
        /// Its body's length.
        bytes: u64,
        /// What may be held.
        budget: u64,
    },
    /// The folder the run took for its checkpoints was removed, or replaced by another, since:
    /// it is not made again nor written into (another run may have taken its name), and the
    /// run's checkpoints went with it.
    #[error(
        "checkpoint folder {dir} {}: this run writes no more checkpoints at its name (another run \
         may have taken it), and none of its own is left there",
        if *replaced { "is another folder than the one this run took" } else { "was removed" }
    )]
    FolderGone {
        /// The folder.
        dir: PathBuf,
        /// Whether another folder is at its name now.
        replaced: bool,
    },
    /// The folder can be written by someone else (every user, or another user who owns it),
    /// who could replace the checkpoint a resume reads.
    #[error(
        "checkpoint folder {dir} can be written by {who}, who could replace the checkpoint a \
         resume reads: use a folder of your own that only you can write"
    )]
    Public {
        /// The folder.
        dir: PathBuf,
        /// Who else can write it: `every user`, or `its owner, user N`.
        who: String,
    },
}

/// What differs between the job descriptions `found` and `expected`: the parts (separated by
/// `; ` or `, `) that are not the same, or both whole when their parts do not line up.
fn differences(found: &str, expected: &str) -> String {
    let parts = |job: &str| -> Vec<String> {
        job.split("; ")
            .flat_map(|part| part.split(", "))
            .map(str::to_owned)
            .collect()
    };
    let (there, here) = (parts(found), parts(expected));
    if there.len() != here.len() {
        return format!("it holds `{found}`, this run is `{expected}`");
    }
    let differing: Vec<String> = there
        .iter()
        .zip(&here)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("`{a}` there, `{b}` here"))
        .collect();
    differing.join("; ")
}

/// Writes `checkpoint` into `dir` atomically; returns the file's size in bytes.
///
/// Both files are written and synced under temporary names first; then the old summary is
/// moved aside, the binary file renamed into place, and its summary after it (see
/// [`SUMMARY_FILE`]). An error leaves the previous checkpoint as it was, its summary too (put
/// back if the binary file cannot land), and an `Ok` means the new checkpoint is the one on
/// disk. So the update a caller records as checkpointed is always the one a resume gets.
///
/// The folder is made (mode 0700) if missing; one someone else can write is refused
/// ([`CheckpointError::Public`]).
pub fn write(dir: &Path, checkpoint: &Checkpoint) -> Result<u64, CheckpointError> {
    prepare_folder(dir)?;
    write_staging_as(dir, checkpoint, &unpredictable_tag())
}

/// A token for a write's temporary names: unpredictable, so that nobody else who can write
/// the folder can take the names first.
fn unpredictable_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A run's checkpoint folder, held from when the run takes it: a write into it checks that
/// the folder at its path is still this one, so that a folder removed mid-run is not made
/// again (without the lock a program keeps in it, for another run to take too) and one made
/// anew at its name (another run's) is not written into.
#[derive(Debug)]
pub struct Folder {
    dir: PathBuf,
    /// The folder's device and inode when taken (where the platform tells them).
    identity: Option<(u64, u64)>,
    /// Held open only so that its inode is not reused while the run lasts: a folder made
    /// anew at its name never has the identity of the one taken.
    _open: Option<File>,
}

impl Folder {
    /// Takes `dir`, made if missing as [`prepare_folder`] makes it.
    pub fn take(dir: &Path) -> Result<Folder, CheckpointError> {
        prepare_folder(dir)?;
        let meta = fs::metadata(dir).map_err(io(dir))?;
        Ok(Folder {
            dir: dir.to_path_buf(),
            identity: identity_of(&meta),
            _open: File::open(dir).ok(),
        })
    }

    /// The folder's path.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `checkpoint` as [`write()`] does, into this folder only: one removed or
    /// replaced since it was taken is refused ([`CheckpointError::FolderGone`]).
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<u64, CheckpointError> {
        self.still_there()?;
        refuse_public(&self.dir)?;
        write_staging_as(&self.dir, checkpoint, &unpredictable_tag())
    }

    /// Whether the folder at the path is still the one taken: a program that takes its
    /// folder and then locks it asks this once locked, so that its lock is in this folder.
    pub fn still_there(&self) -> Result<(), CheckpointError> {
        let gone = |replaced| CheckpointError::FolderGone {
            dir: self.dir.clone(),
            replaced,
        };
        let now = match fs::metadata(&self.dir) {
            Ok(meta) => meta,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(gone(false)),
            Err(error) => return Err(io(&self.dir)(error)),
        };
        if !now.is_dir() || identity_of(&now) != self.identity {
            return Err(gone(true));
        }
        Ok(())
    }
}

/// A file's device and inode, where the platform tells them.
fn identity_of(meta: &fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// Writes into `dir`, made already, staging its files under the temporary names of token
/// `tag` ([`staging::temporary_name`]).
fn write_staging_as(
    dir: &Path,
    checkpoint: &Checkpoint,
    tag: &str,
) -> Result<u64, CheckpointError> {
    for file in [FILE, SUMMARY_FILE] {
        staging::remove_stale(dir, file.as_ref());
    }
    let file_bytes = encode(checkpoint)?;
    let summary = serde_json::json!({
        "job": checkpoint.job,
        "optimizer": checkpoint.optimizer,
        "iteration": checkpoint.iteration,
        "updates": checkpoint.stats.updates,
        "elapsed_s": checkpoint.elapsed_s,
        "versions": saved_versions(&checkpoint.versions),
        // Bytes of each loop variable as encoded: the unit is in the name.
        "state_bytes": checkpoint.state.iter()
            .map(|v| (v.name.clone(), v.bytes.len()))
            .collect::<std::collections::BTreeMap<_, _>>(),
        "bytes": file_bytes.len(),
    });
    let text = serde_json::to_string_pretty(&summary).expect("JSON of plain values") + "\n";
    let (binary_path, summary_path) = (dir.join(FILE), dir.join(SUMMARY_FILE));
    let binary = Staged::write(&binary_path, tag, &file_bytes).map_err(io(&binary_path))?;
    let summary = Staged::write(&summary_path, tag, text.as_bytes()).map_err(io(&summary_path))?;
    land_binary(binary, &summary_path, tag).map_err(io(&binary_path))?;
    if let Err(error) = summary.commit() {
        // The checkpoint is written; only its readable account is not.
        tracing::warn!(
            "checkpoint {}: written, but not its summary {}: {error}",
            binary_path.display(),
            summary_path.display()
        );
    }
    Ok(file_bytes.len() as u64)
}

/// Renames the staged binary file into place, the summary at `summary_path` (of the checkpoint
/// it replaces) moved aside first, under a temporary name of token `tag`: a write killed
/// before its own summary lands leaves none (and a stale temporary file the next write
/// removes), not one that describes an older checkpoint than the binary file holds. A rename
/// that fails (the binary file made immutable, a folder at its name) puts the summary back:
/// the previous checkpoint stays whole, its account too.
fn land_binary(binary: Staged, summary_path: &Path, tag: &str) -> std::io::Result<()> {
    let name = summary_path.file_name().unwrap_or(summary_path.as_os_str());
    // Another token than the staged summary's own temporary name.
    let aside = summary_path.with_file_name(staging::temporary_name(name, &format!("{tag}a")));
    // What is no file (a folder at the name) is no summary, and is left where it is.
    let is_file = fs::symlink_metadata(summary_path).is_ok_and(|meta| meta.is_file());
    let moved = is_file && fs::rename(summary_path, &aside).is_ok();
    match binary.commit() {
        Ok(()) => {
            if moved {
                let _ = fs::remove_file(&aside);
            }
            Ok(())
        }
        Err(error) => {
            if moved {
                let _ = fs::rename(&aside, summary_path);
            }
            Err(error)
        }
    }
}

/// The file's bytes: header and body. The body is encoded in place after the header, into a
/// buffer of its exact size measured first: the window of versions saved is not held a
/// second and third time (a body, then a copy of it with its header, and a buffer grown).
fn encode(checkpoint: &Checkpoint) -> Result<Vec<u8>, CheckpointError> {
    let unencodable = |e| CheckpointError::State(format!("the checkpoint does not encode: {e}"));
    let size = postcard::serialize_with_flavor(checkpoint, postcard::ser_flavors::Size::default())
        .map_err(unencodable)?;
    let mut file_bytes = Vec::with_capacity(HEADER + size);
    file_bytes.extend_from_slice(MAGIC);
    file_bytes.extend_from_slice(&FORMAT.to_le_bytes());
    file_bytes.extend_from_slice(&(size as u64).to_le_bytes());
    // The body's SHA-256 goes here once the body is there.
    file_bytes.resize(HEADER, 0);
    let mut file_bytes = postcard::to_extend(checkpoint, file_bytes).map_err(unencodable)?;
    let digest = Sha256::digest(&file_bytes[HEADER..]);
    file_bytes[HEADER - 32..HEADER].copy_from_slice(&digest);
    Ok(file_bytes)
}

/// The versions `versions` holds of each broadcast variable, oldest first: the latest alone,
/// or with it the older ones kept for pinned reads, which a resume restores too.
fn saved_versions(versions: &[Saved]) -> std::collections::BTreeMap<&str, Vec<u64>> {
    let mut by_name = std::collections::BTreeMap::<&str, Vec<u64>>::new();
    for saved in versions {
        by_name.entry(&saved.name).or_default().push(saved.version);
    }
    for numbers in by_name.values_mut() {
        numbers.sort_unstable();
    }
    by_name
}

/// The error of an I/O operation on `path` that failed.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.to_path_buf();
    move |error| CheckpointError::Io { path, error }
}

/// Makes `dir` for checkpoints if missing, private to its user (mode 0700, whatever the
/// umask), and refuses one that someone else can write ([`CheckpointError::Public`]).
/// [`write()`] calls it; a program that claims its folder before the run calls it first.
pub fn prepare_folder(dir: &Path) -> Result<(), CheckpointError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io(dir))?;
    refuse_public(dir)
}

/// Refuses a folder someone else can write ([`others_who_write`]).
fn refuse_public(dir: &Path) -> Result<(), CheckpointError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(dir).map_err(io(dir))?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if let Some(who) = others_who_write(meta.mode(), meta.uid(), me) {
            return Err(CheckpointError::Public {
                dir: dir.to_path_buf(),
                who,
            });
        }
    }
    Ok(())
}

/// Who other than user `me` (and root) can write a folder of this `mode` and `owner`, if
/// anyone: every user when the mode says so (the sticky bit does not help: another user's
/// file at a checkpoint's name can be neither removed nor replaced), and an owner who is
/// someone else (a folder another user made in `/tmp` for root to write into). Its group is
/// trusted: a group-writable folder is the norm under a umask of 002.
fn others_who_write(mode: u32, owner: u32, me: u32) -> Option<String> {
    if mode & 0o002 != 0 {
        return Some("every user".to_owned());
    }
    (owner != me && owner != 0).then(|| format!("its owner, user {owner}"))
}

/// Reads the checkpoint in `dir`, refusing a torn file, one of another `job`, one in a folder
/// someone else can write ([`CheckpointError::Public`]) and one larger than half the memory the
/// host has available ([`CheckpointError::OverMemoryBudget`]).
pub fn read(dir: &Path, job: &str) -> Result<Checkpoint, CheckpointError> {
    read_within(dir, job, crate::data::file::memory_budget())
}

/// [`read()`], holding at most `budget` bytes of the checkpoint's body.
fn read_within(dir: &Path, job: &str, budget: u64) -> Result<Checkpoint, CheckpointError> {
    let path = dir.join(FILE);
    match refuse_public(dir) {
        Err(CheckpointError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(CheckpointError::Missing {
                dir: dir.to_path_buf(),
            })
        }
        refused => refused?,
    }
    // Without waiting: a FIFO planted in the folder by whoever else can write it would
    // block `--resume` for good.
    let file = match crate::regular_file::open_without_waiting(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CheckpointError::Missing {
                dir: dir.to_path_buf(),
            })
        }
        Err(error) => return Err(CheckpointError::Io { path, error }),
    };
    let torn = |reason: String| CheckpointError::Torn {
        path: path.clone(),
        reason,
    };
    // What is read is bounded by the file's length and checked against the header before
    // the body is read: a device or a huge file is not read whole.
    let length = match file.metadata() {
        Ok(meta) if meta.is_file() => meta.len(),
        Ok(_) => return Err(CheckpointError::NotACheckpoint { path }),
        Err(error) => return Err(CheckpointError::Io { path, error }),
    };
    let mut bytes = Vec::new();
    let mut reader = std::io::Read::take(file, HEADER as u64);
    if let Err(error) = std::io::Read::read_to_end(&mut reader, &mut bytes) {
        return Err(CheckpointError::Io { path, error });
    }
    if bytes.len() < 8 && MAGIC.starts_with(&bytes) {
        // An empty file, or one cut inside its magic, is a checkpoint torn, not another file.
        return Err(torn(match bytes.len() {
            0 => "the file is empty".to_owned(),
            n => format!("{n} bytes, shorter than the {HEADER}-byte header"),
        }));
    }
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(CheckpointError::NotACheckpoint { path });
    }
    if bytes.len() < HEADER {
        return Err(torn(format!(
            "{} bytes, shorter than the {HEADER}-byte header",
            bytes.len()
        )));
    }
    let format = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if !(FORMAT_TWO..=FORMAT).contains(&format) {
        return Err(CheckpointError::Format {
            path,
            found: format,
        });
    }
    let declared = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let found = length.saturating_sub(HEADER as u64);
    if declared != found {
        return Err(torn(format!(
            "the body has {found} bytes, its header says {declared}"
        )));
    }
    // Decoding copies the body once more, so half the memory available is the most it may
    // take; a failed reservation is an error, not an abort.
    let over = CheckpointError::OverMemoryBudget {
        path: path.clone(),
        bytes: declared,
        budget,
    };
    if declared > budget {
        return Err(over);
    }
    let room = usize::try_from(declared).ok();
    if room.is_none_or(|room| bytes.try_reserve_exact(room).is_err()) {
        return Err(over);
    }
    reader.set_limit(declared);
    if let Err(error) = std::io::Read::read_to_end(&mut reader, &mut bytes) {
        return Err(CheckpointError::Io { path, error });
    }
    let body = &bytes[HEADER..];
    if body.len() as u64 != declared {
        return Err(torn(format!(
            "the body has {} bytes, its header says {declared}",
            body.len()
        )));
    }
    if Sha256::digest(body).as_slice() != &bytes[20..HEADER] {
        return Err(torn("its SHA-256 does not match its contents".into()));
    }
    let decoded = match format {
        FORMAT_TWO => format_two::decode(body),
        FORMAT_THREE => formats_three_four::decode_three(body),
        FORMAT_FOUR => formats_three_four::decode_four(body),
        _ => postcard::from_bytes(body),
    };
    let checkpoint = decoded.map_err(|e| torn(format!("it does not decode: {e}")))?;
    if checkpoint.job != job {
        return Err(CheckpointError::Foreign {
            path,
            expected: job.to_owned(),
            found: checkpoint.job,
        });
    }
    check_counters(&checkpoint).map_err(torn)?;
    // The training time goes on from this figure: the `--time` budget and the time-based
    // checkpoint policy compare against it, and a NaN never compares true.
    if !(checkpoint.elapsed_s.is_finite() && checkpoint.elapsed_s >= 0.0) {
        return Err(torn(format!(
            "its training time is {} s, not a number of seconds >= 0",
            checkpoint.elapsed_s
        )));
    }
    Ok(checkpoint)
}

/// Counters a checkpoint may hold: a run goes on counting from them (passes, updates, version
/// numbers), and none gets anywhere near this, so a larger one is a damaged or forged file,
/// whose counting on would overflow.
const MAX_COUNTER: u64 = u64::MAX / 2;

/// Checks the counters and seconds a resumed run counts on from, and the broadcast versions
/// it restores: why not, naming the field.
fn check_counters(checkpoint: &Checkpoint) -> Result<(), String> {
    for (field, value) in [
        ("passes", checkpoint.iteration),
        ("updates", checkpoint.stats.updates),
        ("failed checkpoints", checkpoint.write_failures.count),
    ] {
        if value > MAX_COUNTER {
            return Err(format!("its {field} count {value} is past any run's"));
        }
    }
    let stats = &checkpoint.stats;
    for (field, value) in [
        ("runtime_s", stats.runtime_s),
        ("blocked_s", stats.blocked_s),
        ("checkpoint_training_s", stats.checkpoint_training_s),
    ] {
        // Summed on and reported (the driver's overhead per task): a NaN stays one.
        if !(value.is_finite() && value >= 0.0) {
            return Err(format!(
                "its {field} is {value}, not a number of seconds >= 0"
            ));
        }
    }
    // A variable's latest version and the ones kept for pinned reads, each once: slots are
    // numbered by u16 on the wire, and a run keeps at most MAX_KEEP_VERSIONS of each.
    let mut per_name = std::collections::HashMap::<&str, std::collections::HashSet<u64>>::new();
    for saved in &checkpoint.versions {
        if !(1..=MAX_COUNTER).contains(&saved.version) {
            return Err(format!(
                "broadcast variable `{}` has version {}, not one a run publishes (1 and up)",
                saved.name, saved.version
            ));
        }
        let versions = per_name.entry(saved.name.as_str()).or_default();
        if !versions.insert(saved.version) {
            return Err(format!(
                "broadcast variable `{}` is in it twice at version {}",
                saved.name, saved.version
            ));
        }
        if versions.len() > crate::MAX_KEEP_VERSIONS {
            return Err(format!(
                "it holds more than {} versions of broadcast variable `{}`, more than a run keeps",
                crate::MAX_KEEP_VERSIONS,
                saved.name
            ));
        }
    }
    if per_name.len() > usize::from(u16::MAX) + 1 {
        return Err(format!(
            "it holds {} broadcast variables, more than a run can have",
            per_name.len()
        ));
    }
    Ok(())
}

/// A file written and synced under a temporary name beside its path, waiting to be renamed
/// over it; dropped uncommitted, the temporary file is removed. Readers see the old file or
/// the new one, never a mix.
struct Staged {
    temporary: PathBuf,
    path: PathBuf,
}

impl Staged {
    /// Writes and syncs `bytes` under `path`'s temporary name of token `tag`, a new file:
    /// a name opened by following what is there let whoever else can write the folder plant a
    /// link at it, and have the checkpoint truncate and overwrite the link's target, a file of
    /// the user's.
    fn write(path: &Path, tag: &str, bytes: &[u8]) -> std::io::Result<Staged> {
        let name = path.file_name().unwrap_or(path.as_os_str());
        let temporary = path.with_file_name(staging::temporary_name(name, tag));
        // `create_new` follows no link: whatever is at the name, the open fails.
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        let staged = Staged {
            temporary,
            path: path.to_path_buf(),
        };
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok(staged)
    }

    /// Renames the file into place and syncs its directory.
    fn commit(self) -> std::io::Result<()> {
        staging::rename_into_place(&self.temporary, &self.path)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // After a commit the temporary name is gone and this fails quietly.
        let _ = fs::remove_file(&self.temporary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::scratch;

    fn sample() -> Checkpoint {
        Checkpoint {
            job: "asaga on bio".into(),
            optimizer: "asyncopt_algorithms::saga::asaga".into(),
            iteration: 1234,
            elapsed_s: 2.5,
            stats: RunStats {
                updates: 1234,
                ..RunStats::default()
            },
            state: vec![Saved {
                name: "w".into(),
                version: 0,
                bytes: vec![1, 2, 3].into(),
            }],
            versions: vec![Saved {
                name: "w".into(),
                version: 99,
                bytes: vec![4, 5].into(),
            }],
            annex: b"trace".to_vec(),
            write_failures: WriteFailures {
                count: 2,
                last: Some("no space left on device".into()),
            },
        }
    }

    /// `body` in a checkpoint file of format `format`, as `encode` lays it out.
    fn file_of_format(format: u32, body: &[u8]) -> Vec<u8> {
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&format.to_le_bytes());
        file.extend_from_slice(&(body.len() as u64).to_le_bytes());
        file.extend_from_slice(&Sha256::digest(body));
        file.extend_from_slice(body);
        file
    }

    /// `stats` as format `format` laid them out: today's fields without those added since,
    /// 0 here (a single byte each at the end in postcard).
    fn stats_of_format(format: u32, stats: &RunStats) -> Vec<u8> {
        let added_since = [
            stats.zeromq_handshakes_failed,
            stats.unsealed_session_frames,
        ];
        let left_out = match format {
            2 | 3 => 2,
            _ => 1,
        };
        let mut bytes = postcard::to_allocvec(stats).unwrap();
        for counter in &added_since[added_since.len() - left_out..] {
            assert_eq!(*counter, 0);
            assert_eq!(bytes.pop(), Some(0));
        }
        bytes
    }

    /// A body of format 2 (`write_failures` left out), 3 or 4, built here field by field
    /// (postcard writes a struct as its fields one after the other), not with the decoders'
    /// own structs.
    fn body_of_format(format: u32, old: &Checkpoint) -> Vec<u8> {
        let mut body =
            postcard::to_allocvec(&(&old.job, &old.optimizer, old.iteration, old.elapsed_s))
                .unwrap();
        body.extend(stats_of_format(format, &old.stats));
        let annex = serde_bytes::Bytes::new(&old.annex);
        let rest = match format {
            2 => postcard::to_allocvec(&(&old.state, &old.versions, annex)),
            _ => postcard::to_allocvec(&(&old.state, &old.versions, annex, &old.write_failures)),
        };
        body.extend(rest.unwrap());
        body
    }

    /// A sample whose counters around the field added in format 4 are set.
    fn sample_of_format_three() -> Checkpoint {
        let mut old = sample();
        old.stats.handshake_timeouts = 3;
        old.stats.blocked_s = 1.5;
        old
    }

    #[test]
    fn a_checkpoint_of_format_four_still_resumes() {
        // Format 4, which the previous build wrote: the run's counters without
        // `unsealed_session_frames`, which a resume counts from none.
        let mut old = sample_of_format_three();
        old.stats.zeromq_handshakes_failed = 7;
        old.stats.unauthenticated_frames = 5;
        let dir = scratch("checkpoint-format-four");
        fs::write(dir.join(FILE), file_of_format(4, &body_of_format(4, &old))).unwrap();
        let read_back = read(&dir, "asaga on bio").unwrap();
        let stats = &read_back.stats;
        assert_eq!(
            (
                stats.updates,
                stats.handshake_timeouts,
                stats.unauthenticated_frames,
                stats.zeromq_handshakes_failed
            ),
            (1234, 3, 5, 7)
        );
        assert_eq!(stats.unsealed_session_frames, 0);
        assert_eq!(read_back.state, old.state);
        assert_eq!(read_back.versions, old.versions);
        assert_eq!(read_back.annex, b"trace");
        assert_eq!(read_back.write_failures, old.write_failures);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_checkpoint_of_format_three_still_resumes() {
        // Format 3, which an earlier build wrote: the run's counters without
        // `zeromq_handshakes_failed`, which a resume counts from none.
        let old = sample_of_format_three();
        let dir = scratch("checkpoint-format-three");
        fs::write(dir.join(FILE), file_of_format(3, &body_of_format(3, &old))).unwrap();
        let read_back = read(&dir, "asaga on bio").unwrap();
        let stats = &read_back.stats;
        assert_eq!(
            (stats.updates, stats.handshake_timeouts, stats.blocked_s),
            (1234, 3, 1.5)
        );
        assert_eq!(stats.zeromq_handshakes_failed, 0);
        assert_eq!(read_back.state, old.state);
        assert_eq!(read_back.versions, old.versions);
        assert_eq!(read_back.annex, b"trace");
        assert_eq!(read_back.write_failures, old.write_failures);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_checkpoint_of_the_format_before_still_resumes() {
        // Format 2: the fields up to the annex, no write failures after it.
        let old = sample_of_format_three();
        let body = body_of_format(2, &old);
        let dir = scratch("checkpoint-format-two");
        fs::write(dir.join(FILE), file_of_format(2, &body)).unwrap();
        let read_back = read(&dir, "asaga on bio").unwrap();
        assert_eq!(
            (
                read_back.iteration,
                read_back.elapsed_s,
                read_back.stats.updates,
                read_back.stats.blocked_s
            ),
            (1234, 2.5, 1234, 1.5)
        );
        assert_eq!(read_back.state, old.state);
        assert_eq!(read_back.versions, old.versions);
        assert_eq!(read_back.annex, b"trace");
        assert_eq!(read_back.write_failures, WriteFailures::default());
        // A format of no build, older or newer, is refused naming those it reads.
        for format in [1, 6] {
            fs::write(dir.join(FILE), file_of_format(format, &body)).unwrap();
            let error = read(&dir, "asaga on bio").unwrap_err().to_string();
            assert!(
                error.ends_with(&format!(
                    "has checkpoint format {format}, this build reads formats 2 to 5"
                )),
                "{error}"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_link_planted_at_a_temporary_name_is_not_written_through() {
        // A checkpoint folder another user can write (made by them in /tmp, say): a link at
        // the temporary name the writer used must not make it truncate and overwrite the
        // link's target with the victim's rights.
        let dir = scratch("checkpoint-planted-link");
        let victim = dir.with_extension("victim");
        fs::write(&victim, b"the victim's file").unwrap();
        for name in [FILE, SUMMARY_FILE] {
            let guessed = staging::temporary_name(name.as_ref(), "9e55ed");
            std::os::unix::fs::symlink(&victim, dir.join(guessed)).unwrap();
        }
        // The write fails (the name is taken) rather than write through the link.
        let error = write_staging_as(&dir, &sample(), "9e55ed").unwrap_err();
        assert!(error.to_string().contains(FILE), "{error}");
        assert_eq!(fs::read(&victim).unwrap(), b"the victim's file");
        fs::remove_dir_all(&dir).ok();
        fs::remove_file(&victim).ok();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_planted_as_the_checkpoint_is_refused_not_waited_on() {
        // Whoever else can write the checkpoint folder makes `checkpoint.bin` a FIFO: opening
        // it for reading waited for a writer, and `--resume` hung for good.
        let dir = scratch("checkpoint-fifo");
        let fifo = dir.join(FILE);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let (tx, rx) = std::sync::mpsc::channel();
        let reading = dir.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(read(&reading, "asaga on bio").map(|_| ()));
        });
        // A generous bound only to end a test that would otherwise hang: a writer's open
        // lets a blocked read go on (and fail), so the thread ends either way.
        let outcome = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(outcome) => outcome,
            Err(_) => {
                let _writer = fs::OpenOptions::new().write(true).open(&fifo);
                panic!("reading a FIFO as the checkpoint waited for a writer");
            }
        };
        let error = outcome.unwrap_err();
        assert!(
            matches!(error, CheckpointError::NotACheckpoint { .. }),
            "{error}"
        );
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn another_runs_checkpoint_is_refused_naming_what_differs() {
        let dir = scratch("checkpoint-foreign");
        let mut saved = sample();
        saved.job = "saga on a9a (32561 x 123); LeastSquares, the default step, batch 256".into();
        write(&dir, &saved).unwrap();
        let here = "saga on a9a (32561 x 123); LeastSquares, the default step, batch 64";
        let error = read(&dir, here).unwrap_err().to_string();
        assert!(
            error.ends_with("belongs to another run: `batch 256` there, `batch 64` here"),
            "{error}"
        );
        // Descriptions whose parts do not line up are shown whole.
        let error = read(&dir, "sgd on a9a").unwrap_err().to_string();
        assert!(error.contains("this run is `sgd on a9a`"), "{error}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_checkpoint_reads_back_whole() {
        let dir = scratch("roundtrip");
        write(&dir, &sample()).unwrap();
        let read = read(&dir, "asaga on bio").unwrap();
        assert_eq!(read.iteration, 1234);
        assert_eq!(read.stats.updates, 1234);
        assert_eq!(read.state, sample().state);
        assert_eq!(read.versions, sample().versions);
        assert_eq!(read.annex, b"trace");
        assert_eq!(read.write_failures, sample().write_failures);
        let summary: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join(SUMMARY_FILE)).unwrap()).unwrap();
        assert_eq!(summary["versions"]["w"], serde_json::json!([99]));
        for saved in &sample().state {
            assert_eq!(
                summary["state_bytes"][&saved.name],
                saved.bytes.len(),
                "each loop variable's size, in bytes"
            );
        }
        assert_eq!(staged_files(&dir), Vec::<String>::new());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The names of staged (temporary) files in `dir`.
    fn staged_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_checkpoint_over_the_memory_budget_is_refused_before_it_is_read() {
        let dir = scratch("checkpoint-over-budget");
        let bytes = write(&dir, &sample()).unwrap();
        let error = read_within(&dir, "asaga on bio", bytes / 2).unwrap_err();
        assert!(
            matches!(error, CheckpointError::OverMemoryBudget { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("over the memory budget"),
            "{error}"
        );
        assert_eq!(
            read_within(&dir, "asaga on bio", bytes).unwrap().iteration,
            1234
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_taken_at_the_temporary_names_of_old_do_not_stop_a_write() {
        // Another user of a shared folder took `checkpoint.bin.tmp` (here a folder, which
        // cannot be removed as a file): every write failed while the name was theirs.
        let dir = scratch("checkpoint-names-taken");
        for name in [FILE, SUMMARY_FILE] {
            fs::create_dir(dir.join(format!("{name}.tmp"))).unwrap();
        }
        write(&dir, &sample()).unwrap();
        assert_eq!(read(&dir, "asaga on bio").unwrap().iteration, 1234);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_a_killed_write_staged_are_removed_by_the_next_but_not_a_live_ones() {
        let dir = scratch("checkpoint-stale-staging");
        let (gone, live) = (test_support::gone_pid(), std::process::id());
        let stale = [
            format!(".{FILE}.{gone}-00c0ffee00c0ffee.tmp"),
            format!(".{SUMMARY_FILE}.{gone}-00c0ffee00c0ffee.tmp"),
        ];
        let kept = [
            // Another run writing into the same folder now.
            format!(".{FILE}.{live}-00c0ffee00c0ffee.tmp"),
            // Not of the writer's making.
            format!(".{FILE}.{gone}-00c0ffee00c0ffee.tmp.orig"),
            "notes.tmp".to_owned(),
        ];
        for name in stale.iter().chain(&kept) {
            fs::write(dir.join(name), b"left behind").unwrap();
        }
        write(&dir, &sample()).unwrap();
        let mut expected = kept.to_vec();
        expected.retain(|name| name.ends_with(".tmp"));
        expected.sort();
        assert_eq!(staged_files(&dir), expected);
        assert!(dir.join(&kept[1]).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_folder_is_refused_when_every_user_or_another_owner_can_write_it() {
        let (me, other, root) = (1000, 1001, 0);
        assert_eq!(others_who_write(0o40700, me, me), None);
        assert_eq!(
            others_who_write(0o40775, me, me),
            None,
            "the group is trusted"
        );
        assert_eq!(
            others_who_write(0o40755, root, me),
            None,
            "root can write anything"
        );
        assert_eq!(
            others_who_write(0o40777, me, me).as_deref(),
            Some("every user")
        );
        assert_eq!(
            others_who_write(0o41777, root, me).as_deref(),
            Some("every user"),
            "/tmp itself"
        );
        assert_eq!(
            others_who_write(0o40700, other, me).as_deref(),
            Some("its owner, user 1001")
        );
        assert_eq!(
            others_who_write(0o40700, other, root).as_deref(),
            Some("its owner, user 1001"),
            "root writing into another user's folder"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_every_user_can_write_is_refused_and_a_new_one_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("checkpoint-public");
        write(&dir, &sample()).unwrap();
        // Made 0777, or /tmp itself (1777): anyone could replace what a resume reads.
        for mode in [0o777, 0o1777] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            let written = write(&dir, &sample()).unwrap_err();
            assert!(
                matches!(written, CheckpointError::Public { .. }),
                "{written}"
            );
            let read = read(&dir, "asaga on bio").unwrap_err();
            assert!(
                read.to_string().contains("can be written by every user"),
                "{read}"
            );
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        // Made by another user, who could write into it: only root can make one here.
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            let error = read(&dir, "asaga on bio").unwrap_err().to_string();
            std::os::unix::fs::chown(&dir, Some(0), None).unwrap();
            assert!(
                error.contains("can be written by its owner, user 65534"),
                "{error}"
            );
        }
        // A folder the writer makes is its user's alone, whatever the umask.
        let made = dir.join("new/deeper");
        write(&made, &sample()).unwrap();
        let mode = fs::metadata(&made).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_checkpoint_whose_training_time_is_not_seconds_is_refused() {
        let dir = scratch("checkpoint-time");
        for elapsed_s in [f64::NAN, f64::INFINITY, -1.0] {
            // Written whole with a matching SHA-256: the header cannot tell.
            write(
                &dir,
                &Checkpoint {
                    elapsed_s,
                    ..sample()
                },
            )
            .unwrap();
            let error = read(&dir, "asaga on bio").unwrap_err().to_string();
            assert!(
                error.contains("its training time is"),
                "{elapsed_s}: {error}"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_checkpoint_whose_counters_no_run_reaches_is_refused() {
        let dir = scratch("checkpoint-counters");
        let version = |name: &str, version: u64| Saved {
            name: name.into(),
            version,
            bytes: vec![1].into(),
        };
        let forged = [
            (
                Checkpoint {
                    iteration: u64::MAX,
                    ..sample()
                },
                "passes count",
            ),
            (
                Checkpoint {
                    stats: RunStats {
                        updates: u64::MAX,
                        ..RunStats::default()
                    },
                    ..sample()
                },
                "updates count",
            ),
            (
                Checkpoint {
                    write_failures: WriteFailures {
                        count: u64::MAX,
                        last: None,
                    },
                    ..sample()
                },
                "failed checkpoints count",
            ),
            (
                Checkpoint {
                    stats: RunStats {
                        blocked_s: f64::NAN,
                        ..RunStats::default()
                    },
                    ..sample()
                },
                "its blocked_s is NaN",
            ),
            (
                Checkpoint {
                    versions: vec![version("w", u64::MAX)],
                    ..sample()
                },
                "`w` has version 18446744073709551615",
            ),
            (
                Checkpoint {
                    versions: vec![version("w", 0)],
                    ..sample()
                },
                "`w` has version 0",
            ),
            (
                Checkpoint {
                    versions: vec![version("w", 4), version("v", 1), version("w", 4)],
                    ..sample()
                },
                "`w` is in it twice at version 4",
            ),
            (
                Checkpoint {
                    versions: (1..=crate::MAX_KEEP_VERSIONS as u64 + 1)
                        .map(|v| version("w", v))
                        .collect(),
                    ..sample()
                },
                "more than 1024 versions of broadcast variable `w`",
            ),
        ];
        for (checkpoint, expected) in forged {
            // Written whole with a matching SHA-256: the header cannot tell.
            write(&dir, &checkpoint).unwrap();
            let error = read(&dir, "asaga on bio").unwrap_err();
            assert!(
                matches!(error, CheckpointError::Torn { .. })
                    && error.to_string().contains(expected),
                "{expected}: {error}"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_file_is_refused() {
        let dir = scratch("torn");
        write(&dir, &sample()).unwrap();
        let path = dir.join(FILE);
        let whole = fs::read(&path).unwrap();
        // Cut at every length, even empty or inside the magic: each is refused as torn, with
        // a reason, and none is read.
        for len in 0..whole.len() {
            fs::write(&path, &whole[..len]).unwrap();
            let error = read(&dir, "asaga on bio").unwrap_err();
            assert!(
                matches!(error, CheckpointError::Torn { .. }),
                "{len} bytes: {error}"
            );
        }
        fs::write(&path, b"").unwrap();
        let error = read(&dir, "asaga on bio").unwrap_err().to_string();
        assert!(
            error.ends_with(
                "torn or damaged (the file is empty); resume from an intact copy or start afresh"
            ),
            "{error}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_flipped_byte_is_refused() {
        let dir = scratch("flipped");
        write(&dir, &sample()).unwrap();
        let path = dir.join(FILE);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let error = read(&dir, "asaga on bio").unwrap_err().to_string();
        assert!(error.contains("SHA-256 does not match"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_foreign_or_missing_checkpoint_is_refused() {
        let dir = scratch("foreign");
        assert!(matches!(
            read(&dir, "x").unwrap_err(),
            CheckpointError::Missing { .. }
        ));
        write(&dir, &sample()).unwrap();
        let error = read(&dir, "asgd on a9a").unwrap_err().to_string();
        assert!(
            error.contains("`asaga on bio`") && error.contains("`asgd on a9a`"),
            "{error}"
        );
        fs::write(dir.join(FILE), b"# not a checkpoint\n").unwrap();
        assert!(matches!(
            read(&dir, "asaga on bio").unwrap_err(),
            CheckpointError::NotACheckpoint { .. }
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_summary_lists_every_version_saved_of_each_variable() {
        // `w` read back with `w.at(v)`: its kept window is saved, and listed, not only 99.
        let dir = scratch("summary-versions");
        let version = |name: &str, version| Saved {
            name: name.into(),
            version,
            bytes: vec![version as u8].into(),
        };
        let mut saved = sample();
        saved.versions = vec![
            version("w", 97),
            version("mean", 5),
            version("w", 98),
            version("w", 99),
        ];
        write(&dir, &saved).unwrap();
        let text = fs::read_to_string(dir.join(SUMMARY_FILE)).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
        let want = serde_json::json!({ "mean": [5], "w": [97, 98, 99] });
        assert_eq!(summary["versions"], want, "{text}");
        assert_eq!(read(&dir, "asaga on bio").unwrap().versions, saved.versions);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_checkpoint_is_encoded_in_one_buffer_of_its_size_in_the_same_format() {
        let mut saved = sample();
        saved.versions[0].bytes = Arc::new((0..=255).cycle().take(100_000).collect());
        let file = encode(&saved).unwrap();
        // One allocation of the exact size: no body apart, no buffer grown.
        assert_eq!(file.capacity(), file.len());
        // Byte for byte the layout read() checks: magic, format, length, SHA-256, body.
        let body = postcard::to_allocvec(&saved).unwrap();
        let mut want = MAGIC.to_vec();
        want.extend_from_slice(&FORMAT.to_le_bytes());
        want.extend_from_slice(&(body.len() as u64).to_le_bytes());
        want.extend_from_slice(&Sha256::digest(&body));
        want.extend_from_slice(&body);
        assert!(file == want, "the encoding changed");
        let dir = scratch("encoded-in-place");
        write(&dir, &saved).unwrap();
        assert_eq!(read(&dir, "asaga on bio").unwrap().versions, saved.versions);
        fs::remove_dir_all(&dir).unwrap();
    }

    fn at_iteration(iteration: u64) -> Checkpoint {
        Checkpoint {
            iteration,
            ..sample()
        }
    }

    fn summary_iteration(dir: &Path) -> u64 {
        let text = fs::read_to_string(dir.join(SUMMARY_FILE)).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
        summary["iteration"].as_u64().unwrap()
    }

    #[test]
    fn a_write_that_fails_leaves_the_previous_checkpoint_and_its_summary() {
        let dir = scratch("half-written");
        write(&dir, &at_iteration(10)).unwrap();
        // The summary's temporary name taken by a folder: its write fails.
        let taken = staging::temporary_name(SUMMARY_FILE.as_ref(), "7a4e9");
        fs::create_dir(dir.join(&taken)).unwrap();
        let error = write_staging_as(&dir, &at_iteration(20), "7a4e9")
            .unwrap_err()
            .to_string();
        assert!(error.contains(SUMMARY_FILE), "{error}");
        assert_eq!(
            read(&dir, "asaga on bio").unwrap().iteration,
            10,
            "an error means the checkpoint on disk is still the previous one"
        );
        assert_eq!(summary_iteration(&dir), 10);
        assert_eq!(
            staged_files(&dir),
            [taken.to_string_lossy()],
            "no temporary file of the write left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_whose_binary_file_cannot_land_leaves_the_previous_checkpoint_and_its_summary() {
        let dir = scratch("binary-blocked");
        write(&dir, &at_iteration(10)).unwrap();
        // The binary file's name taken by a folder that is not empty (as a file made
        // immutable would refuse it): renaming over it fails, after the old summary was
        // moved out of the way. It was removed, and a failed write lost it.
        let kept = dir.join("kept.bin");
        fs::rename(dir.join(FILE), &kept).unwrap();
        fs::create_dir_all(dir.join(FILE).join("inside")).unwrap();
        let error = write(&dir, &at_iteration(20)).unwrap_err().to_string();
        assert!(error.contains(FILE), "{error}");
        assert_eq!(summary_iteration(&dir), 10, "the summary is put back");
        assert!(staged_files(&dir).is_empty(), "{:?}", staged_files(&dir));
        // The binary file as it was: the previous checkpoint is whole.
        fs::remove_dir_all(dir.join(FILE)).unwrap();
        fs::rename(&kept, dir.join(FILE)).unwrap();
        assert_eq!(read(&dir, "asaga on bio").unwrap().iteration, 10);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_rename_of_the_binary_file_that_fails_puts_its_summary_back() {
        let dir = scratch("binary-rename-fails");
        write(&dir, &at_iteration(10)).unwrap();
        // A staged file gone before its rename: the rename fails, the old file stays.
        let binary = Staged {
            temporary: dir.join(".vanished.tmp"),
            path: dir.join(FILE),
        };
        land_binary(binary, &dir.join(SUMMARY_FILE), "30").unwrap_err();
        assert_eq!(read(&dir, "asaga on bio").unwrap().iteration, 10);
        assert_eq!(summary_iteration(&dir), 10);
        assert!(staged_files(&dir).is_empty(), "{:?}", staged_files(&dir));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_killed_between_its_renames_leaves_no_summary_of_an_older_checkpoint() {
        let dir = scratch("killed-between-renames");
        write(&dir, &at_iteration(10)).unwrap();
        // The next write, killed once its binary file is in place: its summary staged, not
        // renamed. The binary file was renamed first, and the summary of update 10 stayed
        // beside the checkpoint of update 20.
        let bytes = encode(&at_iteration(20)).unwrap();
        let binary = Staged::write(&dir.join(FILE), "20", &bytes).unwrap();
        let summary = Staged::write(&dir.join(SUMMARY_FILE), "20", b"{}").unwrap();
        land_binary(binary, &dir.join(SUMMARY_FILE), "20").unwrap();
        // A kill runs no destructor: the staged summary stays too.
        std::mem::forget(summary);
        assert_eq!(read(&dir, "asaga on bio").unwrap().iteration, 20);
        assert!(
            !dir.join(SUMMARY_FILE).exists(),
            "no account rather than one of update {}",
            summary_iteration(&dir)
        );
        // The next checkpoint writes its account again.
        write(&dir, &at_iteration(30)).unwrap();
        assert_eq!(summary_iteration(&dir), 30);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_written_checkpoint_whose_summary_cannot_land_is_written() {
        let dir = scratch("summary-blocked");
        // The summary's own name taken by a folder that is not empty: renaming over it fails
        // after the binary file is in place.
        fs::create_dir_all(dir.join(SUMMARY_FILE).join("inside")).unwrap();
        write(&dir, &at_iteration(30)).unwrap();
        assert_eq!(read(&dir, "asaga on bio").unwrap().iteration, 30);
        fs::remove_dir_all(&dir).unwrap();
    }
}
