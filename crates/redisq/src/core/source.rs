//! Where the tasks of a listing or bulk operation come from.

use crate::task::TaskState;

/// One container of a queue: a state's list or sorted set, or one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskSource<'a> {
    Pending,
    Active,
    Scheduled,
    Retry,
    Archived,
    Completed,
    /// The aggregating tasks of one group.
    Group(&'a str),
}

impl TaskSource<'_> {
    /// The state of the tasks held there.
    pub(crate) fn state(&self) -> TaskState {
        match self {
            TaskSource::Pending => TaskState::Pending,
            TaskSource::Active => TaskState::Active,
            TaskSource::Scheduled => TaskState::Scheduled,
            TaskSource::Retry => TaskState::Retry,
            TaskSource::Archived => TaskState::Archived,
            TaskSource::Completed => TaskState::Completed,
            TaskSource::Group(_) => TaskState::Aggregating,
        }
    }

    /// The group name argument of the batch scripts ("" when not a group).
    pub(crate) fn group_arg(&self) -> &str {
        match self {
            TaskSource::Group(g) => g,
            _ => "",
        }
    }
}
