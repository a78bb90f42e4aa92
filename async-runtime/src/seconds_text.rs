//! A duration as a log line or an error says it.

/// `seconds` in tenths, or, under a tenth, with two significant digits: a liveness timeout of
/// 2 ms was said as "0.0 s".
pub(crate) fn seconds_text(seconds: f64) -> String {
    if !(seconds > 0.0 && seconds < 0.095) {
        return format!("{seconds:.1}");
    }
    // Two significant digits, down to a nanosecond (what a `Duration` holds).
    let places = ((-seconds.log10()).floor() as usize + 2).min(9);
    let text = format!("{seconds:.places$}");
    let text = text.trim_end_matches('0');
    match text.ends_with('.') {
        true => format!("{text}0"),
        false => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::seconds_text;

    #[test]
    fn a_duration_under_a_tenth_keeps_its_digits() {
        for (seconds, said) in [
            (2.0, "2.0"),
            (0.1, "0.1"),
            (0.0999, "0.1"),
            (0.05, "0.05"),
            (0.002, "0.002"),
            (0.00213, "0.0021"),
            (1e-6, "0.000001"),
            (1e-12, "0.0"),
            (0.0, "0.0"),
        ] {
            assert_eq!(seconds_text(seconds), said, "{seconds}");
        }
    }
}
