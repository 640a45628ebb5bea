//! Exercises [`TcpProxy`] in front of a real `redis-server`.

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, AsyncConnectionConfig, RedisResult};
use redisq_test_support::{RedisServer, TcpProxy};

const TIMEOUT: Duration = Duration::from_secs(10);

/// How long a frozen connection must stay silent.
const SILENCE: Duration = Duration::from_millis(500);

/// Fails instead of hanging if something does not answer.
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not complete within {TIMEOUT:?}"))
}

/// Connects through `url` without the client's own response timeout, so that
/// a frozen connection shows up as a command that never completes.
async fn connect(url: &str) -> RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(None);
    redis::Client::open(url)?
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn ping(conn: &mut MultiplexedConnection) -> RedisResult<String> {
    redis::cmd("PING").query_async(conn).await
}

/// Connects through the proxy and checks that the connection answers.
async fn working_connection(proxy: &TcpProxy) -> MultiplexedConnection {
    let mut conn = bounded("connect", connect(&proxy.url()))
        .await
        .expect("connect through the proxy");
    assert_eq!(bounded("PING", ping(&mut conn)).await.unwrap(), "PONG");
    conn
}

/// Polls `condition` until it holds (the proxy reports connection closes
/// only through its counter).
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "{what} within {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn connected_clients(conn: &mut MultiplexedConnection) -> usize {
    let text: String = redis::cmd("INFO")
        .arg("clients")
        .query_async(conn)
        .await
        .expect("INFO clients");
    text.lines()
        .find_map(|line| line.strip_prefix("connected_clients:"))
        .expect("connected_clients in INFO")
        .trim()
        .parse()
        .expect("numeric connected_clients")
}

#[tokio::test]
async fn forwards_commands() {
    let server = RedisServer::start();
    let proxy = TcpProxy::start(server.addr());
    assert_ne!(proxy.port(), server.port());
    assert_ne!(proxy.port(), 6379);
    assert_eq!(proxy.addr(), format!("127.0.0.1:{}", proxy.port()));
    assert_eq!(proxy.url(), format!("redis://127.0.0.1:{}", proxy.port()));
    assert_eq!(proxy.open_connections(), 0);
    assert!(format!("{proxy:?}").contains(&server.addr()));

    let mut conn = working_connection(&proxy).await;
    let () = conn.set("greeting", "hello").await.unwrap();
    let value: String = conn.get("greeting").await.unwrap();
    assert_eq!(value, "hello");
    // Large values go through intact.
    let big = "x".repeat(1 << 20);
    let () = conn.set("big", &big).await.unwrap();
    let back: String = conn.get("big").await.unwrap();
    assert_eq!(back, big);

    // It is the same server.
    let mut direct = server.connection().await;
    let value: String = direct.get("greeting").await.unwrap();
    assert_eq!(value, "hello");
    assert_eq!(proxy.open_connections(), 1);
}

#[tokio::test]
async fn counts_open_connections() {
    let server = RedisServer::start();
    let proxy = TcpProxy::start(server.addr());
    let first = working_connection(&proxy).await;
    assert_eq!(proxy.open_connections(), 1);
    let second = working_connection(&proxy).await;
    assert_eq!(proxy.open_connections(), 2);

    // A client closing its connection is noticed.
    drop(first);
    eventually("closed client not counted", || {
        proxy.open_connections() == 1
    })
    .await;

    // So is the server closing it.
    let mut direct = server.connection().await;
    let _killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut direct)
        .await
        .unwrap();
    eventually("killed client not counted", || {
        proxy.open_connections() == 0
    })
    .await;
    drop(second);

    // Cutting is synchronous.
    let _a = working_connection(&proxy).await;
    let _b = working_connection(&proxy).await;
    assert_eq!(proxy.open_connections(), 2);
    proxy.cut_existing();
    assert_eq!(proxy.open_connections(), 0);
}

