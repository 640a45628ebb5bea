//! Connections to standalone Redis, Sentinel and Cluster, behind one cloneable handle.
//!
//! [`RedisConn`] implements redis-rs's async `ConnectionLike`, so commands and scripts run the
//! same way on every topology. It reconnects by itself: standalone through redis-rs's
//! connection manager, Cluster through the cluster client, and Sentinel by asking the
//! sentinels for the current master again after a connection error or a `READONLY` reply
//! (which is what a demoted master answers after a failover).

pub(crate) mod options;
pub(crate) mod uri;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::try_join_all;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Pipeline,
    RedisConnectionInfo, RedisError, RedisFuture, RedisResult, ServerErrorKind, TlsCertificates,
    Value,
};
use tokio::sync::Mutex as AsyncMutex;

use self::options::{
    RedisAddr, RedisClientOpt, RedisClusterClientOpt, RedisConnOpt, RedisFailoverClientOpt,
    Timeouts, TlsConfig,
};
use super::keys::hash_tag;
use crate::error::{Error, Kind, Result};

/// The oldest Redis redisq works with: asynq's scripts need `ZRANGE … BYSCORE`.
const MIN_REDIS_VERSION: (u32, u32) = (6, 2);

/// A cloneable, self-reconnecting connection to one Redis deployment.
#[derive(Clone)]
pub(crate) struct RedisConn {
    inner: Inner,
    // Where it goes, for operators (never with credentials).
    label: Arc<str>,
    // How it was opened, to open another one to the same deployment.
    opt: Option<Arc<RedisConnOpt>>,
}

#[derive(Clone)]
enum Inner {
    Standalone(Arc<Standalone>),
    Cluster(ClusterConnection, Arc<[redis::Client]>),
    Sentinel(Arc<SentinelConn>),
}

impl fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConn")
            .field("topology", &self.topology())
            .field("label", &self.label)
            .finish()
    }
}

#[derive(Clone)]
struct Standalone {
    // Each slot holds a manager and its generation; a slot whose command timed out gets a
    // fresh manager (see `replace_after_timeout`).
    conns: Arc<[std::sync::RwLock<(u64, ConnectionManager)>]>,
    next: Arc<AtomicUsize>,
    // For dedicated connections (pub/sub) and replacement managers.
    client: Arc<redis::Client>,
    config: ConnectionManagerConfig,
}

impl Standalone {
    /// A connection to use: `(slot, generation, manager)`.
    fn pick(&self) -> (usize, u64, ConnectionManager) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        let (generation, manager) = &*self.conns[i]
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (i, *generation, manager.clone())
    }

    /// Replaces the manager of `slot` after a command on it timed out.
    ///
    /// The connection manager reconnects only when the connection reports itself closed; a
    /// half-open connection (a dead network path, a frozen proxy, a host that stopped
    /// answering) never does, and every later command would time out on it forever. A new
    /// manager connects afresh on its next command; commands still waiting on the old one
    /// finish or time out on their own. Only the generation that timed out is replaced, so
    /// concurrent timeouts open one new connection, not one each.
    fn replace_after_timeout(&self, slot: usize, generation: u64, e: &RedisError) {
        if !e.is_timeout() {
            return;
        }
        let Ok(fresh) =
            ConnectionManager::new_lazy_with_config((*self.client).clone(), self.config.clone())
        else {
            return;
        };
        let mut current = self.conns[slot]
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.0 == generation {
            *current = (generation + 1, fresh);
        }
    }
}

impl RedisConn {
    /// Connects and checks that the server is Redis 6.2 or newer.
    pub(crate) async fn connect(opt: &RedisConnOpt) -> Result<RedisConn> {
        let tls = match opt {
            RedisConnOpt::Standalone(o) => o.tls.is_some(),
            RedisConnOpt::Cluster(o) => o.tls.is_some(),
            RedisConnOpt::Sentinel(o) => o.tls.is_some(),
        };
        if tls {
            // rustls needs a process-wide crypto provider; keep one the application installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut conn = match opt {
            RedisConnOpt::Standalone(o) => connect_standalone(o).await?,
            RedisConnOpt::Cluster(o) => connect_cluster(o).await?,
            RedisConnOpt::Sentinel(o) => connect_sentinel(o).await?,
        };
        conn.check_version().await?;
        conn.opt = Some(Arc::new(opt.clone()));
        Ok(conn)
    }

