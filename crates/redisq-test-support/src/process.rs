//! Spawning, probing and killing `redis-server` processes.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, ConnectionInfo, FromRedisValue, IntoConnectionInfo, RedisResult};

use crate::ports;

/// How long a freshly spawned server may take to answer.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often readiness and state conditions are polled.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How many times a start is retried with a new port when the port was taken.
const PORT_ATTEMPTS: usize = 5;
/// Timeout for connecting to (and the connection handshake with) a fixture.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Read/write timeout for administrative commands.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The loopback address every fixture binds to.
pub(crate) const HOST: &str = "127.0.0.1";
/// The host name used for TLS connections (it is in the server certificate).
pub(crate) const TLS_HOST: &str = "localhost";

/// Environment variable that overrides the `redis-server` binary.
pub(crate) const SERVER_BIN_ENV: &str = "REDISQ_REDIS_SERVER";

/// The `redis-server` program to run.
pub(crate) fn server_program() -> OsString {
    std::env::var_os(SERVER_BIN_ENV)
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| OsString::from("redis-server"))
}

/// Panics unless `redis-server` can be run.
pub(crate) fn require_server() {
    if crate::redis_server_version().is_none() {
        panic!(
            "redis-server not found (tried {:?}; override with ${SERVER_BIN_ENV}): \
             install Debian's redis-server package",
            server_program()
        );
    }
}

/// Where and how to reach one server process.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) port: u16,
    pub(crate) password: Option<String>,
    pub(crate) tls_ca: Option<Vec<u8>>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("tls", &self.tls_ca.is_some())
            .finish()
    }
}

impl Endpoint {
    /// `127.0.0.1:PORT`.
    pub(crate) fn addr(&self) -> String {
        format!("{HOST}:{}", self.port)
    }

    /// The connection address (TLS endpoints use the host name `localhost`).
    pub(crate) fn connection_addr(&self) -> ConnectionAddr {
        if self.tls_ca.is_some() {
            ConnectionAddr::TcpTls {
                host: TLS_HOST.to_owned(),
                port: self.port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(HOST.to_owned(), self.port)
        }
    }

    /// A redis client configured with the password and, for TLS, the CA.
    pub(crate) fn client(&self, admin: bool) -> RedisResult<redis::Client> {
        let mut settings = redis::RedisConnectionInfo::default();
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        if admin {
            settings = settings.set_skip_set_lib_name();
        }
        let info: ConnectionInfo = self
            .connection_addr()
            .into_connection_info()?
            .set_redis_settings(settings);
        match &self.tls_ca {
            Some(ca) => {
                ensure_crypto_provider();
                redis::Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(ca.clone()),
                    },
                )
            }
            None => redis::Client::open(info),
        }
    }

    /// Runs one command on a fresh, short-lived, blocking connection.
    pub(crate) fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> RedisResult<T> {
        let client = self.client(true)?;
        let mut conn = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        cmd.query(&mut conn)
    }

    /// Runs `INFO <section>` and returns its `field:value` pairs.
    pub(crate) fn info(&self, section: &str) -> RedisResult<Vec<(String, String)>> {
        let text: String = self.query(redis::cmd("INFO").arg(section))?;
        Ok(parse_info(&text))
    }

    /// Returns one field of `INFO <section>`.
    pub(crate) fn info_field(&self, section: &str, field: &str) -> RedisResult<Option<String>> {
        Ok(self
            .info(section)?
            .into_iter()
            .find(|(key, _)| key == field)
            .map(|(_, value)| value))
    }
}

/// Makes sure rustls has a process-wide crypto provider.
///
/// The redis crate builds its rustls configuration with the process default
/// provider, which rustls can only pick automatically when exactly one of its
/// `ring` / `aws-lc-rs` features is enabled in the whole build. Installing
/// `ring` explicitly (unless a provider is already installed) keeps TLS
/// fixtures working regardless of feature unification.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race against another installer is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Parses the `field:value` lines of an `INFO` reply.
pub(crate) fn parse_info(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// How a node's port is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortKind {
    /// Any free port.
    Plain,
    /// A port below 55000 whose cluster bus port (`port + 10000`) is free too.
    Cluster,
}

