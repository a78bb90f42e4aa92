//! [`Dataset`]: a labelled feature matrix (sparse CSR or dense), and [`Rows`], the row access
//! that loss functions use on a whole dataset, a [`Partition`](super::Partition) or a
//! [`Batch`](super::Batch).

use std::sync::{Arc, OnceLock};

use ndarray::{Array1, Array2, ArrayView1, ArrayViewMut1, Axis};
use serde::{Deserialize, Serialize};
use sprs::CsMat;

use super::error::DataError;
use super::label::LabelRule;
use super::shared::{LabelValues, SharedFile};
use super::split::GrainPlan;

/// The feature matrix of a dataset: one row per sample.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Features {
    /// Sparse, in CSR (row-major compressed) storage, column indices sorted within each row.
    Sparse(CsMat<f64>),
    /// Dense, rows x columns.
    Dense(Array2<f64>),
}

impl Features {
    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        match self {
            Features::Sparse(m) => m.rows(),
            Features::Dense(x) => x.nrows(),
        }
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        match self {
            Features::Sparse(m) => m.cols(),
            Features::Dense(x) => x.ncols(),
        }
    }
}

/// A labelled dataset: `n_rows()` samples of `dim()` features and one real label each
/// (`+1`/`-1` for classification, any real number for regression).
///
/// Deserialisation checks the same invariants as [`Dataset::new`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "DatasetRepr")]
pub struct Dataset {
    name: String,
    features: Features,
    labels: Array1<f64>,
    /// Where its rows start in its file, when it was read whole from one: partitions are
    /// then cut along the file's grains (see [`split`](super::split)).
    #[serde(skip)]
    plan: Option<Arc<GrainPlan>>,
    /// When it stands for a file the workers read themselves: that file (then these rows are
    /// only the driver's evaluation sample).
    #[serde(skip)]
    origin: Option<Arc<SharedFile>>,
    /// When it was read whole from a file: which labels the file's rows use, and where.
    #[serde(skip)]
    file_labels: Option<LabelValues>,
    /// Which dataset this is, for the driver that ships it once, and its fingerprint once
    /// computed: every dataset built, or changed by a method that takes it by value, gets a
    /// new one (a clone keeps it).
    #[serde(skip)]
    identity: Identity,
}

/// A [`Dataset`]'s id and its [`fingerprint`](Dataset::fingerprint), renewed together: a
/// change of its rows that gives it a new id forgets the hash of the old rows (and one of
/// what else the hash covers, its file, forgets the hash).
#[derive(Clone, Debug)]
struct Identity {
    id: u64,
    /// A pass over every row: computed at most once, as a run's summary, model and
    /// comparison each name it.
    fingerprint: OnceLock<String>,
}

impl Identity {
    fn fresh() -> Identity {
        Identity {
            id: fresh_id(),
            fingerprint: OnceLock::new(),
        }
    }
}

/// A process-wide new [`Dataset`] id.
fn fresh_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What a serialised [`Dataset`] holds, before its invariants are checked.
#[derive(Deserialize)]
struct DatasetRepr {
    name: String,
    features: Features,
    labels: Array1<f64>,
}

impl TryFrom<DatasetRepr> for Dataset {
    type Error = DataError;

    fn try_from(r: DatasetRepr) -> Result<Self, Self::Error> {
        Dataset::new(r.name, r.features, r.labels)
    }
}

impl Dataset {
    /// Builds a dataset, checking that there is one label per row. A sparse matrix in CSC
    /// storage is converted to CSR.
    pub fn new(
        name: impl Into<String>,
        features: Features,
        labels: Array1<f64>,
    ) -> Result<Dataset, DataError> {
        let features = match features {
            Features::Sparse(m) => Features::Sparse(canonical_csr(m)?),
            dense => dense,
        };
        let rows = features.n_rows();
        if labels.len() != rows {
            return Err(DataError::DimensionMismatch {
                what: "labels vs feature rows".into(),
                expected: rows,
                found: labels.len(),
            });
        }
        Ok(Dataset {
            name: name.into(),
            features,
            labels,
            plan: None,
            origin: None,
            file_labels: None,
            identity: Identity::fresh(),
        })
    }

    /// Which dataset this is: the driver ships each once (see the field).
    pub(crate) fn id(&self) -> u64 {
        self.identity.id
    }

