//! fastrace: `LocalSpan`s under a root span, reported to a reporter that counts and discards.
//!
//! fastrace keeps a root's local spans until the root ends, and its collector has no
//! backpressure: a producer faster than the collector grows its queue without bound. So
//! roots here end every `SPANS_PER_ROOT` spans (as a request would), and the flat-out bench
//! is kept short; `record_paced` is the fair figure.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fastrace::collector::{Config, Reporter, SpanContext, SpanRecord};
use fastrace::local::{LocalParentGuard, LocalSpan};
use fastrace::Span;

/// Local spans per root span.
pub const SPANS_PER_ROOT: u64 = 256;

struct Counting(Arc<AtomicU64>);

impl Reporter for Counting {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        // Relaxed: a statistic read after `fastrace::flush`.
        self.0.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

/// Installs the counting reporter (once per process) and returns its count of reported
/// spans, roots included.
pub fn reporter() -> Arc<AtomicU64> {
    static COUNT: OnceLock<Arc<AtomicU64>> = OnceLock::new();
    Arc::clone(COUNT.get_or_init(|| {
        let count = Arc::new(AtomicU64::new(0));
        fastrace::set_reporter(
            Counting(Arc::clone(&count)),
            Config::default().report_interval(Duration::from_millis(10)),
        );
        count
    }))
}

/// Installs the reporter with the collector thread on the drain core, then pins the calling
/// thread to the producer core; returns the reporter's count.
pub fn setup() -> Arc<AtomicU64> {
    crate::pin_drain();
    let count = reporter();
    crate::pin_producer();
    count
}

/// The current root and its local-parent guard (dropped before the root, so it is submitted).
pub struct Root(Option<(Span, LocalParentGuard)>);

impl Root {
    pub fn new() -> Root {
        let span = Span::root("request", SpanContext::random());
        let guard = span.set_local_parent();
        Root(Some((span, guard)))
    }

    /// Ends the current root and starts another.
    pub fn renew(&mut self) {
        if let Some((span, guard)) = self.0.take() {
            drop(guard);
            drop(span);
        }
        *self = Root::new();
    }
}

impl Default for Root {
    fn default() -> Self {
        Root::new()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if let Some((span, guard)) = self.0.take() {
            drop(guard);
            drop(span);
        }
    }
}

/// One span: start with 4 properties, end, set up as a careful fastrace user writes it:
/// fastrace properties are `Cow<'static, str>`, so the three static values are passed
/// borrowed and only the dynamic one (the order id) is formatted. (Formatting all four with
/// `to_string`, as this peer did before, made fastrace about 2.5x slower than its users see.)
#[inline(always)]
pub fn record_one(i: i64) {
    let _span = LocalSpan::enter_with_local_parent("order.match").with_properties(|| {
        [
            ("order.id", Cow::Owned(i.to_string())),
            ("order.qty", Cow::Borrowed("100")),
            ("order.side", Cow::Borrowed("buy")),
            ("order.aggressive", Cow::Borrowed("true")),
        ]
    });
}
