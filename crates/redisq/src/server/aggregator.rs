//! The aggregator: turns groups of tasks into one task.
//!
//! Every `min(7 s, group_grace_period)` a check runs over the server's queues: for each group
//! in the queue's `groups` set, the check script decides whether the group is ready (by
//! `group_max_size`, `group_max_delay` or `group_grace_period`) and moves its oldest tasks into
//! a new aggregation set. The set's tasks go to the [`GroupAggregator`]; the task it returns is
//! enqueued to the same queue, then the set and its tasks are deleted. At most three checks
//! run at once; a tick that finds three running is skipped with a warning (as in asynq).
//!
//! Differences from asynq, none visible to Go asynq:
//! - a check keeps aggregating a group while it is ready (up to 100 sets),
//!   where asynq takes one set per group per tick;
//! - the aggregator runs on a blocking thread, so a slow one does not stall the runtime; on
//!   shutdown, an aggregator call still running after `shutdown_timeout` is abandoned (its
//!   set returns to the group after its deadline);
//! - deleting an aggregated set also releases the unique locks its tasks still hold
//!   (asynq leaves them until their TTL);
//! - the recoverer's reclaim of a stale set registers its group in `groups` again, so the
//!   tasks are aggregated again (asynq forgets them until another task joins the group);
//! - a server without an aggregator warns about tasks waiting in groups of its queues
//!   (asynq issue #529: they wait there silently).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::config::GroupAggregator;
use super::state::Shared;
use crate::core::message;
use crate::error::Error;
use crate::option::TaskOption;
use crate::rdb::proto::{TaskMessage, decode_task_message};
use crate::task::Task;

/// The longest time between two checks (asynq: checks run every `min(7 s, grace period)`).
const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(7);

/// Checks allowed to run at once.
const MAX_CONCURRENT_CHECKS: usize = 3;

/// Sets one check takes from one group at most, before moving on.
const MAX_SETS_PER_CHECK: usize = 100;

/// How often a server without an aggregator repeats its warning about waiting groups, per
/// queue.
const NO_AGGREGATOR_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// What every check needs.
struct Checker {
    shared: Arc<Shared>,
    aggregator: Arc<dyn GroupAggregator>,
    /// The server is shutting down: start no new group.
    done: CancellationToken,
    /// The shutdown timeout passed: stop waiting for the user's aggregator.
    abandon: CancellationToken,
}

/// Runs aggregation checks until `done`, then waits for the checks in flight.
pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
    let Some(aggregator) = shared.config.group_aggregator.clone() else {
        return;
    };
    let interval = shared.config.group_grace_period.min(MAX_CHECK_INTERVAL);
    let checker = Arc::new(Checker {
        shared: shared.clone(),
        aggregator,
        done: done.clone(),
        abandon: CancellationToken::new(),
    });
    let sema = Arc::new(Semaphore::new(MAX_CONCURRENT_CHECKS));
    let mut checks = JoinSet::new();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            _ = ticker.tick() => {}
        }
        while let Some(res) = checks.try_join_next() {
            report_join(&shared, res);
        }
        match sema.clone().try_acquire_owned() {
            Ok(permit) => {
                checks.spawn(checker.clone().check(SystemTime::now(), permit));
            }
            Err(_) => shared.log.warn(format_args!(
                "{MAX_CONCURRENT_CHECKS} aggregation checks are still running: skipping this one"
            )),
        }
    }
    let drain = async {
        while let Some(res) = checks.join_next().await {
            report_join(&shared, res);
        }
    };
    tokio::pin!(drain);
    if tokio::time::timeout(shared.config.shutdown_timeout, &mut drain)
        .await
        .is_err()
    {
        checker.abandon.cancel();
        drain.await;
    }
}

fn report_join(shared: &Shared, res: Result<(), tokio::task::JoinError>) {
    if let Err(e) = res {
        shared
            .log
            .error(format_args!("an aggregation check failed: {e}"));
    }
}

