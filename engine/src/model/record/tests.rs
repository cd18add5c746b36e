//! Unit tests of the span record: limits, truncation, entries, copies.

use super::*;
use crate::model::entry::MAX_EVENT_ATTRS;
use crate::model::ids::SpanContext;

fn fresh() -> Box<SpanRecord> {
    let mut r = Box::new(SpanRecord::EMPTY);
    r.begin(
        TraceId([1; 16]).words(),
        SpanId([2; 8]).word(),
        0,
        ParentKind::None,
        TraceFlags::SAMPLED,
        "scope",
        10,
    );
    r
}

#[test]
fn attributes_beyond_the_limit_are_counted() {
    const KEYS: [&str; MAX_ATTRS + 3] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"];
    let mut r = fresh();
    let mut loss = Loss::default();
    for (i, key) in KEYS.iter().enumerate() {
        r.push_attr(key, Value::i64(i as i64), &mut loss);
    }
    assert_eq!(r.attributes().len(), MAX_ATTRS);
    assert_eq!(r.dropped_attributes_count(), 3);
    assert_eq!(
        r.attributes().last().unwrap(),
        ("h", ValueRef::I64(MAX_ATTRS as i64 - 1))
    );
}

#[test]
fn an_event_written_field_by_field_keeps_its_name_attributes_and_counts() {
    let mut r = fresh();
    let mut loss = Loss::default();
    let e = r.open_event("callsite name", 20).unwrap();
    let message = String::from("order routed");
    r.set_event_name(e, Value::copied(&message), &mut loss);
    drop(message);
    for i in 0..MAX_EVENT_ATTRS as i64 + 2 {
        r.push_event_attr(e, "n", Value::i64(i), &mut loss);
    }
    let event = r.events().next().unwrap();
    assert_eq!(event.name(), "order routed");
    assert_eq!(event.time_ticks(), 20);
    assert_eq!(event.attributes().len(), MAX_EVENT_ATTRS);
    assert_eq!(event.dropped_attributes_count(), 2);
    while r.events().count() < MAX_EVENTS {
        r.open_event("more", 30).unwrap();
    }
    assert!(r.open_event("one too many", 40).is_none());
    assert_eq!(r.dropped_events_count(), 1);
    assert_eq!(loss, Loss::default());
}

/// Found by the `encode` fuzz target: a key set again once every slot was taken lost its
/// new value (the span exported an older one).
#[test]
fn a_key_set_again_at_the_limit_takes_the_new_value() {
    let mut r = fresh();
    let mut loss = Loss::default();
    for i in 0..MAX_ATTRS as i64 {
        r.push_attr("k", Value::i64(i), &mut loss);
    }
    r.push_attr("k", Value::i64(99), &mut loss);
    r.push_attr("other", Value::i64(1), &mut loss);
    assert_eq!(
        r.dropped_attributes_count(),
        1,
        "only the new key is dropped"
    );
    let last_k = r.attributes().filter(|(k, _)| *k == "k").last().unwrap();
    assert_eq!(last_k.1, ValueRef::I64(99));
}

#[test]
fn arena_truncates_at_char_boundary_and_counts() {
    let mut r = fresh();
    let mut loss = Loss::default();
    let long = "é".repeat(ARENA_BYTES); // 2 bytes each: twice the arena
    r.push_attr("a", Value::copied("hello"), &mut loss);
    r.push_attr("b", Value::copied(&long), &mut loss);
    // "hello" (5) + 125 two-byte chars (250) leave one byte: "yz" becomes "y".
    r.push_attr("c", Value::copied("yz"), &mut loss);
    assert_eq!(loss.truncated, 2);
    let vals: Vec<_> = r.attributes().map(|(_, v)| v).collect();
    assert_eq!(vals[0], ValueRef::Str("hello"));
    let ValueRef::Str(b) = vals[1] else {
        panic!("not a string")
    };
    assert!(long.starts_with(b) && b.len() == 250);
    assert_eq!(vals[2], ValueRef::Str("y"));
}

