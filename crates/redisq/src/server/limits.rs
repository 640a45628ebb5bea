//! The limits this server obeys: the fleet's limits as stored in Redis
//! (`<ns>:redisq:limits`), which win over the server's config.
//!
//! At start the server writes the limits of its config (the last server started wins; a
//! changed value is logged as a warning) and reads the whole set back. It reloads the set
//! when the Inspector publishes a change (`l:` on the wake-up channel) and every
//! [`REFRESH`], so a missed message costs at most that long. The dequeue path only reads the
//! in-memory result: a queue without limits (and without held tasks) uses the plain
//! scripts, with no extra Redis call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::state::{ServerLimits, Shared};

/// How often the stored limits are read again without being told.
const REFRESH: Duration = Duration::from_secs(5);

/// Writes the config's limits to Redis (warning about the stored values it replaces) and
/// loads the stored set. On failure the config's limits stay in force until a reload works.
pub(crate) async fn publish_config(shared: &Shared) {
    let wanted = &shared.config.limits;
    if !wanted.is_empty() {
        match shared.rdb.read_limits().await {
            Ok((stored, _)) => {
                let stored: HashMap<String, String> = stored.fields().into_iter().collect();
                let mut writes = Vec::new();
                for (field, value) in wanted.fields() {
                    match stored.get(&field) {
                        Some(old) if *old == value => continue,
                        Some(old) => shared.log.warn(format_args!(
                            "limit {field} was {old} in Redis; this server's config sets {value} (the last server started wins)"
                        )),
                        None => {}
                    }
                    writes.push((field, Some(value)));
                }
                if !writes.is_empty()
                    && let Err(e) = shared.rdb.write_limits(&writes).await
                {
                    shared.redis_error("could not store the configured limits", &e);
                }
            }
            Err(e) => shared.redis_error("could not read the stored limits", &e),
        }
    }
    reload(shared).await;
}

/// Reads the stored limits and installs them.
pub(crate) async fn reload(shared: &Shared) {
    let (set, bad) = match shared.rdb.read_limits().await {
        Ok(r) => r,
        Err(e) => {
            shared.redis_error("could not read the stored limits", &e);
            return;
        }
    };
    let held: Vec<String> = match shared.rdb.has_held(&shared.queues).await {
        Ok(h) => shared
            .queues
            .iter()
            .zip(h)
            .filter(|(_, h)| *h)
            .map(|(q, _)| q.clone())
            .collect(),
        Err(e) => {
            shared.redis_error("could not check for held tasks", &e);
            return;
        }
    };
    let next = ServerLimits::new(set, &shared.queues, &held);
    let changed = shared.limits().set != next.set;
    if changed {
        for (field, value) in &bad {
            shared.log.warn(format_args!(
                "ignoring the stored limit {field} = {value:?}: not a valid limit"
            ));
        }
        shared
            .log
            .info(format_args!("limits in force: {:?}", next.set.to_list()));
    }
    shared.set_limits(next);
}

/// Reloads the limits when told and every [`REFRESH`], until `done`.
pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = shared.limits_changed.notified() => {}
            _ = tokio::time::sleep(REFRESH) => {}
        }
        let before = shared.limits();
        reload(&shared).await;
        let after = shared.limits();
        if before.set != after.set {
            // Tasks a changed limit allows may be waiting: let the processor look.
            shared.wake_processor.notify_one();
        }
    }
}
