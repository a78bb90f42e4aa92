//! Loss functions of the benchmark problems, over any [`Rows`] view (a whole dataset, a
//! partition or a mini-batch), and the exact least-squares optimum used as the reference `f*`.
//!
//! - Least squares: `f(w) = 1/(2n) sum_i (x_i.w - y_i)^2`, and ridge least squares with
//!   `lambda/2 |w|^2` added.
//! - L2-regularised logistic regression, labels `+1`/`-1`:
//!   `f(w) = 1/n sum_i log(1 + exp(-y_i x_i.w)) + lambda/2 |w|^2`.
//!
//! Both are means over the rows of the view, so a batch's gradient is an unbiased estimate of
//! the full gradient. No intercept: datasets that need one carry a constant feature.

use asyncopt_runtime::data::{Dataset, Features, Rows};

use std::fmt;

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView1};
use serde::{Deserialize, Serialize};
use sprs::CsMat;

/// A loss function: the per-sample loss of the margin `x_i.w` averaged over rows, plus an
/// optional L2 regulariser.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Loss {
    /// `1/(2n) sum (x_i.w - y_i)^2`.
    LeastSquares,
    /// Ridge least squares: `1/(2n) sum (x_i.w - y_i)^2 + lambda/2 |w|^2`.
    Ridge {
        /// L2 regularisation weight (`>= 0`).
        lambda: f64,
    },
    /// `1/n sum log(1 + exp(-y_i x_i.w)) + lambda/2 |w|^2`, labels `+1`/`-1`.
    Logistic {
        /// L2 regularisation weight (`>= 0`).
        lambda: f64,
    },
}

impl Loss {
    /// The least-squares or logistic loss with L2 weight `lambda` (plain least squares for 0).
    pub fn with_lambda(squared: bool, lambda: f64) -> Loss {
        if !squared {
            Loss::Logistic { lambda }
        } else if lambda == 0.0 {
            Loss::LeastSquares
        } else {
            Loss::Ridge { lambda }
        }
    }

    /// The command line's name of the loss: `least-squares` (ridge included) or `logistic`.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::LeastSquares | Loss::Ridge { .. } => "least-squares",
            Loss::Logistic { .. } => "logistic",
        }
    }

    /// Whether the loss is a classification loss, whose labels must be `+1`/`-1`.
    pub fn is_classification(&self) -> bool {
        matches!(self, Loss::Logistic { .. })
    }

    /// The L2 regularisation weight (0 for plain least squares).
    pub fn lambda(&self) -> f64 {
        match *self {
            Loss::LeastSquares => 0.0,
            Loss::Ridge { lambda } | Loss::Logistic { lambda } => lambda,
        }
    }

    /// The largest second derivative of the per-sample loss in the margin: 1 for least
    /// squares, 1/4 for logistic regression. The Hessian is at most
    /// `curvature() X^T X / n + lambda I`.
    pub fn curvature(&self) -> f64 {
        match self {
            Loss::LeastSquares | Loss::Ridge { .. } => 1.0,
            Loss::Logistic { .. } => 0.25,
        }
    }

    /// The per-sample loss at margin `x.w` (without the regulariser):
    /// `(margin - label)^2 / 2`, or `log(1 + exp(-label * margin))` computed without overflow.
    pub fn value(&self, margin: f64, label: f64) -> f64 {
        match self {
            Loss::LeastSquares | Loss::Ridge { .. } => 0.5 * (margin - label) * (margin - label),
            Loss::Logistic { .. } => log1p_exp(-label * margin),
        }
    }

    /// The derivative of the per-sample loss with respect to the margin `x.w`: the scalar
    /// that, times `x`, is the sample's gradient (what SAGA keeps in its history).
    /// `margin - label`, or `-label / (1 + exp(label * margin))`.
    pub fn derivative(&self, margin: f64, label: f64) -> f64 {
        match self {
            Loss::LeastSquares | Loss::Ridge { .. } => margin - label,
            Loss::Logistic { .. } => -label * sigmoid(-label * margin),
        }
    }

    /// The objective: mean per-sample loss over `rows` plus `lambda/2 |w|^2` (a view with no
    /// row contributes only the regulariser). The sum over rows is compensated (Neumaier), so
    /// its rounding error does not grow with the number of rows and small suboptimalities
    /// `f(w) - f*` stay meaningful.
    ///
    /// # Panics
    /// If `w.len() != rows.dim()`, with a message that gives both, at the caller's line.
    #[track_caller]
    pub fn objective(&self, rows: &(impl Rows + ?Sized), w: ArrayView1<'_, f64>) -> f64 {
        self.objective_of_sums(&[self.loss_sum(rows, w)], rows.len(), w)
    }

    /// The sum of the per-sample losses over `rows`, compensated as in
    /// [`objective`](Loss::objective): the part of it a pass over data read in pieces adds up
    /// piece by piece (see [`objective_of_sums`](Loss::objective_of_sums)).
    ///
    /// # Panics
    /// If `w.len() != rows.dim()`, with a message that gives both, at the caller's line.
    #[track_caller]
    pub fn loss_sum(&self, rows: &(impl Rows + ?Sized), w: ArrayView1<'_, f64>) -> f64 {
        check_len(rows, w);
        let mut sum = Neumaier::default();
        for i in 0..rows.len() {
            sum.add(self.value(rows.dot(i, w), rows.label(i)));
        }
        sum.total()
    }

    /// The objective at `w` of `rows` rows whose per-sample losses sum to `sums`, each of a
    /// piece of them ([`loss_sum`](Loss::loss_sum)), added up compensated: the mean loss
    /// plus `lambda/2 |w|^2`.
    pub fn objective_of_sums(&self, sums: &[f64], rows: usize, w: ArrayView1<'_, f64>) -> f64 {
        let mut sum = Neumaier::default();
        for &piece in sums {
            sum.add(piece);
        }
        let mean = if rows == 0 {
            0.0
        } else {
            sum.total() / rows as f64
        };
        let lambda = self.lambda();
        if lambda == 0.0 {
            mean
        } else {
            mean + 0.5 * lambda * w.dot(&w)
        }
    }

    /// The gradient of [`objective`](Loss::objective): `1/n sum_i derivative(x_i.w, y_i) x_i
    /// + lambda w`, touching only the nonzeros of sparse rows.
    ///
    /// # Panics
    /// If `w.len() != rows.dim()`, with a message that gives both, at the caller's line.
    #[track_caller]
    pub fn gradient(&self, rows: &(impl Rows + ?Sized), w: ArrayView1<'_, f64>) -> Array1<f64> {
        check_len(rows, w);
        let n = rows.len();
        let mut g = Array1::zeros(w.len());
        if n > 0 {
            let scale = 1.0 / n as f64;
            for i in 0..n {
                let d = self.derivative(rows.dot(i, w), rows.label(i));
                if d != 0.0 {
                    rows.axpy(i, d * scale, g.view_mut());
                }
            }
        }
        let lambda = self.lambda();
        if lambda != 0.0 {
            g.scaled_add(lambda, &w);
        }
        g
    }
}

