//! Replays asynq's recorded processing scenarios with a redisq server and compares the Redis
//! keyspace at each checkpoint with the recordings. Where redisq decided to differ (D3, D6,
//! D9), the expectation is patched explicitly and the patch says why.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use redisq::{
    Client, Config, HandlerError, Inspector, Server, Task, TaskContext, TaskOption, parse_redis_uri,
};
use redisq_conformance::{
    CompareOptions, Dump, ExpectedBytes, ExpectedDump, ExpectedKey, ExpectedValue, ExpectedZMember,
    ProtoValue, Scenario, Step, TimeUnit, compare_dump, dump, now_unix_ns,
};
use redisq_test_support::RedisServer;
use tokio::sync::{mpsc, oneshot};

struct Replay {
    server: RedisServer,
    client: Client,
    t0: i64,
}

impl Replay {
    async fn start() -> Replay {
        let server = RedisServer::start();
        let client = Client::connect(parse_redis_uri(&server.url()).expect("uri"))
            .await
            .expect("client");
        Replay {
            server,
            client,
            t0: now_unix_ns(),
        }
    }

    fn opt(&self) -> redisq::RedisConnOpt {
        parse_redis_uri(&self.server.url()).expect("uri")
    }

    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        self.server.connection().await
    }

    async fn dump(&self) -> Dump {
        dump(&mut self.conn().await).await
    }

    fn check(
        &self,
        step: &Step,
        actual: &Dump,
        tolerance: f64,
        patch: impl FnOnce(&mut ExpectedDump),
    ) {
        let mut expected = step.expected_dump();
        patch(&mut expected);
        compare_dump(
            &expected,
            actual,
            self.t0,
            &CompareOptions::new().tolerance(tolerance),
        )
        .unwrap_or_else(|m| panic!("{}: {m}", step.name()));
    }

    async fn server(&self, config: Config) -> Server {
        Server::new(self.opt(), config).await.expect("server")
    }

    /// Polls Redis until `cond` holds on a fresh dump.
    async fn wait_for(&self, what: &str, cond: impl Fn(&Dump) -> bool) -> Dump {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let d = self.dump().await;
            if cond(&d) {
                return d;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The server settings the recordings used (conformance README §3.1).
fn scenario_config() -> Config {
    Config::new()
        .concurrency(2)
        .queues([("default", 1)])
        .task_check_interval(Duration::from_millis(100))
        .retry_delay(|_, _, _| Duration::from_secs(60))
}

fn hash_field(d: &Dump, key: &str, field: &str) -> Option<Vec<u8>> {
    match d.get(key).map(|k| &k.value) {
        Some(redisq_conformance::DumpValue::Hash(h)) => h.get(field.as_bytes()).cloned(),
        _ => None,
    }
}

fn has_key(d: &Dump, key: &str) -> bool {
    d.get(key).is_some()
}

/// A handler that dumps Redis from inside the handler and hands the dump out, then returns
/// what `result` says.
fn dumping_handler(
    url: String,
    tx: mpsc::UnboundedSender<Dump>,
    before: Option<&'static [u8]>,
    result: fn() -> Result<(), HandlerError>,
) -> impl redisq::Handler {
    move |ctx: TaskContext, _task: Task| {
        let (url, tx) = (url.clone(), tx.clone());
        async move {
            if let Some(data) = before {
                assert_eq!(
                    ctx.result_writer().write(data).await.expect("write"),
                    data.len()
                );
            }
            let mut c = redis::Client::open(url.as_str())
                .expect("client")
                .get_multiplexed_async_connection()
                .await
                .expect("conn");
            let _ = tx.send(dump(&mut c).await);
            result()
        }
    }
}

#[tokio::test]
async fn f_process_success() {
    let sc = Scenario::load("f_process_success");
    let r = Replay::start().await;
    r.client
        .enqueue_with(&Task::new("echo", "hello"), [TaskOption::task_id("task-f")])
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), &r.dump().await, 2.0, |_| {});
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = r.server(scenario_config()).await;
    server
        .start(dumping_handler(r.server.url(), tx, None, || Ok(())))
        .await
        .expect("start");
    let inside = rx.recv().await.expect("handler ran");
    r.check(sc.step("inside_handler"), &inside, 2.0, |_| {});
    r.wait_for("task done", |d| !has_key(d, "asynq:{default}:t:task-f"))
        .await;
    server.shutdown().await;
    r.check(
        sc.step("after_server_shutdown"),
        &r.dump().await,
        2.0,
        |_| {},
    );
}

