//! Task progress (`TaskContext::set_progress`): its encoding in the task hash and the write.
//!
//! The field `redisq_progress` holds `<percent>|<updated at, unix ms>|<message>`. Go asynq
//! reads task hashes only by field name (`HGET`/`HMGET` of `msg`, `state`, `result`…), so
//! the extra field is invisible to it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Rdb;
use super::inspect::records::ProgressRecord;
use super::scripts;
use crate::error::{Error, Kind, Result};
use crate::task::TaskState;

/// The stored form of a progress report.
pub(crate) fn encode(percent: u8, message: &str, at: SystemTime) -> String {
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    format!("{percent}|{ms}|{message}")
}

/// Reads a stored progress report; `None` when it is not one (written by something else).
pub(crate) fn decode(raw: &[u8]) -> Option<ProgressRecord> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut parts = text.splitn(3, '|');
    let percent: u8 = parts.next()?.parse().ok()?;
    let ms: u64 = parts.next()?.parse().ok()?;
    let message = parts.next()?.to_string();
    (percent <= 100).then(|| ProgressRecord {
        percent,
        message,
        updated_at: UNIX_EPOCH + Duration::from_millis(ms),
    })
}

/// The progress of a task: only an active task has one (a report of an earlier attempt
/// means nothing once the task left `active`; the next dequeue deletes it).
pub(crate) fn progress_of(state: TaskState, raw: Option<&[u8]>) -> Option<ProgressRecord> {
    if state != TaskState::Active {
        return None;
    }
    raw.and_then(decode)
}

impl Rdb {
    /// Stores the progress of an active task. Fails with a task-not-found error when the
    /// task hash is gone (it is not recreated) and with a failed-precondition error when the
    /// task is no longer active.
    pub(crate) async fn set_progress(&self, queue: &str, id: &str, encoded: &str) -> Result<()> {
        let n: i64 = scripts::SET_PROGRESS
            .key(self.keys.queue(queue).task(id))
            .arg(encoded)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not store the progress of task {id:?}"), e))?;
        match n {
            1 => Ok(()),
            0 => Err(Error::new(
                Kind::TaskNotFound,
                format!("cannot store progress: task {id:?} not found in queue {queue:?}"),
            )),
            _ => Err(Error::new(
                Kind::FailedPrecondition,
                format!("cannot store progress: task {id:?} of queue {queue:?} is not active"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let raw = encode(42, "step 2|3: resize", at);
        assert_eq!(raw, "42|1700000000123|step 2|3: resize");
        let p = decode(raw.as_bytes()).expect("decodes");
        assert_eq!(p.percent, 42);
        assert_eq!(p.message, "step 2|3: resize");
        assert_eq!(p.updated_at, at);
        assert_eq!(decode(b"101|0|x"), None);
        assert_eq!(decode(b"garbage"), None);
        assert_eq!(decode(b"5|x|y"), None);
    }
}
