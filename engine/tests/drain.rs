//! The drain thread: batching, schedule delay, flush, backpressure, shutdown accounting.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Collect, Gate};
use ringspan::{Engine, EngineConfig, IdleStrategy};

const T: Duration = Duration::from_secs(5);

/// An engine with one small ring, otherwise defaults.
fn one_ring(sink: Collect) -> Engine {
    Engine::start(EngineConfig::default().rings(1).ring_capacity(64), sink).unwrap()
}

#[test]
fn batches_are_cut_at_max_batch() {
    let sink = Collect::default();
    let config = EngineConfig::default()
        .rings(1)
        .ring_capacity(1024)
        .max_batch(10)
        .idle(IdleStrategy::Yield);
    let engine = Engine::start(config, sink.clone()).unwrap();
    let p = engine.producer().unwrap();
    for _ in 0..25 {
        drop(p.span("s"));
    }
    engine.flush(T).unwrap();
    let batches = sink.batches.lock().unwrap().clone();
    assert_eq!(batches.iter().sum::<usize>(), 25);
    assert!(batches.iter().all(|&b| b <= 10), "{batches:?}");
    assert_eq!(
        batches.iter().filter(|&&b| b == 10).count(),
        2,
        "{batches:?}"
    );
}

#[test]
fn schedule_delay_flushes_a_partial_batch() {
    let sink = Collect::default();
    let config = EngineConfig::default()
        .rings(1)
        .ring_capacity(64)
        .schedule_delay(Duration::from_millis(20))
        .idle(IdleStrategy::Park(Duration::from_millis(1)));
    let engine = Engine::start(config, sink.clone()).unwrap();
    let p = engine.producer().unwrap();
    drop(p.span("lonely"));
    let started = Instant::now();
    while sink.flushes.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < T, "no flush after the schedule delay");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(sink.take().len(), 1);
}

#[test]
fn flush_waits_for_spans_from_every_ring() {
    for idle in [
        IdleStrategy::Spin,
        IdleStrategy::Yield,
        IdleStrategy::Park(Duration::from_secs(10)),
    ] {
        let sink = Collect::default();
        let config = EngineConfig::default()
            .rings(4)
            .ring_capacity(64)
            .idle(idle);
        let engine = Engine::start(config, sink.clone()).unwrap();
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let p = engine.producer().unwrap();
                    for _ in 0..50 {
                        drop(p.span("x"));
                    }
                    // Even with a 10 s park, flush wakes the drain and returns promptly.
                    let started = Instant::now();
                    engine.flush(T).unwrap();
                    assert!(started.elapsed() < Duration::from_secs(2), "{idle:?}");
                });
            }
        });
        assert_eq!(sink.take().len(), 150, "{idle:?}");
    }
}

#[test]
fn a_refusing_sink_fills_the_ring_and_producers_drop_and_count() {
    let gate = Gate::new(false);
    let config = EngineConfig::default()
        .rings(1)
        .ring_capacity(8)
        .idle(IdleStrategy::Yield);
    let engine = Engine::start(config, gate.clone()).unwrap();
    let p = engine.producer().unwrap();
    for _ in 0..20 {
        drop(p.span("x")); // never blocks
    }
    let snap = engine.snapshot();
    assert_eq!(snap.recorded, 20);
    assert_eq!(snap.in_rings, 8);
    assert_eq!(snap.dropped.ring_full, 12);
    assert!(snap.is_balanced(), "{snap:?}");
    let err = engine.flush(Duration::from_millis(50)).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // The sink recovers: what waited in the ring goes out, and recording works again.
    gate.open.store(true, Ordering::SeqCst);
    engine.flush(T).unwrap();
    drop(p.span("after"));
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert_eq!(snap.delivered, 9);
    assert_eq!(gate.taken.load(Ordering::SeqCst), 9);
    assert!(snap.sink_stalls > 0);
    assert!(snap.is_balanced(), "{snap:?}");
}

#[test]
fn shutdown_deadline_counts_what_could_not_be_delivered() {
    let gate = Gate::new(false);
    let config = EngineConfig::default()
        .rings(2)
        .ring_capacity(16)
        .idle(IdleStrategy::Yield);
    let engine = Engine::start(config, gate.clone()).unwrap();
    let p = engine.producer().unwrap();
    for _ in 0..10 {
        drop(p.span("stuck"));
    }
    let started = Instant::now();
    let snap = engine.shutdown(Duration::from_millis(100)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(snap.dropped.shutdown, 10);
    assert_eq!(snap.delivered, 0);
    assert_eq!(snap.in_rings, 0);
    assert!(snap.is_balanced(), "{snap:?}");
    // Spans ended after shutdown are counted too, and the identity still holds.
    drop(p.span("late"));
    let snap = engine.snapshot();
    assert_eq!(snap.dropped.shutdown, 11);
    assert!(snap.is_balanced(), "{snap:?}");
    assert!(engine.flush(T).unwrap_err().is_shut_down());
    assert!(engine.producer().unwrap_err().is_shut_down());
    // Shutting down twice reports the same totals.
    assert_eq!(engine.shutdown(T).unwrap(), snap);
}

#[test]
fn shutdown_delivers_everything_when_the_sink_keeps_up() {
    let sink = Collect::default();
    let config = EngineConfig::default()
        .rings(2)
        .ring_capacity(1024)
        .idle(IdleStrategy::Park(Duration::from_secs(10)));
    let engine = Engine::start(config, sink.clone()).unwrap();
    let p = engine.producer().unwrap();
    for _ in 0..1000 {
        drop(p.span("x"));
    }
    let snap = engine.shutdown(T).unwrap();
    assert_eq!(snap.delivered, 1000);
    assert_eq!(snap.dropped.total(), 0);
    assert_eq!(sink.take().len(), 1000);
    assert!(sink.flushes.load(Ordering::SeqCst) >= 1);
}

#[test]
fn dropping_the_engine_flushes() {
    let sink = Collect::default();
    {
        let engine = one_ring(sink.clone());
        let p = engine.producer().unwrap();
        drop(p.span("x"));
    }
    assert_eq!(sink.take().len(), 1);
}

#[test]
fn the_drain_thread_is_named() {
    let sink = Collect::default();
    let engine = one_ring(sink.clone());
    let p = engine.producer().unwrap();
    drop(p.span("x"));
    engine.flush(T).unwrap();
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .map(|s| s.trim().to_owned())
                .collect()
        })
        .unwrap_or_default();
    if !names.is_empty() {
        assert!(names.iter().any(|n| n == "ringspan-drain"), "{names:?}");
    }
}
