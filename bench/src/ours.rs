//! ringspan set up for the benches: a `Discard` sink, the drain spinning on the drain core,
//! and the one span every bench records.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringspan::{Calibration, Discard, Sink, SpanRecord};
use ringspan::{Engine, EngineConfig, IdleStrategy, Producer, Sampler, Value};

use crate::cores;

/// Slots per ring, for ringspan and the floor alike: 16384 x 896 B (14 MiB) still fits the
/// 32 MiB L3 here, and absorbs the multi-millisecond stalls of a drain whose vCPU the
/// hypervisor steals (half the CPU time was steal on the day we measured).
pub const CAPACITY: usize = 1 << 14;

/// One span as a user records it: start, 4 attributes in one call, end.
#[inline(always)]
pub fn record_one(p: &Producer, i: i64) {
    let mut span = p.span("order.match");
    span.set_attrs(&[
        ("order.id", Value::i64(i)),
        ("order.qty", Value::f64(100.0)),
        ("order.side", Value::str("buy")),
        ("order.aggressive", Value::bool(true)),
    ]);
}

/// An engine whose drain spins on the drain core.
pub fn engine(sampler: Sampler) -> Engine {
    let mut config = EngineConfig::default()
        .rings(2)
        .ring_capacity(CAPACITY)
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
struct Capture(Arc<Mutex<(Vec<SpanRecord>, Option<Calibration>)>>);

impl Sink for Capture {
    fn accept(&mut self, spans: &[SpanRecord], clock: &Calibration) -> usize {
        let mut c = self.0.lock().unwrap();
        c.0.extend_from_slice(spans);
        c.1 = Some(clock.clone());
        spans.len()
    }
    fn flush(&mut self, _clock: &Calibration) {}
}

/// `n` drained records as an instrumented service records them (4 attributes, one of them a
/// copied string, and an event), with the drain's calibration: what the `encode` bench and
/// the instruction-count gate encode.
pub fn drained_batch(n: usize) -> (Vec<SpanRecord>, Calibration) {
    let capture = Capture::default();
    let engine = Engine::start(
        EngineConfig::default()
            .rings(1)
            .ring_capacity(n.next_power_of_two().max(2)),
        capture.clone(),
    )
    .unwrap();
    let p = engine.producer().unwrap();
    let user = String::from("account-7781");
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
    drop(p);
    engine.shutdown(Duration::from_secs(5)).unwrap();
    let mut c = capture.0.lock().unwrap();
    assert_eq!(c.0.len(), n, "every span of the batch was drained");
    (std::mem::take(&mut c.0), c.1.take().unwrap())
}
