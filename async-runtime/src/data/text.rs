//! What a line of LIBSVM text holds, as every reader of it reads it (the parser in
//! [`libsvm`](super::libsvm), the driver's scan of a shared file, a worker reading its split):
//! a UTF-8 byte order mark at the start of a line is read past, and a `#` starts a comment
//! that runs to the line's end.

/// A UTF-8 byte order mark, read past at the start of a line.
pub(crate) const BYTE_ORDER_MARK: &str = "\u{feff}";

/// The part of `line` before any `#` comment.
pub(crate) fn before_comment(line: &[u8]) -> &[u8] {
    match memchr::memchr(b'#', line) {
        Some(at) => &line[..at],
        None => line,
    }
}

/// What a line holds as the parser reads it: past a byte order mark at its start, before any
/// `#` comment.
pub(crate) fn content(line: &[u8]) -> &[u8] {
    before_comment(
        line.strip_prefix(BYTE_ORDER_MARK.as_bytes())
            .unwrap_or(line),
    )
}

/// Whether a line holds a data row: something in its [`content`] but whitespace. That is its
/// first byte but whitespace (past a mark) not starting a comment, which is all it reads:
/// this runs on every line of a scan.
pub(crate) fn is_row(line: &[u8]) -> bool {
    let line = line
        .strip_prefix(BYTE_ORDER_MARK.as_bytes())
        .unwrap_or(line);
    line.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b != b'#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_content_before_any_comment() {
        assert!(is_row(b"1 1:0.5"));
        assert!(is_row(b"\xef\xbb\xbf-1 2:1"), "after a byte order mark");
        assert!(is_row(b" 0#note"), "a comment glued to the label");
        for blank in [
            &b""[..],
            b"  \t",
            b"# a comment",
            b"   # indented",
            b"\xef\xbb\xbf",
            b"\xef\xbb\xbf # after a mark",
        ] {
            assert!(!is_row(blank), "{:?}", String::from_utf8_lossy(blank));
        }
    }

    #[test]
    fn content_drops_a_leading_mark_and_the_comment_only() {
        assert_eq!(content(b"\xef\xbb\xbf1 2:3 # note"), b"1 2:3 ");
        // A mark inside the line is no mark: the parser refuses it there.
        assert_eq!(content(b"1 \xef\xbb\xbf2:3"), b"1 \xef\xbb\xbf2:3");
        assert_eq!(before_comment(b"\xef\xbb\xbf1#x"), b"\xef\xbb\xbf1");
    }
}
