//! The worker's side of a shared file: [`read_split`] reads one partition's blocks itself.
//!
//! A plain file is read block by block: a block starting mid-line first skips to the next
//! line start (reading from the byte before the block, so that a line starting exactly at the
//! block's first byte is kept), then owns every line that starts inside it, reading past its
//! end to finish the last one. A compressed file is decompressed whole and only the lines
//! starting inside the partition's blocks are kept.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::checksum::Checksummed;
use super::error::DataError;
use super::file::{self, within_budget};
use super::libsvm::{self, parse_file_line, Parsed};
use super::lines::{line_error, LineReader};
use super::partition::Partition;
use super::shared::SplitOrder;
use super::split::Block;
use super::text::is_row;

/// Reads the partition `order` describes from its file, within the host's
/// [`memory_budget`](file::memory_budget). The file is opened by its name: a worker reading
/// a driver's order opens it through its allow-list and reads the file it opened.
pub fn read_split(order: &SplitOrder) -> Result<Partition, DataError> {
    read_split_within(order, file::memory_budget())
}

/// [`read_split`], refusing rows that take more than `budget` bytes.
pub(crate) fn read_split_within(order: &SplitOrder, budget: u64) -> Result<Partition, DataError> {
    let file = File::open(&order.path).map_err(|error| DataError::Io {
        path: order.path.clone(),
        error,
    })?;
    read_from(order, file, budget)
}

/// [`read_split`] from `file`, the order's file opened already: it alone is read.
pub(crate) fn read_opened(order: &SplitOrder, file: File) -> Result<Partition, DataError> {
    read_from(order, file, file::memory_budget())
}

/// Reads `order`'s split from `file`, refusing rows that take more than `budget` bytes. A
/// line it cannot read is named as the first of the file that a whole read cannot: several
/// splits (read by several workers, whichever reports first) may each hold a bad line, and
/// the one named must not depend on which, nor differ from `--data-access ship`'s.
fn read_from(order: &SplitOrder, file: File, budget: u64) -> Result<Partition, DataError> {
    let again = file.try_clone();
    read_rows(order, file, budget).map_err(|found| first_in_file(order, again, found))
}

/// `found`, an error of `order`'s split at a line, as the first bad line of the file before
/// it (read again from `file`, the very file the split was read from) or itself.
fn first_in_file(order: &SplitOrder, file: std::io::Result<File>, found: DataError) -> DataError {
    let Some(at) = found.line() else {
        return found;
    };
    let Ok(mut file) = file else {
        return found;
    };
    if file.seek(SeekFrom::Start(0)).is_err() {
        return found;
    }
    let Ok(reader) = file::decoded(file, &order.path) else {
        return found;
    };
    let text = reader.take(order.text_bytes);
    libsvm::first_bad_line(text, &order.path, &order.options, at).unwrap_or(found)
}

/// [`read_from`], naming the split's own first bad line.
fn read_rows(order: &SplitOrder, mut file: File, budget: u64) -> Result<Partition, DataError> {
    let path = order.path.as_path();
    check_order(order)?;
    if order.checksums.len() != order.blocks.len() {
        // Every block is checked: an order without its sums is not read unchecked.
        return Err(DataError::DimensionMismatch {
            what: "checksums vs blocks of a split order".into(),
            expected: order.blocks.len(),
            found: order.checksums.len(),
        });
    }
    // Rows found per block, then all the rows in the partition's order.
    let (found, rows, sums) = if order.compressed {
        let (parts, sums) = read_whole(order, file, budget)?;
        let found: Vec<usize> = parts.iter().map(Parsed::n_rows).collect();
        let mut rows = Parsed::new();
        for parsed in parts {
            rows.append(parsed);
        }
        (found, rows, sums)
    } else {
        let mut rows = Parsed::new();
        let mut found = Vec::with_capacity(order.blocks.len());
        let mut sums = Vec::with_capacity(order.blocks.len());
        for (block, &expected) in order.blocks.iter().zip(&order.checksums) {
            let before = rows.n_rows();
            let (sum, lines_end) = read_block(&mut file, block, expected, order, &mut rows)?;
            within_budget(rows.held_bytes(), budget, path, lines_end)?;
            sums.push(sum);
            found.push(rows.n_rows() - before);
        }
        (found, rows, sums)
    };
    for ((block, &sum), &expected) in order.blocks.iter().zip(&sums).zip(&order.checksums) {
        if sum != expected {
            return Err(DataError::ContentMismatch {
                path: path.to_path_buf(),
                start: block.bytes.start,
                end: block.bytes.end,
            });
        }
    }
    let mut global_ids = Vec::with_capacity(rows.n_rows());
    for (block, &found) in order.blocks.iter().zip(&found) {
        let expected = block.rows.end - block.rows.start;
        if found as u64 != expected {
            return Err(DataError::SplitMismatch {
                path: path.to_path_buf(),
                start: block.bytes.start,
                end: block.bytes.end,
                expected,
                found: found as u64,
            });
        }
        global_ids.extend(block.rows.clone());
    }
    let mut data = libsvm::build(rows, &order.name, path, &order.options, budget)?;
    if order.labels != super::label::LabelRule::Any {
        data = data.with_labels(order.labels).map_err(|e| match e {
            // The row named is the file's, not the partition's.
            DataError::Label {
                name,
                row,
                label,
                rule,
            } => DataError::Label {
                name,
                row: global_ids[row as usize - 1] + 1,
                label,
                rule,
            },
            other => other,
        })?;
    }
    if let Some(value) = order.bias {
        data = data.with_bias(value);
    }
    Partition::new(order.partition, order.seed, data, global_ids)
}

