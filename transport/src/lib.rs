//! ringspan's transport: ship the encoder's OTLP requests to any OTLP/HTTP endpoint
//! (OpenTelemetry Collector, Jaeger, Tempo, vendors) the way the OTLP specification asks.
//! The embedded OTLP/HTTP receiver that the tests and the harness measure against is a
//! package of its own (`ringspan-receiver`, in `transport/receiver/`), so an application
//! linking the exporter carries no server code.
//!
//! # Quickstart
//! In a service, one call reads the standard `OTEL_*` variables and starts everything:
//! ```no_run
//! use std::time::Duration;
//! use ringspan_transport::Pipeline;
//!
//! let pipeline = Pipeline::from_env()?; // OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, ...
//! let producer = pipeline.engine().pin(2)?; // this thread, pinned to core 2
//! {
//!     let mut span = producer.span("match_order");
//!     span.set_attr("order.id", 42);
//! }
//! drop(producer);
//! let report = pipeline.shutdown(Duration::from_secs(5))?;
//! println!("{} recorded, {} exported, {} dropped", report.recorded, report.exported, report.dropped_total());
//! # Ok::<(), ringspan_transport::Error>(())
//! ```
//! The same against the embedded receiver (`ringspan-receiver`), with the configuration in
//! code:
//! ```
//! use std::time::Duration;
//! use ringspan_receiver::{Receiver, ReceiverConfig};
//! use ringspan_transport::{Compression, Pipeline, PipelineConfig};
//!
//! let receiver = Receiver::start(ReceiverConfig::default())?;
//! let mut config = PipelineConfig::default();
//! config.engine = config.engine.rings(1).ring_capacity(1024);
//! config.exporter = config.exporter.base_endpoint(&receiver.endpoint())?.compression(Compression::Gzip);
//! let pipeline = Pipeline::start(config)?;
//! let producer = pipeline.engine().producer()?;
//! for _ in 0..100 {
//!     drop(producer.span("tick"));
//! }
//! drop(producer);
//! let report = pipeline.shutdown(Duration::from_secs(5))?;
//! assert_eq!(report.exported, 100);
//! assert_eq!(receiver.counts().spans, 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The data path
//! producers -> rings -> drain -> [`ringspan::otlp::OtlpSink`] (encoder, pooled buffers) ->
//! [`HttpExporter`] (this crate: [`exporter`] hands off, [`retry`] decides, a hyper client
//! sends) -> the collector. [`Pipeline`] wires them; in tests, `ringspan_receiver::Receiver` plays the collector.
//!
//! # Nothing lost silently
//! Every span the encoder hands over is exported, rejected by the collector (partial success),
//! or dropped by reason ([`ExportDropped`]); [`Report`] adds the engine's own drops, so that
//! after shutdown `recorded = exported + rejected + dropped` holds exactly.
#![deny(missing_docs)]
#![deny(unsafe_code)]

#[cfg(feature = "admin")]
pub mod admin;
mod client;
pub mod config;
pub mod env;
mod error;
pub mod exporter;
pub mod observe;
mod pipeline;
pub mod retry;
mod send;
mod stats;
mod worker;

#[cfg(feature = "admin")]
pub use admin::{Admin, AdminConfig};
pub use config::{Compression, ExporterConfig, Roots, Signal};
pub use error::Error;
pub use exporter::{ExporterHandle, HttpExporter};
pub use observe::{MetricsExport, ObserveConfig};
pub use pipeline::{LogsExport, LogsReport, Pipeline, PipelineConfig, Report};
pub use retry::RetryPolicy;
pub use send::MAX_RESPONSE_BYTES;
pub use stats::{ExportCounts, ExportDropped, ExportStats};
