//! Writes an OTLP request encoded by ringspan, and what it must contain, for the second
//! decoder no one here wrote: `engine/tests/interop/check_otlp.py`, which reads them with the
//! OpenTelemetry project's Python bindings (`opentelemetry-proto` from PyPI). `.ci/run` runs the
//! script after the tests; by hand:
//!
//! ```text
//! cargo test -p ringspan --test interop
//! python3 -m venv target/py && target/py/bin/pip install opentelemetry-proto
//! target/py/bin/python engine/tests/interop/check_otlp.py target/tmp/interop
//! ```
//!
//! The expectations are written from the inputs below, not from the encoder's output.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink, Resource};
use ringspan::{
    ClockChoice, Engine, EngineConfig, Parent, SpanContext, SpanId, SpanKind, TraceFlags, TraceId,
    Value,
};

#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<Vec<u8>>>>);

impl Exporter for Keep {
    fn export(&mut self, request: EncodedRequest) {
        self.0.lock().unwrap().push(request.bytes().to_vec());
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn write_fixture_for_the_python_decoder() {
    let dir = std::env::var("RINGSPAN_INTEROP_DIR")
        .unwrap_or_else(|_| format!("{}/interop", env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&dir).unwrap();

    let requests = Keep::default();
    let resource = Resource::new("interop")
        .with("host.cores", 2i64)
        .with("sampled.ratio", 0.5)
        .with("canary", true);
    let sink = OtlpSink::new(OtlpConfig::default().resource(resource), requests.clone()).unwrap();
    let config = EngineConfig::default()
        .rings(1)
        .ring_capacity(64)
        .max_batch(1000)
        .clock(ClockChoice::Monotonic);
    let engine = Engine::start(config, sink).unwrap();
    let p = engine.producer().unwrap();
    p.set_scope("interop.scope");
    let remote = SpanContext {
        trace_id: TraceId([0xab; 16]),
        span_id: SpanId([0xcd; 8]),
        flags: TraceFlags::SAMPLED,
        is_remote: true,
    };
    let link_to = SpanContext {
        trace_id: TraceId([0x12; 16]),
        span_id: SpanId([0x34; 8]),
        flags: TraceFlags::SAMPLED,
        is_remote: false,
    };
    let (server_id, child_id);
    {
        let mut server = p.start(Value::str("GET /ünïcode"), Parent::Context(remote));
        server_id = server.context().span_id;
        server.set_kind(SpanKind::Server).set_attrs(&[
            ("http.request.method", Value::str("GET")),
            ("http.response.status_code", Value::i64(200)),
            ("negative", Value::i64(-42)),
            ("ratio", Value::f64(0.125)),
            ("cached", Value::bool(true)),
            ("user", Value::copied("ålice ✓")),
        ]);
        server.add_event(
            "retry",
            &[("attempt", Value::i64(2)), ("why", Value::copied("busy"))],
        );
        let state = ringspan::TraceState::parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap();
        server.set_trace_state(&state).add_link_with_state(
            link_to,
            &state,
            &[
                ("messaging.batch.index", Value::i64(1)),
                ("k", Value::copied("v")),
                ("x", Value::bool(true)),
            ],
        );
        server.add_link(link_to, &[]); // both entries taken: counted
        let mut child = p.span_copied("db.query");
        child_id = child.context().span_id;
        child
            .set_kind(SpanKind::Client)
            .set_error("timed out after 5 ms");
    }
    // A callsite span: a compact record, encoded by the compact path.
    let tick_id;
    {
        let site = ringspan::callsite!("tick", "seq", "venue", "late", "fill"; kind = SpanKind::Producer; scope = "interop.scope");
        let mut tick = p.start_at(site, Parent::Context(remote));
        tick_id = tick.context().span_id;
        tick.set_values(&[
            Value::i64(3),
            Value::str("XNAS"),
            Value::bool(false),
            Value::f64(99.5),
        ]);
        tick.set_ok();
    }
    drop(p);
    engine.shutdown(Duration::from_secs(5)).unwrap();

    let requests = requests.0.lock().unwrap();
    assert_eq!(requests.len(), 1);
    std::fs::write(format!("{dir}/request.bin"), &requests[0]).unwrap();
    let trace = hex(&remote.trace_id.0);
    let expected = format!(
        r#"{{
  "resource": {{"service.name": "interop", "telemetry.sdk.name": "ringspan", "telemetry.sdk.language": "rust",
                "host.cores": 2, "sampled.ratio": 0.5, "canary": true}},
  "scope": "interop.scope",
  "spans": [
    {{"name": "db.query", "trace_id": "{trace}", "span_id": "{child}", "parent_span_id": "{server}",
      "kind": 3, "flags": 257, "status": {{"code": 2, "message": "timed out after 5 ms"}},
      "attributes": {{}}, "events": []}},
    {{"name": "GET /ünïcode", "trace_id": "{trace}", "span_id": "{server}", "parent_span_id": "{parent}",
      "kind": 2, "flags": 769, "status": null,
      "attributes": {{"http.request.method": "GET", "http.response.status_code": 200, "negative": -42,
                      "ratio": 0.125, "cached": true, "user": "ålice ✓"}},
      "events": [{{"name": "retry", "attributes": {{"attempt": 2, "why": "busy"}}}}],
      "trace_state": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
      "links": [{{"trace_id": "{linked_trace}", "span_id": "{linked_span}",
                 "trace_state": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                 "attributes": {{"messaging.batch.index": 1, "k": "v"}}, "dropped_attributes_count": 1,
                 "flags": 257}}],
      "dropped_links_count": 1}},
    {{"name": "tick", "trace_id": "{trace}", "span_id": "{tick}", "parent_span_id": "{parent}",
      "kind": 4, "flags": 769, "status": {{"code": 1, "message": ""}},
      "attributes": {{"seq": 3, "venue": "XNAS", "late": false, "fill": 99.5}}, "events": []}}
  ]
}}
"#,
        tick = hex(&tick_id.0),
        linked_trace = hex(&link_to.trace_id.0),
        linked_span = hex(&link_to.span_id.0),
        child = hex(&child_id.0),
        server = hex(&server_id.0),
        parent = hex(&remote.span_id.0),
    );
    std::fs::write(format!("{dir}/expected.json"), expected).unwrap();
}
