//! The subscriber: listens on the cancel channel (cancels the named task if it runs here)
//! and on the wake-up channel (decision D10: wakes the idle processor or the forwarder when
//! a redisq client adds work to one of this server's queues).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::state::Shared;
use crate::runtime::sleep_or;

const RETRY: Duration = Duration::from_secs(5);

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    loop {
        match shared.rdb.subscribe_server_channels().await {
            Ok(pubsub) => {
                let cancel_channel = shared.rdb.keys().cancel_channel();
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        _ = done.cancelled() => return,
                        m = messages.next() => match m {
                            Some(m) => {
                                let payload: String = m.get_payload().unwrap_or_default();
                                if m.get_channel_name() == cancel_channel {
                                    cancel(&shared, &payload);
                                } else {
                                    wake(&shared, &payload);
                                }
                            }
                            None => break,
                        },
                    }
                }
                shared
                    .log
                    .warn(format_args!("cancel subscription closed; resubscribing"));
            }
            Err(e) => shared.redis_error("could not subscribe to cancellations", &e),
        }
        if !sleep_or(&done, RETRY).await {
            return;
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
    }
}

fn cancel(shared: &Shared, id: &str) {
    for a in shared.active_snapshot() {
        if a.msg.id == id {
            shared.log.info(format_args!("cancelling task {id}"));
            a.cancelled.cancel();
        }
    }
}
