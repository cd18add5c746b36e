//! The application's instruments through the pipeline's metrics exporter: several threads
//! record, the receiver's `/v1/metrics` gets them every interval under the engine's scope,
//! and the last export holds exactly what was recorded (cumulative, one start per series
//! across exports); with `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta` the
//! delta points of every export add up to what was recorded, nothing lost and nothing
//! counted twice. Every data point handed is exported (the exporter's counts). The last
//! cumulative request and what it must hold are written to `target/tmp/app-metrics/` for
//! `.ci/run`, where the Python bindings decode it (`transport/tests/app_metrics/check.py`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use ringspan::ValueRef;
use ringspan_transport::{ExporterConfig, MetricsExport, ObserveConfig, Pipeline, Signal};

const THREADS: u64 = 3;
const PER_THREAD: u64 = 20_000;

/// The application's metrics of one request: the scope after ringspan's own.
fn app_metrics(req: &ExportMetricsServiceRequest) -> Vec<Metric> {
    let rm = &req.resource_metrics[0];
    assert_eq!(rm.scope_metrics[0].scope.as_ref().unwrap().name, "ringspan");
    match rm.scope_metrics.get(1) {
        Some(sm) => {
            assert_eq!(sm.scope.as_ref().unwrap().name, "app-metrics-test");
            sm.metrics.clone()
        }
        None => Vec::new(),
    }
}

fn find<'a>(metrics: &'a [Metric], name: &str) -> Option<&'a Metric> {
    metrics.iter().find(|m| m.name == name)
}

/// Records `PER_THREAD` requests of each of `THREADS` threads: the counter by 1 each, the
/// histogram `i % 100` (ms), while the pipeline exports every 50 ms.
fn record(pipeline: &Arc<Pipeline>) {
    let engine = pipeline.engine();
    let served = engine
        .metric("app.requests")
        .unit("{request}")
        .attributes(&[("route", ValueRef::Str("/orders"))])
        .counter()
        .unwrap();
    let latency = engine.metric("app.latency").unit("ms").histogram().unwrap();
    let depth = engine.metric("app.queue").up_down_counter().unwrap();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let (served, latency, depth) = (served.clone(), latency.clone(), depth.clone());
            s.spawn(move || {
                let p = engine.producer().unwrap();
                for i in 0..PER_THREAD {
                    served.add(&p, 1);
                    latency.record(&p, (i % 100) as f64);
                    depth.add(&p, if i % 2 == 0 { 1 } else { -1 });
                    if i % 5_000 == 0 {
                        // Spread over several exports.
                        std::thread::sleep(Duration::from_millis(30));
                    }
                }
            });
        }
    });
}

fn start(temporality: &str) -> (ringspan_receiver::Receiver, Arc<Pipeline>) {
    let receiver = receiver();
    let mut config = config(&receiver.endpoint());
    config.engine = config.engine.rings(4).scope("app-metrics-test");
    let lookup = env(&[
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "50"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            temporality,
        ),
    ]);
    let observe = ObserveConfig::from_lookup(lookup).unwrap();
    let from_env = observe.metrics_setting().unwrap();
    assert_eq!(from_env.interval_setting(), Duration::from_millis(50));
    let exporter = ExporterConfig::for_signal(Signal::Metrics)
        .base_endpoint(&receiver.endpoint())
        .unwrap()
        .retry(fast_retry());
    config.observe = config.observe.export_metrics(
        MetricsExport::new(exporter)
            .unwrap()
            .interval(Duration::from_millis(50))
            .temporality(from_env.temporality_setting()),
    );
    (receiver, Arc::new(Pipeline::start(config).unwrap()))
}

/// Shuts down and checks the exporter's accounting; returns the requests the receiver got.
fn finish(
    receiver: &ringspan_receiver::Receiver,
    pipeline: Arc<Pipeline>,
) -> Vec<ExportMetricsServiceRequest> {
    pipeline.shutdown(Duration::from_secs(10)).unwrap();
    let counts = pipeline.metrics_counts().expect("the metrics exporter ran");
    assert_eq!(counts.handed, counts.exported, "{counts:?}");
    assert_eq!(counts.dropped.total() + counts.rejected, 0, "{counts:?}");
    assert_eq!(receiver.counts().data_points, counts.handed);
    receiver
        .take_metrics()
        .into_iter()
        .map(|s| s.request)
        .collect()
}

