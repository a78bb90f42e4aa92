//! Whether the driver can hold a model of the data's dimension: refused before anything of
//! that size is allocated, since an allocation past what the process may take aborts it (or
//! has the kernel kill it) rather than saying why.

use anyhow::{bail, Result};
use asyncopt_runtime::data::libsvm::memory_budget;
use asyncopt_runtime::data::Dataset;

/// Dense vectors of the dimension the driver may hold at once: the exact optimum's
/// preconditioned conjugate gradients keep about ten (right side, diagonal, its inverse, the
/// iterate, residual, direction and products), more than the model and the step's metric.
pub(crate) const DRIVER_VECTORS: u64 = 10;

/// Refuses `data` whose dimension needs more than [`memory_budget`] on the driver.
pub(crate) fn check_model_fits(data: &Dataset) -> Result<()> {
    check_within(data, memory_budget())
}

/// [`check_model_fits`] within `budget` bytes.
fn check_within(data: &Dataset, budget: u64) -> Result<()> {
    let dim = data.dim() as u64;
    let needed = dim.saturating_mul(8).saturating_mul(DRIVER_VECTORS);
    if needed > budget {
        bail!(
            "{}: its {dim} features (the largest feature index, as --max-features allowed) need \
             {} MiB on the driver ({DRIVER_VECTORS} vectors of 8 bytes a feature), over the \
             memory budget of {} MiB (half of what this process may take: the host's, its \
             container's or ulimit -v's): lower the feature indices or give more memory",
            data.name(),
            needed >> 20,
            budget >> 20
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dimension_past_the_budget_is_refused_naming_it() {
        let data = crate::builtin::cal_housing_scale().unwrap();
        let needed = data.dim() as u64 * 8 * DRIVER_VECTORS;
        assert!(check_within(&data, needed).is_ok());
        let err = check_within(&data, needed - 1).unwrap_err().to_string();
        assert!(err.contains("over the memory budget of 0 MiB"), "{err}");
        assert!(err.contains("--max-features"), "{err}");
    }
}
