//! The recording API end to end through a collecting sink: parents, remote parents, content,
//! limits, sampling, producers and their rings.

mod common;

use std::time::Duration;

use common::{Collect, Val};
use ringspan::parse_traceparent;
use ringspan::{Engine, EngineConfig, Parent, Sampler, SpanKind, Value};

const T: Duration = Duration::from_secs(5);

fn start(config: EngineConfig) -> (Engine, Collect) {
    let sink = Collect::default();
    let engine = Engine::start(config.idle(ringspan::IdleStrategy::Yield), sink.clone()).unwrap();
    (engine, sink)
}

fn small() -> EngineConfig {
    EngineConfig::default().rings(2).ring_capacity(256)
}

#[test]
fn nested_spans_parent_automatically_and_share_the_trace() {
    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    {
        let _root = p.span("root");
        {
            let _a = p.span("a");
            let _a1 = p.span("a1");
        }
        let _b = p.span("b");
    }
    let _other = p.span("second-root");
    drop(_other);
    engine.flush(T).unwrap();
    let spans = sink.take();
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    let (root, a, a1, b, second) = (by("root"), by("a"), by("a1"), by("b"), by("second-root"));
    assert_eq!(root.parent, None);
    assert_eq!(a.parent, Some(root.span_id));
    assert_eq!(a1.parent, Some(a.span_id));
    assert_eq!(b.parent, Some(root.span_id));
    assert!([&a, &a1, &b].iter().all(|s| s.trace_id == root.trace_id));
    assert_ne!(second.trace_id, root.trace_id);
    assert_eq!(second.parent, None);
    // Children end first, so they reach the sink first.
    let order: Vec<_> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["a1", "a", "b", "root", "second-root"]);
    assert!(root.start_unix_ns <= a.start_unix_ns && a.end_unix_ns <= root.end_unix_ns);
}

#[test]
fn every_field_reaches_the_sink() {
    let (engine, sink) = start(small().scope("my.lib"));
    let p = engine.producer().unwrap();
    let dynamic = String::from("dyn-value");
    {
        let mut s = p.span_copied("GET /orders/{id}");
        s.set_kind(SpanKind::Server)
            .set_attr("i", 7)
            .set_attr("f", 1.25)
            .set_attr("b", true)
            .set_attr("s", "static")
            .set_attr("d", Value::copied(&dynamic))
            .add_event(
                "cache.miss",
                &[("key", Value::copied("k1")), ("n", Value::i64(3))],
            )
            .set_error("upstream timed out");
    }
    engine.flush(T).unwrap();
    let s = &sink.take()[0];
    assert_eq!(s.name, "GET /orders/{id}");
    assert_eq!(s.kind, SpanKind::Server);
    assert_eq!(s.scope, "my.lib");
    assert_eq!(s.flags, 1);
    assert_eq!(
        s.attrs,
        vec![
            ("i".into(), Val::I(7)),
            ("f".into(), Val::F(1.25)),
            ("b".into(), Val::B(true)),
            ("s".into(), Val::S("static".into())),
            ("d".into(), Val::S("dyn-value".into())),
        ]
    );
    assert_eq!(
        s.events,
        vec![(
            "cache.miss".into(),
            vec![("key".into(), Val::S("k1".into())), ("n".into(), Val::I(3))]
        )]
    );
    assert_eq!(s.status, "Error(\"upstream timed out\")");
    assert!(s.start_unix_ns > 1_600_000_000_000_000_000 && s.end_unix_ns >= s.start_unix_ns);
}

#[test]
fn remote_parent_from_traceparent() {
    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    let parent =
        parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    let header;
    {
        let s = p.start(Value::str("server"), Parent::Context(parent));
        header = s.traceparent().to_string();
        let _child = p.span("inner");
    }
    engine.flush(T).unwrap();
    let spans = sink.take();
    let server = spans.iter().find(|s| s.name == "server").unwrap();
    let inner = spans.iter().find(|s| s.name == "inner").unwrap();
    assert_eq!(server.trace_id, parent.trace_id);
    assert_eq!(server.parent, Some(parent.span_id));
    assert!(server.parent_remote);
    assert_eq!(inner.parent, Some(server.span_id));
    assert!(!inner.parent_remote);
    let back = parse_traceparent(&header).unwrap();
    assert_eq!(
        (back.trace_id, back.span_id),
        (server.trace_id, server.span_id)
    );
}

