//! OTLP metrics encoding: an `ExportMetricsServiceRequest` written field by field, one
//! resource and one instrumentation scope per request, with sums, gauges and explicit-bucket
//! histograms of number data points.
//!
//! Metrics are encoded once per export interval, not per span, so this writer favours
//! simplicity over the span encoder's one-pass layout: each message is written with a
//! one-byte length placeholder, patched (and the body moved along when the length needs more
//! bytes) when the message ends. The bytes are canonical, identical to prost's encoding of
//! the same `opentelemetry-proto` message (tested in `engine/tests/otlp_metrics.rs`).
//!
//! # Examples
//! ```
//! use ringspan::otlp::{MetricMeta, MetricsRequest, Number, NumberPoint, Resource, Temporality};
//! let mut req = MetricsRequest::new(&Resource::new("checkout"), "ringspan", "0.1.0");
//! let meta = MetricMeta { name: "requests", description: "Requests served.", unit: "{request}" };
//! let point = NumberPoint { attributes: &[], start_unix_nanos: 1, time_unix_nanos: 2, value: Number::U64(7) };
//! req.sum(&meta, Temporality::Cumulative, true, &[point]);
//! let bytes = req.finish();
//! assert!(bytes.len() > 20);
//! ```

use prost::bytes::BufMut;
use prost::encoding::{encode_varint, encoded_len_varint, WireType};

use super::resource::Resource;
use super::wire::{put_bytes, put_fixed64, put_key, put_key_value, put_varint};
use crate::model::value::ValueRef;

/// How a sum or histogram accumulates (OTLP `AggregationTemporality`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Temporality {
    /// Each point covers the interval since the previous export.
    Delta = 1,
    /// Each point covers the time since a fixed start.
    Cumulative = 2,
}

/// A metric's name, description and unit (UCUM, as the semantic conventions write them).
#[derive(Clone, Copy, Debug)]
pub struct MetricMeta<'a> {
    /// The metric's name, e.g. `otel.sdk.processor.span.processed`.
    pub name: &'a str,
    /// What it counts, for a person.
    pub description: &'a str,
    /// Its unit, e.g. `s`, `By` or `{span}`; empty for none.
    pub unit: &'a str,
}

/// A number: OTLP's `as_int` or `as_double`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// An integer (`as_int`; above `i64::MAX` it saturates).
    U64(u64),
    /// A signed integer (`as_int`).
    I64(i64),
    /// A double (`as_double`).
    F64(f64),
}

/// One `NumberDataPoint` of a sum or a gauge.
#[derive(Clone, Copy, Debug)]
pub struct NumberPoint<'a> {
    /// The point's attributes.
    pub attributes: &'a [(&'a str, ValueRef<'a>)],
    /// Start of the accumulation (cumulative and delta sums); 0 (omitted) for a gauge.
    pub start_unix_nanos: u64,
    /// When the value was read.
    pub time_unix_nanos: u64,
    /// The value.
    pub value: Number,
}

/// One `HistogramDataPoint` with explicit bucket bounds.
#[derive(Clone, Copy, Debug)]
pub struct HistogramPoint<'a> {
    /// The point's attributes.
    pub attributes: &'a [(&'a str, ValueRef<'a>)],
    /// Start of the accumulation.
    pub start_unix_nanos: u64,
    /// When the value was read.
    pub time_unix_nanos: u64,
    /// Values recorded.
    pub count: u64,
    /// Their sum, if it is meaningful (no negative values for a histogram of sizes, say).
    pub sum: Option<f64>,
    /// The buckets' upper bounds, ascending; `bucket_counts` has one more entry.
    pub bounds: &'a [f64],
    /// Values per bucket: `(-inf, b0]`, `(b0, b1]`, ..., `(b_last, +inf)`.
    pub bucket_counts: &'a [u64],
    /// The smallest value recorded, if known.
    pub min: Option<f64>,
    /// The largest value recorded, if known.
    pub max: Option<f64>,
}

/// An `ExportMetricsServiceRequest` being written. See the module docs.
#[derive(Debug)]
pub struct MetricsRequest {
    buf: Vec<u8>,
    /// Body starts of the messages open now, innermost last.
    open: Vec<usize>,
    points: u64,
}

impl MetricsRequest {
    /// Starts a request for `resource`, with every metric under the scope `scope` (and
    /// `version`, omitted when empty).
    pub fn new(resource: &Resource, scope: &str, version: &str) -> Self {
        let mut r = MetricsRequest {
            buf: Vec::with_capacity(4096),
            open: Vec::with_capacity(8),
            points: 0,
        };
        r.begin(1); // ExportMetricsServiceRequest.resource_metrics
        r.begin(1); // ResourceMetrics.resource
        r.buf.put_slice(&resource.encode());
        r.end();
        r.begin(2); // ResourceMetrics.scope_metrics
        r.begin(1); // ScopeMetrics.scope
        put_bytes(1, scope.as_bytes(), &mut r.buf);
        put_bytes(2, version.as_bytes(), &mut r.buf);
        r.end();
        r
    }

