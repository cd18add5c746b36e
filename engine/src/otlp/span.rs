//! One `opentelemetry.proto.trace.v1.Span`, sized and written straight from a [`SpanRecord`].
//!
//! Field by field (ascending tags, as prost writes them): `trace_id` (1), `span_id` (2),
//! `trace_state` (3, omitted when empty), `parent_span_id` (4, roots omit it), `name` (5),
//! `kind` (6), `start_time_unix_nano` (7), `end_time_unix_nano` (8), `attributes` (9),
//! `dropped_attributes_count` (10), `events` (11), `dropped_events_count` (12), `links` (13:
//! `trace_id`, `span_id`, `trace_state`, `attributes`, `dropped_attributes_count`, `flags`),
//! `dropped_links_count` (14), `status` (15, omitted while unset), `flags` (16: the W3C trace
//! flags, plus `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE` always and `SPAN_FLAGS_CONTEXT_IS_REMOTE`
//! when the parent came from another process; a link's `flags` say the same of the linked
//! context).
//!
//! Attributes set twice under one key go out once, at the position where the key was first
//! set, with the value set last (a map's behaviour, the OpenTelemetry API's rule); the record
//! keeps both so that the hot path stays an append.
//!
//! Strings in a record are valid UTF-8 by construction (the recording API only takes `&str`
//! and cuts copies at character boundaries), so every protobuf `string` field we write is
//! valid UTF-8 and no replacement is ever needed.
//!
//! Two writers produce the same bytes:
//! - [`write_span`], the one the sink uses for almost every span, writes in one pass: the
//!   `Span` field's length is a two-byte placeholder patched at the end, an event's a
//!   one-byte one (a body whose length takes another size is moved by the difference),
//!   nested `KeyValue` and `AnyValue` lengths are computed in closed form from the value, and
//!   nothing is sized twice. It gives up (and the caller discards what it wrote) when the
//!   span does not fit the room it is given or repeats a key.
//! - [`plan`] + [`put_span`], the exact two-pass writer, for those: repeated keys (which are
//!   deduplicated), and spans at a request's size cap, where the sink needs the exact size
//!   to decide where the request ends.

use prost::bytes::BufMut;

use crate::clock::Calibration;
use crate::model::compact::CompactRecord;
use crate::model::entry::{LinkRef, MAX_EVENT_ATTRS, MAX_LINK_ATTRS};
use crate::model::ids::{SpanId, TraceFlags, TraceId};
use crate::model::record::{SpanKind, SpanRecord, Status, MAX_ATTRS, MAX_EVENTS};
use crate::model::value::ValueRef;

use super::wire::{
    bytes_len, fixed32_len, fixed64_len, key_value_len, len_delimited, put_bytes, put_fixed32,
    put_fixed64, put_key_value, put_len_prefix, put_varint, varint_len, Cursor,
};