/// A model of another length than the data's features is an author's bug (a model built for
/// the data without `--bias`, or from `dim() - 1`, or a network's flat parameters returned as
/// a `Model`): said with both lengths, not as an index out of bounds deep in the sparse rows
/// (and not at all there for a model too long), and with the way out for a model that is not
/// linear.
#[track_caller]
fn check_len(rows: &(impl Rows + ?Sized), w: ArrayView1<'_, f64>) {
    assert!(
        w.len() == rows.dim(),
        "the model has {} weights but the data has {} features: a linear model needs one \
         weight per feature, `Model::zeros(data.dim())` (the bias column of --bias included); \
         the parameters of a model that is not linear (a network's) go in a type of its own, \
         trained with the toolkit's `Optimizer::of_model`",
        w.len(),
        rows.dim()
    );
}

/// Neumaier's compensated summation.
#[derive(Default)]
struct Neumaier {
    sum: f64,
    carry: f64,
}

impl Neumaier {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.carry += (self.sum - t) + x;
        } else {
            self.carry += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn total(&self) -> f64 {
        self.sum + self.carry
    }
}

/// `log(1 + exp(z))` without overflow or loss of precision.
pub(crate) fn log1p_exp(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// `1 / (1 + exp(-t))` without overflow.
pub(crate) fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

/// Why [`least_squares_optimum`] found no minimiser.
#[derive(Clone, Debug, PartialEq)]
pub enum OptimumError {
    /// The dataset has no row.
    Empty,
    /// Conjugate gradient stopped before the relative residual of the normal equations reached
    /// the tolerance.
    NotConverged {
        /// Iterations done.
        iterations: usize,
        /// `|X^T y - X^T X w| / |X^T y|` reached.
        relative_residual: f64,
        /// The relative residual it had to reach once restarts stopped improving it: `CG_TOL`,
        /// or more when a residual entry sums so many terms that rounding keeps it above.
        tolerance: f64,
    },
    /// The caller asked the solver to stop (its `keep_going` said no) before it converged.
    Stopped {
        /// Iterations done.
        iterations: usize,
    },
    /// The caller asked the solver to stop while it formed `X^T X`, before its first
    /// iteration.
    StoppedFormingNormalMatrix,
}

impl fmt::Display for OptimumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimumError::Empty => write!(f, "least-squares optimum of an empty dataset"),
            OptimumError::NotConverged {
                iterations,
                relative_residual,
                tolerance,
            } => write!(
                f,
                "conjugate gradient did not converge: relative residual {relative_residual:.3e} \
                 after {iterations} iterations (tolerance {tolerance:.1e})"
            ),
            OptimumError::Stopped { iterations } => write!(
                f,
                "conjugate gradient stopped when asked, after {iterations} iterations"
            ),
            OptimumError::StoppedFormingNormalMatrix => {
                write!(f, "stopped when asked while X^T X was formed")
            }
        }
    }
}

impl std::error::Error for OptimumError {}

/// Relative residual of the normal equations at which [`least_squares_optimum`] stops.
pub const CG_TOL: f64 = 1e-12;