#[test]
fn events_and_links_share_the_entries_and_overflow_is_counted() {
    let mut r = fresh();
    let mut loss = Loss::default();
    let to = SpanContext {
        trace_id: TraceId([7; 16]),
        span_id: SpanId([8; 8]),
        flags: TraceFlags::SAMPLED,
        is_remote: true,
    };
    r.push_event("e", 5, &[], &mut loss);
    r.push_link(
        &to,
        [("k", "v")].into_iter(),
        &[("a", Value::i64(1))],
        &mut loss,
    );
    r.push_link(&to, std::iter::empty(), &[], &mut loss);
    r.push_event("late", 6, &[], &mut loss);
    assert_eq!((r.events().count(), r.links().count()), (1, 1));
    assert_eq!((r.dropped_events_count(), r.dropped_links_count()), (1, 1));
    let link = r.links().next().unwrap();
    assert_eq!((link.trace_id(), link.span_id()), (to.trace_id, to.span_id));
    assert!(link.is_remote() && link.trace_flags().is_sampled());
    assert_eq!(link.trace_state(), "k=v");
    assert_eq!(
        link.attributes().collect::<Vec<_>>(),
        [("a", ValueRef::I64(1))]
    );
    let mut dst = Box::new(SpanRecord::EMPTY);
    r.copy_used_into(&mut dst);
    assert_eq!(dst.links().next().unwrap().trace_state(), "k=v");
    assert_eq!(dst.events().next().unwrap().name(), "e");
    assert_eq!(loss, Loss::default());
}

#[test]
fn a_tracestate_short_of_room_loses_whole_members_and_counts_once() {
    let mut r = fresh();
    let mut loss = Loss::default();
    let filler = "x".repeat(ARENA_BYTES - 12);
    r.push_attr("f", Value::copied(&filler), &mut loss);
    // 12 bytes left: "a=1" (3) + ",bbbbbbbb=2" (11) does not fit, ",c=3" (4) does.
    r.set_trace_state(
        [("a", "1"), ("bbbbbbbb", "2"), ("c", "3")].into_iter(),
        &mut loss,
    );
    assert_eq!(r.trace_state(), "a=1,c=3");
    assert_eq!(loss.truncated, 1);
}

#[test]
fn ok_status_is_final_and_error_keeps_message() {
    let mut r = fresh();
    let mut loss = Loss::default();
    r.set_status(false, Value::copied("boom"), &mut loss);
    assert_eq!(r.status(), Status::Error("boom"));
    r.set_status(true, Value::str(""), &mut loss);
    assert_eq!(r.status(), Status::Ok);
    r.set_status(false, Value::str("later"), &mut loss);
    assert_eq!(r.status(), Status::Ok);
}

#[test]
fn copy_used_into_carries_everything_visible() {
    let mut r = fresh();
    let mut loss = Loss::default();
    r.set_name(Value::copied("dyn-name"), &mut loss);
    r.push_attr("s", Value::copied("copied"), &mut loss);
    r.push_attr("f", Value::f64(2.5), &mut loss);
    r.push_event(
        "ev",
        11,
        &[("n", Value::i64(1)), ("t", Value::copied("x"))],
        &mut loss,
    );
    r.set_end(12);
    let mut dst = Box::new(SpanRecord::EMPTY);
    r.copy_used_into(&mut dst);
    assert_eq!(dst.name(), "dyn-name");
    assert_eq!(dst.scope(), "scope");
    assert_eq!(dst.end_ticks(), 12);
    let attrs: Vec<_> = dst.attributes().collect();
    assert_eq!(
        attrs,
        vec![("s", ValueRef::Str("copied")), ("f", ValueRef::F64(2.5))]
    );
    let ev = dst.events().next().unwrap();
    assert_eq!((ev.name(), ev.time_ticks()), ("ev", 11));
    assert_eq!(ev.attributes().nth(1), Some(("t", ValueRef::Str("x"))));
}
