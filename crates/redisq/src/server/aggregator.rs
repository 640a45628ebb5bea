//! The aggregator: turns groups of tasks into one task (spec §6.1, decisions D3 and D4).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::task::Task;

/// Combines the tasks of a group into one task (asynq's `GroupAggregator`).
///
/// The returned task is enqueued to the group's queue (a `Queue` option on it is ignored).
pub trait GroupAggregator: Send + Sync + 'static {
    /// Aggregates `tasks`, all from group `group`, into one task.
    fn aggregate(&self, group: &str, tasks: Vec<Task>) -> Task;
}

impl<F> GroupAggregator for F
where
    F: Fn(&str, Vec<Task>) -> Task + Send + Sync + 'static,
{
    fn aggregate(&self, group: &str, tasks: Vec<Task>) -> Task {
        self(group, tasks)
    }
}

/// Runs aggregation checks until `done` (not implemented yet: returns at once).
pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    let _ = (shared, done);
}
