//! CRC-32 checksums of byte ranges of a text, taken while the text is read for another purpose:
//! the driver's scan of a shared file checksums every grain, and a worker every block it reads,
//! so that a host whose copy of the file differs from the driver's is told so instead of
//! training on other rows (HDFS checks its blocks against their checksums the same way).
//!
//! A block's checksum is combined from its grains' ([`combined`]), so the driver reads the
//! file once, before it knows how the file will be partitioned.

use std::io::{self, Read};
use std::ops::Range;

use crc32fast::Hasher;

/// A reader that checksums the bytes of some ranges of its text as they pass through it.
pub struct Checksummed<R> {
    inner: R,
    /// Offset in the text of the next byte read.
    at: u64,
    /// The ranges checksummed: sorted and disjoint.
    ranges: Vec<Range<u64>>,
    sums: Vec<Hasher>,
    /// The first range the reading has not passed yet.
    next: usize,
}

impl<R> Checksummed<R> {
    /// Reads `inner`, whose next byte is at offset `at` of the text, checksumming `ranges`
    /// (sorted and disjoint).
    pub fn new(inner: R, at: u64, ranges: Vec<Range<u64>>) -> Checksummed<R> {
        debug_assert!(ranges.windows(2).all(|w| w[0].end <= w[1].start));
        let sums = vec![Hasher::new(); ranges.len()];
        Checksummed {
            inner,
            at,
            ranges,
            sums,
            next: 0,
        }
    }

    /// The CRC-32 of each range, of the bytes read of it so far.
    pub fn sums(&self) -> Vec<u32> {
        self.sums.iter().map(|h| h.clone().finalize()).collect()
    }

    fn take(&mut self, mut chunk: &[u8]) {
        let mut at = self.at;
        self.at += chunk.len() as u64;
        while !chunk.is_empty() && self.next < self.ranges.len() {
            let range = &self.ranges[self.next];
            if at >= range.end {
                self.next += 1;
            } else if at < range.start {
                let skip = (range.start - at).min(chunk.len() as u64) as usize;
                chunk = &chunk[skip..];
                at += skip as u64;
            } else {
                let take = (range.end - at).min(chunk.len() as u64) as usize;
                self.sums[self.next].update(&chunk[..take]);
                chunk = &chunk[take..];
                at += take as u64;
            }
        }
    }
}

impl<R: Read> Checksummed<R> {
    /// Reads on to the end of the last range, or of the text, so that every range is summed
    /// whole: a read that stopped early (at a line it cannot parse) can then still tell
    /// whether its bytes are the ones expected.
    pub fn read_to_ranges_end(&mut self) -> io::Result<()> {
        let end = self.ranges.last().map_or(self.at, |r| r.end);
        let rest = end.saturating_sub(self.at);
        io::copy(&mut Read::take(self.by_ref(), rest), &mut io::sink())?;
        Ok(())
    }
}

impl<R: Read> Read for Checksummed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.take(&buf[..n]);
        Ok(n)
    }
}

/// The CRC-32 of consecutive ranges read as one, from each range's CRC-32 and length.
pub fn combined(parts: impl IntoIterator<Item = (u32, u64)>) -> u32 {
    let mut whole = Hasher::new();
    for (sum, len) in parts {
        whole.combine(&Hasher::new_with_initial_len(sum, len));
    }
    whole.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads all of `reader` in reads of at most `step` bytes.
    fn drain(reader: &mut impl Read, step: usize) {
        let mut buf = vec![0; step];
        while reader.read(&mut buf).unwrap() > 0 {}
    }

    #[test]
    fn each_range_sums_its_bytes_whatever_the_reads() {
        let text: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let ranges = vec![0..10, 10..300, 420..421, 700..1000];
        for step in [1, 7, 64, 4096] {
            // From offset 5: the first range is read from its sixth byte on.
            let mut reader = Checksummed::new(&text[5..], 5, ranges.clone());
            drain(&mut reader, step);
            let expected: Vec<u32> = [5..10, 10..300, 420..421, 700..1000]
                .into_iter()
                .map(|r| crc32fast::hash(&text[r]))
                .collect();
            assert_eq!(reader.sums(), expected, "reads of {step}");
        }
    }

    #[test]
    fn reading_to_the_ranges_end_sums_them_whole() {
        let text: Vec<u8> = (0..1000u32).map(|i| (i * 11 % 253) as u8).collect();
        let mut reader = Checksummed::new(&text[..], 0, vec![100..200, 600..800]);
        let mut head = [0; 150];
        reader.read_exact(&mut head).unwrap();
        reader.read_to_ranges_end().unwrap();
        let expected = [100..200, 600..800].map(|r| crc32fast::hash(&text[r]));
        assert_eq!(reader.sums(), expected);
        // Nothing past the last range is read.
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &text[800..]);
    }

    #[test]
    fn consecutive_ranges_combine_into_the_sum_of_their_union() {
        let text: Vec<u8> = (0..999u32).map(|i| (i * 13 % 256) as u8).collect();
        let cuts = [0, 100, 101, 500, 999];
        let parts = cuts
            .windows(2)
            .map(|w| (crc32fast::hash(&text[w[0]..w[1]]), (w[1] - w[0]) as u64));
        assert_eq!(combined(parts), crc32fast::hash(&text));
    }
}
