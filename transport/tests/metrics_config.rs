//! The settings of the pipeline's own metrics export from the standard variables: off unless
//! `OTEL_METRICS_EXPORTER=otlp`, the metrics variables over the generic ones (and the traces
//! ones never applied to metrics), the interval and timeout, and bad values named.

mod common;

use std::time::Duration;

use common::env;
use ringspan_transport::{ExporterConfig, ObserveConfig, PipelineConfig, Signal};

fn observe(pairs: &[(&str, &str)]) -> ObserveConfig {
    ObserveConfig::from_lookup(env(pairs)).expect("valid settings")
}

#[test]
fn off_unless_otlp_is_asked_for() {
    assert!(observe(&[]).metrics_setting().is_none());
    assert!(observe(&[("OTEL_METRICS_EXPORTER", "none")])
        .metrics_setting()
        .is_none());
    assert!(observe(&[("OTEL_METRICS_EXPORTER", "")])
        .metrics_setting()
        .is_none());
    let on = observe(&[("OTEL_METRICS_EXPORTER", "otlp")]);
    let m = on.metrics_setting().expect("on");
    assert_eq!(m.interval_setting(), Duration::from_secs(60));
    assert_eq!(
        m.exporter_setting().endpoint_setting(),
        "http://localhost:4318/v1/metrics"
    );
    assert_eq!(m.exporter_setting().signal(), Signal::Metrics);
    assert_eq!(
        m.exporter_setting().retry_setting().max_elapsed_setting(),
        Duration::from_secs(30)
    );
    for bad in ["prometheus", "otlp,console"] {
        let e = ObserveConfig::from_lookup(env(&[("OTEL_METRICS_EXPORTER", bad)])).unwrap_err();
        assert!(e.is_unsupported(), "{e}");
        assert!(e.to_string().contains("OTEL_METRICS_EXPORTER"), "{e}");
    }
}

#[test]
fn metrics_variables_beat_generic_ones_and_traces_ones_never_apply() {
    let generic = [
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=generic"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces-only:4318/v1/traces",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-team=traces"),
    ];
    let c = observe(&generic);
    let m = c.metrics_setting().unwrap().exporter_setting();
    // The generic endpoint with the metrics path; the traces variables are not the metrics'.
    assert_eq!(m.endpoint_setting(), "http://collector:4318/v1/metrics");
    assert_eq!(m.header_value("x-team").unwrap(), "generic");
    assert_eq!(m.timeout_setting(), Duration::from_secs(3));
    assert_eq!(
        m.compression_setting(),
        ringspan_transport::Compression::Gzip
    );

    let mut specific = generic.to_vec();
    specific.extend([
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://metrics:9000/custom",
        ),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-team=metrics"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "700"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "4000"),
        ("RINGSPAN_OPEN_SPAN_THRESHOLD", "250"),
    ]);
    let c = observe(&specific);
    assert_eq!(c.open_span_threshold_setting(), Duration::from_millis(250));
    let export = c.metrics_setting().unwrap();
    assert_eq!(export.interval_setting(), Duration::from_millis(1500));
    let m = export.exporter_setting();
    // A signal-specific endpoint is used as is.
    assert_eq!(m.endpoint_setting(), "http://metrics:9000/custom");
    assert_eq!(m.header_value("x-team").unwrap(), "metrics");
    assert_eq!(m.timeout_setting(), Duration::from_millis(700));
    assert_eq!(
        m.compression_setting(),
        ringspan_transport::Compression::None
    );
    assert_eq!(
        m.retry_setting().max_elapsed_setting(),
        Duration::from_secs(4)
    );

    // The span exporter of the same environment keeps its own.
    let p = PipelineConfig::from_lookup(env(&specific)).unwrap();
    assert_eq!(
        p.exporter.endpoint_setting(),
        "http://traces-only:4318/v1/traces"
    );
    assert_eq!(p.exporter.header_value("x-team").unwrap(), "traces");
    assert!(p.observe.metrics_setting().is_some());
}

#[test]
fn bad_values_name_the_variable_and_the_value() {
    for (name, value) in [
        ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "-1"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "zstd"),
        ("RINGSPAN_OPEN_SPAN_THRESHOLD", "ten"),
    ] {
        let e =
            ObserveConfig::from_lookup(env(&[("OTEL_METRICS_EXPORTER", "otlp"), (name, value)]))
                .expect_err(name)
                .to_string();
        assert!(e.contains(name), "{e}");
    }
}

#[test]
fn a_traces_config_is_refused_for_metrics_and_the_other_way_round() {
    let e = ringspan_transport::MetricsExport::new(ExporterConfig::default()).unwrap_err();
    assert!(e.is_config(), "{e}");
    let e = ringspan_transport::HttpExporter::start(ExporterConfig::for_signal(Signal::Metrics))
        .unwrap_err();
    assert!(e.is_config(), "{e}");
}
