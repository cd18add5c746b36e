//! The OTLP sink: drained spans become `ExportTraceServiceRequest` bytes in pooled buffers,
//! and finished requests go to an [`Exporter`].
//!
//! # A request's layout in its buffer
//! ```text
//! [ slack | prefix | primary-scope spans ... | other ScopeSpans ... ]
//!           ^ start  ^ reserve
//! ```
//! The first span of a request fixes its primary scope. Spans of that scope are written
//! straight into the buffer after `reserve`, a gap big enough for the largest prefix
//! (request, `ResourceSpans`, resource, `ScopeSpans` headers and the scope). When the request
//! is finished, every length is known and the prefix is written right-aligned into the gap, so
//! the request is the contiguous `buf[start..]`: nothing is moved. Spans of other scopes (up to
//! [`EXTRA_SCOPES`] per request) collect in preallocated staging buffers and are appended as
//! their own `ScopeSpans` at the end; a further scope, or a full staging buffer, ends the
//! request early. Each scope thus appears in one `ScopeSpans` per request.
//!
//! # Limits and backpressure
//! A request stays within `max_bytes` and `max_spans` (size estimates are conservative, so the
//! real size can only be smaller). A span that could not fit even alone is dropped, never sent,
//! and counted here (`dropped_too_large`) and by the engine (`dropped.too_large`, through
//! `Sink::take_dropped`). Buffers come from a fixed pool: an [`EncodedRequest`]
//! returns its buffer when the exporter drops it. With no free buffer, `accept` takes nothing,
//! the drain stops, rings fill and producers drop and count: no allocation, no blocking.
//!
//! Counters here use `std` atomics directly: this module is no part of a loom model.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use prost::bytes::BufMut;
use prost::encoding::{encoded_len_varint, key_len};

use super::resource::Resource;
use super::span::{plan, put_span, write_compact_span, write_span, Plan};
use super::wire::{bytes_len, len_delimited, put_bytes, put_len_prefix, Cursor};
use crate::clock::Calibration;
use crate::drain::sink::Sink;
use crate::error::Error;
use crate::model::compact::CompactRecord;
use crate::model::log::LogRecord;
use crate::model::record::SpanRecord;

mod logs;

/// Scopes besides the primary one that one request can carry.
pub const EXTRA_SCOPES: usize = 3;
/// The largest length prefix we reserve room for (a varint of a length below 2^35).
const LEN_MAX: usize = 5;
/// How many records ahead `accept` prefetches.
const PREFETCH_AHEAD: usize = 2;
/// The lines of a record it prefetches: the header and four attributes, what a common span
/// uses (the events and the arena are rarer, and fetched on demand).
const PREFETCH_LINES: usize = 4;

/// OTLP's request cap.
pub const OTLP_MAX_BYTES: usize = 64 << 20;

/// Settings of an [`OtlpSink`].
#[derive(Clone, Debug)]
pub struct OtlpConfig {
    pub(crate) max_bytes: usize,
    pub(crate) max_spans: usize,
    pub(crate) buffers: usize,
    pub(crate) resource: Resource,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            max_bytes: 4 << 20,
            max_spans: 512,
            buffers: 4,
            resource: Resource::default(),
        }
    }
}

