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
    /// many task hashes were deleted. Pending includes the tasks held back by a limit.
    pub(crate) async fn delete_all(&self, queue: &str, source: TaskSource<'_>) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let mut total = self
            .delete_batches(queue, qk.source(&source), qk.groups(), source.group_arg())
            .await?;
        for (list, set, ty) in self.held_lists(queue, &source).await? {
            total += self.delete_batches(queue, list, set, &ty).await?;
        }
        Ok(total)
    }

    /// The held lists of `queue` (with the held-types set and the type) when `source` is
    /// pending: the batch scripts drain them like a group and drop emptied types from the set.
    async fn held_lists(
        &self,
        queue: &str,
        source: &TaskSource<'_>,
    ) -> Result<Vec<(String, String, String)>> {
        if *source != TaskSource::Pending {
            return Ok(Vec::new());
        }
        let qk = self.keys.queue(queue);
        Ok(self
            .held_types(queue)
            .await?
            .into_iter()
            .map(|t| (qk.held_of(&t), qk.held(), t))
            .collect())
    }

    async fn delete_batches(
        &self,
        queue: &str,
        key: String,
        groups: String,
        group: &str,
    ) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let (prefix, qprefix) = (qk.task_prefix(), qk.prefix().to_string());
        let group = group.to_string();
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
    /// trimmed tasks' hashes. Returns how many were archived. Pending includes the tasks held
    /// back by a limit.
    pub(crate) async fn archive_all(
        &self,
        queue: &str,
        source: TaskSource<'_>,
        limits: ArchiveLimits,
        now: SystemTime,
    ) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let mut total = self
            .archive_batches(
                queue,
                (qk.source(&source), qk.groups(), source.group_arg()),
                limits,
                now,
            )
            .await?;
        for (list, set, ty) in self.held_lists(queue, &source).await? {
            total += self
                .archive_batches(queue, (list, set, &ty), limits, now)
                .await?;
        }
        Ok(total)
    }

    /// Archives a container: (its key, the set it is registered in, its name there).
    async fn archive_batches(
        &self,
        queue: &str,
        (key, groups, group): (String, String, &str),
        limits: ArchiveLimits,
        now: SystemTime,
    ) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let (archived, prefix) = (qk.archived(), qk.task_prefix());
        let group = group.to_string();
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
