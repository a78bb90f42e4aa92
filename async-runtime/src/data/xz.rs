//! [`Streams`]: the text of an xz file, every stream in turn as `xzcat` reads them, the
//! stream padding after each skipped, with a clear error for bytes after the last stream
//! that are no xz. liblzma's reader of concatenated streams said "lzma data error" of them,
//! or for a few bytes "premature eof", which [`CutShort`](super::cut_short::CutShort) then
//! called a truncated file though every row had been read.

use std::io::{self, BufRead, Read};

use xz2::stream::{Action, Status, Stream};

use super::trailing::{trailing_bytes, Counted, COUNTED_AFTER};

/// The first bytes of every xz stream.
const MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0x00];

/// The error of xz data that does not decode (`error`), found by byte `at` of the file:
/// liblzma's own words ("lzma data error") did not say that the file is damaged.
fn damaged(error: xz2::stream::Error, at: u64) -> io::Error {
    match error {
        xz2::stream::Error::Data | xz2::stream::Error::Format => io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the xz data is damaged by byte {at} ({error}): the file is corrupt (a damaged \
                 copy?), so its rows from there on cannot be read; xz -t FILE tests a copy"
            ),
        ),
        other => other.into(),
    }
}

/// The decompressed text of the xz streams `reader` holds, one after the other.
pub(crate) struct Streams<R: BufRead> {
    input: Counted<R>,
    /// The stream being decoded; none between streams.
    stream: Option<Stream>,
    /// Whether the input is read to its end.
    done: bool,
}

impl<R: BufRead> Streams<R> {
    pub(crate) fn new(reader: R) -> Streams<R> {
        Streams {
            input: Counted::new(reader),
            stream: None,
            done: false,
        }
    }

    /// At the start or after a stream: past the stream padding (zero bytes, a multiple of 4),
    /// the decoder of the next stream, or `false` at the end of the input. Bytes that start
    /// no stream are an error.
    fn next_stream(&mut self) -> io::Result<bool> {
        let end = self.input.consumed();
        let mut zeros = 0u64;
        let starts_stream = loop {
            let next = self.input.fill_buf()?;
            let run = next.iter().take_while(|&&b| b == 0).count();
            if run == 0 {
                let n = next.len().min(MAGIC.len());
                break next.is_empty() || next[..n] == MAGIC[..n];
            }
            self.input.consume(run);
            zeros += run as u64;
            if zeros > COUNTED_AFTER {
                // No xz file pads a stream by a GiB: an endless pipe of zeros must end.
                break false;
            }
        };
        let at_end = self.input.fill_buf()?.is_empty();
        if !starts_stream || !zeros.is_multiple_of(4) {
            let after = io::repeat(0).take(zeros).chain(&mut self.input);
            return Err(trailing_bytes("xz", end, after));
        }
        if at_end {
            return Ok(false);
        }
        self.stream = Some(Stream::new_stream_decoder(u64::MAX, 0)?);
        Ok(true)
    }
}

impl<R: BufRead> Read for Streams<R> {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        if into.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(stream) = &mut self.stream else {
                if self.done || !self.next_stream()? {
                    self.done = true;
                    return Ok(0);
                }
                continue;
            };
            let input = self.input.fill_buf()?;
            let eof = input.is_empty();
            let (read, written) = (stream.total_in(), stream.total_out());
            let action = if eof { Action::Finish } else { Action::Run };
            let status = stream.process(input, into, action);
            let consumed = (stream.total_in() - read) as usize;
            let produced = (stream.total_out() - written) as usize;
            self.input.consume(consumed);
            if status.map_err(|e| damaged(e, self.input.consumed()))? == Status::StreamEnd {
                self.stream = None;
            }
            if produced > 0 {
                return Ok(produced);
            }
            if self.stream.is_some() {
                if eof {
                    // CutShort says what this means: the file is cut short.
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "premature eof",
                    ));
                }
                if consumed == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "corrupt xz stream",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::libsvm::tests::xz;

    #[test]
    fn an_endless_pipe_of_zeros_after_the_last_stream_ends_in_an_error() {
        // Stream padding was skipped for as long as zeros came: forever from a pipe.
        let bytes = xz(b"1 1:1\n");
        let endless = io::BufReader::new(io::Cursor::new(bytes.clone()).chain(io::repeat(0)));
        let mut text = Vec::new();
        let err = Streams::new(endless).read_to_end(&mut text).unwrap_err();
        assert_eq!(text, b"1 1:1\n");
        assert!(
            err.to_string().starts_with(&format!(
                "the xz data ends at byte {} and is followed by more than {COUNTED_AFTER} bytes",
                bytes.len()
            )),
            "{err}"
        );
    }
}
