//! `/schedulers`: the entries of running schedulers and the tasks they enqueued.

use std::fmt::Write as _;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use redisq::{ListOptions, SchedulerEnqueueEvent, SchedulerEntry};

use super::html::{Esc, LIST_PREVIEW, preview, query, when};
use super::{Ctx, Nav};
use crate::state::AppState;

/// Enqueues shown per entry on the list page.
const RECENT: usize = 5;
/// Enqueues per page on an entry's page.
const PAGE: usize = 30;

/// The queue an entry enqueues to, from its options (`Queue("low")`), else `default`.
fn entry_queue(e: &SchedulerEntry) -> String {
    e.options
        .iter()
        .find_map(|o| {
            o.strip_prefix("Queue(\"")
                .and_then(|r| r.strip_suffix("\")"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| redisq::DEFAULT_QUEUE.to_string())
}

fn events_table(ctx: &Ctx, queue: &str, events: &[SchedulerEnqueueEvent], out: &mut String) {
    if events.is_empty() {
        out.push_str("<span class=\"muted\">none yet</span>");
        return;
    }
    out.push_str("<table><tbody>");
    for ev in events {
        let _ = write!(
            out,
            "<tr><td class=\"mono\"><a href=\"{}\">{}</a></td><td>{}</td></tr>",
            Esc(&ctx.url(&["queues", queue, "tasks", &ev.task_id])),
            Esc(&ev.task_id),
            when(Some(ev.enqueued_at))
        );
    }
    out.push_str("</tbody></table>");
}

/// `GET /schedulers`.
pub(crate) async fn page(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = Ctx::new(&st, &headers, raw.as_deref());
    let entries = match st.inspector.scheduler_entries().await {
        Ok(e) => e,
        Err(e) => return ctx.failure("Could not list the scheduler entries", &e),
    };
    let mut body = String::from("<h1>Scheduler entries</h1>");
    if entries.is_empty() {
        body.push_str("<p class=\"muted\">No scheduler is running.</p>");
        return ctx.layout("Schedulers", Nav::Schedulers, &body);
    }
    body.push_str(
        "<div class=\"tablewrap\"><table><thead><tr><th>Entry</th><th>Spec</th><th>Type</th>\
         <th>Payload</th><th>Options</th><th>Next</th><th>Previous</th><th>Recent enqueues</th>\
         </tr></thead><tbody>",
    );
    for e in &entries {
        let events = match st
            .inspector
            .scheduler_enqueue_events(&e.id, ListOptions::new().page_size(RECENT))
            .await
        {
            Ok(ev) => ev,
            Err(err) => return ctx.failure("Could not read the enqueue history", &err),
        };
        let _ = write!(
            body,
            "<tr><td class=\"mono\"><a href=\"{}\">{}</a></td><td class=\"mono\">{}</td><td>{}</td>\
             <td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>",
            Esc(&ctx.url(&["schedulers", &e.id])),
            Esc(&e.id),
            Esc(&e.spec),
            Esc(&e.task_type),
            preview(&e.payload, LIST_PREVIEW),
            Esc(&e.options.join(", ")),
            when(e.next),
            when(e.prev)
        );
        events_table(&ctx, &entry_queue(e), &events, &mut body);
        body.push_str("</td></tr>");
    }
    body.push_str("</tbody></table></div>");
    ctx.layout("Schedulers", Nav::Schedulers, &body)
}

/// `GET /schedulers/{entry}?page=N`: one entry's enqueue history.
pub(crate) async fn entry_page(
    State(st): State<AppState>,
    Path(entry): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = Ctx::new(&st, &headers, raw.as_deref());
    let page = ctx.number("page", 1, 100_000);
    let entries = match st.inspector.scheduler_entries().await {
        Ok(e) => e,
        Err(e) => return ctx.failure("Could not list the scheduler entries", &e),
    };
    let Some(e) = entries.iter().find(|e| e.id == entry) else {
        return ctx.error(
            StatusCode::NOT_FOUND,
            "No such entry",
            &format!("no running scheduler has the entry {entry}"),
        );
    };
    let events = match st
        .inspector
        .scheduler_enqueue_events(&e.id, ListOptions::new().page(page).page_size(PAGE))
        .await
    {
        Ok(ev) => ev,
        Err(err) => return ctx.failure("Could not read the enqueue history", &err),
    };
    let mut body = String::new();
    let _ = write!(
        body,
        "<p class=\"muted\"><a href=\"{}\">Schedulers</a> ›</p><h1 class=\"mono\">{}</h1>\
         <div class=\"tablewrap\"><table class=\"kv\"><tbody>\
         <tr><th>Spec</th><td class=\"mono\">{}</td></tr><tr><th>Type</th><td>{}</td></tr>\
         <tr><th>Options</th><td class=\"mono\">{}</td></tr><tr><th>Next</th><td>{}</td></tr>\
         <tr><th>Previous</th><td>{}</td></tr><tr><th>Payload</th><td>{}</td></tr>\
         </tbody></table></div><h2>Enqueues, newest first</h2><div class=\"tablewrap\">",
        Esc(&ctx.url(&["schedulers"])),
        Esc(&e.id),
        Esc(&e.spec),
        Esc(&e.task_type),
        Esc(&e.options.join(", ")),
        when(e.next),
        when(e.prev),
        preview(&e.payload, LIST_PREVIEW)
    );
    events_table(&ctx, &entry_queue(e), &events, &mut body);
    body.push_str("</div><div class=\"pager\">");
    let url = ctx.url(&["schedulers", &e.id]);
    if page > 1 {
        let _ = write!(
            body,
            "<a href=\"{}{}\" rel=\"prev\">‹ Newer</a>",
            Esc(&url),
            Esc(&query(&[("page", &(page - 1).to_string())]))
        );
    }
    let _ = write!(body, "<span class=\"muted\">Page {page}</span>");
    if events.len() == PAGE {
        let _ = write!(
            body,
            "<a href=\"{}{}\" rel=\"next\">Older ›</a>",
            Esc(&url),
            Esc(&query(&[("page", &(page + 1).to_string())]))
        );
    }
    body.push_str("</div>");
    ctx.layout(&format!("Entry {}", e.id), Nav::Schedulers, &body)
}
