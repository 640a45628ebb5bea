//! Plain reads of stored tasks.

use super::Rdb;
use crate::error::{Error, Result};

impl Rdb {
    /// The raw `msg` field of a task, `None` when the task hash does not exist.
    pub(crate) async fn task_msg(&self, queue: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let mut c = self.conn();
        redis::cmd("HGET")
            .arg(self.keys.queue(queue).task(id))
            .arg("msg")
            .query_async(&mut c)
            .await
            .map_err(|e| Error::redis("could not read a task", e))
    }

    /// Subscribes to the cancellation channel; yields task IDs.
    pub(crate) async fn subscribe_cancel(&self) -> Result<redis::aio::PubSub> {
        let mut p = self.conn.pubsub().await?;
        p.subscribe(self.keys.cancel_channel())
            .await
            .map_err(|e| Error::redis("could not subscribe to the cancel channel", e))?;
        Ok(p)
    }
}
