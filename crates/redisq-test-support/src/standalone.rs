//! A standalone throwaway Redis server.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use redis::aio::MultiplexedConnection;
use tempfile::TempDir;

use crate::process::{self, Endpoint, Node, NodeConfig, PortKind, arg};
use crate::tls::TlsFiles;
use crate::{make_temp_dir, percent_encode};

/// A throwaway standalone `redis-server` on a free loopback port.
///
/// The server runs in its own temporary directory with persistence disabled
/// (`--save "" --appendonly no`). Dropping the value kills the process (even
/// when the test panics), reaps it and removes the directory.
///
/// ```no_run
/// # async fn demo() {
/// use redis::AsyncCommands;
///
/// let server = redisq_test_support::RedisServer::start();
/// let mut conn = server.connection().await;
/// let _: () = conn.set("key", "value").await.unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct RedisServer {
    node: Node,
    password: Option<String>,
    tls: Option<TlsFiles>,
    unix_socket: Option<PathBuf>,
    append_only: Option<AppendFsync>,
    // Declared last: removed only after the process is gone.
    dir: TempDir,
}

/// Configures a [`RedisServer`] before starting it; see
/// [`RedisServer::builder`].
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `.start()` is called"]
pub struct RedisServerBuilder {
    password: Option<String>,
    acl_users: Vec<(String, String)>,
    tls: bool,
    unix_socket: bool,
    append_only: Option<AppendFsync>,
    extra_args: Vec<String>,
}

/// How often an append-only server fsyncs its AOF (`appendfsync`); see
/// [`RedisServerBuilder::append_only`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppendFsync {
    /// After every write command: an acknowledged write survives a crash.
    Always,
    /// Once a second: a crash (SIGKILL) may lose the writes of about the last
    /// second, acknowledged or not.
    EverySec,
}

impl AppendFsync {
    /// The `appendfsync` value.
    pub fn as_str(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::EverySec => "everysec",
        }
    }
}

