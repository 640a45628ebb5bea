//! Exercises every fixture against real `redis-server` processes.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, RedisResult};
use redisq_test_support::{
    AppendFsync, RedisCluster, RedisSentinelGroup, RedisServer, free_port, redis_server_available,
    redis_server_version,
};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Fails instead of hanging if something does not answer.
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not complete within {TIMEOUT:?}"))
}

async fn ping(conn: &mut MultiplexedConnection) -> RedisResult<String> {
    redis::cmd("PING").query_async(conn).await
}

async fn info_field(conn: &mut MultiplexedConnection, section: &str, field: &str) -> String {
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .expect("INFO");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}: {text}"))
        .trim()
        .to_owned()
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn redis_server_is_installed() {
    assert!(redis_server_available());
    let version = redis_server_version().expect("version");
    assert!(
        version.chars().next().is_some_and(|c| c.is_ascii_digit()) && version.contains('.'),
        "odd version {version:?}"
    );
}

#[test]
fn free_ports_are_distinct_and_never_6379() {
    let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
    let unique: HashSet<u16> = ports.iter().copied().collect();
    assert_eq!(unique.len(), ports.len());
    assert!(!ports.contains(&6379));
}

#[tokio::test]
async fn standalone_ping_set_get() {
    let server = RedisServer::start();
    assert_ne!(server.port(), 6379);
    assert_eq!(server.host(), "127.0.0.1");
    assert_eq!(server.addr(), format!("127.0.0.1:{}", server.port()));
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert!(server.is_running());
    assert!(!server.is_tls());
    assert_eq!(server.password(), None);
    assert_eq!(server.unix_socket_path(), None);
    assert_eq!(server.tls_ca_pem(), None);
    assert!(server.dir().is_dir());
    assert!(server.log_path().is_file());

    let mut conn = server.connection().await;
    assert_eq!(ping(&mut conn).await.unwrap(), "PONG");
    let () = conn.set("greeting", "hello").await.unwrap();
    let value: String = conn.get("greeting").await.unwrap();
    assert_eq!(value, "hello");

    // It really is the process we started, with persistence disabled.
    assert_eq!(
        info_field(&mut conn, "server", "process_id").await,
        server.pid().unwrap().to_string()
    );
    let save: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(save, ["save", ""]);
    let dir: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("dir")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        Path::new(&dir[1]).canonicalize().unwrap(),
        server.dir().canonicalize().unwrap()
    );

    // The URL works with a plain client too.
    let client = redis::Client::open(server.url()).unwrap();
    let mut other = client.get_multiplexed_async_connection().await.unwrap();
    let value: String = other.get("greeting").await.unwrap();
    assert_eq!(value, "hello");
}

#[tokio::test]
async fn extra_args_are_applied() {
    let server = RedisServer::builder()
        .extra_args(["--maxmemory", "12mb"])
        .start();
    let mut conn = server.connection().await;
    let maxmemory: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(maxmemory, ["maxmemory", "12582912"]);
}

#[tokio::test]
async fn password_is_required() {
    let password = "s3cret:p@ss/word";
    let server = RedisServer::builder().password(password).start();
    assert_eq!(server.password(), Some(password));
    assert_eq!(
        server.url(),
        format!(
            "redis://:s3cret%3Ap%40ss%2Fword@127.0.0.1:{}",
            server.port()
        )
    );

    // Without the password: connecting works, commands are refused.
    let anonymous = redis::Client::open(format!("redis://{}", server.addr())).unwrap();
    let mut conn = anonymous.get_multiplexed_async_connection().await.unwrap();
    let err = ping(&mut conn).await.unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");

    // A wrong password is rejected at connect time.
    let wrong = redis::Client::open(format!("redis://:wrong@{}", server.addr())).unwrap();
    assert!(wrong.get_multiplexed_async_connection().await.is_err());

    // With the password (via the URL and via the fixture) it works.
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    assert_eq!(ping(&mut conn).await.unwrap(), "PONG");
    let mut conn = server.connection().await;
    assert_eq!(ping(&mut conn).await.unwrap(), "PONG");
}

