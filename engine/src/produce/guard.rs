//! The guard for one open span, and the [`Producer`] calls that start one. The guard ends
//! its span when dropped.

use std::fmt::{self, Write as _};

use super::producer::{Opened, Parent, Producer, What, UNTRACKED};
use super::traceparent::{self, Traceparent};
use super::tracestate::TraceState;
use crate::model::callsite::Callsite;
use crate::model::ids::SpanContext;
use crate::model::record::{SpanKind, ARENA_BYTES};
use crate::model::value::{floor_char_boundary, Value};

impl Producer {
    /// Starts a span with a static name, child of the innermost open span (or a root).
    #[inline]
    pub fn span(&self, name: &'static str) -> Span<'_> {
        self.start(Value::str(name), Parent::Current)
    }

    /// Starts a span whose name is copied into the record (see [`crate::ARENA_BYTES`]).
    #[inline]
    pub fn span_copied(&self, name: &str) -> Span<'_> {
        self.start(Value::copied(name), Parent::Current)
    }

    /// Starts a span with an explicit choice of parent. `name` should be a string
    /// ([`Value::str`] or [`Value::copied`]); any other value gives a non-string name, which
    /// the drain reads as empty.
    #[inline]
    pub fn start(&self, name: Value<'_>, parent: Parent) -> Span<'_> {
        self.guard(self.open(What::Full(name), parent))
    }

    /// Starts a span from a [`Callsite`] (its name, kind, scope and keys), child of the
    /// innermost open span: the fast path. While it keeps to its callsite (values for its
    /// first [`crate::MAX_CALLSITE_KEYS`] keys given through [`Span::set_values`], scalars and
    /// static strings), it is a 128-byte compact record; anything else set on it (another
    /// attribute, an event, an error, a copied string) turns it into a full record, losing
    /// nothing.
    ///
    /// # Examples
    /// ```
    /// use ringspan::{callsite, Discard, Engine, EngineConfig, Value};
    /// let engine = Engine::start(EngineConfig::default().rings(1).ring_capacity(64), Discard::default()).unwrap();
    /// let p = engine.producer().unwrap();
    /// for id in 0..3 {
    ///     let mut span = p.span_at(callsite!("match_order", "order.id", "side"));
    ///     span.set_values(&[Value::i64(id), Value::str("buy")]);
    /// }
    /// drop(p);
    /// assert_eq!(engine.shutdown(std::time::Duration::from_secs(1)).unwrap().delivered, 3);
    /// ```
    #[inline]
    pub fn span_at(&self, callsite: &'static Callsite) -> Span<'_> {
        self.guard(self.open(What::Compact(callsite), Parent::Current))
    }

    /// [`Producer::span_at`] with an explicit choice of parent.
    #[inline]
    pub fn start_at(&self, callsite: &'static Callsite, parent: Parent) -> Span<'_> {
        self.guard(self.open(What::Compact(callsite), parent))
    }

    #[inline(always)]
    fn guard(&self, opened: Opened) -> Span<'_> {
        let Opened { depth, recording } = opened;
        Span {
            producer: self,
            depth,
            recording,
        }
    }
}

/// An open span. Set attributes, events and status on it; it ends when dropped (or with
/// [`Span::end`]). Borrowing its [`Producer`], it stays on the producer's thread.
///
/// Every setter is a no-op on a span that is not recording (unsampled, or dropped at start),
/// so instrumented code never needs to branch on sampling.
///
/// # Examples
/// ```
/// use ringspan::{Discard, Engine, EngineConfig, SpanKind, Value};
/// let engine = Engine::start(EngineConfig::default().rings(1).ring_capacity(64), Discard::default()).unwrap();
/// let p = engine.producer().unwrap();
/// let mut span = p.span("GET /orders");
/// span.set_kind(SpanKind::Server)
///     .set_attrs(&[("http.request.method", Value::str("GET")), ("http.response.status_code", Value::i64(200))])
///     .add_event("cache.miss", &[("key", Value::copied("orders:42"))]);
/// let header = span.traceparent(); // send to the next service
/// assert_eq!(header.as_str().len(), 55);
/// span.end();
/// ```
#[must_use = "a span ends as soon as its guard is dropped"]
pub struct Span<'p> {
    producer: &'p Producer,
    depth: usize,
    recording: bool,
}

impl fmt::Debug for Span<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Span")
            .field("context", &self.context())
            .field("recording", &self.recording)
            .finish()
    }
}

