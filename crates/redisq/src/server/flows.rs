//! The flow sweep: delivers flow events that a server left in a queue's outbox when it
//! stopped (or lost Redis) between a member's completion and the delivery to its parent.
//!
//! Normally the server that records a member's outcome delivers it at once; the sweep only
//! finds work after a crash. Delivery is idempotent, so racing the normal path is harmless.
//! It runs every `janitor_interval`, one `LRANGE` per queue when there is nothing to do.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::state::Shared;
use crate::rdb::flow::SWEEP_BATCH;
use crate::runtime::log::log_event;
use crate::runtime::sleep_or;

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    while sleep_or(&done, shared.config.janitor_interval).await {
        for q in &shared.queues {
            match shared.rdb.sweep_flow_events(q, SWEEP_BATCH).await {
                Ok(0) => {}
                Ok(n) => log_event!(
                    shared.log,
                    Debug,
                    { "task.queue" = q.as_str(), count = n },
                    "delivered {n} flow events left in queue {q:?}"
                ),
                Err(e) => shared.redis_error("could not deliver flow events", &e),
            }
        }
    }
}