#[tokio::test]
async fn acl_user_can_log_in() {
    let server = RedisServer::builder()
        .password("defaultpw")
        .acl_user("alice", "wonderland")
        .start();

    let info = ("127.0.0.1", server.port())
        .into_connection_info()
        .unwrap()
        .set_redis_settings(
            RedisConnectionInfo::default()
                .set_username("alice")
                .set_password("wonderland"),
        );
    let client = redis::Client::open(info).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let whoami: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(whoami, "alice");
    // Full rights: keys, pub/sub channels and all commands.
    let () = conn.set("alice-key", 1).await.unwrap();
    let n: i64 = conn.incr("alice-key", 1).await.unwrap();
    assert_eq!(n, 2);
    let _: i64 = conn.publish("any-channel", "x").await.unwrap();

    let wrong = redis::Client::open(format!("redis://alice:nope@{}", server.addr())).unwrap();
    let err = wrong.get_multiplexed_async_connection().await.unwrap_err();
    assert_eq!(err.kind(), redis::ErrorKind::AuthenticationFailed, "{err}");

    // The default user still uses the requirepass password.
    let mut conn = server.connection().await;
    let whoami: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(whoami, "default");
}

#[tokio::test]
async fn tls_server_requires_tls_and_trusts_the_ca() {
    let server = RedisServer::builder().tls(true).password("tlspw").start();
    assert!(server.is_tls());
    assert_eq!(
        server.url(),
        format!("rediss://:tlspw@localhost:{}", server.port())
    );
    let ca = server.tls_ca_pem().expect("CA PEM");
    assert!(String::from_utf8_lossy(&ca).starts_with("-----BEGIN CERTIFICATE-----"));

    let mut conn = bounded("TLS connection", server.connection()).await;
    assert_eq!(ping(&mut conn).await.unwrap(), "PONG");
    let () = conn.set("over-tls", "yes").await.unwrap();
    let ports: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("*port")
        .query_async(&mut conn)
        .await
        .unwrap();
    let ports: Vec<(&str, &str)> = ports
        .chunks(2)
        .map(|pair| (pair[0].as_str(), pair[1].as_str()))
        .collect();
    assert!(
        ports.contains(&("port", "0")),
        "plain TCP must be off: {ports:?}"
    );
    let tls_port = server.port().to_string();
    assert!(
        ports.contains(&("tls-port", tls_port.as_str())),
        "{ports:?}"
    );

    // The URL plus the CA, as an application would configure it.
    let client = redis::Client::build_with_tls(
        server.url(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(ca.clone()),
        },
    )
    .unwrap();
    let mut conn = bounded("TLS via URL", client.get_multiplexed_async_connection())
        .await
        .unwrap();
    let value: String = conn.get("over-tls").await.unwrap();
    assert_eq!(value, "yes");

    // The certificate is valid for 127.0.0.1 as well.
    let client = redis::Client::build_with_tls(
        format!("rediss://:tlspw@127.0.0.1:{}", server.port()),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(ca),
        },
    )
    .unwrap();
    let mut conn = bounded("TLS via IP", client.get_multiplexed_async_connection())
        .await
        .unwrap();
    assert_eq!(ping(&mut conn).await.unwrap(), "PONG");

    // Plain TCP to the TLS port does not work.
    let plain = redis::Client::open(format!("redis://:tlspw@{}", server.addr())).unwrap();
    let attempt = tokio::time::timeout(Duration::from_secs(3), async {
        let mut conn = plain.get_multiplexed_async_connection().await?;
        ping(&mut conn).await
    })
    .await;
    assert!(
        !matches!(attempt, Ok(Ok(_))),
        "plain TCP unexpectedly worked"
    );

    // Without the CA the certificate is not trusted.
    let untrusted = redis::Client::open(server.url()).unwrap();
    let attempt = tokio::time::timeout(
        Duration::from_secs(3),
        untrusted.get_multiplexed_async_connection(),
    )
    .await;
    assert!(!matches!(attempt, Ok(Ok(_))), "untrusted TLS worked");
}

#[tokio::test]
async fn unix_socket_connection() {
    let server = RedisServer::builder().unix_socket(true).start();
    let path = server.unix_socket_path().expect("socket path");
    assert!(path.starts_with(server.dir()));

    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);

    let client = redis::Client::open(ConnectionAddr::Unix(path)).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    assert_eq!(ping(&mut conn).await.unwrap(), "PONG");
    let () = conn.set("via-socket", 42).await.unwrap();

    // Same server over TCP.
    let mut tcp = server.connection().await;
    let value: i64 = tcp.get("via-socket").await.unwrap();
    assert_eq!(value, 42);
}

