//! The exporter against a misbehaving collector. Each test checks the accounting identity
//! (recorded = exported + rejected + dropped by reason, nothing unaccounted) and what the OTLP
//! spec asks for that fault. Retry times are tens of milliseconds, so each takes seconds.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use ringspan_receiver::{Fault, Receiver, ReceiverConfig};
use ringspan_transport::{Compression, Pipeline};

fn status(code: u16) -> Fault {
    Fault::Status {
        code,
        retry_after: None,
    }
}

#[test]
fn retryable_statuses_are_retried_until_accepted_with_gzip_on() {
    let receiver = receiver();
    let mut c = config(&receiver.endpoint());
    c.exporter = c.exporter.compression(Compression::Gzip);
    let pipeline = Pipeline::start(c).unwrap();
    for code in [429, 502, 503, 504] {
        receiver.inject(status(code), 1);
    }
    let ids: HashSet<_> = record(&pipeline, "retried", 0, 50).into_iter().collect();
    let mid = settle(&pipeline);
    assert_eq!(mid.exported, 50, "{mid:#?}");
    assert_eq!(mid.export.retries, 4, "{mid:#?}");
    assert_eq!(receiver.counts().faulted, 4);
    assert_eq!(receiver.counts().gzip_requests, receiver.counts().requests);
    let report = pipeline.shutdown(Duration::from_secs(5)).unwrap();
    assert_settled(&report);
    let got: HashSet<_> = received(&receiver, false).into_keys().collect();
    assert_eq!(got, ids);
}

#[test]
fn retry_after_is_honoured() {
    let receiver = receiver();
    let pipeline = Pipeline::start(config(&receiver.endpoint())).unwrap();
    receiver.inject(
        Fault::Status {
            code: 503,
            retry_after: Some("1".into()),
        },
        1,
    );
    record(&pipeline, "later", 0, 20);
    let started = Instant::now();
    let report = settle(&pipeline);
    // The backoff alone would retry within 20 ms; Retry-After asked for a second.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "retried after {:?}",
        started.elapsed()
    );
    assert_eq!((report.exported, report.export.retries), (20, 1));
    assert_settled(&pipeline.shutdown(Duration::from_secs(5)).unwrap());
}

#[test]
fn final_statuses_are_not_retried_and_export_carries_on() {
    let receiver = receiver();
    let pipeline = Pipeline::start(config(&receiver.endpoint())).unwrap();
    for (i, code) in [400, 401, 413, 500].into_iter().enumerate() {
        receiver.inject(status(code), 1);
        record(&pipeline, "refused", i as i64 * 10, 10);
        let r = settle(&pipeline);
        assert_eq!(
            r.export_dropped.non_retryable,
            10 * (i as u64 + 1),
            "{r:#?}"
        );
        assert_eq!(
            r.export.attempts,
            i as u64 + 1,
            "{code} was retried: {r:#?}"
        );
        let why = pipeline.last_export_error().unwrap();
        assert!(why.contains(&code.to_string()), "{why}");
    }
    // The collector is fine again: the next spans go through.
    record(&pipeline, "accepted", 100, 10);
    let report = pipeline.shutdown(Duration::from_secs(5)).unwrap();
    assert_settled(&report);
    assert_eq!(report.exported, 10);
    assert_eq!(report.export_dropped.non_retryable, 40);
    assert_eq!(report.export.retries, 0);
    assert_eq!(receiver.counts().spans, 10);
}

#[test]
fn partial_success_counts_the_rejected_spans() {
    let receiver = receiver();
    let pipeline = Pipeline::start(config(&receiver.endpoint())).unwrap();
    receiver.inject(
        Fault::Reject {
            spans: 7,
            message: "attribute value too long".into(),
        },
        1,
    );
    record(&pipeline, "partly", 0, 20);
    let report = pipeline.shutdown(Duration::from_secs(5)).unwrap();
    assert_settled(&report);
    assert_eq!((report.exported, report.rejected), (13, 7));
    assert_eq!(report.export.retries, 0, "a partial success is not retried");
    assert_eq!(receiver.counts().rejected_spans, 7);
    let why = pipeline.last_export_error().unwrap();
    assert!(
        why.contains("rejected 7 spans: attribute value too long"),
        "{why}"
    );
}