impl RedisServerBuilder {
    /// Requires clients to authenticate with `password` (`requirepass`).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Adds an ACL user with full rights:
    /// `user NAME on >PASSWORD ~* &* +@all`.
    pub fn acl_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.acl_users.push((name.into(), password.into()));
        self
    }

    /// Serves TLS only (`--port 0 --tls-port PORT`), with a server certificate
    /// for `localhost` and `127.0.0.1` signed by a CA generated at start-up
    /// (see [`RedisServer::tls_ca_pem`]). Client certificates are not
    /// required.
    pub fn tls(mut self, enabled: bool) -> Self {
        self.tls = enabled;
        self
    }

    /// Also listens on a unix socket in the server's directory
    /// (see [`RedisServer::unix_socket_path`]).
    pub fn unix_socket(mut self, enabled: bool) -> Self {
        self.unix_socket = enabled;
        self
    }

    /// Turns persistence on: an append-only file (`--appendonly yes`) synced
    /// as `fsync` says, kept in the server's directory, so that
    /// [`RedisServer::restart`] and [`RedisServer::shutdown_and_restart`]
    /// reload the data set.
    pub fn append_only(mut self, fsync: AppendFsync) -> Self {
        self.append_only = Some(fsync);
        self
    }

    /// Appends raw `redis-server` arguments, e.g.
    /// `&["--maxmemory", "10mb"]`. They come after the fixture's own
    /// arguments, so they can override them.
    pub fn extra_args<I>(mut self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.extra_args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Starts the server and waits until it answers.
    ///
    /// # Panics
    ///
    /// Panics (with the tail of the server's log) if `redis-server` is not
    /// installed or does not come up within 10 seconds.
    pub fn start(self) -> RedisServer {
        process::require_server();
        let dir = make_temp_dir("redis");
        let path = dir.path().to_owned();
        let tls = self.tls.then(|| {
            TlsFiles::generate(&path)
                .unwrap_or_else(|err| panic!("cannot generate TLS certificates: {err}"))
        });
        let unix_socket = self.unix_socket.then(|| path.join("redis.sock"));

        let mut fixed: Vec<OsString> = base_args(&path);
        if let Some(password) = &self.password {
            fixed.extend([arg("--requirepass"), arg(password)]);
        }
        for (name, password) in &self.acl_users {
            fixed.extend([
                arg("--user"),
                arg(name),
                arg("on"),
                arg(format!(">{password}")),
                arg("~*"),
                arg("&*"),
                arg("+@all"),
            ]);
        }
        if let Some(socket) = &unix_socket {
            fixed.extend([
                arg("--unixsocket"),
                arg(socket),
                arg("--unixsocketperm"),
                arg("700"),
            ]);
        }
        if let Some(tls) = &tls {
            fixed.extend([
                arg("--tls-cert-file"),
                arg(&tls.cert_file),
                arg("--tls-key-file"),
                arg(&tls.key_file),
                arg("--tls-ca-cert-file"),
                arg(&tls.ca_file),
                arg("--tls-auth-clients"),
                arg("no"),
            ]);
        }
        if let Some(fsync) = self.append_only {
            fixed.extend([
                arg("--appendonly"),
                arg("yes"),
                arg("--appendfsync"),
                arg(fsync.as_str()),
            ]);
        }
        fixed.extend(self.extra_args.iter().map(arg));

        let use_tls = tls.is_some();
        let node = Node::start(NodeConfig {
            role: if use_tls {
                "redis-server (tls)".to_owned()
            } else {
                "redis-server".to_owned()
            },
            dir: path,
            port_kind: PortKind::Plain,
            password: self.password.clone(),
            tls_ca: tls.as_ref().map(|tls| tls.ca_pem.clone()),
            make_args: Box::new(move |port| {
                let mut args = vec![arg("--bind"), arg(process::HOST)];
                if use_tls {
                    args.extend([
                        arg("--port"),
                        arg("0"),
                        arg("--tls-port"),
                        arg(port.to_string()),
                    ]);
                } else {
                    args.extend([arg("--port"), arg(port.to_string())]);
                }
                args.extend(fixed.iter().cloned());
                Ok(args)
            }),
        });
        RedisServer {
            node,
            password: self.password,
            tls,
            unix_socket,
            append_only: self.append_only,
            dir,
        }
    }
}

/// Arguments every fixture server gets (besides `--bind` and ports).
pub(crate) fn base_args(dir: &Path) -> Vec<OsString> {
    vec![
        arg("--save"),
        arg(""),
        arg("--appendonly"),
        arg("no"),
        arg("--dir"),
        arg(dir),
        arg("--logfile"),
        arg(process::log_path(dir)),
        arg("--daemonize"),
        arg("no"),
        arg("--protected-mode"),
        arg("no"),
    ]
}

impl RedisServer {
    /// Starts a plain server (no password, no TLS) with default settings.
    ///
    /// # Panics
    ///
    /// Panics if `redis-server` is not installed or does not come up; see
    /// [`RedisServerBuilder::start`].
    pub fn start() -> RedisServer {
        RedisServer::builder().start()
    }

    /// Returns a builder for a server with a password, ACL users, TLS, a unix
    /// socket or extra arguments.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// The TCP port (the TLS port for TLS servers).
    pub fn port(&self) -> u16 {
        self.node.port()
    }

