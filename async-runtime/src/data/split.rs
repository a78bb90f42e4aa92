//! How a dataset is cut into partitions, defined over the text of its file so that the driver
//! (loading the whole file) and the workers (each reading its own byte ranges) arrive at the
//! very same rows per partition.
//!
//! - The decompressed text of `T` bytes is cut into [`grain_count`]`(T)` *grains*: grain `g`
//!   covers bytes `[g*T/G, (g+1)*T/G)`. A row belongs to the grain in which its line starts
//!   (as a Hadoop input split owns every line that starts inside it). A [`GrainPlan`] holds the
//!   number of rows (and lines) starting in each grain.
//! - For `P` partitions the grains are grouped into `B = P * min(64, G / P)` consecutive
//!   *blocks*: block `b` holds grains `[b*G/B, (b+1)*G/B)`, so a row range and a byte range.
//! - The blocks are shuffled with `ChaCha8Rng::seed_from_u64(seed)` and the shuffled order is
//!   cut into `P` contiguous runs of near-equal length ([`assign_blocks`]); a partition's rows
//!   are its blocks' rows, block after block, each block's rows in file order.
//!
//! A dataset built in memory (no file) has one block per row: the partitions are then those
//! of a row-level shuffle.

use std::ops::Range;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::error::DataError;

/// Grains of a text at most (the plan's size on the driver does not grow with the file).
pub const MAX_GRAINS: u64 = 4096;
/// Bytes of a grain at least.
pub const MIN_GRAIN_BYTES: u64 = 64;
/// Blocks per partition at most: enough that each partition samples the whole file.
pub const MAX_BLOCKS_PER_PARTITION: usize = 64;

/// The number of grains of a text of `total` bytes.
pub fn grain_count(total: u64) -> u64 {
    (total / MIN_GRAIN_BYTES).clamp(1, MAX_GRAINS)
}

/// The offset where grain `g` of `count` starts in a text of `total` bytes.
pub fn grain_start(g: u64, count: u64, total: u64) -> u64 {
    (u128::from(g) * u128::from(total) / u128::from(count)) as u64
}

/// The grain of `count` in which byte `offset` of a text of `total` bytes lies.
pub fn grain_of(offset: u64, count: u64, total: u64) -> usize {
    let mut g = (u128::from(offset) * u128::from(count) / u128::from(total.max(1))) as u64;
    g = g.min(count - 1);
    while g + 1 < count && grain_start(g + 1, count, total) <= offset {
        g += 1;
    }
    while g > 0 && grain_start(g, count, total) > offset {
        g -= 1;
    }
    g as usize
}

/// Rows (and lines) starting in each grain of a text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrainPlan {
    /// Bytes of the (decompressed) text.
    pub total_bytes: u64,
    /// Data rows starting in each grain (blank and comment-only lines are not rows).
    pub rows: Vec<u64>,
    /// Lines starting in each grain, rows or not (for line numbers); empty when not counted.
    pub lines: Vec<u64>,
}

impl GrainPlan {
    /// An empty plan for a text of `total_bytes`, to be filled with [`GrainPlan::count`].
    pub fn new(total_bytes: u64, count_lines: bool) -> GrainPlan {
        let grains = grain_count(total_bytes) as usize;
        GrainPlan {
            total_bytes,
            rows: vec![0; grains],
            lines: if count_lines {
                vec![0; grains]
            } else {
                Vec::new()
            },
        }
    }

    /// Counts a line starting at `offset`, a data row or not.
    pub fn count(&mut self, offset: u64, is_row: bool) {
        let g = grain_of(offset, self.rows.len() as u64, self.total_bytes);
        if is_row {
            self.rows[g] += 1;
        }
        if let Some(lines) = self.lines.get_mut(g) {
            *lines += 1;
        }
    }

    /// The plan of rows starting at the given offsets.
    pub fn from_row_offsets(total_bytes: u64, offsets: &[u64]) -> GrainPlan {
        let mut plan = GrainPlan::new(total_bytes, false);
        for &offset in offsets {
            plan.count(offset, true);
        }
        plan
    }

    /// Data rows in all.
    pub fn n_rows(&self) -> u64 {
        self.rows.iter().sum()
    }
}

/// Consecutive rows of a dataset, and where they are in its file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Global ids (row indices in file order) of the block's rows.
    pub rows: Range<u64>,
    /// The bytes in which the block's lines start.
    pub bytes: Range<u64>,
    /// The 1-based number of the first line starting in the block (0 when unknown).
    pub first_line: u64,
}

/// The blocks of a file with `plan` for `parts` partitions (see the module's documentation).
pub fn file_blocks(plan: &GrainPlan, parts: usize) -> Result<Vec<Block>, DataError> {
    let grains = plan.rows.len();
    let rows = plan.n_rows() as usize;
    if parts == 0 || parts > grains || parts > rows {
        return Err(DataError::InvalidPartition { parts, rows });
    }
    let count = (parts * (grains / parts).min(MAX_BLOCKS_PER_PARTITION)) as u64;
    let (mut row, mut line) = (0u64, 1u64);
    let g = grains as u64;
    let mut out = Vec::with_capacity(count as usize);
    for b in 0..count {
        let (first, last) = ((b * g / count) as usize, ((b + 1) * g / count) as usize);
        let block_rows: u64 = plan.rows[first..last].iter().sum();
        let block_lines: u64 = plan.lines.get(first..last).map_or(0, |l| l.iter().sum());
        out.push(Block {
            rows: row..row + block_rows,
            bytes: grain_start(first as u64, g, plan.total_bytes)
                ..grain_start(last as u64, g, plan.total_bytes),
            first_line: if plan.lines.is_empty() { 0 } else { line },
        });
        row += block_rows;
        line += block_lines;
    }
    Ok(out)
}

