//! The `opentelemetry` front end (cargo feature `opentelemetry`): the opentelemetry 0.33 trace
//! API (`TracerProvider`, `Tracer`, `Span`) over ringspan, so code written against that API
//! records into the rings and exports through the same pipeline.
//!
//! - An API span is a [`TravelSpan`](crate::TravelSpan) (`Send` and `Sync`, as the API
//!   wants): its record comes from the travel pool, and it is written into the ring of the
//!   thread that ends it (or drops it: an API span ends when dropped, as the SDK's does).
//! - **Parents** come from the `Context` given to the tracer (`Tracer::start` uses
//!   `Context::current()`): its span's context when valid, local or remote (a context the
//!   W3C `TraceContextPropagator` extracted); without one, ringspan's own current span on this
//!   thread (a native or travelling span entered there), else a root. An API span in a
//!   `Context` is the parent of API spans started in it; a native ringspan span started
//!   meanwhile does not see the `Context` (take `Parent::Context` from the API span's
//!   context for that).
//! - **Sampling** is ringspan's sampler, decided at the root (the SDK's `Sampler` is not
//!   involved); an unsampled span records nothing and keeps its context for its children.
//! - **What is kept**: the builder's name, kind, start time, attributes and events; later
//!   attributes, events (with their timestamps), status (`Ok` final, as the spec says), name
//!   updates, `end_with_timestamp`. Keys are interned once per process (`keys.rs`: the API's
//!   `Key` does not say whether it is static) and stored as native keys are; string values
//!   are copied into the record's arena, bounded and counted as for every record; array
//!   values are dropped and counted as dropped attributes (a record holds no arrays).
//! - **Links** (from the builder or `add_link`) are kept with their context, `tracestate`
//!   and attributes, within the record's limits (events and links share
//!   [`MAX_EVENTS`](crate::MAX_EVENTS) entries, [`MAX_LINK_ATTRS`](crate::MAX_LINK_ATTRS)
//!   attributes each; the rest counted). The **`tracestate`** of a span is its parent's, as
//!   in the SDK: carried in the API span's `SpanContext` (so the propagator forwards it) and
//!   copied into the record for export.
//! - **Not kept**: the scope's version and attributes. The scope's name is kept: names are interned once per distinct name (the
//!   API does not say whether one is `'static`; at most [`MAX_SCOPES`], past that the
//!   engine's default scope).

mod keys;
mod span;

pub use keys::MAX_KEY_BYTES;

pub use span::OtelSpan;

use std::borrow::Cow;
use std::sync::Mutex;
use std::time::SystemTime;

use opentelemetry::trace::{self as api, TraceContextExt as _};
use opentelemetry::{Context, InstrumentationScope, KeyValue};

use super::local;
use super::pool::Pool;
use super::producer::Parent;
use crate::model::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::record::{Loss, SpanKind, SpanRecord};
use crate::model::value::Value;
use crate::sync::Arc;

/// Distinct scope names tracers keep (each copied and leaked once).
pub const MAX_SCOPES: usize = 256;

/// The `opentelemetry` API's `TracerProvider` over an engine; get one from
/// [`crate::Engine::otel_tracer_provider`]. Cheap to clone.
///
/// # Examples
/// ```
/// use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
/// use opentelemetry::KeyValue;
/// use ringspan::{Discard, Engine, EngineConfig};
///
/// let engine = Engine::start(EngineConfig::default().rings(2).ring_capacity(64), Discard::default()).unwrap();
/// let tracer = engine.otel_tracer_provider().tracer("checkout");
/// let mut span = tracer.start("charge card");
/// span.set_attribute(KeyValue::new("amount", 42));
/// span.end();
/// assert_eq!(engine.shutdown(std::time::Duration::from_secs(1)).unwrap().delivered, 1);
/// ```
#[derive(Clone)]
pub struct OtelTracerProvider {
    pool: Arc<Pool>,
    ns_per_tick: f64,
}

impl std::fmt::Debug for OtelTracerProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelTracerProvider").finish_non_exhaustive()
    }
}

impl OtelTracerProvider {
    pub(crate) fn new(pool: Arc<Pool>, ns_per_tick: f64) -> Self {
        OtelTracerProvider { pool, ns_per_tick }
    }
}