#[tokio::test]
async fn g_process_retention_result() {
    let sc = Scenario::load("g_process_retention_result");
    let r = Replay::start().await;
    r.client
        .enqueue_with(
            &Task::new("echo", "compute"),
            [
                TaskOption::retention(Duration::from_secs(3600)),
                TaskOption::task_id("task-g"),
            ],
        )
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), &r.dump().await, 2.0, |_| {});
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = r.server(scenario_config()).await;
    server
        .start(dumping_handler(r.server.url(), tx, Some(b"ok"), || Ok(())))
        .await
        .expect("start");
    let inside = rx.recv().await.expect("handler ran");
    r.check(
        sc.step("inside_handler_after_result_write"),
        &inside,
        2.0,
        |_| {},
    );
    r.wait_for("completed", |d| {
        hash_field(d, "asynq:{default}:t:task-g", "state").as_deref() == Some(b"completed")
    })
    .await;
    server.shutdown().await;
    r.check(
        sc.step("after_server_shutdown"),
        &r.dump().await,
        2.0,
        |_| {},
    );
}

/// Runs one task through a server whose handler returns `result`, waits for `state`, shuts
/// down, and compares the final dump.
async fn fail_scenario(
    name: &str,
    task: Task,
    id: &str,
    state: &'static str,
    result: fn() -> Result<(), HandlerError>,
) {
    let sc = Scenario::load(name);
    let r = Replay::start().await;
    r.client
        .enqueue_with(&task, [TaskOption::task_id(id)])
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), &r.dump().await, 2.0, |_| {});
    let server = r.server(scenario_config()).await;
    server
        .start(move |_c: TaskContext, _t: Task| async move { result() })
        .await
        .expect("start");
    let key = format!("asynq:{{default}}:t:{id}");
    r.wait_for(state, |d| match state {
        "deleted" => !has_key(d, &key),
        s => hash_field(d, &key, "state").as_deref() == Some(s.as_bytes()),
    })
    .await;
    server.shutdown().await;
    r.check(
        sc.step("after_server_shutdown"),
        &r.dump().await,
        2.0,
        |_| {},
    );
}

#[tokio::test]
async fn h_fail_retry() {
    fail_scenario(
        "h_fail_retry",
        Task::new("fail", "once").with_option(TaskOption::max_retry(3)),
        "task-h",
        "retry",
        || Err(HandlerError::msg("something went wrong")),
    )
    .await;
}

#[tokio::test]
async fn i_fail_archive_maxretry0() {
    fail_scenario(
        "i_fail_archive_maxretry0",
        Task::new("fail", "never").with_option(TaskOption::max_retry(0)),
        "task-i",
        "archived",
        || Err(HandlerError::msg("permanent failure")),
    )
    .await;
}

#[tokio::test]
async fn j1_skip_retry() {
    fail_scenario(
        "j1_skip_retry",
        Task::new("fail", "skip").with_option(TaskOption::max_retry(5)),
        "task-j1",
        "archived",
        || Err(HandlerError::skip_retry("invalid payload")),
    )
    .await;
}

#[tokio::test]
async fn j2_revoke_task() {
    fail_scenario(
        "j2_revoke_task",
        Task::new("fail", "revoke").with_option(TaskOption::max_retry(5)),
        "task-j2",
        "deleted",
        || Err(HandlerError::revoke("no longer needed")),
    )
    .await;
}

