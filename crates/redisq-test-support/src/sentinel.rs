//! A throwaway Sentinel deployment: one master, one replica, three sentinels.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tempfile::TempDir;

use crate::make_temp_dir;
use crate::process::{self, Endpoint, Node, NodeConfig, POLL_INTERVAL, PortKind, arg};
use crate::standalone::base_args;

/// The name the sentinels monitor the master under.
const MASTER_NAME: &str = "mymaster";
/// Number of sentinels.
const SENTINELS: usize = 3;
/// How long start-up (replication, sentinel discovery) may take.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a failover may take.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(60);

/// A throwaway Redis Sentinel deployment on free loopback ports: one master,
/// one replica (`--replicaof 127.0.0.1 <master port>`) and three sentinels
/// monitoring the master as `"mymaster"` with quorum 2
/// (`down-after-milliseconds 1000`, `failover-timeout 5000`).
///
/// [`RedisSentinelGroup::start`] returns once the replica is in sync and every
/// sentinel reports the master, knows the replica and the two other
/// sentinels. Dropping the value kills the sentinels first, then the data
/// nodes, and removes the temporary directory.
#[derive(Debug)]
pub struct RedisSentinelGroup {
    // Declared first: sentinels are killed before the data nodes so they never
    // react to the data nodes going away.
    sentinels: Arc<[Node]>,
    /// The two data nodes; `master` indexes the current master.
    data: Arc<[Node; 2]>,
    master: AtomicUsize,
    password: Option<String>,
    // Declared last: removed only after the processes are gone.
    dir: TempDir,
}

/// Configures a [`RedisSentinelGroup`] before starting it; see
/// [`RedisSentinelGroup::builder`].
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `.start()` is called"]
pub struct RedisSentinelGroupBuilder {
    password: Option<String>,
}

impl RedisSentinelGroupBuilder {
    /// Protects the master and the replica with `password` (`requirepass`
    /// and `masterauth`; the sentinels get `sentinel auth-pass`). The
    /// sentinels themselves do not require a password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Starts the deployment and waits until it is fully set up.
    ///
    /// # Panics
    ///
    /// Panics (with the logs) if a process does not start or the deployment
    /// does not settle within 30 seconds.
    pub fn start(self) -> RedisSentinelGroup {
        process::require_server();
        let dir = make_temp_dir("redis-sentinel");
        let password = self.password;

        let master = start_data_node(dir.path(), 0, password.as_deref(), None);
        let replica = start_data_node(dir.path(), 1, password.as_deref(), Some(master.port()));
        let data = Arc::new([master, replica]);
        wait_for(
            "the replica to sync with the master",
            START_TIMEOUT,
            || replication_ok(&data[0], &data[1]),
            || data_logs(&data[..]),
        );

        let master_port = data[0].port();
        let sentinels: Arc<[Node]> = (0..SENTINELS)
            .map(|index| start_sentinel(dir.path(), index, master_port, password.as_deref()))
            .collect();
        let group = RedisSentinelGroup {
            sentinels,
            data,
            master: AtomicUsize::new(0),
            password,
            dir,
        };
        wait_for(
            "the sentinels to discover the deployment",
            START_TIMEOUT,
            || {
                group.sentinels.iter().try_for_each(|sentinel| {
                    sentinel_ready(sentinel.endpoint(), master_port, group.data[1].port())
                        .map_err(|err| format!("sentinel {}: {err}", sentinel.addr()))
                })
            },
            || group.logs(),
        );
        group
    }
}

fn start_data_node(
    root: &Path,
    index: usize,
    password: Option<&str>,
    replica_of: Option<u16>,
) -> Node {
    let node_dir = root.join(format!("node-{index}"));
    let mut fixed = base_args(&node_dir);
    // Replicate without the default 5 s diskless-sync delay.
    fixed.extend([arg("--repl-diskless-sync-delay"), arg("0")]);
    if let Some(password) = password {
        fixed.extend([
            arg("--requirepass"),
            arg(password),
            arg("--masterauth"),
            arg(password),
        ]);
    }
    if let Some(master_port) = replica_of {
        fixed.extend([
            arg("--replicaof"),
            arg(process::HOST),
            arg(master_port.to_string()),
        ]);
    }
    Node::start(NodeConfig {
        role: format!(
            "node-{index} (started as {})",
            if replica_of.is_some() {
                "replica"
            } else {
                "master"
            }
        ),
        dir: node_dir,
        port_kind: PortKind::Plain,
        password: password.map(str::to_owned),
        tls_ca: None,
        make_args: Box::new(move |port| {
            let mut args = vec![
                arg("--bind"),
                arg(process::HOST),
                arg("--port"),
                arg(port.to_string()),
            ];
            args.extend(fixed.iter().cloned());
            Ok(args)
        }),
    })
}

