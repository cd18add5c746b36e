//! The fixed-size log record: what a slot of a lane's log ring holds.
//!
//! # Layout
//! `#[repr(C, align(128))]`, 640 bytes = 5 x 128:
//!
//! | bytes     | part | holds |
//! |-----------|------|-------|
//! | 0..128    | header | trace and span id, time, body, event name, scope, severity, counts |
//! | 128..384  | attributes | [`MAX_LOG_ATTRS`] x (key, value) of 16 + 16 bytes |
//! | 384..640  | arena | [`ARENA_BYTES`] bytes for strings that are not `'static` |
//!
//! A log record is written in one call ([`crate::Producer::log`]), so it is built in place,
//! in the ring's next free slot, and published at once: no scratch record, no copy, and only
//! the lines it uses are touched (a record with three attributes writes 224 bytes).
//!
//! # Limits (documented, counted, never a panic)
//! As for spans (`record.rs`): attributes beyond [`MAX_LOG_ATTRS`] are dropped and counted in
//! the record's `dropped_attributes_count` (OTLP's field of that name); strings that are not
//! `'static` (the body, values) share the arena, and one that does not fit is cut at a
//! character boundary and counted in the producer's `truncated_strings`. A key set twice goes
//! out once, with the value set last (the encoder deduplicates).

use crate::model::entry::Attr;
use crate::model::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::record::{Loss, SpanRecord, ARENA_BYTES};
use crate::model::value::{Packed, Value, ValueRef};

/// Attributes a log record holds.
pub const MAX_LOG_ATTRS: usize = 8;

/// A log record's severity: OTLP's `SeverityNumber` (1..=24; 0 is unspecified), with the
/// short name that goes out as `severity_text`.
///
/// The six named levels are the first of their ranges (`TRACE` 1, `DEBUG` 5, `INFO` 9, `WARN`
/// 13, `ERROR` 17, `FATAL` 21), as the logs data model maps the usual levels.
///
/// # Examples
/// ```
/// use ringspan::Severity;
/// assert_eq!(Severity::WARN.number(), 13);
/// assert_eq!(Severity::WARN.text(), "WARN");
/// assert_eq!(Severity::new(11).text(), "INFO3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Severity(u8);

impl Severity {
    /// Unspecified (OTLP 0): no `severity_number` and no `severity_text` go out.
    pub const UNSPECIFIED: Severity = Severity(0);
    /// A fine-grained debugging event (OTLP 1).
    pub const TRACE: Severity = Severity(1);
    /// A debugging event (OTLP 5).
    pub const DEBUG: Severity = Severity(5);
    /// An informational event (OTLP 9).
    pub const INFO: Severity = Severity(9);
    /// A warning (OTLP 13).
    pub const WARN: Severity = Severity(13);
    /// An error (OTLP 17).
    pub const ERROR: Severity = Severity(17);
    /// A fatal error (OTLP 21).
    pub const FATAL: Severity = Severity(21);

    /// The severity with OTLP number `n`; numbers above 24 are clamped to 24 (`FATAL4`).
    pub const fn new(n: u8) -> Severity {
        Severity(if n > 24 { 24 } else { n })
    }

    /// OTLP's `SeverityNumber`.
    pub const fn number(self) -> u8 {
        self.0
    }

    /// The short name the data model gives the number (`INFO`, `INFO2`, ...; `""` for
    /// unspecified).
    pub const fn text(self) -> &'static str {
        const NAMES: [&str; 25] = [
            "", "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4",
            "INFO", "INFO2", "INFO3", "INFO4", "WARN", "WARN2", "WARN3", "WARN4", "ERROR",
            "ERROR2", "ERROR3", "ERROR4", "FATAL", "FATAL2", "FATAL3", "FATAL4",
        ];
        NAMES[self.0 as usize]
    }
}

#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Header {
    /// Ids as words (see `TraceId::words`); zero when no span was current.
    trace_id: [u64; 2],
    span_id: u64,
    time: u64,
    body: Packed,
    event_name: Packed,
    scope: Packed,
    severity: u8,
    trace_flags: u8,
    n_attrs: u8,
    _pad: u8,
    arena_len: u16,
    _pad2: u16,
    dropped_attrs: u32,
    _reserved: [u8; 36],
}

/// One log record, as the drain sees it in a log ring slot. Read it through the accessors;
/// its time is in clock ticks, which the drain's [`crate::Calibration`] turns into Unix
/// nanoseconds.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(128))]
pub struct LogRecord {
    header: Header,
    attrs: [Attr; MAX_LOG_ATTRS],
    arena: [u8; ARENA_BYTES],
}

