//! tracing with tracing-opentelemetry's layer on the same opentelemetry_sdk setup (batch
//! processor, counting exporter), the way `tracing` users export to OpenTelemetry.

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;

/// The subscriber: a `Registry` with the OpenTelemetry layer.
pub fn subscriber(provider: &SdkTracerProvider) -> impl tracing::Subscriber + Send + Sync {
    use opentelemetry::trace::TracerProvider as _;
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("ringspan-bench")))
}

/// One span: start with 4 fields, enter, exit, close.
#[inline(always)]
pub fn record_one(i: i64) {
    let span = tracing::info_span!(
        "order.match",
        order.id = i,
        order.qty = 100.0,
        order.side = "buy",
        order.aggressive = true
    );
    let _entered = span.enter();
}