fn start_sentinel(root: &Path, index: usize, master_port: u16, password: Option<&str>) -> Node {
    let sentinel_dir = root.join(format!("sentinel-{index}"));
    let config_file = sentinel_dir.join("sentinel.conf");
    let password = password.map(str::to_owned);
    let dir_for_config = sentinel_dir.clone();
    Node::start(NodeConfig {
        role: format!("sentinel {index}"),
        dir: sentinel_dir,
        port_kind: PortKind::Plain,
        password: None,
        tls_ca: None,
        make_args: Box::new(move |port| {
            // Sentinels rewrite their configuration file, so each one gets
            // its own, written fresh for every start attempt.
            let config = sentinel_config(&dir_for_config, port, master_port, password.as_deref());
            std::fs::write(&config_file, config)?;
            Ok(vec![arg(&config_file), arg("--sentinel")])
        }),
    })
}

/// Quotes a value for a Redis configuration file.
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for ch in value.chars() {
        match ch {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(ch);
            }
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            _ => quoted.push(ch),
        }
    }
    quoted.push('"');
    quoted
}

fn sentinel_config(dir: &Path, port: u16, master_port: u16, password: Option<&str>) -> String {
    let host = process::HOST;
    let mut config = String::new();
    let _ = writeln!(config, "port {port}");
    let _ = writeln!(config, "bind {host}");
    let _ = writeln!(config, "protected-mode no");
    let _ = writeln!(config, "daemonize no");
    let _ = writeln!(config, "dir {}", quote(&dir.to_string_lossy()));
    let _ = writeln!(
        config,
        "logfile {}",
        quote(&process::log_path(dir).to_string_lossy())
    );
    let _ = writeln!(
        config,
        "sentinel monitor {MASTER_NAME} {host} {master_port} 2"
    );
    let _ = writeln!(
        config,
        "sentinel down-after-milliseconds {MASTER_NAME} 1000"
    );
    let _ = writeln!(config, "sentinel failover-timeout {MASTER_NAME} 5000");
    if let Some(password) = password {
        let _ = writeln!(
            config,
            "sentinel auth-pass {MASTER_NAME} {}",
            quote(password)
        );
    }
    config
}

/// Polls `check` every few milliseconds until it succeeds; panics with the
/// last reason and `logs()` after `timeout`.
fn wait_for(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<(), String>,
    logs: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(()) => return,
            Err(reason) if Instant::now() >= deadline => {
                panic!(
                    "timed out after {timeout:?} waiting for {what}: {reason}\n{}",
                    logs()
                )
            }
            Err(_) => thread::sleep(POLL_INTERVAL * 5),
        }
    }
}

fn info_map(endpoint: &Endpoint, section: &str) -> Result<HashMap<String, String>, String> {
    endpoint
        .info(section)
        .map(|pairs| pairs.into_iter().collect())
        .map_err(|err| format!("INFO {section} on {}: {err}", endpoint.addr()))
}

/// `Ok` once `replica` is connected to `master` and the master lists it as
/// an online replica.
fn replication_ok(master: &Node, replica: &Node) -> Result<(), String> {
    let info = info_map(replica.endpoint(), "replication")?;
    let field = |name: &str| info.get(name).map(String::as_str).unwrap_or("");
    if field("role") != "slave"
        || field("master_port") != master.port().to_string()
        || field("master_link_status") != "up"
    {
        return Err(format!("replica {}: {info:?}", replica.addr()));
    }
    let info = info_map(master.endpoint(), "replication")?;
    let online = info.iter().any(|(key, value)| {
        key.starts_with("slave")
            && value.contains(&format!("port={},", replica.port()))
            && value.contains("state=online")
    });
    if info.get("role").map(String::as_str) != Some("master") || !online {
        return Err(format!("master {}: {info:?}", master.addr()));
    }
    Ok(())
}

/// Turns a flat `[key, value, key, value, ...]` reply into a map.
fn pairs(flat: Vec<String>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut items = flat.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        map.insert(key, value);
    }
    map
}

fn master_addr_by_name(sentinel: &Endpoint) -> Result<Option<(String, u16)>, String> {
    let reply: Option<Vec<String>> = sentinel
        .query(
            redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(MASTER_NAME),
        )
        .map_err(|err| format!("SENTINEL GET-MASTER-ADDR-BY-NAME: {err}"))?;
    match reply.as_deref() {
        None => Ok(None),
        Some([host, port]) => port
            .parse()
            .map(|port| Some((host.clone(), port)))
            .map_err(|_| format!("bad port in {reply:?}")),
        Some(_) => Err(format!("unexpected reply {reply:?}")),
    }
}

