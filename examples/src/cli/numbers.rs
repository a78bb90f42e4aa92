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

/// `text` as a whole number from `least` to `most` (`u64::MAX`: no bound but what `T` holds),
/// or an error saying it is not one, in [`number`]'s words; a whole number past an unbounded
/// flag's real bound says that bound, since "is not a whole number >= 0" was said of one.
pub fn whole<T: TryFrom<u64>>(text: &str, least: u64, most: u64) -> Result<T, String> {
    let not = |what: String| format!("`{text}` is not {what}");
    let unbounded = most == u64::MAX;
    let what = match unbounded {
        true => format!("a whole number >= {least}"),
        false => format!("a whole number from {least} to {most}"),
    };
    let bound = most.min(most_held::<T>());
    let n = match text.parse::<u64>() {
        Ok(n) => n,
        Err(e) if unbounded && *e.kind() == std::num::IntErrorKind::PosOverflow => {
            return Err(format!("`{text}` is more than {bound}"));
        }
        Err(_) => return Err(not(what)),
    };
    if n < least {
        return Err(not(what));
    }
    match T::try_from(n) {
        Ok(value) if n <= most => Ok(value),
        _ if unbounded => Err(format!("`{text}` is more than {bound}")),
        _ => Err(not(what)),
    }
}

/// The largest `u64` that `T` holds (`T` an integer type).
fn most_held<T: TryFrom<u64>>() -> u64 {
    (1..=64)
        .rev()
        .map(|bits| u64::MAX >> (64 - bits))
        .find(|&n| T::try_from(n).is_ok())
        .unwrap_or(0)
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
        // Past what the type or a u64 holds: the bound it passed, not a range it is in.
        assert_eq!(
            refused(zero_or_more("4294967296")),
            "`4294967296` is more than 4294967295"
        );
        assert_eq!(
            zero_or_more::<u64>("99999999999999999999").unwrap_err(),
            "`99999999999999999999` is more than 18446744073709551615"
        );
        assert_eq!(
            zero_or_more::<i8>("128").unwrap_err(),
            "`128` is more than 127"
        );
        assert_eq!(
            refused(whole("9", 1, 8)),
            "`9` is not a whole number from 1 to 8"
        );
    }
}
