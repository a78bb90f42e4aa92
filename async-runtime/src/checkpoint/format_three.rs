//! Checkpoint format 3, which a previous build wrote: [`Checkpoint`] whose [`RunStats`] ends
//! at `blocked_s`, without the counters added since, which a resumed run then counts from
//! none. Kept so that a checkpoint of that build still resumes.

use std::fmt;

use serde::de::value::SeqAccessDeserializer;
use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{Checkpoint, Saved, WriteFailures};
use crate::coordinator::RunStats;

/// Fields of [`RunStats`] in formats 2 and 3: today's first ones. Each field added since is
/// last and `#[serde(default)]`, so that the counters of those formats read as today's.
pub(super) const STATS_FIELDS: usize = 48;

/// Format 3's body, field for field: postcard reads a struct as its fields in order.
#[derive(Deserialize)]
struct FormatThree {
    job: String,
    optimizer: String,
    iteration: u64,
    elapsed_s: f64,
    #[serde(deserialize_with = "stats_before_four")]
    stats: RunStats,
    state: Vec<Saved>,
    versions: Vec<Saved>,
    #[serde(with = "serde_bytes")]
    annex: Vec<u8>,
    write_failures: WriteFailures,
}

/// Decodes a format-3 body into today's checkpoint.
pub(super) fn decode(body: &[u8]) -> postcard::Result<Checkpoint> {
    let three: FormatThree = postcard::from_bytes(body)?;
    Ok(Checkpoint {
        job: three.job,
        optimizer: three.optimizer,
        iteration: three.iteration,
        elapsed_s: three.elapsed_s,
        stats: three.stats,
        state: three.state,
        versions: three.versions,
        annex: three.annex,
        write_failures: three.write_failures,
    })
}

/// [`RunStats`] as formats 2 and 3 laid it out: its first [`STATS_FIELDS`] fields.
pub(super) fn stats_before_four<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<RunStats, D::Error> {
    first_counters(deserializer, STATS_FIELDS)
}

/// [`RunStats`] as an older format laid it out: its first `fields` fields, read by its own
/// decoder, which gives those after them their defaults. (Postcard writes no field count:
/// read whole, the counters would take the first bytes of what follows them.)
pub(super) fn first_counters<'de, D: Deserializer<'de>>(
    deserializer: D,
    fields: usize,
) -> Result<RunStats, D::Error> {
    struct Counters(usize);
    impl<'de> Visitor<'de> for Counters {
        type Value = RunStats;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "the {} counters of a run", self.0)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, fields: A) -> Result<RunStats, A::Error> {
            RunStats::deserialize(SeqAccessDeserializer::new(fields))
        }
    }
    deserializer.deserialize_tuple(fields, Counters(fields))
}
