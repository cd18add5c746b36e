//! One `opentelemetry.proto.logs.v1.LogRecord`, sized and written straight from a
//! [`LogRecord`].
//!
//! Field by field (ascending tags, as prost writes them): `time_unix_nano` (1),
//! `severity_number` (2, omitted when unspecified), `severity_text` (3, the data model's short
//! name), `body` (5, omitted when empty), `attributes` (6), `dropped_attributes_count` (7),
//! `flags` (8: the W3C trace flags of the current span), `trace_id` (9) and `span_id` (10)
//! (omitted with no current span), `observed_time_unix_nano` (11: the same instant as the
//! record's time, which the producer read when the record was made), `event_name` (12).
//!
//! Attributes set twice under one key go out once, with the value set last, as for spans.
//! Sized first, then written (two passes over at most [`MAX_LOG_ATTRS`] attributes): a log
//! record has no events or links, so a one-pass writer would gain little.

use prost::bytes::BufMut;

use super::span::Attrs;
use super::wire::{
    any_value_len, bytes_len, fixed32_len, fixed64_len, len_delimited, put_any_value, put_bytes,
    put_fixed32, put_fixed64, put_len_prefix, put_varint, varint_len,
};
use crate::clock::Calibration;
use crate::model::log::{LogRecord, MAX_LOG_ATTRS};
use crate::model::value::ValueRef;

/// A record's `LogRecord` message, sized.
pub(crate) struct LogPlan<'r> {
    time: u64,
    attrs: Attrs<'r, MAX_LOG_ATTRS>,
    body: Option<ValueRef<'r>>,
    /// The message's body size (without its own key and length).
    pub(crate) len: usize,
}

/// Sizes `r`'s `LogRecord` message.
#[inline]
pub(crate) fn plan_log<'r>(r: &'r LogRecord, cal: &Calibration) -> LogPlan<'r> {
    let time = cal.to_unix_nanos(r.time_ticks());
    let attrs = Attrs::new(6, r.attributes());
    let body = r.body();
    let severity = r.severity();
    let mut len = fixed64_len(1, time)
        + varint_len(2, u64::from(severity.number()))
        + bytes_len(3, severity.text().as_bytes())
        + body.map_or(0, |v| len_delimited(5, any_value_len(v)))
        + attrs.len
        + varint_len(7, u64::from(r.dropped_attributes_count()))
        + fixed64_len(11, time)
        + bytes_len(12, r.event_name().as_bytes());
    if let Some(cx) = r.span_context() {
        len += fixed32_len(8, u32::from(cx.flags.0))
            + bytes_len(9, &cx.trace_id.0)
            + bytes_len(10, &cx.span_id.0);
    }
    LogPlan {
        time,
        attrs,
        body,
        len,
    }
}

/// Writes the body of `r`'s `LogRecord` message as `plan` sized it.
#[inline]
pub(crate) fn put_log(r: &LogRecord, plan: &LogPlan<'_>, buf: &mut impl BufMut) {
    let severity = r.severity();
    put_fixed64(1, plan.time, buf);
    put_varint(2, u64::from(severity.number()), buf);
    put_bytes(3, severity.text().as_bytes(), buf);
    if let Some(v) = plan.body {
        put_len_prefix(5, any_value_len(v), buf);
        put_any_value(v, buf);
    }
    plan.attrs.put(6, buf);
    put_varint(7, u64::from(r.dropped_attributes_count()), buf);
    let cx = r.span_context();
    if let Some(cx) = &cx {
        put_fixed32(8, u32::from(cx.flags.0), buf);
        put_bytes(9, &cx.trace_id.0, buf);
        put_bytes(10, &cx.span_id.0, buf);
    }
    put_fixed64(11, plan.time, buf);
    put_bytes(12, r.event_name().as_bytes(), buf);
}
