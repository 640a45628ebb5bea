//! The global connection flags and how they become a Redis connection.
//!
//! Two ways to say where Redis is, as in the asynq tools:
//!
//! - `--redis URL` (or the `REDISQ_URL` environment variable): any URI
//!   [`redisq::parse_redis_uri`] accepts: `redis://`, `rediss://` (TLS), `redis-socket://`
//!   (unix socket) and `redis-sentinel://`.
//! - asynq's flags: `-u/--uri host:port` (default `127.0.0.1:6379`), `-n/--db`,
//!   `-p/--password`, `-U/--username`, `--cluster` with `--cluster_addrs a,b,c`, `--tls` and
//!   `--tls_server NAME`.
//!
//! `--redis` and asynq's address flags exclude each other. `REDISQ_URL` is used only when none
//! of them is given, so flags on the command line always win over the environment.
//! `--tls_ca PEM_FILE` and `--insecure` refine TLS set up either way.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use redisq::{
    Client, Inspector, Namespace, RedisAddr, RedisClientOpt, RedisClusterClientOpt, RedisConnOpt,
    TlsConfig, parse_redis_uri,
};

use crate::error::{CliError, CliResult, Exit, one_line};

/// The environment variable holding a Redis URL.
pub(crate) const URL_ENV: &str = "REDISQ_URL";
/// The server asynq's `-u` defaults to.
const DEFAULT_ADDR: &str = "127.0.0.1:6379";
/// The nodes asynq's `--cluster_addrs` defaults to.
const DEFAULT_CLUSTER_ADDRS: &str =
    "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005";
/// How long connecting may take before the command gives up.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where Redis is. These flags are accepted before or after the command.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Connection")]
pub(crate) struct ConnArgs {
    /// Redis URL: redis://[user:password@]host[:port][/db], rediss://… (TLS),
    /// redis-socket:///path/to.sock[?db=N] or
    /// redis-sentinel://host:port[,host:port…][/db]?master=NAME. When neither this nor an
    /// address flag is given, the REDISQ_URL environment variable is used
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) redis: Option<String>,

    /// Redis server address, host:port (asynq's flag) [default: 127.0.0.1:6379]
    #[arg(short = 'u', long = "uri", global = true, value_name = "HOST:PORT")]
    pub(crate) uri: Option<String>,

    /// Redis database number [default: 0]
    #[arg(short = 'n', long = "db", global = true, value_name = "N",
          value_parser = clap::value_parser!(i64).range(0..))]
    pub(crate) db: Option<i64>,

    /// Redis password
    #[arg(short = 'p', long, global = true, value_name = "PASSWORD")]
    pub(crate) password: Option<String>,

    /// Redis ACL user name
    #[arg(short = 'U', long, global = true, value_name = "NAME")]
    pub(crate) username: Option<String>,

    /// Connect to a Redis Cluster (nodes from --cluster_addrs)
    #[arg(long, global = true)]
    pub(crate) cluster: bool,

    /// Cluster seed nodes, comma-separated
    /// [default: 127.0.0.1:7000,…,127.0.0.1:7005]
    #[arg(
        long = "cluster_addrs",
        alias = "cluster-addrs",
        global = true,
        value_delimiter = ',',
        value_name = "HOST:PORT,…",
        requires = "cluster"
    )]
    pub(crate) cluster_addrs: Vec<String>,

    /// Connect with TLS (verified against the system roots, or --tls_ca)
    #[arg(long, global = true)]
    pub(crate) tls: bool,

    /// Server name the TLS certificate must match (with --tls); redisq checks the certificate
    /// against the host it connects to, so this must equal the host of -u / --cluster_addrs
    #[arg(
        long = "tls_server",
        alias = "tls-server",
        global = true,
        value_name = "NAME",
        requires = "tls"
    )]
    pub(crate) tls_server: Option<String>,

    /// Do not verify the TLS certificate (tests and trusted networks only)
    #[arg(long, global = true)]
    pub(crate) insecure: bool,

    /// Trust the CA certificates of this PEM file instead of the system roots (with --tls or
    /// a rediss:// URL)
    #[arg(
        long = "tls_ca",
        alias = "tls-ca",
        global = true,
        value_name = "PEM_FILE"
    )]
    pub(crate) tls_ca: Option<PathBuf>,

    /// Key namespace of the queues (asynq's is `asynq`)
    #[arg(long, global = true, value_name = "NS", default_value = redisq::DEFAULT_NAMESPACE)]
    pub(crate) namespace: String,
}

