//! # redisq-web
//!
//! The web side of redisq, as an [`axum::Router`] that an application can nest under its own
//! path and behind its own authentication, and that `redisq web` serves on its own:
//!
//! - a dashboard of server-rendered HTML pages: queues, tasks, servers, scheduler
//!   entries, Redis; every asset embedded, nothing fetched from the internet;
//! - a JSON API under `/api` with asynqmon's routes and shapes, so scripts written
//!   against asynqmon keep working;
//! - Prometheus metrics at `/metrics` with the names of asynq's exporter.
//!
//! Pages and API share one guard (see [`router`]): an optional bearer token (header or the
//! cookie the login form sets), a read-only mode that refuses every change with 403, and a
//! CSRF defence that lets plain API clients through.
//!
//! Everything reads and acts through a [`redisq::Inspector`]; nothing here touches Redis
//! directly, and nothing reads Redis unless a request asks for it.
//!
//! ```no_run
//! # async fn demo() -> redisq::Result<()> {
//! use redisq::{Inspector, RedisClientOpt};
//! use redisq_web::WebConfig;
//!
//! let inspector = Inspector::connect(RedisClientOpt::new("127.0.0.1:6379")).await?;
//! let app = axum::Router::new().nest("/redisq", redisq_web::router(inspector, WebConfig::new()));
//! # let _ = app;
//! # Ok(()) }
//! ```

mod api;
mod bulk;
mod metrics;
mod pages;
mod state;

pub use state::WebConfig;

use axum::Router;
use redisq::Inspector;

use crate::state::AppState;

/// The whole web side: pages at `/`, the JSON API at `/api`, metrics at `/metrics`.
///
/// Every route sits behind one guard: the auth token (when [`WebConfig::auth_token`] is
/// set), read-only mode, and the CSRF defence for requests that change something. In short:
/// changes are `POST` or `DELETE`; a browser's request must come from the same origin
/// (`Origin`/`Referer` against `Host`, `Sec-Fetch-Site`) and a form post must carry the
/// per-process CSRF token the pages put in their forms (or the `X-CSRF-Token` header);
/// requests without any browser header and with a JSON body or none (curl, scripts using the
/// API) need no CSRF token.
pub fn router(inspector: Inspector, config: WebConfig) -> Router {
    let state = AppState::new(inspector, config);
    Router::new()
        .merge(pages::routes())
        .nest("/api", api::routes())
        .merge(metrics::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            state::guard,
        ))
        .with_state(state)
}
