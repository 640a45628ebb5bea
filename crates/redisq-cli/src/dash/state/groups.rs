//! The groups screen: the aggregation groups of a queue.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Action, DashState, QueueView, Screen, Tab, move_selection};

/// An aggregation group and its size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupRow {
    pub(crate) name: String,
    pub(crate) size: usize,
}

impl DashState {
    /// The groups of the queue, if fetched.
    pub(crate) fn groups_of(&self, queue: &str) -> Option<&[GroupRow]> {
        self.data
            .queue
            .as_ref()
            .filter(|q| q.name == queue)
            .map(|_| self.data.groups.as_slice())
    }

    pub(super) fn key_groups(&mut self, key: KeyEvent, queue: String, selected: usize) -> Action {
        let groups = self.groups_of(&queue).unwrap_or_default();
        if let Some(sel) = move_selection(key.code, selected, groups.len()) {
            *self.top_mut() = Screen::Groups {
                queue,
                selected: sel,
            };
            return Action::None;
        }
        match key.code {
            KeyCode::Enter => {
                let Some(group) = groups.get(selected).map(|g| g.name.clone()) else {
                    return Action::None;
                };
                let view = QueueView {
                    queue: queue.clone(),
                    tab: Tab::Aggregating,
                    group: Some(group),
                    page: 1,
                    selected: 0,
                };
                let below = self.stack.len().checked_sub(2).map(|i| &self.stack[i]);
                if matches!(below, Some(Screen::QueueDetail(v)) if v.queue == queue) {
                    self.pop();
                }
                *self.top_mut() = Screen::QueueDetail(view);
                self.refresh()
            }
            KeyCode::Char('p') => self.pause_toggle(queue),
            _ => Action::None,
        }
    }
}
