//! ringspan: record OpenTelemetry spans in tens of nanoseconds, on pinned cores, without
//! allocating, locking or blocking, and account for every one of them.
//!
//! # Quickstart
//! ```
//! use std::time::Duration;
//! use ringspan::{callsite, Discard, Engine, EngineConfig, Value};
//!
//! // One engine per process: a fixed pool of lanes (rings), a drain thread and a sink.
//! let sink = Discard::default();
//! let engine = Engine::start(EngineConfig::default().rings(2).ring_capacity(1024), sink.clone())?;
//!
//! // A hot thread claims a producer (`engine.pin(core)` also pins the thread to a core).
//! let producer = engine.producer()?;
//! {
//!     // The fast path: static facts in a callsite, only ids, times and values per span.
//!     let mut span = producer.span_at(callsite!("match_order", "order.id", "side"));
//!     span.set_values(&[Value::i64(7), Value::str("buy")]);
//!     // The keyed API: any static name and keys.
//!     let mut child = producer.span("risk_check"); // nested: a child of match_order
//!     child.set_attrs(&[("limit", Value::i64(1000))]);
//! }
//! drop(producer);
//!
//! // Every span is delivered or counted as dropped, by reason.
//! let totals = engine.shutdown(Duration::from_secs(1))?;
//! assert_eq!(totals.recorded, 2);
//! assert_eq!(totals.delivered, 2);
//! assert!(totals.is_balanced());
//! assert_eq!(sink.spans(), 2);
//! # Ok::<(), ringspan::Error>(())
//! ```
//!
//! # The data path
//! ```text
//! hot thread (pinned core)        SPSC ring               drain thread          exporter
//!   Producer ──write slot──> preallocated slots ──batch pop──> Sink ──bytes──> otlp::Exporter
//!   produce/                 ring/                 drain/        otlp/
//! ```
//! The source tree follows the data: `produce/` (the [`Producer`], its [`Span`] guards, the
//! ring pool, sampling and W3C trace context), `ring/` (the SPSC [`Ring`]), `drain/` (the drain
//! thread, the [`Sink`] trait and the flush/shutdown handshake), `otlp/` (the encoder,
//! [`otlp::OtlpSink`], which hands finished `ExportTraceServiceRequest` bytes to an
//! [`otlp::Exporter`]), and `model/` for what they all share ([`Callsite`], the 128-byte
//! [`CompactRecord`] of a callsite span, the full [`SpanRecord`], [`Value`], ids). Each lane
//! has two span rings: compact records (spans started with [`Producer::span_at`] that keep to
//! their callsite) and full records (the keyed API, and callsite spans that outgrew theirs);
//! and a third for [`LogRecord`]s ([`Producer::log`], and the `tracing` and `log` bridges),
//! encoded into `ExportLogsServiceRequest`s for the exporter given to
//! [`otlp::OtlpSink::with_logs`]. Metric instruments ([`Engine::metric`]) record into cells
//! beside each ring.
//! Timestamps come from the TSC where it is invariant ([`Clock`]); sampling is decided at the
//! root ([`Sampler`]); W3C `traceparent` headers ([`parse_traceparent`]) cross process
//! boundaries.
//!
//! # Losing nothing silently
//! Each sampled span is either delivered to the sink or counted in [`Snapshot::dropped`] by
//! reason: ring full, producer stack too deep, no ring for the thread, or shutdown. The
//! identity, `recorded = delivered + dropped + in_rings`, is exact after shutdown
//! ([`Snapshot::is_balanced`]). Log records have the same identity of their own
//! ([`Snapshot::logs`], [`LogsSnapshot::is_balanced`]).
//!
//! # Configuration from the environment
//! [`EngineConfig::from_env`] and [`otlp::OtlpConfig::from_env`] read the standard variables;
//! values set in code win over the environment, which wins over the defaults. An empty
//! variable counts as unset; anything else that does not parse is an error naming the
//! variable and its value.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_BSP_SCHEDULE_DELAY` | ms between scheduled flushes | 5000 |
//! | `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | spans per request (must not exceed the queue size) | 512 |
//! | `OTEL_BSP_MAX_QUEUE_SIZE` | the whole queue, as the spec means it: the rings of full records together hold at least this many spans (an even share per ring, rounded up to a power of two; `EngineConfig::rings` set afterwards re-splits it, `ring_capacity` overrides it). A queue whose memory is over `EngineConfig::memory_limit` (1 GiB) or the machine is an error naming the variable and the bytes | ringspan's own: 8192 per ring, 64 Ki over the default 8 rings (the spec's 2048 is 2 ms at 1 M spans/s) |
//! | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio` | `parentbased_always_on` |
//! | `OTEL_TRACES_SAMPLER_ARG` | the ratio for the `*traceidratio` samplers | 1.0 |
//! | `OTEL_SERVICE_NAME` | `service.name` (wins over the same key in the next one) | `unknown_service` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,...`, percent-encoded (W3C baggage format) | none |
//!
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(unreachable_pub)]

