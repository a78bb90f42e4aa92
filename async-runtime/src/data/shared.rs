//! A data file every worker can see, as the driver knows it: a [`SharedFile`] (its grains,
//! their checksums and the labels its rows use, learnt by the driver's scan in
//! [`Dataset::open_shared`](super::Dataset::open_shared)) and the [`SplitOrder`] of each of its
//! partitions, by which a worker reads that partition's byte ranges itself
//! ([`read_split`](super::own_split::read_split)).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checksum;
use super::error::DataError;
pub use super::label::LabelRule;
use super::options::LoadOptions;
use super::split::{
    assign_blocks, file_blocks, grain_of, grain_start, Block, GrainPlan, RowRanges, MAX_GRAINS,
};

/// Which label values the rows of a file use, as far as a classification loss cares: read
/// by the driver's scan from every row, so that the rule for the labels is the file's, not
/// its evaluation sample's.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LabelValues {
    /// The 1-based line of the first row with label 0, if one has it: a refusal names it.
    pub zero: Option<usize>,
    /// Some row has label 1.
    pub one: bool,
    /// The line of the first row with label -1, if one has it.
    pub minus_one: Option<usize>,
    /// The line and label of the first row with another label (NaN for one that is no
    /// number), if one has it.
    pub other: Option<(usize, f64)>,
}

impl LabelValues {
    /// Whether every label is one of `values`.
    pub fn all_in(&self, values: &[f64]) -> bool {
        let allowed = |seen: bool, value: f64| !seen || values.contains(&value);
        self.other.is_none()
            && allowed(self.zero.is_some(), 0.0)
            && allowed(self.one, 1.0)
            && allowed(self.minus_one.is_some(), -1.0)
    }

    /// The kinds of labels seen, for a message: `0, 1 and -1`, `1 and others`.
    pub fn seen(&self) -> String {
        let kinds: Vec<&str> = [
            (self.zero.is_some(), "0"),
            (self.one, "1"),
            (self.minus_one.is_some(), "-1"),
            (self.other.is_some(), "others"),
        ]
        .into_iter()
        .filter_map(|(seen, kind)| seen.then_some(kind))
        .collect();
        match kinds.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            Some((only, _)) => (*only).to_owned(),
            None => "none".to_owned(),
        }
    }

    /// Where the labels break both rules, +1/-1 and 0/1: the line of the first label that is
    /// neither, or of the first 0 or -1 after the other kind, and what is wrong with it;
    /// `None` when one rule reads every label.
    pub fn conflict(&self) -> Option<(usize, String)> {
        if let Some((line, label)) = self.other {
            return Some(match label.is_nan() {
                true => (line, "its label is not a number".to_owned()),
                false => (line, format!("label {label} is neither +1/-1 nor 0/1")),
            });
        }
        let (zero, minus_one) = (self.zero?, self.minus_one?);
        Some(if zero < minus_one {
            (
                minus_one,
                format!("label -1 in a file with label 0 (line {zero})"),
            )
        } else {
            (
                zero,
                format!("label 0 in a file with label -1 (line {minus_one})"),
            )
        })
    }

    /// Counts the label of a data row, its first token, read on 1-based line `line`.
    pub(crate) fn see(&mut self, token: &[u8], line: usize) {
        let value = match token {
            b"1" | b"+1" => 1.0,
            b"-1" => -1.0,
            b"0" => 0.0,
            _ => std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or(f64::NAN),
        };
        self.see_value(value, line);
    }

    /// Counts a data row's label, read as `value`, on 1-based line `line`.
    pub(crate) fn see_value(&mut self, value: f64, line: usize) {
        match value {
            1.0 => self.one = true,
            -1.0 => _ = self.minus_one.get_or_insert(line),
            0.0 => _ = self.zero.get_or_insert(line),
            _ => _ = self.other.get_or_insert((line, value)),
        }
    }
}

/// How the driver opens a shared file.
#[derive(Clone, Debug)]
pub struct SharedOptions {
    /// How rows are read (the dimension, forced or found by the scan; the layout, decided on
    /// the sample and then imposed on every worker).
    pub load: LoadOptions,
    /// Rows of the evaluation sample at most: a file with no more rows is read whole by the
    /// driver, and its objective is exact.
    pub eval_rows: usize,
    /// Seed of the sample's draw.
    pub seed: u64,
}

impl SharedOptions {
    /// The default [`eval_rows`](SharedOptions::eval_rows).
    pub const DEFAULT_EVAL_ROWS: usize = 50_000;
}

