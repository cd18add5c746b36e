//! The workloads of the instruction-count gate (`bench/icount.py`), one per run:
//!
//! - `record`: the bench span through the keyed API (start, 4 attributes with static keys in
//!   one call, end) on a sampled producer;
//! - `callsite`: the same span started from its callsite (a compact record);
//! - `travel`: the keyed span as a travelling span (`Engine::travel`: its record from the
//!   travel pool, published into the thread's local ring);
//! - `travel_callsite`: the callsite span as a travelling span (`Engine::travel_at`: a
//!   compact record from the compact travel pool, into the thread's local compact ring);
//! - `tracing`: the bench span as `tracing` users write it (`tracing_span::record_one`:
//!   `info_span!` with 4 fields, entered, closed) through the Registry and ringspan's layer;
//! - `tracing_registry`: the same span through the Registry alone, the floor the layer adds to;
//! - `otel_api`: the `record/otel_sdk` span (opentelemetry API: builder, 4 attributes, end)
//!   through ringspan's `TracerProvider`;
//! - `unsampled`: the callsite span under an always-off sampler;
//! - `encode`: the `encode` bench's batch of 512 drained spans through the `OtlpSink`;
//! - `encode_compact`: 512 compact records of the callsite span through the same sink.
//!
//! Each workload warms up, then runs its measured loop inside one `#[no_mangle]` function
//! (`icount_measure_record` for both recording workloads, `icount_measure_encode`) that callgrind is told to count (`--toggle-collect`), so the
//! count is the instructions of that loop alone, deterministic whatever else the machine does.
//! The ring holds every span of a run, so the producer never finds it full and never takes the
//! drop path whatever the drain thread does meanwhile; the run asserts that afterwards.
//!
//! Usage: `ringspan-icount <workload> <iterations>` (a workload above); prints
//! `<workload> <iterations> <units per iteration>` for the script.

use std::hint::black_box;
use std::time::Duration;

use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink, Resource};
use ringspan::{Calibration, Discard, Engine, EngineConfig, IdleStrategy, Producer, Sampler};
use ringspan::{CompactRecord, Sink, SpanRecord};
use ringspan_bench::ours::{
    drained_batch, drained_compact_batch, record_keyed, record_one, record_travel,
    record_travel_keyed,
};

const WARMUP: i64 = 256;
const BATCH: usize = 512;

#[no_mangle]
#[inline(never)]
fn icount_measure_record(p: &Producer, n: i64) {
    for i in 0..n {
        record_keyed(p, black_box(i));
    }
}

#[no_mangle]
#[inline(never)]
fn icount_measure_callsite(p: &Producer, n: i64) {
    for i in 0..n {
        record_one(p, black_box(i));
    }
}

#[no_mangle]
#[inline(never)]
fn icount_measure_metric_counter(p: &Producer, c: &ringspan::Counter, n: i64) {
    for _ in 0..n {
        c.add(p, black_box(1));
    }
}

#[no_mangle]
#[inline(never)]
fn icount_measure_metric_histogram(p: &Producer, h: &ringspan::Histogram, n: i64) {
    for i in 0..n {
        h.record(p, black_box((i % 200) as f64));
    }
}

#[no_mangle]
#[inline(never)]
fn icount_measure_log_record(p: &Producer, n: i64) {
    for i in 0..n {
        ringspan_bench::ours::log_one(p, black_box(i));
    }
}

#[no_mangle]
#[inline(never)]
fn icount_measure_tracing(n: i64) {
    for i in 0..n {
        ringspan_bench::tracing_span::record_one(black_box(i));
    }
}

#[no_mangle]
#[inline(never)]
fn icount_measure_otel_api(tracer: &ringspan::OtelTracer, n: i64) {
    for i in 0..n {
        ringspan_bench::peers::otel_sdk::record_one(tracer, black_box(i));
    }
}

#[no_mangle]
#[inline(never)]
fn icount_measure_travel(engine: &Engine, n: i64) {
    for i in 0..n {
        record_travel_keyed(engine, black_box(i));
    }
}

#[no_mangle]
#[inline(never)]
fn icount_measure_travel_callsite(engine: &Engine, n: i64) {
    for i in 0..n {
        record_travel(engine, black_box(i));
    }
}

#[no_mangle]
#[inline(never)]
fn icount_measure_encode(
    sink: &mut OtlpSink<Discarding>,
    records: &[SpanRecord],
    cal: &Calibration,
    n: i64,
) {
    for _ in 0..n {
        sink.accept(black_box(records), cal);
        sink.flush(cal);
    }
}

