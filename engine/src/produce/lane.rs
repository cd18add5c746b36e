//! A lane: one ring of the engine's pool with everything its producer needs beside it.
//!
//! The pool is a fixed array of lanes allocated at start. A lane's ring claim
//! ([`Ring::try_claim`]) is also the claim on its scratch records and its counters, so a
//! producer handle owns all three together and hands them on together.

use std::cell::UnsafeCell;
use std::fmt::Write as _;

use crossbeam_utils::CachePadded;

use super::metric::cells::MetricCells;
use super::watch::OpenWatch;
use crate::config::MAX_DEPTH;
use crate::model::compact::CompactRecord;
use crate::model::log::LogRecord;
use crate::model::record::SpanRecord;
use crate::ring::{Ring, RingConsumer, RingProducer};
use crate::stats::{bump, LaneCounters};
use crate::sync::Arc;

/// One ring of the pool, its counters and its producer's scratch records.
pub(crate) struct Lane {
    pub(crate) ring: Ring<SpanRecord>,
    /// The ring of compact records (callsite spans), claimed with `ring`: whoever holds the
    /// claim on `ring` is its only producer too.
    pub(crate) compact: Ring<CompactRecord>,
    /// The ring of log records (`None` while logs are off), claimed with `ring` like
    /// `compact`. Log records are built in place in its slots (`model/log.rs`).
    pub(crate) logs: Option<Ring<LogRecord>>,
    /// One compact record per open-span depth, like `scratch`.
    compact_scratch: Box<[UnsafeCell<CompactRecord>]>,
    /// Written only by the producer holding the ring's claim.
    pub(crate) counters: CachePadded<LaneCounters>,
    /// Its oldest open span, for monitors; written only by the producer holding the claim
    /// (on a line of its own, which it writes when that span changes).
    pub(crate) watch: CachePadded<OpenWatch>,
    /// The name of the thread that holds the claim, set by each new holder.
    holder: std::sync::Mutex<ThreadLabel>,
    /// One record per open-span depth. A span is built here and copied into the ring when it
    /// ends, so spans can end in any order without holding back the ring. Accessed only by the
    /// producer holding the ring's claim.
    scratch: Box<[UnsafeCell<SpanRecord>]>,
    /// Mixed into each new producer's id seed.
    pub(crate) salt: u64,
    /// The metric cells its producer records into (`metric/cells.rs`): written only by the
    /// producer holding the claim, read by the collector.
    pub(crate) metrics: MetricCells,
}

// SAFETY: `scratch` and `compact_scratch` are only touched through a `LaneClaim`, and the ring's claim guarantees at
// most one of those exists at a time; its release/acquire hand-over orders the accesses of
// successive owners. Everything else in a lane is `Sync` on its own.
unsafe impl Sync for Lane {}
// SAFETY: the lane owns plain data; see above for the cells.
unsafe impl Send for Lane {}

impl Lane {
    /// Allocates a lane with `capacity` ring slots, `compact_capacity` compact ones,
    /// `log_capacity` log ones (none when 0) and `metric_cells` metric cells; returns it with
    /// the rings' consumers.
    pub(crate) fn new(
        capacity: usize,
        compact_capacity: usize,
        log_capacity: usize,
        metric_cells: usize,
        salt: u64,
    ) -> (Arc<Lane>, LaneConsumers) {
        let (ring, consumer) = Ring::with_consumer(capacity, SpanRecord::EMPTY);
        let (compact, compact_consumer) =
            Ring::with_consumer(compact_capacity, CompactRecord::EMPTY);
        let (logs, logs_consumer) = if log_capacity > 0 {
            let (r, c) = Ring::with_consumer(log_capacity, LogRecord::EMPTY);
            (Some(r), Some(c))
        } else {
            (None, None)
        };
        let compact_scratch = (0..MAX_DEPTH)
            .map(|_| UnsafeCell::new(CompactRecord::EMPTY))
            .collect();
        let scratch = (0..MAX_DEPTH)
            .map(|_| UnsafeCell::new(SpanRecord::EMPTY))
            .collect();
        let lane = Lane {
            ring,
            compact,
            logs,
            compact_scratch,
            counters: CachePadded::default(),
            watch: CachePadded::default(),
            holder: std::sync::Mutex::new(ThreadLabel::default()),
            scratch,
            salt,
            metrics: MetricCells::new(metric_cells),
        };
        let consumers = LaneConsumers {
            full: consumer,
            compact: compact_consumer,
            logs: logs_consumer,
        };
        (Arc::new(lane), consumers)
    }