/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`.
const HAS_IS_REMOTE: u32 = 0x100;
/// `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`.
const IS_REMOTE: u32 = 0x200;

/// Whether two keys are equal; static keys set from one literal share a pointer, which
/// settles most comparisons without reading the bytes.
#[inline(always)]
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.as_ptr() == b.as_ptr() || a == b)
}

/// The attributes that go out, resolved once: each key once, at the position where it was
/// first set, with the value set last (a map's behaviour), and the size of their fields.
#[derive(Clone, Copy)]
pub(super) struct Attrs<'r, const N: usize> {
    kv: [(&'r str, ValueRef<'r>); N],
    n: usize,
    /// Sum of the `KeyValue` fields' sizes, keys and length prefixes included.
    pub(super) len: usize,
}

impl<'r, const N: usize> Attrs<'r, N> {
    pub(super) fn new(tag: u32, all: impl Iterator<Item = (&'r str, ValueRef<'r>)>) -> Self {
        let mut a = Attrs {
            kv: [("", ValueRef::I64(0)); N],
            n: 0,
            len: 0,
        };
        for (k, v) in all.take(N) {
            // Records hold a handful of attributes: a linear search beats hashing.
            match a.kv[..a.n].iter().position(|(seen, _)| same_key(seen, k)) {
                Some(i) => a.kv[i].1 = v,
                None => {
                    a.kv[a.n] = (k, v);
                    a.n += 1;
                }
            }
        }
        a.len = a.kv[..a.n]
            .iter()
            .map(|&(k, v)| len_delimited(tag, key_value_len(k, v)))
            .sum();
        a
    }

    pub(super) fn put(&self, tag: u32, buf: &mut impl BufMut) {
        for &(k, v) in &self.kv[..self.n] {
            put_key_value(tag, k, v, buf);
        }
    }
}

#[derive(Clone, Copy)]
struct EventPlan<'r> {
    time: u64,
    attrs: Attrs<'r, MAX_EVENT_ATTRS>,
    body: usize,
}

#[derive(Clone, Copy)]
struct LinkPlan<'r> {
    attrs: Attrs<'r, MAX_LINK_ATTRS>,
    body: usize,
}

/// The `Link.flags` field for `l`: as [`span_flags`], of the linked context.
fn link_flags(l: &LinkRef<'_>) -> u32 {
    u32::from(l.trace_flags().0) | HAS_IS_REMOTE | if l.is_remote() { IS_REMOTE } else { 0 }
}

/// Writes the fields of a `Link` before its attributes: ids and `tracestate`.
#[inline(always)]
fn put_link_head(l: &LinkRef<'_>, buf: &mut impl BufMut) {
    put_bytes(1, &l.trace_id().0, buf);
    put_bytes(2, &l.span_id().0, buf);
    put_bytes(3, l.trace_state().as_bytes(), buf);
}

/// Writes the fields of a `Link` after its attributes.
#[inline(always)]
fn put_link_tail(l: &LinkRef<'_>, buf: &mut impl BufMut) {
    put_varint(5, u64::from(l.dropped_attributes_count()), buf);
    put_fixed32(6, link_flags(l), buf);
}

/// Everything `put_span` needs that takes work to find out, read from the record once.
pub(crate) struct Plan<'r> {
    start: u64,
    end: u64,
    attrs: Attrs<'r, MAX_ATTRS>,
    events: [Option<EventPlan<'r>>; MAX_EVENTS],
    links: [Option<LinkPlan<'r>>; MAX_EVENTS],
    /// Body size of the `Span` message.
    pub(crate) len: usize,
}

fn status_body(status: Status<'_>) -> usize {
    match status {
        Status::Unset => 0,
        Status::Ok => varint_len(3, 1),
        Status::Error(msg) => bytes_len(2, msg.as_bytes()) + varint_len(3, 2),
    }
}

/// Reads `r` and sizes its `Span` message.
pub(crate) fn plan<'r>(r: &'r SpanRecord, cal: &Calibration) -> Plan<'r> {
    let start = cal.to_unix_nanos(r.start_ticks());
    let end = cal.to_unix_nanos(r.end_ticks());
    let attrs = Attrs::new(9, r.attributes());
    let mut events = [None; MAX_EVENTS];
    let mut events_len = 0;
    for (slot, e) in events.iter_mut().zip(r.events()) {
        let time = cal.to_unix_nanos(e.time_ticks());
        let attrs = Attrs::new(3, e.attributes());
        let body = fixed64_len(1, time)
            + bytes_len(2, e.name().as_bytes())
            + attrs.len
            + varint_len(4, u64::from(e.dropped_attributes_count()));
        events_len += len_delimited(11, body);
        *slot = Some(EventPlan { time, attrs, body });
    }
    let mut links = [None; MAX_EVENTS];
    let mut links_len = 0;
    for (slot, l) in links.iter_mut().zip(r.links()) {
        let attrs = Attrs::new(4, l.attributes());
        let body = bytes_len(1, &l.trace_id().0)
            + bytes_len(2, &l.span_id().0)
            + bytes_len(3, l.trace_state().as_bytes())
            + attrs.len
            + varint_len(5, u64::from(l.dropped_attributes_count()))
            + fixed32_len(6, link_flags(&l));
        links_len += len_delimited(13, body);
        *slot = Some(LinkPlan { attrs, body });
    }
    let status = r.status();
    let status_body = status_body(status);
    let flags = span_flags(r);
    let len = bytes_len(1, &r.trace_id().0)
        + bytes_len(2, &r.span_id().0)
        + bytes_len(3, r.trace_state().as_bytes())
        + r.parent_span_id().map_or(0, |p| bytes_len(4, &p.0))
        + bytes_len(5, r.name().as_bytes())
        + varint_len(6, r.kind() as u64)
        + fixed64_len(7, start)
        + fixed64_len(8, end)
        + attrs.len
        + varint_len(10, u64::from(r.dropped_attributes_count()))
        + events_len
        + varint_len(12, u64::from(r.dropped_events_count()))
        + links_len
        + varint_len(14, u64::from(r.dropped_links_count()))
        + if status == Status::Unset {
            0
        } else {
            len_delimited(15, status_body)
        }
        + fixed32_len(16, flags);
    Plan {
        start,
        end,
        attrs,
        events,
        links,
        len,
    }
}

/// The `Span.flags` field for `r`.
/// What the head and tail of a `Span` are written from: a full or a compact record.
trait Head {
    fn trace_id(&self) -> TraceId;
    fn span_id(&self) -> SpanId;
    fn parent_span_id(&self) -> Option<SpanId>;
    fn parent_is_remote(&self) -> bool;
    fn trace_state(&self) -> &str;
    fn trace_flags(&self) -> TraceFlags;
    fn name(&self) -> &str;
    fn kind(&self) -> SpanKind;
    fn status(&self) -> Status<'_>;
    fn dropped_links_count(&self) -> u32;
}

macro_rules! head {
    ($t:ty) => {
        impl Head for $t {
            #[inline(always)]
            fn trace_id(&self) -> TraceId {
                <$t>::trace_id(self)
            }
            #[inline(always)]
            fn span_id(&self) -> SpanId {
                <$t>::span_id(self)
            }
            #[inline(always)]
            fn parent_span_id(&self) -> Option<SpanId> {
                <$t>::parent_span_id(self)
            }
            #[inline(always)]
            fn parent_is_remote(&self) -> bool {
                <$t>::parent_is_remote(self)
            }
            #[inline(always)]
            fn trace_state(&self) -> &str {
                <$t>::trace_state(self)
            }
            #[inline(always)]
            fn trace_flags(&self) -> TraceFlags {
                <$t>::trace_flags(self)
            }
            #[inline(always)]
            fn name(&self) -> &str {
                <$t>::name(self)
            }
            #[inline(always)]
            fn kind(&self) -> SpanKind {
                <$t>::kind(self)
            }
            #[inline(always)]
            fn status(&self) -> Status<'_> {
                <$t>::status(self)
            }
            #[inline(always)]
            fn dropped_links_count(&self) -> u32 {
                <$t>::dropped_links_count(self)
            }
        }
    };
}

head!(SpanRecord);
head!(CompactRecord);

fn span_flags(r: &impl Head) -> u32 {
    u32::from(r.trace_flags().0) | HAS_IS_REMOTE | if r.parent_is_remote() { IS_REMOTE } else { 0 }
}

/// Writes the fields both writers start with: ids, `tracestate`, name, kind and the two
/// times.
#[inline(always)]
fn put_head(r: &impl Head, start: u64, end: u64, buf: &mut impl BufMut) {
    put_bytes(1, &r.trace_id().0, buf);
    put_bytes(2, &r.span_id().0, buf);
    put_bytes(3, r.trace_state().as_bytes(), buf);
    if let Some(p) = r.parent_span_id() {
        put_bytes(4, &p.0, buf);
    }
    put_bytes(5, r.name().as_bytes(), buf);
    put_varint(6, r.kind() as u64, buf);
    put_fixed64(7, start, buf);
    put_fixed64(8, end, buf);
}

/// Writes the fields both writers end with, after the links: the dropped-link count, the
/// status and flags. (The dropped-event count, before the links, is the caller's.)
#[inline(always)]
fn put_tail(r: &impl Head, buf: &mut impl BufMut) {
    put_varint(14, u64::from(r.dropped_links_count()), buf);
    let status = r.status();
    if status != Status::Unset {
        put_len_prefix(15, status_body(status), buf);
        if let Status::Error(msg) = status {
            put_bytes(2, msg.as_bytes(), buf);
        }
        put_varint(3, if status == Status::Ok { 1 } else { 2 }, buf);
    }
    put_fixed32(16, span_flags(r), buf);
}

/// Writes the body of the `Span` message for `r` (exactly `plan.len` bytes).
pub(crate) fn put_span(r: &SpanRecord, plan: &Plan<'_>, buf: &mut impl BufMut) {
    put_head(r, plan.start, plan.end, buf);
    plan.attrs.put(9, buf);
    put_varint(10, u64::from(r.dropped_attributes_count()), buf);
    for (e, ep) in r.events().zip(plan.events.iter().flatten()) {
        put_len_prefix(11, ep.body, buf);
        put_fixed64(1, ep.time, buf);
        put_bytes(2, e.name().as_bytes(), buf);
        ep.attrs.put(3, buf);
        put_varint(4, u64::from(e.dropped_attributes_count()), buf);
    }
    put_varint(12, u64::from(r.dropped_events_count()), buf);
    for (l, lp) in r.links().zip(plan.links.iter().flatten()) {
        put_len_prefix(13, lp.body, buf);
        put_link_head(&l, buf);
        lp.attrs.put(4, buf);
        put_link_tail(&l, buf);
    }
    put_tail(r, buf);
}

/// Writes `attrs` as `KeyValue` fields `tag`.
#[inline(always)]
fn put_attrs<'r>(
    tag: u32,
    attrs: impl Iterator<Item = (&'r str, ValueRef<'r>)>,
    w: &mut Cursor<'_>,
) {
    for (k, v) in attrs {
        put_key_value(tag, k, v, w);
    }
}

/// Writes the `Span` field (tag 2 of `ScopeSpans`: key, length, body) for `r` in one pass and
/// returns the bytes written; `None` when it did not fit in `w` or a key repeats, and then
/// what it wrote is to be discarded (the exact path, [`plan`] + [`put_span`], takes over).
///
/// The bytes are exactly those of `put_len_prefix(2, plan.len)` + [`put_span`]: lengths are
/// placeholders patched once their bodies are written (two bytes for the span, one for an
/// event, which fit most), and a body whose length needs another size is moved by the
/// difference.
#[inline]
pub(crate) fn write_span(r: &SpanRecord, cal: &Calibration, w: &mut Cursor<'_>) -> Option<usize> {
    if r.keys_repeat() {
        return None;
    }
    span_field(w, |w| {
        let (start, end) = (
            cal.to_unix_nanos(r.start_ticks()),
            cal.to_unix_nanos(r.end_ticks()),
        );
        put_head(r, start, end, w);
        put_attrs(9, r.attributes(), w);
        put_varint(10, u64::from(r.dropped_attributes_count()), w);
        for e in r.events() {
            w.put_u8(0x5a); // field 11, length-delimited
            w.put_u8(0);
            let event_start = w.written();
            put_fixed64(1, cal.to_unix_nanos(e.time_ticks()), w);
            put_bytes(2, e.name().as_bytes(), w);
            put_attrs(3, e.attributes(), w);
            put_varint(4, u64::from(e.dropped_attributes_count()), w);
            w.patch_len(event_start, 1);
        }
        put_varint(12, u64::from(r.dropped_events_count()), w);
        if r.has_links() {
            write_links(r, w);
        }
        put_tail(r, w);
    })
}

/// The `links` fields of `r`, for [`write_span`]: each with a one-byte length placeholder,
/// as events. Out of line: few spans have links, and the common path stays as short as it
/// was without them.
#[cold]
#[inline(never)]
fn write_links(r: &SpanRecord, w: &mut Cursor<'_>) {
    for l in r.links() {
        w.put_u8(0x6a); // field 13, length-delimited
        w.put_u8(0);
        let link_start = w.written();
        put_link_head(&l, w);
        put_attrs(4, l.attributes(), w);
        put_link_tail(&l, w);
        w.patch_len(link_start, 1);
    }
}

/// [`write_span`] for a compact record: the callsite's name and keys, the values, no events.
/// `None` when it does not fit or the callsite repeats a key among those set (the caller
/// then encodes the span as a full record, which deduplicates).
#[inline]
pub(crate) fn write_compact_span(
    r: &CompactRecord,
    cal: &Calibration,
    w: &mut Cursor<'_>,
) -> Option<usize> {
    let keys = &r.callsite().keys()[..r.attributes().len()];
    let mut lengths = 0u64;
    for k in keys {
        let bit = 1u64 << (k.len() % 64);
        if lengths & bit != 0 && keys.iter().filter(|seen| *seen == k).count() > 1 {
            return None;
        }
        lengths |= bit;
    }
    span_field(w, |w| {
        let (start, end) = (
            cal.to_unix_nanos(r.start_ticks()),
            cal.to_unix_nanos(r.end_ticks()),
        );
        put_head(r, start, end, w);
        put_attrs(9, r.attributes(), w);
        put_varint(12, u64::from(r.dropped_events_count()), w);
        put_tail(r, w);
    })
}

/// Writes a `Span` field (tag 2 of `ScopeSpans`) whose body `body` writes: the key, a two-byte
/// length placeholder, the body, then the length patched in. The bytes written, or `None` if
/// they did not fit.
#[inline(always)]
fn span_field(w: &mut Cursor<'_>, body: impl FnOnce(&mut Cursor<'_>)) -> Option<usize> {
    let field_start = w.written();
    w.put_u8(0x12);
    w.put_u8(0);
    w.put_u8(0);
    let body_start = w.written();
    body(w);
    w.patch_len(body_start, 2);
    (!w.overflowed()).then(|| w.written() - field_start)
}
