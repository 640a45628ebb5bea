//! The forwarder: moves scheduled and retry tasks whose time has come to pending (or into
//! their group).
//!
//! Instead of polling every few milliseconds it sleeps until the earliest due time it saw
//! (at most `delayed_task_check_interval`), and wakes early when a redisq client schedules
//! a task that is due sooner or this server schedules a retry. Each round first reads the
//! earliest due times (two cheap reads per queue) and runs the forward script only where
//! something is due, which keeps an idle server's load on Redis low.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::state::Shared;
use crate::runtime::log::log_event;

/// Slack after a due second, so the task is due when the forwarder looks.
const SLACK: Duration = Duration::from_millis(2);

/// Unix ms by this server's clock.
fn local_ms() -> i64 {
    crate::core::time::unix_nanos(SystemTime::now()) / 1_000_000
}

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    let interval = shared.config.delayed_task_check_interval;
    // Due times are compared with Redis's clock (the forward script reads TIME), so that
    // servers with skewed clocks neither forward early nor sleep past a due time: this is
    // Redis's clock minus ours, learnt from every forward call. The first round forwards
    // without looking, to learn it.
    let mut offset_ms: Option<i64> = None;
    loop {
        let mut next_due: Option<i64> = None;
        for q in &shared.queues {
            let redis_now_ms = local_ms() + offset_ms.unwrap_or(0);
            match shared.rdb.next_due(q).await {
                Ok(Some(due)) if offset_ms.is_none() || due * 1000 <= redis_now_ms => {}
                Ok(None) if offset_ms.is_none() => {}
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
            match shared.rdb.forward_due_next(q, None).await {
                Ok((n, due, used_ms)) => {
                    if let Some(at) = used_ms {
                        offset_ms = Some(at - local_ms());
                    }
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
            // Scores are whole seconds: the task is due when that second starts (by Redis's
            // clock).
            Some(secs) => {
                let ms = secs.saturating_mul(1000) - (local_ms() + offset_ms.unwrap_or(0));
                (Duration::from_millis(ms.max(0).unsigned_abs()) + SLACK).clamp(SLACK, interval)
            }
            None => interval,
        };
        tokio::select! {
            _ = done.cancelled() => return,
            _ = shared.wake_forwarder.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
