//! Log records through the pipeline: several threads log inside and outside spans, the
//! receiver's `/v1/logs` gets every record exactly once, each with the trace and span id of
//! the span it was recorded in (checked against the spans the receiver got on `/v1/traces`),
//! and the report's logs identity holds. The logs exporter follows the span exporter's
//! settings unless the environment gives it its own; `OTEL_LOGS_EXPORTER=none` turns logs
//! off, counted. A request and what it must hold are written to `target/tmp/logs/` for
//! `.ci/run`, where the Python bindings decode it (`transport/tests/logs/check.py`).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use ringspan::{Severity, Value};
use ringspan_transport::{LogsExport, Pipeline, PipelineConfig, Signal};

const THREADS: i64 = 3;
const PER_THREAD: i64 = 2_000;
const T: Duration = Duration::from_secs(10);

#[test]
fn every_log_record_reaches_the_collector_with_its_span() {
    let receiver = receiver();
    let mut config = config(&receiver.endpoint());
    config.engine = config.engine.rings(4).log_capacity(8192);
    let pipeline = Pipeline::start(config).unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let pipeline = &pipeline;
            s.spawn(move || {
                let p = pipeline.engine().producer().unwrap();
                for i in 0..PER_THREAD {
                    let seq = t * PER_THREAD + i;
                    if i % 2 == 0 {
                        let mut span = p.span("work");
                        span.set_attr("seq", seq);
                        p.log(
                            Severity::INFO,
                            "in a span",
                            &[("seq", Value::from(seq)), ("thread", Value::from(t))],
                        );
                    } else {
                        p.log_event(
                            "tick",
                            Severity::DEBUG,
                            Value::copied(&format!("tick {seq}")),
                            &[("seq", Value::from(seq))],
                        );
                    }
                }
            });
        }
    });
    let report = pipeline.shutdown(T).unwrap();
    let total = (THREADS * PER_THREAD) as u64;
    assert_eq!(report.logs.recorded, total);
    assert_eq!(report.logs.exported, total, "{:?}", report.logs);
    assert!(report.logs.is_settled(), "{:?}", report.logs);
    assert!(report.is_settled(), "{report:?}");
    assert_eq!(receiver.counts().log_records, total);

    // The spans' ids by their `seq`.
    let mut spans = HashMap::new();
    for req in receiver.take_requests() {
        for s in req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            let seq = s.attributes.iter().find(|kv| kv.key == "seq").unwrap();
            let Some(AnyValue::IntValue(seq)) = seq.value.as_ref().and_then(|v| v.value.clone())
            else {
                panic!("seq is an int");
            };
            spans.insert(seq, (s.trace_id.clone(), s.span_id.clone()));
        }
    }
    assert_eq!(spans.len() as i64, THREADS * PER_THREAD / 2);
    let kept = receiver.take_logs();
    let mut seen = vec![false; total as usize];
    for req in &kept {
        let rl = &req.request.resource_logs[0];
        let service = &rl.resource.as_ref().unwrap().attributes[0];
        assert_eq!(service.key, "service.name");
        for l in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
            let seq = l.attributes.iter().find(|kv| kv.key == "seq").unwrap();
            let Some(AnyValue::IntValue(seq)) = seq.value.as_ref().and_then(|v| v.value.clone())
            else {
                panic!("seq is an int");
            };
            assert!(!seen[seq as usize], "log record {seq} arrived twice");
            seen[seq as usize] = true;
            match spans.get(&seq) {
                Some((trace, span)) => {
                    assert_eq!((&l.trace_id, &l.span_id), (trace, span), "record {seq}");
                    assert_eq!(l.severity_text, "INFO");
                }
                None => {
                    assert!(l.span_id.is_empty(), "record {seq} had no span");
                    assert_eq!(l.event_name, "tick");
                    let body = l.body.as_ref().and_then(|b| b.value.clone());
                    assert_eq!(body, Some(AnyValue::StringValue(format!("tick {seq}"))));
                }
            }
        }
    }
    assert!(seen.iter().all(|&s| s), "every record arrived");
    write_for_python(&kept[0], &spans);
}

/// The first request and what it must hold, for `transport/tests/logs/check.py`.
fn write_for_python(
    req: &ringspan_receiver::LogsRequest,
    spans: &HashMap<i64, (Vec<u8>, Vec<u8>)>,
) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp/logs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("request.pb"), &req.bytes).unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut records = Vec::new();
    for l in req.request.resource_logs[0]
        .scope_logs
        .iter()
        .flat_map(|s| &s.log_records)
    {
        let seq = match l.attributes[0].value.as_ref().and_then(|v| v.value.clone()) {
            Some(AnyValue::IntValue(s)) => s,
            _ => panic!("seq first"),
        };
        let (trace, span) = spans
            .get(&seq)
            .map(|(t, s)| (hex(t), hex(s)))
            .unwrap_or_default();
        records.push(format!(
            r#"{{"seq": {seq}, "trace_id": "{trace}", "span_id": "{span}", "severity": {}}}"#,
            l.severity_number
        ));
    }
    std::fs::write(
        dir.join("expected.json"),
        format!("[{}]\n", records.join(",\n")),
    )
    .unwrap();
}

