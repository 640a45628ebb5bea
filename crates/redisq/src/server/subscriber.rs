//! The subscriber: listens on the cancel channel (cancels the named task if it runs here)
//! and on the wake-up channel (wakes the idle processor or the forwarder when
//! a redisq client adds work to one of this server's queues).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::state::Shared;
use crate::runtime::sleep_or;

/// Wait before subscribing again after a failed attempt.
const RETRY: Duration = Duration::from_secs(1);
/// How often the subscription is checked with a PING, and how long the answer may take. A
/// connection that died without being closed (a half-open TCP connection) delivers nothing
/// and reports no error; without this check cancellations would be lost silently.
const PING_EVERY: Duration = Duration::from_secs(2);
const PING_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    loop {
        match shared.rdb.subscribe_server_channels().await {
            Ok(pubsub) => {
                if !listen(&shared, &done, pubsub).await {
                    return;
                }
                // Subscribe again at once: messages published meanwhile are lost.
                continue;
            }
            Err(e) => shared.redis_error("could not subscribe to cancellations", &e),
        }
        if !sleep_or(&done, RETRY).await {
            return;
        }
    }
}

/// Handles messages until the subscription breaks (true) or `done` fires (false).
async fn listen(shared: &Shared, done: &CancellationToken, pubsub: redis::aio::PubSub) -> bool {
    let cancel_channel = shared.rdb.keys().cancel_channel();
    let (mut sink, mut messages) = pubsub.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = done.cancelled() => return false,
            m = messages.next() => match m {
                Some(m) => {
                    let payload: String = m.get_payload().unwrap_or_default();
                    if m.get_channel_name() == cancel_channel {
                        cancel(shared, &payload);
                    } else {
                        wake(shared, &payload);
                    }
                }
                None => {
                    shared
                        .log
                        .warn(format_args!("cancel subscription closed; resubscribing"));
                    return true;
                }
            },
            _ = ping.tick() => {
                let alive = tokio::time::timeout(PING_TIMEOUT, sink.ping::<redis::Value>()).await;
                if !matches!(alive, Ok(Ok(_))) {
                    shared.log.warn(format_args!(
                        "the pub/sub connection stopped answering; resubscribing"
                    ));
                    return true;
                }
            }
        }
    }
}

fn wake(shared: &Shared, message: &str) {
    let serves = |q: &str| shared.config.queues.contains_key(q);
    if let Some(q) = message.strip_prefix("p:") {
        if serves(q) {
            shared.wake_processor.notify_one();
        }
    } else if let Some(q) = message.strip_prefix("s:")
        && serves(q)
    {
        shared.wake_forwarder.notify_one();
    } else if message.starts_with("l:") {
        shared.limits_changed.notify_one();
    }
}

fn cancel(shared: &Shared, id: &str) {
    for a in shared.active_snapshot() {
        if a.msg.id == id {
            shared.log.info(format_args!("cancelling task {id}"));
            a.cancel();
        }
    }
}
