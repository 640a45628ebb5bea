//! Reads a run's queues from Redis, with plain commands (independent of the library).

use std::collections::HashSet;
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::checker::{FinalState, Place};

/// A connection to the Redis under test (never through a proxy): one server, or a whole
/// cluster.
#[derive(Clone)]
pub enum StateConn {
    /// A standalone server (or a Sentinel group's master).
    Single(MultiplexedConnection),
    /// A Redis Cluster; commands are routed by key.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for StateConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StateConn::Single(_) => "StateConn::Single",
            StateConn::Cluster(_) => "StateConn::Cluster",
        })
    }
}

impl ConnectionLike for StateConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            StateConn::Single(c) => c.req_packed_command(cmd),
            StateConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            StateConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            StateConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            StateConn::Single(c) => c.get_db(),
            StateConn::Cluster(c) => c.get_db(),
        }
    }
}

/// Connects to `url`: a `redis://` URL, or `cluster:HOST:PORT,HOST:PORT,...` (see
/// [`crate::worker::conn_opt`]).
pub async fn connect(url: &str) -> Result<StateConn, String> {
    if let Some(addrs) = url.strip_prefix("cluster:") {
        let client = redis::cluster::ClusterClient::builder(
            addrs.split(',').map(|a| format!("redis://{a}")),
        )
        .connection_timeout(Duration::from_secs(2))
        .response_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
        return client
            .get_async_connection()
            .await
            .map(StateConn::Cluster)
            .map_err(|e| format!("cannot connect to the cluster {addrs}: {e}"));
    }
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map(StateConn::Single)
        .map_err(|e| format!("cannot connect to {url}: {e}"))
}

fn key(queue: &str, what: &str) -> String {
    format!("asynq:{{{queue}}}:{what}")
}

/// Number of tasks still to process in the queues: pending, active, scheduled and retry.
pub async fn backlog(conn: &mut StateConn, queues: &[String]) -> Result<u64, String> {
    // One command at a time: a cluster routes each by its key (the queues' keys live in
    // different slots, which one pipeline cannot span).
    let mut total = 0;
    for q in queues {
        for (cmd, what) in [
            ("LLEN", "pending"),
            ("LLEN", "active"),
            ("ZCARD", "scheduled"),
            ("ZCARD", "retry"),
        ] {
            let n: u64 = redis::cmd(cmd)
                .arg(key(q, what))
                .query_async(conn)
                .await
                .map_err(|e| e.to_string())?;
            total += n;
        }
    }
    Ok(total)
}

/// Reads every container of `queues`, the leases, and the task hashes.
pub async fn read(conn: &mut StateConn, queues: &[String]) -> Result<FinalState, String> {
    let mut state = FinalState::default();
    let (secs, _micros): (i64, i64) = redis::cmd("TIME")
        .query_async(conn)
        .await
        .map_err(|e| e.to_string())?;
    state.read_at_secs = secs;
    // IDs found in the queues read so far: IDs are unique per run, so each queue's own
    // container entries are the ones not seen before.
    let mut seen_before: HashSet<String> = HashSet::new();
    for q in queues {
        let q = q.as_str();
        let base = conn.clone();
        let run = |cmd: redis::Cmd| {
            let mut conn = base.clone();
            async move {
                cmd.query_async::<Vec<String>>(&mut conn)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        let mut lrange = redis::cmd("LRANGE");
        lrange.arg(key(q, "pending")).arg(0).arg(-1);
        for id in run(lrange).await? {
            state.places.insert(id, Place::Pending);
        }
        for (what, place) in [
            ("scheduled", Place::Scheduled),
            ("retry", Place::Retry),
            ("archived", Place::Archived),
            ("completed", Place::Completed),
        ] {
            let mut zrange = redis::cmd("ZRANGE");
            zrange.arg(key(q, what)).arg(0).arg(-1);
            for id in run(zrange).await? {
                state.places.insert(id, place.clone());
            }
        }
        let leases: Vec<(String, i64)> = redis::cmd("ZRANGE")
            .arg(key(q, "lease"))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        let leases: std::collections::HashMap<String, i64> = leases.into_iter().collect();
        let mut lrange = redis::cmd("LRANGE");
        lrange.arg(key(q, "active")).arg(0).arg(-1);
        for id in run(lrange).await? {
            let lease = leases.get(&id).copied();
            state.places.insert(id, Place::Active(lease));
        }

        // Task hashes of this queue, and whether each is named by a container. SCAN has no
        // key to route by on a cluster: the check is done on standalone servers only.
        if matches!(conn, StateConn::Cluster(_)) {
            continue;
        }
        let prefix = key(q, "t:");
        let mut hashes = HashSet::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", glob_escape(&prefix)))
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await
                .map_err(|e| e.to_string())?;
            hashes.extend(keys.into_iter().filter_map(|k| {
                let id = k.strip_prefix(&prefix)?;
                // Per-task side keys (e.g. `t:<id>:result`) are not task hashes.
                (!id.contains(':')).then(|| id.to_owned())
            }));
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let here: HashSet<&String> = state
            .places
            .keys()
            .filter(|id| !seen_before.contains(*id))
            .collect();
        for id in &hashes {
            if !here.contains(id) {
                state.orphan_hashes.push(format!("{q}/{id}"));
            }
        }
        let dangling: Vec<String> = here
            .iter()
            .filter(|id| !hashes.contains(**id))
            .map(|id| format!("{q}/{id}"))
            .collect();
        state.dangling_ids.extend(dangling);
        seen_before.extend(state.places.keys().cloned());
    }
    Ok(state)
}

/// Escapes the glob characters of `SCAN MATCH` (queue names may contain them).
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_globs() {
        assert_eq!(super::glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
