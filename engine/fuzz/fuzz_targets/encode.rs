//! The encoder, round trip: arbitrary span contents go through a real engine and the OTLP
//! sink, and the bytes must decode with the OpenTelemetry project's bindings to the same span
//! (up to ringspan's documented, counted truncations).
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Pb;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink};
use ringspan::{Engine, EngineConfig, SpanKind, Value};

const KEYS: [&str; 6] = ["http.method", "http.status", "user", "ratio", "ok", "k"];
const EVENTS: [&str; 2] = ["retry", "cache.miss"];

#[derive(Arbitrary, Debug, Clone)]
enum V {
    I(i64),
    F(f64),
    B(bool),
    S(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    name: String,
    kind: u8,
    attrs: Vec<(u8, V)>,
    events: Vec<(u8, Vec<(u8, V)>)>,
    error: Option<String>,
}

#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<Vec<u8>>>>);

impl Exporter for Keep {
    fn export(&mut self, request: EncodedRequest) {
        self.0.lock().unwrap().push(request.bytes().to_vec());
    }
}

fn engine() -> &'static (Engine, Keep) {
    static ENGINE: OnceLock<(Engine, Keep)> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let keep = Keep::default();
        let sink = OtlpSink::new(OtlpConfig::default(), keep.clone()).unwrap();
        let config = EngineConfig::default()
            .rings(1)
            .ring_capacity(64)
            .compact_capacity(64);
        (Engine::start(config, sink).unwrap(), keep)
    })
}

fn value(v: &V) -> Value<'_> {
    match v {
        V::I(i) => Value::from(*i),
        V::F(f) => Value::from(*f),
        V::B(b) => Value::from(*b),
        V::S(s) => Value::copied(s),
    }
}

/// Whether `got` is what was set (a string may be cut short, at a character boundary).
fn same(set: &V, got: &Option<Pb>) -> bool {
    match (set, got) {
        (V::I(a), Some(Pb::IntValue(b))) => a == b,
        (V::F(a), Some(Pb::DoubleValue(b))) => a.to_bits() == b.to_bits(),
        (V::B(a), Some(Pb::BoolValue(b))) => a == b,
        (V::S(a), Some(Pb::StringValue(b))) => a.starts_with(b.as_str()),
        _ => false,
    }
}

fuzz_target!(|input: Input| {
    let (engine, keep) = engine();
    let attrs: Vec<(&'static str, Value<'_>)> = input
        .attrs
        .iter()
        .map(|(k, v)| (KEYS[*k as usize % KEYS.len()], value(v)))
        .collect();
    engine.with_local(|p| {
        let mut span = p.span_copied(&input.name);
        span.set_kind(match input.kind % 5 {
            0 => SpanKind::Internal,
            1 => SpanKind::Server,
            2 => SpanKind::Client,
            3 => SpanKind::Producer,
            _ => SpanKind::Consumer,
        });
        span.set_attrs(&attrs);
        for (name, attrs) in &input.events {
            let attrs: Vec<(&'static str, Value<'_>)> = attrs
                .iter()
                .map(|(k, v)| (KEYS[*k as usize % KEYS.len()], value(v)))
                .collect();
            span.add_event(EVENTS[*name as usize % EVENTS.len()], &attrs);
        }
        if let Some(e) = &input.error {
            span.set_error(Value::copied(e));
        }
    });
    engine.flush(Duration::from_secs(10)).expect("flush");
    let requests = std::mem::take(&mut *keep.0.lock().unwrap());
    assert_eq!(requests.len(), 1, "one span, one request");
    let request = ExportTraceServiceRequest::decode(requests[0].as_slice()).expect("decodes");
    let spans: Vec<_> = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    assert_eq!(spans.len(), 1);
    let span = spans[0];
    assert!(input.name.starts_with(span.name.as_str()), "name {:?}", span.name);
    assert_eq!(span.kind, i32::from(input.kind % 5) + 1);
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    // One attribute per key, each the last value set for it.
    for (i, kv) in span.attributes.iter().enumerate() {
        assert!(
            !span.attributes[..i].iter().any(|o| o.key == kv.key),
            "key {} twice",
            kv.key
        );
        let last = input
            .attrs
            .iter()
            .rev()
            .find(|(k, _)| KEYS[*k as usize % KEYS.len()] == kv.key)
            .map(|(_, v)| v)
            .expect("a key that was set");
        let got = kv.value.as_ref().and_then(|v| v.value.clone());
        assert!(same(last, &got), "{}: set {last:?}, got {got:?}", kv.key);
    }
    assert!(span.events.len() <= input.events.len());
    for (event, (name, _)) in span.events.iter().zip(&input.events) {
        assert_eq!(event.name, EVENTS[*name as usize % EVENTS.len()]);
    }
    let status = span.status.clone().unwrap_or_default();
    match &input.error {
        Some(e) => {
            assert_eq!(status.code, StatusCode::Error as i32);
            assert!(e.starts_with(status.message.as_str()));
        }
        None => assert_eq!(status.code, StatusCode::Unset as i32),
    }
});