/// What a node needs to be (re)started.
pub(crate) struct NodeConfig {
    /// Human readable role, used in messages ("redis-server", "sentinel", ...).
    pub(crate) role: String,
    /// The node's own directory (its log files live there).
    pub(crate) dir: PathBuf,
    pub(crate) port_kind: PortKind,
    pub(crate) password: Option<String>,
    pub(crate) tls_ca: Option<Vec<u8>>,
    /// Builds the server's arguments for a given port (and may write config
    /// files). Called again whenever a new port has to be tried.
    pub(crate) make_args: Box<dyn Fn(u16) -> io::Result<Vec<OsString>> + Send + Sync>,
}

impl fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeConfig")
            .field("role", &self.role)
            .field("dir", &self.dir)
            .field("port_kind", &self.port_kind)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("tls", &self.tls_ca.is_some())
            .finish_non_exhaustive()
    }
}

/// One running (or stopped) server process that belongs to a fixture.
///
/// Dropping it kills the process and reaps it.
#[derive(Debug)]
pub(crate) struct Node {
    config: NodeConfig,
    endpoint: Endpoint,
    args: Vec<OsString>,
    child: Mutex<Option<Child>>,
}

/// Why one start attempt failed.
enum StartError {
    /// Somebody else owns the port; try another one.
    PortTaken(String),
    /// Anything else; give up.
    Fatal(String),
}

impl Node {
    /// Starts the node on a fresh port, retrying with new ports if the port
    /// turns out to be taken. Panics with the server's log on failure.
    pub(crate) fn start(config: NodeConfig) -> Node {
        require_server();
        fs::create_dir_all(&config.dir)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", config.dir.display()));
        let mut last_reason = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = match config.port_kind {
                PortKind::Plain => ports::free_port(),
                PortKind::Cluster => ports::free_cluster_port(),
            };
            let args = (config.make_args)(port).unwrap_or_else(|err| {
                panic!(
                    "cannot prepare {} in {}: {err}",
                    config.role,
                    config.dir.display()
                )
            });
            let endpoint = Endpoint {
                port,
                password: config.password.clone(),
                tls_ca: config.tls_ca.clone(),
            };
            match launch(&config, &endpoint, &args) {
                Ok(child) => {
                    return Node {
                        config,
                        endpoint,
                        args,
                        child: Mutex::new(Some(child)),
                    };
                }
                Err(StartError::PortTaken(reason)) => last_reason = reason,
                Err(StartError::Fatal(message)) => panic!("{message}"),
            }
        }
        panic!(
            "{} could not get a free port after {PORT_ATTEMPTS} attempts; last failure:\n{last_reason}",
            config.role
        );
    }

    /// Kills the node if it is running, then starts it again with exactly
    /// the same arguments (same port) and waits until it answers.
    pub(crate) fn restart(&self) {
        let mut child = self.lock_child();
        if let Some(mut running) = child.take() {
            kill_and_reap(&mut running);
        }
        // A just-killed server's port can take a moment to be released, and
        // another process might briefly hold it: retry for a while.
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match launch(&self.config, &self.endpoint, &self.args) {
                Ok(started) => {
                    *child = Some(started);
                    return;
                }
                Err(StartError::PortTaken(_)) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(100));
                }
                Err(StartError::PortTaken(reason)) => panic!(
                    "cannot restart {} on port {}: the port is taken\n{reason}",
                    self.config.role, self.endpoint.port
                ),
                Err(StartError::Fatal(message)) => panic!("{message}"),
            }
        }
    }

    /// Kills the process (SIGKILL) and waits for it. Idempotent.
    pub(crate) fn stop(&self) {
        if let Some(mut child) = self.lock_child().take() {
            kill_and_reap(&mut child);
        }
    }

    /// Sends `SHUTDOWN` and waits (up to [`READY_TIMEOUT`]) for the process
    /// to exit on its own; it is reaped but kept for [`Node::restart`].
    pub(crate) fn shutdown(&self) {
        let mut child = self.lock_child();
        let Some(running) = child.as_mut() else {
            return;
        };
        // The server closes the connection instead of replying: an I/O error
        // is the expected answer.
        let _ = self.endpoint.query::<redis::Value>(&redis::cmd("SHUTDOWN"));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match running.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL_INTERVAL),
                _ => panic!(
                    "{} did not exit within {READY_TIMEOUT:?} of SHUTDOWN\n{}",
                    self.config.role,
                    log_tail(&self.config.dir, 0)
                ),
            }
        }
    }

    /// Sends a signal (`"STOP"`, `"CONT"`, ...) to the running process with
    /// `kill(1)` (this crate has no unsafe code for `kill(2)`).
    pub(crate) fn signal(&self, name: &str) {
        let pid = self
            .pid()
            .unwrap_or_else(|| panic!("{} is not running", self.config.role));
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .unwrap_or_else(|err| panic!("cannot run kill: {err}"));
        assert!(status.success(), "kill -{name} {pid} failed: {status}");
    }

    /// Whether the process is alive.
    pub(crate) fn is_running(&self) -> bool {
        match self.lock_child().as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process id, if running.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.lock_child().as_ref().map(Child::id)
    }

    pub(crate) fn port(&self) -> u16 {
        self.endpoint.port
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub(crate) fn addr(&self) -> String {
        self.endpoint.addr()
    }

    pub(crate) fn role(&self) -> &str {
        &self.config.role
    }

    /// The last lines of the server's logs, for failure messages.
    pub(crate) fn log_tail(&self) -> String {
        log_tail(&self.config.dir, 0)
    }

    fn lock_child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(mut child) = child.take() {
            kill_and_reap(&mut child);
        }
    }
}

