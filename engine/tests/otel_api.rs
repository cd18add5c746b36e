//! The `opentelemetry` front end (`OtelTracerProvider`): spans written against the
//! opentelemetry 0.33 trace API reach the OTLP bytes with their builder fields, attributes,
//! events, status and times, decoded with `opentelemetry-proto`; parents come from the API's
//! `Context`, including one the SDK's W3C `TraceContextPropagator` extracted, and what the
//! propagator injects is the span's own context (trace state forwarded); links (with their
//! trace state and attributes) and a span's trace state reach the OTLP bytes.
#![cfg(feature = "opentelemetry")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Link, Span as _, SpanKind as ApiKind, Status as ApiStatus, TraceContextExt as _, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Pb;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use prost::Message;
use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink};
use ringspan::{Engine, EngineConfig, IdleStrategy};

/// Keeps a copy of every request's bytes.
#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<Vec<u8>>>>);

impl Exporter for Keep {
    fn export(&mut self, request: EncodedRequest) {
        self.0.lock().unwrap().push(request.bytes().to_vec());
    }
}

fn engine() -> (Engine, Keep) {
    let keep = Keep::default();
    let sink = OtlpSink::new(OtlpConfig::default(), keep.clone()).unwrap();
    let config = EngineConfig::default()
        .rings(2)
        .ring_capacity(1024)
        .idle(IdleStrategy::Park(Duration::from_micros(200)));
    (Engine::start(config, sink).unwrap(), keep)
}

/// Shuts down and decodes every span sent, with its scope's name.
fn spans(engine: Engine, keep: &Keep) -> Vec<(String, Span)> {
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    let mut out = Vec::new();
    for bytes in keep.0.lock().unwrap().iter() {
        let request = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
        for scope_spans in request
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
        {
            let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
            out.extend(scope_spans.spans.into_iter().map(|s| (scope.clone(), s)));
        }
    }
    out
}

fn named<'a>(spans: &'a [(String, Span)], name: &str) -> &'a (String, Span) {
    let mut found = spans.iter().filter(|(_, s)| s.name == name);
    let span = found.next().unwrap_or_else(|| panic!("no span {name}"));
    assert!(found.next().is_none(), "two spans named {name}");
    span
}

fn attrs(span: &Span) -> HashMap<&str, Pb> {
    span.attributes
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone().unwrap().value.unwrap()))
        .collect()
}

#[test]
fn builder_fields_attributes_events_status_and_times_reach_the_otlp_bytes() {
    let (engine, keep) = engine();
    let provider = engine.otel_tracer_provider();
    let tracer = provider.tracer(String::from("checkout.service"));
    let started = SystemTime::now() - Duration::from_millis(300);
    let mut span = tracer
        .span_builder("charge")
        .with_kind(ApiKind::Client)
        .with_start_time(started)
        .with_attributes([
            KeyValue::new("amount", 42),
            KeyValue::new(String::from("currency"), "EUR"),
            KeyValue::new("ratio", 0.5),
            KeyValue::new("retry", false),
            KeyValue::new("owned", String::from("value")),
            KeyValue::new("list", opentelemetry::Value::Array(vec![1i64, 2].into())),
        ])
        .start(&tracer);
    span.add_event("authorised", vec![KeyValue::new("code", "A1")]);
    span.add_event_with_timestamp("settled", started + Duration::from_millis(100), vec![]);
    span.set_attribute(KeyValue::new("late", 7));
    span.update_name(format!("charge {}", "card"));
    span.set_status(ApiStatus::error(String::from("card declined")));
    span.end_with_timestamp(started + Duration::from_millis(200));
    span.set_attribute(KeyValue::new("after.end", 1));
    let mut ok = tracer.start("ok");
    ok.set_status(ApiStatus::Ok);
    ok.set_status(ApiStatus::error("ignored: Ok is final"));
    drop(ok); // ends when dropped
    let sent = spans(engine, &keep);
    assert_eq!(sent.len(), 2);
    let (scope, charge) = named(&sent, "charge card");
    assert_eq!(scope, "checkout.service");
    assert_eq!(charge.kind, SpanKind::Client as i32);
    let a = attrs(charge);
    assert_eq!(a["amount"], Pb::IntValue(42));
    assert_eq!(a["currency"], Pb::StringValue("EUR".into()));
    assert_eq!(a["ratio"], Pb::DoubleValue(0.5));
    assert_eq!(a["retry"], Pb::BoolValue(false));
    assert_eq!(a["owned"], Pb::StringValue("value".into()));
    assert_eq!(a["late"], Pb::IntValue(7));
    assert!(!a.contains_key("list") && !a.contains_key("after.end"));
    assert_eq!(charge.dropped_attributes_count, 1, "the array");
    assert_eq!(charge.dropped_links_count, 0);
    assert!(charge.trace_state.is_empty(), "a root has no trace state");
    assert_eq!(charge.events.len(), 2);
    assert_eq!(charge.events[0].name, "authorised");
    assert_eq!(charge.events[0].attributes[0].key, "code");
    let status = charge.status.clone().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "card declined");
    // Times as given, to within the clock conversion's rounding (a microsecond).
    let unix = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let close = |got: u64, want: SystemTime| (got as i64 - unix(want)).abs() < 1_000_000;
    assert!(close(charge.start_time_unix_nano, started), "{charge:?}");
    assert!(close(
        charge.end_time_unix_nano,
        started + Duration::from_millis(200)
    ));
    assert!(close(
        charge.events[1].time_unix_nano,
        started + Duration::from_millis(100)
    ));
    let (_, ok) = named(&sent, "ok");
    assert_eq!(ok.status.clone().unwrap().code, StatusCode::Ok as i32);
}