impl ConnArgs {
    /// The asynq-style address flags given, by name (for error messages).
    fn address_flags(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let given = [
            (self.uri.is_some(), "-u/--uri"),
            (self.db.is_some(), "-n/--db"),
            (self.password.is_some(), "-p/--password"),
            (self.username.is_some(), "-U/--username"),
            (self.cluster, "--cluster"),
            (!self.cluster_addrs.is_empty(), "--cluster_addrs"),
            (self.tls, "--tls"),
            (self.tls_server.is_some(), "--tls_server"),
        ];
        for (yes, name) in given {
            if yes {
                out.push(name);
            }
        }
        out
    }

    /// Whether any connection flag other than `--redis` was given (`redisq bench` takes only
    /// `--redis`).
    pub(crate) fn has_non_url_flags(&self) -> bool {
        !self.address_flags().is_empty()
            || self.tls_ca.is_some()
            || self.insecure
            || self.namespace != redisq::DEFAULT_NAMESPACE
    }

    /// Works out the connection settings, reading `REDISQ_URL` when no flag says where Redis
    /// is. Errors are usage errors (exit code 2).
    pub(crate) fn resolve(&self) -> CliResult<Conn> {
        let env = std::env::var(URL_ENV).ok().filter(|v| !v.trim().is_empty());
        self.resolve_with_env(env.as_deref())
    }

    fn resolve_with_env(&self, env_url: Option<&str>) -> CliResult<Conn> {
        let flags = self.address_flags();
        let mut opt = match (&self.redis, env_url) {
            (Some(url), _) => {
                if !flags.is_empty() {
                    return Err(CliError::usage(format!(
                        "--redis cannot be combined with {}: put the user, password, database \
                         and TLS into the URL (e.g. rediss://user:pass@host:6380/2), or drop \
                         --redis",
                        flags.join(", ")
                    )));
                }
                parse_url(url, "--redis")?
            }
            (None, Some(url)) if flags.is_empty() => parse_url(url, URL_ENV)?,
            _ => self.build_from_flags()?,
        };
        self.apply_tls_extras(&mut opt)?;
        let namespace = Namespace::new(self.namespace.clone()).map_err(|_| {
            CliError::usage(format!(
                "invalid --namespace {:?}: it must be non-empty and contain no braces",
                self.namespace
            ))
        })?;
        Ok(Conn {
            describe: describe(&opt),
            opt,
            namespace,
        })
    }