#[tokio::test]
async fn s_timeout_exceeded() {
    let sc = Scenario::load("s_timeout_exceeded");
    let r = Replay::start().await;
    r.client
        .enqueue_with(
            &Task::new("slow", "x"),
            [
                TaskOption::timeout(Duration::from_secs(1)),
                TaskOption::max_retry(0),
                TaskOption::task_id("task-s"),
            ],
        )
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), &r.dump().await, 2.0, |_| {});
    let server = r.server(scenario_config()).await;
    server
        .start(|ctx: TaskContext, _t: Task| async move {
            ctx.cancelled().await;
            Err(HandlerError::msg("stopped"))
        })
        .await
        .expect("start");
    r.wait_for("archived", |d| {
        hash_field(d, "asynq:{default}:t:task-s", "state").as_deref() == Some(b"archived")
    })
    .await;
    server.shutdown().await;
    r.check(
        sc.step("after_server_shutdown"),
        &r.dump().await,
        3.0,
        |_| {},
    );
}

#[tokio::test]
async fn w_requeue_on_shutdown_timeout() {
    let sc = Scenario::load("w_requeue_on_shutdown_timeout");
    let r = Replay::start().await;
    r.client
        .enqueue_with(
            &Task::new("sleep", "stuck"),
            [TaskOption::task_id("task-w")],
        )
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), &r.dump().await, 2.0, |_| {});
    let (tx, rx) = oneshot::channel::<()>();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let server = r
        .server(scenario_config().shutdown_timeout(Duration::from_secs(1)))
        .await;
    server
        .start(move |_c: TaskContext, _t: Task| {
            let tx = tx.clone();
            async move {
                if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                    let _ = tx.send(());
                }
                // Ignores cancellation, like a handler stuck in blocking work.
                std::future::pending::<()>().await;
                Ok(())
            }
        })
        .await
        .expect("start");
    rx.await.expect("handler started");
    r.check(sc.step("while_active"), &r.dump().await, 2.0, |_| {});
    let shutdown_at = now_unix_ns();
    server.shutdown().await;
    let offset = (shutdown_at - r.t0) as f64 / 1e9 + 1.0;
    r.check(sc.step("after_shutdown"), &r.dump().await, 2.0, |e| {
        // D9: the requeue sets pending_since (asynq leaves it unset).
        e.set_hash_field_time_offset(
            "asynq:{default}:t:task-w",
            "pending_since",
            TimeUnit::Nanoseconds,
            offset,
        );
    });
}

#[tokio::test]
async fn v_cancel_processing() {
    let sc = Scenario::load("v_cancel_processing");
    let r = Replay::start().await;
    r.client
        .enqueue_with(
            &Task::new("sleep", "cancel-me"),
            [TaskOption::max_retry(3), TaskOption::task_id("task-v")],
        )
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), &r.dump().await, 2.0, |_| {});
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let server = r.server(scenario_config()).await;
    server
        .start(move |ctx: TaskContext, _t: Task| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(());
                ctx.cancelled().await;
                Err(HandlerError::msg("context canceled"))
            }
        })
        .await
        .expect("start");
    rx.recv().await.expect("handler started");
    let mut c = r.conn().await;
    loop {
        let subs: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("asynq:cancel")
            .query_async(&mut c)
            .await
            .expect("numsub");
        if subs.first().is_some_and(|(_, n)| *n > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let inspector = Inspector::connect(r.opt()).await.expect("inspector");
    inspector.cancel_processing("task-v").await.expect("cancel");
    let cancelled_at = now_unix_ns();
    r.wait_for("archived", |d| {
        hash_field(d, "asynq:{default}:t:task-v", "state").as_deref() == Some(b"archived")
    })
    .await;
    server.shutdown().await;
    let at = (cancelled_at - r.t0) as f64 / 1e9;
    r.check(
        sc.step("after_cancel_and_shutdown"),
        &r.dump().await,
        2.0,
        |e| {
            // D6: a cancelled task is archived with "task canceled" instead of being retried.
            e.remove_key("asynq:{default}:retry");
            e.insert_key(ExpectedKey::new(
                "asynq:{default}:archived",
                ExpectedValue::ZSet(vec![ExpectedZMember {
                    member: ExpectedBytes::text("task-v"),
                    score_t0_offset_s: at,
                }]),
            ));
            let key = "asynq:{default}:t:task-v";
            e.set_hash_field_bytes(key, "state", b"archived".to_vec());
            let msg = e.hash_proto_mut(key, "msg");
            msg.set("error_msg", ProtoValue::String("task canceled".into()));
            msg.set("retried", ProtoValue::Int(0));
        },
    );
}

#[tokio::test]
async fn u_janitor_deletes_expired_completed() {
    let sc = Scenario::load("u_janitor_deletes_expired_completed");
    let r = Replay::start().await;
    r.client
        .enqueue_with(
            &Task::new("echo", "short"),
            [
                TaskOption::retention(Duration::from_secs(1)),
                TaskOption::task_id("task-u"),
            ],
        )
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), &r.dump().await, 2.0, |_| {});
    let server = r
        .server(scenario_config().janitor_interval(Duration::from_secs(1)))
        .await;
    server
        .start(|_c: TaskContext, _t: Task| async { Ok(()) })
        .await
        .expect("start");
    let completed = r
        .wait_for("completed", |d| {
            hash_field(d, "asynq:{default}:t:task-u", "state").as_deref() == Some(b"completed")
        })
        .await;
    r.check(sc.step("completed"), &completed, 2.0, |_| {});
    r.wait_for("janitor", |d| !has_key(d, "asynq:{default}:t:task-u"))
        .await;
    server.shutdown().await;
    r.check(
        sc.step("after_janitor_and_shutdown"),
        &r.dump().await,
        3.0,
        |_| {},
    );
}

