//! ringspan set up for the benches: a `Discard` sink, the drain spinning on the drain core,
//! and the one span every bench records.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringspan::{Calibration, Callsite, CompactRecord, Discard, Sink, SpanRecord};
use ringspan::{Engine, EngineConfig, IdleStrategy, Producer, Sampler, Value};

use crate::cores;

/// Slots per ring, for ringspan and the floor alike: 16384 x 896 B (14 MiB) still fits the
/// 32 MiB L3 here, and absorbs the multi-millisecond stalls of a drain whose vCPU the
/// hypervisor steals (half the CPU time was steal on the day we measured).
pub const CAPACITY: usize = 1 << 14;

/// The bench span's callsite: its name and keys, registered once.
static ORDER_MATCH: Callsite = Callsite::new(
    "order.match",
    &["order.id", "order.qty", "order.side", "order.aggressive"],
);

/// The bench's log record, as [`crate::peers::otel_logs`] records it: severity INFO, a
/// static body, 3 attributes (i64, static string, f64) with static keys, under no span.
#[inline(always)]
pub fn log_one(p: &Producer, i: i64) {
    p.log(
        ringspan::Severity::INFO,
        "order filled",
        &[
            ("order.id", Value::i64(i)),
            ("venue", Value::str("XNAS")),
            ("qty", Value::f64(100.0)),
        ],
    );
}

/// One span as a careful user records it: started from its callsite, the 4 values in one
/// call, end (a compact record).
#[inline(always)]
pub fn record_one(p: &Producer, i: i64) {
    p.span_at(&ORDER_MATCH).set_values(&[
        Value::i64(i),
        Value::f64(100.0),
        Value::str("buy"),
        Value::bool(true),
    ]);
}

/// The same span through the keyed API: a static name, the 4 attributes with their static
/// keys in one call (a full record).
#[inline(always)]
pub fn record_keyed(p: &Producer, i: i64) {
    let mut span = p.span("order.match");
    span.set_attrs(&[
        ("order.id", Value::i64(i)),
        ("order.qty", Value::f64(100.0)),
        ("order.side", Value::str("buy")),
        ("order.aggressive", Value::bool(true)),
    ]);
}

/// The bench span as a travelling span started from its callsite (start, the 4 values, end),
/// as [`record_one`] on a native span: a compact record from the engine's travel pool,
/// published into the calling thread's local compact ring.
#[inline(always)]
pub fn record_travel(engine: &Engine, i: i64) {
    engine.travel_at(&ORDER_MATCH).set_values(&[
        Value::i64(i),
        Value::f64(100.0),
        Value::str("buy"),
        Value::bool(true),
    ]);
}

/// The same travelling span through the keyed API, as [`record_keyed`]: a full record.
pub fn record_travel_keyed(engine: &Engine, i: i64) {
    let mut span = engine.travel("order.match");
    span.set_attrs(&[
        ("order.id", Value::i64(i)),
        ("order.qty", Value::f64(100.0)),
        ("order.side", Value::str("buy")),
        ("order.aggressive", Value::bool(true)),
    ]);
}

/// A `tracing` subscriber as ringspan's users would set it up: the Registry with the
/// engine's [`ringspan::TracingLayer`].
pub fn tracing(engine: &Engine) -> impl tracing::Subscriber + Send + Sync {
    use tracing_subscriber::layer::SubscriberExt;
    tracing_subscriber::registry().with(engine.tracing_layer())
}

/// An engine whose drain spins on the drain core.
pub fn engine(sampler: Sampler) -> Engine {
    let mut config = EngineConfig::default()
        .rings(2)
        .ring_capacity(CAPACITY)
        .compact_capacity(CAPACITY)
        .log_capacity(CAPACITY)
        .sampler(sampler)
        .idle(IdleStrategy::Spin);
    if let Some((_, drain)) = cores() {
        config = config.drain_core(drain);
    }
    Engine::start(config, Discard::default()).expect("engine starts")
}

/// A producer pinned to the producer core.
pub fn producer(engine: &Engine) -> Producer {
    match cores() {
        Some((core, _)) => engine.pin(core).expect("pin the bench thread"),
        None => engine.producer().expect("a ring"),
    }
}

/// Copies every drained record (records are plain `Copy` data) and keeps the calibration.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    full: Vec<SpanRecord>,
    compact: Vec<CompactRecord>,
    clock: Option<Calibration>,
}

impl Sink for Capture {
    fn accept(&mut self, spans: &[SpanRecord], clock: &Calibration) -> usize {
        let mut c = self.0.lock().unwrap();
        c.full.extend_from_slice(spans);
        c.clock = Some(clock.clone());
        spans.len()
    }
    fn accept_compact(
        &mut self,
        spans: &[CompactRecord],
        _scope: &'static str,
        clock: &Calibration,
    ) -> usize {
        let mut c = self.0.lock().unwrap();
        c.compact.extend_from_slice(spans);
        c.clock = Some(clock.clone());
        spans.len()
    }
    fn flush(&mut self, _clock: &Calibration) {}
}

/// Runs `record` on a fresh engine whose sink keeps every record, and returns what it kept.
fn drained(ring: usize, record: impl FnOnce(&Producer)) -> Captured {
    let capture = Capture::default();
    let config = EngineConfig::default()
        .rings(1)
        .ring_capacity(ring)
        .compact_capacity(ring);
    let engine = Engine::start(config, capture.clone()).unwrap();
    let p = engine.producer().unwrap();
    record(&p);
    drop(p);
    engine.shutdown(Duration::from_secs(5)).unwrap();
    let mut c = capture.0.lock().unwrap();
    std::mem::take(&mut *c)
}

/// `n` drained records as an instrumented service records them (4 attributes, one of them a
/// copied string, and an event), with the drain's calibration: what the `encode` bench and
/// the instruction-count gate encode.
pub fn drained_batch(n: usize) -> (Vec<SpanRecord>, Calibration) {
    let user = String::from("account-7781");
    let c = drained(n.next_power_of_two().max(2), |p| {
        for i in 0..n as i64 {
            let mut s = p.span("order.match");
            s.set_attrs(&[
                ("order.id", Value::i64(i)),
                ("order.qty", Value::f64(100.0)),
                ("order.side", Value::str("buy")),
                ("account", Value::copied(&user)),
            ]);
            s.add_event("matched", &[("fill.qty", Value::i64(100))]);
        }
    });
    assert_eq!(c.full.len(), n, "every span of the batch was drained");
    (c.full, c.clock.unwrap())
}

/// `n` drained compact records of the bench span ([`record_one`]: its callsite, 4 values),
/// with the drain's calibration: what `encode/ringspan_compact` encodes.
pub fn drained_compact_batch(n: usize) -> (Vec<CompactRecord>, Calibration) {
    let c = drained(n.next_power_of_two().max(2), |p| {
        for i in 0..n as i64 {
            record_one(p, i);
        }
    });
    assert_eq!(c.compact.len(), n, "every span of the batch was drained");
    (c.compact, c.clock.unwrap())
}
