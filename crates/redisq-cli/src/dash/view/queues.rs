//! The queues screen: a table of every queue and a panel on the selected one.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, HighlightSpacing, Paragraph, Row, Table, TableState};

use super::format::{bytes, count, grouped, rate, short_duration};
use super::text::clean;
use super::{bold, message, right};
use crate::dash::state::{DashState, QueueRow, Tab};

pub(super) fn render_queues(frame: &mut Frame<'_>, area: Rect, state: &DashState, selected: usize) {
    let queues = &state.data.queues;
    if !state.data.have_queues {
        return message(frame, area, " Queues ".into(), "Loading…");
    }
    let title = format!(" Queues ({}) ", queues.len());
    if queues.is_empty() {
        return message(
            frame,
            area,
            title,
            "No queues yet: a queue appears with its first task.",
        );
    }
    let [table_area, panel_area] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(5)]).areas(area);
    let header = Row::new(
        [
            "Queue", "State", "Size", "Pend", "Act", "Sched", "Retry", "Arch", "Done", "Aggr",
            "Proc/d", "Fail", "Latency", "Memory",
        ]
        .into_iter()
        .enumerate()
        .map(|(i, h)| if i < 2 { Cell::from(h) } else { right(h) }),
    )
    .style(bold());
    let rows = queues.iter().map(|q| {
        let state_cell = if q.paused {
            Cell::from(Span::styled("paused", Style::new().fg(Color::Yellow)))
        } else {
            Cell::from("run")
        };
        Row::new(vec![
            Cell::from(clean(&q.name).into_owned()),
            state_cell,
            right(count(q.size as u64)),
            right(count(q.pending as u64)),
            right(count(q.active as u64)),
            right(count(q.scheduled as u64)),
            right(count(q.retry as u64)),
            right(count(q.archived as u64)),
            right(count(q.completed as u64)),
            right(count(q.aggregating as u64)),
            right(count(q.processed)),
            right(count(q.failed)),
            right(short_duration(q.latency)),
            right(bytes(q.memory)),
        ])
    });
    let widths = [
        Constraint::Min(8),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(7),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(Span::styled(title, bold())))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut ts = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, table_area, &mut ts);
    if let Some(q) = queues.get(selected) {
        render_queue_panel(frame, panel_area, q);
    }
}

fn render_queue_panel(frame: &mut Frame<'_>, area: Rect, q: &QueueRow) {
    let sizes = Tab::ALL
        .iter()
        .map(|t| format!("{} {}", t.name(), grouped(t.count(q) as u64)))
        .collect::<Vec<_>>()
        .join(", ");
    let lines = vec![
        Line::from(vec![
            Span::styled(format!("Size {}", grouped(q.size as u64)), bold()),
            Span::raw(format!(": {sizes}")),
        ]),
        Line::from(vec![
            Span::styled("Today (UTC) ", bold()),
            Span::raw(format!(
                "processed {} · failed {} · error rate {}   ",
                grouped(q.processed),
                grouped(q.failed),
                rate(q.failed, q.processed)
            )),
            Span::styled("All time ", bold()),
            Span::raw(format!(
                "processed {} · failed {}",
                grouped(q.processed_total),
                grouped(q.failed_total)
            )),
        ]),
        Line::from(format!(
            "{} · latency {} · memory {} · {} group{}",
            if q.paused { "Paused" } else { "Running" },
            short_duration(q.latency),
            bytes(q.memory),
            q.groups,
            if q.groups == 1 { "" } else { "s" }
        )),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(format!(" {} ", clean(&q.name)), bold()))
                .padding(ratatui::widgets::Padding::horizontal(1)),
        ),
        area,
    );
}
