//! The Redis servers a run measures: the one standalone server, or every master of a Redis
//! Cluster (found through `CLUSTER SLOTS` on a seed node). Each gets a plain connection for
//! `INFO`, cleanup and reading counters, and its figures are reported apart and in total.

use redis::Value;
use redis::aio::MultiplexedConnection;
use serde_json::json;

use super::{BoxError, RedisStats, Target};

/// One slot range of a Cluster and its master: `(first, last, host, port)`.
pub(crate) type SlotRange = (u16, u16, String, u16);

/// The measured servers.
pub(crate) struct Nodes {
    /// `host:port` (or the URL of a unix socket) and a connection, per server.
    nodes: Vec<(String, MultiplexedConnection)>,
    /// Slot ranges and the index of the node serving each (empty on a standalone server).
    slots: Vec<(u16, u16, usize)>,
}

impl Nodes {
    /// Connects to the target's server, or to every master of its Cluster.
    pub(crate) async fn open(target: &Target) -> Result<Nodes, BoxError> {
        let mut seed = target.raw().await?;
        if !target.cluster {
            return Ok(Nodes {
                nodes: vec![(display_addr(&target.url), seed)],
                slots: Vec::new(),
            });
        }
        let ranges = slot_ranges(&mut seed).await?;
        let mut masters: Vec<(String, u16)> = Vec::new();
        let mut slots = Vec::with_capacity(ranges.len());
        for (first, last, host, port) in ranges {
            // Some servers announce no host: it is then the one we asked.
            let host = if host.is_empty() {
                seed_host(&target.url)
            } else {
                host
            };
            let index = match masters.iter().position(|m| *m == (host.clone(), port)) {
                Some(i) => i,
                None => {
                    masters.push((host, port));
                    masters.len() - 1
                }
            };
            slots.push((first, last, index));
        }
        let mut nodes = Vec::with_capacity(masters.len());
        for (host, port) in masters {
            let url = url_with_addr(&target.url, &host, port);
            let conn = redis::Client::open(url)?
                .get_multiplexed_async_connection()
                .await?;
            nodes.push((format!("{host}:{port}"), conn));
        }
        Ok(Nodes { nodes, slots })
    }

    /// How many servers are measured.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The index of the node holding `key` (asked with `CLUSTER KEYSLOT`).
    pub(crate) async fn node_of(&mut self, key: &str) -> Result<usize, BoxError> {
        if self.slots.is_empty() {
            return Ok(0);
        }
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut self.nodes[0].1)
            .await?;
        self.slots
            .iter()
            .find(|(first, last, _)| *first <= slot && slot <= *last)
            .map(|(_, _, i)| *i)
            .ok_or_else(|| format!("hash slot {slot} has no master").into())
    }

    /// The connection to node `i`.
    pub(crate) fn conn(&mut self, i: usize) -> &mut MultiplexedConnection {
        &mut self.nodes[i].1
    }

    /// Node `i`'s address.
    pub(crate) fn addr(&self, i: usize) -> &str {
        &self.nodes[i].0
    }

    /// Reads every node's counters (one `INFO` per node, which the deltas then include).
    pub(crate) async fn stats(&mut self) -> Result<Vec<RedisStats>, BoxError> {
        let mut out = Vec::with_capacity(self.nodes.len());
        for (_, conn) in &mut self.nodes {
            out.push(RedisStats::read(conn).await?);
        }
        Ok(out)
    }

    /// Deletes the benchmark's keys on every node.
    pub(crate) async fn delete_namespace(&mut self, namespace: &str) -> Result<(), BoxError> {
        for (_, conn) in &mut self.nodes {
            super::stats::delete_namespace(conn, namespace).await?;
        }
        Ok(())
    }
}

/// Per-node deltas between two [`Nodes::stats`] readings.
pub(crate) fn since(after: &[RedisStats], before: &[RedisStats]) -> Vec<RedisStats> {
    after.iter().zip(before).map(|(a, b)| a.since(b)).collect()
}