/// Refuses an order whose blocks no scan can have cut: a row or byte range ending before it
/// starts, bytes past the text, a first line past any the text can hold. The reader then
/// counts rows and lines without overflow.
fn check_order(order: &SplitOrder) -> Result<(), DataError> {
    let bad = |reason: String| DataError::BadSplitOrder {
        path: order.path.clone(),
        partition: order.partition,
        reason,
    };
    for (i, block) in order.blocks.iter().enumerate() {
        let (rows, bytes) = (&block.rows, &block.bytes);
        if rows.end < rows.start {
            return Err(bad(format!(
                "block {i} has rows {}..{}, which end before they start",
                rows.start, rows.end
            )));
        }
        if bytes.end < bytes.start || bytes.end > order.text_bytes {
            return Err(bad(format!(
                "block {i} has bytes {}..{}, not a range of the text's {} bytes",
                bytes.start, bytes.end, order.text_bytes
            )));
        }
        // A text of n bytes holds at most n + 1 lines.
        if block.first_line > order.text_bytes.saturating_add(1) {
            return Err(bad(format!(
                "block {i} starts at line {}, past any line of the text's {} bytes",
                block.first_line, order.text_bytes
            )));
        }
    }
    Ok(())
}

/// Reads the rows of one block of a plain file into `parsed`; the CRC-32 of its bytes and the
/// number of the last line it read. A line it cannot read is blamed on a copy that differs
/// from the driver's, when the block's bytes do (`expected` is their driver's CRC-32).
fn read_block(
    file: &mut File,
    block: &Block,
    expected: u32,
    order: &SplitOrder,
    parsed: &mut Parsed,
) -> Result<(u32, usize), DataError> {
    let path = order.path.as_path();
    let io = |error| DataError::Io {
        path: path.to_path_buf(),
        error,
    };
    let from = block.bytes.start.saturating_sub(1);
    file.seek(SeekFrom::Start(from)).map_err(io)?;
    let scanned = (&mut *file).take(order.text_bytes.saturating_sub(from));
    let mut text = Checksummed::new(scanned, from, vec![block.bytes.clone()]);
    let lines = LineReader::new(&mut text, from, order.options.max_line_bytes);
    match read_block_lines(lines, block, order, parsed) {
        // The line starting past the block was read, or the text ended: every byte of the
        // block went through the checksum.
        Ok(last_line) => Ok((text.sums()[0], last_line)),
        Err(error) => Err(changed_copy_first(
            error,
            &mut text,
            &[block],
            &[expected],
            path,
        )),
    }
}

/// The lines of `block` parsed into `parsed`, and the number of the last one.
fn read_block_lines<R: Read>(
    mut lines: LineReader<R>,
    block: &Block,
    order: &SplitOrder,
    parsed: &mut Parsed,
) -> Result<usize, DataError> {
    let path = order.path.as_path();
    if block.bytes.start > 0 {
        // The rest of the line that runs into the block belongs to the block before (just
        // the line end before the block's first byte, when a line starts exactly there).
        // Over the limit, it is the line before the block's first that is named.
        let before = (block.first_line as usize).saturating_sub(1);
        lines.next_line().map_err(|e| line_error(path, before, e))?;
    }
    let mut line_no = block.first_line as usize;
    loop {
        let next = lines
            .next_line()
            .map_err(|e| line_error(path, line_no, e))?;
        let Some((offset, line)) = next else { break };
        if offset >= block.bytes.end {
            break;
        }
        parse(line, line_no, path, order, parsed)?;
        line_no += 1;
    }
    Ok(line_no.saturating_sub(1))
}

