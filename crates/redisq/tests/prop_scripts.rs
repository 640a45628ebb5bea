//! Property tests of the Lua scripts' inputs against a real Redis.
//!
//! Each case works in its own random key namespace and enqueues a few tasks with random IDs,
//! queue names (unicode, spaces, `:`), types, payloads (empty, NUL bytes, invalid UTF-8, up to 64 KiB) and headers, through the
//! public `Client` (one by one or in one `enqueue_batch`), plain, unique, retained, scheduled,
//! grouped, failing or failing once; mixed in are tasks that validation must refuse (braces in
//! the queue name, a blank type or ID). It checks the `TaskInfo` the enqueue returns and what
//! `Inspector::task_info` reads back, runs a `Server` over the queues (whose heartbeat must
//! list them), and checks that every processable task reaches the handler with identical
//! type, payload and headers (a retried task twice) and ends in the state its options say
//! (deleted, completed, archived with the handler's error). Scheduled tasks are then run and
//! grouped ones archived through the inspector. The scripts exercised: enqueue,
//! enqueue_unique, enqueue_batch, schedule, add_to_group, inspect_task_info, dequeue, done /
//! done_many / mark_complete, retry, forward, archive, write_server_state, inspect_run_task,
//! inspect_archive_task.
//!
//! Real-Redis cases are slower than pure ones, so each property runs 32 cases.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestRunner};
use redisq::{
    Client, Connection, Error, Headers, Inspector, Namespace, Server, Task, TaskContext, TaskInfo,
    TaskOption, TaskState,
};
use tokio::sync::mpsc;

use common::{fast_config, recv, wait_until};
use redisq_test_support::RedisServer;

/// 32 cases per property (`PROPTEST_CASES` overrides it for a longer run), and no
/// `proptest-regressions/` files: a failure found here becomes a named regression test
/// instead.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(32);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The model

/// What happens to a task after it is enqueued.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// Processed and deleted.
    Plain,
    /// Processed and deleted; holds a unique lock until then.
    Unique,
    /// Processed and kept as completed.
    Retained,
    /// Scheduled an hour ahead: stays scheduled.
    Scheduled,
    /// Added to this group: stays aggregating (the server has no group aggregator).
    Grouped(String),
    /// The handler fails with this message; with no retries left it is archived.
    Failing(String),
    /// The handler fails with this message once; the retry succeeds.
    FailingOnce(String),
}

impl Kind {
    /// How many times the task reaches the handler before the inspector steps in.
    fn deliveries(&self) -> usize {
        match self {
            Kind::Plain | Kind::Unique | Kind::Retained | Kind::Failing(_) => 1,
            Kind::FailingOnce(_) => 2,
            Kind::Scheduled | Kind::Grouped(_) => 0,
        }
    }
}