impl Span<'_> {
    /// Whether this span will be exported (sampled, and not dropped at start).
    #[inline(always)]
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// The span's context, for children in other processes. (A span dropped because the
    /// producer's stack was full reports its would-be parent's context.)
    pub fn context(&self) -> SpanContext {
        self.producer.frame_context(self.depth)
    }

    /// The W3C `traceparent` header for this span.
    pub fn traceparent(&self) -> Traceparent {
        traceparent::format(&self.context())
    }

    /// Sets the span kind (default [`SpanKind::Internal`]).
    #[inline]
    pub fn set_kind(&mut self, kind: SpanKind) -> &mut Self {
        if self.recording {
            self.producer.edit_either(
                self.depth,
                |c| {
                    c.set_kind(kind);
                    true
                },
                |r, _| r.set_kind(kind),
            );
        }
        self
    }

    /// Sets values for the keys of the span's [`Callsite`], in order, continuing after the
    /// values already set (see [`Producer::span_at`]). Values past the callsite's last key are
    /// dropped and counted in `dropped_attributes_count`; on a span started without a
    /// callsite every value is.
    #[inline]
    pub fn set_values(&mut self, values: &[Value<'_>]) -> &mut Self {
        if self.recording {
            self.producer.set_values(self.depth, values);
        }
        self
    }

    /// Adds one attribute. Past [`crate::MAX_ATTRS`] it is dropped and counted in the
    /// span's `dropped_attributes_count`.
    #[inline]
    pub fn set_attr<'v>(&mut self, key: &'static str, value: impl Into<Value<'v>>) -> &mut Self {
        if self.recording {
            let value = value.into();
            self.producer
                .edit(self.depth, |r, loss, _| r.push_attr(key, value, loss));
        }
        self
    }

    /// Adds several attributes in one call (one trip into the producer instead of one each).
    #[inline]
    pub fn set_attrs(&mut self, attrs: &[(&'static str, Value<'_>)]) -> &mut Self {
        if self.recording {
            self.producer
                .edit(self.depth, |r, loss, _| r.push_attrs(attrs, loss));
        }
        self
    }

    /// Adds an event stamped now, with up to [`crate::MAX_EVENT_ATTRS`] attributes.
    #[inline]
    pub fn add_event(
        &mut self,
        name: &'static str,
        attrs: &[(&'static str, Value<'_>)],
    ) -> &mut Self {
        if self.recording {
            self.producer.edit(self.depth, |r, loss, clock| {
                r.push_event(name, clock.now(), attrs, loss)
            });
        }
        self
    }

    /// Links this span to another one (a message's producer span, a member of the batch this
    /// span handles), with up to [`crate::MAX_LINK_ATTRS`] attributes. Links share the
    /// record's [`crate::MAX_EVENTS`] entries with events; a link that finds them taken is
    /// counted in the span's `dropped_links_count`.
    #[inline]
    pub fn add_link(&mut self, to: SpanContext, attrs: &[(&'static str, Value<'_>)]) -> &mut Self {
        self.add_link_with_state(to, &TraceState::EMPTY, attrs)
    }

    /// [`Self::add_link`] to a span whose context came with a `tracestate`, kept with the link.
    pub fn add_link_with_state(
        &mut self,
        to: SpanContext,
        trace_state: &TraceState,
        attrs: &[(&'static str, Value<'_>)],
    ) -> &mut Self {
        if self.recording {
            self.producer.edit(self.depth, |r, loss, _| {
                r.push_link(&to, trace_state.members(), attrs, loss)
            });
        }
        self
    }

    /// Sets the span's `tracestate` (exported as OTLP's `trace_state`): the one that came with
    /// its remote parent. It is copied into the record member by member; a member that does
    /// not fit the record's strings is left out whole and counted as a truncated string.
    /// Spans of this process started under this one do not repeat it: forward
    /// [`TraceState::as_str`] yourself with their `traceparent`.
    pub fn set_trace_state(&mut self, trace_state: &TraceState) -> &mut Self {
        if self.recording {
            self.producer.edit(self.depth, |r, loss, _| {
                r.set_trace_state(trace_state.members(), loss)
            });
        }
        self
    }

    /// Marks the span successful. Final: later statuses are ignored, as the spec asks.
    #[inline]
    pub fn set_ok(&mut self) -> &mut Self {
        if self.recording {
            self.producer.edit_either(
                self.depth,
                |c| {
                    c.set_ok();
                    true
                },
                |r, loss| r.set_status(true, Value::str(""), loss),
            );
        }
        self
    }

    /// Marks the span failed with a description (a string [`Value`]).
    #[inline]
    pub fn set_error<'v>(&mut self, description: impl Into<Value<'v>>) -> &mut Self {
        if self.recording {
            let d = description.into();
            self.producer
                .edit(self.depth, |r, loss, _| r.set_status(false, d, loss));
        }
        self
    }

    /// Records `error` the OpenTelemetry way: an `exception` event with `exception.type` and
    /// `exception.message`, and an error status with the message. The message is formatted
    /// into a stack buffer of [`crate::ARENA_BYTES`] bytes (no allocation) and cut at a
    /// character boundary if longer.
    pub fn record_error<E: std::error::Error + ?Sized>(&mut self, error: &E) -> &mut Self {
        if self.recording {
            with_exception(error, |attrs, message| {
                self.add_event("exception", attrs);
                self.set_error(message);
            });
        }
        self
    }

    /// Ends the span now (the same as dropping the guard).
    #[inline]
    pub fn end(self) {}
}

