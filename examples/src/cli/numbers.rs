//! Value parsers of the numeric flags, shared by `async-train` and `async-bench`: a value out
//! of range is refused when parsed, under its flag's name, in one wording for every flag.
//!
//! An integer flag also needs `allow_hyphen_values = true`, or clap reads `--workers -3` as
//! an unknown flag `-3` before the parser sees it:
//!
//! ```
//! use async_train::cli::numbers::at_least_one;
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[arg(long, allow_hyphen_values = true, value_parser = at_least_one::<usize>)]
//!     workers: usize,
//! }
//!
//! let error = Cli::try_parse_from(["cli", "--workers", "-3"]).err().unwrap().to_string();
//! assert!(error.contains("invalid value '-3' for '--workers <WORKERS>': `-3` is not a whole number >= 1"));
//! ```

/// `text` as a number `accepts` takes, or an error saying it is not `what`.
pub fn number(text: &str, accepts: fn(f64) -> bool, what: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|&x| accepts(x))
        .ok_or_else(|| format!("`{text}` is not {what}"))
}

/// `text` as a whole number from `least` to `most` (`u64::MAX`: no bound), or an error
/// saying it is not one, in [`number`]'s words.
pub fn whole<T: TryFrom<u64>>(text: &str, least: u64, most: u64) -> Result<T, String> {
    let what = match most {
        u64::MAX => format!("a whole number >= {least}"),
        _ => format!("a whole number from {least} to {most}"),
    };
    text.parse::<u64>()
        .ok()
        .filter(|n| (least..=most).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("`{text}` is not {what}"))
}

/// A count that means nothing at 0: workers, runs, updates between checkpoints.
pub fn at_least_one<T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    whole(text, 1, u64::MAX)
}

/// A whole number where 0 means something: a seed, a batch (the whole partition), an epoch.
pub fn zero_or_more<T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    whole(text, 0, u64::MAX)
}

/// `--prefetch`: 1 (no prefetch) up to the tasks a worker queues.
pub fn prefetch(text: &str) -> Result<usize, String> {
    whole(text, 1, asyncopt_runtime::worker::MAX_QUEUED_TASKS as u64)
}

/// `--partitions-per-worker`: 1 up to the most a worker holds.
pub fn partitions_per_worker(text: &str) -> Result<usize, String> {
    whole(text, 1, asyncopt_runtime::worker::MAX_PARTITIONS as u64)
}

/// The most seconds a duration flag takes: far beyond any run, and a deadline this far (a
/// century) still fits the clock's arithmetic.
pub const MAX_SECONDS: f64 = 3.2e9;

#[cfg(test)]
mod tests {
    use super::{at_least_one, whole, zero_or_more};

    #[test]
    fn a_value_out_of_range_says_what_the_flag_takes() {
        assert_eq!(at_least_one::<usize>("3"), Ok(3));
        assert_eq!(zero_or_more::<u64>("0"), Ok(0));
        let refused = |r: Result<u32, String>| r.unwrap_err();
        assert_eq!(
            refused(at_least_one("-3")),
            "`-3` is not a whole number >= 1"
        );
        assert_eq!(refused(at_least_one("0")), "`0` is not a whole number >= 1");
        assert_eq!(refused(zero_or_more("x")), "`x` is not a whole number >= 0");
        assert_eq!(
            refused(zero_or_more("1.5")),
            "`1.5` is not a whole number >= 0"
        );
        // Past what the type holds, as past the range.
        assert_eq!(
            refused(zero_or_more("4294967296")),
            "`4294967296` is not a whole number >= 0"
        );
        assert_eq!(
            refused(whole("9", 1, 8)),
            "`9` is not a whole number from 1 to 8"
        );
    }
}