#[tokio::test]
async fn stop_and_restart_keep_the_port() {
    let mut server = RedisServer::builder().password("pw").start();
    let port = server.port();
    let first_pid = server.pid().unwrap();
    let mut conn = server.connection().await;
    let () = conn.set("survives", "no").await.unwrap();

    server.stop();
    assert!(!server.is_running());
    assert_eq!(server.pid(), None);
    assert!(!process_exists(first_pid), "the process must be reaped");
    let err = bounded("command to a stopped server", ping(&mut conn))
        .await
        .unwrap_err();
    assert!(err.is_io_error() || err.is_unrecoverable_error(), "{err}");
    assert!(
        redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .is_err()
    );
    server.stop(); // idempotent

    server.restart();
    assert!(server.is_running());
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), Some(first_pid));
    let mut conn = server.connection().await;
    assert_eq!(ping(&mut conn).await.unwrap(), "PONG");
    let value: Option<String> = conn.get("survives").await.unwrap();
    assert_eq!(value, None, "data is not kept across restarts");

    // Restarting a running server replaces the process.
    let pid = server.pid().unwrap();
    server.restart();
    assert_ne!(server.pid(), Some(pid));
    assert!(!process_exists(pid));
    let mut conn = server.connection().await;
    assert_eq!(ping(&mut conn).await.unwrap(), "PONG");
}

#[tokio::test]
async fn append_only_always_keeps_acknowledged_writes_across_sigkill() {
    let mut server = RedisServer::builder()
        .append_only(AppendFsync::Always)
        .start();
    assert_eq!(server.append_fsync(), Some(AppendFsync::Always));
    let mut conn = server.connection().await;
    assert_eq!(
        info_field(&mut conn, "persistence", "aof_enabled").await,
        "1"
    );
    let () = conn.set("survives", "yes").await.unwrap();
    let pid = server.pid().unwrap();
    server.restart(); // SIGKILL, no chance to flush anything
    assert!(!process_exists(pid));
    let mut conn = server.connection().await;
    let value: Option<String> = conn.get("survives").await.unwrap();
    assert_eq!(value.as_deref(), Some("yes"));
}

#[tokio::test]
async fn graceful_shutdown_keeps_everysec_writes() {
    let mut server = RedisServer::builder()
        .append_only(AppendFsync::EverySec)
        .start();
    let port = server.port();
    let mut conn = server.connection().await;
    assert_eq!(
        info_field(&mut conn, "persistence", "aof_enabled").await,
        "1"
    );
    let () = conn.set("survives", "graceful").await.unwrap();
    let pid = server.pid().unwrap();
    server.shutdown_and_restart();
    assert!(!process_exists(pid));
    assert_eq!(server.port(), port);
    let mut conn = server.connection().await;
    let value: Option<String> = conn.get("survives").await.unwrap();
    assert_eq!(value.as_deref(), Some("graceful"));
}

#[tokio::test]
async fn pause_stalls_commands_until_resume() {
    let server = RedisServer::start();
    let mut conn = server.connection().await;
    server.pause();
    let stalled = tokio::time::timeout(Duration::from_millis(300), ping(&mut conn)).await;
    assert!(
        stalled.is_err(),
        "a paused server must not answer: {stalled:?}"
    );
    server.resume();
    let mut conn = server.connection().await;
    assert_eq!(
        bounded("PING after resume", ping(&mut conn)).await.unwrap(),
        "PONG"
    );
}

#[test]
fn drop_kills_the_process_and_removes_the_dir() {
    let server = RedisServer::builder().unix_socket(true).start();
    let pid = server.pid().unwrap();
    let dir = server.dir().to_owned();
    assert!(process_exists(pid));
    drop(server);
    assert!(!process_exists(pid), "redis-server {pid} survived the drop");
    assert!(!dir.exists());
}

#[test]
fn drop_kills_the_process_when_the_test_panics() {
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let server = RedisServer::start();
        tx.send(server.pid().unwrap()).unwrap();
        panic!("simulated test failure");
    })
    .join();
    assert!(result.is_err());
    let pid = rx.recv().unwrap();
    assert!(
        !process_exists(pid),
        "redis-server {pid} survived the panic"
    );
}

#[test]
fn parallel_starts_get_distinct_ports() {
    let servers: Vec<RedisServer> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4).map(|_| scope.spawn(RedisServer::start)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ports: HashSet<u16> = servers.iter().map(RedisServer::port).collect();
    assert_eq!(ports.len(), servers.len());
    for server in &servers {
        let mut conn = server.client().get_connection().unwrap();
        let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
        assert_eq!(pong, "PONG");
    }
}

