//! The OTLP encoder against the OpenTelemetry project's own prost bindings
//! (`opentelemetry-proto`): decoded values, byte-for-byte identity with prost's encoding of the
//! equivalent message, batch limits, oversize spans and buffer backpressure (the rig is in
//! `common/otlp.rs`; arbitrary spans in `otlp_arbitrary.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::trace::v1::{span, Span as PbSpan, Status as PbStatus};
use prost::Message;
use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink};

mod common;
use common::otlp::{one_request, setup, Keep, T};
use common::pb_value;
use ringspan::{
    callsite, Engine, EngineConfig, IdleStrategy, Parent, SpanContext, SpanId, SpanKind,
    TraceFlags, TraceId, Value, ValueRef,
};

#[test]
fn every_field_decodes_with_the_opentelemetry_bindings() {
    let s = setup(OtlpConfig::default());
    let p = s.engine.producer().unwrap();
    let remote = SpanContext {
        trace_id: TraceId([0x4b; 16]),
        span_id: SpanId([0x0f; 8]),
        flags: TraceFlags::SAMPLED,
        is_remote: true,
    };
    let dynamic = String::from("naïve ✓");
    {
        let mut server = p.start(Value::str("GET /orders"), Parent::Context(remote));
        server.set_kind(SpanKind::Server).set_attrs(&[
            ("http.request.method", Value::str("GET")),
            ("retries", Value::i64(-3)),
            ("ratio", Value::f64(0.25)),
            ("cached", Value::bool(false)),
            ("user", Value::copied(&dynamic)),
            ("retries", Value::i64(4)), // set twice: the last one is exported
        ]);
        server.add_event(
            "cache.miss",
            &[("key", Value::copied("orders:42")), ("n", Value::i64(0))],
        );
        let mut child = p.span_copied("db query");
        child.set_kind(SpanKind::Client).set_error("timed out");
        drop(child);
        server.set_ok();
    }
    let decoded = one_request(&s);
    let spans = &decoded.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 2);
    let (child, server) = (&spans[0], &spans[1]);
    assert_eq!(server.trace_id, vec![0x4b; 16]);
    assert_eq!(server.parent_span_id, vec![0x0f; 8]);
    assert_eq!(
        server.flags,
        0x1 | 0x100 | 0x200,
        "sampled, parent known to be remote"
    );
    assert_eq!(child.parent_span_id, server.span_id);
    assert_eq!(
        child.flags,
        0x1 | 0x100,
        "sampled, parent known to be local"
    );
    assert_eq!(server.kind, span::SpanKind::Server as i32);
    assert_eq!(
        server.status,
        Some(PbStatus {
            message: String::new(),
            code: 1
        })
    );
    assert_eq!(
        child.status,
        Some(PbStatus {
            message: "timed out".into(),
            code: 2
        })
    );
    let keys: Vec<_> = server.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        ["http.request.method", "retries", "ratio", "cached", "user"]
    );
    assert_eq!(
        server.attributes[1].value,
        Some(AnyValue {
            value: Some(any_value::Value::IntValue(4))
        })
    );
    assert_eq!(
        server.attributes[4].value,
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(dynamic.clone()))
        })
    );
    assert_eq!(server.events[0].name, "cache.miss");
    assert!(server.start_time_unix_nano <= child.start_time_unix_nano);
    assert!(child.end_time_unix_nano <= server.end_time_unix_nano);
    let scope = decoded.resource_spans[0].scope_spans[0]
        .scope
        .as_ref()
        .unwrap();
    assert_eq!(scope.name, "ringspan");
    let service = &decoded.resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes[0];
    assert_eq!(service.key, "service.name");
}