/// One task to enqueue.
#[derive(Clone)]
struct Spec {
    id: String,
    /// As given; the stored queue name is trimmed.
    queue: String,
    task_type: String,
    payload: Vec<u8>,
    /// Set on the task.
    headers: Headers,
    /// Set through `TaskOption::header`, winning over `headers`.
    option_headers: Vec<(String, String)>,
    kind: Kind,
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spec")
            .field("id", &self.id)
            .field("queue", &self.queue)
            .field("task_type", &self.task_type)
            .field("payload_len", &self.payload.len())
            .field("payload_head", &&self.payload[..self.payload.len().min(16)])
            .field("headers", &self.headers)
            .field("option_headers", &self.option_headers)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Spec {
    fn queue(&self) -> &str {
        self.queue.trim()
    }

    fn headers(&self) -> Headers {
        let mut h = self.headers.clone();
        h.extend(self.option_headers.iter().cloned());
        h
    }

    fn task(&self) -> Task {
        let mut opts = vec![
            TaskOption::task_id(self.id.clone()),
            TaskOption::queue(self.queue.clone()),
        ];
        for (k, v) in &self.option_headers {
            opts.push(TaskOption::header(k.clone(), v.clone()));
        }
        match &self.kind {
            Kind::Plain => {}
            Kind::Unique => opts.push(TaskOption::unique(Duration::from_secs(600))),
            Kind::Retained => opts.push(TaskOption::retention(Duration::from_secs(3600))),
            Kind::Scheduled => opts.push(TaskOption::process_in(Duration::from_secs(3600))),
            Kind::Grouped(g) => opts.push(TaskOption::group(g.clone())),
            Kind::Failing(_) => opts.push(TaskOption::max_retry(0)),
            Kind::FailingOnce(_) => opts.push(TaskOption::max_retry(1)),
        }
        Task::new(self.task_type.clone(), self.payload.clone())
            .with_headers(self.headers.clone())
            .with_options(opts)
    }

    /// The state right after a successful enqueue.
    fn enqueued_state(&self) -> TaskState {
        match self.kind {
            Kind::Scheduled => TaskState::Scheduled,
            Kind::Grouped(_) => TaskState::Aggregating,
            _ => TaskState::Pending,
        }
    }
}

/// A task validation must refuse.
#[derive(Clone, Debug)]
enum Invalid {
    /// A queue name with `{` or `}`.
    BraceQueue(String),
    /// A type that is empty or only whitespace.
    BlankType(String),
    /// An ID that is empty or only whitespace.
    BlankId(String),
}

impl Invalid {
    fn task(&self) -> Task {
        match self {
            Invalid::BraceQueue(q) => Task::new("t", "x").with_option(TaskOption::queue(q.clone())),
            Invalid::BlankType(t) => Task::new(t.clone(), "x"),
            Invalid::BlankId(id) => {
                Task::new("t", "x").with_option(TaskOption::task_id(id.clone()))
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Case {
    /// The key namespace, made unique per case by the runner.
    namespace: String,
    tasks: Vec<Spec>,
    /// Refused tasks and where they go among the others (for the batch).
    invalid: Vec<(Index, Invalid)>,
}

// ---------------------------------------------------------------------------------------------
// Strategies

/// Text of any characters (NUL, control, non-ASCII included).
fn text(max: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// Non-blank text.
fn word(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,6}",
        vec(
            prop_oneof![
                select(" :.-_/é漢🙂\t\u{0}\u{7f}".chars().collect::<Vec<_>>()),
                any::<char>()
            ],
            1..max,
        )
        .prop_map(String::from_iter),
    ]
    .prop_filter("blank", |s| !s.trim().is_empty())
}

/// A valid queue name: no braces, not blank; maybe with surrounding spaces (trimmed).
fn queue_name() -> impl Strategy<Value = String> {
    (word(12), select(vec!["", " ", "\t", "  "]))
        .prop_filter("braces", |(q, _)| !q.contains(['{', '}']))
        .prop_map(|(q, pad)| format!("{pad}{q}{pad}"))
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        4 => vec(any::<u8>(), 1..64),
        1 => Just(vec![0u8, 0, 0]),
        1 => Just(vec![0xff, 0xfe, 0xc3, 0x28, 0x80]),
        1 => vec(any::<u8>(), 0..65_536),
        1 => Just(vec![0u8; 65_536]),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Plain),
        1 => Just(Kind::Unique),
        1 => Just(Kind::Retained),
        1 => Just(Kind::Scheduled),
        1 => word(10).prop_map(Kind::Grouped),
        1 => text(30).prop_map(Kind::Failing),
        1 => text(30).prop_map(Kind::FailingOnce),
    ]
}

fn invalid() -> impl Strategy<Value = Invalid> {
    prop_oneof![
        (text(6), select(vec!["{", "}", "{x}"]), text(6))
            .prop_map(|(a, b, c)| Invalid::BraceQueue(format!("{a}{b}{c}"))),
        select(vec!["", " ", "\t\n", "\u{3000}"]).prop_map(|t| Invalid::BlankType(t.into())),
        select(vec!["", " ", "\u{a0}"]).prop_map(|t| Invalid::BlankId(t.into())),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let spec = (
        (text(12), any::<Index>(), word(16), payload()),
        (
            btree_map(text(8), text(16), 0..4),
            vec((text(8), text(8)), 0..3),
            kind(),
        ),
    );
    (
        word(8).prop_filter("braces", |n| !n.contains(['{', '}'])),
        vec(queue_name(), 1..4),
        vec(spec, 1..7),
        vec((any::<Index>(), invalid()), 0..3),
    )
        .prop_map(|(namespace, queues, specs, invalid)| {
            let tasks = specs
                .into_iter()
                .enumerate()
                .map(
                    |(i, ((id, queue, task_type, payload), (headers, option_headers, kind)))| {
                        Spec {
                            // Unique within the case, otherwise anything.
                            id: format!("{id}#{i}"),
                            queue: queues[queue.index(queues.len())].clone(),
                            task_type,
                            payload,
                            headers,
                            option_headers,
                            kind,
                        }
                    },
                )
                .collect();
            Case {
                namespace,
                tasks,
                invalid,
            }
        })
}

// ---------------------------------------------------------------------------------------------
// Running a case

/// What the handler saw.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    queue: String,
    id: String,
    retry_count: u32,
    task_type: String,
    payload: Vec<u8>,
    headers: Headers,
}

/// Receives `n` deliveries, keyed by queue, ID and attempt.
async fn receive(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    n: usize,
) -> Result<BTreeMap<(String, String, u32), Seen>, TestCaseError> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let s = recv(rx).await;
        let key = (s.queue.clone(), s.id.clone(), s.retry_count);
        if let Some(first) = seen.insert(key, s) {
            return Err(fail(format!("delivered twice: {first:?}")));
        }
    }
    Ok(seen)
}