    /// Settings from asynq's flags.
    fn build_from_flags(&self) -> CliResult<RedisConnOpt> {
        let tls = self.tls.then(TlsConfig::new);
        if self.cluster {
            if self.uri.is_some() {
                return Err(CliError::usage(
                    "-u/--uri does not apply with --cluster; list the nodes with \
                     --cluster_addrs host:port,host:port",
                ));
            }
            if self.db.is_some_and(|db| db != 0) {
                return Err(CliError::usage(
                    "-n/--db does not apply to a Redis Cluster: it only has database 0",
                ));
            }
            let list: Vec<String> = if self.cluster_addrs.is_empty() {
                DEFAULT_CLUSTER_ADDRS
                    .split(',')
                    .map(str::to_string)
                    .collect()
            } else {
                self.cluster_addrs.clone()
            };
            let mut addrs = Vec::new();
            for a in list.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
                let (host, port) = host_port(a, "--cluster_addrs")?;
                self.check_tls_server(&host)?;
                addrs.push(RedisAddr::tcp(host, port));
            }
            if addrs.is_empty() {
                return Err(CliError::usage(
                    "--cluster_addrs is empty; give at least one node as host:port",
                ));
            }
            // The parsed addresses are used as they are: printing them as `host:port` for
            // `RedisClusterClientOpt::new` to split again would mangle a host such as `[x`.
            let mut o = RedisClusterClientOpt::new(std::iter::empty::<&str>())
                .dial_timeout(DIAL_TIMEOUT)
                .read_timeout(Some(REPLY_TIMEOUT));
            o.addrs = addrs;
            if let Some(u) = &self.username {
                o = o.username(u);
            }
            if let Some(p) = &self.password {
                o = o.password(p);
            }
            if let Some(t) = tls {
                o = o.tls(t);
            }
            return Ok(o.into());
        }
        let uri = self.uri.as_deref().unwrap_or(DEFAULT_ADDR);
        if uri.contains("://") {
            return Err(CliError::usage(format!(
                "-u/--uri takes host:port, not a URL; pass URLs with --redis {uri}"
            )));
        }
        let (host, port) = host_port(uri, "-u/--uri")?;
        self.check_tls_server(&host)?;
        let mut o = RedisClientOpt::with_addr(RedisAddr::tcp(host, port))
            .db(self.db.unwrap_or(0))
            .dial_timeout(DIAL_TIMEOUT)
            .read_timeout(Some(REPLY_TIMEOUT));
        if let Some(u) = &self.username {
            o = o.username(u);
        }
        if let Some(p) = &self.password {
            o = o.password(p);
        }
        if let Some(t) = tls {
            o = o.tls(t);
        }
        Ok(o.into())
    }

    fn check_tls_server(&self, host: &str) -> CliResult<()> {
        match &self.tls_server {
            Some(name) if !name.eq_ignore_ascii_case(host) => Err(CliError::usage(format!(
                "--tls_server {name:?} differs from the host {host:?}: redisq checks the \
                 certificate against the host it connects to, so connect with -u {name}:PORT \
                 (or --cluster_addrs) instead, or drop --tls_server"
            ))),
            _ => Ok(()),
        }
    }

    /// Applies `--tls_ca` and `--insecure` to TLS set up by a URL or by `--tls`.
    fn apply_tls_extras(&self, opt: &mut RedisConnOpt) -> CliResult<()> {
        if self.tls_ca.is_none() && !self.insecure {
            return Ok(());
        }
        let flag = if self.tls_ca.is_some() {
            "--tls_ca"
        } else {
            "--insecure"
        };
        let tls = match opt {
            RedisConnOpt::Standalone(o) => o.tls.as_mut(),
            RedisConnOpt::Cluster(o) => o.tls.as_mut(),
            RedisConnOpt::Sentinel(o) => o.tls.as_mut(),
            _ => None,
        };
        let Some(tls) = tls else {
            return Err(CliError::usage(format!(
                "{flag} needs a TLS connection: use a rediss:// URL or add --tls"
            )));
        };
        if let Some(path) = &self.tls_ca {
            let pem = std::fs::read(path).map_err(|e| {
                CliError::usage(format!(
                    "cannot read the --tls_ca file {}: {e}",
                    path.display()
                ))
            })?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(CliError::usage(format!(
                    "the --tls_ca file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                )));
            }
            tls.root_ca_pem = Some(pem);
        }
        if self.insecure {
            tls.insecure = true;
        }
        Ok(())
    }
}

fn parse_url(url: &str, from: &str) -> CliResult<RedisConnOpt> {
    let mut opt = parse_redis_uri(url.trim()).map_err(|e| {
        CliError::usage(format!(
            "invalid {from} URL: {}; expected e.g. redis://localhost:6379/0",
            one_line(&e.to_string())
        ))
    })?;
    // Give up sooner than the library's defaults would on a dead server.
    match &mut opt {
        RedisConnOpt::Standalone(o) => o.timeouts.dial = DIAL_TIMEOUT,
        RedisConnOpt::Sentinel(o) => o.timeouts.dial = DIAL_TIMEOUT,
        RedisConnOpt::Cluster(o) => o.timeouts.dial = DIAL_TIMEOUT,
        _ => {}
    }
    Ok(opt)
}

/// Splits `host:port`, `host` (port 6379) or `[v6]:port`.
fn host_port(s: &str, flag: &str) -> CliResult<(String, u16)> {
    let bad = |why: &str| {
        CliError::usage(format!(
            "invalid {flag} address {s:?}: {why}; expected host:port, e.g. 127.0.0.1:6379"
        ))
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(bad("unexpected text after ']'")),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(bad("put IPv6 addresses in brackets, e.g. [::1]:6379"));
            }
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port = match port {
        None => 6379,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
    };
    Ok((host.to_string(), port))
}

/// Where a connection goes, for messages (never with credentials).
fn describe(opt: &RedisConnOpt) -> String {
    match opt {
        RedisConnOpt::Standalone(o) => {
            let tls = if o.tls.is_some() { " (TLS)" } else { "" };
            format!("Redis at {}{tls}", o.addr)
        }
        RedisConnOpt::Cluster(o) => {
            let addrs: Vec<String> = o.addrs.iter().map(ToString::to_string).collect();
            format!("the Redis Cluster at {}", addrs.join(","))
        }
        RedisConnOpt::Sentinel(o) => {
            let addrs: Vec<String> = o.sentinel_addrs.iter().map(ToString::to_string).collect();
            format!(
                "the master {:?} of the sentinels at {}",
                o.master_name,
                addrs.join(",")
            )
        }
        _ => "Redis".to_string(),
    }
}

/// Resolved connection settings.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    pub(crate) opt: RedisConnOpt,
    pub(crate) namespace: Namespace,
    describe: String,
}

