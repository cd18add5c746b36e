//! Faults the engine must survive with its accounting intact: a sink or exporter that panics,
//! live snapshots while producers and the drain run, shutdown called twice, threads that
//! outnumber the rings.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink};
use ringspan::{Calibration, Discard, Engine, EngineConfig, IdleStrategy, Sink, SpanRecord};

const T: Duration = Duration::from_secs(2);

/// Takes spans until it has taken `limit`, then panics in `accept` (or in `flush`).
struct Panicky {
    limit: usize,
    taken: Arc<AtomicUsize>,
    in_flush: bool,
}

impl Sink for Panicky {
    fn accept(&mut self, spans: &[SpanRecord], _: &Calibration) -> usize {
        let taken = self.taken.load(Ordering::SeqCst);
        if !self.in_flush && taken + spans.len() > self.limit {
            panic!("test sink: full after {taken} spans");
        }
        self.taken.fetch_add(spans.len(), Ordering::SeqCst);
        spans.len()
    }

    fn flush(&mut self, _: &Calibration) {
        if self.in_flush && self.taken.load(Ordering::SeqCst) >= self.limit {
            panic!("test sink: flush failed");
        }
    }
}

fn record(engine: &Engine, n: usize) {
    let p = engine.producer().unwrap();
    for _ in 0..n {
        drop(p.span("work"));
    }
}

/// An engine of one roomy ring feeding a [`Panicky`] sink; the count of spans it took.
fn panicky_engine(limit: usize, in_flush: bool) -> (Engine, Arc<AtomicUsize>) {
    let taken = Arc::new(AtomicUsize::new(0));
    let sink = Panicky {
        limit,
        taken: Arc::clone(&taken),
        in_flush,
    };
    let config = EngineConfig::default()
        .rings(1)
        .ring_capacity(4096)
        .max_batch(100);
    (Engine::start(config, sink).unwrap(), taken)
}

#[test]
fn a_sink_that_panics_in_accept_is_retired_and_the_rest_counted() {
    let (engine, taken) = panicky_engine(1000, false);
    record(&engine, 3000);
    let started = Instant::now();
    let s = engine
        .shutdown(T)
        .expect("shutdown settles despite the panic");
    assert!(started.elapsed() < T + Duration::from_millis(500));
    assert_eq!(s.recorded, 3000);
    assert_eq!(s.delivered, taken.load(Ordering::SeqCst) as u64);
    assert_eq!(s.delivered, 1000, "{s:?}");
    assert_eq!(s.dropped.sink_panicked, 2000, "{s:?}");
    assert!(s.sink_panicked);
    assert!(s.is_balanced(), "{s:?}");
    assert_eq!(s.in_rings, 0);
}

#[test]
fn a_sink_that_panics_in_flush_is_retired_and_later_spans_counted() {
    let (engine, taken) = panicky_engine(500, true);
    record(&engine, 1000);
    engine
        .flush(T)
        .expect("flush completes after the sink panicked");
    record(&engine, 1000);
    let s = engine.shutdown(T).unwrap();
    assert_eq!(s.recorded, 2000);
    // The sink took 500 before its flush panicked; the rest went nowhere and is counted.
    assert_eq!(s.delivered, taken.load(Ordering::SeqCst) as u64);
    assert_eq!(s.delivered + s.dropped.sink_panicked, 2000, "{s:?}");
    assert!(s.dropped.sink_panicked >= 1000, "{s:?}");
    assert!(s.is_balanced(), "{s:?}");
}

/// An exporter that panics on its second request.
struct PanickyExporter {
    requests: Arc<AtomicU64>,
}

impl Exporter for PanickyExporter {
    fn export(&mut self, request: EncodedRequest) {
        if self.requests.fetch_add(1, Ordering::SeqCst) == 1 {
            panic!("test exporter: down");
        }
        drop(request);
    }
}

#[test]
fn an_exporter_that_panics_inside_the_otlp_sink_is_survived() {
    let requests = Arc::new(AtomicU64::new(0));
    let exporter = PanickyExporter {
        requests: Arc::clone(&requests),
    };
    let sink = OtlpSink::new(OtlpConfig::default().max_spans(100), exporter).unwrap();
    let stats = sink.stats();
    let config = EngineConfig::default()
        .rings(1)
        .ring_capacity(4096)
        .max_batch(100);
    let engine = Engine::start(config, sink).unwrap();
    record(&engine, 1000);
    let s = engine.shutdown(T).unwrap();
    assert_eq!(s.recorded, 1000);
    assert!(s.sink_panicked);
    assert!(s.dropped.sink_panicked > 0, "{s:?}");
    assert!(s.is_balanced(), "{s:?}");
    // The first request went out before the panic.
    assert!(stats.requests() >= 1);
}

