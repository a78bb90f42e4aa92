//! The data files themselves, as every reader of them opens them: compression recognised by
//! the magic bytes ([`open`], [`is_compressed`]), the dataset's name ([`file_name`]) and the
//! memory a reader may fill ([`memory_budget`], [`within_budget`]).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::error::DataError;

/// Compression of a file, recognised by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    Plain,
    Gzip,
    Xz,
}

/// The compression of a file that starts with the bytes `magic`.
pub(crate) fn sniff(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else {
        Compression::Plain
    }
}

/// Opens `path` for reading its decompressed bytes: gzip (all members, like `zcat`) and xz
/// (all streams) are recognised by their magic bytes, anything else is read as it is.
///
/// The reader is unbuffered at the file level only where the decoder buffers itself; wrap
/// it in a [`std::io::BufReader`] for line-by-line use.
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, DataError> {
    let io_err = |error| DataError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut file = File::open(path).map_err(io_err)?;
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
        Compression::Plain => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(file))),
        Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(
            io::BufReader::with_capacity(1 << 16, file),
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

/// The bytes a data set read whole may take: half the memory this host has available now
/// (`MemAvailable` of `/proc/meminfo`), since building the data set from the rows read copies
/// them once more. Where that cannot be read, no budget.
pub fn memory_budget() -> u64 {
    let available_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemAvailable:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        });
    available_kib.map_or(u64::MAX, |kib| kib.saturating_mul(1024) / 2)
}

/// Refuses rows that hold `held` bytes, more than `budget`, read up to line `line` of `path`.
pub(crate) fn within_budget(
    held: u64,
    budget: u64,
    path: &Path,
    line: usize,
) -> Result<(), DataError> {
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
