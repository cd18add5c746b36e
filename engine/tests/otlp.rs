//! The OTLP encoder against the OpenTelemetry project's own prost bindings
//! (`opentelemetry-proto`): decoded values, byte-for-byte identity with prost's encoding of the
//! equivalent message, batch limits, oversize spans and buffer backpressure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{
    span, ResourceSpans, ScopeSpans, Span as PbSpan, Status as PbStatus,
};
use proptest::prelude::*;
use prost::Message;
use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink, Resource};

mod common;
use common::{pb_resource, pb_value};
use ringspan::Calibration;
use ringspan::{
    callsite, ClockChoice, CompactRecord, Engine, EngineConfig, IdleStrategy, Parent, Sink,
    SpanContext, SpanId, SpanKind, SpanRecord, Status, TraceFlags, TraceId, Value, ValueRef,
};

const T: Duration = Duration::from_secs(5);

/// Keeps a copy of every request's bytes.
#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<Vec<u8>>>>);

impl Exporter for Keep {
    fn export(&mut self, request: EncodedRequest) {
        self.0.lock().unwrap().push(request.bytes().to_vec());
    }
}

/// Attributes as OTLP wants them: one per key, like a map: a key keeps the position where it
/// was first set and takes the value set last.
fn pb_attrs<'a>(attrs: impl Iterator<Item = (&'a str, ValueRef<'a>)>) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = Vec::new();
    for (k, v) in attrs {
        match out.iter_mut().find(|kv| kv.key == k) {
            Some(kv) => kv.value = Some(pb_value(v)),
            None => out.push(KeyValue {
                key: k.to_owned(),
                value: Some(pb_value(v)),
                ..Default::default()
            }),
        }
    }
    out
}

/// The `opentelemetry-proto` span equivalent to a record, built independently of the encoder.
fn pb_span(r: &SpanRecord, cal: &Calibration) -> PbSpan {
    let flags = u32::from(r.trace_flags().0) | 0x100 | if r.parent_is_remote() { 0x200 } else { 0 };
    PbSpan {
        trace_id: r.trace_id().0.to_vec(),
        span_id: r.span_id().0.to_vec(),
        parent_span_id: r.parent_span_id().map(|p| p.0.to_vec()).unwrap_or_default(),
        flags,
        name: r.name().to_owned(),
        kind: r.kind() as i32,
        start_time_unix_nano: cal.to_unix_nanos(r.start_ticks()),
        end_time_unix_nano: cal.to_unix_nanos(r.end_ticks()),
        attributes: pb_attrs(r.attributes()),
        dropped_attributes_count: r.dropped_attributes_count(),
        events: r
            .events()
            .map(|e| span::Event {
                time_unix_nano: cal.to_unix_nanos(e.time_ticks()),
                name: e.name().to_owned(),
                attributes: pb_attrs(e.attributes()),
                dropped_attributes_count: e.dropped_attributes_count(),
            })
            .collect(),
        dropped_events_count: r.dropped_events_count(),
        trace_state: r.trace_state().to_owned(),
        links: r
            .links()
            .map(|l| span::Link {
                trace_id: l.trace_id().0.to_vec(),
                span_id: l.span_id().0.to_vec(),
                trace_state: l.trace_state().to_owned(),
                attributes: pb_attrs(l.attributes()),
                dropped_attributes_count: l.dropped_attributes_count(),
                flags: u32::from(l.trace_flags().0) | 0x100 | if l.is_remote() { 0x200 } else { 0 },
            })
            .collect(),
        dropped_links_count: r.dropped_links_count(),
        status: match r.status() {
            Status::Unset => None,
            Status::Ok => Some(PbStatus {
                message: String::new(),
                code: 1,
            }),
            Status::Error(m) => Some(PbStatus {
                message: m.to_owned(),
                code: 2,
            }),
        },
    }
}

/// Expected spans, grouped by scope in order of first appearance.
type Expected = Arc<Mutex<Vec<(String, Vec<PbSpan>)>>>;

/// A sink that records, for every span it forwards to the OTLP sink, the equivalent
/// `opentelemetry-proto` span grouped by scope (in order of first appearance).
struct Tee {
    inner: OtlpSink<Keep>,
    expected: Expected,
}

