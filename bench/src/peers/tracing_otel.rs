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
