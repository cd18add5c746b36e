//! OTLP encoding: drained span records become `ExportTraceServiceRequest` protobuf bytes,
//! written field by field from the records into pooled buffers, with no intermediate message
//! structs and no allocation per span.
//!
//! - [`wire`](self) sizes and writes protobuf fields with prost's varint and key primitives;
//! - `span` sizes and writes one `Span` from a [`crate::SpanRecord`];
//! - [`Resource`] is encoded once, when the sink is built;
//! - [`OtlpSink`] assembles requests (see its module docs for the buffer layout) and hands
//!   them to an [`Exporter`].
//!
//! The bytes are canonical: the same as prost's encoding of the equivalent
//! `opentelemetry-proto` message (tested byte for byte in `engine/tests/otlp.rs`).

mod resource;
mod sink;
mod span;
mod wire;

pub use resource::{Resource, ResourceValue};
pub use sink::{
    EncodedRequest, Exporter, OtlpConfig, OtlpSink, OtlpStats, EXTRA_SCOPES, OTLP_MAX_BYTES,
};