impl Conn {
    /// Maps a connection failure to exit code 4 (or 2 for settings Redis rejected before
    /// any network traffic).
    fn connect_error(&self, e: &redisq::Error) -> CliError {
        let text = one_line(&e.to_string());
        if e.is_invalid_option() || e.is_invalid_uri() {
            return CliError::usage(format!("invalid connection settings: {text}"));
        }
        if e.is_unsupported_server() {
            return CliError::new(
                Exit::Connection,
                format!("cannot use {}: {text}", self.describe),
            );
        }
        // The library's connect errors already name the address.
        let what = if text.starts_with("could not connect") {
            text
        } else {
            format!("cannot connect to {}: {text}", self.describe)
        };
        let lower = what.to_ascii_lowercase();
        let hint = if lower.contains("certificate") || lower.contains("tls") {
            "trust the server's CA with --tls_ca PEM_FILE (or skip verification with --insecure, \
             for tests only)"
                .to_string()
        } else if ["wrongpass", "noauth", "auth", "password", "noperm"]
            .iter()
            .any(|w| lower.contains(w))
        {
            "check the credentials (-U/--username and -p/--password, or user:password@ in the URL)"
                .to_string()
        } else {
            format!(
                "check that Redis is running there, or point redisq elsewhere with --redis URL, \
                 -u host:port or {URL_ENV}"
            )
        };
        CliError::new(Exit::Connection, format!("{what}; {hint}"))
    }

    /// Connects an Inspector.
    pub(crate) async fn inspector(&self) -> CliResult<Inspector> {
        Inspector::connect_with_namespace(self.opt.clone(), self.namespace.clone())
            .await
            .map_err(|e| self.connect_error(&e))
    }