#[test]
fn the_logs_exporter_follows_the_span_exporter_or_the_environment() {
    let lookup = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let c = PipelineConfig::from_lookup(lookup(&[])).unwrap();
    assert!(matches!(c.logs, LogsExport::FollowTraces));
    let c = PipelineConfig::from_lookup(lookup(&[("OTEL_LOGS_EXPORTER", "none")])).unwrap();
    assert!(matches!(c.logs, LogsExport::Off));
    let c = PipelineConfig::from_lookup(lookup(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "http://logs:9999/custom",
        ),
    ]))
    .unwrap();
    let LogsExport::Own(own) = &c.logs else {
        panic!(
            "a logs variable gives the logs exporter its own settings: {:?}",
            c.logs
        );
    };
    assert_eq!(own.signal(), Signal::Logs);
    assert!(
        format!("{own:?}").contains("http://logs:9999/custom"),
        "{own:?}"
    );
    let c = PipelineConfig::from_lookup(lookup(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "1000"),
    ]))
    .unwrap();
    let LogsExport::Own(own) = &c.logs else {
        panic!("{:?}", c.logs);
    };
    assert!(
        format!("{own:?}").contains("http://collector:4318/v1/logs"),
        "{own:?}"
    );
    let err =
        PipelineConfig::from_lookup(lookup(&[("OTEL_LOGS_EXPORTER", "console")])).unwrap_err();
    assert!(
        err.is_unsupported() && err.to_string().contains("OTEL_LOGS_EXPORTER"),
        "{err}"
    );
}

#[test]
fn logs_off_are_counted_not_sent() {
    let receiver = receiver();
    // Off by the environment's word.
    let mut off = config(&receiver.endpoint());
    off.logs = LogsExport::Off;
    let pipeline = Pipeline::start(off).unwrap();
    let p = pipeline.engine().producer().unwrap();
    p.log(Severity::INFO, "nowhere", &[]);
    drop(p);
    let report = pipeline.shutdown(T).unwrap();
    assert_eq!((report.logs.recorded, report.logs.dropped.off), (1, 1));
    assert!(report.logs.is_settled());
    // A traces endpoint whose logs counterpart cannot be guessed: off too, counted.
    let mut config = config(&receiver.endpoint());
    config.exporter = config
        .exporter
        .endpoint(&format!("{}/custom/traces", receiver.endpoint()))
        .unwrap();
    let pipeline = Pipeline::start(config).unwrap();
    let p = pipeline.engine().producer().unwrap();
    p.log(Severity::INFO, "nowhere either", &[]);
    drop(p);
    let report = pipeline.shutdown(T).unwrap();
    assert_eq!(report.logs.dropped.off, 1);
    assert_eq!(receiver.counts().log_requests, 0);
}

#[test]
fn a_dead_logs_collector_loses_records_counted() {
    let receiver = receiver();
    let dead = {
        let mut r = ringspan_receiver::Receiver::start(Default::default()).unwrap();
        let url = r.endpoint();
        r.stop();
        url
    };
    let mut config = config(&receiver.endpoint());
    let logs = ringspan_transport::ExporterConfig::for_signal(Signal::Logs)
        .base_endpoint(&dead)
        .unwrap()
        .retry(fast_retry().max_elapsed(Duration::from_secs(8)))
        .timeout(Duration::from_millis(100));
    config.logs = LogsExport::Own(Box::new(logs));
    let pipeline = Pipeline::start(config).unwrap();
    let p = pipeline.engine().producer().unwrap();
    // Far more log records than the logs' buffers hold (4 requests of 64), first; then,
    // once the dead collector's retries hold those buffers, the spans: were the buffers
    // shared, the spans would wait for the logs' retries.
    for i in 0..2000i64 {
        p.log(Severity::ERROR, "lost", &[("i", Value::from(i))]);
    }
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..2000 {
        drop(p.span("kept"));
    }
    drop(p);
    // The spans go out while the logs exporter still retries (for up to 8 s).
    let started = std::time::Instant::now();
    while pipeline.report().exported < 2000 && started.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let now = pipeline.report();
    assert_eq!(
        now.exported, 2000,
        "spans wait for the logs' buffers: {now:?}"
    );
    assert!(
        now.logs.export.in_flight() > 0,
        "the logs exporter is still retrying: {:?}",
        now.logs
    );
    let report = pipeline.shutdown(Duration::from_secs(2)).unwrap();
    assert_eq!(report.logs.recorded, 2000);
    assert_eq!(report.logs.exported, 0);
    assert_eq!(report.logs.dropped_total(), 2000, "{:?}", report.logs);
    assert!(report.logs.export_dropped.total() > 0, "{:?}", report.logs);
    assert!(report.logs.is_settled(), "{:?}", report.logs);
    assert!(pipeline.report().logs.is_settled());
}
