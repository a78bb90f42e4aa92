//! The memory budget a model file is read under: its weights, and what its JSON values (`own`,
//! `settings`) take in memory, counted against it as they are read, so that a hostile or
//! corrupt file is refused at the first value beyond the budget instead of read whole.
//!
//! A `serde_json::Value` takes 10 to 36 times its text in memory (`[0,0,...]` is 2 bytes of
//! text a number, a `Value` of 72 bytes each): a JSON value may take what the budget's weights
//! would, or [`JSON_FLOOR`] if that is more.

use std::cell::Cell;
use std::io::Read;
use std::mem::size_of;

use asyncopt_runtime::data::LoadOptions;
use serde::de::{DeserializeSeed, Error, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::{Map, Number, Value};

thread_local! {
    /// The budget, in features, of the model being read on this thread, which [`Scope`] sets:
    /// serde passes no argument to a field's deserializer. None outside a scope.
    static FEATURES: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Sets the budget of the model read on this thread while it lives.
pub(super) struct Scope(Option<usize>);

impl Scope {
    pub(super) fn enter(max_features: usize) -> Scope {
        Scope(FEATURES.with(|features| features.replace(Some(max_features))))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        FEATURES.with(|features| features.set(self.0));
    }
}

/// A model's memory budget: its features and a bias, a weight each.
#[derive(Clone, Copy)]
pub(super) struct Budget {
    features: usize,
    /// No read set it (a model deserialized through serde directly): the default.
    default: bool,
}

impl Budget {
    /// The budget of `features` features a read was given.
    pub(super) fn of(features: usize) -> Budget {
        Budget {
            features,
            default: false,
        }
    }

    /// The longest file a model within the budget takes as `SavedModel::write` lays it out: a
    /// weight 32 bytes of text at most (a shortest f64, its indent, comma and line break);
    /// `own` and `settings` 3 bytes for each byte they may take in memory (a number under a
    /// deep indent against its node); 1 MiB the rest. A longer file is refused before it is
    /// parsed: serde_json holds a string whole before any visitor sees it (the loss, the
    /// data's name), so only the file's length bounds those.
    pub(super) fn file_bytes(self) -> u64 {
        let weights = (self.weights() as u64).saturating_mul(32);
        let json = (self.json_bytes() as u64).saturating_mul(2 * 3);
        weights.saturating_add(json).saturating_add(1 << 20)
    }

    /// The error of a file longer than [`Budget::file_bytes`], of `length` bytes if known.
    pub(super) fn file_too_long(self, length: Option<u64>) -> String {
        let length = length.map_or(String::new(), |n| format!(" ({n} bytes)"));
        format!(
            "longer{length} than a model within the memory budget of {} features and a bias \
             can be ({} bytes): raise it with --max-features if that is meant",
            self.features,
            self.file_bytes()
        )
    }

    /// The budget of the model being read on this thread.
    pub(super) fn current() -> Budget {
        match FEATURES.with(Cell::get) {
            Some(features) => Budget {
                features,
                default: false,
            },
            None => Budget {
                features: LoadOptions::DEFAULT_MAX_DIM,
                default: true,
            },
        }
    }

    /// The weights it holds.
    fn weights(self) -> usize {
        self.features.saturating_add(1)
    }

    /// The bytes a JSON value may take: what those weights would, or [`JSON_FLOOR`].
    fn json_bytes(self) -> usize {
        self.weights()
            .saturating_mul(size_of::<f64>())
            .max(JSON_FLOOR)
    }

    /// The error for `what` beyond it, which says where a default budget came from.
    pub(super) fn exceeded<E: Error>(self, what: std::fmt::Arguments) -> E {
        let (default, another) = if self.default {
            (
                "default ",
                " (SavedModel::read_within and deserialize_within take another)",
            )
        } else {
            ("", "")
        };
        E::custom(format!(
            "{what} exceed the {default}memory budget of {} features and a bias{another}",
            self.features
        ))
    }
}

/// A reader of a model file that fails once it passed [`Budget::file_bytes`], for a file whose
/// length is not known before (a pipe, a device), where `take` would end the text quietly.
pub(super) struct Capped<R> {
    inner: R,
    left: u64,
    budget: Budget,
}

impl<R: Read> Capped<R> {
    pub(super) fn new(inner: R, budget: Budget) -> Capped<R> {
        Capped {
            inner,
            left: budget.file_bytes(),
            budget,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // At the cap: one more byte means the file is longer.
            return match self.inner.read(&mut [0])? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(self.budget.file_too_long(None))),
            };
        }
        let room = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..room])?;
        self.left -= read as u64;
        Ok(read)
    }
}