impl Sink for Tee {
    fn accept(&mut self, spans: &[SpanRecord], clock: &Calibration) -> usize {
        let mut expected = self.expected.lock().unwrap();
        for r in spans {
            let pb = pb_span(r, clock);
            match expected.iter_mut().find(|(s, _)| s == r.scope()) {
                Some((_, list)) => list.push(pb),
                None => expected.push((r.scope().to_owned(), vec![pb])),
            }
        }
        self.inner.accept(spans, clock)
    }
    fn accept_compact(
        &mut self,
        spans: &[CompactRecord],
        scope: &'static str,
        clock: &Calibration,
    ) -> usize {
        let taken = self.inner.accept_compact(spans, scope, clock);
        {
            let mut expected = self.expected.lock().unwrap();
            for r in &spans[..taken] {
                let full = r.to_full(scope);
                let pb = pb_span(&full, clock);
                match expected.iter_mut().find(|(s, _)| s == full.scope()) {
                    Some((_, list)) => list.push(pb),
                    None => expected.push((full.scope().to_owned(), vec![pb])),
                }
            }
        }
        taken
    }
    fn flush(&mut self, clock: &Calibration) {
        self.inner.flush(clock)
    }
    fn take_dropped(&mut self) -> u64 {
        self.inner.take_dropped()
    }
}

struct Setup {
    engine: Engine,
    requests: Keep,
    expected: Expected,
    resource: Resource,
    stats: Arc<ringspan::otlp::OtlpStats>,
}

/// An engine whose drain feeds `Tee`; everything goes into one request until `flush`.
fn setup(otlp: OtlpConfig) -> Setup {
    let resource = Resource::new("interop-test")
        .with("host.cores", 2i64)
        .with("deployment.environment.name", "ci");
    let requests = Keep::default();
    let sink = OtlpSink::new(otlp.resource(resource.clone()), requests.clone()).unwrap();
    let stats = sink.stats();
    let expected = Arc::new(Mutex::new(Vec::new()));
    let tee = Tee {
        inner: sink,
        expected: expected.clone(),
    };
    let config = EngineConfig::default()
        .rings(2)
        .ring_capacity(1024)
        .max_batch(100_000)
        .clock(ClockChoice::Monotonic)
        .idle(IdleStrategy::Yield);
    let engine = Engine::start(config, tee).unwrap();
    Setup {
        engine,
        requests,
        expected,
        resource,
        stats,
    }
}

fn expected_request(
    resource: &Resource,
    groups: &[(String, Vec<PbSpan>)],
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(pb_resource(resource)),
            scope_spans: groups
                .iter()
                .map(|(scope, spans)| ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: scope.clone(),
                        ..Default::default()
                    }),
                    spans: spans.clone(),
                    schema_url: String::new(),
                })
                .collect(),
            schema_url: String::new(),
        }],
    }
}

/// Flushes, takes the single request, checks it byte for byte against prost, and decodes it.
fn one_request(s: &Setup) -> ExportTraceServiceRequest {
    s.engine.flush(T).unwrap();
    let requests = std::mem::take(&mut *s.requests.0.lock().unwrap());
    assert_eq!(requests.len(), 1, "expected one request");
    let expected = expected_request(
        &s.resource,
        &std::mem::take(&mut *s.expected.lock().unwrap()),
    );
    let decoded = ExportTraceServiceRequest::decode(&requests[0][..])
        .expect("opentelemetry-proto decodes our bytes");
    assert_eq!(
        decoded, expected,
        "decoded request differs from the expected message"
    );
    assert_eq!(
        requests[0],
        expected.encode_to_vec(),
        "bytes differ from prost's encoding"
    );
    decoded
}

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
    static LONG: &str = include_str!("otlp.rs");
    assert!(LONG.len() > 20_000);
    let (mid, big) = (&LONG[..200], &LONG[..20_000]);
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

// ----- property test: arbitrary spans round-trip -----

#[derive(Debug, Clone)]
enum V {
    I(i64),
    F(f64),
    B(bool),
    S(&'static str),
    D(String),
}

impl V {
    fn value(&self) -> Value<'_> {
        match self {
            V::I(i) => Value::i64(*i),
            V::F(f) => Value::f64(*f),
            V::B(b) => Value::bool(*b),
            V::S(s) => Value::str(s),
            V::D(s) => Value::copied(s),
        }
    }
}

const KEYS: [&str; 5] = ["k0", "k1", "key.two", "ключ", ""];
const STATICS: [&str; 3] = ["", "static", "ünïcødé ✓"];
const SCOPES: [&str; 3] = ["ringspan", "lib.a", "lib.b"];