/// `Ok` once `sentinel` reports the master at `master_port`, knows the two
/// other sentinels and sees the replica at `replica_port` with a healthy
/// link.
fn sentinel_ready(sentinel: &Endpoint, master_port: u16, replica_port: u16) -> Result<(), String> {
    let addr = master_addr_by_name(sentinel)?;
    if addr != Some((process::HOST.to_owned(), master_port)) {
        return Err(format!("master is {addr:?}"));
    }
    let master: Vec<String> = sentinel
        .query(redis::cmd("SENTINEL").arg("MASTER").arg(MASTER_NAME))
        .map_err(|err| format!("SENTINEL MASTER: {err}"))?;
    let master = pairs(master);
    let field = |name: &str| master.get(name).map(String::as_str).unwrap_or("");
    if field("flags") != "master"
        || field("num-other-sentinels") != (SENTINELS - 1).to_string()
        || field("num-slaves") != "1"
    {
        return Err(format!("SENTINEL MASTER: {master:?}"));
    }
    let replicas: Vec<Vec<String>> = sentinel
        .query(redis::cmd("SENTINEL").arg("REPLICAS").arg(MASTER_NAME))
        .map_err(|err| format!("SENTINEL REPLICAS: {err}"))?;
    let healthy = replicas.into_iter().map(pairs).any(|replica| {
        replica.get("port").map(String::as_str) == Some(replica_port.to_string().as_str())
            && replica.get("flags").map(String::as_str) == Some("slave")
            && replica.get("master-link-status").map(String::as_str) == Some("ok")
    });
    if !healthy {
        return Err(format!("replica {replica_port} not (yet) healthy"));
    }
    Ok(())
}

fn data_logs(data: &[Node]) -> String {
    data.iter()
        .map(|node| {
            format!(
                "=== {} ({}) ===\n{}",
                node.role(),
                node.addr(),
                node.log_tail()
            )
        })
        .collect()
}

/// What a failover needs, detached from the group so that it can run on a
/// blocking thread.
struct Failover {
    sentinels: Arc<[Node]>,
    data: Arc<[Node; 2]>,
    old_master: usize,
}

impl Failover {
    fn run(self) {
        let old = &self.data[self.old_master];
        let new = &self.data[1 - self.old_master];
        let logs = || all_logs(&self.data[..], &self.sentinels);

        // The sentinel refuses while it has no suitable replica or while a
        // previous failover is still being completed: retry.
        // ("INPROG" means a failover, possibly ours, is already running.)
        let first = self.sentinels[0].endpoint();
        wait_for(
            "SENTINEL FAILOVER to be accepted",
            FAILOVER_TIMEOUT,
            || match first.query::<()>(redis::cmd("SENTINEL").arg("FAILOVER").arg(MASTER_NAME)) {
                Ok(()) => Ok(()),
                Err(err) if err.code() == Some("INPROG") => Ok(()),
                Err(err) => Err(err.to_string()),
            },
            logs,
        );

        let target = Some((process::HOST.to_owned(), new.port()));
        wait_for(
            "the sentinels to promote the replica",
            FAILOVER_TIMEOUT,
            || {
                for sentinel in self.sentinels.iter() {
                    let addr = master_addr_by_name(sentinel.endpoint())?;
                    if addr != target {
                        return Err(format!("sentinel {} reports {addr:?}", sentinel.addr()));
                    }
                }
                let role = new
                    .endpoint()
                    .info_field("replication", "role")
                    .map_err(|err| err.to_string())?;
                match role.as_deref() {
                    Some("master") => Ok(()),
                    other => Err(format!("{} has role {other:?}", new.addr())),
                }
            },
            logs,
        );

        // The sentinels demote the old master only after several seconds;
        // do it right away so that the deployment is back to "one master,
        // one replica in sync" when the failover returns.
        wait_for(
            "the old master to replicate from the new master",
            FAILOVER_TIMEOUT,
            || {
                old.endpoint()
                    .query::<()>(redis::cmd("REPLICAOF").arg(process::HOST).arg(new.port()))
                    .map_err(|err| err.to_string())?;
                replication_ok(new, old)
            },
            logs,
        );
    }
}