impl OtlpConfig {
    /// Largest request in bytes (default 4 MiB, at most OTLP's 64 MiB).
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Most spans in one request (default 512, like `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    pub fn max_spans(mut self, n: usize) -> Self {
        self.max_spans = n;
        self
    }

    /// Request buffers in the pool, i.e. requests that can be in flight at once (default 4).
    pub fn buffers(mut self, n: usize) -> Self {
        self.buffers = n;
        self
    }

    /// The resource spans are exported under.
    pub fn resource(mut self, r: Resource) -> Self {
        self.resource = r;
        self
    }

    /// Bytes the sink preallocates: the request buffers and the staging buffers; with
    /// [`OtlpSink::with_logs`], as many request buffers again for log records.
    pub fn memory_budget(&self) -> usize {
        self.buffers * (self.max_bytes + 64) + EXTRA_SCOPES * staging_bytes(self.max_bytes)
    }

    fn validate(&self) -> Result<(), Error> {
        if !(1024..=OTLP_MAX_BYTES).contains(&self.max_bytes) {
            return Err(Error::config(
                "otlp max_bytes",
                self.max_bytes,
                "must be between 1 KiB and 64 MiB",
            ));
        }
        if self.max_spans == 0 {
            return Err(Error::config(
                "otlp max_spans",
                self.max_spans,
                "must be at least 1",
            ));
        }
        if self.buffers == 0 {
            return Err(Error::config(
                "otlp buffers",
                self.buffers,
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

fn staging_bytes(max_bytes: usize) -> usize {
    (max_bytes / 8).max(16 << 10).min(max_bytes)
}

/// Where finished requests go: the HTTP exporter, or a test's collector.
///
/// `export` runs on the drain thread and must not block; dropping the request (now or later,
/// on any thread) returns its buffer to the sink's pool.
pub trait Exporter: Send + 'static {
    /// Takes one finished request.
    fn export(&mut self, request: EncodedRequest);
}

/// One `ExportTraceServiceRequest` (or, from the exporter given to [`OtlpSink::with_logs`],
/// one `ExportLogsServiceRequest`), ready to send. Its buffer goes back to the pool on drop.
pub struct EncodedRequest {
    buf: Vec<u8>,
    start: usize,
    /// Spans, or log records when `logs`.
    records: usize,
    logs: bool,
    home: Sender<Vec<u8>>,
    /// Told when the buffer goes home (`OtlpStats::buffers_in_use`).
    stats: Arc<OtlpStats>,
}

impl EncodedRequest {
    /// The protobuf bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Spans in the request (0 in a request of log records).
    pub fn spans(&self) -> usize {
        if self.logs {
            0
        } else {
            self.records
        }
    }

    /// Log records in the request (0 in a request of spans).
    pub fn log_records(&self) -> usize {
        if self.logs {
            self.records
        } else {
            0
        }
    }

    /// What the request carries: its spans, or its log records.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Whether it is an `ExportLogsServiceRequest` (else an `ExportTraceServiceRequest`).
    pub fn is_logs(&self) -> bool {
        self.logs
    }
}

/// The protobuf bytes, so a request can back a `bytes::Bytes` (`Bytes::from_owner`) and be sent
/// without a copy; the buffer returns to the pool when the last clone is dropped.
impl AsRef<[u8]> for EncodedRequest {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

impl fmt::Debug for EncodedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedRequest")
            .field("bytes", &self.bytes().len())
            .field("records", &self.records)
            .field("logs", &self.logs)
            .finish()
    }
}

impl Drop for EncodedRequest {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        // The channel holds every buffer of the pool, so there is always room: never blocks.
        let _ = self.home.try_send(buf);
        // Relaxed: a statistic.
        let out = if self.logs {
            &self.stats.log_buffers_out
        } else {
            &self.stats.buffers_out
        };
        out.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the sink did, readable from any thread.
#[derive(Debug, Default)]
pub struct OtlpStats {
    spans_encoded: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
    dropped_too_large: AtomicU64,
    logs_encoded: AtomicU64,
    logs_dropped_too_large: AtomicU64,
    buffer_waits: AtomicU64,
    /// Request buffers in the pool.
    buffers: usize,
    /// Buffers out of the pool: taken by the sink (drain thread), given back when a request
    /// drops (exporter thread); so a read-modify-write, unlike the counters above.
    buffers_out: AtomicU64,
    /// The same for the log records' pool (`with_logs`), and its size (0 without).
    log_buffers_out: AtomicU64,
    log_buffers: AtomicU64,
}

impl OtlpStats {
    /// Spans written into requests handed to the exporter.
    pub fn spans_encoded(&self) -> u64 {
        self.spans_encoded.load(Ordering::Relaxed)
    }
    /// Requests handed to the exporter.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    /// Bytes of those requests.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// Spans dropped because even alone they would exceed `max_bytes`.
    pub fn dropped_too_large(&self) -> u64 {
        self.dropped_too_large.load(Ordering::Relaxed)
    }
    /// Log records written into requests handed to the logs exporter.
    pub fn logs_encoded(&self) -> u64 {
        self.logs_encoded.load(Ordering::Relaxed)
    }
    /// Log records dropped because even alone they would exceed `max_bytes`.
    pub fn logs_dropped_too_large(&self) -> u64 {
        self.logs_dropped_too_large.load(Ordering::Relaxed)
    }
    /// Times the sink had no free buffer and refused spans (backpressure).
    pub fn buffer_waits(&self) -> u64 {
        self.buffer_waits.load(Ordering::Relaxed)
    }
    /// Request buffers out of the pool now (being filled, or held by requests the exporter
    /// has not settled), and the pool's size.
    pub fn buffers_in_use(&self) -> (usize, usize) {
        // Relaxed: a statistic (see `buffers_out`).
        let out = self.buffers_out.load(Ordering::Relaxed) as usize;
        (out.min(self.buffers), self.buffers)
    }
    /// The same for the log records' pool (`(0, 0)` without [`OtlpSink::with_logs`]).
    pub fn log_buffers_in_use(&self) -> (usize, usize) {
        // Relaxed: statistics (see `buffers_out`).
        let size = self.log_buffers.load(Ordering::Relaxed) as usize;
        let out = self.log_buffers_out.load(Ordering::Relaxed) as usize;
        (out.min(size), size)
    }
}

fn bump(c: &AtomicU64, n: u64) {
    // Relaxed: statistics; the drain thread is the only writer.
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// Body size of an `InstrumentationScope` with this name.
fn scope_body(name: &str) -> usize {
    bytes_len(1, name.as_bytes())
}

/// The request being built.
struct Open {
    buf: Vec<u8>,
    reserve: usize,
    scope: &'static str,
    spans: usize,
    /// An upper bound of the finished request's size.
    bound: usize,
}

/// Spans of one non-primary scope, waiting for the request to finish.
struct Staged {
    scope: &'static str,
    buf: Vec<u8>,
    spans: usize,
}

/// A [`Sink`] that encodes spans into OTLP protobuf requests for an [`Exporter`].
///
/// # Examples
/// ```
/// use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink, Resource};
/// use ringspan::{Engine, EngineConfig};
///
/// struct Print;
/// impl Exporter for Print {
///     fn export(&mut self, request: EncodedRequest) {
///         println!("{} spans in {} bytes", request.spans(), request.bytes().len());
///     } // dropping the request returns its buffer
/// }
///
/// let sink = OtlpSink::new(OtlpConfig::default().resource(Resource::new("checkout")), Print)?;
/// let stats = sink.stats();
/// let engine = Engine::start(EngineConfig::default().rings(1).ring_capacity(64), sink)?;
/// let p = engine.producer()?;
/// drop(p.span("pay"));
/// drop(p);
/// engine.shutdown(std::time::Duration::from_secs(1))?;
/// assert_eq!(stats.spans_encoded(), 1);
/// # Ok::<(), ringspan::Error>(())
/// ```
pub struct OtlpSink<E> {
    max_bytes: usize,
    max_spans: usize,
    resource: Vec<u8>,
    free: Receiver<Vec<u8>>,
    home: Sender<Vec<u8>>,
    open: Option<Open>,
    staged: Vec<Staged>,
    exporter: E,
    stats: Arc<OtlpStats>,
    /// Too-large drops not yet reported to the drain (`Sink::take_dropped`).
    unreported_drops: u64,
    /// The log records' half, with its exporter (`with_logs`).
    logs: Option<logs::Logs>,
}

impl<E: Exporter> OtlpSink<E> {
    /// Builds the sink: encodes the resource and allocates every buffer it will use.
    ///
    /// # Errors
    /// An invalid setting, named in the message.
    pub fn new(config: OtlpConfig, exporter: E) -> Result<Self, Error> {
        config.validate()?;
        let (home, free) = crossbeam_channel::bounded(config.buffers);
        for _ in 0..config.buffers {
            let _ = home.try_send(Vec::with_capacity(config.max_bytes + 64));
        }
        let staging = staging_bytes(config.max_bytes);
        let staged = (0..EXTRA_SCOPES)
            .map(|_| Staged {
                scope: "",
                buf: Vec::with_capacity(staging),
                spans: 0,
            })
            .collect();
        Ok(OtlpSink {
            max_bytes: config.max_bytes,
            max_spans: config.max_spans,
            resource: config.resource.encode(),
            home,
            open: None,
            staged,
            stats: Arc::new(OtlpStats {
                buffers: config.buffers,
                ..OtlpStats::default()
            }),
            free,
            exporter,
            unreported_drops: 0,
            logs: None,
        })
    }

    /// Also takes log records, encoded into `ExportLogsServiceRequest`s (within the same
    /// `max_bytes`, at most `max_spans` records each) and handed to `exporter`. They have a
    /// pool of buffers of their own, as many as the spans' (allocated here), so that a
    /// collector slow on one signal never holds back the other. Without it the sink takes no
    /// log records ([`Sink::takes_logs`]).
    pub fn with_logs(mut self, exporter: impl Exporter) -> Self {
        let buffers = self.free.capacity().unwrap_or(1);
        // Relaxed: a statistic, set before the sink runs.
        self.stats
            .log_buffers
            .store(buffers as u64, Ordering::Relaxed);
        self.logs = Some(logs::Logs::new(
            Box::new(exporter),
            buffers,
            self.max_bytes + 64,
        ));
        self
    }

    /// The sink's counters (shared: keep a clone before handing the sink to the engine).
    pub fn stats(&self) -> Arc<OtlpStats> {
        Arc::clone(&self.stats)
    }

    /// Largest prefix of a request whose primary scope is `scope`.
    fn prefix_bound(&self, scope: &str) -> usize {
        (1 + LEN_MAX)
            + (1 + LEN_MAX + self.resource.len())
            + (1 + LEN_MAX)
            + (1 + LEN_MAX + scope_body(scope))
    }

    /// Largest header of an extra `ScopeSpans` for `scope`.
    fn extra_bound(scope: &str) -> usize {
        (1 + LEN_MAX) + (1 + LEN_MAX + scope_body(scope))
    }

    /// Writes `r` (a field of `field` bytes: key, length and the body `plan` sized) into the open
    /// request if it fits there; `false` when there is no open request or no room in it.
    fn try_put(&mut self, r: &SpanRecord, plan: &Plan<'_>, field: usize) -> bool {
        let scope = r.scope_static();
        let Some(open) = self.open.as_mut() else {
            return false;
        };
        if open.spans + self.staged.iter().map(|s| s.spans).sum::<usize>() >= self.max_spans {
            return false;
        }
        // Where the span goes: the open request's buffer (`None`), or a staging buffer.
        let staged = if scope == open.scope {
            if open.bound + field > self.max_bytes {
                return false;
            }
            None
        } else {
            let i = match self
                .staged
                .iter()
                .position(|s| s.spans > 0 && s.scope == scope)
            {
                Some(i) => {
                    let s = &self.staged[i];
                    if s.buf.len() + field > s.buf.capacity() || open.bound + field > self.max_bytes
                    {
                        return false;
                    }
                    i
                }
                None => {
                    let Some(i) = self.staged.iter().position(|s| s.spans == 0) else {
                        return false;
                    };
                    let extra = Self::extra_bound(scope);
                    if field > self.staged[i].buf.capacity()
                        || open.bound + extra + field > self.max_bytes
                    {
                        return false;
                    }
                    open.bound += extra;
                    self.staged[i].scope = scope;
                    i
                }
            };
            Some(i)
        };
        let out = match staged {
            None => &mut open.buf,
            Some(i) => &mut self.staged[i].buf,
        };
        // Size the field first, then write through a `Cursor` over the new bytes: `Vec`'s own
        // `BufMut` spends tens of instructions per byte. Within capacity: no allocation.
        let at = out.len();
        out.resize(at + field, 0);
        let mut w = Cursor::new(&mut out[at..]);
        put_len_prefix(2, plan.len, &mut w);
        put_span(r, plan, &mut w);
        if w.overflowed() || w.written() != field {
            // `plan` and `put_span` disagree: a bug, never seen in the tests that compare
            // every byte with prost. Rather than send bytes that do not parse, take the span
            // back out and count it as dropped (too large: it did not fit its own size).
            debug_assert!(
                false,
                "span size mismatch: planned {field}, wrote {}",
                w.written()
            );
            out.truncate(at);
            bump(&self.stats.dropped_too_large, 1);
            self.unreported_drops += 1;
            return true;
        }
        open.bound += field;
        match staged {
            None => open.spans += 1,
            Some(i) => self.staged[i].spans += 1,
        }
        true
    }

    /// The one-pass path (see `span.rs`): writes `r` into the open request when its scope is
    /// the request's primary one and it fits under the request's caps with the keys it has.
    /// `false` leaves the request as it was, for the exact path.
    #[inline]
    fn try_write(&mut self, r: &SpanRecord, clock: &Calibration) -> bool {
        self.try_write_with(r.scope_static(), |w| write_span(r, clock, w))
    }

    /// The one-pass path for a span of `scope` that `write` writes (see `try_write`).
    #[inline(always)]
    fn try_write_with(
        &mut self,
        scope: &'static str,
        write: impl FnOnce(&mut Cursor<'_>) -> Option<usize>,
    ) -> bool {
        let Some(open) = self.open.as_mut() else {
            return false;
        };
        // The staged spans count towards `max_spans` too; with none staged (the usual
        // case), that sum is not needed.
        if open.spans + 1 > self.max_spans
            || scope != open.scope
            || (self.staged.iter().any(|s| s.spans > 0)
                && open.spans + self.staged.iter().map(|s| s.spans).sum::<usize>()
                    >= self.max_spans)
        {
            return false;
        }
        let at = open.buf.len();
        let room = self.max_bytes.saturating_sub(open.bound);
        let spare = open.buf.spare_capacity_mut();
        let room = room.min(spare.len());
        let mut w = Cursor::uninit(&mut spare[..room]);
        let Some(n) = write(&mut w) else {
            return false;
        };
        // SAFETY: the cursor initialised the first `n` bytes of the spare capacity (its
        // `written()`, and it did not overflow), which `set_len` now takes in.
        unsafe { open.buf.set_len(at + n) };
        open.bound += n;
        open.spans += 1;
        true
    }

    /// Finishes the open request and hands it to the exporter.
    fn finish(&mut self) {
        let Some(mut open) = self.open.take() else {
            return;
        };
        if open.spans == 0 {
            open.buf.clear();
            let _ = self.home.try_send(open.buf);
            return;
        }
        let primary = len_delimited(1, scope_body(open.scope)) + (open.buf.len() - open.reserve);
        let extras = || self.staged.iter().filter(|s| s.spans > 0);
        let extra_body = |s: &Staged| len_delimited(1, scope_body(s.scope)) + s.buf.len();
        let rs_body = len_delimited(1, self.resource.len())
            + len_delimited(2, primary)
            + extras()
                .map(|s| len_delimited(2, extra_body(s)))
                .sum::<usize>();
        let prefix = key_len(1)
            + encoded_len_varint(rs_body as u64)
            + len_delimited(1, self.resource.len())
            + key_len(2)
            + encoded_len_varint(primary as u64)
            + len_delimited(1, scope_body(open.scope));
        let start = open.reserve - prefix;
        {
            let mut out = &mut open.buf[start..open.reserve];
            put_len_prefix(1, rs_body, &mut out);
            put_len_prefix(1, self.resource.len(), &mut out);
            out.put_slice(&self.resource);
            put_len_prefix(2, primary, &mut out);
            put_len_prefix(1, scope_body(open.scope), &mut out);
            put_bytes(1, open.scope.as_bytes(), &mut out);
            debug_assert!(out.is_empty(), "prefix size mismatch");
        }
        let mut spans = open.spans;
        for s in self.staged.iter_mut().filter(|s| s.spans > 0) {
            let body = len_delimited(1, scope_body(s.scope)) + s.buf.len();
            put_len_prefix(2, body, &mut open.buf);
            put_len_prefix(1, scope_body(s.scope), &mut open.buf);
            put_bytes(1, s.scope.as_bytes(), &mut open.buf);
            open.buf.extend_from_slice(&s.buf);
            spans += s.spans;
            s.buf.clear();
            s.spans = 0;
        }
        debug_assert!(open.buf.len() - start <= self.max_bytes);
        bump(&self.stats.requests, 1);
        bump(&self.stats.spans_encoded, spans as u64);
        bump(&self.stats.bytes, (open.buf.len() - start) as u64);
        let request = EncodedRequest {
            buf: open.buf,
            start,
            records: spans,
            logs: false,
            home: self.home.clone(),
            stats: Arc::clone(&self.stats),
        };
        self.exporter.export(request);
    }
}

impl<E: Exporter> Sink for OtlpSink<E> {
    fn accept(&mut self, spans: &[SpanRecord], clock: &Calibration) -> usize {
        for (taken, r) in spans.iter().enumerate() {
            // The records were just written on the producer's core, so each first read misses
            // the cache (perf showed two thirds of the drain's time on those loads): ask for
            // a record a few ahead now, so its lines arrive while this one is encoded.
            if let Some(next) = spans.get(taken + PREFETCH_AHEAD) {
                crate::prefetch::for_read(next, PREFETCH_LINES);
            }
            if self.try_write(r, clock) {
                continue;
            }
            let plan = plan(r, clock);
            let field = len_delimited(2, plan.len);
            let scope = r.scope_static();
            if self.prefix_bound(scope) + field > self.max_bytes {
                bump(&self.stats.dropped_too_large, 1);
                self.unreported_drops += 1;
                continue;
            }
            while !self.try_put(r, &plan, field) {
                if self.open.is_some() {
                    // No room left in this request: send it and start the next.
                    self.finish();
                    continue;
                }
                let Ok(mut buf) = self.free.try_recv() else {
                    bump(&self.stats.buffer_waits, 1);
                    return taken;
                };
                // Relaxed: a statistic; the exporter thread gives it back (see `buffers_out`).
                self.stats.buffers_out.fetch_add(1, Ordering::Relaxed);
                let reserve = self.prefix_bound(scope);
                // Within capacity: no allocation.
                buf.resize(reserve, 0);
                self.open = Some(Open {
                    buf,
                    reserve,
                    scope,
                    spans: 0,
                    bound: reserve,
                });
            }
        }
        spans.len()
    }

    fn accept_compact(
        &mut self,
        spans: &[CompactRecord],
        scope: &'static str,
        clock: &Calibration,
    ) -> usize {
        for (taken, r) in spans.iter().enumerate() {
            // As in `accept`; a compact record is two lines.
            if let Some(next) = spans.get(taken + PREFETCH_AHEAD) {
                crate::prefetch::for_read(next, 2);
            }
            let span_scope = r.callsite().scope().unwrap_or(scope);
            if self.try_write_with(span_scope, |w| write_compact_span(r, clock, w)) {
                continue;
            }
            // Everything the one-pass path leaves (no open request or no room in it, another
            // primary scope, a repeated key): the full record's path, which opens and
            // finishes requests, deduplicates and counts.
            let full = r.to_full(scope);
            if self.accept(std::slice::from_ref(&full), clock) == 0 {
                return taken;
            }
        }
        spans.len()
    }

    fn flush(&mut self, _clock: &Calibration) {
        self.finish();
        self.finish_logs();
    }

    fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.unreported_drops)
    }

    fn takes_logs(&self) -> bool {
        self.logs.is_some()
    }

    fn accept_logs(&mut self, logs: &[LogRecord], clock: &Calibration) -> usize {
        self.put_logs(logs, clock)
    }

    fn take_dropped_logs(&mut self) -> u64 {
        self.logs
            .as_mut()
            .map_or(0, |l| std::mem::take(&mut l.unreported_drops))
    }
}
