//! `encode/*`: turning a batch of 512 drained spans (4 attributes and 1 event each) into
//! OTLP `ExportTraceServiceRequest` bytes.
//!
//! - `encode/ringspan`: the `OtlpSink`, writing protobuf straight from the span records into a
//!   pooled buffer.
//! - `encode/ringspan_compact`: the same sink on 512 compact records (callsite spans with 4
//!   values), checked against prost's bytes for the equivalent full records.
//! - `encode/prost`: what the opentelemetry-rust exporter does, building the
//!   `opentelemetry-proto` message structs from the same records and encoding them with
//!   `prost::Message::encode` into a reused buffer.
//!
//! Run: `cargo bench -p ringspan-bench --bench encode`. Both are checked to produce the same
//! bytes before anything is timed.

use std::hint::black_box;
use std::sync::{Arc, Mutex};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::tonic::trace::v1::{
    span, ResourceSpans, ScopeSpans, Span as PbSpan, Status as PbStatus,
};
use prost::Message;
use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink, Resource, ResourceValue};
use ringspan::Calibration;
use ringspan::{Sink, SpanRecord, Status, ValueRef};
use ringspan_bench::ours;

const BATCH: usize = 512;

fn batch() -> (Vec<SpanRecord>, Calibration) {
    ours::drained_batch(BATCH)
}

struct Last(Arc<Mutex<Vec<u8>>>);

impl Exporter for Last {
    fn export(&mut self, request: EncodedRequest) {
        let mut last = self.0.lock().unwrap();
        if last.is_empty() {
            last.extend_from_slice(request.bytes());
        }
        black_box(request.bytes());
    }
}

fn pb_value(v: ValueRef<'_>) -> AnyValue {
    AnyValue {
        value: Some(match v {
            ValueRef::Str(s) => any_value::Value::StringValue(s.to_owned()),
            ValueRef::Bool(b) => any_value::Value::BoolValue(b),
            ValueRef::I64(i) => any_value::Value::IntValue(i),
            ValueRef::F64(f) => any_value::Value::DoubleValue(f),
        }),
    }
}

fn kv(k: &str, v: ValueRef<'_>) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(pb_value(v)),
        ..Default::default()
    }
}

/// The struct-building path: one `Span` message (and its strings and vectors) per record.
fn to_proto(
    records: &[SpanRecord],
    cal: &Calibration,
    resource: &Resource,
) -> ExportTraceServiceRequest {
    let spans = records
        .iter()
        .map(|r| PbSpan {
            trace_id: r.trace_id().0.to_vec(),
            span_id: r.span_id().0.to_vec(),
            parent_span_id: r.parent_span_id().map(|p| p.0.to_vec()).unwrap_or_default(),
            flags: u32::from(r.trace_flags().0)
                | 0x100
                | if r.parent_is_remote() { 0x200 } else { 0 },
            name: r.name().to_owned(),
            kind: r.kind() as i32,
            start_time_unix_nano: cal.to_unix_nanos(r.start_ticks()),
            end_time_unix_nano: cal.to_unix_nanos(r.end_ticks()),
            attributes: r.attributes().map(|(k, v)| kv(k, v)).collect(),
            dropped_attributes_count: r.dropped_attributes_count(),
            events: r
                .events()
                .map(|e| span::Event {
                    time_unix_nano: cal.to_unix_nanos(e.time_ticks()),
                    name: e.name().to_owned(),
                    attributes: e.attributes().map(|(k, v)| kv(k, v)).collect(),
                    dropped_attributes_count: e.dropped_attributes_count(),
                })
                .collect(),
            dropped_events_count: r.dropped_events_count(),
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
            ..Default::default()
        })
        .collect();
    let resource_attrs = resource
        .attributes()
        .map(|(k, v)| match v {
            ResourceValue::Str(s) => kv(k, ValueRef::Str(s)),
            ResourceValue::I64(i) => kv(k, ValueRef::I64(*i)),
            ResourceValue::F64(f) => kv(k, ValueRef::F64(*f)),
            ResourceValue::Bool(b) => kv(k, ValueRef::Bool(*b)),
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(PbResource {
                attributes: resource_attrs,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "ringspan".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn encode(c: &mut Criterion) {
    let (records, cal) = batch();
    assert_eq!(records.len(), BATCH);
    let resource = Resource::new("bench");
    let first = Arc::new(Mutex::new(Vec::new()));
    let config = OtlpConfig::default()
        .resource(resource.clone())
        .max_spans(BATCH);
    let mut sink = OtlpSink::new(config, Last(first.clone())).unwrap();

    // Sanity: both paths produce the same request, byte for byte.
    assert_eq!(sink.accept(&records, &cal), BATCH);
    sink.flush(&cal);
    let prost_bytes = to_proto(&records, &cal, &resource).encode_to_vec();
    assert_eq!(*first.lock().unwrap(), prost_bytes, "encoders disagree");

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("ringspan", |b| {
        b.iter(|| {
            sink.accept(black_box(&records), &cal);
            sink.flush(&cal);
        })
    });
    let mut buf = Vec::with_capacity(prost_bytes.len());
    group.bench_function("prost", |b| {
        b.iter(|| {
            buf.clear();
            to_proto(black_box(&records), &cal, &resource)
                .encode(&mut buf)
                .unwrap();
            black_box(&buf);
        })
    });
    // The same encoder on compact records (callsite spans: 4 values, no event, no copied
    // string), checked against prost's encoding of the equivalent full records.
    let (compact, cal) = ours::drained_compact_batch(BATCH);
    let first = Arc::new(Mutex::new(Vec::new()));
    let config = OtlpConfig::default()
        .resource(resource.clone())
        .max_spans(BATCH);
    let mut sink = OtlpSink::new(config, Last(first.clone())).unwrap();
    assert_eq!(sink.accept_compact(&compact, "ringspan", &cal), BATCH);
    sink.flush(&cal);
    let full: Vec<SpanRecord> = compact.iter().map(|r| r.to_full("ringspan")).collect();
    let prost_bytes = to_proto(&full, &cal, &resource).encode_to_vec();
    assert_eq!(
        *first.lock().unwrap(),
        prost_bytes,
        "encoders disagree on compact records"
    );
    group.bench_function("ringspan_compact", |b| {
        b.iter(|| {
            sink.accept_compact(black_box(&compact), "ringspan", &cal);
            sink.flush(&cal);
        })
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