/// The error of a split read that stopped at a line of `text`, unless the bytes of its
/// `blocks` (read on to their end) differ from the driver's (`expected`, block by block):
/// then the copy is at fault, not the line. A file changed since the driver's scan has its
/// lines off the blocks' bounds, and a valid line read from its middle does not parse; the
/// copy that differs is what a worker must say (and the driver, reading the split itself).
fn changed_copy_first<R: Read>(
    error: DataError,
    text: &mut Checksummed<R>,
    blocks: &[&Block],
    expected: &[u32],
    path: &Path,
) -> DataError {
    // A read or decompression error is not the text's, and the rest cannot be read anyway;
    // rows over the memory budget are refused at once, whatever their bytes.
    let about_the_text = !matches!(
        error,
        DataError::Io { .. } | DataError::OverMemoryBudget { .. }
    );
    if !about_the_text || text.read_to_ranges_end().is_err() {
        return error;
    }
    for ((block, sum), &expected) in blocks.iter().zip(text.sums()).zip(expected) {
        if sum != expected {
            return DataError::ContentMismatch {
                path: path.to_path_buf(),
                start: block.bytes.start,
                end: block.bytes.end,
            };
        }
    }
    error
}

/// The rows of each block of the partition, from the whole decompressed text, and the CRC-32
/// of each block's bytes.
fn read_whole(
    order: &SplitOrder,
    file: File,
    budget: u64,
) -> Result<(Vec<Parsed>, Vec<u32>), DataError> {
    let path = order.path.as_path();
    // The blocks by position in the text, to find the one a line starts in.
    let mut by_start: Vec<(usize, &Block)> = order.blocks.iter().enumerate().collect();
    by_start.sort_by_key(|(_, b)| b.bytes.start);
    let mut parts: Vec<Parsed> = order.blocks.iter().map(|_| Parsed::new()).collect();
    let reader: Box<dyn Read + Send> = file::decoded(file, path)?;
    let ranges = by_start.iter().map(|(_, b)| b.bytes.clone()).collect();
    let mut text = Checksummed::new(reader.take(order.text_bytes), 0, ranges);
    let lines = LineReader::new(&mut text, 0, order.options.max_line_bytes);
    if let Err(error) = read_whole_lines(lines, &by_start, order, budget, &mut parts) {
        let blocks: Vec<&Block> = by_start.iter().map(|(_, b)| *b).collect();
        let expected: Vec<u32> = by_start.iter().map(|(i, _)| order.checksums[*i]).collect();
        return Err(changed_copy_first(
            error, &mut text, &blocks, &expected, path,
        ));
    }
    let mut sums = vec![0; parts.len()];
    for ((index, _), sum) in by_start.iter().zip(text.sums()) {
        sums[*index] = sum;
    }
    Ok((parts, sums))
}

/// The lines of the whole text that start in a block, parsed into that block's `parts`
/// (`by_start`: the blocks by position, with their index in the order).
fn read_whole_lines<R: Read>(
    mut lines: LineReader<R>,
    by_start: &[(usize, &Block)],
    order: &SplitOrder,
    budget: u64,
    parts: &mut [Parsed],
) -> Result<(), DataError> {
    let path = order.path.as_path();
    let mut line_no = 0usize;
    loop {
        let next = lines
            .next_line()
            .map_err(|e| line_error(path, line_no + 1, e))?;
        let Some((offset, line)) = next else { break };
        line_no += 1;
        let k = by_start.partition_point(|(_, b)| b.bytes.start <= offset);
        if k == 0 {
            continue;
        }
        let (index, block) = by_start[k - 1];
        if offset < block.bytes.end {
            parse(line, line_no, path, order, &mut parts[index])?;
        }
        // A small compressed file can hold billions of rows: their memory is looked at every
        // 4,096 lines, not per line.
        if line_no.is_multiple_of(1 << 12) {
            let held = parts.iter().map(Parsed::held_bytes).sum();
            within_budget(held, budget, path, line_no)?;
        }
    }
    Ok(())
}

