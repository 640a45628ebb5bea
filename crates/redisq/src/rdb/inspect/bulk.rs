//! Bulk operations on every task of a container (delete, run, archive), in batches of
//! [`INSPECT_BATCH`] tasks per script call.

use std::time::SystemTime;

use redis::Value;

use super::{INSPECT_BATCH, conv, cutoff};
use crate::core::limits::ArchiveLimits;
use crate::core::source::TaskSource;
use crate::core::time::{unix_nanos, unix_secs};
use crate::error::{Error, Result};
use crate::rdb::Rdb;
use crate::rdb::scripts::{
    INSPECT_ARCHIVE_BATCH as ARCHIVE_BATCH, INSPECT_DELETE_BATCH as DELETE_BATCH,
    INSPECT_RUN_BATCH as RUN_BATCH,
};

/// The `{taken, done, size}` reply of the batch scripts.
fn batch_reply(v: Value, what: &str) -> Result<(usize, usize, usize)> {
    conv(v, what)
}

impl Rdb {
    /// Runs a batch script on `source` until it is done; returns how many tasks it affected.
    async fn batches(
        &self,
        queue: &str,
        what: &str,
        mut call: impl FnMut() -> redis::ScriptInvocation<'static>,
    ) -> Result<usize> {
        self.check_queue(queue).await?;
        let mut limit = None;
        let (mut taken_total, mut done_total) = (0usize, 0usize);
        loop {
            let v: Value = call()
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| Error::redis(format!("could not {what}"), e))?;
            let (taken, done, size) = batch_reply(v, what)?;
            let limit = *limit.get_or_insert(size);
            taken_total += taken;
            done_total += done;
            if taken < INSPECT_BATCH || taken_total >= limit {
                return Ok(done_total);
            }
        }
    }

    /// Deletes every task of `source` and releases the unique locks they own. Returns how
    /// many task hashes were deleted.
    pub(crate) async fn delete_all(&self, queue: &str, source: TaskSource<'_>) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let (key, groups, prefix, qprefix) = (
            qk.source(&source),
            qk.groups(),
            qk.task_prefix(),
            qk.prefix().to_string(),
        );
        let group = source.group_arg().to_string();
        self.batches(queue, "delete tasks", || {
            let mut inv = DELETE_BATCH.prepare_invoke();
            inv.key(&key)
                .key(&groups)
                .arg(&prefix)
                .arg(&qprefix)
                .arg(INSPECT_BATCH)
                .arg(&group);
            inv
        })
        .await
    }

    /// Moves every task of `source` to pending (setting `pending_since`).
    /// Returns how many moved.
    pub(crate) async fn run_all(
        &self,
        queue: &str,
        source: TaskSource<'_>,
        now: SystemTime,
    ) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let (key, pending, groups, prefix) = (
            qk.source(&source),
            qk.pending(),
            qk.groups(),
            qk.task_prefix(),
        );
        let group = source.group_arg().to_string();
        let now_ns = unix_nanos(now);
        self.batches(queue, "run tasks", || {
            let mut inv = RUN_BATCH.prepare_invoke();
            inv.key(&key)
                .key(&pending)
                .key(&groups)
                .arg(&prefix)
                .arg(INSPECT_BATCH)
                .arg(now_ns)
                .arg(&group);
            inv
        })
        .await
    }

    /// Archives every task of `source`, trimming the archive by `limits` and deleting the
    /// trimmed tasks' hashes. Returns how many were archived.
    pub(crate) async fn archive_all(
        &self,
        queue: &str,
        source: TaskSource<'_>,
        limits: ArchiveLimits,
        now: SystemTime,
    ) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let (key, archived, groups, prefix) = (
            qk.source(&source),
            qk.archived(),
            qk.groups(),
            qk.task_prefix(),
        );
        let group = source.group_arg().to_string();
        let now_s = unix_secs(now);
        let cut = cutoff(now_s, limits);
        self.batches(queue, "archive tasks", || {
            let mut inv = ARCHIVE_BATCH.prepare_invoke();
            inv.key(&key)
                .key(&archived)
                .key(&groups)
                .arg(&prefix)
                .arg(INSPECT_BATCH)
                .arg(now_s)
                .arg(cut)
                .arg(limits.max_size)
                .arg(&group);
            inv
        })
        .await
    }
}
