//! Process and Redis faults: killed workers, Redis restarts, pauses, killed and half-open
//! connections, memory exhaustion, Sentinel and Cluster failovers, slot migration.

use super::*;

/// SIGKILL a random worker every 0.4–1.2 s while tasks flow; restart it after 200 ms.
pub(super) async fn worker_kill(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let mut h = Harness::start("worker-kill", opts, &redis.url(), &redis.url())?;
    let load = h.start_load(h.plan()).await?;
    h.kill_workers_during(&load, 400..1200).await?;
    h.finish(load).await
}

/// Restart Redis (append-only) every 1–2 s, alternating a graceful `SHUTDOWN` and a SIGKILL.
///
/// With `appendfsync always` every acknowledged write is on disk: nothing may be lost. With
/// `everysec` a SIGKILL may lose the writes of the last second or two (Redis fsyncs once a
/// second and, when a sync is slow, lets the next one wait up to another second), so
/// acknowledged enqueues from the 2 s before a SIGKILL may be missing: they are counted
/// apart; any other missing task is lost.
pub(super) async fn redis_restart(opts: &RunOptions, fsync: AppendFsync) -> Result<Report, String> {
    let mut redis = RedisServer::builder().append_only(fsync).start();
    let name = match fsync {
        AppendFsync::Always => "redis-restart-always",
        _ => "redis-restart-everysec",
    };
    let url = redis.url();
    let mut h = Harness::start(name, opts, &url, &url)?;
    let load = h.start_load(h.plan()).await?;
    let mut graceful = true;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        if graceful {
            tokio::task::block_in_place(|| redis.shutdown_and_restart());
            h.fault("redis SHUTDOWN + restart", start, None, None);
        } else {
            tokio::task::block_in_place(|| redis.restart());
            let window = (fsync == AppendFsync::EverySec).then_some(2000);
            h.fault("redis SIGKILL + restart", start, None, window);
        }
        graceful = !graceful;
    }
    h.finish(load).await
}

/// SIGSTOP Redis for 4 s (longer than the 3 s read timeout), then SIGCONT; repeated.
pub(super) async fn redis_pause(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let mut h = Harness::start("redis-pause", opts, &redis.url(), &redis.url())?;
    let load = h.start_load(h.plan()).await?;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        redis.pause();
        tokio::time::sleep(Duration::from_secs(4)).await;
        redis.resume();
        h.fault("redis SIGSTOP 4 s", start, None, None);
    }
    h.finish(load).await
}

/// `CLIENT KILL` storms: every client connection (normal and pub/sub) killed every 100 ms
/// for 2 s, then 1–2 s of calm.
pub(super) async fn client_kill(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let mut h = Harness::start("client-kill", opts, &redis.url(), &redis.url())?;
    let load = h.start_load(h.plan()).await?;
    let mut admin = state::connect(&redis.url()).await?;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        for _ in 0..20 {
            for kind in ["normal", "pubsub"] {
                // Our own connection is skipped (SKIPME yes is the default).
                let _: redis::RedisResult<i64> = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg(kind)
                    .query_async(&mut admin)
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        h.fault("CLIENT KILL storm 2 s", start, None, None);
    }
    h.finish(load).await
}

/// Half-open connections: the workers reach Redis through a proxy that freezes every open
/// connection (nothing is forwarded, nothing is closed), as a dead network path would. The
/// frozen connections are left open; the workers must notice by themselves (read timeouts,
/// pub/sub pings) and reconnect.
pub(super) async fn half_open(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let proxy = TcpProxy::start(redis.addr());
    let mut h = Harness::start("half-open", opts, &redis.url(), &proxy.url())?;
    let load = h.start_load(h.plan()).await?;
    while !load.is_finished() {
        h.pause(1500..2500).await;
        let start = now_ms();
        proxy.freeze_existing();
        h.fault("freeze every worker connection", start, None, None);
        // The frozen connections block their commands (lease extensions too) until the read
        // timeout; with a lease shorter than that, leases run out and tasks are recovered.
        if let Some(f) = h.faults.last_mut() {
            f.lingers_ms = redisq::DEFAULT_READ_TIMEOUT.as_millis() as u64 + 500;
        }
    }
    let report = h.finish(load).await;
    drop(proxy);
    report
}

/// Out of memory: `maxmemory` set to the memory in use (`noeviction`) for 2 s, then lifted.
/// Enqueues must fail cleanly (no half-written task), servers keep running and drain after.
pub(super) async fn oom(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let mut h = Harness::start("oom", opts, &redis.url(), &redis.url())?;
    let load = h.start_load(h.plan()).await?;
    let mut admin = state::connect(&redis.url()).await?;
    let setter = admin.clone();
    let config_set = move |name: &'static str, value: String| {
        let mut admin = setter.clone();
        async move {
            redis::cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(value)
                .query_async::<()>(&mut admin)
                .await
                .map_err(|e| format!("CONFIG SET {name}: {e}"))
        }
    };
    config_set("maxmemory-policy", "noeviction".to_owned()).await?;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut admin)
            .await
            .map_err(|e| e.to_string())?;
        let used = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or("INFO memory has no used_memory")?;
        let start = now_ms();
        config_set("maxmemory", used.to_string()).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        config_set("maxmemory", "0".to_owned()).await?;
        h.fault("maxmemory reached 2 s", start, None, None);
    }
    h.finish(load).await
}

