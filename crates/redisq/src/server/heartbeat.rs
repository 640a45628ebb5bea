//! The heartbeat: writes the server's state and its workers (so `asynq server ls` and the
//! inspector see them), extends the leases of running tasks in one write per queue, and
//! signals tasks whose lease could not be extended in time.
//!
//! It runs on a thread of its own, with its own single-threaded runtime and its own Redis
//! connection: a handler that blocks its runtime thread (CPU-bound work or a blocking call
//! inside an async handler) can starve every task of the application's runtime, the shared
//! connection's I/O included, but not this thread, so the leases of the tasks still running
//! keep being extended and none is handed out twice.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures_util::FutureExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::state::{ActiveTask, Shared};
use crate::core::time;
use crate::rdb::Rdb;
use crate::rdb::proto::{ServerInfo, WorkerInfo, timestamp_from};
use crate::runtime::metrics;
use crate::runtime::sleep_or;
use crate::runtime::supervise::panic_message;

/// Starts the heartbeat thread: it beats every interval until `done`, then removes the
/// server's state and fires the returned channel. The first beat is written by
/// `Server::start` itself, before any task is taken, so the server is visible before it
/// works.
pub(crate) fn start(shared: Arc<Shared>, done: CancellationToken) -> oneshot::Receiver<()> {
    let (finished, rx) = oneshot::channel();
    let thread_shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("redisq-heartbeat".into())
        .spawn(move || {
            let shared = thread_shared;
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(run(&shared, &done)),
                Err(e) => shared.log.error(format_args!(
                    "could not start the heartbeat runtime: {e}; leases are not extended"
                )),
            }
            let _ = finished.send(());
        });
    if let Err(e) = spawned {
        shared.log.error(format_args!(
            "could not start the heartbeat thread: {e}; leases are not extended"
        ));
    }
    rx
}

async fn run(shared: &Shared, done: &CancellationToken) {
    let mut own = None;
    while sleep_or(done, shared.config.heartbeat_interval).await {
        // A connection driven by this thread; until one can be opened (Redis may be away),
        // the shared one.
        if own.is_none() {
            match shared.rdb.conn().reopen().await {
                Ok(conn) => own = Some(Rdb::new(conn, shared.rdb.keys().clone())),
                Err(e) => shared.redis_error("heartbeat: could not open its own connection", &e),
            }
        }
        let rdb = own.as_ref().unwrap_or(&shared.rdb);
        // A panic in one beat must not end the heartbeat (the leases would expire).
        if let Err(p) = AssertUnwindSafe(beat(shared, rdb)).catch_unwind().await {
            shared.log.error(format_args!(
                "heartbeat panicked: {}; beating on",
                panic_message(&*p)
            ));
        }
    }
    let rdb = own.as_ref().unwrap_or(&shared.rdb);
    if let Err(e) = rdb
        .clear_server_state(&shared.host, shared.pid, &shared.server_id)
        .await
    {
        shared.redis_error("could not clear the server state", &e);
    }
}

pub(crate) async fn beat(shared: &Shared, rdb: &Rdb) {
    let now = SystemTime::now();
    let active = shared.active_snapshot();
    let info = ServerInfo {
        host: shared.host.clone(),
        pid: i32::try_from(shared.pid).unwrap_or(i32::MAX),
        server_id: shared.server_id.clone(),
        concurrency: i32::try_from(shared.config.concurrency).unwrap_or(i32::MAX),
        queues: shared
            .config
            .queues
            .iter()
            .map(|(q, p)| (q.clone(), i32::try_from(*p).unwrap_or(i32::MAX)))
            .collect(),
        strict_priority: shared.config.strict_priority,
        status: shared.status().as_str().to_string(),
        start_time: Some(timestamp_from(Some(shared.started))),
        active_worker_count: i32::try_from(active.len()).unwrap_or(i32::MAX),
    };
    let workers: Vec<WorkerInfo> = active
        .iter()
        .map(|a| WorkerInfo {
            host: shared.host.clone(),
            pid: info.pid,
            server_id: shared.server_id.clone(),
            task_id: a.msg.id.clone(),
            task_type: a.msg.r#type.clone(),
            task_payload: a.msg.payload.clone(),
            queue: a.msg.queue.clone(),
            start_time: Some(timestamp_from(Some(a.started))),
            deadline: Some(timestamp_from(Some(a.deadline))),
        })
        .collect();
    // Extend leases first, one write per queue (only a successful write renews the local
    // lease), so a worker listed in the server state always has its lease extended.
    let mut by_queue: BTreeMap<&str, Vec<&Arc<ActiveTask>>> = BTreeMap::new();
    for a in &active {
        by_queue.entry(a.msg.queue.as_str()).or_default().push(a);
    }
    let lease = shared.config.lease_duration;
    for (queue, tasks) in by_queue {
        let ids: Vec<String> = tasks.iter().map(|a| a.msg.id.clone()).collect();
        let renewed_at = Instant::now();
        match rdb
            .extend_leases(queue, &ids, time::lease_secs(lease))
            .await
        {
            Ok(missing) => {
                let lost = tasks.iter().filter(|a| missing.contains(&a.msg.id)).count();
                metrics::record_lease_renewals(tasks.len() - lost, lost);
                for a in tasks {
                    if missing.contains(&a.msg.id) {
                        // Someone else took the task (a recoverer, an operator), or it has just
                        // been completed: stop working on it so two workers never write its
                        // outcome. (Debug level: a task completing during the beat lands here.)
                        shared.log.debug(format_args!(
                            "task {} of queue {queue:?} lost its lease entry; stopping it",
                            a.msg.id
                        ));
                        a.lose_lease();
                    } else if let Ok(mut l) = a.lease_until.lock() {
                        *l = renewed_at + lease;
                    }
                }
            }
            Err(e) => {
                metrics::record_lease_renewal_error(tasks.len());
                shared.redis_error("could not extend leases", &e);
            }
        }
    }
    let ttl = shared.config.heartbeat_interval * 2;
    if let Err(e) = rdb.write_server_state(&info, &workers, ttl, now).await {
        shared.redis_error("could not write the server state", &e);
    }

    for a in &active {
        if !a.lease_valid() {
            a.lose_lease();
        }
    }
}
