//! The janitor: deletes completed tasks whose retention period ended.

use std::sync::Arc;
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use super::state::Shared;
use crate::runtime::sleep_or;

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    while sleep_or(&done, shared.config.janitor_interval).await {
        for q in &shared.queues {
            // A cheap read first: the delete script runs only when something expired.
            let now_s = crate::core::time::unix_secs(SystemTime::now());
            match shared.rdb.next_completed_expiry(q).await {
                Ok(Some(at)) if at <= now_s => {}
                Ok(_) => continue,
                Err(e) => {
                    shared.redis_error("could not read completed tasks", &e);
                    continue;
                }
            }
            let res = shared
                .rdb
                .delete_expired_completed(q, SystemTime::now(), shared.config.janitor_batch_size)
                .await;
            match res {
                Ok(n) if n > 0 => shared
                    .log
                    .debug(format_args!("deleted {n} expired completed tasks in {q:?}")),
                Ok(_) => {}
                Err(e) => shared.redis_error("could not delete expired completed tasks", &e),
            }
        }
    }
}
