//! Reader of LIBSVM / SVMlight text files: `label idx:val idx:val ...`, one row per line,
//! 1-based feature indices in strictly ascending order.
//!
//! Files may be plain, gzip (`.gz`) or xz (`.xz`) compressed; the compression is recognised
//! by the file's magic bytes, whatever its extension. Decompression runs on a second thread
//! that hands blocks of whole lines to the parser, so the two overlap.
//!
//! What the parser accepts, as real files do:
//! - spaces or tabs (any ASCII whitespace) between tokens, trailing whitespace, CRLF line ends;
//! - labels written with a sign (`+1`) or as any real number (regression targets);
//! - label-only lines: a row with no nonzero feature;
//! - with [`Labels::Optional`] (predicting), rows without a label: their first token is a
//!   feature (`idx:val`) or a query id, or `?` in the label's place, and their label reads as
//!   NaN;
//! - blank lines (anywhere, including the last line): skipped, they are not rows;
//! - `#` comments, from the `#` to the end of the line (a line holding only a comment is
//!   skipped like a blank one);
//! - SVMlight's query id (`qid:N` right after the label, in ranking sets): read and left out,
//!   as the losses here do not group rows;
//! - a UTF-8 byte order mark at the start of a line: some editors on Windows begin a file
//!   with one, and files joined with `cat` keep theirs.
//!
//! Explicit zero values (`3:0`) are accepted and not stored, so [`Dataset::nnz`] counts
//! nonzeros only. Every other deviation is a [`DataError::Parse`] that names the file, the
//! 1-based line and the offending token, but a feature beyond the dimension the data is read
//! with, a [`DataError::BeyondDimension`] of the same words. [`Dataset::load_numbered`] also
//! gives the line of each row, which blank and comment lines set apart from its index.

use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use ndarray::{Array1, Array2};
use sprs::CsMat;

use super::dataset::{Dataset, Features};
use super::error::DataError;
use super::file::{file_name, within_budget};
pub use super::file::{is_compressed, memory_budget, open};
use super::lines::LineTooLong;
pub use super::options::{Labels, Layout, LoadOptions};
use super::shared::LabelValues;
use super::split::GrainPlan;
use super::text::BYTE_ORDER_MARK;

/// What is wrong with a line that is not UTF-8.
pub(crate) const INVALID_UTF8: &str = "invalid UTF-8 (not a LIBSVM text file?)";

/// Blocks handed from the decompressing thread to the parser (4 MiB, grown for longer lines).
const CHUNK: usize = 1 << 22;

impl Dataset {
    /// Reads a LIBSVM file (plain, gzip or xz); the dataset is named after the file name.
    pub fn load(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Dataset, DataError> {
        read_libsvm(path.as_ref(), opts)
    }

    /// Reads a LIBSVM file as [`Dataset::load`] does, with the 1-based number of the line
    /// each row was read from: after a blank or comment line, which is no row, a row's index
    /// and its line differ. For output that names rows by line (predictions); other loads
    /// keep no such list.
    pub fn load_numbered(
        path: impl AsRef<Path>,
        opts: &LoadOptions,
    ) -> Result<(Dataset, Vec<usize>), DataError> {
        let path = path.as_ref();
        read_whole(open(path)?, path, opts, RowLines::Keep)
    }
}

/// Reads the LIBSVM file at `path` (plain, `.gz` or `.xz`). The dataset is named after the
/// file name.
pub fn read_libsvm(path: &Path, opts: &LoadOptions) -> Result<Dataset, DataError> {
    let reader = open(path)?;
    read_libsvm_from(reader, path, opts)
}

/// Reads LIBSVM text from any reader (already decompressed). `path` is used for the dataset's
/// name (its file name) and in error messages only.
pub fn read_libsvm_from<R: Read + Send>(
    reader: R,
    path: &Path,
    opts: &LoadOptions,
) -> Result<Dataset, DataError> {
    read_whole(reader, path, opts, RowLines::Drop).map(|(data, _)| data)
}

/// Whether a read keeps the line number of each row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RowLines {
    Drop,
    Keep,
}

/// Reads LIBSVM text from `reader` (already decompressed), with the line of each row if
/// `lines` says to keep them (else none).
fn read_whole<R: Read + Send>(
    reader: R,
    path: &Path,
    opts: &LoadOptions,
    lines: RowLines,
) -> Result<(Dataset, Vec<usize>), DataError> {
    if let Some(dim) = opts.dim {
        if dim > opts.max_dim {
            return Err(DataError::TooManyFeatures {
                path: path.to_path_buf(),
                dim,
                max: opts.max_dim,
            });
        }
    }
    let max_line = opts.max_line_bytes.max(1);
    let budget = memory_budget();
    let whole = std::thread::scope(|s| -> Result<Whole, DataError> {
        let (tx, rx) = sync_channel(2);
        std::thread::Builder::new()
            .name("libsvm-reader".into())
            .spawn_scoped(s, move || pump(reader, tx, max_line))
            .map_err(|error| DataError::Io {
                path: path.to_path_buf(),
                error,
            })?;
        // `rx` is moved in and dropped on return, so an early error stops the pump thread.
        parse_chunks(rx, path, opts, budget, lines)
    })?;
    let plan = GrainPlan::from_row_offsets(whole.total_bytes, &whole.row_offsets);
    drop(whole.row_offsets);
    let data = build(whole.rows, &file_name(path), path, opts, budget)?
        .with_plan(plan)
        .with_file_labels(whole.labels);
    Ok((data, whole.row_lines))
}