#[test]
fn root_parent_starts_a_new_trace_inside_an_open_span() {
    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    {
        let _outer = p.span("outer");
        let _fresh = p.start(Value::str("fresh"), Parent::Root);
    }
    engine.flush(T).unwrap();
    let spans = sink.take();
    assert_eq!(spans[0].name, "fresh");
    assert_eq!(spans[0].parent, None);
    assert_ne!(spans[0].trace_id, spans[1].trace_id);
}

#[test]
fn limits_are_counted_not_silent() {
    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    let long = "x".repeat(10_000);
    {
        const KEYS: [&str; 12] = [
            "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11",
        ];
        let mut s = p.span("limits");
        for (i, key) in KEYS.iter().enumerate() {
            s.set_attr(key, i as i64);
        }
        // A key already stored is an update, not one more attribute: not dropped.
        s.set_attr("k0", 100);
        for _ in 0..5 {
            s.add_event(
                "e",
                &[
                    ("a", Value::i64(1)),
                    ("b", Value::i64(2)),
                    ("c", Value::i64(3)),
                    ("d", Value::i64(4)),
                ],
            );
        }
        s.set_attr("long", Value::copied(&long));
    }
    engine.flush(T).unwrap();
    let s = &sink.take()[0];
    assert_eq!(s.attrs.len(), ringspan::MAX_ATTRS);
    assert_eq!(s.dropped_attrs, 12 + 1 - ringspan::MAX_ATTRS as u32);
    assert_eq!(s.attrs[0], ("k0".to_owned(), common::Val::I(100)));
    assert_eq!(s.events.len(), ringspan::MAX_EVENTS);
    assert_eq!(s.dropped_events, 5 - ringspan::MAX_EVENTS as u32);
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert_eq!(
        snap.truncated_strings, 0,
        "the long value was an attribute past the limit, never copied"
    );

    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    p.span("t").set_attr("long", Value::copied(&long));
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert_eq!(snap.truncated_strings, 1);
    match &sink.take()[0].attrs[0].1 {
        Val::S(v) => assert_eq!(v.len(), ringspan::ARENA_BYTES),
        other => panic!("{other:?}"),
    }
}

#[test]
fn record_error_adds_an_exception_event() {
    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    let err = std::io::Error::other("disk on fire");
    p.span("io").record_error(&err);
    engine.flush(T).unwrap();
    let s = &sink.take()[0];
    assert_eq!(s.status, "Error(\"disk on fire\")");
    let (name, attrs) = &s.events[0];
    assert_eq!(name, "exception");
    assert_eq!(
        attrs[0],
        (
            "exception.type".into(),
            Val::S("std::io::error::Error".into())
        )
    );
    assert_eq!(
        attrs[1],
        ("exception.message".into(), Val::S("disk on fire".into()))
    );
}

#[test]
fn unsampled_spans_write_nothing_and_children_follow_the_parent() {
    let (engine, sink) = start(small().sampler(Sampler::parent_based(Sampler::always_off())));
    let p = engine.producer().unwrap();
    {
        let mut root = p.span("root");
        assert!(!root.is_recording());
        root.set_attr("ignored", 1);
        let child = p.span("child");
        assert!(!child.is_recording());
        assert!(!child.context().flags.is_sampled());
        assert_eq!(child.context().trace_id, root.context().trace_id);
    }
    // A sampled remote parent wins over the root sampler.
    let parent =
        parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    drop(p.start(Value::str("followed"), Parent::Context(parent)));
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    let spans = sink.take();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "followed");
    assert_eq!(snap.recorded, 1);
    assert_eq!(engine.snapshot().in_rings, 0);
}

#[test]
fn an_unsampled_span_makes_its_ids_when_asked_and_keeps_them() {
    let (engine, sink) = start(small().sampler(Sampler::parent_based(Sampler::always_off())));
    let p = engine.producer().unwrap();
    {
        let root = p.span("root");
        let child = p.span("child");
        let grandchild = p.span("grandchild");
        // Asked from the bottom up: the trace id is made once, at the root, for all three.
        let g = grandchild.context();
        let (c, r) = (child.context(), root.context());
        assert_eq!((g.trace_id, c.trace_id), (r.trace_id, r.trace_id));
        assert!(!r.trace_id.is_zero() && !r.span_id.is_zero());
        assert_ne!(g.span_id, c.span_id);
        assert_ne!(c.span_id, r.span_id);
        // Stable: every later answer agrees, the traceparent included.
        assert_eq!(grandchild.context(), g);
        assert_eq!(p.current_context(), Some(g));
        assert_eq!(
            root.traceparent().as_str(),
            format!("00-{}-{}-00", r.trace_id, r.span_id)
        );
    }
    // A new root is a new trace.
    let other = p.span("other");
    let first = other.context();
    drop(other);
    let again = p.span("again");
    assert_ne!(again.context().trace_id, first.trace_id);
    drop(again);
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert_eq!((snap.recorded, sink.take().len()), (0, 0));
}

