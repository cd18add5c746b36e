//! The `opentelemetry` API's `Span` over a travelling span.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{self as api};
use opentelemetry::KeyValue;

use super::{cow_value, push_event, push_kv, push_link, ticks_at};
use crate::produce::travel::TravelSpan;

/// An `opentelemetry` API span recorded by ringspan (from [`super::OtelTracer`]). It ends when
/// `end` is called or when it is dropped, into the ring of the thread that ends it.
pub struct OtelSpan {
    /// `None` once ended.
    travel: Option<TravelSpan>,
    cx: api::SpanContext,
    ns_per_tick: f64,
}

impl std::fmt::Debug for OtelSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelSpan")
            .field("span_context", &self.cx)
            .field("ended", &self.travel.is_none())
            .finish()
    }
}

impl OtelSpan {
    pub(super) fn new(travel: TravelSpan, cx: api::SpanContext, ns_per_tick: f64) -> Self {
        OtelSpan {
            travel: Some(travel),
            cx,
            ns_per_tick,
        }
    }

    /// The span's travelling span while it records (open, sampled, with a record).
    fn recording(&mut self) -> Option<&mut TravelSpan> {
        self.travel.as_mut().filter(|t| t.is_recording())
    }

    /// ringspan's view of its context (to parent native or travelling spans).
    pub fn ringspan_context(&self) -> crate::SpanContext {
        super::from_api(&self.cx)
    }
}

impl api::Span for OtelSpan {
    fn add_event<T>(&mut self, name: T, attributes: Vec<KeyValue>)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(t) = self.recording() {
            let name = name.into();
            t.edit(|rec, loss, clock| push_event(rec, &name, clock.now(), &attributes, loss));
        }
    }

    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        let rate = self.ns_per_tick;
        if let Some(t) = self.recording() {
            let name = name.into();
            let time = ticks_at(&t.pool, rate, timestamp);
            t.edit(|rec, loss, _| push_event(rec, &name, time, &attributes, loss));
        }
    }

    fn span_context(&self) -> &api::SpanContext {
        &self.cx
    }

    fn is_recording(&self) -> bool {
        self.travel.as_ref().is_some_and(|t| t.is_recording())
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(t) = self.recording() {
            t.edit(|rec, loss, _| push_kv(rec, &attribute, loss));
        }
    }

    fn set_status(&mut self, status: api::Status) {
        if let Some(t) = self.recording() {
            match &status {
                api::Status::Unset => {}
                api::Status::Ok => {
                    t.set_ok();
                }
                api::Status::Error { description } => {
                    t.set_error(cow_value(description));
                }
            }
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(t) = self.recording() {
            let name = new_name.into();
            t.edit(|rec, loss, _| rec.set_name(cow_value(&name), loss));
        }
    }

    fn add_link(&mut self, span_context: api::SpanContext, attributes: Vec<KeyValue>) {
        // The spec: a link to an invalid context is kept only if it carries attributes or a
        // `tracestate`.
        let empty_state = span_context.trace_state().into_iter().len() == 0;
        if !span_context.is_valid() && attributes.is_empty() && empty_state {
            return;
        }
        if let Some(t) = self.recording() {
            t.edit(|rec, loss, _| push_link(rec, &span_context, &attributes, 0, loss));
        }
    }

    fn end(&mut self) {
        // Ends now by ringspan's clock (the API's default would read the wall clock first).
        self.travel = None;
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if let Some(t) = self.travel.take() {
            let end = ticks_at(&t.pool, self.ns_per_tick, timestamp);
            t.end_at(end);
        }
    }
}
