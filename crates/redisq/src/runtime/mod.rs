//! What the long-running services (server, scheduler, periodic task manager) share at run
//! time: logging, sleeping that wakes on cancellation, signal handling and supervision of
//! background components and user callbacks.

pub(crate) mod log;
pub(crate) mod signal;
pub(crate) mod supervise;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Sleeps, waking early when `token` fires. Returns false when woken by the token.
pub(crate) async fn sleep_or(token: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = token.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}
