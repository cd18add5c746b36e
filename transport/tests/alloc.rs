//! The exporter allocates a bounded amount per request, not per span: the same workload sent
//! in requests of 64 and of 512 spans costs about the same allocations per request, so per
//! span it falls as requests grow. Counted over the whole process, the in-process receiver
//! included (it scans, it does not decode).
//!
//! This binary holds a single test so that no other test allocates while it counts.

mod common;

use std::alloc::System;
use std::time::Duration;

use common::*;
use ringspan_alloc_counter::CountingAlloc;
use ringspan_receiver::{Receiver, ReceiverConfig};
use ringspan_transport::Pipeline;

#[global_allocator]
static ALLOC: CountingAlloc<System> = CountingAlloc::new(System);

/// Allocations per request and per span while sending `requests` requests of `batch` spans.
fn allocations(batch: usize, requests: usize) -> (f64, f64) {
    let receiver = Receiver::start(ReceiverConfig::default()).unwrap();
    let mut c = config(&receiver.endpoint());
    c.engine = c.engine.max_batch(batch);
    c.otlp = c.otlp.max_spans(batch);
    let pipeline = Pipeline::start(c).unwrap();
    let producer = pipeline.engine().producer().unwrap();
    let send = |n: usize| {
        for _ in 0..n * batch {
            let mut span = producer.span("work");
            span.set_attr("seq", 1).set_attr("side", "buy");
        }
        pipeline.engine().flush(Duration::from_secs(10)).unwrap();
        assert!(wait_for(Duration::from_secs(10), || {
            pipeline.report().unsettled() == 0
        }));
    };
    send(8); // warm up: connections, pools, the runtime's first tasks
    let (a0, r0) = (ALLOC.allocations(), pipeline.report().export.requests);
    send(requests);
    let (a1, r1) = (ALLOC.allocations(), pipeline.report().export.requests);
    drop(producer);
    let report = pipeline.shutdown(Duration::from_secs(5)).unwrap();
    assert_settled(&report);
    assert_eq!(report.dropped_total(), 0, "{report:#?}");
    let sent = (r1 - r0) as f64;
    let per_request = (a1 - a0) as f64 / sent;
    (per_request, per_request / batch as f64)
}

#[test]
fn allocations_are_per_request_not_per_span() {
    let (small_req, small_span) = allocations(64, 64);
    let (large_req, large_span) = allocations(512, 16);
    println!(
        "64-span requests: {small_req:.1} allocations each ({small_span:.3}/span); \
         512-span requests: {large_req:.1} each ({large_span:.3}/span)"
    );
    // Eight times the spans per request may cost more buffer chunks on the wire, not eight
    // times the allocations.
    assert!(
        large_req < 2.0 * small_req + 16.0,
        "{large_req} allocations per 512-span request vs {small_req} per 64-span request"
    );
    assert!(large_span < 0.25, "{large_span} allocations per span");
}
