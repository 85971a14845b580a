//! Panics of third-party readers, contained: a malformed Parquet page can
//! make the `parquet` crate panic deep inside a query (found by the results
//! fuzz target). [`contained`] turns such a panic into an error the caller
//! reports with the file it was reading; [`install_hook`] keeps the panic
//! message of a contained panic off stderr (it is in the error), while every
//! other panic reaches the hook installed before (the default one, or
//! libFuzzer's, which aborts so the fuzzer reports it).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

/// Containment regions open in this process (any thread: a query's panic
/// may happen on a runtime worker thread).
static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Runs `f`; a panic inside it is returned as its message.
pub fn contained<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    OPEN.fetch_add(1, Ordering::SeqCst);
    let r = catch_unwind(AssertUnwindSafe(f));
    OPEN.fetch_sub(1, Ordering::SeqCst);
    r.map_err(|p| message(p.as_ref()))
}

/// The message a panic carried (its payload, when it is text).
pub fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Installs, once, a panic hook that is silent for contained panics and
/// hands every other one to the hook that was installed before.
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if OPEN.load(Ordering::SeqCst) == 0 {
                before(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_is_an_error_with_its_message() {
        install_hook();
        assert_eq!(contained(|| 7), Ok(7));
        let e = contained(|| -> u8 { panic!("footer of {} bytes", 12) }).unwrap_err();
        assert_eq!(e, "footer of 12 bytes");
        // A panic on another thread inside the region is contained too.
        let e = contained(|| {
            std::thread::spawn(|| panic!("worker"))
                .join()
                .map_err(|_| ())
                .unwrap()
        })
        .unwrap_err();
        assert!(e.contains("unwrap") || e.contains("Err"), "{e}");
    }
}
