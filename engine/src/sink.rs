//! Ready-made sinks. The OTLP encoder (a later part of the pipeline) is the real one.

use crate::clock::Calibration;
use crate::drain::Sink;
use crate::record::SpanRecord;
use crate::sync::{Arc, AtomicU64, Ordering};

/// Takes every span and throws it away, counting spans and flushes. For benchmarks and for
/// measuring the engine without an exporter.
#[derive(Debug, Default, Clone)]
pub struct Discard {
    spans: Arc<AtomicU64>,
    flushes: Arc<AtomicU64>,
}

impl Discard {
    /// Spans accepted so far (readable from any thread through a clone).
    pub fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }

    /// Flushes seen so far.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}

impl Sink for Discard {
    fn accept(&mut self, spans: &[SpanRecord], _clock: &Calibration) -> usize {
        // Relaxed: a statistic, read by other threads for reporting only.
        self.spans.fetch_add(spans.len() as u64, Ordering::Relaxed);
        spans.len()
    }

    fn flush(&mut self, _clock: &Calibration) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }
}
