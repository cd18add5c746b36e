//! The admin endpoint (feature `admin`): `/metrics` holds every counter of the pipeline's
//! report with the report's value, the index page shows them, a token is enforced, and a
//! public address without one is refused. The scrape and the expected values are written to
//! `target/tmp/admin/` for `.ci/run`, where the Prometheus project's own Python parser
//! (`prometheus-client`) reads them: `transport/tests/admin/check_metrics.py`.
#![cfg(feature = "admin")]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ringspan_alloc_counter::CountingAlloc;
use ringspan_receiver::Fault;
use ringspan_transport::{Admin, AdminConfig, Pipeline, Report};

#[global_allocator]
static ALLOC: CountingAlloc<std::alloc::System> = CountingAlloc::new(std::alloc::System);

/// One GET over HTTP/1.1 (`Host: localhost`); the status and the body.
fn get(addr: SocketAddr, path: &str, auth: Option<&str>) -> (u16, String) {
    get_as(addr, "localhost", path, auth)
}

/// One GET naming the server `host`.
fn get_as(addr: SocketAddr, host: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    request(addr, "GET", path, &format!("Host: {host}\r\n{auth}"))
}

/// One request with these header lines (each ending in CRLF).
fn request(addr: SocketAddr, method: &str, path: &str, headers: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// `name{labels}` -> value, for every sample line of an OpenMetrics text. Chunked bodies
/// are not expected: the answer has a Content-Length.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// What `/metrics` must show for `r`: sample key -> value.
fn expected(r: &Report) -> Vec<(&'static str, u64)> {
    let (e, x) = (&r.engine, &r.export);
    vec![
        ("ringspan_spans_recorded_total", e.recorded),
        ("otel_sdk_processor_span_processed_total", e.delivered),
        (
            "otel_sdk_processor_span_processed_total{error_type=\"queue_full\"}",
            e.dropped.ring_full,
        ),
        (
            "otel_sdk_processor_span_processed_total{error_type=\"already_shutdown\"}",
            e.dropped.shutdown,
        ),
        (
            "otel_sdk_processor_span_processed_total{error_type=\"too_large\"}",
            e.dropped.too_large,
        ),
        (
            "otel_sdk_processor_span_processed_total{error_type=\"too_deep\"}",
            e.dropped.too_deep,
        ),
        (
            "otel_sdk_processor_span_processed_total{error_type=\"no_ring\"}",
            e.dropped.no_ring,
        ),
        (
            "otel_sdk_processor_span_processed_total{error_type=\"abandoned\"}",
            e.dropped.abandoned,
        ),
        (
            "otel_sdk_processor_span_processed_total{error_type=\"sink_panicked\"}",
            e.dropped.sink_panicked,
        ),
        (
            "otel_sdk_processor_span_processed_total{error_type=\"travel_pool_full\"}",
            e.dropped.travel_pool_full,
        ),
        ("otel_sdk_processor_span_queue_size", e.in_rings),
        ("otel_sdk_exporter_span_exported_total", x.exported),
        (
            "otel_sdk_exporter_span_exported_total{error_type=\"rejected\"}",
            x.rejected,
        ),
        (
            "otel_sdk_exporter_span_exported_total{error_type=\"retries_exhausted\"}",
            x.dropped.retries_exhausted,
        ),
        (
            "otel_sdk_exporter_span_exported_total{error_type=\"non_retryable\"}",
            x.dropped.non_retryable,
        ),
        (
            "otel_sdk_exporter_span_exported_total{error_type=\"shutdown\"}",
            x.dropped.shutdown,
        ),
        (
            "otel_sdk_exporter_span_exported_total{error_type=\"panicked\"}",
            x.dropped.panicked,
        ),
        ("otel_sdk_exporter_span_inflight", 0),
        ("ringspan_drain_flushes_total", e.flushes),
        ("ringspan_drain_sink_stalls_total", e.sink_stalls),
        ("ringspan_drain_sink_panicked", u64::from(e.sink_panicked)),
        ("ringspan_export_requests_total", x.requests),
        ("ringspan_export_attempts_total", x.attempts),
        ("ringspan_export_retries_total", x.retries),
        ("ringspan_export_sent_bytes_total", x.bytes_sent),
        ("ringspan_export_bodies_lost_total", x.bodies_lost),
        ("ringspan_truncated_strings_total", e.truncated_strings),
    ]
}

#[test]
fn metrics_show_the_reports_counters() {
    let receiver = receiver();
    let pipeline = Arc::new(Pipeline::start(config(&receiver.endpoint())).unwrap());
    let admin = Admin::start(Arc::clone(&pipeline), AdminConfig::default()).unwrap();
    assert!(admin.addr().ip().is_loopback());
    // A slow collector while a burst fills the ring (spans dropped as `ring_full`), then a
    // partial success: so that recorded, delivered, exported and each outcome differ.
    receiver.inject(Fault::Delay(Duration::from_millis(500)), 4);
    receiver.inject(
        Fault::Reject {
            spans: 7,
            message: "test".into(),
        },
        1,
    );
    // Hold a ring while scraping, so `claimed` is 1.
    let producer = pipeline.engine().producer().unwrap();
    for i in 0..20_000 {
        let mut span = producer.span("admin.test");
        span.set_attr("i", i);
    }
    let report = settle(&pipeline);
    let (e, x) = (&report.engine, &report.export);
    assert!(e.dropped.ring_full > 0, "{report:#?}");
    assert_eq!(x.rejected, 7, "{report:#?}");
    assert!(e.recorded > e.delivered && e.delivered > x.exported);
    let inflight_before = x.handed - x.exported - x.rejected - x.dropped.total();
    assert_eq!(inflight_before, 0);
    let (status, text) = get(admin.addr(), "/metrics", None);
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("# EOF\n"), "not OpenMetrics: {text}");
    let got = samples(&text);
    for (key, want) in expected(&report) {
        assert_eq!(got.get(key), Some(&(want as f64)), "{key} in\n{text}");
    }
    assert_eq!(got.get("ringspan_rings{state=\"claimed\"}"), Some(&1.0));
    assert_eq!(
        got.get("ringspan_rings{state=\"free\"}"),
        Some(&(pipeline.engine().rings() as f64 - 1.0))
    );
    assert_eq!(
        got.get("ringspan_ring_capacity{ring=\"0\",records=\"full\"}"),
        Some(&8192.0)
    );
    assert!(got.get("process_resident_memory_bytes").unwrap() > &1e6);
    // The drain is passing freely.
    assert!(got["ringspan_drain_lag_seconds"] < 1.0, "{text}");
    // Every request settled: all four of the encoder's buffers are back.
    assert_eq!(
        (
            got.get("ringspan_encoder_buffers{state=\"in_use\"}"),
            got.get("ringspan_encoder_buffers{state=\"free\"}")
        ),
        (Some(&0.0), Some(&4.0))
    );
    // The burst filled the ring the producer holds: its high-water mark is the ring's size.
    assert!(
        got.iter()
            .any(|(k, v)| k.starts_with("ringspan_ring_high_water{") && *v == 8192.0),
        "{text}"
    );

    // The index page: the endpoints and the same figures, as HTML.
    let (status, html) = get(admin.addr(), "/debug/", None);
    assert_eq!(status, 200);
    assert!(html.contains("<a href=\"/metrics\">"), "{html}");
    assert!(
        html.contains(&format!(
            "<td>ringspan_spans_recorded</td><td></td><td class=\"n\">{}</td>",
            e.recorded
        )),
        "{html}"
    );
    assert!(!html.contains("<script"));
    assert_eq!(get(admin.addr(), "/nope", None).0, 404);
    // No counting allocator given: no heap page.
    assert_eq!(get(admin.addr(), "/debug/pprof/heap", None).0, 404);

    // For the Python parser in .ci/run.
    let dir = std::env::var("RINGSPAN_ADMIN_FIXTURE")
        .unwrap_or_else(|_| format!("{}/admin", env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/metrics.txt"), &text).unwrap();
    let json = expected(&report)
        .iter()
        .map(|(k, v)| format!("  {:?}: {v}", k))
        .collect::<Vec<_>>()
        .join(",\n");
    std::fs::write(format!("{dir}/expected.json"), format!("{{\n{json}\n}}\n")).unwrap();

    drop(producer);
    drop(admin);
    pipeline.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_token_is_required_once_set() {
    let receiver = receiver();
    let pipeline = Arc::new(Pipeline::start(config(&receiver.endpoint())).unwrap());
    let admin = Admin::start(
        Arc::clone(&pipeline),
        AdminConfig::default().token("s3cret-t0ken").unwrap(),
    )
    .unwrap();
    let (status, body) = get(admin.addr(), "/metrics", None);
    assert_eq!(status, 401);
    assert!(!body.contains("s3cret"));
    assert_eq!(
        get(admin.addr(), "/metrics", Some("Bearer s3cret-t0keN")).0,
        401
    );
    assert_eq!(get(admin.addr(), "/metrics", Some("s3cret-t0ken")).0, 401);
    assert_eq!(
        get(admin.addr(), "/metrics", Some("Bearer s3cret-t0ken")).0,
        200
    );
    // The scheme is case-insensitive; with a token, any Host will do.
    assert_eq!(
        get_as(
            admin.addr(),
            "metrics.example",
            "/metrics",
            Some("bearer s3cret-t0ken")
        )
        .0,
        200
    );
}

#[test]
fn without_a_token_only_a_loopback_host_is_served() {
    let receiver = receiver();
    let pipeline = Arc::new(Pipeline::start(config(&receiver.endpoint())).unwrap());
    let admin = Admin::start(Arc::clone(&pipeline), AdminConfig::default()).unwrap();
    let port = admin.addr().port();
    for host in [
        "localhost".to_owned(),
        format!("127.0.0.1:{port}"),
        format!("LOCALHOST:{port}"),
        "[::1]:1".to_owned(),
    ] {
        assert_eq!(
            get_as(admin.addr(), &host, "/metrics", None).0,
            200,
            "{host}"
        );
    }
    // A name of a web page's own that resolves to 127.0.0.1 (DNS rebinding).
    for host in ["attacker.example", "attacker.example:80", "10.0.0.1"] {
        assert_eq!(
            get_as(admin.addr(), host, "/metrics", None).0,
            403,
            "{host}"
        );
    }
    // Another site's page (an <img> pointing at the profile), by its fetch metadata or
    // its Origin; the operator's own page may link here.
    let h = "Host: 127.0.0.1\r\n";
    for (extra, status) in [
        ("Sec-Fetch-Site: cross-site\r\n", 403),
        ("Origin: https://attacker.example\r\n", 403),
        (
            "Origin: http://localhost:9464\r\nSec-Fetch-Site: same-origin\r\n",
            200,
        ),
        ("Sec-Fetch-Site: none\r\n", 200),
    ] {
        let got = request(admin.addr(), "GET", "/metrics", &format!("{h}{extra}")).0;
        assert_eq!(got, status, "{extra}");
    }
    // HEAD as GET; other methods named in Allow.
    assert_eq!(request(admin.addr(), "HEAD", "/metrics", h).0, 200);
    assert_eq!(request(admin.addr(), "POST", "/metrics", h).0, 405);
}

#[test]
fn a_public_address_without_a_token_is_refused() {
    let receiver = receiver();
    let pipeline = Arc::new(Pipeline::start(config(&receiver.endpoint())).unwrap());
    let e = Admin::start(
        Arc::clone(&pipeline),
        AdminConfig::default().addr("0.0.0.0:0".parse().unwrap()),
    )
    .unwrap_err();
    assert!(e.is_config(), "{e}");
    assert!(e.to_string().contains("RINGSPAN_ADMIN_TOKEN"), "{e}");
}

/// The heap page's row for the class holding `size` bytes: (live blocks, live bytes).
fn heap_row(text: &str, size: u64) -> (u64, u64) {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let n: Vec<u64> = l.split(' ').map(|w| w.parse().unwrap()).collect();
            (n[0] <= size && size <= n[1]).then(|| (n[2], n[3]))
        })
        .unwrap_or((0, 0))
}

#[test]
fn the_heap_page_shows_a_live_block_by_its_size_class() {
    let receiver = receiver();
    let pipeline = Arc::new(Pipeline::start(config(&receiver.endpoint())).unwrap());
    let admin = Admin::start(Arc::clone(&pipeline), AdminConfig::default().heap(&ALLOC)).unwrap();
    // A class (64-128 MiB) nothing else in these tests allocates in, as they run at once.
    const SIZE: usize = 96 << 20;
    let (_, before) = get(admin.addr(), "/debug/pprof/heap", None);
    let block = std::hint::black_box(vec![0u8; SIZE]);
    let (status, with) = get(admin.addr(), "/debug/pprof/heap", None);
    assert_eq!(status, 200, "{with}");
    let (b, w) = (heap_row(&before, SIZE as u64), heap_row(&with, SIZE as u64));
    assert_eq!(w.0, b.0 + 1, "{with}");
    assert!(w.1 >= b.1 + SIZE as u64, "{with}");
    let (_, text) = get(admin.addr(), "/metrics", None);
    let live = samples(&text)["ringspan_alloc_live_bytes"];
    assert!(live >= SIZE as f64, "{live}");
    drop(block);
    let (_, after) = get(admin.addr(), "/debug/pprof/heap", None);
    assert_eq!(heap_row(&after, SIZE as u64).0, b.0, "{after}");
}

#[test]
fn spans_left_open_and_idle_producers_show() {
    let receiver = receiver();
    let mut config = config(&receiver.endpoint());
    config.observe = config
        .observe
        .open_span_threshold(Duration::from_millis(300));
    let pipeline = Arc::new(Pipeline::start(config).unwrap());
    let admin = Admin::start(Arc::clone(&pipeline), AdminConfig::default()).unwrap();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("leaky".into())
            .spawn_scoped(s, || {
                let producer = pipeline.engine().producer().unwrap();
                // The same name twice: one series, counting 2.
                std::mem::forget(producer.span("leaked.span"));
                std::mem::forget(producer.span("leaked.span"));
            })
            .unwrap();
    });
    // A request stuck in its handler: it shows as a long-open span while it lasts.
    let stuck = HeldSpan::open(&pipeline, "stuck", "stuck.request");
    // A producer that holds its ring and records nothing.
    let idle = pipeline.engine().producer().unwrap();
    std::thread::sleep(Duration::from_millis(1600));
    let (_, text) = get(admin.addr(), "/metrics", None);
    let got = samples(&text);
    assert_eq!(
        got.get("ringspan_abandoned_span{span_name=\"leaked.span\",thread_name=\"leaky\"}"),
        Some(&2.0),
        "{text}"
    );
    // The stuck span: one open, past the threshold, named with its thread.
    assert_eq!(got.get("ringspan_spans_open"), Some(&1.0), "{text}");
    assert_eq!(got.get("ringspan_spans_open_long"), Some(&1.0), "{text}");
    let long: Vec<(&String, &f64)> = got
        .iter()
        .filter(|(k, _)| k.starts_with("ringspan_span_open_long_age_seconds{"))
        .collect();
    assert_eq!(long.len(), 1, "{text}");
    assert!(
        long[0].0.contains("span_name=\"stuck.request\"")
            && long[0].0.contains("thread_name=\"stuck\""),
        "{long:?}"
    );
    assert!(*long[0].1 >= 1.6, "{long:?}");
    assert!(
        got["ringspan_span_open_oldest_age_seconds"] >= 1.6,
        "{text}"
    );
    // Two claimed rings (the stuck thread's, and `idle`), both idle.
    let idle_for: Vec<f64> = got
        .iter()
        .filter(|(k, _)| k.starts_with("ringspan_ring_idle_seconds{"))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(idle_for.len(), 2, "two claimed rings: {text}");
    // Read once a second: counted from the first read after the claim, so at least 0.6 s.
    assert!(idle_for.iter().all(|&v| v >= 0.5), "{idle_for:?}");
    let (_, html) = get(admin.addr(), "/debug/", None);
    let report = &html[html.find("Leak report").expect("a leak report")..];
    assert!(
        report.contains("<td>stuck.request</td><td>stuck</td>"),
        "{report}"
    );
    assert!(
        report.contains("<td>leaked.span</td><td>leaky</td>"),
        "{report}"
    );
    // The stuck span ends: nothing open, nothing long-open.
    stuck.end();
    let (_, text) = get(admin.addr(), "/metrics", None);
    let got = samples(&text);
    assert_eq!(got.get("ringspan_spans_open"), Some(&0.0), "{text}");
    assert_eq!(got.get("ringspan_spans_open_long"), Some(&0.0), "{text}");
    assert!(!text.contains("ringspan_span_open_long_age"), "{text}");
    // Recording resets the idle time.
    drop(idle.span("now busy"));
    let (_, text) = get(admin.addr(), "/metrics", None);
    let got = samples(&text);
    let v = got
        .iter()
        .filter(|(k, _)| k.starts_with("ringspan_ring_idle_seconds{"))
        .map(|(_, v)| *v)
        .fold(f64::MAX, f64::min);
    assert!(v < 0.5, "{v}");
    drop(idle);
}