impl Drop for Span<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.depth != UNTRACKED {
            self.producer.finish(self.depth, self.recording);
        }
    }
}

/// Formats `error` into a stack buffer (no allocation; cut at a character boundary past
/// [`ARENA_BYTES`]) and hands `f` the OpenTelemetry `exception` event's attributes
/// (`exception.type`, `exception.message`) and the status message.
pub(crate) fn with_exception<E: std::error::Error + ?Sized>(
    error: &E,
    f: impl FnOnce(&[(&'static str, Value<'_>)], Value<'_>),
) {
    let mut buf = StackText::new();
    let _ = write!(buf, "{error}");
    let msg = buf.as_str();
    f(
        &[
            ("exception.type", Value::str(std::any::type_name::<E>())),
            ("exception.message", Value::copied(msg)),
        ],
        Value::copied(msg),
    );
}

/// A fixed buffer that `write!` can fill without allocating; what does not fit is cut at a
/// character boundary.
pub(crate) struct StackText {
    buf: [u8; ARENA_BYTES],
    len: usize,
    /// Whether something written did not fit.
    cut: bool,
}

impl StackText {
    pub(crate) fn new() -> Self {
        StackText {
            buf: [0; ARENA_BYTES],
            len: 0,
            cut: false,
        }
    }

    /// Whether the text was cut short.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn was_cut(&self) -> bool {
        self.cut
    }

    pub(crate) fn as_str(&self) -> &str {
        // SAFETY: `write_str` only appends whole `&str` prefixes cut at char boundaries.
        unsafe { std::str::from_utf8_unchecked(&self.buf[..self.len]) }
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = floor_char_boundary(s, self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        self.cut |= n < s.len();
        Ok(())
    }
}
