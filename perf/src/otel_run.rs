//! The same workload through opentelemetry_sdk, configured as its users would in production:
//! a `SdkTracerProvider` with the `BatchSpanProcessor` (its defaults: queue 2048, batches of
//! 512, 5 s delay) and opentelemetry-otlp's HTTP/protobuf exporter (its default blocking
//! client), to the same endpoint. The SDK does not report what it drops, so its drops are
//! what the receiver never got: `unreported`.

use std::time::Duration;

use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use ringspan::Calibration;
use serde_json::{json, Map};

use crate::args::Args;
use crate::report::LibReport;
use crate::target::Target;
use crate::workload::{self, KEYS};
use crate::{procfs, ALLOC};

/// The attributes of span `n` (the same values ringspan records).
fn attributes(n: u64, attrs: usize) -> Vec<KeyValue> {
    let all = [
        KeyValue::new(KEYS[0], n as i64),
        KeyValue::new(KEYS[1], 100.0),
        KeyValue::new(KEYS[2], "buy"),
        KeyValue::new(KEYS[3], n % 2 == 0),
        KeyValue::new(KEYS[4], "XNAS"),
        KeyValue::new(KEYS[5], 42),
        KeyValue::new(KEYS[6], 101.25),
        KeyValue::new(KEYS[7], 0),
    ];
    all.into_iter().take(attrs).collect()
}

pub fn run(
    args: &Args,
    cal: &Calibration,
    cores: &[Option<usize>],
    target: &Target,
) -> Result<LibReport, String> {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", target.url.trim_end_matches('/')))
        .build()
        .map_err(|e| format!("opentelemetry-otlp exporter: {e}"))?;
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(2048)
                .with_max_export_batch_size(512)
                .with_scheduled_delay(Duration::from_secs(5))
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            Resource::builder()
                .with_service_name("ringspan-perf-otel")
                .build(),
        )
        .build();
    let before = target.counts()?;
    let rss_start = procfs::rss_bytes();
    let phase = workload::run(
        args,
        cal,
        cores,
        false,
        || ALLOC.allocations(),
        || target.receiver_rss(),
        |_, core| {
            if let Some(c) = core {
                core_affinity::set_for_current(core_affinity::CoreId { id: c });
            }
            let tracer = provider.tracer("ringspan-perf");
            let attrs = args.attrs;
            move |n| {
                let mut span = tracer
                    .span_builder("perf.request")
                    .with_attributes(attributes(n, attrs))
                    .start(&tracer);
                span.end();
            }
        },
    );
    let flushed = provider.force_flush();
    let shut = provider.shutdown_with_timeout(Duration::from_secs(30));
    let rss_end = procfs::rss_bytes();
    let after = target.counts()?;

    let mut dropped = Map::new();
    let mut extra = Map::new();
    let (exported, identity) = match (before, after) {
        (Some(b), Some(a)) => {
            let got = a.accepted - b.accepted;
            dropped.insert("unreported".into(), json!(phase.spans.saturating_sub(got)));
            extra.insert("otlp_requests".into(), json!(a.requests - b.requests));
            extra.insert("otlp_bytes".into(), json!(a.bytes - b.bytes));
            (
                got,
                Ok("exported = what the receiver accepted; dropped = the rest, which the SDK does not count".into()),
            )
        }
        _ => (
            0,
            Err("external endpoint: what the SDK delivered is unknown (it counts nothing)".into()),
        ),
    };
    if let Err(e) = flushed.and(shut) {
        extra.insert("shutdown_error".into(), json!(e.to_string()));
    }
    let cpu = phase.cpu_by_role(
        [
            ("batch_processor", "OpenTelemetry.T"),
            ("http_client", "reqwest-"),
        ]
        .into_iter()
        .chain(target.cpu_role()),
    );
    Ok(LibReport {
        library: "opentelemetry_sdk",
        setup: format!(
            "SdkTracerProvider + BatchSpanProcessor (queue 2048, batch 512, 5 s) + opentelemetry-otlp HTTP/protobuf to {}",
            target.url
        ),
        recorded: phase.spans,
        exported,
        rejected: 0,
        dropped_by_reason: dropped,
        background_cpu: phase.cpu_of("OpenTelemetry.T") + phase.cpu_of("reqwest-"),
        null: None,
        seconds: args.duration.as_secs_f64(),
        histogram: phase.histogram(),
        allocs_per_span: phase.allocs_per_span(),
        rss_start,
        rss_end,
        rss_steady: phase.rss_samples.clone(),
        receiver_rss: phase.receiver_rss_samples.clone(),
        preallocated: None,
        cpu,
        extra,
        identity,
    })
}