#[tokio::test]
async fn frozen_connections_go_silent_but_stay_open() {
    let server = RedisServer::start();
    let proxy = TcpProxy::start(server.addr());
    let mut old = working_connection(&proxy).await;
    let () = old.set("key", "before").await.unwrap();

    proxy.freeze_existing();
    assert_eq!(proxy.open_connections(), 1);
    // No reply, and no error either: the sockets stay open.
    let silent = tokio::time::timeout(SILENCE, ping(&mut old)).await;
    assert!(silent.is_err(), "frozen connection answered: {silent:?}");
    let silent = tokio::time::timeout(SILENCE, old.set::<_, _, ()>("key", "after")).await;
    assert!(silent.is_err(), "frozen connection answered: {silent:?}");

    // A new connection works, and the write on the frozen one never arrived.
    let mut new = working_connection(&proxy).await;
    let value: String = new.get("key").await.unwrap();
    assert_eq!(value, "before");
    assert_eq!(proxy.open_connections(), 2);

    // The server still has the frozen client: no FIN reached it.
    let mut direct = server.connection().await;
    assert_eq!(connected_clients(&mut direct).await, 3);

    // Freezing again only affects the connections open then.
    proxy.freeze_existing();
    let silent = tokio::time::timeout(SILENCE, ping(&mut new)).await;
    assert!(silent.is_err(), "frozen connection answered: {silent:?}");
    let mut newest = working_connection(&proxy).await;
    assert_eq!(proxy.open_connections(), 3);

    // Cutting closes frozen connections.
    proxy.cut_existing();
    assert_eq!(proxy.open_connections(), 0);
    assert!(bounded("PING on cut frozen", ping(&mut old)).await.is_err());
    assert!(bounded("PING on cut", ping(&mut newest)).await.is_err());
    let mut after = working_connection(&proxy).await;
    let value: String = after.get("key").await.unwrap();
    assert_eq!(value, "before");
}

#[tokio::test]
async fn cut_connections_fail_and_new_ones_work() {
    let server = RedisServer::start();
    let proxy = TcpProxy::start(server.addr());
    let mut old = working_connection(&proxy).await;

    proxy.cut_existing();
    assert_eq!(proxy.open_connections(), 0);
    let result = bounded("PING on cut", ping(&mut old)).await;
    assert!(result.is_err(), "cut connection answered: {result:?}");
    // And it stays broken.
    assert!(bounded("PING on cut", ping(&mut old)).await.is_err());

    let mut new = working_connection(&proxy).await;
    let () = new.set("key", "value").await.unwrap();
    assert_eq!(proxy.open_connections(), 1);

    // Cutting with nothing open is a no-op.
    drop(new);
    eventually("closed client not counted", || {
        proxy.open_connections() == 0
    })
    .await;
    proxy.cut_existing();
    let _conn = working_connection(&proxy).await;
}

#[tokio::test]
async fn refuse_mode_fails_new_connections_only() {
    let server = RedisServer::start();
    let proxy = TcpProxy::start(server.addr());
    let mut existing = working_connection(&proxy).await;

    proxy.refuse_new(true);
    for _ in 0..3 {
        let attempt = bounded("connect while refusing", async {
            let mut conn = connect(&proxy.url()).await?;
            ping(&mut conn).await
        })
        .await;
        assert!(attempt.is_err(), "refused connection answered: {attempt:?}");
    }
    assert_eq!(proxy.open_connections(), 1);
    // Open connections are not affected.
    assert_eq!(ping(&mut existing).await.unwrap(), "PONG");

    proxy.refuse_new(false);
    let _new = working_connection(&proxy).await;
    assert_eq!(proxy.open_connections(), 2);
}

#[tokio::test]
async fn drop_closes_everything() {
    let server = RedisServer::start();
    let proxy = TcpProxy::start(server.addr());
    let addr = proxy.addr();
    let mut open = working_connection(&proxy).await;
    let mut frozen = working_connection(&proxy).await;
    proxy.freeze_existing();
    drop(proxy);

    assert!(bounded("PING after drop", ping(&mut open)).await.is_err());
    assert!(bounded("PING after drop", ping(&mut frozen)).await.is_err());
    // The listener is gone.
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err());
}

#[test]
fn works_from_sync_code() {
    let server = RedisServer::start();
    let proxy = TcpProxy::start(server.addr());
    let mut conn = redis::Client::open(proxy.url())
        .unwrap()
        .get_connection_with_timeout(TIMEOUT)
        .unwrap();
    let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(proxy.open_connections(), 1);
}

/// The proxy does not run on the test's runtime: a current-thread test that
/// blocks its only thread on a sync client still gets answers.
#[tokio::test(flavor = "current_thread")]
async fn works_while_the_callers_runtime_is_blocked() {
    let server = RedisServer::start();
    let proxy = TcpProxy::start(server.addr());
    let mut conn = redis::Client::open(proxy.url())
        .unwrap()
        .get_connection_with_timeout(TIMEOUT)
        .unwrap();
    conn.set_read_timeout(Some(TIMEOUT)).unwrap();
    let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn unreachable_upstream_closes_connections() {
    let server = RedisServer::start();
    let upstream = server.addr();
    drop(server);
    let proxy = TcpProxy::start(upstream);
    let attempt = bounded("connect to a dead upstream", async {
        let mut conn = connect(&proxy.url()).await?;
        ping(&mut conn).await
    })
    .await;
    assert!(attempt.is_err(), "dead upstream answered: {attempt:?}");
    eventually("failed connection not counted", || {
        proxy.open_connections() == 0
    })
    .await;
}
