//! Task routes: listings per state and per group, one task, actions on one task, on a batch
//! of tasks and on every task of a state.

use std::collections::HashMap;
use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use redisq::{Inspector, ListOptions, TaskInfo, TaskState};
use serde::Deserialize;
use serde_json::json;

use super::convert::{self, ListedTask, Workers};
use super::{ApiError, ApiResult, Writable, page_options};
use crate::bulk::{AllAction, apply_all};
use crate::state::AppState;

/// Where tasks are listed and acted on: a state of the queue, or a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source<'a> {
    Active,
    Pending,
    Scheduled,
    Retry,
    Archived,
    Completed,
    Group(&'a str),
}

impl<'a> Source<'a> {
    /// `pending_tasks` and the like (not `aggregating_tasks`, which lives under a group).
    fn of_list(list: &str) -> Option<Source<'a>> {
        Some(match list {
            "active_tasks" => Source::Active,
            "pending_tasks" => Source::Pending,
            "scheduled_tasks" => Source::Scheduled,
            "retry_tasks" => Source::Retry,
            "archived_tasks" => Source::Archived,
            "completed_tasks" => Source::Completed,
            _ => return None,
        })
    }

    fn state(self) -> TaskState {
        match self {
            Source::Active => TaskState::Active,
            Source::Pending => TaskState::Pending,
            Source::Scheduled => TaskState::Scheduled,
            Source::Retry => TaskState::Retry,
            Source::Archived => TaskState::Archived,
            Source::Completed => TaskState::Completed,
            Source::Group(_) => TaskState::Aggregating,
        }
    }

    fn runnable(self) -> bool {
        matches!(
            self,
            Source::Scheduled | Source::Retry | Source::Archived | Source::Group(_)
        )
    }

    fn archivable(self) -> bool {
        matches!(
            self,
            Source::Pending | Source::Scheduled | Source::Retry | Source::Group(_)
        )
    }

    fn deletable(self) -> bool {
        self != Source::Active
    }

    fn cancelable(self) -> bool {
        self == Source::Active
    }
}

/// An action on every task of a source, or on a batch of them (`{list}:{action}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bulk {
    DeleteAll,
    RunAll,
    ArchiveAll,
    CancelAll,
    BatchDelete,
    BatchRun,
    BatchArchive,
    BatchCancel,
}

impl Bulk {
    fn parse(action: &str) -> Option<Bulk> {
        Some(match action {
            "delete_all" => Bulk::DeleteAll,
            "run_all" => Bulk::RunAll,
            "archive_all" => Bulk::ArchiveAll,
            "cancel_all" => Bulk::CancelAll,
            "batch_delete" => Bulk::BatchDelete,
            "batch_run" => Bulk::BatchRun,
            "batch_archive" => Bulk::BatchArchive,
            "batch_cancel" => Bulk::BatchCancel,
            _ => return None,
        })
    }

    /// The method asynqmon routes this action of this source with; `None` when it has no
    /// such route.
    fn method(self, src: Source<'_>) -> Option<Method> {
        let (offered, method) = match self {
            Bulk::DeleteAll => (src.deletable(), Method::DELETE),
            Bulk::BatchDelete => (src.deletable(), Method::POST),
            Bulk::RunAll | Bulk::BatchRun => (src.runnable(), Method::POST),
            Bulk::ArchiveAll | Bulk::BatchArchive => (src.archivable(), Method::POST),
            Bulk::CancelAll | Bulk::BatchCancel => (src.cancelable(), Method::POST),
        };
        offered.then_some(method)
    }
}

/// An action on one task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaskOp {
    Delete,
    Run,
    Archive,
    Cancel,
}