/// Sentinel failover under load: a forced `SENTINEL FAILOVER` every 1–2 s (the replica is
/// promoted, the old master follows it). Workers and the producer find the master through
/// the sentinels. Replication is asynchronous, so enqueues acknowledged by the old master in
/// the second before a failover and during it may be missing afterwards: they are counted
/// apart (lost in window), like `everysec` losses.
pub(super) async fn sentinel_failover(opts: &RunOptions) -> Result<Report, String> {
    let group = tokio::task::spawn_blocking(RedisSentinelGroup::start)
        .await
        .map_err(|e| format!("cannot start the sentinel group: {e}"))?;
    let uri = format!(
        "redis-sentinel://{}?master={}",
        group.sentinel_addrs().join(","),
        group.master_name()
    );
    let mut h = Harness::start("sentinel-failover", opts, &uri, &uri)?;
    h.state_url = format!("redis://{}", group.master_addr());
    let load = h.start_load(h.plan()).await?;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        group.failover().await;
        h.fault("sentinel failover", start, None, Some(1000));
    }
    h.state_url = format!("redis://{}", group.master_addr());
    h.finish(load).await
}

/// Redis Cluster failover under load: 3 masters with a replica each; every 1–2 s one shard's
/// replica is promoted with `CLUSTER FAILOVER` (coordinated: the master stops taking writes
/// until the replica has caught up, so no acknowledged write may be lost), shard after shard.
pub(super) async fn cluster_failover(opts: &RunOptions) -> Result<Report, String> {
    let cluster =
        tokio::task::spawn_blocking(|| RedisCluster::builder().with_replicas(true).start())
            .await
            .map_err(|e| format!("cannot start the cluster: {e}"))?;
    let url = format!("cluster:{}", cluster.addrs().join(","));
    let mut h = Harness::start("cluster-failover", opts, &url, &url)?;
    let load = h.start_load(h.plan()).await?;
    let mut shard = 0;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        tokio::task::block_in_place(|| cluster.failover(shard));
        h.fault("cluster failover (replica promoted)", start, None, None);
        shard = (shard + 1) % 3;
    }
    h.finish(load).await
}

/// Slot migration while tasks flow: on a 3-master Cluster, every 1–2 s the hash slot of
/// `{critical}` (all of that queue's keys) is moved to the next master, as
/// `redis-cli --cluster reshard` does; clients meet `ASK` and `TRYAGAIN` replies meanwhile.
pub(super) async fn slot_migration(opts: &RunOptions) -> Result<Report, String> {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .map_err(|e| format!("cannot start the cluster: {e}"))?;
    let url = format!("cluster:{}", cluster.addrs().join(","));
    let mut h = Harness::start("slot-migration", opts, &url, &url)?;
    let mut admin = state::connect(&url).await?;
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("asynq:{critical}:pending")
        .query_async(&mut admin)
        .await
        .map_err(|e| format!("CLUSTER KEYSLOT: {e}"))?;
    let load = h.start_load(h.plan()).await?;
    let mut shard = 0;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        tokio::task::block_in_place(|| cluster.migrate_slot(slot, shard));
        h.fault("slot of {critical} migrated", start, None, None);
        shard = (shard + 1) % 3;
    }
    h.finish(load).await
}
