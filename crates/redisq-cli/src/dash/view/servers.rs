//! The servers screen: the running servers, and the active workers of the selected one.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, HighlightSpacing, Row, Table, TableState};

use super::format::{fit_middle, id_cap, relative};
use super::text::{clean, preview};
use super::{bold, message, right};
use crate::dash::state::{DashState, ServerRow, WorkerRow};

pub(super) fn render_servers(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &DashState,
    selected: usize,
    now: SystemTime,
) {
    let servers = &state.data.servers;
    if !state.data.have_servers {
        return message(frame, area, " Servers ".into(), "Loading…");
    }
    let title = format!(" Servers ({}) ", servers.len());
    if servers.is_empty() {
        return message(frame, area, title, "No servers are running.");
    }
    let height = (servers.len() as u16 + 3).min(area.height / 2).max(4);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(height), Constraint::Min(3)]).areas(area);
    let rows = servers.iter().map(|s| {
        let mut queues = s
            .queues
            .iter()
            .map(|(q, p)| format!("{}:{p}", clean(q)))
            .collect::<Vec<_>>()
            .join(" ");
        if s.strict_priority {
            queues.push_str(" (strict)");
        }
        Row::new(vec![
            Cell::from(clean(&s.host).into_owned()),
            right(s.pid.to_string()),
            Cell::from(clean(&s.status).into_owned()),
            right(format!("{}/{}", s.workers.len(), s.concurrency)),
            Cell::from(queues),
            right(s.started.map_or_else(|| "-".into(), |at| relative(at, now))),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Fill(2),
            Constraint::Length(10),
        ],
    )
    .header(
        Row::new(vec![
            Cell::from("Host"),
            right("PID"),
            Cell::from("Status"),
            right("Workers"),
            Cell::from("Queues (priority)"),
            right("Started"),
        ])
        .style(bold()),
    )
    .block(Block::bordered().title(Span::styled(title, bold())))
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .highlight_symbol("> ")
    .highlight_spacing(HighlightSpacing::Always);
    let mut ts = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, top, &mut ts);
    if let Some(server) = servers.get(selected) {
        render_workers(frame, bottom, server, now);
    }
}

fn render_workers(frame: &mut Frame<'_>, area: Rect, s: &ServerRow, now: SystemTime) {
    let title = format!(
        " Active workers of {} pid {} ({}) ",
        clean(&s.host),
        s.pid,
        s.workers.len()
    );
    if s.workers.is_empty() {
        return message(frame, area, title, "Idle: no task is being processed.");
    }
    let longest = |f: fn(&WorkerRow) -> &str, min: usize, max: usize| {
        s.workers
            .iter()
            .map(|w| clean(f(w)).chars().count())
            .max()
            .unwrap_or(0)
            .clamp(min, max) as u16
    };
    let id_w = longest(|w| &w.task_id, 7, id_cap(area.width));
    let type_w = longest(|w| &w.task_type, 4, 24);
    let queue_w = longest(|w| &w.queue, 5, 16);
    let rows = s.workers.iter().map(|w| {
        Row::new(vec![
            Cell::from(fit_middle(&clean(&w.task_id), usize::from(id_w))),
            Cell::from(clean(&w.task_type).into_owned()),
            Cell::from(clean(&w.queue).into_owned()),
            right(w.started.map_or_else(|| "-".into(), |at| relative(at, now))),
            right(
                w.deadline
                    .map_or_else(|| "-".into(), |at| relative(at, now)),
            ),
            Cell::from(preview(&w.payload)),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(id_w),
            Constraint::Length(type_w),
            Constraint::Length(queue_w),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(vec![
            Cell::from("Task ID"),
            Cell::from("Type"),
            Cell::from("Queue"),
            right("Started"),
            right("Deadline"),
            Cell::from("Payload"),
        ])
        .style(bold()),
    )
    .block(
        Block::bordered()
            .title(Span::styled(title, bold()))
            .padding(ratatui::widgets::Padding::horizontal(1)),
    );
    frame.render_widget(table, area);
}