#[test]
fn links_and_tracestate_decode_with_the_opentelemetry_bindings() {
    let s = setup(OtlpConfig::default());
    let p = s.engine.producer().unwrap();
    let incoming = ringspan::TraceState::parse("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE").unwrap();
    let message = SpanContext {
        trace_id: TraceId([0x11; 16]),
        span_id: SpanId([0x22; 8]),
        flags: TraceFlags::SAMPLED,
        is_remote: true,
    };
    let local = SpanContext {
        trace_id: TraceId([0x33; 16]),
        span_id: SpanId([0x44; 8]),
        flags: TraceFlags(0),
        is_remote: false,
    };
    let topic = String::from("orders.v2");
    {
        let mut consumer = p.start(Value::str("process batch"), Parent::Root);
        consumer
            .set_kind(SpanKind::Consumer)
            .set_trace_state(&incoming)
            .add_link_with_state(
                message,
                &incoming,
                &[
                    ("messaging.destination.name", Value::copied(&topic)),
                    ("offset", Value::i64(7)),
                    ("partition", Value::i64(3)), // past MAX_LINK_ATTRS: counted
                ],
            )
            .add_link(local, &[])
            .add_link(message, &[]) // the entries are taken: counted
            .add_event("late", &[]); // likewise, as a dropped event
                                     // A link and an event share the entries.
        p.span("mixed")
            .add_event("retry", &[("n", Value::i64(1))])
            // A key set twice on a link: the exact writer (which deduplicates) takes it.
            .add_link(
                local,
                &[
                    ("why", Value::str("fan-in")),
                    ("why", Value::str("fan-out")),
                ],
            );
    }
    let decoded = one_request(&s); // byte for byte against prost
    let spans = &decoded.resource_spans[0].scope_spans[0].spans;
    let (mixed, consumer) = (&spans[0], &spans[1]);
    assert_eq!(
        consumer.trace_state,
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    );
    assert_eq!(consumer.links.len(), ringspan::MAX_EVENTS);
    assert_eq!(consumer.dropped_links_count, 1);
    assert_eq!(consumer.dropped_events_count, 1);
    let (l0, l1) = (&consumer.links[0], &consumer.links[1]);
    assert_eq!(
        (l0.trace_id.clone(), l0.span_id.clone()),
        (vec![0x11; 16], vec![0x22; 8])
    );
    assert_eq!(l0.trace_state, consumer.trace_state);
    assert_eq!(l0.flags, 0x1 | 0x100 | 0x200, "sampled, known to be remote");
    let keys: Vec<_> = l0.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["messaging.destination.name", "offset"]);
    assert_eq!(
        l0.attributes[0].value,
        Some(pb_value(ValueRef::Str(&topic)))
    );
    assert_eq!(l0.dropped_attributes_count, 1);
    assert_eq!((l1.span_id.clone(), l1.flags), (vec![0x44; 8], 0x100));
    assert!(l1.trace_state.is_empty() && l1.attributes.is_empty());
    assert_eq!((mixed.events.len(), mixed.links.len()), (1, 1));
    assert_eq!(mixed.links[0].attributes.len(), 1);
    assert_eq!(
        mixed.links[0].attributes[0].value,
        Some(pb_value(ValueRef::Str("fan-out")))
    );
    assert!(mixed.trace_state.is_empty());
}

#[test]
fn each_scope_gets_one_scope_spans() {
    let s = setup(OtlpConfig::default());
    let p = s.engine.producer().unwrap();
    for (i, scope) in ["a", "b", "a", "c", "", "b", "a"].iter().enumerate() {
        p.set_scope(scope);
        p.span("x").set_attr("i", i as i64);
    }
    let decoded = one_request(&s);
    let scopes: Vec<_> = decoded.resource_spans[0]
        .scope_spans
        .iter()
        .map(|ss| (ss.scope.as_ref().unwrap().name.clone(), ss.spans.len()))
        .collect();
    assert_eq!(
        scopes,
        [
            ("a".into(), 3),
            ("b".into(), 2),
            ("c".into(), 1),
            ("".into(), 1)
        ]
    );
}

