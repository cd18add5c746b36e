//! The fixed-size span record: what a ring slot holds and what the drain reads.
//!
//! # Layout
//! `#[repr(C, align(128))]`, 896 bytes = 7 x 128:
//!
//! | bytes     | part | holds |
//! |-----------|------|-------|
//! | 0..128    | header | ids, start/end ticks, name, status, scope, kind, flags, counts |
//! | 128..384  | attributes | [`MAX_ATTRS`] x (key, value) of 16 + 16 bytes |
//! | 384..640  | entries | [`MAX_EVENTS`] x an event (name, time, [`MAX_EVENT_ATTRS`] attributes) or a link (ids, flags, `tracestate`, [`MAX_LINK_ATTRS`] attributes): see `entry.rs` |
//! | 640..896  | arena | [`ARENA_BYTES`] bytes for strings that are not `'static` |
//!
//! Why 128-byte alignment, not 64: two slots must never share a cache line, and on x86_64 the
//! L2 spatial prefetcher fetches lines in 128-byte pairs, so a slot ending on an odd line would
//! drag its neighbour (being written by the producer) into the consumer's cache and back.
//! crossbeam-utils' `CachePadded` pads to 128 on x86_64 for the same reason.
//!
//! The hot path touches only what a span uses: a producer builds the record in its own scratch
//! slot and `SpanRecord::copy_used_into` copies the header and the used attributes, events and
//! arena bytes into the ring slot (a span with four static attributes moves 256 bytes).
//!
//! # Limits (documented, counted, never a panic)
//! - More than [`MAX_ATTRS`] attributes: the extra ones are dropped and counted in
//!   `dropped_attributes_count` (exported as OTLP's field of that name). Likewise events
//!   beyond [`MAX_EVENTS`] (`dropped_events_count`) and event attributes beyond
//!   [`MAX_EVENT_ATTRS`] (the event's `dropped_attributes_count`). Events and links share
//!   the [`MAX_EVENTS`] entries; a link that finds them taken is counted in
//!   `dropped_links_count`, its attributes beyond [`MAX_LINK_ATTRS`] in its own
//!   `dropped_attributes_count`.
//! - A `tracestate` (the span's, or a link's) is copied into the arena member by member: a
//!   member that does not fit is left out whole (a cut one would not parse) and counted
//!   as one truncated string, so what is kept is always a valid `tracestate`.
//! - Strings that are not `'static` (names, values, status messages) share the
//!   [`ARENA_BYTES`]-byte arena. A string that does not fit is cut at the last UTF-8 character
//!   boundary that fits (so it stays valid UTF-8) and the producer's `truncated_strings`
//!   counter goes up by one. Callers can only pass `&str`, so invalid UTF-8 cannot enter.
//! - Setting the same key twice keeps both entries here; deduplication (last one wins, as the
//!   OpenTelemetry API specifies) is left to the drain side so the hot path stays a plain
//!   append.

use crate::model::entry::{Attr, Entry, EventRef, LinkRef};
#[cfg(doc)]
use crate::model::entry::{MAX_EVENT_ATTRS, MAX_LINK_ATTRS};
use crate::model::ids::{SpanId, TraceFlags, TraceId};
use crate::model::value::{floor_char_boundary, Packed, Value, ValueRef};

/// Attributes a span record holds.
pub const MAX_ATTRS: usize = 8;
/// Events and links a span record holds, together (they share these entries).
pub const MAX_EVENTS: usize = 2;
/// Bytes of copied (non-`'static`) string data a span record holds.
pub const ARENA_BYTES: usize = 256;

/// The kind of a span, with OTLP's numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum SpanKind {
    /// Not specified.
    Unspecified = 0,
    /// An internal operation (the default).
    #[default]
    Internal = 1,
    /// Handling a synchronous request from a remote client.
    Server = 2,
    /// A synchronous request to a remote service.
    Client = 3,
    /// Sending a message to a broker or queue.
    Producer = 4,
    /// Receiving a message from a broker or queue.
    Consumer = 5,
}