    /// Opens a separate connection to the same deployment. Its I/O is driven by the runtime
    /// this is called on, which is the point: the server's heartbeat keeps its own
    /// connection on its own thread (see `server::heartbeat`).
    pub(crate) async fn reopen(&self) -> Result<RedisConn> {
        match &self.opt {
            Some(opt) => RedisConn::connect(opt).await,
            None => Ok(self.clone()),
        }
    }

    /// A separate connection for one blocking command at a time (`BLPOP`), which would hold
    /// up every other caller of a shared connection. Standalone servers get one socket
    /// instead of a pool.
    pub(crate) async fn reopen_dedicated(&self) -> Result<RedisConn> {
        match self.opt.as_deref() {
            Some(RedisConnOpt::Standalone(o)) => {
                let single = RedisConnOpt::Standalone(o.clone().pool_size(1));
                RedisConn::connect(&single).await
            }
            Some(opt) => RedisConn::connect(opt).await,
            None => Ok(self.clone()),
        }
    }

    /// How long a reply may take before the connection gives up on it (`None`: no limit).
    pub(crate) fn response_timeout(&self) -> Option<std::time::Duration> {
        match self.opt.as_deref() {
            Some(RedisConnOpt::Standalone(o)) => o.timeouts.response(),
            Some(RedisConnOpt::Cluster(o)) => o.timeouts.response(),
            Some(RedisConnOpt::Sentinel(o)) => o.timeouts.response(),
            None => None,
        }
    }

    /// A dedicated pub/sub connection (to the master for Sentinel, to a seed node for a
    /// Cluster, where published messages reach every node).
    pub(crate) async fn pubsub(&self) -> Result<redis::aio::PubSub> {
        let res = match &self.inner {
            Inner::Standalone(s) => s.client.get_async_pubsub().await,
            Inner::Sentinel(s) => {
                let client = s.client.lock().await.async_get_client().await;
                match client {
                    Ok(c) => c.get_async_pubsub().await,
                    Err(e) => Err(e),
                }
            }
            Inner::Cluster(_, nodes) => {
                let mut last = None;
                for c in nodes.iter() {
                    match c.get_async_pubsub().await {
                        Ok(p) => return Ok(p),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(missing_reply))
            }
        };
        res.map_err(|e| Error::redis("could not open a pub/sub connection", e))
    }

    /// `standalone`, `sentinel` or `cluster`.
    pub(crate) fn topology(&self) -> &'static str {
        match self.inner {
            Inner::Standalone(_) => "standalone",
            Inner::Sentinel(_) => "sentinel",
            Inner::Cluster(..) => "cluster",
        }
    }

