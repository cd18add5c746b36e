//! What the engine tells a monitor (the admin endpoint reads these): each ring's fill,
//! high-water mark and spans recorded, and the names of spans left open when their producer
//! was dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringspan::{Calibration, Engine, EngineConfig, IdleStrategy, Sink, SpanRecord};

/// Refuses every span while `hold` is set, then takes them all.
struct Gate {
    hold: Arc<AtomicBool>,
}

impl Sink for Gate {
    fn accept(&mut self, spans: &[SpanRecord], _: &Calibration) -> usize {
        // Relaxed: a test flag; the drain retries until it flips.
        if self.hold.load(Ordering::Relaxed) {
            0
        } else {
            spans.len()
        }
    }

    fn flush(&mut self, _: &Calibration) {}
}

fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

#[test]
fn the_high_water_mark_keeps_the_peak_the_drain_saw() {
    let hold = Arc::new(AtomicBool::new(true));
    let config = EngineConfig::default()
        .rings(2)
        .ring_capacity(1024)
        .idle(IdleStrategy::Park(Duration::from_micros(200)));
    let engine = Engine::start(
        config,
        Gate {
            hold: Arc::clone(&hold),
        },
    )
    .unwrap();
    let producer = engine.producer().unwrap();
    for _ in 0..600 {
        drop(producer.span("held"));
    }
    // The drain visits the ring and finds the 600 waiting.
    assert!(wait_for(Duration::from_secs(2), || engine
        .ring_gauges()
        .any(|g| g.full_high_water == 600)));
    let g = engine.ring_gauges().find(|g| g.claimed).unwrap();
    assert_eq!((g.full_len, g.recorded, g.full_capacity), (600, 600, 1024));
    hold.store(false, Ordering::Relaxed);
    assert!(wait_for(Duration::from_secs(2), || engine
        .ring_gauges()
        .all(|g| g.full_len == 0)));
    let g = engine.ring_gauges().find(|g| g.claimed).unwrap();
    assert_eq!((g.full_high_water, g.recorded), (600, 600));
    // The other ring saw nothing.
    let idle = engine.ring_gauges().find(|g| !g.claimed).unwrap();
    assert_eq!((idle.full_high_water, idle.recorded), (0, 0));
    drop(producer);
    engine.shutdown(Duration::from_secs(2)).unwrap();
}

#[test]
fn spans_left_open_are_named_with_their_thread() {
    let engine = Engine::start(
        EngineConfig::default().rings(2),
        ringspan::Discard::default(),
    )
    .unwrap();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("leaky-worker".into())
            .spawn_scoped(s, || {
                let producer = engine.producer().unwrap();
                let outer = producer.span("request.leaked");
                let inner = producer.span_at(ringspan::callsite!("callsite.leaked", "k"));
                std::mem::forget(inner);
                std::mem::forget(outer);
                drop(producer.span("closed"));
                // `producer` drops here, with two spans open.
            })
            .unwrap();
    });
    let abandoned = engine.abandoned_spans();
    let names: Vec<(&str, &str)> = abandoned
        .iter()
        .map(|a| (a.name.as_str(), a.thread.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("request.leaked", "leaky-worker"),
            ("callsite.leaked", "leaky-worker")
        ]
    );
    let report = engine.shutdown(Duration::from_secs(2)).unwrap();
    assert_eq!(report.dropped.abandoned, 2);
}

/// Blocks the drain in `accept` for `block` once, then takes everything.
struct Blocking {
    block: Duration,
    done: bool,
}

impl Sink for Blocking {
    fn accept(&mut self, spans: &[SpanRecord], _: &Calibration) -> usize {
        if !self.done {
            self.done = true;
            std::thread::sleep(self.block);
        }
        spans.len()
    }

    fn flush(&mut self, _: &Calibration) {}
}

#[test]
fn the_drain_lag_grows_while_a_sink_blocks_it() {
    let config = EngineConfig::default()
        .rings(1)
        .idle(IdleStrategy::Park(Duration::from_micros(200)));
    let sink = Blocking {
        block: Duration::from_millis(600),
        done: false,
    };
    let engine = Engine::start(config, sink).unwrap();
    // Passing freely: a lag of about one park.
    assert!(wait_for(Duration::from_secs(1), || {
        let lag = engine.drain_lag();
        lag > Duration::ZERO && lag < Duration::from_millis(100)
    }));
    let producer = engine.producer().unwrap();
    drop(producer.span("blocks the sink"));
    // The sink holds the drain for 600 ms: the lag passes 300 ms, then falls back.
    assert!(wait_for(Duration::from_secs(2), || engine.drain_lag()
        >= Duration::from_millis(300)));
    assert!(wait_for(Duration::from_secs(2), || engine.drain_lag()
        < Duration::from_millis(100)));
    drop(producer);
    engine.shutdown(Duration::from_secs(2)).unwrap();
}
