//! opentelemetry_sdk's logs as its users set them up: an `SdkLoggerProvider` with the
//! `BatchLogProcessor` (its defaults: queue 2048, batches of 512, 1 s delay) and an exporter
//! that counts and discards; the logger made once, each record built through the logs bridge
//! API (`create_log_record`, severity, body and attributes from static strings, `emit`), as an
//! appender does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::Key;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogger, SdkLoggerProvider};

/// Counts the log records the processor hands over, and drops them.
#[derive(Debug, Clone, Default)]
pub struct CountingExporter(pub Arc<AtomicU64>);

impl LogExporter for CountingExporter {
    fn export(
        &self,
        batch: LogBatch<'_>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        // Relaxed: a statistic read after `force_flush`, which orders it.
        self.0
            .fetch_add(batch.iter().count() as u64, Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

/// The provider (its batch thread started on the drain core, then the caller pinned to the
/// producer core), its logger and the exporter's count.
pub struct Setup {
    pub provider: SdkLoggerProvider,
    pub logger: SdkLogger,
    pub exported: Arc<AtomicU64>,
}

pub fn setup() -> Setup {
    crate::pin_drain();
    let exporter = CountingExporter::default();
    let exported = Arc::clone(&exporter.0);
    let provider = SdkLoggerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let logger = provider.logger("bench");
    crate::pin_producer();
    Setup {
        provider,
        logger,
        exported,
    }
}

impl Setup {
    /// The bench's log record: severity INFO, a static body, 3 attributes (i64, static
    /// string, f64).
    #[inline(always)]
    pub fn record(&self, i: i64) {
        let mut r = self.logger.create_log_record();
        r.set_severity_number(Severity::Info);
        r.set_severity_text("INFO");
        r.set_body(AnyValue::String("order filled".into()));
        r.add_attribute(Key::from_static_str("order.id"), AnyValue::Int(i));
        r.add_attribute(
            Key::from_static_str("venue"),
            AnyValue::String("XNAS".into()),
        );
        r.add_attribute(Key::from_static_str("qty"), AnyValue::Double(100.0));
        self.logger.emit(r);
    }

    /// Log records the exporter got, after a flush.
    pub fn flushed(&self) -> u64 {
        self.provider.force_flush().expect("flush");
        self.exported.load(Ordering::Relaxed)
    }
}
