//! Wire-conformance checks of redisq against recordings of Go asynq v0.26.0.
//!
//! The folder `shared/conformance/` (beside the repository checkout, or
//! `$REDISQ_CONFORMANCE_DIR`) holds 32 recorded scenarios: asynq operations on an empty Redis
//! with a full keyspace dump after each step. A redisq integration test replays a scenario
//! with redisq and, at each checkpoint, dumps Redis and compares the dump with the recording
//! following the rules of the conformance README §2.4:
//!
//! - key names are normalized (`{<host>:<pid>:<uuid>}`, `<uuid>`, `<date:t0+Nd>`), then the
//!   key multiset, types and TTL presence must match; TTLs within a tolerance;
//! - protobuf values (TaskMessage, ServerInfo, WorkerInfo, SchedulerEntry,
//!   SchedulerEnqueueEvent) are decoded with this crate's own schema-driven decoder and
//!   compared field by field (host/pid/server_id ignored, times by offset from t0);
//!   TaskMessages without time fields must also be byte-identical;
//! - timestamp strings (`pending_since`, `paused`) and ZSET scores are compared by offset
//!   from t0; everything else byte for byte.
//!
//! # Example
//!
//! ```no_run
//! use redisq_conformance::{CompareOptions, Scenario, TimeUnit, compare, compare_dump, dump};
//!
//! # async fn example(conn: &mut redis::aio::MultiplexedConnection) {
//! let scenario = Scenario::load("a_enqueue_minimal");
//! let t0 = redisq_conformance::now_unix_ns(); // just before the first operation
//! // ... enqueue with redisq ...
//! let actual = dump(conn).await;
//! let opts = CompareOptions::new().ignore_key("asynq:{default}:wakeup");
//! if let Err(m) = compare(scenario.step("after_enqueue"), &actual, t0, &opts) {
//!     panic!("{m}");
//! }
//!
//! // Deliberate differences: patch the expectation first.
//! let step = scenario.step("after_enqueue");
//! let mut expected = step.expected_dump();
//! expected.set_hash_field_time_offset(
//!     "asynq:{default}:t:task-a",
//!     "pending_since",
//!     TimeUnit::Nanoseconds,
//!     0.0,
//! );
//! compare_dump(&expected, &actual, t0, &opts).unwrap_or_else(|m| panic!("{m}"));
//! # }
//! ```

mod compare;
mod dump;
mod expected;
mod normalize;
mod proto;
mod scenario;
mod task_info;

pub use compare::{
    CompareOptions, DAILY_COUNTER_TTL_S, Mismatch, Mismatches, PatchFn, compare, compare_dump,
};
pub use dump::{Dump, DumpValue, KeyEntry, dump, try_dump};
pub use expected::{
    ExpectedBytes, ExpectedDump, ExpectedField, ExpectedKey, ExpectedProto, ExpectedTtl,
    ExpectedValue, ExpectedZMember, IGNORED_PROTO_FIELDS, TASK_MESSAGE_TIME_FIELDS,
    TimeExpectation, TimeUnit,
};
pub use normalize::{normalize, utc_date};
pub use proto::{
    DecodedMessage, FieldDef, FieldType, ProtoError, ProtoValue, SCHEDULER_ENQUEUE_EVENT,
    SCHEDULER_ENTRY, SERVER_INFO, Schema, TASK_MESSAGE, Timestamp, WORKER_INFO, decode_message,
};
pub use scenario::{CONFORMANCE_DIR_ENV, Scenario, Step, TaskInfoAfter, conformance_dir};
pub use task_info::{
    ActualTaskInfo, TASK_INFO_BYTES_FIELDS, TASK_INFO_TIME_FIELDS, bytes_json, compare_task_info,
    time_json,
};

/// The current wall-clock time in unix nanoseconds (for recording a replay's t0).
pub fn now_unix_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(d.as_nanos()).expect("unix nanoseconds fit i64")
}
