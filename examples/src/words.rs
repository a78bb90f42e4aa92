//! How a count is said in the lines a user reads.

/// `n` of `noun`, as a person counts them: `1 row`, `0 rows`, `2 rows`. `noun` is singular and
/// takes an `s` in the plural (every noun the lines count does: row, update, worker, column).
pub fn plural(n: impl std::fmt::Display, noun: &str) -> String {
    count(n, noun, &format!("{noun}s"))
}

/// `n` said with `one` for a count of 1 and `many` for every other: for phrases whose plural
/// is not the singular's with an `s` (`1 worker lost`, `2 worker losses`).
pub fn count(n: impl std::fmt::Display, one: &str, many: &str) -> String {
    // Said, not compared: so it takes a count of any integer type.
    match n.to_string() {
        single if single == "1" => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(plural(1u64, "row"), "1 row");
        assert_eq!(plural(0usize, "row"), "0 rows");
        assert_eq!(plural(2u32, "line number"), "2 line numbers");
        assert_eq!(plural(u64::MAX, "update"), "18446744073709551615 updates");
    }
}