#[test]
fn a_sampled_child_of_an_unsampled_parent_names_the_parent_it_was_shown() {
    // Not parent-based: every span is sampled on its own, so a child may record under a
    // parent that did not; it must carry the ids the parent's context reports.
    let (engine, sink) = start(small().sampler(Sampler::always_on()));
    let p = engine.producer().unwrap();
    let remote_unsampled =
        parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
    {
        let parent = p.start(Value::str("parent"), Parent::Context(remote_unsampled));
        assert!(parent.is_recording());
        let _child = p.span("child");
    }
    drop(p);
    engine.shutdown(T).unwrap();
    let spans = sink.take();
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    let (parent, child) = (by("parent"), by("child"));
    assert_eq!(parent.trace_id, remote_unsampled.trace_id);
    assert_eq!(parent.parent, Some(remote_unsampled.span_id));
    assert_eq!(child.parent, Some(parent.span_id));
    assert_eq!(child.trace_id, parent.trace_id);
}

#[test]
fn a_ratio_sampler_decides_per_trace_and_children_follow() {
    let sampler = Sampler::parent_based(Sampler::trace_id_ratio(0.5).unwrap());
    let (engine, sink) = start(small().sampler(sampler));
    let p = engine.producer().unwrap();
    let mut sampled_roots = 0;
    for _ in 0..200 {
        let root = p.span("root");
        let child = p.span("child");
        let (r, c) = (root.context(), child.context());
        assert_eq!(r.trace_id, c.trace_id);
        assert_eq!(r.flags.is_sampled(), c.flags.is_sampled());
        assert_eq!(root.is_recording(), r.flags.is_sampled());
        assert_eq!(
            sampler.should_sample(None, &r.trace_id),
            r.flags.is_sampled()
        );
        sampled_roots += usize::from(root.is_recording());
    }
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert!((50..150).contains(&sampled_roots), "{sampled_roots} of 200");
    assert_eq!(sink.take().len(), 2 * sampled_roots);
    assert!(snap.is_balanced(), "{snap:?}");
}

#[test]
fn too_deep_is_dropped_and_counted() {
    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    {
        let guards: Vec<_> = (0..ringspan::MAX_DEPTH + 3).map(|_| p.span("d")).collect();
        assert!(guards[ringspan::MAX_DEPTH - 1].is_recording());
        assert!(!guards[ringspan::MAX_DEPTH].is_recording());
    }
    // The stack is usable again afterwards.
    drop(p.span("after"));
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert_eq!(snap.dropped.too_deep, 3);
    assert_eq!(snap.delivered, ringspan::MAX_DEPTH as u64 + 1);
    assert!(snap.is_balanced(), "{snap:?}");
    assert_eq!(sink.take().len(), ringspan::MAX_DEPTH + 1);
}

#[test]
fn spans_may_end_out_of_order() {
    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    let outer = p.span("outer");
    let inner = p.span("inner");
    drop(outer); // exported at once, though `inner` is still open
    engine.flush(T).unwrap();
    assert_eq!(
        sink.take()
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>(),
        ["outer"]
    );
    let next = p.span("next"); // parents to the innermost open span
    assert_eq!(p.current_context().unwrap().span_id, next.context().span_id);
    drop(next);
    drop(inner);
    engine.flush(T).unwrap();
    let spans = sink.take();
    assert_eq!(spans[0].parent, Some(spans[1].span_id));
    drop(p.span("fresh-root"));
    engine.flush(T).unwrap();
    assert_eq!(sink.take()[0].parent, None);
}

#[test]
fn a_leaked_span_guard_is_counted_when_its_producer_goes() {
    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    let leaked = p.span("leaked");
    let leaked_id = leaked.context().span_id;
    std::mem::forget(leaked);
    drop(p.span("after")); // becomes a child of the leaked span, as documented
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert_eq!(snap.dropped.abandoned, 1);
    assert_eq!(snap.delivered, 1);
    assert!(snap.is_balanced(), "{snap:?}");
    assert_eq!(sink.take()[0].parent, Some(leaked_id));
}

