//! Checkpoint format 2, which a previous build wrote: [`Checkpoint`] without its
//! [`write_failures`](Checkpoint::write_failures), which a resumed run then counts from none,
//! and its [`RunStats`] as format 3's.
//! Kept so that a checkpoint of that build still resumes.

use serde::Deserialize;

use super::formats_three_four::{first_counters, STATS_FIELDS};
use super::{Checkpoint, Saved, WriteFailures};
use crate::coordinator::RunStats;

/// Format 2's body, field for field: postcard reads a struct as its fields in order.
#[derive(Deserialize)]
struct FormatTwo {
    job: String,
    optimizer: String,
    iteration: u64,
    elapsed_s: f64,
    #[serde(deserialize_with = "first_counters::<STATS_FIELDS, _>")]
    stats: RunStats,
    state: Vec<Saved>,
    versions: Vec<Saved>,
    #[serde(with = "serde_bytes")]
    annex: Vec<u8>,
}

/// Decodes a format-2 body into today's checkpoint.
pub(super) fn decode(body: &[u8]) -> postcard::Result<Checkpoint> {
    let two: FormatTwo = postcard::from_bytes(body)?;
    Ok(Checkpoint {
        job: two.job,
        optimizer: two.optimizer,
        iteration: two.iteration,
        elapsed_s: two.elapsed_s,
        stats: two.stats,
        state: two.state,
        versions: two.versions,
        annex: two.annex,
        write_failures: WriteFailures::default(),
    })
}