fn kill_and_reap(child: &mut Child) {
    // `kill` fails only if the child has already been reaped, which cannot
    // happen here; an already exited (zombie) child is fine to "kill".
    let _ = child.kill();
    let _ = child.wait();
}

/// The file the server logs to (`--logfile`).
pub(crate) fn log_path(dir: &Path) -> PathBuf {
    dir.join("redis.log")
}

/// The file that receives the server's stdout and stderr (early startup
/// errors, e.g. bad arguments, are printed there before the log is opened).
fn stdio_path(dir: &Path) -> PathBuf {
    dir.join("stdio.log")
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|meta| meta.len()).unwrap_or(0)
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path)
        && file.seek(SeekFrom::Start(offset)).is_ok()
    {
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// The last lines of both log files, starting at `offset` of the main log.
fn log_tail(dir: &Path, offset: u64) -> String {
    const LINES: usize = 30;
    let mut out = String::new();
    for (name, path, from) in [
        ("redis.log", log_path(dir), offset),
        ("stdout/stderr", stdio_path(dir), 0),
    ] {
        let text = read_from(&path, from);
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LINES)..];
        out.push_str(&format!("--- {name} ({}) ---\n", path.display()));
        if tail.is_empty() {
            out.push_str("(empty)\n");
        }
        for line in tail {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn port_taken(log: &str) -> bool {
    log.contains("Address already in use")
}

/// Spawns the server and waits until it answers. On failure the child is
/// killed and reaped.
fn launch(
    config: &NodeConfig,
    endpoint: &Endpoint,
    args: &[OsString],
) -> Result<Child, StartError> {
    let dir = &config.dir;
    let log_offset = file_len(&log_path(dir));
    let stdio = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(stdio_path(dir))
        .map_err(|err| StartError::Fatal(format!("cannot create {}: {err}", dir.display())))?;
    let stdout = stdio
        .try_clone()
        .map_err(|err| StartError::Fatal(format!("cannot duplicate a file handle: {err}")))?;

    let spec = SpawnSpec {
        program: server_program(),
        args: args.to_vec(),
        dir: dir.clone(),
        stdout,
        stderr: stdio,
    };
    let child = spawn(spec).map_err(|err| {
        StartError::Fatal(format!(
            "cannot run {:?} for {}: {err}; install Debian's redis-server package",
            server_program(),
            config.role
        ))
    })?;
    // Killed and reaped on every early return and on panics.
    let mut guard = ChildGuard(Some(child));

    let failure = |guard: &mut ChildGuard, what: String| {
        guard.kill();
        let new_log = read_from(&log_path(dir), log_offset) + &read_from(&stdio_path(dir), 0);
        let message = format!(
            "{} on port {} {what}\nargs: {args:?}\n{}",
            config.role,
            endpoint.port,
            log_tail(dir, log_offset)
        );
        if port_taken(&new_log) {
            StartError::PortTaken(message)
        } else {
            StartError::Fatal(message)
        }
    };

    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match guard.child().try_wait() {
            Ok(Some(status)) => {
                return Err(failure(&mut guard, format!("exited early ({status})")));
            }
            Ok(None) => {}
            Err(err) => return Err(failure(&mut guard, format!("cannot be waited for: {err}"))),
        }
        match endpoint.info_field("server", "process_id") {
            Ok(Some(pid)) if pid == guard.child().id().to_string() => return Ok(guard.disarm()),
            Ok(other) => {
                // Somebody else's server answers on our port: ours will fail
                // to bind (or already has). Never use it; try another port.
                guard.kill();
                return Err(StartError::PortTaken(format!(
                    "{} on port {}: another server (process_id {other:?}) answers on the port",
                    config.role, endpoint.port
                )));
            }
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return Err(failure(
                &mut guard,
                format!("did not answer within {READY_TIMEOUT:?}"),
            ));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Owns a freshly spawned child until it is known to be healthy: kills and
/// reaps it when dropped (early returns, panics) unless disarmed.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child already taken")
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            kill_and_reap(&mut child);
        }
    }

    fn disarm(mut self) -> Child {
        self.0.take().expect("child already taken")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Everything needed to spawn a server process (sent to the spawner thread).
struct SpawnSpec {
    program: OsString,
    args: Vec<OsString>,
    dir: PathBuf,
    stdout: File,
    stderr: File,
}

impl SpawnSpec {
    /// Builds the command, optionally wrapped as
    /// `setpriv --pdeathsig KILL -- program args...` (setpriv execs the
    /// program, so the child's pid is the server's pid).
    fn command(self, setpriv: Option<&Path>) -> Command {
        let mut command = match setpriv {
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                command
                    .arg("--pdeathsig")
                    .arg("KILL")
                    .arg("--")
                    .arg(&self.program);
                command
            }
            None => Command::new(&self.program),
        };
        command
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(self.stdout)
            .stderr(self.stderr);
        command
    }
}

type SpawnRequest = (SpawnSpec, mpsc::Sender<io::Result<Child>>);

/// Spawns a server process.
///
/// When `setpriv` is available the server is started through
/// `setpriv --pdeathsig KILL`, from a dedicated thread that lives as long as
/// the process: the kernel then kills the server if the test process dies
/// without running destructors (killed by a timeout, `process::exit`, a
/// fixture kept in a `static`). The parent-death signal fires when the
/// *thread* that forked the child ends, which is why a long-lived thread
/// does the spawning rather than the (short-lived) test thread.
fn spawn(spec: SpawnSpec) -> io::Result<Child> {
    static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<SpawnRequest>>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let setpriv = find_setpriv()?;
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("redisq-test-support-spawner".to_owned())
            .spawn(move || {
                for (spec, reply) in rx {
                    let _ = reply.send(spec.command(Some(&setpriv)).spawn());
                }
            })
            .ok()?;
        Some(Mutex::new(tx))
    });
    let Some(spawner) = spawner else {
        return spec.command(None).spawn();
    };
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .send((spec, reply_tx))
        .map_err(|_| io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread is gone"))?
}

fn find_setpriv() -> Option<PathBuf> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

/// Converts a path-ish value to an argument.
pub(crate) fn arg(value: impl AsRef<OsStr>) -> OsString {
    value.as_ref().to_owned()
}