#[test]
fn a_slow_answer_past_the_timeout_is_retried() {
    let receiver = receiver();
    let mut c = config(&receiver.endpoint());
    c.exporter = c.exporter.timeout(Duration::from_millis(300));
    let pipeline = Pipeline::start(c).unwrap();
    receiver.inject(Fault::Delay(Duration::from_millis(900)), 1);
    let ids: HashSet<_> = record(&pipeline, "slow", 0, 30).into_iter().collect();
    let report = pipeline.shutdown(Duration::from_secs(10)).unwrap();
    assert_settled(&report);
    assert_eq!(report.exported, 30);
    assert!(report.export.retries >= 1, "{report:#?}");
    // The slow answer may still have counted the first copy: delivery is at least once.
    let got: HashSet<_> = received(&receiver, true).into_keys().collect();
    assert_eq!(got, ids);
}

#[test]
fn a_dropped_connection_is_retried() {
    let receiver = receiver();
    let pipeline = Pipeline::start(config(&receiver.endpoint())).unwrap();
    receiver.inject(Fault::DropConnection, 2);
    let ids: HashSet<_> = record(&pipeline, "reset", 0, 40).into_iter().collect();
    let report = pipeline.shutdown(Duration::from_secs(10)).unwrap();
    assert_settled(&report);
    assert_eq!((report.exported, report.export.retries), (40, 2));
    let got: HashSet<_> = received(&receiver, false).into_keys().collect();
    assert_eq!(got, ids);
}

#[test]
fn retries_stop_at_the_budget_and_are_counted() {
    let receiver = receiver();
    let mut c = config(&receiver.endpoint());
    c.exporter = c
        .exporter
        .retry(fast_retry().max_elapsed(Duration::from_millis(400)));
    let pipeline = Pipeline::start(c).unwrap();
    receiver.inject(status(503), 10_000);
    record(&pipeline, "hopeless", 0, 25);
    let report = pipeline.shutdown(Duration::from_secs(5)).unwrap();
    assert_settled(&report);
    assert_eq!(report.export_dropped.retries_exhausted, 25, "{report:#?}");
    assert!(report.export.retries >= 2, "{report:#?}");
    assert_eq!(receiver.counts().spans, 0);
}

/// A loopback port with nothing listening (bound once, then released).
fn dead_endpoint() -> (String, std::net::SocketAddr) {
    let mut r = Receiver::start(ReceiverConfig::default()).unwrap();
    let (url, addr) = (r.endpoint(), r.addr());
    r.stop();
    (url, addr)
}

