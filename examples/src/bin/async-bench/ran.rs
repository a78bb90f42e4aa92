//! What a part says and records of each run it makes. A run that failed before its first
//! update (its workers could not read the data file, say) has no result: it is said as failed,
//! with its error, as `async-train` says it, and its figures are null beside its `failure`,
//! not the counters of a run that never trained (0 updates, a throughput of 0).

use async_train::job::Outcome;

/// The lines said of a run as it ends: its result line and any faults line, or that it failed
/// before its first update, and why.
pub fn said(outcome: &Outcome) -> String {
    match outcome.failure.as_deref() {
        Some(error) if outcome.failed_untrained() => {
            format!(
                "{} failed before its first update: {error}",
                outcome.algorithm
            )
        }
        _ => outcome.result_lines(),
    }
}

/// `figure` of a run that trained; `None` (null in the figures) for one that failed before its
/// first update, which measured nothing.
pub fn trained<T>(outcome: &Outcome, figure: impl FnOnce(&Outcome) -> T) -> Option<T> {
    (!outcome.failed_untrained()).then(|| figure(outcome))
}

/// The time to target of a run that trained and reached it.
pub fn time_to_target(outcome: &Outcome) -> Option<f64> {
    trained(outcome, Outcome::time_to_target).flatten()
}
