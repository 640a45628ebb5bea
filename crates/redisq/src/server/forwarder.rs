//! The forwarder: moves scheduled and retry tasks whose time has come to pending (or into
//! their group, decision D3).

use std::sync::Arc;
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use super::{Shared, sleep_or};

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    loop {
        for q in &shared.queues {
            match shared.rdb.forward_due(q, SystemTime::now()).await {
                Ok(n) if n > 0 => shared
                    .log
                    .debug(format_args!("forwarded {n} due tasks in queue {q:?}")),
                Ok(_) => {}
                Err(e) => shared.redis_error("could not forward due tasks", &e),
            }
        }
        if !sleep_or(&done, shared.config.delayed_task_check_interval).await {
            return;
        }
    }
}
