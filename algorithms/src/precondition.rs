//! A fixed preconditioner `P` of the update direction, built once per run on the driver: the
//! optimizers step `w -= step * P * direction` instead of `w -= step * direction`.
//!
//! With `P` symmetric positive definite and fixed, this is the same method in the coordinates
//! `v = P^{-1/2} w`: the minimiser and `f*` do not change, and the convergence theory of SGD,
//! SAGA and SVRG carries over with the smoothness and the strong convexity measured in `P`'s
//! metric. `P` approximates the inverse of the Hessian `H = c X^T X / n + lambda I`, where `c`
//! bounds the second derivative of the per-sample loss (1 for least squares, 1/4 for logistic
//! regression), so that in its metric the objective is about as well conditioned as a sphere:
//!
//! - [`Precondition::Full`]: `P = (H + eps D)^{-1}`, applied through a Cholesky factor
//!   (`nalgebra`), where `D` is the diagonal of `c X^T X / n` (its mean for a
//!   feature that is always 0). For least squares `H` is the exact Hessian, and in `P`'s
//!   metric the condition number and the smoothness are 1. `eps` (`1e-9`) is relative to each
//!   feature's own curvature, so that it changes no feature's scale however badly the data is
//!   scaled; it keeps a rank-deficient `X` factorable (directions outside the row space of `X`
//!   carry no gradient). Forms a `dim x dim` matrix and costs `2 dim^2` flops per update: at
//!   most [`FULL_MAX_DIM`] features.
//! - [`Precondition::Diagonal`]: `P = diag(H)^{-1}` (Jacobi): rescales each feature to unit
//!   curvature; any dimension, `nnz` work to build, `dim` flops per update. A feature that is
//!   always 0 has no curvature and no gradient: `P` leaves it at 0.
//!
//! Built on a sample of the rows (a shared file's evaluation sample), `H` can miss curvature
//! that the whole file has: a feature the sample never sees would get `P = 1/lambda` along it,
//! a step far too long for the rows that have it. Too much curvature only slows a feature down,
//! too little diverges, so both preconditioners err on the safe side there: a feature seen in
//! `k` rows of the sample has its diagonal raised as if seen in the `k + 2 sqrt(k) + 2` rows an
//! unlucky draw could have missed, to at most the largest diagonal of the
//! sample, which a feature never seen gets.
//!
//! `P` stays on the driver: workers compute the same gradients as without it, and only the
//! choice ([`Precondition`], in [`Params`](crate::Params)) travels with the tasks.

use std::fmt;
use std::str::FromStr;

use asyncopt_runtime::data::Dataset;
use nalgebra::{Cholesky, DMatrix, DVectorViewMut, Dyn};
use serde::{Deserialize, Serialize};

use crate::loss::normal_matrix_until;
use crate::{Loss, Model};

/// Which preconditioner the optimizers apply to their update direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precondition {
    /// No preconditioner: `P = I`.
    #[default]
    None,
    /// Jacobi: `P = diag(H)^{-1}`, any dimension.
    Diagonal,
    /// The inverse Hessian bound `P = (H + eps D)^{-1}`, at most [`FULL_MAX_DIM`] features.
    Full,
}

impl Precondition {
    /// Every choice, in the order they are listed to users.
    pub const ALL: [Precondition; 3] = [
        Precondition::None,
        Precondition::Diagonal,
        Precondition::Full,
    ];

    /// The choice's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Precondition::None => "none",
            Precondition::Diagonal => "diagonal",
            Precondition::Full => "full",
        }
    }
}

impl fmt::Display for Precondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precondition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Precondition::ALL
            .into_iter()
            .find(|p| p.name() == lower)
            .ok_or_else(|| format!("unknown preconditioner `{s}`: choose none, diagonal or full"))
    }
}

/// The largest dimension [`Precondition::Full`] accepts: its `dim x dim` matrix takes
/// 32 MB there and a Cholesky solve per update about 8 Mflop.
pub const FULL_MAX_DIM: usize = 2000;