/// Reads `reader` in blocks that end at a line end and sends them to the parser; a line longer
/// than `max_line` bytes is sent as an [`io::ErrorKind::InvalidData`] error.
fn pump<R: Read>(mut reader: R, tx: SyncSender<io::Result<Vec<u8>>>, max_line: usize) {
    let mut buf = vec![0u8; CHUNK.min(max_line.saturating_add(1))];
    let mut filled = 0;
    loop {
        let mut eof = false;
        while filled < buf.len() {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        if eof {
            if filled > 0 {
                let _ = tx.send(Ok(buf[..filled].to_vec()));
            }
            return;
        }
        match buf[..filled].iter().rposition(|&b| b == b'\n') {
            Some(p) => {
                if tx.send(Ok(buf[..=p].to_vec())).is_err() {
                    return; // the parser stopped (error): nothing more to do
                }
                buf.copy_within(p + 1..filled, 0);
                filled -= p + 1;
            }
            None if filled > max_line => {
                let _ = tx.send(Err(LineTooLong::error(max_line)));
                return;
            }
            None => {
                // One line longer than the buffer: grow it, up to the limit.
                let len = buf.len();
                buf.resize(len.saturating_mul(2).min(max_line.saturating_add(1)), 0);
            }
        }
    }
}

/// The rows read so far, in CSR form with 0-based column indices. Where they are in a text
/// is no part of them: rows appended from several blocks keep no offsets to mix up.
#[derive(Default)]
pub(crate) struct Parsed {
    pub(crate) labels: Vec<f64>,
    pub(crate) indptr: Vec<usize>,
    pub(crate) indices: Vec<usize>,
    pub(crate) values: Vec<f64>,
    /// Largest 1-based index used (0 when no feature at all).
    pub(crate) max_index: usize,
}

/// A whole text read: its rows, where each row's line starts, the 1-based number of each
/// row's line (when asked for, else empty), the labels its rows use, and its length in bytes.
struct Whole {
    rows: Parsed,
    row_offsets: Vec<u64>,
    row_lines: Vec<usize>,
    labels: LabelValues,
    total_bytes: u64,
}

impl Parsed {
    pub(crate) fn new() -> Parsed {
        Parsed {
            indptr: vec![0],
            ..Parsed::default()
        }
    }

    /// Drops every row, keeping the memory.
    pub(crate) fn clear(&mut self) {
        self.labels.clear();
        self.indptr.truncate(1);
        self.indices.clear();
        self.values.clear();
        self.max_index = 0;
    }

    /// Appends the rows of `other` after these.
    pub(crate) fn append(&mut self, other: Parsed) {
        let base = self.indices.len();
        self.labels.extend(other.labels);
        self.indptr
            .extend(other.indptr[1..].iter().map(|&p| p + base));
        self.indices.extend(other.indices);
        self.values.extend(other.values);
        self.max_index = self.max_index.max(other.max_index);
    }

    /// Rows held.
    pub(crate) fn n_rows(&self) -> usize {
        self.labels.len()
    }

    /// Bytes the rows hold: per row a label and a row start, per stored value its index and
    /// the value.
    pub(crate) fn held_bytes(&self) -> u64 {
        (self.labels.len() as u64) * 16 + (self.values.len() as u64) * 16
    }
}

/// Parses the blocks `rx` receives, refusing rows that hold more than `budget` bytes (checked
/// per block of text, not per line), keeping each row's line number if `lines` says so.
fn parse_chunks(
    rx: Receiver<io::Result<Vec<u8>>>,
    path: &Path,
    opts: &LoadOptions,
    budget: u64,
    lines: RowLines,
) -> Result<Whole, DataError> {
    let mut p = Parsed::new();
    let (mut row_offsets, mut row_lines, mut total_bytes) = (Vec::new(), Vec::new(), 0u64);
    let mut line_no = 0usize;
    // Which labels the rows use, and where: a loss that refuses one names its line.
    let mut labels = LabelValues::default();
    for chunk in rx {
        let chunk = chunk.map_err(|source| {
            if LineTooLong::is(&source) {
                // The pump's word on an endless line: it starts after the lines parsed so far.
                DataError::Parse {
                    path: path.to_path_buf(),
                    line: line_no + 1,
                    message: source.to_string(),
                }
            } else {
                // Reading or decompressing failed (a corrupt `.xz` says InvalidData too):
                // the pump reads ahead of the parser, so no line is known to be at fault.
                DataError::Io {
                    path: path.to_path_buf(),
                    error: source,
                }
            }
        })?;
        let text = std::str::from_utf8(&chunk).map_err(|e| {
            let good = &chunk[..e.valid_up_to()];
            DataError::Parse {
                path: path.to_path_buf(),
                line: line_no + 1 + good.iter().filter(|&&b| b == b'\n').count(),
                message: INVALID_UTF8.into(),
            }
        })?;
        // Chunks end at a line end (but the last): every piece but an empty last one is a line.
        let mut at = total_bytes;
        let pieces = text.strip_suffix('\n').unwrap_or(text);
        for line in pieces.split('\n') {
            line_no += 1;
            let rows = p.n_rows();
            parse_line(line, opts, &mut p).map_err(|e| e.at(path, line_no))?;
            if p.n_rows() > rows {
                labels.see_value(p.labels[rows], line_no);
                row_offsets.push(at);
                if lines == RowLines::Keep {
                    row_lines.push(line_no);
                }
            }
            at += line.len() as u64 + 1;
        }
        total_bytes += chunk.len() as u64;
        // A small compressed file can hold billions of valid rows: refused with a reason, not
        // grown until the host kills the process. Each row's line offset (and number) is held
        // too.
        let held = p.held_bytes() + 8 * (row_offsets.len() + row_lines.len()) as u64;
        within_budget(held, budget, path, line_no)?;
    }
    Ok(Whole {
        rows: p,
        row_offsets,
        row_lines,
        labels,
        total_bytes,
    })
}

/// Parses `line`, line `line_no` of `path`, into `p` as [`parse_line`] does, its text checked
/// for UTF-8 first; an error names the file and the line.
pub(crate) fn parse_file_line(
    line: &[u8],
    line_no: usize,
    path: &Path,
    opts: &LoadOptions,
    p: &mut Parsed,
) -> Result<(), DataError> {
    let text = std::str::from_utf8(line)
        .map_err(|_| LineError::Malformed(INVALID_UTF8.into()).at(path, line_no))?;
    parse_line(text, opts, p).map_err(|e| e.at(path, line_no))
}

/// The first of lines 1 to `last` of the text `reader` holds that does not read with `opts`,
/// with its error; `None` if they all read, or if the text cannot be read that far (a line
/// over the limit, a read error: the caller's own error stands then). A refusal found in a
/// part of a file (a split, a sample) is reported as the file's first bad line, which a read
/// of the whole file names: the same file is refused in the same words however it is read.
pub(crate) fn first_bad_line<R: Read>(
    reader: R,
    path: &Path,
    opts: &LoadOptions,
    last: usize,
) -> Option<DataError> {
    let mut lines = super::lines::LineReader::new(reader, 0, opts.max_line_bytes);
    let mut row = Parsed::new();
    for line in 1..=last {
        let Ok(Some((_, text))) = lines.next_line() else {
            return None;
        };
        if let Err(error) = parse_file_line(text, line, path, opts, &mut row) {
            return Some(error);
        }
        row.clear();
    }
    None
}

/// Parses one line into `p`; blank and comment-only lines add nothing.
pub(crate) fn parse_line(line: &str, opts: &LoadOptions, p: &mut Parsed) -> Result<(), LineError> {
    if has_inner_carriage_return(line) {
        // Lines ended by CR alone read as one line of every row: refused, not merged.
        return Err(LineError::Malformed(
            "a carriage return inside the line: lines ended by CR alone (classic Mac \
                    text) are not read; convert the file with tr '\\r' '\\n'"
                .into(),
        ));
    }
    let (indices, values) = (p.indices.len(), p.values.len());
    if parse_plain_line(line, opts, p) {
        return Ok(());
    }
    // Not a plain line, or a bad one: the checked parse, which names what is wrong.
    p.indices.truncate(indices);
    p.values.truncate(values);
    parse_checked_line(line, opts, p)
}

/// Whether a carriage return in `line` has more of the row after it (a CRLF line's CR is last).
fn has_inner_carriage_return(line: &str) -> bool {
    // Most lines hold no CR: one scan for it, and the comment is looked for only past that.
    let Some(at) = memchr::memchr(b'\r', line.as_bytes()) else {
        return false;
    };
    let content = super::text::before_comment(line.as_bytes());
    at < content.len() && content[at..].iter().any(|b| !b.is_ascii_whitespace())
}

/// The bulk of LIBSVM lines, parsed byte by byte: `label index:value ...` with no comment,
/// plain decimal indices and values, every rule of [`parse_checked_line`] met. Anything else
/// returns false, possibly after pushing some features (the caller drops them), and leaves the
/// line to [`parse_checked_line`], which accepts or rejects it with its message.
fn parse_plain_line(line: &str, opts: &LoadOptions, p: &mut Parsed) -> bool {
    let bytes = line.as_bytes();
    if memchr::memchr(b'#', bytes).is_some() {
        return false;
    }
    let token_end = |from: usize| {
        bytes[from..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(bytes.len(), |n| from + n)
    };
    let skip_space = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map_or(bytes.len(), |n| from + n)
    };
    let start = skip_space(0);
    if start == bytes.len() {
        return false;
    }
    let end = token_end(start);
    let label_text = &line[start..end];
    let (label, mut at) = if !label_text.contains(':') {
        match parse_f64(label_text) {
            Ok(label) if label.is_finite() => (label, skip_space(end)),
            _ => return false,
        }
    } else if opts.labels == Labels::Optional {
        // No label: the first token is the first feature.
        (f64::NAN, start)
    } else {
        return false;
    };
    let limit = opts.dim.unwrap_or(opts.max_dim);
    let mut prev = 0usize;
    while at < bytes.len() {
        let mut index = 0usize;
        let mut digits = at;
        while let Some(&b) = bytes.get(digits).filter(|b| b.is_ascii_digit()) {
            index = match index
                .checked_mul(10)
                .and_then(|i| i.checked_add(usize::from(b - b'0')))
            {
                Some(index) => index,
                None => return false,
            };
            digits += 1;
        }
        if digits == at || bytes.get(digits) != Some(&b':') || index <= prev || index > limit {
            return false;
        }
        let end = token_end(digits + 1);
        let value = match parse_f64(&line[digits + 1..end]) {
            Ok(value) if value.is_finite() => value,
            _ => return false,
        };
        prev = index;
        if value != 0.0 {
            p.indices.push(index - 1);
            p.values.push(value);
        }
        at = skip_space(end);
    }
    p.max_index = p.max_index.max(prev);
    p.labels.push(label);
    p.indptr.push(p.indices.len());
    true
}

/// A token of the file as an error quotes it: control characters escaped (a file must not
/// drive the terminal that shows its error) and at most [`Quoted::MOST`] characters of it.
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl Quoted<'_> {
    const MOST: usize = 40;
}

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        f.write_char('`')?;
        for (i, c) in self.0.chars().enumerate() {
            if i == Self::MOST {
                return write!(f, "...` ({} bytes)", self.0.len());
            }
            // Control characters, the ones that reorder text on the screen, and spaces that
            // are not ASCII (a no-break space pasted from a document), which look like the
            // separator the reader splits on.
            if c.is_control()
                || (c.is_whitespace() && !c.is_ascii())
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                f.write_char(c)?;
            }
        }
        f.write_char('`')
    }
}