/// The largest relative residual `rho = |b - A w| / |b|` accepted when rounding keeps the
/// residual above `CG_TOL`. The error of `f*` it leaves is `r^T A^+ r / (2n)`, at most
/// `kappa(A) rho^2` of `f(0) - f*`: suboptimality targets go down to about `1e-6` of it, so
/// `rho <= 1e-8` leaves that error below them for a condition number up to `1e9`.
const MAX_ROUNDING_FLOOR: f64 = 1e-8;

/// The relative residual below which the true residual `b - A w` cannot be told from 0 when
/// each of its entries sums `terms` products in floating point: `terms * eps` (the classic
/// bound of a sum's rounding, relative to the sum of the terms' sizes, which is `|b|` at the
/// optimum of nonnegative data), at least `CG_TOL` and at most [`MAX_ROUNDING_FLOOR`]. A row
/// of a million ones leaves a residual of about `5e-12`, which `CG_TOL` alone refused.
fn rounding_floor(terms: usize) -> f64 {
    (terms as f64 * f64::EPSILON).clamp(CG_TOL, MAX_ROUNDING_FLOOR)
}

/// Above this dimension `X^T X` is not formed: products `X^T (X v)` are computed from the rows.
const DENSE_NORMAL_MAX_DIM: usize = 2000;

/// The exact minimiser of least squares `f(w) = 1/(2n) |Xw - y|^2` (no intercept, no
/// regularisation) and `f` there, as `(w*, f*)`.
///
/// Solves the normal equations `X^T X w = X^T y` by Jacobi-preconditioned conjugate gradient
/// from `w = 0` to a relative residual of `CG_TOL` (1e-12) (checked on the true residual, restarting
/// when the recurrence has drifted), or, when rounding over the many terms of a product keeps
/// the true residual above it, to the best residual once restarts stop improving it, if that
/// is within the rounding floor of those terms. When `X` is rank-deficient the iterates stay in the row
/// space, so `w*` is the minimum-norm minimiser. The solve runs on the features the rows use
/// (an unused one's weight is 0): `X^T X` is formed (sparse-aware) when they are at most 2000;
/// above, each iteration computes `X^T (X v)` from the rows (`2 nnz` flops).
pub fn least_squares_optimum(data: &Dataset) -> Result<(Array1<f64>, f64), OptimumError> {
    ridge_optimum(data, 0.0)
}

/// The exact minimiser of ridge least squares `f(w) = 1/(2n) |Xw - y|^2 + lambda/2 |w|^2` and
/// `f` there: [`least_squares_optimum`] on the normal equations `(X^T X + n lambda I) w = X^T y`.
pub fn ridge_optimum(data: &Dataset, lambda: f64) -> Result<(Array1<f64>, f64), OptimumError> {
    ridge_optimum_until(data, lambda, &|| true)
}

/// [`ridge_optimum`], asking `keep_going` once per iteration, and while `X^T X` is formed,
/// whether to go on: the solve of a large set takes minutes, and its caller may no longer need
/// it (a Ctrl-C). When it says no, the solve ends with [`OptimumError::Stopped`] (or
/// [`OptimumError::StoppedFormingNormalMatrix`]).
pub fn ridge_optimum_until(
    data: &Dataset,
    lambda: f64,
    keep_going: &dyn Fn() -> bool,
) -> Result<(Array1<f64>, f64), OptimumError> {
    let Some((narrow, used)) = used_features_only(data) else {
        return ridge_optimum_with(data, data.dim() <= DENSE_NORMAL_MAX_DIM, lambda, keep_going);
    };
    let (narrow_w, f) = ridge_optimum_with(
        &narrow,
        narrow.dim() <= DENSE_NORMAL_MAX_DIM,
        lambda,
        keep_going,
    )?;
    let mut w = Array1::zeros(data.dim());
    for (&feature, &weight) in used.iter().zip(&narrow_w) {
        w[feature] = weight;
    }
    Ok((w, f))
}

/// Sparse `data` without the features no row uses, and the feature each of its columns is;
/// `None` when every feature is used, or the features are dense. The solve from `w = 0` leaves
/// an unused feature's weight at 0 (its entries of `X^T y`, of the preconditioner's residual
/// and of every product are 0), so the solve on the used ones is the same solve, without a
/// pass over every weight each iteration: a model far wider than its rows (`--dim 60000000`
/// over a few hundred rows) took minutes there.
fn used_features_only(data: &Dataset) -> Option<(Dataset, Vec<usize>)> {
    if !data.is_sparse() {
        return None;
    }
    let mut used = Vec::with_capacity(data.nnz());
    for i in 0..data.n_rows() {
        data.for_each_entry(i, |j, _| used.push(j));
    }
    used.sort_unstable();
    used.dedup();
    if used.len() == data.dim() {
        return None;
    }
    let mut indptr = Vec::with_capacity(data.n_rows() + 1);
    let mut indices = Vec::with_capacity(data.nnz());
    let mut values = Vec::with_capacity(data.nnz());
    indptr.push(0);
    for i in 0..data.n_rows() {
        data.for_each_entry(i, |j, v| {
            // Kept in order: the column numbers grow with the features'.
            indices.push(used.binary_search(&j).expect("collected above"));
            values.push(v);
        });
        indptr.push(indices.len());
    }
    let shape = (data.n_rows(), used.len());
    let features = Features::Sparse(CsMat::new(shape, indptr, indices, values));
    let narrow = Dataset::new(data.name(), features, data.labels().to_owned())
        .expect("one label per row, as in `data`");
    Some((narrow, used))
}