/// `eps`: the full preconditioner adds this share of each feature's curvature to it.
const RIDGE: f64 = 1e-9;

/// Why a preconditioner could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreconditionError {
    /// The full preconditioner was asked for too many features.
    #[error(
        "at most {max} features, the data has {dim} (the diagonal preconditioner has no limit)"
    )]
    TooManyFeatures {
        /// The data's dimension.
        dim: usize,
        /// [`FULL_MAX_DIM`].
        max: usize,
    },
    /// `H` is zero (no row, or no nonzero feature, and no regularisation).
    #[error("the data has no curvature to precondition (no row or no nonzero feature)")]
    NoCurvature,
    /// The Cholesky factorization of `H + eps D` failed (non-finite data).
    #[error(
        "X^T X / n is not positive definite even regularised (non-finite features?): \
         use the diagonal preconditioner"
    )]
    NotPositiveDefinite,
    /// The caller asked to stop (its `keep_going` said no) while `X^T X` was formed.
    #[error("stopped when asked while X^T X was formed")]
    Stopped,
}

/// A built preconditioner `P`: the metric in which an optimizer takes its steps.
#[derive(Debug, Clone)]
pub struct Metric {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Identity,
    /// The diagonal of `P`.
    Diagonal(Model),
    /// The Cholesky factorization of `P^{-1}`.
    Full(Cholesky<f64, Dyn>),
}

impl Metric {
    /// `P = I`.
    pub fn identity() -> Metric {
        Metric {
            inner: Inner::Identity,
        }
    }

    /// Builds the preconditioner `kind` for `loss` on `data` (the driver's whole dataset).
    pub fn new(
        kind: Precondition,
        loss: &Loss,
        data: &Dataset,
    ) -> Result<Metric, PreconditionError> {
        Metric::new_until(kind, loss, data, &|| true)
    }

    /// [`Metric::new`], asking `keep_going` while the full one forms `X^T X` whether to go on:
    /// that takes minutes on a wide, tall set, and its caller may no longer need it (a
    /// Ctrl-C). When it says no, the build ends with [`PreconditionError::Stopped`].
    pub fn new_until(
        kind: Precondition,
        loss: &Loss,
        data: &Dataset,
        keep_going: &dyn Fn() -> bool,
    ) -> Result<Metric, PreconditionError> {
        let (n, dim) = (data.n_rows(), data.dim());
        let scale = loss.curvature() / n.max(1) as f64;
        let lambda = loss.lambda();
        let inner = match kind {
            Precondition::None => Inner::Identity,
            Precondition::Diagonal => {
                let mut diag = Model::zeros(dim);
                for i in 0..n {
                    data.for_each_entry(i, |j, v| diag[j] += v * v);
                }
                check_curvature(diag.sum(), lambda)?;
                let diag = Model::from(sample_safe_sums(data, diag.to_vec()));
                Inner::Diagonal(diag.mapv(|h| {
                    let curvature = scale * h + lambda;
                    if curvature > 0.0 {
                        1.0 / curvature
                    } else {
                        0.0
                    }
                }))
            }
            Precondition::Full => {
                if dim > FULL_MAX_DIM {
                    return Err(PreconditionError::TooManyFeatures {
                        dim,
                        max: FULL_MAX_DIM,
                    });
                }
                let normal =
                    normal_matrix_until(data, keep_going).ok_or(PreconditionError::Stopped)?;
                let diag = normal.diag();
                let trace = diag.sum();
                check_curvature(trace, lambda)?;
                let mean = trace / dim.max(1) as f64;
                // A sample's matrix, with the diagonal raised where the file may have more.
                let raised = sample_safe_sums(data, diag.to_vec());
                let h = DMatrix::from_fn(dim, dim, |i, j| {
                    let mut entry = scale * normal[[i, j]];
                    if i == j {
                        let own = if diag[i] > 0.0 { diag[i] } else { mean };
                        entry += lambda + RIDGE * scale * own + scale * (raised[i] - diag[i]);
                    }
                    entry
                });
                Inner::Full(Cholesky::new(h).ok_or(PreconditionError::NotPositiveDefinite)?)
            }
        };
        Ok(Metric { inner })
    }

