//! Wake-ups that wake one server: new work reaches one idle server of a fleet, a wake-up
//! taken by a server that died is covered by the others' probe, paused queues stay paused,
//! a burst wakes as many servers as it needs, and shutdown leaves no blocked connection.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Env, command_calls, fast_config, wait_until};
use redisq::{Config, Inspector, Server, Task, TaskContext};
use tokio::sync::{Notify, mpsc};

/// Idle servers waiting on a wake list (`BLPOP`), from `CLIENT LIST`.
async fn blocked_on_wake(env: &Env) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut env.conn().await)
        .await
        .expect("client list");
    list.lines().filter(|l| l.contains("cmd=blpop")).count()
}

/// A config whose periodic probe is too slow to matter within a test: only wake-ups move
/// tasks quickly.
fn wake_only_config() -> Config {
    fast_config().task_check_interval(Duration::from_secs(120))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_arrival_at_an_idle_fleet_wakes_one_server() {
    const SERVERS: usize = 8;
    const TASKS: usize = 20;
    let env = Env::start().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut servers = Vec::new();
    for _ in 0..SERVERS {
        let server = Server::new(env.opt(), wake_only_config())
            .await
            .expect("server");
        let tx = tx.clone();
        server
            .start(move |_c: TaskContext, t: Task| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(String::from_utf8_lossy(t.payload()).into_owned());
                    Ok(())
                }
            })
            .await
            .expect("start");
        servers.push(server);
    }
    wait_until("every server idle on its wake list", || async {
        blocked_on_wake(&env).await >= SERVERS
    })
    .await;
    let before = command_calls(&env, "rpop").await;
    for i in 0..TASKS {
        env.client
            .enqueue(&Task::new("t", i.to_string()))
            .await
            .expect("enqueue");
        let got = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the task was picked up by a woken server")
            .expect("handler");
        assert_eq!(got, i.to_string());
        // The next task arrives at an idle fleet again.
        wait_until("every server idle again", || async {
            blocked_on_wake(&env).await >= SERVERS
        })
        .await;
    }
    let attempts = command_calls(&env, "rpop").await - before;
    // One woken server makes at most a few dequeue attempts per task (the fetch, the
    // completion's hand-over, the fetch that finds the queue dry); waking every server would
    // make at least SERVERS per task.
    assert!(
        attempts < (TASKS * SERVERS / 2) as u64,
        "{attempts} dequeue attempts for {TASKS} tasks at {SERVERS} idle servers"
    );
    for s in &servers {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_up_lost_with_a_dead_server_is_covered_by_the_probe() {
    let env = Env::start().await;
    // A "server" that blocks on the wake list first, takes the wake-up and dies.
    let mut dead = env.conn().await;
    let stolen = tokio::spawn(async move {
        let got: Option<(String, String)> = redis::cmd("BLPOP")
            .arg("asynq:{default}:redisq:wake")
            .arg(0)
            .query_async(&mut dead)
            .await
            .expect("blpop");
        got
    });
    wait_until("the dead server is blocked", || async {
        blocked_on_wake(&env).await == 1
    })
    .await;
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let server = Server::new(
        env.opt(),
        fast_config().task_check_interval(Duration::from_millis(200)),
    )
    .await
    .expect("server");
    server
        .start(move |_c: TaskContext, _t: Task| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(());
                Ok(())
            }
        })
        .await
        .expect("start");
    wait_until("the live server is blocked too", || async {
        blocked_on_wake(&env).await == 2
    })
    .await;
    env.client
        .enqueue(&Task::new("t", "x"))
        .await
        .expect("enqueue");
    // Redis gives the marker to the client that waited longest: the dead one.
    let (key, _) = stolen
        .await
        .expect("join")
        .expect("the dead server got the wake-up");
    assert_eq!(key, "asynq:{default}:redisq:wake");
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the live server found the task by its probe")
        .expect("handler");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_is_not_run_and_unpausing_wakes_a_server() {
    let env = Env::start().await;
    let inspector = Inspector::connect(env.opt()).await.expect("inspector");
    let runs = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let server = Server::new(env.opt(), wake_only_config())
        .await
        .expect("server");
    let r = runs.clone();
    server
        .start(move |_c: TaskContext, _t: Task| {
            let (tx, r) = (tx.clone(), r.clone());
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(());
                Ok(())
            }
        })
        .await
        .expect("start");
    wait_until("the server is idle", || async {
        blocked_on_wake(&env).await == 1
    })
    .await;
    inspector.pause_queue("default").await.expect("pause");
    env.client
        .enqueue(&Task::new("t", "x"))
        .await
        .expect("enqueue");
    // The server takes the wake-up, finds the queue paused and goes back to waiting.
    let mut conn = env.conn().await;
    wait_until("the wake-up was taken", || {
        let mut c = conn.clone();
        async move {
            let n: usize = redis::cmd("LLEN")
                .arg("asynq:{default}:redisq:wake")
                .query_async(&mut c)
                .await
                .expect("llen");
            n == 0
        }
    })
    .await;
    wait_until("the server waits again", || async {
        blocked_on_wake(&env).await == 1
    })
    .await;
    let pending: usize = redis::cmd("LLEN")
        .arg("asynq:{default}:pending")
        .query_async(&mut conn)
        .await
        .expect("llen");
    assert_eq!(pending, 1, "a paused queue's task stays pending");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    inspector.unpause_queue("default").await.expect("unpause");
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("unpausing woke the idle server")
        .expect("handler");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_wakes_as_many_idle_servers_as_it_needs() {
    const SERVERS: usize = 3;
    const CONCURRENCY: usize = 2;
    let env = Env::start().await;
    let active = Arc::new(AtomicUsize::new(0));
    let all_busy = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let per_server: Vec<Arc<AtomicUsize>> = (0..SERVERS)
        .map(|_| Arc::new(AtomicUsize::new(0)))
        .collect();
    let mut servers = Vec::new();
    for count in &per_server {
        let server = Server::new(env.opt(), wake_only_config().concurrency(CONCURRENCY))
            .await
            .expect("server");
        let (active, all_busy, release, count) = (
            active.clone(),
            all_busy.clone(),
            release.clone(),
            count.clone(),
        );
        server
            .start(move |_c: TaskContext, _t: Task| {
                let (active, all_busy, release, count) = (
                    active.clone(),
                    all_busy.clone(),
                    release.clone(),
                    count.clone(),
                );
                async move {
                    let released = release.notified();
                    count.fetch_add(1, Ordering::SeqCst);
                    if active.fetch_add(1, Ordering::SeqCst) + 1 == SERVERS * CONCURRENCY {
                        all_busy.notify_one();
                    }
                    released.await;
                    Ok(())
                }
            })
            .await
            .expect("start");
        servers.push(server);
    }
    wait_until("every server idle", || async {
        blocked_on_wake(&env).await >= SERVERS
    })
    .await;
    let tasks: Vec<Task> = (0..30).map(|i| Task::new("t", i.to_string())).collect();
    for r in env.client.enqueue_batch(&tasks, []).await {
        r.expect("enqueue");
    }
    // One marker for the whole batch; every server must still get work, each woken by the
    // one before it, long before any probe.
    tokio::time::timeout(Duration::from_secs(30), all_busy.notified())
        .await
        .expect("every slot of every server got a task of the burst");
    for (i, c) in per_server.iter().enumerate() {
        assert_eq!(c.load(Ordering::SeqCst), CONCURRENCY, "server {i}");
    }
    release.notify_waiters();
    let inspector = Inspector::connect(env.opt()).await.expect("inspector");
    // The rest drains (release wakes each later handler at once).
    let release2 = release.clone();
    wait_until("the burst drained", || {
        let (inspector, release) = (&inspector, release2.clone());
        async move {
            release.notify_waiters();
            let q = inspector.queue_info("default").await.expect("queue");
            q.pending == 0 && q.active == 0
        }
    })
    .await;
    for s in &servers {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_no_blocked_connection() {
    let env = Env::start().await;
    let server = Server::new(env.opt(), wake_only_config())
        .await
        .expect("server");
    server
        .start(|_c: TaskContext, _t: Task| async { Ok(()) })
        .await
        .expect("start");
    wait_until("the server is idle", || async {
        blocked_on_wake(&env).await == 1
    })
    .await;
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown does not wait for the blocked BLPOP");
    wait_until("the wake-up connection is closed", || async {
        blocked_on_wake(&env).await == 0
    })
    .await;
}
