//! [`Dataset::open_shared`]: the driver's scan of a file every worker can see (rows per
//! grain, lines, the largest feature index, the labels used) and its evaluation sample, which
//! is all the driver reads of the file's rows; the workers read their partitions themselves
//! from the [`SharedFile`] the scan describes.
//!
//! The scan is a newline search over the text, with a glance at each line's first and last
//! token; it holds nothing that grows with the file. A compressed file cannot be read from
//! the middle: the driver decompresses it to scan it (twice: once to learn its length), and
//! each worker decompresses it whole and keeps only its rows.

use std::io::{self, Read};
use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::checksum::Checksummed;
use super::dataset::Dataset;
use super::error::DataError;
use super::file::{self, file_name};
use super::label::LabelRule;
use super::libsvm::{self, index_over_budget};
use super::lines::{line_error, LineReader, LineTooLong};
use super::options::{Layout, LoadOptions};
use super::shared::{LabelValues, SharedFile, SharedOptions};
use super::split::{grain_start, GrainPlan};
use super::text::{self, is_row};

impl Dataset {
    /// Opens a LIBSVM file that every worker can read at the same path: the driver scans it
    /// and reads only an evaluation sample (every row if the file has at most
    /// `options.eval_rows`); the dataset returned holds the sample and stands for the whole
    /// file, whose partitions the workers read themselves when a `reduce!` first needs them.
    pub fn open_shared(
        path: impl AsRef<Path>,
        options: &SharedOptions,
    ) -> Result<Dataset, DataError> {
        Dataset::open_shared_within(path.as_ref(), options, file::memory_budget())
    }

    /// [`Dataset::open_shared`], refusing an evaluation sample that takes more than `budget`
    /// bytes while the file is scanned.
    fn open_shared_within(
        path: &Path,
        options: &SharedOptions,
        budget: u64,
    ) -> Result<Dataset, DataError> {
        // Read two or three times here and from the middle on the workers: a pipe would give
        // its bytes once.
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            return Err(DataError::NotSeekable {
                path: path.to_path_buf(),
            });
        }
        let scan = scan(path, options, budget).map_err(|e| first_error(path, &options.load, e))?;
        let rows = scan.plan.n_rows();
        if rows == 0 {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        let dim = options.load.dim.unwrap_or(scan.max_index);
        if dim > options.load.max_dim {
            return Err(DataError::TooManyFeatures {
                path: path.to_path_buf(),
                dim,
                max: options.load.max_dim,
            });
        }
        let mut load = LoadOptions {
            dim: Some(dim),
            ..options.load
        };
        let sample = if rows <= options.eval_rows as u64 {
            // The lines kept are not needed: the file is read whole.
            drop(scan.sample);
            libsvm::read_libsvm(path, &load)
        } else {
            parse_sample(path, scan.sample, &load)
        }
        .map_err(|e| first_error(path, &options.load, e))?;
        load.layout = if sample.is_sparse() {
            Layout::Sparse
        } else {
            Layout::Dense
        };
        Ok(sample.with_origin(SharedFile {
            path: path.to_path_buf(),
            name: file_name(path),
            plan: scan.plan,
            grain_sums: scan.grain_sums,
            label_values: scan.label_values,
            options: load,
            compressed: scan.compressed,
            labels: LabelRule::Any,
            bias: None,
            file_bytes: scan.file_bytes,
        }))
    }
}

/// What the driver learns of a file by scanning it.
struct Scan {
    plan: GrainPlan,
    grain_sums: Vec<u32>,
    label_values: LabelValues,
    max_index: usize,
    compressed: bool,
    /// The file's length on disk when the scan began.
    file_bytes: u64,
    /// The evaluation sample's lines (when the file has more rows than it).
    sample: Reservoir,
}

/// A uniform sample of `capacity` rows of a stream of unknown length (Vitter's algorithm R,
/// drawn from a seeded generator): each row is kept with probability `capacity / rows seen`.
struct Reservoir {
    capacity: usize,
    rng: ChaCha8Rng,
    /// Per kept row: its index among the rows, its 1-based line number, its text.
    kept: Vec<(u64, usize, Vec<u8>)>,
    /// Bytes the kept rows hold: their entries and their texts' buffers.
    held: u64,
}

