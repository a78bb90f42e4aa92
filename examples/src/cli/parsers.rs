//! Value parsers of the flags clap cannot parse alone: the optimizers (the built-in ones and an
//! author's), the straggler models, the preconditioner, `--param NAME=VALUE`, and the integer
//! flags bounded by what the runtime holds.

use std::ffi::OsStr;

use asyncopt_algorithms::Precondition;
use asyncopt_runtime::Stragglers;
use clap::builder::{PossibleValue, TypedValueParser};

use super::numbers::whole;
use super::spec::MAX_FEATURES_CEILING;
use crate::optimizer::{readable, Optimizer, Registry};

/// Parses `--algo` against the optimizers of the command line and lists them in `--help` and
/// shell completions, with a one-line error for an unknown name.
#[derive(Clone)]
pub(super) struct AlgorithmParser(pub(super) Registry);

impl AlgorithmParser {
    pub(super) fn builtin() -> AlgorithmParser {
        AlgorithmParser(Registry::with(&[]).expect("the built-in names differ"))
    }
}

impl TypedValueParser for AlgorithmParser {
    type Value = Optimizer;

    fn parse_ref(
        &self,
        _: &clap::Command,
        _: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Optimizer, clap::Error> {
        self.0
            .get(&value.to_string_lossy())
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e + "\n"))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        // An optimizer's own hyperparameters, with their defaults, beside its name.
        Some(Box::new(self.0.all().iter().map(|o| {
            let hypers: Vec<String> = o
                .hypers()
                .iter()
                .map(|h| match h.takes_any() {
                    true => format!("--param {}={} ({})", h.name, readable(h.default), h.help),
                    false => format!(
                        "--param {}={} ({}; {})",
                        h.name,
                        readable(h.default),
                        h.help,
                        h.range()
                    ),
                })
                .collect();
            let value = PossibleValue::new(o.name());
            match hypers.is_empty() {
                true => value,
                false => value.help(hypers.join(", ")),
            }
        })))
    }
}

/// Parses `--stragglers` (`none`, `slow-workers`, `slow-partitions`, `intensity:C`, and the
/// aliases `paper`, `asyncpaper`) and lists the models in `--help`.
#[derive(Clone)]
pub(super) struct StragglersParser;

impl TypedValueParser for StragglersParser {
    type Value = Stragglers;

    fn parse_ref(
        &self,
        _: &clap::Command,
        _: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Stragglers, clap::Error> {
        value
            .to_string_lossy()
            .parse()
            .map_err(|e: String| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e + "\n"))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            [
                PossibleValue::new("none"),
                PossibleValue::new("slow-workers").alias("paper"),
                PossibleValue::new("slow-partitions").alias("asyncpaper"),
                PossibleValue::new("intensity:C"),
            ]
            .into_iter(),
        ))
    }
}

pub(super) fn parse_precondition(s: &str) -> Result<Precondition, String> {
    s.parse()
}

/// `NAME=VALUE` of `--param`, the value a finite number.
pub(super) fn parse_param(text: &str) -> Result<(String, f64), String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!("`{text}` is not NAME=VALUE"));
    };
    if name.trim().is_empty() {
        return Err(format!(
            "`{text}`: NAME=VALUE with a parameter's name for NAME"
        ));
    }
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok((name.trim().to_owned(), v)),
        _ => Err(format!(
            "`{text}`: NAME=VALUE with a finite number for VALUE"
        )),
    }
}

/// `--keep-versions`: 1 up to the copies of each broadcast variable the driver may keep.
pub(super) fn keep_versions(text: &str) -> Result<usize, String> {
    whole(text, 1, asyncopt_runtime::cluster::MAX_KEEP_VERSIONS as u64)
}

/// `--max-features`: 1 (no model holds fewer) up to 2^31 features (16 GiB per model copy).
pub(super) fn max_features(text: &str) -> Result<usize, String> {
    whole(text, 1, MAX_FEATURES_CEILING as u64)
}

/// `--bind` and `--driver`: `HOST:PORT` (`[V6]:PORT`) as `tcp://HOST:PORT`, the one scheme
/// the runtime speaks, which is what a user types; an address with a scheme is kept as it is,
/// so that another one (`ipc://`) is refused later under its flag's name.
pub(super) fn tcp_address(text: &str) -> Result<String, String> {
    if text.contains("://") {
        return Ok(text.to_owned());
    }
    // The runtime's rule for an address, so that what is taken here is what it takes.
    let address = format!("tcp://{text}");
    match asyncopt_runtime::transport::endpoint_problem(&address) {
        None => Ok(address),
        Some(_) => Err(format!(
            "`{text}` is not HOST:PORT, [IPV6]:PORT or tcp://HOST:PORT (e.g. 10.0.0.1:7000)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_param, tcp_address};

    #[test]
    fn a_param_names_the_part_that_is_wrong() {
        assert_eq!(parse_param(" beta = 0.5"), Ok(("beta".to_owned(), 0.5)));
        let wrong = |text: &str| parse_param(text).unwrap_err();
        assert!(
            wrong("=1").contains("a parameter's name for NAME"),
            "{}",
            wrong("=1")
        );
        assert!(wrong("beta=x").contains("a finite number for VALUE"));
        assert!(wrong("beta=inf").contains("a finite number for VALUE"));
        assert!(wrong("beta").contains("is not NAME=VALUE"));
    }

    #[test]
    fn an_address_without_a_scheme_is_tcp_and_another_scheme_is_kept_for_its_refusal() {
        for (typed, meant) in [
            ("127.0.0.1:5555", "tcp://127.0.0.1:5555"),
            ("driver-host:7000", "tcp://driver-host:7000"),
            ("[::1]:5555", "tcp://[::1]:5555"),
            ("0.0.0.0:0", "tcp://0.0.0.0:0"),
            ("tcp://10.0.0.1:7000", "tcp://10.0.0.1:7000"),
            ("ipc:///tmp/x", "ipc:///tmp/x"),
            ("udp://10.0.0.1:7000", "udp://10.0.0.1:7000"),
        ] {
            assert_eq!(tcp_address(typed).as_deref(), Ok(meant), "{typed}");
        }
        for wrong in [
            "127.0.0.1",
            "host:",
            ":7000",
            "::1:5555",
            "host:port",
            "0.0.0.0:*",
            "",
        ] {
            let refused = tcp_address(wrong).unwrap_err();
            assert!(refused.contains("is not HOST:PORT"), "{wrong}: {refused}");
        }
    }
}