/// The weights, nulls read as NaN: no more than the budget's, counted as they are read, so
/// that a file of millions of `0,` is refused at the first weight beyond them rather than read
/// whole into gigabytes before its `features` are compared.
pub(super) fn weights<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    struct Weights(Budget);
    impl<'de> Visitor<'de> for Weights {
        type Value = Vec<f64>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of weights")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f64>, A::Error> {
            let max = self.0.weights();
            let mut weights = Vec::new();
            while let Some(w) = seq.next_element::<Option<f64>>()? {
                if weights.len() == max {
                    return Err(self.0.exceeded(format_args!("more than {max} weights")));
                }
                weights.push(w.unwrap_or(f64::NAN));
            }
            Ok(weights)
        }
    }
    d.deserialize_seq(Weights(Budget::current()))
}

/// The model of an author's own type, counted against the budget; null is none.
pub(super) fn own<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(Some(value("own", d)?).filter(|own| !own.is_null()))
}

/// The run's settings, counted against the budget.
pub(super) fn settings<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    value("settings", d)
}

/// The JSON value of `field`, what it takes in memory counted against the budget as it is
/// read (about: a `Vec` may hold twice its elements' room).
fn value<'de, D: Deserializer<'de>>(field: &'static str, d: D) -> Result<Value, D::Error> {
    let budget = Budget::current();
    let left = Cell::new(budget.json_bytes());
    Within {
        field,
        budget,
        left: &left,
    }
    .deserialize(d)
}

/// What a JSON value may take whatever the budget: a small `--max-features` (a model of 2
/// features) still reads the settings of its run, or a model of its own type of some 200,000
/// numbers.
pub(super) const JSON_FLOOR: usize = 16 << 20;

/// What a value, a key or an array's slot takes besides the bytes of its string.
const NODE: usize = size_of::<Value>();

/// Reads a JSON value, spending what each part takes from `left`.
#[derive(Clone, Copy)]
struct Within<'a> {
    field: &'static str,
    budget: Budget,
    left: &'a Cell<usize>,
}

impl Within<'_> {
    fn spend<E: Error>(self, bytes: usize) -> Result<(), E> {
        let Some(left) = self.left.get().checked_sub(bytes) else {
            return Err(self.budget.exceeded(format_args!(
                "values in `{}` taking more than {} bytes in memory",
                self.field,
                self.budget.json_bytes()
            )));
        };
        self.left.set(left);
        Ok(())
    }

    fn leaf<E: Error>(self, value: Value) -> Result<Value, E> {
        self.spend(NODE)?;
        Ok(value)
    }

    /// A string or a key, spent before it is copied.
    fn text<E: Error>(self, len: usize) -> Result<(), E> {
        self.spend(NODE.saturating_add(len))
    }
}

impl<'de> DeserializeSeed<'de> for Within<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Within<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: Error>(self, b: bool) -> Result<Value, E> {
        self.leaf(Value::Bool(b))
    }

    fn visit_i64<E: Error>(self, n: i64) -> Result<Value, E> {
        self.leaf(Value::Number(n.into()))
    }

    fn visit_u64<E: Error>(self, n: u64) -> Result<Value, E> {
        self.leaf(Value::Number(n.into()))
    }

    fn visit_f64<E: Error>(self, x: f64) -> Result<Value, E> {
        self.leaf(Number::from_f64(x).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Value, E> {
        self.text(text.len())?;
        Ok(Value::String(text.to_owned()))
    }

    fn visit_string<E: Error>(self, text: String) -> Result<Value, E> {
        self.text(text.len())?;
        Ok(Value::String(text))
    }

    fn visit_unit<E: Error>(self) -> Result<Value, E> {
        self.leaf(Value::Null)
    }

    fn visit_none<E: Error>(self) -> Result<Value, E> {
        self.leaf(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend(NODE)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend(NODE)?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.text(key.len())?;
            let item = map.next_value_seed(self)?;
            object.insert(key, item);
        }
        Ok(Value::Object(object))
    }
}
