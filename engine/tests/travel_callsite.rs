//! Travelling spans started from a callsite (`Engine::travel_at`): their values arrive under
//! the callsite's keys wherever they end; a span that outgrows its compact record is promoted
//! to a full one and loses nothing; a promotion or a start that finds no record free drops
//! and counts the span, and the accounting balances.

mod common;

use std::time::Duration;

use common::{attrs, by_id, Collect, Val};
use ringspan::{callsite, Engine, EngineConfig, IdleStrategy, SpanKind, Value};

const T: Duration = Duration::from_secs(5);

fn start(config: EngineConfig) -> (Engine, Collect) {
    let sink = Collect::default();
    let config = config
        .rings(3)
        .ring_capacity(64)
        .compact_capacity(64)
        .scope("engine.scope")
        .idle(IdleStrategy::Park(Duration::from_micros(200)));
    (Engine::start(config, sink.clone()).unwrap(), sink)
}

#[test]
fn a_callsite_span_ended_on_another_thread_carries_its_keys_kind_status_and_parent() {
    let (engine, sink) = start(EngineConfig::default());
    let root = engine.travel("root");
    let root_cx = root.context();
    let mut span = root.enter(|| {
        engine.travel_at(callsite!("fetch", "id", "rows", "table"; kind = SpanKind::Client))
    });
    assert!(span.is_recording());
    let cx = span.context();
    span.set_values(&[Value::i64(42)]);
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut span = span;
            span.set_values(&[Value::i64(3), Value::str("orders")]);
            span.set_ok();
            std::thread::sleep(Duration::from_millis(2));
            // Ends here, into this thread's compact ring.
        });
    });
    drop(root);
    let report = engine.shutdown(T).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!((report.recorded, report.delivered), (2, 2));
    let spans = sink.take();
    let spans = by_id(&spans);
    let s = spans[&cx.span_id];
    assert_eq!((s.name.as_str(), s.kind), ("fetch", SpanKind::Client));
    assert_eq!(s.status, "Ok");
    assert_eq!(s.scope, "engine.scope");
    assert_eq!(
        s.attrs,
        attrs(&[
            ("id", Val::I(42)),
            ("rows", Val::I(3)),
            ("table", Val::S("orders".into()))
        ])
    );
    assert_eq!(s.parent, Some(root_cx.span_id));
    assert_eq!(s.trace_id, root_cx.trace_id);
    assert!(s.end_unix_ns - s.start_unix_ns >= 2_000_000, "{s:?}");
}

#[test]
fn a_callsite_span_that_outgrows_its_compact_record_keeps_everything_written() {
    let (engine, sink) = start(EngineConfig::default());
    let site = callsite!("grow", "a", "b", "c", "d", "e", "f");
    let user = String::from("alice");
    let mut ids = Vec::new();
    {
        // Four values fit the compact record; the fifth and sixth go to the full one, the
        // seventh has no key.
        let mut span = engine.travel_at(site);
        span.set_values(&[Value::i64(1), Value::i64(2), Value::i64(3)]);
        span.set_kind(SpanKind::Server);
        span.set_values(&[Value::i64(4), Value::i64(5), Value::i64(6), Value::i64(7)]);
        ids.push(span.context().span_id);
    }
    {
        // A copied string, a keyed attribute, an event and an error; on another thread.
        let mut span = engine.travel_at(site);
        span.set_values(&[Value::i64(1)]);
        ids.push(span.context().span_id);
        std::thread::scope(|s| {
            s.spawn(|| {
                span.set_values(&[Value::copied(&user)]);
                span.set_attr("extra", "x")
                    .add_event("ev", &[("n", Value::i64(9))])
                    .set_error(Value::copied("boom"));
            });
        });
    }
    {
        // Values after a promotion by something else go on under the next keys.
        let mut span = engine.travel_at(callsite!("resume", "a", "b"));
        span.set_values(&[Value::i64(1)]);
        span.add_event("promoted", &[]);
        span.set_values(&[Value::i64(3)]);
        ids.push(span.context().span_id);
    }
    let report = engine.shutdown(T).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.delivered, 3);
    let spans = sink.take();
    let spans = by_id(&spans);
    let keys = ["a", "b", "c", "d", "e", "f"];
    let grown = spans[&ids[0]];
    assert_eq!(
        grown.attrs,
        (1..=6)
            .map(|i| (keys[i as usize - 1].to_string(), Val::I(i)))
            .collect::<Vec<_>>()
    );
    assert_eq!(grown.dropped_attrs, 1, "a seventh value for six keys");
    assert_eq!(grown.kind, SpanKind::Server, "set while compact, kept");
    let mixed = spans[&ids[1]];
    assert_eq!(
        mixed.attrs,
        attrs(&[
            ("a", Val::I(1)),
            ("b", Val::S("alice".into())),
            ("extra", Val::S("x".into()))
        ])
    );
    assert_eq!(
        mixed.events,
        vec![("ev".into(), attrs(&[("n", Val::I(9))]))]
    );
    assert_eq!(mixed.status, "Error(\"boom\")");
    assert_eq!(
        (mixed.name.as_str(), mixed.scope.as_str()),
        ("grow", "engine.scope")
    );
    let resumed = spans[&ids[2]];
    assert_eq!(resumed.attrs, attrs(&[("a", Val::I(1)), ("b", Val::I(3))]));
    assert_eq!(resumed.events.len(), 1);
}