    /// Where the connection goes (server address, or the Sentinel master's name).
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// True for a Redis Cluster, where a pipeline may only address one slot.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.inner, Inner::Cluster(..))
    }

    /// Checks every server answering `INFO` (each master of a Cluster) runs Redis ≥ 6.2.
    async fn check_version(&self) -> Result<()> {
        let mut conn = self.clone();
        let reply: Value = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(|e| Error::redis("could not read the Redis server version", e))?;
        // A Cluster answers with one INFO text per node.
        let texts: Vec<String> =
            match reply {
                Value::Map(nodes) => nodes
                    .into_iter()
                    .filter_map(|(_, v)| redis::from_redis_value(v).ok())
                    .collect(),
                other => vec![redis::from_redis_value(other).map_err(|e| {
                    Error::redis("could not read the Redis server version", e.into())
                })?],
            };
        for info in texts {
            let version = info
                .lines()
                .find_map(|l| l.strip_prefix("redis_version:"))
                .map(str::trim)
                .ok_or_else(|| {
                    Error::new(
                        Kind::UnsupportedServer,
                        "the server did not report a redis_version in INFO",
                    )
                })?;
            if !version_at_least(version, MIN_REDIS_VERSION) {
                return Err(Error::new(
                    Kind::UnsupportedServer,
                    format!(
                        "Redis {version} is too old: redisq needs Redis {}.{} or newer",
                        MIN_REDIS_VERSION.0, MIN_REDIS_VERSION.1
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Runs a pipeline of commands and returns each command's own result, in order.
    ///
    /// On a Cluster the commands are split by hash tag into one pipeline per slot group, sent
    /// concurrently. `EVALSHA` calls answered with NOSCRIPT get their script loaded and are run
    /// again; nothing else is retried, so a command is never applied twice.
    pub(crate) async fn pipeline(
        &self,
        cmds: Vec<Cmd>,
        scripts: &[&redis::Script],
    ) -> Result<Vec<RedisResult<Value>>> {
        let mut results = self.pipeline_once(&cmds).await?;
        let noscript: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                matches!(r, Err(e) if e.kind() == redis::ErrorKind::Server(ServerErrorKind::NoScript))
            })
            .map(|(i, _)| i)
            .collect();
        if noscript.is_empty() {
            return Ok(results);
        }
        let mut conn = self.clone();
        for s in scripts {
            s.load_async(&mut conn)
                .await
                .map_err(|e| Error::redis("could not load a Lua script", e))?;
        }
        let again: Vec<Cmd> = noscript.iter().map(|&i| cmds[i].clone()).collect();
        let retried = self.pipeline_once(&again).await?;
        for (i, r) in noscript.into_iter().zip(retried) {
            results[i] = r;
        }
        Ok(results)
    }

    async fn pipeline_once(&self, cmds: &[Cmd]) -> Result<Vec<RedisResult<Value>>> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        if !self.is_cluster() {
            return self.run_pipe(cmds.iter()).await;
        }
        // Group by slot-deciding hash tag, keeping each command's original position.
        let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, cmd) in cmds.iter().enumerate() {
            groups.entry(first_key_tag(cmd)).or_default().push(i);
        }
        let futures = groups.into_values().map(|idx| async move {
            let out = self.run_pipe(idx.iter().map(|&i| &cmds[i])).await?;
            Ok::<_, Error>((idx, out))
        });
        let mut results: Vec<Option<RedisResult<Value>>> = (0..cmds.len()).map(|_| None).collect();
        for (idx, out) in try_join_all(futures).await? {
            for (i, r) in idx.into_iter().zip(out) {
                results[i] = Some(r);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(missing_reply())))
            .collect())
    }

    async fn run_pipe<'a>(
        &self,
        cmds: impl Iterator<Item = &'a Cmd>,
    ) -> Result<Vec<RedisResult<Value>>> {
        let mut pipe = Pipeline::new();
        for c in cmds {
            pipe.add_command(c.clone());
        }
        pipe.ignore_errors();
        let mut conn = self.clone();
        let values: Vec<Value> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| Error::redis("pipeline failed", e))?;
        Ok(values
            .into_iter()
            .map(|v| match v {
                Value::ServerError(e) => Err(RedisError::from(e)),
                v => Ok(v),
            })
            .collect())
    }
}

fn missing_reply() -> RedisError {
    RedisError::from((redis::ErrorKind::Client, "no reply for a pipelined command"))
}

/// The hash tag of a command's first key: for `EVALSHA sha n key…` the first key, otherwise
/// the first argument after the command name.
fn first_key_tag(cmd: &Cmd) -> &str {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        redis::Arg::Simple(b) => Some(b),
        _ => None,
    });
    let name = args.next().unwrap_or_default();
    let key = if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL") {
        args.nth(2)
    } else {
        args.next()
    };
    key.and_then(|k| std::str::from_utf8(k).ok())
        .map(hash_tag)
        .unwrap_or("")
}

