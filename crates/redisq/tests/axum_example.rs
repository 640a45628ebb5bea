//! The axum example's web service and worker, against a real Redis: a request enqueues a typed
//! task, the worker receives the same value.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/axum_service.rs"]
mod example;

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use redisq::{Inspector, Server, TaskState};
use tower::ServiceExt;

use common::{Env, fast_config, recv};
use example::{Accepted, SignupEmail};

async fn post(app: axum::Router, body: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::post("/signup")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let res = app.oneshot(req).await.expect("response");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, bytes.to_vec())
}

#[tokio::test]
async fn a_request_enqueues_a_typed_task_that_the_worker_processes() {
    let env = Env::start().await;
    let app = example::app(env.client.clone());

    let (status, body) = post(app.clone(), r#"{"user_id":7,"email":"ada@example.com"}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let accepted: Accepted = serde_json::from_slice(&body).expect("json reply");
    assert_eq!(accepted.queue, "critical");
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    let info = insp
        .task_info("critical", &accepted.task_id)
        .await
        .expect("task info");
    assert_eq!(info.state, TaskState::Pending);
    assert_eq!(info.task_type, "email:signup");
    assert_eq!(info.max_retry, 5);

    let (status, _) = post(app, r#"{"user_id":8,"email":"not-an-address"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::new(env.opt(), fast_config().queues([("critical", 1)]))
        .await
        .expect("server");
    server.start(example::worker(tx)).await.expect("start");
    assert_eq!(
        recv(&mut rx).await,
        SignupEmail {
            user_id: 7,
            email: "ada@example.com".into()
        }
    );
    server.shutdown().await;
}