impl RedisSentinelGroup {
    /// Starts a deployment without passwords.
    ///
    /// # Panics
    ///
    /// See [`RedisSentinelGroupBuilder::start`].
    pub fn start() -> RedisSentinelGroup {
        RedisSentinelGroup::builder().start()
    }

    /// Returns a builder (for a password).
    pub fn builder() -> RedisSentinelGroupBuilder {
        RedisSentinelGroupBuilder::default()
    }

    /// The monitored master's name: `"mymaster"`.
    pub fn master_name(&self) -> &'static str {
        MASTER_NAME
    }

    /// The sentinels' addresses, `"127.0.0.1:PORT"`.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        self.sentinels.iter().map(Node::addr).collect()
    }

    /// The sentinels' ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(Node::port).collect()
    }

    /// The sentinels' URLs, `"redis://127.0.0.1:PORT"` (sentinels need no
    /// password).
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinel_addrs()
            .into_iter()
            .map(|addr| format!("redis://{addr}"))
            .collect()
    }

    fn master_node(&self) -> &Node {
        &self.data[self.master.load(Ordering::SeqCst)]
    }

    fn replica_node(&self) -> &Node {
        &self.data[1 - self.master.load(Ordering::SeqCst)]
    }

    /// The current master's address, `"127.0.0.1:PORT"`. Initially the node
    /// started as master; after [`RedisSentinelGroup::failover`] the promoted
    /// node.
    pub fn master_addr(&self) -> String {
        self.master_node().addr()
    }

    /// The current master's port.
    pub fn master_port(&self) -> u16 {
        self.master_node().port()
    }

    /// The current replica's address, `"127.0.0.1:PORT"` (swaps with
    /// [`RedisSentinelGroup::master_addr`] on failover).
    pub fn replica_addr(&self) -> String {
        self.replica_node().addr()
    }

    /// The current replica's port.
    pub fn replica_port(&self) -> u16 {
        self.replica_node().port()
    }

    /// The master/replica password, if any.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The deployment's temporary directory (`node-0`, `node-1`,
    /// `sentinel-N` subdirectories).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The sentinels' configuration files (as rewritten by the sentinels).
    pub fn sentinel_config_paths(&self) -> Vec<PathBuf> {
        (0..SENTINELS)
            .map(|index| {
                self.dir
                    .path()
                    .join(format!("sentinel-{index}"))
                    .join("sentinel.conf")
            })
            .collect()
    }

    /// Opens a multiplexed async connection directly to the current master
    /// (authenticated).
    ///
    /// # Panics
    ///
    /// Panics if the master cannot be reached.
    pub async fn master_connection(&self) -> MultiplexedConnection {
        connect(self.master_node()).await
    }

    /// Opens a multiplexed async connection directly to the current replica
    /// (authenticated).
    ///
    /// # Panics
    ///
    /// Panics if the replica cannot be reached.
    pub async fn replica_connection(&self) -> MultiplexedConnection {
        connect(self.replica_node()).await
    }

    /// Forces a failover (`SENTINEL FAILOVER mymaster`) and waits until every
    /// sentinel reports the old replica as master and that node reports
    /// `role:master`; then points the old master at the new one (as the
    /// sentinels would after a few seconds) and waits until it is in sync.
    /// Afterwards [`RedisSentinelGroup::master_addr`] and
    /// [`RedisSentinelGroup::replica_addr`] are swapped. Can be called
    /// repeatedly. Typically takes a few seconds.
    ///
    /// # Panics
    ///
    /// Panics (with logs) if the failover does not complete within a minute.
    /// Must be called within a Tokio runtime.
    pub async fn failover(&self) {
        let old_master = self.master.load(Ordering::SeqCst);
        let job = Failover {
            sentinels: Arc::clone(&self.sentinels),
            data: Arc::clone(&self.data),
            old_master,
        };
        if let Err(err) = tokio::task::spawn_blocking(move || job.run()).await {
            match err.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(err) => panic!("failover task failed: {err}"),
            }
        }
        self.master.store(1 - old_master, Ordering::SeqCst);
    }

    fn logs(&self) -> String {
        all_logs(&self.data[..], &self.sentinels)
    }
}

fn all_logs(data: &[Node], sentinels: &[Node]) -> String {
    data_logs(data) + &data_logs(sentinels)
}

async fn connect(node: &Node) -> MultiplexedConnection {
    let client = node
        .endpoint()
        .client(false)
        .unwrap_or_else(|err| panic!("cannot build a client for {}: {err}", node.addr()));
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| {
            panic!(
                "cannot connect to {} ({}): {err}\n{}",
                node.role(),
                node.addr(),
                node.log_tail()
            )
        })
}
