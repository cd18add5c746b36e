//! The drain's flush and shutdown handshake under loom, through the public engine API with
//! one lane: a ring of two full slots and a ring of two compact ones (and, for the models
//! with a sink that takes log records, a ring of two log slots).
#![cfg(ringspan_loom)]

use std::time::Duration;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringspan::Calibration;
use ringspan::{ClockChoice, Engine, EngineConfig, IdleStrategy, Sink, SpanRecord};

#[derive(Clone)]
struct Count(Arc<AtomicUsize>);

impl Sink for Count {
    fn accept(&mut self, spans: &[SpanRecord], _clock: &Calibration) -> usize {
        self.0.fetch_add(spans.len(), Ordering::Relaxed);
        spans.len()
    }
    fn flush(&mut self, _clock: &Calibration) {}
}

fn config() -> EngineConfig {
    EngineConfig::default()
        .rings(1)
        .ring_capacity(2)
        .compact_capacity(2)
        .clock(ClockChoice::Monotonic)
        .idle(IdleStrategy::Yield)
        // No timer may fire while loom explores: only the handshake decides.
        .schedule_delay(Duration::from_secs(3600))
}

const LONG: Duration = Duration::from_secs(3600);

#[test]
fn flush_returns_only_after_the_sink_has_the_spans() {
    loom::model(|| {
        let count = Count(Arc::new(AtomicUsize::new(0)));
        let engine = Engine::start(config(), count.clone()).unwrap();
        let p = engine.producer().unwrap();
        drop(p.span("a"));
        // A callsite span goes through the lane's compact ring: the flush covers both.
        drop(p.span_at(ringspan::callsite!("b")));
        engine.flush(LONG).unwrap();
        // Relaxed is enough here: `flush` returning synchronised with the drain.
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
        drop(p);
        let snap = engine.shutdown(LONG).unwrap();
        assert_eq!(snap.delivered, 2);
        assert!(snap.is_balanced());
    });
}

#[test]
fn shutdown_accounts_for_a_concurrent_producer() {
    loom::model(|| {
        let count = Count(Arc::new(AtomicUsize::new(0)));
        let engine = Arc::new(Engine::start(config(), count.clone()).unwrap());
        let e2 = engine.clone();
        let t = thread::spawn(move || {
            if let Ok(p) = e2.producer() {
                drop(p.span("a"));
                drop(p.span_at(ringspan::callsite!("b")));
            }
        });
        let snap = engine.shutdown(LONG).unwrap();
        t.join().unwrap();
        // `snap` was read while the producer may still run, so only the snapshot taken once
        // it is quiet must balance exactly (see `ringspan::stats`); it counts the spans that
        // ended after shutdown returned.
        let after = engine.snapshot();
        assert!(snap.recorded <= after.recorded);
        assert!(after.is_balanced(), "{after:?}");
        assert_eq!(after.delivered as usize, count.0.load(Ordering::Relaxed));
        assert_eq!(after.in_rings, 0);
    });
}

#[test]
fn a_live_snapshot_never_counts_a_span_twice() {
    loom::model(|| {
        let count = Count(Arc::new(AtomicUsize::new(0)));
        let engine = Arc::new(Engine::start(config(), count.clone()).unwrap());
        let e2 = engine.clone();
        let t = thread::spawn(move || {
            let p = e2.producer().unwrap();
            drop(p.span("a"));
            drop(p.span("b"));
        });
        // Taken while the producer records and the drain delivers: a span in motion may be
        // missed, none counted twice, and the ring's fill stays within its two slots.
        let live = engine.snapshot();
        assert!(live.in_rings <= 4, "{live:?}");
        assert!(
            live.delivered + live.dropped.total() + live.in_rings <= live.recorded,
            "{live:?}"
        );
        t.join().unwrap();
        let snap = engine.shutdown(LONG).unwrap();
        assert!(snap.is_balanced(), "{snap:?}");
        assert!(snap.recorded >= live.recorded && snap.delivered >= live.delivered);
    });
}

/// Counts spans and log records apart.
#[derive(Clone)]
struct CountLogs {
    spans: Arc<AtomicUsize>,
    logs: Arc<AtomicUsize>,
}

impl Sink for CountLogs {
    fn accept(&mut self, spans: &[SpanRecord], _clock: &Calibration) -> usize {
        self.spans.fetch_add(spans.len(), Ordering::Relaxed);
        spans.len()
    }
    fn flush(&mut self, _clock: &Calibration) {}
    fn takes_logs(&self) -> bool {
        true
    }
    fn accept_logs(&mut self, logs: &[ringspan::LogRecord], _clock: &Calibration) -> usize {
        self.logs.fetch_add(logs.len(), Ordering::Relaxed);
        logs.len()
    }
}

fn count_logs() -> CountLogs {
    CountLogs {
        spans: Arc::new(AtomicUsize::new(0)),
        logs: Arc::new(AtomicUsize::new(0)),
    }
}

#[test]
fn flush_covers_the_log_ring() {
    loom::model(|| {
        let sink = count_logs();
        let engine = Engine::start(config().log_capacity(2), sink.clone()).unwrap();
        let p = engine.producer().unwrap();
        p.log(ringspan::Severity::INFO, "a", &[]);
        drop(p.span("a"));
        engine.flush(LONG).unwrap();
        // Relaxed is enough here: `flush` returning synchronised with the drain.
        assert_eq!(sink.logs.load(Ordering::Relaxed), 1);
        assert_eq!(sink.spans.load(Ordering::Relaxed), 1);
        drop(p);
        let snap = engine.shutdown(LONG).unwrap();
        assert_eq!((snap.logs.delivered, snap.delivered), (1, 1));
        assert!(snap.logs.is_balanced() && snap.is_balanced());
    });
}

#[test]
fn shutdown_accounts_for_a_concurrent_logger() {
    loom::model(|| {
        let sink = count_logs();
        let engine = Arc::new(Engine::start(config().log_capacity(2), sink.clone()).unwrap());
        let e2 = engine.clone();
        let t = thread::spawn(move || {
            if let Ok(p) = e2.producer() {
                p.log(ringspan::Severity::INFO, "a", &[]);
                p.log(ringspan::Severity::INFO, "b", &[]);
            }
        });
        let snap = engine.shutdown(LONG).unwrap();
        t.join().unwrap();
        // As for spans: only the quiet snapshot must balance exactly.
        let after = engine.snapshot().logs;
        assert!(snap.logs.recorded <= after.recorded);
        assert!(after.is_balanced(), "{after:?}");
        assert_eq!(after.delivered as usize, sink.logs.load(Ordering::Relaxed));
        assert_eq!(after.in_rings, 0);
    });
}
