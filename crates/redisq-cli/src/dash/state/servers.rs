//! The servers screen: the running servers and the tasks their workers are processing.

use std::time::SystemTime;

use crossterm::event::KeyEvent;

use super::{Action, DashState, Screen, move_selection};

/// A running server (the Inspector's `ServerInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServerRow {
    pub(crate) id: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) concurrency: usize,
    pub(crate) queues: Vec<(String, u32)>,
    pub(crate) strict_priority: bool,
    pub(crate) started: Option<SystemTime>,
    pub(crate) status: String,
    pub(crate) workers: Vec<WorkerRow>,
}

/// A task being processed by a server (the Inspector's `WorkerInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WorkerRow {
    pub(crate) task_id: String,
    pub(crate) task_type: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) queue: String,
    pub(crate) started: Option<SystemTime>,
    pub(crate) deadline: Option<SystemTime>,
}

impl DashState {
    pub(super) fn key_servers(&mut self, key: KeyEvent, selected: usize) -> Action {
        let n = self.data.servers.len();
        if let Some(sel) = move_selection(key.code, selected, n) {
            *self.top_mut() = Screen::Servers { selected: sel };
        }
        Action::None
    }
}
