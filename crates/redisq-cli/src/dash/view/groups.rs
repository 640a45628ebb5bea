//! The groups screen: the aggregation groups of a queue and their sizes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, HighlightSpacing, Row, Table, TableState};

use super::format::grouped;
use super::text::clean;
use super::{bold, message, right};
use crate::dash::state::DashState;

pub(super) fn render_groups(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &DashState,
    queue: &str,
    selected: usize,
) {
    let Some(groups) = state.groups_of(queue) else {
        return message(
            frame,
            area,
            format!(" Groups of queue {} ", clean(queue)),
            "Loading…",
        );
    };
    let title = format!(" Groups of queue {} ({}) ", clean(queue), groups.len());
    if groups.is_empty() {
        return message(
            frame,
            area,
            title,
            "No groups: nothing is waiting for aggregation.",
        );
    }
    let rows = groups.iter().map(|g| {
        Row::new(vec![
            Cell::from(clean(&g.name).into_owned()),
            right(grouped(g.size as u64)),
        ])
    });
    let table = Table::new(rows, [Constraint::Fill(1), Constraint::Length(12)])
        .header(Row::new(vec![Cell::from("Group"), right("Tasks")]).style(bold()))
        .block(Block::bordered().title(Span::styled(title, bold())))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut ts = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut ts);
}