impl Reservoir {
    fn new(capacity: usize, seed: u64) -> Reservoir {
        let kept = Vec::with_capacity(capacity.min(1 << 12));
        Reservoir {
            capacity,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5a3b_1e5a_3b1e),
            held: Self::entries_bytes(&kept),
            kept,
        }
    }

    /// Bytes of the entries `kept` has room for (their texts aside).
    fn entries_bytes(kept: &Vec<(u64, usize, Vec<u8>)>) -> u64 {
        (kept.capacity() * std::mem::size_of::<(u64, usize, Vec<u8>)>()) as u64
    }

    /// Offers row `row` (the `row`-th data row, from 0).
    fn offer(&mut self, row: u64, line_no: usize, line: &[u8]) {
        use rand::Rng;
        if self.kept.len() < self.capacity {
            self.held -= Self::entries_bytes(&self.kept);
            self.kept.push((row, line_no, line.to_vec()));
            self.held += Self::entries_bytes(&self.kept) + line.len() as u64;
            return;
        }
        let slot = self.rng.random_range(0..=row) as usize;
        if let Some(kept) = self.kept.get_mut(slot) {
            kept.0 = row;
            kept.1 = line_no;
            self.held -= kept.2.capacity() as u64;
            kept.2.clear();
            kept.2.extend_from_slice(line);
            self.held += kept.2.capacity() as u64;
        }
    }
}

/// A row's first token, its label (a comment is no part of it, as the reader reads it).
fn first_token(line: &[u8]) -> &[u8] {
    let line = text::content(line);
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let len = line[start..]
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(line.len() - start);
    &line[start..start + len]
}

/// The index of a row's last feature (its largest in a valid row), if it has one that reads.
fn last_index(line: &[u8]) -> Option<(usize, &[u8])> {
    // A byte order mark precedes a label, never a valid row's last feature: the line is cut
    // at its comment only, as it always was.
    let content = text::before_comment(line);
    let end = content.iter().rposition(|b| !b.is_ascii_whitespace())? + 1;
    let start = content[..end]
        .iter()
        .rposition(|b| b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    let token = &content[start..end];
    let colon = memchr::memchr(b':', token)?;
    match std::str::from_utf8(&token[..colon]).ok()?.parse::<usize>() {
        Ok(index) => Some((index, token)),
        // All digits, more than any memory holds: beyond every budget.
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Some((usize::MAX, token)),
        Err(_) => None,
    }
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> DataError + '_ {
    move |error| DataError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The length of a compressed file's text, read through once. A line longer than `max_line`
/// ends the read at once, at its line: a small file that decompresses to gigabytes without a
/// line end (a bomb) is refused as soon as the reader would refuse it, not after all of it.
fn decompressed_len(path: &Path, max_line: usize) -> Result<u64, DataError> {
    let mut reader = file::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let (mut total, mut line_len, mut line_no) = (0u64, 0usize, 1usize);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(path)(e)),
        };
        let mut rest = &buf[..n];
        loop {
            let end = memchr::memchr(b'\n', rest);
            line_len = line_len.saturating_add(end.unwrap_or(rest.len()));
            if line_len > max_line {
                return Err(line_error(path, line_no, LineTooLong::error(max_line)));
            }
            let Some(end) = end else { break };
            (line_len, line_no, rest) = (0, line_no + 1, &rest[end + 1..]);
        }
        total += n as u64;
    }
}

/// Scans the file, refusing an evaluation sample whose lines take more than `budget` bytes.
fn scan(path: &Path, options: &SharedOptions, budget: u64) -> Result<Scan, DataError> {
    let compressed = file::is_compressed(path)?;
    let file_bytes = std::fs::metadata(path).map_err(io_error(path))?.len();
    let total = if compressed {
        decompressed_len(path, options.load.max_line_bytes)?
    } else {
        file_bytes
    };
    let mut plan = GrainPlan::new(total, true);
    let mut max_index = 0;
    let mut label_values = LabelValues::default();
    let mut sample = Reservoir::new(options.eval_rows, options.seed);
    let count = plan.rows.len() as u64;
    let grains = (0..count).map(|g| grain_start(g, count, total)..grain_start(g + 1, count, total));
    let mut text = Checksummed::new(file::open(path)?, 0, grains.collect());
    let mut lines = LineReader::new(&mut text, 0, options.load.max_line_bytes);
    let (mut line_no, mut rows) = (0usize, 0u64);
    loop {
        let next = lines
            .next_line()
            .map_err(|e| line_error(path, line_no + 1, e))?;
        let Some((offset, line)) = next else { break };
        line_no += 1;
        if offset >= total {
            // The file grew while it was read: its length decides, as the workers' reads will.
            break;
        }
        let row = is_row(line);
        if row {
            let (index, token) = last_index(line).unwrap_or((0, b""));
            if index > options.load.max_dim && options.load.dim.is_none() {
                // The parser's words: the driver's scan and a read of the whole file agree.
                let token = String::from_utf8_lossy(token);
                let shown = match index {
                    // All digits, as the parser quotes them.
                    usize::MAX => format!("`{}`", token.split(':').next().unwrap_or_default()),
                    _ => index.to_string(),
                };
                return Err(DataError::Parse {
                    path: path.to_path_buf(),
                    line: line_no,
                    message: index_over_budget(&shown, &token, options.load.max_dim),
                });
            }
            max_index = max_index.max(index);
            label_values.see(first_token(line), line_no);
            sample.offer(rows, line_no, line);
            if sample.held > budget {
                // The driver holds the sample's lines as it scans: a sample of every row of
                // a large file must not grow until the host kills the process.
                return Err(DataError::SampleOverMemoryBudget {
                    path: path.to_path_buf(),
                    line: line_no,
                    eval_rows: options.eval_rows,
                    held: sample.held,
                    budget,
                });
            }
            rows += 1;
        }
        plan.count(offset, row);
    }
    drop(lines);
    Ok(Scan {
        plan,
        grain_sums: text.sums(),
        label_values,
        max_index,
        compressed,
        file_bytes,
        sample,
    })
}

