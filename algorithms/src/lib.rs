//! Optimizers written in the async DSL, on `ndarray`. Each asynchronous algorithm sits next to
//! its synchronous twin and differs from it by a few lines: a `barrier!` and a staleness bound.
//!
//! - [`sgd`] and [`asgd`]: (asynchronous) minibatch stochastic gradient descent;
//! - [`saga`] and [`asaga`]: SAGA, with the history table on the driver;
//! - [`svrg`] and [`asvrg`]: SVRG, with the snapshot read through the versioned broadcast.
//!
//! Every optimizer can step in the metric of a fixed preconditioner ([`Metric`], chosen by
//! [`Params::precondition`]), built on the driver from the data it holds: the whole dataset, or
//! its evaluation sample when the workers read their own partitions.
//!
//! Objectives ([`Loss`]): least squares `1/(2n) |Xw - y|^2` (ridge with an L2 term) and
//! L2-regularised logistic regression, on sparse or dense rows; [`metrics`] scores a model on
//! held-out data.
#![deny(missing_docs)]

mod algorithm;
mod loss;
pub mod metrics;
mod params;
mod precondition;
mod row_sum;
mod saga;
pub mod schedule;
mod sgd;
mod smoothness;
mod svrg;

pub use algorithm::Algorithm;
pub use loss::{least_squares_optimum, ridge_optimum, ridge_optimum_until, Loss, OptimumError};
pub use params::Params;
pub use precondition::{Metric, Precondition, PreconditionError, FULL_MAX_DIM};
pub use row_sum::{data_gradient_sum, RowSum};
pub use saga::{asaga, saga, saga_terms, SagaTerms};
pub use sgd::{asgd, sgd};
pub use smoothness::{
    max_row_smoothness, preconditioned_max_row_smoothness, preconditioned_max_row_smoothness_until,
    preconditioned_smoothness, preconditioned_smoothness_until, smoothness,
};
pub use svrg::{asvrg, svrg, svrg_correction};

/// The linear model: one weight per feature, scored by the run's [`Loss`]. A model that is not
/// linear keeps its parameters in a type of its own, even when they are one flat vector (a
/// network's weights): the toolkit reads every `Model` as linear weights.
pub type Model = ndarray::Array1<f64>;