/// A file the workers read themselves, as the driver knows it.
#[derive(Clone, Debug)]
pub struct SharedFile {
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) plan: GrainPlan,
    /// The CRC-32 of each grain of the text.
    pub(crate) grain_sums: Vec<u32>,
    pub(crate) label_values: LabelValues,
    pub(crate) options: LoadOptions,
    pub(crate) compressed: bool,
    pub(crate) labels: LabelRule,
    pub(crate) bias: Option<f64>,
    /// The file's length on disk when the scan began: the text the workers read ends where
    /// the scan's did, whatever is appended since.
    pub(crate) file_bytes: u64,
}

/// What a worker needs to read one partition of a shared file itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitOrder {
    /// The file, as the worker's host sees it.
    pub path: PathBuf,
    /// The dataset's name.
    pub name: String,
    /// The partition's id.
    pub partition: u32,
    /// The partitioning seed, also the base of the partition's minibatch seeds.
    pub seed: u64,
    /// The partition's blocks, in order: no more than a file has grains.
    #[serde(deserialize_with = "crate::bounded::at_most::<_, _, { MAX_GRAINS as usize }>")]
    pub blocks: Vec<Block>,
    /// How to read rows (dimension and layout fixed by the driver).
    pub options: LoadOptions,
    /// Whether the file must be decompressed whole.
    pub compressed: bool,
    /// The label rule.
    pub labels: LabelRule,
    /// A constant feature appended to every row.
    pub bias: Option<f64>,
    /// The CRC-32 of each block's bytes as the driver's scan read them: a worker whose copy
    /// of the file differs refuses to train on it.
    #[serde(deserialize_with = "crate::bounded::at_most::<_, _, { MAX_GRAINS as usize }>")]
    pub checksums: Vec<u32>,
    /// Bytes of the (decompressed) text the scan read: a worker reads no further, so a file
    /// that grew since (its last line, without a line end then, longer now) reads as it was.
    pub text_bytes: u64,
}

impl SharedFile {
    /// Rows of the file.
    pub fn total_rows(&self) -> u64 {
        self.plan.n_rows()
    }

    /// The label values its rows use, all of them.
    pub fn label_values(&self) -> LabelValues {
        self.label_values
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether workers must decompress it whole.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The grains of the file.
    pub fn plan(&self) -> &GrainPlan {
        &self.plan
    }

    /// What the user must be told if the file is longer on disk now than when the driver
    /// scanned it (rows appended while the run reads it): the workers read the text the scan
    /// read, so the rows appended since are in no partition and nothing is trained on them.
    /// `None` if it is not longer (or cannot be looked at).
    pub fn growth(&self) -> Option<String> {
        let now = std::fs::metadata(&self.path).ok()?.len();
        (now > self.file_bytes).then(|| {
            format!(
                "{} grew from {} to {now} bytes since the driver scanned it: the run reads \
                 the {} rows of its first {} bytes only, not the rows appended since (start \
                 the run again once the file is complete to train on them)",
                self.path.display(),
                self.file_bytes,
                self.total_rows(),
                self.file_bytes,
            )
        })
    }

    /// The SHA-256 (hex) of the text as the scan read it (its rows, its length and the CRC-32
    /// of each grain): the file's name by content, the same whatever rows the driver sampled
    /// of it, and the same for a compressed copy.
    pub fn text_fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(self.total_rows().to_le_bytes());
        hash.update(self.plan.total_bytes.to_le_bytes());
        for sum in &self.grain_sums {
            hash.update(sum.to_le_bytes());
        }
        hex::encode(hash.finalize())
    }

    /// Per partition, its global row ids and the order that makes a worker read it: exactly
    /// the partitions [`partition_dataset`](super::partition_dataset) cuts from the whole
    /// file.
    pub fn orders(
        &self,
        parts: usize,
        seed: u64,
    ) -> Result<Vec<(RowRanges, SplitOrder)>, DataError> {
        // An order carries the path as text: one that is not would fail to encode when sent.
        if self.path.to_str().is_none() {
            return Err(DataError::PathNotUtf8 {
                path: self.path.clone(),
            });
        }
        // More partitions than the file has grains (a small file) leaves some without a row.
        let grains = self.plan.rows.len();
        if (grains + 1..=self.plan.n_rows() as usize).contains(&parts) {
            return Err(DataError::TooFewRanges {
                path: self.path.clone(),
                ranges: grains,
                parts,
            });
        }
        let blocks = file_blocks(&self.plan, parts)?;
        let assignment = assign_blocks(blocks.len(), parts, seed);
        let mut out = Vec::with_capacity(parts);
        for (p, ids) in assignment.into_iter().enumerate() {
            let mine: Vec<Block> = ids.iter().map(|&b| blocks[b].clone()).collect();
            let rows = RowRanges::new(mine.iter().map(|b| b.rows.clone()));
            if rows.is_empty() {
                return Err(DataError::EmptyPartition {
                    path: self.path.clone(),
                    partition: p,
                    parts,
                });
            }
            out.push((
                rows,
                SplitOrder {
                    path: self.path.clone(),
                    name: self.name.clone(),
                    partition: p as u32,
                    seed,
                    options: self.options,
                    compressed: self.compressed,
                    labels: self.labels,
                    bias: self.bias,
                    checksums: mine.iter().map(|b| self.checksum_of(b)).collect(),
                    blocks: mine,
                    text_bytes: self.plan.total_bytes,
                },
            ));
        }
        Ok(out)
    }

