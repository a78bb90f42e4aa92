//! A shipped dataset decoded within what its frame can hold. A sparse matrix's row pointers
//! and column indices are a byte each on the wire when small and 8 in memory: decoded as sprs
//! derives them, a frame of a few MiB became 8 times that before anything counted it. Here
//! each array is bounded by the header before it (rows, columns, the nonzeros the row
//! pointers end at) and by the frame's length, and checked entry by entry as it decodes: a
//! frame that lies is refused having cost little more than itself.

use std::cell::Cell;
use std::fmt;

use ndarray::{Array1, Array2};
use serde::de::{DeserializeSeed, EnumAccess, Error, SeqAccess, VariantAccess, Visitor};
use serde::Deserializer;
use sprs::{CompressedStorage, CsMat};

use super::dataset::{Dataset, Features};

/// Bytes a row takes on the wire at least: its row pointer (a byte) and its label (8).
const ROW_WIRE: usize = 9;

/// Bytes a nonzero takes on the wire at least: its column index (a byte) and its value (8).
const NONZERO_WIRE: usize = 9;

/// Entries reserved ahead when the frame's length is unknown: the rest as they decode.
const UNKNOWN_RESERVE: usize = 1 << 16;

/// What bounds a shipped dataset's decoding: the frame's length, when known, and where the
/// reason for a refusal is kept (postcard's errors drop a custom message).
#[derive(Clone, Copy)]
pub(crate) struct Wire<'a> {
    len: Option<usize>,
    why: &'a Cell<Option<String>>,
}

impl<'a> Wire<'a> {
    /// Decoding from a frame of `len` bytes (`None`: unknown), the reason of a refusal kept
    /// in `why`.
    pub fn new(len: Option<usize>, why: &'a Cell<Option<String>>) -> Wire<'a> {
        Wire { len, why }
    }

    /// An error saying `reason`, kept for the caller too.
    pub fn refuse<E: Error>(self, reason: String) -> E {
        let error = E::custom(&reason);
        self.why.set(Some(reason));
        error
    }

    /// The most nonzeros a frame holding `rows` rows can hold, or why the rows do not fit.
    fn nonzeros_beside(self, rows: usize) -> Result<usize, String> {
        let Some(len) = self.len else {
            return Ok(usize::MAX);
        };
        let rows_take = rows.saturating_mul(ROW_WIRE).saturating_add(1);
        len.checked_sub(rows_take)
            .map(|left| left / NONZERO_WIRE)
            .ok_or_else(|| format!("its {rows} rows cannot fit in its {len} bytes"))
    }

    /// Entries worth reserving for a list of `n` entries already checked against the frame.
    fn reserve(self, n: usize) -> usize {
        match self.len {
            Some(_) => n,
            None => n.min(UNKNOWN_RESERVE),
        }
    }
}

/// A [`Dataset`] as it is serialized (name, features, labels), decoded within `Wire`.
pub(crate) struct DatasetSeed<'a>(pub Wire<'a>);

impl<'de> DeserializeSeed<'de> for DatasetSeed<'_> {
    type Value = Dataset;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Dataset, D::Error> {
        const FIELDS: &[&str] = &["name", "features", "labels"];
        deserializer.deserialize_struct("Dataset", FIELDS, self)
    }
}

impl<'de> Visitor<'de> for DatasetSeed<'_> {
    type Value = Dataset;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a dataset")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Dataset, A::Error> {
        let missing = |at| A::Error::invalid_length(at, &"3 fields of a dataset");
        let name: String = seq.next_element()?.ok_or_else(|| missing(0))?;
        let features = seq
            .next_element_seed(FeaturesSeed(self.0))?
            .ok_or_else(|| missing(1))?;
        let labels: Array1<f64> = seq.next_element()?.ok_or_else(|| missing(2))?;
        Dataset::new(name, features, labels).map_err(|e| self.0.refuse(e.to_string()))
    }
}

/// [`Features`], sparse or dense.
struct FeaturesSeed<'a>(Wire<'a>);

impl<'de> DeserializeSeed<'de> for FeaturesSeed<'_> {
    type Value = Features;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Features, D::Error> {
        deserializer.deserialize_enum("Features", &["Sparse", "Dense"], self)
    }
}

impl<'de> Visitor<'de> for FeaturesSeed<'_> {
    type Value = Features;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sparse or dense features")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Features, A::Error> {
        let (variant, features) = data.variant::<u32>()?;
        match variant {
            0 => features
                .newtype_variant_seed(CsrSeed(self.0))
                .map(Features::Sparse),
            1 => features
                .newtype_variant::<Array2<f64>>()
                .map(Features::Dense),
            other => Err(self.0.refuse(format!(
                "its features are of kind {other}, neither sparse (0) nor dense (1)"
            ))),
        }
    }
}

/// A CSR matrix as sprs serializes one: storage, rows, columns, row pointers, column
/// indices, values.
struct CsrSeed<'a>(Wire<'a>);

impl<'de> DeserializeSeed<'de> for CsrSeed<'_> {
    type Value = CsMat<f64>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<CsMat<f64>, D::Error> {
        const FIELDS: &[&str] = &["storage", "nrows", "ncols", "indptr", "indices", "data"];
        deserializer.deserialize_struct("CsMatBase", FIELDS, self)
    }
}

