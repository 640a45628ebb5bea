//! `/queues/{q}`: one queue, its state tabs and one page of its tasks.

use std::fmt::Write as _;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use redisq::{Inspector, ListOptions, QueueInfo, TaskInfo, TaskState};

use super::html::{Esc, LIST_PREVIEW, bytes, duration, num, preview, query, when};
use super::overview::paused_badge;
use super::{Ctx, Nav, STATES, parse_state};
use crate::state::AppState;

/// The default number of tasks per page.
const DEFAULT_SIZE: usize = 20;
/// The most tasks one page shows.
const MAX_SIZE: usize = 500;

/// `GET /queues/{q}/find?id=…`: to the task's page.
pub(crate) async fn find(
    State(st): State<AppState>,
    Path(q): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = Ctx::new(&st, &headers, raw.as_deref());
    let id = ctx.param("id").unwrap_or("").trim();
    let to = if id.is_empty() {
        ctx.url(&["queues", &q])
    } else {
        ctx.url(&["queues", &q, "tasks", id])
    };
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// How many tasks of a queue are in a state.
pub(crate) fn count(info: &QueueInfo, state: TaskState) -> usize {
    match state {
        TaskState::Active => info.active,
        TaskState::Pending => info.pending,
        TaskState::Scheduled => info.scheduled,
        TaskState::Retry => info.retry,
        TaskState::Archived => info.archived,
        TaskState::Completed => info.completed,
        TaskState::Aggregating => info.aggregating,
        _ => 0,
    }
}

async fn list(
    inspector: &Inspector,
    q: &str,
    state: TaskState,
    group: Option<&str>,
    opts: ListOptions,
) -> redisq::Result<Vec<TaskInfo>> {
    match state {
        TaskState::Active => inspector.list_active_tasks(q, opts).await,
        TaskState::Pending => inspector.list_pending_tasks(q, opts).await,
        TaskState::Scheduled => inspector.list_scheduled_tasks(q, opts).await,
        TaskState::Retry => inspector.list_retry_tasks(q, opts).await,
        TaskState::Archived => inspector.list_archived_tasks(q, opts).await,
        TaskState::Completed => inspector.list_completed_tasks(q, opts).await,
        TaskState::Aggregating => match group {
            Some(g) => inspector.list_aggregating_tasks(q, g, opts).await,
            None => Ok(Vec::new()),
        },
        _ => Ok(Vec::new()),
    }
}

/// What can be done to one task in a state: `(action, label, confirm?)`.
pub(crate) fn task_actions(state: TaskState) -> &'static [(&'static str, &'static str, bool)] {
    match state {
        TaskState::Active => &[("cancel", "Cancel", true)],
        TaskState::Pending => &[("archive", "Archive", true), ("delete", "Delete", true)],
        TaskState::Scheduled | TaskState::Retry | TaskState::Aggregating => &[
            ("run", "Run now", false),
            ("archive", "Archive", true),
            ("delete", "Delete", true),
        ],
        TaskState::Archived => &[("run", "Run now", false), ("delete", "Delete", true)],
        TaskState::Completed => &[("delete", "Delete", true)],
        _ => &[],
    }
}

/// What can be done to every task of a state: `(action, label)`.
pub(crate) fn all_actions(state: TaskState) -> &'static [(&'static str, &'static str)] {
    match state {
        TaskState::Pending => &[("archive_all", "Archive all"), ("delete_all", "Delete all")],
        TaskState::Scheduled | TaskState::Retry | TaskState::Aggregating => &[
            ("run_all", "Run all"),
            ("archive_all", "Archive all"),
            ("delete_all", "Delete all"),
        ],
        TaskState::Archived => &[("run_all", "Run all"), ("delete_all", "Delete all")],
        TaskState::Completed => &[("delete_all", "Delete all")],
        _ => &[],
    }
}