/// Checks that `spec` reached the handler as it was enqueued, on each of its attempts.
fn check_seen(
    seen: &BTreeMap<(String, String, u32), Seen>,
    spec: &Spec,
    attempts: u32,
) -> Result<(), TestCaseError> {
    for attempt in 0..attempts {
        let key = (spec.queue().to_string(), spec.id.clone(), attempt);
        let s = seen.get(&key).ok_or_else(|| {
            fail(format!(
                "{spec:?} never reached the handler (attempt {attempt})"
            ))
        })?;
        prop_assert_eq!(&s.task_type, &spec.task_type);
        prop_assert!(s.payload == spec.payload, "payload of {:?}", spec);
        prop_assert_eq!(&s.headers, &spec.headers());
    }
    Ok(())
}

/// Waits until `spec`'s task is in `state` (`None`: deleted), then checks what the inspector
/// reads.
async fn wait_for_state(
    inspector: &Inspector,
    spec: &Spec,
    state: Option<TaskState>,
) -> Result<Option<TaskInfo>, TestCaseError> {
    wait_until(&format!("{spec:?} in state {state:?}"), || async {
        match inspector.task_info(spec.queue(), &spec.id).await {
            Ok(info) => Some(info.state) == state,
            Err(e) => state.is_none() && e.is_task_not_found(),
        }
    })
    .await;
    let Some(state) = state else { return Ok(None) };
    let info = inspector
        .task_info(spec.queue(), &spec.id)
        .await
        .map_err(|e| fail(format!("task_info {spec:?}: {e}")))?;
    check_info(&info, spec, state)?;
    Ok(Some(info))
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

/// The parts of a `TaskInfo` the spec determines.
fn check_info(info: &TaskInfo, spec: &Spec, state: TaskState) -> Result<(), TestCaseError> {
    prop_assert_eq!(&info.id, &spec.id);
    prop_assert_eq!(info.queue.as_str(), spec.queue());
    prop_assert_eq!(&info.task_type, &spec.task_type);
    prop_assert!(info.payload == spec.payload, "payload of {:?}", spec);
    prop_assert_eq!(&info.headers, &spec.headers());
    prop_assert_eq!(info.state, state, "{:?}", spec);
    let group = match &spec.kind {
        Kind::Grouped(g) => Some(g.clone()),
        _ => None,
    };
    prop_assert_eq!(&info.group, &group);
    Ok(())
}

/// A case's client, inspector and server settings, in the case's own namespace (so that no
/// case sees another's keys, and the client's cache of registered queues starts empty).
struct Fixture {
    client: Client,
    inspector: Inspector,
    namespace: Namespace,
    opt: redisq::RedisConnOpt,
}

impl Fixture {
    fn new(conn: &Connection, opt: redisq::RedisConnOpt, namespace: &str) -> Fixture {
        let namespace = Namespace::new(namespace).expect("valid namespace");
        Fixture {
            client: Client::from_connection(conn, namespace.clone()),
            inspector: Inspector::from_connection(conn, namespace.clone()),
            namespace,
            opt,
        }
    }

    fn client(&self) -> &Client {
        &self.client
    }
}

/// How a case enqueues its tasks.
#[derive(Clone, Copy, Debug)]
enum Enqueue {
    OneByOne,
    Batch,
}

/// Enqueues the case's tasks; returns the results of the valid ones (by position in
/// `case.tasks`), having checked that every invalid one was refused.
async fn enqueue(
    fx: &Fixture,
    case: &Case,
    how: Enqueue,
) -> Result<Vec<Result<TaskInfo, Error>>, TestCaseError> {
    // The valid tasks in order, the invalid ones inserted at their positions.
    let mut order: Vec<Result<usize, usize>> = (0..case.tasks.len()).map(Ok).collect();
    for (i, (at, _)) in case.invalid.iter().enumerate() {
        order.insert(at.index(order.len() + 1), Err(i));
    }
    let tasks: Vec<Task> = order
        .iter()
        .map(|o| match o {
            Ok(i) => case.tasks[*i].task(),
            Err(i) => case.invalid[*i].1.task(),
        })
        .collect();
    let results: Vec<Result<TaskInfo, Error>> = match how {
        Enqueue::OneByOne => {
            let mut out = Vec::new();
            for t in &tasks {
                out.push(fx.client().enqueue(t).await);
            }
            out
        }
        Enqueue::Batch => fx.client().enqueue_batch(&tasks, []).await,
    };
    prop_assert_eq!(results.len(), tasks.len());
    let mut valid: Vec<Option<Result<TaskInfo, Error>>> = case.tasks.iter().map(|_| None).collect();
    for (o, r) in order.iter().zip(results) {
        match o {
            Ok(i) => valid[*i] = Some(r),
            Err(i) => match r {
                Err(e) => prop_assert!(e.is_invalid_option(), "{:?}: {:?}", case.invalid[*i], e),
                Ok(info) => {
                    return Err(fail(format!("{:?} accepted: {info:?}", case.invalid[*i])));
                }
            },
        }
    }
    Ok(valid
        .into_iter()
        .map(|r| r.expect("every valid task has a result"))
        .collect())
}

async fn run_case(fx: &Fixture, case: Case, how: Enqueue) -> Result<(), TestCaseError> {
    // Enqueue, and check what the enqueue returned and what the inspector reads back. A
    // unique task whose type and payload an earlier unique task of its queue had is a
    // duplicate.
    let results = enqueue(fx, &case, how).await?;
    let mut locks = BTreeSet::new();
    let mut stored = Vec::new();
    for (spec, result) in case.tasks.iter().zip(results) {
        let duplicate = spec.kind == Kind::Unique
            && !locks.insert((
                spec.queue().to_string(),
                spec.task_type.clone(),
                spec.payload.clone(),
            ));
        match result {
            Ok(info) if !duplicate => {
                check_info(&info, spec, spec.enqueued_state())?;
                let read = fx
                    .inspector
                    .task_info(spec.queue(), &spec.id)
                    .await
                    .map_err(|e| fail(format!("task_info {spec:?}: {e}")))?;
                check_info(&read, spec, spec.enqueued_state())?;
                prop_assert_eq!(read.max_retry, info.max_retry);
                prop_assert_eq!(read.timeout, info.timeout);
                prop_assert_eq!(read.retention, info.retention);
                stored.push(spec.clone());
            }
            Err(e) if duplicate => prop_assert!(e.is_duplicate_task(), "{:?}: {:?}", spec, e),
            other => {
                return Err(fail(format!(
                    "{spec:?} (duplicate: {duplicate}): {other:?}"
                )));
            }
        }
    }

    // Process the queues.
    let failures: Arc<HashMap<(String, String), Kind>> = Arc::new(
        stored
            .iter()
            .filter(|s| matches!(s.kind, Kind::Failing(_) | Kind::FailingOnce(_)))
            .map(|s| ((s.queue().to_string(), s.id.clone()), s.kind.clone()))
            .collect(),
    );
    let (tx, mut rx) = mpsc::unbounded_channel::<Seen>();
    let handler = move |ctx: TaskContext, task: Task| {
        let tx = tx.clone();
        let failures = failures.clone();
        async move {
            let key = (ctx.queue().to_string(), ctx.task_id().to_string());
            let _ = tx.send(Seen {
                queue: key.0.clone(),
                id: key.1.clone(),
                retry_count: ctx.retry_count(),
                task_type: task.task_type().to_string(),
                payload: task.payload().to_vec(),
                headers: task.headers().clone(),
            });
            match failures.get(&key) {
                Some(Kind::Failing(m)) => Err(redisq::HandlerError::msg(m)),
                Some(Kind::FailingOnce(m)) if ctx.retry_count() == 0 => {
                    Err(redisq::HandlerError::msg(m))
                }
                _ => Ok(()),
            }
        }
    };
    let queues: BTreeSet<String> = case.tasks.iter().map(|s| s.queue().to_string()).collect();
    let config = fast_config()
        .namespace(fx.namespace.clone())
        .queues(queues.iter().map(|q| (q.clone(), 1)))
        .retry_delay(|_, _, _| Duration::ZERO);
    let server = Server::new(fx.opt.clone(), config)
        .await
        .map_err(|e| fail(format!("server for {queues:?}: {e}")))?;
    server
        .start(handler)
        .await
        .map_err(|e| fail(format!("start: {e}")))?;
    let result = process(fx, &stored, &queues, &mut rx).await;
    server.shutdown().await;
    result?;
    prop_assert!(
        rx.try_recv().is_err(),
        "a task reached the handler after the case"
    );
    Ok(())
}

/// With the server running: every task reaches the handler and ends where its options say;
/// then scheduled tasks are run and grouped ones archived through the inspector.
async fn process(
    fx: &Fixture,
    stored: &[Spec],
    queues: &BTreeSet<String>,
    rx: &mut mpsc::UnboundedReceiver<Seen>,
) -> Result<(), TestCaseError> {
    let deliveries = stored.iter().map(|s| s.kind.deliveries()).sum();
    let seen = receive(rx, deliveries).await?;
    for spec in stored {
        check_seen(&seen, spec, spec.kind.deliveries() as u32)?;
    }
    for spec in stored {
        let state = match &spec.kind {
            Kind::Plain | Kind::Unique | Kind::FailingOnce(_) => None,
            Kind::Retained => Some(TaskState::Completed),
            Kind::Failing(_) => Some(TaskState::Archived),
            Kind::Scheduled | Kind::Grouped(_) => Some(spec.enqueued_state()),
        };
        let info = wait_for_state(&fx.inspector, spec, state).await?;
        match (&spec.kind, info) {
            (Kind::Retained, Some(info)) => prop_assert!(info.completed_at.is_some()),
            (Kind::Failing(m), Some(info)) => prop_assert_eq!(&info.last_err, m),
            _ => {}
        }
    }

    // The heartbeat lists the queues, names unchanged.
    let inspector = &fx.inspector;
    wait_until("the server's heartbeat", || async {
        inspector
            .servers()
            .await
            .is_ok_and(|servers| servers.iter().any(|s| s.queues.keys().eq(queues.iter())))
    })
    .await;

    // Scheduled tasks run now; grouped ones are archived.
    let scheduled: Vec<&Spec> = stored
        .iter()
        .filter(|s| s.kind == Kind::Scheduled)
        .collect();
    for spec in &scheduled {
        fx.inspector
            .run_task(spec.queue(), &spec.id)
            .await
            .map_err(|e| fail(format!("run_task {spec:?}: {e}")))?;
    }
    let seen = receive(rx, scheduled.len()).await?;
    for spec in &scheduled {
        check_seen(&seen, spec, 1)?;
        wait_for_state(&fx.inspector, spec, None).await?;
    }
    for spec in stored.iter().filter(|s| matches!(s.kind, Kind::Grouped(_))) {
        fx.inspector
            .archive_task(spec.queue(), &spec.id)
            .await
            .map_err(|e| fail(format!("archive_task {spec:?}: {e}")))?;
        wait_for_state(&fx.inspector, spec, Some(TaskState::Archived)).await?;
    }
    Ok(())
}

fn run_property(how: Enqueue) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let redis = RedisServer::start();
    let opt = redisq::parse_redis_uri(&redis.url()).expect("uri");
    let conn = rt
        .block_on(Connection::connect(opt.clone()))
        .expect("connection");
    let cases = AtomicU64::new(0);
    let mut runner = TestRunner::new(config());
    let result = runner.run(&case(), |case| {
        // Shrinking reruns similar cases: a fresh namespace each time keeps them apart.
        let n = cases.fetch_add(1, Ordering::Relaxed);
        let fx = Fixture::new(&conn, opt.clone(), &format!("{}#{n}", case.namespace));
        rt.block_on(run_case(&fx, case, how))
    });
    if let Err(e) = result {
        panic!("{how:?}: {e}");
    }
}

/// Tasks enqueued one by one reach the handler and the inspector unchanged.
#[test]
fn tasks_enqueued_one_by_one_round_trip_through_redis() {
    run_property(Enqueue::OneByOne);
}

/// Tasks enqueued in one batch reach the handler and the inspector unchanged; invalid ones
/// fail alone.
#[test]
fn tasks_enqueued_in_a_batch_round_trip_through_redis() {
    run_property(Enqueue::Batch);
}