    /// The CRC-32 of `block`'s bytes, from those of its grains.
    fn checksum_of(&self, block: &Block) -> u32 {
        let (count, total) = (self.grain_sums.len() as u64, self.plan.total_bytes);
        let first = grain_of(block.bytes.start, count, total) as u64;
        let grains = (first..count).take_while(|&g| grain_start(g, count, total) < block.bytes.end);
        checksum::combined(grains.map(|g| {
            let len = grain_start(g + 1, count, total) - grain_start(g, count, total);
            (self.grain_sums[g as usize], len)
        }))
    }
}

#[cfg(test)]
impl SplitOrder {
    /// An order for `partition` of `path` naming no block: for tests where it is never read.
    pub(crate) fn unread(path: &str, name: &str, partition: u32) -> SplitOrder {
        SplitOrder {
            path: path.into(),
            name: name.into(),
            partition,
            seed: 0,
            blocks: Vec::new(),
            options: crate::data::LoadOptions::default(),
            compressed: false,
            labels: crate::data::LabelRule::default(),
            bias: None,
            checksums: Vec::new(),
            text_bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_is_refused_before_an_order_is_sent() {
        use crate::data::libsvm::tests::TempFile;
        use crate::data::Dataset;
        use std::os::unix::ffi::OsStringExt;

        let text: String = (0..40).map(|i| format!("{i} 1:{i}.5 3:2\n")).collect();
        let utf8 = TempFile::new("orders", text.as_bytes());
        // The same file under a Latin-1 name, as an old system may have written it.
        let mut name = utf8.0.clone().into_os_string().into_vec();
        name.extend_from_slice(b"-caf\xe9");
        let latin1 = PathBuf::from(std::ffi::OsString::from_vec(name));
        std::fs::write(&latin1, &text).unwrap();
        let latin1 = TempFile(latin1);
        let options = SharedOptions {
            load: LoadOptions::default(),
            eval_rows: 10,
            seed: 1,
        };
        let orders = |path: &Path| {
            let data = Dataset::open_shared(path, &options).unwrap();
            data.origin().unwrap().orders(2, 1)
        };
        // A UTF-8 path's orders go to the workers as they are.
        for (_, order) in orders(&utf8.0).unwrap() {
            postcard::to_allocvec(&order).unwrap();
        }
        let error = orders(&latin1.0).map(|_| ()).unwrap_err();
        assert!(matches!(error, DataError::PathNotUtf8 { .. }), "{error}");
        let message = error.to_string();
        assert!(
            message.contains("not UTF-8") && message.contains("--data-access ship"),
            "{message}"
        );
    }

    #[test]
    fn label_values_are_those_of_every_row() {
        let mut seen = LabelValues::default();
        for (line, token) in [&b"1"[..], b"+1", b"1.0", b"0", b"0"]
            .into_iter()
            .enumerate()
        {
            seen.see(token, line + 1);
        }
        assert!(seen.all_in(&[0.0, 1.0]) && !seen.all_in(&[1.0, -1.0]));
        assert_eq!(seen.conflict(), None);
        seen.see(b"-1.0", 7);
        seen.see(b"-1", 8);
        assert!(!seen.all_in(&[0.0, 1.0]) && seen.all_in(&[0.0, 1.0, -1.0]));
        let conflict = seen.conflict().unwrap();
        assert_eq!(
            conflict,
            (7, "label -1 in a file with label 0 (line 4)".to_owned())
        );
        seen.see(b"2", 9);
        seen.see(b"3", 10);
        assert!(!seen.all_in(&[0.0, 1.0, -1.0]));
        assert_eq!(seen.seen(), "0, 1, -1 and others");
        let conflict = seen.conflict().unwrap();
        assert_eq!(conflict, (9, "label 2 is neither +1/-1 nor 0/1".to_owned()));
    }
}
