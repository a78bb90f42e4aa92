//! Optimizers written in the async DSL, on `ndarray`. Each asynchronous algorithm sits next to
//! its synchronous twin and differs from it by a few lines: a `barrier!` and a staleness bound.
//!
//! - [`sgd`] and [`asgd`]: (asynchronous) minibatch stochastic gradient descent.
//!
//! Objectives ([`Loss`]): least squares `1/(2n) |Xw - y|^2` and L2-regularised logistic
//! regression, on sparse or dense rows.
#![deny(missing_docs)]

mod algorithm;
mod loss;
mod params;
mod sgd;
mod smoothness;

pub use algorithm::Algorithm;
pub use loss::{least_squares_optimum, Loss};
pub use params::Params;
pub use sgd::{asgd, sgd};
pub use smoothness::smoothness;

/// The model: one weight per feature.
pub type Model = ndarray::Array1<f64>;
