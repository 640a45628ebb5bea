//! `tracing` instrumentation on real Redis: the `redisq.enqueue` span of the client, the
//! `redisq.task` span of every attempt with its outcome, the handler's own events inside it,
//! and the debug events of dequeue and completion batches.
//!
//! A small capturing layer records spans (name, fields, parent) and events; each test installs
//! it as the default subscriber of its own thread (tokio's test runtime runs everything there).

mod common;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redisq::{HandlerError, LogLevel, Server, Task, TaskContext, TaskOption};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Instrument, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use common::{Env, fast_config, recv, wait_for_state, wait_until};

/// One captured span.
#[derive(Clone, Debug)]
struct SpanRec {
    name: &'static str,
    /// Index of the parent span in the capture.
    parent: Option<usize>,
    fields: BTreeMap<String, String>,
    closed: bool,
}

/// One captured event.
#[derive(Clone, Debug)]
struct EventRec {
    target: String,
    level: tracing::Level,
    /// Index of the span the event happened in.
    span: Option<usize>,
    fields: BTreeMap<String, String>,
}

#[derive(Default)]
struct Store {
    spans: Vec<SpanRec>,
    events: Vec<EventRec>,
}

/// Records every span and event; span IDs are reused by the registry, so spans are numbered
/// by the capture itself (the number lives in the span's extensions).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Store>>);

/// A span's number in the capture.
struct Idx(usize);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<Idx>().map(|i| i.0));
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut store = self.0.lock().unwrap();
        store.spans.push(SpanRec {
            name: attrs.metadata().name(),
            parent,
            fields,
            closed: false,
        });
        span.extensions_mut().insert(Idx(store.spans.len() - 1));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(i) = span.extensions().get::<Idx>().map(|i| i.0) else {
            return;
        };
        values.record(&mut Fields(&mut self.0.lock().unwrap().spans[i].fields));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let span = ctx
            .event_span(event)
            .and_then(|s| s.extensions().get::<Idx>().map(|i| i.0));
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().events.push(EventRec {
            target: event.metadata().target().to_string(),
            level: *event.metadata().level(),
            span,
            fields,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if let Some(i) = span.extensions().get::<Idx>().map(|i| i.0) {
            self.0.lock().unwrap().spans[i].closed = true;
        }
    }
}

impl Capture {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(tracing_subscriber::registry().with(self.clone()))
    }

    fn spans(&self) -> Vec<SpanRec> {
        self.0.lock().unwrap().spans.clone()
    }

    fn events(&self) -> Vec<EventRec> {
        self.0.lock().unwrap().events.clone()
    }

    /// The closed `redisq.task` spans of task `id`, with their indexes, in start order.
    fn task_spans(&self, id: &str) -> Vec<(usize, SpanRec)> {
        self.spans()
            .into_iter()
            .enumerate()
            .filter(|(_, s)| {
                s.name == "redisq.task"
                    && s.closed
                    && s.fields.get("task.id").map(String::as_str) == Some(id)
            })
            .collect()
    }

    async fn wait_for_task_spans(&self, id: &str, n: usize) -> Vec<(usize, SpanRec)> {
        wait_until(&format!("{n} closed redisq.task spans of {id}"), || async {
            self.task_spans(id).len() >= n
        })
        .await;
        self.task_spans(id)
    }
}

fn field<'a>(s: &'a SpanRec, name: &str) -> Option<&'a str> {
    s.fields.get(name).map(String::as_str)
}

