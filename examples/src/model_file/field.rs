//! A model file's scalar fields, read so that an error names the field: serde_json's own says
//! only where in the text it failed (`invalid type: string "8", expected usize at line 1
//! column 98`), which does not tell a user which field to fix.

use serde::de::Error;
use serde::{Deserialize, Deserializer};

/// `T` read as `field`, its error prefixed by the field's name.
fn named<'de, T: Deserialize<'de>, D: Deserializer<'de>>(field: &str, d: D) -> Result<T, D::Error> {
    T::deserialize(d).map_err(|e| in_field(field, e))
}

/// `error`, met in `field`, as an error that names it.
pub(super) fn in_field<E: Error>(field: &str, error: impl std::fmt::Display) -> E {
    let message = error.to_string();
    // serde_json adds the position again to the error made here: said once.
    let message = message
        .rfind(" at line ")
        .map_or(message.as_str(), |at| &message[..at]);
    E::custom(format_args!("`{field}`: {message}"))
}

macro_rules! fields {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(pub(super) fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
            named(stringify!($name), d)
        })*
    };
}

fields! {
    format: String,
    version: u32,
    loss: String,
    lambda: f64,
    features: usize,
    bias: Option<f64>,
    data: super::DataInfo,
}

/// The objective, null read as NaN: JSON has no NaN or infinity, which serde_json writes as
/// null, so a diverged run's model file reads back and [`SavedModel::read`](super::SavedModel::read)
/// can say what it holds.
pub(super) fn objective<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(named::<Option<f64>, D>("objective", d)?.unwrap_or(f64::NAN))
}