fn value() -> impl Strategy<Value = V> {
    prop_oneof![
        any::<i64>().prop_map(V::I),
        any::<f64>()
            .prop_filter("NaN never equals itself", |f| !f.is_nan())
            .prop_map(V::F),
        any::<bool>().prop_map(V::B),
        (0..STATICS.len()).prop_map(|i| V::S(STATICS[i])),
        "\\PC{0,40}".prop_map(V::D),
        "[a-z]{200,300}".prop_map(V::D), // forces truncation
    ]
}

#[derive(Debug, Clone)]
struct Desc {
    name: String,
    scope: usize,
    kind: u8,
    parent: u8, // 0 current, 1 root, 2 remote
    attrs: Vec<(usize, V)>,
    events: Vec<Vec<(usize, V)>>,
    status: u8,
    nested: bool,
}

fn desc() -> impl Strategy<Value = Desc> {
    let attrs = || proptest::collection::vec((0..KEYS.len(), value()), 0..12);
    (
        "\\PC{0,30}",
        0..SCOPES.len(),
        0u8..6,
        0u8..3,
        attrs(),
        proptest::collection::vec(
            proptest::collection::vec((0..KEYS.len(), value()), 0..5),
            0..4,
        ),
        0u8..3,
        any::<bool>(),
    )
        .prop_map(
            |(name, scope, kind, parent, attrs, events, status, nested)| Desc {
                name,
                scope,
                kind,
                parent,
                attrs,
                events,
                status,
                nested,
            },
        )
}

fn record(p: &ringspan::Producer, d: &Desc) {
    p.set_scope(SCOPES[d.scope]);
    let parent = match d.parent {
        0 => Parent::Current,
        1 => Parent::Root,
        _ => Parent::Context(SpanContext {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([9; 8]),
            flags: TraceFlags::SAMPLED,
            is_remote: true,
        }),
    };
    let mut span = p.start(Value::copied(&d.name), parent);
    let kinds = [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    span.set_kind(kinds[usize::from(d.kind)]);
    let attrs: Vec<_> = d.attrs.iter().map(|(k, v)| (KEYS[*k], v.value())).collect();
    span.set_attrs(&attrs);
    for e in &d.events {
        let attrs: Vec<_> = e.iter().map(|(k, v)| (KEYS[*k], v.value())).collect();
        span.add_event("event", &attrs);
    }
    match d.status {
        1 => {
            span.set_ok();
        }
        2 => {
            span.set_error(Value::copied("failed: ✗"));
        }
        _ => {}
    }
    if d.nested {
        drop(p.span("nested-child"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_spans_round_trip(descs in proptest::collection::vec(desc(), 1..20)) {
        let s = setup(OtlpConfig::default());
        let p = s.engine.producer().unwrap();
        for d in &descs {
            record(&p, d);
        }
        let decoded = one_request(&s);
        // Against the descriptions themselves, not the records: spans of one scope keep their
        // order, names are the originals or prefixes of them where the record's string budget
        // ran out, and attribute counts add up.
        for ss in &decoded.resource_spans[0].scope_spans {
            let scope = ss.scope.as_ref().unwrap().name.as_str();
            let spans: Vec<&PbSpan> = ss.spans.iter().filter(|sp| sp.name != "nested-child").collect();
            let wanted: Vec<&Desc> = descs.iter().filter(|d| SCOPES[d.scope] == scope).collect();
            prop_assert_eq!(spans.len(), wanted.len(), "scope {:?}", scope);
            for (sp, d) in spans.iter().zip(wanted) {
                prop_assert!(d.name.starts_with(sp.name.as_str()), "{:?} vs {:?}", sp.name, d.name);
                // Past the limit, a key already stored takes the new value; others are dropped.
                let kept = d.attrs.len().min(ringspan::MAX_ATTRS);
                let distinct: std::collections::HashSet<_> = d.attrs[..kept].iter().map(|(k, _)| k).collect();
                let dropped = d.attrs[kept..].iter().filter(|(k, _)| !distinct.contains(k)).count();
                prop_assert_eq!(sp.dropped_attributes_count as usize, dropped);
                prop_assert_eq!(sp.attributes.len(), distinct.len());
                prop_assert_eq!(sp.events.len(), d.events.len().min(ringspan::MAX_EVENTS));
                prop_assert_eq!(sp.kind, i32::from(d.kind));
                if d.parent == 2 {
                    prop_assert_eq!(&sp.parent_span_id, &vec![9u8; 8]);
                    prop_assert_eq!(sp.flags & 0x300, 0x300);
                } else {
                    prop_assert_eq!(sp.flags & 0x300, 0x100);
                }
            }
        }
        drop(p);
        let snap = s.engine.shutdown(T).unwrap();
        prop_assert!(snap.is_balanced());
    }
}
