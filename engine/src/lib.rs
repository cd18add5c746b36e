//! ringspan: record OpenTelemetry spans in tens of nanoseconds, on pinned cores, without
//! allocating, locking or blocking, and account for every one of them.
//!
//! # Quickstart
//! ```
//! use std::time::Duration;
//! use ringspan::{Engine, EngineConfig, Value, sink::Discard};
//!
//! // One engine per process: a fixed pool of rings, a drain thread and a sink.
//! let sink = Discard::default();
//! let engine = Engine::start(EngineConfig::default().rings(2).ring_capacity(1024), sink.clone())?;
//!
//! // A hot thread claims a producer (`engine.pin(core)` also pins the thread to a core).
//! let producer = engine.producer()?;
//! {
//!     let mut span = producer.span("match_order");
//!     span.set_attrs(&[("order.id", Value::i64(7)), ("side", Value::str("buy"))]);
//!     let _child = producer.span("risk_check"); // nested: a child of match_order
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
//! `Producer` (one per thread, [`producer`]) -> SPSC [`ring`] of fixed-size [`record`]s ->
//! the drain thread ([`drain`]) -> a [`Sink`]: the OTLP encoder ([`otlp::OtlpSink`], which hands
//! finished `ExportTraceServiceRequest` bytes to an [`otlp::Exporter`]), or your own.
//! Timestamps come from the TSC where it is invariant ([`clock`]); sampling is decided at the
//! root ([`sampler`]); W3C [`traceparent`] headers cross process boundaries.
//!
//! # Losing nothing silently
//! Each sampled span is either delivered to the sink or counted in [`Snapshot::dropped`] by
//! reason: ring full, producer stack too deep, no ring for the thread, or shutdown. See
//! [`stats`].
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod alloc_counter;
pub mod clock;
pub mod config;
pub mod drain;
mod engine;
pub mod env;
mod error;
pub mod ids;
mod lane;
mod local;
pub mod otlp;
pub(crate) mod prefetch;
pub mod producer;
pub mod record;
pub mod ring;
pub mod sampler;
pub mod sink;
mod span;
pub mod stats;
mod sync;
pub mod traceparent;
pub mod value;

pub use config::{ClockChoice, EngineConfig, IdleStrategy};
pub use drain::Sink;
pub use engine::Engine;
pub use error::Error;
pub use ids::{SpanContext, SpanId, TraceFlags, TraceId};
pub use producer::{Parent, Producer};
pub use record::{SpanKind, SpanRecord, Status};
pub use sampler::Sampler;
pub use span::Span;
pub use stats::{Dropped, Snapshot};
pub use value::{Value, ValueRef};
