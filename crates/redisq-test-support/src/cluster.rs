//! A throwaway 3-master Redis Cluster.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use redis::Value;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use tempfile::TempDir;

use crate::process::{self, Node, NodeConfig, POLL_INTERVAL, PortKind, arg};
use crate::standalone::base_args;
use crate::{make_temp_dir, percent_encode};

/// Number of hash slots in a Redis Cluster.
const SLOTS: u16 = 16384;
/// Number of master nodes.
const MASTERS: usize = 3;
/// How long the cluster may take to converge.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(30);

/// A throwaway Redis Cluster of three masters on free loopback ports, with the
/// 16384 slots split evenly, optionally with one replica per master
/// ([`RedisClusterBuilder::with_replicas`]) and a forced
/// [`failover`](RedisCluster::failover).
///
/// Each node has its own directory under one temporary directory and runs
/// with `--cluster-enabled yes --cluster-node-timeout 2000`. Node ports are
/// below 55000 and their cluster bus ports (`port + 10000`) were free when
/// chosen. [`RedisCluster::start`] returns once every node reports
/// `cluster_state:ok` and all nodes agree on the slot map. Dropping the value
/// kills all nodes and removes the directory.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Node>,
    /// Per shard: (index of its master node, index of its replica node, if any). Swapped by
    /// [`RedisCluster::failover`].
    shards: std::sync::Mutex<Vec<(usize, Option<usize>)>>,
    password: Option<String>,
    // Declared last: removed only after the processes are gone.
    dir: TempDir,
}

/// Configures a [`RedisCluster`] before starting it; see
/// [`RedisCluster::builder`].
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `.start()` is called"]
pub struct RedisClusterBuilder {
    password: Option<String>,
    replicas: bool,
    extra_args: Vec<String>,
}

impl RedisClusterBuilder {
    /// Protects every node with `password` (`requirepass` and `masterauth`).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Gives every master one replica (six nodes in all), for
    /// [`RedisCluster::failover`].
    pub fn with_replicas(mut self, enabled: bool) -> Self {
        self.replicas = enabled;
        self
    }