/// [`least_squares_optimum`], forming `X^T X` or not as told.
#[cfg(test)]
fn optimum_with(data: &Dataset, form_normal: bool) -> Result<(Array1<f64>, f64), OptimumError> {
    ridge_optimum_with(data, form_normal, 0.0, &|| true)
}

/// [`ridge_optimum`], forming `X^T X` or not as told.
fn ridge_optimum_with(
    data: &Dataset,
    form_normal: bool,
    lambda: f64,
    keep_going: &dyn Fn() -> bool,
) -> Result<(Array1<f64>, f64), OptimumError> {
    let n = data.n_rows();
    if n == 0 {
        return Err(OptimumError::Empty);
    }
    // The ridge term of the normal equations, X^T X + shift I.
    let shift = n as f64 * lambda;
    let d = data.dim();
    let y = data.labels();
    // b = X^T y and the Jacobi preconditioner diag(X^T X).
    let mut b = Array1::<f64>::zeros(d);
    let mut diag = Array1::<f64>::zeros(d);
    let mut widest_row = 0;
    for i in 0..n {
        let yi = y[i];
        let mut entries = 0;
        data.for_each_entry(i, |j, v| {
            b[j] += v * yi;
            diag[j] += v * v;
            entries += 1;
        });
        widest_row = widest_row.max(entries);
    }
    diag += shift;
    // The terms an entry of `A v` sums: a row of the formed matrix, or a row's dot product
    // and then at most one term a row (a column's entries) and the shift.
    let floor = rounding_floor(if form_normal { d } else { widest_row + n + 1 });
    let w = if form_normal {
        let Some(mut a) = normal_matrix_until(data, keep_going) else {
            return Err(OptimumError::StoppedFormingNormalMatrix);
        };
        a.diag_mut().map_inplace(|v| *v += shift);
        pcg(|v| a.dot(v), &b, &diag, floor, keep_going)?
    } else {
        pcg(
            |v| {
                let mut out = Array1::zeros(d);
                for i in 0..n {
                    let xv = data.dot(i, v.view());
                    if xv != 0.0 {
                        data.axpy(i, xv, out.view_mut());
                    }
                }
                if shift != 0.0 {
                    out.scaled_add(shift, v);
                }
                out
            },
            &b,
            &diag,
            floor,
            keep_going,
        )?
    };
    let f = Loss::with_lambda(true, lambda).objective(data, w.view());
    Ok((w, f))
}

/// Rows a pass over the data goes through between two questions to `keep_going`, doing
/// `work_per_row` multiply-adds a row: about 2^28 in all (tens of milliseconds: a wide, tall
/// set takes minutes, and a Ctrl-C must not wait for it), at least `least` (fewer cost more
/// than they save), at most 4096.
pub(crate) fn rows_per_question(work_per_row: usize, least: usize) -> usize {
    ((1 << 28) / work_per_row.max(1)).clamp(least, 4096)
}

/// Rows of `X^T X` between two questions to `keep_going`: at least 128, below which a dense
/// block's matrix product runs slower.
pub(crate) fn normal_rows_per_poll(dim: usize) -> usize {
    rows_per_question(dim * dim, 128)
}

/// `X^T X`, built without a question (the tests' reference).
#[cfg(test)]
pub(crate) fn normal_matrix(data: &Dataset) -> Array2<f64> {
    normal_matrix_until(data, &|| true).expect("never asked to stop")
}

/// `X^T X`, by blocks of [`normal_rows_per_poll`] rows (dense), or row by row over the stored
/// entries (sparse: upper triangle, then mirrored), asking `keep_going` between blocks and
/// giving `None` when it says no.
pub(crate) fn normal_matrix_until(
    data: &Dataset,
    keep_going: &dyn Fn() -> bool,
) -> Option<Array2<f64>> {
    let d = data.dim();
    let n = data.n_rows();
    let rows_per_poll = normal_rows_per_poll(d);
    let mut a = Array2::<f64>::zeros((d, d));
    match data.features() {
        Features::Dense(x) => {
            // Dense rows: a += X_block^T X_block, one matrix product per block.
            for start in (0..n).step_by(rows_per_poll) {
                if start > 0 && !keep_going() {
                    return None;
                }
                let block = x.slice(s![start..(start + rows_per_poll).min(n), ..]);
                general_mat_mul(1.0, &block.t(), &block, 1.0, &mut a);
            }
        }
        Features::Sparse(_) => {
            let mut entries: Vec<(usize, f64)> = Vec::new();
            for i in 0..n {
                entries.clear();
                data.for_each_entry(i, |j, v| entries.push((j, v)));
                for (k, &(j, v)) in entries.iter().enumerate() {
                    let mut row = a.row_mut(j);
                    for &(l, u) in &entries[k..] {
                        row[l] += v * u;
                    }
                }
                if (i + 1) % rows_per_poll == 0 && i + 1 < n && !keep_going() {
                    return None;
                }
            }
            for j in 0..d {
                for l in 0..j {
                    a[[j, l]] = a[[l, j]];
                }
            }
        }
    }
    Some(a)
}