/// The label's place of a row without one, in files written for predicting.
const NO_LABEL: &str = "?";

/// Parses one line into `p` checking every rule, with a message for the first one broken.
fn parse_checked_line(line: &str, opts: &LoadOptions, p: &mut Parsed) -> Result<(), LineError> {
    let content = match line.find('#') {
        Some(at) => &line[..at],
        None => line,
    };
    let content = content.strip_prefix(BYTE_ORDER_MARK).unwrap_or(content);
    let mut tokens = content.split_ascii_whitespace().peekable();
    let Some(&first) = tokens.peek() else {
        return Ok(()); // blank line or comment only
    };
    let label = if first.contains(':') && opts.labels == Labels::Optional {
        // No label: the first token is left to be read as the query id or the first feature.
        f64::NAN
    } else if first == NO_LABEL && opts.labels == Labels::Optional {
        tokens.next();
        f64::NAN
    } else {
        tokens.next();
        parse_label(first)?
    };
    if let Some(qid) = tokens.peek().and_then(|token| token.strip_prefix("qid:")) {
        qid.parse::<u64>().map_err(|_| {
            let shown = Quoted(tokens.peek().unwrap_or(&""));
            format!("invalid query id {shown}: not a non-negative integer")
        })?;
        tokens.next();
    }
    let mut prev = 0usize;
    // The first index beyond the dimension or the budget, and its token: reported only once
    // the whole line reads, so that indices out of order (a large one first) are named as
    // such, not as an index beyond a dimension inferred from the file's valid rows.
    let mut too_large: Option<(usize, &str)> = None;
    for token in tokens {
        let token_q = Quoted(token);
        let Some((idx, val)) = token.split_once(':') else {
            return Err(format!("missing `:` in feature {token_q} (expected index:value)").into());
        };
        let index: usize = match idx.parse() {
            Ok(index) => index,
            // All digits, and more than any memory holds: no later index can follow it.
            Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
                return Err(index_too_large(None, token, opts));
            }
            // SVMlight's query id, where the format does not allow it: said so, not as a
            // bad index, which sent readers looking for a broken feature.
            Err(_) if idx == "qid" => {
                return Err(format!(
                    "query id {token_q} not right after the label: `qid:N` is accepted only \
                     there (`label qid:N index:value ...`)"
                )
                .into());
            }
            Err(_) => {
                let idx_q = Quoted(idx);
                return Err(format!(
                    "invalid index {idx_q} in feature {token_q}: not a non-negative integer"
                )
                .into());
            }
        };
        if index == 0 {
            return Err(format!(
                "invalid index 0 in feature {token_q}: indices are 1-based (a file that counts \
                 features from 0 needs every index raised by one: see the README)"
            )
            .into());
        }
        if index <= prev {
            return Err(format!(
                "index {index} in feature {token_q} is not greater than the previous index \
                 {prev}: indices must be strictly ascending"
            )
            .into());
        }
        if too_large.is_none() && index > opts.dim.unwrap_or(opts.max_dim) {
            too_large = Some((index, token));
        }
        let val_q = Quoted(val);
        let value: f64 = parse_f64(val)
            .map_err(|_| format!("invalid value {val_q} in feature {token_q}: not a number"))?;
        if !value.is_finite() {
            return Err(
                format!("invalid value {val_q} in feature {token_q}: not a finite number").into(),
            );
        }
        prev = index;
        if value != 0.0 && too_large.is_none() {
            p.indices.push(index - 1);
            p.values.push(value);
        }
    }
    if let Some((index, token)) = too_large {
        return Err(index_too_large(Some(index), token, opts));
    }
    p.max_index = p.max_index.max(prev);
    p.labels.push(label);
    p.indptr.push(p.indices.len());
    Ok(())
}

/// The label a row starts with, `first` (its first token), with a message if it is none.
fn parse_label(first: &str) -> Result<f64, String> {
    let first_q = Quoted(first);
    if first.contains(':') {
        return Err(format!(
            "missing label: the line starts with the feature {first_q}"
        ));
    }
    if first == NO_LABEL {
        return Err(format!(
            "missing label: {first_q} marks a row without one, which only predicting reads"
        ));
    }
    let label: f64 = first
        .parse()
        .map_err(|_| format!("invalid label {first_q}: not a number"))?;
    if !label.is_finite() {
        return Err(format!("invalid label {first_q}: not a finite number"));
    }
    Ok(label)
}

/// The error of a feature `token` whose index (`None` if past any integer: all digits, too
/// many) is beyond the dimension the data is read with, or beyond the memory budget when none
/// is given.
fn index_too_large(index: Option<usize>, token: &str, opts: &LoadOptions) -> LineError {
    match opts.dim {
        None => {
            let written = token.split(':').next().unwrap_or_default();
            let shown = index.map_or_else(|| Quoted(written).to_string(), |i| i.to_string());
            index_over_budget(&shown, token, opts.max_dim).into()
        }
        Some(dim) => LineError::BeyondDimension {
            index,
            feature: token.to_string(),
            dim,
        },
    }
}

/// The message of a feature `token` whose index (shown as `index`) is beyond the memory
/// budget of `max_dim` features.
pub(crate) fn index_over_budget(index: &str, token: &str, max_dim: usize) -> String {
    format!(
        "index {index} in feature {} exceeds the memory budget of {max_dim} features (8 bytes \
         each per model copy): raise it with --max-features if that is meant",
        Quoted(token)
    )
}

/// Why a line does not read. A feature beyond the dimension is a kind of its own, which
/// becomes [`DataError::BeyondDimension`]: its callers word it their own way.
#[derive(Debug, PartialEq)]
pub(crate) enum LineError {
    /// What is wrong, quoting the bad token.
    Malformed(String),
    /// A feature beyond the dimension `dim` the data is read with.
    BeyondDimension {
        /// Its index, `None` if past any integer.
        index: Option<usize>,
        /// The feature as written, `index:value`.
        feature: String,
        /// The dimension.
        dim: usize,
    },
}

impl From<String> for LineError {
    fn from(message: String) -> Self {
        LineError::Malformed(message)
    }
}

impl LineError {
    /// This error as line `line` of `path`'s.
    pub(crate) fn at(self, path: &Path, line: usize) -> DataError {
        let path = path.to_path_buf();
        match self {
            LineError::Malformed(message) => DataError::Parse {
                path,
                line,
                message,
            },
            LineError::BeyondDimension {
                index,
                feature,
                dim,
            } => DataError::BeyondDimension {
                path,
                line,
                index,
                feature,
                dim,
            },
        }
    }
}

