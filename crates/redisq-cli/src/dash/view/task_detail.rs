//! The task detail screen: every field of a task, then its payload and result as text or as a
//! hex dump.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::format::{relative, short_duration, utc};
use super::text::{clean, clean_multiline, hex_dump, printable};
use super::{bold, dim, message};
use crate::dash::state::{DashState, TaskRow, TaskView};

/// The payload bytes shown as text at most.
const MAX_TEXT_BYTES: usize = 16 * 1024;
/// The payload bytes shown as a hex dump at most.
const MAX_HEX_BYTES: usize = 4 * 1024;

pub(super) fn render_task_detail(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &DashState,
    t: &TaskView,
    now: SystemTime,
) {
    let title = Span::styled(format!(" Task {} ", clean(&t.id)), bold());
    let Some(task) = state.task_of(t) else {
        return message(frame, area, format!(" Task {} ", clean(&t.id)), "Loading…");
    };
    let lines = task_lines(task, t.hex, now);
    let block = Block::bordered()
        .title(title)
        .title(Line::from(format!(" {} ", task.state.name())).right_aligned())
        .padding(ratatui::widgets::Padding::horizontal(1));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((t.scroll, 0)),
        area,
    );
}

const LABEL: usize = 16;

fn field(label: &str, value: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{label:<LABEL$}"), bold()),
        Span::raw(value.into()),
    ])
}

fn time_field(label: &str, at: Option<SystemTime>, now: SystemTime) -> Line<'static> {
    field(
        label,
        at.map_or_else(
            || "-".to_string(),
            |at| format!("{} ({})", utc(at), relative(at, now)),
        ),
    )
}

/// Every field of a task, then its payload and result.
pub(crate) fn task_lines(task: &TaskRow, hex: bool, now: SystemTime) -> Vec<Line<'static>> {
    let mut lines = vec![
        field("ID", clean(&task.id)),
        field("Queue", clean(&task.queue)),
        field("Type", clean(&task.task_type)),
        field("State", task.state.name()),
    ];
    if let Some((percent, message)) = &task.progress {
        lines.push(field("Progress", format!("{percent}% {}", clean(message))));
    }
    lines.extend([
        field("Group", clean(task.group.as_deref().unwrap_or("-"))),
        field(
            "Retried",
            format!("{} of at most {}", task.retried, task.max_retry),
        ),
    ]);
    let mut errs = task.last_err.lines();
    lines.push(field("Last error", clean(errs.next().unwrap_or("-"))));
    for more in errs {
        lines.push(field("", clean(more)));
    }
    lines.extend([
        time_field("Last failed at", task.last_failed_at, now),
        field(
            "Timeout",
            task.timeout.map_or_else(|| "-".into(), short_duration),
        ),
        time_field("Deadline", task.deadline, now),
        time_field("Next process at", task.next_process_at, now),
        field("Orphaned", if task.is_orphaned { "yes" } else { "no" }),
        field(
            "Retention",
            task.retention.map_or_else(|| "-".into(), short_duration),
        ),
        time_field("Completed at", task.completed_at, now),
    ]);
    if task.headers.is_empty() {
        lines.push(field("Headers", "-"));
    }
    for (i, (k, v)) in task.headers.iter().enumerate() {
        let label = if i == 0 { "Headers" } else { "" };
        lines.push(field(label, format!("{} = {}", clean(k), clean(v))));
    }
    lines.push(Line::default());
    bytes_section(&mut lines, "Payload", Some(&task.payload), hex);
    lines.push(Line::default());
    bytes_section(&mut lines, "Result", task.result.as_deref(), hex);
    lines
}

fn bytes_section(lines: &mut Vec<Line<'static>>, label: &str, data: Option<&[u8]>, hex: bool) {
    let Some(data) = data else {
        lines.push(field(label, "none"));
        return;
    };
    let text = printable(data);
    let n = data.len();
    let size = format!("{n} byte{}", if n == 1 { "" } else { "s" });
    let how = match (text, hex) {
        _ if n == 0 => size,
        (Some(_), false) => format!("{size}, text (x: hex dump)"),
        (Some(_), true) => format!("{size}, hex dump (x: text)"),
        (None, _) => format!("{size}, hex dump (not printable text)"),
    };
    lines.push(field(label, how));
    if n == 0 {
        return;
    }
    let shown = match text {
        Some(text) if !hex => {
            let cut = floor_char_boundary(text, MAX_TEXT_BYTES);
            for line in text[..cut].split('\n') {
                lines.push(Line::from(format!("  {}", clean_multiline(line))));
            }
            cut
        }
        _ => {
            let cut = n.min(MAX_HEX_BYTES);
            for line in hex_dump(&data[..cut]) {
                lines.push(Line::from(format!("  {line}")));
            }
            cut
        }
    };
    if shown < n {
        lines.push(Line::from(Span::styled(
            format!("  … {} more bytes", n - shown),
            dim(),
        )));
    }
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line<'static>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn progress_is_shown_when_reported() {
        let now = SystemTime::now();
        let mut task = TaskRow::default();
        let without = text(&task_lines(&task, false, now));
        assert!(!without.iter().any(|l| l.starts_with("Progress")));
        task.progress = Some((40, "resized\u{7} 2 of 5".to_string()));
        let with = text(&task_lines(&task, false, now));
        let line = with
            .iter()
            .find(|l| l.starts_with("Progress"))
            .expect("a progress line");
        // Control characters are shown escaped, never sent to the terminal.
        assert!(line.ends_with("40% resized\\u{7} 2 of 5"), "{line}");
    }
}
