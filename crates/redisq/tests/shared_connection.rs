//! One `Connection` shared by a client, an inspector, a scheduler and a server: no new
//! connections for the first three, and everything works through it.

mod common;

use std::time::Duration;

use redisq::{
    Client, Connection, Inspector, Namespace, Scheduler, SchedulerConfig, Server, Task, TaskContext,
};
use tokio::sync::mpsc;

use common::{Env, fast_config, recv};

async fn connected_clients(c: &redis::aio::MultiplexedConnection) -> usize {
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query_async(&mut c.clone())
        .await
        .expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("connected_clients")
}

#[tokio::test]
async fn client_inspector_scheduler_and_server_share_one_connection() {
    let env = Env::start().await;
    let probe = env.conn().await;
    let conn = Connection::connect(env.opt()).await.expect("connect");
    let before = connected_clients(&probe).await;

    let client = Client::from_connection(&conn, Namespace::default());
    let inspector = Inspector::from_connection(&conn, Namespace::default());
    let scheduler = Scheduler::from_connection(&conn, SchedulerConfig::new()).expect("scheduler");
    let server = Server::from_connection(&conn, fast_config()).expect("server");
    client.ping().await.expect("client ping");
    inspector.ping().await.expect("inspector ping");
    assert_eq!(
        connected_clients(&probe).await,
        before,
        "sharing services opened connections of their own"
    );

    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    server
        .start(move |_ctx: TaskContext, task: Task| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(task.task_type().to_string());
                Ok(())
            }
        })
        .await
        .expect("start");
    client
        .enqueue(&Task::new("direct", ""))
        .await
        .expect("enqueue");
    assert_eq!(recv(&mut rx).await, "direct");
    scheduler
        .register("@every 1s", Task::new("periodic", ""), [])
        .expect("register");
    scheduler.start().await.expect("scheduler start");
    assert_eq!(recv(&mut rx).await, "periodic");
    let info = inspector.queue_info("default").await.expect("queue info");
    assert!(info.processed >= 1, "{info:?}");
    scheduler.shutdown().await;
    server.shutdown().await;
    // The shared connection outlives the services.
    client.ping().await.expect("still usable");
    tokio::time::timeout(Duration::from_secs(5), inspector.ping())
        .await
        .expect("answers")
        .expect("inspector ping");
}
