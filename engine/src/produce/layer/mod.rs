//! The `tracing` front end (cargo feature `tracing`): a `tracing-subscriber` [`Layer`] that
//! records `tracing` spans as ringspan spans.
//!
//! Each `tracing` span is a [`TravelSpan`]: its record comes from the engine's travel pool
//! when it starts, on whichever thread, and it is written into the ring of the thread that
//! closes it. The layer keeps it in a [`SpanTable`] keyed by the `tracing` span id, allocated
//! once when the layer is made, and puts nothing in the Registry's extensions (each insert
//! there is a `Box`): on the sampled path the layer allocates nothing, and the Registry's own
//! allocations are all there are.
//!
//! - **Names and fields**: the span's name and field names are the `&'static str` of its
//!   callsite's `Metadata`, stored as such. Field values as `fields.rs` says (typed values
//!   stay typed; `Debug` values are formatted into the record; `otel.name`, `otel.kind`,
//!   `otel.status_code`, `otel.status_description` and errors as tracing-opentelemetry
//!   takes them).
//! - **Events** inside a span become span events (`fields.rs`); events outside any `tracing`
//!   span become log records (`logs.rs`), under the ringspan span current on the thread, if
//!   any.
//! - **Parents**: an explicit parent (`parent: &span`), else for a contextual span the
//!   innermost of this thread's entered `tracing` spans and ringspan spans (an entered
//!   `tracing` span is entered as a context on the thread's local producer, as
//!   [`TravelSpan::enter`] does, so a native span started inside through
//!   [`crate::Engine::with_local`] is its child, and a `tracing` span started inside a native
//!   one is that one's child); `parent: None` makes a root. An explicit parent the layer does
//!   not know (filtered out for this layer, or not kept: see below) makes a root.
//! - **Across processes**: [`TracingSpanExt`] reads a span's context (to send a
//!   `traceparent` on) and gives a span a remote parent (from a received one).
//! - **Sampling** is decided at the root by the engine's sampler; an unsampled span records
//!   nothing and skips its fields, but keeps its context for its children.
//! - **Filtering**: with `EnvFilter` (or any filter, global or per layer) a disabled span or
//!   event never reaches the layer: it costs nothing here and records nothing.
//!
//! Losing nothing silently: a sampled span that finds no free travel record, or no free
//! entry in the layer's table (its [`MAX_PROBE`](crate::produce::span_table::MAX_PROBE)
//! entries all taken), is counted as `dropped.travel_pool_full` (its children then start
//! their own trace when they name it as parent explicitly; an unsampled span that finds no
//! entry is not counted, being unsampled, and its explicit children are then sampled as
//! roots). A field or event that arrives while another thread writes the same span (two
//! threads recording one span at the same instant) is not waited for: it is counted on the
//! span as a dropped attribute or event (`Span::record` counts every field it carried).
//! `follows_from` becomes a span link to the span followed (its context as the layer keeps
//! it); one the layer does not keep is counted as a dropped link.
//!
//! What the layer cannot account for: a span entered and never exited on its thread
//! (`mem::forget` of an `Entered` guard) is never closed by the Registry, so its record is
//! held for good and it is never counted; and its context stays entered on that thread's
//! producer, parenting every later span started there. An entered span re-entered when the
//! thread's stack of open spans is full ([`crate::MAX_DEPTH`]) leaves the stack at its first
//! exit. An event sent with `parent:` an id whose span closes at the same instant (an `Id`
//! holds no reference) may be counted as missed on the span that takes its table entry next.

mod ext;
mod fields;
mod logs;

pub use ext::TracingSpanExt;

use std::num::NonZeroU64;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use self::fields::{EventFields, SpanFields};
use super::local;
use super::pool::Pool;
use super::producer::{Parent, Producer};
use super::span_table::SpanTable;
use super::travel::TravelSpan;
use crate::model::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::value::Value;
use crate::sync::Arc;

/// What a missed write costs the span: attributes in the low 32 bits, events in the next 16,
/// links in the top 16. The table adds costs with one atomic add, so a lane does not
/// saturate: past 65 535 missed events (or links, or 2^32 - 1 missed fields) on one span, its
/// count carries into the next lane. Each miss takes two threads writing one span at the same
/// instant; no real span comes near.
const MISSED_EVENT: u64 = 1 << 32;
const MISSED_LINK: u64 = 1 << 48;

/// The `tracing` front end: see the module docs. Make one with
/// [`crate::Engine::tracing_layer`] and add it to a `tracing_subscriber::registry()`.
///
/// # Examples
/// ```
/// use ringspan::{Discard, Engine, EngineConfig};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let engine = Engine::start(EngineConfig::default().rings(2).ring_capacity(64), Discard::default()).unwrap();
/// let subscriber = tracing_subscriber::registry().with(engine.tracing_layer());
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("order.route", order.id = 7_i64, venue = "XNAS");
///     let _entered = span.enter();
///     tracing::info!(qty = 100_i64, "routed");
/// });
/// assert_eq!(engine.shutdown(std::time::Duration::from_secs(1)).unwrap().delivered, 1);
/// ```
pub struct TracingLayer {
    pool: Arc<Pool>,
    /// The open spans by `tracing` id: the header is the span's context (`encode`).
    spans: SpanTable<TravelSpan>,
}

impl std::fmt::Debug for TracingLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracingLayer")
            .field("open", &self.spans.len())
            .field("capacity", &self.spans.capacity())
            .finish()
    }
}