#[test]
fn live_snapshots_stay_within_bounds_and_counters_never_go_back() {
    let config = EngineConfig::default()
        .rings(2)
        .ring_capacity(256)
        .compact_capacity(256)
        .max_batch(16)
        .idle(IdleStrategy::Spin);
    let engine = Engine::start(config, Discard::default()).unwrap();
    let stop = AtomicUsize::new(0);
    /// Stops the producers however the checking loop ends (a failed assertion included).
    struct StopOnDrop<'a>(&'a AtomicUsize);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(1, Ordering::Relaxed);
        }
    }
    let capacity = 2 * (256 + 256) as u64;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let p = engine.producer().unwrap();
                while stop.load(Ordering::Relaxed) == 0 {
                    for _ in 0..64 {
                        drop(p.span("live"));
                    }
                }
            });
        }
        let _stop = StopOnDrop(&stop);
        let mut last = engine.snapshot();
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(500) {
            let now = engine.snapshot();
            assert!(now.in_rings <= capacity, "in_rings out of bounds: {now:?}");
            assert!(now.recorded >= last.recorded, "{last:?} -> {now:?}");
            assert!(now.delivered >= last.delivered, "{last:?} -> {now:?}");
            assert!(
                now.dropped.total() >= last.dropped.total(),
                "{last:?} -> {now:?}"
            );
            // Read while spans move, a span in motion may be missed, never counted twice.
            let settled = now.delivered + now.dropped.total() + now.in_rings;
            assert!(settled <= now.recorded, "counted twice: {now:?}");
            last = now;
        }
    });
    let s = engine.shutdown(T).unwrap();
    assert!(s.is_balanced(), "{s:?}");
}

/// A sink that never takes anything, so the drain cannot finish a flush.
struct Refuse;

impl Sink for Refuse {
    fn accept(&mut self, _: &[SpanRecord], _: &Calibration) -> usize {
        0
    }
    fn flush(&mut self, _: &Calibration) {}
}

/// A sink that blocks its thread far past any deadline on its first accept.
struct Stuck(Duration);

impl Sink for Stuck {
    fn accept(&mut self, spans: &[SpanRecord], _: &Calibration) -> usize {
        std::thread::sleep(self.0);
        spans.len()
    }
    fn flush(&mut self, _: &Calibration) {}
}

#[test]
fn a_second_shutdown_after_a_timed_out_one_is_not_ok_while_the_drain_runs() {
    let engine = Engine::start(
        EngineConfig::default().rings(1).ring_capacity(64),
        Stuck(Duration::from_secs(3)),
    )
    .unwrap();
    record(&engine, 1);
    std::thread::sleep(Duration::from_millis(50));
    let first = engine.shutdown(Duration::from_millis(100));
    assert!(first.unwrap_err().is_timeout());
    let second = engine.shutdown(Duration::from_millis(100));
    assert!(
        second.as_ref().is_err_and(|e| e.is_timeout()),
        "second shutdown: {second:?}"
    );
    // Once the drain has exited, shutdown reports the final accounting.
    let third = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert!(third.is_balanced(), "{third:?}");
    assert_eq!(third.recorded, 1);
}

#[test]
fn a_refusing_sink_gives_up_at_the_deadline_and_counts_the_rest() {
    let engine = Engine::start(EngineConfig::default().rings(1).ring_capacity(64), Refuse).unwrap();
    record(&engine, 10);
    let s = engine.shutdown(Duration::from_millis(100)).unwrap();
    assert_eq!((s.recorded, s.dropped.shutdown), (10, 10), "{s:?}");
}

#[test]
fn spans_from_with_local_after_shutdown_count_as_shutdown() {
    let engine = Engine::start(
        EngineConfig::default().rings(2).ring_capacity(64),
        Discard::default(),
    )
    .unwrap();
    engine.shutdown(T).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| engine.with_local(|p| drop(p.span("late"))));
    });
    let s = engine.snapshot();
    assert_eq!(s.recorded, 1, "{s:?}");
    assert_eq!(s.dropped.shutdown, 1, "{s:?}");
    assert_eq!(s.dropped.no_ring, 0, "{s:?}");
}

#[test]
fn more_threads_than_rings_every_span_delivered_or_counted() {
    let sink = Discard::default();
    let engine = Engine::start(
        EngineConfig::default()
            .rings(8)
            .ring_capacity(1024)
            .idle(IdleStrategy::Yield),
        sink.clone(),
    )
    .unwrap();
    // Every thread takes its producer before any lets go of one, so most find no ring.
    let all_in = std::sync::Barrier::new(64);
    std::thread::scope(|s| {
        for _ in 0..64 {
            s.spawn(|| {
                engine.with_local(|p| drop(p.span("first")));
                all_in.wait();
                for _ in 1..200 {
                    engine.with_local(|p| {
                        let _outer = p.span("outer");
                        drop(p.span("inner"));
                    });
                }
            });
        }
    });
    let s = engine.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(s.recorded, 64 * (1 + 199 * 2), "{s:?}");
    assert!(s.is_balanced(), "{s:?}");
    assert_eq!(s.delivered, sink.spans());
    // 64 threads on 8 rings: some threads found none.
    assert!(s.dropped.no_ring > 0, "{s:?}");
    assert_eq!(s.dropped.total(), s.dropped.no_ring + s.dropped.ring_full);
}
