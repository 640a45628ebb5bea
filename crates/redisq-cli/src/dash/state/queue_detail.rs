//! The queue detail screen: one queue, one state tab, one page of tasks.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::confirm::action_key;
use super::{Action, DashState, QueueRow, Screen, TaskRow, TaskView, clamp, move_selection};

/// A task state, as a tab of the queue detail screen (in asynqmon's order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum Tab {
    Active,
    #[default]
    Pending,
    Aggregating,
    Scheduled,
    Retry,
    Archived,
    Completed,
}

impl Tab {
    /// Every tab, left to right.
    pub(crate) const ALL: [Tab; 7] = [
        Tab::Active,
        Tab::Pending,
        Tab::Aggregating,
        Tab::Scheduled,
        Tab::Retry,
        Tab::Archived,
        Tab::Completed,
    ];

    /// The state name used by asynq (`pending`, `retry`, …).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tab::Active => "active",
            Tab::Pending => "pending",
            Tab::Aggregating => "aggregating",
            Tab::Scheduled => "scheduled",
            Tab::Retry => "retry",
            Tab::Archived => "archived",
            Tab::Completed => "completed",
        }
    }

    /// The tab title.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Tab::Active => "Active",
            Tab::Pending => "Pending",
            Tab::Aggregating => "Aggregating",
            Tab::Scheduled => "Scheduled",
            Tab::Retry => "Retry",
            Tab::Archived => "Archived",
            Tab::Completed => "Completed",
        }
    }

    /// The tab of a state name.
    pub(crate) fn from_name(name: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The position of the tab, from 0.
    pub(crate) fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    fn next(self) -> Tab {
        Tab::ALL[(self.index() + 1) % Tab::ALL.len()]
    }

    fn prev(self) -> Tab {
        Tab::ALL[(self.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]
    }

    /// How many tasks of the queue are in this state.
    pub(crate) fn count(self, q: &QueueRow) -> usize {
        match self {
            Tab::Active => q.active,
            Tab::Pending => q.pending,
            Tab::Aggregating => q.aggregating,
            Tab::Scheduled => q.scheduled,
            Tab::Retry => q.retry,
            Tab::Archived => q.archived,
            Tab::Completed => q.completed,
        }
    }
}

/// Which page of which task list to read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TaskList {
    pub(crate) tab: Tab,
    /// The group, for the aggregating tab (nothing is listed without one).
    pub(crate) group: Option<String>,
    /// 1-based.
    pub(crate) page: usize,
    pub(crate) page_size: usize,
}

/// The queue detail screen: one queue, one state tab, one page of tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueView {
    pub(crate) queue: String,
    pub(crate) tab: Tab,
    /// The group listed in the aggregating tab.
    pub(crate) group: Option<String>,
    /// 1-based.
    pub(crate) page: usize,
    /// The selected row of the page.
    pub(crate) selected: usize,
}

impl DashState {
    /// The task list a queue view shows.
    pub(crate) fn task_list(&self, v: &QueueView) -> TaskList {
        TaskList {
            tab: v.tab,
            group: if v.tab == Tab::Aggregating {
                v.group.clone()
            } else {
                None
            },
            page: v.page,
            page_size: self.page_size,
        }
    }

    /// The page of tasks of a queue view, if it is the one fetched.
    pub(crate) fn tasks_of(&self, v: &QueueView) -> Option<&[TaskRow]> {
        match &self.data.tasks_of {
            Some((q, list)) if *q == v.queue && *list == self.task_list(v) => {
                Some(self.data.tasks.as_slice())
            }
            _ => None,
        }
    }

    /// How many tasks the list of a queue view holds in all, if known.
    pub(crate) fn total_of(&self, v: &QueueView) -> Option<usize> {
        if v.tab == Tab::Aggregating {
            let group = v.group.as_deref()?;
            return self
                .groups_of(&v.queue)?
                .iter()
                .find(|g| g.name == group)
                .map(|g| g.size);
        }
        self.queue_row(&v.queue).map(|q| v.tab.count(q))
    }

    /// The number of pages of a queue view (at least 1), if known.
    pub(crate) fn pages_of(&self, v: &QueueView) -> Option<usize> {
        self.total_of(v)
            .map(|n| n.div_ceil(self.page_size.max(1)).max(1))
    }

    /// Sets the page size from the terminal size. The queue views keep their first task
    /// visible; returns a fetch when the shown list changed.
    pub(crate) fn set_page_size(&mut self, page_size: usize) -> Action {
        let page_size = page_size.max(1);
        if page_size == self.page_size {
            return Action::None;
        }
        let old = self.page_size;
        for s in &mut self.stack {
            if let Screen::QueueDetail(v) = s {
                let first = (v.page - 1) * old + v.selected;
                v.page = first / page_size + 1;
                v.selected = first % page_size;
            }
        }
        self.page_size = page_size;
        if matches!(self.data_screen(), Screen::QueueDetail(_)) {
            self.refresh()
        } else {
            Action::None
        }
    }

