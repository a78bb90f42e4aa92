//! Deterministic partitioning of a dataset among workers, and deterministic mini-batch
//! sampling inside a partition.
//!
//! [`partition_dataset`] cuts a dataset as [`split`](super::split) defines it: blocks of rows
//! (grains of its file, or single rows) shuffled by the seed and dealt in contiguous runs.
//! [`Partition::sample`] draws the mini-batch of iteration `k` from a ChaCha8 generator seeded
//! by [`batch_seed`]`(seed, part_id, k)`, so the driver can reproduce any worker's draw with
//! [`sample_indices`] without asking for it.

use ndarray::{ArrayView1, ArrayViewMut1};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::dataset::{Dataset, Rows};
use super::error::DataError;
use super::shipped::{DatasetSeed, Wire};
use super::split::{assign_blocks, file_blocks, row_blocks, RowRanges};

/// One part of a dataset: a subset of its rows, with their global ids.
///
/// Deserialisation checks that there is one global id per row.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "PartitionRepr")]
pub struct Partition {
    id: u32,
    seed: u64,
    rows: Dataset,
    global_ids: Vec<u64>,
}

/// What a serialised [`Partition`] holds, before its invariants are checked.
struct PartitionRepr {
    id: u32,
    seed: u64,
    rows: Dataset,
    global_ids: Vec<u64>,
}

/// Decoded field by field, its rows within what the frame can hold (see `shipped`) and its
/// row ids at most one per row decoded before them: a count declared past that (a byte per id
/// on the wire, 8 in memory) is refused before it is built.
impl<'de> Deserialize<'de> for PartitionRepr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let why = std::cell::Cell::new(None);
        serde::de::DeserializeSeed::deserialize(ReprVisitor(Wire::new(None, &why)), deserializer)
    }
}

struct ReprVisitor<'a>(Wire<'a>);

impl<'de> serde::de::DeserializeSeed<'de> for ReprVisitor<'_> {
    type Value = PartitionRepr;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        const FIELDS: &[&str] = &["id", "seed", "rows", "global_ids"];
        deserializer.deserialize_struct("Partition", FIELDS, self)
    }
}

impl<'de> serde::de::Visitor<'de> for ReprVisitor<'_> {
    type Value = PartitionRepr;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a partition")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<PartitionRepr, A::Error> {
        use serde::de::Error;
        let missing = |at: usize| A::Error::invalid_length(at, &"4 fields of a partition");
        let id = seq.next_element()?.ok_or_else(|| missing(0))?;
        let seed = seq.next_element()?.ok_or_else(|| missing(1))?;
        let rows = seq
            .next_element_seed(DatasetSeed(self.0))?
            .ok_or_else(|| missing(2))?;
        let n = rows.n_rows();
        let global_ids = seq
            .next_element_seed(crate::bounded::AtMost::new(n))
            .map_err(|_: A::Error| {
                self.0.refuse(format!(
                    "its row ids, one per row, are more than its {n} rows or malformed"
                ))
            })?
            .ok_or_else(|| missing(3))?;
        Ok(PartitionRepr {
            id,
            seed,
            rows,
            global_ids,
        })
    }
}

impl TryFrom<PartitionRepr> for Partition {
    type Error = DataError;

    fn try_from(r: PartitionRepr) -> Result<Self, Self::Error> {
        Partition::new(r.id, r.seed, r.rows, r.global_ids)
    }
}

/// Splits `data` into `parts` partitions, as [`split`](super::split) defines them: a dataset
/// read whole from a file is cut along the file's grains (the very partitions workers reading
/// their own splits of the file arrive at); one built in memory has one block per row, so its
/// row ids `0..n` are shuffled with `ChaCha8Rng::seed_from_u64(seed)` and cut into `parts`
/// contiguous chunks, the first `n % parts` of which have one row more. Partition `p` has id
/// `p` and `seed` for its mini-batch draws.
///
/// Errors if `parts == 0` or `parts > n`, or if a partition of a file would be empty.
pub fn partition_dataset(
    data: &Dataset,
    parts: usize,
    seed: u64,
) -> Result<Vec<Partition>, DataError> {
    partition_rows(data, parts, seed)?
        .into_iter()
        .enumerate()
        .map(|(p, ids)| {
            let chunk: Vec<usize> = ids.iter().map(|r| r as usize).collect();
            Partition::new(p as u32, seed, data.select(&chunk), ids.iter().collect())
        })
        .collect()
}

