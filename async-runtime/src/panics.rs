//! A panic told with its message and where it happened, for the driver's optimizers and the
//! workers' tasks alike. A panic's payload carries its message only; its location reaches the
//! panic hook alone. So [`catch`] chains a hook before the one already set, which keeps the
//! description of a panic inside `catch` (and leaves every other panic to the earlier hook).
//!
//! A panic inside a dependency (an ndarray index or shape check, a slice index of the
//! standard library) happens at a line of that dependency, which tells an author nothing. The
//! description then also names the first line of the backtrace outside the dependencies' and
//! the toolchain's sources: the line of the author's code that called into them. A build
//! without line tables (`debug = 0`, cargo's release default) has no such line to give.
//!
//! ```
//! let rows = vec![1.0, 2.0];
//! let error = asyncopt_runtime::panics::catch(|| rows[rows.len()]).unwrap_err();
//! assert!(error.starts_with("index out of bounds"), "{error}");
//! assert!(error.contains("(at "), "and where: {error}");
//! ```

use std::any::Any;
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

// Thread-bound on purpose: the hook runs on the panicking thread, and a `catch` keeps only
// its own thread's panics. The state lives only for one `catch` call, which runs `f` on the
// thread that called it, so a driver moved to another thread between runs (or holding no
// `catch` across the move) finds nothing of the old thread's here.
thread_local! {
    /// Whether this thread is inside [`catch`]: its panics are kept, not printed.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// The last panic kept on this thread, with where it happened.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`, or says why and where it panicked: `MESSAGE (at FILE:LINE:COLUMN)`, and for a
/// panic inside a dependency `MESSAGE (at DEPENDENCY-FILE:LINE:COLUMN, called from
/// FILE:LINE:COLUMN)`. Panics of other threads, and of this one outside `f`, are reported as
/// the hook in place before the first call reports them.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                CAUGHT.with(|caught| *caught.borrow_mut() = Some(describe(info)));
            } else {
                previous(info);
            }
        }));
    });
    // A panic caught inside an earlier `f` (by its own catch_unwind) left its message here.
    CAUGHT.with(|caught| caught.borrow_mut().take());
    let outer = CATCHING.with(|catching| catching.replace(true));
    let ran = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|catching| catching.set(outer));
    ran.map_err(|payload| {
        // A hook set by someone else since keeps no message: the payload's is still there.
        let kept = CAUGHT.with(|caught| caught.borrow_mut().take());
        kept.unwrap_or_else(|| message(payload.as_ref()).to_owned())
    })
}

/// A panic's message and where it happened.
fn describe(info: &PanicHookInfo<'_>) -> String {
    let Some(at) = info.location() else {
        return message(info.payload()).to_owned();
    };
    let place = format!("{}:{}:{}", at.file(), at.line(), at.column());
    let caller = (!is_own(at.file()))
        .then(|| own_caller(&Backtrace::force_capture().to_string(), at.file()))
        .flatten()
        .map(|caller| format!(", called from {caller}"))
        .unwrap_or_default();
    format!("{} (at {place}{caller})", message(info.payload()))
}

/// Whether `file` is code of the program's own crates, not of a dependency fetched by cargo
/// (into `$CARGO_HOME/registry/src` or `$CARGO_HOME/git/checkouts`) or of the toolchain (the
/// standard library, whose paths start `/rustc/HASH/library/`).
fn is_own(file: &str) -> bool {
    const FOREIGN: [&str; 3] = ["/registry/src/", "/git/checkouts/", "/rustc/"];
    !FOREIGN.iter().any(|foreign| file.contains(foreign))
}

/// Where the program's own code called the dependency that panicked in `file`, from a
/// backtrace taken in the hook (innermost frame first): past the hook's frames and the
/// standard library's panic machinery, the frame in `file`, then the first `FILE:LINE:COLUMN`
/// of the program's own code after it.
fn own_caller(backtrace: &str, file: &str) -> Option<String> {
    backtrace
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("at "))
        .skip_while(|place| !place.starts_with(file))
        .find(|place| is_own(place))
        .map(str::to_owned)
}

fn message(payload: &(dyn Any + Send)) -> &str {
    (payload.downcast_ref::<&str>().copied())
        .or(payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_its_message_and_place_and_the_hook_is_left_for_others() {
        let caught = catch(|| -> u32 { panic!("index {} out of bounds", 7) });
        let message = caught.expect_err("it panicked");
        assert!(
            message.starts_with("index 7 out of bounds (at "),
            "{message}"
        );
        assert!(message.contains("panics.rs"), "{message}");
        assert!(!message.contains("called from"), "its own line: {message}");
        assert_eq!(catch(|| 3), Ok(3));
        // A payload of another type still says it panicked, and where.
        let other = catch(|| panic::panic_any(5_u8)).unwrap_err();
        assert!(
            other.starts_with("a panic without a message (at "),
            "{other}"
        );
        // Two threads catching at once each keep their own.
        let threads: Vec<_> = (0..2)
            .map(|i| std::thread::spawn(move || catch(|| -> () { panic!("thread {i}") })))
            .collect();
        for (i, thread) in threads.into_iter().enumerate() {
            let message = thread.join().expect("caught").expect_err("panicked");
            assert!(
                message.starts_with(&format!("thread {i} (at ")),
                "{message}"
            );
        }
    }

    #[test]
    fn a_panic_inside_a_dependency_names_the_line_that_called_it() {
        let (w, x) = (
            ndarray::Array1::<f64>::zeros(3),
            ndarray::Array1::<f64>::zeros(4),
        );
        let called_at = line!() + 1;
        let caught = catch(|| w.dot(&x));
        let message = caught.expect_err("shapes differ");
        assert!(message.contains("/registry/src/"), "{message}");
        assert!(
            // The path as the build recorded it: `./src/panics.rs` from this crate's folder.
            message.contains("called from ")
                && message.contains(&format!("src/panics.rs:{called_at}:")),
            "{message}"
        );
    }

    #[test]
    fn the_caller_is_the_first_own_line_of_the_backtrace() {
        let backtrace = "   0: asyncopt_runtime::panics::describe
             at ./src/panics.rs:65:30
   1: core::bool::<impl bool>::then
             at /rustc/abc/library/core/src/bool.rs:66:24
   1: std::panicking::begin_panic
             at /rustc/abc/library/std/src/panicking.rs:700:5
   2: ndarray::dot
             at /home/u/.cargo/registry/src/index.crates.io-1/ndarray-0.17.2/src/linalg.rs:12:9
   3: my_crate::step
             at ./src/optimizer.rs:41:17
   4: main
             at ./src/main.rs:3:5";
        let ndarray = "/home/u/.cargo/registry/src/index.crates.io-1/ndarray-0.17.2/src/linalg.rs";
        assert_eq!(
            own_caller(backtrace, ndarray).as_deref(),
            Some("./src/optimizer.rs:41:17")
        );
        assert_eq!(own_caller("no frames", ndarray), None);
        assert_eq!(
            own_caller(backtrace, "/elsewhere.rs"),
            None,
            "its frame is not there"
        );
    }
}