fn parse(
    line: &[u8],
    line_no: usize,
    path: &Path,
    order: &SplitOrder,
    into: &mut Parsed,
) -> Result<(), DataError> {
    // A comment line is skipped only as valid UTF-8, as the driver's reader (which shipping
    // uses) checks the whole text: the same file is refused whichever way it is read.
    if !is_row(line) && std::str::from_utf8(line).is_ok() {
        return Ok(());
    }
    parse_file_line(line, line_no, path, &order.options, into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::libsvm::tests::TempFile;
    use crate::data::{partition_dataset, Dataset, LabelRule, LoadOptions, SharedOptions};

    /// a9a as a plain text file.
    fn plain_a9a() -> TempFile {
        let mut text = Vec::new();
        file::open(&test_support::data("a9a.xz"))
            .and_then(|mut r| {
                r.read_to_end(&mut text).map_err(|e| DataError::Io {
                    path: "a9a.xz".into(),
                    error: e,
                })
            })
            .unwrap();
        TempFile::new("a9a", &text)
    }

    fn shared(path: &Path, eval_rows: usize) -> Dataset {
        let options = SharedOptions {
            load: LoadOptions::default(),
            eval_rows,
            seed: 3,
        };
        Dataset::open_shared(path, &options).unwrap()
    }

    /// The rows of a partition, layout aside: global ids and a fingerprint of the values.
    fn content(p: &Partition) -> (Vec<u64>, String) {
        (p.global_ids().to_vec(), p.data().to_sparse().fingerprint())
    }

    #[test]
    fn own_splits_equal_the_drivers_partitions_row_for_row_on_a9a() {
        let plain = plain_a9a();
        let whole = Dataset::load(&plain.0, &LoadOptions::default()).unwrap();
        let packed = Dataset::load(test_support::data("a9a.xz"), &LoadOptions::default()).unwrap();
        // The driver reads a sample of 1,000 rows only, or all of them.
        for eval_rows in [1_000, 100_000] {
            let own = shared(&plain.0, eval_rows);
            assert_eq!(own.n_rows(), eval_rows.min(32_561));
            assert_eq!((own.full_rows(), own.dim()), (32_561, 123));
            for (parts, seed) in [(8, 7), (3, 11)] {
                let driver = partition_dataset(&whole, parts, seed).unwrap();
                let from_xz = partition_dataset(&packed, parts, seed).unwrap();
                let orders = own.origin().unwrap().orders(parts, seed).unwrap();
                assert_eq!(orders.len(), parts);
                for (p, (rows, order)) in orders.iter().enumerate() {
                    let read = read_split(order).unwrap();
                    assert_eq!(content(&read), content(&driver[p]), "partition {p}");
                    assert_eq!(content(&from_xz[p]), content(&driver[p]));
                    assert_eq!(rows.iter().collect::<Vec<_>>(), driver[p].global_ids());
                    assert_eq!((read.id(), read.seed()), (p as u32, seed));
                    assert_eq!(read.data().is_sparse(), whole.is_sparse());
                }
            }
        }
    }

    #[test]
    fn a_split_beyond_the_memory_budget_is_refused_plain_or_compressed() {
        let plain = plain_a9a();
        for path in [plain.0.clone(), test_support::data("a9a.xz")] {
            let own = shared(&path, 500);
            let orders = own.origin().unwrap().orders(2, 5).unwrap();
            let order = &orders[0].1;
            // Half of a9a holds about 3.5 MB of rows: over 1 MiB, under 64 MiB.
            let error = read_split_within(order, 1 << 20).map(|_| ()).unwrap_err();
            assert!(
                matches!(error, DataError::OverMemoryBudget { budget, .. } if budget == 1 << 20),
                "{}: {error}",
                path.display()
            );
            assert!(read_split_within(order, 64 << 20).is_ok());
        }
    }

    #[test]
    fn a_malformed_order_is_refused_naming_it_not_a_panic() {
        let plain = plain_a9a();
        for path in [plain.0.clone(), test_support::data("a9a.xz")] {
            let own = shared(&path, 500);
            let orders = own.origin().unwrap().orders(2, 5).unwrap();
            let good = &orders[1].1;
            let text_bytes = good.text_bytes;
            // Each case spoils a block of a good order (given the text's bytes).
            type Spoil = fn(&mut Block, u64);
            let cases: [(Spoil, &str); 4] = [
                (|b, _| b.rows = b.rows.end..b.rows.start, "rows"),
                (|b, _| b.bytes = b.bytes.end..b.bytes.start, "bytes"),
                (|b, total| b.bytes.end = total + 1, "bytes"),
                (|b, _| b.first_line = u64::MAX, "line"),
            ];
            for (spoil, what) in cases {
                let mut order = good.clone();
                spoil(&mut order.blocks[3], text_bytes);
                let error = read_split(&order).map(|_| ()).unwrap_err();
                let message = error.to_string();
                assert!(
                    matches!(error, DataError::BadSplitOrder { partition: 1, .. }),
                    "{}: {message}",
                    path.display()
                );
                assert!(
                    message.contains("split order for partition 1 is malformed: block 3")
                        && message.contains(what),
                    "{message}"
                );
            }
        }
    }

    #[test]
    fn a_dense_split_beyond_the_memory_budget_is_refused_before_it_is_allocated() {
        let plain = plain_a9a();
        let own = shared(&plain.0, 500);
        let orders = own.origin().unwrap().orders(4, 5).unwrap();
        let mut order = orders[0].1.clone();
        order.options.layout = crate::data::Layout::Dense;
        // A quarter of a9a: about 2 MB of sparse rows, 8 MB dense.
        let error = read_split_within(&order, 4 << 20).map(|_| ()).unwrap_err();
        assert!(
            matches!(error, DataError::DenseOverMemoryBudget { cols: 123, budget, .. }
                if budget == 4 << 20),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.contains(" x 123 matrix would take")
                && message.contains("over the budget of 4 MiB"),
            "{message}"
        );
        assert!(read_split_within(&order, 64 << 20).is_ok());
        // A dimension from the order that no host holds (petabytes), or past any size.
        order.options.max_dim = usize::MAX;
        order.options.dim = Some(1 << 40);
        let error = read_split(&order).map(|_| ()).unwrap_err();
        assert!(
            matches!(error, DataError::DenseOverMemoryBudget { .. }),
            "{error}"
        );
        order.options.dim = Some(usize::MAX / 2);
        let error = read_split(&order).map(|_| ()).unwrap_err();
        assert!(matches!(error, DataError::TooLarge { .. }), "{error}");
    }

    #[test]
    fn a_compressed_file_is_read_whole_with_the_same_rows() {
        let own = shared(&test_support::data("a9a.xz"), 500);
        assert!(own.origin().unwrap().is_compressed());
        let plain = plain_a9a();
        let whole = Dataset::load(&plain.0, &LoadOptions::default()).unwrap();
        let driver = partition_dataset(&whole, 4, 5).unwrap();
        for (p, (_, order)) in own
            .origin()
            .unwrap()
            .orders(4, 5)
            .unwrap()
            .iter()
            .enumerate()
        {
            assert_eq!(content(&read_split(order).unwrap()), content(&driver[p]));
        }
    }

    #[test]
    fn a_copy_that_differs_from_the_drivers_is_refused_not_trained_on() {
        let driver_copy = plain_a9a();
        let own = shared(&driver_copy.0, 500);
        let orders = own.origin().unwrap().orders(4, 5).unwrap();
        let text = std::fs::read(&driver_copy.0).unwrap();
        // Another host's copy: the same lines and bytes, but one label flipped in the middle.
        let mut other = text.clone();
        let at = text.len() / 2 + memchr::memchr(b'\n', &text[text.len() / 2..]).unwrap() + 1;
        other[at] = if text[at] == b'-' { b'+' } else { b'-' };
        assert_eq!(other.len(), text.len());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &other).unwrap();
        let copies = [
            TempFile::new("a9a-other", &other),
            TempFile::new("a9a-other.gz", &gz.finish().unwrap()),
        ];
        for copy in &copies {
            let errors: Vec<String> = orders
                .iter()
                .filter_map(|(_, order)| {
                    let mut order = order.clone();
                    order.path = copy.0.clone();
                    order.compressed = copy.0.extension().is_some_and(|e| e == "gz");
                    read_split(&order).err().map(|e| e.to_string())
                })
                .collect();
            assert_eq!(
                errors.len(),
                1,
                "the partition holding the line: {errors:?}"
            );
            assert!(
                errors[0].contains("differ from the driver's copy"),
                "{}",
                errors[0]
            );
        }
    }

    #[test]
    fn a_file_changed_since_the_scan_is_a_changed_copy_not_a_parse_error() {
        // `sed 's/^1 /-1 /'` after the scan: every row is still valid, but each changed one
        // is a byte longer, and a split reads the text only as far as the scan saw it. The
        // last line then ends early: here mid-value, `0 7:`, which does not parse.
        let rows: String = (0..3000)
            .map(|i| format!("{} 3:0.{} 11:{}\n", i % 2, 25 + i % 50, i % 9))
            .collect();
        let longer = rows.lines().filter(|l| l.starts_with("1 ")).count();
        let last = format!("0 7:0.{}1\n", "0".repeat(longer - 4));
        let text = format!("{rows}{last}");
        let f = TempFile::new("changed.svm", text.as_bytes());
        let own = shared(&f.0, 10);
        let changed: String = text
            .lines()
            .map(|l| match l.strip_prefix("1 ") {
                Some(rest) => format!("-1 {rest}\n"),
                None => format!("{l}\n"),
            })
            .collect();
        assert_eq!(changed.len(), text.len() + longer);
        assert!(changed[..text.len()].ends_with("\n0 7:"));
        std::fs::write(&f.0, changed).unwrap();
        for (parts, seed) in [(2, 9), (4, 1), (8, 5)] {
            let orders = own.origin().unwrap().orders(parts, seed).unwrap();
            for (p, (_, order)) in orders.iter().enumerate() {
                let error = read_split(order).map(|_| ()).unwrap_err();
                assert!(
                    matches!(error, DataError::ContentMismatch { .. }),
                    "partition {p} of {parts}: {error}"
                );
            }
        }
    }

    #[test]
    fn a_file_that_grew_since_its_scan_reads_as_it_was() {
        // The last line has no line end yet: what is appended would lengthen it.
        let text: String = (0..300)
            .map(|i| format!("{} 1:{}\n", i % 2, i % 7))
            .collect();
        let text = format!("{text}1 1:0.5");
        let f = TempFile::new("growing", text.as_bytes());
        let own = shared(&f.0, 10);
        let before: Vec<_> = own.origin().unwrap().orders(3, 2).unwrap();
        let read = |orders: &[(crate::data::RowRanges, SplitOrder)]| -> Vec<(Vec<u64>, String)> {
            orders
                .iter()
                .map(|(_, o)| content(&read_split(o).unwrap()))
                .collect()
        };
        let as_scanned = read(&before);
        std::fs::write(&f.0, format!("{text}3 2:1\n-1 1:9\n")).unwrap();
        assert_eq!(
            read(&before),
            as_scanned,
            "0.5 is not read as 0.53, nor new rows added"
        );
    }

    #[test]
    fn a_file_that_grew_since_its_scan_says_so_with_both_lengths() {
        // Rows appended while the workers read the file are in no partition: nothing
        // computed is lost, but the user must be told which bytes were read.
        let text: String = (0..300)
            .map(|i| format!("{} 1:{}\n", i % 2, i % 7))
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let plain = TempFile::new("grows", text.as_bytes());
        let compressed = TempFile::new("grows.gz", &gz);
        for (f, bytes) in [(&plain, text.as_bytes()), (&compressed, &gz[..])] {
            let own = shared(&f.0, 10);
            let file = own.origin().unwrap();
            assert_eq!(file.growth(), None, "as scanned");
            let mut longer = bytes.to_vec();
            longer.extend_from_slice(if bytes == gz { &gz[..] } else { b"1 1:3\n" });
            std::fs::write(&f.0, &longer).unwrap();
            let said = file.growth().expect("the file grew");
            let path = f.0.display().to_string();
            let lengths = format!("grew from {} to {} bytes", bytes.len(), longer.len());
            assert!(said.starts_with(&path), "{said}");
            assert!(said.contains(&lengths), "{said}");
            assert!(said.contains("the 300 rows of its first"), "{said}");
        }
    }

    #[test]
    fn label_rule_and_bias_reach_the_workers() {
        let plain = plain_a9a();
        let own = shared(&plain.0, 100_000)
            .with_labels(LabelRule::Signed)
            .unwrap()
            .with_bias(1.0);
        assert_eq!(own.dim(), 124);
        let (_, order) = &own.origin().unwrap().orders(2, 1).unwrap()[1];
        let read = read_split(order).unwrap();
        assert_eq!(read.data().dim(), 124);
        let zero_one = shared(&plain.0, 100_000).with_labels(LabelRule::ZeroOneAsSigned);
        let error = zero_one.unwrap_err().to_string();
        assert!(
            error.contains("row 1 of ") && error.contains("has label -1"),
            "{error}"
        );
    }

    #[test]
    fn the_scan_names_an_index_out_of_order_or_past_any_integer() {
        // The scan takes each row's last index as its largest; a row where it is not is an
        // order error, and an index too long for any integer is beyond the budget.
        let cases = [
            ("1 1099511627776:1 2:1\n", "strictly ascending"),
            ("1 3:1 2:1\n", "strictly ascending"),
            (
                "1 1:1 99999999999999999999999:1\n",
                "exceeds the memory budget",
            ),
        ];
        for (bad, words) in cases {
            let text = format!("1 1:1 2:1\n{bad}-1 1:2\n");
            let f = TempFile::new("order.txt", text.as_bytes());
            let options = SharedOptions {
                load: LoadOptions::default(),
                eval_rows: 10,
                seed: 3,
            };
            let err = Dataset::open_shared(&f.0, &options)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(":2: ") && err.contains(words),
                "{bad:?}: {err}"
            );
            assert!(!err.contains("--dim"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_comment_not_in_utf8_is_refused_by_a_split_as_by_the_whole_file_reader() {
        // A Latin-1 comment far from the sampled rows: shipping refuses the file at its line,
        // and so must the worker whose split holds it.
        let mut text = Vec::new();
        for i in 0..400 {
            if i == 290 {
                text.extend_from_slice(b"# caf\xe9\n");
            }
            text.extend_from_slice(b"-1 1:0.5 3:2\n");
        }
        let f = TempFile::new("latin1.txt", &text);
        let shipped = crate::data::libsvm::read_libsvm(&f.0, &LoadOptions::default()).unwrap_err();
        assert!(
            matches!(shipped, DataError::Parse { line: 291, .. }),
            "{shipped}"
        );
        let own = shared(&f.0, 10);
        let errors: Vec<String> = own
            .origin()
            .unwrap()
            .orders(2, 9)
            .unwrap()
            .iter()
            .filter_map(|(_, order)| read_split(order).err().map(|e| e.to_string()))
            .collect();
        assert_eq!(errors.len(), 1, "one split holds the line: {errors:?}");
        assert!(
            errors[0].contains(":291: ") && errors[0].contains("invalid UTF-8"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn a_line_just_over_a_small_limit_is_refused_on_every_path_naming_it() {
        use crate::data::libsvm::{read_libsvm, tests::xz};
        // Line 291 is a valid row of 65 bytes, over a limit of 64 and far within the line
        // reader's buffer.
        let text: String = (1..=400)
            .map(|line| match line {
                291 => format!("1 1:{}\n", "0".repeat(61)),
                _ => "-1 1:0.5 3:2\n".to_owned(),
            })
            .collect();
        let load = LoadOptions {
            max_line_bytes: 64,
            ..LoadOptions::default()
        };
        let options = SharedOptions {
            load,
            eval_rows: 10,
            seed: 3,
        };
        for (name, bytes, splits) in [
            ("long.txt", text.clone().into_bytes(), 1),
            // Each split of a compressed file reads the whole text up to its blocks' end.
            ("long.xz", xz(text.as_bytes()), 2),
        ] {
            let f = TempFile::new(name, &bytes);
            let mut errors = vec![
                read_libsvm(&f.0, &load).unwrap_err(),
                Dataset::open_shared(&f.0, &options)
                    .map(|_| ())
                    .unwrap_err(),
            ];
            // A worker reads its split under the order's limit, whatever the driver's scan.
            let orders = shared(&f.0, 10).origin().unwrap().orders(2, 9).unwrap();
            for (_, mut order) in orders {
                order.options.max_line_bytes = 64;
                errors.extend(read_split(&order).err());
            }
            assert_eq!(errors.len(), 2 + splits, "{name}: {errors:?}");
            for err in &errors {
                assert!(
                    matches!(err, DataError::Parse { line: 291, .. }),
                    "{name}: {err}"
                );
                assert_eq!(err.to_string(), errors[0].to_string());
                assert!(err.to_string().contains("longer than 64 bytes"), "{err}");
            }
        }
    }

    #[test]
    fn a_split_starting_inside_a_line_over_the_limit_names_that_line() {
        // Lines of 300 bytes, over a limit of 64: a split whose first block starts inside
        // one reads its rest first, and names it, not the line after.
        let text: String = (0..40)
            .map(|i| format!("1 1:{}\n", "0".repeat(295 - i % 7)))
            .collect();
        let f = TempFile::new("all-long.txt", text.as_bytes());
        let line_of = |at: usize| 1 + text[..at].matches('\n').count();
        let mut inside = 0;
        for (_, mut order) in shared(&f.0, 10).origin().unwrap().orders(2, 9).unwrap() {
            order.options.max_line_bytes = 64;
            let start = order.blocks[0].bytes.start as usize;
            let from = start.saturating_sub(1);
            let rest = text[from..].find('\n').unwrap();
            let line = if start == 0 {
                1
            } else if rest > 64 {
                inside += 1;
                line_of(from)
            } else {
                line_of(from + rest + 1)
            };
            let err = read_split(&order).unwrap_err();
            assert!(
                matches!(err, DataError::Parse { line: l, .. } if l == line),
                "{line}: {err}"
            );
        }
        assert!(inside > 0, "no split starts inside a line");
    }

    #[test]
    fn a_compressed_line_beyond_the_limit_is_refused_before_the_rest_is_decompressed() {
        use crate::data::libsvm::tests::xz;
        // A bomb's first line: 5000 bytes with no line end, over the 1024 allowed. Behind it
        // a second stream that would fail to decompress, standing for the gigabytes a bomb
        // holds: the scan stops at the line, and never reaches it.
        let mut head = b"1 1:1\n".to_vec();
        head.extend(std::iter::repeat_n(0u8, 5000));
        let mut bytes = xz(&head);
        let tail = xz(b"-1 2:1\n");
        bytes.extend_from_slice(&tail[..tail.len() - 8]);
        let f = TempFile::new("bomb.xz", &bytes);
        let options = SharedOptions {
            load: LoadOptions {
                max_line_bytes: 1024,
                ..LoadOptions::default()
            },
            eval_rows: 10,
            seed: 3,
        };
        let err = Dataset::open_shared(&f.0, &options).unwrap_err();
        assert!(matches!(err, DataError::Parse { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("longer than 1024 bytes"), "{err}");
    }

    #[test]
    fn a_malformed_line_in_a_split_is_an_error_naming_its_line() {
        let mut text = String::new();
        for i in 0..400 {
            text.push_str(if i == 290 {
                "1 3:x\n"
            } else {
                "-1 1:0.5 3:2\n"
            });
            if i % 50 == 0 {
                text.push_str("# a comment line\n\n");
            }
        }
        let f = TempFile::new("bad.txt", text.as_bytes());
        let own = shared(&f.0, 10);
        let line = text.lines().position(|l| l == "1 3:x").unwrap() + 1;
        let results: Vec<Result<Partition, DataError>> = own
            .origin()
            .unwrap()
            .orders(2, 9)
            .unwrap()
            .iter()
            .map(|(_, order)| read_split(order))
            .collect();
        let errors: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
            .collect();
        assert_eq!(errors.len(), 1, "one split holds the bad line: {errors:?}");
        assert!(errors[0].contains(&format!(":{line}: ")), "{}", errors[0]);
        assert!(errors[0].contains("`x`"), "{}", errors[0]);
        assert!(!errors[0].contains('\n'));
        // An order without its checksums is refused, not read unchecked.
        let (_, mut unchecked) = own.origin().unwrap().orders(2, 9).unwrap().remove(1);
        unchecked.checksums.clear();
        assert!(matches!(
            read_split(&unchecked),
            Err(DataError::DimensionMismatch { .. })
        ));
        // A file missing on the worker's host is named.
        let (_, mut order) = own.origin().unwrap().orders(2, 9).unwrap().remove(0);
        order.path = "/nonexistent/data.svm".into();
        let error = read_split(&order).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/data.svm"), "{error}");
    }
    #[test]
    fn every_split_names_the_files_first_bad_line_as_a_whole_read_does() {
        // Two bad lines far apart: whichever split is read (by whichever worker reports
        // first), the line named is the first, as `--data-access ship` names it.
        let mut text = String::new();
        for i in 0..600 {
            text.push_str(match i {
                100 => "1 3:x\n",
                500 => "1 3:y\n",
                _ => "-1 1:0.5 3:2\n",
            });
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        let plain = TempFile::new("two_bad", text.as_bytes());
        let compressed = TempFile::new("two_bad.gz", &gz.finish().unwrap());
        for f in [&plain, &compressed] {
            let path = f.0.to_string_lossy().into_owned();
            let whole = Dataset::load(&f.0, &LoadOptions::default()).unwrap_err();
            let whole = whole.to_string().replace(&path, "FILE");
            assert_eq!(
                whole,
                "FILE:101: invalid value `x` in feature `3:x`: not a number"
            );
            let own = shared(&f.0, 10);
            let errors: Vec<String> = own
                .origin()
                .unwrap()
                .orders(4, 9)
                .unwrap()
                .iter()
                .filter_map(|(_, order)| read_split(order).err())
                .map(|e| e.to_string().replace(&path, "FILE"))
                .collect();
            assert!(errors.len() >= 2, "two splits hold a bad line: {errors:?}");
            for error in &errors {
                assert_eq!(error, &whole);
            }
        }
    }

    #[test]
    fn a_corrupt_compressed_copy_on_a_worker_is_an_io_error_not_a_line() {
        let text: String = (0..3000)
            .map(|i| format!("{} 1:{} {}:{}.25\n", i % 2, i % 13, 2 + i % 17, i))
            .collect();
        let f = TempFile::new("copy.xz", &crate::data::libsvm::tests::xz(text.as_bytes()));
        let orders = shared(&f.0, 10).origin().unwrap().orders(2, 1).unwrap();
        // The worker's host has a damaged copy.
        std::fs::write(
            &f.0,
            crate::data::libsvm::tests::corrupt_xz(text.as_bytes()),
        )
        .unwrap();
        for (_, order) in &orders {
            let err = read_split(order).unwrap_err();
            assert!(matches!(err, DataError::Io { .. }), "{err:?}");
        }
    }

    #[test]
    fn a_file_changed_after_its_scan_is_read_or_refused_never_a_panic() {
        // Every kind of change between the driver's scan and a worker's read, plain and
        // gzip: bytes flipped, cut, inserted, line ends added and removed, the file emptied
        // or grown. Each split reads as scanned or is an error; none panics.
        let text: String = (0..200)
            .map(|i| match i % 9 {
                0 => "# comment\n".to_string(),
                1 => "\n".to_string(),
                _ => format!("{} 1:{} {}:{}.5\n", i % 2, i % 7, 2 + i % 5, i),
            })
            .collect();
        let text = text.into_bytes();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for gzip in [false, true] {
            let f = TempFile::new(if gzip { "changing.gz" } else { "changing" }, b"");
            let write = |bytes: &[u8]| {
                let bytes = if gzip {
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    std::io::Write::write_all(&mut gz, bytes).unwrap();
                    gz.finish().unwrap()
                } else {
                    bytes.to_vec()
                };
                std::fs::write(&f.0, bytes).unwrap();
            };
            write(&text);
            let orders = shared(&f.0, 10).origin().unwrap().orders(3, 4).unwrap();
            for case in 0..150 {
                let mut changed = text.clone();
                let at = next(changed.len());
                match case % 7 {
                    0 => changed[at] ^= 1 << next(8),
                    1 => changed.truncate(at),
                    2 => changed.insert(at, b"\n:#x\xff "[next(5)]),
                    3 => {
                        changed.remove(at);
                    }
                    4 => changed.extend_from_slice(&text[at..]),
                    5 => changed.clear(),
                    _ => changed[at] = b"\n:#x\xff "[next(5)],
                }
                write(&changed);
                for (_, order) in &orders {
                    let _ = read_split(order);
                }
            }
        }
    }
}
