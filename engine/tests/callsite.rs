//! Spans started from callsites: what reaches a sink that reads full records (through the
//! default `accept_compact`), promotion to a full record when a span outgrows its callsite,
//! nesting with dynamic spans, and the accounting of the compact rings.

mod common;

use std::time::Duration;

use common::{attrs, Collect, Gate, Val};
use ringspan::{callsite, Engine, EngineConfig, IdleStrategy, Sampler, SpanKind, Value};

const T: Duration = Duration::from_secs(5);

fn start(config: EngineConfig) -> (Engine, Collect) {
    let sink = Collect::default();
    let engine = Engine::start(config.idle(IdleStrategy::Yield), sink.clone()).unwrap();
    (engine, sink)
}

fn small() -> EngineConfig {
    EngineConfig::default()
        .rings(2)
        .ring_capacity(64)
        .compact_capacity(64)
        .scope("engine.scope")
}

#[test]
fn a_callsite_span_carries_its_callsite_and_values() {
    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    {
        let mut span =
            p.span_at(callsite!("match", "id", "qty", "side", "ok"; kind = SpanKind::Server));
        span.set_values(&[Value::i64(7), Value::f64(1.5)]);
        span.set_values(&[Value::str("buy"), Value::bool(true)]);
        span.set_ok();
    }
    drop(p.span_at(callsite!("lib.op"; scope = "my.lib")));
    drop(p);
    engine.shutdown(T).unwrap();
    let spans = sink.take();
    assert_eq!(spans.len(), 2);
    let s = &spans[0];
    assert_eq!((s.name.as_str(), s.kind), ("match", SpanKind::Server));
    assert_eq!(
        s.scope, "engine.scope",
        "no scope on the callsite: the engine's"
    );
    assert_eq!(s.status, "Ok");
    assert_eq!(
        s.attrs,
        attrs(&[
            ("id", Val::I(7)),
            ("qty", Val::F(1.5)),
            ("side", Val::S("buy".into())),
            ("ok", Val::B(true)),
        ])
    );
    assert!(s.start_unix_ns > 0 && s.start_unix_ns <= s.end_unix_ns);
    assert_eq!(spans[1].scope, "my.lib");
    assert!(spans[1].attrs.is_empty());
}

#[test]
fn a_span_that_outgrows_its_callsite_becomes_a_full_record_and_loses_nothing() {
    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    let site = callsite!("grow", "a", "b", "c", "d", "e", "f");
    let user = String::from("alice");
    {
        // Four values fit the compact record; the fifth (and sixth) go to the full one.
        let mut span = p.span_at(site);
        span.set_values(&[Value::i64(1), Value::i64(2), Value::i64(3)]);
        span.set_values(&[Value::i64(4), Value::i64(5), Value::i64(6), Value::i64(7)]);
    }
    {
        // A copied string, an extra keyed attribute, an event and an error.
        let mut span = p.span_at(site);
        span.set_values(&[Value::i64(1), Value::copied(&user)]);
        span.set_attr("extra", "x")
            .add_event("ev", &[("n", Value::i64(9))]);
        span.set_error(Value::copied("boom"));
    }
    {
        // Values after a promotion by something else go on under the next keys.
        let mut span = p.span_at(callsite!("resume", "a", "b"));
        span.set_values(&[Value::i64(1)]);
        span.set_attr("x", 2);
        span.set_values(&[Value::i64(3)]);
    }
    {
        // Values on a span started without a callsite have no keys: dropped and counted.
        let mut span = p.span("dynamic");
        span.set_values(&[Value::i64(1), Value::i64(2)]);
    }
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert!(snap.is_balanced(), "{snap:?}");
    let spans = sink.take();
    assert_eq!(spans.len(), 4);
    let keys = ["a", "b", "c", "d", "e", "f"];
    assert_eq!(
        spans[0].attrs,
        (1..=6)
            .map(|i| (keys[i as usize - 1].to_string(), Val::I(i)))
            .collect::<Vec<_>>()
    );
    assert_eq!(spans[0].dropped_attrs, 1, "a seventh value for six keys");
    assert_eq!(
        spans[1].attrs,
        attrs(&[
            ("a", Val::I(1)),
            ("b", Val::S("alice".into())),
            ("extra", Val::S("x".into()))
        ])
    );
    assert_eq!(
        spans[1].events,
        vec![("ev".to_string(), attrs(&[("n", Val::I(9))]))]
    );
    assert_eq!(spans[1].status, "Error(\"boom\")");
    assert_eq!(spans[1].name, "grow");
    assert_eq!(spans[1].scope, "engine.scope");
    assert_eq!(
        spans[2].attrs,
        attrs(&[("a", Val::I(1)), ("x", Val::I(2)), ("b", Val::I(3))])
    );
    assert!(spans[3].attrs.is_empty());
    assert_eq!(spans[3].dropped_attrs, 2);
}

