//! The waker: while the processor is idle, waits on its queues' wake lists (one `BLPOP`
//! per listener, see `rdb::wake`) and wakes the processor when a marker arrives. Redis gives
//! each marker to one blocked server only, so new work wakes one server of an idle fleet,
//! not all of them.
//!
//! A marker that reaches a server whose processor became busy meanwhile is handed on at once
//! (`Rdb::wake_one`), so that another idle server takes the work. A woken server that dies
//! before fetching takes its marker with it: the other servers' periodic probe (every task
//! check interval) still finds the tasks.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::state::Shared;
use crate::runtime::sleep_or;

/// Wait before opening the wake-up connection again after an error.
const RETRY: Duration = Duration::from_secs(1);

/// Runs one listener on `queues` (all of a server's queues, or one queue on a Cluster, where
/// one `BLPOP` may only name keys of one slot) until `stop` fires.
pub(crate) async fn run(shared: Arc<Shared>, queues: Vec<String>, stop: CancellationToken) {
    let mut idle = shared.processor_idle.subscribe();
    let mut listener = None;
    loop {
        // Only an idle processor listens: a busy one would hold a wake-up it cannot act on.
        tokio::select! {
            _ = stop.cancelled() => return,
            r = idle.wait_for(|idle| *idle) => if r.is_err() { return },
        }
        let l = match listener.as_mut() {
            Some(l) => l,
            None => match shared.rdb.wake_listener(&queues).await {
                Ok(l) => listener.insert(l),
                Err(e) => {
                    shared.redis_error("could not open the wake-up connection", &e);
                    if !sleep_or(&stop, RETRY).await {
                        return;
                    }
                    continue;
                }
            },
        };
        let got = tokio::select! {
            _ = stop.cancelled() => return,
            r = l.wait() => r,
        };
        match got {
            Ok(Some(queue)) => {
                if *shared.processor_idle.borrow() {
                    // A completer holding a lone completion of this queue takes the new task
                    // in the same call (see `linger`); otherwise the processor fetches it.
                    if !shared.linger.claim(&queue) {
                        shared.wake_processor.notify_one();
                    }
                } else if let Err(e) = shared.rdb.wake_one(&queue).await {
                    shared.redis_error("could not hand a wake-up on", &e);
                }
            }
            Ok(None) => {}
            Err(e) => {
                shared.redis_error("could not wait for wake-ups", &e);
                listener = None;
                if !sleep_or(&stop, RETRY).await {
                    return;
                }
            }
        }
    }
}

/// The listeners a server runs: one for all its queues, or one per queue on a Cluster.
pub(crate) fn listener_groups(shared: &Shared) -> Vec<Vec<String>> {
    if shared.rdb.is_cluster() {
        shared.queues.iter().map(|q| vec![q.clone()]).collect()
    } else {
        vec![shared.queues.clone()]
    }
}
