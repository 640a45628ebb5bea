//! What the services share at run time: logging, sleeping that wakes on cancellation, signal
//! handling, supervision of background components and user callbacks, the trace context
//! carried in task headers, and the server metrics (feature `metrics`).

pub(crate) mod log;
pub(crate) mod metrics;
pub(crate) mod signal;
pub(crate) mod supervise;
pub(crate) mod telemetry;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Sleeps, waking early when `token` fires. Returns false when woken by the token.
pub(crate) async fn sleep_or(token: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = token.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}
