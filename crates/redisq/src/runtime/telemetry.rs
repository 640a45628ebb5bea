//! Trace context carried in task headers, so one trace runs from the code that enqueues a
//! task to the handler that processes it, across processes and across Go and Rust.
//!
//! With the `opentelemetry` feature the client writes the W3C Trace Context of the current
//! `tracing` span (as seen by `tracing-opentelemetry`) into the headers `traceparent` and
//! `tracestate`, and the server makes each attempt's `redisq.task` span a child of the context
//! it finds there. The format is always W3C Trace Context, whatever global propagator the
//! application installed: it is what Go's OpenTelemetry uses by default
//! (`propagation.TraceContext`), so a Go asynq service that copies its context into the same
//! headers joins the same trace, and Go asynq itself keeps the headers as they are.
//!
//! Without the feature both functions do nothing and cost nothing.

use std::collections::BTreeMap;

use tracing::Span;

/// The W3C header with the trace ID, parent span ID and sampling flag.
#[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
pub(crate) const TRACEPARENT: &str = "traceparent";
/// The W3C header with vendor-specific trace state.
#[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
pub(crate) const TRACESTATE: &str = "tracestate";

/// Writes the trace context of the current span into `headers`, unless the headers already
/// carry a trace context (`traceparent` or `tracestate`, in any letter case), which is kept as
/// it is. Nothing is written when there is no valid span context, e.g. when no OpenTelemetry
/// layer is installed.
#[inline]
pub(crate) fn inject_current(headers: &mut BTreeMap<String, String>) {
    #[cfg(feature = "opentelemetry")]
    otel::inject(&Span::current(), headers);
    #[cfg(not(feature = "opentelemetry"))]
    let _ = headers;
}

/// Makes the trace context in `headers` the parent of `span`, which must not have been
/// entered yet. Headers without a valid `traceparent` leave the span as it is.
#[inline]
pub(crate) fn set_remote_parent(span: &Span, headers: &BTreeMap<String, String>) {
    #[cfg(feature = "opentelemetry")]
    otel::set_parent(span, headers);
    #[cfg(not(feature = "opentelemetry"))]
    let _ = (span, headers);
}

/// The value of a header, looked up exactly first and then ignoring letter case (a Go service
/// may have written `Traceparent`).
#[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
fn header<'a>(headers: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .or_else(|| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .map(String::as_str)
}

#[cfg(feature = "opentelemetry")]
mod otel {
    use std::collections::BTreeMap;

    use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::{TRACEPARENT, TRACESTATE, header};

    pub(super) fn inject(span: &Span, headers: &mut BTreeMap<String, String>) {
        if span.is_disabled()
            || header(headers, TRACEPARENT).is_some()
            || header(headers, TRACESTATE).is_some()
        {
            return;
        }
        let cx = span.context();
        if !cx.span().span_context().is_valid() {
            return;
        }
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
    }

    pub(super) fn set_parent(span: &Span, headers: &BTreeMap<String, String>) {
        if span.is_disabled() || header(headers, TRACEPARENT).is_none() {
            return;
        }
        let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        if cx.span().span_context().is_valid() {
            // Fails only when no OpenTelemetry layer sees the span: nothing to link then.
            let _ = span.set_parent(cx);
        }
    }

    struct HeaderInjector<'a>(&'a mut BTreeMap<String, String>);

    impl Injector for HeaderInjector<'_> {
        fn set(&mut self, key: &str, value: String) {
            // An empty `tracestate` says nothing; leave the header out.
            if !value.is_empty() {
                self.0.insert(key.to_string(), value);
            }
        }
    }

    struct HeaderExtractor<'a>(&'a BTreeMap<String, String>);

    impl Extractor for HeaderExtractor<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            header(self.0, key)
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(String::as_str).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_in_any_letter_case() {
        let h = BTreeMap::from([("Traceparent".to_string(), "x".to_string())]);
        assert_eq!(header(&h, TRACEPARENT), Some("x"));
        assert_eq!(header(&h, TRACESTATE), None);
    }

    #[test]
    fn nothing_is_injected_without_a_span() {
        let mut h = BTreeMap::new();
        inject_current(&mut h);
        assert!(h.is_empty());
    }

    #[cfg(feature = "opentelemetry")]
    mod otel {
        use std::collections::BTreeMap;

        use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
        use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
        use tracing_subscriber::layer::SubscriberExt;

        use super::super::{inject_current, set_remote_parent};

        fn with_otel(f: impl FnOnce()) -> Vec<opentelemetry_sdk::trace::SpanData> {
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(exporter.clone())
                .build();
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("t"));
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
            exporter.get_finished_spans().expect("spans")
        }

        #[test]
        fn the_current_span_is_injected_without_an_empty_tracestate() {
            let mut h = BTreeMap::new();
            let spans = with_otel(|| {
                let _s = tracing::info_span!("enqueue").entered();
                inject_current(&mut h);
            });
            let sc = &spans[0].span_context;
            let want = format!("00-{}-{}-01", sc.trace_id(), sc.span_id());
            assert_eq!(h.get("traceparent"), Some(&want));
            assert!(!h.contains_key("tracestate"));
        }

        #[test]
        fn a_trace_context_set_by_hand_is_kept() {
            for key in ["traceparent", "TraceParent", "tracestate"] {
                let mut h = BTreeMap::from([(key.to_string(), "mine".to_string())]);
                with_otel(|| {
                    let _s = tracing::info_span!("enqueue").entered();
                    inject_current(&mut h);
                });
                assert_eq!(h.len(), 1, "{key}: {h:?}");
                assert_eq!(h[key], "mine");
            }
        }

        #[test]
        fn a_remote_parent_is_read_in_any_letter_case() {
            let h = BTreeMap::from([(
                "Traceparent".to_string(),
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string(),
            )]);
            let spans = with_otel(|| {
                let span = tracing::info_span!("task");
                set_remote_parent(&span, &h);
            });
            let span = &spans[0];
            assert_eq!(
                span.span_context.trace_id(),
                TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex")
            );
            assert_eq!(
                span.parent_span_id,
                SpanId::from_hex("b7ad6b7169203331").expect("hex")
            );
        }

        #[test]
        fn a_malformed_traceparent_leaves_a_root_span() {
            let h = BTreeMap::from([("traceparent".to_string(), "garbage".to_string())]);
            let spans = with_otel(|| {
                let span = tracing::info_span!("task");
                set_remote_parent(&span, &h);
            });
            assert_eq!(spans[0].parent_span_id, SpanId::INVALID);
        }
    }
}