/// `GET /queues/{q}`.
pub(crate) async fn page(
    State(st): State<AppState>,
    Path(q): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = Ctx::new(&st, &headers, raw.as_deref());
    let state = match ctx.param("state") {
        None | Some("") => TaskState::Pending,
        Some(s) => match parse_state(s) {
            Some(st) => st,
            None => {
                return ctx.error(
                    StatusCode::BAD_REQUEST,
                    "Unknown state",
                    &format!("no task state {s:?}"),
                );
            }
        },
    };
    let size = ctx.number("size", DEFAULT_SIZE, MAX_SIZE);
    let info = match st.inspector.queue_info(&q).await {
        Ok(i) => i,
        Err(e) => return ctx.failure(&format!("Queue {q}"), &e),
    };
    let limits = match st.inspector.limits().await {
        Ok(l) => l,
        Err(e) => return ctx.failure("Could not read the limits", &e),
    };
    let groups = if state == TaskState::Aggregating {
        match st.inspector.groups(&q).await {
            Ok(g) => g,
            Err(e) => return ctx.failure("Could not list the groups", &e),
        }
    } else {
        Vec::new()
    };
    let group = if state == TaskState::Aggregating {
        ctx.param("group")
            .filter(|g| groups.iter().any(|x| x.group == *g))
            .or_else(|| groups.first().map(|g| g.group.as_str()))
    } else {
        None
    };
    let total = match (state, group) {
        (TaskState::Aggregating, Some(g)) => {
            groups.iter().find(|x| x.group == g).map_or(0, |x| x.size)
        }
        (TaskState::Aggregating, None) => 0,
        _ => count(&info, state),
    };
    let pages = total.div_ceil(size).max(1);
    let page = ctx.number("page", 1, usize::MAX).min(pages);
    let opts = ListOptions::new().page(page).page_size(size);
    let tasks = match list(&st.inspector, &q, state, group, opts).await {
        Ok(t) => t,
        Err(e) => return ctx.failure("Could not list the tasks", &e),
    };

    let here = {
        let mut pairs = vec![("state", state.as_str())];
        if let Some(g) = group {
            pairs.push(("group", g));
        }
        let (p, s) = (page.to_string(), size.to_string());
        pairs.push(("page", &p));
        pairs.push(("size", &s));
        format!("{}{}", ctx.url(&["queues", &q]), query(&pairs))
    };
    let qurl = ctx.url(&["queues", &q]);
    let mut body = String::new();
    let _ = write!(
        body,
        "<p class=\"muted\"><a href=\"{}\">Queues</a> ›</p><h1>{} {}</h1>",
        Esc(&ctx.url(&[])),
        Esc(&q),
        paused_badge(info.paused)
    );
    let _ = write!(
        body,
        "<div class=\"cards\">{}{}{}{}{}</div>",
        card("Size", &num(info.size as u64)),
        card("Latency", &duration(info.latency)),
        card(
            "Memory",
            &info.memory_usage.map(bytes).unwrap_or_else(|| "—".into())
        ),
        card("Processed today", &num(info.processed)),
        card("Failed today", &num(info.failed)),
    );

    limits_line(&limits, &q, &mut body);

    // Queue actions and the find box.
    body.push_str("<div class=\"bar\">");
    if !ctx.read_only() {
        let (op, label) = if info.paused {
            ("resume", "Resume queue")
        } else {
            ("pause", "Pause queue")
        };
        body.push_str(&ctx.button(
            &ctx.url(&["queues", &q, op]),
            label,
            &here,
            Some(&format!("{label} {q}?")),
            "",
        ));
        let _ = write!(
            body,
            "<form method=\"post\" action=\"{}\" class=\"inline\" data-confirm=\"{}\">{}\
             <label class=\"muted\"><input type=\"checkbox\" name=\"force\" value=\"1\"> even with tasks</label> \
             <button type=\"submit\" class=\"danger\">Delete queue</button></form>",
            Esc(&ctx.url(&["queues", &q, "delete"])),
            Esc(&format!("Delete queue {q}? This cannot be undone.")),
            ctx.hidden(&here)
        );
    }
    let _ = write!(
        body,
        "<span class=\"spacer\"></span><form method=\"get\" action=\"{}\" class=\"inline\" role=\"search\">\
         <input type=\"search\" name=\"id\" placeholder=\"Task ID\" aria-label=\"Find a task by ID\" required> \
         <button type=\"submit\">Find</button></form></div>",
        Esc(&ctx.url(&["queues", &q, "find"]))
    );

    // State tabs.
    body.push_str("<nav class=\"tabs\" aria-label=\"Task states\">");
    for s in STATES {
        let current = if s == state {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            body,
            "<a href=\"{}{}\"{current}>{}<span class=\"count\">{}</span></a>",
            Esc(&qurl),
            Esc(&query(&[
                ("state", s.as_str()),
                ("size", &size.to_string())
            ])),
            s.as_str(),
            num(count(&info, s) as u64)
        );
    }
    body.push_str("</nav>");

    if state == TaskState::Aggregating {
        if groups.is_empty() {
            body.push_str("<p class=\"muted\">No groups.</p>");
        } else {
            body.push_str("<nav class=\"tabs\" aria-label=\"Groups\">");
            for g in &groups {
                let current = if Some(g.group.as_str()) == group {
                    " aria-current=\"page\""
                } else {
                    ""
                };
                let _ = write!(
                    body,
                    "<a href=\"{}{}\"{current}>{}<span class=\"count\">{}</span></a>",
                    Esc(&qurl),
                    Esc(&query(&[("state", "aggregating"), ("group", &g.group)])),
                    Esc(&g.group),
                    num(g.size as u64)
                );
            }
            body.push_str("</nav>");
        }
    }

    // Actions on every task of the state.
    let state_url = |action: &str| ctx.url(&["queues", &q, state.as_str(), action]);
    if !ctx.read_only() && total > 0 {
        body.push_str("<div class=\"bar\">");
        for (action, label) in all_actions(state) {
            let what = match group {
                Some(g) => format!("{label}: every task of group {g} in queue {q}?"),
                None => format!("{label}: every {} task in queue {q}?", state.as_str()),
            };
            let _ = write!(
                body,
                "<form method=\"post\" action=\"{}\" class=\"inline\" data-confirm=\"{}\">{}{}\
                 <button type=\"submit\"{}>{}</button></form>",
                Esc(&state_url(action)),
                Esc(&what),
                ctx.hidden(&here),
                group_field(group),
                if action.starts_with("delete") {
                    " class=\"danger\""
                } else {
                    ""
                },
                Esc(label),
            );
        }
        body.push_str("</div>");
    }

    if tasks.is_empty() {
        let _ = write!(body, "<p class=\"muted\">No {} tasks.</p>", state.as_str());
    } else {
        tasks_table(&ctx, &q, state, group, &tasks, &here, &mut body);
    }
    pager(&qurl, state, group, page, pages, size, total, &mut body);
    ctx.layout(&format!("{q} · {}", state.as_str()), Nav::Queues, &body)
}

