//! Checkpoint format 4, which a previous build wrote: [`Checkpoint`] whose [`RunStats`] ends
//! at `zeromq_handshakes_failed`, without `unsealed_session_frames` (counted in
//! `unauthenticated_frames` then), which a resumed run then counts from none. Kept so that a
//! checkpoint of that build still resumes.

use serde::{Deserialize, Deserializer};

use super::format_three::{first_counters, STATS_FIELDS};
use super::{Checkpoint, Saved, WriteFailures};
use crate::coordinator::RunStats;

/// Format 4's body, field for field: postcard reads a struct as its fields in order.
#[derive(Deserialize)]
struct FormatFour {
    job: String,
    optimizer: String,
    iteration: u64,
    elapsed_s: f64,
    #[serde(deserialize_with = "stats_before_five")]
    stats: RunStats,
    state: Vec<Saved>,
    versions: Vec<Saved>,
    #[serde(with = "serde_bytes")]
    annex: Vec<u8>,
    write_failures: WriteFailures,
}

/// Decodes a format-4 body into today's checkpoint.
pub(super) fn decode(body: &[u8]) -> postcard::Result<Checkpoint> {
    let four: FormatFour = postcard::from_bytes(body)?;
    Ok(Checkpoint {
        job: four.job,
        optimizer: four.optimizer,
        iteration: four.iteration,
        elapsed_s: four.elapsed_s,
        stats: four.stats,
        state: four.state,
        versions: four.versions,
        annex: four.annex,
        write_failures: four.write_failures,
    })
}

/// [`RunStats`] as format 4 laid it out: format 3's fields and `zeromq_handshakes_failed`.
fn stats_before_five<'de, D: Deserializer<'de>>(deserializer: D) -> Result<RunStats, D::Error> {
    first_counters(deserializer, STATS_FIELDS + 1)
}
