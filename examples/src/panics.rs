//! A panic of an optimizer ends its run, not the program: [`catch`] runs code and turns a
//! panic into a message with where it happened, which the run's failure then carries.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`catch`]: its panics are kept, not printed.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// The last panic kept on this thread, with where it happened.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`, or says why and where it panicked. Panics of other threads, and of this one
/// outside `f`, are reported as the hook in place before the first call reports them.
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
    let at = info
        .location()
        .map(|l| format!(" (at {l})"))
        .unwrap_or_default();
    format!("{}{at}", message(info.payload()))
}

fn message(payload: &(dyn std::any::Any + Send)) -> &str {
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
        assert_eq!(catch(|| 3), Ok(3));
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
}
