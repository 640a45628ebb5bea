//! The Lua scripts, kept as `.lua` files beside this module, and how they are run.
//!
//! A script runs by SHA (`EVALSHA`); when the server answers NOSCRIPT (a restart, a failover,
//! a new Cluster node) it is loaded with `SCRIPT LOAD` (on every node in a Cluster) and run
//! again. Pipelined calls get the same fallback in [`super::conn::RedisConn::pipeline`].

use std::sync::LazyLock;

use redis::Script;

macro_rules! scripts {
    ($($name:ident => $file:literal,)*) => {
        $(
            pub(crate) static $name: LazyLock<Script> =
                LazyLock::new(|| Script::new(include_str!(concat!("scripts/", $file))));
        )*
    };
}

scripts! {
    EXTEND_LEASES => "extend_leases.lua",
    REMOVE_GHOSTS => "remove_ghosts.lua",
    ENQUEUE_BATCH => "enqueue_batch.lua",
    ENQUEUE => "enqueue.lua",
    ENQUEUE_UNIQUE => "enqueue_unique.lua",
    SCHEDULE => "schedule.lua",
    SCHEDULE_UNIQUE => "schedule_unique.lua",
    ADD_TO_GROUP => "add_to_group.lua",
    ADD_TO_GROUP_UNIQUE => "add_to_group_unique.lua",
    WAKE => "wake.lua",
    DONE => "done.lua",
    MARK_COMPLETE => "mark_complete.lua",
    REQUEUE => "requeue.lua",
    RETRY => "retry.lua",
    ARCHIVE => "archive.lua",
    WRITE_RESULT => "write_result.lua",
    FORWARD => "forward.lua",
    LIST_LEASE_EXPIRED => "list_lease_expired.lua",
    LIST_ACTIVE_WITHOUT_LEASE => "list_active_without_lease.lua",
    DELETE_EXPIRED_COMPLETED => "delete_expired_completed.lua",
    WRITE_SERVER_STATE => "write_server_state.lua",
    // Client::wait and TaskContext::set_progress (wait.rs, progress.rs).
    WAIT_CHECK => "wait_check.lua",
    SET_PROGRESS => "set_progress.lua",
    // Inspector (inspect.rs).
    INSPECT_QUEUE_STATS => "inspect_queue_stats.lua",
    INSPECT_MEMORY_USAGE => "inspect_memory_usage.lua",
    INSPECT_GROUP_STATS => "inspect_group_stats.lua",
    INSPECT_TASK_INFO => "inspect_task_info.lua",
    INSPECT_LIST_LIST => "inspect_list_list.lua",
    INSPECT_LIST_PENDING => "inspect_list_pending.lua",
    INSPECT_LIST_ZSET => "inspect_list_zset.lua",
    INSPECT_RUN_TASK => "inspect_run_task.lua",
    INSPECT_ARCHIVE_TASK => "inspect_archive_task.lua",
    INSPECT_DELETE_TASK => "inspect_delete_task.lua",
    INSPECT_UPDATE_PAYLOAD => "inspect_update_payload.lua",
    INSPECT_DELETE_BATCH => "inspect_delete_batch.lua",
    INSPECT_RUN_BATCH => "inspect_run_batch.lua",
    INSPECT_ARCHIVE_BATCH => "inspect_archive_batch.lua",
    INSPECT_DELETE_QUEUE => "inspect_delete_queue.lua",
    INSPECT_LIVE_MEMBERS => "inspect_live_members.lua",
    // Group aggregation (aggregation.rs).
    AGGREGATION_CHECK => "aggregation_check.lua",
    AGGREGATION_READ => "aggregation_read.lua",
    AGGREGATION_DELETE => "aggregation_delete.lua",
    AGGREGATION_RECLAIM => "aggregation_reclaim.lua",
    AGGREGATION_GROUPS => "aggregation_groups.lua",
    // Scheduler state (scheduler.rs).
    SCHEDULER_WRITE_ENTRIES => "scheduler_write_entries.lua",
    SCHEDULER_RECORD_EVENT => "scheduler_record_event.lua",
    // Flows and chains (flow.rs).
    FLOW_CREATE => "flow_create.lua",
    FLOW_DONE => "flow_done.lua",
    FLOW_DELIVER => "flow_deliver.lua",
    FLOW_DELETE => "flow_delete.lua",
    FLOW_LIST_WAITING => "flow_list_waiting.lua",
}

/// `done_many.lua` without limits: `take_limited` is false, so its take-next part is the plain
/// one (the cost of the limit-aware branch is one test of a local).
pub(crate) static DONE_MANY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/take.lua"),
        "local take_limited, LIMITS = false, nil\n",
        include_str!("scripts/done_many.lua")
    ))
});

/// `done_many.lua` for queues with limits: the limits spec is read from (and removed from)
/// ARGV[6..] before the script's own arguments are read.
pub(crate) static DONE_MANY_LIMITED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/take.lua"),
        include_str!("scripts/limits.lua"),
        "local LIMITS = read_limits(6)\n",
        include_str!("scripts/done_many.lua")
    ))
});

/// `dequeue.lua` (`take.lua` + `dequeue.lua`).
pub(crate) static DEQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/take.lua"),
        include_str!("scripts/dequeue.lua")
    ))
});

/// `dequeue.lua` for queues with limits (`take.lua` + `limits.lua` + `dequeue_limited.lua`).
pub(crate) static DEQUEUE_LIMITED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/take.lua"),
        include_str!("scripts/limits.lua"),
        include_str!("scripts/dequeue_limited.lua")
    ))
});

/// Builds the `EVALSHA` command of a script call, for use in a pipeline.
pub(crate) fn evalsha(script: &Script, keys: &[&str], args: &[&[u8]]) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(keys.len());
    for k in keys {
        cmd.arg(*k);
    }
    for a in args {
        cmd.arg(*a);
    }
    cmd
}