    /// The same dataset, known to have been read from a text with `plan`.
    pub(crate) fn with_plan(mut self, plan: GrainPlan) -> Dataset {
        self.plan = Some(Arc::new(plan));
        self
    }

    /// The grains of the file this dataset was read from, whole: partitions follow them.
    pub fn plan(&self) -> Option<&GrainPlan> {
        self.plan.as_deref()
    }

    /// The same dataset, read whole from a file whose rows use the labels `labels`.
    pub(crate) fn with_file_labels(mut self, labels: LabelValues) -> Dataset {
        self.file_labels = Some(labels);
        self
    }

    /// Which labels the rows of the file it was read from use, with the line of the first of
    /// each kind, as the file has them: of every row of a file read whole, or of a shared
    /// file it stands for (learnt by the driver's scan); none for a dataset built otherwise.
    /// A classification loss names a label it refuses by its line from these.
    pub fn file_labels(&self) -> Option<LabelValues> {
        match &self.origin {
            Some(file) => Some(file.label_values),
            None => self.file_labels,
        }
    }

    /// The same rows, standing for `file`, which the workers read themselves.
    pub(crate) fn with_origin(mut self, file: SharedFile) -> Dataset {
        self.origin = Some(Arc::new(file));
        // The same rows, so the same id, but a sample's fingerprint covers its file's text.
        self.identity.fingerprint = OnceLock::new();
        self
    }

    /// The file that workers read their own splits of, when this dataset stands for one (see
    /// [`Dataset::open_shared`]); its rows are then the driver's evaluation sample.
    pub fn origin(&self) -> Option<&SharedFile> {
        self.origin.as_deref()
    }

    /// Rows of the whole dataset: [`n_rows`](Dataset::n_rows), or for a dataset that stands
    /// for a shared file, the file's rows (its own rows are then an evaluation sample).
    /// Optimizers that keep a value per row (SAGA's history) size it by this.
    pub fn full_rows(&self) -> usize {
        self.origin
            .as_ref()
            .map_or(self.n_rows(), |o| o.total_rows() as usize)
    }

    /// Whether the dataset's rows are all the rows (not a sample of a shared file).
    pub fn is_whole(&self) -> bool {
        self.full_rows() == self.n_rows()
    }

    /// The dataset's name (the file name when loaded from a file).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of rows (samples).
    pub fn n_rows(&self) -> usize {
        self.labels.len()
    }

    /// Number of columns (features).
    pub fn dim(&self) -> usize {
        self.features.n_cols()
    }

    /// The bytes its rows take in memory (the matrix, its row pointers and the labels),
    /// which a worker holding it counts.
    pub(crate) fn heap_bytes(&self) -> u64 {
        let words = match &self.features {
            Features::Sparse(m) => 2 * m.nnz() + m.rows() + 1,
            Features::Dense(x) => x.len(),
        };
        (words + self.labels.len()) as u64 * 8 + self.name.len() as u64
    }

    /// Number of nonzero feature values (stored entries of a sparse matrix; entries different
    /// from zero of a dense one).
    pub fn nnz(&self) -> usize {
        match &self.features {
            Features::Sparse(m) => m.nnz(),
            Features::Dense(x) => x.iter().filter(|&&v| v != 0.0).count(),
        }
    }

    /// The SHA-256 (hex) of the shape, the labels and every stored entry with its column:
    /// stable across processes and builds, and two datasets with the same fingerprint hold the
    /// same numbers. A dataset that stands for a shared file ([`Dataset::open_shared`]) adds
    /// the checksums its scan took of the whole text, so that a row changed outside the
    /// evaluation sample changes it too.
    pub fn fingerprint(&self) -> String {
        (self.identity.fingerprint)
            .get_or_init(|| self.hash_rows())
            .clone()
    }

    /// [`fingerprint`](Dataset::fingerprint), computed.
    fn hash_rows(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update((self.n_rows() as u64).to_le_bytes());
        hash.update((self.dim() as u64).to_le_bytes());
        for label in &self.labels {
            hash.update(label.to_le_bytes());
        }
        for i in 0..self.n_rows() {
            // Row boundaries are part of the content: the same entries split differently differ.
            hash.update((i as u64).to_le_bytes());
            self.for_each_entry(i, |j, v| {
                hash.update((j as u64).to_le_bytes());
                hash.update(v.to_le_bytes());
            });
        }
        if let Some(file) = self.origin.as_deref().filter(|_| !self.is_whole()) {
            // The rows held are a sample: the rest of the file is known by its checksums.
            hash.update(file.text_fingerprint().as_bytes());
        }
        hex::encode(hash.finalize())
    }

