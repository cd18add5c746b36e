//! Accounting: the counters every span passes through, and the snapshot that adds them up.
//!
//! Each ring has `LaneCounters` with exactly one writer at a time (the producer holding the
//! ring), so the hot path updates them with a plain relaxed load and store: no read-modify-write,
//! no shared line. Successive owners of a ring are ordered by the ring's claim
//! (release/acquire), so counts carry over from one owner to the next. The drain's counters
//! have one writer too, the drain thread. Only the rare "no ring available" path uses a shared
//! `fetch_add`.
//!
//! The identity, for every span the sampler kept:
//!
//! ```text
//! recorded = delivered + dropped.total() + in_rings
//! ```
//!
//! `in_rings` is what sits between a producer and the drain; after `shutdown` it is zero and
//! whatever was left is in `dropped.shutdown`. A snapshot taken while producers run reads the
//! counters one by one, so it may be off by the spans in flight at that instant; taken while
//! they are quiet (and always after shutdown) it is exact.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};

/// Adds `n` to a counter that only the calling thread writes.
#[inline(always)]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    // The load is Relaxed: one writer (so load+store loses nothing); hand-overs between
    // writers are ordered by the ring claim. The store is Release, paired with the Acquire
    // loads of `Engine::snapshot`: a snapshot that sees this count also sees every counter
    // and ring position this thread moved before it (a drop's `recorded`, the drain's
    // `head` before its `delivered`), so a live snapshot never counts a span twice. On
    // x86_64 a Release store is the same plain `mov`.
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Release,
    );
}

/// Per-ring counters, written by the ring's current producer only.
#[derive(Debug, Default)]
pub(crate) struct LaneCounters {
    /// Sampled spans that ended (plus those dropped at start for depth).
    pub(crate) recorded: AtomicU64,
    /// Sampled spans that started recording, plus those dropped at start: `started -
    /// recorded` are open now.
    pub(crate) started: AtomicU64,
    /// Sampled spans dropped because the ring was full when they ended.
    pub(crate) dropped_ring_full: AtomicU64,
    /// Sampled spans dropped because the producer's span stack was full when they started.
    pub(crate) dropped_too_deep: AtomicU64,
    /// Sampled spans that ended after shutdown began.
    pub(crate) dropped_shutdown: AtomicU64,
    /// Sampled spans still open when their producer was dropped (leaked guards).
    pub(crate) dropped_abandoned: AtomicU64,
    /// Strings cut short to fit a record.
    pub(crate) truncated_strings: AtomicU64,
    /// Times the lane was claimed (bumped by each new holder, then its only writer).
    pub(crate) claims: AtomicU64,
    /// Log records recorded (every call of `Producer::log` on this lane).
    pub(crate) logs_recorded: AtomicU64,
    /// Log records dropped because the log ring was full.
    pub(crate) logs_dropped_ring_full: AtomicU64,
    /// Log records that found the log ring full after shutdown began.
    pub(crate) logs_dropped_shutdown: AtomicU64,
    /// Log records recorded while logs were off (no log ring).
    pub(crate) logs_dropped_off: AtomicU64,
}

/// Drain counters, written by the drain thread only.
#[derive(Debug, Default)]
pub(crate) struct DrainCounters {
    /// Spans the sink accepted.
    pub(crate) delivered: AtomicU64,
    /// Spans left in the rings when shutdown gave up on them.
    pub(crate) dropped_shutdown: AtomicU64,
    /// Spans the sink took but dropped (too large for any request).
    pub(crate) dropped_too_large: AtomicU64,
    /// Times the sink was asked to flush a batch.
    pub(crate) flushes: AtomicU64,
    /// Times the sink refused spans (its buffers were full), leaving them in the ring.
    pub(crate) sink_stalls: AtomicU64,
    /// Spans offered to the sink in the call that panicked, and every span drained after it.
    pub(crate) dropped_sink_panicked: AtomicU64,
    /// Panics caught from the sink (the first one retires it; later ones come from its drop).
    pub(crate) sink_panics: AtomicU64,
    /// The same four for log records: accepted by the sink, left in the log rings at
    /// shutdown, taken but too large for any request, lost to a sink panic.
    pub(crate) logs_delivered: AtomicU64,
    pub(crate) logs_dropped_shutdown: AtomicU64,
    pub(crate) logs_dropped_too_large: AtomicU64,
    pub(crate) logs_dropped_sink_panicked: AtomicU64,
    /// When the drain last finished a pass over every ring, in ns from the engine's start.
    pub(crate) last_pass_ns: AtomicU64,
    /// Each lane's high-water marks (same index as the lanes), each on its own line.
    pub(crate) high_water: Box<[CachePadded<RingHighWater>]>,
}

/// Dropped spans, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// The producer's ring was full when the span ended (the drain or the sink fell behind).
    pub ring_full: u64,
    /// More spans were open at once on one producer than its stack holds
    /// ([`crate::config::MAX_DEPTH`]).
    pub too_deep: u64,
    /// The thread had no ring: every ring of the pool was claimed.
    pub no_ring: u64,
    /// The span ended after shutdown began, or was still in a ring when shutdown finished.
    pub shutdown: u64,
    /// The sink could not fit the span into any request (OTLP's `max_bytes`).
    pub too_large: u64,
    /// The span was never ended: its guard was leaked (`mem::forget`) and its producer has
    /// since been dropped.
    pub abandoned: u64,
    /// The sink panicked: the spans offered to it in that call, and every span drained after
    /// it (the drain retires a sink that panicked and frees the rest of the spans).
    pub sink_panicked: u64,
    /// A travelling span found no record it could use when it started (every full one taken;
    /// for one from a callsite, every compact and every full one:
    /// [`crate::EngineConfig::travel_spans`]), or every full record taken when it outgrew its
    /// compact one ([`crate::Engine::travel_at`]).
    pub travel_pool_full: u64,
}