fn int(p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint) -> i64 {
    match p.value {
        Some(number_data_point::Value::AsInt(v)) => v,
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn cumulative_exports_end_with_exactly_what_was_recorded() {
    let (receiver, pipeline) = start("cumulative");
    record(&pipeline);
    let seen = finish(&receiver, pipeline);
    let with_app: Vec<Vec<Metric>> = seen
        .iter()
        .map(app_metrics)
        .filter(|m| !m.is_empty())
        .collect();
    assert!(
        with_app.len() >= 3,
        "{} exports carried the instruments",
        with_app.len()
    );
    let mut starts = None;
    let mut last_total = 0;
    for metrics in &with_app {
        let Some(Data::Sum(sum)) = &find(metrics, "app.requests").unwrap().data else {
            panic!("a sum")
        };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, 2);
        let p = &sum.data_points[0];
        let Some(Data::Histogram(h)) = &find(metrics, "app.latency").unwrap().data else {
            panic!("a histogram")
        };
        let hp = &h.data_points[0];
        // Each series keeps one start over every export.
        let these = (p.start_time_unix_nano, hp.start_time_unix_nano);
        assert_eq!(*starts.get_or_insert(these), these);
        assert!(p.time_unix_nano > p.start_time_unix_nano);
        // Cumulative: never back.
        assert!(int(p) >= last_total);
        last_total = int(p);
        assert_eq!(hp.count, hp.bucket_counts.iter().sum::<u64>());
    }
    let last = with_app.last().unwrap();
    let total = THREADS * PER_THREAD;
    let Some(Data::Sum(sum)) = &find(last, "app.requests").unwrap().data else {
        panic!()
    };
    assert_eq!(int(&sum.data_points[0]), total as i64);
    let Some(Data::Sum(depth)) = &find(last, "app.queue").unwrap().data else {
        panic!()
    };
    assert!(!depth.is_monotonic);
    assert_eq!(int(&depth.data_points[0]), 0);
    let Some(Data::Histogram(h)) = &find(last, "app.latency").unwrap().data else {
        panic!()
    };
    let hp = &h.data_points[0];
    assert_eq!(hp.count, total);
    // 0..100 evenly: the sum, and the default bounds' buckets (0, 5, 10, 25, 50, 75, 100).
    let per_cycle: f64 = (0..100).map(f64::from).sum();
    assert_eq!(hp.sum, Some(per_cycle * (total / 100) as f64));
    let cycles = total / 100;
    assert_eq!(
        &hp.bucket_counts[..8],
        &[1, 5, 5, 15, 25, 25, 24, 0].map(|n| n * cycles)[..]
    );
    assert_eq!((hp.min, hp.max), (Some(0.0), Some(99.0)));

    // For the Python bindings (`.ci/run`).
    let dir = format!("{}/app-metrics", env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).unwrap();
    use prost::Message;
    let last_req = seen
        .iter()
        .rev()
        .find(|r| !app_metrics(r).is_empty())
        .unwrap();
    std::fs::write(format!("{dir}/request.pb"), last_req.encode_to_vec()).unwrap();
    let expect = format!(
        "{{\"scope\": \"app-metrics-test\", \"app.requests\": {total}, \"app.latency.count\": {total}, \"app.latency.sum\": {}}}\n",
        per_cycle * cycles as f64
    );
    std::fs::write(format!("{dir}/expected.json"), expect).unwrap();
}

#[test]
fn delta_exports_add_up_to_what_was_recorded() {
    let (receiver, pipeline) = start("delta");
    record(&pipeline);
    let seen = finish(&receiver, pipeline);
    let (mut requests, mut latencies, mut windows) = (0i64, 0u64, Vec::new());
    for metrics in seen.iter().map(app_metrics).filter(|m| !m.is_empty()) {
        let Some(Data::Sum(sum)) = &find(&metrics, "app.requests").unwrap().data else {
            panic!()
        };
        assert_eq!(sum.aggregation_temporality, 1);
        let p = &sum.data_points[0];
        requests += int(p);
        windows.push((p.start_time_unix_nano, p.time_unix_nano));
        let Some(Data::Histogram(h)) = &find(&metrics, "app.latency").unwrap().data else {
            panic!()
        };
        assert_eq!(h.aggregation_temporality, 1);
        let hp = &h.data_points[0];
        assert_eq!(hp.count, hp.bucket_counts.iter().sum::<u64>());
        latencies += hp.count;
        // The up-down counter stays cumulative.
        let Some(Data::Sum(depth)) = &find(&metrics, "app.queue").unwrap().data else {
            panic!()
        };
        assert_eq!(depth.aggregation_temporality, 2);
    }
    assert!(windows.len() >= 3, "{} exports", windows.len());
    // Each window starts where the one before ended.
    for w in windows.windows(2) {
        assert_eq!(w[1].0, w[0].1, "{windows:?}");
    }
    let total = THREADS * PER_THREAD;
    assert_eq!(requests, total as i64);
    assert_eq!(latencies, total);
}

#[test]
fn a_temporality_preference_that_is_not_one_is_an_error_naming_it() {
    let e = ObserveConfig::from_lookup(env(&[
        ("OTEL_METRICS_EXPORTER", "otlp"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "sometimes",
        ),
    ]))
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
            && text.contains("sometimes"),
        "{text}"
    );
}
