//! Opening a file a user named as input, which must be a regular file (or a link to one):
//! a named pipe with no writer blocks an open for good, and a device such as `/dev/zero`
//! reads without end. The path's kind is looked at before the open, the open itself does
//! not wait, and the opened file's kind is looked at again, so that a pipe swapped in
//! between blocks nothing either. The token file, the CLI's model and figures files use it.

use std::fs::File;
use std::path::Path;

/// Why [`open`] refused a path; its words name neither the path nor a flag, which the caller
/// adds.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Missing, not allowed: the error of the look or of the open.
    #[error("cannot read it: {0}")]
    Unreadable(std::io::Error),
    /// A folder, a named pipe, a device, a socket: no file to read.
    #[error("is a {0}, not a file")]
    NotAFile(&'static str),
}

impl OpenError {
    /// Whether the path was missing (which some callers take as "nothing yet").
    pub fn is_missing(&self) -> bool {
        matches!(self, OpenError::Unreadable(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// `path` opened for reading, if it is a regular file or a link to one.
///
/// ```
/// use asyncopt_runtime::regular_file::{open, OpenError};
///
/// assert!(matches!(open("/".as_ref()), Err(OpenError::NotAFile("folder"))));
/// # #[cfg(target_os = "linux")]
/// assert!(matches!(open("/dev/zero".as_ref()), Err(OpenError::NotAFile("device"))));
/// assert!(open("/no/such/file".as_ref()).unwrap_err().is_missing());
/// ```
pub fn open(path: &Path) -> Result<File, OpenError> {
    let refuse_special = |meta: &std::fs::Metadata| match not_a_file(meta.file_type()) {
        Some(kind) => Err(OpenError::NotAFile(kind)),
        None => Ok(()),
    };
    // Looked at before the open, which a named pipe blocks and a device may act on.
    refuse_special(&std::fs::metadata(path).map_err(OpenError::Unreadable)?)?;
    let file = open_without_waiting(path).map_err(OpenError::Unreadable)?;
    // And again at what was opened, in case the path changed in between.
    refuse_special(&file.metadata().map_err(OpenError::Unreadable)?)?;
    Ok(file)
}

/// What `path` is when it exists and is no regular file (nor a link to one), in a user's
/// words: what a command line refuses as a file's value before it opens it. `None` for a
/// regular file, or a path that cannot be looked at (its open says why).
pub fn special_kind(path: &Path) -> Option<&'static str> {
    std::fs::metadata(path)
        .ok()
        .and_then(|meta| not_a_file(meta.file_type()))
}

/// What a path that is no regular file is, in a user's words; `None` for a regular file.
pub fn not_a_file(kind: std::fs::FileType) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("named pipe");
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Some("device");
        }
        if kind.is_socket() {
            return Some("socket");
        }
    }
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("folder")
    } else {
        Some("special file")
    }
}

/// Opens `path` for reading without waiting: a FIFO swapped in after a check of its kind
/// would block the open until a writer came. Opened so, a FIFO or a device is then refused
/// by its caller as no regular file; a regular file reads as ever (O_NONBLOCK changes
/// nothing for it).
pub(crate) fn open_without_waiting(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    options.open(path)
}
