//! The pool producers draw from: a fixed array of lanes (one ring each), the settings every
//! producer reads, the core-pinning table and the shutdown flag.
//!
//! Built once by the engine at start; producers hold an `Arc` of it. Nothing here allocates
//! after start.

use crossbeam_utils::CachePadded;

use super::lane::{Lane, LaneClaim, LaneConsumers};
use super::metric::cells::MetricCells;
use super::metric::registry::{Bound, Registry, Spec};
use super::sampler::Sampler;
use super::travel::pool::SlotPool;
use crate::clock::Clock;
use crate::error::Error;
use crate::model::compact::CompactRecord;
use crate::model::log::LogRecord;
use crate::model::record::SpanRecord;
use crate::produce::travel::keepalive::Keepalive;
use crate::ring::RingConsumer;
use crate::sync::{Arc, AtomicBool, AtomicU64, Ordering};

/// Core ids `pin` and `drain_core` accept: `0..MAX_CORES`, Linux's `CPU_SETSIZE`, the limit of
/// the affinity calls underneath.
pub(crate) const MAX_CORES: usize = 1024;

/// What the producers of one engine share.
pub(crate) struct Pool {
    /// Tells engines apart in thread-local producer caches.
    pub(crate) id: u64,
    pub(crate) sampler: Sampler,
    pub(crate) scope: &'static str,
    pub(crate) clock: Clock,
    pub(crate) lanes: Box<[Arc<Lane>]>,
    /// `core_taken[c]` is true while a producer is pinned to core `c` (`c < MAX_CORES`).
    core_taken: Box<[AtomicBool]>,
    /// Set once shutdown begins. Producers read it only when a ring is full (and when a
    /// producer is handed out); it sits on its own line that is written once.
    shutting_down: CachePadded<AtomicBool>,
    /// Sampled spans of threads that got no ring (shared `fetch_add`, only on that path).
    no_ring: CachePadded<AtomicU64>,
    /// Sampled spans of ringless producers that started after shutdown began (the same path).
    late: CachePadded<AtomicU64>,
    /// Log records of threads that got no ring (the same path).
    logs_no_ring: CachePadded<AtomicU64>,
    /// The last spans abandoned (their producer dropped with them open), oldest first; at
    /// most `ABANDONED_KEPT`. Written only when a producer is dropped with open spans.
    abandoned: std::sync::Mutex<std::collections::VecDeque<AbandonedSpan>>,
    /// The open records of travelling spans (see `travel/`).
    pub(crate) travel: SlotPool<SpanRecord>,
    /// The same number of compact records, for travelling spans started from a callsite
    /// while they keep to it (`travel/compact.rs`).
    pub(crate) travel_compact: SlotPool<CompactRecord>,
    /// Sampled travelling spans dropped because no record was free: at start, or when one
    /// started from a callsite outgrew its compact record (shared `fetch_add`, only on
    /// those paths).
    travel_full: CachePadded<AtomicU64>,
    /// The instruments and their series (`metric/registry.rs`), locked only to make one
    /// or to read them.
    pub(crate) metrics: std::sync::Mutex<Registry>,
    /// The metric cells of producers without a ring, shared (`metric/cells.rs`).
    pub(crate) shared_cells: MetricCells,
    /// The pool's reference to itself while travelling spans (or the engine, or producers'
    /// batches) hold references to it (`travel/keepalive.rs`).
    pub(crate) keepalive: CachePadded<Keepalive<Arc<Pool>>>,
}

/// The consumer sides of every lane's rings (same index as the lanes; `logs` is empty while
/// logs are off), for the drain.
pub(crate) struct Consumers {
    pub(crate) full: Vec<RingConsumer<SpanRecord>>,
    pub(crate) compact: Vec<RingConsumer<CompactRecord>>,
    pub(crate) logs: Vec<RingConsumer<LogRecord>>,
}

/// How many abandoned spans [`Pool`] keeps the names of.
pub(crate) const ABANDONED_KEPT: usize = 16;

/// A span whose guard was leaked, found open when its producer was dropped (see
/// [`crate::Engine::abandoned_spans`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AbandonedSpan {
    /// The span's name.
    pub name: String,
    /// The name of the thread that dropped its producer (the thread that held it), or its
    /// id if it has no name.
    pub thread: String,
}