/// One block per row, for a dataset of `rows` rows held in memory.
pub fn row_blocks(rows: usize, parts: usize) -> Result<Vec<Block>, DataError> {
    if parts == 0 || parts > rows || u32::try_from(parts).is_err() {
        return Err(DataError::InvalidPartition { parts, rows });
    }
    Ok((0..rows as u64)
        .map(|r| Block {
            rows: r..r + 1,
            bytes: 0..0,
            first_line: 0,
        })
        .collect())
}

/// The blocks of each of `parts` partitions: the block ids `0..blocks` shuffled with
/// `ChaCha8Rng::seed_from_u64(seed)` (`SliceRandom::shuffle`) and cut into `parts` contiguous
/// runs, the first `blocks % parts` of which have one block more.
pub fn assign_blocks(blocks: usize, parts: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..blocks).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let (base, extra) = (blocks / parts, blocks % parts);
    let mut start = 0;
    (0..parts)
        .map(|p| {
            let len = base + usize::from(p < extra);
            start += len;
            order[start - len..start].to_vec()
        })
        .collect()
}

/// The global row ids of a partition as runs of consecutive ids: what the driver keeps of a
/// partition to draw the workers' minibatches and slice histories, in memory that does not
/// grow with the rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowRanges {
    ranges: Vec<Range<u64>>,
    /// Local index of each range's first row.
    starts: Vec<usize>,
    len: usize,
}

impl RowRanges {
    /// The rows of `ranges`, in order; adjacent ranges are merged.
    pub fn new(ranges: impl IntoIterator<Item = Range<u64>>) -> RowRanges {
        let mut out = RowRanges::default();
        for range in ranges.into_iter().filter(|r| !r.is_empty()) {
            let len = (range.end - range.start) as usize;
            match out.ranges.last_mut() {
                Some(last) if last.end == range.start => last.end = range.end,
                _ => {
                    out.starts.push(out.len);
                    out.ranges.push(range);
                }
            }
            out.len += len;
        }
        out
    }

    /// Rows in all.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The global id of local row `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn get(&self, i: usize) -> u64 {
        assert!(i < self.len, "row {i} of {}", self.len);
        let k = self.starts.partition_point(|&s| s <= i) - 1;
        self.ranges[k].start + (i - self.starts[k]) as u64
    }

    /// Every global id, in local order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.ranges.iter().flat_map(|r| r.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grains_tile_the_text() {
        for total in [1u64, 63, 64, 1000, 262_144, 10_000_019] {
            let count = grain_count(total);
            assert!((1..=MAX_GRAINS).contains(&count));
            assert_eq!(grain_start(0, count, total), 0);
            assert_eq!(grain_start(count, count, total), total);
            for offset in [0, total / 3, total / 2, total - 1] {
                let g = grain_of(offset, count, total) as u64;
                assert!(grain_start(g, count, total) <= offset);
                assert!(
                    offset < grain_start(g + 1, count, total),
                    "{total} {offset}"
                );
            }
        }
    }

    #[test]
    fn blocks_cover_rows_and_bytes_in_order() {
        let mut plan = GrainPlan::new(100_000, true);
        for offset in (0..100_000).step_by(37) {
            plan.count(offset, offset % 5 != 0);
        }
        let blocks = file_blocks(&plan, 3).unwrap();
        assert_eq!(blocks.len(), 3 * 64);
        assert_eq!(blocks[0].rows.start, 0);
        assert_eq!(blocks.last().unwrap().rows.end, plan.n_rows());
        assert_eq!(blocks.last().unwrap().bytes.end, 100_000);
        for pair in blocks.windows(2) {
            assert_eq!(pair[0].rows.end, pair[1].rows.start);
            assert_eq!(pair[0].bytes.end, pair[1].bytes.start);
            assert!(pair[0].first_line < pair[1].first_line);
        }
        let parts = assign_blocks(blocks.len(), 3, 7);
        let mut all: Vec<usize> = parts.concat();
        all.sort_unstable();
        assert_eq!(all, (0..blocks.len()).collect::<Vec<_>>());
        assert_ne!(parts, assign_blocks(blocks.len(), 3, 8));
        assert!(file_blocks(&plan, 0).is_err());
    }

    #[test]
    fn row_ranges_map_local_to_global() {
        let r = RowRanges::new([5..8, 8..9, 20..22, 3..3, 0..1]);
        assert_eq!(r.len(), 7);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![5, 6, 7, 8, 20, 21, 0]);
        let by_get: Vec<u64> = (0..7).map(|i| r.get(i)).collect();
        assert_eq!(by_get, r.iter().collect::<Vec<_>>());
    }
}
