//! The compact record: a span started from a [`Callsite`] that kept to it, in two cache lines.
//!
//! # Layout
//! `#[repr(C, align(128))]`, 128 bytes, so that a ring of them holds 64 k spans in 8 MiB and a
//! span writes two lines, as the floor of the benchmarks does:
//!
//! | bytes    | holds |
//! |----------|-------|
//! | 0..64    | trace id, span id, parent span id, start and end ticks, the callsite pointer, flags, kind, status, value count, parent kind |
//! | 64..128  | [`MAX_CALLSITE_KEYS`] values (16 bytes each) for the callsite's first keys |
//!
//! 128-byte alignment for the reason `record.rs` gives: the adjacent-line prefetcher pulls
//! lines in pairs, so a slot must never share a pair with its neighbour.
//!
//! What does not fit (more values than [`MAX_CALLSITE_KEYS`], a value for a key the callsite
//! does not name, a string that is not `'static`, an event, an error status) moves the span to
//! a full [`SpanRecord`] when it is set (the producer promotes it), so nothing is lost and no
//! limit of the full record changes.

use super::callsite::Callsite;
use super::ids::{SpanId, TraceFlags, TraceId};
use super::record::{ParentKind, SpanKind, SpanRecord, Status};
use super::value::{Packed, Value, ValueRef};

/// Values a compact record holds.
pub const MAX_CALLSITE_KEYS: usize = 4;

/// One finished callsite span, as the drain sees it in a compact ring slot. Read it through
/// the accessors; times are clock ticks.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(128))]
pub struct CompactRecord {
    /// Ids as words (see `TraceId::words`).
    trace_id: [u64; 2],
    span_id: u64,
    parent_span_id: u64,
    start: u64,
    end: u64,
    callsite: &'static Callsite,
    trace_flags: u8,
    kind: u8,
    /// 0 unset, 1 ok (an error status promotes the span).
    ok: u8,
    n_values: u8,
    parent: u8,
    _pad: [u8; 3],
    values: [Packed; MAX_CALLSITE_KEYS],
}

const _: () = {
    assert!(std::mem::size_of::<CompactRecord>() == 128);
    assert!(std::mem::align_of::<CompactRecord>() == 128);
};

/// What every slot of a compact ring starts with.
static EMPTY_CALLSITE: Callsite = Callsite::new("", &[]);

impl CompactRecord {
    /// An empty record, the value every slot starts with.
    pub const EMPTY: CompactRecord = CompactRecord {
        trace_id: [0; 2],
        span_id: 0,
        parent_span_id: 0,
        start: 0,
        end: 0,
        callsite: &EMPTY_CALLSITE,
        trace_flags: 0,
        kind: SpanKind::Internal as u8,
        ok: 0,
        n_values: 0,
        parent: ParentKind::None as u8,
        _pad: [0; 3],
        values: [Packed::EMPTY; MAX_CALLSITE_KEYS],
    };

    // ----- writing (producer side) -----