fn version_at_least(version: &str, min: (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= min
}

fn connection_addr(addr: &RedisAddr, tls: Option<&TlsConfig>) -> ConnectionAddr {
    match addr {
        RedisAddr::Tcp { host, port } => match tls {
            None => ConnectionAddr::Tcp(host.clone(), *port),
            Some(t) => ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure: t.insecure,
                tls_params: None,
            },
        },
        RedisAddr::Unix(path) => ConnectionAddr::Unix(path.clone()),
    }
}

fn redis_info(db: i64, username: Option<&str>, password: Option<&str>) -> RedisConnectionInfo {
    let mut info = RedisConnectionInfo::default().set_db(db);
    if let Some(u) = username {
        info = info.set_username(u);
    }
    if let Some(p) = password {
        info = info.set_password(p);
    }
    info
}

fn certificates(tls: &TlsConfig) -> TlsCertificates {
    TlsCertificates {
        client_tls: tls
            .client_cert_pem
            .as_ref()
            .map(|(cert, key)| redis::ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
        root_cert: tls.root_ca_pem.clone(),
    }
}

fn client_for(info: ConnectionInfo, tls: Option<&TlsConfig>) -> Result<redis::Client> {
    let res = match tls {
        Some(t) if t.root_ca_pem.is_some() || t.client_cert_pem.is_some() => {
            redis::Client::build_with_tls(info, certificates(t))
        }
        _ => redis::Client::open(info),
    };
    res.map_err(|e| Error::invalid_option("invalid Redis connection settings").with_source(e))
}

fn connect_error(what: &str, e: RedisError) -> Error {
    Error::redis(format!("could not connect to {what}"), e)
}

async fn connect_standalone(o: &RedisClientOpt) -> Result<RedisConn> {
    let info = connection_addr(&o.addr, o.tls.as_ref())
        .into_connection_info()
        .map_err(|e| Error::invalid_option("invalid Redis address").with_source(e))?
        .set_redis_settings(redis_info(
            o.db,
            o.username.as_deref(),
            o.password.as_deref(),
        ));
    let client = client_for(info, o.tls.as_ref())?;
    let config = manager_config(&o.timeouts);
    let n = o.pool_size.max(1);
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let m = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(|e| connect_error(&format!("Redis at {}", o.addr), e))?;
        conns.push(m);
    }
    Ok(RedisConn {
        inner: Inner::Standalone(Arc::new(Standalone {
            conns: conns
                .into_iter()
                .map(|m| std::sync::RwLock::new((0, m)))
                .collect(),
            next: Arc::new(AtomicUsize::new(0)),
            client: Arc::new(client),
            config,
        })),
        label: o.addr.to_string().into(),
        opt: None,
    })
}

fn manager_config(t: &Timeouts) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(t.dial))
        .set_response_timeout(t.response())
        // A few quick reconnect attempts per call; callers see an error if Redis stays away.
        .set_number_of_retries(2)
        .set_max_delay(std::time::Duration::from_millis(500))
}

fn async_config(t: &Timeouts) -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(t.dial))
        .set_response_timeout(t.response())
}

async fn connect_cluster(o: &RedisClusterClientOpt) -> Result<RedisConn> {
    if o.addrs.is_empty() {
        return Err(Error::invalid_option(
            "a Redis Cluster needs at least one seed address",
        ));
    }
    let nodes: Vec<ConnectionAddr> = o
        .addrs
        .iter()
        .map(|a| connection_addr(a, o.tls.as_ref()))
        .collect();
    let mut b = redis::cluster::ClusterClientBuilder::new(nodes)
        .retries(o.max_redirects)
        .connection_timeout(o.timeouts.dial);
    if let Some(r) = o.timeouts.response() {
        b = b.response_timeout(r);
    }
    if let Some(u) = &o.username {
        b = b.username(u);
    }
    if let Some(p) = &o.password {
        b = b.password(p);
    }
    if let Some(t) = &o.tls {
        b = b
            .tls(if t.insecure {
                redis::TlsMode::Insecure
            } else {
                redis::TlsMode::Secure
            })
            .certs(certificates(t));
    }
    let client = b
        .build()
        .map_err(|e| Error::invalid_option("invalid Redis Cluster settings").with_source(e))?;
    let conn = client
        .get_async_connection()
        .await
        .map_err(|e| connect_error("the Redis Cluster", e))?;
    // Pub/sub messages reach every node of a Cluster, so any seed node can carry a
    // subscription.
    let mut node_clients = Vec::with_capacity(o.addrs.len());
    for a in &o.addrs {
        let info = connection_addr(a, o.tls.as_ref())
            .into_connection_info()
            .map_err(|e| Error::invalid_option("invalid Redis address").with_source(e))?
            .set_redis_settings(redis_info(0, o.username.as_deref(), o.password.as_deref()));
        node_clients.push(client_for(info, o.tls.as_ref())?);
    }
    Ok(RedisConn {
        inner: Inner::Cluster(conn, node_clients.into()),
        label: "cluster".into(),
        opt: None,
    })
}

