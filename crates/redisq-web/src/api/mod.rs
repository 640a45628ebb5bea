//! The JSON API, compatible with asynqmon v0.7: the same paths, methods, JSON field names and
//! shapes, status codes and error texts, so scripts written against asynqmon keep working.
//!
//! The router is nested under `/api`; the paths below are relative to it.
//!
//! | method | path | answer |
//! | --- | --- | --- |
//! | GET | `/queues` | `{"queues": [snapshot…]}` |
//! | GET | `/queues/{qname}` | `{"current": snapshot, "history": [daily stats of 10 days], "limits": [...]}` (`limits`, the fleet-wide limits that apply to the queue, is redisq's addition) |
//! | DELETE | `/queues/{qname}` | 204; 404 unknown queue, 400 queue not empty |
//! | POST | `/queues/{qname}:pause`, `/queues/{qname}:resume` | 204 |
//! | GET | `/queue_stats` | `{"stats": {qname: [daily stats of 90 days]}}` |
//! | GET | `/queues/{qname}/{state}_tasks` | `{"tasks": [...], "stats": snapshot}` |
//! | GET | `/queues/{qname}/groups` | `{"stats": snapshot, "groups": [{"group", "size"}]}` |
//! | GET | `/queues/{qname}/groups/{gname}/aggregating_tasks` | `{"tasks", "stats", "groups"}` |
//! | GET | `/queues/{qname}/tasks/{task_id}` | the task |
//! | DELETE | `…/{state}_tasks/{task_id}` | 204 |
//! | POST | `…/{state}_tasks/{task_id}:run`, `:archive`, `:cancel` | 204 |
//! | DELETE | `…/{state}_tasks:delete_all` | `{"deleted": n}` |
//! | POST | `…/{state}_tasks:run_all`, `:archive_all` | `{"scheduled": n}`, `{"archived": n}` |
//! | POST | `…/active_tasks:cancel_all` | 204 |
//! | POST | `…/{state}_tasks:batch_delete`, `:batch_run`, `:batch_archive`, `:batch_cancel` | `{"deleted_ids", "failed_ids"}`, `{"pending_ids", "error_ids"}`, `{"archived_ids", "error_ids"}`, `{"canceled_ids", "error_ids"}` |
//! | GET | `/servers` | `{"servers": [...]}` |
//! | GET | `/scheduler_entries` | `{"entries": [...]}` |
//! | GET | `/scheduler_entries/{entry_id}/enqueue_events` | `{"events": [...]}` |
//! | GET | `/redis_info` | `{"address", "info", "raw_info", "cluster", "raw_cluster_nodes", "queue_locations"}` |
//!
//! `{state}` is `active`, `pending`, `scheduled`, `retry`, `archived` or `completed`; `…` is
//! `/queues/{qname}` or `/queues/{qname}/groups/{gname}` (with `aggregating_tasks`). Which
//! actions a state offers is asynqmon's table: running is offered for scheduled, retry,
//! archived and aggregating tasks, archiving for pending, scheduled, retry and aggregating
//! ones, deleting for every state but active, cancelling for active tasks only. A known
//! action with another method answers 405, an unknown one 404.
//!
//! Batch routes take `{"task_ids": ["…", …]}` (unknown fields and malformed JSON: 400).
//! Listings read one page: `page` (from 1) and `size` (asynqmon's name; `page_size` is
//! accepted too), 20 by default and at most 1 000.
//!
//! # Paths with a colon
//!
//! asynqmon's actions follow a path parameter after a colon (`/queues/{qname}:pause`), which
//! axum cannot express as a capture followed by a literal in one segment. Such a segment is
//! captured whole and split on its **last** colon: `/queues/{segment}` with method POST
//! reads `segment` as `{qname}:{action}`, so a queue named `a:b` is paused at
//! `/queues/a:b:pause`; GET and DELETE take the whole segment as the queue name. The same
//! holds for `{state}_tasks:{action}` and `{task_id}:{action}`.
//!
//! # Errors
//!
//! As asynqmon (Go's `http.Error`): a `text/plain` body holding the message and a newline.
//! 404 for an unknown queue or task (and an unknown route), 400 for bad input or deleting a
//! queue that is not empty, 405 for a method a route does not take, 500 otherwise — also,
//! as in asynqmon, when a task's state does not allow the action (running a pending task).
//!
//! # Read-only mode
//!
//! With [`WebConfig::read_only`](crate::WebConfig::read_only) every route but GET (and HEAD)
//! answers 405 with asynqmon's text `API Server is running in read-only mode: POST request
//! is not allowed` before touching anything.
//!
//! # Differences from asynqmon
//!
//! - Times are in UTC (asynqmon writes the server's local zone).
//! - `raw_cluster_nodes` of `/redis_info` is empty: the Inspector does not expose
//!   `CLUSTER NODES`; `queue_locations` is filled as asynqmon does.
//! - Listing, getting or acting on an unknown queue answers 404 where asynqmon 0.7 answers
//!   500 for some routes.

