//! The pipeline's own metrics exported over OTLP (`ObserveConfig::export_metrics`): they
//! reach the receiver's `/v1/metrics` every interval, decode with the OpenTelemetry
//! project's Rust bindings, carry the service's resource, cumulative sums with one fixed
//! start time, the leak report, and at shutdown the final counts, equal to the report's.
//! The last request and what it must hold are written to `target/tmp/self-metrics/` for
//! `.ci/run`, where the Python bindings decode it: `transport/tests/self_metrics/check.py`.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as PbValue;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use ringspan::otlp::Resource;
use ringspan_transport::{ExporterConfig, MetricsExport, Pipeline, Signal};

/// The metrics of a request by name.
fn metrics(req: &ExportMetricsServiceRequest) -> BTreeMap<String, Metric> {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| (m.name.clone(), m.clone()))
        .collect()
}

fn attrs(a: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Vec<(String, String)> {
    a.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(PbValue::StringValue(s)) => s.clone(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

/// The value of a sum's point without attributes.
fn sum_value(m: &BTreeMap<String, Metric>, name: &str) -> i64 {
    let Some(Data::Sum(sum)) = &m[name].data else {
        panic!("{name} is not a sum");
    };
    let p = sum
        .data_points
        .iter()
        .find(|p| p.attributes.is_empty())
        .unwrap_or_else(|| panic!("{name} has no point without attributes"));
    match p.value {
        Some(number_data_point::Value::AsInt(v)) => v,
        ref other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn the_pipelines_own_metrics_reach_the_collector_and_end_with_the_final_counts() {
    let receiver = receiver();
    let mut config = config(&receiver.endpoint());
    config.otlp = config.otlp.resource(Resource::new("self-metrics-test"));
    let exporter = ExporterConfig::for_signal(Signal::Metrics)
        .base_endpoint(&receiver.endpoint())
        .unwrap()
        .retry(fast_retry());
    assert!(exporter
        .endpoint_setting()
        .to_string()
        .ends_with("/v1/metrics"));
    config.observe = config
        .observe
        .open_span_threshold(Duration::from_millis(100))
        .export_metrics(
            MetricsExport::new(exporter)
                .unwrap()
                .interval(Duration::from_millis(200)),
        );
    let pipeline = Arc::new(Pipeline::start(config).unwrap());
    record(&pipeline, "self.metrics", 0, 300);
    // A request stuck in its handler: it shows as a long-open span while it lasts.
    let stuck = HeldSpan::open(&pipeline, "stuck", "stuck.request");
    assert!(
        wait_for(Duration::from_secs(10), || receiver
            .counts()
            .metric_requests
            >= 3),
        "{:?}",
        receiver.counts()
    );
    stuck.end();
    let report = pipeline.shutdown(Duration::from_secs(10)).unwrap();
    assert_settled(&report);
    assert_eq!(report.exported, 301);

    // Accounting in data points: every point handed was exported, and the receiver has them.
    let counts = pipeline.metrics_counts().expect("the metrics exporter ran");
    assert_eq!(counts.handed, counts.exported, "{counts:?}");
    assert_eq!(counts.dropped.total() + counts.rejected, 0, "{counts:?}");
    assert_eq!(receiver.counts().data_points, counts.handed);
    assert_eq!(receiver.counts().metric_requests, counts.requests);

    let seen = receiver.take_metrics();
    assert_eq!(seen.len() as u64, counts.requests);
    let mut start = None;
    let mut last_time = 0;
    let mut long_open_seen = false;
    for s in &seen {
        // The bytes the receiver kept decode to what it decoded.
        use prost::Message;
        assert_eq!(
            ExportMetricsServiceRequest::decode(&s.bytes[..]).unwrap(),
            s.request
        );
        let rm = &s.request.resource_metrics[0];
        let resource = attrs(&rm.resource.as_ref().unwrap().attributes);
        assert!(resource.contains(&("service.name".into(), "self-metrics-test".into())));
        let scope = rm.scope_metrics[0].scope.as_ref().unwrap();
        assert_eq!(scope.name, "ringspan");
        for m in metrics(&s.request).values() {
            match &m.data {
                Some(Data::Sum(sum)) => {
                    assert_eq!(sum.aggregation_temporality, 2, "{} cumulative", m.name);
                    assert!(sum.is_monotonic, "{}", m.name);
                    for p in &sum.data_points {
                        // One fixed start for every cumulative point of every export.
                        assert_eq!(
                            *start.get_or_insert(p.start_time_unix_nano),
                            p.start_time_unix_nano
                        );
                        assert!(p.start_time_unix_nano < p.time_unix_nano);
                        assert!(p.time_unix_nano >= last_time, "{}", m.name);
                    }
                }
                Some(Data::Gauge(g)) => assert!(!g.data_points.is_empty(), "{}", m.name),
                other => panic!("{}: {other:?}", m.name),
            }
        }
        let m = metrics(&s.request);
        if let Some(long) = m.get("ringspan.span.open.long_age") {
            let Some(Data::Gauge(g)) = &long.data else {
                panic!("a gauge")
            };
            let a = attrs(&g.data_points[0].attributes);
            assert!(
                a.contains(&("span.name".into(), "stuck.request".into())),
                "{a:?}"
            );
            assert!(a.contains(&("thread.name".into(), "stuck".into())), "{a:?}");
            long_open_seen = true;
        }
        last_time = m
            .values()
            .filter_map(|m| match &m.data {
                Some(Data::Sum(s)) => s.data_points.first().map(|p| p.time_unix_nano),
                _ => None,
            })
            .max()
            .unwrap();
    }
    assert!(long_open_seen, "no export showed the stuck span");

    // The last export carries the final counts.
    let last = &seen.last().unwrap().request;
    let m = metrics(last);
    assert_eq!(
        sum_value(&m, "ringspan.span.recorded"),
        report.recorded as i64
    );
    assert_eq!(
        sum_value(&m, "otel.sdk.processor.span.processed"),
        report.engine.delivered as i64
    );
    assert_eq!(
        sum_value(&m, "otel.sdk.exporter.span.exported"),
        report.exported as i64
    );
    assert!(
        !m.contains_key("ringspan.span.open.long_age"),
        "the stuck span ended"
    );

    // For the Python bindings (`.ci/run`): the last request's bytes and what it must hold.
    let dir = format!("{}/self-metrics", env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/request.pb"), &seen.last().unwrap().bytes).unwrap();
    let expect = format!(
        "{{\"service.name\": \"self-metrics-test\", \"start_time_unix_nano\": {}, \
         \"ringspan.span.recorded\": {}, \"otel.sdk.processor.span.processed\": {}, \
         \"otel.sdk.exporter.span.exported\": {}, \"metrics\": {}}}\n",
        start.unwrap(),
        report.recorded,
        report.engine.delivered,
        report.exported,
        m.len()
    );
    std::fs::write(format!("{dir}/expected.json"), expect).unwrap();
}

#[test]
fn a_collector_that_refuses_metrics_is_counted_and_never_touches_the_spans() {
    // A receiver for spans, and no one at the metrics endpoint.
    let receiver = receiver();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let mut config = config(&receiver.endpoint());
    let exporter = ExporterConfig::for_signal(Signal::Metrics)
        .base_endpoint(&dead_url)
        .unwrap()
        .retry(
            ringspan_transport::RetryPolicy::default()
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(20))
                .max_elapsed(Duration::from_millis(100)),
        )
        .timeout(Duration::from_millis(200));
    config.observe = config.observe.export_metrics(
        MetricsExport::new(exporter)
            .unwrap()
            .interval(Duration::from_millis(100)),
    );
    let pipeline = Pipeline::start(config).unwrap();
    record(&pipeline, "spans.still.flow", 0, 200);
    assert!(wait_for(Duration::from_secs(10), || {
        pipeline
            .metrics_counts()
            .is_some_and(|c| c.dropped.retries_exhausted > 0)
    }));
    let report = pipeline.shutdown(Duration::from_secs(5)).unwrap();
    assert_settled(&report);
    assert_eq!(report.exported, 200);
    let counts = pipeline.metrics_counts().unwrap();
    assert_eq!(
        counts.handed,
        counts.exported + counts.rejected + counts.dropped.total(),
        "{counts:?}"
    );
    assert_eq!(counts.exported, 0);
    let why = pipeline.last_metrics_error().unwrap();
    assert!(why.contains("/v1/metrics"), "{why}");
    assert!(receiver.take_metrics().is_empty());
}

#[test]
fn dropping_the_pipeline_still_ends_with_the_final_counts() {
    let receiver = receiver();
    let mut config = config(&receiver.endpoint());
    let exporter = ExporterConfig::for_signal(Signal::Metrics)
        .base_endpoint(&receiver.endpoint())
        .unwrap();
    // An interval longer than the test: the only export is the last one.
    config.observe = config.observe.export_metrics(
        MetricsExport::new(exporter)
            .unwrap()
            .interval(Duration::from_secs(3600)),
    );
    let pipeline = Pipeline::start(config).unwrap();
    record(&pipeline, "dropped.pipeline", 0, 50);
    drop(pipeline);
    assert_eq!(receiver.counts().accepted_spans(), 50);
    let seen = receiver.take_metrics();
    assert_eq!(seen.len(), 1);
    let m = metrics(&seen[0].request);
    assert_eq!(sum_value(&m, "ringspan.span.recorded"), 50);
    assert_eq!(sum_value(&m, "otel.sdk.exporter.span.exported"), 50);
}