impl Dropped {
    /// All dropped spans.
    pub fn total(&self) -> u64 {
        self.ring_full
            + self.too_deep
            + self.no_ring
            + self.shutdown
            + self.too_large
            + self.abandoned
            + self.sink_panicked
            + self.travel_pool_full
    }
}

/// The engine's counters added up at one moment. See the module docs for the identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Sampled spans that were ended (or dropped when they started).
    pub recorded: u64,
    /// Spans handed to the sink and accepted by it.
    pub delivered: u64,
    /// Spans dropped, by reason.
    pub dropped: Dropped,
    /// Spans in rings, waiting for the drain.
    pub in_rings: u64,
    /// Strings cut short to fit a span record (the spans themselves were kept).
    pub truncated_strings: u64,
    /// Batches the sink was asked to flush.
    pub flushes: u64,
    /// Times the sink refused spans because it had no room.
    pub sink_stalls: u64,
    /// Whether the sink panicked (and was retired): see `dropped.sink_panicked`.
    pub sink_panicked: bool,
    /// The same accounting for log records, which have an identity of their own.
    pub logs: LogsSnapshot,
}

impl Snapshot {
    /// Whether `recorded == delivered + dropped + in_rings` for spans (see
    /// [`LogsSnapshot::is_balanced`] for log records).
    pub fn is_balanced(&self) -> bool {
        self.recorded == self.delivered + self.dropped.total() + self.in_rings
    }
}

/// Log records' accounting ([`Snapshot::logs`]), with the same identity as spans':
/// `recorded = delivered + dropped.total() + in_rings`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogsSnapshot {
    /// Log records recorded (every call of [`crate::Producer::log`] and its kin).
    pub recorded: u64,
    /// Log records handed to the sink and accepted by it.
    pub delivered: u64,
    /// Log records dropped, by reason.
    pub dropped: LogsDropped,
    /// Log records in log rings, waiting for the drain.
    pub in_rings: u64,
}

impl LogsSnapshot {
    /// Whether `recorded == delivered + dropped + in_rings`.
    pub fn is_balanced(&self) -> bool {
        self.recorded == self.delivered + self.dropped.total() + self.in_rings
    }
}

/// Dropped log records, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogsDropped {
    /// The producer's log ring was full (the drain or the sink fell behind).
    pub ring_full: u64,
    /// The thread had no ring: every ring of the pool was claimed.
    pub no_ring: u64,
    /// Logs were off: [`crate::EngineConfig::log_capacity`] was 0, or the sink takes no
    /// log records ([`crate::Sink::takes_logs`]).
    pub off: u64,
    /// Recorded after shutdown began into a full ring, or still in a ring when shutdown
    /// finished.
    pub shutdown: u64,
    /// The sink could not fit the record into any request.
    pub too_large: u64,
    /// The sink panicked (as for spans: see [`Dropped::sink_panicked`]).
    pub sink_panicked: u64,
}

impl LogsDropped {
    /// All dropped log records.
    pub fn total(&self) -> u64 {
        self.ring_full
            + self.no_ring
            + self.off
            + self.shutdown
            + self.too_large
            + self.sink_panicked
    }
}

/// One ring's state at one moment, for monitoring ([`crate::Engine::ring_gauges`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingGauge {
    /// Whether a producer holds the ring.
    pub claimed: bool,
    /// Full records waiting for the drain (never more than `full_capacity`).
    pub full_len: usize,
    /// Slots for full records.
    pub full_capacity: usize,
    /// Compact (callsite) records waiting for the drain.
    pub compact_len: usize,
    /// Slots for compact records.
    pub compact_capacity: usize,
    /// The most full records the drain has found waiting in the ring at once, since start
    /// (read at each of its visits: a peak between two visits is not seen).
    pub full_high_water: usize,
    /// The same for compact records.
    pub compact_high_water: usize,
    /// Log records waiting for the drain.
    pub logs_len: usize,
    /// Slots for log records (0 when logs are off).
    pub logs_capacity: usize,
    /// Sampled spans recorded through this ring since start, by all its producers (to tell a
    /// producer that holds a ring but records nothing).
    pub recorded: u64,
    /// Times the ring was claimed since start (a new value: a new producer holds it).
    pub claims: u64,
}

/// The open spans of one ring's producer at one moment ([`crate::Engine::open_spans`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenSpans {
    /// The ring's index in the pool.
    pub ring: usize,
    /// Sampled spans open now (started, not ended, not dropped); at most
    /// [`crate::MAX_DEPTH`].
    pub open: u64,
    /// The oldest of them, if it could be read (see [`OldestOpen`]).
    pub oldest: Option<OldestOpen>,
}

/// The oldest open sampled span of a producer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OldestOpen {
    /// Its name; `None` for a name copied into the record (`Producer::span_copied`), which
    /// only its thread may read.
    pub name: Option<&'static str>,
    /// How long it has been open.
    pub age: std::time::Duration,
    /// The name (or id) of the thread whose producer holds it.
    pub thread: String,
}

/// Each ring's high-water marks, written by the drain only (at each visit), read by
/// [`crate::Engine::ring_gauges`].
#[derive(Debug, Default)]
pub(crate) struct RingHighWater {
    pub(crate) full: AtomicU64,
    pub(crate) compact: AtomicU64,
}

impl RingHighWater {
    /// Raises `mark` to `fill` (one writer: the drain).
    pub(crate) fn raise(mark: &AtomicU64, fill: usize) {
        // Relaxed: a statistic with one writer; nothing is published through it.
        if fill as u64 > mark.load(Ordering::Relaxed) {
            mark.store(fill as u64, Ordering::Relaxed);
        }
    }
}
