//! The queues screen: every queue with its statistics.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};

use super::{Action, DashState, QueueView, Screen, Tab, move_selection};

/// One queue (the Inspector's `QueueInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct QueueRow {
    pub(crate) name: String,
    pub(crate) paused: bool,
    pub(crate) size: usize,
    pub(crate) groups: usize,
    pub(crate) pending: usize,
    pub(crate) active: usize,
    pub(crate) scheduled: usize,
    pub(crate) retry: usize,
    pub(crate) archived: usize,
    pub(crate) completed: usize,
    pub(crate) aggregating: usize,
    /// Processed today (UTC).
    pub(crate) processed: u64,
    /// Failed today (UTC).
    pub(crate) failed: u64,
    pub(crate) processed_total: u64,
    pub(crate) failed_total: u64,
    pub(crate) latency: Duration,
    pub(crate) memory: Option<u64>,
}

impl DashState {
    /// The queue's statistics, if fetched.
    pub(crate) fn queue_row(&self, name: &str) -> Option<&QueueRow> {
        self.data
            .queue
            .as_ref()
            .filter(|q| q.name == name)
            .or_else(|| self.data.queues.iter().find(|q| q.name == name))
    }

    pub(super) fn key_queues(&mut self, key: KeyEvent, selected: usize) -> Action {
        let n = self.data.queues.len();
        if let Some(sel) = move_selection(key.code, selected, n) {
            *self.top_mut() = Screen::Queues { selected: sel };
            return Action::None;
        }
        let Some(queue) = self.data.queues.get(selected).map(|q| q.name.clone()) else {
            return Action::None;
        };
        match key.code {
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => {
                self.push(Screen::QueueDetail(QueueView {
                    queue,
                    tab: Tab::Active,
                    group: None,
                    page: 1,
                    selected: 0,
                }));
                self.refresh()
            }
            KeyCode::Char('p') => self.pause_toggle(queue),
            KeyCode::Char('g') => {
                self.push(Screen::Groups { queue, selected: 0 });
                self.refresh()
            }
            _ => Action::None,
        }
    }
}
