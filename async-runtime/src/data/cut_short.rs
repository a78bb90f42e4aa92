//! [`CutShort`]: a decompressor's output whose end-of-data error says the file is truncated.
//! The decoders' own words ("incomplete deflate stream", "premature eof", "unexpected end of
//! file") name no cause, and a file cut short by a download or copy that did not finish is
//! the usual one; the whole lines read before the cut tell how far the text got.

use std::io::{self, Read};

/// The text `inner` decompresses from the `format` (`gzip`, `xz`) data of a file.
pub(crate) struct CutShort<R> {
    inner: R,
    format: &'static str,
    /// Line ends passed on so far: the whole lines before a cut.
    lines: u64,
}

impl<R: Read> CutShort<R> {
    pub(crate) fn new(inner: R, format: &'static str) -> CutShort<R> {
        CutShort {
            inner,
            format,
            lines: 0,
        }
    }
}

impl<R: Read> Read for CutShort<R> {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(into) {
            Ok(n) => {
                self.lines += memchr::memchr_iter(b'\n', &into[..n]).count() as u64;
                Ok(n)
            }
            // The decoders say UnexpectedEof when their input ends before the data does.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the {format} data stops short after {lines} whole lines ({e}): the file is \
                     truncated (a download or copy that did not finish?), so rows after them may \
                     be missing; {format} -t FILE tests a copy",
                    format = self.format,
                    lines = self.lines,
                ),
            )),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that gives `text`, then the error a decoder gives at a cut.
    struct Cut(&'static [u8]);

    impl Read for Cut {
        fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "premature eof",
                ));
            }
            let n = self.0.len().min(into.len()).min(3);
            into[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_cut_names_the_whole_lines_before_it_and_the_decoders_words() {
        let mut text = Vec::new();
        let err = CutShort::new(Cut(b"1 1:1\n-1 2:1\n1 3"), "xz")
            .read_to_end(&mut text)
            .unwrap_err();
        assert_eq!(text, b"1 1:1\n-1 2:1\n1 3");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let message = err.to_string();
        assert!(
            message.starts_with("the xz data stops short after 2 whole lines (premature eof)"),
            "{message}"
        );
    }

    #[test]
    fn other_errors_pass_unchanged() {
        struct Damaged;
        impl Read for Damaged {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "lzma data error",
                ))
            }
        }
        let err = CutShort::new(Damaged, "xz").read(&mut [0; 4]).unwrap_err();
        assert_eq!(err.to_string(), "lzma data error");
    }
}
