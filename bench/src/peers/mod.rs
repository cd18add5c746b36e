//! The libraries ringspan is measured against, each recording the same span as ringspan's
//! benches: `order.match` with 4 attributes (i64, f64, string, bool).

pub mod fastrace;
pub mod otel_logs;
pub mod otel_metrics;
pub mod otel_sdk;
pub mod tracing_otel;