    /// Appends raw `redis-server` arguments to every node.
    pub fn extra_args<I>(mut self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.extra_args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Starts the nodes, assigns the slots, joins the nodes and waits until
    /// the cluster is healthy.
    ///
    /// # Panics
    ///
    /// Panics (with node logs) if a node does not start or the cluster does
    /// not converge within 30 seconds.
    pub fn start(self) -> RedisCluster {
        process::require_server();
        let dir = make_temp_dir("redis-cluster");
        let count = if self.replicas { 2 * MASTERS } else { MASTERS };
        let nodes: Vec<Node> = (0..count)
            .map(|index| {
                let node_dir = dir.path().join(format!("node-{index}"));
                let mut fixed = base_args(&node_dir);
                fixed.extend([
                    arg("--cluster-enabled"),
                    arg("yes"),
                    arg("--cluster-config-file"),
                    arg(node_dir.join("nodes.conf")),
                    arg("--cluster-node-timeout"),
                    arg("2000"),
                    arg("--cluster-announce-ip"),
                    arg(process::HOST),
                ]);
                if let Some(password) = &self.password {
                    fixed.extend([
                        arg("--requirepass"),
                        arg(password),
                        arg("--masterauth"),
                        arg(password),
                    ]);
                }
                fixed.extend(self.extra_args.iter().map(arg));
                let config_file = node_dir.join("nodes.conf");
                Node::start(NodeConfig {
                    role: format!("cluster node {index}"),
                    dir: node_dir,
                    port_kind: PortKind::Cluster,
                    password: self.password.clone(),
                    tls_ca: None,
                    make_args: Box::new(move |port| {
                        // A failed attempt may have left a node config
                        // behind that names the old port.
                        match std::fs::remove_file(&config_file) {
                            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                                return Err(err);
                            }
                            _ => {}
                        }
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
            })
            .collect();
        let shards = (0..MASTERS)
            .map(|i| (i, self.replicas.then_some(i + MASTERS)))
            .collect();
        let cluster = RedisCluster {
            nodes,
            shards: std::sync::Mutex::new(shards),
            password: self.password,
            dir,
        };
        cluster.form();
        cluster
    }
}

impl RedisCluster {
    /// Starts a 3-master cluster without a password.
    ///
    /// # Panics
    ///
    /// See [`RedisClusterBuilder::start`].
    pub fn start() -> RedisCluster {
        RedisCluster::builder().start()
    }

    /// Returns a builder (for a password or extra arguments).
    pub fn builder() -> RedisClusterBuilder {
        RedisClusterBuilder::default()
    }

    /// The nodes' addresses, `"127.0.0.1:PORT"`.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(Node::addr).collect()
    }

    /// The nodes' ports.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(Node::port).collect()
    }

    /// One `redis://[:PASSWORD@]127.0.0.1:PORT` URL per node.
    pub fn urls(&self) -> Vec<String> {
        let auth = match &self.password {
            Some(password) => format!(":{}@", percent_encode(password)),
            None => String::new(),
        };
        self.nodes
            .iter()
            .map(|node| format!("redis://{auth}{}", node.addr()))
            .collect()
    }

    /// Fails shard `shard` (0, 1 or 2) over to its replica with `CLUSTER FAILOVER` (run on
    /// the replica: a coordinated failover, no acknowledged write is lost) and waits until
    /// every node agrees on the new slot map and the old master replicates from the new one.
    /// Can be called repeatedly; the two nodes swap roles each time.
    ///
    /// # Panics
    ///
    /// Panics if the cluster has no replicas ([`RedisClusterBuilder::with_replicas`]), if
    /// `shard` is out of range, or if the failover does not complete within 30 seconds.
    pub fn failover(&self, shard: usize) {
        let (master, replica) = self.shards()[shard];
        let replica = replica.expect("failover needs a cluster started with_replicas(true)");
        let node = &self.nodes[replica];
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        // The masters vote for one failover of a shard per two node timeouts (4 s here): a
        // request that times out is repeated.
        'request: loop {
            if let Err(err) = node
                .endpoint()
                .query::<()>(redis::cmd("CLUSTER").arg("FAILOVER"))
            {
                panic!(
                    "CLUSTER FAILOVER on {} failed: {err}\n{}",
                    node.addr(),
                    self.logs()
                );
            }
            let retry_at = Instant::now() + Duration::from_secs(6);
            loop {
                let role = node.endpoint().info_field("replication", "role");
                if role.ok().flatten().as_deref() == Some("master") {
                    break 'request;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} was not promoted\n{}",
                    node.addr(),
                    self.logs()
                );
                if Instant::now() >= retry_at {
                    continue 'request;
                }
                thread::sleep(POLL_INTERVAL);
            }
        }
        self.lock_shards()[shard] = (replica, Some(master));
        self.wait_converged();
    }

    /// Moves hash slot `slot` to shard `to_shard`'s master the way `redis-cli --cluster
    /// reshard` does: `SETSLOT IMPORTING` / `MIGRATING`, `MIGRATE` of its keys in batches,
    /// then `SETSLOT NODE` on every master; returns once every node agrees on the new slot
    /// map. Clients see `ASK` and `TRYAGAIN` replies while it runs. Does nothing if the
    /// shard already owns the slot.
    ///
    /// # Panics
    ///
    /// Panics if a step fails or the cluster does not converge within 30 seconds.
    pub fn migrate_slot(&self, slot: u16, to_shard: usize) {
        let shards = self.shards();
        let masters: Vec<usize> = shards.iter().map(|(m, _)| *m).collect();
        let first = self.nodes[masters[0]].endpoint();
        let map = first
            .query::<Value>(redis::cmd("CLUSTER").arg("SLOTS"))
            .map_err(|err| err.to_string())
            .and_then(|reply| slot_map(&reply))
            .unwrap_or_else(|err| panic!("CLUSTER SLOTS: {err}\n{}", self.logs()));
        let owner_port = map
            .iter()
            .find(|(start, end, _)| *start <= slot && slot <= *end)
            .map(|(_, _, port)| *port)
            .unwrap_or_else(|| panic!("slot {slot} has no owner: {map:?}"));
        let src = *masters
            .iter()
            .find(|m| self.nodes[**m].port() == owner_port)
            .unwrap_or_else(|| panic!("no master listens on {owner_port}"));
        let dst = masters[to_shard];
        if src == dst {
            return;
        }
        let id = |node: usize| -> String {
            self.nodes[node]
                .endpoint()
                .query(redis::cmd("CLUSTER").arg("MYID"))
                .unwrap_or_else(|err| panic!("CLUSTER MYID: {err}\n{}", self.logs()))
        };
        let (src_id, dst_id) = (id(src), id(dst));
        let (src_ep, dst_ep) = (self.nodes[src].endpoint(), self.nodes[dst].endpoint());
        let step = |what: &str, res: redis::RedisResult<()>| {
            if let Err(err) = res {
                panic!("migrating slot {slot}: {what}: {err}\n{}", self.logs());
            }
        };
        step(
            "SETSLOT IMPORTING",
            dst_ep.query(
                redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg("IMPORTING")
                    .arg(&src_id),
            ),
        );
        step(
            "SETSLOT MIGRATING",
            src_ep.query(
                redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg("MIGRATING")
                    .arg(&dst_id),
            ),
        );
        loop {
            let keys: Vec<String> = src_ep
                .query(
                    redis::cmd("CLUSTER")
                        .arg("GETKEYSINSLOT")
                        .arg(slot)
                        .arg(100),
                )
                .unwrap_or_else(|err| panic!("GETKEYSINSLOT: {err}\n{}", self.logs()));
            if keys.is_empty() {
                break;
            }
            let mut migrate = redis::cmd("MIGRATE");
            migrate
                .arg(process::HOST)
                .arg(self.nodes[dst].port())
                .arg("")
                .arg(0)
                .arg(5000);
            if let Some(password) = &self.password {
                migrate.arg("AUTH").arg(password);
            }
            migrate.arg("KEYS").arg(&keys);
            step("MIGRATE", src_ep.query(&migrate));
        }
        // The destination first, so the slot is never without an owner.
        for node in std::iter::once(dst)
            .chain(std::iter::once(src))
            .chain(masters.iter().copied().filter(|m| *m != src && *m != dst))
        {
            step(
                "SETSLOT NODE",
                self.nodes[node].endpoint().query(
                    redis::cmd("CLUSTER")
                        .arg("SETSLOT")
                        .arg(slot)
                        .arg("NODE")
                        .arg(&dst_id),
                ),
            );
        }
        self.wait_converged();
    }

    /// The current master's address of each shard.
    pub fn master_addrs(&self) -> Vec<String> {
        self.shards()
            .iter()
            .map(|(m, _)| self.nodes[*m].addr())
            .collect()
    }

    fn shards(&self) -> Vec<(usize, Option<usize>)> {
        self.lock_shards().clone()
    }

    fn lock_shards(&self) -> std::sync::MutexGuard<'_, Vec<(usize, Option<usize>)>> {
        self.shards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The password, if the cluster was started with one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The cluster's temporary directory (one `node-N` subdirectory per node).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A `ClusterClient` seeded with all nodes (and the password).
    ///
    /// # Panics
    ///
    /// Panics if the client cannot be built.
    pub fn client(&self) -> ClusterClient {
        let mut builder = ClusterClient::builder(self.urls());
        if let Some(password) = &self.password {
            builder = builder.password(password);
        }
        builder
            .build()
            .unwrap_or_else(|err| panic!("cannot build a cluster client: {err}"))
    }

    /// Opens an async cluster connection.
    ///
    /// # Panics
    ///
    /// Panics if the cluster cannot be reached.
    pub async fn connection(&self) -> ClusterConnection {
        self.client()
            .get_async_connection()
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "cannot connect to the cluster {:?}: {err}\n{}",
                    self.addrs(),
                    self.logs()
                )
            })
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
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

    /// Assigns slots, sets distinct config epochs, joins the nodes and waits
    /// for convergence.
    fn form(&self) {
        let per_node = SLOTS / MASTERS as u16;
        for (index, node) in self.nodes.iter().enumerate().take(MASTERS) {
            let first = per_node * index as u16;
            let last = if index + 1 == MASTERS {
                SLOTS - 1
            } else {
                first + per_node - 1
            };
            let endpoint = node.endpoint();
            let setup = endpoint
                .query::<()>(
                    redis::cmd("CLUSTER")
                        .arg("ADDSLOTSRANGE")
                        .arg(first)
                        .arg(last),
                )
                .and_then(|()| {
                    endpoint
                        .query::<()>(redis::cmd("CLUSTER").arg("SET-CONFIG-EPOCH").arg(index + 1))
                });
            if let Err(err) = setup {
                panic!(
                    "cannot assign slots {first}-{last} to {}: {err}\n{}",
                    node.addr(),
                    self.logs()
                );
            }
        }
        let first = self.nodes[0].endpoint();
        for node in &self.nodes[1..] {
            if let Err(err) = first.query::<()>(
                redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg(process::HOST)
                    .arg(node.port()),
            ) {
                panic!(
                    "CLUSTER MEET {} failed: {err}\n{}",
                    node.addr(),
                    self.logs()
                );
            }
        }

        if self.nodes.len() > MASTERS {
            self.attach_replicas();
        }
        self.wait_converged();
    }

    /// Makes node `MASTERS + i` a replica of node `i`, once every node knows every other.
    fn attach_replicas(&self) {
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        for i in 0..MASTERS {
            let master_id: String = self.nodes[i]
                .endpoint()
                .query(redis::cmd("CLUSTER").arg("MYID"))
                .unwrap_or_else(|err| panic!("CLUSTER MYID: {err}\n{}", self.logs()));
            let replica = &self.nodes[MASTERS + i];
            // The replica may not have learned of the master yet ("Unknown node").
            loop {
                match replica
                    .endpoint()
                    .query::<()>(redis::cmd("CLUSTER").arg("REPLICATE").arg(&master_id))
                {
                    Ok(()) => break,
                    Err(err) if Instant::now() >= deadline => panic!(
                        "CLUSTER REPLICATE on {} failed: {err}\n{}",
                        replica.addr(),
                        self.logs()
                    ),
                    Err(_) => thread::sleep(POLL_INTERVAL * 5),
                }
            }
        }
    }

    /// Waits until [`RedisCluster::convergence`] holds.
    fn wait_converged(&self) {
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        loop {
            let status = self.convergence();
            match status {
                Ok(()) => return,
                Err(reason) if Instant::now() >= deadline => panic!(
                    "the cluster did not converge within {CONVERGE_TIMEOUT:?}: {reason}\n{}",
                    self.logs()
                ),
                Err(_) => thread::sleep(POLL_INTERVAL * 5),
            }
        }
    }

    /// `Ok` once every node is `cluster_state:ok`, knows all nodes and
    /// reports the same complete slot map.
    fn convergence(&self) -> Result<(), String> {
        let mut maps = Vec::new();
        for node in &self.nodes {
            let endpoint = node.endpoint();
            let text: String = endpoint
                .query(redis::cmd("CLUSTER").arg("INFO"))
                .map_err(|err| format!("CLUSTER INFO on {}: {err}", node.addr()))?;
            let info = process::parse_info(&text);
            let field = |name: &str| {
                info.iter()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.as_str())
                    .unwrap_or("")
            };
            if field("cluster_state") != "ok"
                || field("cluster_slots_ok") != "16384"
                || field("cluster_known_nodes") != self.nodes.len().to_string()
                || field("cluster_size") != MASTERS.to_string()
            {
                return Err(format!(
                    "{}: {}",
                    node.addr(),
                    text.trim().replace("\r\n", ", ")
                ));
            }
            let slots: Value = endpoint
                .query(redis::cmd("CLUSTER").arg("SLOTS"))
                .map_err(|err| format!("CLUSTER SLOTS on {}: {err}", node.addr()))?;
            maps.push(slot_map(&slots).map_err(|err| format!("{}: {err}", node.addr()))?);
        }
        let shards = self.shards();
        let expected: Vec<u16> = {
            let mut ports: Vec<u16> = shards.iter().map(|(m, _)| self.nodes[*m].port()).collect();
            ports.sort_unstable();
            ports
        };
        for replica in shards.iter().filter_map(|(_, r)| *r) {
            let node = &self.nodes[replica];
            let link = node
                .endpoint()
                .info_field("replication", "master_link_status")
                .map_err(|err| format!("INFO replication on {}: {err}", node.addr()))?;
            if link.as_deref() != Some("up") {
                return Err(format!("replica {} not in sync ({link:?})", node.addr()));
            }
        }
        let first = &maps[0];
        let covered: u32 = first
            .iter()
            .map(|(start, end, _)| u32::from(end - start) + 1)
            .sum();
        let mut owners: Vec<u16> = first.iter().map(|(_, _, port)| *port).collect();
        owners.sort_unstable();
        owners.dedup();
        if covered != u32::from(SLOTS) || owners != expected {
            return Err(format!("incomplete slot map {first:?}"));
        }
        if maps.iter().any(|map| map != first) {
            return Err(format!("nodes disagree on slots: {maps:?}"));
        }
        Ok(())
    }
}

/// Parses a `CLUSTER SLOTS` reply into sorted `(start, end, master port)`.
fn slot_map(reply: &Value) -> Result<Vec<(u16, u16, u16)>, String> {
    let Value::Array(ranges) = reply else {
        return Err(format!("unexpected CLUSTER SLOTS reply {reply:?}"));
    };
    let mut map = Vec::new();
    for range in ranges {
        let parsed = match range {
            Value::Array(items) if items.len() >= 3 => match (&items[0], &items[1], &items[2]) {
                (Value::Int(start), Value::Int(end), Value::Array(master)) => match master.get(1) {
                    Some(Value::Int(port)) => Some((*start, *end, *port)),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        let (start, end, port) =
            parsed.ok_or_else(|| format!("unexpected CLUSTER SLOTS entry {range:?}"))?;
        let convert = |value: i64| {
            u16::try_from(value).map_err(|_| format!("out of range value {value} in {range:?}"))
        };
        map.push((convert(start)?, convert(end)?, convert(port)?));
    }
    map.sort_unstable();
    Ok(map)
}