/// `text` as an f64, exactly as `str::parse` reads it, faster for plain decimals (the bulk of
/// LIBSVM files): `[-]digits[.digits]` with at most 15 significant digits and 22 decimals is
/// `mantissa / 10^decimals`, both exact in f64, and one correctly rounded division is the
/// correctly rounded value (Clinger's fast path). Anything else goes to `str::parse`.
fn parse_f64(text: &str) -> Result<f64, std::num::ParseFloatError> {
    let bytes = text.as_bytes();
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    let mut mantissa: u64 = 0;
    let (mut significant, mut decimals, mut seen_dot, mut any) = (0u32, 0i32, false, false);
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                any = true;
                if mantissa > 0 || b != b'0' {
                    significant += 1;
                }
                mantissa = mantissa * 10 + u64::from(b - b'0');
                if seen_dot {
                    decimals += 1;
                }
                if significant > 15 || decimals > 22 {
                    return text.parse();
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return text.parse(),
        }
    }
    if !any {
        return text.parse();
    }
    const POWERS: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let value = mantissa as f64 / POWERS[decimals as usize];
    Ok(if negative { -value } else { value })
}

/// Turns the parsed rows into a dataset named `name` of the requested layout (`path` is for
/// error messages); a dense matrix of more than `budget` bytes is refused before it is
/// allocated.
pub(crate) fn build(
    p: Parsed,
    name: &str,
    path: &Path,
    opts: &LoadOptions,
    budget: u64,
) -> Result<Dataset, DataError> {
    let rows = p.labels.len();
    if rows == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let cols = opts.dim.unwrap_or(p.max_index);
    let nnz = p.values.len();
    let cells = rows.checked_mul(cols);
    let dense = match opts.layout {
        Layout::Sparse => false,
        Layout::Dense => true,
        Layout::Auto => matches!(cells, Some(c) if c > 0 && nnz as f64 >= 0.5 * c as f64),
    };
    let features = if dense {
        let bytes = cells
            .and_then(|c| c.checked_mul(std::mem::size_of::<f64>()))
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or(DataError::TooLarge { rows, cols })?;
        // The dimension and layout may come from elsewhere (a split order, `--dim`): an
        // allocation the host cannot give would abort the process, not fail.
        if bytes as u64 > budget {
            return Err(DataError::DenseOverMemoryBudget {
                path: path.to_path_buf(),
                rows,
                cols,
                bytes: bytes as u64,
                budget,
            });
        }
        let mut x = Array2::<f64>::zeros((rows, cols));
        for (i, mut row) in x.rows_mut().into_iter().enumerate() {
            for k in p.indptr[i]..p.indptr[i + 1] {
                row[p.indices[k]] = p.values[k];
            }
        }
        Features::Dense(x)
    } else {
        let m = CsMat::try_new((rows, cols), p.indptr, p.indices, p.values)
            .map_err(|(_, _, _, e)| DataError::InvalidMatrix(e.to_string()))?;
        Features::Sparse(m)
    };
    Dataset::new(name, features, Array1::from(p.labels))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::file::{sniff, Compression};
    use crate::data::Rows;
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A unique file in the temporary directory, removed on drop.
    pub(crate) struct TempFile(pub(crate) PathBuf);

    impl TempFile {
        pub(crate) fn new(stem: &str, bytes: &[u8]) -> TempFile {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("async-data-test-{}-{n}-{stem}", std::process::id()));
            std::fs::write(&path, bytes).expect("write temp file");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn load_text(stem: &str, text: &str) -> (TempFile, Result<Dataset, DataError>) {
        let f = TempFile::new(stem, text.as_bytes());
        let r = read_libsvm(&f.0, &LoadOptions::default());
        (f, r)
    }

    /// Asserts that `text` fails at `line` with a message containing every word of `words`.
    fn assert_parse_error(stem: &str, text: &str, line: usize, words: &[&str]) {
        let (f, r) = load_text(stem, text);
        let err = r.expect_err("malformed input must be rejected");
        let msg = err.to_string();
        let name = f.0.file_name().unwrap().to_string_lossy().into_owned();
        assert!(msg.contains(&name), "{msg} does not name the file {name}");
        assert!(
            msg.contains(&format!(":{line}: ")),
            "{msg} does not name line {line}"
        );
        for w in words {
            assert!(msg.contains(w), "{msg} does not contain `{w}`");
        }
        match err {
            DataError::Parse { line: l, .. } => assert_eq!(l, line),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    const GOOD: &str = "+1 1:0.5 3:2\n-1 2:1\n";

    #[test]
    fn an_error_quotes_a_token_escaped_and_short() {
        // Escape sequences that would clear the screen and retitle the terminal.
        let text = "1 1:1\n1 1:\x1b[2J\x1b]0;pwned\x07\n";
        assert_parse_error("escapes", text, 2, &["\\u{1b}[2J", "not a number"]);
        let (_, r) = load_text("escapes", text);
        let message = r.unwrap_err().to_string();
        assert!(!message.chars().any(char::is_control), "{message:?}");
        // A no-break space, which reads as a separator on the screen, is shown as what it is.
        let text = "1 1:1\n1 1:0.5\u{a0}2:1\n";
        assert_parse_error("nbsp", text, 2, &["`0.5\\u{a0}2:1`", "not a number"]);
        // A megabyte token is quoted by its first 40 characters and its length.
        let long = format!("1 1:1\n{}\n", "7".repeat(1 << 20));
        assert_parse_error("long", &long, 2, &["`7777", "...` (1048576 bytes)"]);
        let (_, r) = load_text("long", &long);
        assert!(r.unwrap_err().to_string().len() < 300);
    }

    #[test]
    fn fast_decimals_equal_str_parse_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "0.1",
            "1.",
            ".5",
            "-.5",
            "123456789012345",
            "1234567890123456",
            "0.000000000000000000001",
            "9007199254740993",
            "1e5",
            "-",
            ".",
            "",
            "1.2.3",
            "+1",
            "inf",
            "NaN",
            "0.30000000000000004",
            "00012.5000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..200_000 {
            let int = rng.random_range(0..1_000_000u64);
            let frac = rng.random_range(0..1_000_000_000u64);
            let width = rng.random_range(1..=12usize);
            let sign = if rng.random_bool(0.3) { "-" } else { "" };
            texts.push(format!("{sign}{int}.{frac:0width$}"));
        }
        for text in texts {
            match (parse_f64(&text), text.parse::<f64>()) {
                (Ok(a), Ok(b)) => assert_eq!(a.to_bits(), b.to_bits(), "{text}"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{text}: {a:?} vs {b:?}"),
            }
        }
    }

    #[test]
    fn error_non_numeric_label() {
        assert_parse_error(
            "label.txt",
            &format!("{GOOD}yes 1:1\n"),
            3,
            &["label", "`yes`"],
        );
    }

    #[test]
    fn error_non_numeric_value() {
        assert_parse_error(
            "value.txt",
            &format!("{GOOD}1 1:abc\n"),
            3,
            &["value", "`abc`", "1:abc"],
        );
    }

    #[test]
    fn the_byte_parser_reads_what_the_checked_parser_reads() {
        let opts = LoadOptions::default();
        let lines = [
            "1 1:0.5 3:-2 10:1e-3",
            "-1\t2:0.25  7:0 9:+4 ",
            "+1 4:.5 5:1.",
            "  0.75 1:3.14159265358979 2:1234567890123456789",
            "2",
            "1 1:inf",
            "1 3:1 2:1",
            "1 0:1",
            "1 1:2:3",
            "1 x:1",
            "1 1:2 # a comment",
            "",
            "1 99999999999999999999999:1",
            "2:1 5:0.5",
            " 1:0 3:1e2",
            "qid:4 1:1",
            "1:1 1:2",
            "3:x",
        ];
        let optional = LoadOptions {
            labels: Labels::Optional,
            ..opts
        };
        for (line, opts) in lines
            .iter()
            .flat_map(|line| [(line, &opts), (line, &optional)])
        {
            let (mut fast, mut checked) = (Parsed::new(), Parsed::new());
            let accepted = parse_line(line, opts, &mut fast);
            let expected = parse_checked_line(line, opts, &mut checked);
            assert_eq!(accepted, expected, "{line:?}");
            // By bits: a row without a label reads as NaN.
            let bits = |labels: Vec<f64>| labels.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                (
                    bits(fast.labels),
                    fast.indptr,
                    fast.indices,
                    fast.values,
                    fast.max_index
                ),
                (
                    bits(checked.labels),
                    checked.indptr,
                    checked.indices,
                    checked.values,
                    checked.max_index
                ),
                "{line:?}"
            );
        }
        // The common shapes take the byte path.
        let mut p = Parsed::new();
        assert!(parse_plain_line("-1 2:0.25 7:1", &opts, &mut p));
        assert!(!parse_plain_line("1 1:2 # note", &opts, &mut p));
        assert!(parse_plain_line("2:0.25 7:1", &optional, &mut p));
    }

    #[test]
    fn error_missing_colon() {
        assert_parse_error(
            "colon.txt",
            &format!("{GOOD}1 1:2 7\n"),
            3,
            &["missing `:`", "`7`"],
        );
    }

    #[test]
    fn error_non_integer_index() {
        assert_parse_error(
            "index.txt",
            &format!("{GOOD}\n1 1.5:2\n"),
            4,
            &["index", "`1.5`"],
        );
        assert_parse_error(
            "index2.txt",
            &format!("{GOOD}1 -3:2\n"),
            3,
            &["index", "`-3`"],
        );
    }

    #[test]
    fn error_index_zero() {
        assert_parse_error(
            "zero.txt",
            &format!("{GOOD}1 0:2 1:1\n"),
            3,
            &["index 0", "1-based", "needs every index raised by one"],
        );
    }

    #[test]
    fn error_not_ascending() {
        assert_parse_error(
            "order.txt",
            &format!("{GOOD}1 3:2 2:1\n"),
            3,
            &["ascending", "`2:1`"],
        );
        assert_parse_error(
            "dup.txt",
            &format!("{GOOD}1 2:2 2:1\n"),
            3,
            &["ascending", "`2:1`"],
        );
    }

    #[test]
    fn error_missing_label() {
        assert_parse_error(
            "nolabel.txt",
            &format!("{GOOD}1:1 2:2\n"),
            3,
            &["missing label", "`1:1`"],
        );
    }

    #[test]
    fn lines_ended_by_cr_alone_are_refused_not_read_as_one_row() {
        let words = ["carriage return inside the line", "tr '\\r' '\\n'"];
        assert_parse_error("mac.txt", "# a\n1 1:0.5\r-1 2:1\r", 2, &words);
        // Without labels (predicting) the rows were one row of both features.
        let optional = LoadOptions {
            labels: Labels::Optional,
            ..LoadOptions::default()
        };
        let text = "1:0.5\r2:1\r";
        let err = read_libsvm_from(text.as_bytes(), Path::new("mac.txt"), &optional).unwrap_err();
        assert!(
            err.to_string().contains("mac.txt:1: a carriage return"),
            "{err}"
        );
        // CRLF, a CR before a comment or in it, and a CR at the end are still read.
        let crlf = "1 1:0.5\r\n-1 2:1 \r # x\r y\r\n1 1:1\r";
        assert_eq!(
            read_libsvm_from(crlf.as_bytes(), Path::new("crlf.txt"), &optional)
                .unwrap()
                .n_rows(),
            3
        );
    }

    #[test]
    fn rows_without_labels_are_read_under_optional_labels_only() {
        let labelled = "+1 1:0.5 3:2\n-1 2:1 # note\n\n2 qid:7 1:1\n0\n";
        let unlabelled = "+1 1:0.5 3:2\n2:1 # note\n\nqid:7 1:1\n0\n";
        let optional = LoadOptions {
            labels: Labels::Optional,
            ..LoadOptions::default()
        };
        let read = |text: &str, opts: &LoadOptions| {
            read_libsvm_from(text.as_bytes(), Path::new("rows.txt"), opts)
        };
        let with = read(labelled, &optional).unwrap();
        let without = read(unlabelled, &optional).unwrap();
        // The same rows (the blank line is still none), a NaN where the label is missing.
        assert_eq!(without.n_rows(), 4);
        match (with.features(), without.features()) {
            (Features::Sparse(x), Features::Sparse(y)) => assert_eq!(x, y),
            _ => panic!("both sparse"),
        }
        let labels: Vec<u64> = without.labels().iter().map(|y| y.to_bits()).collect();
        let nan = f64::NAN.to_bits();
        assert_eq!(labels, [1f64.to_bits(), nan, nan, 0f64.to_bits()]);
        // Labels are required by default: the first row without one is named by its line.
        assert_parse_error("unlabelled.txt", unlabelled, 2, &["missing label", "`2:1`"]);
        let err = read(unlabelled, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, DataError::Parse { line: 2, .. }), "{err}");
        // Optional labels still read every other rule.
        let err = read("1:1\n2:1 1:1\n", &optional).unwrap_err().to_string();
        assert!(
            err.contains("rows.txt:2: ") && err.contains("ascending"),
            "{err}"
        );
    }

    #[test]
    fn a_question_mark_is_no_label_under_optional_labels_only() {
        let optional = LoadOptions {
            labels: Labels::Optional,
            ..LoadOptions::default()
        };
        let read = |text: &str, opts: &LoadOptions| {
            read_libsvm_from(text.as_bytes(), Path::new("rows.txt"), opts)
        };
        let marked = read(
            "? 1:0.5 3:2\n-1 2:1\n?\t2:1 # note\n? qid:7 1:1\n",
            &optional,
        )
        .unwrap();
        let unmarked = read("1:0.5 3:2\n-1 2:1\n2:1\nqid:7 1:1\n", &optional).unwrap();
        match (marked.features(), unmarked.features()) {
            (Features::Sparse(x), Features::Sparse(y)) => assert_eq!(x, y),
            _ => panic!("both sparse"),
        }
        let labels: Vec<u64> = marked.labels().iter().map(|y| y.to_bits()).collect();
        let nan = f64::NAN.to_bits();
        assert_eq!(labels, [nan, (-1f64).to_bits(), nan, nan]);
        // Only the bare mark: `?1` or `??` is a label that is no number.
        let err = read("1:1\n?1 1:1\n", &optional).unwrap_err().to_string();
        assert!(err.contains("rows.txt:2: invalid label `?1`"), "{err}");
        // Training and scoring need the label: the mark is refused, naming its line.
        assert_parse_error(
            "marked.txt",
            "1 1:1\n? 1:1\n",
            2,
            &["missing label: `?` marks a row without one, which only predicting reads"],
        );
    }

    #[test]
    fn each_rows_line_number_is_kept_when_asked_on_both_parse_paths() {
        // Lines 2, 7 and 9 are plain (the byte path); 4 (a comment) and 6 (a byte order
        // mark, a query id) take the checked path; 1, 3, 5 and 8 are no rows.
        let text = "# header\n1:0.5 3:2\n\n2:1 # note\n   \n\u{feff}qid:7 1:1\r\n4:1\n# end\n5:2";
        let optional = LoadOptions {
            labels: Labels::Optional,
            ..LoadOptions::default()
        };
        let lines: Vec<&str> = text.split('\n').collect();
        for (line, plain) in [(2, true), (4, false), (6, false), (7, true), (9, true)] {
            let mut p = Parsed::new();
            assert_eq!(
                parse_plain_line(lines[line - 1], &optional, &mut p),
                plain,
                "line {line}"
            );
        }
        let parse = |chunks: Vec<&str>, lines| {
            let (tx, rx) = sync_channel(chunks.len());
            for chunk in chunks {
                tx.send(Ok(chunk.as_bytes().to_vec())).unwrap();
            }
            drop(tx);
            parse_chunks(rx, Path::new("lines.txt"), &optional, u64::MAX, lines).unwrap()
        };
        // Whole, and a block per line: the count runs on across blocks.
        for chunks in [vec![text], text.split_inclusive('\n').collect()] {
            let whole = parse(chunks.clone(), RowLines::Keep);
            assert_eq!(whole.rows.n_rows(), 5);
            assert_eq!(whole.row_lines, [2, 4, 6, 7, 9], "{chunks:?}");
            // Not asked for: none kept.
            assert!(parse(chunks, RowLines::Drop).row_lines.is_empty());
        }
        // From a file, gzip of two members as `cat a.gz b.gz` makes: the same rows and lines.
        let mut gzip = Vec::new();
        for part in [&text[..20], &text[20..]] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(part.as_bytes()).unwrap();
            gzip.extend(e.finish().unwrap());
        }
        for bytes in [text.as_bytes(), &gzip[..]] {
            let f = TempFile::new("numbered.txt", bytes);
            let (data, lines) = Dataset::load_numbered(&f.0, &optional).unwrap();
            assert_eq!(lines, [2, 4, 6, 7, 9]);
            let plain = read_libsvm(&f.0, &optional).unwrap();
            assert_eq!(data.fingerprint(), plain.fingerprint());
        }
    }

    #[test]
    fn a_file_read_whole_knows_its_labels_by_line() {
        let text = "# classes\n1 1:1\n\n0 1:2\n2 2:1\n-1 1:1\n";
        let data =
            read_libsvm_from(text.as_bytes(), Path::new("l.txt"), &LoadOptions::default()).unwrap();
        let seen = data.file_labels().unwrap();
        assert_eq!(
            (seen.one, seen.zero, seen.minus_one, seen.other),
            (true, Some(4), Some(6), Some((5, 2.0)))
        );
        // Rows selected from it are no longer the file.
        assert_eq!(data.select(&[0]).file_labels(), None);
    }

    #[test]
    fn error_non_finite() {
        assert_parse_error(
            "nan.txt",
            &format!("{GOOD}1 1:NaN\n"),
            3,
            &["finite", "`NaN`"],
        );
        assert_parse_error(
            "inf.txt",
            &format!("{GOOD}1 1:1 2:-inf\n"),
            3,
            &["finite", "`-inf`"],
        );
        assert_parse_error(
            "naninf.txt",
            &format!("{GOOD}inf 1:1\n"),
            3,
            &["label", "finite"],
        );
    }

    #[test]
    fn error_index_beyond_forced_dim() {
        let f = TempFile::new("dim.txt", format!("{GOOD}1 4:1\n").as_bytes());
        let opts = LoadOptions {
            dim: Some(3),
            ..LoadOptions::default()
        };
        let msg = read_libsvm(&f.0, &opts).unwrap_err().to_string();
        assert!(msg.contains(":3: ") && msg.contains("dimension 3"), "{msg}");
    }

    #[test]
    fn a_feature_beyond_the_dimension_is_an_error_of_its_own_kind() {
        let opts = LoadOptions {
            dim: Some(7),
            ..LoadOptions::default()
        };
        // Line 4 (a comment line before it), and a plain line as well as one the checked
        // parse reads (a comment after it).
        for (text, index, feature) in [
            (
                "1 1:1\n# note\n-1 2:1\n1 3:1 9:0.5\n1 1:1\n",
                Some(9),
                "9:0.5",
            ),
            ("1 1:1\n\n1 2:1\n-1 8:2 # a note\n", Some(8), "8:2"),
            (
                "1 1:1\n\n1 2:1\n1 99999999999999999999999:1\n",
                None,
                "99999999999999999999999:1",
            ),
        ] {
            let err = read_libsvm_from(text.as_bytes(), Path::new("wide.txt"), &opts).unwrap_err();
            let DataError::BeyondDimension {
                path,
                line,
                index: found,
                feature: written,
                dim,
            } = &err
            else {
                panic!("{text:?}: expected a feature beyond the dimension, got {err:?}");
            };
            assert_eq!(
                (path.as_path(), *line, *found, written.as_str(), *dim),
                (Path::new("wide.txt"), 4, index, feature, 7),
                "{text:?}"
            );
            // The words are those of any parse error: the file, the line, the feature quoted.
            let shown = index.map_or("`99999999999999999999999`".into(), |i| i.to_string());
            assert_eq!(
                err.to_string(),
                format!(
                    "wide.txt:4: index {shown} in feature `{feature}` exceeds the dimension 7 \
                     the data is read with (--dim, or the features of the model that reads it)"
                )
            );
        }
        // A worker's read of a line (its own split) says the same.
        let mut p = Parsed::new();
        let err = parse_file_line(b"1 3:1 12:1", 291, Path::new("w.txt"), &opts, &mut p);
        assert!(
            matches!(
                err,
                Err(DataError::BeyondDimension {
                    line: 291,
                    index: Some(12),
                    dim: 7,
                    ..
                })
            ),
            "{err:?}"
        );
        // Without a dimension, an index beyond the memory budget stays a parse error.
        let text = "1 1:1\n1 4294967296:1\n";
        let err = read_libsvm_from(text.as_bytes(), Path::new("b.txt"), &LoadOptions::default());
        assert!(
            matches!(err, Err(DataError::Parse { line: 2, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn indices_out_of_order_are_named_so_even_when_one_exceeds_the_dimension() {
        // A large index first, then a smaller one: the order is what is wrong. Shared data
        // access reads every row with the dimension its scan inferred from each row's last
        // index, so a message about the dimension (and --dim) would point nowhere.
        for (dim, text) in [
            (Some(2), "1 1:1 2:1\n1 3:1 2:1\n"),
            (Some(2), "1 1:1 2:1\n1 1099511627776:1 2:1\n"),
            (None, "1 1:1 2:1\n1 1099511627776:1 2:1\n"),
        ] {
            let opts = LoadOptions {
                dim,
                ..LoadOptions::default()
            };
            let err = read_libsvm_from(text.as_bytes(), Path::new("order.txt"), &opts)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("order.txt:2: ") && err.contains("strictly ascending"),
                "{text:?}: {err}"
            );
        }
        // An index past any integer is beyond the budget, not "not a non-negative integer".
        let text = "1 1:1\n1 1:1 99999999999999999999999:1\n";
        let err = read_libsvm_from(text.as_bytes(), Path::new("o.txt"), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("o.txt:2: index `99999999999999999999999`")
                && err.contains("exceeds the memory budget"),
            "{err}"
        );
    }

    #[test]
    fn error_invalid_utf8_names_line() {
        let f = TempFile::new("utf8.txt", b"1 1:1\n1 2:1\n1 3:\xff\n");
        let err = read_libsvm(&f.0, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, DataError::Parse { line: 3, .. }), "{err}");
    }

    #[test]
    fn a_feature_beyond_the_memory_budget_is_an_error_not_an_allocation() {
        // 2^32 features would be a 34 GB model: refused at the line, before any allocation.
        let f = TempFile::new("huge.txt", b"1 1:1\n1 4294967296:1\n");
        let err = read_libsvm(&f.0, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, DataError::Parse { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("--max-features"), "{err}");
        let forced = LoadOptions {
            dim: Some(10_000_000_000),
            ..LoadOptions::default()
        };
        let err = read_libsvm(&f.0, &forced).unwrap_err();
        assert!(matches!(err, DataError::TooManyFeatures { .. }), "{err}");
        // Within a raised budget the same file loads (sparse: nothing per feature is held).
        let raised = LoadOptions {
            max_dim: 1 << 33,
            ..LoadOptions::default()
        };
        assert_eq!(read_libsvm(&f.0, &raised).unwrap().dim(), 4_294_967_296);
    }

    #[test]
    fn rows_beyond_the_memory_budget_are_refused_naming_it() {
        // 300,000 rows of one value: 12 MB in memory, from a 2 MB text (or 300 bytes of xz).
        let text = "1 1:1\n".repeat(300_000);
        let parse = |budget: u64| {
            let (tx, rx) = sync_channel(2);
            let text = text.clone();
            std::thread::spawn(move || pump(text.as_bytes(), tx, 1 << 20));
            parse_chunks(
                rx,
                Path::new("bomb.svm"),
                &LoadOptions::default(),
                budget,
                RowLines::Drop,
            )
        };
        let err = parse(4 << 20).map(|w| w.rows.n_rows()).unwrap_err();
        assert!(
            matches!(err, DataError::OverMemoryBudget { budget, .. } if budget == 4 << 20),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with("bomb.svm: its rows up to line"),
            "{message}"
        );
        assert!(message.contains("over the budget of 4 MiB"), "{message}");
        // Within the budget, every row is read.
        assert_eq!(parse(64 << 20).map(|w| w.rows.n_rows()).unwrap(), 300_000);
        assert!(memory_budget() > 0);
    }

    #[test]
    fn a_line_beyond_the_limit_is_an_error_with_its_number() {
        let mut text = b"1 1:1\n-1 2:1\n".to_vec();
        text.extend(std::iter::repeat_n(0u8, 5000));
        let f = TempFile::new("zeros.txt", &text);
        let opts = LoadOptions {
            max_line_bytes: 1024,
            ..LoadOptions::default()
        };
        let err = read_libsvm(&f.0, &opts).unwrap_err();
        assert!(matches!(err, DataError::Parse { line: 3, .. }), "{err}");
        assert!(err.to_string().contains("longer than 1024 bytes"), "{err}");
        // /dev/zero has no end and no line end: the same error, in bounded memory.
        let opts = LoadOptions {
            max_line_bytes: 1 << 20,
            ..LoadOptions::default()
        };
        let err = read_libsvm(Path::new("/dev/zero"), &opts).unwrap_err();
        assert!(matches!(err, DataError::Parse { line: 1, .. }), "{err}");
    }

    /// `text` as an xz stream.
    pub(crate) fn xz(text: &[u8]) -> Vec<u8> {
        let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    /// `text` as an xz stream with 8 bytes in its middle overwritten.
    pub(crate) fn corrupt_xz(text: &[u8]) -> Vec<u8> {
        let mut bytes = xz(text);
        let at = bytes.len() / 2;
        bytes[at..at + 8].copy_from_slice(b"XXXXXXXX");
        bytes
    }

    #[test]
    fn a_corrupt_compressed_file_is_an_io_error_not_a_line_of_it() {
        // xz reports damage as InvalidData, which was taken for the over-long line error
        // and named line 1: the decompressor reads ahead of the parser, so no line is known.
        let text: String = (0..3000)
            .map(|i| format!("{} 1:{} {}:{}.25\n", i % 2, i % 13, 2 + i % 17, i))
            .collect();
        let f = TempFile::new("corrupt.xz", &corrupt_xz(text.as_bytes()));
        let err = read_libsvm(&f.0, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    }

    #[test]
    fn empty_and_missing_files() {
        let (_f, r) = load_text("empty.txt", "\n  \n# only a comment\n");
        assert!(matches!(r, Err(DataError::Empty { .. })));
        let err =
            read_libsvm(Path::new("/nonexistent/x.svm"), &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/x.svm"));
    }

    /// All the traps of real files at once.
    const TRICKY: &str = "# header comment\r\n\
                          +1 1:0.5 3:2 \r\n\
                          -1\r\n\
                          \r\n\
                          2.5\t2:1\t4:-3 # trailing comment\n\
                          -1 1:0 2:4e-1\n\
                          \n";

    fn check_tricky(d: &Dataset) {
        assert_eq!(d.n_rows(), 4);
        assert_eq!(d.dim(), 4);
        assert_eq!(d.nnz(), 5); // the explicit zero `1:0` is not stored
        assert_eq!(d.labels().to_vec(), vec![1.0, -1.0, 2.5, -1.0]);
        let w = Array1::from(vec![1.0, 10.0, 100.0, 1000.0]);
        let dots: Vec<f64> = (0..4).map(|i| d.dot(i, w.view())).collect();
        assert_eq!(dots, vec![200.5, 0.0, 10.0 - 3000.0, 4.0]);
    }

    #[test]
    fn tricky_lines_sparse_and_dense() {
        let f = TempFile::new("tricky.txt", TRICKY.as_bytes());
        for layout in [Layout::Sparse, Layout::Dense, Layout::Auto] {
            let d = read_libsvm(
                &f.0,
                &LoadOptions {
                    layout,
                    ..LoadOptions::default()
                },
            )
            .unwrap();
            // Auto: 5 nonzeros in 4 x 4 is under half, so sparse.
            assert_eq!(d.is_sparse(), layout != Layout::Dense, "{layout:?}");
            check_tricky(&d);
        }
        let d = read_libsvm(
            &f.0,
            &LoadOptions {
                dim: Some(10),
                ..LoadOptions::default()
            },
        )
        .unwrap();
        assert_eq!(d.dim(), 10);
        assert!(d.is_sparse()); // 5 / 40 < 0.5
        assert!(d.name().contains("tricky.txt"));
    }

    #[test]
    fn a_byte_order_mark_and_query_ids_are_read_past() {
        let (_f, r) = load_text(
            "bom-qid.txt",
            "\u{feff}+1 qid:3 1:0.5 3:2\n-1 qid:4 2:1 # comment\n2 1:1\n",
        );
        let d = r.expect("a BOM and qid: are SVMlight");
        assert_eq!(d.labels().to_vec(), vec![1.0, -1.0, 2.0]);
        assert_eq!(d.dim(), 3);
        assert_eq!(d.nnz(), 4);
        assert_parse_error(
            "bad-qid.txt",
            "1 1:1\n1 qid:x 1:1\n",
            2,
            &["query id", "qid:x"],
        );
        // A query id anywhere but right after the label is not one.
        assert_parse_error(
            "late-qid.txt",
            "1 1:1 qid:2\n",
            1,
            &[
                "query id `qid:2` not right after the label",
                "accepted only there",
            ],
        );
        // Files joined with `cat` keep their marks; one inside a line is no mark.
        let (_f, r) = load_text("joined.txt", "\u{feff}1 1:1\n\u{feff}2 1:2\n");
        assert_eq!(r.unwrap().labels().to_vec(), vec![1.0, 2.0]);
        assert_parse_error("mid-bom.txt", "1 \u{feff}1:1\n", 1, &["invalid index"]);
    }

    #[test]
    fn long_lines_cross_chunks() {
        // Rows longer than a chunk and many rows: exercises the block splitting.
        let mut text = String::new();
        let mut expect_nnz = 0;
        for r in 0..3 {
            text.push_str(if r % 2 == 0 { "+1" } else { "-1" });
            let n = if r == 1 { 400_000 } else { 10 };
            for j in 1..=n {
                text.push_str(&format!(" {j}:{}", j % 7 + 1));
            }
            expect_nnz += n;
            text.push('\n');
        }
        for _ in 0..200_000 {
            text.push_str("-1 5:1\n");
        }
        let (_f, r) = load_text("long.txt", &text);
        let d = r.unwrap();
        assert_eq!(d.n_rows(), 200_003);
        assert_eq!(d.dim(), 400_000);
        assert_eq!(d.nnz(), expect_nnz + 200_000);
        assert_eq!(d.label(200_002), -1.0);
    }

    fn compressed_roundtrip(kind: Compression) {
        let plain = TempFile::new("plain.txt", TRICKY.as_bytes());
        let mut bytes = Vec::new();
        match kind {
            Compression::Gzip => {
                // Two gzip members back to back, like `cat a.gz b.gz`.
                let half = TRICKY.len() / 2;
                let cut = TRICKY[..half].rfind('\n').unwrap() + 1;
                for part in [&TRICKY[..cut], &TRICKY[cut..]] {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    e.write_all(part.as_bytes()).unwrap();
                    bytes.extend(e.finish().unwrap());
                }
            }
            Compression::Xz => bytes = xz(TRICKY.as_bytes()),
            Compression::Plain | Compression::Unread(..) => unreachable!(),
        }
        assert_eq!(sniff(&bytes), kind);
        // A misleading extension: the magic bytes decide.
        let packed = TempFile::new("packed.txt", &bytes);
        let opts = LoadOptions::default();
        let a = read_libsvm(&plain.0, &opts).unwrap();
        let b = read_libsvm(&packed.0, &opts).unwrap();
        check_tricky(&b);
        assert_eq!(a.labels(), b.labels());
        match (a.features(), b.features()) {
            (Features::Sparse(x), Features::Sparse(y)) => assert_eq!(x, y),
            (Features::Dense(x), Features::Dense(y)) => assert_eq!(x, y),
            _ => panic!("layouts differ"),
        }
    }

    #[test]
    fn gzip_roundtrip() {
        compressed_roundtrip(Compression::Gzip);
    }

    #[test]
    fn xz_roundtrip() {
        compressed_roundtrip(Compression::Xz);
    }

    #[test]
    fn a_compression_or_encoding_not_read_is_named_with_its_remedy() {
        let bzip2 = b"BZh91AY&SY\x01\x02";
        let zstd = b"\x28\xb5\x2f\xfd\x00\x58";
        let utf16 = b"\xff\xfe1\x00 \x001\x00:\x001\x00\n\x00";
        for (bytes, needle) in [
            (
                &bzip2[..],
                ": a bzip2-compressed file, which is not read (plain UTF-8 text",
            ),
            (&zstd[..], ": a zstd-compressed file, which is not read"),
            (&utf16[..], ": UTF-16 text, which is not read"),
        ] {
            let f = TempFile::new("packed.txt", bytes);
            let err = read_libsvm(&f.0, &LoadOptions::default()).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(needle), "{message}");
            assert!(message.contains("convert it first"), "{message}");
        }
    }

    #[test]
    fn gzip_followed_by_bytes_that_are_not_gzip_is_refused_naming_them() {
        // Was "unexpected end of file": flate2 read the bytes as one more member's header.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(GOOD.as_bytes()).unwrap();
        let mut bytes = e.finish().unwrap();
        let end = bytes.len();
        bytes.extend_from_slice(b"junk\n");
        let f = TempFile::new("junk.gz", &bytes);
        for err in refused_read_and_scanned(&f.0) {
            assert!(matches!(err, DataError::Io { .. }), "{err:?}");
            let message = err.to_string();
            assert!(
                message.contains(&format!(
                    "junk.gz: the gzip data ends at byte {end} and is followed by 5 bytes that \
                     are not gzip"
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn xz_followed_by_bytes_that_are_not_xz_is_refused_naming_them() {
        // Was "lzma data error", or for bytes after stream padding "the xz data stops short
        // ... the file is truncated", though every row had been read.
        let stream = xz(GOOD.as_bytes());
        let end = stream.len();
        for (junk, name) in [
            (&b"junk\n"[..], "junk.xz"),
            (b"\0\0\0\0XYZW", "padded-junk.xz"),
        ] {
            let mut bytes = stream.clone();
            bytes.extend_from_slice(junk);
            let f = TempFile::new(name, &bytes);
            for err in refused_read_and_scanned(&f.0) {
                assert!(matches!(err, DataError::Io { .. }), "{err:?}");
                let message = err.to_string();
                assert!(
                    message.contains(&format!(
                        "{name}: the xz data ends at byte {end} and is followed by {} bytes \
                         that are not xz",
                        junk.len()
                    )),
                    "{message}"
                );
            }
        }
        // Streams one after the other, with the padding xz allows (zeros, 4 at a time),
        // are all read.
        let mut bytes = stream.clone();
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend(xz(GOOD.as_bytes()));
        bytes.extend_from_slice(&[0; 4]);
        let f = TempFile::new("streams.xz", &bytes);
        let data = read_libsvm(&f.0, &LoadOptions::default()).unwrap();
        let once = load_text("once.txt", GOOD).1.unwrap();
        assert_eq!(data.n_rows(), 2 * once.n_rows());
    }

    /// The errors of reading `path` whole and of the shared scan: a file both refuse alike.
    fn refused_read_and_scanned(path: &Path) -> [DataError; 2] {
        let shared = crate::data::SharedOptions {
            load: LoadOptions::default(),
            eval_rows: 10,
            seed: 1,
        };
        [
            read_libsvm(path, &LoadOptions::default()).unwrap_err(),
            Dataset::open_shared(path, &shared).unwrap_err(),
        ]
    }

    /// The number of whole lines a cut-short error says were read, and checks its words.
    fn lines_before_the_cut(message: &str, format: &str) -> usize {
        let lead = format!("the {format} data stops short after ");
        let at = message.find(&lead).unwrap_or_else(|| panic!("{message}"));
        let rest = &message[at + lead.len()..];
        assert!(rest.contains("the file is truncated"), "{message}");
        assert!(rest.contains(&format!("{format} -t FILE")), "{message}");
        rest.split(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn a_truncated_compressed_file_says_it_is_cut_short_and_after_which_line() {
        // Was the decoder's own words ("incomplete deflate stream", "premature eof",
        // "unexpected end of file"), which do not say the file is incomplete.
        let text: String = (0..3000).map(|i| format!("{} 1:{i}.5\n", i % 2)).collect();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        let gz = e.finish().unwrap();
        let xz = xz(text.as_bytes());
        // Cut in the middle, and cut in gzip's trailer, after all the text.
        for (name, format, bytes, whole) in [
            ("half.gz", "gzip", &gz[..gz.len() / 2], None),
            ("trailer.gz", "gzip", &gz[..gz.len() - 4], Some(3000)),
            ("half.xz", "xz", &xz[..xz.len() / 2], None),
            // Cut within the magic bytes: was "invalid UTF-8", read as text.
            ("magic.gz", "gzip", &gz[..1], Some(0)),
            ("magic.xz", "xz", &xz[..4], Some(0)),
        ] {
            let f = TempFile::new(name, bytes);
            for err in refused_read_and_scanned(&f.0) {
                assert!(matches!(err, DataError::Io { .. }), "{err:?}");
                let message = err.to_string();
                assert!(
                    message.starts_with(&format!("{}: ", f.0.display())),
                    "{message}"
                );
                let lines = lines_before_the_cut(&message, format);
                match whole {
                    Some(n) => assert_eq!(lines, n, "{message}"),
                    None => assert!(lines < 3000, "{message}"),
                }
            }
        }
    }

    #[test]
    fn damaged_xz_data_is_said_to_be_damaged() {
        // Was liblzma's "lzma data error" alone, which does not say the file is corrupt.
        let text: String = (0..3000).map(|i| format!("{} 1:{i}.5\n", i % 2)).collect();
        let f = TempFile::new("damaged.xz", &corrupt_xz(text.as_bytes()));
        for err in refused_read_and_scanned(&f.0) {
            assert!(matches!(err, DataError::Io { .. }), "{err:?}");
            let message = err.to_string();
            assert!(
                message.contains("damaged.xz: the xz data is damaged by byte "),
                "{message}"
            );
            assert!(message.contains("xz -t FILE tests a copy"), "{message}");
        }
    }

    #[test]
    fn corrupt_xz_is_an_io_error() {
        let mut bytes = xz(GOOD.repeat(1000).as_bytes());
        let n = bytes.len();
        bytes.truncate(n / 2);
        let f = TempFile::new("broken.xz", &bytes);
        let err = read_libsvm(&f.0, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    }
}
