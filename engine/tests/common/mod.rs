//! Test sinks shared by the behaviour tests.
#![allow(dead_code)]

pub mod otlp;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use ringspan::otlp::Resource;
use ringspan::Calibration;
use ringspan::{Sink, SpanId, SpanKind, SpanRecord, TraceId, ValueRef};

/// A span copied out of a record into owned values.
#[derive(Debug, Clone, PartialEq)]
pub struct Owned {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    pub parent_remote: bool,
    pub flags: u8,
    pub name: String,
    pub kind: SpanKind,
    pub status: String,
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
    pub attrs: Vec<(String, Val)>,
    pub dropped_attrs: u32,
    pub events: Vec<(String, Vec<(String, Val)>)>,
    pub dropped_events: u32,
    /// Linked spans, as (trace id, span id).
    pub links: Vec<(TraceId, SpanId)>,
    pub dropped_links: u32,
    pub trace_state: String,
    pub scope: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    I(i64),
    F(f64),
    B(bool),
    S(String),
}

fn val(v: ValueRef<'_>) -> Val {
    match v {
        ValueRef::I64(i) => Val::I(i),
        ValueRef::F64(f) => Val::F(f),
        ValueRef::Bool(b) => Val::B(b),
        ValueRef::Str(s) => Val::S(s.to_owned()),
    }
}

pub fn own(r: &SpanRecord, cal: &Calibration) -> Owned {
    Owned {
        trace_id: r.trace_id(),
        span_id: r.span_id(),
        parent: r.parent_span_id(),
        parent_remote: r.parent_is_remote(),
        flags: r.trace_flags().0,
        name: r.name().to_owned(),
        kind: r.kind(),
        status: format!("{:?}", r.status()),
        start_unix_ns: cal.to_unix_nanos(r.start_ticks()),
        end_unix_ns: cal.to_unix_nanos(r.end_ticks()),
        attrs: r
            .attributes()
            .map(|(k, v)| (k.to_owned(), val(v)))
            .collect(),
        dropped_attrs: r.dropped_attributes_count(),
        events: r
            .events()
            .map(|e| {
                (
                    e.name().to_owned(),
                    e.attributes()
                        .map(|(k, v)| (k.to_owned(), val(v)))
                        .collect(),
                )
            })
            .collect(),
        dropped_events: r.dropped_events_count(),
        links: r.links().map(|l| (l.trace_id(), l.span_id())).collect(),
        dropped_links: r.dropped_links_count(),
        trace_state: r.trace_state().to_owned(),
        scope: r.scope().to_owned(),
    }
}

/// Keeps every span it is given, and counts flushes.
#[derive(Clone, Default)]
pub struct Collect {
    pub spans: Arc<Mutex<Vec<Owned>>>,
    pub flushes: Arc<AtomicUsize>,
    /// Sizes of the batches between flushes.
    pub batches: Arc<Mutex<Vec<usize>>>,
    open: usize,
}

impl Collect {
    pub fn take(&self) -> Vec<Owned> {
        std::mem::take(&mut self.spans.lock().unwrap())
    }
}

impl Sink for Collect {
    fn accept(&mut self, spans: &[SpanRecord], clock: &Calibration) -> usize {
        let mut out = self.spans.lock().unwrap();
        out.extend(spans.iter().map(|r| own(r, clock)));
        self.open += spans.len();
        spans.len()
    }

    fn flush(&mut self, _clock: &Calibration) {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        self.batches.lock().unwrap().push(self.open);
        self.open = 0;
    }
}

/// Takes spans only while `open` is true: a stand-in for an exporter with no free buffer.
#[derive(Clone)]
pub struct Gate {
    pub open: Arc<std::sync::atomic::AtomicBool>,
    pub taken: Arc<AtomicUsize>,
}

impl Gate {
    pub fn new(open: bool) -> Self {
        Gate {
            open: Arc::new(open.into()),
            taken: Arc::default(),
        }
    }
}

impl Sink for Gate {
    fn accept(&mut self, spans: &[SpanRecord], _clock: &Calibration) -> usize {
        if self.open.load(Ordering::SeqCst) {
            self.taken.fetch_add(spans.len(), Ordering::SeqCst);
            spans.len()
        } else {
            0
        }
    }

    fn flush(&mut self, _clock: &Calibration) {}
}

/// `v` as the OpenTelemetry project's Rust bindings hold it.
pub fn pb_value(v: ValueRef<'_>) -> AnyValue {
    AnyValue {
        value: Some(match v {
            ValueRef::Str(s) => any_value::Value::StringValue(s.to_owned()),
            ValueRef::Bool(b) => any_value::Value::BoolValue(b),
            ValueRef::I64(i) => any_value::Value::IntValue(i),
            ValueRef::F64(f) => any_value::Value::DoubleValue(f),
        }),
    }
}

/// `r` as the OpenTelemetry project's Rust bindings hold it.
pub fn pb_resource(r: &Resource) -> PbResource {
    PbResource {
        attributes: r
            .attributes()
            .map(|(k, v)| {
                let v = match v {
                    ringspan::otlp::ResourceValue::Str(s) => ValueRef::Str(s),
                    ringspan::otlp::ResourceValue::I64(i) => ValueRef::I64(*i),
                    ringspan::otlp::ResourceValue::F64(f) => ValueRef::F64(*f),
                    ringspan::otlp::ResourceValue::Bool(b) => ValueRef::Bool(*b),
                };
                KeyValue {
                    key: k.to_owned(),
                    value: Some(pb_value(v)),
                    ..Default::default()
                }
            })
            .collect(),
        ..Default::default()
    }
}

/// The spans by id, checking that none arrived twice.
/// Attributes as a span's `attrs` holds them, from borrowed pairs.
pub fn attrs(pairs: &[(&str, Val)]) -> Vec<(String, Val)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub fn by_id(spans: &[Owned]) -> std::collections::HashMap<SpanId, &Owned> {
    let map: std::collections::HashMap<SpanId, &Owned> =
        spans.iter().map(|s| (s.span_id, s)).collect();
    assert_eq!(map.len(), spans.len(), "a span arrived twice");
    map
}
