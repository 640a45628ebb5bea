//! A Redis connection handle that several redisq services can share.

use std::fmt;

use crate::error::Result;
use crate::rdb::RedisConn;
use crate::rdb::conn::options::RedisConnOpt;

/// An open connection to a Redis deployment (standalone, Sentinel or Cluster).
///
/// A [`crate::Client`], [`crate::Server`], [`crate::Inspector`] and [`crate::Scheduler`] in
/// one process can share it instead of each opening its own (asynq lets them share a
/// `redis.UniversalClient` the same way). Commands are multiplexed over it and it reconnects
/// by itself; a server still opens one dedicated pub/sub connection for cancellations and
/// wake-ups. Cheap to clone: clones share the connection.
///
/// ```no_run
/// # async fn demo() -> redisq::Result<()> {
/// use redisq::{Client, Connection, Inspector, Namespace, RedisClientOpt};
///
/// let conn = Connection::connect(RedisClientOpt::new("127.0.0.1:6379")).await?;
/// let client = Client::from_connection(&conn, Namespace::default());
/// let inspector = Inspector::from_connection(&conn, Namespace::default());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Connection {
    conn: RedisConn,
}

impl Connection {
    /// Connects. Fails when Redis cannot be reached or is older than 6.2.
    pub async fn connect(opt: impl Into<RedisConnOpt>) -> Result<Connection> {
        Ok(Connection {
            conn: RedisConn::connect(&opt.into()).await?,
        })
    }

    pub(crate) fn inner(&self) -> &RedisConn {
        &self.conn
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("topology", &self.conn.topology())
            .field("addr", &self.conn.label())
            .finish()
    }
}