impl Checker {
    /// One check at `now` over every queue of the server.
    async fn check(self: Arc<Self>, now: SystemTime, _permit: OwnedSemaphorePermit) {
        let shared = &self.shared;
        for q in &shared.queues {
            if self.done.is_cancelled() {
                return;
            }
            let groups = match shared.rdb.list_groups(q).await {
                Ok(g) => g,
                Err(e) => {
                    shared.redis_error("could not list the groups of a queue", &e);
                    continue;
                }
            };
            for g in groups {
                for _ in 0..MAX_SETS_PER_CHECK {
                    if self.done.is_cancelled() {
                        return;
                    }
                    let config = &shared.config;
                    let check = shared.rdb.aggregation_check(
                        q,
                        &g,
                        config.group_max_size,
                        config.group_max_delay,
                        config.group_grace_period,
                        now,
                    );
                    let set_id = match check.await {
                        Ok(Some(id)) => id,
                        Ok(None) => {
                            shared.log.debug(format_args!(
                                "no aggregation needed: queue {q:?}, group {g:?}"
                            ));
                            break;
                        }
                        Err(e) => {
                            shared.redis_error("aggregation check failed", &e);
                            break;
                        }
                    };
                    if !self.aggregate_set(q, &g, &set_id).await {
                        break;
                    }
                }
            }
        }
    }

    /// Aggregates one set: reads it, calls the aggregator, enqueues the result and deletes
    /// the set. On failure the set is left for the recoverer, which returns it to its group
    /// after its deadline; returns false then.
    async fn aggregate_set(&self, queue: &str, group: &str, set_id: &str) -> bool {
        let shared = &self.shared;
        let where_ = format!("queue {queue:?}, group {group:?}, set {set_id}");
        let set = match shared.rdb.read_aggregation_set(queue, group, set_id).await {
            Ok(s) => s,
            Err(e) => {
                shared.redis_error("could not read an aggregation set", &e);
                return false;
            }
        };
        let Some(deadline) = set.deadline else {
            shared.log.warn(format_args!(
                "aggregation set vanished before it was aggregated ({where_})"
            ));
            return false;
        };
        let mut tasks = Vec::with_capacity(set.members.len());
        let mut locks = Vec::new();
        for (id, raw) in &set.members {
            match decode_task_message(raw) {
                Ok(m) => {
                    if !m.unique_key.is_empty() {
                        locks.push((id.clone(), m.unique_key.clone()));
                    }
                    tasks.push(member_task(m));
                }
                Err(e) => shared.log.error(format_args!(
                    "task {id} has a corrupt message and is dropped from its aggregation ({where_}): {e}"
                )),
            }
        }
        if !tasks.is_empty() {
            let count = tasks.len();
            let aggregator = self.aggregator.clone();
            let name = group.to_string();
            let call = tokio::task::spawn_blocking(move || aggregator.aggregate(&name, tasks));
            let task = tokio::select! {
                res = call => match res {
                    Ok(t) => t,
                    Err(e) => {
                        shared.log.error(format_args!(
                            "the group aggregator failed ({where_}): {e}; the tasks return to their group after {}",
                            rfc3339(deadline)
                        ));
                        return false;
                    }
                },
                _ = self.abandon.cancelled() => {
                    shared.log.warn(format_args!(
                        "shutdown: gave up waiting for the group aggregator ({where_}); the tasks return to their group after {}",
                        rfc3339(deadline)
                    ));
                    return false;
                }
            };
            // As in asynq, the enqueue and the delete must finish before the set's deadline,
            // after which another server may reclaim the set and aggregate it again.
            let Some(left) = time_left(deadline) else {
                shared.log.error(format_args!(
                    "the group aggregator returned after the set's deadline ({where_}); the tasks return to their group"
                ));
                return false;
            };
            let opts = [TaskOption::queue(queue)];
            let new = match message::build(&task, &opts, SystemTime::now()) {
                Ok(new) => new,
                Err(e) => {
                    self.enqueue_failed(&where_, deadline, &e);
                    return false;
                }
            };
            match tokio::time::timeout(left, shared.rdb.enqueue_new(&new)).await {
                Ok(Ok(())) => shared.log.debug(format_args!(
                    "aggregated {count} tasks into task {} ({where_})",
                    new.id
                )),
                Ok(Err(e)) => {
                    self.enqueue_failed(&where_, deadline, &e);
                    return false;
                }
                Err(_) => {
                    shared.log.error(format_args!(
                        "enqueueing the aggregated task timed out at the set's deadline ({where_})"
                    ));
                    return false;
                }
            }
        }
        self.delete_set(queue, group, set_id, &locks, deadline, &where_)
            .await;
        true
    }