impl SpanKind {
    pub(crate) fn from_u8(v: u8) -> SpanKind {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// A span's status as read back from a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<'r> {
    /// Not set (OTLP `STATUS_CODE_UNSET`).
    Unset,
    /// Explicitly successful (`STATUS_CODE_OK`).
    Ok,
    /// Failed, with a description (`STATUS_CODE_ERROR`).
    Error(&'r str),
}

const STATUS_UNSET: u8 = 0;
const STATUS_OK: u8 = 1;
const STATUS_ERROR: u8 = 2;

/// How a span relates to its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum ParentKind {
    /// A root span.
    None = 0,
    /// The parent is a span of this process.
    Local = 1,
    /// The parent came from another process (a `traceparent`).
    Remote = 2,
}

#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Header {
    /// Ids as words (see `TraceId::words`).
    trace_id: [u64; 2],
    span_id: u64,
    parent_span_id: u64,
    start: u64,
    end: u64,
    name: Packed,
    status_message: Packed,
    scope: Packed,
    trace_flags: u8,
    kind: u8,
    status: u8,
    n_attrs: u8,
    /// Entries used (events and links).
    n_entries: u8,
    parent: u8,
    arena_len: u16,
    dropped_attrs: u32,
    dropped_events: u32,
    /// Links that found every entry taken.
    dropped_links: u32,
    /// The span's `tracestate`: bytes `trace_state_at..+trace_state_len` of the arena.
    trace_state_at: u16,
    trace_state_len: u16,
    /// How many of the entries are links.
    n_links: u8,
    _reserved: [u8; 7],
}

/// One finished span, as the drain sees it in a ring slot. Read it through the accessors;
/// times are clock ticks, which the drain's [`crate::clock::Calibration`] turns into Unix
/// nanoseconds.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(128))]
pub struct SpanRecord {
    header: Header,
    attrs: [Attr; MAX_ATTRS],
    entries: [Entry; MAX_EVENTS],
    arena: [u8; ARENA_BYTES],
}

const _: () = {
    assert!(std::mem::size_of::<Header>() == 128);
    assert!(std::mem::size_of::<SpanRecord>() == 896);
    assert!(std::mem::size_of::<SpanRecord>() % 128 == 0);
    assert!(ARENA_BYTES <= u16::MAX as usize);
};

/// What a write into a record lost, for the producer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Loss {
    /// Strings cut short because the arena was full.
    pub(crate) truncated: u32,
}

impl SpanRecord {
    /// An empty record (all counts zero), the value every slot starts with.
    pub const EMPTY: SpanRecord = SpanRecord {
        header: Header {
            trace_id: [0; 2],
            span_id: 0,
            parent_span_id: 0,
            start: 0,
            end: 0,
            name: Packed::EMPTY,
            status_message: Packed::EMPTY,
            scope: Packed::EMPTY,
            trace_flags: 0,
            kind: SpanKind::Internal as u8,
            status: STATUS_UNSET,
            n_attrs: 0,
            n_entries: 0,
            parent: ParentKind::None as u8,
            arena_len: 0,
            dropped_attrs: 0,
            dropped_events: 0,
            dropped_links: 0,
            trace_state_at: 0,
            trace_state_len: 0,
            n_links: 0,
            _reserved: [0; 7],
        },
        attrs: [Attr::EMPTY; MAX_ATTRS],
        entries: [Entry::EMPTY; MAX_EVENTS],
        arena: [0; ARENA_BYTES],
    };

    // ----- writing (producer side) -----

