//! Bytes after the data of a compressed file: [`Counted`] tells where the data ends, and
//! [`trailing_bytes`] is the error that names what follows it. The gzip and xz readers
//! ([`gzip`](super::gzip), [`xz`](super::xz)) refuse such bytes rather than drop them: they
//! may be a damaged member or stream, i.e. rows.

use std::io::{self, BufRead, Read};

/// The most bytes after the data that are counted: a pipe (`<(cat f.gz /dev/urandom)`) may
/// never end, and the error must.
pub(crate) const COUNTED_AFTER: u64 = 1 << 30;

/// The error of the bytes `after` that follow the `format` (`gzip`, `xz`) data, which ends
/// at byte `end` of the file, and start no member or stream of it.
pub(crate) fn trailing_bytes(format: &str, end: u64, after: impl Read) -> io::Error {
    let trailing = match io::copy(&mut after.take(COUNTED_AFTER + 1), &mut io::sink()) {
        Ok(n) if n > COUNTED_AFTER => format!("more than {COUNTED_AFTER}"),
        Ok(n) => n.to_string(),
        Err(_) => "some".to_owned(),
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the {format} data ends at byte {end} and is followed by {trailing} bytes that are \
             not {format} (something appended to the file, or a damaged copy): if they are no \
             part of the data, cut them off (truncate -s {end} FILE)"
        ),
    )
}

/// A buffered reader that counts the bytes consumed: where in the file the data ends.
pub(crate) struct Counted<R> {
    inner: R,
    consumed: u64,
}

impl<R> Counted<R> {
    pub(crate) fn new(inner: R) -> Counted<R> {
        Counted { inner, consumed: 0 }
    }

    /// The bytes consumed so far.
    pub(crate) fn consumed(&self) -> u64 {
        self.consumed
    }
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(into)?;
        self.consumed += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.consumed += amount as u64;
        self.inner.consume(amount);
    }
}
