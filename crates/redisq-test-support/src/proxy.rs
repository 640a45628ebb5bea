//! A fault-injecting TCP proxy, for tests that need connections to misbehave.
//!
//! [`TcpProxy`] listens on a free loopback port and forwards every connection
//! it accepts to an upstream address (typically a
//! [`RedisServer`](crate::RedisServer)'s [`addr`](crate::RedisServer::addr)).
//! A test connects through the proxy and can then:
//!
//! * freeze the open connections ([`TcpProxy::freeze_existing`]): no more
//!   bytes flow, but no socket is closed, as when a network path silently
//!   dies;
//! * cut them ([`TcpProxy::cut_existing`]): both sides are closed;
//! * refuse new connections ([`TcpProxy::refuse_new`]): they are accepted and
//!   closed straight away.
//!
//! The proxy runs on its own thread with its own single-threaded tokio
//! runtime, so it keeps forwarding whatever the caller does: it works from
//! sync code, and from a `#[tokio::test]` whose runtime thread is blocked.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

use crate::ports;

/// How long [`TcpProxy::cut_existing`] waits for the connections to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a proxied connection does; it only ever moves down this list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Forward,
    Frozen,
    Cut,
}

#[derive(Default)]
struct State {
    refuse: bool,
    next_id: u64,
    /// The open connections, by id (ids increase in accept order).
    conns: HashMap<u64, watch::Sender<Mode>>,
}

/// State shared between the [`TcpProxy`] handle and the proxy thread.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Notified whenever a connection has closed.
    closed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A TCP proxy on a free loopback port that forwards to an upstream address
/// and can [freeze](Self::freeze_existing), [cut](Self::cut_existing) or
/// [refuse](Self::refuse_new) connections on demand.
///
/// It runs on its own thread with its own tokio runtime, so it works from
/// sync code and from any `#[tokio::test]`, even one whose runtime thread is
/// blocked. Dropping the proxy stops the listener and closes every
/// connection.
///
/// ```no_run
/// use redisq_test_support::{RedisServer, TcpProxy};
///
/// let server = RedisServer::start();
/// let proxy = TcpProxy::start(server.addr());
/// let client = redis::Client::open(proxy.url()).unwrap();
/// // ... connect through the proxy, then:
/// proxy.freeze_existing();
/// ```
pub struct TcpProxy {
    port: u16,
    upstream: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Starts a proxy listening on a free port of `127.0.0.1` (picked like
    /// [`free_port`](crate::free_port)) that forwards each accepted
    /// connection to `upstream` (`"127.0.0.1:PORT"`).
    ///
    /// The proxy is ready when this returns. If the upstream cannot be
    /// reached, accepted connections are closed.
    ///
    /// # Panics
    ///
    /// Panics if no port can be bound or the proxy thread cannot be started.
    pub fn start(upstream: impl Into<String>) -> TcpProxy {
        let upstream = upstream.into();
        let listener = ports::bind_free_listener();
        let port = listener.local_addr().expect("bound listener").port();
        listener
            .set_nonblocking(true)
            .expect("cannot make the proxy listener non-blocking");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cannot build the proxy's tokio runtime");
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener).expect("cannot register the proxy listener")
        };
        let shared = Arc::new(Shared::default());
        let (shutdown, shutdown_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("redisq-proxy-{port}"))
            .spawn({
                let shared = Arc::clone(&shared);
                let upstream: Arc<str> = upstream.as_str().into();
                move || {
                    runtime.block_on(async move {
                        tokio::select! {
                            () = accept_loop(listener, upstream, shared) => {}
                            _ = shutdown_rx => {}
                        }
                    });
                    // Dropping the runtime drops every connection task, which
                    // closes its sockets.
                }
            })
            .expect("cannot spawn the proxy thread");
        TcpProxy {
            port,
            upstream,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The proxy's address, `"127.0.0.1:PORT"`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A plain Redis URL for the proxy, `"redis://127.0.0.1:PORT"`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Freezes every connection open now: from when this returns, no bytes
    /// read on either side are forwarded (bytes already being written may
    /// still arrive), and the proxy stops reading, but both sockets stay
    /// open (no FIN, no RST), as when a network path silently dies. Frozen
    /// connections stay open until [`cut_existing`](Self::cut_existing) or
    /// drop. Connections accepted later forward normally.
    pub fn freeze_existing(&self) {
        for mode in self.shared.lock().conns.values() {
            mode.send_if_modified(|mode| {
                let forwarding = *mode == Mode::Forward;
                if forwarding {
                    *mode = Mode::Frozen;
                }
                forwarding
            });
        }
    }

    /// Closes every connection open now, frozen ones included, on both
    /// sides, as a network cut would; returns once their sockets are closed.
    /// New connections still work.
    ///
    /// # Panics
    ///
    /// Panics if the connections are not closed within 10 seconds.
    pub fn cut_existing(&self) {
        let mut state = self.shared.lock();
        for mode in state.conns.values() {
            mode.send_replace(Mode::Cut);
        }
        let cut_before = state.next_id;
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        while state.conns.keys().any(|&id| id < cut_before) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "proxy connections not closed within {CLOSE_TIMEOUT:?}"
            );
            state = self
                .shared
                .closed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// While `refuse` is `true`, new connections are accepted and then
    /// immediately closed; `false` restores normal forwarding. Open
    /// connections are not affected.
    pub fn refuse_new(&self, refuse: bool) {
        self.shared.lock().refuse = refuse;
    }

    /// How many proxied connections are open now (frozen ones included,
    /// refused ones never). A connection counts from when the proxy accepts
    /// it until both its sockets are closed.
    pub fn open_connections(&self) -> usize {
        self.shared.lock().conns.len()
    }
}

impl fmt::Debug for TcpProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpProxy")
            .field("port", &self.port)
            .field("upstream", &self.upstream)
            .field("open_connections", &self.open_connections())
            .finish_non_exhaustive()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Removes a connection from the shared state when its task ends (or is
/// dropped with the runtime).
struct Registration {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.lock().conns.remove(&self.id);
        self.shared.closed.notify_all();
    }
}

async fn accept_loop(listener: TcpListener, upstream: Arc<str>, shared: Arc<Shared>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(_) => {
                // Transient (the client gave up, or out of file descriptors):
                // back off briefly and keep serving.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (id, mode) = {
            let mut state = shared.lock();
            if state.refuse {
                drop(client);
                continue;
            }
            let id = state.next_id;
            state.next_id += 1;
            let (sender, mode) = watch::channel(Mode::Forward);
            state.conns.insert(id, sender);
            (id, mode)
        };
        let registration = Registration {
            shared: Arc::clone(&shared),
            id,
        };
        let upstream = Arc::clone(&upstream);
        tokio::spawn(async move {
            let _registration = registration;
            serve(client, &upstream, mode).await;
        });
    }
}

