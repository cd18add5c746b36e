//! Travelling spans: spans that are `Send`, can be held across `.await`, and end on any
//! thread.
//!
//! A [`Span`](crate::Span) guard borrows its thread's producer, so it cannot cross an `.await`
//! (a task may resume on another worker). A [`TravelSpan`] owns its open record instead: one
//! of a fixed pool of preallocated records ([`crate::EngineConfig::travel_spans`], taken and
//! given back lock-free: `pool.rs`). When it ends, on whichever thread, its record is copied
//! into that thread's ring (its producer from [`crate::Engine::with_local`]) and the record
//! goes back to the pool. No allocation on any of it, and no lock.
//!
//! - Start one with [`crate::Engine::travel`] (child of the thread's innermost open span or
//!   entered context) or [`crate::Engine::start_travel`] (an explicit parent: a `traceparent`
//!   from another process, or another span's [`TravelSpan::context`]).
//! - Make it the parent of what runs inside a future with [`TravelSpan::in_span`]
//!   ([`InSpan`]): while the future is polled, on any worker, its context is entered on that
//!   thread's local producer ([`crate::Engine::with_local`]), so travelling spans and native
//!   spans started there inside are its children. The span ends when the future completes
//!   (or is dropped). A thread's own pinned producer is a different one (and a different
//!   ring): travelling spans neither see its open spans nor parent its spans.
//! - [`TravelSpan::enter`] does the same for a synchronous section.
//! - [`crate::Engine::travel_at`] starts one from a [`crate::Callsite`], with a compact record
//!   from a second pool of the same size while it keeps to its callsite (`compact.rs`).
//!
//! Accounting: a sampled travelling span counts as recorded when it ends, on the ring of the
//! thread that ends it, as any span there (`ring_full`, `no_ring`, `shutdown` apply). One that
//! finds every record taken when it starts (or, from a callsite, no full record free when it
//! outgrows its compact one) is recorded and dropped at once as `dropped.travel_pool_full`;
//! it still has a context, so its children keep the trace. A travelling span that is leaked
//! (`mem::forget`), or whose end panics half-way, keeps its record for good: the pool shrinks
//! by one, and the span is never counted (it never ended).

mod compact;
mod future;
pub(crate) mod keepalive;
pub(crate) mod pool;
mod pool_ref;

pub(crate) use pool_ref::PoolRef;

pub use future::InSpan;

use super::local;
use super::traceparent::{self, Traceparent};
use super::tracestate::TraceState;
use crate::model::callsite::Callsite;
use crate::model::ids::SpanContext;
use crate::model::record::{Loss, SpanKind, SpanRecord};
use crate::model::value::Value;

/// `TravelSpan::slot` (or `compact`) of a span that holds no record of that kind (unsampled,
/// the pool was empty, a span started from a callsite not promoted yet, or promoted).
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// A span that can cross `.await` points and threads. See the module docs.
///
/// # Examples
/// ```
/// use ringspan::{Discard, Engine, EngineConfig, Value};
/// let engine = Engine::start(EngineConfig::default().rings(2).ring_capacity(64), Discard::default()).unwrap();
/// let mut span = engine.travel("order.route");
/// span.set_attr("order.id", 42);
/// let parent = span.context();
/// std::thread::scope(|s| {
///     s.spawn(move || {
///         // Ends on another thread, into that thread's ring.
///         span.set_attr("venue", Value::str("XNAS"));
///     });
/// });
/// let child = engine.start_travel(Value::str("order.fill"), ringspan::Parent::Context(parent));
/// assert_eq!(child.context().trace_id, parent.trace_id);
/// drop(child);
/// assert_eq!(engine.shutdown(std::time::Duration::from_secs(1)).unwrap().delivered, 2);
/// ```
#[must_use = "a travelling span ends as soon as it is dropped"]
pub struct TravelSpan {
    /// Its engine's pool, kept alive by a reference counted in batches (`keepalive.rs`).
    pub(crate) pool: PoolRef,
    /// Its full record in `pool.travel`, or [`NO_SLOT`].
    pub(crate) slot: u32,
    /// Its compact record in `pool.travel_compact` (a span started from a callsite that has
    /// kept to it so far: `compact.rs`), or [`NO_SLOT`]. A span holds one record at most.
    pub(crate) compact: u32,
    /// The callsite it was started from, if any, and how many values were set for its keys
    /// (up to 255) once it holds a full record: from the compact record's count when it was
    /// promoted (until then that record counts them).
    pub(crate) callsite: Option<&'static Callsite>,
    pub(crate) values: u8,
    pub(crate) context: SpanContext,
    /// Strings cut short so far, counted on the ring it ends into.
    pub(crate) truncated: u32,
}

