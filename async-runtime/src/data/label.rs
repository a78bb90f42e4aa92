//! [`LabelRule`]: how labels are checked (and mapped) before training. A leaf of the data
//! layer: errors name the rule, datasets apply it, and split orders carry it to the workers.

use serde::{Deserialize, Serialize};

/// How labels are checked (and mapped) before training, on the driver and the workers alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LabelRule {
    /// Any finite real number (regression).
    #[default]
    Any,
    /// `+1` or `-1`.
    Signed,
    /// `0` or `1`, read as `-1` and `+1`.
    ZeroOneAsSigned,
}

impl LabelRule {
    /// The label as training reads it, or `None` if the rule refuses it.
    pub fn apply(self, label: f64) -> Option<f64> {
        match self {
            LabelRule::Any => Some(label),
            LabelRule::Signed => (label == 1.0 || label == -1.0).then_some(label),
            LabelRule::ZeroOneAsSigned if label == 0.0 => Some(-1.0),
            LabelRule::ZeroOneAsSigned => (label == 1.0).then_some(1.0),
        }
    }
}

impl std::fmt::Display for LabelRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LabelRule::Any => "any finite label",
            LabelRule::Signed => "labels +1/-1",
            LabelRule::ZeroOneAsSigned => "labels 0/1 (read as -1/+1)",
        })
    }
}