#[test]
fn callsite_and_dynamic_spans_nest_both_ways() {
    let (engine, sink) = start(small());
    let p = engine.producer().unwrap();
    {
        let _root = p.span_at(callsite!("root"));
        {
            let _mid = p.span("mid");
            let mut leaf = p.span_at(callsite!("leaf", "k"));
            leaf.set_values(&[Value::i64(1)]);
            let _deeper = p.span_at(callsite!("deeper"));
        }
        // A compact span that is promoted while a compact child is open.
        let mut parent = p.span_at(callsite!("parent"));
        let child = p.span_at(callsite!("child"));
        parent.set_attr("late", 1);
        drop(parent); // ends before its child
        drop(child);
    }
    drop(p);
    engine.shutdown(T).unwrap();
    let spans = sink.take();
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    let (root, mid, leaf, deeper) = (by("root"), by("mid"), by("leaf"), by("deeper"));
    let (parent, child) = (by("parent"), by("child"));
    assert_eq!(root.parent, None);
    assert_eq!(mid.parent, Some(root.span_id));
    assert_eq!(leaf.parent, Some(mid.span_id));
    assert_eq!(deeper.parent, Some(leaf.span_id));
    assert_eq!(parent.parent, Some(root.span_id));
    assert_eq!(child.parent, Some(parent.span_id));
    assert_eq!(parent.attrs, attrs(&[("late", Val::I(1))]));
    assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
    assert_eq!(spans.len(), 6);
}

#[test]
fn unsampled_callsite_spans_write_nothing() {
    let (engine, sink) = start(small().sampler(Sampler::parent_based(Sampler::always_off())));
    let p = engine.producer().unwrap();
    {
        let mut span = p.span_at(callsite!("quiet", "k"));
        assert!(!span.is_recording());
        span.set_values(&[Value::i64(1)]);
        let child = p.span_at(callsite!("quiet.child"));
        assert_eq!(child.context().trace_id, span.context().trace_id);
    }
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert_eq!((snap.recorded, snap.delivered), (0, 0));
    assert!(sink.take().is_empty());
}

#[test]
fn a_full_compact_ring_drops_and_counts_and_shutdown_counts_what_is_left() {
    let gate = Gate::new(false);
    let config = small().compact_capacity(8).idle(IdleStrategy::Yield);
    let engine = Engine::start(config, gate.clone()).unwrap();
    let p = engine.producer().unwrap();
    for _ in 0..20 {
        drop(p.span_at(callsite!("fill")));
    }
    let snap = engine.snapshot();
    assert_eq!(snap.recorded, 20);
    assert_eq!(
        snap.dropped.ring_full, 12,
        "8 slots, the gate takes nothing"
    );
    assert_eq!(snap.in_rings, 8);
    assert!(snap.is_balanced(), "{snap:?}");
    drop(p);
    let snap = engine.shutdown(Duration::from_millis(100)).unwrap();
    assert_eq!(snap.dropped.shutdown, 8);
    assert_eq!((snap.delivered, snap.in_rings), (0, 0));
    assert!(snap.is_balanced(), "{snap:?}");
}

#[test]
fn the_memory_budget_counts_the_compact_rings() {
    let config = EngineConfig::default()
        .rings(2)
        .ring_capacity(64)
        .compact_capacity(1024);
    let engine = Engine::start(config.clone(), ringspan::Discard::default()).unwrap();
    assert_eq!(engine.preallocated_bytes(), config.memory_budget());
    assert!(config.memory_budget() >= 2 * 1024 * 128);
    assert!(EngineConfig::default()
        .compact_capacity(1000)
        .validate()
        .unwrap_err()
        .is_config());
}
