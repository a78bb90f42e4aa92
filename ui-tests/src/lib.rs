//! Compile tests of `#[async_optimizer]`: each case under `tests/ui/fail/` is one misuse of the
//! DSL with the diagnostic the user must see beside it (`.stderr`), and each case under
//! `tests/ui/pass/` is a supported form that must compile. Run them with
//! `cargo test -p ui-tests --release`; the crate itself holds no code.
