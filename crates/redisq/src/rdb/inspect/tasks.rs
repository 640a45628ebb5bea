//! One task at a time: reading, listing, running, archiving, deleting, and updating the
//! payload of a scheduled task.

use std::time::SystemTime;

use redis::Script;

use super::records::TaskRecord;
use super::{
    Page, being_moved, conv, cutoff, now_secs, precondition, reply_of, score_secs, task_not_found,
    text,
};
use crate::core::limits::ArchiveLimits;
use crate::core::source::TaskSource;
use crate::core::time::{from_unix_secs, go_quote, unix_nanos, unix_secs};
use crate::error::{Error, Result};
use crate::rdb::Rdb;
use crate::rdb::progress::progress_of;
use crate::rdb::proto::{TaskMessage, decode_task_message, encode_task_message};
use crate::rdb::scripts::{
    INSPECT_ARCHIVE_TASK as ARCHIVE_TASK, INSPECT_DELETE_TASK as DELETE_TASK,
    INSPECT_LIST_LIST as LIST_LIST, INSPECT_LIST_PENDING as LIST_PENDING,
    INSPECT_LIST_ZSET as LIST_ZSET, INSPECT_RUN_TASK as RUN_TASK, INSPECT_TASK_INFO as TASK_INFO,
    INSPECT_UPDATE_PAYLOAD as UPDATE_PAYLOAD, evalsha,
};
use crate::task::TaskState;

