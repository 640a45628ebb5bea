//! Clock skew between servers (issue 12's chaos suite, scenario `clock-skew`): leases, the
//! recoverer's cutoff and the forwarder's "due" come from Redis's clock (`TIME` in the
//! scripts), so a server whose wall clock runs ahead never takes tasks that live workers
//! hold nor runs scheduled tasks early, and a server whose clock runs behind never writes
//! leases that look expired to the others.
//!
//! The skewed server is this test binary run again as a child process under libfaketime
//! (`apt-get install faketime`): only its wall clock moves, by 10 s, far more than
//! lease (2 s) + grace (1 s). The test `child_skewed_server` does nothing unless
//! `REDISQ_SKEW_CHILD_URL` is set. Without libfaketime the tests fail, saying how to install
//! it.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use redisq::{Config, Server, Task, TaskContext, TaskOption, parse_redis_uri};

use common::{ChildGuard, Env, fast_config, wait_until};

type Conn = redis::aio::MultiplexedConnection;

/// Set in the child process: the Redis URL to work against.
const CHILD_ENV: &str = "REDISQ_SKEW_CHILD_URL";
/// Set by the test once it has watched long enough: held tasks may finish.
const RELEASE_KEY: &str = "test:skew:release";
/// Tasks held by the first server.
const HELD: [&str; 4] = ["h1", "h2", "h3", "h4"];
/// Far beyond lease + grace.
const SKEW: &str = "10";
/// The scheduled task of `a_server_whose_clock_runs_ahead_runs_no_scheduled_task_early`.
const SCHEDULED: &str = "sched";
/// When it started (unix ms, Redis's clock).
const STARTED_KEY: &str = "test:skew:started_ms";

fn runs_key(id: &str) -> String {
    format!("test:skew:runs:{id}")
}

async fn get_i64(c: &Conn, key: &str) -> i64 {
    let v: Option<i64> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut c.clone())
        .await
        .expect("GET");
    v.unwrap_or(0)
}

/// Both servers: 4 slots, lease 2 s, grace 1 s, recoverer every 100 ms.
fn config() -> Config {
    fast_config()
        .concurrency(4)
        .lease_duration(Duration::from_secs(2))
        .lease_grace(Duration::from_secs(1))
        .heartbeat_interval(Duration::from_millis(400))
        .recoverer_interval(Duration::from_millis(100))
        .retry_delay(|_, _, _| Duration::from_millis(100))
}

/// Both servers' handler: counts each run in Redis; a held task waits for the release key
/// (so it stays active, its lease extended, while the other server looks at it).
async fn handle(conn: Conn, ctx: TaskContext) -> Result<(), redisq::HandlerError> {
    let id = ctx.task_id().to_string();
    if id == SCHEDULED {
        // When it started, by Redis's clock (the child's own clock is skewed).
        let (s, us): (i64, i64) = redis::cmd("TIME")
            .query_async(&mut conn.clone())
            .await
            .expect("TIME");
        let _: () = redis::cmd("SET")
            .arg(STARTED_KEY)
            .arg(s * 1000 + us / 1000)
            .query_async(&mut conn.clone())
            .await
            .expect("SET");
    }
    let _: i64 = redis::cmd("INCR")
        .arg(runs_key(&id))
        .query_async(&mut conn.clone())
        .await
        .expect("INCR");
    if HELD.contains(&id.as_str()) {
        loop {
            let released: bool = redis::cmd("EXISTS")
                .arg(RELEASE_KEY)
                .query_async(&mut conn.clone())
                .await
                .expect("EXISTS");
            if released {
                break;
            }
            tokio::select! {
                _ = ctx.cancelled() => return Err(redisq::HandlerError::msg("lease lost")),
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }
    Ok(())
}

async fn start_server(url: &str) -> Server {
    let conn = redis::Client::open(url)
        .expect("redis client")
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let handler = move |ctx: TaskContext, _task: Task| handle(conn.clone(), ctx);
    let server = Server::new(parse_redis_uri(url).expect("uri"), config())
        .await
        .expect("server");
    server.start(handler).await.expect("start");
    server
}

/// The skewed server process.
#[tokio::test]
async fn child_skewed_server() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let _server = start_server(&url).await;
    // The parent kills this process; the limit only guards against an orphaned child.
    tokio::time::sleep(Duration::from_secs(120)).await;
}

fn libfaketime() -> PathBuf {
    let mut dirs = vec![PathBuf::from("/usr/lib/faketime")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        dirs.extend(entries.flatten().map(|e| e.path().join("faketime")));
    }
    ["libfaketimeMT.so.1", "libfaketime.so.1"]
        .iter()
        .find_map(|name| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()))
        .expect(
            "these tests give a server process a skewed clock with libfaketime, which is not \
             installed: on Debian/Ubuntu `apt-get install faketime`",
        )
}

