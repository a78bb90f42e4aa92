//! The settings an optimizer reads: its own hyperparameters (`--param`) and the shared settings
//! it declares, a value for anything else refused as changing nothing.

use std::collections::BTreeMap;

use anyhow::Result;
use asyncopt_algorithms::{Params, Precondition};

use super::JobSpec;
use crate::optimizer::{readable, Hyper, Optimizer, Setting};

/// The values of `algorithm`'s own hyperparameters: `given`, or their defaults.
pub(super) fn hyperparameters(
    algorithm: Optimizer,
    given: &[(String, f64)],
) -> BTreeMap<String, f64> {
    algorithm
        .hypers()
        .iter()
        .map(|hyper| {
            let value = given.iter().rev().find(|(name, _)| name == hyper.name);
            (
                hyper.name.to_owned(),
                value.map_or(hyper.default, |(_, v)| *v),
            )
        })
        .collect()
}

/// Refuses a value for a shared setting that none of `algorithms` reads: it would change
/// nothing, while the summary and the saved model say it was set.
pub fn check_settings(spec: &JobSpec, algorithms: &[Optimizer]) -> Result<()> {
    for setting in Setting::ALL {
        let Some(value) = given(spec, setting) else {
            continue;
        };
        if algorithms.iter().any(|a| a.reads_setting(setting)) {
            continue;
        }
        let names: Vec<&str> = algorithms.iter().map(|a| a.name()).collect();
        let flag = setting.flag();
        let given = if value.is_empty() {
            flag.to_owned()
        } else {
            format!("{flag} {value}")
        };
        let who = match names.as_slice() {
            [one] => format!("{one} does not read"),
            many => format!("none of {} reads", many.join(", ")),
        };
        // The classification loss rewrites the labels even for code that never reads it.
        let changes = match setting {
            Setting::Loss => "would change only how the labels are read, not the objective",
            _ => "would change nothing",
        };
        bail_usage!(
            "{given} {changes}: {who} {} (an optimizer declares the settings its code reads \
             with Optimizer::reads)",
            setting.field()
        );
    }
    Ok(())
}

/// The value `spec` gives `setting`, unless it is the default ("" for a switch that is on).
fn given(spec: &JobSpec, setting: Setting) -> Option<String> {
    match setting {
        Setting::Momentum => (spec.momentum != 0.0).then(|| spec.momentum.to_string()),
        Setting::Precondition => {
            (spec.precondition != Precondition::None).then(|| spec.precondition.to_string())
        }
        Setting::Quorum => (spec.quorum != Params::DEFAULT_QUORUM).then(|| spec.quorum.to_string()),
        Setting::MaxStaleness => (spec.max_staleness != Params::DEFAULT_MAX_STALENESS)
            .then(|| spec.max_staleness.to_string()),
        Setting::StalenessAware => spec.staleness_aware.then(String::new),
        Setting::Epoch => (spec.epoch != 0).then(|| spec.epoch.to_string()),
        Setting::Loss => spec
            .loss
            .is_classification()
            .then(|| spec.loss.name().to_owned()),
        Setting::Lambda => {
            let default = if spec.loss.is_classification() {
                crate::cli::DEFAULT_LOGISTIC_LAMBDA
            } else {
                0.0
            };
            (spec.loss.lambda() != default).then(|| spec.loss.lambda().to_string())
        }
    }
}

/// What `hyper` takes, said to refuse `value`: a fraction for a count is refused as such
/// ("takes a whole number for k (...), not 2.5"), anything else by the range.
fn refusal(hyper: &Hyper, value: f64) -> String {
    let (name, help) = (hyper.name, hyper.help);
    if hyper.whole && value.fract() != 0.0 {
        let bounds = hyper.bounds().map_or(String::new(), |b| format!(" {b}"));
        return format!(
            "takes a whole number{bounds} for {name} ({help}), not {}",
            readable(value)
        );
    }
    format!("takes {name} {} ({help})", hyper.range())
}

/// Refuses a `--param` that none of `algorithms` declares, listing what they take.
pub fn check_params(given: &[(String, f64)], algorithms: &[Optimizer]) -> Result<()> {
    for (i, (name, _)) in given.iter().enumerate() {
        if given[..i].iter().any(|(earlier, _)| earlier == name) {
            bail_usage!("--param {name} is given twice: give each parameter once");
        }
    }
    for (name, value) in given {
        let declared: Vec<(Optimizer, &Hyper)> = algorithms
            .iter()
            .flat_map(|a| a.hypers().iter().map(move |h| (*a, h)))
            .filter(|(_, h)| h.name == name)
            .collect();
        if let Some((algorithm, hyper)) = declared.iter().find(|(_, h)| !h.admits(*value)) {
            bail_usage!(
                "--param {name}={}: {algorithm} {}",
                readable(*value),
                refusal(hyper, *value)
            );
        }
        if !declared.is_empty() {
            continue;
        }
        let known: Vec<String> = algorithms
            .iter()
            .flat_map(|a| a.hypers())
            .map(|h| format!("{} ({})", h.name, h.help))
            .collect();
        let names: Vec<&str> = algorithms.iter().map(|a| a.name()).collect();
        if known.is_empty() {
            bail_usage!(
                "--param {name}: {} takes no parameter of its own",
                names.join(", ")
            );
        }
        bail_usage!(
            "--param {name}: {} takes only {}",
            names.join(", "),
            known.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::refusal;
    use crate::optimizer::Hyper;

    #[test]
    fn a_fraction_for_a_count_is_refused_in_a_sentence_naming_the_value() {
        let k = Hyper::new("k", 8.0, "a count").whole();
        assert_eq!(
            refusal(&k, 2.5),
            "takes a whole number for k (a count), not 2.5"
        );
        let ranged = k.within(1.0, 100.0);
        assert_eq!(
            refusal(&ranged, 2.5),
            "takes a whole number from 1 to 100 for k (a count), not 2.5"
        );
        // Printed as short as it is typed, not with its 300 zeros.
        assert_eq!(
            refusal(&k, 1e-300),
            "takes a whole number for k (a count), not 1e-300"
        );
        // A whole value outside the range is refused by the range.
        assert_eq!(
            refusal(&ranged, 200.0),
            "takes k from 1 to 100, whole numbers only (a count)"
        );
    }
}
