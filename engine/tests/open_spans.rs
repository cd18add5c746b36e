//! The open-span watch (`Engine::open_spans`): how many sampled spans each producer has
//! open, and the oldest one's name, age and thread, read from another thread while the
//! producer runs.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringspan::{callsite, Discard, Engine, EngineConfig, Sampler, MAX_DEPTH};

fn engine(config: EngineConfig) -> Engine {
    Engine::start(config.rings(2), Discard::default()).unwrap()
}

#[test]
fn a_span_left_open_shows_with_its_name_age_and_thread_until_its_thread_exits() {
    let engine = &engine(EngineConfig::default());
    let (opened_tx, opened_rx) = mpsc::channel();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("stuck-worker".into())
            .spawn_scoped(s, move || {
                let producer = engine.producer().unwrap();
                let root = producer.span("request.stuck");
                // Children come and go under it; the root stays the oldest.
                for _ in 0..10 {
                    drop(producer.span("child"));
                }
                let child = producer.span("child.open");
                std::mem::forget(child);
                std::mem::forget(root);
                opened_tx.send(Instant::now()).unwrap();
                exit_rx.recv().unwrap();
            })
            .unwrap();
        let opened = opened_rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let open = engine.open_spans();
        let waited = opened.elapsed();
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].open, 2, "{open:?}");
        let oldest = open[0].oldest.as_ref().expect("the oldest span is read");
        assert_eq!(oldest.name, Some("request.stuck"));
        assert_eq!(oldest.thread, "stuck-worker");
        assert!(
            oldest.age >= Duration::from_millis(150)
                && oldest.age <= waited + Duration::from_millis(50),
            "age {:?} after {waited:?}",
            oldest.age
        );
        exit_tx.send(()).unwrap();
    });
    // The thread dropped its producer: its spans are abandoned, no longer open.
    assert!(engine.open_spans().is_empty(), "{:?}", engine.open_spans());
    let names: Vec<String> = engine
        .abandoned_spans()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["request.stuck", "child.open"]);
    let report = engine.shutdown(Duration::from_secs(2)).unwrap();
    assert_eq!(report.dropped.abandoned, 2);
    assert!(report.is_balanced());
}

#[test]
fn when_the_oldest_span_ends_first_the_next_oldest_is_watched() {
    let engine = engine(EngineConfig::default());
    let producer = engine.producer().unwrap();
    let outer = producer.span("outer");
    std::thread::sleep(Duration::from_millis(60));
    let inner = producer.span_at(callsite!("inner.callsite", "k"));
    let age_of = |e: &Engine| {
        let open = e.open_spans();
        assert_eq!(open.len(), 1, "{open:?}");
        let o = open[0].oldest.clone().unwrap();
        (open[0].open, o.name, o.age)
    };
    let (n, name, age) = age_of(&engine);
    assert_eq!((n, name), (2, Some("outer")));
    assert!(age >= Duration::from_millis(60), "{age:?}");
    drop(outer);
    let (n, name, age) = age_of(&engine);
    assert_eq!((n, name), (1, Some("inner.callsite")));
    assert!(age < Duration::from_millis(60), "{age:?}");
    drop(inner);
    assert!(engine.open_spans().is_empty());
    // A copied name is not shown (another thread cannot read the record), the span is.
    let copied = producer.span_copied(&format!("order-{}", 42));
    let open = engine.open_spans();
    assert_eq!(open[0].open, 1);
    assert_eq!(open[0].oldest.as_ref().unwrap().name, None);
    drop(copied);
    assert!(engine.open_spans().is_empty());
    drop(producer);
    assert!(engine
        .shutdown(Duration::from_secs(2))
        .unwrap()
        .is_balanced());
}

#[test]
fn unsampled_spans_are_not_watched() {
    let engine = engine(EngineConfig::default().sampler(Sampler::always_off()));
    let producer = engine.producer().unwrap();
    let span = producer.span("unsampled");
    assert!(engine.open_spans().is_empty());
    drop(span);
    drop(producer);
    engine.shutdown(Duration::from_secs(2)).unwrap();
}

#[test]
fn live_reads_stay_within_bounds_while_a_producer_records_nested_spans() {
    let engine = engine(EngineConfig::default().ring_capacity(1 << 12));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let names = ["root", "level1", "level2", "level3.callsite"];
    std::thread::scope(|s| {
        s.spawn(|| {
            let producer = engine.producer().unwrap();
            let mut i = 0u64;
            // Relaxed: a test flag.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let root = producer.span("root");
                let a = producer.span("level1");
                let b = producer.span("level2");
                let c = producer.span_at(callsite!("level3.callsite"));
                // End in varying orders: the watch moves to the next oldest span.
                match i % 3 {
                    0 => drop((c, b, a, root)),
                    1 => {
                        drop(root);
                        drop(b);
                        drop(a);
                        drop(c);
                    }
                    _ => {
                        drop(a);
                        drop(root);
                        drop(c);
                        drop(b);
                    }
                }
                i += 1;
            }
        });
        let start = Instant::now();
        let (mut seen, mut named) = (0, 0);
        while start.elapsed() < Duration::from_millis(400) {
            for o in engine.open_spans() {
                assert!(o.open <= MAX_DEPTH as u64, "{o:?}");
                if let Some(old) = o.oldest {
                    seen += 1;
                    let name = old.name.expect("every name here is static");
                    assert!(names.contains(&name), "torn name {name:?}");
                    assert!(
                        old.age < start.elapsed() + Duration::from_millis(5),
                        "{old:?}"
                    );
                    named += 1;
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(
            seen > 0 && named == seen,
            "the watch was never read ({seen})"
        );
    });
    assert!(engine.open_spans().is_empty());
    assert!(engine
        .shutdown(Duration::from_secs(5))
        .unwrap()
        .is_balanced());
}
