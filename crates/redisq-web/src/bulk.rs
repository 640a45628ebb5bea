//! Actions on every task of one state of a queue, shared by the pages and the API.

use redisq::{Inspector, TaskState};

/// What to do with every task of a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AllAction {
    /// Move them to pending.
    Run,
    /// Archive them.
    Archive,
    /// Delete them.
    Delete,
}

/// Applies `action` to every task of `state` in `queue` (of `group`, for aggregating tasks)
/// and returns how many it moved; `None` when that state offers no such action (asynq's
/// rules: active tasks take none, pending and completed tasks cannot be run, archived and
/// completed tasks cannot be archived).
pub(crate) async fn apply_all(
    inspector: &Inspector,
    queue: &str,
    state: TaskState,
    group: &str,
    action: AllAction,
) -> Option<redisq::Result<usize>> {
    use AllAction as A;
    use TaskState as S;
    let i = inspector;
    Some(match (action, state) {
        (A::Run, S::Scheduled) => i.run_all_scheduled_tasks(queue).await,
        (A::Run, S::Retry) => i.run_all_retry_tasks(queue).await,
        (A::Run, S::Archived) => i.run_all_archived_tasks(queue).await,
        (A::Run, S::Aggregating) => i.run_all_aggregating_tasks(queue, group).await,
        (A::Archive, S::Pending) => i.archive_all_pending_tasks(queue).await,
        (A::Archive, S::Scheduled) => i.archive_all_scheduled_tasks(queue).await,
        (A::Archive, S::Retry) => i.archive_all_retry_tasks(queue).await,
        (A::Archive, S::Aggregating) => i.archive_all_aggregating_tasks(queue, group).await,
        (A::Delete, S::Pending) => i.delete_all_pending_tasks(queue).await,
        (A::Delete, S::Scheduled) => i.delete_all_scheduled_tasks(queue).await,
        (A::Delete, S::Retry) => i.delete_all_retry_tasks(queue).await,
        (A::Delete, S::Archived) => i.delete_all_archived_tasks(queue).await,
        (A::Delete, S::Completed) => i.delete_all_completed_tasks(queue).await,
        (A::Delete, S::Aggregating) => i.delete_all_aggregating_tasks(queue, group).await,
        _ => return None,
    })
}
