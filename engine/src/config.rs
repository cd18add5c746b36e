//! Engine configuration: how many rings, how big, how the drain batches and idles.
//!
//! All memory the engine will ever use for spans follows from this: see
//! [`EngineConfig::memory_budget`]. [`crate::Engine::start`] validates the whole config first
//! and fails with the setting's name and value, never later on the hot path.

use std::time::Duration;

use crate::error::Error;
use crate::model::compact::CompactRecord;
use crate::model::log::LogRecord;
use crate::model::record::SpanRecord;
use crate::produce::metric::cells::MetricCells;
use crate::produce::sampler::Sampler;

/// Spans one producer can have open at once (nested or not). A span started beyond this is
/// dropped and counted (`dropped.too_deep`); its children parent to the deepest open span.
pub const MAX_DEPTH: usize = 16;

/// What the drain thread does when a pass over the rings found little or nothing (fewer
/// than 32 spans).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleStrategy {
    /// Busy-poll, waiting 2 us between polls of an empty ring: lowest latency, burns its
    /// core. Pin the drain ([`EngineConfig::drain_core`]) when you use it.
    Spin,
    /// `yield_now` between polls: gives the core away when someone else wants it.
    Yield,
    /// Sleep up to this long between thin polls (woken early by `flush`/`shutdown`).
    /// Producers never wake the drain (that would be a syscall on the hot path), so choose it
    /// below the time your busiest ring takes to fill.
    Park(Duration),
}

impl Default for IdleStrategy {
    fn default() -> Self {
        IdleStrategy::Park(Duration::from_micros(200))
    }
}

/// Which tick source the hot path reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClockChoice {
    /// The invariant TSC where the CPU has one, `Instant` otherwise.
    #[default]
    Auto,
    /// Always `Instant`.
    Monotonic,
}

/// Engine settings. Start from `EngineConfig::default()` and chain the setters.
///
/// # Examples
/// ```
/// use ringspan::{EngineConfig, IdleStrategy};
/// let config = EngineConfig::default()
///     .rings(4)
///     .ring_capacity(4096)
///     .idle(IdleStrategy::Yield);
/// assert!(config.validate().is_ok());
/// assert!(EngineConfig::default().ring_capacity(1000).validate().is_err());
/// println!("{} bytes", config.memory_budget());
/// ```
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub(crate) rings: usize,
    pub(crate) ring_capacity: usize,
    pub(crate) compact_capacity: usize,
    pub(crate) log_capacity: usize,
    pub(crate) sampler: Sampler,
    pub(crate) max_batch: usize,
    pub(crate) schedule_delay: Duration,
    pub(crate) idle: IdleStrategy,
    pub(crate) drain_core: Option<usize>,
    pub(crate) clock: ClockChoice,
    pub(crate) scope: &'static str,
    /// `OTEL_BSP_MAX_QUEUE_SIZE`, the whole queue, while no `ring_capacity` was set in code:
    /// `ring_capacity` is then derived from it and the number of rings.
    pub(crate) queue: Option<usize>,
    pub(crate) memory_limit: usize,
    pub(crate) travel_spans: usize,
    pub(crate) metric_cells: usize,
}

/// The default of [`EngineConfig::memory_limit`]: 1 GiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            rings: 8,
            ring_capacity: 8192,
            compact_capacity: 65536,
            log_capacity: 2048,
            sampler: Sampler::default(),
            max_batch: 512,
            schedule_delay: Duration::from_secs(5),
            idle: IdleStrategy::default(),
            drain_core: None,
            clock: ClockChoice::Auto,
            scope: "ringspan",
            queue: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            travel_spans: 1024,
            metric_cells: 1024,
        }
    }
}

impl EngineConfig {
    /// Rings in the pool, i.e. producers that can be live at once (default 8). With a queue
    /// size from `OTEL_BSP_MAX_QUEUE_SIZE`, the slots per ring follow (the queue split among
    /// the rings).
    pub fn rings(mut self, n: usize) -> Self {
        self.rings = n;
        if let Some(q) = self.queue {
            self.ring_capacity = per_ring(q, n);
        }
        self
    }

