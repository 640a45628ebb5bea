//! The confirmation dialog, drawn over the screen while a y/n question is pending.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::text::clean;
use super::{bold, key_style};
use crate::dash::state::Confirm;

pub(super) fn render_confirm(frame: &mut Frame<'_>, area: Rect, confirm: &Confirm) {
    let prompt = clean(&confirm.prompt);
    let width = (prompt.chars().count() as u16 + 6)
        .clamp(40, area.width.saturating_sub(4).max(10))
        .min(area.width);
    let inner = usize::from(width.saturating_sub(4).max(1));
    let lines = prompt.chars().count().div_ceil(inner).max(1) as u16;
    let height = (lines + 4).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let text = Text::from(vec![
        Line::from(prompt),
        Line::default(),
        Line::from(vec![
            Span::styled("y", key_style()),
            Span::raw(" yes   "),
            Span::styled("n", key_style()),
            Span::raw("/"),
            Span::styled("Esc", key_style()),
            Span::raw(" no"),
        ]),
    ]);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(Span::styled(" Confirm ", bold()))
                .border_style(Style::new().fg(Color::Yellow))
                .padding(ratatui::widgets::Padding::horizontal(1)),
        ),
        popup,
    );
}