#[test]
fn spans_and_events_of_every_length_size_match_prost() {
    // The one-pass writer reserves two bytes for a span's length and one for an event's or a
    // link's, and moves the body when the length takes another size: bodies under 128 bytes,
    // of 128 to 16383, and of 16 KiB or more, for spans, events and links, in one request.
    // Static text, as the writers see it for `Value::str` (no arena copy, no truncation).
    let long: &'static str = "0123456789abcdef, ".repeat(1200).leak();
    assert!(long.len() > 20_000);
    let (mid, big) = (&long[..200], &long[..20_000]);
    let s = setup(OtlpConfig::default());
    let p = s.engine.producer().unwrap();
    drop(p.span("s")); // a body under 128 bytes
    p.span("mid").set_attr("text", mid); // 128..16383
    p.span("big").set_attr("text", big); // 16 KiB and more
    p.span("events")
        .add_event("short", &[])
        .add_event("mid", &[("text", Value::str(mid))]);
    p.span("big-event")
        .add_event("big", &[("text", Value::str(big))]);
    let to = SpanContext {
        trace_id: TraceId([1; 16]),
        span_id: SpanId([2; 8]),
        flags: TraceFlags::SAMPLED,
        is_remote: false,
    };
    p.span("links")
        .add_link(to, &[])
        .add_link(to, &[("text", Value::str(mid))]);
    p.span("big-link")
        .add_link(to, &[("text", Value::str(big))]);
    let decoded = one_request(&s); // byte for byte against prost
    let spans = &decoded.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 7);
    assert_eq!(
        spans[2].attributes[0].value,
        Some(pb_value(ValueRef::Str(big)))
    );
}

#[test]
fn callsite_spans_encode_as_prost_would() {
    let s = setup(OtlpConfig::default());
    let p = s.engine.producer().unwrap();
    let order = callsite!("order.match", "order.id", "order.qty", "order.side", "order.ok"; kind = SpanKind::Server);
    {
        let mut root = p.span_at(order);
        root.set_values(&[
            Value::i64(-7),
            Value::f64(2.5),
            Value::str("buy"),
            Value::bool(true),
        ]);
        root.set_ok();
        // Another scope, no values; a dynamic child; a repeated key (deduplicated); a
        // promoted span.
        drop(p.span_at(callsite!("lib.op"; scope = "lib.a")));
        drop(p.span("dynamic"));
        p.span_at(callsite!("twice", "k", "k"))
            .set_values(&[Value::i64(1), Value::i64(2)]);
        p.span_at(callsite!("promoted", "k"))
            .set_values(&[Value::i64(1)])
            .add_event("ev", &[]);
        let remote = SpanContext {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([9; 8]),
            flags: TraceFlags::SAMPLED,
            is_remote: true,
        };
        drop(p.start_at(callsite!("remote.child"), Parent::Context(remote)));
    }
    let decoded = one_request(&s); // byte for byte against prost
    let spans: usize = decoded.resource_spans[0]
        .scope_spans
        .iter()
        .map(|ss| ss.spans.len())
        .sum();
    assert_eq!(spans, 6);
    let all: Vec<&PbSpan> = decoded.resource_spans[0]
        .scope_spans
        .iter()
        .flat_map(|ss| &ss.spans)
        .collect();
    let twice = all.iter().find(|sp| sp.name == "twice").unwrap();
    assert_eq!(twice.attributes.len(), 1, "the repeated key goes out once");
    let root = all.iter().find(|sp| sp.name == "order.match").unwrap();
    assert_eq!(root.attributes.len(), 4);
    assert_eq!(root.kind, SpanKind::Server as i32);
    assert_eq!(root.status.as_ref().map(|st| st.code), Some(1));
    drop(p);
    let snap = s.engine.shutdown(T).unwrap();
    assert!(snap.is_balanced(), "{snap:?}");
}

#[test]
fn requests_respect_max_spans_and_max_bytes() {
    for (config, limit_spans, limit_bytes) in [
        (OtlpConfig::default().max_spans(7), 7, usize::MAX),
        (OtlpConfig::default().max_bytes(2048), usize::MAX, 2048),
    ] {
        let s = setup(config);
        let p = s.engine.producer().unwrap();
        for i in 0..100 {
            p.span("work").set_attrs(&[
                ("i", Value::i64(i)),
                ("pad", Value::str("0123456789abcdef0123456789abcdef")),
            ]);
        }
        s.engine.flush(T).unwrap();
        let requests = s.requests.0.lock().unwrap().clone();
        let mut seen = Vec::new();
        for bytes in &requests {
            assert!(bytes.len() <= limit_bytes, "{} bytes", bytes.len());
            let req = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
            let spans = &req.resource_spans[0].scope_spans[0].spans;
            assert!(spans.len() <= limit_spans);
            seen.extend(spans.iter().map(
                |sp| match &sp.attributes[0].value.as_ref().unwrap().value {
                    Some(any_value::Value::IntValue(i)) => *i,
                    other => panic!("{other:?}"),
                },
            ));
        }
        assert_eq!(
            seen,
            (0..100).collect::<Vec<_>>(),
            "every span once, in order"
        );
        assert!(requests.len() > 1);
        assert_eq!(s.stats.spans_encoded(), 100);
    }
}

