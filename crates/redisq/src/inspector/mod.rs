//! The operator's view of queues and tasks (asynq's `Inspector`).
//!
//! This first slice carries cancellation; listing, task info and bulk operations follow.

use std::sync::Arc;

use crate::RedisConnOpt;
use crate::error::{Error, Result};
use crate::rdb::keys::{DEFAULT_NAMESPACE, Keys};
use crate::rdb::{Rdb, RedisConn};

/// Inspects and steers queues and tasks. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Inspector {
    rdb: Arc<Rdb>,
}

impl Inspector {
    /// Connects with the default namespace (`asynq`).
    pub async fn connect(opt: impl Into<RedisConnOpt>) -> Result<Inspector> {
        Inspector::connect_with_namespace(opt, DEFAULT_NAMESPACE).await
    }

    /// Connects to the queues of another key namespace (decision D1).
    pub async fn connect_with_namespace(
        opt: impl Into<RedisConnOpt>,
        namespace: &str,
    ) -> Result<Inspector> {
        if namespace.trim().is_empty() || namespace.contains(['{', '}']) {
            return Err(Error::invalid_option(format!(
                "invalid key namespace {namespace:?}"
            )));
        }
        let conn = RedisConn::connect(&opt.into()).await?;
        Ok(Inspector {
            rdb: Arc::new(Rdb::new(conn, Keys::new(namespace))),
        })
    }

    /// Asks the server running the task to cancel it (asynq's `CancelProcessing`). Fire and
    /// forget: servers that do not run it ignore the message. A cancelled task is archived
    /// with the error `task canceled` (decision D6).
    pub async fn cancel_processing(&self, task_id: &str) -> Result<()> {
        self.rdb.publish_cancel(task_id).await
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<()> {
        self.rdb.ping().await
    }
}
