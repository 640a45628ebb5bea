//! The forwarder: moves scheduled and retry tasks whose time has come to pending (or into
//! their group).
//!
//! Instead of polling every few milliseconds it sleeps until the earliest due time it saw
//! (at most `delayed_task_check_interval`), and wakes early when a redisq client schedules
//! a task that is due sooner or this server schedules a retry. Each round first reads the
//! earliest due times (two cheap reads per queue) and runs the forward script only where
//! something is due, which keeps an idle server's load on Redis low.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use super::state::Shared;
use crate::runtime::log::log_event;

/// Slack after a due second, so the task is due when the forwarder looks.
const SLACK: Duration = Duration::from_millis(2);

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    let interval = shared.config.delayed_task_check_interval;
    loop {
        let mut next_due: Option<i64> = None;
        for q in &shared.queues {
            let now = SystemTime::now();
            match shared.rdb.next_due(q).await {
                Ok(Some(due)) if due <= crate::core::time::unix_secs(now) => {}
                Ok(due) => {
                    if let Some(d) = due {
                        next_due = Some(next_due.map_or(d, |x| x.min(d)));
                    }
                    continue;
                }
                Err(e) => {
                    shared.redis_error("could not read due times", &e);
                    continue;
                }
            }
            match shared.rdb.forward_due_next(q, now).await {
                Ok((n, due)) => {
                    if n > 0 {
                        log_event!(
                            shared.log,
                            Debug,
                            { "task.queue" = q.as_str(), count = n },
                            "forwarded {n} due tasks in queue {q:?}"
                        );
                    }
                    if let Some(d) = due {
                        next_due = Some(next_due.map_or(d, |x| x.min(d)));
                    }
                }
                Err(e) => shared.redis_error("could not forward due tasks", &e),
            }
        }
        let wait = match next_due {
            // Scores are whole seconds: the task is due when that second starts.
            Some(secs) => (UNIX_EPOCH + Duration::from_secs(secs.max(0).unsigned_abs()))
                .duration_since(SystemTime::now())
                .map(|d| d + SLACK)
                .unwrap_or(Duration::ZERO)
                .clamp(SLACK, interval),
            None => interval,
        };
        tokio::select! {
            _ = done.cancelled() => return,
            _ = shared.wake_forwarder.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
