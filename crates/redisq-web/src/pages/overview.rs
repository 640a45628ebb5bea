//! `/`: every queue with its sizes, today's counts, and the history chart.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::future::join_all;
use redisq::QueueInfo;

use super::chart::{Day, bars};
use super::html::{Esc, bytes, duration, num, query};
use super::{Ctx, Nav};
use crate::state::AppState;

/// `GET /`.
pub(crate) async fn page(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = Ctx::new(&st, &headers, raw.as_deref());
    let days = match ctx.number("days", 14, 90) {
        n @ (7 | 14 | 30 | 90) => n,
        _ => 14,
    };
    let names = match st.inspector.queues().await {
        Ok(n) => n,
        Err(e) => return ctx.failure("Could not list the queues", &e),
    };
    // Every queue's reads at once: they share one multiplexed connection, so 200 queues
    // cost about one round trip's wait instead of 400.
    let inspector = &st.inspector;
    let reads = join_all(names.iter().map(|name| async move {
        let info = inspector.queue_info(name).await;
        let history = inspector.history(name, days).await;
        (info, history)
    }))
    .await;
    let mut infos = Vec::with_capacity(names.len());
    let mut history: Vec<Day> = Vec::new();
    for (info, h) in reads {
        match info {
            Ok(info) => infos.push(info),
            // A queue deleted between the two calls is simply left out.
            Err(e) if e.is_queue_not_found() => continue,
            Err(e) => return ctx.failure("Could not read a queue", &e),
        }
        match h {
            Ok(h) => {
                // Newest first from the inspector; the chart wants oldest first.
                for (i, d) in h.iter().rev().enumerate() {
                    if history.len() <= i {
                        history.push(Day {
                            date: d.date,
                            processed: 0,
                            failed: 0,
                        });
                    }
                    history[i].processed += d.processed;
                    history[i].failed += d.failed;
                }
            }
            Err(e) if e.is_queue_not_found() => {}
            Err(e) => return ctx.failure("Could not read the history", &e),
        }
    }

    let mut body = String::new();
    body.push_str("<h1>Queues</h1>");
    let total = Totals::of(&infos);
    let _ = write!(
        body,
        "<div class=\"cards\">{}{}{}{}{}{}</div>",
        card("Queues", &num(infos.len() as u64)),
        card("Tasks", &num(total.size)),
        card("Active", &num(total.active)),
        card("Processed today", &num(total.processed)),
        card("Failed today", &num(total.failed)),
        card("Error rate today", &rate(total.failed, total.processed)),
    );
    if infos.is_empty() {
        body.push_str("<p class=\"muted\">No queues yet: a queue appears when its first task is enqueued.</p>");
    } else {
        queues_table(&ctx, &infos, &total, &mut body);
    }
    let _ = write!(
        body,
        "<h2>Processed and failed, last {days} days</h2><div class=\"bar\">"
    );
    for d in [7, 14, 30, 90] {
        let current = if d == days {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            body,
            "<a href=\"{}{}\"{current}>{d} days</a>",
            Esc(&ctx.url(&[])),
            Esc(&query(&[("days", &d.to_string())]))
        );
    }
    body.push_str("</div>");
    if history.is_empty() {
        body.push_str("<p class=\"muted\">No history yet.</p>");
    } else {
        body.push_str(&bars(&history));
    }
    ctx.layout("Queues", Nav::Queues, &body)
}

fn card(label: &str, value: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{}</div></div>",
        Esc(label),
        Esc(value)
    )
}

fn rate(failed: u64, processed: u64) -> String {
    if processed == 0 {
        "—".to_string()
    } else {
        format!("{:.2} %", failed as f64 * 100.0 / processed as f64)
    }
}

#[derive(Default)]
struct Totals {
    size: u64,
    active: u64,
    pending: u64,
    aggregating: u64,
    scheduled: u64,
    retry: u64,
    archived: u64,
    completed: u64,
    memory: u64,
    processed: u64,
    failed: u64,
    latency: Duration,
}

