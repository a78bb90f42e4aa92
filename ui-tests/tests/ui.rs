//! The diagnostics of `#[async_optimizer]`, checked with trybuild.
//!
//! To create the `.stderr` of a new case: `TRYBUILD=overwrite cargo test -p ui-tests --release`,
//! then read every changed `.stderr` as you would read code.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