    /// Slots per ring, a power of two (default 8192). Overrides `OTEL_BSP_MAX_QUEUE_SIZE`.
    pub fn ring_capacity(mut self, n: usize) -> Self {
        self.ring_capacity = n;
        self.queue = None;
        self
    }

    /// The most span memory the engine may preallocate (default 1 GiB): a configuration that
    /// needs more (see [`EngineConfig::memory_budget`]) fails `validate` and `Engine::start`
    /// with the bytes it would take, instead of dying in the allocator. A budget over the
    /// machine's physical memory fails whatever this limit says.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Slots per ring of compact records (the spans started from a [`crate::Callsite`]), a
    /// power of two (default 65536: 8 MiB, 64 ms of spans at 1 M/s).
    pub fn compact_capacity(mut self, n: usize) -> Self {
        self.compact_capacity = n;
        self
    }

    /// Slots per ring of log records ([`crate::Producer::log`], 640 bytes each), a power of
    /// two, or 0 for no logs (every log record then counts as `logs.dropped.off`). Default
    /// 2048: 1.25 MiB per ring, 2 ms of records at 1 M/s per producer. The rings are made
    /// only for a sink that takes log records ([`crate::Sink::takes_logs`]).
    pub fn log_capacity(mut self, n: usize) -> Self {
        self.log_capacity = n;
        self
    }

    /// Travelling spans that can be open at once, all threads together (default 1024: 1
    /// MiB), in each of two pools of preallocated records: full ones (896 bytes) and
    /// compact ones (128 bytes), held by spans started from a callsite while they keep to
    /// it (so up to twice this many can be open when both kinds are). A span started from
    /// a callsite takes a full record when no compact one is free. A sampled travelling span
    /// that finds no record it can use is dropped and counted (`dropped.travel_pool_full`).
    /// See [`crate::TravelSpan`].
    pub fn travel_spans(mut self, n: usize) -> Self {
        self.travel_spans = n;
        self
    }

    /// Metric cells per ring, and in the block shared by producers without a ring (default
    /// 1024, 8 KiB, and 256 bytes of padding): a counter's series takes 1, a
    /// gauge's 2, a histogram's its bounds + 4 (19 with the default bounds). Making an
    /// instrument that finds too few left is an error. See [`crate::Engine::metric`].
    pub fn metric_cells(mut self, n: usize) -> Self {
        self.metric_cells = n;
        self
    }

