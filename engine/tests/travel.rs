//! Travelling spans (`TravelSpan`, `InSpan`): held across `.await`, moved between threads,
//! ended anywhere, each span arrives once with the right parent, trace and times; a full
//! travel pool drops and counts; unsampled ones record nothing but keep the trace.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{by_id, Collect, Val};
use ringspan::{Engine, EngineConfig, IdleStrategy, Parent, Sampler, SpanId, Value};

fn engine(config: EngineConfig) -> (Engine, Collect) {
    let sink = Collect::default();
    let config = config.idle(IdleStrategy::Park(Duration::from_micros(200)));
    (Engine::start(config, sink.clone()).unwrap(), sink)
}

#[test]
fn a_span_ended_on_another_thread_arrives_once_with_its_parent_and_times() {
    let (engine, sink) = engine(EngineConfig::default().rings(4).ring_capacity(1024));
    let root = engine.travel("root");
    let root_cx = root.context();
    let child_cx = std::thread::scope(|s| {
        let child = root.enter(|| engine.travel("child"));
        let cx = child.context();
        s.spawn(move || {
            let mut child = child;
            child.set_attr("moved", true).set_attr("n", 7);
            std::thread::sleep(Duration::from_millis(5));
            // Ends here, into this thread's ring.
        });
        cx
    });
    drop(root);
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.delivered, 2);
    let spans = sink.take();
    let spans = by_id(&spans);
    let (root, child) = (spans[&root_cx.span_id], spans[&child_cx.span_id]);
    assert_eq!(root.parent, None);
    assert_eq!(child.parent, Some(root_cx.span_id));
    assert_eq!(child.trace_id, root_cx.trace_id);
    assert!(
        child.attrs.contains(&("moved".into(), Val::B(true))),
        "{child:?}"
    );
    assert!(
        child.end_unix_ns - child.start_unix_ns >= 5_000_000,
        "{child:?}"
    );
    assert!(root.start_unix_ns <= child.start_unix_ns && child.end_unix_ns <= root.end_unix_ns);
}

/// Ten thousand tasks on a four-worker runtime, each a root travelling span around a future
/// that awaits (and so may move between workers) with a travelling child, a native span
/// inside each poll, and a grandchild across another await.
#[test]
fn ten_thousand_tasks_each_span_once_with_the_right_parent() {
    const TASKS: usize = 10_000;
    let (engine, sink) = engine(
        // Rings for the main thread and the four workers, each able to hold a whole wave's
        // spans (below) should one worker run them all while the drain falls behind.
        EngineConfig::default()
            .rings(6)
            .ring_capacity(1 << 14)
            .compact_capacity(1024)
            .travel_spans(4 * TASKS),
    );
    let engine = std::sync::Arc::new(engine);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    // In waves of a thousand tasks (4 000 spans), the rings emptied between waves: the
    // collecting sink is slow in a debug build, and the test is about parents, not drops.
    const WAVE: usize = 1_000;
    let roots: Vec<_> = runtime.block_on(async {
        let mut out = Vec::with_capacity(TASKS);
        let mut handles = Vec::with_capacity(WAVE);
        for t in 0..TASKS {
            let e = std::sync::Arc::clone(&engine);
            let mut root = e.travel("task");
            root.set_attr("task", t as i64);
            let root_cx = root.context();
            let fut = root.in_span(async move {
                let before = std::thread::current().id();
                tokio::task::yield_now().await;
                let child = e.travel("task.child");
                let child_cx = child.context();
                let grandchild_cx = child
                    .in_span(async {
                        // A native span inside a poll: a child of the entered grandparent chain.
                        e.with_local(|p| drop(p.span("task.native")));
                        tokio::task::yield_now().await;
                        let g = e.travel("task.grandchild");
                        let cx = g.context();
                        tokio::task::yield_now().await;
                        drop(g);
                        cx
                    })
                    .await;
                let moved = std::thread::current().id() != before;
                (child_cx, grandchild_cx, moved)
            });
            handles.push(tokio::spawn(async move { (root_cx, fut.await) }));
            if handles.len() == WAVE {
                for h in handles.drain(..) {
                    out.push(h.await.unwrap());
                }
                engine.flush(Duration::from_secs(30)).unwrap();
            }
        }
        out
    });
    drop(runtime);
    let report = engine.shutdown(Duration::from_secs(10)).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.dropped.total(), 0, "{report:?}");
    assert_eq!(report.delivered, 4 * TASKS as u64);
    let spans = sink.take();
    let spans = by_id(&spans);
    let moved = roots.iter().filter(|(_, (_, _, m))| *m).count();
    assert!(
        moved > 0,
        "no task resumed on another worker: the test proves less than it says"
    );
    let mut natives_seen = 0;
    let children: HashMap<SpanId, SpanId> = spans
        .values()
        .filter_map(|s| Some((s.span_id, s.parent?)))
        .collect();
    for (root_cx, (child_cx, grandchild_cx, _)) in &roots {
        let root = spans[&root_cx.span_id];
        let child = spans[&child_cx.span_id];
        let grandchild = spans[&grandchild_cx.span_id];
        assert_eq!(root.name, "task");
        assert_eq!(root.parent, None);
        assert_eq!(child.parent, Some(root_cx.span_id), "{child:?}");
        assert_eq!(grandchild.parent, Some(child_cx.span_id), "{grandchild:?}");
        for s in [child, grandchild] {
            assert_eq!(s.trace_id, root_cx.trace_id);
            assert!(root.start_unix_ns <= s.start_unix_ns && s.end_unix_ns <= root.end_unix_ns);
        }
        assert!(child.start_unix_ns <= grandchild.start_unix_ns);
        assert!(grandchild.end_unix_ns <= child.end_unix_ns);
        natives_seen += children
            .iter()
            .filter(|(id, p)| **p == child_cx.span_id && spans[*id].name == "task.native")
            .count();
    }
    assert_eq!(natives_seen, TASKS, "each native span is the child's child");
    eprintln!("{moved} of {TASKS} tasks resumed on another worker");
}

