//! The `redis-server` that `redisq bench` starts for itself when it is not given `--redis`.
//!
//! The server listens on a free loopback port, keeps nothing on disk and runs in a temporary
//! directory of its own. Dropping [`PrivateRedis`] kills it and removes the directory.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::time::{Instant, sleep, timeout};

use super::BoxError;

/// The program started, looked up on `PATH`.
const PROGRAM: &str = "redis-server";
/// How long a fresh server may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often readiness is checked until then.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Bounds one readiness probe, so that a connection that hangs cannot stretch the deadline.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Ports tried in all: a port is free when picked, but another program may take it before
/// the server binds it.
const PORT_ATTEMPTS: usize = 3;
/// Receives the server's stdout and stderr (it logs to stdout), for error messages.
const LOG_FILE: &str = "redis.log";

/// What the server is started as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Standalone,
    /// A node of a Redis Cluster (`--cluster-enabled yes`), whose cluster bus listens on the
    /// port plus 10,000.
    ClusterNode,
}

/// Cluster nodes use ports up to this one, so that the bus port (`port + 10000`) exists.
const MAX_CLUSTER_PORT: u16 = 55_000;

/// A running private `redis-server`.
#[derive(Debug)]
pub(crate) struct PrivateRedis {
    child: Child,
    port: u16,
    // Fields drop after `Drop::drop`, so the directory goes once the server is dead.
    dir: TempDir,
}

/// Why one start attempt failed.
enum StartError {
    /// The port belongs to someone else: worth another try on a new port.
    PortTaken,
    Fatal(BoxError),
}

impl PrivateRedis {
    /// Starts `redis-server` and waits until it answers.
    pub(crate) async fn start() -> Result<PrivateRedis, BoxError> {
        PrivateRedis::start_program(OsStr::new(PROGRAM), Kind::Standalone).await
    }

    /// Starts a `redis-server` with cluster mode on and no slots yet (see
    /// [`super::private_cluster`]), and waits until it answers.
    pub(crate) async fn start_cluster_node() -> Result<PrivateRedis, BoxError> {
        PrivateRedis::start_program(OsStr::new(PROGRAM), Kind::ClusterNode).await
    }

    async fn start_program(program: &OsStr, kind: Kind) -> Result<PrivateRedis, BoxError> {
        for _ in 0..PORT_ATTEMPTS {
            let port = match kind {
                Kind::Standalone => free_port()?,
                Kind::ClusterNode => free_cluster_port()?,
            };
            let mut server = PrivateRedis::spawn(program, port, kind)?;
            match server.wait_ready().await {
                Ok(()) => return Ok(server),
                // Dropping `server` kills it and removes its directory.
                Err(StartError::PortTaken) => continue,
                Err(StartError::Fatal(e)) => return Err(e),
            }
        }
        Err(format!("redis-server found no free port in {PORT_ATTEMPTS} attempts").into())
    }