mod convert;
mod queues;
mod tasks;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::AppState;

/// The API routes, without the `/api` prefix.
///
/// Paths under a queue are routed by depth with positional captures (axum's router wants one
/// name per position): `{list}` is `{state}_tasks[:{action}]`, `groups` or `tasks`; `{item}`
/// a task ID (with `:{action}`) or, under `groups`, the group name; `{group_list}` is
/// `aggregating_tasks[:{action}]` and `{group_item}` a task ID of the group.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/queues", get(queues::list_queues))
        .route(
            "/queues/{qname}",
            get(queues::get_queue)
                .delete(queues::delete_queue)
                .post(queues::queue_action),
        )
        .route("/queue_stats", get(queues::queue_stats))
        .route(
            "/queues/{qname}/{list}",
            get(tasks::list).post(tasks::bulk).delete(tasks::bulk),
        )
        .route(
            "/queues/{qname}/{list}/{item}",
            get(tasks::get_task)
                .post(tasks::task_action)
                .delete(tasks::task_action),
        )
        .route(
            "/queues/{qname}/{list}/{item}/{group_list}",
            get(tasks::list_group)
                .post(tasks::bulk_group)
                .delete(tasks::bulk_group),
        )
        .route(
            "/queues/{qname}/{list}/{item}/{group_list}/{group_item}",
            post(tasks::task_action_group).delete(tasks::task_action_group),
        )
        .route("/servers", get(queues::servers))
        .route("/scheduler_entries", get(queues::scheduler_entries))
        .route(
            "/scheduler_entries/{entry_id}/enqueue_events",
            get(queues::enqueue_events),
        )
        .route("/redis_info", get(queues::redis_info))
        .fallback(|| async { ApiError::not_found() })
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An error answer as Go's `http.Error` writes it: the status, a plain-text message and a
/// newline.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// Go's `http.NotFound`.
    pub(crate) fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "404 page not found")
    }

    /// Go's answer to a method a route does not take.
    pub(crate) fn method_not_allowed() -> Self {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed")
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<redisq::Error> for ApiError {
    fn from(err: redisq::Error) -> Self {
        let status = if err.is_queue_not_found() || err.is_task_not_found() {
            StatusCode::NOT_FOUND
        } else if err.is_queue_not_empty() || err.is_invalid_option() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        ApiError::new(status, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, format!("{}\n", self.message)).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        resp
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

// ---------------------------------------------------------------------------------------------
// Read-only mode

/// Taken first by every handler that changes something: refuses the request in read-only
/// mode, before any other extractor or the handler runs.
#[derive(Debug)]
pub(crate) struct Writable;

impl FromRequestParts<AppState> for Writable {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        if state.config.read_only && !matches!(parts.method, Method::GET | Method::HEAD) {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "API Server is running in read-only mode: {} request is not allowed",
                    parts.method
                ),
            ));
        }
        Ok(Writable)
    }
}

// ---------------------------------------------------------------------------------------------
// Paging

/// asynqmon's default page size.
const DEFAULT_PAGE_SIZE: usize = 20;
/// The largest page served, so that no request reads a whole large queue.
const MAX_PAGE_SIZE: usize = 1_000;

/// The `page` and `size` (or `page_size`) query parameters, as asynqmon's `getPageOptions`
/// reads them: unparsable values are ignored; a page below 1 is page 1, a size below 1 the
/// default, and sizes are capped at [`MAX_PAGE_SIZE`].
pub(crate) fn page_options(query: Option<&str>) -> redisq::ListOptions {
    let (mut page, mut size) = (1_i64, DEFAULT_PAGE_SIZE as i64);
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Ok(n) = value.parse::<i64>() else {
            continue;
        };
        match key {
            "page" => page = n,
            "size" | "page_size" => size = n,
            _ => {}
        }
    }
    let page = usize::try_from(page).unwrap_or(0).max(1);
    let size = match usize::try_from(size) {
        Ok(0) | Err(_) => DEFAULT_PAGE_SIZE,
        Ok(n) => n.min(MAX_PAGE_SIZE),
    };
    redisq::ListOptions::new().page(page).page_size(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_follows_asynqmon() {
        let p = |q: Option<&str>| {
            let o = page_options(q);
            (o.page, o.page_size)
        };
        assert_eq!(p(None), (1, 20));
        assert_eq!(p(Some("page=3&size=5")), (3, 5));
        assert_eq!(p(Some("page_size=7")), (1, 7));
        assert_eq!(p(Some("page=0&size=-4")), (1, 20));
        assert_eq!(p(Some("page=x&size=999999")), (1, 1_000));
    }
}
