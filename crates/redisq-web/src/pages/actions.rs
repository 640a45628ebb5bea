//! The form actions: POST, then 303 back to the page the form came from, with a one-shot
//! message in a cookie.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use redisq::Inspector;

use super::{Ctx, FLASH_COOKIE, parse_state};
use crate::bulk::{AllAction, apply_all};
use crate::state::{AppState, parse_form, set_cookie};

/// A form body.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &Bytes) -> Form {
        Form(parse_form(&String::from_utf8_lossy(body)))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A place to come back to: a path under the router's base path, never another site.
pub(crate) fn safe_back(ctx: &Ctx, back: &str) -> String {
    let base = &ctx.config.base_path;
    let ok = back.starts_with('/')
        && !back.starts_with("//")
        && !back.contains('\\')
        && !back.chars().any(char::is_control)
        && (base.is_empty() || back == base.as_str() || back.starts_with(&format!("{base}/")));
    if ok { back.to_string() } else { ctx.url(&[]) }
}

/// 303 to `to`, leaving `message` (`ok:…` / `err:…`) for the next page.
pub(crate) fn redirect(to: &str, message: Option<&str>, ctx: &Ctx) -> Response {
    let mut resp = (StatusCode::SEE_OTHER, "").into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(m) = message
        && let Ok(v) = HeaderValue::from_str(&set_cookie(&ctx.config, FLASH_COOKIE, m, Some(60)))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn done(ctx: &Ctx, form: &Form, result: Result<String, String>) -> Response {
    let back = safe_back(ctx, form.get("back").unwrap_or(""));
    let message = match result {
        Ok(m) => format!("ok:{m}"),
        Err(e) => format!("err:{e}"),
    };
    redirect(&back, Some(&message), ctx)
}

/// `POST /queues/{q}/pause`.
pub(crate) async fn pause(
    State(st): State<AppState>,
    Path(q): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (ctx, form) = (Ctx::new(&st, &headers, None), Form::parse(&body));
    let r = st.inspector.pause_queue(&q).await;
    done(
        &ctx,
        &form,
        r.map(|()| format!("Paused queue {q}."))
            .map_err(|e| e.to_string()),
    )
}

/// `POST /queues/{q}/resume`.
pub(crate) async fn resume(
    State(st): State<AppState>,
    Path(q): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (ctx, form) = (Ctx::new(&st, &headers, None), Form::parse(&body));
    let r = st.inspector.unpause_queue(&q).await;
    done(
        &ctx,
        &form,
        r.map(|()| format!("Resumed queue {q}."))
            .map_err(|e| e.to_string()),
    )
}

/// `POST /queues/{q}/delete` (`force=1` to delete a queue that still holds tasks).
pub(crate) async fn delete_queue(
    State(st): State<AppState>,
    Path(q): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (ctx, form) = (Ctx::new(&st, &headers, None), Form::parse(&body));
    let force = form.get("force").is_some_and(|v| v == "1" || v == "on");
    match st.inspector.delete_queue(&q, force).await {
        Ok(()) => redirect(&ctx.url(&[]), Some(&format!("ok:Deleted queue {q}.")), &ctx),
        Err(e) => done(&ctx, &form, Err(e.to_string())),
    }
}

async fn one_task(inspector: &Inspector, q: &str, id: &str, action: &str) -> Result<(), String> {
    let r = match action {
        "run" => inspector.run_task(q, id).await,
        "archive" => inspector.archive_task(q, id).await,
        "delete" => inspector.delete_task(q, id).await,
        "cancel" => inspector.cancel_processing(id).await,
        other => return Err(format!("unknown action {other:?}")),
    };
    r.map_err(|e| e.to_string())
}

fn past(action: &str) -> &'static str {
    match action {
        "run" => "Moved to pending",
        "archive" => "Archived",
        "delete" => "Deleted",
        "cancel" => "Asked to cancel",
        _ => "Done",
    }
}

/// `POST /queues/{q}/tasks/{id}/{action}`: run, archive, delete or cancel one task.
pub(crate) async fn task_action(
    State(st): State<AppState>,
    Path((q, id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (ctx, form) = (Ctx::new(&st, &headers, None), Form::parse(&body));
    if !["run", "archive", "delete", "cancel"].contains(&action.as_str()) {
        return ctx.error(StatusCode::NOT_FOUND, "Unknown action", &action);
    }
    let r = one_task(&st.inspector, &q, &id, &action).await;
    done(
        &ctx,
        &form,
        r.map(|()| format!("{}: task {id}.", past(&action))),
    )
}

/// `POST /queues/{q}/{state}/{action}`: `run_all`, `archive_all`, `delete_all` (with `group`
/// for aggregating tasks), or `batch` (`action=run|archive|delete|cancel`, `id` repeated).
pub(crate) async fn state_action(
    State(st): State<AppState>,
    Path((q, state, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (ctx, form) = (Ctx::new(&st, &headers, None), Form::parse(&body));
    let Some(state) = parse_state(&state) else {
        return ctx.error(StatusCode::NOT_FOUND, "Unknown state", &state);
    };
    if action == "batch" {
        let ids = form.all("id");
        let what = form.get("action").unwrap_or("");
        if ids.is_empty() {
            return done(&ctx, &form, Err("No task was ticked.".into()));
        }
        let mut ok = 0;
        let mut errors = Vec::new();
        for id in &ids {
            match one_task(&st.inspector, &q, id, what).await {
                Ok(()) => ok += 1,
                Err(e) => errors.push(format!("{id}: {e}")),
            }
        }
        let result = if errors.is_empty() {
            Ok(format!("{}: {ok} task(s).", past(what)))
        } else {
            Err(format!(
                "{}: {ok} task(s); {} failed: {}",
                past(what),
                errors.len(),
                errors.join("; ")
            ))
        };
        return done(&ctx, &form, result);
    }
    let group = form.get("group").unwrap_or("");
    let what = match action.as_str() {
        "run_all" => Some(AllAction::Run),
        "archive_all" => Some(AllAction::Archive),
        "delete_all" => Some(AllAction::Delete),
        _ => None,
    };
    let applied = match what {
        Some(what) => apply_all(&st.inspector, &q, state, group, what).await,
        None => None,
    };
    let Some(r) = applied else {
        return done(
            &ctx,
            &form,
            Err(format!(
                "{action} is not possible on {} tasks",
                state.as_str()
            )),
        );
    };
    let verb = match action.as_str() {
        "run_all" => "Moved to pending",
        "archive_all" => "Archived",
        _ => "Deleted",
    };
    done(
        &ctx,
        &form,
        r.map(|n| format!("{verb}: {n} {} task(s).", state.as_str()))
            .map_err(|e| e.to_string()),
    )
}