    /// Puts the metrics added from now on under the scope `scope` (and `version`), in a
    /// `ScopeMetrics` of its own.
    pub fn scope(&mut self, scope: &str, version: &str) {
        self.end(); // the current ScopeMetrics
        self.begin(2); // ResourceMetrics.scope_metrics
        self.begin(1); // ScopeMetrics.scope
        put_bytes(1, scope.as_bytes(), &mut self.buf);
        put_bytes(2, version.as_bytes(), &mut self.buf);
        self.end();
    }

    /// Data points written so far.
    pub fn points(&self) -> u64 {
        self.points
    }

    /// Adds a sum (a counter when `monotonic`).
    pub fn sum(
        &mut self,
        meta: &MetricMeta<'_>,
        temporality: Temporality,
        monotonic: bool,
        points: &[NumberPoint<'_>],
    ) {
        self.metric(meta, 7, |r| {
            for p in points {
                r.number_point(p);
            }
            put_varint(2, temporality as u64, &mut r.buf);
            put_varint(3, u64::from(monotonic), &mut r.buf);
        });
    }

    /// Adds a gauge.
    pub fn gauge(&mut self, meta: &MetricMeta<'_>, points: &[NumberPoint<'_>]) {
        self.metric(meta, 5, |r| {
            for p in points {
                r.number_point(p);
            }
        });
    }

    /// Adds a histogram with explicit bucket bounds.
    pub fn histogram(
        &mut self,
        meta: &MetricMeta<'_>,
        temporality: Temporality,
        points: &[HistogramPoint<'_>],
    ) {
        self.metric(meta, 9, |r| {
            for p in points {
                r.histogram_point(p);
            }
            put_varint(2, temporality as u64, &mut r.buf);
        });
    }

    /// The request's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        while !self.open.is_empty() {
            self.end();
        }
        self.buf
    }

    /// A `Metric` (`ScopeMetrics.metrics` = 2) whose data message is field `kind`.
    fn metric(&mut self, meta: &MetricMeta<'_>, kind: u32, body: impl FnOnce(&mut Self)) {
        self.begin(2);
        put_bytes(1, meta.name.as_bytes(), &mut self.buf);
        put_bytes(2, meta.description.as_bytes(), &mut self.buf);
        put_bytes(3, meta.unit.as_bytes(), &mut self.buf);
        self.begin(kind);
        body(self);
        self.end();
        self.end();
    }

    fn number_point(&mut self, p: &NumberPoint<'_>) {
        self.points += 1;
        self.begin(1);
        put_fixed64(2, p.start_unix_nanos, &mut self.buf);
        put_fixed64(3, p.time_unix_nanos, &mut self.buf);
        // A `oneof` member: written even when zero.
        match p.value {
            Number::F64(v) => {
                put_key(4, WireType::SixtyFourBit, &mut self.buf);
                self.buf.put_f64_le(v);
            }
            Number::U64(v) => {
                put_key(6, WireType::SixtyFourBit, &mut self.buf);
                self.buf.put_i64_le(v.min(i64::MAX as u64) as i64);
            }
            Number::I64(v) => {
                put_key(6, WireType::SixtyFourBit, &mut self.buf);
                self.buf.put_i64_le(v);
            }
        }
        for &(k, v) in p.attributes {
            put_key_value(7, k, v, &mut self.buf);
        }
        self.end();
    }

    fn histogram_point(&mut self, p: &HistogramPoint<'_>) {
        self.points += 1;
        self.begin(1);
        put_fixed64(2, p.start_unix_nanos, &mut self.buf);
        put_fixed64(3, p.time_unix_nanos, &mut self.buf);
        put_fixed64(4, p.count, &mut self.buf);
        // `optional double`: written whenever present.
        let optional = |tag: u32, v: Option<f64>, buf: &mut Vec<u8>| {
            if let Some(v) = v {
                put_key(tag, WireType::SixtyFourBit, buf);
                buf.put_f64_le(v);
            }
        };
        optional(5, p.sum, &mut self.buf);
        // Packed repeated fields, omitted when empty.
        if !p.bucket_counts.is_empty() {
            put_key(6, WireType::LengthDelimited, &mut self.buf);
            encode_varint(8 * p.bucket_counts.len() as u64, &mut self.buf);
            for &c in p.bucket_counts {
                self.buf.put_u64_le(c);
            }
        }
        if !p.bounds.is_empty() {
            put_key(7, WireType::LengthDelimited, &mut self.buf);
            encode_varint(8 * p.bounds.len() as u64, &mut self.buf);
            for &b in p.bounds {
                self.buf.put_f64_le(b);
            }
        }
        for &(k, v) in p.attributes {
            put_key_value(9, k, v, &mut self.buf);
        }
        optional(11, p.min, &mut self.buf);
        optional(12, p.max, &mut self.buf);
        self.end();
    }

    /// Opens a length-delimited field `tag` with a one-byte length placeholder.
    fn begin(&mut self, tag: u32) {
        put_key(tag, WireType::LengthDelimited, &mut self.buf);
        self.buf.push(0);
        self.open.push(self.buf.len());
    }

    /// Closes the innermost open field: writes its length, moving the body along if the
    /// length takes more than the placeholder's byte.
    fn end(&mut self) {
        let Some(start) = self.open.pop() else { return };
        let body = self.buf.len() - start;
        let need = encoded_len_varint(body as u64);
        let mut len = Vec::with_capacity(need);
        encode_varint(body as u64, &mut len);
        self.buf.splice(start - 1..start, len);
    }
}