const _: () = {
    assert!(std::mem::size_of::<Header>() == 128);
    assert!(std::mem::size_of::<LogRecord>() == 640);
};

impl LogRecord {
    /// An empty record, the value every slot starts with.
    pub const EMPTY: LogRecord = LogRecord {
        header: Header {
            trace_id: [0; 2],
            span_id: 0,
            time: 0,
            body: Packed::EMPTY,
            event_name: Packed::EMPTY,
            scope: Packed::EMPTY,
            severity: 0,
            trace_flags: 0,
            n_attrs: 0,
            _pad: 0,
            arena_len: 0,
            _pad2: 0,
            dropped_attrs: 0,
            _reserved: [0; 36],
        },
        attrs: [Attr::EMPTY; MAX_LOG_ATTRS],
        arena: [0; ARENA_BYTES],
    };

    // ----- writing (producer side) -----

    /// Writes a whole record into this (reused) slot: the header, then the attributes (those
    /// beyond [`MAX_LOG_ATTRS`] counted as dropped). `trace_id`, `span_id` and `flags` are the
    /// current span's (zeros when none is).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write(
        &mut self,
        time: u64,
        severity: Severity,
        event_name: &'static str,
        body: Value<'_>,
        attrs: &[(&'static str, Value<'_>)],
        (trace_id, span_id, flags): ([u64; 2], u64, TraceFlags),
        scope: &'static str,
        loss: &mut Loss,
    ) {
        let mut used = 0u16;
        let body = SpanRecord::pack(&mut self.arena, &mut used, body, loss);
        let take = attrs.len().min(MAX_LOG_ATTRS);
        for (slot, &(key, value)) in self.attrs.iter_mut().zip(&attrs[..take]) {
            let value = SpanRecord::pack(&mut self.arena, &mut used, value, loss);
            *slot = Attr {
                key: Packed::from_static(key),
                value,
            };
        }
        self.header = Header {
            trace_id,
            span_id,
            time,
            body,
            event_name: Packed::from_static(event_name),
            scope: Packed::from_static(scope),
            severity: severity.0,
            trace_flags: flags.0,
            n_attrs: take as u8,
            _pad: 0,
            arena_len: used,
            _pad2: 0,
            dropped_attrs: (attrs.len() - take) as u32,
            _reserved: [0; 36],
        };
    }

    /// Starts a record to be built field by field (the bridges: `tracing` events, the `log`
    /// facade), in a record of the caller's, away from any ring: building it may run user
    /// code (`Debug` impls), which must not find the producer's state borrowed. Its time,
    /// ids and scope are stamped when the producer publishes it
    /// ([`LogRecord::copy_stamped_into`]).
    #[cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
    pub(crate) fn begin(&mut self, severity: Severity, event_name: &'static str) {
        self.header.severity = severity.0;
        self.header.event_name = Packed::from_static(event_name);
        self.header.body = Packed::EMPTY;
        self.header.n_attrs = 0;
        self.header.arena_len = 0;
        self.header.dropped_attrs = 0;
    }

    /// Sets the body of a record being built.
    #[cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
    pub(crate) fn set_body(&mut self, body: Value<'_>, loss: &mut Loss) {
        self.header.body =
            SpanRecord::pack(&mut self.arena, &mut self.header.arena_len, body, loss);
    }

    /// Appends an attribute to a record being built, or counts it as dropped when it is full.
    #[cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
    pub(crate) fn push_attr(&mut self, key: &'static str, value: Value<'_>, loss: &mut Loss) {
        let n = usize::from(self.header.n_attrs);
        if n == MAX_LOG_ATTRS {
            self.header.dropped_attrs = self.header.dropped_attrs.saturating_add(1);
            return;
        }
        let value = SpanRecord::pack(&mut self.arena, &mut self.header.arena_len, value, loss);
        self.attrs[n] = Attr {
            key: Packed::from_static(key),
            value,
        };
        self.header.n_attrs = (n + 1) as u8;
    }

    /// Copies a record built with [`LogRecord::begin`] into `dst` (a ring slot), with its
    /// time, the current span's ids and flags, and the scope: what it uses, no more.
    #[cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
    pub(crate) fn copy_stamped_into(
        &self,
        dst: &mut LogRecord,
        time: u64,
        (trace_id, span_id, flags): ([u64; 2], u64, TraceFlags),
        scope: &'static str,
    ) {
        let h = &self.header;
        dst.header = Header {
            trace_id,
            span_id,
            time,
            scope: Packed::from_static(scope),
            trace_flags: flags.0,
            ..*h
        };
        let n = usize::from(h.n_attrs);
        dst.attrs[..n].copy_from_slice(&self.attrs[..n]);
        let a = usize::from(h.arena_len);
        dst.arena[..a].copy_from_slice(&self.arena[..a]);
    }

    // ----- reading (drain side) -----

    /// When it was recorded, in clock ticks.
    pub fn time_ticks(&self) -> u64 {
        self.header.time
    }

    /// The severity.
    pub fn severity(&self) -> Severity {
        Severity(self.header.severity)
    }

    /// The body (OTLP's `AnyValue`); `None` when it was left empty (`Value::str("")` counts
    /// as empty too: no body goes out).
    pub fn body(&self) -> Option<ValueRef<'_>> {
        match self.header.body.as_value(&self.arena) {
            ValueRef::Str("") => None,
            v => Some(v),
        }
    }

    /// The event name (`""` for none).
    pub fn event_name(&self) -> &str {
        self.header.event_name.as_str(&self.arena)
    }

    /// The instrumentation scope name (always `'static`).
    pub fn scope(&self) -> &'static str {
        self.header.scope.as_static().unwrap_or("")
    }

    /// The trace id and span id of the span that was current, and its trace flags; `None`
    /// when none was.
    pub fn span_context(&self) -> Option<SpanContext> {
        (self.header.span_id != 0).then(|| SpanContext {
            trace_id: TraceId::from_words(self.header.trace_id),
            span_id: SpanId::from_word(self.header.span_id),
            flags: TraceFlags(self.header.trace_flags),
            is_remote: false,
        })
    }

    /// The attributes, in the order they were given.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_names_follow_the_data_model() {
        assert_eq!(Severity::TRACE.text(), "TRACE");
        assert_eq!(Severity::new(8).text(), "DEBUG4");
        assert_eq!(Severity::FATAL.text(), "FATAL");
        assert_eq!(Severity::new(200), Severity::new(24));
        assert_eq!(Severity::UNSPECIFIED.text(), "");
    }

    #[test]
    fn a_written_record_reads_back() {
        let mut r = LogRecord::EMPTY;
        let mut loss = Loss::default();
        let user = String::from("alice");
        let attrs = [
            ("user", Value::copied(&user)),
            ("qty", Value::from(7)),
            ("ok", Value::from(true)),
        ];

        r.write(
            42,
            Severity::WARN,
            "order.rejected",
            Value::str("limit exceeded"),
            &attrs,
            ([1, 2], 3, TraceFlags::SAMPLED),
            "svc",
            &mut loss,
        );
        assert_eq!(r.time_ticks(), 42);
        assert_eq!(r.severity(), Severity::WARN);
        assert_eq!(r.event_name(), "order.rejected");
        assert_eq!(r.body(), Some(ValueRef::Str("limit exceeded")));
        assert_eq!(r.scope(), "svc");
        let got: Vec<_> = r.attributes().collect();
        assert_eq!(
            got,
            [
                ("user", ValueRef::Str("alice")),
                ("qty", ValueRef::I64(7)),
                ("ok", ValueRef::Bool(true))
            ]
        );
        let sc = r.span_context().expect("a span was current");
        assert_eq!(sc.trace_id, TraceId::from_words([1, 2]));
        assert_eq!(sc.span_id, SpanId::from_word(3));
        assert_eq!(loss, Loss::default());
    }

    #[test]
    fn too_many_attributes_and_long_strings_are_counted() {
        let mut r = LogRecord::EMPTY;
        let mut loss = Loss::default();
        let long = "x".repeat(ARENA_BYTES + 10);
        let attrs = [("k", Value::from(1)); MAX_LOG_ATTRS + 3];
        r.write(
            1,
            Severity::INFO,
            "",
            Value::copied(&long),
            &attrs,
            ([0; 2], 0, TraceFlags(0)),
            "svc",
            &mut loss,
        );
        assert_eq!(r.attributes().len(), MAX_LOG_ATTRS);
        assert_eq!(r.dropped_attributes_count(), 3);
        assert_eq!(loss.truncated, 1);
        match r.body() {
            Some(ValueRef::Str(s)) => assert_eq!(s.len(), ARENA_BYTES),
            other => panic!("body {other:?}"),
        }
        assert!(r.span_context().is_none());
    }
}
