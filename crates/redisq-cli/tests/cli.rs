//! The `redisq` binary against a real Redis: every command, human and `--json` output, and
//! the exit codes of bad input.
//!
//! The main scenario seeds one queue with tasks in every state the way they really come
//! about: a running Server completes one task, archives one, schedules a retry for another,
//! and keeps one active (its handler waits until cancelled) so that later tasks stay pending.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redisq::{
    Client, Config, HandlerError, Inspector, ServeMux, Server, Task, TaskContext, TaskOption,
    parse_redis_uri,
};
use redisq_test_support::{RedisCluster, RedisServer, free_port};
use serde_json::json;

use common::{Cli, base64, ids, wait_until};

const HOUR: Duration = Duration::from_secs(3600);
const BINARY: [u8; 3] = [0xff, 0x00, 0x01];

/// A queue `q1` with tasks in every state, a queue `q2` with one pending task, and the server
/// that keeps `block` active.
struct Seeded {
    _redis: RedisServer,
    url: String,
    server: Server,
    inspector: Inspector,
    completed: String,
    archived: String,
    retry: String,
    active: String,
    pending: [String; 2],
    scheduled: String,
    aggregating: [String; 2],
}

async fn seed() -> Seeded {
    let redis = RedisServer::start();
    let url = redis.url();
    let opt = parse_redis_uri(&url).expect("url");
    let client = Client::connect(opt.clone()).await.expect("client");
    let inspector = Inspector::connect(opt.clone()).await.expect("inspector");
    let enqueue = |task: Task, opts: Vec<TaskOption>| {
        let client = client.clone();
        async move {
            let mut all = vec![TaskOption::queue("q1")];
            all.extend(opts);
            client.enqueue_with(&task, all).await.expect("enqueue").id
        }
    };

    let completed = enqueue(
        Task::new("ok", "done please"),
        vec![TaskOption::retention(HOUR)],
    )
    .await;
    let archived = enqueue(
        Task::new("fail", BINARY.to_vec()),
        vec![TaskOption::max_retry(0)],
    )
    .await;
    let retry = enqueue(
        Task::new("flaky", "try again"),
        vec![TaskOption::max_retry(5)],
    )
    .await;

    let mut mux = ServeMux::new();
    mux.handle("ok", |ctx: TaskContext, _t: Task| async move {
        ctx.result_writer()
            .write(b"result-text")
            .await
            .map_err(HandlerError::new)?;
        Ok(())
    });
    mux.handle("fail", |_c: TaskContext, _t: Task| async move {
        Err(HandlerError::msg("boom"))
    });
    mux.handle("flaky", |_c: TaskContext, _t: Task| async move {
        Err(HandlerError::msg("boom"))
    });
    mux.handle("block", |ctx: TaskContext, _t: Task| async move {
        ctx.set_progress(25, "quarter done").await?;
        tokio::select! {
            _ = ctx.cancelled() => Err(HandlerError::msg("cancelled")),
            _ = tokio::time::sleep(HOUR) => Ok(()),
        }
    });
    mux.handle("pend", |_c: TaskContext, _t: Task| async move { Ok(()) });
    mux.handle("later", |_c: TaskContext, _t: Task| async move { Ok(()) });
    let config = Config::new()
        .concurrency(1)
        .queues([("q1", 1)])
        .retry_delay(|_, _, _| HOUR)
        .task_check_interval(Duration::from_millis(50))
        .delayed_task_check_interval(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(300))
        .shutdown_timeout(Duration::from_secs(2));
    let server = Server::new(opt, config).await.expect("server");
    server.start(mux).await.expect("start");

    wait_until("completed, archived and retry tasks", || async {
        let q = inspector.queue_info("q1").await.expect("queue info");
        (q.completed, q.archived, q.retry) == (1, 1, 1)
    })
    .await;
    let active = enqueue(Task::new("block", "hold"), vec![]).await;
    wait_until("the active task in the server's heartbeat", || async {
        inspector
            .servers()
            .await
            .expect("servers")
            .iter()
            .any(|s| s.active_workers.iter().any(|w| w.task_id == active))
    })
    .await;
    wait_until("the active task's progress", || async {
        let t = inspector.task_info("q1", &active).await.expect("task info");
        t.progress.is_some()
    })
    .await;
    // The only worker is busy: these stay where they are put.
    let pending = [
        enqueue(Task::new("pend", "p1"), vec![]).await,
        enqueue(Task::new("pend", "p2"), vec![]).await,
    ];
    let scheduled = enqueue(
        Task::new("later", "then"),
        vec![TaskOption::process_in(HOUR)],
    )
    .await;
    let aggregating = [
        enqueue(Task::new("agg", "a1"), vec![TaskOption::group("g1")]).await,
        enqueue(Task::new("agg", "a2"), vec![TaskOption::group("g1")]).await,
    ];
    client
        .enqueue_with(&Task::new("pend", "other"), [TaskOption::queue("q2")])
        .await
        .expect("enqueue q2");
    Seeded {
        _redis: redis,
        url,
        server,
        inspector,
        completed,
        archived,
        retry,
        active,
        pending,
        scheduled,
        aggregating,
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Seconds since the epoch of an RFC 3339 `YYYY-MM-DDTHH:MM:SSZ` string.
fn unix_of(rfc3339: &str) -> i64 {
    let b = rfc3339.as_bytes();
    assert!(
        rfc3339.len() == 20 && b[19] == b'Z',
        "not UTC RFC 3339: {rfc3339}"
    );
    let num = |r: std::ops::Range<usize>| rfc3339[r].parse::<i64>().expect("digits");
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let (hh, mm, ss) = (num(11..13), num(14..16), num(17..19));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

/// Whether a table shows a time about an hour ahead (rounded to the second).
fn in_an_hour(text: &str) -> bool {
    text.contains("in 1h") || text.contains("in 59m")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_tasks_in_every_state() {
    let s = seed().await;
    let cli = Cli::url(&s.url);

    // ---- stats
    let out = cli.run(&["stats"]).await.ok().has(&[
        "Task Count by State",
        "Task Count by Queue",
        "Daily Stats",
        "Redis Info",
        "q1",
        "q2",
    ]);
    assert!(
        out.stdout
            .contains("active  pending  aggregating  scheduled  retry  archived")
    );
    let stats = cli.run(&["stats", "--json"]).await.ok().json();
    let agg = &stats["aggregate"];
    assert_eq!(agg["queues"], 2);
    assert_eq!(
        [
            &agg["active"],
            &agg["pending"],
            &agg["aggregating"],
            &agg["scheduled"],
            &agg["retry"],
            &agg["archived"],
            &agg["completed"]
        ],
        [1, 3, 2, 1, 1, 1, 1]
    );
    assert_eq!((&agg["processed"], &agg["failed"]), (&json!(3), &json!(2)));
    assert_eq!(stats["queues"][0]["queue"], "q1");
    assert_eq!(stats["queues"][1]["queue"], "q2");
    assert_eq!(stats["redis"]["mode"], "standalone");
    assert!(
        stats["redis"]["nodes"][0]["version"]
            .as_str()
            .unwrap()
            .starts_with(|c: char| c.is_ascii_digit())
    );
    assert!(
        stats["redis"]["nodes"][0]["used_memory_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(stats["redis_error"].is_null());
    let today = stats["date"].as_str().expect("date").to_string();
    assert!((unix_of(stats["timestamp"].as_str().unwrap()) - unix_now()).abs() <= 5);

    // ---- queue ls / inspect / history
    let out = cli.run(&["queue", "ls"]).await.ok();
    assert_eq!(out.stdout, "q1\nq2\n");
    assert_eq!(
        cli.run(&["queue", "list", "--json"]).await.ok().json(),
        json!(["q1", "q2"])
    );

    cli.run(&["queue", "inspect", "q1"]).await.ok().has(&[
        "Queue:    q1",
        "Paused:   no",
        "Size:     9 tasks",
        "Groups:   1",
        "1       2        2            1          1      1         1",
        "processed (total)",
    ]);
    let q = cli
        .run(&["queue", "inspect", "q1", "q2", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(q.as_array().unwrap().len(), 2);
    let q1 = &q[0];
    assert_eq!(q1["queue"], "q1");
    assert_eq!(q1["size"], 9);
    assert_eq!(q1["groups"], 1);
    assert_eq!(q1["active"], 1);
    assert_eq!(q1["pending"], 2);
    assert_eq!(q1["aggregating"], 2);
    assert_eq!(q1["scheduled"], 1);
    assert_eq!(q1["retry"], 1);
    assert_eq!(q1["archived"], 1);
    assert_eq!(q1["completed"], 1);
    assert_eq!((&q1["processed"], &q1["failed"]), (&json!(3), &json!(2)));
    assert_eq!(
        (&q1["processed_total"], &q1["failed_total"]),
        (&json!(3), &json!(2))
    );
    assert_eq!(q1["paused"], false);
    assert!(q1["latency_seconds"].as_f64().unwrap() >= 0.0);
    assert!(q1["error_rate"].as_f64().unwrap() > 0.6);
    assert_eq!(q[1]["pending"], 1);

    let h = cli
        .run(&["queue", "history", "q1", "q2", "-x", "3", "--json"])
        .await
        .ok()
        .json();
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 6);
    assert_eq!(
        h[0],
        json!({"queue": "q1", "date": today, "processed": 3, "failed": 2,
                            "error_rate": 2.0 / 3.0})
    );
    assert_eq!(h[1]["processed"], 0);
    assert_eq!(h[3]["queue"], "q2");
    assert!(h[0]["date"].as_str().unwrap() > h[1]["date"].as_str().unwrap());
    cli.run(&["queue", "history", "q1", "--days", "2"])
        .await
        .ok()
        .has(&[
            "Queue  Date (UTC)  Processed  Failed  Error rate",
            &today,
            "66.67%",
        ]);

    // ---- task ls, every state, human and JSON
    let list = |state: &'static str| {
        let cli = cli.clone();
        async move {
            cli.run(&["task", "ls", "-q", "q1", "-s", state, "--json"])
                .await
                .ok()
                .json()
        }
    };
    let active = list("active").await;
    assert_eq!(ids(&active), std::slice::from_ref(&s.active));
    assert_eq!(active[0]["state"], "active");
    assert_eq!(active[0]["type"], "block");
    assert_eq!(active[0]["is_orphaned"], false);
    assert_eq!(active[0]["progress"]["percent"], 25);
    assert_eq!(active[0]["progress"]["message"], "quarter done");
    cli.run(&["task", "ls", "-q", "q1", "-s", "active"])
        .await
        .ok()
        .has(&[
            &s.active,
            "block",
            "hold",
            "Orphaned",
            "Progress",
            "25% quarter done",
        ]);
    cli.run(&["task", "inspect", "-q", "q1", "-i", &s.active])
        .await
        .ok()
        .has(&["Progress", "25% quarter done"]);

    let pending = list("pending").await;
    assert_eq!(ids(&pending), s.pending.to_vec());
    assert_eq!(pending[0]["payload"], "p1");
    assert_eq!(pending[0]["payload_encoding"], "utf8");
    assert!((unix_of(pending[0]["next_process_at"].as_str().unwrap()) - unix_now()).abs() <= 5);
    cli.run(&["task", "list", "-q", "q1", "-s", "pending"])
        .await
        .ok()
        .has(&["ID", "Type", "Payload", &s.pending[0], &s.pending[1], "p2"]);
    let page2 = cli
        .run(&[
            "task", "ls", "-q", "q1", "-s", "pending", "--size", "1", "--page", "2", "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(ids(&page2), std::slice::from_ref(&s.pending[1]));
    let out = cli
        .run(&["task", "ls", "-q", "q1", "-s", "pending", "--page", "5"])
        .await
        .ok();
    assert!(
        out.stdout
            .starts_with("no pending tasks in queue \"q1\" on page 5"),
        "{}",
        out.stdout
    );

    let scheduled = list("scheduled").await;
    assert_eq!(ids(&scheduled), std::slice::from_ref(&s.scheduled));
    let due = unix_of(scheduled[0]["next_process_at"].as_str().unwrap());
    assert!((due - unix_now() - 3600).abs() <= 5, "due {due}");
    let out = cli
        .run(&["task", "ls", "-q", "q1", "-s", "scheduled"])
        .await
        .ok()
        .has(&[&s.scheduled, "later", "Process In"]);
    assert!(in_an_hour(&out.stdout), "{}", out.stdout);

    let retry = list("retry").await;
    assert_eq!(ids(&retry), std::slice::from_ref(&s.retry));
    assert_eq!(retry[0]["retried"], 1);
    assert_eq!(retry[0]["max_retry"], 5);
    assert!(retry[0]["last_error"].as_str().unwrap().contains("boom"));
    assert!(retry[0]["last_failed_at"].is_string());
    let out = cli
        .run(&["task", "ls", "-q", "q1", "-s", "retry"])
        .await
        .ok()
        .has(&[&s.retry, "flaky", "boom", "Next Retry"]);
    assert!(in_an_hour(&out.stdout), "{}", out.stdout);

    let archived = list("archived").await;
    assert_eq!(ids(&archived), std::slice::from_ref(&s.archived));
    assert_eq!(archived[0]["payload_encoding"], "base64");
    assert_eq!(archived[0]["payload"], base64(&BINARY));
    assert_eq!(archived[0]["max_retry"], 0);
    cli.run(&["task", "ls", "-q", "q1", "-s", "archived"])
        .await
        .ok()
        .has(&[&s.archived, "fail", "hex:ff0001", "boom"]);

    let completed = list("completed").await;
    assert_eq!(ids(&completed), std::slice::from_ref(&s.completed));
    assert_eq!(completed[0]["result"], "result-text");
    assert_eq!(completed[0]["result_encoding"], "utf8");
    assert_eq!(completed[0]["retention_seconds"], 3600);
    assert!(completed[0]["completed_at"].is_string());
    cli.run(&["task", "ls", "-q", "q1", "-s", "completed"])
        .await
        .ok()
        .has(&[&s.completed, "ok", "done please", "result-text"]);

    let aggregating = cli
        .run(&[
            "task",
            "ls",
            "-q",
            "q1",
            "-s",
            "aggregating",
            "-g",
            "g1",
            "--json",
        ])
        .await
        .ok()
        .json();
    // Both were added in the same second: equal scores, so compare as sets.
    let (mut got, mut want) = (ids(&aggregating), s.aggregating.to_vec());
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(aggregating[1]["group"], "g1");
    cli.run(&[
        "task",
        "ls",
        "-q",
        "q1",
        "-s",
        "aggregating",
        "--group",
        "g1",
    ])
    .await
    .ok()
    .has(&[&s.aggregating[0], "a2", "g1"]);
    cli.run(&["task", "ls", "-q", "q1", "-s", "aggregating"])
        .await
        .fails_with(2, "--group");
    cli.run(&["task", "ls", "-q", "q1", "-s", "pending", "-g", "g1"])
        .await
        .fails_with(2, "--group only applies");

    // ---- task inspect
    let t = cli
        .run(&["task", "inspect", "-q", "q1", "-i", &s.retry, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(t["id"], json!(s.retry));
    assert_eq!(t["queue"], "q1");
    assert_eq!(t["type"], "flaky");
    assert_eq!(t["state"], "retry");
    assert_eq!(t["payload"], "try again");
    assert_eq!(t["timeout_seconds"], 1800);
    assert!(t["deadline"].is_null());
    cli.run(&["task", "inspect", "-q", "q1", "-i", &s.retry])
        .await
        .ok()
        .has(&[
            "ID:",
            &s.retry,
            "State:            retry",
            "Retried:          1/5",
            "boom",
            "Timeout:          30m",
        ]);
    cli.run(&["task", "inspect", "-q", "q1", "-i", &s.archived])
        .await
        .ok()
        .has(&["hex:ff0001 (3 bytes, not text)"]);

    // ---- group ls
    cli.run(&["group", "ls", "-q", "q1"])
        .await
        .ok()
        .has(&["Group  Size", "g1", "2"]);
    assert_eq!(
        cli.run(&["group", "list", "-q", "q1", "--json"])
            .await
            .ok()
            .json(),
        json!([{"queue": "q1", "group": "g1", "size": 2}])
    );
    cli.run(&["group", "ls", "-q", "q2"])
        .await
        .ok()
        .has(&["no groups"]);

    // ---- server ls
    let servers = cli.run(&["server", "ls", "--json"]).await.ok().json();
    assert_eq!(servers.as_array().unwrap().len(), 1);
    let sv = &servers[0];
    assert_eq!(sv["concurrency"], 1);
    assert_eq!(sv["queues"], json!({"q1": 1}));
    assert_eq!(sv["status"], "active");
    assert_eq!(sv["pid"], std::process::id());
    assert_eq!(sv["active_workers"][0]["task_id"], json!(s.active));
    assert_eq!(sv["active_workers"][0]["payload"], "hold");
    assert_eq!(sv["active_workers"][0]["queue"], "q1");
    let host = sv["host"].as_str().unwrap().to_string();
    cli.run(&["server", "ls"]).await.ok().has(&[
        "Host",
        "Active Workers",
        &host,
        "active",
        "1/1",
        "q1:1",
    ]);
    cli.run(&["server", "list", "--workers"])
        .await
        .ok()
        .has(&[&s.active, "block"]);

    // ---- actions on single tasks
    cli.run(&["task", "run", "-q", "q1", "-i", &s.pending[0]])
        .await
        .fails_with(5, "already in pending state");
    cli.run(&["task", "delete", "-q", "q1", "-i", &s.active])
        .await
        .fails_with(5, "active");
    cli.run(&["task", "archive", "-q", "q1", "-i", &s.active])
        .await
        .fails_with(5, "active");
    cli.run(&["task", "archive", "-q", "q1", "-i", &s.scheduled])
        .await
        .ok()
        .has(&["archived"]);
    let t = cli
        .run(&["task", "inspect", "-q", "q1", "-i", &s.scheduled, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(t["state"], "archived");
    cli.run(&["task", "run", "-q", "q1", "-i", &s.scheduled])
        .await
        .ok()
        .has(&["moved to pending"]);
    assert_eq!(ids(&list("pending").await).len(), 3);
    cli.run(&["task", "rm", "-q", "q1", "-i", &s.scheduled])
        .await
        .ok()
        .has(&["deleted"]);
    cli.run(&["task", "inspect", "-q", "q1", "-i", &s.scheduled])
        .await
        .fails_with(3, "not found in queue \"q1\"");
    cli.run(&["task", "remove", "-q", "q1", "-i", &s.scheduled])
        .await
        .fails_with(3, "redisq task ls -q q1");

    // ---- queue pause / unpause / rm
    cli.run(&["queue", "pause", "q1"])
        .await
        .ok()
        .has(&["queue \"q1\" paused"]);
    assert_eq!(
        cli.run(&["queue", "inspect", "q1", "--json"])
            .await
            .ok()
            .json()[0]["paused"],
        true
    );
    cli.run(&["queue", "pause", "q1"])
        .await
        .fails_with(5, "already paused");
    cli.run(&["queue", "unpause", "q1"])
        .await
        .ok()
        .has(&["queue \"q1\" unpaused"]);
    cli.run(&["queue", "resume", "q1"])
        .await
        .fails_with(5, "not paused");
    cli.run(&["queue", "pause", "fresh"])
        .await
        .fails_with(3, "--force");
    cli.run(&["queue", "pause", "fresh", "--force"]).await.ok();
    cli.run(&["queue", "unpause", "fresh"]).await.ok();
    cli.run(&["queue", "rm", "q1"])
        .await
        .fails_with(5, "--force");
    cli.run(&["queue", "remove", "q1", "--force"])
        .await
        .fails_with(5, "task cancel");

    // ---- bulk operations
    let bulk = cli
        .run(&["task", "runall", "-q", "q1", "-s", "retry", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        bulk,
        json!({"queue": "q1", "state": "retry", "group": null, "action": "run", "count": 1})
    );
    cli.run(&["task", "archiveall", "-q", "q1", "-s", "pending"])
        .await
        .ok()
        .has(&["3 pending tasks archived in queue \"q1\""]);
    cli.run(&[
        "task",
        "runall",
        "-q",
        "q1",
        "-s",
        "aggregating",
        "-g",
        "g1",
    ])
    .await
    .ok()
    .has(&["2 tasks of group \"g1\" moved to pending"]);
    let bulk = cli
        .run(&["task", "archiveall", "-q", "q1", "-s", "pending", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(bulk["count"], 2);
    cli.run(&["task", "deleteall", "-q", "q1", "-s", "archived"])
        .await
        .ok()
        .has(&["6 archived tasks deleted"]);
    cli.run(&["task", "deleteall", "-q", "q1", "-s", "completed"])
        .await
        .ok()
        .has(&["1 completed task deleted"]);
    cli.run(&["task", "runall", "-q", "q1", "-s", "aggregating"])
        .await
        .fails_with(2, "--group");
    cli.run(&["task", "archiveall", "-q", "q1", "-s", "archived"])
        .await
        .fails(2);
    cli.run(&["task", "runall", "-q", "q1", "-s", "pending"])
        .await
        .fails(2);
    cli.run(&["task", "deleteall", "-q", "nope", "-s", "pending"])
        .await
        .fails_with(3, "queue \"nope\" not found");

    // ---- task cancel: the active task is archived with "task canceled" (decision D6)
    cli.run(&["task", "cancel", &s.active])
        .await
        .ok()
        .has(&["cancel signal sent"]);
    wait_until("the cancelled task archived", || async {
        s.inspector
            .task_info("q1", &s.active)
            .await
            .is_ok_and(|t| t.state == redisq::TaskState::Archived)
    })
    .await;
    let t = cli
        .run(&["task", "inspect", "-q", "q1", "-i", &s.active, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(t["last_error"], "task canceled");
    let out = cli.run(&["task", "cancel", "not-running"]).await;
    assert_eq!(out.code, 0);
    assert!(
        out.stderr.contains("warning: no running server"),
        "{}",
        out.stderr
    );

    // ---- deleting queues
    cli.run(&["queue", "rm", "q2", "--force"])
        .await
        .ok()
        .has(&["queue \"q2\" deleted"]);
    cli.run(&["queue", "rm", "q2"])
        .await
        .fails_with(3, "queue \"q2\" not found");
    // Several queues: each is tried, the exit code is the first failure's.
    let out = cli
        .run(&["queue", "inspect", "q1", "missing"])
        .await
        .fails(3);
    assert!(out.stdout.contains("Queue:    q1"));
    assert!(out.stderr.contains("queue \"missing\" not found"));
    let out = cli
        .run(&["queue", "inspect", "missing", "q1", "--json"])
        .await
        .fails(3);
    assert_eq!(out.json().as_array().unwrap().len(), 1);

    s.server.shutdown().await;
    let out = cli.run(&["server", "ls"]).await.ok();
    assert_eq!(out.stdout, "no running servers\n");
    assert_eq!(
        cli.run(&["server", "ls", "--json"]).await.ok().json(),
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_enqueue_with_every_option() {
    let redis = RedisServer::start();
    // Connection flags may also follow the command.
    let url = redis.url();
    let run = |args: Vec<&str>| {
        let mut all = args;
        all.extend(["--redis", url.as_str()]);
        let all: Vec<String> = all.into_iter().map(String::from).collect();
        async move {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            Cli::default().run(&refs).await
        }
    };

    let out = run(vec!["task", "enqueue", "-t", "email:send", "-l", "hello"])
        .await
        .ok();
    assert!(out.stdout.starts_with("enqueued task \""), "{}", out.stdout);
    assert!(out.stdout.contains("to queue \"default\": pending"));

    let t = run(vec![
        "task",
        "enqueue",
        "--type_name",
        "report",
        "--payload",
        "{\"day\":1}",
        "--queue",
        "q3",
        "--retry",
        "3",
        "--id",
        "my-id",
        "--timeout",
        "1m30s",
        "--retention",
        "2h",
        "--deadline",
        "2099-01-02T03:04:05Z",
        "--header",
        "trace=abc",
        "--json",
    ])
    .await
    .ok()
    .json();
    assert_eq!(t["id"], "my-id");
    assert_eq!(t["queue"], "q3");
    assert_eq!(t["type"], "report");
    assert_eq!(t["state"], "pending");
    assert_eq!(t["payload"], "{\"day\":1}");
    assert_eq!(t["max_retry"], 3);
    assert_eq!(t["timeout_seconds"], 90);
    assert_eq!(t["retention_seconds"], 7200);
    assert_eq!(t["deadline"], "2099-01-02T03:04:05Z");
    assert_eq!(t["headers"], json!({"trace": "abc"}));
    // What is stored matches.
    let stored = run(vec!["task", "inspect", "-q", "q3", "-i", "my-id", "--json"])
        .await
        .ok()
        .json();
    for k in [
        "type",
        "payload",
        "max_retry",
        "timeout_seconds",
        "retention_seconds",
        "deadline",
        "headers",
    ] {
        assert_eq!(stored[k], t[k], "{k}");
    }
    run(vec![
        "task", "enqueue", "-t", "report", "--queue", "q3", "--id", "my-id",
    ])
    .await
    .fails_with(5, "--id");

    let t = run(vec![
        "task",
        "enqueue",
        "-t",
        "later",
        "--queue",
        "q3",
        "--process_in",
        "1h",
        "--json",
    ])
    .await
    .ok()
    .json();
    assert_eq!(t["state"], "scheduled");
    assert!((unix_of(t["next_process_at"].as_str().unwrap()) - unix_now() - 3600).abs() <= 5);
    let t = run(vec![
        "task",
        "enqueue",
        "-t",
        "later",
        "--queue",
        "q3",
        "--process_at",
        "2099-01-01T00:00:00+01:00",
        "--json",
    ])
    .await
    .ok()
    .json();
    assert_eq!(t["next_process_at"], "2098-12-31T23:00:00Z");
    run(vec![
        "task",
        "enqueue",
        "-t",
        "later",
        "--queue",
        "q3",
        "--process_in",
        "1m",
    ])
    .await
    .ok()
    .has(&["scheduled, to be processed at", " UTC (in "]);

    let t = run(vec![
        "task", "enqueue", "-t", "agg", "--queue", "q3", "--group", "g7", "--json",
    ])
    .await
    .ok()
    .json();
    assert_eq!(
        (t["state"].as_str(), t["group"].as_str()),
        (Some("aggregating"), Some("g7"))
    );

    run(vec![
        "task", "enqueue", "-t", "once", "-l", "x", "--unique", "1h",
    ])
    .await
    .ok();
    run(vec![
        "task", "enqueue", "-t", "once", "-l", "x", "--unique", "1h",
    ])
    .await
    .fails_with(5, "task already exists");

    let q3 = run(vec!["queue", "inspect", "q3", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (
            &q3[0]["pending"],
            &q3[0]["scheduled"],
            &q3[0]["aggregating"]
        ),
        (&json!(1), &json!(3), &json!(1))
    );

    // Bad values are usage errors (2) and nothing is enqueued.
    for (args, text) in [
        (
            vec!["task", "enqueue", "-t", "x", "--timeout", "5"],
            "invalid duration",
        ),
        (
            vec!["task", "enqueue", "-t", "x", "--unique", "1d"],
            "unknown unit",
        ),
        (
            vec!["task", "enqueue", "-t", "x", "--process_in", "-1m"],
            "must not be negative",
        ),
        (
            vec!["task", "enqueue", "-t", "x", "--deadline", "tomorrow"],
            "RFC 3339",
        ),
        (
            vec![
                "task",
                "enqueue",
                "-t",
                "x",
                "--process_at",
                "2099-01-01T00:00:00Z",
                "--process_in",
                "1m",
            ],
            "cannot be used with",
        ),
        (vec!["task", "enqueue", "-l", "x"], "--type_name"),
    ] {
        let out = run(args).await.fails(2);
        assert!(out.stderr.contains(text), "{text}: {}", out.stderr);
    }
    // The library refuses sub-second TTLs (decision D7): also a usage error.
    run(vec!["task", "enqueue", "-t", "x", "--unique", "500ms"])
        .await
        .fails_with(2, "could not enqueue");
    let q3 = run(vec!["queue", "inspect", "q3", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(q3[0]["size"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_ls_and_history() {
    let redis = RedisServer::start();
    let opt = parse_redis_uri(&redis.url()).expect("url");
    let config = redisq::SchedulerConfig::new().heartbeat_interval(Duration::from_millis(300));
    let scheduler = redisq::Scheduler::new(opt.clone(), config)
        .await
        .expect("scheduler");
    let entry = scheduler
        .register(
            "@every 1s",
            Task::new("tick", "tock"),
            [TaskOption::queue("cronq")],
        )
        .expect("register");
    scheduler.start().await.expect("start");
    let inspector = Inspector::connect(opt).await.expect("inspector");
    wait_until("two enqueues and the entry in the heartbeat", || async {
        let events = inspector
            .scheduler_enqueue_events(&entry, redisq::ListOptions::new())
            .await
            .expect("events");
        let entries = inspector.scheduler_entries().await.expect("entries");
        events.len() >= 2 && entries.iter().any(|e| e.id == entry && e.prev.is_some())
    })
    .await;

    let cli = Cli::url(&redis.url());
    cli.run(&["cron", "ls"]).await.ok().has(&[
        "Entry ID",
        "Spec",
        &entry,
        "@every 1s",
        "tick",
        "tock",
        "Queue(\"cronq\")",
    ]);
    let ls = cli.run(&["cron", "list", "--json"]).await.ok().json();
    let e = &ls[0];
    assert_eq!(e["id"], json!(entry));
    assert_eq!(e["spec"], "@every 1s");
    assert_eq!(e["task_type"], "tick");
    assert_eq!(e["payload"], "tock");
    assert_eq!(e["payload_encoding"], "utf8");
    assert_eq!(e["options"], json!(["Queue(\"cronq\")"]));
    assert!(e["next_enqueue_at"].is_string());
    assert!(e["prev_enqueue_at"].is_string());

    let h = cli
        .run(&["cron", "history", &entry, "--json"])
        .await
        .ok()
        .json();
    let h = h.as_array().unwrap();
    assert!(h.len() >= 2);
    assert_eq!(h[0]["entry_id"], json!(entry));
    // Newest first, and the task exists in the queue.
    assert!(h[0]["enqueued_at"].as_str() >= h[1]["enqueued_at"].as_str());
    let task_id = h[0]["task_id"].as_str().unwrap().to_string();
    let t = cli
        .run(&["task", "inspect", "-q", "cronq", "-i", &task_id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(t["type"], "tick");
    let page = cli
        .run(&[
            "cron", "history", &entry, "--size", "1", "--page", "2", "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(page.as_array().unwrap().len(), 1);
    cli.run(&["cron", "history", &entry]).await.ok().has(&[
        "Entry ID",
        "Task ID",
        "Enqueued At",
        &entry,
    ]);
    cli.run(&["cron", "history", "no-such-entry"])
        .await
        .fails_with(3, "redisq cron ls");
    let out = cli
        .run(&["cron", "history", &entry, "no-such-entry", "--json"])
        .await
        .fails(3);
    assert!(out.json().as_array().unwrap().len() >= 2);

    scheduler.shutdown().await;
    cli.run(&["cron", "ls"])
        .await
        .ok()
        .has(&["no scheduler entries"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exit_codes_and_messages() {
    let redis = RedisServer::start();
    let cli = Cli::url(&redis.url());
    cli.run(&["task", "enqueue", "-t", "x", "--queue", "q"])
        .await
        .ok();
    let id = ids(&cli
        .run(&["task", "ls", "-q", "q", "-s", "pending", "--json"])
        .await
        .ok()
        .json())
    .pop()
    .expect("one task");

    // Not found: 3.
    for args in [
        &["queue", "inspect", "nope"][..],
        &["queue", "history", "nope"],
        &["queue", "rm", "nope"],
        &["task", "ls", "-q", "nope", "-s", "pending"],
        &["task", "inspect", "-q", "nope", "-i", &id],
        &["group", "ls", "-q", "nope"],
    ] {
        cli.run(args).await.fails_with(
            3,
            "queue \"nope\" not found; list queues with `redisq queue ls`",
        );
    }
    for args in [
        &["task", "inspect", "-q", "q", "-i", "nope"][..],
        &["task", "delete", "-q", "q", "-i", "nope"],
        &["task", "archive", "-q", "q", "-i", "nope"],
        &["task", "run", "-q", "q", "-i", "nope"],
    ] {
        cli.run(args)
            .await
            .fails_with(3, "task \"nope\" not found in queue \"q\"");
    }

    // Usage errors: 2.
    Cli::url("http://x")
        .run(&["stats"])
        .await
        .fails_with(2, "unsupported uri scheme \"http\"");
    Cli::default()
        .run(&["queue", "ls", "--redis", "redis://"])
        .await
        .fails_with(2, "invalid --redis URL");
    let out = cli
        .run(&["task", "ls", "-q", "q", "-s", "bogus"])
        .await
        .fails(2);
    assert!(out.stderr.contains("invalid value 'bogus'") && out.stderr.contains("possible values"));
    let out = cli
        .run(&["task", "enqueue", "-t", "x", "--timeout", "90"])
        .await
        .fails(2);
    assert!(
        out.stderr.contains("invalid duration \"90\": missing unit"),
        "{}",
        out.stderr
    );
    cli.run(&["queue", "history", "q", "-x", "0"])
        .await
        .fails(2);
    cli.run(&["-u", "127.0.0.1:6379", "stats"])
        .await
        .fails_with(2, "--redis cannot be combined with -u/--uri");
    Cli::with_args(&["--cluster", "-n", "2"])
        .run(&["stats"])
        .await
        .fails_with(2, "database 0");
    Cli::with_args(&["-u", "redis://127.0.0.1:6379"])
        .run(&["stats"])
        .await
        .fails_with(2, "not a URL");
    Cli::with_args(&["-u", "localhost:port"])
        .run(&["stats"])
        .await
        .fails_with(2, "the port must be a number");
    cli.run(&["--tls_ca", "/nonexistent.pem", "stats"])
        .await
        .fails_with(2, "needs a TLS connection");
    cli.run(&["--namespace", "bad{ns}", "stats"])
        .await
        .fails_with(2, "--namespace");
    Cli::default().run(&["nosuchcommand"]).await.fails(2);
    Cli::default().run(&["queue"]).await.fails(2);
    Cli::default().run(&["task", "cancel"]).await.fails(2);

    // Unreachable Redis: 4.
    let dead = format!("redis://127.0.0.1:{}", free_port());
    for args in [
        &["stats"][..],
        &["queue", "ls"],
        &["task", "enqueue", "-t", "x"],
        &["server", "ls"],
        &["cron", "ls"],
        &["dash"],
    ] {
        Cli::url(&dead)
            .run(args)
            .await
            .fails_with(4, "check that Redis is running there");
    }
    Cli::with_args(&["-u", &format!("127.0.0.1:{}", free_port())])
        .run(&["queue", "ls"])
        .await
        .fails_with(4, "Connection refused");

    // Help documents the exit codes; dash and bench are wired.
    let help = Cli::default().run(&["--help"]).await.ok();
    for text in [
        "Exit codes:",
        "3  not found",
        "4  Redis unreachable",
        "5  refused",
        "REDISQ_URL",
    ] {
        assert!(help.stdout.contains(text), "{text}");
    }
    for cmd in [
        "stats", "queue", "task", "group", "server", "cron", "dash", "bench",
    ] {
        assert!(help.stdout.contains(&format!("  {cmd} ")), "{cmd}");
    }
    Cli::default()
        .run(&["dash", "--help"])
        .await
        .ok()
        .has(&["--refresh", "--redis"]);
    Cli::default()
        .run(&["bench", "--help"])
        .await
        .ok()
        .has(&["enqueue", "--redis"]);
    Cli::with_args(&["-n", "1"])
        .run(&["bench", "enqueue"])
        .await
        .fails_with(2, "bench");
    let bench = Cli::default()
        .run(&[
            "bench",
            "enqueue",
            "-n",
            "20",
            "--concurrency",
            "2",
            "--redis",
            &redis.url(),
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(bench["mode"], "enqueue");
}

#[tokio::test]
async fn bench_scale_modes_report_their_figures() {
    let redis = RedisServer::start();
    let url = redis.url();
    let run = |args: Vec<&'static str>| {
        let url = url.clone();
        async move {
            let mut all = vec!["bench"];
            all.extend(args);
            all.extend(["--redis", &url, "--json"]);
            Cli::default().run(&all).await.ok().json()
        }
    };
    // Weighted drain: every queue holds N tasks, the first N handler calls are counted.
    let w = run(vec![
        "process",
        "-n",
        "600",
        "--concurrency",
        "10",
        "--queues",
        "a:2,b:1",
    ])
    .await;
    assert_eq!(w["queues"], 2);
    let (a, b) = (
        w["shares"]["a"]["tasks"].as_u64().expect("a"),
        w["shares"]["b"]["tasks"].as_u64().expect("b"),
    );
    assert_eq!(a + b, 600);
    assert!(a > b, "weight 2 gets more than weight 1: {a} vs {b}");
    // A fleet of two servers picks up every task.
    let f = run(vec![
        "fleet",
        "--servers",
        "2",
        "-n",
        "20",
        "--rate",
        "200",
        "--seconds",
        "1",
    ])
    .await;
    assert_eq!(f["servers"], 2);
    assert_eq!(f["tasks"], 20);
    assert!(f["latency_ms"]["p50"].as_f64().expect("p50") >= 0.0);
    // Memory per task is positive and the worker's RSS is read.
    let m = run(vec!["memory", "-n", "200", "--concurrency", "20"]).await;
    assert!(m["redis_bytes_per_pending_task"].as_f64().expect("pending") > 100.0);
    assert!(
        m["worker"]["rss_bytes_with_all_active"]
            .as_u64()
            .expect("rss")
            > 0
    );
    // The floor: every kind of call is counted once per call (the enqueue's script runs 4
    // commands), with its CPU.
    let fl = run(vec!["floor", "-n", "50", "--rate", "500"]).await;
    assert_eq!(fl["calls"], 50);
    for (kind, commands) in [
        ("ping", 1.0),
        ("noop_script", 1.0),
        ("enqueue_without_server", 4.0),
    ] {
        let per_call = fl[kind]["redis_commands_per_task"].as_f64().expect(kind);
        assert!((per_call - commands).abs() < 0.1, "{kind}: {per_call}");
        assert!(fl[kind]["redis_cpu_us_per_task"].as_f64().expect(kind) > 0.0);
    }
    // Bad --queues is a usage error, not a panic.
    Cli::default()
        .run(&["bench", "process", "--queues", "a:0", "--redis", &url])
        .await
        .fails_with(1, "weight of at least 1");
}

#[tokio::test]
async fn bench_cluster_reports_every_master() {
    // `--cluster` without --redis: the bench starts its own 3-master cluster. The three
    // queues hash to the three masters' slot ranges (emails 3728, images 9450, low 15214).
    let queues = ["emails", "images", "low"];
    let run = |args: &'static [&'static str]| async move {
        let mut all = vec!["bench"];
        all.extend(args);
        all.extend(["--queues", "emails,images,low", "--cluster", "--json"]);
        Cli::default().run(&all).await.ok().json()
    };
    let check_nodes = |report: &serde_json::Value| {
        assert_eq!(report["cluster"], true);
        let nodes = report["redis_nodes"].as_object().expect("redis_nodes");
        assert_eq!(nodes.len(), 3, "{report}");
        let mut held: Vec<String> = Vec::new();
        for (addr, node) in nodes {
            let q = node["queues"].as_array().expect("queues");
            assert_eq!(q.len(), 1, "one queue per master: {addr} {q:?}");
            held.push(q[0].as_str().expect("name").to_string());
            assert!(node["redis_commands"].as_u64().expect("commands") > 0);
            assert!(node["redis_cpu_us_per_task"].as_f64().expect("cpu") >= 0.0);
        }
        held.sort();
        assert_eq!(held, queues);
        // The total is the sum of the nodes.
        let sum: u64 = nodes
            .values()
            .map(|n| n["redis_commands"].as_u64().unwrap())
            .sum();
        assert_eq!(report["redis"]["redis_commands"], sum);
    };

    let p = run(&["process", "-n", "300", "--concurrency", "10", "--split"]).await;
    check_nodes(&p);
    assert_eq!(p["tasks"], 300);
    assert_eq!(p["tasks_processed"], 300);

    let e = run(&["enqueue", "-n", "300", "--concurrency", "4"]).await;
    check_nodes(&e);
    for q in queues {
        assert_eq!(e["pending_per_queue"][q], 100, "{q}: {e}");
    }

    // An existing cluster, named by one node: the same placement, and no key left behind.
    let cluster = RedisCluster::start();
    let seed = cluster.urls()[1].clone();
    let e = Cli::default()
        .run(&[
            "bench",
            "enqueue",
            "-n",
            "30",
            "--queues",
            "emails,images,low",
            "--cluster",
            "--redis",
            &seed,
            "--json",
        ])
        .await
        .ok()
        .json();
    check_nodes(&e);
    assert_eq!(e["pending_per_queue"]["low"], 10);
    let mut conn = cluster.connection().await;
    for q in queues {
        let left: i64 = redis::cmd("EXISTS")
            .arg(format!("redisq-bench:{{{q}}}:pending"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(left, 0, "{q} was cleaned up");
    }

    // Modes that read one server's INFO refuse --cluster.
    Cli::default()
        .run(&["bench", "idle", "--cluster"])
        .await
        .fails_with(1, "enqueue and process modes only");
}

#[tokio::test]
async fn queue_limits_list_set_and_clear() {
    let redis = RedisServer::start();
    let cli = Cli::url(&redis.url());
    assert_eq!(
        cli.run(&["queue", "limits", "--json"]).await.ok().json(),
        json!([])
    );
    cli.run(&[
        "queue", "limits", "set", "-q", "emails", "--rate", "50/1s", "-c", "3",
    ])
    .await
    .ok()
    .has(&["rate limit of queue \"emails\" set to 50/1s", "set to 3"]);
    cli.run(&[
        "queue",
        "limits",
        "set",
        "--type",
        "img:resize",
        "--rate",
        "100/m",
    ])
    .await
    .ok();
    assert_eq!(
        cli.run(&["queue", "limits", "--json"]).await.ok().json(),
        json!([
            {"kind": "queue", "name": "emails", "rate_n": 50, "rate_per_seconds": 1.0,
             "concurrency": 3},
            {"kind": "type", "name": "img:resize", "rate_n": 100, "rate_per_seconds": 60.0,
             "concurrency": null},
        ])
    );
    cli.run(&["queue", "limits"])
        .await
        .ok()
        .has(&["emails", "50/1s", "img:resize", "100/60s"]);
    cli.run(&["queue", "limits", "clear", "-q", "emails", "--rate"])
        .await
        .ok();
    cli.run(&["queue", "limits", "clear", "-t", "img:resize"])
        .await
        .ok();
    assert_eq!(
        cli.run(&["queue", "limits", "--json"]).await.ok().json(),
        json!([{"kind": "queue", "name": "emails", "rate_n": null, "rate_per_seconds": null,
                "concurrency": 3}])
    );
    // Bad input: usage errors.
    for (args, text) in [
        (
            &["queue", "limits", "set", "-q", "q", "--rate", "0/1s"][..],
            "N must be at least 1",
        ),
        (
            &["queue", "limits", "set", "-q", "q", "--rate", "5"],
            "expected N/PERIOD",
        ),
        (&["queue", "limits", "set", "-q", "q"], "nothing to set"),
        (&["queue", "limits", "set", "-q", "q", "-c", "0"], "0"),
    ] {
        let out = cli.run(args).await.fails(2);
        assert!(out.stderr.contains(text), "{args:?}: {}", out.stderr);
    }
    cli.run(&["queue", "limits", "set", "--rate", "5/1s"])
        .await
        .fails(2);
}