/// `name` as a `&'static str`: interned once (leaked) among at most [`MAX_SCOPES`] names.
fn intern(name: &str) -> Option<&'static str> {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.iter().find(|n| **n == name) {
        return Some(n);
    }
    if names.len() == MAX_SCOPES {
        return None;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(leaked);
    Some(leaked)
}

impl api::TracerProvider for OtelTracerProvider {
    type Tracer = OtelTracer;

    fn tracer_with_scope(&self, scope: InstrumentationScope) -> OtelTracer {
        OtelTracer {
            pool: Arc::clone(&self.pool),
            ns_per_tick: self.ns_per_tick,
            scope: intern(scope.name()),
        }
    }
}

/// The `opentelemetry` API's `Tracer` over an engine (from [`OtelTracerProvider`]).
#[derive(Clone)]
pub struct OtelTracer {
    pool: Arc<Pool>,
    ns_per_tick: f64,
    /// Its scope's name, or `None` for the engine's default scope.
    scope: Option<&'static str>,
}

impl std::fmt::Debug for OtelTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelTracer")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A string as a [`Value`]: borrowed as `'static` when it is, else copied.
// The `Cow` itself is the point: its `Borrowed` case is a `&'static str` kept without a copy.
#[allow(clippy::ptr_arg)]
fn cow_value<'a>(s: &'a Cow<'static, str>) -> Value<'a> {
    match s {
        Cow::Borrowed(s) => Value::str(s),
        Cow::Owned(s) => Value::copied(s),
    }
}

/// An API value as a ringspan value, `None` for the kinds a record cannot hold (arrays).
#[inline]
fn value(v: &opentelemetry::Value) -> Option<Value<'_>> {
    match v {
        opentelemetry::Value::Bool(b) => Some(Value::bool(*b)),
        opentelemetry::Value::I64(i) => Some(Value::i64(*i)),
        opentelemetry::Value::F64(f) => Some(Value::f64(*f)),
        opentelemetry::Value::String(s) => Some(Value::copied(s.as_str())),
        _ => None,
    }
}

/// Appends `kv` to the span's attributes (an array counts as dropped): its key interned
/// (`keys.rs`), or copied once the process keeps too many.
// Always inline: called once per attribute, it cost more in its call frame than in its
// work (a plain `#[inline]` was dropped when the caller grew).
#[inline(always)]
fn push_kv(rec: &mut SpanRecord, kv: &KeyValue, loss: &mut Loss) {
    let Some(v) = value(&kv.value) else {
        return rec.count_dropped_attrs(1);
    };
    match keys::intern(kv.key.as_str()) {
        Some(key) => rec.push_attr(key, v, loss),
        None => rec.push_attr_keyed(kv.key.as_str(), v, loss),
    }
}

/// Appends a link to `cx` with its `tracestate` and attributes (an array counts as a dropped
/// attribute, as do those the API already dropped).
fn push_link(
    rec: &mut SpanRecord,
    cx: &api::SpanContext,
    attrs: &[KeyValue],
    dropped: u32,
    loss: &mut Loss,
) {
    let Some(e) = rec.open_link(&from_api(cx)) else {
        return;
    };
    rec.set_link_trace_state(e, cx.trace_state().into_iter(), loss);
    push_entry_attrs(rec, e, attrs, loss);
    if dropped > 0 {
        rec.count_dropped_entry_attrs(e, dropped);
    }
}

/// Appends `attrs` to entry `e` (an event or a link).
fn push_entry_attrs(rec: &mut SpanRecord, e: usize, attrs: &[KeyValue], loss: &mut Loss) {
    for kv in attrs {
        match (value(&kv.value), keys::intern(kv.key.as_str())) {
            (None, _) => rec.count_dropped_entry_attrs(e, 1),
            (Some(v), Some(key)) => rec.push_entry_attr(e, Value::str(key), v, loss),
            (Some(v), None) => rec.push_entry_attr(e, Value::copied(kv.key.as_str()), v, loss),
        }
    }
}