// Stored values keep a pointer or 64 bits in one 8-byte cell (`model/value.rs`), and ids
// travel as machine words: a 32-bit target would leave half of a pointer cell uninitialised.
#[cfg(not(target_pointer_width = "64"))]
compile_error!("ringspan needs a 64-bit target");

mod clock;
mod collect;
mod config;
mod drain;
mod engine;
mod env;
mod error;
mod model;
pub mod otlp;
mod prefetch;
mod produce;
mod ring;
mod stats;
mod sync;

pub use clock::{Calibration, Clock, ClockSource, MAX_DRIFT_NS};
pub use collect::{MetricsReading, SeriesValue};
pub use config::{ClockChoice, EngineConfig, IdleStrategy, DEFAULT_MEMORY_LIMIT, MAX_DEPTH};
pub use drain::sink::{Discard, Sink};
pub use engine::Engine;
pub use env::{from_process_env, var as env_var};
pub use error::Error;
pub use model::callsite::Callsite;
pub use model::compact::{CompactRecord, MAX_CALLSITE_KEYS};
pub use model::entry::{EventRef, LinkRef, MAX_EVENT_ATTRS, MAX_LINK_ATTRS};
pub use model::ids::{IdGenerator, SpanContext, SpanId, TraceFlags, TraceId};
pub use model::log::{LogRecord, Severity, MAX_LOG_ATTRS};
pub use model::record::{SpanKind, SpanRecord, Status, ARENA_BYTES, MAX_ATTRS, MAX_EVENTS};
pub use model::value::{Value, ValueRef};
pub use produce::guard::Span;
#[cfg(feature = "tracing")]
pub use produce::layer::{TracingLayer, TracingSpanExt};
#[cfg(feature = "log")]
pub use produce::log_facade::LogBridge;
#[doc(hidden)]
pub use produce::metric::cells::MetricCells;
pub use produce::metric::registry::{InstrumentKind, MAX_SERIES};
pub use produce::metric::{
    Counter, Gauge, Histogram, MetricBuilder, UpDownCounter, DEFAULT_BOUNDS,
};
#[cfg(feature = "opentelemetry")]
pub use produce::otel::{OtelSpan, OtelTracer, OtelTracerProvider, MAX_KEY_BYTES, MAX_SCOPES};
pub use produce::pool::AbandonedSpan;
pub use produce::producer::{Parent, Producer};
pub use produce::sampler::Sampler;
pub use produce::span_table::{SpanTable, TableMiss, MAX_PROBE};
pub use produce::traceparent::{
    format as format_traceparent, parse as parse_traceparent, Traceparent, TraceparentError,
    TRACEPARENT_LEN,
};
pub use produce::tracestate::{TraceState, TraceStateError, MAX_MEMBERS, MAX_TRACESTATE_LEN};
// Public for the loom models (`loom-tests/tests/keepalive.rs`); its invariants are the
// engine's, checked only in debug builds, so it is not part of the documented API.
#[doc(hidden)]
pub use produce::travel::keepalive::Keepalive;
pub use produce::travel::pool::SlotPool;
pub use produce::travel::{InSpan, TravelSpan};
pub use produce::watch::OpenWatch;
pub use ring::{Full, PushError, ReadChunk, Ring, RingConsumer, RingProducer, WriteChunk};
pub use stats::{Dropped, LogsDropped, LogsSnapshot, OldestOpen, OpenSpans, RingGauge, Snapshot};
