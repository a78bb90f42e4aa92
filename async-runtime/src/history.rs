//! History for variance-reduced methods: a driver-side table of one scalar per sample (for a
//! linear model, the loss derivative at the sample's last visit, as SAGA keeps it). A task
//! carries only the entries of the rows it samples, and its result brings their new values
//! back. Workers keep none of it: a replaced worker simply gets its slices again. The table
//! is the driver's, and a driver checkpoint saves it with the optimizer's other variables.

use serde::{Deserialize, Serialize};

/// The driver's table, indexed by a sample's row in the dataset.
///
/// ```
/// use asyncopt_runtime::{History, HistoryUpdate};
///
/// let mut seen = History::zeros(4);
/// let mut update = HistoryUpdate::default();
/// update.push(2, 0.5); // a task computed sample 2's new entry
/// seen.apply(&update);
/// // The next task on samples 2 and 0 carries just these two entries.
/// assert_eq!(seen.slice([2, 0]).values(), &[0.5, 0.0]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct History {
    values: Vec<f64>,
}

impl History {
    /// A table of `n` zeros.
    pub fn zeros(n: usize) -> History {
        History {
            values: vec![0.0; n],
        }
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The entry of sample `id`.
    ///
    /// # Panics
    /// If `id` is not below [`len`](History::len) (a `reduce!` that reads the table refuses
    /// a table shorter than its data before any task).
    pub fn get(&self, id: u64) -> f64 {
        self.values[id as usize]
    }

    /// The entries of `ids`, in that order: what one task carries.
    pub fn slice(&self, ids: impl IntoIterator<Item = u64>) -> HistorySlice {
        HistorySlice {
            values: ids.into_iter().map(|id| self.get(id)).collect(),
        }
    }

    /// Writes the new entries a result brought back; ids outside the table are ignored.
    pub fn apply(&mut self, update: &HistoryUpdate) {
        for (&id, &value) in update.ids.iter().zip(&update.values) {
            if let Some(entry) = self.values.get_mut(id as usize) {
                *entry = value;
            }
        }
    }
}

/// The entries a task carries, in the order of the rows it runs on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HistorySlice {
    values: Vec<f64>,
}

impl HistorySlice {
    /// The entry of the task's `j`-th row (0 past the rows the task was given).
    pub fn get(&self, j: usize) -> f64 {
        self.values.get(j).copied().unwrap_or(0.0)
    }

    /// All entries, in row order.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

/// New entries, computed by a task, for the driver's table. A task writes the entries of its
/// own rows only: the driver refuses a result (a bad result, counted against its worker)
/// whose update names a row its task was not given.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "UpdateOnTheWire")]
pub struct HistoryUpdate {
    /// Before the ids on the wire: they bound them (see [`UpdateOnTheWire`]).
    values: Vec<f64>,
    ids: Vec<u64>,
}

/// A [`HistoryUpdate`] as it arrives, before its two lists are known to pair up. Its values
/// (8 bytes each on the wire) come first and bound its ids (as little as a byte each on the
/// wire, 8 in memory): ids first, a worker's result of a few MiB of them grew 8 times in the
/// driver before anything counted them.
struct UpdateOnTheWire {
    values: Vec<f64>,
    ids: Vec<u64>,
}

impl<'de> Deserialize<'de> for UpdateOnTheWire {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = UpdateOnTheWire;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a history update")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<UpdateOnTheWire, A::Error> {
                let missing =
                    |at| serde::de::Error::invalid_length(at, &"2 fields of a history update");
                let values: Vec<f64> = seq.next_element()?.ok_or_else(|| missing(0))?;
                let ids = crate::bounded::AtMost::new(values.len());
                let ids = seq.next_element_seed(ids)?.ok_or_else(|| missing(1))?;
                Ok(UpdateOnTheWire { values, ids })
            }
        }
        deserializer.deserialize_struct("HistoryUpdate", &["values", "ids"], Fields)
    }
}

impl TryFrom<UpdateOnTheWire> for HistoryUpdate {
    type Error = String;

    /// A result whose ids and values differ in number does not decode (a bad result, counted
    /// against its worker), rather than have its extra entries dropped in silence.
    fn try_from(wire: UpdateOnTheWire) -> Result<HistoryUpdate, String> {
        if wire.ids.len() != wire.values.len() {
            return Err(format!(
                "a history update of {} ids and {} values",
                wire.ids.len(),
                wire.values.len()
            ));
        }
        Ok(HistoryUpdate {
            ids: wire.ids,
            values: wire.values,
        })
    }
}

impl HistoryUpdate {
    /// Records the new entry of sample `id`.
    pub fn push(&mut self, id: u64, value: f64) {
        self.values.push(value);
        self.ids.push(id);
    }

    /// Appends another update (combining partitions' results).
    pub fn extend(&mut self, other: HistoryUpdate) {
        self.ids.extend(other.ids);
        self.values.extend(other.values);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_whose_ids_and_values_do_not_pair_up_does_not_decode() {
        let mut update = HistoryUpdate::default();
        update.push(3, 0.5);
        let bytes = postcard::to_allocvec(&update).unwrap();
        assert_eq!(
            postcard::from_bytes::<HistoryUpdate>(&bytes).unwrap(),
            update
        );
        let lopsided = postcard::to_allocvec(&(vec![0.5f64, 1.0], vec![1u64])).unwrap();
        assert!(postcard::from_bytes::<HistoryUpdate>(&lopsided).is_err());
        // Ids past the values' count (a byte each on the wire, 8 in memory) are refused as
        // they come, not decoded whole first: a format that keeps the message says so.
        let bloated = format!("[[0.5], [{}1]]", "1, ".repeat(1 << 16));
        let refused = serde_json::from_str::<HistoryUpdate>(&bloated).unwrap_err();
        assert!(
            refused.to_string().contains("a list of at most 1 entries"),
            "{refused}"
        );
    }

    #[test]
    fn slices_follow_the_ids_and_updates_land() {
        let mut table = History::zeros(5);
        let mut update = HistoryUpdate::default();
        update.push(3, 1.5);
        update.push(0, -2.0);
        update.push(99, 7.0);
        table.apply(&update);
        assert_eq!(table.slice([3, 1, 0]).values(), &[1.5, 0.0, -2.0]);
    }
}