    /// The same dataset with a constant feature `value` appended as the last column (LIBLINEAR's
    /// `-B`): a linear model over it has an intercept (regularised like the other weights).
    pub fn with_bias(mut self, value: f64) -> Dataset {
        if let Some(origin) = &mut self.origin {
            let origin = Arc::make_mut(origin);
            origin.bias = Some(value);
        }
        let n = self.n_rows();
        let features = match self.features {
            Features::Dense(x) => {
                let column = Array2::from_elem((n, 1), value);
                Features::Dense(
                    ndarray::concatenate(Axis(1), &[x.view(), column.view()]).expect("same rows"),
                )
            }
            Features::Sparse(m) => {
                let cols = m.cols();
                let (mut indptr, mut indices, mut data) =
                    (Vec::with_capacity(n + 1), Vec::new(), Vec::new());
                indptr.push(0);
                for i in 0..n {
                    let (idx, val) = sparse_row(&m, i);
                    indices.extend_from_slice(idx);
                    data.extend_from_slice(val);
                    if value != 0.0 {
                        indices.push(cols);
                        data.push(value);
                    }
                    indptr.push(indices.len());
                }
                Features::Sparse(CsMat::new((n, cols + 1), indptr, indices, data))
            }
        };
        Dataset {
            features,
            identity: Identity::fresh(),
            ..self
        }
    }

    /// The same dataset with every label replaced by `f(label)`. A dataset standing for a
    /// shared file cannot tell its workers about `f`: use [`Dataset::with_labels`] there.
    pub fn map_labels(mut self, f: impl Fn(f64) -> f64) -> Dataset {
        self.labels.mapv_inplace(f);
        self.identity = Identity::fresh();
        self
    }

    /// The same dataset with its labels checked (and mapped) by `rule`; an error names the
    /// first row whose label the rule refuses. For a dataset standing for a shared file, the
    /// workers apply the same rule to their rows.
    pub fn with_labels(mut self, rule: LabelRule) -> Result<Dataset, DataError> {
        for (row, label) in self.labels.iter_mut().enumerate() {
            *label = rule.apply(*label).ok_or_else(|| DataError::Label {
                name: self.name.clone(),
                row: row as u64 + 1,
                label: *label,
                rule,
            })?;
        }
        if let Some(origin) = &mut self.origin {
            Arc::make_mut(origin).labels = rule;
        }
        self.identity = Identity::fresh();
        Ok(self)
    }

