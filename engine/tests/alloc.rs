//! Zero heap allocations per span in steady state: recording (start, 4 attributes, 1 event,
//! end; callsite spans, compact and promoted; travelling spans, keyed and from a callsite,
//! compact and promoted, one entered around a native one),
//! the drain, and OTLP encoding into pooled buffers, counted by a global allocator over the
//! whole process; and zero per metric data point recorded (every instrument, on the
//! producer, on the thread's producer and on a detached one); and zero per log record
//! (recorded inside and outside spans, on the producer, on the thread's producer inside an
//! entered travelling span, and on a detached one; drained and encoded).
//!
//! This binary holds a single test so that no other test allocates while it counts.

use std::alloc::System;
use std::time::Duration;

use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink};
use ringspan::Discard;
use ringspan::{Engine, EngineConfig, IdleStrategy, Sink, Value};
use ringspan_alloc_counter::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc<System> = CountingAlloc::new(System);

/// Spans recorded per iteration of `record`.
const PER_ROUND: u64 = 7;

/// One instrument of each kind.
struct Metrics {
    counter: ringspan::Counter,
    up_down: ringspan::UpDownCounter,
    gauge: ringspan::Gauge,
    histogram: ringspan::Histogram,
}

/// Metric updates per iteration of `record`, on each counter and on the histogram.
const UPDATES_PER_ROUND: u64 = 3;

fn record(
    engine: &Engine,
    p: &ringspan::Producer,
    detached: &ringspan::Producer,
    m: &Metrics,
    n: u64,
    dynamic: &str,
) {
    for i in 0..n {
        m.counter.add(p, 1);
        m.counter.add_local(1);
        m.counter.add(detached, 1);
        m.up_down.add(p, 1);
        m.up_down.add_local(-1);
        m.up_down.add(detached, 1);
        m.gauge.set(p, i as f64);
        m.gauge.set_local(i as f64);
        m.histogram.record(p, i as f64);
        m.histogram.record_local(0.5);
        m.histogram.record(detached, 7.0);
        // A travelling span (its record from the pool, ended into this thread's local ring),
        // entered once.
        let mut travel = engine.travel("travel");
        travel.set_attrs(&[
            ("i", Value::i64(i as i64)),
            ("dynamic", Value::copied(dynamic)),
        ]);
        travel.enter(|| engine.with_local(|lp| lp.log(ringspan::Severity::DEBUG, "entered", &[])));
        drop(travel);
        p.log(
            ringspan::Severity::INFO,
            "order filled",
            &[
                ("i", Value::i64(i as i64)),
                ("venue", Value::str("XNAS")),
                ("dynamic", Value::copied(dynamic)),
            ],
        );
        detached.log(ringspan::Severity::WARN, "no ring", &[]);
        // A travelling span from its callsite (a compact record), and one promoted.
        engine
            .travel_at(ringspan::callsite!("travel.compact", "i", "f"))
            .set_values(&[Value::i64(i as i64), Value::f64(0.5)]);
        engine
            .travel_at(ringspan::callsite!("travel.promoted", "i"))
            .set_values(&[Value::i64(i as i64)])
            .add_event("step", &[]);
        let mut span = p.span("request");
        span.set_attrs(&[
            ("i", Value::i64(i as i64)),
            ("f", Value::f64(0.5)),
            ("static", Value::str("value")),
            ("dynamic", Value::copied(dynamic)),
        ]);
        span.add_event("step", &[("at", Value::i64(1))]);
        let _child = p.span("child");
        p.log_event(
            "child.step",
            ringspan::Severity::INFO,
            Value::copied(dynamic),
            &[],
        );
        // A callsite span (a compact record), and one promoted to a full record.
        p.span_at(ringspan::callsite!("compact", "i", "f"))
            .set_values(&[Value::i64(i as i64), Value::f64(0.5)]);
        p.span_at(ringspan::callsite!("promoted", "i"))
            .set_values(&[Value::i64(i as i64)])
            .add_event("step", &[]);
    }
}

/// Drops each request at once, which returns its buffer to the pool.
struct Release;

impl Exporter for Release {
    fn export(&mut self, request: EncodedRequest) {
        assert!(request.records() > 0);
    }
}

