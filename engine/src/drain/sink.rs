//! Where the drain hands spans: the [`Sink`] trait, and [`Discard`], a sink that counts and
//! throws away. The OTLP encoder (`crate::otlp`) is the real one.

use crate::clock::Calibration;
use crate::model::compact::CompactRecord;
use crate::model::log::LogRecord;
use crate::model::record::SpanRecord;
use crate::sync::{Arc, AtomicU64, Ordering};

/// Where finished spans go. The OTLP encoder implements this; so do test sinks.
///
/// Both methods run on the drain thread, so they must not block for long: a sink that cannot
/// take more right now returns a short count from [`Sink::accept`], and the spans wait in
/// their ring (where new spans are dropped and counted once it is full).
pub trait Sink: Send + 'static {
    /// Offered finished spans in ring order; returns how many of the first ones it took
    /// (`0..=spans.len()`). `clock` converts their tick times to Unix nanoseconds.
    fn accept(&mut self, spans: &[SpanRecord], clock: &Calibration) -> usize;

    /// Offered finished callsite spans, in ring order, as compact records; returns how many
    /// of the first ones it took. `scope` is the scope of those whose callsite names none.
    ///
    /// The default turns each into a full record ([`CompactRecord::to_full`]) and offers it
    /// to [`Sink::accept`] alone, so a sink that only reads full records sees every span;
    /// the OTLP sink encodes compact records directly.
    fn accept_compact(
        &mut self,
        spans: &[CompactRecord],
        scope: &'static str,
        clock: &Calibration,
    ) -> usize {
        for (taken, r) in spans.iter().enumerate() {
            let full = r.to_full(scope);
            if self.accept(std::slice::from_ref(&full), clock) == 0 {
                return taken;
            }
        }
        spans.len()
    }

    /// Ends a batch: everything accepted since the last flush should go out now.
    fn flush(&mut self, clock: &Calibration);

    /// How many of the spans taken since the last call the sink dropped instead of
    /// delivering (for the OTLP sink: spans too large for any request). The drain counts them
    /// as `dropped.too_large` rather than delivered. The default is none.
    fn take_dropped(&mut self) -> u64 {
        0
    }

    /// Whether the sink takes log records. Asked once, by [`crate::Engine::start`]: for a
    /// sink that does not (the default), the engine makes no log rings and counts every log
    /// record as `logs.dropped.off`.
    fn takes_logs(&self) -> bool {
        false
    }

    /// Offered log records in ring order (only if [`Sink::takes_logs`]); returns how many of
    /// the first ones it took, as [`Sink::accept`]. [`Sink::flush`] ends their batch too.
    /// The default takes none.
    fn accept_logs(&mut self, logs: &[LogRecord], clock: &Calibration) -> usize {
        let _ = (logs, clock);
        0
    }

    /// As [`Sink::take_dropped`], for log records (counted as `logs.dropped.too_large`).
    fn take_dropped_logs(&mut self) -> u64 {
        0
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn accept(&mut self, spans: &[SpanRecord], clock: &Calibration) -> usize {
        (**self).accept(spans, clock)
    }

    fn accept_compact(
        &mut self,
        spans: &[CompactRecord],
        scope: &'static str,
        clock: &Calibration,
    ) -> usize {
        (**self).accept_compact(spans, scope, clock)
    }

    fn flush(&mut self, clock: &Calibration) {
        (**self).flush(clock)
    }

    fn take_dropped(&mut self) -> u64 {
        (**self).take_dropped()
    }

    fn takes_logs(&self) -> bool {
        (**self).takes_logs()
    }

    fn accept_logs(&mut self, logs: &[LogRecord], clock: &Calibration) -> usize {
        (**self).accept_logs(logs, clock)
    }

    fn take_dropped_logs(&mut self) -> u64 {
        (**self).take_dropped_logs()
    }
}

/// Takes every span and log record and throws it away, counting spans, log records and
/// flushes. For benchmarks and for measuring the engine without an exporter.
#[derive(Debug, Default, Clone)]
pub struct Discard {
    spans: Arc<AtomicU64>,
    logs: Arc<AtomicU64>,
    flushes: Arc<AtomicU64>,
}

impl Discard {
    /// Spans accepted so far (readable from any thread through a clone).
    pub fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }

    /// Log records accepted so far.
    pub fn logs(&self) -> u64 {
        self.logs.load(Ordering::Relaxed)
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

    fn accept_compact(
        &mut self,
        spans: &[CompactRecord],
        _scope: &'static str,
        _clock: &Calibration,
    ) -> usize {
        // Relaxed: as in `accept`.
        self.spans.fetch_add(spans.len() as u64, Ordering::Relaxed);
        spans.len()
    }

    fn flush(&mut self, _clock: &Calibration) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    fn takes_logs(&self) -> bool {
        true
    }

    fn accept_logs(&mut self, logs: &[LogRecord], _clock: &Calibration) -> usize {
        // Relaxed: as in `accept`.
        self.logs.fetch_add(logs.len() as u64, Ordering::Relaxed);
        logs.len()
    }
}
