//! [`LineReader`]: the lines of a text stream with the byte offset where each starts, in
//! bounded memory. The fast scan of the driver and the workers' split readers share it, so
//! that both sides cut the same text into the same lines.

use std::io::{self, Read};
use std::path::Path;

use super::error::DataError;

/// Reads `reader` line by line (`\n` ends a line; it is not part of the line), knowing each
/// line's offset in the stream. A line longer than `max_line` bytes is an
/// [`io::ErrorKind::InvalidData`] error, so that a file without line ends costs bounded memory.
pub struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    /// The unread bytes are `buf[pos..filled]`.
    pos: usize,
    filled: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    max_line: usize,
}

/// Bytes read at a time.
const BUFFER: usize = 1 << 20;

/// The error of a line longer than the limit: the one error of a line reader that is about
/// the text at a line. A decompressor's own [`io::ErrorKind::InvalidData`] (a corrupt `.xz`)
/// is about no line, and must not be reported as one.
#[derive(Debug)]
pub(crate) struct LineTooLong(pub(crate) usize);

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a line longer than {} bytes (not a LIBSVM text file?)",
            self.0
        )
    }
}

impl std::error::Error for LineTooLong {}

impl LineTooLong {
    /// It, as the I/O error a reader returns.
    pub(crate) fn error(max_line: usize) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, LineTooLong(max_line))
    }

    /// Whether `error` is one (rather than an I/O or decompression error).
    pub(crate) fn is(error: &io::Error) -> bool {
        error.get_ref().is_some_and(|e| e.is::<LineTooLong>())
    }
}

/// An error of a line reader, named after `line` when it is about the text (a line over
/// the limit); a read or decompression error (a corrupt `.xz`) is about no line.
pub(crate) fn line_error(path: &Path, line: usize, e: io::Error) -> DataError {
    if LineTooLong::is(&e) {
        DataError::Parse {
            path: path.to_path_buf(),
            line,
            message: e.to_string(),
        }
    } else {
        DataError::Io {
            path: path.to_path_buf(),
            error: e,
        }
    }
}

impl<R: Read> LineReader<R> {
    /// Lines of `reader`, whose first byte is at offset `start` of the stream.
    pub fn new(reader: R, start: u64, max_line: usize) -> LineReader<R> {
        LineReader {
            reader,
            buf: vec![0; BUFFER],
            pos: 0,
            filled: 0,
            base: start,
            eof: false,
            max_line: max_line.max(1),
        }
    }

    /// The next line and its offset; `None` at the end of the stream. A last line without a
    /// line end is a line; an empty stream has none.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        let mut searched = self.pos;
        loop {
            if let Some(at) = memchr::memchr(b'\n', &self.buf[searched..self.filled]) {
                let end = searched + at;
                // A line ended within the buffer is held by it at no cost, but the limit is
                // the caller's, not the buffer's: one over it is refused all the same.
                if end - self.pos > self.max_line {
                    return Err(LineTooLong::error(self.max_line));
                }
                return Ok(Some(self.take(end, end + 1)));
            }
            searched = self.filled;
            if self.filled - self.pos > self.max_line {
                return Err(LineTooLong::error(self.max_line));
            }
            if self.eof {
                if self.pos == self.filled {
                    return Ok(None);
                }
                let end = self.filled;
                return Ok(Some(self.take(end, end)));
            }
            searched -= self.refill()?;
        }
    }

    /// Hands out `buf[pos..end]` and moves past `next`.
    fn take(&mut self, end: usize, next: usize) -> (u64, &[u8]) {
        let start = self.pos;
        self.pos = next;
        (self.base + start as u64, &self.buf[start..end])
    }

    /// Moves the unread bytes to the buffer's start (growing it if they fill it) and reads
    /// more; returns how far the bytes moved.
    fn refill(&mut self) -> io::Result<usize> {
        let shift = self.pos;
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= shift;
        self.pos = 0;
        self.base += shift as u64;
        if self.filled == self.buf.len() {
            let len = self.buf.len();
            self.buf.resize(len * 2, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.filled += n;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[u8], max: usize) -> io::Result<Vec<(u64, Vec<u8>)>> {
        // A reader that hands out 3 bytes at a time crosses every boundary.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(3);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut reader = LineReader::new(Trickle(text), 10, max);
        let mut out = Vec::new();
        while let Some((at, line)) = reader.next_line()? {
            out.push((at, line.to_vec()));
        }
        Ok(out)
    }

    #[test]
    fn lines_with_offsets() {
        let got = lines(b"ab\n\ncde\nf", 100).unwrap();
        let want: Vec<(u64, Vec<u8>)> = vec![
            (10, b"ab".to_vec()),
            (13, b"".to_vec()),
            (14, b"cde".to_vec()),
            (18, b"f".to_vec()),
        ];
        assert_eq!(got, want);
        assert!(lines(b"", 100).unwrap().is_empty());
        assert_eq!(lines(b"x\n", 100).unwrap().len(), 1);
        let long = [b'a'; 5000];
        assert_eq!(lines(&long, 10_000).unwrap()[0].1.len(), 5000);
        let err = lines(&long, 100).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_line_over_the_limit_is_refused_though_the_buffer_holds_it() {
        // 6 bytes under a limit of 5, read in one go, far within the buffer: refused, ended
        // or not.
        for text in [&b"ab\nabcdef\nx\n"[..], b"ab\nabcdef"] {
            let mut reader = LineReader::new(text, 0, 5);
            assert_eq!(reader.next_line().unwrap(), Some((0, &b"ab"[..])));
            let err = reader.next_line().unwrap_err();
            assert!(LineTooLong::is(&err), "{err}");
        }
        // A line of exactly the limit is a line.
        assert_eq!(lines(b"abcde\nab", 5).unwrap().len(), 2);
        let mut reader = LineReader::new(&b"abcde\n"[..], 0, 5);
        assert_eq!(reader.next_line().unwrap(), Some((0, &b"abcde"[..])));
    }
}
