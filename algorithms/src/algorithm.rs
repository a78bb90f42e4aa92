//! The optimizers by name, for command lines and benchmarks.

use std::fmt;
use std::str::FromStr;

use asyncopt_runtime::{Dataset, Driver};

use crate::{Model, Params};

/// An optimizer of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Synchronous minibatch SGD.
    Sgd,
    /// Asynchronous SGD.
    Asgd,
    /// Synchronous SAGA.
    Saga,
    /// Asynchronous SAGA.
    Asaga,
    /// Synchronous SVRG.
    Svrg,
    /// Asynchronous SVRG.
    Asvrg,
}

impl Algorithm {
    /// Every algorithm, in the order they are listed to users.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Sgd,
        Algorithm::Asgd,
        Algorithm::Saga,
        Algorithm::Asaga,
        Algorithm::Svrg,
        Algorithm::Asvrg,
    ];

    /// Runs the algorithm on `data` with the driver's workers.
    pub fn run(self, cx: &mut Driver, data: &Dataset, params: &Params) -> Model {
        (self.function())(cx, data, params)
    }

    /// The optimizer function itself.
    pub fn function(self) -> fn(&mut Driver, &Dataset, &Params) -> Model {
        match self {
            Algorithm::Sgd => crate::sgd,
            Algorithm::Asgd => crate::asgd,
            Algorithm::Saga => crate::saga,
            Algorithm::Asaga => crate::asaga,
            Algorithm::Svrg => crate::svrg,
            Algorithm::Asvrg => crate::asvrg,
        }
    }

    /// Whether the algorithm is asynchronous.
    pub fn is_async(self) -> bool {
        matches!(self, Algorithm::Asgd | Algorithm::Asaga | Algorithm::Asvrg)
    }

    /// Whether the algorithm reduces variance (SAGA, SVRG): its default step is `1/(3 L_b)`
    /// rather than SGD's `1/L_b`, both from the same minibatch smoothness `L_b` (see the
    /// README's `--step`).
    pub fn is_variance_reduced(self) -> bool {
        !matches!(self, Algorithm::Sgd | Algorithm::Asgd)
    }

    /// The algorithm's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sgd => "sgd",
            Algorithm::Asgd => "asgd",
            Algorithm::Saga => "saga",
            Algorithm::Asaga => "asaga",
            Algorithm::Svrg => "svrg",
            Algorithm::Asvrg => "asvrg",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == lower)
            .ok_or_else(|| {
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "unknown algorithm `{s}`: choose one of {}",
                    names.join(", ")
                )
            })
    }
}