impl<'de> Visitor<'de> for CsrSeed<'_> {
    type Value = CsMat<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sparse matrix")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CsMat<f64>, A::Error> {
        let wire = self.0;
        let missing = |at| A::Error::invalid_length(at, &"6 fields of a sparse matrix");
        let storage: CompressedStorage = seq.next_element()?.ok_or_else(|| missing(0))?;
        if storage != CompressedStorage::CSR {
            return Err(wire.refuse("its sparse features are stored by columns, not rows".into()));
        }
        let rows: usize = seq.next_element()?.ok_or_else(|| missing(1))?;
        let cols: usize = seq.next_element()?.ok_or_else(|| missing(2))?;
        let most = wire.nonzeros_beside(rows).map_err(|why| wire.refuse(why))?;
        let indptr = seq
            .next_element_seed(RowPointers { rows, most, wire })?
            .ok_or_else(|| missing(3))?;
        let indices = seq
            .next_element_seed(ColumnIndices {
                indptr: &indptr,
                cols,
                wire,
            })?
            .ok_or_else(|| missing(4))?;
        let nonzeros = indices.len();
        let data: Vec<f64> = seq
            .next_element_seed(crate::bounded::AtMost::new(nonzeros))?
            .ok_or_else(|| missing(5))?;
        if data.len() != nonzeros {
            return Err(wire.refuse(format!(
                "its sparse features hold {} values for {nonzeros} nonzeros",
                data.len()
            )));
        }
        CsMat::try_new((rows, cols), indptr, indices, data)
            .map_err(|(_, _, _, e)| wire.refuse(format!("its sparse features: {e}")))
    }
}

/// The `rows + 1` row pointers of a CSR matrix: from 0, never decreasing, ending at its count
/// of nonzeros, at most `most`.
struct RowPointers<'a> {
    rows: usize,
    most: usize,
    wire: Wire<'a>,
}

impl<'de> DeserializeSeed<'de> for RowPointers<'_> {
    type Value = Vec<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<usize>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowPointers<'_> {
    type Value = Vec<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} row pointers", self.rows.saturating_add(1))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<usize>, A::Error> {
        let (rows, wire) = (self.rows, self.wire);
        let wanted = rows.saturating_add(1);
        let lie = |why: String| wire.refuse::<A::Error>(format!("its sparse features' {why}"));
        if let Some(declared) = seq.size_hint().filter(|&n| n != wanted) {
            return Err(lie(format!("row pointers are {declared}, for {rows} rows")));
        }
        let mut indptr = Vec::with_capacity(wire.reserve(wanted));
        let mut last = 0;
        while let Some(at) = seq.next_element::<usize>()? {
            if indptr.len() == wanted {
                return Err(lie(format!("row pointers are more than {wanted}")));
            }
            if indptr.is_empty() && at != 0 {
                return Err(lie(format!("first row pointer is {at}, not 0")));
            }
            if at < last {
                return Err(lie(format!(
                    "row pointer {} goes back from {last} to {at}",
                    indptr.len()
                )));
            }
            if at > self.most {
                return Err(lie(format!(
                    "{at} nonzeros cannot fit in the frame ({} at most)",
                    self.most
                )));
            }
            last = at;
            indptr.push(at);
        }
        if indptr.len() != wanted {
            return Err(lie(format!(
                "row pointers are {}, for {rows} rows",
                indptr.len()
            )));
        }
        Ok(indptr)
    }
}

/// A CSR matrix's column indices, as many as its row pointers end at: each below its
/// columns, ascending within its row.
struct ColumnIndices<'a, 'p> {
    indptr: &'p [usize],
    cols: usize,
    wire: Wire<'a>,
}

