//! opentelemetry_sdk's metrics as its users set them up: an `SdkMeterProvider` with a
//! `PeriodicReader` (its default 60 s interval) and an exporter that records the last
//! values it was handed (cumulative, the SDK's default), instruments made once, attributes
//! built once as static strings and passed by reference on every call.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};

/// What the exporter was last handed: the counter's sum and the histogram's count.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub counter: u64,
    pub histogram: u64,
}

/// Keeps the last values of `bench.counter` and `bench.histogram` it is handed.
#[derive(Debug, Clone, Default)]
pub struct LastValues(pub Arc<Mutex<Seen>>);

impl PushMetricExporter for LastValues {
    fn export(
        &self,
        metrics: &ResourceMetrics,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let mut seen = self.0.lock().unwrap();
        for m in metrics.scope_metrics().flat_map(|s| s.metrics()) {
            match (m.name(), m.data()) {
                ("bench.counter", AggregatedMetrics::U64(MetricData::Sum(s))) => {
                    seen.counter = s.data_points().map(|p| p.value()).sum();
                }
                ("bench.histogram", AggregatedMetrics::F64(MetricData::Histogram(h))) => {
                    seen.histogram = h.data_points().map(|p| p.count()).sum();
                }
                _ => {}
            }
        }
        std::future::ready(Ok(()))
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// The provider, a counter and a histogram (the SDK's default bounds), the attributes
/// every call passes, and what the exporter saw. The reader's thread is started on the
/// drain core, then the caller is pinned to the producer core.
pub struct Setup {
    pub provider: SdkMeterProvider,
    pub counter: Counter<u64>,
    pub histogram: Histogram<f64>,
    pub attributes: [KeyValue; 1],
    pub seen: Arc<Mutex<Seen>>,
}

pub fn setup() -> Setup {
    crate::pin_drain();
    let exporter = LastValues::default();
    let seen = Arc::clone(&exporter.0);
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter).build())
        .build();
    let meter = provider.meter("bench");
    let counter = meter.u64_counter("bench.counter").build();
    let histogram = meter
        .f64_histogram("bench.histogram")
        .with_unit("us")
        .build();
    crate::pin_producer();
    Setup {
        provider,
        counter,
        histogram,
        attributes: [KeyValue::new("route", "/orders")],
        seen,
    }
}

impl Setup {
    /// What the exporter holds after a flush.
    pub fn flushed(&self) -> Seen {
        self.provider.force_flush().expect("flush");
        *self.seen.lock().unwrap()
    }
}