#[tokio::test]
async fn t_forwarder_scheduled_to_pending() {
    let sc = Scenario::load("t_forwarder_scheduled_to_pending");
    let r = Replay::start().await;
    let in_1s = TaskOption::process_in(Duration::from_secs(1));
    r.client
        .enqueue_with(
            &Task::new("echo", "plain"),
            [
                TaskOption::queue("fwd"),
                in_1s.clone(),
                TaskOption::task_id("task-t1"),
            ],
        )
        .await
        .expect("enqueue");
    r.client
        .enqueue_with(
            &Task::new("echo", "grouped"),
            [
                TaskOption::queue("fwd"),
                TaskOption::group("g1"),
                in_1s,
                TaskOption::task_id("task-t2"),
            ],
        )
        .await
        .expect("enqueue");
    // PauseQueue, until the Inspector has it.
    let mut c = r.conn().await;
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let _: () = c.set("asynq:{fwd}:paused", now_s).await.expect("pause");
    // D3: the scheduled grouped task keeps its group in the hash.
    let d3_hash = |e: &mut ExpectedDump| {
        e.set_hash_field_bytes("asynq:{fwd}:t:task-t2", "group", b"g1".to_vec());
    };
    r.check(
        sc.step("after_schedule_and_pause"),
        &r.dump().await,
        2.0,
        d3_hash,
    );
    let server = r
        .server(
            scenario_config()
                .queues([("fwd", 1)])
                .delayed_task_check_interval(Duration::from_secs(1)),
        )
        .await;
    server
        .start(|_c: TaskContext, _t: Task| async { Ok(()) })
        .await
        .expect("start");
    let key = |id: &str| format!("asynq:{{fwd}}:t:{id}");
    r.wait_for("both forwarded", |d| {
        hash_field(d, &key("task-t1"), "state").as_deref() == Some(b"pending")
            && hash_field(d, &key("task-t2"), "state").as_deref() == Some(b"aggregating")
    })
    .await;
    server.shutdown().await;
    r.check(
        sc.step("after_server_shutdown"),
        &r.dump().await,
        3.0,
        |e| {
            d3_hash(e);
            // D3: task-t2 went into its group, which is registered in `groups`.
            let t2 = key("task-t2");
            let off = match e.get(&t2).map(|k| &k.value) {
                Some(ExpectedValue::Hash(h)) => match h.get("pending_since") {
                    Some(ExpectedBytes::Time { t0_offset_s, .. }) => *t0_offset_s,
                    _ => 1.0,
                },
                _ => 1.0,
            };
            e.remove_hash_field(&t2, "pending_since");
            e.set_hash_field_bytes(&t2, "state", b"aggregating".to_vec());
            if let ExpectedValue::List(items) = e.value_mut("asynq:{fwd}:pending") {
                items.retain(|b| *b != ExpectedBytes::text("task-t2"));
            }
            e.insert_key(ExpectedKey::new(
                "asynq:{fwd}:g:g1",
                ExpectedValue::ZSet(vec![ExpectedZMember {
                    member: ExpectedBytes::text("task-t2"),
                    score_t0_offset_s: off,
                }]),
            ));
            e.insert_key(ExpectedKey::new(
                "asynq:{fwd}:groups",
                ExpectedValue::Set(vec![ExpectedBytes::text("g1")]),
            ));
        },
    );
}

