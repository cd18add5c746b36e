//! The harness end to end, briefly: it runs against the embedded receiver, writes the JSON
//! report with the keys the README promises and the SVG plot, and its accounting holds, for
//! ringspan and for the opentelemetry_sdk comparison, and the null workload's latency stands
//! beside ringspan's.

use std::process::Command;

#[test]
fn a_short_run_reports_every_span_and_compares_with_otel_and_null() {
    let dir = std::env::temp_dir().join(format!("ringspan-perf-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, svg) = (dir.join("report.json"), dir.join("plot.svg"));
    let out = Command::new(env!("CARGO_BIN_EXE_ringspan-perf"))
        .args([
            "--duration",
            "1",
            "--rate",
            "50000",
            "--compare",
            "null,otel",
            "--json",
        ])
        .arg(&json)
        .arg("--plot")
        .arg(&svg)
        .output()
        .expect("the harness runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for key in [
        "spans_recorded",
        "spans_exported",
        "spans_rejected",
        "spans_dropped",
        "dropped_by_reason",
        "delivered_per_sec",
        "record_ns",
        "allocs_per_span",
        "rss_bytes_start",
        "rss_bytes_end",
        "cpu_seconds",
        "background_cpu_ns_per_delivered_span",
        "null",
        "record_ns_over_null",
    ] {
        assert!(r.get(key).is_some(), "missing {key} in {r}");
    }
    for q in ["p50", "p99", "p999", "max"] {
        assert!(r["record_ns"][q].as_u64().unwrap() > 0, "record_ns.{q}");
    }
    let recorded = r["spans_recorded"].as_u64().unwrap();
    let settled = r["spans_exported"].as_u64().unwrap()
        + r["spans_rejected"].as_u64().unwrap()
        + r["spans_dropped"].as_u64().unwrap();
    assert!(recorded > 10_000, "{r}");
    assert_eq!(recorded, settled, "{r}");
    assert_eq!(r["identity"]["holds"], true, "{r}");
    let peer = &r["compare"];
    assert_eq!(peer["library"], "opentelemetry_sdk");
    assert!(peer["spans_exported"].as_u64().unwrap() > 0, "{peer}");
    assert!(
        r["background_cpu_ns_per_delivered_span"].as_f64().unwrap() > 0.0,
        "{r}"
    );
    // The null workload is interleaved with the spans: one empty call in 16 slots, so about
    // one for every 15 spans, each timed the same way.
    let null_calls = r["null"]["spans"].as_u64().unwrap();
    assert!(
        null_calls * 20 > recorded && null_calls * 10 < recorded,
        "{r}"
    );
    for q in ["p50", "p99", "p999"] {
        let null_ns = r["null"]["record_ns"][q].as_i64().unwrap();
        let ours = r["record_ns"][q].as_i64().unwrap();
        assert!(null_ns > 0, "null.record_ns.{q}");
        assert_eq!(
            r["record_ns_over_null"][q].as_i64().unwrap(),
            ours - null_ns
        );
    }
    assert!(
        stdout.contains("null (empty call)") && stdout.contains("ringspan over null"),
        "{stdout}"
    );
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.contains("<svg") && plot.contains("opentelemetry_sdk") && plot.contains("null"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_signal_delivers_every_update_and_record() {
    let dir = std::env::temp_dir().join(format!("ringspan-perf-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_ringspan-perf"))
        .args([
            "--duration",
            "2",
            "--rate",
            "20000",
            "--signal",
            "all",
            "--json",
        ])
        .arg(&json)
        .output()
        .expect("the harness runs");
    assert!(
        out.status.success(),
        "exit {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["identity"]["holds"], true, "{r}");
    let how = r["identity"]["how"].as_str().unwrap_or_default();
    assert!(
        how.contains("the last export holds every metric update"),
        "{r}"
    );
    let spans = r["spans_recorded"].as_u64().unwrap();
    assert!(spans > 10_000, "{r}");
    // Ten updates per event, and one event per span.
    assert_eq!(r["metric_updates"].as_u64().unwrap(), 10 * spans, "{r}");
    assert!(r["metric_requests"].as_u64().unwrap() >= 2, "{r}");
    assert!(r["metric_points_exported"].as_u64().unwrap() > 0, "{r}");
    // A log record per event, each exported (the identity checked the receiver got them).
    assert!(how.contains("log records: recorded = exported"), "{r}");
    assert_eq!(r["log_records"].as_u64().unwrap(), spans, "{r}");
    assert_eq!(r["log_records_exported"].as_u64().unwrap(), spans, "{r}");
    std::fs::remove_dir_all(&dir).ok();
}