#[test]
fn a_full_travel_pool_drops_and_counts_but_keeps_the_trace() {
    let (engine, sink) = engine(
        EngineConfig::default()
            .rings(2)
            .ring_capacity(64)
            .travel_spans(2),
    );
    let a = engine.travel("a");
    let b = engine.travel("b");
    let c = a.enter(|| engine.travel("c"));
    assert!(a.is_recording() && b.is_recording());
    assert!(!c.is_recording(), "no record left");
    // Its context still carries the trace to its children.
    assert_eq!(c.context().trace_id, a.context().trace_id);
    drop((a, b, c));
    // The records are back: a new span gets one.
    let d = engine.travel("d");
    assert!(d.is_recording());
    drop(d);
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.dropped.travel_pool_full, 1);
    assert_eq!((report.recorded, report.delivered), (4, 3));
    assert_eq!(sink.take().len(), 3);
}

#[test]
fn unsampled_travelling_spans_record_nothing_and_their_children_follow() {
    let (engine, sink) = engine(
        EngineConfig::default()
            .rings(2)
            .ring_capacity(64)
            .sampler(Sampler::parent_based(Sampler::always_off())),
    );
    let root = engine.travel("unsampled");
    assert!(!root.is_recording());
    let child = root.enter(|| engine.travel("child"));
    assert!(!child.is_recording());
    assert_eq!(child.context().trace_id, root.context().trace_id);
    // A sampled remote parent overrides the root's decision.
    let mut remote = root.context();
    remote.flags = ringspan::TraceFlags::SAMPLED;
    remote.is_remote = true;
    let sampled = engine.start_travel(Value::str("from.remote"), Parent::Context(remote));
    assert!(sampled.is_recording());
    drop((root, child, sampled));
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(report.recorded, 1);
    let spans = sink.take();
    assert_eq!(spans.len(), 1);
    assert!(spans[0].parent_remote);
}

#[test]
fn a_span_ending_after_shutdown_is_counted() {
    let (engine, _sink) = engine(EngineConfig::default().rings(2).ring_capacity(64));
    let late = engine.travel("late");
    std::thread::scope(|s| {
        s.spawn(|| engine.shutdown(Duration::from_secs(5)).unwrap());
    });
    // Ends on a thread that never had a ring, after shutdown: counted as shutdown.
    std::thread::scope(|s| {
        s.spawn(move || drop(late));
    });
    let report = engine.snapshot();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.dropped.shutdown, 1, "{report:?}");
}

