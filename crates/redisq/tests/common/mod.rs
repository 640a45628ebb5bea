//! Shared helpers for the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use redisq::{Client, Config, RedisConnOpt, parse_redis_uri};
use redisq_test_support::RedisServer;

/// A private Redis and a client connected to it.
pub struct Env {
    server: Option<RedisServer>,
    url: String,
    pub client: Client,
}

impl Env {
    pub async fn start() -> Env {
        let server = RedisServer::start();
        let url = server.url();
        let client = Client::connect(parse_redis_uri(&url).expect("uri"))
            .await
            .expect("client");
        Env {
            server: Some(server),
            url,
            client,
        }
    }

    /// For a server the test owns (to stop and restart it).
    pub async fn with_server(server: &RedisServer) -> Env {
        let url = server.url();
        let client = Client::connect(parse_redis_uri(&url).expect("uri"))
            .await
            .expect("client");
        Env {
            server: None,
            url,
            client,
        }
    }

    pub fn opt(&self) -> RedisConnOpt {
        parse_redis_uri(&self.url).expect("uri")
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connection")
    }

    pub fn redis(&self) -> Option<&RedisServer> {
        self.server.as_ref()
    }
}

/// A server config with short intervals so tests finish quickly.
pub fn fast_config() -> Config {
    Config::new()
        .concurrency(2)
        .task_check_interval(Duration::from_millis(50))
        .delayed_task_check_interval(Duration::from_millis(100))
        .janitor_interval(Duration::from_millis(200))
        .heartbeat_interval(Duration::from_millis(500))
        .recoverer_interval(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(2))
}

/// Polls `cond` every 20 ms until it holds; fails after 30 s with `what`.
pub async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Helpers for the server_*.rs tests: reading task hashes and decoding protobuf values by
// hand (the test crate has no prost), without depending on the shared conformance folder.

/// One protobuf field as it appears on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireValue {
    Varint(u64),
    Fixed64(u64),
    Bytes(Vec<u8>),
    Fixed32(u32),
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

/// Splits protobuf bytes into `(field number, value)` pairs; `None` if malformed.
pub fn proto_fields(buf: &[u8]) -> Option<Vec<(u32, WireValue)>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let tag = read_varint(buf, &mut pos)?;
        let field = u32::try_from(tag >> 3).ok()?;
        let value = match tag & 7 {
            0 => WireValue::Varint(read_varint(buf, &mut pos)?),
            1 => {
                let b: [u8; 8] = buf.get(pos..pos + 8)?.try_into().ok()?;
                pos += 8;
                WireValue::Fixed64(u64::from_le_bytes(b))
            }
            2 => {
                let len = usize::try_from(read_varint(buf, &mut pos)?).ok()?;
                let b = buf.get(pos..pos.checked_add(len)?)?.to_vec();
                pos += len;
                WireValue::Bytes(b)
            }
            5 => {
                let b: [u8; 4] = buf.get(pos..pos + 4)?.try_into().ok()?;
                pos += 4;
                WireValue::Fixed32(u32::from_le_bytes(b))
            }
            _ => return None,
        };
        out.push((field, value));
    }
    Some(out)
}

fn proto_string(fields: &[(u32, WireValue)], n: u32) -> String {
    fields
        .iter()
        .rev()
        .find_map(|(f, v)| match v {
            WireValue::Bytes(b) if *f == n => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .unwrap_or_default()
}

fn proto_int(fields: &[(u32, WireValue)], n: u32) -> i64 {
    fields
        .iter()
        .rev()
        .find_map(|(f, v)| match v {
            // Negative int32/int64 values are 10-byte varints of the two's complement.
            WireValue::Varint(x) if *f == n => Some(*x as i64),
            _ => None,
        })
        .unwrap_or_default()
}

/// The fields of asynq's `TaskMessage` the tests look at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskMsg {
    pub task_type: String,
    pub id: String,
    pub queue: String,
    pub retry: i64,
    pub retried: i64,
    pub error_msg: String,
    pub timeout: i64,
    pub deadline: i64,
    pub last_failed_at: i64,
    pub retention: i64,
    pub completed_at: i64,
    pub group_key: String,
}

/// Decodes a `TaskMessage` (panics on malformed bytes).
pub fn decode_task_msg(buf: &[u8]) -> TaskMsg {
    let f = proto_fields(buf).expect("a well-formed TaskMessage");
    TaskMsg {
        task_type: proto_string(&f, 1),
        id: proto_string(&f, 3),
        queue: proto_string(&f, 4),
        retry: proto_int(&f, 5),
        retried: proto_int(&f, 6),
        error_msg: proto_string(&f, 7),
        timeout: proto_int(&f, 8),
        deadline: proto_int(&f, 9),
        last_failed_at: proto_int(&f, 11),
        retention: proto_int(&f, 12),
        completed_at: proto_int(&f, 13),
        group_key: proto_string(&f, 14),
    }
}

/// The fields of asynq's `ServerInfo` the tests look at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerInfoMsg {
    pub host: String,
    pub pid: i64,
    pub server_id: String,
    pub concurrency: i64,
    pub status: String,
    pub active_worker_count: i64,
}

