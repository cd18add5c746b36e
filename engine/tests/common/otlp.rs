//! The OTLP test rig: an engine whose drain feeds the real `OtlpSink` through a tee that
//! builds, independently of the encoder, the `opentelemetry-proto` message each span should
//! become; `one_request` then checks the request decodes to it and equals prost's bytes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{
    span, ResourceSpans, ScopeSpans, Span as PbSpan, Status as PbStatus,
};
use prost::Message;
use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink, Resource};
use ringspan::Calibration;
use ringspan::{
    ClockChoice, CompactRecord, Engine, EngineConfig, IdleStrategy, Sink, SpanRecord, Status,
    ValueRef,
};

use super::{pb_resource, pb_value};

pub const T: Duration = Duration::from_secs(5);

/// Keeps a copy of every request's bytes.
#[derive(Clone, Default)]
pub struct Keep(pub Arc<Mutex<Vec<Vec<u8>>>>);

impl Exporter for Keep {
    fn export(&mut self, request: EncodedRequest) {
        self.0.lock().unwrap().push(request.bytes().to_vec());
    }
}

/// Attributes as OTLP wants them: one per key, like a map: a key keeps the position where it
/// was first set and takes the value set last.
pub fn pb_attrs<'a>(attrs: impl Iterator<Item = (&'a str, ValueRef<'a>)>) -> Vec<KeyValue> {
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
pub fn pb_span(r: &SpanRecord, cal: &Calibration) -> PbSpan {
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
pub type Expected = Arc<Mutex<Vec<(String, Vec<PbSpan>)>>>;

/// A sink that records, for every span it forwards to the OTLP sink, the equivalent
/// `opentelemetry-proto` span grouped by scope (in order of first appearance).
pub struct Tee {
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

pub struct Setup {
    pub engine: Engine,
    pub requests: Keep,
    pub expected: Expected,
    pub resource: Resource,
    pub stats: Arc<ringspan::otlp::OtlpStats>,
}

/// An engine whose drain feeds `Tee`; everything goes into one request until `flush`.
pub fn setup(otlp: OtlpConfig) -> Setup {
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

pub fn expected_request(
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
pub fn one_request(s: &Setup) -> ExportTraceServiceRequest {
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