#[test]
fn a_span_too_large_for_any_request_is_dropped_and_counted() {
    static HUGE: &str = include_str!("otlp.rs"); // a static string longer than the cap
    let s = setup(OtlpConfig::default().max_bytes(4096));
    let p = s.engine.producer().unwrap();
    drop(p.span("ok"));
    p.span("huge").set_attr("source", HUGE);
    drop(p.span("ok"));
    s.engine.flush(T).unwrap();
    assert_eq!(s.stats.dropped_too_large(), 1);
    assert_eq!(s.stats.spans_encoded(), 2);
    let snap = s.engine.snapshot();
    assert_eq!((snap.delivered, snap.dropped.too_large), (2, 1), "{snap:?}");
    assert!(snap.is_balanced(), "{snap:?}");
    let requests = s.requests.0.lock().unwrap().clone();
    let names: Vec<String> = requests
        .iter()
        .flat_map(|b| {
            ExportTraceServiceRequest::decode(&b[..])
                .unwrap()
                .resource_spans[0]
                .scope_spans[0]
                .spans
                .clone()
        })
        .map(|sp| sp.name)
        .collect();
    assert_eq!(names, ["ok", "ok"]);
}

/// Holds requests (so their buffers stay out of the pool) until told to let go.
#[derive(Clone)]
struct Hold(Arc<Mutex<Option<Vec<EncodedRequest>>>>);

impl Hold {
    fn holding() -> Self {
        Hold(Arc::new(Mutex::new(Some(Vec::new()))))
    }

    /// Gives back every held buffer and stops holding new requests.
    fn release(&self) {
        self.0.lock().unwrap().take();
    }
}

impl Exporter for Hold {
    fn export(&mut self, request: EncodedRequest) {
        if let Some(held) = self.0.lock().unwrap().as_mut() {
            held.push(request);
        }
    }
}

#[test]
fn no_free_buffer_stops_the_drain_and_producers_drop_and_count() {
    let hold = Hold::holding();
    let sink = OtlpSink::new(OtlpConfig::default().buffers(1).max_spans(4), hold.clone()).unwrap();
    let stats = sink.stats();
    let config = EngineConfig::default()
        .rings(1)
        .ring_capacity(8)
        .idle(IdleStrategy::Yield);
    let engine = Engine::start(config, sink).unwrap();
    let p = engine.producer().unwrap();
    for _ in 0..100 {
        drop(p.span("x"));
    }
    // The one buffer went out with 4 spans and never came back; 8 more wait in the ring.
    let _ = engine.flush(Duration::from_millis(100));
    let snap = engine.snapshot();
    assert_eq!(stats.spans_encoded(), 4);
    assert!(stats.buffer_waits() > 0);
    assert!(snap.dropped.ring_full > 0);
    assert!(snap.is_balanced(), "{snap:?}");
    // The exporter lets go: the buffer returns and draining resumes by itself.
    hold.release();
    engine.flush(T).unwrap();
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert!(snap.is_balanced(), "{snap:?}");
    assert_eq!(snap.delivered, stats.spans_encoded());
    assert_eq!(snap.delivered + snap.dropped.ring_full, 100);
}

#[test]
fn bad_sink_config_is_an_error() {
    for config in [
        OtlpConfig::default().max_bytes(10),
        OtlpConfig::default().max_bytes(65 << 20),
        OtlpConfig::default().buffers(0),
        OtlpConfig::default().max_spans(0),
    ] {
        let e = OtlpSink::new(config, Keep::default())
            .err()
            .expect("rejected");
        assert!(e.is_config() && e.to_string().contains("otlp"), "{e}");
    }
}
