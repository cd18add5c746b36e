//! The exporter's settings from the standard variables: every variable, the spec's precedence
//! (code > signal-specific > generic > default), and bad values failing with the variable's
//! name and value (header values redacted).

mod common;

use std::time::Duration;

use common::env;

use ringspan::otlp::ResourceValue;
use ringspan_transport::{Compression, ExporterConfig, PipelineConfig, Roots};

fn exporter(pairs: &[(&str, &str)]) -> ExporterConfig {
    ExporterConfig::from_lookup(env(pairs)).expect("valid settings")
}

/// A real PEM certificate in a file of its own (the certificate variables are read at once).
fn ca_file(tag: &str) -> String {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let path = std::env::temp_dir().join(format!("ringspan-{tag}-{}.pem", std::process::id()));
    std::fs::write(&path, cert.cert.pem()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn error(pairs: &[(&str, &str)]) -> String {
    ExporterConfig::from_lookup(env(pairs))
        .expect_err("should be rejected")
        .to_string()
}

#[test]
fn defaults_follow_the_spec() {
    let c = exporter(&[]);
    assert_eq!(c.endpoint_setting(), "http://localhost:4318/v1/traces");
    assert_eq!(c.compression_setting(), Compression::None);
    assert_eq!(c.timeout_setting(), Duration::from_secs(10));
    assert_eq!(c.header_names().count(), 0);
    assert_eq!(c.roots_setting(), &Roots::Webpki);
}

#[test]
fn generic_endpoint_gets_the_signal_path_and_specific_is_used_as_is() {
    for base in ["http://collector:4318", "http://collector:4318/"] {
        let c = exporter(&[("OTEL_EXPORTER_OTLP_ENDPOINT", base)]);
        assert_eq!(c.endpoint_setting(), "http://collector:4318/v1/traces");
    }
    let c = exporter(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://gw.example/otlp")]);
    assert_eq!(c.endpoint_setting(), "https://gw.example/otlp/v1/traces");
    let c = exporter(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces:9999/custom",
        ),
    ]);
    assert_eq!(c.endpoint_setting(), "http://traces:9999/custom");
}

#[test]
fn signal_specific_beats_generic_for_every_setting() {
    let traces_pem = ca_file("traces");
    let c = exporter(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-generic=1"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-traces=2"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/generic.pem"),
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", &traces_pem),
    ]);
    assert_eq!(c.header_names().collect::<Vec<_>>(), ["x-traces"]);
    assert_eq!(c.compression_setting(), Compression::Gzip);
    assert_eq!(c.timeout_setting(), Duration::from_millis(2500));
    assert_eq!(c.roots_setting(), &Roots::CaFile(traces_pem.into()));
}

#[test]
fn generic_values_apply_when_no_specific_one_is_set() {
    let pem = ca_file("generic");
    let c = exporter(&[
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=abc%3D%3D , x-team = blue",
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "750"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", &pem),
        ("OTEL_BSP_EXPORT_TIMEOUT", "1234"),
    ]);
    assert_eq!(c.header_value("api-key").unwrap(), "abc==");
    assert!(c.header_value("api-key").unwrap().is_sensitive());
    assert_eq!(c.header_value("x-team").unwrap(), "blue");
    assert_eq!(c.compression_setting(), Compression::Gzip);
    assert_eq!(c.timeout_setting(), Duration::from_millis(750));
    assert_eq!(c.roots_setting(), &Roots::CaFile(pem.into()));
    assert!(format!("{c:?}").contains("1.234s"), "{c:?}");
}

#[test]
fn code_beats_the_environment() {
    let c = exporter(&[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://from-env:4318/v1/traces",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
    ])
    .endpoint("http://from-code:4318/v1/traces")
    .unwrap()
    .compression(Compression::None)
    .timeout(Duration::from_secs(3));
    assert_eq!(c.endpoint_setting(), "http://from-code:4318/v1/traces");
    assert_eq!(c.compression_setting(), Compression::None);
    assert_eq!(c.timeout_setting(), Duration::from_secs(3));
}

#[test]
fn empty_variables_count_as_unset() {
    let c = exporter(&[
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "  "),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "900"),
    ]);
    assert_eq!(c.endpoint_setting(), "http://generic:4318/v1/traces");
    assert_eq!(c.timeout_setting(), Duration::from_millis(900));
}

#[test]
fn bad_values_name_the_variable_and_the_value() {
    let cases = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "ftp://collector/v1/traces",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http:///v1/traces"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP!"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/thrift"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "-1"),
    ];
    for (name, value) in cases {
        let msg = error(&[(name, value)]);
        assert!(msg.contains(name), "{name}={value}: {msg}");
        assert!(msg.contains(value), "{name}={value}: {msg}");
    }
}

#[test]
fn bad_headers_are_reported_without_their_values() {
    for list in [
        "api-key",
        "api-key=tok\u{7f}en",
        "bad key=secretvalue",
        "k=%FF%FEsecret",
    ] {
        let msg = error(&[("OTEL_EXPORTER_OTLP_HEADERS", list)]);
        assert!(msg.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{msg}");
        assert!(
            !msg.contains("secret") && !msg.contains("tok"),
            "leaks a value: {msg}"
        );
    }
}

#[test]
fn grpc_and_json_are_clear_errors_not_fallbacks() {
    for (name, value) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ] {
        let err = ExporterConfig::from_lookup(env(&[(name, value)])).unwrap_err();
        assert!(err.is_unsupported() && err.is_config(), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains(value), "{msg}");
        assert!(msg.contains("http/protobuf"), "says what works: {msg}");
    }
}