    /// Where the server listens.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    fn spawn(program: &OsStr, port: u16, kind: Kind) -> Result<PrivateRedis, BoxError> {
        let dir = tempfile::Builder::new().prefix("redisq-bench-").tempdir()?;
        let log = File::create(dir.path().join(LOG_FILE))?;
        let mut command = Command::new(program);
        if kind == Kind::ClusterNode {
            // The node configuration is written relative to `--dir`, into the temporary
            // directory. Nodes announce the loopback address they listen on.
            command.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
                "--cluster-announce-ip",
                "127.0.0.1",
            ]);
        }
        let child = command
            // Loopback only: the server has no password.
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            // No RDB snapshots or AOF: there is nothing to keep, and background saves would
            // add their CPU and disk time to the figures.
            .args(["--save", "", "--appendonly", "no"])
            // Whatever Redis still writes lands here rather than in the current directory.
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| -> BoxError {
                let name = program.to_string_lossy();
                if e.kind() == io::ErrorKind::NotFound {
                    format!(
                        "{name} was not found: install it (Debian/Ubuntu: apt-get install \
                         redis-server) or pass --redis URL"
                    )
                    .into()
                } else {
                    format!("cannot run {name}: {e}").into()
                }
            })?;
        Ok(PrivateRedis { child, port, dir })
    }

    /// Polls until the server answers, it exits, or the deadline passes.
    async fn wait_ready(&mut self) -> Result<(), StartError> {
        let client = redis::Client::open(self.url()).map_err(|e| StartError::Fatal(e.into()))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|e| StartError::Fatal(e.into()))?
            {
                let log = self.log_tail();
                if log.contains("Address already in use") {
                    return Err(StartError::PortTaken);
                }
                return Err(StartError::Fatal(
                    format!("redis-server exited at start-up ({status}):\n{log}").into(),
                ));
            }
            match timeout(PROBE_TIMEOUT, answering_pid(&client)).await {
                Ok(Ok(pid)) if pid == Some(self.child.id()) => return Ok(()),
                // Another server answers on the port, so ours cannot have bound it.
                Ok(Ok(_)) => return Err(StartError::PortTaken),
                // Not listening yet.
                Ok(Err(_)) | Err(_) => {}
            }
            if Instant::now() >= deadline {
                return Err(StartError::Fatal(
                    format!(
                        "redis-server did not answer on port {} within {READY_TIMEOUT:?}:\n{}",
                        self.port,
                        self.log_tail()
                    )
                    .into(),
                ));
            }
            sleep(POLL_INTERVAL).await;
        }
    }

    /// The last lines the server printed.
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        match lines.len() {
            0 => "(it printed nothing)".to_string(),
            n => lines[n.saturating_sub(5)..].join("\n"),
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        // SIGKILL is enough, nothing needs saving; waiting reaps the process.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// PINGs the server and returns its process id: the PING says it is ready, the id that it is
/// the server we started rather than one that took the port first.
async fn answering_pid(client: &redis::Client) -> redis::RedisResult<Option<u32>> {
    let mut conn = client.get_multiplexed_async_connection().await?;
    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await?;
    Ok(info
        .lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok()))
}

/// A loopback port that is free right now (the kernel's pick for port 0). Nothing holds it
/// afterwards, hence the retries in [`PrivateRedis::start`].
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A free port for a cluster node: at most [`MAX_CLUSTER_PORT`], with its bus port
/// (`port + 10000`) free as well.
fn free_cluster_port() -> io::Result<u16> {
    for _ in 0..1000 {
        let port = free_port()?;
        if port <= MAX_CLUSTER_PORT
            && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 10_000)).is_ok()
        {
            return Ok(port);
        }
    }
    Err(io::Error::other(format!(
        "no free port pair (port, port + 10000) at or below {MAX_CLUSTER_PORT}"
    )))
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;

    use super::*;

    #[tokio::test]
    async fn starts_answers_and_is_gone_after_drop() {
        let server = PrivateRedis::start().await.expect("start redis-server");
        let mut conn = redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let save: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("save")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(save, ["save", ""]);
        drop(conn);

        let (port, dir) = (server.port, server.dir.path().to_owned());
        assert!(dir.join(LOG_FILE).is_file());
        drop(server);
        assert!(!dir.exists(), "{} was left behind", dir.display());
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
    }

    #[tokio::test]
    async fn a_port_in_use_is_reported_as_taken() {
        let first = PrivateRedis::start().await.expect("start redis-server");
        let mut second =
            PrivateRedis::spawn(OsStr::new(PROGRAM), first.port, Kind::Standalone).unwrap();
        // Either the second server fails to bind, or the first one answers for it.
        assert!(matches!(
            second.wait_ready().await,
            Err(StartError::PortTaken)
        ));
    }

    #[tokio::test]
    async fn a_missing_program_is_named() {
        let err = PrivateRedis::start_program(
            OsStr::new("redisq-no-such-redis-server"),
            Kind::Standalone,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("was not found"), "{err}");
    }

    #[tokio::test]
    async fn a_program_that_exits_is_reported() {
        // `false` ignores the arguments and exits at once.
        let err = PrivateRedis::start_program(OsStr::new("false"), Kind::Standalone)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exited at start-up"), "{err}");
    }
}
