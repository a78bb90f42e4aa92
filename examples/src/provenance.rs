//! What a run's files say of how to run it again: the program and its version, the command
//! line as given, and when the command started (UTC).

use std::ffi::OsString;
use std::time::{SystemTime, UNIX_EPOCH};

/// The program, command line and start of the command that ran a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The program's name (`async-train`, or an author's program).
    pub program: String,
    /// Its version, as `--version` prints it.
    pub program_version: String,
    /// The arguments as given, the program's name first (an argument that is no UTF-8 is
    /// written with U+FFFD in its place).
    pub command_line: Vec<String>,
    /// When the command started, RFC 3339 in UTC (`2026-12-07T13:14:27Z`).
    pub started_utc: String,
}

impl Provenance {
    /// The command `args` of `program` `version`, started now.
    pub fn started(program: &str, version: &str, args: &[OsString]) -> Provenance {
        Provenance {
            program: program.into(),
            program_version: version.into(),
            command_line: (args.iter())
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
            started_utc: rfc3339_utc(SystemTime::now()),
        }
    }

    /// The fields the summary and `compare.json` keep.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "program": self.program,
            "program_version": self.program_version,
            "command_line": self.command_line,
            "started_utc": self.started_utc,
        })
    }
}

impl Default for Provenance {
    /// A job built in code, not from a command line: this crate's version, no arguments.
    fn default() -> Provenance {
        Provenance::started("async-train", env!("CARGO_PKG_VERSION"), &[])
    }
}

/// `time` as RFC 3339 in UTC to the second (`1970-01-01T00:00:00Z`); a time before 1970 is
/// written as 1970's start (no clock of a running program is).
pub fn rfc3339_utc(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Counted from 0000-03-01, so that a leap day is the last of its (400-year) era's years.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64) -> String {
        rfc3339_utc(UNIX_EPOCH + Duration::from_secs(seconds))
    }

    #[test]
    fn times_are_written_as_rfc3339_utc() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(86_399), "1970-01-01T23:59:59Z");
        // Leap days, centuries that are not leap years and one that is.
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(at(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(at(4_107_456_000), "2100-02-28T00:00:00Z");
        assert_eq!(at(1_234_567_890), "2009-02-13T23:31:30Z");
        assert_eq!(at(1_799_325_267), "2027-01-07T12:34:27Z");
        assert_eq!(rfc3339_utc(UNIX_EPOCH - Duration::from_secs(5)), at(0));
    }

    #[test]
    fn every_day_follows_the_last() {
        // Day by day over 1970-2400: each date is the one after the last.
        let mut last = civil_from_days(0);
        for days in 1..157_000 {
            let (y, m, d) = civil_from_days(days);
            let (ly, lm, ld) = last;
            let next_day = (y, m) == (ly, lm) && d == ld + 1;
            let next_month = y == ly && m == lm + 1 && d == 1;
            let next_year = y == ly + 1 && (m, d) == (1, 1) && (lm, ld) == (12, 31);
            assert!(
                next_day || next_month || next_year,
                "{last:?} then {y}-{m}-{d}"
            );
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let month_days = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            assert!(d <= month_days[m as usize - 1], "{y}-{m}-{d}");
            last = (y, m, d);
        }
    }
}