#[test]
fn parents_come_from_the_context_and_the_w3c_propagator_round_trips() {
    let (engine, keep) = engine();
    let tracer = engine.otel_tracer_provider().tracer("edge");
    let propagator = TraceContextPropagator::new();
    // An incoming request's headers, with a trace state to forward.
    let mut incoming = HashMap::new();
    incoming.insert(
        "traceparent".to_string(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
    );
    incoming.insert("tracestate".to_string(), "vendor=abc,other=1".to_string());
    let remote = propagator.extract(&incoming);
    let server = tracer
        .span_builder("GET /orders")
        .with_kind(ApiKind::Server)
        .start_with_context(&tracer, &remote);
    let server_cx = server.span_context().clone();
    let cx = Context::current_with_span(server);
    let outgoing = {
        let _attached = cx.clone().attach();
        // A child through Context::current().
        let child = tracer.start("db.query");
        let mut headers = HashMap::new();
        propagator.inject_context(&Context::current_with_span(child), &mut headers);
        headers
    };
    // Native and API spans mix: an API span started while a ringspan span is this thread's
    // current one (and no API span is in the context) is its child.
    let travel = engine.travel("native.root");
    let native_cx = travel.context();
    travel.enter(|| drop(tracer.start_with_context("inside.native", &Context::new())));
    drop(travel);
    drop(cx);
    let sent = spans(engine, &keep);
    assert_eq!(sent.len(), 4);
    let (_, server) = named(&sent, "GET /orders");
    let (_, child) = named(&sent, "db.query");
    let trace = hex(&server.trace_id);
    assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&server.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(
        server.flags & 0x300,
        0x300,
        "parent is remote: {:#x}",
        server.flags
    );
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(child.parent_span_id, server.span_id);
    assert_eq!(child.trace_id, server.trace_id);
    assert_eq!(server_cx.span_id().to_bytes().to_vec(), server.span_id);
    // What the propagator injects for the child: its own ids, and the trace state forwarded.
    assert_eq!(
        outgoing["traceparent"],
        format!("00-{trace}-{}-01", hex(&child.span_id))
    );
    assert_eq!(outgoing["tracestate"], "vendor=abc,other=1");
    let (_, inside) = named(&sent, "inside.native");
    assert_eq!(inside.parent_span_id, native_cx.span_id.0.to_vec());
    assert_eq!(inside.trace_id, native_cx.trace_id.0.to_vec());
}

#[test]
fn an_unsampled_remote_parent_records_nothing_and_children_follow_it() {
    let (engine, keep) = engine();
    let tracer = engine.otel_tracer_provider().tracer("edge");
    let mut incoming = HashMap::new();
    incoming.insert(
        "traceparent".to_string(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".to_string(),
    );
    let remote = TraceContextPropagator::new().extract(&incoming);
    let span = tracer.start_with_context("unsampled", &remote);
    assert!(!span.is_recording());
    assert!(!span.span_context().is_sampled());
    let cx = Context::current_with_span(span);
    let child = tracer.start_with_context("child", &cx);
    assert!(!child.is_recording());
    assert_eq!(
        child.span_context().trace_id(),
        cx.span().span_context().trace_id()
    );
    drop((child, cx));
    assert!(spans(engine, &keep).is_empty());
}

/// A span to link to, from another trace, with a trace state.
fn linked(remote: bool, state: &str) -> opentelemetry::trace::SpanContext {
    opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from_bytes([7; 16]),
        opentelemetry::trace::SpanId::from_bytes([8; 8]),
        opentelemetry::trace::TraceFlags::SAMPLED,
        remote,
        state.parse().unwrap(),
    )
}

#[test]
fn links_and_tracestate_decode_with_opentelemetry_proto() {
    let (engine, keep) = engine();
    let tracer = engine.otel_tracer_provider().tracer("queue.consumer");
    let propagator = TraceContextPropagator::new();
    let mut incoming = HashMap::new();
    incoming.insert(
        "traceparent".to_string(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
    );
    incoming.insert(
        "tracestate".to_string(),
        "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE".to_string(),
    );
    let remote = propagator.extract(&incoming);
    let mut consume = tracer
        .span_builder("consume")
        .with_kind(ApiKind::Consumer)
        .with_links(vec![Link::new(
            linked(true, "vendor=msg1"),
            vec![KeyValue::new("messaging.batch.index", 0)],
            1, // one the API already dropped
        )])
        .start_with_context(&tracer, &remote);
    consume.add_link(
        linked(false, ""),
        vec![
            KeyValue::new("why", "retry of"),
            KeyValue::new(String::from("attempt"), 2),
            KeyValue::new("third", true), // past MAX_LINK_ATTRS
        ],
    );
    consume.add_link(linked(false, ""), vec![]); // the record's entries are taken
    let cx = Context::current_with_span(consume);
    let child = tracer.start_with_context("handle", &cx);
    let mut outgoing = HashMap::new();
    propagator.inject_context(&Context::current_with_span(child), &mut outgoing);
    drop(cx);
    let sent = spans(engine, &keep);
    let (_, consume) = named(&sent, "consume");
    let (_, handle) = named(&sent, "handle");
    // The span's trace state is its parent's, exported and forwarded.
    assert_eq!(
        consume.trace_state,
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    );
    assert_eq!(handle.trace_state, consume.trace_state);
    assert_eq!(
        outgoing["tracestate"],
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    );
    assert_eq!(consume.links.len(), ringspan::MAX_EVENTS);
    assert_eq!(consume.dropped_links_count, 1);
    let (first, second) = (&consume.links[0], &consume.links[1]);
    for l in [first, second] {
        assert_eq!(
            (hex(&l.trace_id), hex(&l.span_id)),
            ("07".repeat(16), "08".repeat(8))
        );
    }
    assert_eq!(first.trace_state, "vendor=msg1");
    assert_eq!(first.flags, 0x1 | 0x100 | 0x200, "sampled, known remote");
    assert_eq!(first.attributes[0].key, "messaging.batch.index");
    assert_eq!(first.dropped_attributes_count, 1);
    assert_eq!(second.flags, 0x1 | 0x100, "sampled, known local");
    assert!(second.trace_state.is_empty());
    let keys: Vec<_> = second.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["why", "attempt"]);
    assert_eq!(second.dropped_attributes_count, 1);
    assert_eq!(
        second.attributes[1].value.clone().unwrap().value,
        Some(Pb::IntValue(2))
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_time_before_the_engine_started_is_kept_with_the_monotonic_clock() {
    let keep = Keep::default();
    let sink = OtlpSink::new(OtlpConfig::default(), keep.clone()).unwrap();
    let config = EngineConfig::default()
        .rings(2)
        .ring_capacity(64)
        .clock(ringspan::ClockChoice::Monotonic);
    let earlier = SystemTime::now() - Duration::from_secs(5);
    let engine = Engine::start(config, sink).unwrap();
    let tracer = engine.otel_tracer_provider().tracer("x");
    let span = tracer
        .span_builder("started.before.the.engine")
        .with_start_time(earlier)
        .start(&tracer);
    drop(span);
    let sent = spans(engine, &keep);
    let unix = earlier
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let start = named(&sent, "started.before.the.engine")
        .1
        .start_time_unix_nano as i64;
    assert!((start - unix).abs() < 1_000_000, "{start} vs {unix}");
}