impl<'de> DeserializeSeed<'de> for ColumnIndices<'_, '_> {
    type Value = Vec<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<usize>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ColumnIndices<'_, '_> {
    type Value = Vec<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("column indices")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<usize>, A::Error> {
        let (cols, wire) = (self.cols, self.wire);
        let nonzeros = self.indptr.last().copied().unwrap_or(0);
        let lie = |why: String| wire.refuse::<A::Error>(format!("its sparse features' {why}"));
        if let Some(declared) = seq.size_hint().filter(|&n| n != nonzeros) {
            return Err(lie(format!(
                "column indices are {declared}, for {nonzeros} nonzeros"
            )));
        }
        let mut indices = Vec::with_capacity(wire.reserve(nonzeros));
        for (row, ends) in self.indptr.windows(2).enumerate() {
            let mut before = None;
            for _ in ends[0]..ends[1] {
                let Some(col) = seq.next_element::<usize>()? else {
                    return Err(lie(format!(
                        "column indices end at {}, before its {nonzeros} nonzeros",
                        indices.len()
                    )));
                };
                if col >= cols {
                    return Err(lie(format!(
                        "column index {col} in row {row} is past its {cols} columns"
                    )));
                }
                if before.is_some_and(|b| col <= b) {
                    return Err(lie(format!(
                        "column indices of row {row} do not ascend ({col} after {})",
                        before.unwrap_or_default()
                    )));
                }
                before = Some(col);
                indices.push(col);
            }
        }
        if seq.next_element::<usize>()?.is_some() {
            return Err(lie(format!(
                "column indices are more than its {nonzeros} nonzeros"
            )));
        }
        Ok(indices)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array1;
    use serde::Serialize;
    use sprs::{CompressedStorage, CsMat};

    use crate::data::{Dataset, Features, Partition};

    /// A sparse matrix's fields as sprs serializes them, any of them a lie.
    #[derive(Serialize)]
    struct Csr {
        storage: CompressedStorage,
        nrows: usize,
        ncols: usize,
        indptr: Vec<usize>,
        indices: Vec<usize>,
        data: Vec<f64>,
    }

    #[derive(Serialize)]
    enum Kind {
        Sparse(Csr),
    }

    #[derive(Serialize)]
    struct Rows {
        name: String,
        features: Kind,
        labels: Array1<f64>,
    }

    /// A shipped partition of sparse rows `csr`, a label and an id per row.
    fn shipped(csr: Csr) -> Vec<u8> {
        let rows = csr.nrows.min(1 << 20);
        let rows = Rows {
            name: "d".into(),
            features: Kind::Sparse(csr),
            labels: Array1::zeros(rows),
        };
        let ids: Vec<u64> = (0..rows.labels.len() as u64).collect();
        postcard::to_allocvec(&(0u32, 0u64, rows, ids)).unwrap()
    }

    /// 2 rows of 3 columns: (1, 0, 2) and (0, 3, 0).
    fn honest() -> Csr {
        Csr {
            storage: CompressedStorage::CSR,
            nrows: 2,
            ncols: 3,
            indptr: vec![0, 2, 3],
            indices: vec![0, 2, 1],
            data: vec![1.0, 2.0, 3.0],
        }
    }

    /// A change that makes an honest matrix lie.
    type Lie = fn(&mut Csr);

    fn refused(csr: Csr) -> String {
        Partition::decode(&shipped(csr)).unwrap_err()
    }

    #[test]
    fn an_honest_sparse_partition_decodes_as_it_was_encoded() {
        let m = CsMat::new((2, 3), vec![0, 2, 3], vec![0, 2, 1], vec![1.0, 2.0, 3.0]);
        let rows = Dataset::new("d", Features::Sparse(m), Array1::zeros(2)).unwrap();
        let partition = Partition::new(0, 0, rows, vec![0, 1]).unwrap();
        let bytes = postcard::to_allocvec(&partition).unwrap();
        assert_eq!(bytes, shipped(honest()), "the test's layout is the wire's");
        let decoded = Partition::decode(&bytes).unwrap();
        let Features::Sparse(m) = decoded.data().features() else {
            panic!("sparse")
        };
        assert_eq!(m.indptr().raw_storage(), [0, 2, 3]);
        assert_eq!(
            (m.indices(), m.data()),
            (&[0, 2, 1][..], &[1.0, 2.0, 3.0][..])
        );
    }

    #[test]
    fn a_sparse_partition_that_lies_about_its_structure_is_refused_saying_how() {
        let lies: [(Lie, &str); 8] = [
            (
                |m| m.indices[1] = 3,
                "column index 3 in row 0 is past its 3 columns",
            ),
            (
                |m| m.indices = vec![2, 0, 1],
                "of row 0 do not ascend (0 after 2)",
            ),
            (
                |m| m.indptr = vec![0, 3, 2],
                "row pointer 2 goes back from 3 to 2",
            ),
            (
                |m| m.indptr = vec![1, 2, 3],
                "first row pointer is 1, not 0",
            ),
            (|m| m.indptr = vec![0, 3], "row pointers are 2, for 2 rows"),
            (
                |m| m.indices = vec![0, 2],
                "column indices are 2, for 3 nonzeros",
            ),
            (|m| m.data = vec![1.0], "hold 1 values for 3 nonzeros"),
            (|m| m.storage = CompressedStorage::CSC, "stored by columns"),
        ];
        for (lie, says) in lies {
            let mut m = honest();
            lie(&mut m);
            let error = refused(m);
            assert!(error.contains(says), "{error} (wanted: {says})");
        }
    }

    #[test]
    fn nonzeros_or_rows_past_what_the_frame_holds_are_refused_before_they_decode() {
        // One row declaring 2^20 nonzeros, their indices a byte each (8 MiB in memory from 1
        // MiB): the values (8 bytes each) are not in the frame, so no index decodes.
        let n = 1 << 20;
        let mut m = honest();
        m.nrows = 1;
        m.ncols = n;
        m.indptr = vec![0, n];
        m.indices = (0..n).collect();
        m.data = Vec::new();
        let error = refused(m);
        assert!(
            error.contains("nonzeros cannot fit in the frame"),
            "{error}"
        );
        // 2^40 rows, their row pointers a byte each.
        let mut m = honest();
        m.nrows = 1 << 40;
        m.indptr = vec![0; 1 << 10];
        let error = refused(m);
        assert!(error.contains("rows cannot fit in its"), "{error}");
    }
}