#[tokio::test]
async fn a_successful_attempt_runs_in_a_task_span_with_its_fields() {
    let capture = Capture::default();
    let _guard = capture.install();
    let env = Env::start().await;

    let request = tracing::info_span!("request");
    env.client
        .enqueue_with(
            &Task::new("trace:ok", "x"),
            [TaskOption::task_id("ok1"), TaskOption::max_retry(3)],
        )
        .instrument(request)
        .await
        .expect("enqueue");

    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let handler = move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            tracing::info!(marker = "in-handler", "handling {}", ctx.task_id());
            let _ = tx.send(ctx.task_id().to_string());
            Ok::<(), HandlerError>(())
        }
    };
    let server = Server::new(env.opt(), fast_config().log_level(LogLevel::Debug))
        .await
        .expect("server");
    server.start(handler).await.expect("start");
    assert_eq!(recv(&mut rx).await, "ok1");
    let spans = capture.wait_for_task_spans("ok1", 1).await;
    server.shutdown().await;

    let (task_idx, task) = &spans[0];
    assert_eq!(field(task, "task.type"), Some("trace:ok"));
    assert_eq!(field(task, "task.queue"), Some("default"));
    assert_eq!(field(task, "task.retry"), Some("0"));
    assert_eq!(field(task, "task.max_retry"), Some("3"));
    assert_eq!(field(task, "otel.kind"), Some("consumer"));
    assert_eq!(field(task, "task.outcome"), Some("success"));
    assert_eq!(field(task, "task.error"), None);
    assert_eq!(task.parent, None, "an attempt's span is a root span");

    let events = capture.events();
    let in_handler = events
        .iter()
        .find(|e| e.fields.get("marker").map(String::as_str) == Some("in-handler"))
        .expect("the handler's event");
    assert_eq!(
        in_handler.span,
        Some(*task_idx),
        "the handler's events are inside the attempt's span"
    );

    let all = capture.spans();
    let enqueue = all
        .iter()
        .find(|s| s.name == "redisq.enqueue")
        .expect("an enqueue span");
    assert_eq!(field(enqueue, "task.type"), Some("trace:ok"));
    assert_eq!(field(enqueue, "task.queue"), Some("default"));
    assert_eq!(field(enqueue, "task.id"), Some("ok1"));
    assert_eq!(field(enqueue, "otel.kind"), Some("producer"));
    let parent = enqueue.parent.map(|p| all[p].name);
    assert_eq!(
        parent,
        Some("request"),
        "the enqueue span is the caller's child"
    );

    // With the debug level, dequeue and completion batches are logged with their counts.
    let redisq_debug = |needle: &str| {
        events.iter().any(|e| {
            e.target == "redisq"
                && e.level == tracing::Level::DEBUG
                && e.fields.get("message").is_some_and(|m| m.contains(needle))
                && e.fields.contains_key("count")
        })
    };
    assert!(redisq_debug("dequeued 1 tasks"), "events: {events:#?}");
    assert!(redisq_debug("completed 1 tasks"), "events: {events:#?}");
}

#[tokio::test]
async fn failed_attempts_record_their_outcome_and_error() {
    let capture = Capture::default();
    let _guard = capture.install();
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("trace:fail", "x"),
            [TaskOption::task_id("f1"), TaskOption::max_retry(1)],
        )
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    let handler = move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx.retry_count());
            Err::<(), _>(HandlerError::msg("boom"))
        }
    };
    let config = fast_config().retry_delay(|_, _, _| Duration::ZERO);
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(handler).await.expect("start");
    assert_eq!(recv(&mut rx).await, 0);
    assert_eq!(recv(&mut rx).await, 1);
    wait_for_state(&c, "default", "f1", "archived").await;
    let spans = capture.wait_for_task_spans("f1", 2).await;
    server.shutdown().await;

    let first = &spans[0].1;
    assert_eq!(field(first, "task.retry"), Some("0"));
    assert_eq!(field(first, "task.max_retry"), Some("1"));
    assert_eq!(field(first, "task.outcome"), Some("retry"));
    assert_eq!(field(first, "task.error"), Some("boom"));
    assert_eq!(field(first, "otel.status_code"), Some("error"));

    let second = &spans[1].1;
    assert_eq!(field(second, "task.retry"), Some("1"));
    assert_eq!(field(second, "task.outcome"), Some("archived"));
    assert_eq!(field(second, "task.error"), Some("boom"));
    assert_eq!(field(second, "otel.status_code"), Some("error"));
}

#[tokio::test]
async fn a_revoked_attempt_is_no_error() {
    let capture = Capture::default();
    let _guard = capture.install();
    let env = Env::start().await;
    env.client
        .enqueue_with(&Task::new("trace:revoke", "x"), [TaskOption::task_id("r1")])
        .await
        .expect("enqueue");
    let handler =
        |_ctx: TaskContext, _task: Task| async { Err::<(), _>(HandlerError::revoke("not needed")) };
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(handler).await.expect("start");
    let spans = capture.wait_for_task_spans("r1", 1).await;
    server.shutdown().await;
    let span = &spans[0].1;
    assert_eq!(field(span, "task.outcome"), Some("revoked"));
    assert!(field(span, "task.error").is_some());
    assert_eq!(field(span, "otel.status_code"), None);
}