    /// Connects a Client.
    pub(crate) async fn client(&self) -> CliResult<Client> {
        Client::builder(self.opt.clone())
            .namespace(self.namespace.clone())
            .connect()
            .await
            .map_err(|e| self.connect_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ConnArgs {
        ConnArgs {
            namespace: "asynq".into(),
            ..ConnArgs::default()
        }
    }

    fn standalone(c: &Conn) -> &RedisClientOpt {
        match &c.opt {
            RedisConnOpt::Standalone(o) => o,
            other => panic!("expected standalone, got {other:?}"),
        }
    }

    #[test]
    fn defaults_to_local_redis() {
        let c = args().resolve_with_env(None).unwrap();
        let o = standalone(&c);
        assert_eq!(o.addr, RedisAddr::tcp("127.0.0.1", 6379));
        assert_eq!(o.db, 0);
        assert!(o.tls.is_none());
    }

    #[test]
    fn asynq_flags_build_the_options() {
        let a = ConnArgs {
            uri: Some("redis.example:6380".into()),
            db: Some(3),
            password: Some("pw".into()),
            username: Some("me".into()),
            tls: true,
            tls_server: Some("REDIS.example".into()),
            ..args()
        };
        let c = a.resolve_with_env(Some("redis://ignored:1")).unwrap();
        let o = standalone(&c);
        assert_eq!(o.addr, RedisAddr::tcp("redis.example", 6380));
        assert_eq!((o.db, o.password.as_deref()), (3, Some("pw")));
        assert_eq!(o.username.as_deref(), Some("me"));
        assert!(o.tls.is_some());
    }

    #[test]
    fn url_and_env() {
        let a = ConnArgs {
            redis: Some("redis://h:1/2".into()),
            ..args()
        };
        let c = a.resolve_with_env(Some("redis://env:9")).unwrap();
        assert_eq!(standalone(&c).addr, RedisAddr::tcp("h", 1));
        let c = args().resolve_with_env(Some("redis://env:9/4")).unwrap();
        assert_eq!(standalone(&c).addr, RedisAddr::tcp("env", 9));
        assert_eq!(standalone(&c).db, 4);
        let err = args().resolve_with_env(Some("http://x")).unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(err.message.contains("REDISQ_URL"), "{}", err.message);
    }

    #[test]
    fn conflicts_are_usage_errors() {
        let cases = [
            ConnArgs {
                redis: Some("redis://h".into()),
                uri: Some("h:1".into()),
                ..args()
            },
            ConnArgs {
                redis: Some("http://x".into()),
                ..args()
            },
            ConnArgs {
                cluster: true,
                uri: Some("h:1".into()),
                ..args()
            },
            ConnArgs {
                cluster: true,
                db: Some(2),
                ..args()
            },
            ConnArgs {
                uri: Some("redis://h:1".into()),
                ..args()
            },
            ConnArgs {
                uri: Some("h:notaport".into()),
                ..args()
            },
            ConnArgs {
                insecure: true,
                ..args()
            },
            ConnArgs {
                tls: true,
                uri: Some("10.0.0.1:6379".into()),
                tls_server: Some("redis.example".into()),
                ..args()
            },
            ConnArgs {
                namespace: "a{b}".into(),
                ..args()
            },
        ];
        for a in cases {
            let err = a.resolve_with_env(None).unwrap_err();
            assert_eq!(err.exit, Exit::Usage, "{a:?}: {}", err.message);
        }
    }

    #[test]
    fn cluster_flags() {
        let a = ConnArgs {
            cluster: true,
            cluster_addrs: vec!["127.0.0.1:7000".into(), " 127.0.0.1:7001".into()],
            password: Some("pw".into()),
            ..args()
        };
        let c = a.resolve_with_env(None).unwrap();
        let RedisConnOpt::Cluster(o) = &c.opt else {
            panic!("expected a cluster")
        };
        assert_eq!(o.addrs.len(), 2);
        assert_eq!(o.password.as_deref(), Some("pw"));
        let c = ConnArgs {
            cluster: true,
            ..args()
        }
        .resolve_with_env(None)
        .unwrap();
        let RedisConnOpt::Cluster(o) = &c.opt else {
            panic!("expected a cluster")
        };
        assert_eq!(o.addrs.len(), 6);
    }

    /// Found by `addresses_resolve_to_what_was_given`: the node `[[x]:1` (host `[x`, port 1)
    /// was printed as `[x:1` and split again into host `[x:1`, port 6379.
    #[test]
    fn cluster_node_with_a_bracket_keeps_its_host_and_port() {
        let a = ConnArgs {
            cluster: true,
            cluster_addrs: vec!["[[x]:1".into(), "[::1]:7000".into()],
            ..args()
        };
        let c = a.resolve_with_env(None).unwrap();
        let RedisConnOpt::Cluster(o) = &c.opt else {
            panic!("expected a cluster")
        };
        assert_eq!(
            o.addrs,
            vec![RedisAddr::tcp("[x", 1), RedisAddr::tcp("::1", 7000)]
        );
    }

    #[test]
    fn host_ports() {
        assert_eq!(host_port("h", "-u").unwrap(), ("h".into(), 6379));
        assert_eq!(host_port("[::1]:7", "-u").unwrap(), ("::1".into(), 7));
        assert!(host_port("::1:7", "-u").is_err());
        assert!(host_port(":7", "-u").is_err());
        assert!(host_port("h:0", "-u").is_err());
    }
}

#[cfg(test)]
#[path = "conn_prop_tests.rs"]
mod prop_tests;