impl TaskOp {
    fn offered(self, src: Source<'_>) -> bool {
        match self {
            TaskOp::Delete => src.deletable(),
            TaskOp::Run => src.runnable(),
            TaskOp::Archive => src.archivable(),
            TaskOp::Cancel => src.cancelable(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Listings

/// `GET /queues/{qname}/{state}_tasks` and `GET /queues/{qname}/groups`.
pub(crate) async fn list(
    State(st): State<AppState>,
    Path((qname, list)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    if list == "groups" {
        return list_groups(&st.inspector, &qname).await;
    }
    let src = Source::of_list(&list).ok_or_else(method_or_not_found(&list))?;
    list_tasks(&st.inspector, &qname, src, page_options(uri.query())).await
}

/// `GET /queues/{qname}/groups/{gname}/aggregating_tasks`.
pub(crate) async fn list_group(
    State(st): State<AppState>,
    Path((qname, groups, gname, list)): Path<(String, String, String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    if groups != "groups" {
        return Err(ApiError::not_found());
    }
    if list != "aggregating_tasks" {
        return Err(method_or_not_found(&list)());
    }
    let src = Source::Group(&gname);
    list_tasks(&st.inspector, &qname, src, page_options(uri.query())).await
}

/// A GET on a path whose other methods have routes (`pending_tasks:delete_all`) answers 405,
/// as asynqmon's router does; anything else 404.
fn method_or_not_found(list: &str) -> impl FnOnce() -> ApiError + '_ {
    move || {
        let known = list
            .rsplit_once(':')
            .is_some_and(|(l, a)| l.ends_with("_tasks") && Bulk::parse(a).is_some());
        if known {
            ApiError::method_not_allowed()
        } else {
            ApiError::not_found()
        }
    }
}

async fn list_groups(insp: &Inspector, qname: &str) -> ApiResult<Response> {
    let groups = insp.groups(qname).await?;
    let info = insp.queue_info(qname).await?;
    Ok(Json(json!({
        "stats": convert::queue_snapshot(&info),
        "groups": convert::groups(&groups),
    }))
    .into_response())
}

async fn list_source(
    insp: &Inspector,
    qname: &str,
    src: Source<'_>,
    opts: ListOptions,
) -> redisq::Result<Vec<TaskInfo>> {
    match src {
        Source::Active => insp.list_active_tasks(qname, opts).await,
        Source::Pending => insp.list_pending_tasks(qname, opts).await,
        Source::Scheduled => insp.list_scheduled_tasks(qname, opts).await,
        Source::Retry => insp.list_retry_tasks(qname, opts).await,
        Source::Archived => insp.list_archived_tasks(qname, opts).await,
        Source::Completed => insp.list_completed_tasks(qname, opts).await,
        Source::Group(g) => insp.list_aggregating_tasks(qname, g, opts).await,
    }
}

/// One page of a source with the queue's snapshot (and, for a group, the queue's groups).
async fn list_tasks(
    insp: &Inspector,
    qname: &str,
    src: Source<'_>,
    opts: ListOptions,
) -> ApiResult<Response> {
    let tasks = list_source(insp, qname, src, opts).await?;
    let info = insp.queue_info(qname).await?;
    // Active tasks show when their worker started and must finish, from the heartbeats.
    let servers = match src {
        Source::Active => insp.servers().await?,
        _ => Vec::new(),
    };
    let workers: Workers<'_> = servers
        .iter()
        .flat_map(|s| &s.active_workers)
        .filter(|w| w.queue == qname)
        .map(|w| (w.task_id.as_str(), w))
        .collect::<HashMap<_, _>>();
    let now = SystemTime::now();
    let tasks: Vec<ListedTask> = tasks
        .iter()
        .map(|t| convert::listed_task(t, src.state(), &workers, now))
        .collect();
    let mut body = json!({
        "tasks": tasks,
        "stats": convert::queue_snapshot(&info),
    });
    if let Source::Group(_) = src {
        body["groups"] = json!(convert::groups(&insp.groups(qname).await?));
    }
    Ok(Json(body).into_response())
}

/// `GET /queues/{qname}/tasks/{task_id}`.
pub(crate) async fn get_task(
    State(st): State<AppState>,
    Path((qname, list, id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    if list != "tasks" {
        // `pending_tasks/{id}` has DELETE and POST routes, not GET.
        return Err(match Source::of_list(&list) {
            Some(_) => ApiError::method_not_allowed(),
            None => ApiError::not_found(),
        });
    }
    let info = st.inspector.task_info(&qname, &id).await?;
    Ok(Json(convert::task_details(&info, SystemTime::now())).into_response())
}

// ---------------------------------------------------------------------------------------------
// Actions on one task

/// `DELETE /queues/{qname}/{state}_tasks/{task_id}` and
/// `POST /queues/{qname}/{state}_tasks/{task_id}:{run|archive|cancel}`.
pub(crate) async fn task_action(
    _: Writable,
    State(st): State<AppState>,
    method: Method,
    Path((qname, list, item)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let src = match Source::of_list(&list) {
        Some(src) => src,
        None if list == "tasks" => return Err(ApiError::method_not_allowed()),
        None => return Err(ApiError::not_found()),
    };
    act_on_task(&st.inspector, &qname, src, &item, &method).await
}

/// `DELETE /queues/{qname}/groups/{gname}/aggregating_tasks/{task_id}` and
/// `POST …/aggregating_tasks/{task_id}:{run|archive}`.
pub(crate) async fn task_action_group(
    _: Writable,
    State(st): State<AppState>,
    method: Method,
    Path((qname, groups, gname, list, item)): Path<(String, String, String, String, String)>,
) -> ApiResult<Response> {
    if groups != "groups" || list != "aggregating_tasks" {
        return Err(ApiError::not_found());
    }
    act_on_task(&st.inspector, &qname, Source::Group(&gname), &item, &method).await
}

async fn act_on_task(
    insp: &Inspector,
    qname: &str,
    src: Source<'_>,
    item: &str,
    method: &Method,
) -> ApiResult<Response> {
    // DELETE takes the whole segment as the ID; POST reads `{task_id}:{action}`.
    let (id, op) = if *method == Method::DELETE {
        (item, TaskOp::Delete)
    } else {
        let (id, action) = item
            .rsplit_once(':')
            .ok_or_else(ApiError::method_not_allowed)?;
        let op = match action {
            "run" => TaskOp::Run,
            "archive" => TaskOp::Archive,
            "cancel" => TaskOp::Cancel,
            _ => return Err(ApiError::method_not_allowed()),
        };
        (id, op)
    };
    if !op.offered(src) {
        return Err(ApiError::method_not_allowed());
    }
    if qname.is_empty() || id.is_empty() {
        return Err(ApiError::bad_request(
            "route parameters should not be empty",
        ));
    }
    match op {
        TaskOp::Delete => insp.delete_task(qname, id).await?,
        TaskOp::Run => insp.run_task(qname, id).await?,
        TaskOp::Archive => insp.archive_task(qname, id).await?,
        TaskOp::Cancel => insp.cancel_processing(id).await?,
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Actions on many tasks

/// `{state}_tasks:{action}` under a queue.
pub(crate) async fn bulk(
    _: Writable,
    State(st): State<AppState>,
    method: Method,
    Path((qname, list)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let Some((list, action)) = list.rsplit_once(':') else {
        // A listing (or `groups`): GET only.
        return Err(match Source::of_list(&list) {
            Some(_) => ApiError::method_not_allowed(),
            None if list == "groups" => ApiError::method_not_allowed(),
            None => ApiError::not_found(),
        });
    };
    let src = Source::of_list(list).ok_or_else(ApiError::not_found)?;
    bulk_action(&st.inspector, &qname, src, action, &method, &body).await
}

/// `aggregating_tasks:{action}` under a group.
pub(crate) async fn bulk_group(
    _: Writable,
    State(st): State<AppState>,
    method: Method,
    Path((qname, groups, gname, list)): Path<(String, String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    if groups != "groups" {
        return Err(ApiError::not_found());
    }
    let Some((list, action)) = list.rsplit_once(':') else {
        return Err(match list.as_str() {
            "aggregating_tasks" => ApiError::method_not_allowed(),
            _ => ApiError::not_found(),
        });
    };
    if list != "aggregating_tasks" {
        return Err(ApiError::not_found());
    }
    let src = Source::Group(&gname);
    bulk_action(&st.inspector, &qname, src, action, &method, &body).await
}

/// asynqmon's request body of the batch routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    #[serde(default)]
    task_ids: Option<Vec<String>>,
}

/// asynqmon's limit on request bodies.
const MAX_BODY: usize = 1_000_000;

/// Reads `{"task_ids": [...]}` as Go's decoder does: the first JSON value of the body.
fn batch_ids(body: &[u8]) -> ApiResult<Vec<String>> {
    if body.len() > MAX_BODY {
        return Err(ApiError::bad_request("http: request body too large"));
    }
    match serde_json::Deserializer::from_slice(body)
        .into_iter::<BatchRequest>()
        .next()
    {
        None => Err(ApiError::bad_request("EOF")),
        Some(Err(e)) => Err(ApiError::bad_request(e.to_string())),
        Some(Ok(req)) => Ok(req.task_ids.unwrap_or_default()),
    }
}

/// Applies `op` to each ID; `(succeeded, failed)`.
async fn each<F, Fut>(ids: Vec<String>, op: F) -> (Vec<String>, Vec<String>)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = redisq::Result<()>>,
{
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for id in ids {
        match op(id.clone()).await {
            Ok(()) => ok.push(id),
            Err(_) => failed.push(id),
        }
    }
    (ok, failed)
}

/// `action` on every task of `src`; not found where asynqmon has no such route.
async fn all(
    insp: &Inspector,
    qname: &str,
    src: Source<'_>,
    action: AllAction,
) -> ApiResult<usize> {
    let (state, group) = match src {
        Source::Active => (TaskState::Active, ""),
        Source::Pending => (TaskState::Pending, ""),
        Source::Scheduled => (TaskState::Scheduled, ""),
        Source::Retry => (TaskState::Retry, ""),
        Source::Archived => (TaskState::Archived, ""),
        Source::Completed => (TaskState::Completed, ""),
        Source::Group(g) => (TaskState::Aggregating, g),
    };
    match apply_all(insp, qname, state, group, action).await {
        Some(n) => Ok(n?),
        None => Err(ApiError::not_found()),
    }
}

async fn bulk_action(
    insp: &Inspector,
    qname: &str,
    src: Source<'_>,
    action: &str,
    method: &Method,
    body: &[u8],
) -> ApiResult<Response> {
    let bulk = Bulk::parse(action).ok_or_else(ApiError::not_found)?;
    let expected = bulk.method(src).ok_or_else(ApiError::not_found)?;
    if expected != *method {
        return Err(ApiError::method_not_allowed());
    }
    let resp = match bulk {
        Bulk::DeleteAll => {
            let n = all(insp, qname, src, AllAction::Delete).await?;
            Json(json!({ "deleted": n })).into_response()
        }
        Bulk::RunAll => {
            let n = all(insp, qname, src, AllAction::Run).await?;
            Json(json!({ "scheduled": n })).into_response()
        }
        Bulk::ArchiveAll => {
            let n = all(insp, qname, src, AllAction::Archive).await?;
            Json(json!({ "archived": n })).into_response()
        }
        Bulk::CancelAll => {
            cancel_all(insp, qname).await?;
            StatusCode::NO_CONTENT.into_response()
        }
        Bulk::BatchDelete => {
            let ids = batch_ids(body)?;
            let (ok, failed) =
                each(ids, |id| async move { insp.delete_task(qname, &id).await }).await;
            Json(json!({ "deleted_ids": ok, "failed_ids": failed })).into_response()
        }
        Bulk::BatchRun => {
            let ids = batch_ids(body)?;
            let (ok, failed) = each(ids, |id| async move { insp.run_task(qname, &id).await }).await;
            Json(json!({ "pending_ids": ok, "error_ids": failed })).into_response()
        }
        Bulk::BatchArchive => {
            let ids = batch_ids(body)?;
            let (ok, failed) =
                each(ids, |id| async move { insp.archive_task(qname, &id).await }).await;
            Json(json!({ "archived_ids": ok, "error_ids": failed })).into_response()
        }
        Bulk::BatchCancel => {
            let ids = batch_ids(body)?;
            let (ok, failed) =
                each(ids, |id| async move { insp.cancel_processing(&id).await }).await;
            Json(json!({ "canceled_ids": ok, "error_ids": failed })).into_response()
        }
    };
    Ok(resp)
}

/// Asks the servers to cancel every active task of the queue, reading the active list a page
/// of 100 at a time as asynqmon does (the list is bounded by the servers' concurrency, and a
/// cancel does not move the task, so the pages stay put).
async fn cancel_all(insp: &Inspector, qname: &str) -> redisq::Result<()> {
    const BATCH: usize = 100;
    let mut page = 1;
    loop {
        let opts = ListOptions::new().page(page).page_size(BATCH);
        let tasks = insp.list_active_tasks(qname, opts).await?;
        for t in &tasks {
            insp.cancel_processing(&t.id).await?;
        }
        if tasks.len() < BATCH {
            return Ok(());
        }
        page += 1;
    }
}