/// The fleet-wide limits that apply to the queue (its own, then every task type's), when any.
fn limits_line(limits: &[redisq::Limit], queue: &str, body: &mut String) {
    let mut parts = Vec::new();
    for l in limits {
        let who = match &l.target {
            redisq::LimitTarget::Queue(q) if q == queue => "queue".to_string(),
            redisq::LimitTarget::Queue(_) => continue,
            other => format!("type {}", other.name()),
        };
        if let Some(r) = l.rate {
            parts.push(format!("{who}: at most {r}"));
        }
        if let Some(n) = l.concurrency {
            parts.push(format!("{who}: at most {n} at once"));
        }
    }
    if !parts.is_empty() {
        let _ = write!(
            body,
            "<p class=\"limits\"><strong>Limits</strong> {}</p>",
            Esc(&parts.join(" · "))
        );
    }
}

fn card(label: &str, value: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{}</div></div>",
        Esc(label),
        Esc(value)
    )
}

fn group_field(group: Option<&str>) -> String {
    group
        .map(|g| {
            format!(
                "<input type=\"hidden\" name=\"group\" value=\"{}\">",
                Esc(g)
            )
        })
        .unwrap_or_default()
}

fn tasks_table(
    ctx: &Ctx,
    q: &str,
    state: TaskState,
    group: Option<&str>,
    tasks: &[TaskInfo],
    here: &str,
    body: &mut String,
) {
    let actions = if ctx.read_only() {
        &[][..]
    } else {
        task_actions(state)
    };
    let batch = !actions.is_empty();
    if batch {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"{}\">{}{}<div class=\"bar\"><span class=\"muted\">Ticked tasks:</span>",
            Esc(&ctx.url(&["queues", q, state.as_str(), "batch"])),
            ctx.hidden(here),
            group_field(group)
        );
        for (action, label, _) in actions {
            let _ = write!(
                body,
                "<button type=\"submit\" name=\"action\" value=\"{action}\" data-confirm=\"{}\">{}</button>",
                Esc(&format!("{label}: the ticked tasks?")),
                Esc(label)
            );
        }
        body.push_str("</div>");
    }
    let (when_label, detail_label) = match state {
        TaskState::Active => ("Deadline", "Orphaned"),
        TaskState::Pending => ("", ""),
        TaskState::Scheduled => ("Due", ""),
        TaskState::Retry => ("Next try", "Last error"),
        TaskState::Archived => ("Failed", "Last error"),
        TaskState::Completed => ("Completed", "Result"),
        TaskState::Aggregating => ("", "Group"),
        _ => ("", ""),
    };
    body.push_str("<div class=\"tablewrap\"><table><thead><tr>");
    if batch {
        body.push_str("<th><input type=\"checkbox\" data-select-all aria-label=\"Tick all\"></th>");
    }
    body.push_str("<th>ID</th><th>Type</th><th>Payload</th><th class=\"num\">Retried</th>");
    if !when_label.is_empty() {
        let _ = write!(body, "<th>{when_label}</th>");
    }
    if !detail_label.is_empty() {
        let _ = write!(body, "<th>{detail_label}</th>");
    }
    if batch {
        body.push_str("<th>Actions</th>");
    }
    body.push_str("</tr></thead><tbody>");
    for t in tasks {
        let turl = ctx.url(&["queues", q, "tasks", &t.id]);
        body.push_str("<tr>");
        if batch {
            let _ = write!(
                body,
                "<td><input type=\"checkbox\" name=\"id\" value=\"{}\" aria-label=\"Tick task\"></td>",
                Esc(&t.id)
            );
        }
        let _ = write!(
            body,
            "<td class=\"mono\"><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"num\">{}/{}</td>",
            Esc(&turl),
            Esc(&t.id),
            Esc(&t.task_type),
            preview(&t.payload, LIST_PREVIEW),
            t.retried,
            t.max_retry
        );
        if !when_label.is_empty() {
            let at = match state {
                TaskState::Active => t.deadline,
                TaskState::Scheduled | TaskState::Retry => t.next_process_at,
                TaskState::Archived => t.last_failed_at,
                TaskState::Completed => t.completed_at,
                _ => None,
            };
            let _ = write!(body, "<td>{}</td>", when(at));
        }
        match state {
            TaskState::Active => {
                let _ = write!(
                    body,
                    "<td>{}</td>",
                    if t.is_orphaned {
                        "<span class=\"badge bad\">orphaned</span>"
                    } else {
                        "no"
                    }
                );
            }
            TaskState::Retry | TaskState::Archived => {
                let _ = write!(
                    body,
                    "<td class=\"err\">{}</td>",
                    Esc(&cut(&t.last_err, LIST_PREVIEW))
                );
            }
            TaskState::Completed => {
                let _ = write!(
                    body,
                    "<td>{}</td>",
                    t.result
                        .as_ref()
                        .map(|r| preview(r, LIST_PREVIEW))
                        .unwrap_or_default()
                );
            }
            TaskState::Aggregating => {
                let _ = write!(body, "<td>{}</td>", Esc(t.group.as_deref().unwrap_or("")));
            }
            _ => {}
        }
        if batch {
            body.push_str("<td class=\"actions\">");
            for (action, label, confirm) in actions {
                let confirm = if *confirm {
                    format!(
                        " data-confirm=\"{}\"",
                        Esc(&format!("{label}: task {}?", t.id))
                    )
                } else {
                    String::new()
                };
                let _ = write!(
                    body,
                    "<button type=\"submit\" formaction=\"{}\"{confirm}>{}</button> ",
                    Esc(&format!("{turl}/{action}")),
                    Esc(label)
                );
            }
            body.push_str("</td>");
        }
        body.push_str("</tr>");
    }
    body.push_str("</tbody></table></div>");
    if batch {
        body.push_str("</form>");
    }
}

