//! The subscriber: listens on the cancel channel and cancels the named task if it runs here.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{Shared, sleep_or};

const RETRY: Duration = Duration::from_secs(5);

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    loop {
        match shared.rdb.subscribe_cancel().await {
            Ok(pubsub) => {
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        _ = done.cancelled() => return,
                        m = messages.next() => match m {
                            Some(m) => {
                                let id: String = m.get_payload().unwrap_or_default();
                                cancel(&shared, &id);
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

fn cancel(shared: &Shared, id: &str) {
    for a in shared.active_snapshot() {
        if a.msg.id == id {
            shared.log.info(format_args!("cancelling task {id}"));
            a.cancelled.cancel();
        }
    }
}