impl Pool {
    /// Allocates `rings` lanes of `capacity` full, `compact_capacity` compact and
    /// `log_capacity` log slots (no log rings when 0), and `travel` travelling-span records
    /// of each kind (full, compact); returns the pool with the rings' consumers, for the
    /// drain.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: u64,
        rings: usize,
        capacity: usize,
        compact_capacity: usize,
        log_capacity: usize,
        travel: usize,
        metric_cells: usize,
        sampler: Sampler,
        scope: &'static str,
        clock: Clock,
    ) -> (Arc<Pool>, Consumers) {
        let mut lanes = Vec::with_capacity(rings);
        let mut consumers = Consumers {
            full: Vec::with_capacity(rings),
            compact: Vec::with_capacity(rings),
            logs: Vec::with_capacity(rings),
        };
        for i in 0..rings {
            let salt = id << 32 | i as u64;
            let (lane, c): (_, LaneConsumers) =
                Lane::new(capacity, compact_capacity, log_capacity, metric_cells, salt);
            lanes.push(lane);
            consumers.full.push(c.full);
            consumers.compact.push(c.compact);
            consumers.logs.extend(c.logs);
        }
        let pool = Pool {
            id,
            sampler,
            scope,
            clock,
            lanes: lanes.into_boxed_slice(),
            core_taken: (0..MAX_CORES).map(|_| AtomicBool::new(false)).collect(),
            shutting_down: CachePadded::new(AtomicBool::new(false)),
            no_ring: CachePadded::new(AtomicU64::new(0)),
            late: CachePadded::new(AtomicU64::new(0)),
            logs_no_ring: CachePadded::new(AtomicU64::new(0)),
            abandoned: std::sync::Mutex::new(std::collections::VecDeque::new()),
            travel: SlotPool::new(travel, || SpanRecord::EMPTY),
            travel_compact: SlotPool::new(travel, || CompactRecord::EMPTY),
            travel_full: CachePadded::new(AtomicU64::new(0)),
            metrics: std::sync::Mutex::new(Registry::new(metric_cells)),
            shared_cells: MetricCells::new(metric_cells),
            keepalive: CachePadded::new(Keepalive::new()),
        };
        let pool = Arc::new(pool);
        // The engine's own reference, given back when it is dropped.
        pool.keepalive.start(Arc::clone(&pool), 1);
        (pool, consumers)
    }

    /// Bytes of span memory the lanes and the travelling spans preallocated.
    pub(crate) fn bytes(&self) -> usize {
        self.lanes.iter().map(|l| l.bytes()).sum::<usize>()
            + self.travel.capacity() * std::mem::size_of::<SpanRecord>()
            + self.travel_compact.capacity() * std::mem::size_of::<CompactRecord>()
            + self.shared_cells.bytes()
    }

    /// The series `spec` asks for (see `metric/registry.rs`), its cells started in every
    /// block.
    pub(crate) fn bind_metric(&self, spec: &Spec<'_>) -> Result<Bound, crate::error::Error> {
        let blocks = self
            .lanes
            .iter()
            .map(|l| &l.metrics)
            .chain(std::iter::once(&self.shared_cells));
        let mut registry = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        registry.bind(spec, crate::clock::unix_nanos(), blocks)
    }

    /// Counts a sampled travelling span dropped at start or at promotion: every travelling
    /// record it could use was taken.
    #[cold]
    pub(crate) fn count_travel_full(&self) {
        // Relaxed: a statistic, read by the snapshot.
        self.travel_full.fetch_add(1, Ordering::Relaxed);
    }

    /// Travelling spans dropped so far because the pool had no free record.
    pub(crate) fn travel_full(&self) -> u64 {
        // Relaxed: see `count_travel_full`.
        self.travel_full.load(Ordering::Relaxed)
    }

    /// Counts a sampled span of a producer without a ring: `no_ring`, or `shutdown` once
    /// shutdown has begun (no ring is handed out then, whatever the pool holds).
    pub(crate) fn count_no_ring(&self) {
        let counter = if self.is_shutting_down() {
            &self.late
        } else {
            &self.no_ring
        };
        // Relaxed: a statistic; many threads add, the snapshot only needs a recent value.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps the name of a span found open when its producer was dropped (the last
    /// `ABANDONED_KEPT` of them).
    pub(crate) fn note_abandoned(&self, name: &str) {
        let t = std::thread::current();
        let thread = t
            .name()
            .map_or_else(|| format!("{:?}", t.id()), str::to_owned);
        let mut kept = self.abandoned.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() == ABANDONED_KEPT {
            kept.pop_front();
        }
        kept.push_back(AbandonedSpan {
            name: name.to_owned(),
            thread,
        });
    }

    /// The spans kept by `note_abandoned`, oldest first.
    pub(crate) fn abandoned(&self) -> Vec<AbandonedSpan> {
        let kept = self.abandoned.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter().cloned().collect()
    }

    /// Sampled spans of threads that had no ring, so far: (before shutdown, after it began).
    /// Counts a log record of a thread that got no ring.
    #[cold]
    pub(crate) fn count_log_no_ring(&self) {
        // Relaxed: as in `count_no_ring`.
        self.logs_no_ring.fetch_add(1, Ordering::Relaxed);
    }

    /// Log records counted by [`Pool::count_log_no_ring`].
    pub(crate) fn logs_no_ring(&self) -> u64 {
        // Relaxed: see `count_no_ring`.
        self.logs_no_ring.load(Ordering::Relaxed)
    }

    pub(crate) fn no_ring(&self) -> (u64, u64) {
        // Relaxed: see `count_no_ring`.
        (
            self.no_ring.load(Ordering::Relaxed),
            self.late.load(Ordering::Relaxed),
        )
    }

    /// Whether shutdown has begun. Relaxed: the flag only decides how a span is counted; a
    /// span that slips in as shutdown begins is still drained or counted by the drain.
    #[inline(always)]
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// From now on no producer is handed out, and a span that finds its ring full counts as
    /// `dropped.shutdown`. (Spans that end are still published; what the drain does not take
    /// before it exits is counted as `dropped.shutdown` by the engine's snapshot.)
    pub(crate) fn begin_shutdown(&self) {
        // Relaxed: see `is_shutting_down`.
        self.shutting_down.store(true, Ordering::Relaxed);
    }

    pub(crate) fn release_core(&self, core: usize) {
        // Relaxed: the flag guards exclusivity only (the CAS in `pin` is atomic); no data is
        // published through it.
        self.core_taken[core].store(false, Ordering::Relaxed);
    }

    /// A free lane, claimed; `None` when every lane is taken.
    pub(crate) fn claim_lane(&self) -> Option<LaneClaim> {
        self.lanes.iter().find_map(Lane::try_claim)
    }

    /// Marks `core` as having a pinned producer (undone by `release_core`).
    ///
    /// # Errors
    /// The core does not exist, or a live producer is pinned to it.
    pub(crate) fn take_core(&self, core: usize) -> Result<(), Error> {
        let Some(flag) = self.core_taken.get(core) else {
            return Err(Error::no_such_core(core));
        };
        // Relaxed: see `release_core`.
        flag.compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)
            .map(|_| ())
            .map_err(|_| Error::core_taken(core))
    }
}