/// Cuts text to about `limit` bytes on a character boundary.
fn cut(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_string();
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[allow(clippy::too_many_arguments)]
fn pager(
    qurl: &str,
    state: TaskState,
    group: Option<&str>,
    page: usize,
    pages: usize,
    size: usize,
    total: usize,
    body: &mut String,
) {
    let link = |p: usize, sz: usize| {
        let (p, sz) = (p.to_string(), sz.to_string());
        let mut pairs = vec![("state", state.as_str())];
        if let Some(g) = group {
            pairs.push(("group", g));
        }
        pairs.push(("page", &p));
        pairs.push(("size", &sz));
        format!("{qurl}{}", query(&pairs))
    };
    body.push_str("<div class=\"pager\">");
    if page > 1 {
        let _ = write!(
            body,
            "<a href=\"{}\">« First</a><a href=\"{}\" rel=\"prev\">‹ Previous</a>",
            Esc(&link(1, size)),
            Esc(&link(page - 1, size))
        );
    }
    let _ = write!(
        body,
        "<span class=\"muted\">Page {page} of {pages} · {} tasks</span>",
        num(total as u64)
    );
    if page < pages {
        let _ = write!(
            body,
            "<a href=\"{}\" rel=\"next\">Next ›</a><a href=\"{}\">Last »</a>",
            Esc(&link(page + 1, size)),
            Esc(&link(pages, size))
        );
    }
    body.push_str("<span class=\"muted\">Per page:</span>");
    for sz in [20, 50, 100, 500] {
        if sz == size {
            let _ = write!(body, "<strong>{sz}</strong>");
        } else {
            let _ = write!(body, "<a href=\"{}\">{sz}</a>", Esc(&link(1, sz)));
        }
    }
    body.push_str("</div>");
}
