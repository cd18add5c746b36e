//! One `opentelemetry.proto.trace.v1.Span`, sized and written straight from a [`SpanRecord`].
//!
//! Field by field (ascending tags, as prost writes them): `trace_id` (1), `span_id` (2),
//! `parent_span_id` (4, roots omit it), `name` (5), `kind` (6), `start_time_unix_nano` (7),
//! `end_time_unix_nano` (8), `attributes` (9), `dropped_attributes_count` (10), `events` (11),
//! `dropped_events_count` (12), `status` (15, omitted while unset), `flags` (16: the W3C trace
//! flags, plus `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE` always and `SPAN_FLAGS_CONTEXT_IS_REMOTE`
//! when the parent came from another process). `trace_state` and links are not recorded.
//!
//! Attributes set twice under one key go out once, with the last value (the OpenTelemetry
//! API's rule); the record keeps both so that the hot path stays an append.
//!
//! Strings in a record are valid UTF-8 by construction (the recording API only takes `&str`
//! and cuts copies at character boundaries), so every protobuf `string` field we write is
//! valid UTF-8 and no replacement is ever needed.

use prost::bytes::BufMut;

use crate::clock::Calibration;
use crate::record::{EventRef, SpanRecord, Status};

use super::wire::{
    bytes_len, fixed32_len, fixed64_len, key_value_len, last_of_each_key, len_delimited, put_bytes,
    put_fixed32, put_fixed64, put_key_value, put_len_prefix, put_varint, varint_len,
};

/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`.
const HAS_IS_REMOTE: u32 = 0x100;
/// `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`.
const IS_REMOTE: u32 = 0x200;

fn flags(r: &SpanRecord) -> u32 {
    let remote = if r.parent_is_remote() { IS_REMOTE } else { 0 };
    u32::from(r.trace_flags().0) | HAS_IS_REMOTE | remote
}

fn status_body_len(r: &SpanRecord) -> Option<usize> {
    match r.status() {
        Status::Unset => None,
        Status::Ok => Some(varint_len(3, 1)),
        Status::Error(msg) => Some(bytes_len(2, msg.as_bytes()) + varint_len(3, 2)),
    }
}

fn attrs_len(r: &SpanRecord) -> usize {
    let keep = last_of_each_key(r.attributes().map(|(k, _)| k));
    r.attributes()
        .enumerate()
        .filter(|(i, _)| keep & (1 << i) != 0)
        .map(|(_, (k, v))| len_delimited(9, key_value_len(k, v)))
        .sum()
}

fn event_body_len(e: &EventRef<'_>, time: u64) -> usize {
    let keep = last_of_each_key(e.attributes().map(|(k, _)| k));
    fixed64_len(1, time)
        + bytes_len(2, e.name().as_bytes())
        + e.attributes()
            .enumerate()
            .filter(|(i, _)| keep & (1 << i) != 0)
            .map(|(_, (k, v))| len_delimited(3, key_value_len(k, v)))
            .sum::<usize>()
        + varint_len(4, u64::from(e.dropped_attributes_count()))
}

/// Body size (without the field key and length) of the `Span` message for `r`.
pub(crate) fn span_len(r: &SpanRecord, cal: &Calibration) -> usize {
    let parent = r.parent_span_id();
    bytes_len(1, &r.trace_id().0)
        + bytes_len(2, &r.span_id().0)
        + parent.map_or(0, |p| bytes_len(4, &p.0))
        + bytes_len(5, r.name().as_bytes())
        + varint_len(6, r.kind() as u64)
        + fixed64_len(7, cal.to_unix_nanos(r.start_ticks()))
        + fixed64_len(8, cal.to_unix_nanos(r.end_ticks()))
        + attrs_len(r)
        + varint_len(10, u64::from(r.dropped_attributes_count()))
        + r.events()
            .map(|e| len_delimited(11, event_body_len(&e, cal.to_unix_nanos(e.time_ticks()))))
            .sum::<usize>()
        + varint_len(12, u64::from(r.dropped_events_count()))
        + status_body_len(r).map_or(0, |b| len_delimited(15, b))
        + fixed32_len(16, flags(r))
}

/// Writes the body of the `Span` message for `r` (exactly `span_len(r, cal)` bytes).
pub(crate) fn put_span(r: &SpanRecord, cal: &Calibration, buf: &mut impl BufMut) {
    put_bytes(1, &r.trace_id().0, buf);
    put_bytes(2, &r.span_id().0, buf);
    if let Some(p) = r.parent_span_id() {
        put_bytes(4, &p.0, buf);
    }
    put_bytes(5, r.name().as_bytes(), buf);
    put_varint(6, r.kind() as u64, buf);
    put_fixed64(7, cal.to_unix_nanos(r.start_ticks()), buf);
    put_fixed64(8, cal.to_unix_nanos(r.end_ticks()), buf);
    let keep = last_of_each_key(r.attributes().map(|(k, _)| k));
    for (i, (k, v)) in r.attributes().enumerate() {
        if keep & (1 << i) != 0 {
            put_key_value(9, k, v, buf);
        }
    }
    put_varint(10, u64::from(r.dropped_attributes_count()), buf);
    for e in r.events() {
        let time = cal.to_unix_nanos(e.time_ticks());
        put_len_prefix(11, event_body_len(&e, time), buf);
        put_fixed64(1, time, buf);
        put_bytes(2, e.name().as_bytes(), buf);
        let keep = last_of_each_key(e.attributes().map(|(k, _)| k));
        for (i, (k, v)) in e.attributes().enumerate() {
            if keep & (1 << i) != 0 {
                put_key_value(3, k, v, buf);
            }
        }
        put_varint(4, u64::from(e.dropped_attributes_count()), buf);
    }
    put_varint(12, u64::from(r.dropped_events_count()), buf);
    if let Some(body) = status_body_len(r) {
        put_len_prefix(15, body, buf);
        match r.status() {
            Status::Error(msg) => {
                put_bytes(2, msg.as_bytes(), buf);
                put_varint(3, 2, buf);
            }
            _ => put_varint(3, 1, buf),
        }
    }
    put_fixed32(16, flags(r), buf);
}