/// A connection to the master a group of sentinels points at, rediscovered on failure.
struct SentinelConn {
    client: AsyncMutex<SentinelClient>,
    config: AsyncConnectionConfig,
    master_name: String,
    current: std::sync::RwLock<Option<(u64, MultiplexedConnection)>>,
    generation: AtomicUsize,
}

impl SentinelConn {
    async fn get(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(c) = self.current_conn() {
            return Ok(c);
        }
        let mut client = self.client.lock().await;
        // Another caller may have reconnected while we waited for the lock.
        if let Some(c) = self.current_conn() {
            return Ok(c);
        }
        let conn = client
            .get_async_connection_with_config(&self.config)
            .await?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) as u64 + 1;
        if let Ok(mut cur) = self.current.write() {
            *cur = Some((generation, conn.clone()));
        }
        tracing::debug!(master = %self.master_name, "connected to the master found by Sentinel");
        Ok((generation, conn))
    }

    fn current_conn(&self) -> Option<(u64, MultiplexedConnection)> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// Forgets the connection of `generation` so the next call asks the sentinels again.
    fn invalidate(&self, generation: u64) {
        if let Ok(mut cur) = self.current.write()
            && cur.as_ref().is_some_and(|(g, _)| *g == generation)
        {
            *cur = None;
        }
    }
}

fn needs_rediscovery(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.kind() == redis::ErrorKind::Server(ServerErrorKind::ReadOnly)
}

fn is_readonly(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(ServerErrorKind::ReadOnly)
}

