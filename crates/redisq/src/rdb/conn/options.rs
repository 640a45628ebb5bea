//! Connection settings for the three Redis topologies redisq supports.
//!
//! These mirror asynq's `RedisClientOpt`, `RedisFailoverClientOpt` and
//! `RedisClusterClientOpt`, as `#[non_exhaustive]` structs with builder methods so that new
//! settings can be added without breaking callers.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Default time allowed to establish a connection.
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time allowed for a reply (and for a write) before a command fails.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(3);
/// Default number of redirects a Cluster command may follow.
pub const DEFAULT_MAX_REDIRECTS: u32 = 8;

/// Where a Redis server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisAddr {
    /// A TCP address: host name or IP and port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A unix domain socket.
    Unix(PathBuf),
}

impl RedisAddr {
    /// A TCP address.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        RedisAddr::Tcp {
            host: host.into(),
            port,
        }
    }

    /// A unix domain socket path.
    pub fn unix(path: impl Into<PathBuf>) -> Self {
        RedisAddr::Unix(path.into())
    }
}

impl fmt::Display for RedisAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisAddr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            RedisAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            RedisAddr::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// TLS settings. TLS is used when a connection option carries one of these.
///
/// By default the server certificate is checked against the system's trusted roots and the
/// host name of the address. Certificates are PEM-encoded.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsConfig {
    /// PEM bundle of CA certificates to trust instead of the system roots.
    pub root_ca_pem: Option<Vec<u8>>,
    /// PEM client certificate and key, for servers that require client authentication.
    pub client_cert_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// Skip certificate verification. Only for tests and trusted networks.
    pub insecure: bool,
}

impl TlsConfig {
    /// TLS verified against the system's trusted roots.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust these PEM-encoded CA certificates instead of the system roots.
    pub fn root_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_ca_pem = Some(pem.into());
        self
    }

    /// Present this PEM certificate and key to the server.
    pub fn client_cert_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.client_cert_pem = Some((cert.into(), key.into()));
        self
    }

    /// Accept any server certificate (no verification).
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("root_ca_pem", &self.root_ca_pem.as_ref().map(|_| "<pem>"))
            .field(
                "client_cert_pem",
                &self.client_cert_pem.as_ref().map(|_| "<redacted>"),
            )
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// Settings shared by every topology: timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Time allowed to establish a connection (default 5 s).
    pub dial: Duration,
    /// Time allowed for a reply; `None` waits forever (default 3 s).
    pub read: Option<Duration>,
    /// Time allowed for a write; `None` waits forever (default: the read timeout).
    ///
    /// The driver sends and awaits each command as one operation, so the effective limit for a
    /// command is the larger of the read and write timeouts.
    pub write: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            dial: DEFAULT_DIAL_TIMEOUT,
            read: Some(DEFAULT_READ_TIMEOUT),
            write: Some(DEFAULT_READ_TIMEOUT),
        }
    }
}

impl Timeouts {
    /// The limit applied to one command round trip.
    pub(crate) fn response(&self) -> Option<Duration> {
        match (self.read, self.write) {
            (Some(r), Some(w)) => Some(r.max(w)),
            _ => None,
        }
    }
}

macro_rules! timeout_setters {
    () => {
        /// Time allowed to establish a connection.
        pub fn dial_timeout(mut self, timeout: Duration) -> Self {
            self.timeouts.dial = timeout;
            self
        }

        /// Time allowed for a reply; `None` waits forever. Also sets the write timeout unless
        /// one was set explicitly before.
        pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
            if self.timeouts.write == self.timeouts.read {
                self.timeouts.write = timeout;
            }
            self.timeouts.read = timeout;
            self
        }

        /// Time allowed for a write; `None` waits forever.
        pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
            self.timeouts.write = timeout;
            self
        }
    };
}

/// A single Redis server, over TCP or a unix socket (asynq's `RedisClientOpt`).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisClientOpt {
    /// Server address.
    pub addr: RedisAddr,
    /// ACL user name (Redis 6+); `None` uses the default user.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Database number to select.
    pub db: i64,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// Number of multiplexed connections commands are spread over (default 1; one multiplexed
    /// connection already pipelines concurrent commands).
    pub pool_size: usize,
    /// TLS settings; `None` means plain TCP.
    pub tls: Option<TlsConfig>,
}

impl RedisClientOpt {
    /// A server at `host:port` (TCP), e.g. `"127.0.0.1:6379"`. A missing port means 6379.
    ///
    /// For anything that may be malformed use [`crate::parse_redis_uri`], which reports errors.
    pub fn new(addr: &str) -> Self {
        let (host, port) = split_host_port(addr).unwrap_or_else(|| (addr.to_string(), 6379));
        Self::with_addr(RedisAddr::tcp(host, port))
    }

    /// A server listening on a unix socket.
    pub fn unix(path: impl Into<PathBuf>) -> Self {
        Self::with_addr(RedisAddr::unix(path))
    }

    /// A server at the given address.
    pub fn with_addr(addr: RedisAddr) -> Self {
        RedisClientOpt {
            addr,
            username: None,
            password: None,
            db: 0,
            timeouts: Timeouts::default(),
            pool_size: 1,
            tls: None,
        }
    }

    /// ACL user name.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Database number.
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// Number of multiplexed connections.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// Use TLS.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    timeout_setters!();
}