impl Totals {
    fn of(infos: &[QueueInfo]) -> Totals {
        let mut t = Totals::default();
        for q in infos {
            t.size += q.size as u64;
            t.active += q.active as u64;
            t.pending += q.pending as u64;
            t.aggregating += q.aggregating as u64;
            t.scheduled += q.scheduled as u64;
            t.retry += q.retry as u64;
            t.archived += q.archived as u64;
            t.completed += q.completed as u64;
            t.memory += q.memory_usage.unwrap_or(0);
            t.processed += q.processed;
            t.failed += q.failed;
            t.latency = t.latency.max(q.latency);
        }
        t
    }
}

fn queues_table(ctx: &Ctx, infos: &[QueueInfo], total: &Totals, body: &mut String) {
    body.push_str(
        "<div class=\"tablewrap\"><table><thead><tr><th>Queue</th><th>State</th>\
         <th class=\"num\">Size</th><th class=\"num\">Active</th><th class=\"num\">Pending</th>\
         <th class=\"num\">Aggregating</th><th class=\"num\">Scheduled</th>\
         <th class=\"num\">Retry</th><th class=\"num\">Archived</th><th class=\"num\">Completed</th>\
         <th class=\"num\">Latency</th><th class=\"num\">Memory</th>\
         <th class=\"num\">Processed today</th><th class=\"num\">Failed today</th>\
         <th class=\"num\">Error rate</th>",
    );
    if !ctx.read_only() {
        body.push_str("<th>Actions</th>");
    }
    body.push_str("</tr></thead><tbody>");
    let back = ctx.url(&[]);
    for q in infos {
        let link = ctx.url(&["queues", &q.queue]);
        let state_link = |state: &str, n: usize| {
            format!(
                "<td class=\"num\"><a href=\"{}{}\">{}</a></td>",
                Esc(&link),
                Esc(&query(&[("state", state)])),
                num(n as u64)
            )
        };
        let _ = write!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td class=\"num\">{}</td>{}{}{}{}{}{}{}\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td>",
            Esc(&link),
            Esc(&q.queue),
            paused_badge(q.paused),
            num(q.size as u64),
            state_link("active", q.active),
            state_link("pending", q.pending),
            state_link("aggregating", q.aggregating),
            state_link("scheduled", q.scheduled),
            state_link("retry", q.retry),
            state_link("archived", q.archived),
            state_link("completed", q.completed),
            Esc(&duration(q.latency)),
            q.memory_usage.map(bytes).unwrap_or_else(|| "—".into()),
            num(q.processed),
            num(q.failed),
            rate(q.failed, q.processed),
        );
        if !ctx.read_only() {
            let (op, label) = if q.paused {
                ("resume", "Resume")
            } else {
                ("pause", "Pause")
            };
            let confirm = format!("{label} queue {}?", q.queue);
            let _ = write!(
                body,
                "<td class=\"actions\">{}</td>",
                ctx.button(
                    &ctx.url(&["queues", &q.queue, op]),
                    label,
                    &back,
                    Some(&confirm),
                    ""
                )
            );
        }
        body.push_str("</tr>");
    }
    let _ = write!(
        body,
        "</tbody><tfoot><tr><td>Total</td><td></td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\" title=\"highest\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td>{}</tr></tfoot></table></div>",
        num(total.size),
        num(total.active),
        num(total.pending),
        num(total.aggregating),
        num(total.scheduled),
        num(total.retry),
        num(total.archived),
        num(total.completed),
        Esc(&duration(total.latency)),
        bytes(total.memory),
        num(total.processed),
        num(total.failed),
        rate(total.failed, total.processed),
        if ctx.read_only() { "" } else { "<td></td>" },
    );
}

/// The paused/running badge.
pub(crate) fn paused_badge(paused: bool) -> &'static str {
    if paused {
        "<span class=\"badge paused\">paused</span>"
    } else {
        "<span class=\"badge running\">running</span>"
    }
}
