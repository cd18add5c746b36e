//! The exporter's counters. Every span handed to the exporter ends in exactly one of:
//! exported, rejected by the collector (partial success), or dropped for one of four reasons.
//!
//! ```text
//! handed = exported + rejected + dropped.total() + in_flight
//! ```
//!
//! `in_flight` (queued, being sent or waiting to retry) is zero once the exporter has shut
//! down. Counters are plain atomics written from the exporter thread (and, for requests refused
//! after shutdown, the drain thread); readers get recent values with `Relaxed` loads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spans the exporter gave up on, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportDropped {
    /// Retryable failures (429/502/503/504, connection failures, timeouts) until the retry
    /// budget ran out.
    pub retries_exhausted: u64,
    /// A final answer: any other 4xx/5xx (400, 401, 413, 500, ...). Not retried, as the spec asks.
    pub non_retryable: u64,
    /// Still queued, in flight or waiting to retry when shutdown's deadline came, or handed to
    /// an exporter that had stopped. (A request whose 2xx status was in when the deadline cut
    /// its body counts as exported, under `bodies_lost`.)
    pub shutdown: u64,
    /// The task sending them panicked (a bug in ringspan or its HTTP stack; the exporter
    /// goes on with the next request).
    pub panicked: u64,
}

impl ExportDropped {
    /// All spans the exporter dropped.
    pub fn total(&self) -> u64 {
        self.retries_exhausted + self.non_retryable + self.shutdown + self.panicked
    }
}

/// The exporter's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportCounts {
    /// Spans in requests the encoder handed to the exporter.
    pub handed: u64,
    /// Spans the collector accepted.
    pub exported: u64,
    /// Spans the collector refused in a partial success (`rejected_spans`).
    pub rejected: u64,
    /// Spans dropped, by reason.
    pub dropped: ExportDropped,
    /// Requests handed to the exporter.
    pub requests: u64,
    /// HTTP attempts made (first tries and retries).
    pub attempts: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Body bytes sent, after compression, over all attempts.
    pub bytes_sent: u64,
    /// Requests the collector accepted (a 2xx status) whose response body then failed to
    /// arrive (a stall past the timeout, a reset, the shutdown deadline): their spans count as
    /// exported, never sent again, and a partial success in that body is unknown.
    pub bodies_lost: u64,
}

impl ExportCounts {
    /// Spans queued, being sent or waiting to retry.
    pub fn in_flight(&self) -> u64 {
        self.handed
            .saturating_sub(self.exported + self.rejected + self.dropped.total())
    }
}

/// Live counters, shared between the exporter and whoever reads them.
#[derive(Debug, Default)]
pub struct ExportStats {
    handed: AtomicU64,
    exported: AtomicU64,
    rejected: AtomicU64,
    dropped_retries: AtomicU64,
    dropped_fatal: AtomicU64,
    dropped_shutdown: AtomicU64,
    dropped_panicked: AtomicU64,
    requests: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    bytes_sent: AtomicU64,
    bodies_lost: AtomicU64,
    /// The last failure, and when it happened.
    last_error: Mutex<Option<(Instant, String)>>,
}

/// Where a request's spans ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Accepted, with this many of the spans rejected by a partial success.
    Accepted {
        rejected: u64,
    },
    RetriesExhausted,
    NonRetryable,
    Shutdown,
    Panicked,
}

fn add(c: &AtomicU64, n: u64) {
    // Relaxed: statistics only; nothing else is published through these.
    c.fetch_add(n, Ordering::Relaxed);
}

impl ExportStats {
    /// The counters now. Read while requests are moving, a sum may be off by a request; the
    /// outcomes are read before `handed`, so spans not yet settled (`handed` minus the
    /// outcomes) are never under-counted by a settle in between.
    pub fn counts(&self) -> ExportCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let exported = get(&self.exported);
        let rejected = get(&self.rejected);
        let dropped = ExportDropped {
            retries_exhausted: get(&self.dropped_retries),
            non_retryable: get(&self.dropped_fatal),
            shutdown: get(&self.dropped_shutdown),
            panicked: get(&self.dropped_panicked),
        };
        ExportCounts {
            handed: get(&self.handed),
            exported,
            rejected,
            dropped,
            requests: get(&self.requests),
            attempts: get(&self.attempts),
            retries: get(&self.retries),
            bytes_sent: get(&self.bytes_sent),
            bodies_lost: get(&self.bodies_lost),
        }
    }

    /// The most recent failure (an HTTP status or a connection error), for a person to read.
    /// It never holds header values.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(_, why)| why.clone())
    }

    /// How long ago the last failure happened (`None` if none did).
    pub fn last_error_age(&self) -> Option<Duration> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(at, _)| at.elapsed())
    }

    pub(crate) fn handed(&self, spans: u64) {
        add(&self.requests, 1);
        add(&self.handed, spans);
    }

    pub(crate) fn attempt(&self, retry: bool, bytes: u64) {
        add(&self.attempts, 1);
        add(&self.bytes_sent, bytes);
        if retry {
            add(&self.retries, 1);
        }
    }

    pub(crate) fn body_lost(&self) {
        add(&self.bodies_lost, 1);
    }

    pub(crate) fn failed(&self, why: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), why));
    }

    pub(crate) fn settle(&self, spans: u64, outcome: Outcome) {
        match outcome {
            Outcome::Accepted { rejected } => {
                let rejected = rejected.min(spans);
                add(&self.rejected, rejected);
                add(&self.exported, spans - rejected);
            }
            Outcome::RetriesExhausted => add(&self.dropped_retries, spans),
            Outcome::NonRetryable => add(&self.dropped_fatal, spans),
            Outcome::Shutdown => add(&self.dropped_shutdown, spans),
            Outcome::Panicked => add(&self.dropped_panicked, spans),
        }
    }
}

/// Settles a request's spans as `dropped.panicked` if its task ends any other way than by
/// settling them (a panic unwinds through it; tokio catches the panic, and the accounting
/// would otherwise wait forever for those spans).
pub(crate) struct Settle<'a> {
    spans: u64,
    stats: &'a ExportStats,
    done: bool,
}

impl<'a> Settle<'a> {
    /// A guard for `spans` (items) handed to `stats`.
    pub(crate) fn new(spans: u64, stats: &'a ExportStats) -> Self {
        Settle {
            spans,
            stats,
            done: false,
        }
    }

    /// Settles them as `outcome`; the guard then does nothing.
    pub(crate) fn settle(mut self, outcome: Outcome) {
        self.done = true;
        self.stats.settle(self.spans, outcome);
    }
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.stats.settle(self.spans, Outcome::Panicked);
        }
    }
}
