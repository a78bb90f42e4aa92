//! Whether the driver can hold a model of the data's dimension, and whether its workers can
//! be sent one: refused before anything of that size is allocated, since an allocation past
//! what the process may take aborts it (or has the kernel kill it) rather than saying why, and
//! a model no frame holds would end the run only at its first broadcast, after the optimum.

use anyhow::{bail, Result};
use asyncopt_runtime::data::libsvm::memory_budget;
use asyncopt_runtime::data::Dataset;
use asyncopt_runtime::ClusterConfig;

/// Dense vectors of the dimension the driver may hold at once: the exact optimum's
/// preconditioned conjugate gradients keep about ten (right side, diagonal, its inverse, the
/// iterate, residual, direction and products), more than the model and the step's metric.
pub(crate) const DRIVER_VECTORS: u64 = 10;

/// Refuses `data` whose linear model the driver cannot hold or its workers cannot be sent
/// (see [`check_model_fits`] and [`check_model_travels`]), before the optimum is computed.
pub(crate) fn check_linear_model(data: &Dataset, cluster: &ClusterConfig) -> Result<()> {
    check_model_fits(data)?;
    check_model_travels(data, cluster.broadcast_room())
}

/// Refuses `data` whose dimension needs more than [`memory_budget`] on the driver.
pub(crate) fn check_model_fits(data: &Dataset) -> Result<()> {
    check_within(data, memory_budget())
}

/// Refuses `data` whose dense linear model (8 bytes a feature) is larger than a broadcast
/// version can be (`room` bytes, [`ClusterConfig::broadcast_room`]): such a run used to
/// compute the exact optimum on ten dense vectors (5 minutes and 3.9 GB at 6.7e7 features)
/// and start its workers, only to fail at its first broadcast.
fn check_model_travels(data: &Dataset, room: usize) -> Result<()> {
    let dim = data.dim() as u64;
    let bytes = dim.saturating_mul(8);
    if bytes > room as u64 {
        bail!(
            "{}: its {dim} features (the largest feature index, or --dim) make a model of \
             {bytes} bytes, and a broadcast to the workers holds at most {room} (the frame \
             limit, less room for the task): no model past {} features can be sent; lower the \
             feature indices (hash the features into fewer)",
            data.name(),
            room / 8
        );
    }
    Ok(())
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

    #[test]
    fn a_model_larger_than_a_broadcast_is_refused_naming_the_limit() {
        let data = crate::builtin::cal_housing_scale().unwrap();
        let bytes = data.dim() * 8;
        assert!(check_model_travels(&data, bytes).is_ok());
        let err = check_model_travels(&data, bytes - 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("make a model of {bytes} bytes")),
            "{err}"
        );
        assert!(err.contains("lower the feature indices"), "{err}");
    }
}