    /// The labels, one per row.
    pub fn labels(&self) -> ArrayView1<'_, f64> {
        self.labels.view()
    }

    /// The feature matrix.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// Whether the features are stored sparse (CSR).
    pub fn is_sparse(&self) -> bool {
        matches!(self.features, Features::Sparse(_))
    }

    /// Calls `f(column, value)` for each stored entry of row `i`, in ascending column order:
    /// the nonzeros of a sparse row, every entry of a dense one.
    ///
    /// # Panics
    /// If `i >= n_rows()`.
    pub fn for_each_entry(&self, i: usize, mut f: impl FnMut(usize, f64)) {
        match &self.features {
            Features::Sparse(m) => {
                let (idx, val) = sparse_row(m, i);
                for (&j, &v) in idx.iter().zip(val) {
                    f(j, v);
                }
            }
            Features::Dense(x) => {
                for (j, &v) in x.row(i).iter().enumerate() {
                    f(j, v);
                }
            }
        }
    }

    /// The same dataset with sparse (CSR) features; exact zeros of a dense matrix are dropped.
    pub fn to_sparse(&self) -> Dataset {
        let features = match &self.features {
            Features::Sparse(m) => Features::Sparse(m.clone()),
            Features::Dense(x) => Features::Sparse(CsMat::csr_from_dense(x.view(), 0.0)),
        };
        Dataset {
            name: self.name.clone(),
            features,
            labels: self.labels.clone(),
            plan: self.plan.clone(),
            origin: self.origin.clone(),
            file_labels: self.file_labels,
            identity: Identity::fresh(),
        }
    }

    /// The same dataset with dense features. Errors if `n_rows() * dim()` overflows.
    pub fn to_dense(&self) -> Result<Dataset, DataError> {
        let features = match &self.features {
            Features::Dense(x) => Features::Dense(x.clone()),
            Features::Sparse(m) => {
                let (rows, cols) = (m.rows(), m.cols());
                let too_large = || DataError::TooLarge { rows, cols };
                let cells = rows.checked_mul(cols).ok_or_else(too_large)?;
                if cells > isize::MAX as usize / std::mem::size_of::<f64>() {
                    return Err(too_large());
                }
                let mut x = Array2::zeros((rows, cols));
                for (i, mut row) in x.rows_mut().into_iter().enumerate() {
                    let (idx, val) = sparse_row(m, i);
                    for (&j, &v) in idx.iter().zip(val) {
                        row[j] = v;
                    }
                }
                Features::Dense(x)
            }
        };
        Ok(Dataset {
            name: self.name.clone(),
            features,
            labels: self.labels.clone(),
            plan: self.plan.clone(),
            origin: self.origin.clone(),
            file_labels: self.file_labels,
            identity: Identity::fresh(),
        })
    }

    /// A new dataset made of the given rows, in the given order (repetitions allowed), with
    /// the same name, dimension and layout.
    ///
    /// # Panics
    /// If a row index is `>= n_rows()`.
    pub fn select(&self, rows: &[usize]) -> Dataset {
        let features = match &self.features {
            Features::Sparse(m) => {
                let total: usize = rows.iter().map(|&r| sparse_row(m, r).0.len()).sum();
                let mut indptr = Vec::with_capacity(rows.len() + 1);
                let mut indices = Vec::with_capacity(total);
                let mut data = Vec::with_capacity(total);
                indptr.push(0);
                for &r in rows {
                    let (idx, val) = sparse_row(m, r);
                    indices.extend_from_slice(idx);
                    data.extend_from_slice(val);
                    indptr.push(indices.len());
                }
                let sub = CsMat::try_new((rows.len(), m.cols()), indptr, indices, data)
                    .map_err(|(_, _, _, e)| e)
                    .expect("rows of a valid CSR matrix form a valid CSR matrix");
                Features::Sparse(sub)
            }
            Features::Dense(x) => Features::Dense(x.select(Axis(0), rows)),
        };
        Dataset {
            name: self.name.clone(),
            features,
            labels: self.labels.select(Axis(0), rows),
            plan: None,
            origin: None,
            file_labels: None,
            identity: Identity::fresh(),
        }
    }
}

/// Checks `m` and returns it in CSR storage with an index pointer starting at 0.
fn canonical_csr(m: CsMat<f64>) -> Result<CsMat<f64>, DataError> {
    m.check_compressed_structure()
        .map_err(|e| DataError::InvalidMatrix(e.to_string()))?;
    let m = if m.is_csr() { m } else { m.to_csr() };
    if m.indptr().is_proper() {
        return Ok(m);
    }
    // An index pointer with an offset (allowed by sprs): indices and data hold exactly the
    // nonzeros, only the pointer needs shifting.
    let indptr = m.indptr().to_proper().into_owned();
    let shape = (m.rows(), m.cols());
    let indices = m.indices().to_vec();
    let data = m.data().to_vec();
    CsMat::try_new(shape, indptr, indices, data)
        .map_err(|(_, _, _, e)| DataError::InvalidMatrix(e.to_string()))
}

/// Column indices and values of row `i` of a CSR matrix.
pub(crate) fn sparse_row(m: &CsMat<f64>, i: usize) -> (&[usize], &[f64]) {
    let r = m.indptr().outer_inds_sz(i);
    (&m.indices()[r.clone()], &m.data()[r])
}

/// `sum_k val[k] * w[idx[k]]`, touching only the listed entries.
fn sparse_dot(idx: &[usize], val: &[f64], w: ArrayView1<'_, f64>) -> f64 {
    match w.as_slice() {
        Some(ws) => idx.iter().zip(val).map(|(&j, &v)| v * ws[j]).sum(),
        None => idx.iter().zip(val).map(|(&j, &v)| v * w[j]).sum(),
    }
}

