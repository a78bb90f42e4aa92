//! [`Members`]: the text of a gzip file, every member in turn as `zcat` reads them, with a
//! clear error for bytes after the last member that are no gzip. `flate2`'s multi-member
//! reader took them for the header of one more member and said "unexpected end of file",
//! which sends the user looking for a truncated download; `gzip -d` reads past them with a
//! warning, but a reader of training data must not drop bytes it cannot read (they may be a
//! damaged member, i.e. rows) without saying so: the error names them and where the gzip
//! data ends.

use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;

use super::trailing::{trailing_bytes, Counted};

/// The first bytes of every gzip member.
const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The decompressed text of the gzip members `reader` holds, one after the other.
pub(crate) struct Members<R: BufRead> {
    /// The member being read; none once the input is read to its end.
    member: Option<GzDecoder<Counted<R>>>,
}

impl<R: BufRead> Members<R> {
    pub(crate) fn new(reader: R) -> Members<R> {
        Members {
            member: Some(GzDecoder::new(Counted::new(reader))),
        }
    }
}

impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        while let Some(member) = &mut self.member {
            let n = member.read(into)?;
            if n > 0 || into.is_empty() {
                return Ok(n);
            }
            // The member ended (its CRC checked): another one, the end, or bytes that are no gzip.
            let Some(mut input) = self.member.take().map(GzDecoder::into_inner) else {
                break;
            };
            let next = input.fill_buf()?;
            if next.is_empty() {
                return Ok(0);
            }
            if next.len() < MAGIC.len() || next[..MAGIC.len()] != MAGIC {
                return Err(trailing_bytes("gzip", input.consumed(), input));
            }
            self.member = Some(GzDecoder::new(input));
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::trailing::COUNTED_AFTER;
    use std::io::Write;

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut text = Vec::new();
        Members::new(bytes).read_to_end(&mut text)?;
        Ok(text)
    }

    #[test]
    fn members_are_read_one_after_the_other() {
        let mut bytes = gzip(b"1 1:1\n");
        bytes.extend(gzip(b""));
        bytes.extend(gzip(b"-1 2:1\n"));
        assert_eq!(read_all(&bytes).unwrap(), b"1 1:1\n-1 2:1\n");
        assert_eq!(read_all(&gzip(b"")).unwrap(), b"");
    }

    #[test]
    fn bytes_after_the_last_member_are_named_with_where_the_gzip_data_ends() {
        let mut bytes = gzip(b"1 1:1\n");
        bytes.extend(gzip(b"-1 2:1\n"));
        let end = bytes.len();
        for junk in [&b"x"[..], b"\n\n\0\0", &[0u8; 100_000]] {
            let mut file = bytes.clone();
            file.extend_from_slice(junk);
            let err = read_all(&file).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            let message = err.to_string();
            assert!(
                message.starts_with(&format!(
                    "the gzip data ends at byte {end} and is followed by {} bytes that are not \
                     gzip",
                    junk.len()
                )),
                "{message}"
            );
            assert!(
                message.contains(&format!("truncate -s {end} FILE")),
                "{message}"
            );
        }
    }

    #[test]
    fn an_endless_pipe_after_the_last_member_ends_in_an_error() {
        // The bytes after the data were counted to their end, which a pipe may never reach.
        let bytes = gzip(b"1 1:1\n");
        let endless = io::BufReader::new(io::Cursor::new(bytes.clone()).chain(io::repeat(b'x')));
        let err = Members::new(endless)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "the gzip data ends at byte {} and is followed by more than {} bytes",
                bytes.len(),
                COUNTED_AFTER
            )),
            "{err}"
        );
    }

    #[test]
    fn a_damaged_member_is_still_an_error_of_its_own() {
        let mut bytes = gzip(b"1 1:1\n");
        let mut second = gzip(&b"-1 2:1\n".repeat(100));
        second.truncate(second.len() / 2);
        bytes.extend(second);
        let err = read_all(&bytes).unwrap_err();
        assert!(!err.to_string().contains("not gzip"), "{err}");
    }
}