    /// Starts a fresh span in this (reused) record. Only the header is rewritten; the counts
    /// make the old attributes, events and arena bytes unreachable.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn begin(
        &mut self,
        trace_id: [u64; 2],
        span_id: u64,
        parent_span_id: u64,
        parent: ParentKind,
        flags: TraceFlags,
        scope: &'static str,
        start: u64,
    ) {
        self.header = Header {
            trace_id,
            span_id,
            parent_span_id,
            start,
            end: 0,
            name: Packed::EMPTY,
            status_message: Packed::EMPTY,
            scope: Packed::from_static(scope),
            trace_flags: flags.0,
            kind: SpanKind::Internal as u8,
            status: STATUS_UNSET,
            n_attrs: 0,
            n_entries: 0,
            parent: parent as u8,
            arena_len: 0,
            dropped_attrs: 0,
            dropped_events: 0,
            dropped_links: 0,
            trace_state_at: 0,
            trace_state_len: 0,
            n_links: 0,
            _reserved: [0; 7],
        };
    }

    /// Moves the span to another trace and parent (its ids and flags), keeping the rest.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn set_trace(
        &mut self,
        trace_id: [u64; 2],
        parent_span_id: u64,
        parent: ParentKind,
        flags: TraceFlags,
    ) {
        self.header.trace_id = trace_id;
        self.header.parent_span_id = parent_span_id;
        self.header.parent = parent as u8;
        self.header.trace_flags = flags.0;
    }

    /// Copies `s` into `arena` after its first `*used` bytes, cutting it at a char boundary
    /// if it does not fit. (Takes the two fields, not `self`, so that callers can hold a slot of
    /// `attrs` or `events` at the same time.)
    /// Out of line: most values are scalars or static strings, and inlining the copy into
    /// every setter made the common path longer for all of them.
    #[inline(never)]
    fn copy_str(arena: &mut [u8; ARENA_BYTES], used: &mut u16, s: &str, loss: &mut Loss) -> Packed {
        let at = usize::from(*used);
        let n = floor_char_boundary(s, ARENA_BYTES - at);
        if n < s.len() {
            loss.truncated += 1;
        }
        arena[at..at + n].copy_from_slice(&s.as_bytes()[..n]);
        *used = (at + n) as u16;
        Packed::inline(at, n)
    }

    /// The stored form of `v`: itself, unless it borrows a string, which is copied in.
    #[inline(always)]
    pub(crate) fn pack(
        arena: &mut [u8; ARENA_BYTES],
        used: &mut u16,
        v: Value<'_>,
        loss: &mut Loss,
    ) -> Packed {
        if v.packed.is_borrowed() {
            // SAFETY: the cell is Borrowed and `v` (so its borrow) is alive for this call.
            let s = unsafe { v.packed.borrowed_str() };
            Self::copy_str(arena, used, s, loss)
        } else {
            v.packed
        }
    }

    #[inline(always)]
    pub(crate) fn set_name(&mut self, name: Value<'_>, loss: &mut Loss) {
        self.header.name = Self::pack(&mut self.arena, &mut self.header.arena_len, name, loss);
    }

    #[inline(always)]
    pub(crate) fn set_kind(&mut self, kind: SpanKind) {
        self.header.kind = kind as u8;
    }

    #[inline(always)]
    pub(crate) fn set_end(&mut self, end: u64) {
        self.header.end = end;
    }

    /// Appends an attribute, or counts it as dropped when the record is full.
    #[inline(always)]
    pub(crate) fn push_attr(&mut self, key: &'static str, value: Value<'_>, loss: &mut Loss) {
        let n = usize::from(self.header.n_attrs);
        if n == MAX_ATTRS {
            return self.push_attrs_at_cap(&[(key, value)], loss);
        }
        let value = Self::pack(&mut self.arena, &mut self.header.arena_len, value, loss);
        self.attrs[n] = Attr {
            key: Packed::from_static(key),
            value,
        };
        self.header.n_attrs = (n + 1) as u8;
    }

    /// Appends several attributes: one capacity check and one count update for the lot.
    #[inline(always)]
    pub(crate) fn push_attrs(&mut self, attrs: &[(&'static str, Value<'_>)], loss: &mut Loss) {
        let n = usize::from(self.header.n_attrs);
        let take = attrs.len().min(MAX_ATTRS - n);
        for (slot, &(key, value)) in self.attrs[n..].iter_mut().zip(&attrs[..take]) {
            let value = Self::pack(&mut self.arena, &mut self.header.arena_len, value, loss);
            *slot = Attr {
                key: Packed::from_static(key),
                value,
            };
        }
        self.header.n_attrs = (n + take) as u8;
        if take < attrs.len() {
            self.push_attrs_at_cap(&attrs[take..], loss);
        }
    }

    /// The attributes that found every slot taken: one whose key is already stored is an
    /// update, not a new attribute (attribute limits count keys), so its value replaces the
    /// last one stored under that key; the others are dropped and counted.
    #[cold]
    fn push_attrs_at_cap(&mut self, attrs: &[(&'static str, Value<'_>)], loss: &mut Loss) {
        let n = usize::from(self.header.n_attrs);
        let mut dropped = 0u32;
        for &(key, value) in attrs {
            let arena = &self.arena;
            match self.attrs[..n]
                .iter()
                .rposition(|a| a.key.as_str(arena) == key)
            {
                Some(i) => {
                    let value =
                        Self::pack(&mut self.arena, &mut self.header.arena_len, value, loss);
                    self.attrs[i].value = value;
                }
                None => dropped += 1,
            }
        }
        self.header.dropped_attrs = self.header.dropped_attrs.saturating_add(dropped);
    }

    /// Counts `n` attributes dropped before they reached the record.
    #[inline]
    pub(crate) fn count_dropped_attrs(&mut self, n: u32) {
        self.header.dropped_attrs = self.header.dropped_attrs.saturating_add(n);
    }

    /// Appends an attribute whose key is a string [`Value`] (copied into the arena unless
    /// `'static`): for front ends whose keys are not `&'static str` (the `opentelemetry`
    /// API's `Key`). At the limit, a key already stored takes the new value; others are
    /// dropped and counted.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn push_attr_keyed(&mut self, key: &str, value: Value<'_>, loss: &mut Loss) {
        let n = usize::from(self.header.n_attrs);
        if n == MAX_ATTRS {
            let arena = &self.arena;
            match self.attrs.iter().rposition(|a| a.key.as_str(arena) == key) {
                Some(i) => {
                    let value =
                        Self::pack(&mut self.arena, &mut self.header.arena_len, value, loss);
                    self.attrs[i].value = value;
                }
                None => self.count_dropped_attrs(1),
            }
            return;
        }
        let key = Self::pack(
            &mut self.arena,
            &mut self.header.arena_len,
            Value::copied(key),
            loss,
        );
        let value = Self::pack(&mut self.arena, &mut self.header.arena_len, value, loss);
        self.attrs[n] = Attr { key, value };
        self.header.n_attrs = (n + 1) as u8;
    }

    /// Sets the start time (a front end given one explicitly).
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn set_start(&mut self, start: u64) {
        self.header.start = start;
    }

    /// Sets the instrumentation scope.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn set_scope(&mut self, scope: &'static str) {
        self.header.scope = Packed::from_static(scope);
    }

    /// Counts `n` links dropped before they reached the record.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn count_dropped_links(&mut self, n: u32) {
        self.header.dropped_links = self.header.dropped_links.saturating_add(n);
    }

    /// Counts `n` events dropped before they reached the record.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn count_dropped_events(&mut self, n: u32) {
        self.header.dropped_events = self.header.dropped_events.saturating_add(n);
    }

    /// Whether a status was set (`Ok` or `Error`).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn has_status(&self) -> bool {
        self.header.status != STATUS_UNSET
    }

    /// Sets the status following the spec: `Ok` is final, `Unset` changes nothing, and only
    /// `Error` keeps a description.
    #[inline]
    pub(crate) fn set_status(&mut self, ok: bool, message: Value<'_>, loss: &mut Loss) {
        if self.header.status == STATUS_OK {
            return;
        }
        if ok {
            self.header.status = STATUS_OK;
            self.header.status_message = Packed::EMPTY;
        } else {
            self.header.status = STATUS_ERROR;
            self.header.status_message =
                Self::pack(&mut self.arena, &mut self.header.arena_len, message, loss);
        }
    }

    /// Copies what this record uses (header, used attributes and events, used arena bytes)
    /// into `dst`. The rest of `dst` keeps stale but valid data that its counts hide.
    #[inline(always)]
    pub(crate) fn copy_used_into(&self, dst: &mut SpanRecord) {
        // Element loops rather than `copy_from_slice`: with a handful of fixed-size elements
        // they compile to a few vector moves instead of a call into `memcpy`.
        let h = &self.header;
        dst.header = *h;
        for (d, s) in dst
            .attrs
            .iter_mut()
            .zip(&self.attrs)
            .take(usize::from(h.n_attrs))
        {
            *d = *s;
        }
        for (d, s) in dst
            .entries
            .iter_mut()
            .zip(&self.entries)
            .take(usize::from(h.n_entries))
        {
            *d = *s;
        }
        let a = usize::from(h.arena_len);
        if a > 0 {
            dst.arena[..a].copy_from_slice(&self.arena[..a]);
        }
    }

    // ----- reading (drain side) -----

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        TraceId::from_words(self.header.trace_id)
    }

    /// The span id.
    pub fn span_id(&self) -> SpanId {
        SpanId::from_word(self.header.span_id)
    }

    /// The parent span id, `None` for a root span.
    pub fn parent_span_id(&self) -> Option<SpanId> {
        (self.header.parent != ParentKind::None as u8)
            .then_some(SpanId::from_word(self.header.parent_span_id))
    }

    /// Whether the parent came from another process (OTLP's `SPAN_FLAGS_CONTEXT_IS_REMOTE`);
    /// false for a root span.
    pub fn parent_is_remote(&self) -> bool {
        self.header.parent == ParentKind::Remote as u8
    }

    /// W3C trace flags of the span.
    pub fn trace_flags(&self) -> TraceFlags {
        TraceFlags(self.header.trace_flags)
    }

    /// The span kind.
    pub fn kind(&self) -> SpanKind {
        SpanKind::from_u8(self.header.kind)
    }

    /// The status.
    pub fn status(&self) -> Status<'_> {
        match self.header.status {
            STATUS_OK => Status::Ok,
            STATUS_ERROR => Status::Error(self.header.status_message.as_str(&self.arena)),
            _ => Status::Unset,
        }
    }

    /// Start time in clock ticks.
    pub fn start_ticks(&self) -> u64 {
        self.header.start
    }

    /// End time in clock ticks.
    pub fn end_ticks(&self) -> u64 {
        self.header.end
    }

    /// The span name.
    pub fn name(&self) -> &str {
        self.header.name.as_str(&self.arena)
    }

    /// The instrumentation scope name.
    pub fn scope(&self) -> &str {
        self.header.scope.as_str(&self.arena)
    }

    /// The span name if it is a `&'static str` (not copied into the record).
    pub(crate) fn name_static(&self) -> Option<&'static str> {
        self.header.name.as_static()
    }

    /// The instrumentation scope name with its real lifetime (scopes are always `'static`).
    pub(crate) fn scope_static(&self) -> &'static str {
        self.header.scope.as_static().unwrap_or("")
    }

    /// Whether two attributes of the span, or of one of its events, share a key (the
    /// encoder then deduplicates them). Compares the stored cells, which seldom needs a
    /// string's bytes.
    #[inline]
    pub(crate) fn keys_repeat(&self) -> bool {
        fn repeat(attrs: &[Attr], arena: &[u8]) -> bool {
            // Equal keys have equal lengths: a mask of the lengths seen settles the usual case
            // (keys of distinct lengths) in a few instructions per key; only a shared length
            // takes the pairwise comparison.
            let mut lengths = 0u64;
            let mut shared = false;
            for a in attrs {
                let bit = 1u64 << (a.key.str_len() % 64);
                shared |= lengths & bit != 0;
                lengths |= bit;
            }
            shared
                && attrs.iter().enumerate().any(|(i, a)| {
                    attrs[..i]
                        .iter()
                        .any(|seen| seen.key.same_str(&a.key, arena))
                })
        }
        let arena = &self.arena[..];
        repeat(&self.attrs[..usize::from(self.header.n_attrs)], arena)
            || self.entries[..usize::from(self.header.n_entries)]
                .iter()
                .any(|e| repeat(e.attrs(), arena))
    }

    /// The attributes, in the order they were set.
    pub fn attributes(&self) -> impl ExactSizeIterator<Item = (&str, ValueRef<'_>)> + Clone + '_ {
        let arena = &self.arena;
        self.attrs[..usize::from(self.header.n_attrs)]
            .iter()
            .map(move |a| (a.key.as_str(arena), a.value.as_value(arena)))
    }

    /// Attributes that did not fit and were dropped.
    pub fn dropped_attributes_count(&self) -> u32 {
        self.header.dropped_attrs
    }

    /// The events, in the order they were added.
    pub fn events(&self) -> impl Iterator<Item = EventRef<'_>> + Clone + '_ {
        self.entries[..usize::from(self.header.n_entries)]
            .iter()
            .filter_map(|e| e.as_event())
            .map(move |event| EventRef {
                event,
                arena: &self.arena,
            })
    }

    /// The links, in the order they were added.
    pub fn links(&self) -> impl Iterator<Item = LinkRef<'_>> + Clone + '_ {
        self.entries[..usize::from(self.header.n_entries)]
            .iter()
            .filter_map(|e| e.as_link())
            .map(move |link| LinkRef {
                link,
                arena: &self.arena,
            })
    }

    /// Whether the span holds a link (the encoder's one-pass writer checks it first).
    #[inline(always)]
    pub(crate) fn has_links(&self) -> bool {
        self.header.n_links != 0
    }

    /// The span's `tracestate` (`""` when it has none).
    #[inline]
    pub fn trace_state(&self) -> &str {
        if self.header.trace_state_len == 0 {
            return "";
        }
        Packed::inline(
            usize::from(self.header.trace_state_at),
            usize::from(self.header.trace_state_len),
        )
        .as_str(&self.arena)
    }

    /// Events that did not fit and were dropped.
    pub fn dropped_events_count(&self) -> u32 {
        self.header.dropped_events
    }

    /// Links that did not fit and were dropped (OTLP `dropped_links_count`).
    pub fn dropped_links_count(&self) -> u32 {
        self.header.dropped_links
    }
}

mod entries;
#[cfg(test)]
mod tests;
