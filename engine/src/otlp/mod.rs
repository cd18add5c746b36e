//! OTLP encoding: drained span records become `ExportTraceServiceRequest` protobuf bytes,
//! written field by field from the records into pooled buffers, with no intermediate message
//! structs and no allocation per span.
//!
//! - `wire.rs` sizes and writes protobuf fields with prost's varint and key primitives;
//! - `span.rs` sizes and writes one `Span` from a [`crate::SpanRecord`], `log.rs` one
//!   `LogRecord` from a [`crate::LogRecord`];
//! - [`Resource`] is encoded once, when the sink is built;
//! - [`MetricsRequest`] (`metrics.rs`) writes an `ExportMetricsServiceRequest` (sums, gauges,
//!   histograms), for the pipeline's own metrics and the engine's instruments;
//! - [`MetricsEncoder`] (`instruments.rs`) writes the instruments' readings into one,
//!   cumulative or delta;
//! - [`OtlpSink`] (`otlp_sink.rs`) assembles requests, laid out so that nothing is moved once
//!   written, and hands them to an [`Exporter`]: `ExportTraceServiceRequest`s, and
//!   `ExportLogsServiceRequest`s (`otlp_sink/logs.rs`) for the exporter given to
//!   [`OtlpSink::with_logs`].
//!
//! Limits: a request stays within `max_bytes` and `max_spans`; a span too large for any
//! request is dropped and counted as `dropped.too_large`. With no free buffer the sink takes
//! nothing, so the drain stops, rings fill and producers drop and count.
//!
//! The bytes are canonical: the same as prost's encoding of the equivalent
//! `opentelemetry-proto` message (tested byte for byte in `engine/tests/otlp.rs`).

mod instruments;
mod log;
mod metrics;
mod otlp_sink;
mod resource;
mod span;
mod wire;

pub use instruments::{MetricsEncoder, TemporalityPreference};
pub use metrics::{HistogramPoint, MetricMeta, MetricsRequest, Number, NumberPoint, Temporality};
pub use otlp_sink::{
    EncodedRequest, Exporter, OtlpConfig, OtlpSink, OtlpStats, EXTRA_SCOPES, OTLP_MAX_BYTES,
};
pub use resource::{Resource, ResourceValue};