/// The error a read of the whole file (`--data-access ship`) reports first, for `found`, an
/// error of the scan or the sample at a line: a line before it may break a rule that only
/// the full parse checks (the scan reads each row's last index, the sample holds some rows),
/// and both paths must name the same first bad line, in the same words. The lines up to
/// `found`'s are parsed again, which costs a read of them on a refusal only: the scan stays
/// a newline search.
fn first_error(path: &Path, load: &LoadOptions, found: DataError) -> DataError {
    let Some(at) = found.line() else {
        return found;
    };
    let Ok(reader) = file::open(path) else {
        return found;
    };
    // A line over the limit (an error of the reader), which a whole read refuses unparsed,
    // is `found`'s own.
    libsvm::first_bad_line(reader, path, load, at).unwrap_or(found)
}

/// The sampled rows, in file order, as a dataset; a malformed one is named by its line in
/// the file.
fn parse_sample(path: &Path, sample: Reservoir, load: &LoadOptions) -> Result<Dataset, DataError> {
    let mut kept = sample.kept;
    kept.sort_unstable_by_key(|k| k.0);
    let mut text = Vec::with_capacity(kept.iter().map(|k| k.2.len() + 1).sum());
    let mut line_numbers = Vec::with_capacity(kept.len());
    for (_, line_no, line) in kept {
        text.extend_from_slice(&line);
        text.push(b'\n');
        line_numbers.push(line_no);
    }
    libsvm::read_libsvm_from(io::Cursor::new(text), path, load).map_err(|mut e| {
        if let DataError::Parse { line, .. } | DataError::BeyondDimension { line, .. } = &mut e {
            *line = line_numbers.get(*line - 1).copied().unwrap_or(*line);
        }
        e
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::libsvm::tests::TempFile;

    #[test]
    fn an_evaluation_sample_beyond_the_memory_budget_is_refused_naming_eval_rows() {
        // 20,000 rows of about 40 bytes: a sample of every row holds about 1.6 MB.
        let text: String = (0..20_000)
            .map(|i| format!("{} 1:{}.5 7:{}.25\n", i % 2, i, 2 * i))
            .collect();
        let f = TempFile::new("sample", text.as_bytes());
        let options = |eval_rows| SharedOptions {
            load: LoadOptions::default(),
            eval_rows,
            seed: 3,
        };
        let error = Dataset::open_shared_within(&f.0, &options(usize::MAX), 1 << 20)
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(error, DataError::SampleOverMemoryBudget { budget, .. } if budget == 1 << 20),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.contains(&format!("--eval-rows {} rows", usize::MAX))
                && message.contains("over the budget of 1 MiB")
                && message.ends_with("lower --eval-rows"),
            "{message}"
        );
        // A sample of 1,000 rows fits the same budget, as does the whole file in a larger one.
        let sample = Dataset::open_shared_within(&f.0, &options(1_000), 1 << 20).unwrap();
        assert_eq!((sample.n_rows(), sample.full_rows()), (1_000, 20_000));
        let whole = Dataset::open_shared_within(&f.0, &options(usize::MAX), 8 << 20).unwrap();
        assert_eq!(whole.n_rows(), 20_000);
    }

    #[test]
    fn an_index_beyond_the_budget_is_refused_in_the_words_of_a_whole_read() {
        let options = SharedOptions {
            load: LoadOptions::default(),
            eval_rows: 10,
            seed: 3,
        };
        for huge in ["1000000000000", "99999999999999999999999"] {
            let text = format!("1 1:0.5\n# note\n-1 2:1 {huge}:1\n1 3:1\n");
            let f = TempFile::new("huge", text.as_bytes());
            let scanned = Dataset::open_shared(&f.0, &options)
                .map(|_| ())
                .unwrap_err();
            let read = libsvm::read_libsvm(&f.0, &options.load).unwrap_err();
            assert_eq!(scanned.to_string(), read.to_string());
            assert!(scanned.to_string().contains(":3: index "), "{scanned}");
        }
    }

    #[test]
    fn the_first_bad_line_is_named_as_a_whole_read_names_it() {
        // Line 2 breaks a rule only a full parse checks (its last index reads); line 4's last
        // index is beyond the budget, which the scan sees: the scan named line 4.
        let options = |eval_rows| SharedOptions {
            load: LoadOptions::default(),
            eval_rows,
            seed: 3,
        };
        let text = "1 1:1\n1 abc:1 2:1\n1 3:1\n-1 1000000000000:1\n";
        // Every row but line 2 bad in another way: a sample of 10 rows, which holds
        // other bad rows, named its first (the sample's draw is seeded: line 2 is not in it).
        let mut sampled = "1 1:1\n1 1:x\n".to_owned();
        sampled.extend((0..100).map(|_| "1 1:y\n"));
        for (text, eval_rows, words) in [
            (text.to_owned(), 10, ":2: invalid index `abc`"),
            (sampled, 10, ":2: invalid value `x`"),
        ] {
            let f = TempFile::new("two-errors", text.as_bytes());
            let read = libsvm::read_libsvm(&f.0, &LoadOptions::default()).unwrap_err();
            let scanned = Dataset::open_shared(&f.0, &options(eval_rows))
                .map(|_| ())
                .unwrap_err();
            assert_eq!(scanned.to_string(), read.to_string());
            assert!(scanned.to_string().contains(words), "{scanned}");
        }
    }

    #[test]
    fn a_late_query_id_is_named_as_one_by_the_scan_and_by_a_whole_read() {
        // `qid:` after a feature was refused as an invalid index `qid`, as if a feature broke.
        let options = SharedOptions {
            load: LoadOptions::default(),
            eval_rows: 10,
            seed: 3,
        };
        let f = TempFile::new("late-qid", b"1 1:1\n1 1:0.5 qid:3\n");
        let read = libsvm::read_libsvm(&f.0, &options.load).unwrap_err();
        let scanned = Dataset::open_shared(&f.0, &options)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(scanned.to_string(), read.to_string());
        assert!(
            scanned
                .to_string()
                .contains(":2: query id `qid:3` not right after the label"),
            "{scanned}"
        );
    }

    #[test]
    fn a_samples_fingerprint_changes_with_a_row_outside_the_sample() {
        // The fingerprint names the data a checkpoint was taken on: a file changed in a row
        // the evaluation sample does not hold was resumed onto silently. One row is sampled,
        // so at least two of the three changed rows lie outside it.
        let rows = |changed: Option<usize>| -> String {
            (0..50)
                .map(|i| match changed == Some(i) {
                    true => "3 1:0.5\n",
                    false => "1 1:0.5\n",
                })
                .collect()
        };
        let options = SharedOptions {
            load: LoadOptions::default(),
            eval_rows: 1,
            seed: 3,
        };
        let fingerprint = |text: String| {
            let f = TempFile::new("sample-fingerprint", text.as_bytes());
            Dataset::open_shared_within(&f.0, &options, 1 << 20)
                .unwrap()
                .fingerprint()
        };
        let original = fingerprint(rows(None));
        assert_eq!(
            original,
            fingerprint(rows(None)),
            "the same file, the same name"
        );
        for changed in [0, 25, 49] {
            assert_ne!(
                original,
                fingerprint(rows(Some(changed))),
                "row {changed} changed"
            );
        }
    }

    #[test]
    fn a_label_is_the_first_token_before_any_comment() {
        // A comment glued to the label is no part of it.
        assert_eq!(first_token(b" 0#note 3:1"), b"0");
        assert_eq!(first_token(b"\xef\xbb\xbf-1 2:1"), b"-1");
    }
}