/// The reply of the task read script: msg, state, score, result, progress.
type StoredTask = (
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

/// A waiting flow parent cannot be run or archived by hand: it runs when its children
/// completed (running it early is what flows rule out).
fn waiting_for_children(id: &str) -> Error {
    precondition(format!(
        "task {} is a flow parent waiting for its children; delete the flow to drop it",
        go_quote(id)
    ))
}

impl Rdb {
    /// One task, with asynq's NextProcessAt rules: now (whole seconds) for pending tasks, the
    /// zset score for scheduled and retry tasks, none otherwise.
    pub(crate) async fn inspect_task(
        &self,
        queue: &str,
        id: &str,
        now: SystemTime,
    ) -> Result<TaskRecord> {
        let qk = self.keys.queue(queue);
        let cmd = evalsha(
            &TASK_INFO,
            &[&qk.task(id)],
            &[id.as_bytes(), qk.prefix().as_bytes()],
        );
        let mut replies = self
            .read_queue(queue, vec![cmd], &[&TASK_INFO])
            .await?
            .into_iter();
        let reply: Option<StoredTask> =
            conv(reply_of(replies.next(), "the task read")?, "the task read")?;
        let Some((msg, state, score, result, progress)) = reply else {
            return Err(task_not_found());
        };
        let state: TaskState = text(state, "a task state")?.parse()?;
        let msg = decode_task_message(&msg)?;
        let next = match state {
            TaskState::Pending => Some(now_secs(now)),
            TaskState::Scheduled | TaskState::Retry => {
                score.as_deref().and_then(score_secs).map(from_unix_secs)
            }
            _ => None,
        };
        Ok(TaskRecord {
            msg,
            state,
            next_process_at: next,
            result,
            is_orphaned: false,
            progress: progress_of(state, progress.as_deref()),
        })
    }

    /// One page of the tasks of `source`: pending and active oldest first, zsets in
    /// ascending score order. Entries whose hash is gone or cannot be decoded are skipped.
    pub(crate) async fn list_tasks(
        &self,
        queue: &str,
        source: TaskSource<'_>,
        page: Page,
        now: SystemTime,
    ) -> Result<Vec<TaskRecord>> {
        let Some((start, stop)) = page.range() else {
            self.check_queue(queue).await?;
            return Ok(Vec::new());
        };
        let qk = self.keys.queue(queue);
        let key = qk.source(&source);
        let prefix = qk.task_prefix();
        let is_list = matches!(source, TaskSource::Pending | TaskSource::Active);
        let cmd = if source == TaskSource::Pending {
            // Pending includes the tasks held back by a limit.
            let (first, last) = (start.to_string(), stop.to_string());
            evalsha(
                &LIST_PENDING,
                &[&key, &qk.held()],
                &[first.as_bytes(), last.as_bytes(), prefix.as_bytes()],
            )
        } else if is_list {
            // The oldest task is at the right end: page 1 is the last `page_size` elements.
            let (lstart, lstop) = ((-stop - 1).to_string(), (-start - 1).to_string());
            let with_lease = if source == TaskSource::Active {
                "1"
            } else {
                "0"
            };
            evalsha(
                &LIST_LIST,
                &[&key, &qk.lease()],
                &[
                    lstart.as_bytes(),
                    lstop.as_bytes(),
                    prefix.as_bytes(),
                    with_lease.as_bytes(),
                ],
            )
        } else {
            let (zstart, zstop) = (start.to_string(), stop.to_string());
            evalsha(
                &LIST_ZSET,
                &[&key],
                &[zstart.as_bytes(), zstop.as_bytes(), prefix.as_bytes()],
            )
        };
        let script: &Script = match source {
            TaskSource::Pending => &LIST_PENDING,
            TaskSource::Active => &LIST_LIST,
            _ => &LIST_ZSET,
        };
        let mut replies = self
            .read_queue(queue, vec![cmd], &[script])
            .await?
            .into_iter();
        let flat: Vec<Option<Vec<u8>>> =
            conv(reply_of(replies.next(), "the listing")?, "the listing")?;
        let state = source.state();
        let now_s = unix_secs(now);
        // Lists answer 5 values per task (with the progress), zsets 4.
        let width = if is_list { 5 } else { 4 };
        let mut out = Vec::with_capacity(flat.len() / width);
        for entry in flat.chunks_exact(width) {
            let id = String::from_utf8_lossy(entry[0].as_deref().unwrap_or_default()).into_owned();
            let Some(raw) = &entry[1] else {
                continue;
            };
            let msg = match decode_task_message(raw) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(queue, task = %id, error = %e, "skipping an undecodable task");
                    continue;
                }
            };
            let progress = if is_list {
                progress_of(state, entry[4].as_deref())
            } else {
                None
            };
            let (next_process_at, result, is_orphaned) = if is_list {
                let lease = entry[3].as_deref().and_then(score_secs);
                let next = (state == TaskState::Pending).then(|| now_secs(now));
                // Decision D5: an active task without a lease entry is orphaned too.
                let orphaned = state == TaskState::Active && lease.is_none_or(|l| l <= now_s);
                (next, entry[2].clone(), orphaned)
            } else {
                let next = match state {
                    TaskState::Scheduled | TaskState::Retry => {
                        entry[2].as_deref().and_then(score_secs).map(from_unix_secs)
                    }
                    _ => None,
                };
                (next, entry[3].clone(), false)
            };
            out.push(TaskRecord {
                msg,
                state,
                next_process_at,
                result,
                is_orphaned,
                progress,
            });
        }
        if is_list {
            out.reverse();
        }
        Ok(out)
    }

    /// Moves a task to pending, setting `pending_since`.
    pub(crate) async fn run_task(&self, queue: &str, id: &str, now: SystemTime) -> Result<()> {
        self.check_queue(queue).await?;
        let qk = self.keys.queue(queue);
        let n: i64 = RUN_TASK
            .key(qk.task(id))
            .key(qk.pending())
            .key(qk.groups())
            .arg(id)
            .arg(qk.prefix())
            .arg(qk.group_prefix())
            .arg(unix_nanos(now))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not run task {}", go_quote(id)), e))?;
        match n {
            1 => Ok(()),
            0 => Err(task_not_found()),
            -1 => Err(precondition("task is already running")),
            -2 => Err(precondition("task is already in pending state")),
            -4 => Err(waiting_for_children(id)),
            _ => Err(being_moved(id)),
        }
    }

    /// Moves a task to the archive and trims the archive by `limits`, deleting the trimmed
    /// tasks' hashes.
    pub(crate) async fn archive_task(
        &self,
        queue: &str,
        id: &str,
        limits: ArchiveLimits,
        now: SystemTime,
    ) -> Result<()> {
        self.check_queue(queue).await?;
        let qk = self.keys.queue(queue);
        let now_s = unix_secs(now);
        let n: i64 = ARCHIVE_TASK
            .key(qk.task(id))
            .key(qk.archived())
            .key(qk.groups())
            .key(qk.pending())
            .arg(id)
            .arg(now_s)
            .arg(cutoff(now_s, limits))
            .arg(limits.max_size)
            .arg(qk.prefix())
            .arg(qk.group_prefix())
            .arg(qk.task_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not archive task {}", go_quote(id)), e))?;
        match n {
            1 => Ok(()),
            0 => Err(task_not_found()),
            -1 => Err(precondition(format!(
                "task is already archived: id={id}, queue={queue}"
            ))),
            -2 => Err(precondition(
                "cannot archive task in active state. use cancel_processing instead.",
            )),
            -4 => Err(waiting_for_children(id)),
            _ => Err(being_moved(id)),
        }
    }

    /// Deletes a task and releases the unique lock it owns; a waiting flow parent is deleted
    /// with its flow (see [`Rdb::delete_flow`]).
    pub(crate) async fn delete_task(&self, queue: &str, id: &str) -> Result<()> {
        self.delete_task_or_flow(queue, id).await.map(|_| ())
    }

    /// [`Rdb::delete_task`], returning how many tasks were deleted (more than one for a flow).
    pub(crate) async fn delete_task_or_flow(&self, queue: &str, id: &str) -> Result<usize> {
        self.check_queue(queue).await?;
        let qk = self.keys.queue(queue);
        let n: i64 = DELETE_TASK
            .key(qk.task(id))
            .key(qk.groups())
            .key(qk.pending())
            .arg(id)
            .arg(qk.prefix())
            .arg(qk.group_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not delete task {}", go_quote(id)), e))?;
        match n {
            1 => Ok(1),
            0 => Err(task_not_found()),
            -2 => Box::pin(self.delete_flow(queue, id)).await,
            _ => Err(precondition(
                "cannot delete task in active state. use cancel_processing instead.",
            )),
        }
    }

    /// Replaces the payload of a scheduled task, keeping everything else of its message
    /// (including `unique_key`, as asynq does).
    pub(crate) async fn update_task_payload(
        &self,
        queue: &str,
        id: &str,
        payload: &[u8],
    ) -> Result<()> {
        self.check_queue(queue).await?;
        let qk = self.keys.queue(queue);
        let key = qk.task(id);
        // The script replaces the message only if it is still the one read here; a
        // concurrent change makes us read it again.
        for _ in 0..5 {
            let Some(old) = self.task_msg(queue, id).await? else {
                return Err(task_not_found());
            };
            let msg = TaskMessage {
                payload: bytes::Bytes::copy_from_slice(payload),
                ..decode_task_message(&old)?
            };
            let n: i64 = UPDATE_PAYLOAD
                .key(&key)
                .arg(&old)
                .arg(encode_task_message(&msg))
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| Error::redis(format!("could not update task {}", go_quote(id)), e))?;
            match n {
                1 => return Ok(()),
                0 => return Err(task_not_found()),
                -1 => {
                    return Err(precondition(
                        "cannot update task that is not in scheduled state.",
                    ));
                }
                _ => continue,
            }
        }
        Err(being_moved(id))
    }
}