    fn enqueue_failed(&self, where_: &str, deadline: SystemTime, e: &Error) {
        if e.is_redis() {
            self.shared
                .redis_error("could not enqueue an aggregated task", e);
        } else {
            self.shared.log.error(format_args!(
                "could not enqueue the aggregated task ({where_}): {e}; the tasks return to their group after {}",
                rfc3339(deadline)
            ));
        }
    }

    /// Deletes an aggregated set, retrying Redis errors until its deadline (after which the
    /// recoverer would hand its tasks out again).
    async fn delete_set(
        &self,
        queue: &str,
        group: &str,
        set_id: &str,
        locks: &[(String, String)],
        deadline: SystemTime,
        where_: &str,
    ) {
        let shared = &self.shared;
        while let Some(left) = time_left(deadline) {
            let delete = shared
                .rdb
                .delete_aggregation_set(queue, group, set_id, locks);
            match tokio::time::timeout(left, delete).await {
                Ok(Ok(_)) => return,
                Ok(Err(e)) => shared.redis_error("could not delete an aggregation set", &e),
                Err(_) => break,
            }
            let pause = Duration::from_secs(1).min(time_left(deadline).unwrap_or_default());
            if pause.is_zero() || !crate::runtime::sleep_or(&self.done, pause).await {
                break;
            }
        }
        shared.log.warn(format_args!(
            "could not delete an aggregated set ({where_}): its tasks may be aggregated again"
        ));
    }
}

/// A member as the aggregator sees it: type, payload and headers. An empty payload is no
/// payload, as Go decodes it.
fn member_task(m: TaskMessage) -> Task {
    let task = if m.payload.is_empty() {
        Task::without_payload(m.r#type)
    } else {
        Task::new(m.r#type, m.payload)
    };
    task.with_headers(m.headers)
}

/// Time until `deadline`, `None` once it passed.
fn time_left(deadline: SystemTime) -> Option<Duration> {
    deadline
        .duration_since(SystemTime::now())
        .ok()
        .filter(|d| !d.is_zero())
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Puts the queue's aggregation sets whose deadline passed back into their groups (run by
/// the recoverer, as in asynq).
pub(crate) async fn reclaim_stale_sets(shared: &Shared, queue: &str) {
    match shared
        .rdb
        .reclaim_stale_aggregation_sets(queue, SystemTime::now())
        .await
    {
        Ok(0) => {}
        Ok(n) => shared.log.warn(format_args!(
            "returned {n} unfinished aggregation sets of queue {queue:?} to their groups"
        )),
        Err(e) => shared.redis_error("could not reclaim stale aggregation sets", &e),
    }
}

/// Warns, at most once a minute per queue, when tasks wait in groups of a server that has
/// no aggregator to process them (asynq issue #529: they wait silently).
#[derive(Debug, Default)]
pub(crate) struct WaitingGroups {
    warned: HashMap<String, Instant>,
}

impl WaitingGroups {
    pub(crate) fn new() -> Self {
        WaitingGroups::default()
    }

    /// Looks at the groups of each queue whose last warning is a minute old or more.
    pub(crate) async fn check(&mut self, shared: &Shared) {
        if shared.config.group_aggregator.is_some() {
            return;
        }
        for q in &shared.queues {
            if self
                .warned
                .get(q)
                .is_some_and(|t| t.elapsed() < NO_AGGREGATOR_WARNING_INTERVAL)
            {
                continue;
            }
            let groups = match shared.rdb.group_sizes(q).await {
                Ok(g) => g,
                Err(e) => {
                    shared.redis_error("could not list the groups of a queue", &e);
                    continue;
                }
            };
            if groups.is_empty() {
                continue;
            }
            self.warned.insert(q.clone(), Instant::now());
            let total: u64 = groups.iter().map(|(_, n)| n).sum();
            let names: Vec<&str> = groups.iter().map(|(g, _)| g.as_str()).collect();
            shared.log.warn(format_args!(
                "queue {q:?} has {total} tasks waiting in groups {names:?} and this server has no \
                 GroupAggregator: unless a server with one (Config::group_aggregator) serves the \
                 queue, they stay in state aggregating"
            ));
        }
    }
}