    /// `P * direction`.
    pub fn apply(&self, mut direction: Model) -> Model {
        match &self.inner {
            Inner::Identity => direction,
            Inner::Diagonal(inverse) => direction * inverse,
            Inner::Full(factor) => {
                let dim = direction.len();
                match direction.as_slice_mut() {
                    Some(slice) => factor.solve_mut(&mut DVectorViewMut::from_slice(slice, dim)),
                    None => {
                        let mut copy = Model::from_iter(direction.iter().copied());
                        let slice = copy.as_slice_mut().expect("a new array is contiguous");
                        factor.solve_mut(&mut DVectorViewMut::from_slice(slice, dim));
                        direction = copy;
                    }
                }
                direction
            }
        }
    }

    /// `x^T P x`, the squared length of `x` in the metric's dual (`|L^{-1} x|^2` for the full
    /// one, half the work of [`apply`](Metric::apply)).
    pub fn quadratic_form(&self, x: &Model) -> f64 {
        match &self.inner {
            Inner::Identity => x.dot(x),
            Inner::Diagonal(inverse) => x.iter().zip(inverse).map(|(v, p)| v * v * p).sum(),
            Inner::Full(factor) => {
                let mut half = nalgebra::DVector::from_iterator(x.len(), x.iter().copied());
                factor
                    .l_dirty()
                    .solve_lower_triangular_unchecked_mut(&mut half);
                half.norm_squared()
            }
        }
    }

    /// Whether `P = I`.
    pub fn is_identity(&self) -> bool {
        matches!(self.inner, Inner::Identity)
    }

    /// The kind of preconditioner this is.
    pub fn kind(&self) -> Precondition {
        match self.inner {
            Inner::Identity => Precondition::None,
            Inner::Diagonal(_) => Precondition::Diagonal,
            Inner::Full(_) => Precondition::Full,
        }
    }
}

/// The sums of squares `sums` of each feature over `data`'s rows, raised where `data` is a
/// sample of a file ([`Dataset::is_whole`] false) to what the file's rows may hold: a feature
/// seen in `k` rows as if in `k + 2 sqrt(k) + 2` (about the count of the file's rows with it
/// that a draw finds fewer than `k` of once in twenty), at most the largest sum of the sample;
/// a feature never seen, that largest sum. `sums` is returned as it is for the whole data.
fn sample_safe_sums(data: &Dataset, sums: Vec<f64>) -> Vec<f64> {
    if data.is_whole() {
        return sums;
    }
    let mut seen = vec![0usize; sums.len()];
    for i in 0..data.n_rows() {
        data.for_each_entry(i, |j, v| {
            if v != 0.0 {
                seen[j] += 1;
            }
        });
    }
    let largest = sums.iter().copied().fold(0.0, f64::max);
    sums.iter()
        .zip(&seen)
        .map(|(&sum, &k)| {
            if k == 0 {
                return largest;
            }
            let k = k as f64;
            (sum * (k + 2.0 * k.sqrt() + 2.0) / k).min(largest).max(sum)
        })
        .collect()
}