/// The report of a run's Redis cost: `redis` for all nodes together (what the other modes
/// report for their one server) and `redis_nodes` with each node's share, keyed by address,
/// with the queues it holds. `queues` pairs each queue with its node's index.
pub(crate) fn report(
    nodes: &Nodes,
    deltas: &[RedisStats],
    queues: &[(String, usize)],
    tasks: usize,
) -> (serde_json::Value, serde_json::Value) {
    let total = deltas
        .iter()
        .fold(RedisStats::default(), |sum, d| sum.plus(d));
    let per_node: serde_json::Map<String, serde_json::Value> = deltas
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let held: Vec<&str> = queues
                .iter()
                .filter(|(_, node)| *node == i)
                .map(|(q, _)| q.as_str())
                .collect();
            let mut figures = d.per_task(tasks);
            figures["queues"] = json!(held);
            (nodes.addr(i).to_string(), figures)
        })
        .collect();
    (total.per_task(tasks), serde_json::Value::Object(per_node))
}

/// Parses `CLUSTER SLOTS` into `(first, last, master host, master port)`, sorted by slot.
pub(crate) async fn slot_ranges(
    conn: &mut MultiplexedConnection,
) -> Result<Vec<SlotRange>, BoxError> {
    let reply: Value = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let Value::Array(ranges) = reply else {
        return Err(format!("unexpected CLUSTER SLOTS reply {reply:?}").into());
    };
    let mut out = Vec::with_capacity(ranges.len());
    for range in &ranges {
        let bad = || -> BoxError { format!("unexpected CLUSTER SLOTS entry {range:?}").into() };
        let Value::Array(items) = range else {
            return Err(bad());
        };
        let (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Array(master))) =
            (items.first(), items.get(1), items.get(2))
        else {
            return Err(bad());
        };
        let host = match master.first() {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(Value::SimpleString(s)) => s.clone(),
            _ => String::new(),
        };
        let Some(Value::Int(port)) = master.get(1) else {
            return Err(bad());
        };
        let as_u16 = |v: i64| u16::try_from(v).map_err(|_| bad());
        out.push((as_u16(*first)?, as_u16(*last)?, host, as_u16(*port)?));
    }
    out.sort();
    Ok(out)
}

/// `url` with its `host:port` replaced and any database path dropped (a Cluster has only
/// database 0); the scheme and credentials stay.
fn url_with_addr(url: &str, host: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let auth = authority.rfind('@').map_or("", |i| &authority[..=i]);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("{scheme}://{auth}{host}:{port}")
}

/// The host of `url`, without credentials, port or brackets.
fn seed_host(url: &str) -> String {
    let addr = display_addr(url);
    match addr.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
            host.trim_matches(['[', ']']).to_string()
        }
        _ => addr.trim_matches(['[', ']']).to_string(),
    }
}

/// `host:port` of `url`, without scheme, credentials or path.
fn display_addr(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    if url.starts_with("redis-socket://") {
        return url.to_string();
    }
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority
        .rfind('@')
        .map_or(authority, |i| &authority[i + 1..])
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls_keep_scheme_and_credentials() {
        assert_eq!(
            url_with_addr("redis://:pw@seed:7000/0", "10.0.0.2", 7001),
            "redis://:pw@10.0.0.2:7001"
        );
        assert_eq!(
            url_with_addr("rediss://u:p@seed:7000", "::1", 7002),
            "rediss://u:p@[::1]:7002"
        );
        assert_eq!(url_with_addr("redis://h", "h2", 1), "redis://h2:1");
    }

    #[test]
    fn addresses_drop_credentials_and_paths() {
        assert_eq!(display_addr("redis://:pw@h:7000/2"), "h:7000");
        assert_eq!(seed_host("redis://:pw@[::1]:7000"), "::1");
        assert_eq!(seed_host("redis://host"), "host");
    }
}