/// Jacobi-preconditioned conjugate gradient for `A w = b`, `A` symmetric positive
/// semi-definite given as a product `v -> A v`, from `w = 0`, asking `keep_going` before each
/// iteration. It stops at a relative residual of `CG_TOL`; when restarts no longer bring the
/// true residual there, it takes the last iterate if its residual is within `floor` (the
/// rounding of the products, relative), or fails.
fn pcg(
    apply: impl Fn(&Array1<f64>) -> Array1<f64>,
    b: &Array1<f64>,
    diag: &Array1<f64>,
    floor: f64,
    keep_going: &dyn Fn() -> bool,
) -> Result<Array1<f64>, OptimumError> {
    let d = b.len();
    let mut w = Array1::<f64>::zeros(d);
    let b_norm = norm(b);
    if b_norm == 0.0 {
        return Ok(w);
    }
    let inv: Array1<f64> = diag.mapv(|v| if v > 0.0 { 1.0 / v } else { 1.0 });
    let tol = CG_TOL * b_norm;
    let max_iter = 10 * d + 100;
    let max_restarts = 20;
    let mut restarts = 0;
    let mut r = b.clone();
    let mut z = &r * &inv;
    let mut p = z.clone();
    let mut rz = r.dot(&z);
    let mut best = f64::INFINITY;
    // `tol` was out of reach: an iterate whose true residual `last` is within the rounding
    // floor is as exact as the products can tell (and a solve that reaches `tol` ends as it
    // did before the floor was there, keeping `f*` exactly as it was).
    let give_up = |w: Array1<f64>, last: f64, best: f64, iterations| {
        if last <= floor * b_norm {
            Ok(w)
        } else {
            Err(OptimumError::NotConverged {
                iterations,
                relative_residual: best / b_norm,
                tolerance: floor,
            })
        }
    };
    for it in 1..=max_iter {
        if !keep_going() {
            return Err(OptimumError::Stopped { iterations: it - 1 });
        }
        let q = apply(&p);
        let pq = p.dot(&q);
        let step_ok = pq > 0.0 && pq.is_finite();
        if step_ok {
            let alpha = rz / pq;
            w.scaled_add(alpha, &p);
            r.scaled_add(-alpha, &q);
        }
        if !step_ok || norm(&r) <= tol {
            // Check the true residual; the recurrence drifts in floating point.
            r = b - &apply(&w);
            let true_res = norm(&r);
            if true_res <= tol {
                return Ok(w);
            }
            best = best.min(true_res);
            restarts += 1;
            if restarts > max_restarts {
                return give_up(w, true_res, best, it);
            }
            z = &r * &inv;
            p = z.clone();
            rz = r.dot(&z);
            continue;
        }
        z = &r * &inv;
        let rz_new = r.dot(&z);
        let beta = rz_new / rz;
        rz = rz_new;
        p *= beta;
        p += &z;
    }
    let true_res = norm(&(b - &apply(&w)));
    give_up(w, true_res, best.min(true_res), max_iter)
}

