//! Producers -> rings -> drain -> encoder -> exporter -> embedded receiver, over real loopback
//! sockets: the receiver gets exactly the spans recorded, with their content, over HTTP/1.1,
//! HTTP/2 and TLS, compressed or not.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use ringspan_receiver::{Receiver, ReceiverConfig};
use ringspan_transport::{Compression, Pipeline, PipelineConfig, Roots};

/// Records on two threads, shuts down, and checks every span arrived once, intact. Returns
/// the report and the bytes the encoder produced.
fn round_trip(receiver: &Receiver, config: PipelineConfig) -> (ringspan_transport::Report, u64) {
    let before = receiver.counts();
    let pipeline = Pipeline::start(config).expect("pipeline starts");
    let mut expected = HashMap::new();
    std::thread::scope(|s| {
        let a = s.spawn(|| record(&pipeline, "left", 0, 3000));
        let b = s.spawn(|| record(&pipeline, "right", 1_000_000, 3000));
        for (name, first, ids) in [
            ("left", 0, a.join().unwrap()),
            ("right", 1_000_000, b.join().unwrap()),
        ] {
            for (i, id) in ids.into_iter().enumerate() {
                let got = Got {
                    name: name.into(),
                    seq: first + i as i64,
                    side: "buy".into(),
                    ok: i % 2 == 0,
                };
                assert!(expected.insert(id, got).is_none(), "duplicate span id");
            }
        }
    });
    let report = pipeline.shutdown(Duration::from_secs(10)).unwrap();
    assert_settled(&report);
    assert_eq!(report.recorded, 6000);
    assert_eq!(report.exported, 6000, "{report:#?}");
    assert_eq!(report.dropped_total(), 0, "{report:#?}");
    let got = received(receiver, false);
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "received spans differ from the recorded ones"
    );
    let counts = receiver.counts();
    assert_eq!(counts.spans - before.spans, 6000);
    assert_eq!(counts.requests - before.requests, report.export.requests);
    assert_eq!(report.export.retries, 0);
    (report, pipeline.encoder_stats().bytes())
}

#[test]
fn every_span_arrives_once_with_its_content_over_http1() {
    let receiver = receiver();
    let (report, encoded) = round_trip(&receiver, config(&receiver.endpoint()));
    assert_eq!(report.export.bytes_sent, encoded);
    assert_eq!(receiver.counts().bytes, encoded);
    let headers = receiver.last_headers();
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert!(headers["user-agent"]
        .to_str()
        .unwrap()
        .starts_with("ringspan/"));
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(receiver.last_version(), http::Version::HTTP_11);
}

#[test]
fn gzip_requests_arrive_compressed_and_intact() {
    let receiver = receiver();
    let mut c = config(&receiver.endpoint());
    c.exporter = c.exporter.compression(Compression::Gzip);
    let (report, encoded) = round_trip(&receiver, c);
    let counts = receiver.counts();
    assert_eq!(counts.gzip_requests, counts.requests);
    // What went over the wire is what the exporter says it sent, and gzip shrank it (these
    // spans repeat names and keys, so by far more than half).
    assert_eq!(counts.bytes, report.export.bytes_sent);
    assert!(
        report.export.bytes_sent * 2 < encoded,
        "{} bytes sent for {encoded} encoded",
        report.export.bytes_sent
    );
    assert_eq!(receiver.last_headers()["content-encoding"], "gzip");
}

#[test]
fn http2_with_prior_knowledge_works() {
    let receiver = receiver();
    let mut c = config(&receiver.endpoint());
    c.exporter = c.exporter.http2_prior_knowledge(true);
    round_trip(&receiver, c);
    assert_eq!(receiver.last_version(), http::Version::HTTP_2);
}

#[test]
fn custom_headers_are_sent_and_never_printed() {
    let receiver = receiver();
    let mut c = config(&receiver.endpoint());
    c.exporter = c
        .exporter
        .header("x-api-key", "s3cret-token")
        .unwrap()
        .header("x-tenant", "blue")
        .unwrap();
    assert!(!format!("{c:?}").contains("s3cret"));
    round_trip(&receiver, c);
    let headers = receiver.last_headers();
    assert_eq!(headers["x-api-key"], "s3cret-token");
    assert_eq!(headers["x-tenant"], "blue");
}

/// A self-signed certificate for localhost and 127.0.0.1, written to a PEM file to trust.
fn tls_receiver() -> (Receiver, std::path::PathBuf) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    let cert_pem = key.cert.pem();
    let receiver = Receiver::start(
        ReceiverConfig::default()
            .keep(ringspan_receiver::Keep::Decoded)
            .tls_pem(&cert_pem, &key.signing_key.serialize_pem())
            .expect("tls identity"),
    )
    .expect("receiver");
    let dir = std::env::temp_dir().join(format!("ringspan-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join(format!("ca-{}.pem", receiver.addr().port()));
    std::fs::write(&ca, cert_pem).unwrap();
    (receiver, ca)
}

#[test]
fn https_with_a_private_ca_file_works_over_h2_and_http1() {
    let (receiver, ca) = tls_receiver();
    assert!(receiver.endpoint().starts_with("https://"));
    let mut c = config(&receiver.endpoint());
    c.exporter = c.exporter.roots(Roots::CaFile(ca.clone()));
    round_trip(&receiver, c);
    // ALPN offered h2 first and the receiver took it.
    assert_eq!(receiver.last_version(), http::Version::HTTP_2);
    let mut c = config(&receiver.endpoint());
    c.exporter = c
        .exporter
        .roots(Roots::CaFile(ca))
        .compression(Compression::Gzip);
    round_trip(&receiver, c);
}

#[test]
fn https_with_an_untrusted_certificate_is_counted_not_delivered() {
    let (receiver, _ca) = tls_receiver();
    let mut c = config(&receiver.endpoint());
    c.exporter = c
        .exporter
        .retry(fast_retry().max_elapsed(Duration::from_millis(300))); // webpki roots do not know our CA
    let pipeline = Pipeline::start(c).unwrap();
    record(&pipeline, "untrusted", 0, 10);
    let report = pipeline.shutdown(Duration::from_secs(5)).unwrap();
    assert_settled(&report);
    assert_eq!(report.exported, 0);
    assert_eq!(report.export_dropped.retries_exhausted, 10, "{report:#?}");
    assert_eq!(receiver.counts().requests, 0);
    assert!(report.export.retries > 0, "{report:#?}");
    let why = pipeline.last_export_error().expect("an error is recorded");
    assert!(why.contains("certificate"), "{why}");
}

#[test]
fn a_missing_ca_file_fails_at_start_with_its_path() {
    let mut c = PipelineConfig::default();
    c.exporter = c
        .exporter
        .roots(Roots::CaFile("/nonexistent/ringspan-ca.pem".into()));
    let err = Pipeline::start(c).unwrap_err();
    assert!(err.is_io(), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/ringspan-ca.pem"),
        "{err}"
    );
}
