//! The Redis Cluster that `redisq bench --cluster` starts for itself when it is not given
//! `--redis`: three masters without replicas on free loopback ports, each a
//! [`PrivateRedis`] started with cluster mode on, so each keeps nothing on disk and lives in
//! a temporary directory of its own.
//!
//! The cluster is formed by hand, as `redis-cli --cluster create` would: each master gets a
//! third of the 16,384 hash slots (`CLUSTER ADDSLOTSRANGE`) and a distinct config epoch, the
//! first node meets the others (`CLUSTER MEET`), and the start returns once every node says
//! `cluster_state:ok`, knows all three and sees the same three slot ranges. Dropping
//! [`PrivateCluster`] kills the nodes.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::time::{Instant, sleep};

use super::BoxError;
use super::nodes::slot_ranges;
use super::private_redis::PrivateRedis;

/// Masters started.
pub(crate) const MASTERS: usize = 3;
/// Hash slots of a Redis Cluster.
const SLOTS: u16 = 16_384;
/// How long the nodes may take to agree.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often agreement is checked until then.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A running private 3-master Redis Cluster.
pub(crate) struct PrivateCluster {
    nodes: Vec<PrivateRedis>,
}

impl PrivateCluster {
    /// Starts the nodes, forms the cluster and waits until it is healthy.
    pub(crate) async fn start() -> Result<PrivateCluster, BoxError> {
        let mut nodes = Vec::with_capacity(MASTERS);
        for _ in 0..MASTERS {
            nodes.push(PrivateRedis::start_cluster_node().await?);
        }
        let cluster = PrivateCluster { nodes };
        cluster.form().await?;
        Ok(cluster)
    }

    /// The nodes' `127.0.0.1:PORT` addresses.
    pub(crate) fn addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect()
    }

    /// The first node's URL, a seed for discovering the others.
    pub(crate) fn seed_url(&self) -> String {
        self.nodes[0].url()
    }

    async fn connections(&self) -> Result<Vec<MultiplexedConnection>, BoxError> {
        let mut out = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            out.push(
                redis::Client::open(node.url())?
                    .get_multiplexed_async_connection()
                    .await?,
            );
        }
        Ok(out)
    }

    async fn form(&self) -> Result<(), BoxError> {
        let mut conns = self.connections().await?;
        let per_node = SLOTS / MASTERS as u16;
        for (i, conn) in conns.iter_mut().enumerate() {
            let first = per_node * i as u16;
            let last = if i + 1 == MASTERS {
                SLOTS - 1
            } else {
                first + per_node - 1
            };
            let () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .query_async(conn)
                .await
                .map_err(|e| format!("CLUSTER ADDSLOTSRANGE {first} {last}: {e}"))?;
            // Distinct epochs, so that no node has to win a collision first.
            let () = redis::cmd("CLUSTER")
                .arg("SET-CONFIG-EPOCH")
                .arg(i + 1)
                .query_async(conn)
                .await?;
        }
        for node in &self.nodes[1..] {
            let () = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(node.port())
                .query_async(&mut conns[0])
                .await
                .map_err(|e| format!("CLUSTER MEET 127.0.0.1 {}: {e}", node.port()))?;
        }
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        loop {
            let why = match converged(&mut conns).await {
                Ok(None) => return Ok(()),
                Ok(Some(why)) => why,
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "the private Redis Cluster did not converge within {CONVERGE_TIMEOUT:?}: {why}"
                )
                .into());
            }
            sleep(POLL_INTERVAL).await;
        }
    }
}

/// `None` once every node is healthy and sees all three masters' slot ranges, or what is
/// missing yet.
async fn converged(conns: &mut [MultiplexedConnection]) -> Result<Option<String>, BoxError> {
    for (i, conn) in conns.iter_mut().enumerate() {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query_async(conn).await?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        if field("cluster_state") != "ok"
            || field("cluster_slots_ok") != SLOTS.to_string()
            || field("cluster_known_nodes") != MASTERS.to_string()
        {
            return Ok(Some(format!(
                "node {i}: {}",
                info.trim().replace("\r\n", ", ")
            )));
        }
        let ranges = slot_ranges(conn).await?;
        if ranges.len() != MASTERS {
            return Ok(Some(format!("node {i} sees the slot ranges {ranges:?}")));
        }
    }
    Ok(None)
}