#[test]
fn a_promotion_that_finds_no_full_record_drops_and_counts_the_span() {
    let (engine, sink) = start(EngineConfig::default().travel_spans(1));
    // The only full record.
    let keyed = engine.travel("keyed");
    assert!(keyed.is_recording());
    let mut compact = engine.travel_at(callsite!("compact", "a"));
    assert!(
        compact.is_recording(),
        "the compact pool has its own record"
    );
    compact.set_values(&[Value::i64(1)]);
    // Needs a full record: none is free.
    compact.add_event("ev", &[]);
    assert!(!compact.is_recording());
    // Its context still carries the trace.
    let child = compact.enter(|| engine.travel_at(callsite!("child")));
    assert_eq!(child.context().trace_id, compact.context().trace_id);
    drop((compact, child, keyed));
    // Both records are back.
    let again = engine.travel_at(callsite!("again"));
    assert!(again.is_recording());
    drop(again);
    let report = engine.shutdown(T).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.dropped.travel_pool_full, 1, "{report:?}");
    assert_eq!((report.recorded, report.delivered), (4, 3));
    let names: Vec<_> = sink.take().into_iter().map(|s| s.name).collect();
    assert!(!names.contains(&"compact".to_string()), "{names:?}");
}

#[test]
fn a_promotion_takes_the_full_records_its_thread_keeps() {
    // Three rings: this thread's producer keeps up to 32 / 4 / 3 = 2 freed full records.
    let (engine, sink) = start(EngineConfig::default().travel_spans(32));
    let held: Vec<_> = (0..30).map(|_| engine.travel("held")).collect();
    // The pool's last two, freed here: kept by this thread, the pool is empty.
    drop((engine.travel("freed"), engine.travel("freed")));
    let mut span = engine.travel_at(callsite!("promoted", "n"));
    span.set_values(&[Value::i64(1)]).add_event("ev", &[]);
    assert!(
        span.is_recording(),
        "promoted with a record this thread kept"
    );
    drop(span);
    drop(held);
    let report = engine.shutdown(T).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.dropped.travel_pool_full, 0, "{report:?}");
    let spans = sink.take();
    let promoted = spans.iter().find(|s| s.name == "promoted").unwrap();
    assert_eq!(promoted.attrs, attrs(&[("n", Val::I(1))]));
    assert_eq!(promoted.events.len(), 1);
}

#[test]
fn with_no_compact_record_free_a_callsite_span_takes_a_full_one_and_then_none_is_counted() {
    let (engine, sink) = start(EngineConfig::default().travel_spans(2));
    let site = callsite!("held", "n"; kind = SpanKind::Producer);
    // A keyed span's scope, which a callsite span (naming none) does not take, in either
    // kind of record.
    engine.with_local(|p| p.set_scope("keyed.scope"));
    // Two compact records, then a full one for the third.
    let mut held: Vec<_> = (0..3).map(|_| engine.travel_at(site)).collect();
    assert!(held.iter().all(|s| s.is_recording()));
    // The last full record.
    let keyed = engine.travel("keyed");
    assert!(keyed.is_recording());
    let none = engine.travel_at(site);
    assert!(!none.is_recording(), "no record of either kind");
    drop(none);
    // Held across threads: each ends where it is dropped.
    std::thread::scope(|s| {
        for (i, span) in held.iter_mut().enumerate() {
            s.spawn(move || {
                span.set_values(&[Value::i64(i as i64)]);
            });
        }
    });
    drop((held, keyed));
    let report = engine.shutdown(T).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.dropped.travel_pool_full, 1, "{report:?}");
    assert_eq!((report.recorded, report.delivered), (5, 4));
    let mut held: Vec<_> = sink
        .take()
        .into_iter()
        .filter(|s| s.name == "held")
        .collect();
    held.sort_by_key(|s| format!("{:?}", s.attrs));
    assert_eq!(held.len(), 3);
    for (i, s) in held.iter().enumerate() {
        assert_eq!(s.attrs, attrs(&[("n", Val::I(i as i64))]), "{s:?}");
        assert_eq!(s.kind, SpanKind::Producer, "{s:?}");
        assert_eq!(s.scope, "engine.scope", "{s:?}");
    }
}
