//! The data files themselves, as every reader of them opens them: compression recognised by
//! the magic bytes ([`open`], [`is_compressed`]), the dataset's name ([`file_name`]) and the
//! memory a reader may fill ([`memory_budget`], [`within_budget`]).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::cut_short::CutShort;
use super::error::DataError;

/// Compression of a file, recognised by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    Plain,
    Gzip,
    Xz,
    /// An encoding this reader does not decode (a compression, UTF-16), and the command that
    /// converts it: read as text, its bytes would be refused as "invalid UTF-8" at line 1,
    /// which says no remedy.
    Unread(&'static str, &'static str),
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];

/// Whether `first`, the first bytes of a file, are (or, the whole file shorter than it, begin)
/// the magic bytes `magic`: a compressed file cut short within its magic is still that file,
/// and its decoder says it is truncated, where read as text it would be "invalid UTF-8".
fn starts(first: &[u8], magic: &[u8]) -> bool {
    first.starts_with(magic) || (!first.is_empty() && magic.starts_with(first))
}

/// The compression of a file that starts with the bytes `magic` (all of them, or the whole
/// file when it is shorter).
pub(crate) fn sniff(magic: &[u8]) -> Compression {
    if starts(magic, GZIP_MAGIC) {
        Compression::Gzip
    } else if starts(magic, XZ_MAGIC) {
        Compression::Xz
    } else if magic.starts_with(b"BZh") {
        Compression::Unread("a bzip2-compressed file", "bunzip2 -k")
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Unread("a zstd-compressed file", "unzstd")
    } else if magic.starts_with(b"PK\x03\x04") {
        Compression::Unread("a zip archive", "unzip")
    } else if magic.starts_with(&[0xff, 0xfe]) || magic.starts_with(&[0xfe, 0xff]) {
        // What Windows PowerShell's `>` writes.
        Compression::Unread("UTF-16 text", "iconv -f UTF-16 -t UTF-8")
    } else {
        Compression::Plain
    }
}

/// Opens `path` for reading its decompressed bytes: gzip (all members, like `zcat`) and xz
/// (all streams, like `xzcat`; for both, bytes after them are an error) are recognised by
/// their magic bytes, anything else is read as it is; a compressed file cut short is an
/// error that says so.
///
/// The reader is unbuffered at the file level only where the decoder buffers itself; wrap
/// it in a [`std::io::BufReader`] for line-by-line use.
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, DataError> {
    let file = File::open(path).map_err(|error| DataError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    decoded(file, path)
}

/// [`open`] for a file opened already (from `path`, which errors name): a worker reads the
/// very file it checked, not whatever the name leads to by then.
pub(crate) fn decoded(mut file: File, path: &Path) -> Result<Box<dyn Read + Send>, DataError> {
    let io_err = |error| DataError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut magic = [0u8; 6];
    let mut got = 0;
    while got < magic.len() {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    // The bytes read go in front again rather than seeking back: a pipe cannot seek.
    let compression = sniff(&magic[..got]);
    let file = io::Cursor::new(magic[..got].to_vec()).chain(file);
    Ok(match compression {
        Compression::Unread(what, command) => {
            return Err(DataError::UnreadEncoding {
                path: path.to_path_buf(),
                what,
                command,
            })
        }
        Compression::Plain => Box::new(file),
        Compression::Gzip => Box::new(CutShort::new(
            super::gzip::Members::new(io::BufReader::new(file)),
            "gzip",
        )),
        Compression::Xz => Box::new(CutShort::new(
            super::xz::Streams::new(io::BufReader::with_capacity(1 << 16, file)),
            "xz",
        )),
    })
}

/// Whether the file at `path` is gzip or xz compressed (by its magic bytes).
pub fn is_compressed(path: &Path) -> Result<bool, DataError> {
    let mut magic = Vec::with_capacity(6);
    File::open(path)
        .and_then(|f| f.take(6).read_to_end(&mut magic))
        .map_err(|error| DataError::Io {
            path: path.to_path_buf(),
            error,
        })?;
    Ok(sniff(&magic) != Compression::Plain)
}

/// The name of a dataset read from `path`: its file name.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The bytes a data set read whole may take: half the memory this process may take now
/// (the host's `MemAvailable`, less where a cgroup v2 or v1 limit or `ulimit -v`
/// leaves less), since building the data set from the rows read copies them once more.
/// Where none of that can be read, no budget.
pub fn memory_budget() -> u64 {
    available_now().map_or(u64::MAX, |available| available / 2)
}

pub(crate) use super::host_memory::available_now;

/// Half of what a holder holds, `held`, and the host has `available` (no bound where that
/// is unknown): the share every holder of memory on the host may take.
pub(crate) fn share_of(held: u64, available: Option<u64>) -> u64 {
    available.map_or(u64::MAX, |available| available.saturating_add(held) / 2)
}

/// Refuses rows that hold `held` bytes, read up to line `line` of `path`, past `budget` (the
/// reader's, as it began) or past half of what they hold and the host still has available
/// now.
pub(crate) fn within_budget(
    held: u64,
    budget: u64,
    path: &Path,
    line: usize,
) -> Result<(), DataError> {
    within_budget_on(held, budget, available_now(), path, line)
}

/// [`within_budget`] on a host with `available` bytes available now (`None`: unknown). The
/// budget a reader began with is half of what was available then, and every reader on the
/// host began with the same half: local workers each reading their partitions of a
/// compressed file together took the whole memory and more, and the kernel killed them
/// (one after the other as they were replaced). Looked at again as it reads, a reader's
/// share shrinks by what the others took meanwhile.
fn within_budget_on(
    held: u64,
    budget: u64,
    available: Option<u64>,
    path: &Path,
    line: usize,
) -> Result<(), DataError> {
    let budget = budget.min(share_of(held, available));
    if held > budget {
        return Err(DataError::OverMemoryBudget {
            path: path.to_path_buf(),
            line,
            held,
            budget,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where `readers` readers on a host with `host` bytes available, each beginning with
    /// half of it, are refused as they read in step, 1 MiB at a time: what each holds then.
    fn refused_at(readers: u64, host: u64) -> u64 {
        let step = 1 << 20;
        let mut held = 0;
        loop {
            held += step;
            let available = host.saturating_sub(readers * held);
            if within_budget_on(held, host / 2, Some(available), Path::new("x.gz"), 1).is_err() {
                return held;
            }
        }
    }

    #[test]
    fn readers_on_one_host_share_its_memory() {
        let host = 3u64 << 30;
        // Alone, a reader keeps half of the host's memory, as before.
        assert!(refused_at(1, host).abs_diff(host / 2) <= 1 << 20);
        // Two, or four, together keep less than the host has, not each half of it: at most
        // the share n / (n + 1) of it.
        for readers in [2, 4] {
            let together = readers * refused_at(readers, host);
            assert!(
                together <= host * readers / (readers + 1) + readers * (1 << 20),
                "{readers} readers hold {} MiB of {} MiB",
                together >> 20,
                host >> 20
            );
        }
    }
}
