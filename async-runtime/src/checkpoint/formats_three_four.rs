//! Checkpoint formats 3 and 4, which previous builds wrote: [`Checkpoint`] whose [`RunStats`]
//! ends at `blocked_s` (format 3) or at `zeromq_handshakes_failed` (format 4), without the
//! counters added since, which a resumed run then counts from none. Kept so that a checkpoint
//! of those builds still resumes.

use std::fmt;

use serde::de::value::SeqAccessDeserializer;
use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{Checkpoint, Saved, WriteFailures};
use crate::coordinator::RunStats;

/// Fields of [`RunStats`] in formats 2 and 3: today's first ones. Each field added since is
/// last and `#[serde(default)]`, so that the counters of those formats read as today's.
pub(super) const STATS_FIELDS: usize = 48;

/// Format 3's or 4's body, field for field (postcard reads a struct as its fields in order),
/// its [`RunStats`] of `STATS` fields.
#[derive(Deserialize)]
struct Body<const STATS: usize> {
    job: String,
    optimizer: String,
    iteration: u64,
    elapsed_s: f64,
    #[serde(deserialize_with = "first_counters::<STATS, _>")]
    stats: RunStats,
    state: Vec<Saved>,
    versions: Vec<Saved>,
    #[serde(with = "serde_bytes")]
    annex: Vec<u8>,
    write_failures: WriteFailures,
}

/// Decodes a format-3 body into today's checkpoint.
pub(super) fn decode_three(body: &[u8]) -> postcard::Result<Checkpoint> {
    decode::<STATS_FIELDS>(body)
}

/// Decodes a format-4 body, whose [`RunStats`] adds `zeromq_handshakes_failed` to format 3's.
pub(super) fn decode_four(body: &[u8]) -> postcard::Result<Checkpoint> {
    decode::<{ STATS_FIELDS + 1 }>(body)
}

fn decode<const STATS: usize>(body: &[u8]) -> postcard::Result<Checkpoint> {
    let body: Body<STATS> = postcard::from_bytes(body)?;
    Ok(Checkpoint {
        job: body.job,
        optimizer: body.optimizer,
        iteration: body.iteration,
        elapsed_s: body.elapsed_s,
        stats: body.stats,
        state: body.state,
        versions: body.versions,
        annex: body.annex,
        write_failures: body.write_failures,
    })
}

/// [`RunStats`] as an older format laid it out: its first `FIELDS` fields, read by its own
/// decoder, which gives those after them their defaults. (Postcard writes no field count:
/// read whole, the counters would take the first bytes of what follows them.)
pub(super) fn first_counters<'de, const FIELDS: usize, D: Deserializer<'de>>(
    deserializer: D,
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
    deserializer.deserialize_tuple(FIELDS, Counters(FIELDS))
}