async fn connect_sentinel(o: &RedisFailoverClientOpt) -> Result<RedisConn> {
    if o.sentinel_addrs.is_empty() {
        return Err(Error::invalid_option(
            "Sentinel needs at least one sentinel address",
        ));
    }
    if o.master_name.trim().is_empty() {
        return Err(Error::invalid_option("Sentinel needs a master name"));
    }
    let sentinels: Vec<ConnectionAddr> = o
        .sentinel_addrs
        .iter()
        .map(|a| connection_addr(a, o.tls.as_ref()))
        .collect();
    let mut b = SentinelClientBuilder::new(sentinels, &o.master_name, SentinelServerType::Master)
        .map_err(|e| Error::invalid_option("invalid Sentinel settings").with_source(e))?
        .set_client_to_redis_db(o.db);
    if let Some(u) = &o.username {
        b = b.set_client_to_redis_username(u);
    }
    if let Some(p) = &o.password {
        b = b.set_client_to_redis_password(p);
    }
    if let Some(u) = &o.sentinel_username {
        b = b.set_client_to_sentinel_username(u);
    }
    if let Some(p) = &o.sentinel_password {
        b = b.set_client_to_sentinel_password(p);
    }
    if let Some(t) = &o.tls {
        let mode = if t.insecure {
            redis::TlsMode::Insecure
        } else {
            redis::TlsMode::Secure
        };
        b = b
            .set_client_to_redis_tls_mode(mode)
            .set_client_to_sentinel_tls_mode(mode)
            .set_client_to_redis_certificates(certificates(t))
            .set_client_to_sentinel_certificates(certificates(t));
    }
    let client = b
        .build()
        .map_err(|e| Error::invalid_option("invalid Sentinel settings").with_source(e))?;
    let conn = SentinelConn {
        client: AsyncMutex::new(client),
        config: async_config(&o.timeouts),
        master_name: o.master_name.clone(),
        current: std::sync::RwLock::new(None),
        generation: AtomicUsize::new(0),
    };
    conn.get().await.map_err(|e| {
        connect_error(
            &format!("the master {:?} through Sentinel", o.master_name),
            e,
        )
    })?;
    Ok(RedisConn {
        inner: Inner::Sentinel(Arc::new(conn)),
        label: format!("master {:?}", o.master_name).into(),
        opt: None,
    })
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.inner {
            Inner::Standalone(s) => {
                let s = s.clone();
                Box::pin(async move {
                    let (slot, generation, mut c) = s.pick();
                    let res = c.req_packed_command(cmd).await;
                    if let Err(e) = &res {
                        s.replace_after_timeout(slot, generation, e);
                    }
                    res
                })
            }
            Inner::Cluster(c, _) => c.req_packed_command(cmd),
            Inner::Sentinel(s) => {
                let s = s.clone();
                Box::pin(async move {
                    let (generation, mut c) = s.get().await?;
                    match c.req_packed_command(cmd).await {
                        // A server error can come back as a value (a script's READONLY
                        // does): a write that reached a demoted master.
                        Ok(Value::ServerError(e)) if e.code() == "READONLY" => {
                            s.invalidate(generation);
                            let (_, mut c) = s.get().await?;
                            c.req_packed_command(cmd).await
                        }
                        Err(e) if needs_rediscovery(&e) => {
                            s.invalidate(generation);
                            // A READONLY reply means nothing was applied: safe to try the
                            // new master once.
                            if is_readonly(&e) {
                                let (_, mut c) = s.get().await?;
                                return c.req_packed_command(cmd).await;
                            }
                            Err(e)
                        }
                        other => other,
                    }
                })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.inner {
            Inner::Standalone(s) => {
                let s = s.clone();
                Box::pin(async move {
                    let (slot, generation, mut c) = s.pick();
                    let res = c.req_packed_commands(pipeline, offset, count).await;
                    if let Err(e) = &res {
                        s.replace_after_timeout(slot, generation, e);
                    }
                    res
                })
            }
            Inner::Cluster(c, _) => c.req_packed_commands(pipeline, offset, count),
            Inner::Sentinel(s) => {
                let s = s.clone();
                Box::pin(async move {
                    let (generation, mut c) = s.get().await?;
                    let res = c.req_packed_commands(pipeline, offset, count).await;
                    if let Err(e) = &res
                        && needs_rediscovery(e)
                    {
                        s.invalidate(generation);
                    }
                    // A pipeline with a READONLY reply inside comes back Ok; the caller's
                    // per-command errors show it, and the next call rediscovers.
                    if let Ok(values) = &res {
                        let readonly = values
                            .iter()
                            .any(|v| matches!(v, Value::ServerError(e) if e.code() == "READONLY"));
                        if readonly {
                            s.invalidate(generation);
                        }
                    }
                    res
                })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Standalone(s) => s.pick().2.get_db(),
            Inner::Cluster(c, _) => c.get_db(),
            Inner::Sentinel(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(version_at_least("6.2.0", (6, 2)));
        assert!(version_at_least("7.0.15", (6, 2)));
        assert!(version_at_least("10.0.0", (6, 2)));
        assert!(!version_at_least("6.0.16", (6, 2)));
        assert!(!version_at_least("5.0.7", (6, 2)));
        assert!(!version_at_least("garbage", (6, 2)));
    }

    #[test]
    fn key_tags_of_commands() {
        let mut c = redis::cmd("EVALSHA");
        c.arg("abc")
            .arg(2)
            .arg("asynq:{q1}:t:1")
            .arg("asynq:{q1}:pending");
        assert_eq!(first_key_tag(&c), "q1");
        let mut c = redis::cmd("SADD");
        c.arg("asynq:queues").arg("q1");
        assert_eq!(first_key_tag(&c), "asynq:queues");
    }
}
