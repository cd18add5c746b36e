//! What a `tracing` user calls on a span to cross a process boundary: read its context (to
//! send a `traceparent` on) and give it a remote parent (from a received `traceparent`).

use crate::model::ids::SpanContext;

use super::TracingLayer;

/// ringspan's context of a `tracing` span, and its remote parent: the counterpart of
/// tracing-opentelemetry's `OpenTelemetrySpanExt` for spans that [`TracingLayer`] records.
///
/// # Examples
/// ```
/// use ringspan::{format_traceparent, parse_traceparent, Discard, Engine, EngineConfig, TracingSpanExt};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let engine = Engine::start(EngineConfig::default().rings(2).ring_capacity(64), Discard::default()).unwrap();
/// let subscriber = tracing_subscriber::registry().with(engine.tracing_layer());
/// tracing::subscriber::with_default(subscriber, || {
///     // A request came in with this header:
///     let incoming = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
///     let span = tracing::info_span!("http.request", otel.kind = "server");
///     assert!(span.set_parent(incoming));
///     let cx = span.span_context().unwrap();
///     assert_eq!(cx.trace_id, incoming.trace_id);
///     // The header to send downstream:
///     let outgoing = format_traceparent(&cx);
///     assert!(outgoing.as_str().starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
/// });
/// ```
pub trait TracingSpanExt {
    /// Makes `parent` (typically parsed from a `traceparent` header) this span's parent: its
    /// trace becomes `parent`'s and sampling is decided again, as it would be for a span
    /// started with that parent. Call it before the span is entered or gets children (they
    /// keep the trace they started in). A span that becomes sampled here starts here, and the
    /// fields it was given while unsampled are not kept. Returns `false` when the span is not
    /// recorded by a [`TracingLayer`] (disabled, another subscriber) or another thread was
    /// writing it at that instant.
    fn set_parent(&self, parent: SpanContext) -> bool;

    /// This span's context (to send on as a `traceparent`), if a [`TracingLayer`] records it.
    fn span_context(&self) -> Option<SpanContext>;
}

impl TracingSpanExt for tracing::Span {
    fn set_parent(&self, parent: SpanContext) -> bool {
        let Some(name) = self.metadata().map(|m| m.name()) else {
            return false;
        };
        self.with_subscriber(|(id, dispatch)| {
            dispatch
                .downcast_ref::<TracingLayer>()
                .is_some_and(|layer| layer.set_parent(id, parent, name))
        })
        .unwrap_or(false)
    }

    fn span_context(&self) -> Option<SpanContext> {
        self.with_subscriber(|(id, dispatch)| {
            dispatch
                .downcast_ref::<TracingLayer>()
                .and_then(|layer| layer.context(id))
        })
        .flatten()
    }
}
