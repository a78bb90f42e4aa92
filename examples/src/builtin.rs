//! The built-in dataset: California housing with features scaled to [-1, 1] (20,640 rows,
//! 8 features), shipped inside the executable so that a first run needs no download. Its
//! source and licence are in the README.

use std::path::Path;

use anyhow::{Context, Result};
use asyncopt_runtime::data::libsvm::read_libsvm_from;
use asyncopt_runtime::data::{Dataset, LoadOptions};

/// The compressed LIBSVM text.
const CAL_HOUSING_SCALE: &[u8] = include_bytes!("../../data/cal_housing.scale.xz");

/// The built-in set's name, as the models trained on it record it.
pub const NAME: &str = "cal_housing.scale";

/// The least-squares optimum of the built-in set, f* = 1/(2n)|Xw* - y|^2.
pub const CAL_HOUSING_SCALE_OPTIMUM: f64 = 0.2636484530;

/// Loads the built-in dataset.
pub fn cal_housing_scale() -> Result<Dataset> {
    let reader = xz2::read::XzDecoder::new(CAL_HOUSING_SCALE);
    read_libsvm_from(reader, Path::new(NAME), &LoadOptions::default())
        .context("the built-in dataset does not load")
}
