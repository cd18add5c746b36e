//! opentelemetry_sdk with the `BatchSpanProcessor` (its defaults: queue 2048, batches of 512,
//! 5 s delay) and an exporter that counts and discards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use opentelemetry::trace::{Span as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider, SpanData, SpanExporter};

/// Counts the spans the processor hands over, and drops them.
#[derive(Debug, Clone, Default)]
pub struct CountingExporter(pub Arc<AtomicU64>);

impl SpanExporter for CountingExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        // Relaxed: a statistic read after `force_flush`, which orders it.
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

/// A provider with the batch processor and the counting exporter, and the counter.
pub fn provider(sampled: bool) -> (SdkTracerProvider, Arc<AtomicU64>) {
    let exporter = CountingExporter::default();
    let count = Arc::clone(&exporter.0);
    let sampler = if sampled {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    } else {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOff))
    };
    let provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_batch_exporter(exporter)
        .build();
    (provider, count)
}

/// A provider built with its batch thread on the drain core, then the calling thread pinned
/// to the producer core: the provider, its tracer and the exporter's count.
pub fn setup(sampled: bool) -> (SdkTracerProvider, SdkTracer, Arc<AtomicU64>) {
    crate::pin_drain();
    let (provider, count) = provider(sampled);
    let tracer = tracer(&provider);
    crate::pin_producer();
    (provider, tracer, count)
}

/// Records 1000 spans with `record`, flushes, and checks that the exporter got every one.
pub fn check(provider: &SdkTracerProvider, count: &AtomicU64, mut record: impl FnMut(i64)) {
    let before = count.load(Ordering::Relaxed);
    for i in 0..1000 {
        record(i);
    }
    provider.force_flush().expect("flush");
    assert_eq!(
        count.load(Ordering::Relaxed) - before,
        1000,
        "the exporter gets every span"
    );
}

/// The tracer benches record with.
pub fn tracer(provider: &SdkTracerProvider) -> SdkTracer {
    provider.tracer("ringspan-bench")
}

/// One span: start with 4 attributes (set in one call), end; through any tracer of the
/// opentelemetry API (the SDK's here, ringspan's in `record/otel_api_ringspan`).
#[inline(always)]
pub fn record_one<T: opentelemetry::trace::Tracer>(tracer: &T, i: i64) {
    let mut span = tracer
        .span_builder("order.match")
        .with_attributes([
            KeyValue::new("order.id", i),
            KeyValue::new("order.qty", 100.0),
            KeyValue::new("order.side", "buy"),
            KeyValue::new("order.aggressive", true),
        ])
        .start(tracer);
    span.end();
}
