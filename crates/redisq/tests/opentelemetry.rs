//! OpenTelemetry on real Redis: one trace runs from the code that enqueues a task, through the
//! task's `traceparent` header, to the handler's `redisq.task` span; a `traceparent` written
//! by another service (as a Go asynq service would write it) is followed the same way.
//!
//! Each test installs, as the default subscriber of its own thread, a `tracing-opentelemetry`
//! layer whose tracer exports finished spans to the SDK's in-memory exporter.
#![cfg(feature = "opentelemetry")]

mod common;

use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use redisq::{HandlerError, Server, Task, TaskContext, TaskOption};
use tokio::sync::mpsc;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

use common::{Env, fast_config, recv, wait_until};

/// An OpenTelemetry pipeline for one test: finished spans land in `exporter`.
struct Otel {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Otel {
    fn install() -> Otel {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("redisq-test"));
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        Otel {
            exporter,
            _provider: provider,
            _guard: guard,
        }
    }

    fn finished(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().expect("finished spans")
    }

    fn named(&self, name: &str) -> Vec<SpanData> {
        self.finished()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    async fn wait_for(&self, name: &str) -> SpanData {
        wait_until(&format!("an exported {name} span"), || async {
            !self.named(name).is_empty()
        })
        .await;
        self.named(name).remove(0)
    }
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// A handler that opens a span of its own (`work`) and reports the task's headers.
fn reporting(tx: mpsc::UnboundedSender<redisq::Headers>) -> impl redisq::Handler {
    move |_ctx: TaskContext, task: Task| {
        let tx = tx.clone();
        async move {
            let _work = tracing::info_span!("work").entered();
            let _ = tx.send(task.headers().clone());
            Ok::<(), HandlerError>(())
        }
    }
}

#[tokio::test]
async fn the_handler_span_continues_the_enqueuers_trace() {
    let otel = Otel::install();
    let env = Env::start().await;

    // The application's own span, e.g. an HTTP request, with the enqueue inside it.
    let request = tracing::info_span!("http.request");
    let request_trace = request.context().span().span_context().trace_id();
    assert_ne!(request_trace, TraceId::INVALID);
    let info = env
        .client
        .enqueue_with(&Task::new("trace:otel", "x"), [TaskOption::task_id("o1")])
        .instrument(request.clone())
        .await
        .expect("enqueue");
    drop(request);

    let enqueue = otel.wait_for("redisq.enqueue").await;
    assert_eq!(enqueue.span_kind, SpanKind::Producer);
    assert_eq!(enqueue.span_context.trace_id(), request_trace);
    let want = format!("00-{}-{}-01", request_trace, enqueue.span_context.span_id());
    assert_eq!(
        info.headers.get("traceparent"),
        Some(&want),
        "the task carries the context of its redisq.enqueue span"
    );

    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(reporting(tx)).await.expect("start");
    let headers = recv(&mut rx).await;
    assert_eq!(headers.get("traceparent"), Some(&want));
    let task = otel.wait_for("redisq.task").await;
    let work = otel.wait_for("work").await;
    server.shutdown().await;

    assert_eq!(task.span_context.trace_id(), request_trace, "one trace");
    assert_eq!(
        task.parent_span_id,
        enqueue.span_context.span_id(),
        "the attempt's span is a child of the enqueue span"
    );
    assert!(task.parent_span_is_remote);
    assert_eq!(task.span_kind, SpanKind::Consumer);
    assert_eq!(attr(&task, "task.id").as_deref(), Some("o1"));
    assert_eq!(attr(&task, "task.type").as_deref(), Some("trace:otel"));
    assert_eq!(attr(&task, "task.outcome").as_deref(), Some("success"));

    assert_eq!(work.span_context.trace_id(), request_trace);
    assert_eq!(
        work.parent_span_id,
        task.span_context.span_id(),
        "the handler's own spans are children of the attempt's span"
    );
}

#[tokio::test]
async fn a_traceparent_written_by_another_service_is_followed() {
    let otel = Otel::install();
    let env = Env::start().await;
    // As a Go service using OpenTelemetry's `propagation.TraceContext` writes it.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace}-{parent}-01");
    let task = Task::new("trace:go", "x").with_header("traceparent", traceparent.clone());
    // Enqueued inside a span of its own: a trace context set by hand is never replaced.
    let info = env
        .client
        .enqueue_with(&task, [TaskOption::task_id("g1")])
        .instrument(tracing::info_span!("elsewhere"))
        .await
        .expect("enqueue");
    assert_eq!(info.headers.get("traceparent"), Some(&traceparent));
    assert!(!info.headers.contains_key("tracestate"));

    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(reporting(tx)).await.expect("start");
    recv(&mut rx).await;
    let span = otel.wait_for("redisq.task").await;
    server.shutdown().await;

    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex(trace).expect("trace id")
    );
    assert_eq!(
        span.parent_span_id,
        SpanId::from_hex(parent).expect("span id")
    );
    assert!(span.span_context.is_sampled());
}

#[tokio::test]
async fn a_task_enqueued_outside_any_span_gets_a_trace_of_its_own() {
    let otel = Otel::install();
    let env = Env::start().await;
    // No OpenTelemetry context at all: the enqueue span starts a trace, the task continues it.
    let info = env
        .client
        .enqueue_batch(
            &[Task::new("trace:batch", "a"), Task::new("trace:batch", "b")],
            [],
        )
        .await;
    let headers: Vec<_> = info
        .into_iter()
        .map(|r| r.expect("enqueued").headers)
        .collect();
    let batch = otel.wait_for("redisq.enqueue_batch").await;
    let want = format!(
        "00-{}-{}-01",
        batch.span_context.trace_id(),
        batch.span_context.span_id()
    );
    for h in &headers {
        assert_eq!(h.get("traceparent"), Some(&want));
    }
    assert_eq!(attr(&batch, "batch.size").as_deref(), Some("2"));
    assert_eq!(attr(&batch, "batch.failed").as_deref(), Some("0"));

    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(reporting(tx)).await.expect("start");
    recv(&mut rx).await;
    recv(&mut rx).await;
    wait_until("two exported redisq.task spans", || async {
        otel.named("redisq.task").len() == 2
    })
    .await;
    server.shutdown().await;
    for span in otel.named("redisq.task") {
        assert_eq!(span.span_context.trace_id(), batch.span_context.trace_id());
        assert_eq!(span.parent_span_id, batch.span_context.span_id());
    }
}
