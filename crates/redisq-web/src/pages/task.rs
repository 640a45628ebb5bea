//! `/queues/{q}/tasks/{id}`: one task in full.

use std::fmt::Write as _;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use redisq::TaskState;

use super::html::{Esc, duration, full, query, when};
use super::queue::task_actions;
use super::{Ctx, Nav};
use crate::state::AppState;

/// `GET /queues/{q}/tasks/{id}`.
pub(crate) async fn page(
    State(st): State<AppState>,
    Path((q, id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = Ctx::new(&st, &headers, raw.as_deref());
    let t = match st.inspector.task_info(&q, &id).await {
        Ok(t) => t,
        Err(e) => return ctx.failure(&format!("Task {id}"), &e),
    };
    let qurl = ctx.url(&["queues", &q]);
    let here = ctx.url(&["queues", &q, "tasks", &id]);
    let list = format!("{qurl}{}", query(&[("state", t.state.as_str())]));
    let mut body = String::new();
    let _ = write!(
        body,
        "<p class=\"muted\"><a href=\"{}\">Queues</a> › <a href=\"{}\">{}</a> › \
         <a href=\"{}\">{}</a> ›</p><h1 class=\"mono\">{}</h1>",
        Esc(&ctx.url(&[])),
        Esc(&qurl),
        Esc(&q),
        Esc(&list),
        t.state.as_str(),
        Esc(&t.id)
    );
    if !ctx.read_only() {
        body.push_str("<div class=\"bar\">");
        for (action, label, confirm) in task_actions(t.state) {
            // After a delete the task is gone: come back to its list instead.
            let back = if *action == "delete" { &list } else { &here };
            let ask = confirm.then(|| format!("{label}: task {}?", t.id));
            body.push_str(&ctx.button(
                &format!("{here}/{action}"),
                label,
                back,
                ask.as_deref(),
                if *action == "delete" { "danger" } else { "" },
            ));
            body.push(' ');
        }
        body.push_str("</div>");
    }

    let row = |k: &str, v: String| format!("<tr><th>{}</th><td>{v}</td></tr>", Esc(k));
    let opt_dur = |d: Option<std::time::Duration>| {
        d.map(|d| Esc(&duration(d)).to_string())
            .unwrap_or_else(|| "<span class=\"muted\">—</span>".into())
    };
    body.push_str("<div class=\"tablewrap\"><table class=\"kv\"><tbody>");
    body.push_str(&row("Queue", Esc(&t.queue).to_string()));
    body.push_str(&row("Type", Esc(&t.task_type).to_string()));
    body.push_str(&row("State", t.state.as_str().to_string()));
    if let Some(g) = &t.group {
        body.push_str(&row("Group", Esc(g).to_string()));
    }
    body.push_str(&row("Retried", format!("{} of {}", t.retried, t.max_retry)));
    if t.state == TaskState::Active {
        body.push_str(&row(
            "Orphaned",
            if t.is_orphaned { "yes" } else { "no" }.to_string(),
        ));
        if let Some(p) = &t.progress {
            body.push_str(&row(
                "Progress",
                format!(
                    "<progress max=\"100\" value=\"{pc}\" aria-label=\"{pc}%\"></progress> {pc}% {} <span class=\"muted\">({})</span>",
                    Esc(&p.message),
                    when(Some(p.updated_at)),
                    pc = p.percent,
                ),
            ));
        }
    }
    body.push_str(&row("Next process at", when(t.next_process_at)));
    body.push_str(&row("Timeout", opt_dur(t.timeout)));
    body.push_str(&row("Deadline", when(t.deadline)));
    body.push_str(&row("Retention", opt_dur(t.retention)));
    body.push_str(&row("Completed at", when(t.completed_at)));
    body.push_str(&row("Last failed at", when(t.last_failed_at)));
    body.push_str("</tbody></table></div>");

    if !t.last_err.is_empty() {
        let _ = write!(
            body,
            "<h2>Last error</h2><pre class=\"data err\">{}</pre>",
            Esc(&t.last_err)
        );
    }
    body.push_str("<h2>Payload</h2>");
    body.push_str(&full(&t.payload));
    if let Some(r) = &t.result {
        body.push_str("<h2>Result</h2>");
        body.push_str(&full(r));
    }
    body.push_str("<h2>Headers</h2>");
    if t.headers.is_empty() {
        body.push_str("<p class=\"muted\">None.</p>");
    } else {
        body.push_str("<div class=\"tablewrap\"><table class=\"kv\"><tbody>");
        for (k, v) in &t.headers {
            let _ = write!(
                body,
                "<tr><th class=\"mono\">{}</th><td class=\"mono\">{}</td></tr>",
                Esc(k),
                Esc(v)
            );
        }
        body.push_str("</tbody></table></div>");
    }
    ctx.layout(&format!("Task {}", t.id), Nav::Queues, &body)
}
