//! The health checker: pings Redis periodically and reports to the user's callback.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::state::Shared;
use crate::runtime::{sleep_or, supervise};

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    let Some(check) = shared.config.health_check.clone() else {
        return;
    };
    while sleep_or(&done, shared.config.health_check_interval).await {
        let res = shared.rdb.ping().await;
        let _ = supervise::call(&shared.log, "the health check function", || {
            check(res.as_ref().err())
        });
    }
}