#[tokio::test]
async fn h2_retry_then_archive() {
    let sc = Scenario::load("h2_retry_then_archive");
    let r = Replay::start().await;
    r.client
        .enqueue_with(
            &Task::new("fail", "twice"),
            [TaskOption::max_retry(1), TaskOption::task_id("task-h2")],
        )
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), &r.dump().await, 2.0, |_| {});
    let (tx, mut rx) = mpsc::unbounded_channel();
    let url = r.server.url();
    let server = r
        .server(
            scenario_config()
                .retry_delay(|_, _, _| Duration::from_secs(1))
                .delayed_task_check_interval(Duration::from_secs(1)),
        )
        .await;
    server
        .start(move |ctx: TaskContext, _t: Task| {
            let (tx, url) = (tx.clone(), url.clone());
            async move {
                if ctx.retry_count() == 1 {
                    let mut c = redis::Client::open(url.as_str())
                        .expect("client")
                        .get_multiplexed_async_connection()
                        .await
                        .expect("conn");
                    let _ = tx.send(dump(&mut c).await);
                }
                Err(HandlerError::msg("attempt failed"))
            }
        })
        .await
        .expect("start");
    let key = "asynq:{default}:t:task-h2";
    let first = r
        .wait_for("first failure", |d| {
            hash_field(d, key, "state").as_deref() == Some(b"retry")
        })
        .await;
    r.check(sc.step("after_first_failure"), &first, 3.0, |_| {});
    let inside = rx.recv().await.expect("second attempt");
    r.check(
        sc.step("second_attempt_inside_handler"),
        &inside,
        3.0,
        |_| {},
    );
    r.wait_for("archived", |d| {
        hash_field(d, key, "state").as_deref() == Some(b"archived")
    })
    .await;
    server.shutdown().await;
    r.check(
        sc.step("after_server_shutdown"),
        &r.dump().await,
        3.0,
        |_| {},
    );
}

#[tokio::test]
async fn k_active_worker_heartbeat() {
    let sc = Scenario::load("k_active_worker_heartbeat");
    let r = Replay::start().await;
    r.client
        .enqueue_with(
            &Task::new("sleep", "until-released"),
            [
                TaskOption::timeout(Duration::from_secs(60)),
                TaskOption::task_id("task-k"),
            ],
        )
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), &r.dump().await, 2.0, |_| {});
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let server = r
        .server(scenario_config().concurrency(3).queues([("default", 3)]))
        .await;
    server
        .start(move |_c: TaskContext, _t: Task| {
            let mut rx = release_rx.clone();
            async move {
                let _ = rx.wait_for(|r| *r).await;
                Ok(())
            }
        })
        .await
        .expect("start");
    let beat = r
        .wait_for("a heartbeat with the worker", |d| {
            d.keys.keys().any(|k| k.starts_with(b"asynq:workers:{"))
        })
        .await;
    // The recording's clock starts when the task was enqueued, like ours; the beat comes
    // about 5 s later in both.
    r.check(sc.step("while_active_after_heartbeat"), &beat, 3.0, |_| {});
    let _ = release_tx.send(true);
    r.wait_for("task done", |d| !has_key(d, "asynq:{default}:t:task-k"))
        .await;
    server.shutdown().await;
    r.check(
        sc.step("after_server_shutdown"),
        &r.dump().await,
        3.0,
        |_| {},
    );
}