/// Forwards one connection until both directions are done, either fails, or
/// the connection is cut; returning drops (closes) both sockets.
async fn serve(client: TcpStream, upstream: &str, mut mode: watch::Receiver<Mode>) {
    let (to_upstream, to_client) = (mode.clone(), mode.clone());
    let forward = async move {
        let upstream = TcpStream::connect(upstream).await?;
        client.set_nodelay(true)?;
        upstream.set_nodelay(true)?;
        let (client_read, client_write) = client.into_split();
        let (upstream_read, upstream_write) = upstream.into_split();
        tokio::try_join!(
            pipe(client_read, upstream_write, to_upstream),
            pipe(upstream_read, client_write, to_client),
        )
    };
    tokio::select! {
        _ = forward => {}
        _ = mode.wait_for(|&mode| mode == Mode::Cut) => {}
    }
}

/// Copies bytes from `from` to `to` while the connection forwards; once it is
/// frozen, never completes (holding both halves open). At end of input, shuts
/// down `to` so the other side sees it.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) -> io::Result<()> {
    let mut buf = vec![0; 16 * 1024];
    loop {
        if *mode.borrow_and_update() != Mode::Forward {
            return std::future::pending().await;
        }
        let read = tokio::select! {
            read = from.read(&mut buf) => read?,
            changed = mode.changed() => {
                changed.map_err(|_| io::Error::other("proxy shut down"))?;
                continue;
            }
        };
        // Bytes read after a freeze are lost, as on a dead network path.
        if *mode.borrow() != Mode::Forward {
            continue;
        }
        if read == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buf[..read]).await?;
    }
}
