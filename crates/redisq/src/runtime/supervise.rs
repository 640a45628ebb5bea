//! Supervision: a panic in a background component or a user callback is logged and contained
//! instead of silently ending the component or leaving a task half-finished.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::runtime::log::Log;

/// How long a component that panicked waits before it restarts (a component that panics on
/// every run must not spin).
const RESTART_DELAY: Duration = Duration::from_millis(500);

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs a user callback, catching a panic: `Err(message)` after logging it as an error of
/// `what`.
pub(crate) fn call<T>(log: &Log, what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    // The callbacks run on data owned by the caller that a panic cannot leave half-updated
    // (they get shared references only), so unwind safety is asserted.
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = panic_message(&*p);
        log.error(format_args!("{what} panicked: {msg}"));
        msg
    })
}

/// Spawns a background component that is restarted when it panics, until it returns or
/// `done` fires. `make` builds a fresh run of the component each time.
pub(crate) fn spawn<F, Fut>(
    name: &'static str,
    log: Log,
    done: CancellationToken,
    make: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match tokio::spawn(make()).await {
                Ok(()) => return,
                Err(e) if e.is_panic() => {
                    let msg = panic_message(&*e.into_panic());
                    log.error(format_args!("the {name} panicked: {msg}; restarting it"));
                }
                // Cancelled by runtime shutdown: nothing to restart on.
                Err(_) => return,
            }
            if done.is_cancelled() {
                return;
            }
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tokio::time::sleep(RESTART_DELAY) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::runtime::log::LogLevel;

    #[test]
    fn call_catches_a_panic() {
        let log = Log::new(LogLevel::Fatal, None);
        assert_eq!(call(&log, "cb", || 7), Ok(7));
        let err = call(&log, "cb", || -> u32 { panic!("boom") }).unwrap_err();
        assert_eq!(err, "boom");
    }

    #[tokio::test]
    async fn a_panicking_component_is_restarted_until_it_returns() {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let log = Log::new(LogLevel::Fatal, None);
        let handle = spawn("test component", log, CancellationToken::new(), move || {
            let r = r.clone();
            async move {
                if r.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("crash");
                }
            }
        });
        handle.await.expect("supervisor ends");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn done_stops_restarts() {
        let done = CancellationToken::new();
        let log = Log::new(LogLevel::Fatal, None);
        let d = done.clone();
        let handle = spawn("test component", log, done.clone(), move || {
            let d = d.clone();
            async move {
                d.cancel();
                panic!("crash");
            }
        });
        handle.await.expect("supervisor ends");
        assert!(done.is_cancelled());
    }
}