#[no_mangle]
#[inline(never)]
fn icount_measure_encode_compact(
    sink: &mut OtlpSink<Discarding>,
    records: &[CompactRecord],
    cal: &Calibration,
    n: i64,
) {
    for _ in 0..n {
        sink.accept_compact(black_box(records), "ringspan", cal);
        sink.flush(cal);
    }
}

/// Drops each request at once, handing its buffer back to the pool.
struct Discarding;

impl Exporter for Discarding {
    fn export(&mut self, request: EncodedRequest) {
        black_box(request.bytes());
    }
}

fn record(sampler: Sampler, n: i64, measure: fn(&Producer, i64)) {
    let total = (2 * WARMUP + n) as usize;
    let config = EngineConfig::default()
        .rings(1)
        .ring_capacity((total + 1).next_power_of_two())
        .compact_capacity((total + 1).next_power_of_two())
        .sampler(sampler)
        .idle(IdleStrategy::Yield);
    let engine = Engine::start(config, Discard::default()).expect("engine starts");
    let p = engine.producer().expect("a ring");
    for i in 0..WARMUP {
        record_one(&p, i);
        record_keyed(&p, i);
    }
    measure(&p, n);
    drop(p);
    let snap = engine.shutdown(Duration::from_secs(30)).expect("shutdown");
    assert_eq!(
        snap.dropped.total(),
        0,
        "a dropped span would change the count"
    );
}

/// An engine with one ring, which the thread's local producer claims, holding every span of
/// a run of `n` (and the warm-up): the producer never finds it full.
fn local_ring_engine(n: i64) -> Engine {
    local_engine(n, false)
}

/// [`local_ring_engine`], its compact ring as large as its full one if `compact`.
fn local_engine(n: i64, compact: bool) -> Engine {
    let total = (WARMUP + n) as usize;
    let config = EngineConfig::default()
        .rings(1)
        .ring_capacity((total + 1).next_power_of_two())
        .compact_capacity(if compact {
            (total + 1).next_power_of_two()
        } else {
            2
        })
        .idle(IdleStrategy::Yield);
    Engine::start(config, Discard::default()).expect("engine starts")
}

/// Shuts `engine` down and checks that no span was dropped and, if `recorded`, that every
/// span of the run (and the warm-up) was delivered (else none was).
fn delivered_all(engine: Engine, n: i64, recorded: bool) {
    let snap = engine.shutdown(Duration::from_secs(30)).expect("shutdown");
    assert_eq!(
        snap.dropped.total(),
        0,
        "a dropped span would change the count"
    );
    let expected = if recorded { (WARMUP + n) as u64 } else { 0 };
    assert_eq!(snap.delivered, expected);
}

/// The travelling bench span, ending into this thread's local ring (the engine's only one):
/// through the keyed API, or (`callsite`) started from its callsite.
fn travel(n: i64, callsite: bool) {
    let engine = local_engine(n, callsite);
    for i in 0..WARMUP {
        if callsite {
            record_travel(&engine, i);
        } else {
            record_travel_keyed(&engine, i);
        }
    }
    if callsite {
        icount_measure_travel_callsite(&engine, n);
    } else {
        icount_measure_travel(&engine, n);
    }
    delivered_all(engine, n, true);
}

/// The `tracing` bench span under `subscriber` (the Registry, with ringspan's layer or not);
/// with the layer, every span reaches the engine's sink.
fn tracing(n: i64, with_layer: bool) {
    let engine = local_ring_engine(n);
    let dispatch = if with_layer {
        tracing::Dispatch::new(ringspan_bench::ours::tracing(&engine))
    } else {
        tracing::Dispatch::new(tracing_subscriber::registry())
    };
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..WARMUP {
            ringspan_bench::tracing_span::record_one(i);
        }
        icount_measure_tracing(n);
    });
    drop(dispatch);
    delivered_all(engine, n, with_layer);
}

/// The opentelemetry API's bench span through ringspan's tracer; every span reaches the sink.
fn otel_api(n: i64) {
    use opentelemetry::trace::TracerProvider as _;
    let engine = local_ring_engine(n);
    let tracer = engine.otel_tracer_provider().tracer("ringspan-bench");
    for i in 0..WARMUP {
        ringspan_bench::peers::otel_sdk::record_one(&tracer, i);
    }
    icount_measure_otel_api(&tracer, n);
    delivered_all(engine, n, true);
}

