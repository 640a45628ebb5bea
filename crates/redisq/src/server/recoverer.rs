//! The recoverer: finds active tasks whose worker is gone and retries or archives them.
//!
//! Two kinds are found: tasks whose lease expired more than
//! `lease_grace` ago, and tasks in `active` with no lease entry at all, once they have been
//! seen so for `lease_grace` (asynq never recovers those).
//!
//! It also returns aggregation sets whose deadline passed to their groups, and, on a server
//! without a group aggregator, warns about tasks waiting in groups (see [`aggregator`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::aggregator;
use super::outcome::{LEASE_EXPIRED, task_of};
use super::state::Shared;
use crate::core::time;
use crate::handler::HandlerError;
use crate::rdb::proto::decode_task_message;
use crate::runtime::log::log_event;
use crate::runtime::sleep_or;

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    // When each lease-less active task was first seen, by (queue, id).
    let mut orphans: HashMap<(String, String), Instant> = HashMap::new();
    let mut waiting_groups = aggregator::WaitingGroups::new();
    loop {
        for q in &shared.queues {
            // Without a cutoff from Redis's clock (Redis unreachable) nothing is recovered.
            if let Some(cutoff) = recover_expired(&shared, q).await {
                recover_orphans(&shared, q, &mut orphans, cutoff).await;
            }
            aggregator::reclaim_stale_sets(&shared, q).await;
        }
        // Without an aggregator, says why grouped tasks wait (at most once a minute).
        waiting_groups.check(&shared).await;
        if !sleep_or(&done, shared.config.recoverer_interval).await {
            return;
        }
    }
}

/// Recovers the tasks of `queue` whose lease expired more than the grace ago. Leases and the
/// cutoff both come from Redis's clock (`TIME` in the scripts), so a server whose own clock
/// runs ahead never takes a task a live worker holds. Returns the cutoff used (unix s).
async fn recover_expired(shared: &Shared, queue: &str) -> Option<i64> {
    let grace = time::lease_secs(shared.config.lease_grace);
    match shared.rdb.list_lease_expired(queue, grace).await {
        Ok((cutoff, tasks)) => {
            // Expired leases of tasks whose hash is gone can never be recovered: drop them.
            match shared.rdb.remove_ghosts(queue, cutoff, &[]).await {
                Ok(n) if n > 0 => shared.log.warn(format_args!(
                    "removed {n} expired leases of tasks whose data is gone from queue {queue:?}"
                )),
                Ok(_) => {}
                Err(e) => shared.redis_error("could not clean up expired leases", &e),
            }
            let mut count = 0usize;
            for (id, msg) in tasks {
                if recover(shared, queue, &id, msg, cutoff).await {
                    count += 1;
                }
            }
            if count > 0 {
                log_event!(
                    shared.log,
                    Info,
                    { "task.queue" = queue, count },
                    "recovered {count} tasks of queue {queue:?} whose lease expired"
                );
            }
            Some(cutoff)
        }
        Err(e) => {
            shared.redis_error("could not list expired leases", &e);
            None
        }
    }
}

async fn recover_orphans(
    shared: &Shared,
    queue: &str,
    seen: &mut HashMap<(String, String), Instant>,
    cutoff: i64,
) {
    let ids = match shared.rdb.list_active_without_lease(queue).await {
        Ok(ids) => ids,
        Err(e) => {
            shared.redis_error("could not list active tasks without a lease", &e);
            return;
        }
    };
    let now = Instant::now();
    seen.retain(|(q, id), _| q != queue || ids.contains(id));
    for id in ids {
        if shared.is_active(queue, &id) {
            continue;
        }
        let first = *seen.entry((queue.to_string(), id.clone())).or_insert(now);
        if now.duration_since(first) < shared.config.lease_grace {
            continue;
        }
        match shared.rdb.task_msg(queue, &id).await {
            Ok(Some(msg)) => {
                shared.log.warn(format_args!(
                    "task {id} in queue {queue:?} is active without a lease; recovering it"
                ));
                recover(shared, queue, &id, msg, cutoff).await;
                seen.remove(&(queue.to_string(), id));
            }
            Ok(None) => {
                shared.log.warn(format_args!(
                    "task {id} is listed as active in queue {queue:?} but its data is gone; removing it"
                ));
                if let Err(e) = shared
                    .rdb
                    .remove_ghosts(queue, i64::MIN, std::slice::from_ref(&id))
                    .await
                {
                    shared.redis_error("could not remove an active entry of a missing task", &e);
                }
                seen.remove(&(queue.to_string(), id));
            }
            Err(e) => shared.redis_error("could not read an orphaned task", &e),
        }
    }
}

/// Retries or archives one task whose worker is gone, as if it had failed with
/// "asynq: task lease expired". Returns whether it did. A task whose lease now runs past
/// `lease_cutoff` has been taken again by a live worker since it was listed: it is left alone.
async fn recover(shared: &Shared, queue: &str, id: &str, raw: Vec<u8>, lease_cutoff: i64) -> bool {
    let limits = shared.config.archive_limits_value();
    let now = SystemTime::now();
    let msg = match decode_task_message(&raw) {
        Ok(m) => m,
        Err(e) => {
            let err = format!("corrupt task message: {e}");
            if let Err(e) = shared
                .rdb
                .archive_corrupt(queue, id, &err, limits, now)
                .await
            {
                shared.redis_error("could not archive a corrupt task", &e);
            }
            return false;
        }
    };
    let err = HandlerError::msg(LEASE_EXPIRED);
    let archive = msg.retried >= msg.retry;
    let res = if archive {
        shared
            .rdb
            .archive_guarded(&msg, LEASE_EXPIRED, limits, now, Some(lease_cutoff))
            .await
    } else {
        let retried = msg.retried.max(0).unsigned_abs();
        let delay = (shared.config.retry_delay)(retried, &err, &task_of(&msg));
        let is_failure = (shared.config.is_failure)(&err);
        shared
            .rdb
            .retry_guarded(
                &msg,
                time::add_saturating(now, delay),
                LEASE_EXPIRED,
                is_failure,
                now,
                Some(lease_cutoff),
            )
            .await
    };
    match res {
        Ok(()) => {
            let outcome = if archive { "archived" } else { "retry" };
            log_event!(
                shared.log,
                Debug,
                { "task.id" = id, "task.queue" = queue, "task.outcome" = outcome },
                "recovered task {id} of queue {queue:?} ({outcome})"
            );
            true
        }
        Err(e) if e.is_not_found() => false,
        Err(e) => {
            shared.redis_error("could not recover a task", &e);
            false
        }
    }
}