/// The global row ids of each of `parts` partitions of `data` (see [`partition_dataset`]).
pub fn partition_rows(
    data: &Dataset,
    parts: usize,
    seed: u64,
) -> Result<Vec<RowRanges>, DataError> {
    let n = data.n_rows();
    if parts == 0 || parts > n || u32::try_from(parts).is_err() {
        return Err(DataError::InvalidPartition { parts, rows: n });
    }
    let cut = |blocks: Vec<super::split::Block>| -> Vec<RowRanges> {
        assign_blocks(blocks.len(), parts, seed)
            .into_iter()
            .map(|ids| RowRanges::new(ids.into_iter().map(|b| blocks[b].rows.clone())))
            .collect()
    };
    if let Some(plan) = data.plan().filter(|p| p.n_rows() == n as u64) {
        if let Ok(blocks) = file_blocks(plan, parts) {
            let out = cut(blocks);
            if out.iter().all(|r| !r.is_empty()) {
                return Ok(out);
            }
        }
        // A file too small for its grains to fill every partition (where workers could not
        // read their own splits either, see `SharedFile::orders`): one block per row.
    }
    Ok(cut(row_blocks(n, parts)?))
}

/// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of the ChaCha8 generator that draws the mini-batch of iteration `k` in partition
/// `part_id`: `splitmix64(splitmix64(splitmix64(seed) ^ part_id) ^ k)`.
pub fn batch_seed(seed: u64, part_id: u32, k: usize) -> u64 {
    splitmix64(splitmix64(splitmix64(seed) ^ u64::from(part_id)) ^ k as u64)
}

/// The row indices (local to the partition) of the mini-batch of iteration `k` in a partition
/// of `len` rows, exactly as [`Partition::sample`] draws them: `batch == 0` gives all rows in
/// order; otherwise `min(batch, len)` distinct indices drawn without replacement by
/// `rand::seq::index::sample` from `ChaCha8Rng::seed_from_u64(batch_seed(seed, part_id, k))`.
pub fn sample_indices(len: usize, batch: usize, seed: u64, part_id: u32, k: usize) -> Vec<usize> {
    if batch == 0 {
        return (0..len).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(batch_seed(seed, part_id, k));
    rand::seq::index::sample(&mut rng, len, batch.min(len)).into_vec()
}

impl Partition {
    /// Builds a partition from rows already selected, checking one global id per row.
    pub fn new(id: u32, seed: u64, rows: Dataset, global_ids: Vec<u64>) -> Result<Self, DataError> {
        if global_ids.len() != rows.n_rows() {
            return Err(DataError::DimensionMismatch {
                what: "global ids vs partition rows".into(),
                expected: rows.n_rows(),
                found: global_ids.len(),
            });
        }
        Ok(Partition {
            id,
            seed,
            rows,
            global_ids,
        })
    }

    /// Decodes a partition shipped as `bytes` (postcard), its arrays bounded by what `bytes`
    /// can hold; the error says what is wrong with it.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Partition, String> {
        use serde::de::DeserializeSeed;
        let why = std::cell::Cell::new(None);
        let mut decoder = postcard::Deserializer::from_bytes(bytes);
        let repr = ReprVisitor(Wire::new(Some(bytes.len()), &why))
            .deserialize(&mut decoder)
            .map_err(|e| why.take().unwrap_or_else(|| e.to_string()))?;
        Partition::try_from(repr).map_err(|e| e.to_string())
    }

    /// The partition's id (`0..parts`).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The seed the dataset was partitioned with, also the base of the mini-batch seeds.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Global id (row index in the full dataset) of each row of the partition.
    pub fn global_ids(&self) -> &[u64] {
        &self.global_ids
    }

    /// The partition's rows as a dataset (local row `i` is global row `global_ids()[i]`).
    pub fn data(&self) -> &Dataset {
        &self.rows
    }

    /// The bytes it takes in memory: its rows and their global ids.
    pub(crate) fn heap_bytes(&self) -> u64 {
        self.rows.heap_bytes() + self.global_ids.len() as u64 * 8
    }

    /// The mini-batch of iteration `k`: see [`sample_indices`] (`batch == 0`: the whole
    /// partition).
    pub fn sample(&self, batch: usize, k: usize) -> Batch<'_> {
        Batch {
            part: self,
            rows: sample_indices(self.rows.n_rows(), batch, self.seed, self.id, k),
        }
    }
}

impl Rows for Partition {
    fn len(&self) -> usize {
        self.rows.n_rows()
    }

    fn dim(&self) -> usize {
        self.rows.dim()
    }