/// An error unless `H`, of diagonal sum `trace` (without `lambda`), has some curvature.
fn check_curvature(trace: f64, lambda: f64) -> Result<(), PreconditionError> {
    if !trace.is_finite() {
        Err(PreconditionError::NotPositiveDefinite)
    } else if trace <= 0.0 && lambda <= 0.0 {
        Err(PreconditionError::NoCurvature)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asyncopt_runtime::data::{Features, Rows};
    use ndarray::{Array1, Array2};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `n x d` rows, about `density` of the entries nonzero, columns of very different
    /// scales (column j times 10^(j mod 4 - 2)): an ill-conditioned `X^T X`.
    fn problem(n: usize, d: usize, density: f64, seed: u64) -> Dataset {
        let mut u = ChaCha8Rng::seed_from_u64(seed);
        let x = Array2::from_shape_fn((n, d), |(_, j)| {
            if u.random::<f64>() < density {
                (2.0 * u.random::<f64>() - 1.0) * 10f64.powi(j as i32 % 4 - 2)
            } else {
                0.0
            }
        });
        let y = Array1::from_shape_fn(n, |_| u.random::<f64>());
        Dataset::new("p", Features::Dense(x), y).unwrap()
    }

    /// `c X^T X v / n + lambda v`.
    fn hessian_times(loss: &Loss, data: &Dataset, v: &Model) -> Model {
        let mut out = Model::zeros(data.dim());
        for i in 0..data.n_rows() {
            let xv = data.dot(i, v.view());
            data.axpy(i, xv, out.view_mut());
        }
        out * (loss.curvature() / data.n_rows() as f64) + loss.lambda() * v
    }

    fn relative_error(a: &Model, b: &Model) -> f64 {
        (a - b).mapv(f64::abs).sum() / b.mapv(f64::abs).sum()
    }

    #[test]
    fn full_inverts_the_hessian() {
        let mut u = ChaCha8Rng::seed_from_u64(5);
        for loss in [Loss::LeastSquares, Loss::Logistic { lambda: 1e-3 }] {
            for data in [
                problem(200, 12, 0.6, 1),
                problem(200, 12, 0.6, 1).to_sparse(),
            ] {
                let metric = Metric::new(Precondition::Full, &loss, &data).unwrap();
                for _ in 0..5 {
                    let v = Model::from_shape_fn(12, |_| 2.0 * u.random::<f64>() - 1.0);
                    let back = metric.apply(hessian_times(&loss, &data, &v));
                    assert!(relative_error(&back, &v) < 1e-7, "{loss:?}: {back} vs {v}");
                    // x^T P x agrees with x . (P x).
                    let px = metric.apply(v.clone());
                    let q = metric.quadratic_form(&v);
                    assert!((q - v.dot(&px)).abs() <= 1e-10 * q, "{q} vs {}", v.dot(&px));
                }
            }
        }
    }

    /// Forming `X^T X` of a wide, tall set takes minutes; a Ctrl-C during it stops the build
    /// there, where it used to wait for the whole matrix.
    #[test]
    fn building_the_full_preconditioner_stops_when_asked() {
        // Three blocks of rows: the build asks twice, the second time is told to stop.
        let d = 12;
        let dense = problem(3 * crate::loss::normal_rows_per_poll(d), d, 0.6, 7);
        let loss = Loss::LeastSquares;
        for data in [dense.clone(), dense.to_sparse()] {
            let asked = std::cell::Cell::new(0);
            let after_one = || {
                asked.set(asked.get() + 1);
                asked.get() <= 1
            };
            let stopped = Metric::new_until(Precondition::Full, &loss, &data, &after_one);
            assert_eq!(stopped.unwrap_err(), PreconditionError::Stopped);
            assert_eq!(asked.get(), 2, "sparse={}", data.is_sparse());
            // Let go on, the same preconditioner as without a question.
            let asked = std::cell::Cell::new(0);
            let always = || {
                asked.set(asked.get() + 1);
                true
            };
            let built = Metric::new_until(Precondition::Full, &loss, &data, &always).unwrap();
            assert_eq!(asked.get(), 2);
            let plain = Metric::new(Precondition::Full, &loss, &data).unwrap();
            let v = Model::from_shape_fn(d, |j| j as f64 - 5.5);
            assert_eq!(built.apply(v.clone()), plain.apply(v.clone()));
            let back = built.apply(hessian_times(&loss, &data, &v));
            assert!(relative_error(&back, &v) < 1e-7, "{back} vs {v}");
        }
    }

    #[test]
    fn full_factors_a_rank_deficient_matrix() {
        // Two equal columns and one of zeros: X^T X is singular, H + eps D is not.
        let mut x = problem(50, 4, 1.0, 2).features().clone();
        if let Features::Dense(x) = &mut x {
            let first = x.column(0).to_owned();
            x.column_mut(1).assign(&first);
            x.column_mut(3).fill(0.0);
        }
        let data = Dataset::new("r", x, Array1::zeros(50)).unwrap();
        let metric = Metric::new(Precondition::Full, &Loss::LeastSquares, &data).unwrap();
        // A direction in the row space comes back from P H.
        let v = Model::from(vec![1.0, 1.0, -2.0, 0.0]);
        let back = metric.apply(hessian_times(&Loss::LeastSquares, &data, &v));
        assert!(relative_error(&back, &v) < 1e-5, "{back}");
        assert!(back.iter().all(|b| b.is_finite()));
        // The gradient never has a component along the zero feature, nor does P g.
        let g = crate::Loss::LeastSquares.gradient(&data, Model::ones(4).view());
        assert_eq!(g[3], 0.0);
        assert_eq!(metric.apply(g.clone())[3], 0.0);
        let jacobi = Metric::new(Precondition::Diagonal, &Loss::LeastSquares, &data).unwrap();
        assert_eq!(jacobi.apply(Model::ones(4))[3], 0.0);
    }

    #[test]
    fn diagonal_rescales_each_feature_on_sparse_data() {
        let dense = problem(300, 9, 0.2, 3);
        let sparse = dense.to_sparse();
        assert!(sparse.is_sparse());
        let loss = Loss::LeastSquares;
        let from_sparse = Metric::new(Precondition::Diagonal, &loss, &sparse).unwrap();
        let from_dense = Metric::new(Precondition::Diagonal, &loss, &dense).unwrap();
        for j in 0..9 {
            let mut e = Model::zeros(9);
            e[j] = 1.0;
            // H_jj e_j comes back as e_j.
            let h = hessian_times(&loss, &dense, &e)[j];
            let back = from_sparse.apply(h * &e);
            assert!((back[j] - 1.0).abs() < 1e-8, "feature {j}: {back}");
            assert_eq!(back.iter().filter(|b| **b != 0.0).count(), 1);
            assert!((from_dense.apply(e.clone())[j] - 1.0 / h).abs() <= 1e-8 / h);
        }
    }

    #[test]
    fn full_makes_the_hessian_well_conditioned() {
        // The columns' scales span 10^-2 to 10^1: cond(H) is about 10^6.
        let data = problem(400, 8, 1.0, 4);
        let loss = Loss::LeastSquares;
        let full = Metric::new(Precondition::Full, &loss, &data).unwrap();
        let plain = crate::smoothness(&loss, &data);
        let preconditioned = crate::preconditioned_smoothness(&loss, &data, &full);
        assert!(plain > 1.0, "{plain}");
        assert!((preconditioned - 1.0).abs() < 1e-6, "{preconditioned}");
    }

    #[test]
    fn impossible_preconditioners_are_errors() {
        let wide = problem(3, FULL_MAX_DIM + 1, 0.01, 6).to_sparse();
        let err = Metric::new(Precondition::Full, &Loss::LeastSquares, &wide).unwrap_err();
        assert_eq!(
            err,
            PreconditionError::TooManyFeatures {
                dim: FULL_MAX_DIM + 1,
                max: FULL_MAX_DIM
            }
        );
        assert!(
            err.to_string()
                .contains("at most 2000 features, the data has 2001"),
            "{err}"
        );
        // The diagonal one has no limit.
        assert!(Metric::new(Precondition::Diagonal, &Loss::LeastSquares, &wide).is_ok());
        let zeros =
            Dataset::new("z", Features::Dense(Array2::zeros((4, 3))), Array1::ones(4)).unwrap();
        for kind in [Precondition::Diagonal, Precondition::Full] {
            assert_eq!(
                Metric::new(kind, &Loss::LeastSquares, &zeros).unwrap_err(),
                PreconditionError::NoCurvature
            );
            // Regularisation alone is curvature: P = I / lambda.
            let logistic = Loss::Logistic { lambda: 0.5 };
            let metric = Metric::new(kind, &logistic, &zeros).unwrap();
            let p = metric.apply(Model::ones(3));
            assert!(p.iter().all(|v| (v - 2.0).abs() < 1e-12), "{p}");
        }
        assert!(Metric::new(Precondition::None, &Loss::LeastSquares, &zeros)
            .unwrap()
            .is_identity());
    }

    /// The evaluation sample of a shared file of 400 rows in which feature 3 is in one row,
    /// drawn (by the first seed that does) without that row; `test` names the file's folder.
    fn sample_missing_a_feature(test: &str) -> Dataset {
        let folder = format!("asyncopt-{test}-{}", std::process::id());
        let dir = std::env::temp_dir().join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rare.svm");
        let row = |i: usize| {
            let second = if i.is_multiple_of(2) { " 2:0.5" } else { "" };
            let rare = if i == 399 { " 3:1" } else { "" };
            format!("1 1:1{second}{rare}\n")
        };
        std::fs::write(&path, (0..400).map(row).collect::<String>()).unwrap();
        let missing = (0..)
            .map(|seed| {
                let options = asyncopt_runtime::data::SharedOptions {
                    load: Default::default(),
                    eval_rows: 40,
                    seed,
                };
                Dataset::open_shared(&path, &options).unwrap()
            })
            .find(|sample| {
                (0..sample.n_rows())
                    .all(|i| sample.dot(i, Model::from(vec![0.0, 0.0, 1.0]).view()) == 0.0)
            })
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        missing
    }

    #[test]
    fn a_feature_a_sample_misses_gets_the_largest_curvature_of_the_sample() {
        // Its curvature was the ridge's alone: the full P stepped 1e9 times too far along it
        // (a9a diverged), the diagonal one 1/lambda.
        let sample = sample_missing_a_feature("unseen-feature");
        assert!(!sample.is_whole());
        let e3 = Model::from(vec![0.0, 0.0, 1.0]);
        for loss in [Loss::LeastSquares, Loss::Logistic { lambda: 1e-6 }] {
            // Feature 1 is in every row, with value 1: the largest curvature, c.
            let largest = loss.curvature() + loss.lambda();
            for kind in [Precondition::Diagonal, Precondition::Full] {
                let p = Metric::new(kind, &loss, &sample).unwrap().apply(e3.clone());
                assert!((p[2] * largest - 1.0).abs() < 1e-6, "{kind} {loss:?}: {p}");
            }
        }
    }

    #[test]
    fn a_feature_a_sample_sees_rarely_has_its_curvature_raised() {
        let sample = sample_missing_a_feature("rare-feature");
        let loss = Loss::LeastSquares;
        let n = sample.n_rows() as f64;
        // Feature 2 (0.5 in about half the rows): seen in k rows, curvature as if in
        // k + 2 sqrt(k) + 2 of them; feature 1, the largest, stays as it is.
        let k = (0..sample.n_rows())
            .filter(|&i| sample.dot(i, Model::from(vec![0.0, 1.0, 0.0]).view()) != 0.0)
            .count() as f64;
        let raised = 0.25 * (k + 2.0 * k.sqrt() + 2.0) / n;
        let jacobi = Metric::new(Precondition::Diagonal, &loss, &sample).unwrap();
        let p = jacobi.apply(Model::ones(3));
        assert!((p[1] * raised.min(1.0) - 1.0).abs() < 1e-9, "{p} k={k}");
        assert!((p[0] - 1.0).abs() < 1e-9, "{p}");
        // The whole data is left as it is.
        let whole = problem(50, 3, 0.5, 9);
        let exact = Metric::new(Precondition::Diagonal, &loss, &whole).unwrap();
        let e = Model::from(vec![1.0, 0.0, 0.0]);
        let h = hessian_times(&loss, &whole, &e)[0];
        assert!((exact.apply(e)[0] * h - 1.0).abs() < 1e-9);
    }

    #[test]
    fn names_parse() {
        for kind in Precondition::ALL {
            assert_eq!(kind.name().parse::<Precondition>(), Ok(kind));
        }
        assert_eq!("FULL".parse::<Precondition>(), Ok(Precondition::Full));
        assert!("cholesky"
            .parse::<Precondition>()
            .unwrap_err()
            .contains("none, diagonal or full"));
    }
}