#[test]
fn endpoint_down_from_the_start_drops_and_counts_with_flat_memory() {
    let (url, _) = dead_endpoint();
    let pipeline = Pipeline::start(config(&url)).unwrap();
    // Fill the rings and the encoder's buffers once, so their pages are resident.
    record(&pipeline, "warm", 0, 20_000);
    std::thread::sleep(Duration::from_millis(100));
    let rss = rss_bytes();
    // 400k more spans: kept, they would need 350 MB.
    for round in 0..20 {
        record(&pipeline, "down", round * 20_000, 20_000);
    }
    let grown = rss_bytes().saturating_sub(rss);
    assert!(
        grown < 16 << 20,
        "RSS grew by {grown} bytes while the collector was down"
    );
    let started = Instant::now();
    let report = pipeline.shutdown(Duration::from_millis(500)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert_settled(&report);
    assert_eq!(report.recorded, 420_000);
    assert_eq!(report.exported, 0);
    assert!(report.dropped.ring_full > 0, "{report:#?}");
    let why = pipeline.last_export_error().unwrap();
    assert!(why.contains("POST http://127.0.0.1"), "{why}");
}

#[test]
fn endpoint_down_mid_run_then_back_delivers_what_was_recorded_meanwhile() {
    let mut first = receiver();
    let addr = first.addr();
    let pipeline = Pipeline::start(config(&first.endpoint())).unwrap();
    let mut ids: HashSet<_> = record(&pipeline, "before", 0, 500).into_iter().collect();
    settle(&pipeline);
    let mut got: HashSet<_> = received(&first, false).into_keys().collect();
    first.stop();
    // The collector is gone: these wait in the rings and in requests being retried.
    ids.extend(record(&pipeline, "during", 1000, 3000));
    std::thread::sleep(Duration::from_millis(500));
    assert!(pipeline.report().unsettled() > 0);
    let second = Receiver::start(
        ReceiverConfig::default()
            .addr(addr)
            .keep(ringspan_receiver::Keep::Decoded),
    )
    .expect("the same port again");
    ids.extend(record(&pipeline, "after", 10_000, 500));
    let report = pipeline.shutdown(Duration::from_secs(15)).unwrap();
    assert_settled(&report);
    assert_eq!(report.recorded, 4000);
    assert_eq!(report.exported, 4000, "{report:#?}");
    assert!(report.export.retries > 0);
    // A request in flight when the first receiver died may have arrived twice.
    got.extend(received(&second, true).into_keys());
    assert_eq!(got, ids);
}

#[test]
fn no_more_requests_in_flight_than_configured() {
    let receiver = receiver();
    let mut c = config(&receiver.endpoint());
    c.exporter = c.exporter.max_in_flight(2);
    c.otlp = c.otlp.buffers(6).max_spans(10);
    let pipeline = Pipeline::start(c).unwrap();
    receiver.inject(Fault::Delay(Duration::from_millis(150)), 12);
    record(&pipeline, "queued", 0, 120);
    let report = pipeline.shutdown(Duration::from_secs(10)).unwrap();
    assert_settled(&report);
    assert_eq!(report.exported, 120);
    // Six buffers were out at times, but never more than two requests on the wire.
    assert_eq!(receiver.counts().max_concurrent, 2);
}

#[test]
fn a_200_whose_body_stalls_is_delivered_once_not_retried() {
    let receiver = receiver();
    let mut c = config(&receiver.endpoint());
    c.exporter = c.exporter.timeout(Duration::from_millis(300));
    let pipeline = Pipeline::start(c).unwrap();
    receiver.inject(Fault::StallBody(Duration::from_secs(3)), 1);
    let ids: HashSet<_> = record(&pipeline, "stalled", 0, 40).into_iter().collect();
    let mid = settle(&pipeline);
    assert_eq!(mid.exported, 40, "{mid:#?}");
    assert_eq!(mid.export.retries, 0, "sent again: {mid:#?}");
    assert_eq!(mid.export.bodies_lost, 1, "{mid:#?}");
    assert_eq!(
        receiver.counts().spans,
        40,
        "the collector got the batch once"
    );
    assert!(pipeline
        .last_export_error()
        .is_some_and(|e| e.contains("response body")));
    let report = pipeline.shutdown(Duration::from_secs(5)).unwrap();
    assert_settled(&report);
    let got: HashSet<_> = received(&receiver, false).into_keys().collect();
    assert_eq!(got, ids);
}

#[test]
fn a_shutdown_that_cuts_a_200_body_counts_the_batch_exported() {
    let receiver = receiver();
    let mut c = config(&receiver.endpoint());
    c.exporter = c.exporter.timeout(Duration::from_secs(20));
    let pipeline = Pipeline::start(c).unwrap();
    receiver.inject(Fault::StallBody(Duration::from_secs(10)), 1);
    record(&pipeline, "cut", 0, 25);
    // The 200 is in and the body is stalled when the shutdown's deadline passes.
    assert!(wait_for(Duration::from_secs(5), || receiver.counts().spans == 25));
    let report = pipeline.shutdown(Duration::from_millis(500)).unwrap();
    assert_eq!(
        (
            report.exported,
            report.dropped.shutdown,
            report.export.bodies_lost
        ),
        (25, 0, 1),
        "{report:#?}"
    );
    assert_settled(&report);
}

#[test]
fn a_200_whose_body_is_reset_is_delivered_once_not_retried() {
    let receiver = receiver();
    let pipeline = Pipeline::start(config(&receiver.endpoint())).unwrap();
    receiver.inject(Fault::ResetBody, 1);
    record(&pipeline, "cut", 0, 30);
    let mid = settle(&pipeline);
    assert_eq!(
        (mid.exported, mid.export.retries, mid.export.bodies_lost),
        (30, 0, 1),
        "{mid:#?}"
    );
    assert_eq!(receiver.counts().spans, 30);
    // The connection it broke is not reused: the next batch goes through a new one.
    record(&pipeline, "after", 100, 10);
    let after = settle(&pipeline);
    assert_eq!(after.exported, 40, "{after:#?}");
    let report = pipeline.shutdown(Duration::from_secs(5)).unwrap();
    assert_settled(&report);
    // Panics on a span received twice.
    assert_eq!(received(&receiver, false).len(), 40);
}