#[test]
fn the_pipeline_reads_every_standard_variable() {
    let c = PipelineConfig::from_lookup(env(&[
        ("OTEL_SERVICE_NAME", "checkout"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=prod",
        ),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "3000"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "256"),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
    ]))
    .unwrap();
    assert_eq!(
        c.otlp.resource_setting().get("service.name"),
        Some(&ResourceValue::Str("checkout".into()))
    );
    assert_eq!(
        c.otlp.resource_setting().get("deployment.environment.name"),
        Some(&ResourceValue::Str("prod".into()))
    );
    assert_eq!(c.engine.ring_capacity_setting(), 512);
    assert_eq!(
        c.exporter.endpoint_setting(),
        "http://collector:4318/v1/traces"
    );
    let debug = format!("{:?}", c.engine);
    assert!(debug.contains("200ms") && debug.contains("256"), "{debug}");
    // Any part's bad variable fails the whole setup, named.
    for (name, value) in [
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_BSP_SCHEDULE_DELAY", "fast"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
    ] {
        let msg = PipelineConfig::from_lookup(env(&[(name, value)]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(name) && msg.contains(value), "{msg}");
    }
}

#[test]
fn settings_in_code_are_checked_at_start() {
    assert!(ExporterConfig::default()
        .endpoint("localhost:4318")
        .is_err());
    assert!(ExporterConfig::default().header("bad name", "v").is_err());
    let msg = ExporterConfig::default()
        .header("x-key", "line\nbreak-secret")
        .unwrap_err()
        .to_string();
    assert!(!msg.contains("secret"), "{msg}");
    let mut c = PipelineConfig::default();
    c.exporter = c.exporter.timeout(Duration::ZERO);
    assert!(ringspan_transport::Pipeline::start(c)
        .unwrap_err()
        .is_config());
    let mut c = PipelineConfig::default();
    c.exporter = c.exporter.max_in_flight(0);
    assert!(ringspan_transport::Pipeline::start(c)
        .unwrap_err()
        .is_config());
}

#[test]
fn a_header_set_in_code_replaces_the_environments() {
    let c = exporter(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "Authorization=from-env,x-keep=1",
    )])
    .header("authorization", "from-code")
    .unwrap();
    let auth: Vec<_> = c.header_names().filter(|n| *n == "authorization").collect();
    assert_eq!(auth.len(), 1);
    assert_eq!(c.header_value("authorization").unwrap(), "from-code");
    assert_eq!(c.header_value("x-keep").unwrap(), "1");
}

#[test]
fn credentials_in_endpoints_are_refused_or_redacted() {
    let msg = error(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://user:pa55@collector:4318",
    )]);
    assert!(
        msg.contains("OTEL_EXPORTER_OTLP_ENDPOINT") && !msg.contains("pa55"),
        "{msg}"
    );
    let c = exporter(&[(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "https://vendor.example/v1/traces?api_key=k3y",
    )]);
    // The query is sent, but never printed.
    assert_eq!(c.endpoint_setting().query(), Some("api_key=k3y"));
    assert!(!format!("{c:?}").contains("k3y"), "{c:?}");
}

#[test]
fn endpoints_that_fail_to_parse_never_show_credentials() {
    let cases = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "grpcs://user:secret@host"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "host:4318/?api_key=secret"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "ftp://host/?token=secret",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://user:secret@/v1/traces",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://a b/?secret"),
    ];
    for (name, url) in cases {
        let msg = error(&[(name, url)]);
        assert!(msg.contains(name), "{url}: {msg}");
        assert!(!msg.contains("secret"), "{url}: {msg}");
    }
    // What is left is enough to find the mistake.
    let msg = error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://host/?token=secret")]);
    assert!(msg.contains("ftp://host/?<redacted>"), "{msg}");
    for url in ["grpcs://user:secret@host", "localhost:4318?key=secret"] {
        let e = ExporterConfig::default().endpoint(url).unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(!format!("{e:?}").contains("secret"), "{e:?}");
    }
}

#[test]
fn a_base_endpoint_with_a_query_keeps_it_after_the_path() {
    let c = exporter(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "https://vendor.example:4318/otlp?tenant=7",
    )]);
    assert_eq!(
        c.endpoint_setting(),
        "https://vendor.example:4318/otlp/v1/traces?tenant=7"
    );
    let c = ExporterConfig::default()
        .base_endpoint("http://collector:4318/?k=v")
        .unwrap();
    assert_eq!(c.endpoint_setting(), "http://collector:4318/v1/traces?k=v");
}

#[test]
fn a_header_named_twice_in_the_environment_keeps_its_last_value() {
    let c = exporter(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "authorization=first,x-a=1,Authorization=second",
    )]);
    let auth: Vec<_> = c.header_names().filter(|n| *n == "authorization").collect();
    assert_eq!(auth.len(), 1, "sent once");
    assert_eq!(c.header_value("authorization").unwrap(), "second");
}

#[test]
fn out_of_range_timeouts_and_missing_certificates_name_the_variable() {
    let msg = error(&[("OTEL_BSP_EXPORT_TIMEOUT", "999999999999")]);
    assert!(
        msg.contains("OTEL_BSP_EXPORT_TIMEOUT") && msg.contains("999999999999"),
        "{msg}"
    );
    let missing = "/nonexistent/ringspan-ca.pem";
    for name in [
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    ] {
        let msg = error(&[(name, missing)]);
        assert!(msg.contains(name) && msg.contains(missing), "{msg}");
    }
    let empty = std::env::temp_dir().join(format!("ringspan-empty-{}.pem", std::process::id()));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let msg = error(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", empty.to_str().unwrap())]);
    assert!(msg.contains("no PEM certificate"), "{msg}");
    let _ = std::fs::remove_file(empty);
}