impl std::fmt::Debug for TravelSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TravelSpan")
            .field("context", &self.context)
            .field("recording", &self.is_recording())
            .finish()
    }
}

impl TravelSpan {
    /// Whether it will be exported (sampled, and it got a record).
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.slot != NO_SLOT || self.compact != NO_SLOT
    }

    /// Its context: to start children elsewhere ([`crate::Parent::Context`]) or to send on.
    #[inline]
    pub fn context(&self) -> SpanContext {
        self.context
    }

    /// Its W3C `traceparent` header value.
    pub fn traceparent(&self) -> Traceparent {
        traceparent::format(&self.context)
    }

    /// Runs `f` on its full record (a compact one is promoted first), if it has one,
    /// counting strings cut short.
    #[inline]
    pub(crate) fn edit(
        &mut self,
        f: impl FnOnce(&mut SpanRecord, &mut Loss, &crate::clock::Clock),
    ) {
        if self.compact != NO_SLOT {
            self.promote();
        }
        if self.slot == NO_SLOT {
            return;
        }
        // SAFETY: this span holds `slot` (taken at its start or promotion, given back only
        // when it ends or is dropped as full or unsampled, each of which clears `slot`), and
        // `&mut self` makes this the only reference into it.
        let rec = unsafe { self.pool.travel.slot(self.slot) };
        let mut loss = Loss::default();
        f(rec, &mut loss, &self.pool.clock);
        self.truncated = self.truncated.saturating_add(loss.truncated);
    }

    /// Sets the span kind (default [`SpanKind::Internal`]).
    pub fn set_kind(&mut self, kind: SpanKind) -> &mut Self {
        self.edit_either(
            |c| {
                c.set_kind(kind);
                true
            },
            |r, _, _| r.set_kind(kind),
        );
        self
    }

    /// Adds one attribute (past [`crate::MAX_ATTRS`], dropped and counted).
    pub fn set_attr<'v>(&mut self, key: &'static str, value: impl Into<Value<'v>>) -> &mut Self {
        let value = value.into();
        self.edit(|r, loss, _| r.push_attr(key, value, loss));
        self
    }

    /// Adds several attributes in one call.
    pub fn set_attrs(&mut self, attrs: &[(&'static str, Value<'_>)]) -> &mut Self {
        self.edit(|r, loss, _| r.push_attrs(attrs, loss));
        self
    }

    /// Adds an event stamped now, with up to [`crate::MAX_EVENT_ATTRS`] attributes.
    pub fn add_event(
        &mut self,
        name: &'static str,
        attrs: &[(&'static str, Value<'_>)],
    ) -> &mut Self {
        self.edit(|r, loss, clock| r.push_event(name, clock.now(), attrs, loss));
        self
    }

    /// Links this span to another one, as [`crate::Span::add_link`].
    pub fn add_link(&mut self, to: SpanContext, attrs: &[(&'static str, Value<'_>)]) -> &mut Self {
        self.add_link_with_state(to, &TraceState::EMPTY, attrs)
    }

    /// As [`crate::Span::add_link_with_state`].
    pub fn add_link_with_state(
        &mut self,
        to: SpanContext,
        trace_state: &TraceState,
        attrs: &[(&'static str, Value<'_>)],
    ) -> &mut Self {
        self.edit(|r, loss, _| r.push_link(&to, trace_state.members(), attrs, loss));
        self
    }

    /// Sets the span's `tracestate`, as [`crate::Span::set_trace_state`].
    pub fn set_trace_state(&mut self, trace_state: &TraceState) -> &mut Self {
        self.edit(|r, loss, _| r.set_trace_state(trace_state.members(), loss));
        self
    }

    /// Marks the span successful (final, as for [`crate::Span::set_ok`]).
    pub fn set_ok(&mut self) -> &mut Self {
        self.edit_either(
            |c| {
                c.set_ok();
                true
            },
            |r, loss, _| r.set_status(true, Value::str(""), loss),
        );
        self
    }

    /// Marks the span failed with a description (a string [`Value`]).
    pub fn set_error<'v>(&mut self, description: impl Into<Value<'v>>) -> &mut Self {
        let d = description.into();
        self.edit(|r, loss, _| r.set_status(false, d, loss));
        self
    }

    /// Records `error` as [`crate::Span::record_error`] does: an `exception` event and an
    /// error status, the message formatted into a stack buffer (no allocation).
    pub fn record_error<E: std::error::Error + ?Sized>(&mut self, error: &E) -> &mut Self {
        if self.is_recording() {
            crate::produce::guard::with_exception(error, |attrs, message| {
                self.add_event("exception", attrs);
                self.set_error(message);
            });
        }
        self
    }

    /// Wraps `future` so that this span is the current one while it is polled, on whatever
    /// thread polls it; the span ends when the future completes or is dropped.
    ///
    /// # Examples
    /// ```
    /// use ringspan::{Discard, Engine, EngineConfig};
    /// use std::future::Future;
    /// use std::task::{Context, Poll, Waker};
    /// let engine = Engine::start(EngineConfig::default().rings(2).ring_capacity(64), Discard::default()).unwrap();
    /// let fut = engine.travel("request").in_span(async {
    ///     // A child of "request", whichever thread runs this.
    ///     let _step = engine.travel("request.step");
    /// });
    /// let mut fut = std::pin::pin!(fut);
    /// assert!(fut.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready());
    /// assert_eq!(engine.shutdown(std::time::Duration::from_secs(1)).unwrap().delivered, 2);
    /// ```
    pub fn in_span<F: std::future::Future>(self, future: F) -> InSpan<F> {
        InSpan::new(self, future)
    }

    /// Runs `f` with this span as the current one on this thread: spans started inside
    /// through [`crate::Engine::travel`] or on the thread's local producer
    /// ([`crate::Engine::with_local`]) are its children. (A producer the thread holds itself,
    /// from [`crate::Engine::pin`] or [`crate::Engine::producer`], is another producer: its
    /// spans do not see the context.)
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        let cx = self.context;
        self.pool.with_arc(|pool| {
            local::with_local(pool, |p| {
                let _entered = p.enter(cx);
                f()
            })
        })
    }

    /// Gives its record back unpublished and counts it as `travel_pool_full`: for a front
    /// end that has nowhere to keep the span open (the `tracing` layer's table is full).
    #[cfg(feature = "tracing")]
    pub(crate) fn drop_as_full(mut self) {
        let slot = std::mem::replace(&mut self.slot, NO_SLOT);
        let compact = std::mem::replace(&mut self.compact, NO_SLOT);
        if slot != NO_SLOT {
            // SAFETY: this span held `slot` until now, and holds no reference into it.
            unsafe { self.pool.travel.give_back(slot) };
            self.pool.count_travel_full();
        } else if compact != NO_SLOT {
            // SAFETY: as above, for the compact pool (the layer's spans have full records,
            // but nothing here depends on it).
            unsafe { self.pool.travel_compact.give_back(compact) };
            self.pool.count_travel_full();
        }
    }

    /// Ends the span now (the same as dropping it).
    pub fn end(self) {}

    /// Ends the span at `end` (clock ticks), for a front end given the end time.
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn end_at(mut self, end: u64) {
        if self.is_recording() {
            self.finish(end);
        }
    }

    /// Publishes the record, ended at `end`, into this thread's ring; the span holds no
    /// record afterwards.
    fn finish(&mut self, end: u64) {
        let slot = std::mem::replace(&mut self.slot, NO_SLOT);
        let compact = std::mem::replace(&mut self.compact, NO_SLOT);
        if compact != NO_SLOT {
            // SAFETY: as below, for the compact record.
            unsafe { self.pool.travel_compact.slot(compact) }.set_end(end);
        } else {
            // SAFETY: this span held `slot`, and no other reference into it is alive; this
            // one ends with the statement.
            unsafe { self.pool.travel.slot(slot) }.set_end(end);
        }
        let truncated = self.truncated;
        // The pool reference goes back to the same producer, in the same call.
        let counted = self.pool.hand_back();
        self.pool.with_arc(|pool| {
            local::with_local(pool, |p| {
                // SAFETY: handed over to the producer, which publishes it and keeps or gives
                // it back; no reference into it is alive.
                unsafe {
                    if compact != NO_SLOT {
                        p.end_travel_compact(compact, counted);
                    } else {
                        p.end_travel(slot, truncated, counted);
                    }
                }
            })
        });
    }
}

impl Drop for TravelSpan {
    fn drop(&mut self) {
        if self.is_recording() {
            self.finish(self.pool.clock.now());
        }
    }
}