#[test]
fn shutdown_takes_any_timeout() {
    let (engine, _sink) = start(small());
    drop(engine.producer().unwrap().span("x"));
    let snap = engine.shutdown(Duration::MAX).unwrap();
    assert_eq!(snap.delivered, 1);
}

#[test]
fn pool_exhaustion_is_counted_and_rings_come_back() {
    let (engine, _sink) = start(EngineConfig::default().rings(1).ring_capacity(16));
    let p1 = engine.producer().unwrap();
    let err = engine.producer().unwrap_err();
    assert!(err.is_no_free_ring(), "{err}");
    std::thread::scope(|s| {
        s.spawn(|| {
            engine.with_local(|p| {
                assert!(!p.is_attached());
                drop(p.span("lost"));
            });
        });
    });
    drop(p1);
    let p2 = engine.producer().unwrap();
    drop(p2.span("kept"));
    drop(p2);
    let snap = engine.shutdown(T).unwrap();
    assert_eq!(snap.dropped.no_ring, 1);
    assert_eq!(snap.delivered, 1);
    assert!(snap.is_balanced());
}

#[test]
fn with_local_reuses_one_ring_per_thread() {
    let (engine, sink) = start(EngineConfig::default().rings(2).ring_capacity(64));
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..10 {
                    engine.with_local(|p| {
                        assert!(p.is_attached());
                        drop(p.span("work"));
                    });
                }
            });
        }
    });
    let snap = engine.shutdown(T).unwrap();
    assert_eq!(snap.delivered, 20);
    assert_eq!(sink.take().len(), 20);
}

#[test]
fn pinning_is_exclusive_per_core() {
    let (engine, sink) = start(small());
    let core = core_affinity::get_core_ids().unwrap()[0].id;
    std::thread::scope(|s| {
        s.spawn(|| {
            let p = engine.pin(core).unwrap();
            assert_eq!(p.core(), Some(core));
            let again = engine.pin(core).unwrap_err();
            assert!(again.is_core_taken(), "{again}");
            drop(p.span("pinned"));
            drop(p);
            // Free again once the first producer is gone.
            let p = engine.pin(core).unwrap();
            drop(p.span("pinned-again"));
        });
    });
    assert!(engine.pin(usize::MAX).unwrap_err().is_pin_failure());
    engine.flush(T).unwrap();
    assert_eq!(sink.take().len(), 2);
}

#[test]
fn bad_config_fails_with_the_setting_and_value() {
    let e = Engine::start(
        EngineConfig::default().ring_capacity(100),
        Collect::default(),
    )
    .unwrap_err();
    assert!(e.is_config());
    assert!(
        e.to_string().contains("ring_capacity") && e.to_string().contains("100"),
        "{e}"
    );
    let e = Engine::start(EngineConfig::default().rings(0), Collect::default()).unwrap_err();
    assert!(e.to_string().contains("rings"), "{e}");
    let e = Engine::start(
        EngineConfig::default().drain_core(100_000),
        Collect::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("drain_core"), "{e}");
    assert!(Sampler::trace_id_ratio(f64::NAN).is_err());
}

#[test]
fn preallocated_memory_is_reported_and_matches_the_budget() {
    let config = EngineConfig::default()
        .rings(3)
        .ring_capacity(1024)
        .compact_capacity(4096)
        .log_capacity(256)
        .travel_spans(100)
        .metric_cells(1000);
    let budget = config.memory_budget();
    // A sink that takes log records gets the log rings the budget counts.
    let engine = Engine::start(config.clone(), ringspan::Discard::default()).unwrap();
    assert_eq!(engine.preallocated_bytes(), budget);
    engine.shutdown(Duration::from_secs(1)).unwrap();
    let logs = 256 * std::mem::size_of::<ringspan::LogRecord>();
    // One that does not (`Collect`) gets none.
    let (engine, _sink) = start(config);
    assert_eq!(engine.preallocated_bytes(), budget - 3 * logs);
    let full = (1024 + ringspan::MAX_DEPTH) * std::mem::size_of::<ringspan::SpanRecord>();
    let compact = (4096 + ringspan::MAX_DEPTH) * std::mem::size_of::<ringspan::CompactRecord>();
    // A full and a compact record for each travelling span.
    let travel = 100
        * (std::mem::size_of::<ringspan::SpanRecord>()
            + std::mem::size_of::<ringspan::CompactRecord>());
    // 8-byte metric cells, 16 unused ones at each end of a block: one block per ring and
    // the one detached producers share.
    let metrics = 4 * (1000 + 32) * 8;
    assert_eq!(budget, 3 * (full + compact + logs) + travel + metrics);
}