/// One counter add, or one histogram record (default bounds, values 0..200), on a
/// producer: every update is read back.
fn metric(n: i64, histogram: bool) {
    let engine =
        Engine::start(EngineConfig::default().rings(1), Discard::default()).expect("engine starts");
    let p = engine.producer().expect("a ring");
    let attrs = [("route", ringspan::ValueRef::Str("/orders"))];
    let m = engine.metric("m").attributes(&attrs);
    let recorded = if histogram {
        let h = m.histogram().expect("a histogram");
        icount_measure_metric_histogram(&p, &h, WARMUP);
        icount_measure_metric_histogram(&p, &h, n);
        match engine.read_metrics().value("m", &attrs) {
            Some(ringspan::SeriesValue::Histogram { count, .. }) => count,
            other => panic!("{other:?}"),
        }
    } else {
        let c = m.counter().expect("a counter");
        icount_measure_metric_counter(&p, &c, WARMUP);
        icount_measure_metric_counter(&p, &c, n);
        engine.read_metrics().sum_of("m").expect("a counter")
    };
    assert_eq!(recorded, (WARMUP + n) as u64);
    drop(p);
    engine.shutdown(Duration::from_secs(30)).expect("shutdown");
}

/// Log records into a log ring that holds them all (so none takes the drop path).
fn log_record(n: i64) {
    let total = (WARMUP + n) as usize;
    let config = EngineConfig::default()
        .rings(1)
        .log_capacity((total + 1).next_power_of_two());
    let engine = Engine::start(config, Discard::default()).expect("engine starts");
    let p = engine.producer().expect("a ring");
    icount_measure_log_record(&p, WARMUP);
    icount_measure_log_record(&p, n);
    drop(p);
    let snap = engine.shutdown(Duration::from_secs(30)).expect("shutdown");
    assert_eq!(snap.logs.delivered, total as u64, "{:?}", snap.logs);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_default();
    let n: i64 = args
        .next()
        .and_then(|v| v.parse().ok())
        .expect("usage: ringspan-icount <record|callsite|travel|tracing|tracing_registry|otel_api|unsampled|metric_counter|metric_histogram|log_record|encode> <iterations>");
    let units = match workload.as_str() {
        "record" => {
            record(Sampler::default(), n, icount_measure_record);
            1
        }
        "callsite" => {
            record(Sampler::default(), n, icount_measure_callsite);
            1
        }
        "travel" => {
            travel(n, false);
            1
        }
        "travel_callsite" => {
            travel(n, true);
            1
        }
        "tracing" => {
            tracing(n, true);
            1
        }
        "otel_api" => {
            otel_api(n);
            1
        }
        "metric_counter" => {
            metric(n, false);
            1
        }
        "log_record" => {
            log_record(n);
            1
        }
        "metric_histogram" => {
            metric(n, true);
            1
        }
        "tracing_registry" => {
            tracing(n, false);
            1
        }
        "unsampled" => {
            record(
                Sampler::parent_based(Sampler::always_off()),
                n,
                icount_measure_callsite,
            );
            1
        }
        "encode" => {
            let (records, cal) = drained_batch(BATCH);
            let config = OtlpConfig::default()
                .resource(Resource::new("bench"))
                .max_spans(BATCH);
            let mut sink = OtlpSink::new(config, Discarding).expect("sink");
            assert_eq!(sink.accept(&records, &cal), BATCH);
            sink.flush(&cal);
            icount_measure_encode(&mut sink, &records, &cal, n);
            assert_eq!(sink.stats().spans_encoded(), (n as u64 + 1) * BATCH as u64);
            BATCH
        }
        "encode_compact" => {
            let (records, cal) = drained_compact_batch(BATCH);
            let config = OtlpConfig::default()
                .resource(Resource::new("bench"))
                .max_spans(BATCH);
            let mut sink = OtlpSink::new(config, Discarding).expect("sink");
            assert_eq!(sink.accept_compact(&records, "ringspan", &cal), BATCH);
            sink.flush(&cal);
            icount_measure_encode_compact(&mut sink, &records, &cal, n);
            assert_eq!(sink.stats().spans_encoded(), (n as u64 + 1) * BATCH as u64);
            BATCH
        }
        other => panic!(
            "unknown workload {other:?}: record, callsite, travel, tracing, tracing_registry, otel_api, unsampled, metric_counter, metric_histogram, log_record, encode or encode_compact"
        ),
    };
    println!("{workload} {n} {units}");
}