    /// The host the server listens on: always `"127.0.0.1"`.
    pub fn host(&self) -> &'static str {
        process::HOST
    }

    /// `"127.0.0.1:PORT"`.
    pub fn addr(&self) -> String {
        self.node.addr()
    }

    /// A connection URL: `redis://127.0.0.1:PORT`, or
    /// `rediss://localhost:PORT` for TLS servers (the certificate is valid for
    /// `localhost`), with `:PASSWORD@` (percent-encoded) when a password is
    /// set. TLS clients must additionally trust [`RedisServer::tls_ca_pem`].
    pub fn url(&self) -> String {
        let auth = match &self.password {
            Some(password) => format!(":{}@", percent_encode(password)),
            None => String::new(),
        };
        if self.tls.is_some() {
            format!("rediss://{auth}{}:{}", process::TLS_HOST, self.port())
        } else {
            format!("redis://{auth}{}:{}", process::HOST, self.port())
        }
    }

    /// The unix socket path, if enabled with [`RedisServerBuilder::unix_socket`].
    pub fn unix_socket_path(&self) -> Option<PathBuf> {
        self.unix_socket.clone()
    }

    /// The PEM of the CA that signed a TLS server's certificate (for
    /// `TlsCertificates::root_cert`), or `None` without TLS.
    pub fn tls_ca_pem(&self) -> Option<Vec<u8>> {
        self.tls.as_ref().map(|tls| tls.ca_pem.clone())
    }

    /// Whether the server serves TLS (only).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The `requirepass` password, if any.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The server's temporary directory (working dir, log, socket, certs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        process::log_path(self.dir.path())
    }

    /// The last lines of the server's log (handy in assertion messages).
    pub fn log_tail(&self) -> String {
        self.node.log_tail()
    }

    /// The server's process id, or `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        self.node.pid()
    }

    /// A `redis::Client` for this server, configured with the password and,
    /// for TLS servers, the CA.
    ///
    /// # Panics
    ///
    /// Panics if the client cannot be built (it can for any server started
    /// by this crate).
    pub fn client(&self) -> redis::Client {
        self.endpoint()
            .client(false)
            .unwrap_or_else(|err| panic!("cannot build a client for {}: {err}", self.addr()))
    }

    /// Opens a multiplexed async connection (authenticated, TLS-verified
    /// against the CA where applicable).
    ///
    /// # Panics
    ///
    /// Panics if the server cannot be reached, e.g. because it is stopped.
    pub async fn connection(&self) -> MultiplexedConnection {
        self.client()
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "cannot connect to {} ({}): {err}\n{}",
                    self.node.role(),
                    self.addr(),
                    self.log_tail()
                )
            })
    }

    /// Kills the server (SIGKILL) and waits for it; its data is lost. The
    /// port stays reserved for [`RedisServer::restart`]. Does nothing if it
    /// is already stopped.
    pub fn stop(&mut self) {
        self.node.stop();
    }

    /// Starts the server again on the same port with the same configuration
    /// and waits until it answers. A running server is killed first
    /// (SIGKILL). The data set is empty, unless the server is
    /// [append-only](RedisServerBuilder::append_only): then it is reloaded
    /// from the AOF, which holds what was synced before the kill.
    ///
    /// # Panics
    ///
    /// Panics if the server does not come back, e.g. because another process
    /// took the port in the meantime.
    pub fn restart(&mut self) {
        self.node.restart();
    }

    /// Shuts the server down gracefully (`SHUTDOWN`: an append-only server
    /// syncs its AOF first), waits for the process to exit, then starts it
    /// again like [`RedisServer::restart`].
    ///
    /// # Panics
    ///
    /// Panics if the server does not exit within 10 seconds of `SHUTDOWN` or
    /// does not come back.
    pub fn shutdown_and_restart(&mut self) {
        self.node.shutdown();
        self.node.restart();
    }

    /// Stops the server process with SIGSTOP: connections stay open and
    /// commands hang until [`RedisServer::resume`], as on a stalled host.
    ///
    /// # Panics
    ///
    /// Panics if the server is not running or the signal cannot be sent.
    pub fn pause(&self) {
        self.node.signal("STOP");
    }

    /// Continues a server stopped by [`RedisServer::pause`] (SIGCONT).
    ///
    /// # Panics
    ///
    /// Panics if the server is not running or the signal cannot be sent.
    pub fn resume(&self) {
        self.node.signal("CONT");
    }

    /// The append-only fsync policy, or `None` without persistence.
    pub fn append_fsync(&self) -> Option<AppendFsync> {
        self.append_only
    }

    /// Whether the server process is alive.
    pub fn is_running(&self) -> bool {
        self.node.is_running()
    }

    fn endpoint(&self) -> &Endpoint {
        self.node.endpoint()
    }
}