/// Log records per iteration of `record` (one of them on the detached producer).
const LOGS_PER_ROUND: u64 = 4;

/// Records spans and log records through `sink` and returns (allocations, spans delivered,
/// log records delivered) for the steady part.
fn measure(sink: impl Sink) -> (u64, u64, u64) {
    let config = EngineConfig::default()
        // The producer's ring, and the thread's local one for the travelling spans.
        .rings(3)
        .ring_capacity(16384)
        .compact_capacity(16384)
        .log_capacity(16384)
        .idle(IdleStrategy::Yield);
    let engine = Engine::start(config, sink).unwrap();
    let p = engine.producer().unwrap();
    let detached = engine.detached_producer();
    let m = Metrics {
        counter: engine.metric("counter").counter().unwrap(),
        up_down: engine.metric("up_down").up_down_counter().unwrap(),
        gauge: engine.metric("gauge").gauge().unwrap(),
        histogram: engine.metric("histogram").histogram().unwrap(),
    };
    let dynamic = String::from("copied into the slot");
    // Warm-up: first-use costs (thread-locals, lazy statics) happen here.
    record(&engine, &p, &detached, &m, 10_000, &dynamic);
    engine.flush(Duration::from_secs(5)).unwrap();
    let warm = engine.snapshot();

    let before = ALLOC.allocations();
    record(&engine, &p, &detached, &m, 100_000, &dynamic);
    engine.flush(Duration::from_secs(5)).unwrap();
    let allocs = ALLOC.allocations() - before;
    // Every update was recorded.
    let reading = engine.read_metrics();
    let rounds = 110_000;
    assert_eq!(reading.sum_of("counter"), Some(UPDATES_PER_ROUND * rounds));
    assert_eq!(reading.sum_of("up_down"), Some(rounds));
    let Some(ringspan::SeriesValue::Histogram { count, sum, .. }) = reading.value("histogram", &[])
    else {
        panic!("no histogram");
    };
    assert_eq!(count, UPDATES_PER_ROUND * rounds);
    let expected = (0..100_000).chain(0..10_000).map(|i| i as f64).sum::<f64>()
        + 0.5 * rounds as f64
        + 7.0 * rounds as f64;
    assert_eq!(sum, expected);
    let snap = engine.snapshot();
    let delivered = snap.delivered - warm.delivered;
    // A flat-out producer can outrun the drain; those spans are dropped and counted.
    let dropped = snap.dropped.total() - warm.dropped.total();
    assert_eq!(delivered + dropped, PER_ROUND * 100_000);
    let logs = snap.logs.delivered - warm.logs.delivered;
    let logs_dropped = snap.logs.dropped.total() - warm.logs.dropped.total();
    assert_eq!(logs + logs_dropped, LOGS_PER_ROUND * 100_000);
    assert_eq!(
        snap.logs.dropped.no_ring - warm.logs.dropped.no_ring,
        100_000
    );
    drop(p);
    engine.shutdown(Duration::from_secs(5)).unwrap();
    (allocs, delivered, logs)
}

#[test]
fn no_allocation_per_span_in_steady_state() {
    let discard = Discard::default();
    let (allocs, delivered, logs) = measure(discard.clone());
    assert!(
        delivered > 10_000 && logs > 10_000,
        "spans and log records went through the drain: {delivered}, {logs}"
    );
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for 700000 spans and 400000 log records recorded and drained"
    );
    assert!(discard.spans() >= delivered);

    let otlp = OtlpSink::new(OtlpConfig::default(), Release)
        .unwrap()
        .with_logs(Release);
    let stats = otlp.stats();
    let (allocs, delivered, logs) = measure(otlp);
    assert!(
        delivered > 10_000 && logs > 10_000,
        "spans and log records went through the drain: {delivered}, {logs}"
    );
    assert!(
        stats.logs_encoded() >= logs,
        "{} encoded",
        stats.logs_encoded()
    );
    assert!(
        stats.spans_encoded() >= delivered,
        "{} encoded",
        stats.spans_encoded()
    );
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for 700000 spans and 400000 log records recorded, drained and encoded"
    );
}