fn norm(v: &Array1<f64>) -> f64 {
    v.dot(v).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::time::Instant;

    fn load(name: &str) -> Dataset {
        Dataset::load(test_support::data(name), &Default::default())
            .unwrap_or_else(|e| panic!("loading {name}: {e}"))
    }

    /// A random problem, about 40% dense, with +-1 labels; as sparse and as dense.
    fn random_problem(n: usize, d: usize, seed: u64) -> (Dataset, Dataset) {
        let mut u = ChaCha8Rng::seed_from_u64(seed);
        let x = Array2::from_shape_fn((n, d), |_| {
            if u.random::<f64>() < 0.4 {
                4.0 * u.random::<f64>() - 2.0
            } else {
                0.0
            }
        });
        let y = Array1::from_shape_fn(n, |_| if u.random::<f64>() < 0.5 { 1.0 } else { -1.0 });
        let dense = Dataset::new("r", Features::Dense(x), y).unwrap();
        (dense.to_sparse(), dense)
    }

    #[test]
    fn a_model_of_another_length_than_the_features_is_said_with_both() {
        let (sparse, dense) = random_problem(5, 4, 1);
        for data in [&sparse, &dense] {
            for len in [3, 5] {
                let w = Array1::zeros(len);
                for which in ["objective", "gradient"] {
                    let panic = std::panic::catch_unwind(|| match which {
                        "objective" => drop(Loss::LeastSquares.objective(data, w.view())),
                        _ => drop(Loss::LeastSquares.gradient(data, w.view())),
                    })
                    .expect_err("a model of another length");
                    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
                    assert!(
                        message.starts_with(&format!(
                            "the model has {len} weights but the data has 4 features"
                        )),
                        "{which}, {len} weights: {message}"
                    );
                    // An author whose flat vector holds a network's parameters learns the way out.
                    assert!(
                        message.contains("`Optimizer::of_model`"),
                        "{which}: {message}"
                    );
                }
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (s, dn) = random_problem(30, 7, 3);
        assert!(s.is_sparse() && !dn.is_sparse());
        let mut u = ChaCha8Rng::seed_from_u64(11);
        let w = Array1::from_shape_fn(7, |_| 2.0 * u.random::<f64>() - 1.0);
        for loss in [Loss::LeastSquares, Loss::Logistic { lambda: 0.3 }] {
            for data in [&s, &dn] {
                let g = loss.gradient(data, w.view());
                let h = 1e-6;
                for j in 0..7 {
                    let mut wp = w.clone();
                    let mut wm = w.clone();
                    wp[j] += h;
                    wm[j] -= h;
                    let fd = (loss.objective(data, wp.view()) - loss.objective(data, wm.view()))
                        / (2.0 * h);
                    assert!(
                        (fd - g[j]).abs() <= 1e-7 * (1.0 + g[j].abs()),
                        "{loss:?} sparse={} j={j}: fd {fd} vs {}",
                        data.is_sparse(),
                        g[j]
                    );
                }
            }
            // Sparse and dense agree.
            let gs = loss.gradient(&s, w.view());
            let gd = loss.gradient(&dn, w.view());
            assert!((&gs - &gd).iter().all(|v| v.abs() < 1e-12));
            // The size-weighted mean of the parts' gradients is the full gradient.
            let parts = [
                s.select(&[29, 3, 7]),
                s.select(&(8..29).collect::<Vec<_>>()),
            ];
            let mut gsum = Array1::zeros(7);
            for p in parts.iter().chain([&s.select(&[0, 1, 2, 4, 5, 6])]) {
                let gp = loss.gradient(p, w.view()) - loss.lambda() * &w;
                gsum.scaled_add(p.len() as f64 / 30.0, &gp);
            }
            gsum.scaled_add(loss.lambda(), &w);
            assert!((&gsum - &gs).iter().all(|v| v.abs() < 1e-12));
        }
    }

    #[test]
    fn logistic_is_stable_for_huge_margins() {
        let l = Loss::Logistic { lambda: 0.0 };
        assert_eq!(l.value(1e6, 1.0), 0.0);
        assert_eq!(l.value(-1e6, 1.0), 1e6);
        assert!((l.value(0.0, -1.0) - std::f64::consts::LN_2).abs() < 1e-16);
        assert_eq!(l.derivative(1e6, 1.0), -0.0);
        assert_eq!(l.derivative(-1e6, 1.0), -1.0);
        assert_eq!(l.derivative(-1e6, -1.0), 0.0);
        assert_eq!(l.derivative(0.0, 1.0), -0.5);
        assert_eq!(Loss::LeastSquares.derivative(3.0, 1.0), 2.0);
    }

    #[test]
    fn optimum_of_small_problem_has_zero_gradient() {
        for (s, dn) in [random_problem(40, 6, 1), random_problem(10, 25, 2)] {
            // The second is under-determined: f* = 0.
            let (ws, fs) = least_squares_optimum(&s).unwrap();
            let (wd, fd) = least_squares_optimum(&dn).unwrap();
            let (wm, fm) = optimum_with(&s, false).unwrap(); // matrix-free path
            assert!((fs - fd).abs() <= 1e-12 * (1.0 + fs));
            assert!((fs - fm).abs() <= 1e-12 * (1.0 + fs));
            for w in [&ws, &wd, &wm] {
                let g = Loss::LeastSquares.gradient(&s, w.view());
                assert!(g.iter().all(|v| v.abs() < 1e-9), "{g}");
            }
            if s.n_rows() < s.dim() {
                assert!(fs < 1e-20, "{fs}");
            }
        }
    }

    /// A solve its caller no longer needs (a Ctrl-C) ends at the next check, on either path,
    /// where it used to run to convergence (minutes on a large set).
    #[test]
    fn a_solve_told_to_stop_ends_at_its_next_iteration() {
        let (data, _) = random_problem(40, 6, 1);
        for form_normal in [true, false] {
            let stopped = ridge_optimum_with(&data, form_normal, 0.1, &|| false);
            assert_eq!(stopped, Err(OptimumError::Stopped { iterations: 0 }));
            let asked = std::cell::Cell::new(0);
            let after_two = || {
                asked.set(asked.get() + 1);
                asked.get() <= 2
            };
            let stopped = ridge_optimum_with(&data, form_normal, 0.1, &after_two);
            assert_eq!(stopped, Err(OptimumError::Stopped { iterations: 2 }));
            assert_eq!(asked.get(), 3, "asked once per iteration");
        }
        assert_eq!(
            ridge_optimum_until(&data, 0.1, &|| true),
            ridge_optimum(&data, 0.1)
        );
        let error = OptimumError::Stopped { iterations: 2 }.to_string();
        assert_eq!(
            error,
            "conjugate gradient stopped when asked, after 2 iterations"
        );
    }

    /// Forming `X^T X` of a wide, tall set takes minutes; a Ctrl-C during it stops the solve
    /// there, where it used to wait for the whole matrix before its first question.
    #[test]
    fn forming_x_t_x_stops_when_asked() {
        // Three blocks of rows: the build asks twice, the second time is told to stop.
        let d = DENSE_NORMAL_MAX_DIM;
        let (sparse, dense) = random_problem(3 * normal_rows_per_poll(d), d, 5);
        for data in [&sparse, &dense] {
            let asked = std::cell::Cell::new(0);
            let after_one = || {
                asked.set(asked.get() + 1);
                asked.get() <= 1
            };
            let stopped = ridge_optimum_until(data, 0.1, &after_one);
            assert_eq!(stopped, Err(OptimumError::StoppedFormingNormalMatrix));
            assert_eq!(asked.get(), 2, "sparse={}", data.is_sparse());
        }
        // Said as where it stopped, not as "after 0 iterations" of a solve that never began.
        assert_eq!(
            OptimumError::StoppedFormingNormalMatrix.to_string(),
            "stopped when asked while X^T X was formed"
        );
        // Blocks add up to the whole product.
        let Features::Dense(x) = dense.features() else {
            unreachable!()
        };
        let whole = x.t().dot(x);
        for data in [&sparse, &dense] {
            let blocks = normal_matrix(data);
            assert!((&blocks - &whole).iter().all(|v| v.abs() < 1e-9));
        }
    }

    /// A model far wider than its rows (`--dim 60000000` over a few hundred rows) took minutes
    /// of passes over every weight: the solve runs on the features the rows use, the same
    /// solve as on a set of just those, and an unused feature's weight is 0.
    #[test]
    fn the_features_no_row_uses_are_left_out_of_the_solve() {
        let (narrow, _) = random_problem(40, 6, 7);
        let (wide_dim, spread) = (1_000_000, |j: usize| 3 + 150_000 * j);
        let Features::Sparse(m) = narrow.features() else {
            unreachable!("random_problem's first set is sparse")
        };
        let mut wide = sprs::TriMat::new((narrow.n_rows(), wide_dim));
        for (&v, (i, j)) in m.iter() {
            wide.add_triplet(i, spread(j), v);
        }
        let wide = Dataset::new(
            "r",
            Features::Sparse(wide.to_csr()),
            narrow.labels().to_owned(),
        )
        .unwrap();
        for lambda in [0.0, 0.1] {
            let (narrow_w, narrow_f) = ridge_optimum(&narrow, lambda).unwrap();
            let (wide_w, wide_f) = ridge_optimum(&wide, lambda).unwrap();
            assert_eq!(wide_f, narrow_f, "lambda {lambda}");
            assert_eq!(wide_w.len(), wide_dim);
            let mut expected = Array1::zeros(wide_dim);
            for (j, &v) in narrow_w.iter().enumerate() {
                expected[spread(j)] = v;
            }
            assert_eq!(wide_w, expected, "lambda {lambda}");
        }
    }

    #[test]
    fn non_convergence_is_an_error() {
        // A negative definite "A": every step breaks down; CG must give up, not loop or panic.
        let b = Array1::from(vec![1.0, 2.0]);
        let r = pcg(|v| -v, &b, &Array1::from(vec![1.0, 1.0]), 1e-8, &|| true);
        match r {
            Err(OptimumError::NotConverged {
                relative_residual, ..
            }) => assert!(relative_residual >= 1.0),
            other => panic!("{other:?}"),
        }
        let empty = Dataset::new(
            "e",
            Features::Dense(Array2::zeros((0, 3))),
            Array1::zeros(0),
        )
        .unwrap();
        assert_eq!(least_squares_optimum(&empty), Err(OptimumError::Empty));
        assert!(OptimumError::Empty.to_string().contains("empty"));
    }

    /// Rows of a million features: the residual's rounding over a million terms stays above
    /// `CG_TOL`, yet the solve is as exact as floating point allows, and ends.
    #[test]
    fn rows_of_a_million_features_have_an_optimum() {
        const WIDE: usize = 1_000_000;
        let mut u = ChaCha8Rng::seed_from_u64(7);
        let ones = vec![(vec![1.0; WIDE], 1.0), (vec![0.0; WIDE], -1.0)];
        let ones = {
            let mut rows = ones;
            rows[1].0[0] = 1.0;
            rows
        };
        let ints: Vec<(Vec<f64>, f64)> = (0..3)
            .map(|i| {
                let row = (0..WIDE).map(|_| u.random_range(1..=2) as f64).collect();
                (row, [1.0, -1.0, 1.0][i])
            })
            .collect();
        for (name, rows) in [("ones", ones), ("ints", ints)] {
            let mut indptr = vec![0];
            let (mut indices, mut values, mut labels) = (vec![], vec![], vec![]);
            for (row, label) in &rows {
                for (j, &v) in row.iter().enumerate().filter(|(_, &v)| v != 0.0) {
                    indices.push(j);
                    values.push(v);
                }
                indptr.push(indices.len());
                labels.push(*label);
            }
            let x = CsMat::new((rows.len(), WIDE), indptr, indices, values);
            let data = Dataset::new(name, Features::Sparse(x), Array1::from(labels)).unwrap();
            let (w, f) = least_squares_optimum(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
            // As many independent rows as labels: the optimum fits every one.
            let f0 = Loss::LeastSquares.objective(&data, Array1::zeros(WIDE).view());
            assert!(f <= 1e-12 * f0, "{name}: f* = {f:e}, f(0) = {f0}");
            assert_eq!(f, Loss::LeastSquares.objective(&data, w.view()), "{name}");
        }
    }

    #[test]
    fn objectives_at_zero() {
        let a9a = load("a9a.xz");
        let zero = Array1::zeros(a9a.dim());
        let f0 = Loss::Logistic { lambda: 1e-4 }.objective(&a9a, zero.view());
        assert!((f0 - std::f64::consts::LN_2).abs() < 1e-15, "{f0}");
        assert_eq!(Loss::LeastSquares.objective(&a9a, zero.view()), 0.5);
        // The full gradient of logistic at 0 is -1/(2n) sum y_i x_i.
        let g = Loss::Logistic { lambda: 1e-4 }.gradient(&a9a, zero.view());
        let mut expect = Array1::zeros(a9a.dim());
        for i in 0..a9a.n_rows() {
            a9a.axpy(
                i,
                -0.5 * a9a.label(i) / a9a.n_rows() as f64,
                expect.view_mut(),
            );
        }
        assert!((&g - &expect).iter().all(|v| v.abs() < 1e-15));
    }

    fn check_optimum(file: &str, f0: f64) {
        check_optimum_with(file, f0, None);
    }

    /// Checks the exact solver against `data/README.md`'s optimum; `Some(false)` forces the
    /// matrix-free path, which large dimensions take.
    fn check_optimum_with(file: &str, f0: f64, form_normal_equations: Option<bool>) {
        let f_star = test_support::optimum(file);
        let d = load(file);
        let zero = Array1::zeros(d.dim());
        let got0 = Loss::LeastSquares.objective(&d, zero.view());
        assert!((got0 - f0).abs() <= 1e-5 * f0, "{file}: f(0) = {got0}");
        let t = Instant::now();
        let (w, f) = match form_normal_equations {
            None => least_squares_optimum(&d),
            Some(dense) => optimum_with(&d, dense),
        }
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        eprintln!("{file}: f* = {f:.12} in {:.2?}", t.elapsed());
        assert!(
            (f - f_star).abs() <= 1e-8 * f_star,
            "{file}: f* = {f:.12}, expected {f_star}"
        );
        assert_eq!(w.len(), d.dim());
        assert!((Loss::LeastSquares.objective(&d, w.view()) - f).abs() <= 1e-15 * f);
    }

    /// Ridge least squares: the computed optimum has a zero gradient, and its value is the one
    /// numpy's `solve((X^T X/n + lambda I), X^T y/n)` gives.
    #[test]
    fn ridge_optimum_cal_housing_scale() {
        let d = load("cal_housing.scale.xz");
        for (lambda, expected) in [(1e-3, 0.280519172023), (1e-2, 0.347394378056)] {
            let (w, f) = ridge_optimum(&d, lambda).unwrap();
            assert!(
                (f - expected).abs() <= 1e-10 * expected,
                "lambda {lambda}: f* = {f}"
            );
            let g = Loss::Ridge { lambda }.gradient(&d, w.view());
            assert!(g.iter().all(|v| v.abs() < 1e-9), "{g}");
            let (wm, fm) = ridge_optimum_with(&d, false, lambda, &|| true).unwrap();
            assert!((fm - f).abs() <= 1e-12 * f && (&wm - &w).iter().all(|v| v.abs() < 1e-8));
        }
        assert_eq!(
            ridge_optimum(&d, 0.0).unwrap().1,
            least_squares_optimum(&d).unwrap().1
        );
    }

    #[test]
    fn optimum_cal_housing_scale() {
        check_optimum("cal_housing.scale.xz", 2.80524);
    }

    #[test]
    fn optimum_a9a() {
        check_optimum("a9a.xz", 0.5);
    }

    #[test]
    fn optimum_w8a() {
        check_optimum("w8a.xz", 0.5);
    }

    #[test]
    fn optimum_cal_housing_raw_units() {
        // Badly scaled: features in raw units (population up to ~35,000, longitude ~ -120).
        check_optimum("cal_housing.xz", 2.80524);
    }

    #[test]
    fn optimum_w8a_matrix_free() {
        // The path of large dimensions, where X^T X is not formed.
        check_optimum_with("w8a.xz", 0.5, Some(false));
    }

    #[test]
    fn optimum_bio_kdd04_subsample() {
        check_optimum("bio_kdd04.sub25.xz", 0.5);
    }
}