impl fmt::Debug for RedisClientOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisClientOpt")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("timeouts", &self.timeouts)
            .field("pool_size", &self.pool_size)
            .field("tls", &self.tls)
            .finish()
    }
}

/// A master found through Redis Sentinel (asynq's `RedisFailoverClientOpt`).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisFailoverClientOpt {
    /// Name of the master the sentinels monitor.
    pub master_name: String,
    /// Sentinel addresses (`host:port`).
    pub sentinel_addrs: Vec<RedisAddr>,
    /// ACL user name for the sentinels.
    pub sentinel_username: Option<String>,
    /// Password for the sentinels.
    pub sentinel_password: Option<String>,
    /// ACL user name for the master.
    pub username: Option<String>,
    /// Password for the master.
    pub password: Option<String>,
    /// Database number on the master.
    pub db: i64,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// Number of multiplexed connections to the master.
    pub pool_size: usize,
    /// TLS settings for both sentinels and master; `None` means plain TCP.
    pub tls: Option<TlsConfig>,
}

impl RedisFailoverClientOpt {
    /// The master `master_name`, discovered through the given sentinels (`host:port` each).
    pub fn new<I, S>(master_name: impl Into<String>, sentinel_addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let sentinel_addrs = sentinel_addrs
            .into_iter()
            .map(|a| {
                let a = a.as_ref();
                let (host, port) = split_host_port(a).unwrap_or_else(|| (a.to_string(), 26379));
                RedisAddr::tcp(host, port)
            })
            .collect();
        RedisFailoverClientOpt {
            master_name: master_name.into(),
            sentinel_addrs,
            sentinel_username: None,
            sentinel_password: None,
            username: None,
            password: None,
            db: 0,
            timeouts: Timeouts::default(),
            pool_size: 1,
            tls: None,
        }
    }

    /// ACL user name for the sentinels.
    pub fn sentinel_username(mut self, username: impl Into<String>) -> Self {
        self.sentinel_username = Some(username.into());
        self
    }

    /// Password for the sentinels.
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Self {
        self.sentinel_password = Some(password.into());
        self
    }

    /// ACL user name for the master.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Password for the master.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Database number.
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// Number of multiplexed connections.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// Use TLS for sentinels and master.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    timeout_setters!();
}

impl fmt::Debug for RedisFailoverClientOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisFailoverClientOpt")
            .field("master_name", &self.master_name)
            .field("sentinel_addrs", &self.sentinel_addrs)
            .field("sentinel_username", &self.sentinel_username)
            .field(
                "sentinel_password",
                &self.sentinel_password.as_ref().map(|_| "<redacted>"),
            )
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("timeouts", &self.timeouts)
            .field("pool_size", &self.pool_size)
            .field("tls", &self.tls)
            .finish()
    }
}

/// A Redis Cluster (asynq's `RedisClusterClientOpt`).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisClusterClientOpt {
    /// Seed addresses of cluster nodes (`host:port`).
    pub addrs: Vec<RedisAddr>,
    /// How many MOVED/ASK redirects or retries one command may take (default 8).
    pub max_redirects: u32,
    /// ACL user name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// TLS settings; `None` means plain TCP.
    pub tls: Option<TlsConfig>,
}

impl RedisClusterClientOpt {
    /// A cluster reachable through these seed nodes (`host:port` each).
    pub fn new<I, S>(addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let addrs = addrs
            .into_iter()
            .map(|a| {
                let a = a.as_ref();
                let (host, port) = split_host_port(a).unwrap_or_else(|| (a.to_string(), 6379));
                RedisAddr::tcp(host, port)
            })
            .collect();
        RedisClusterClientOpt {
            addrs,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            username: None,
            password: None,
            timeouts: Timeouts::default(),
            tls: None,
        }
    }

    /// Maximum redirects per command.
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = n;
        self
    }

    /// ACL user name.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Use TLS.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    timeout_setters!();
}

impl fmt::Debug for RedisClusterClientOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisClusterClientOpt")
            .field("addrs", &self.addrs)
            .field("max_redirects", &self.max_redirects)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeouts", &self.timeouts)
            .field("tls", &self.tls)
            .finish()
    }
}

/// How to reach Redis: one of the three topologies (asynq's `RedisConnOpt`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisConnOpt {
    /// A single server.
    Standalone(RedisClientOpt),
    /// A master behind Redis Sentinel.
    Sentinel(RedisFailoverClientOpt),
    /// A Redis Cluster.
    Cluster(RedisClusterClientOpt),
}

impl From<RedisClientOpt> for RedisConnOpt {
    fn from(opt: RedisClientOpt) -> Self {
        RedisConnOpt::Standalone(opt)
    }
}

impl From<RedisFailoverClientOpt> for RedisConnOpt {
    fn from(opt: RedisFailoverClientOpt) -> Self {
        RedisConnOpt::Sentinel(opt)
    }
}

impl From<RedisClusterClientOpt> for RedisConnOpt {
    fn from(opt: RedisClusterClientOpt) -> Self {
        RedisConnOpt::Cluster(opt)
    }
}

/// Splits `host:port` or `[v6]:port`; `None` when there is no valid port.
pub(crate) fn split_host_port(addr: &str) -> Option<(String, u16)> {
    if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?.parse().ok()?;
        return Some((host.to_string(), port));
    }
    let (host, port) = addr.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host.to_string(), port.parse().ok()?))
}
