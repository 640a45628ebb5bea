//! How many archived tasks a queue keeps.

use std::time::Duration;

/// Archive limits: at most `max_size` tasks (exactly, not asynq's 9 999) and none older than
/// `max_age`; every trim deletes the trimmed tasks' hashes. Set by the server's `Config` and
/// the `Inspector`, applied by the data layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArchiveLimits {
    pub(crate) max_size: u64,
    pub(crate) max_age: Duration,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_size: 10_000,
            max_age: Duration::from_secs(90 * 24 * 3600),
        }
    }
}