    /// Bytes of span memory this lane preallocated.
    pub(crate) fn bytes(&self) -> usize {
        self.ring.slot_bytes()
            + self.compact.slot_bytes()
            + self.logs.as_ref().map_or(0, Ring::slot_bytes)
            + self.scratch.len() * std::mem::size_of::<SpanRecord>()
            + self.compact_scratch.len() * std::mem::size_of::<CompactRecord>()
            + self.metrics.bytes()
    }

    /// The scratch record for open-span depth `depth`.
    ///
    /// # Safety
    /// The caller must hold this lane's [`LaneClaim`] on the current thread and must not hold
    /// another reference to the same scratch record.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn scratch(&self, depth: usize) -> &mut SpanRecord {
        // SAFETY: the claim keeps every other thread away from the scratch records, and the
        // caller promises no other live reference to this one.
        unsafe { &mut *self.scratch[depth].get() }
    }

    /// The compact scratch record for open-span depth `depth`.
    ///
    /// # Safety
    /// As for [`Lane::scratch`].
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn compact_scratch(&self, depth: usize) -> &mut CompactRecord {
        // SAFETY: as in `scratch`: the claim keeps other threads away, and the caller promises
        // no other live reference to this record.
        unsafe { &mut *self.compact_scratch[depth].get() }
    }

    /// Notes the calling thread as the lane's holder (its name, or its id if it has none).
    /// Called by a new holder, once, on its own thread; no allocation. It may wait for a
    /// monitor copying the label (64 bytes) at that moment.
    pub(crate) fn note_holder(&self) {
        let mut label = ThreadLabel::default();
        let t = std::thread::current();
        // Writing into a fixed buffer cannot fail; a longer name is cut.
        let _ = match t.name() {
            Some(n) => label.write_str(n),
            None => write!(label, "{:?}", t.id()),
        };
        *self.holder.lock().unwrap_or_else(|e| e.into_inner()) = label;
    }

    /// The name of the thread that last claimed the lane (empty before the first claim).
    pub(crate) fn holder(&self) -> String {
        let label = *self.holder.lock().unwrap_or_else(|e| e.into_inner());
        label.as_str().to_owned()
    }

    /// Claims the lane if nobody holds it.
    pub(crate) fn try_claim(lane: &Arc<Lane>) -> Option<LaneClaim> {
        let ring = Ring::try_claim(&lane.ring)?;
        // Only the holder of `ring`'s claim claims `compact`, and it releases it first (field
        // order in `LaneClaim`), so this claim succeeds whenever `ring`'s just did; were it
        // ever to fail, dropping `ring` gives the lane back.
        let compact = Ring::try_claim(&lane.compact)?;
        // The same for `logs`, released before `compact`.
        let logs = match &lane.logs {
            Some(r) => Some(Ring::try_claim(r)?),
            None => None,
        };
        // The claim makes this thread the counters' only writer.
        bump(&lane.counters.claims, 1);
        Some(LaneClaim {
            logs,
            compact,
            ring,
            lane: Arc::clone(lane),
        })
    }
}

/// Exclusive use of a lane: its ring's producer side, its scratch and its counters. Dropping
/// it releases the lane.
pub(crate) struct LaneClaim {
    /// Declared (so dropped) before `ring`, like `compact`.
    pub(crate) logs: Option<RingProducer<LogRecord>>,
    /// Declared (so dropped) before `ring`: released before the lane's claim is.
    pub(crate) compact: RingProducer<CompactRecord>,
    pub(crate) ring: RingProducer<SpanRecord>,
    pub(crate) lane: Arc<Lane>,
}

/// The consumer sides of a lane's rings, for the drain.
pub(crate) struct LaneConsumers {
    pub(crate) full: RingConsumer<SpanRecord>,
    pub(crate) compact: RingConsumer<CompactRecord>,
    pub(crate) logs: Option<RingConsumer<LogRecord>>,
}

/// A thread's name, in a fixed buffer (longer names are cut at a character boundary).
#[derive(Clone, Copy)]
struct ThreadLabel {
    bytes: [u8; 64],
    len: usize,
}

impl Default for ThreadLabel {
    fn default() -> Self {
        ThreadLabel {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl ThreadLabel {
    fn as_str(&self) -> &str {
        // Only whole characters are ever copied in (`write_str`).
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for ThreadLabel {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.bytes.len() - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