/// Which of the three equal slot ranges a slot falls in.
fn slot_range(slot: u16) -> usize {
    match slot {
        0..=5460 => 0,
        5461..=10922 => 1,
        _ => 2,
    }
}

#[tokio::test]
async fn cluster_serves_all_slots() {
    let cluster = RedisCluster::start();
    let addrs = cluster.addrs();
    let ports = cluster.ports();
    assert_eq!(addrs.len(), 3);
    for (addr, port) in addrs.iter().zip(&ports) {
        assert_eq!(addr, &format!("127.0.0.1:{port}"));
        assert!(*port < 55000);
        assert_ne!(*port, 6379);
    }

    // Every node is healthy and owns a third of the slots.
    for port in &ports {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(info.contains("cluster_state:ok"), "{info}");
        assert!(info.contains("cluster_known_nodes:3"), "{info}");
        assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
    }

    let mut conn = bounded("cluster connection", cluster.connection()).await;
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(info.contains("cluster_state:ok"), "{info}");

    let mut ranges = HashSet::new();
    for i in 0..30 {
        let key = format!("key-{i}");
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        ranges.insert(slot_range(slot));
        let () = conn.set(&key, i).await.unwrap();
    }
    assert_eq!(ranges.len(), 3, "keys should hit all three masters");
    for i in 0..30 {
        let value: i64 = conn.get(format!("key-{i}")).await.unwrap();
        assert_eq!(value, i);
    }
    // Multi-key commands work within one hash slot.
    let () = conn
        .mset(&[("{tag}a", "1"), ("{tag}b", "2")])
        .await
        .unwrap();
    let values: Vec<String> = conn.mget(&["{tag}a", "{tag}b"]).await.unwrap();
    assert_eq!(values, ["1", "2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_with_replicas_fails_over_without_losing_data() {
    let cluster = RedisCluster::builder().with_replicas(true).start();
    assert_eq!(cluster.addrs().len(), 6);
    let before = cluster.master_addrs();
    assert_eq!(before.len(), 3);
    let mut conn = cluster.connection().await;
    // "{a}" hashes to slot 15495: the third shard.
    let () = conn.set("{a}key", "kept").await.unwrap();
    tokio::task::block_in_place(|| cluster.failover(2));
    let after = cluster.master_addrs();
    assert_eq!(after[..2], before[..2]);
    assert_ne!(after[2], before[2], "the replica was promoted");
    let value: Option<String> = bounded("GET after failover", async {
        // The client learns the new slot owner from a MOVED reply.
        loop {
            match conn.get::<_, Option<String>>("{a}key").await {
                Ok(v) => break v,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    assert_eq!(value.as_deref(), Some("kept"));
    // And back again.
    tokio::task::block_in_place(|| cluster.failover(2));
    assert_eq!(cluster.master_addrs(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_slot_migration_moves_the_keys() {
    let cluster = RedisCluster::start();
    let mut conn = cluster.connection().await;
    // "{a}" hashes to slot 15495, served by the third shard.
    for i in 0..250 {
        let () = conn.set(format!("{{a}}k{i}"), i).await.unwrap();
    }
    tokio::task::block_in_place(|| cluster.migrate_slot(15495, 0));
    for i in 0..250 {
        let v: i64 = bounded("GET after migration", conn.get(format!("{{a}}k{i}")))
            .await
            .unwrap();
        assert_eq!(v, i);
    }
    let mut first = redis::Client::open(cluster.urls()[0].as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let count: i64 = redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(15495)
        .query_async(&mut first)
        .await
        .unwrap();
    assert_eq!(count, 250, "the first master now holds the slot's keys");
}

#[tokio::test]
async fn cluster_with_password() {
    let cluster = RedisCluster::builder().password("clusterpw").start();
    assert_eq!(cluster.password(), Some("clusterpw"));

    let anonymous = redis::Client::open(format!("redis://{}", cluster.addrs()[0])).unwrap();
    let mut conn = anonymous.get_multiplexed_async_connection().await.unwrap();
    let err = ping(&mut conn).await.unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");

    let mut conn = bounded("cluster connection", cluster.connection()).await;
    for i in 0..10 {
        let () = conn.set(format!("k{i}"), i).await.unwrap();
        let value: i64 = conn.get(format!("k{i}")).await.unwrap();
        assert_eq!(value, i);
    }
}

fn sentinel_client(group: &RedisSentinelGroup, server_type: SentinelServerType) -> SentinelClient {
    let node_info = group.password().map(|password| {
        SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(RedisConnectionInfo::default().set_password(password))
    });
    SentinelClient::build(
        group.sentinel_urls(),
        group.master_name(),
        node_info,
        server_type,
    )
    .unwrap()
}

async fn wait_until_visible(replica: &mut MultiplexedConnection, key: &str, expected: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let value: Option<String> = replica.get(key).await.unwrap();
        if value.as_deref() == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{key} never reached the replica (last value {value:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn exercise_sentinel_group(group: &RedisSentinelGroup) {
    assert_eq!(group.master_name(), "mymaster");
    assert_eq!(group.sentinel_addrs().len(), 3);
    let original_master = group.master_addr();
    let original_replica = group.replica_addr();
    assert_ne!(original_master, original_replica);

    // Every sentinel reports the master.
    for addr in group.sentinel_addrs() {
        let client = redis::Client::open(format!("redis://{addr}")).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let master: Vec<String> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg("mymaster")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(format!("{}:{}", master[0], master[1]), original_master);
    }

    // Discovery through the sentinels finds the master.
    let mut sentinel = sentinel_client(group, SentinelServerType::Master);
    let mut master = bounded("sentinel discovery", sentinel.get_async_connection())
        .await
        .unwrap();
    assert_eq!(
        info_field(&mut master, "replication", "role").await,
        "master"
    );
    assert_eq!(
        info_field(&mut master, "server", "tcp_port").await,
        group.master_port().to_string()
    );
    let () = master.set("before-failover", "1").await.unwrap();

    // Writes to the master are visible on the replica.
    let mut replica = group.replica_connection().await;
    assert_eq!(
        info_field(&mut replica, "replication", "role").await,
        "slave"
    );
    wait_until_visible(&mut replica, "before-failover", "1").await;

    // Failover: the replica becomes the master.
    group.failover().await;
    assert_eq!(group.master_addr(), original_replica);
    assert_eq!(group.replica_addr(), original_master);

    let mut sentinel = sentinel_client(group, SentinelServerType::Master);
    let mut master = bounded("sentinel discovery", sentinel.get_async_connection())
        .await
        .unwrap();
    assert_eq!(
        info_field(&mut master, "server", "tcp_port").await,
        group.master_port().to_string()
    );
    assert_eq!(
        info_field(&mut master, "replication", "role").await,
        "master"
    );
    let value: String = master.get("before-failover").await.unwrap();
    assert_eq!(value, "1");
    let () = master.set("after-failover", "2").await.unwrap();

    // The old master now replicates from the new one.
    let mut old = group.replica_connection().await;
    assert_eq!(info_field(&mut old, "replication", "role").await, "slave");
    wait_until_visible(&mut old, "after-failover", "2").await;
}

#[tokio::test]
async fn sentinel_discovery_replication_and_failover() {
    let group = RedisSentinelGroup::start();
    assert_eq!(group.password(), None);
    exercise_sentinel_group(&group).await;
}

#[tokio::test]
async fn sentinel_with_password() {
    let group = RedisSentinelGroup::builder().password("sentinelpw").start();
    assert_eq!(group.password(), Some("sentinelpw"));

    let anonymous = redis::Client::open(format!("redis://{}", group.master_addr())).unwrap();
    let mut conn = anonymous.get_multiplexed_async_connection().await.unwrap();
    let err = ping(&mut conn).await.unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");

    exercise_sentinel_group(&group).await;
    // A second failover (back to the original master) works as well.
    let master = group.master_addr();
    group.failover().await;
    assert_eq!(group.replica_addr(), master);
    let mut conn = group.master_connection().await;
    assert_eq!(info_field(&mut conn, "replication", "role").await, "master");
}

#[test]
#[should_panic(expected = "Bad directive or wrong number of arguments")]
fn bad_arguments_panic_with_the_server_output() {
    let _server = RedisServer::builder()
        .extra_args(["--no-such-option", "x"])
        .start();
}

#[test]
#[should_panic(expected = "could not get a free port")]
fn port_conflicts_are_retried_then_reported() {
    // Force every attempt onto a port somebody else holds: each start fails
    // with "Address already in use", is retried with a new port, and the
    // fixture finally gives up with the server's log.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let _server = RedisServer::builder()
        .extra_args(["--port", port.as_str()])
        .start();
}

#[test]
fn fixtures_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + std::fmt::Debug>() {}
    assert_send_sync::<RedisServer>();
    assert_send_sync::<RedisCluster>();
    assert_send_sync::<RedisSentinelGroup>();
}
