//! A task's panic, told with where it happened. A panic's payload carries its message only;
//! its location reaches the panic hook alone. A hook, chained before the one already set,
//! keeps each thread's last location so that the error the driver reports points into the
//! author's code, not just at "task panicked".

use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Where this thread last panicked.
    static LAST_PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Runs `task`, turning a panic into its message and location.
pub(crate) fn caught<T>(task: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info
                .location()
                .map(|at| format!("{}:{}:{}", at.file(), at.line(), at.column()));
            LAST_PANIC_AT.with(|last| *last.borrow_mut() = at);
            previous(info);
        }));
    });
    LAST_PANIC_AT.with(|last| last.borrow_mut().take());
    catch_unwind(AssertUnwindSafe(task)).map_err(|payload| {
        let message = message(payload.as_ref());
        match LAST_PANIC_AT.with(|last| last.borrow_mut().take()) {
            Some(at) => format!("{message} (at {at})"),
            None => message,
        }
    })
}

fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_told_with_its_message_and_location() {
        let error = caught(|| -> u32 { panic!("index {} out of range", 7) }).unwrap_err();
        assert!(error.starts_with("index 7 out of range (at "), "{error}");
        assert!(error.contains("worker/panics.rs:"), "{error}");
        assert_eq!(caught(|| 3), Ok(3));
        // A panic with a payload of another type still says it panicked, and where.
        let other = caught(|| std::panic::panic_any(5_u8)).unwrap_err();
        assert!(other.starts_with("a panic without message (at "), "{other}");
    }
}