/// Appends an event at `time` (ticks) with its attributes.
#[allow(clippy::ptr_arg)] // as `cow_value`
fn push_event(
    rec: &mut SpanRecord,
    name: &Cow<'static, str>,
    time: u64,
    attrs: &[KeyValue],
    loss: &mut Loss,
) {
    let Some(e) = rec.open_event("", time) else {
        return;
    };
    rec.set_event_name(e, cow_value(name), loss);
    push_entry_attrs(rec, e, attrs, loss);
}

fn kind(k: &api::SpanKind) -> SpanKind {
    match k {
        api::SpanKind::Client => SpanKind::Client,
        api::SpanKind::Server => SpanKind::Server,
        api::SpanKind::Producer => SpanKind::Producer,
        api::SpanKind::Consumer => SpanKind::Consumer,
        api::SpanKind::Internal => SpanKind::Internal,
    }
}

/// An API context as ringspan's (the trace state stays behind: records copy it apart).
fn from_api(cx: &api::SpanContext) -> SpanContext {
    SpanContext {
        trace_id: TraceId(cx.trace_id().to_bytes()),
        span_id: SpanId(cx.span_id().to_bytes()),
        flags: TraceFlags(cx.trace_flags().to_u8()),
        is_remote: cx.is_remote(),
    }
}

/// Ticks of `clock` at wall-clock time `t` (its distance from now, at the engine's rate).
fn ticks_at(pool: &Pool, ns_per_tick: f64, t: SystemTime) -> u64 {
    let now_ticks = pool.clock.now();
    let ticks = |d: std::time::Duration| (d.as_nanos() as f64 / ns_per_tick) as u64;
    // Wrapping: a time before the clock's tick 0 (the engine's start, for the monotonic
    // clock) is a tick "below" 0, which the drain's calibration turns back into that time.
    match SystemTime::now().duration_since(t) {
        Ok(ago) => now_ticks.wrapping_sub(ticks(ago)),
        Err(ahead) => now_ticks.wrapping_add(ticks(ahead.duration())),
    }
}

impl api::Tracer for OtelTracer {
    type Span = OtelSpan;

    fn build_with_context(&self, builder: api::SpanBuilder, parent_cx: &Context) -> OtelSpan {
        let parent_span = parent_cx.span();
        let parent_api = parent_span.span_context();
        let parent = if parent_api.is_valid() {
            Parent::Context(from_api(parent_api))
        } else {
            Parent::Current
        };
        let mut travel = local::with_local(&self.pool, |p| {
            p.start_travel(cow_value(&builder.name), parent)
        });
        // A span continues its parent's `tracestate`, as the SDK's do.
        let trace_state = if parent_api.is_valid() {
            parent_api.trace_state().clone()
        } else {
            api::TraceState::default()
        };
        if travel.is_recording() {
            let start = builder
                .start_time
                .map(|t| ticks_at(&self.pool, self.ns_per_tick, t));
            travel.edit(|rec, loss, _| {
                if let Some(scope) = self.scope {
                    rec.set_scope(scope);
                }
                if let Some(start) = start {
                    rec.set_start(start);
                }
                if let Some(k) = &builder.span_kind {
                    rec.set_kind(kind(k));
                }
                for kv in builder.attributes.iter().flatten() {
                    push_kv(rec, kv, loss);
                }
                for e in builder.events.iter().flatten() {
                    let time = ticks_at(&self.pool, self.ns_per_tick, e.timestamp);
                    push_event(rec, &e.name, time, &e.attributes, loss);
                }
                if trace_state != api::TraceState::NONE {
                    rec.set_trace_state(trace_state.into_iter(), loss);
                }
                for l in builder.links.iter().flatten() {
                    push_link(
                        rec,
                        &l.span_context,
                        &l.attributes,
                        l.dropped_attributes_count,
                        loss,
                    );
                }
            });
        }
        let cx = travel.context();
        let api_cx = api::SpanContext::new(
            api::TraceId::from_bytes(cx.trace_id.0),
            api::SpanId::from_bytes(cx.span_id.0),
            api::TraceFlags::new(cx.flags.0),
            false,
            trace_state,
        );
        OtelSpan::new(travel, api_cx, self.ns_per_tick)
    }
}