/// A context as the table's four header words.
fn encode(cx: &SpanContext) -> [u64; 4] {
    let [hi, lo] = cx.trace_id.words();
    [hi, lo, cx.span_id.word(), u64::from(cx.flags.0)]
}

fn decode(h: [u64; 4]) -> SpanContext {
    SpanContext {
        trace_id: TraceId::from_words([h[0], h[1]]),
        span_id: SpanId::from_word(h[2]),
        flags: TraceFlags(h[3] as u8),
        is_remote: false,
    }
}

fn key(id: &Id) -> NonZeroU64 {
    id.into_non_zero_u64()
}

impl TracingLayer {
    /// A layer whose table holds `capacity` open `tracing` spans (sampled or not; rounded up
    /// to a power of two). Allocates the table (128 bytes an entry), once.
    pub(crate) fn new(pool: Arc<Pool>, capacity: usize) -> Self {
        TracingLayer {
            pool,
            spans: SpanTable::new(capacity),
        }
    }

    /// `tracing` spans open now that the layer keeps.
    pub fn open_spans(&self) -> usize {
        self.spans.len()
    }

    /// The context of the `tracing` span `id`, if the layer keeps it.
    pub fn context(&self, id: &Id) -> Option<SpanContext> {
        self.spans.header(key(id)).map(decode)
    }

    /// Makes `cx` the parent of the open `tracing` span `id` (named `name`); see
    /// [`crate::TracingSpanExt::set_parent`]. Returns whether the layer keeps that span and
    /// another thread was not writing it at that instant.
    pub(crate) fn set_parent(&self, id: &Id, cx: SpanContext, name: &'static str) -> bool {
        // The header is rewritten while the entry is held, so two `set_parent` calls at once
        // leave the header and the record in the same trace.
        self.spans
            .with(key(id), 0, |span| {
                local::with_local(&self.pool, |p| p.reparent_travel(span, cx, name));
                self.spans.set_header(key(id), encode(&span.context()))
            })
            .unwrap_or(false)
    }

    /// The parent of a new span, for a producer `p` of this thread (see the module docs).
    fn parent<S>(&self, attrs: &Attributes<'_>, ctx: &Context<'_, S>, p: &Producer) -> Parent
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if let Some(parent) = attrs.parent() {
            return match self.context(parent) {
                Some(cx) => Parent::Context(cx),
                None => Parent::Root,
            };
        }
        if attrs.is_root() {
            return Parent::Root;
        }
        // Contextual: this thread's innermost entered span, `tracing` or native, is on the
        // local producer. If that holds none while the Registry has a current span (a span
        // entered while the engine was shutting down, whose context had no producer to go
        // on), the Registry's current span.
        if p.has_current() {
            return Parent::Current;
        }
        ctx.current_span()
            .id()
            .and_then(|id| self.context(id))
            .map_or(Parent::Current, Parent::Context)
    }
}

impl<S> Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let mut span = local::with_local(&self.pool, |p| {
            p.start_travel(Value::str(meta.name()), self.parent(attrs, &ctx, p))
        });
        if span.is_recording() {
            span.edit(|rec, loss, _| attrs.record(&mut SpanFields { rec, loss }));
        }
        let header = encode(&span.context());
        if let Err(span) = self.spans.insert(key(id), header, span) {
            span.drop_as_full();
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let _ = self.spans.with(key(id), values.len() as u64, |span| {
            if span.is_recording() {
                span.edit(|rec, loss, _| values.record(&mut SpanFields { rec, loss }));
            }
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            // Outside any `tracing` span: a log record (`logs.rs`).
            let mut rec = crate::model::log::LogRecord::EMPTY;
            let loss = logs::read(event, &mut rec);
            local::with_local(&self.pool, |p| p.emit_built(&rec, loss));
            return;
        };
        let id = span.id();
        let meta = event.metadata();
        let _ = self.spans.with(key(&id), MISSED_EVENT, |span| {
            span.edit(|rec, loss, clock| {
                let Some(e) = rec.open_event(meta.name(), clock.now()) else {
                    return;
                };
                rec.push_event_attr(e, "level", Value::str(meta.level().as_str()), loss);
                let mut fields = EventFields {
                    rec,
                    loss,
                    event: e,
                    named: false,
                };
                event.record(&mut fields);
                if *meta.level() == Level::ERROR && !fields.rec.has_status() {
                    fields.rec.set_status(false, Value::str(""), fields.loss);
                }
            });
        });
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, _ctx: Context<'_, S>) {
        let to = self.context(follows);
        let _ = self.spans.with(key(id), MISSED_LINK, |span| {
            span.edit(|rec, loss, _| match &to {
                Some(cx) => rec.push_link(cx, std::iter::empty(), &[], loss),
                // The span it follows is not kept by the layer (filtered out, or dropped).
                None => rec.count_dropped_links(1),
            });
        });
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        if let Some(cx) = self.context(id) {
            local::with_local(&self.pool, |p| p.enter_context(cx));
        }
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        if let Some(cx) = self.context(id) {
            local::with_local(&self.pool, |p| p.leave_context(cx.span_id));
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        let Some((mut span, missed)) = self.spans.remove(key(&id)) else {
            return;
        };
        if missed != 0 {
            span.edit(|rec, _, _| {
                rec.count_dropped_attrs(missed as u32); // the low word
                rec.count_dropped_events((missed / MISSED_EVENT) as u32 & 0xffff);
                rec.count_dropped_links((missed / MISSED_LINK) as u32);
            });
        }
        // Ends here: written into this thread's ring.
        drop(span);
    }
}