    fn label(&self, i: usize) -> f64 {
        Rows::label(&self.rows, i)
    }

    fn dot(&self, i: usize, w: ArrayView1<'_, f64>) -> f64 {
        self.rows.dot(i, w)
    }

    fn axpy(&self, i: usize, alpha: f64, out: ArrayViewMut1<'_, f64>) {
        self.rows.axpy(i, alpha, out)
    }

    fn sample_id(&self, i: usize) -> u64 {
        self.global_ids[i]
    }

    fn prefetch(&self, i: usize) {
        self.rows.prefetch(i)
    }

    fn for_each_entry(&self, i: usize, f: impl FnMut(usize, f64)) {
        self.rows.for_each_entry(i, f)
    }
}

/// Some rows of a partition (a mini-batch), by their local indices.
#[derive(Clone, Debug)]
pub struct Batch<'a> {
    part: &'a Partition,
    rows: Vec<usize>,
}

impl<'a> Batch<'a> {
    /// The batch made of the given local rows of `part`.
    ///
    /// # Panics
    /// If a row index is `>= part.data().n_rows()`.
    pub fn new(part: &'a Partition, rows: Vec<usize>) -> Self {
        let n = part.rows.n_rows();
        assert!(rows.iter().all(|&r| r < n), "batch row out of range");
        Batch { part, rows }
    }

    /// The partition the batch is drawn from.
    pub fn partition(&self) -> &'a Partition {
        self.part
    }

    /// The chosen rows, as indices local to the partition.
    pub fn rows(&self) -> &[usize] {
        &self.rows
    }

    /// The chosen rows' global ids (row indices in the full dataset).
    pub fn global_ids(&self) -> Vec<u64> {
        self.rows.iter().map(|&r| self.part.global_ids[r]).collect()
    }
}