    /// Starts a fresh span in this (reused) record: the first line is rewritten; the value
    /// count hides the old values.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn begin(
        &mut self,
        callsite: &'static Callsite,
        trace_id: [u64; 2],
        span_id: u64,
        parent_span_id: u64,
        parent: ParentKind,
        flags: TraceFlags,
        start: u64,
    ) {
        self.trace_id = trace_id;
        self.span_id = span_id;
        self.parent_span_id = parent_span_id;
        self.start = start;
        self.end = 0;
        self.callsite = callsite;
        self.trace_flags = flags.0;
        self.kind = callsite.kind() as u8;
        self.ok = 0;
        self.n_values = 0;
        self.parent = parent as u8;
    }

    /// Appends `values` for the callsite's next keys, if they all fit and none is a string
    /// to copy; `false` (and nothing written) otherwise, and the caller promotes the span.
    #[inline(always)]
    pub(crate) fn push_values(&mut self, values: &[Value<'_>]) -> bool {
        let n = usize::from(self.n_values);
        let keys = self.callsite.keys().len().min(MAX_CALLSITE_KEYS);
        if values.len() > keys.saturating_sub(n) || values.iter().any(|v| v.packed.is_borrowed()) {
            return false;
        }
        for (slot, v) in self.values[n..].iter_mut().zip(values) {
            *slot = v.packed;
        }
        self.n_values = (n + values.len()) as u8;
        true
    }

    /// Values set so far.
    #[inline(always)]
    pub(crate) fn values_set(&self) -> u8 {
        self.n_values
    }

    #[inline(always)]
    pub(crate) fn set_kind(&mut self, kind: SpanKind) {
        self.kind = kind as u8;
    }

    #[inline(always)]
    pub(crate) fn set_ok(&mut self) {
        self.ok = 1;
    }

    #[inline(always)]
    pub(crate) fn set_end(&mut self, end: u64) {
        self.end = end;
    }

    /// The same span as a full record (for a span that outgrew its callsite, and for sinks
    /// that only read full records). `scope` is used when the callsite names none.
    pub fn to_full(&self, scope: &'static str) -> SpanRecord {
        let mut full = SpanRecord::EMPTY;
        full.begin(
            self.trace_id,
            self.span_id,
            self.parent_span_id,
            self.parent_kind(),
            TraceFlags(self.trace_flags),
            self.callsite.scope().unwrap_or(scope),
            self.start,
        );
        let mut loss = Default::default();
        full.set_name(Value::str(self.callsite.name()), &mut loss);
        full.set_kind(self.kind());
        for (k, v) in self.attribute_values() {
            full.push_attr(k, v, &mut loss);
        }
        if self.ok == 1 {
            full.set_status(true, Value::str(""), &mut loss);
        }
        full.set_end(self.end);
        debug_assert_eq!(loss.truncated, 0, "compact values are never copied strings");
        full
    }

    fn parent_kind(&self) -> ParentKind {
        match self.parent {
            1 => ParentKind::Local,
            2 => ParentKind::Remote,
            _ => ParentKind::None,
        }
    }

    /// The stored values with their keys, as values to set again.
    fn attribute_values(&self) -> impl Iterator<Item = (&'static str, Value<'static>)> + '_ {
        self.callsite
            .keys()
            .iter()
            .zip(&self.values[..usize::from(self.n_values)])
            .map(|(&k, &p)| (k, Value::from_packed(p)))
    }

    // ----- reading (drain side) -----

    /// The callsite the span was started from.
    pub fn callsite(&self) -> &'static Callsite {
        self.callsite
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        TraceId::from_words(self.trace_id)
    }

    /// The span id.
    pub fn span_id(&self) -> SpanId {
        SpanId::from_word(self.span_id)
    }

    /// The parent span id, `None` for a root span.
    pub fn parent_span_id(&self) -> Option<SpanId> {
        (self.parent != ParentKind::None as u8).then_some(SpanId::from_word(self.parent_span_id))
    }

    /// Whether the parent came from another process.
    pub fn parent_is_remote(&self) -> bool {
        self.parent == ParentKind::Remote as u8
    }

    /// W3C trace flags of the span.
    pub fn trace_flags(&self) -> TraceFlags {
        TraceFlags(self.trace_flags)
    }

    /// The span kind (the callsite's, unless set on the span).
    pub fn kind(&self) -> SpanKind {
        SpanKind::from_u8(self.kind)
    }

    /// The status: unset or ok (an error status makes a full record).
    pub fn status(&self) -> Status<'static> {
        if self.ok == 1 {
            Status::Ok
        } else {
            Status::Unset
        }
    }

    /// Start time in clock ticks.
    pub fn start_ticks(&self) -> u64 {
        self.start
    }

    /// End time in clock ticks.
    pub fn end_ticks(&self) -> u64 {
        self.end
    }

    /// Events that did not fit: none, a compact record holds no events (adding one makes a
    /// full record).
    pub(crate) fn dropped_events_count(&self) -> u32 {
        0
    }

    /// A compact record never holds a `tracestate` (a span given one is promoted).
    #[inline(always)]
    pub(crate) fn trace_state(&self) -> &str {
        ""
    }

    /// Links dropped: none, a compact record is never given one.
    pub(crate) fn dropped_links_count(&self) -> u32 {
        0
    }

    /// The span name (the callsite's).
    pub fn name(&self) -> &'static str {
        self.callsite.name()
    }

    /// The attributes: the callsite's keys with the values set, in order.
    pub fn attributes(
        &self,
    ) -> impl ExactSizeIterator<Item = (&'static str, ValueRef<'static>)> + '_ {
        self.callsite
            .keys()
            .iter()
            .zip(&self.values[..usize::from(self.n_values)])
            .map(|(&k, p)| (k, p.as_value(&[])))
    }
}