    pub(super) fn key_queue_detail(&mut self, key: KeyEvent, mut v: QueueView) -> Action {
        let rows = self.tasks_of(&v).map_or(0, <[TaskRow]>::len);
        if let Some(sel) = move_selection(key.code, v.selected, rows) {
            v.selected = sel;
            *self.top_mut() = Screen::QueueDetail(v);
            return Action::None;
        }
        let tab = match key.code {
            KeyCode::Char('l') | KeyCode::Right | KeyCode::Tab => Some(v.tab.next()),
            KeyCode::Char('h') | KeyCode::Left | KeyCode::BackTab => Some(v.tab.prev()),
            KeyCode::Char(c @ '1'..='7') => Tab::ALL.get(c as usize - '1' as usize).copied(),
            _ => None,
        };
        if let Some(tab) = tab {
            if tab == v.tab {
                return Action::None;
            }
            v.tab = tab;
            v.page = 1;
            v.selected = 0;
            if tab == Tab::Aggregating && v.group.is_none() {
                v.group = self
                    .groups_of(&v.queue)
                    .and_then(|g| g.first())
                    .map(|g| g.name.clone());
            }
            *self.top_mut() = Screen::QueueDetail(v);
            return self.refresh();
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char(']') | KeyCode::PageDown => self.turn_page(v, true),
            KeyCode::Char('f') if ctrl => self.turn_page(v, true),
            KeyCode::Char('[') | KeyCode::PageUp => self.turn_page(v, false),
            KeyCode::Char('b') if ctrl => self.turn_page(v, false),
            KeyCode::Char('p') => self.pause_toggle(v.queue),
            KeyCode::Char('g') => {
                self.push(Screen::Groups {
                    queue: v.queue,
                    selected: 0,
                });
                self.refresh()
            }
            KeyCode::Enter => {
                let Some(task) = self.tasks_of(&v).and_then(|t| t.get(v.selected)) else {
                    return Action::None;
                };
                let view = TaskView {
                    queue: task.queue.clone(),
                    id: task.id.clone(),
                    hex: false,
                    scroll: 0,
                };
                self.push(Screen::TaskDetail(view));
                self.refresh()
            }
            KeyCode::Char('r' | 'a' | 'd' | 'c') | KeyCode::Delete => {
                let Some(c) = action_key(key.code) else {
                    return Action::None;
                };
                let Some(task) = self.tasks_of(&v).and_then(|t| t.get(v.selected)) else {
                    return Action::None;
                };
                let (queue, id, state) = (task.queue.clone(), task.id.clone(), task.state);
                self.task_action(c, queue, id, state)
            }
            _ => Action::None,
        }
    }

    fn turn_page(&mut self, mut v: QueueView, forward: bool) -> Action {
        let page = if forward {
            let more = match self.pages_of(&v) {
                Some(pages) => v.page < pages,
                // Unknown total: a full page suggests there is another.
                None => self.tasks_of(&v).is_some_and(|t| t.len() >= self.page_size),
            };
            if !more {
                return Action::None;
            }
            v.page + 1
        } else {
            if v.page <= 1 {
                return Action::None;
            }
            v.page - 1
        };
        v.page = page;
        v.selected = 0;
        *self.top_mut() = Screen::QueueDetail(v);
        self.refresh()
    }

    /// Keeps the queue view at `idx` of the stack inside what was fetched: picks a group for
    /// the aggregating tab, steps back from a page that no longer exists, keeps the selection
    /// on the page.
    pub(super) fn settle_queue_detail(&mut self, idx: usize, mut v: QueueView) -> Action {
        let mut again = false;
        if v.tab == Tab::Aggregating {
            let groups = self.groups_of(&v.queue).unwrap_or_default();
            let known = v
                .group
                .as_deref()
                .is_some_and(|g| groups.iter().any(|x| x.name == g));
            if !known && let Some(first) = groups.first() {
                v.group = Some(first.name.clone());
                v.page = 1;
                v.selected = 0;
                again = true;
            }
        }
        if !again
            && v.page > 1
            && let Some(pages) = self.pages_of(&v)
            && v.page > pages
        {
            v.page = pages;
            v.selected = 0;
            again = true;
        }
        if !again && let Some(rows) = self.tasks_of(&v).map(<[TaskRow]>::len) {
            v.selected = clamp(v.selected, rows);
        }
        self.stack[idx] = Screen::QueueDetail(v);
        if again { self.refresh() } else { Action::None }
    }
}