/// Decodes a `ServerInfo` (panics on malformed bytes).
pub fn decode_server_info(buf: &[u8]) -> ServerInfoMsg {
    let f = proto_fields(buf).expect("a well-formed ServerInfo");
    ServerInfoMsg {
        host: proto_string(&f, 1),
        pid: proto_int(&f, 2),
        server_id: proto_string(&f, 3),
        concurrency: proto_int(&f, 4),
        status: proto_string(&f, 7),
        active_worker_count: proto_int(&f, 9),
    }
}

/// The task hash `asynq:{queue}:t:<id>` (empty when it does not exist).
pub async fn task_hash(
    conn: &redis::aio::MultiplexedConnection,
    queue: &str,
    id: &str,
) -> std::collections::HashMap<String, Vec<u8>> {
    redis::cmd("HGETALL")
        .arg(format!("asynq:{{{queue}}}:t:{id}"))
        .query_async(&mut conn.clone())
        .await
        .expect("HGETALL")
}

/// The `state` field of a task hash, if the hash exists.
pub async fn task_state(
    conn: &redis::aio::MultiplexedConnection,
    queue: &str,
    id: &str,
) -> Option<String> {
    redis::cmd("HGET")
        .arg(format!("asynq:{{{queue}}}:t:{id}"))
        .arg("state")
        .query_async(&mut conn.clone())
        .await
        .expect("HGET state")
}

/// The decoded `msg` field of a task hash (panics when missing).
pub async fn task_msg(conn: &redis::aio::MultiplexedConnection, queue: &str, id: &str) -> TaskMsg {
    let raw: Option<Vec<u8>> = redis::cmd("HGET")
        .arg(format!("asynq:{{{queue}}}:t:{id}"))
        .arg("msg")
        .query_async(&mut conn.clone())
        .await
        .expect("HGET msg");
    decode_task_msg(&raw.unwrap_or_else(|| panic!("task {id} of {queue} has no msg")))
}

/// Waits until the task's `state` field equals `state`.
pub async fn wait_for_state(
    conn: &redis::aio::MultiplexedConnection,
    queue: &str,
    id: &str,
    state: &str,
) {
    wait_until(&format!("task {id} in state {state}"), || async {
        task_state(conn, queue, id).await.as_deref() == Some(state)
    })
    .await;
}

/// An integer counter key (`None` when the key does not exist).
pub async fn counter(conn: &redis::aio::MultiplexedConnection, key: &str) -> Option<i64> {
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn.clone())
        .await
        .expect("GET counter")
}

/// The current time in whole unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Whole unix seconds of a time (truncated, as redisq stores scores).
pub fn unix_secs_of(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Receives the next message, failing the test after 30 s (or if every sender is gone).
pub async fn recv<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("channel closed while waiting for a message"),
        Err(_) => panic!("timed out waiting for a message"),
    }
}

/// Sends `(label, ctx.is_cancelled())` on `tx` when dropped: shows that a handler's future
/// was dropped and whether its context had been cancelled by then.
pub struct DropProbe {
    pub label: &'static str,
    pub ctx: redisq::TaskContext,
    pub tx: tokio::sync::mpsc::UnboundedSender<(&'static str, bool)>,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        let _ = self.tx.send((self.label, self.ctx.is_cancelled()));
    }
}

/// A handler that never finishes by itself: it sends `("started", false)`, then holds a
/// [`DropProbe`] labelled `label` until its future is dropped.
pub fn never_finishing(
    label: &'static str,
    tx: tokio::sync::mpsc::UnboundedSender<(&'static str, bool)>,
) -> impl redisq::Handler {
    move |ctx: redisq::TaskContext, _task: redisq::Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(("started", false));
            let _probe = DropProbe {
                label,
                ctx,
                tx: tx.clone(),
            };
            std::future::pending::<()>().await;
            Ok(())
        }
    }
}

/// Calls of one command so far (`INFO commandstats`; commands run inside scripts included),
/// e.g. `rpop`: every call that takes tasks pops the pending list.
pub async fn command_calls(env: &Env, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut env.conn().await)
        .await
        .expect("info");
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Kills and reaps a child process when dropped (also when the test fails).
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
