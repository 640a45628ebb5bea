//! Throwaway Redis deployments for redisq's tests.
//!
//! Every fixture runs real `redis-server` processes (Debian's `redis-server`
//! package; override the binary with the `REDISQ_REDIS_SERVER` environment
//! variable) on free loopback ports, each in its own temporary directory,
//! with persistence disabled unless asked for:
//!
//! * [`RedisServer`]: a standalone server, optionally with a password, ACL
//!   users, TLS (certificates generated at start-up) or a unix socket; it can
//!   be stopped and restarted on the same port, paused (SIGSTOP), shut down
//!   gracefully, and made persistent with an append-only file
//!   ([`RedisServerBuilder::append_only`]).
//! * [`RedisCluster`]: a three-master Redis Cluster, optionally with a replica
//!   per master and a forced [`failover`](RedisCluster::failover).
//! * [`RedisSentinelGroup`]: a master, a replica and three sentinels, with a
//!   forced [`failover`](RedisSentinelGroup::failover).
//!
//! For tests that need Redis connections to misbehave, [`TcpProxy`] forwards
//! a free loopback port to a server and can freeze (half-open, nothing is
//! closed), cut or refuse connections on demand. It runs on its own thread
//! and tokio runtime, independent of the caller's.
//!
//! Fixtures never touch a Redis they did not start: ports are picked by
//! binding `127.0.0.1:0` (see [`free_port`]), the well-known Redis ports are
//! never used, and a fixture only considers itself started once the server
//! answering on its port reports the `process_id` of the process it spawned.
//! If the port was grabbed by someone else in the meantime, the start is
//! retried with a new port.
//!
//! Dropping a fixture kills its processes (SIGKILL), reaps them and removes
//! the temporary directory, also when the test panics. Where `setpriv`
//! (util-linux) is available, servers are additionally started with a
//! parent-death signal, so they die with the test process even if
//! destructors never run.
//!
//! Start-up is blocking (typically tens of milliseconds for a standalone
//! server, a few seconds for a sentinel deployment); it is fine to call from
//! `#[tokio::test]` functions.

mod cluster;
mod ports;
mod process;
mod proxy;
mod sentinel;
mod standalone;
mod tls;

use std::process::{Command, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

pub use cluster::{RedisCluster, RedisClusterBuilder};
pub use ports::free_port;
pub use proxy::TcpProxy;
pub use sentinel::{RedisSentinelGroup, RedisSentinelGroupBuilder};
pub use standalone::{AppendFsync, RedisServer, RedisServerBuilder};

/// Returns whether `redis-server` can be run (see [`redis_server_version`]).
pub fn redis_server_available() -> bool {
    redis_server_version().is_some()
}

/// Returns the version of the `redis-server` binary the fixtures run (for
/// example `"7.0.15"`), or `None` if it cannot be run. The result is cached.
pub fn redis_server_version() -> Option<String> {
    static VERSION: OnceLock<Option<String>> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            let output = Command::new(process::server_program())
                .arg("--version")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()?;
            if !output.status.success() {
                return None;
            }
            parse_version(&String::from_utf8_lossy(&output.stdout))
        })
        .clone()
}

/// Extracts `7.0.15` from
/// `Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 ...`.
fn parse_version(text: &str) -> Option<String> {
    text.split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .filter(|version| !version.is_empty())
        .map(str::to_owned)
}

/// Creates a fixture's temporary directory.
fn make_temp_dir(kind: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("redisq-{kind}-"))
        .tempdir()
        .unwrap_or_else(|err| panic!("cannot create a temporary directory: {err}"))
}

/// Percent-encodes a URL user-info component (everything except RFC 3986
/// unreserved characters).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_version() {
        assert_eq!(
            parse_version(
                "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n"
            )
            .as_deref(),
            Some("7.0.15")
        );
        assert_eq!(parse_version("nonsense"), None);
    }

    #[test]
    fn encodes_passwords() {
        assert_eq!(percent_encode("abc-._~09"), "abc-._~09");
        assert_eq!(percent_encode("p@ss:w/rd%"), "p%40ss%3Aw%2Frd%25");
    }
}
