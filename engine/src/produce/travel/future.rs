//! [`InSpan`]: a future whose travelling span is the current one while it is polled.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::TravelSpan;
use crate::produce::local;

pin_project_lite::pin_project! {
    /// A future that enters its [`TravelSpan`] on the polling thread for each poll (see
    /// [`TravelSpan::in_span`]), and ends the span when it completes or is dropped. Dropped
    /// unfinished, the inner future goes first (fields drop in order), so that spans it holds
    /// end before their parent does.
    #[must_use = "futures do nothing unless polled"]
    pub struct InSpan<F> {
        #[pin]
        inner: F,
        span: Option<TravelSpan>,
    }
}

impl<F> InSpan<F> {
    pub(crate) fn new(span: TravelSpan, inner: F) -> Self {
        InSpan {
            inner,
            span: Some(span),
        }
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(span) = this.span.as_ref() else {
            // Completed before (polling again is the caller's mistake; no span to enter).
            return this.inner.poll(cx);
        };
        let context = span.context;
        let inner = this.inner;
        let polled = span.pool.with_arc(|pool| {
            local::with_local(pool, |p| {
                // Left on drop, also when the inner poll panics.
                let _entered = p.enter(context);
                inner.poll(cx)
            })
        });
        if polled.is_ready() {
            // The span ends with its future, on this thread.
            drop(this.span.take());
        }
        polled
    }
}