/// Starts this binary's `child_skewed_server` with its wall clock moved by `offset` seconds.
fn spawn_skewed(url: &str, offset: &str) -> ChildGuard {
    let exe = std::env::current_exe().expect("test binary path");
    ChildGuard(
        Command::new(exe)
            .args([
                "--exact",
                "child_skewed_server",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, url)
            .env("LD_PRELOAD", libfaketime())
            .env("FAKETIME", offset)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .env("DONT_FAKE_MONOTONIC", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn the skewed server"),
    )
}

/// Whether the child's wall clock really is skewed: it registers itself in `asynq:servers`
/// with an expiry score written from its own clock (now + heartbeat TTL).
async fn child_clock_offset(c: &Conn, own_pid: u32) -> Option<i64> {
    let members: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("asynq:servers")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut c.clone())
        .await
        .expect("ZRANGE");
    let now = common::unix_now();
    members
        .into_iter()
        .find(|(m, _)| !m.contains(&format!(":{own_pid}:")))
        .map(|(_, score)| score as i64 - now)
}

/// `holder_skew`/`taker_skew`: which of the two servers runs in the skewed child. The holder
/// takes the four held tasks first; then the other server starts, runs a probe task (so it
/// is up, its recoverer running every 100 ms), and is watched for longer than lease +
/// grace: no held task may run twice or be recovered.
async fn held_tasks_stay_with_their_worker(child_holds: bool, offset: &str) {
    let env = Env::start().await;
    let c = env.conn().await;
    let url = env.redis().expect("own Redis").url();
    for id in HELD {
        env.client
            .enqueue_with(
                &Task::new("held", "x"),
                [TaskOption::task_id(id), TaskOption::max_retry(5)],
            )
            .await
            .expect("enqueue");
    }
    let mut child = None;
    let mut parent = None;
    if child_holds {
        child = Some(spawn_skewed(&url, offset));
    } else {
        parent = Some(start_server(&url).await);
    }
    wait_until("the holder runs every held task", || async {
        let mut all = true;
        for id in HELD {
            all &= get_i64(&c, &runs_key(id)).await == 1;
        }
        all
    })
    .await;
    if child_holds {
        parent = Some(start_server(&url).await);
    } else {
        child = Some(spawn_skewed(&url, offset));
    }
    // The skew really is in effect in the child.
    let pid = std::process::id();
    wait_until("the skewed server registers", || async {
        child_clock_offset(&c, pid).await.is_some()
    })
    .await;
    let offset_secs: i64 = offset.parse().expect("offset");
    let seen = child_clock_offset(&c, pid).await.expect("child registered");
    // Its expiry score is its own clock plus the heartbeat TTL (a few seconds at most).
    assert!(
        (seen - offset_secs).abs() <= 5,
        "the child's clock is not skewed by {offset_secs} s (its server expiry is {seen} s from now): \
         libfaketime did not take effect"
    );
    // The second server is up and processing: it runs a probe task.
    env.client
        .enqueue_with(&Task::new("probe", "x"), [TaskOption::task_id("probe")])
        .await
        .expect("enqueue the probe");
    wait_until("the second server runs the probe", || async {
        get_i64(&c, &runs_key("probe")).await == 1
    })
    .await;
    // Watch for longer than lease + grace + a few recoverer passes: a recoverer whose cutoff
    // or a worker whose leases came from its own skewed clock would take the held tasks now.
    let watch_until = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < watch_until {
        for id in HELD {
            assert_eq!(
                get_i64(&c, &runs_key(id)).await,
                1,
                "held task {id} ran twice: recovered from a live worker"
            );
        }
        let retry: usize = redis::cmd("ZCARD")
            .arg("asynq:{default}:retry")
            .query_async(&mut c.clone())
            .await
            .expect("ZCARD");
        assert_eq!(retry, 0, "a held task was recovered from a live worker");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _: () = redis::cmd("SET")
        .arg(RELEASE_KEY)
        .arg(1)
        .query_async(&mut c.clone())
        .await
        .expect("SET");
    wait_until("every task completes", || async {
        let mut done = true;
        for key in ["asynq:{default}:active", "asynq:{default}:pending"] {
            let n: usize = redis::cmd("LLEN")
                .arg(key)
                .query_async(&mut c.clone())
                .await
                .expect("LLEN");
            done &= n == 0;
        }
        done
    })
    .await;
    for id in HELD.iter().chain(&["probe"]) {
        assert_eq!(
            get_i64(&c, &runs_key(id)).await,
            1,
            "task {id} ran more than once"
        );
    }
    if let Some(server) = parent {
        server.shutdown().await;
    }
    drop(child);
}

/// A server whose clock runs 10 s ahead must not recover the leases of a live worker with a
/// true clock (it used to: its cutoff, now − grace by its own clock, lay past their expiry).
#[tokio::test]
async fn a_server_whose_clock_runs_ahead_takes_no_task_from_a_live_worker() {
    held_tasks_stay_with_their_worker(false, &format!("+{SKEW}")).await;
}

/// A worker whose clock runs 10 s behind must write leases that the others see as live (it
/// used to write leases already expired by their clocks: its tasks were taken at once).
#[tokio::test]
async fn a_worker_whose_clock_runs_behind_keeps_its_tasks() {
    held_tasks_stay_with_their_worker(true, &format!("-{SKEW}")).await;
}

/// A server whose clock runs 10 s ahead must not forward a scheduled task before it is due
/// (it used to: its forwarder compared due times with its own clock, and ran the task as
/// soon as it was scheduled). Due times are whole seconds, so "due" starts up to 1 s before
/// the exact `process_at`.
#[tokio::test]
async fn a_server_whose_clock_runs_ahead_runs_no_scheduled_task_early() {
    let env = Env::start().await;
    let c = env.conn().await;
    let url = env.redis().expect("own Redis").url();
    let _child = spawn_skewed(&url, &format!("+{SKEW}"));
    let pid = std::process::id();
    wait_until("the skewed server registers", || async {
        child_clock_offset(&c, pid).await.is_some()
    })
    .await;
    let seen = child_clock_offset(&c, pid).await.expect("child registered");
    assert!(
        seen >= 5,
        "the child's clock is not ahead (its server expiry is {seen} s from now): \
         libfaketime did not take effect"
    );
    let due = std::time::SystemTime::now() + Duration::from_secs(3);
    let due_ms = common::unix_secs_of(due) * 1000
        + i64::from(
            due.duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .subsec_millis(),
        );
    env.client
        .enqueue_with(
            &Task::new("scheduled", "x"),
            [TaskOption::task_id(SCHEDULED), TaskOption::process_at(due)],
        )
        .await
        .expect("schedule");
    wait_until("the scheduled task runs", || async {
        get_i64(&c, &runs_key(SCHEDULED)).await == 1
    })
    .await;
    let started = get_i64(&c, STARTED_KEY).await;
    assert!(
        started >= due_ms - 1000,
        "the scheduled task started {} ms before its due time",
        due_ms - started
    );
}
