//! ringspan set up for the benches: a `Discard` sink, the drain spinning on the drain core,
//! and the one span every bench records.

use ringspan::Discard;
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