impl Rows for Batch<'_> {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn dim(&self) -> usize {
        self.part.rows.dim()
    }

    fn label(&self, i: usize) -> f64 {
        Rows::label(&self.part.rows, self.rows[i])
    }

    fn dot(&self, i: usize, w: ArrayView1<'_, f64>) -> f64 {
        self.part.rows.dot(self.rows[i], w)
    }

    fn axpy(&self, i: usize, alpha: f64, out: ArrayViewMut1<'_, f64>) {
        self.part.rows.axpy(self.rows[i], alpha, out)
    }

    fn sample_id(&self, i: usize) -> u64 {
        self.part.global_ids[self.rows[i]]
    }

    fn prefetch(&self, i: usize) {
        if let Some(&row) = self.rows.get(i) {
            self.part.rows.prefetch(row);
        }
    }

    fn for_each_entry(&self, i: usize, f: impl FnMut(usize, f64)) {
        self.part.rows.for_each_entry(self.rows[i], f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::tests::small_pair;
    use crate::data::Features;
    use ndarray::{Array1, Array2, ShapeBuilder};

    /// `n` rows, row `r` = (r, 1) with label r, sparse or dense.
    fn indexed(n: usize, sparse: bool) -> Dataset {
        let x = Array2::from_shape_fn((n, 2), |(r, c)| if c == 0 { r as f64 } else { 1.0 });
        let labels = Array1::from_iter((0..n).map(|r| r as f64));
        let f = if sparse {
            Features::Sparse(sprs::CsMat::csr_from_dense(x.view(), 0.0))
        } else {
            Features::Dense(x)
        };
        Dataset::new("idx", f, labels).unwrap()
    }

    fn assignment(parts: &[Partition]) -> Vec<Vec<u64>> {
        parts.iter().map(|p| p.global_ids().to_vec()).collect()
    }

    #[test]
    fn partitions_are_deterministic_and_cover_every_row_once() {
        for sparse in [true, false] {
            let d = indexed(103, sparse);
            let a = partition_dataset(&d, 4, 7).unwrap();
            let b = partition_dataset(&d, 4, 7).unwrap();
            let c = partition_dataset(&d, 4, 8).unwrap();
            assert_eq!(assignment(&a), assignment(&b));
            assert_ne!(assignment(&a), assignment(&c));
            let sizes: Vec<usize> = a.iter().map(|p| p.len()).collect();
            assert_eq!(sizes, vec![26, 26, 26, 25]);
            let mut all: Vec<u64> = a.iter().flat_map(|p| p.global_ids().to_vec()).collect();
            all.sort_unstable();
            assert_eq!(all, (0..103).collect::<Vec<u64>>());
            // Shuffled, not the identity order.
            assert_ne!(a[0].global_ids(), &(0..26).collect::<Vec<u64>>()[..]);
            let w = Array1::from(vec![1.0, 0.0]);
            for (k, p) in a.iter().enumerate() {
                assert_eq!(p.id(), k as u32);
                assert_eq!(p.seed(), 7);
                for i in 0..p.len() {
                    // Local row i really is global row global_ids[i].
                    let g = p.sample_id(i);
                    assert_eq!(p.label(i), g as f64);
                    assert_eq!(p.dot(i, w.view()), g as f64);
                }
            }
        }
    }

    /// A prefetch is a hint: on any row, in range or not, of any view, it reads the same rows
    /// afterwards and panics on none (the gradient loop asks for the row after the last).
    #[test]
    fn a_prefetch_of_any_row_changes_nothing_and_never_panics() {
        let rows = |r: &dyn Fn(usize) -> (f64, f64, u64), n: usize| -> Vec<(f64, f64, u64)> {
            (0..n).map(r).collect()
        };
        let w = Array1::from(vec![2.0, 3.0]);
        for sparse in [true, false] {
            let d = indexed(40, sparse);
            let far = [0, 1, 39, 40, 41, usize::MAX];
            let whole = rows(&|i| (d.label(i), d.dot(i, w.view()), d.sample_id(i)), 40);
            for &i in &far {
                d.prefetch(i);
            }
            assert_eq!(
                rows(&|i| (d.label(i), d.dot(i, w.view()), d.sample_id(i)), 40),
                whole
            );
            for p in partition_dataset(&d, 3, 9).unwrap() {
                let batch = p.sample(4, 0);
                let seen = rows(
                    &|i| (batch.label(i), batch.dot(i, w.view()), batch.sample_id(i)),
                    4,
                );
                for &i in far.iter().chain(&[p.len(), p.len() + 1, 3, 4, 5]) {
                    p.prefetch(i);
                    batch.prefetch(i);
                }
                let again = rows(
                    &|i| (batch.label(i), batch.dot(i, w.view()), batch.sample_id(i)),
                    4,
                );
                assert_eq!(again, seen);
                for (i, &(label, dot, id)) in seen.iter().enumerate() {
                    assert_eq!((label, dot), (id as f64, 2.0 * id as f64 + 3.0), "row {i}");
                }
            }
        }
        // A dense matrix stored column by column has no row as one slice: nothing to fetch.
        let x = Array2::from_shape_fn((5, 2).f(), |(r, c)| (r + c) as f64);
        let d = Dataset::new("cols", Features::Dense(x), Array1::zeros(5)).unwrap();
        for i in 0..7 {
            d.prefetch(i);
        }
        assert_eq!(d.dot(4, w.view()), 2.0 * 4.0 + 3.0 * 5.0);
    }

    #[test]
    fn partition_sizes_differ_by_at_most_one() {
        let d = indexed(50, true);
        for parts in 1..=50 {
            let ps = partition_dataset(&d, parts, 1).unwrap();
            assert_eq!(ps.len(), parts);
            let min = ps.iter().map(|p| p.len()).min().unwrap();
            let max = ps.iter().map(|p| p.len()).max().unwrap();
            assert!(max - min <= 1, "{parts}: {min}..{max}");
            assert_eq!(ps.iter().map(|p| p.len()).sum::<usize>(), 50);
        }
    }

    #[test]
    fn a_batch_gives_the_entries_of_its_rows_and_an_own_view_its_nonzeros() {
        /// An author's view: only the required methods, over a batch.
        struct Own<'a>(Batch<'a>);
        impl Rows for Own<'_> {
            fn len(&self) -> usize {
                self.0.len()
            }
            fn dim(&self) -> usize {
                self.0.dim()
            }
            fn label(&self, i: usize) -> f64 {
                self.0.label(i)
            }
            fn dot(&self, i: usize, w: ArrayView1<'_, f64>) -> f64 {
                self.0.dot(i, w)
            }
            fn axpy(&self, i: usize, alpha: f64, out: ArrayViewMut1<'_, f64>) {
                self.0.axpy(i, alpha, out)
            }
            fn sample_id(&self, i: usize) -> u64 {
                self.0.sample_id(i)
            }
        }
        fn entries(rows: &impl Rows, i: usize) -> Vec<(usize, f64)> {
            let mut seen = Vec::new();
            rows.for_each_entry(i, |j, v| seen.push((j, v)));
            seen
        }
        for sparse in [true, false] {
            let d = indexed(40, sparse);
            let ps = partition_dataset(&d, 3, 9).unwrap();
            let batch = ps[2].sample(6, 1);
            for i in 0..batch.len() {
                let global = batch.sample_id(i) as usize;
                // Row r is (r, 1): its stored entries, the 0 too where dense.
                let stored: Vec<(usize, f64)> = match (sparse, global) {
                    (true, 0) => vec![(1, 1.0)],
                    _ => vec![(0, global as f64), (1, 1.0)],
                };
                assert_eq!(entries(&batch, i), stored, "sparse {sparse}, row {global}");
                assert_eq!(entries(&ps[2], batch.rows()[i]), stored);
                assert_eq!(entries(&d, global), stored);
                let nonzero: Vec<(usize, f64)> =
                    stored.iter().copied().filter(|&(_, v)| v != 0.0).collect();
                assert_eq!(entries(&Own(batch.clone()), i), nonzero);
            }
        }
    }

    #[test]
    fn bad_part_counts_are_errors() {
        let d = indexed(5, false);
        for parts in [0, 6, 100] {
            let err = partition_dataset(&d, parts, 1).unwrap_err();
            assert!(matches!(err, DataError::InvalidPartition { rows: 5, .. }));
        }
    }

    #[test]
    fn sampling_is_deterministic_and_reproducible() {
        let d = indexed(200, true);
        let ps = partition_dataset(&d, 3, 42).unwrap();
        let p = &ps[1];
        let b1 = p.sample(10, 5);
        let b2 = p.sample(10, 5);
        assert_eq!(b1.rows(), b2.rows());
        assert_eq!(b1.len(), 10);
        let mut distinct = b1.rows().to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 10);
        assert_eq!(b1.rows(), &sample_indices(p.len(), 10, 42, 1, 5)[..]);
        // Another iteration, partition or seed gives another draw.
        assert_ne!(b1.rows(), p.sample(10, 6).rows());
        assert_ne!(b1.rows(), &sample_indices(p.len(), 10, 42, 2, 5)[..]);
        assert_ne!(b1.rows(), &sample_indices(p.len(), 10, 43, 1, 5)[..]);
        // Global ids and row access go through the chosen rows.
        let w = Array1::from(vec![1.0, 0.0]);
        for (i, &g) in b1.global_ids().iter().enumerate() {
            assert_eq!(b1.sample_id(i), g);
            assert_eq!(g, p.global_ids()[b1.rows()[i]]);
            assert_eq!(b1.dot(i, w.view()), g as f64);
            assert_eq!(b1.label(i), g as f64);
        }
        // batch == 0: the whole partition in order; batch > len: every row once.
        assert_eq!(p.sample(0, 3).rows(), &(0..p.len()).collect::<Vec<_>>()[..]);
        let mut all = p.sample(10_000, 3).rows().to_vec();
        all.sort_unstable();
        assert_eq!(all, (0..p.len()).collect::<Vec<_>>());
        assert!(sample_indices(0, 5, 1, 0, 0).is_empty());
    }

    #[test]
    fn partition_serde_roundtrip() {
        let (s, dn) = small_pair();
        for d in [s, dn] {
            let ps = partition_dataset(&d, 2, 9).unwrap();
            for p in &ps {
                let bytes = postcard::to_allocvec(p).unwrap();
                let q: Partition = postcard::from_bytes(&bytes).unwrap();
                assert_eq!(q.id(), p.id());
                assert_eq!(q.seed(), p.seed());
                assert_eq!(q.global_ids(), p.global_ids());
                assert_eq!(q.data().name(), p.data().name());
                assert_eq!(q.data().labels(), p.data().labels());
                assert_eq!(q.data().is_sparse(), p.data().is_sparse());
                let w = Array1::from(vec![0.5, -1.0, 2.0, 3.0]);
                for i in 0..p.len() {
                    assert_eq!(q.dot(i, w.view()), p.dot(i, w.view()));
                }
                assert_eq!(q.sample(2, 1).rows(), p.sample(2, 1).rows());
            }
        }
        // A corrupted partition (ids do not match rows) is rejected on decoding.
        let d = indexed(4, true);
        let p = Partition::new(0, 1, d.select(&[0, 1]), vec![0, 1]).unwrap();
        let bad = Partition {
            global_ids: vec![0],
            ..p
        };
        let bytes = postcard::to_allocvec(&bad).unwrap();
        assert!(postcard::from_bytes::<Partition>(&bytes).is_err());
    }
}