    /// The head sampler (default parent-based always-on).
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// Spans after which the drain asks the sink to flush (OTLP's `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
    /// default 512).
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }

    /// Longest a span waits in the drain before a flush (`OTEL_BSP_SCHEDULE_DELAY`, default 5 s).
    pub fn schedule_delay(mut self, d: Duration) -> Self {
        self.schedule_delay = d;
        self
    }

    /// What the drain does when the rings are empty.
    pub fn idle(mut self, idle: IdleStrategy) -> Self {
        self.idle = idle;
        self
    }

    /// Pins the drain thread to this core.
    pub fn drain_core(mut self, core: usize) -> Self {
        self.drain_core = Some(core);
        self
    }

    /// The hot-path clock.
    pub fn clock(mut self, clock: ClockChoice) -> Self {
        self.clock = clock;
        self
    }

    /// The instrumentation scope spans get unless their producer sets another.
    pub fn scope(mut self, scope: &'static str) -> Self {
        self.scope = scope;
        self
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// The first invalid setting, with its name and value.
    pub fn validate(&self) -> Result<(), Error> {
        if self.rings == 0 {
            return Err(Error::config("rings", self.rings, "need at least one ring"));
        }
        if !self.ring_capacity.is_power_of_two() || self.ring_capacity < 2 {
            return Err(Error::config(
                "ring_capacity",
                self.ring_capacity,
                "must be a power of two, at least 2",
            ));
        }
        if !self.compact_capacity.is_power_of_two() || self.compact_capacity < 2 {
            return Err(Error::config(
                "compact_capacity",
                self.compact_capacity,
                "must be a power of two, at least 2",
            ));
        }
        if self.log_capacity != 0 && (!self.log_capacity.is_power_of_two() || self.log_capacity < 2)
        {
            return Err(Error::config(
                "log_capacity",
                self.log_capacity,
                "must be 0 (no logs) or a power of two, at least 2",
            ));
        }
        if self.travel_spans >= u32::MAX as usize {
            return Err(Error::config(
                "travel_spans",
                self.travel_spans,
                "must be below 2^32",
            ));
        }
        if self.metric_cells == 0 || self.metric_cells >= u32::MAX as usize {
            return Err(Error::config(
                "metric_cells",
                self.metric_cells,
                "must be at least 1 (cell 0 counts values not recorded) and below 2^32",
            ));
        }
        if self.max_batch == 0 {
            return Err(Error::config(
                "max_batch",
                self.max_batch,
                "must be at least 1",
            ));
        }
        if self.schedule_delay.is_zero() {
            return Err(Error::config(
                "schedule_delay",
                format!("{:?}", self.schedule_delay),
                "must be positive",
            ));
        }
        self.check_memory()
    }

    /// The memory check of [`EngineConfig::validate`]: the budget within the limit and the
    /// machine, the error naming what asked for it.
    fn check_memory(&self) -> Result<(), Error> {
        let budget = self.memory_budget();
        let machine = physical_memory();
        let (limit, whose) = match machine {
            Some(m) if m < self.memory_limit => (m, "this machine's physical memory"),
            _ => (
                self.memory_limit,
                "the engine's memory limit (EngineConfig::memory_limit)",
            ),
        };
        if budget <= limit && budget < isize::MAX as usize / 2 {
            return Ok(());
        }
        let why = format!(
            "the rings would preallocate {budget} bytes ({}), over {whose} of {limit} bytes ({})",
            human(budget),
            human(limit)
        );
        Err(match self.queue {
            Some(q) => Error::config("OTEL_BSP_MAX_QUEUE_SIZE", q, why),
            None => Error::config(
                "rings x (ring_capacity + compact_capacity + log_capacity) + travel_spans",
                format!(
                    "{} x ({} + {} + {}) + {}",
                    self.rings,
                    self.ring_capacity,
                    self.compact_capacity,
                    self.log_capacity,
                    self.travel_spans
                ),
                why,
            ),
        })
    }

    /// Bytes the engine preallocates for spans, log records and metrics: every ring's slots
    /// (the log rings' too, which a sink that takes no logs does not get), every producer's
    /// stack of open spans, the travelling spans' records (full and compact) and the metric
    /// cells. Nothing on the recording or drain path allocates beyond this.
    pub fn memory_budget(&self) -> usize {
        let full = self
            .ring_capacity
            .saturating_add(MAX_DEPTH)
            .saturating_mul(std::mem::size_of::<SpanRecord>());
        let compact = self
            .compact_capacity
            .saturating_add(MAX_DEPTH)
            .saturating_mul(std::mem::size_of::<CompactRecord>());
        let logs = self
            .log_capacity
            .saturating_mul(std::mem::size_of::<LogRecord>());
        let travel = self.travel_spans.saturating_mul(
            std::mem::size_of::<SpanRecord>() + std::mem::size_of::<CompactRecord>(),
        );
        // A block per ring and the shared one.
        let metrics = self
            .rings
            .saturating_add(1)
            .saturating_mul(MetricCells::bytes_for(self.metric_cells));
        self.rings
            .saturating_mul(full.saturating_add(compact).saturating_add(logs))
            .saturating_add(travel)
            .saturating_add(metrics)
    }
}

/// Slots per ring for a whole queue of `queue` spans over `rings` rings: an even share,
/// rounded up to a power of two (at least 2).
pub(crate) fn per_ring(queue: usize, rings: usize) -> usize {
    queue
        .div_ceil(rings.max(1))
        .max(2)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX)
}

/// Total physical memory, from `/proc/meminfo` (`None` where that is not readable).
fn physical_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `bytes` for a person: `1.5 GiB`.
fn human(bytes: usize) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}