/// `out[idx[k]] += alpha * val[k]`, touching only the listed entries.
fn sparse_axpy(idx: &[usize], val: &[f64], alpha: f64, mut out: ArrayViewMut1<'_, f64>) {
    match out.as_slice_mut() {
        Some(os) => {
            for (&j, &v) in idx.iter().zip(val) {
                os[j] += alpha * v;
            }
        }
        None => {
            for (&j, &v) in idx.iter().zip(val) {
                out[j] += alpha * v;
            }
        }
    }
}

/// Row access for loss functions, on a whole [`Dataset`], a
/// [`Partition`](super::Partition) or a [`Batch`](super::Batch).
///
/// Row indices `i` are local to the view (`0..len()`); [`sample_id`](Rows::sample_id) maps them
/// to the row's index in the full dataset. Sparse rows are handled touching only their
/// nonzeros.
///
/// `dot` and `axpy` panic if `i >= len()` or if the vector's length is not `dim()` (sparse
/// rows only notice a vector that is too short).
pub trait Rows {
    /// Number of rows in this view.
    fn len(&self) -> usize;
    /// Number of features.
    fn dim(&self) -> usize;
    /// Label of row `i` of this view.
    fn label(&self, i: usize) -> f64;
    /// `x_i . w`.
    fn dot(&self, i: usize, w: ArrayView1<'_, f64>) -> f64;
    /// `out += alpha * x_i`.
    fn axpy(&self, i: usize, alpha: f64, out: ArrayViewMut1<'_, f64>);
    /// Index of row `i` in the full dataset (its global id).
    fn sample_id(&self, i: usize) -> u64;
    /// Whether the view has no row.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A hint that row `i` is read soon: a view may start bringing it into the cache while
    /// the row before it is computed on. It changes no result; a row out of range is ignored.
    /// The default does nothing.
    fn prefetch(&self, i: usize) {
        let _ = i;
    }
    /// Calls `f(column, value)` for each entry of row `i`, in ascending column order: what a
    /// model that is not linear in the features reads (a square of each, a pair's product, a
    /// split on one). The views of a [`Dataset`] give its stored entries (see
    /// [`Dataset::for_each_entry`]); for an author's own view, this default gives the nonzeros
    /// that `axpy` writes, at the cost of a vector of `dim()`.
    fn for_each_entry(&self, i: usize, mut f: impl FnMut(usize, f64))
    where
        Self: Sized,
    {
        let mut row = ndarray::Array1::zeros(self.dim());
        self.axpy(i, 1.0, row.view_mut());
        for (j, &v) in row.iter().enumerate() {
            if v != 0.0 {
                f(j, v);
            }
        }
    }
}

impl Rows for Dataset {
    fn len(&self) -> usize {
        self.n_rows()
    }

    fn dim(&self) -> usize {
        Dataset::dim(self)
    }

    fn label(&self, i: usize) -> f64 {
        self.labels[i]
    }

    fn dot(&self, i: usize, w: ArrayView1<'_, f64>) -> f64 {
        match &self.features {
            Features::Sparse(m) => {
                let (idx, val) = sparse_row(m, i);
                sparse_dot(idx, val, w)
            }
            Features::Dense(x) => x.row(i).dot(&w),
        }
    }

    fn axpy(&self, i: usize, alpha: f64, mut out: ArrayViewMut1<'_, f64>) {
        match &self.features {
            Features::Sparse(m) => {
                let (idx, val) = sparse_row(m, i);
                sparse_axpy(idx, val, alpha, out);
            }
            Features::Dense(x) => out.scaled_add(alpha, &x.row(i)),
        }
    }

    fn sample_id(&self, i: usize) -> u64 {
        i as u64
    }

    fn prefetch(&self, i: usize) {
        if i >= self.n_rows() {
            return;
        }
        if let Some(label) = self.labels.get(i) {
            prefetch_bytes(std::slice::from_ref(label));
        }
        match &self.features {
            Features::Dense(x) => {
                if let Some(row) = x.row(i).to_slice() {
                    prefetch_bytes(row);
                }
            }
            Features::Sparse(m) => {
                let (idx, val) = sparse_row(m, i);
                prefetch_bytes(idx);
                prefetch_bytes(val);
            }
        }
    }

    fn for_each_entry(&self, i: usize, f: impl FnMut(usize, f64)) {
        Dataset::for_each_entry(self, i, f)
    }
}

/// Asks the processor to bring the cache lines of `values` in (x86-64; elsewhere nothing):
/// a hint that neither reads nor changes them.
#[allow(unused_variables)]
fn prefetch_bytes<T>(values: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        const LINE: usize = 64;
        let start = values.as_ptr() as *const i8;
        let bytes = std::mem::size_of_val(values);
        let mut offset = 0;
        while offset < bytes {
            // SAFETY: a prefetch reads and writes nothing and never faults, whatever the
            // address; this one is inside the slice's bytes anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
            offset += LINE;
        }
        if bytes > 0 {
            // SAFETY: as above; the slice's last byte.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(bytes - 1)) };
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::{Layout, LoadOptions};
    use ndarray::array;
    use std::collections::BTreeMap;
    use std::time::Instant;

    /// A small sparse dataset and the same as dense.
    pub(crate) fn small_pair() -> (Dataset, Dataset) {
        let dense = array![
            [1.0, 0.0, 2.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, -3.0, 0.0, 0.5],
            [4.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 7.0]
        ];
        let labels = array![1.0, -1.0, -1.0, 1.0, 1.0];
        let sparse = CsMat::csr_from_dense(dense.view(), 0.0);
        (
            Dataset::new("s", Features::Sparse(sparse), labels.clone()).unwrap(),
            Dataset::new("d", Features::Dense(dense), labels).unwrap(),
        )
    }

    #[test]
    fn a_changed_dataset_is_another_for_the_driver_and_a_clone_the_same() {
        let (data, _) = small_pair();
        let id = data.id();
        assert_eq!(data.clone().id(), id, "a clone holds the same rows");
        let relabelled = data.clone().map_labels(|y| -y);
        assert_ne!(relabelled.id(), id);
        let biased = data.clone().with_bias(1.0);
        assert_ne!(biased.id(), id);
        let checked = data
            .clone()
            .with_labels(crate::data::LabelRule::Signed)
            .unwrap();
        assert_ne!(checked.id(), id);
        assert_ne!(data.to_sparse().id(), id);
    }

    #[test]
    fn a_fingerprint_computed_once_is_forgotten_with_the_rows_it_hashed() {
        let (data, _) = small_pair();
        let hashed = data.fingerprint();
        assert_eq!(
            data.clone().fingerprint(),
            hashed,
            "a clone holds the same rows"
        );
        let relabelled = data.clone().map_labels(|y| -y);
        assert_ne!(relabelled.fingerprint(), hashed);
        assert_eq!(relabelled.fingerprint(), relabelled.hash_rows());
        let biased = data.clone().with_bias(1.0);
        assert_ne!(biased.fingerprint(), hashed);
        assert_eq!(biased.fingerprint(), biased.hash_rows());
    }

    #[test]
    fn rows_agree_sparse_dense() {
        let (s, d) = small_pair();
        assert_eq!(s.nnz(), 7);
        assert_eq!(d.nnz(), 7);
        assert!(s.is_sparse() && !d.is_sparse());
        let w = array![0.5, -1.0, 2.0, 3.0];
        // A strided (non-contiguous) view exercises the fallback path.
        let wide = array![0.5, 9.0, -1.0, 9.0, 2.0, 9.0, 3.0, 9.0];
        let strided = wide.slice(ndarray::s![..;2]);
        for i in 0..5 {
            let expect: f64 = (0..4)
                .map(|j| match &d.features {
                    Features::Dense(x) => x[[i, j]] * w[j],
                    Features::Sparse(_) => unreachable!(),
                })
                .sum();
            assert_eq!(s.dot(i, w.view()), expect);
            assert_eq!(d.dot(i, w.view()), expect);
            assert_eq!(s.dot(i, strided), expect);
            let mut a = Array1::zeros(4);
            let mut b = Array1::from(vec![1.0; 4]);
            s.axpy(i, 2.0, a.view_mut());
            d.axpy(i, 2.0, b.view_mut());
            assert_eq!(a + 1.0, b);
            assert_eq!(s.sample_id(i), i as u64);
            assert_eq!(s.label(i), d.label(i));
        }
        let mut entries = Vec::new();
        s.for_each_entry(3, |j, v| entries.push((j, v)));
        assert_eq!(entries, vec![(0, 4.0), (1, 1.0)]);
    }

    #[test]
    fn select_keeps_order_and_layout() {
        let (s, d) = small_pair();
        for ds in [&s, &d] {
            let sub = ds.select(&[4, 0, 4]);
            assert_eq!(sub.n_rows(), 3);
            assert_eq!(sub.dim(), 4);
            assert_eq!(sub.is_sparse(), ds.is_sparse());
            assert_eq!(sub.labels().to_vec(), vec![1.0, 1.0, 1.0]);
            let w = array![1.0, 10.0, 100.0, 1000.0];
            let dots: Vec<f64> = (0..3).map(|i| sub.dot(i, w.view())).collect();
            assert_eq!(dots, vec![7000.0, 201.0, 7000.0]);
        }
        assert_eq!(s.select(&[]).n_rows(), 0);
    }

    #[test]
    fn layout_conversions_roundtrip() {
        let (s, d) = small_pair();
        let s2 = d.to_sparse();
        let d2 = s.to_dense().unwrap();
        assert!(s2.is_sparse() && !d2.is_sparse());
        match (s.features(), s2.features(), d.features(), d2.features()) {
            (Features::Sparse(a), Features::Sparse(b), Features::Dense(x), Features::Dense(y)) => {
                assert_eq!(a, b);
                assert_eq!(x, y);
            }
            _ => panic!("wrong layouts"),
        }
        assert_eq!(s2.labels(), d.labels());
        assert_eq!(d2.nnz(), 7);
    }

    #[test]
    fn new_checks_lengths_and_converts_csc() {
        let (s, _) = small_pair();
        let err = Dataset::new("x", s.features().clone(), array![1.0]).unwrap_err();
        assert!(matches!(
            err,
            DataError::DimensionMismatch {
                expected: 5,
                found: 1,
                ..
            }
        ));
        let Features::Sparse(m) = s.features() else {
            unreachable!()
        };
        let csc = Dataset::new("c", Features::Sparse(m.to_csc()), s.labels().to_owned()).unwrap();
        let w = array![0.5, -1.0, 2.0, 3.0];
        for i in 0..5 {
            assert_eq!(csc.dot(i, w.view()), s.dot(i, w.view()));
        }
        // An index pointer that does not start at 0 is normalised.
        let offset = CsMat::new((2, 2), vec![3, 4, 5], vec![1, 0], vec![2.0, 3.0]);
        let o = Dataset::new("o", Features::Sparse(offset), array![1.0, 1.0]).unwrap();
        assert_eq!(o.dot(0, w.view()), -2.0);
        assert_eq!(o.dot(1, w.view()), 1.5);
        let Features::Sparse(m) = o.features() else {
            unreachable!()
        };
        assert_eq!(m.indptr().raw_storage(), &[0, 1, 2]);
    }

    struct Expect {
        file: &'static str,
        dim: Option<usize>,
        rows: usize,
        cols: usize,
        nnz: usize,
        labels: &'static [(i64, usize)],
        dense: bool,
    }

    fn check_real(e: &Expect) -> Dataset {
        let t = Instant::now();
        let opts = LoadOptions {
            dim: e.dim,
            layout: Layout::Auto,
            ..LoadOptions::default()
        };
        let d = Dataset::load(test_support::data(e.file), &opts)
            .unwrap_or_else(|err| panic!("loading {}: {err}", e.file));
        eprintln!("loaded {} in {:.2?}", e.file, t.elapsed());
        assert_eq!(d.name(), e.file);
        assert_eq!(d.n_rows(), e.rows, "{}", e.file);
        assert_eq!(d.dim(), e.cols, "{}", e.file);
        assert_eq!(d.nnz(), e.nnz, "{}", e.file);
        assert_eq!(d.is_sparse(), !e.dense, "{}", e.file);
        if !e.labels.is_empty() {
            let mut counts = BTreeMap::new();
            for &y in d.labels() {
                *counts.entry(y as i64).or_insert(0usize) += 1;
                assert_eq!(y, y.trunc(), "{}: non-integer class label", e.file);
            }
            assert_eq!(counts, e.labels.iter().copied().collect(), "{}", e.file);
        }
        d
    }

    #[test]
    fn fingerprint_sees_every_label_and_entry() {
        let (sparse, dense) = small_pair();
        assert_eq!(sparse.fingerprint(), dense.to_sparse().fingerprint());
        assert_eq!(sparse.fingerprint().len(), 64);
        // Two labels that trade signs change the content and so the fingerprint.
        let mut labels = sparse.labels().to_owned();
        labels.swap(0, 1);
        let swapped = Dataset::new("s", sparse.features().clone(), labels).unwrap();
        assert_ne!(swapped.fingerprint(), sparse.fingerprint());
        let negated = sparse.clone().map_labels(|y| -y);
        assert_ne!(negated.fingerprint(), sparse.fingerprint());
    }

    #[test]
    fn bias_appends_a_constant_column_sparse_and_dense() {
        let (sparse, dense) = small_pair();
        let (sb, db) = (sparse.clone().with_bias(1.0), dense.clone().with_bias(1.0));
        for d in [&sb, &db] {
            assert_eq!(d.dim(), 5);
            assert_eq!(d.n_rows(), 5);
            for i in 0..5 {
                let mut last = None;
                d.for_each_entry(i, |j, v| {
                    if j == 4 {
                        last = Some(v)
                    }
                });
                assert_eq!(last, Some(1.0), "row {i}");
            }
        }
        assert_eq!(sb.to_dense().unwrap().fingerprint(), db.fingerprint());
        assert_eq!(sb.nnz(), sparse.nnz() + 5);
    }

    #[test]
    fn real_a9a_and_a9a_t() {
        check_real(&Expect {
            file: "a9a.xz",
            dim: None,
            rows: 32_561,
            cols: 123,
            nnz: 451_592,
            labels: &[(-1, 24_720), (1, 7_841)],
            dense: false,
        });
        let t = Expect {
            file: "a9a.t.xz",
            dim: Some(123),
            rows: 16_281,
            cols: 123,
            nnz: 225_731,
            labels: &[(-1, 12_435), (1, 3_846)],
            dense: false,
        };
        check_real(&t);
        // Without the forced dimension, a9a.t has only 122 columns.
        check_real(&Expect {
            dim: None,
            cols: 122,
            ..t
        });
    }

    #[test]
    fn real_w8a() {
        let d = check_real(&Expect {
            file: "w8a.xz",
            dim: None,
            rows: 49_749,
            cols: 300,
            nnz: 579_586,
            labels: &[(-1, 48_270), (1, 1_479)],
            dense: false,
        });
        let Features::Sparse(m) = d.features() else {
            unreachable!()
        };
        let empty = (0..d.n_rows())
            .filter(|&i| sparse_row(m, i).0.is_empty())
            .count();
        assert_eq!(empty, 4_203, "label-only rows of w8a");
    }

    #[test]
    fn real_cal_housing() {
        for (file, nnz) in [
            ("cal_housing.xz", 165_120),
            ("cal_housing.scale.xz", 165_103),
        ] {
            let d = check_real(&Expect {
                file,
                dim: None,
                rows: 20_640,
                cols: 8,
                nnz,
                labels: &[],
                dense: true,
            });
            let y = d.labels();
            let min = y.iter().copied().fold(f64::INFINITY, f64::min);
            let max = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert!((0.14..=0.15).contains(&min) && (5.0..=5.00002).contains(&max));
            let mut distinct: Vec<u64> = y.iter().map(|v| v.to_bits()).collect();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 3_842, "{file}");
        }
    }

    #[test]
    fn real_reviews_tfidf_subsample() {
        let d = check_real(&Expect {
            file: "reviews_tfidf.sub8.xz",
            dim: None,
            rows: 2_831,
            cols: 8_462,
            nnz: 123_791,
            labels: &[(-1, 484), (1, 2_347)],
            dense: false,
        });
        // Rows are scaled to unit L2 norm (6 significant digits).
        let mut sq = Array1::<f64>::zeros(d.n_rows());
        for i in 0..d.n_rows() {
            d.for_each_entry(i, |_, v| sq[i] += v * v);
        }
        assert!(sq.iter().all(|&s| (s - 1.0f64).abs() < 1e-4));
    }

    #[test]
    fn real_bio_kdd04_subsample() {
        let d = check_real(&Expect {
            file: "bio_kdd04.sub25.xz",
            dim: None,
            rows: 5_831,
            cols: 75,
            nnz: 437_325,
            labels: &[(-1, 5_781), (1, 50)],
            dense: true,
        });
        // Feature 75 is the appended constant before row normalisation: positive everywhere.
        let Features::Dense(x) = d.features() else {
            unreachable!()
        };
        assert!(x.column(74).iter().all(|&v| v > 0.0));
    }
}
