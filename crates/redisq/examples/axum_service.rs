//! An axum web service that enqueues a typed task for each request, and a redisq server in
//! the same process that processes them. In production the two usually run in different
//! processes (or machines); both sides share the `SignupEmail` task type.
//!
//! ```sh
//! cargo run -p redisq --example axum_service
//! # then, from another shell:
//! curl -X POST -H 'content-type: application/json' \
//!      -d '{"user_id":7,"email":"ada@example.com"}' http://127.0.0.1:3000/signup
//! ```
//!
//! `REDISQ_EXAMPLE_ADDR` changes the listening address; Ctrl-C shuts the web service and the
//! server down gracefully.

mod support;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use redisq::{Client, Config, HandlerError, ServeMux, Server, TaskContext, TaskOption, TypedTask};
use serde::{Deserialize, Serialize};

/// The task: defined once, used by the web handler (producer) and the worker (consumer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignupEmail {
    /// Who signed up.
    pub user_id: u64,
    /// Where the welcome email goes.
    pub email: String,
}

impl TypedTask for SignupEmail {
    const TYPE: &'static str = "email:signup";
    fn options(&self) -> Vec<TaskOption> {
        vec![TaskOption::queue("critical"), TaskOption::max_retry(5)]
    }
}

/// The request body of `POST /signup`.
#[derive(Debug, Deserialize)]
pub struct SignupRequest {
    /// Who signs up.
    pub user_id: u64,
    /// Their address.
    pub email: String,
}

/// The reply: where the task went.
#[derive(Debug, Serialize, Deserialize)]
pub struct Accepted {
    /// The enqueued task's ID.
    pub task_id: String,
    /// Its queue.
    pub queue: String,
}

/// The web service: `POST /signup` enqueues a `SignupEmail` and answers 202 Accepted.
pub fn app(client: Client) -> Router {
    Router::new()
        .route("/signup", post(signup))
        .with_state(client)
}

async fn signup(
    State(client): State<Client>,
    Json(req): Json<SignupRequest>,
) -> Result<(StatusCode, Json<Accepted>), (StatusCode, String)> {
    if !req.email.contains('@') {
        return Err((StatusCode::UNPROCESSABLE_ENTITY, "invalid email".into()));
    }
    let task = SignupEmail {
        user_id: req.user_id,
        email: req.email,
    };
    match client.enqueue_typed(&task).await {
        Ok(info) => Ok((
            StatusCode::ACCEPTED,
            Json(Accepted {
                task_id: info.id,
                queue: info.queue,
            }),
        )),
        // Redis trouble: tell the caller to come back, do not pretend it worked.
        Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

/// The worker's routes. `sent` receives every email "sent", for the example's output and its
/// test.
pub fn worker(sent: tokio::sync::mpsc::UnboundedSender<SignupEmail>) -> ServeMux {
    let mut mux = ServeMux::new();
    mux.handle_typed(move |ctx: TaskContext, email: SignupEmail| {
        let sent = sent.clone();
        async move {
            println!(
                "worker: sending the welcome email to {} (task {})",
                email.email,
                ctx.task_id()
            );
            sent.send(email)
                .map_err(|_| HandlerError::msg("the mail service is gone"))?;
            Ok(())
        }
    });
    mux
}

#[allow(dead_code)] // The tests include this file for `app` and `worker` only.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let support::Setup {
        _redis,
        conn,
        namespace,
    } = support::setup().await?;
    let client = Client::from_connection(&conn, namespace.clone());

    let (sent, mut outbox) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::from_connection(
        &conn,
        Config::new().namespace(namespace).queues([("critical", 1)]),
    )?;
    server.start(worker(sent)).await?;
    tokio::spawn(async move {
        while let Some(email) = outbox.recv().await {
            println!("outbox: {email:?}");
        }
    });

    let addr = std::env::var("REDISQ_EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "listening on http://{addr}; try:\n  curl -X POST -H 'content-type: application/json' \
         -d '{{\"user_id\":7,\"email\":\"ada@example.com\"}}' http://{addr}/signup"
    );
    axum::serve(listener, app(client))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    server.shutdown().await;
    Ok(())
}
