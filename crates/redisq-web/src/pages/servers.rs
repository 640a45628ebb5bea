//! `/servers`: the running servers and the tasks they are processing.

use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::html::{Esc, LIST_PREVIEW, preview, when};
use super::{Ctx, Nav};
use crate::state::AppState;

/// `GET /servers`.
pub(crate) async fn page(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = Ctx::new(&st, &headers, raw.as_deref());
    let servers = match st.inspector.servers().await {
        Ok(s) => s,
        Err(e) => return ctx.failure("Could not list the servers", &e),
    };
    let mut body = String::from("<h1>Servers</h1>");
    if servers.is_empty() {
        body.push_str("<p class=\"muted\">No server is running.</p>");
        return ctx.layout("Servers", Nav::Servers, &body);
    }
    body.push_str(
        "<div class=\"tablewrap\"><table><thead><tr><th>Host</th><th class=\"num\">PID</th>\
         <th class=\"hide-sm\">ID</th><th>Status</th><th class=\"num\">Busy</th>\
         <th>Queues (priority)</th><th>Started</th></tr></thead><tbody>",
    );
    for s in &servers {
        let queues: Vec<String> = s
            .queues
            .iter()
            .map(|(q, p)| {
                format!(
                    "<a href=\"{}\">{}</a> ({p})",
                    Esc(&ctx.url(&["queues", q])),
                    Esc(q)
                )
            })
            .collect();
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"mono hide-sm\">{}</td><td>{}</td>\
             <td class=\"num\">{}/{}</td><td>{}{}</td><td>{}</td></tr>",
            Esc(&s.host),
            s.pid,
            Esc(&s.id),
            Esc(&s.status),
            s.active_workers.len(),
            s.concurrency,
            queues.join(", "),
            if s.strict_priority { " · strict" } else { "" },
            when(s.started)
        );
    }
    body.push_str("</tbody></table></div><h2>Active workers</h2>");
    let workers: Vec<_> = servers
        .iter()
        .flat_map(|s| s.active_workers.iter().map(move |w| (s, w)))
        .collect();
    if workers.is_empty() {
        body.push_str("<p class=\"muted\">No task is being processed.</p>");
    } else {
        body.push_str(
            "<div class=\"tablewrap\"><table><thead><tr><th>Task</th><th>Type</th><th>Payload</th>\
             <th>Queue</th><th>Server</th><th>Started</th><th>Deadline</th></tr></thead><tbody>",
        );
        for (s, w) in workers {
            let _ = write!(
                body,
                "<tr><td class=\"mono\"><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td>\
                 <td><a href=\"{}\">{}</a></td><td>{}:{}</td><td>{}</td><td>{}</td></tr>",
                Esc(&ctx.url(&["queues", &w.queue, "tasks", &w.task_id])),
                Esc(&w.task_id),
                Esc(&w.task_type),
                preview(&w.task_payload, LIST_PREVIEW),
                Esc(&ctx.url(&["queues", &w.queue])),
                Esc(&w.queue),
                Esc(&s.host),
                s.pid,
                when(w.started),
                when(w.deadline)
            );
        }
        body.push_str("</tbody></table></div>");
    }
    ctx.layout("Servers", Nav::Servers, &body)
}
