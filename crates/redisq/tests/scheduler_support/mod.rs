//! Helpers shared by the scheduler integration tests (self-contained on purpose).
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use redis::AsyncCommands;
use redisq::{RedisConnOpt, parse_redis_uri};
use redisq_test_support::RedisServer;

/// A private Redis.
pub struct Env {
    pub server: RedisServer,
}

impl Env {
    pub fn start() -> Env {
        Env {
            server: RedisServer::start(),
        }
    }

    pub fn opt(&self) -> RedisConnOpt {
        parse_redis_uri(&self.server.url()).expect("uri")
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        self.server.connection().await
    }

    pub async fn exists(&self, key: &str) -> bool {
        let n: i64 = self.conn().await.exists(key).await.expect("EXISTS");
        n == 1
    }

    pub async fn llen(&self, key: &str) -> usize {
        self.conn().await.llen(key).await.expect("LLEN")
    }

    pub async fn zcard(&self, key: &str) -> usize {
        self.conn().await.zcard(key).await.expect("ZCARD")
    }

    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        self.conn().await.keys(pattern).await.expect("KEYS")
    }
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

/// Receives from a channel, failing after 30 s with `what`.
pub async fn recv<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for: {what}"))
        .unwrap_or_else(|| panic!("channel closed while waiting for: {what}"))
}

/// One protobuf field value as it appears on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wire {
    Varint(u64),
    Bytes(Vec<u8>),
}

fn varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = buf[*pos];
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return out;
        }
    }
    panic!("varint too long")
}

/// `(field number, value)` pairs of a message that uses varints and length-delimited fields.
pub fn fields(buf: &[u8]) -> Vec<(u32, Wire)> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let tag = varint(buf, &mut pos);
        let value = match tag & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)),
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)).expect("len");
                let b = buf[pos..pos + len].to_vec();
                pos += len;
                Wire::Bytes(b)
            }
            t => panic!("unexpected wire type {t}"),
        };
        out.push((u32::try_from(tag >> 3).expect("field"), value));
    }
    out
}

/// The bytes of every occurrence of a length-delimited field.
pub fn bytes_fields(buf: &[u8], field: u32) -> Vec<Vec<u8>> {
    fields(buf)
        .into_iter()
        .filter(|(f, _)| *f == field)
        .filter_map(|(_, v)| match v {
            Wire::Bytes(b) => Some(b),
            Wire::Varint(_) => None,
        })
        .collect()
}

/// The text of a string field (empty when absent).
pub fn string_field(buf: &[u8], field: u32) -> String {
    bytes_fields(buf, field)
        .pop()
        .map(|b| String::from_utf8(b).expect("utf-8"))
        .unwrap_or_default()
}

/// A `google.protobuf.Timestamp` field as `(seconds, nanos)`; `None` when absent.
pub fn timestamp_field(buf: &[u8], field: u32) -> Option<(i64, i32)> {
    let ts = bytes_fields(buf, field).pop()?;
    let (mut s, mut n) = (0i64, 0i32);
    for (f, v) in fields(&ts) {
        if let Wire::Varint(x) = v {
            match f {
                1 => s = x as i64,
                2 => n = x as i32,
                _ => {}
            }
        }
    }
    Some((s, n))
}

/// Seconds of Go's zero time, what asynq writes for "never".
pub const GO_ZERO_SECONDS: i64 = -62_135_596_800;