#[test]
fn on_a_thread_without_a_ring_a_context_still_parents_what_starts_inside() {
    let (engine, sink) = engine(EngineConfig::default().rings(1).ring_capacity(64));
    // This thread takes the only ring.
    let here = engine.producer().unwrap();
    let (root, child) = std::thread::scope(|s| {
        s.spawn(|| {
            let root = engine.travel("ringless.root");
            let child = root.enter(|| engine.travel("ringless.child"));
            (root, child)
        })
        .join()
        .unwrap()
    });
    let (root_cx, child_cx) = (root.context(), child.context());
    assert_eq!(
        child_cx.trace_id, root_cx.trace_id,
        "a new trace: the context was lost"
    );
    drop(here);
    // Ended here, where a ring is free again.
    drop((child, root));
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    let spans = sink.take();
    let spans = by_id(&spans);
    assert_eq!(spans[&child_cx.span_id].parent, Some(root_cx.span_id));
}

#[test]
fn threads_without_a_ring_keep_no_records_from_the_pool() {
    const THREADS: usize = 8;
    let (engine, _sink) = engine(
        EngineConfig::default()
            .rings(1)
            .ring_capacity(64)
            .travel_spans(16),
    );
    // This thread takes the only ring; the others end their spans ringless.
    let here = engine.producer().unwrap();
    let done = std::sync::Barrier::new(THREADS + 1);
    let checked = std::sync::Barrier::new(THREADS + 1);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..4 {
                    drop(engine.travel("ringless"));
                }
                done.wait();
                // Alive (with their detached producers) while the pool is checked.
                checked.wait();
            });
        }
        done.wait();
        let held: Vec<_> = (0..16).map(|_| engine.travel("all")).collect();
        let recording = held.iter().filter(|t| t.is_recording()).count();
        drop(held);
        // Let the threads go before asserting: a failure must not leave them waiting.
        checked.wait();
        assert_eq!(recording, 16, "records kept by ringless threads");
    });
    drop(here);
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.dropped.travel_pool_full, 0);
    // Every span ended on a thread without a ring (this one's is held by `here`).
    assert_eq!(report.dropped.no_ring, (THREADS * 4 + 16) as u64);
}

#[test]
fn a_travelling_span_carries_attributes_events_and_an_error_like_a_native_one() {
    let (engine, sink) = engine(EngineConfig::default().rings(2).ring_capacity(64));
    let mut span = engine.travel("io");
    span.set_kind(ringspan::SpanKind::Client)
        .set_attrs(&[("path", Value::copied("/var/data")), ("n", Value::i64(3))])
        .add_event("retry", &[("attempt", Value::i64(2))])
        .record_error(&std::io::Error::other("disk on fire"));
    drop(span);
    engine.shutdown(Duration::from_secs(5)).unwrap();
    let s = &sink.take()[0];
    assert_eq!(s.kind, ringspan::SpanKind::Client);
    assert_eq!(s.status, "Error(\"disk on fire\")");
    assert!(
        s.attrs
            .contains(&("path".into(), Val::S("/var/data".into()))),
        "{s:?}"
    );
    assert_eq!(s.events[0].0, "retry");
    assert_eq!(s.events[1].0, "exception");
    assert!(s.events[1]
        .1
        .contains(&("exception.message".into(), Val::S("disk on fire".into()))));
}

/// A thread that only ever drops unsampled spans started elsewhere records nothing, so it
/// must not take one of the engine's rings from the threads that do.
#[test]
fn dropping_an_unsampled_span_claims_no_ring() {
    let (engine, sink) = engine(
        EngineConfig::default()
            .rings(2)
            .ring_capacity(64)
            .sampler(Sampler::always_off()),
    );
    let spans: Vec<_> = (0..3).map(|_| engine.travel("unsampled")).collect();
    assert!(spans.iter().all(|s| !s.is_recording()));
    let claimed = |engine: &Engine| engine.ring_gauges().filter(|g| g.claimed).count();
    assert_eq!(claimed(&engine), 1, "this thread's producer");
    let (dropped, was_dropped) = std::sync::mpsc::channel::<()>();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            drop(spans);
            dropped.send(()).unwrap();
            wait.recv().ok(); // alive, with whatever it cached, until checked
        });
        let done = done; // dropped first if the check fails, so the worker ends
        was_dropped.recv().unwrap();
        assert_eq!(claimed(&engine), 1, "the dropping thread took a ring");
        done.send(()).unwrap();
    });
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.is_balanced() && report.recorded == 0, "{report:?}");
    assert!(sink.take().is_empty());
}
