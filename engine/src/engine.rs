//! The engine: the ring pool, the producers' shared settings, the drain thread, and the
//! flush / shutdown / snapshot controls.

use std::sync::Mutex;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock::{Calibration, Clock, ClockSource};
use crate::config::{ClockChoice, EngineConfig};
use crate::drain::handshake::Handshake;
use crate::drain::run::{Drain, DrainSettings};
use crate::drain::sink::Sink;
use crate::error::Error;
use crate::produce::pool::{AbandonedSpan, Pool, MAX_CORES};
use crate::produce::producer::Producer;
use crate::produce::travel::TravelSpan;
use crate::stats::{DrainCounters, OldestOpen, OpenSpans, RingGauge, RingHighWater, Snapshot};
use crate::sync::{is_finished, thread, Arc, Ordering};

/// How long the TSC rate is measured at start before the drain refines it.
const CALIBRATION_WARMUP: Duration = Duration::from_millis(5);
/// The deadline used when an engine is dropped without `shutdown`.
const DROP_SHUTDOWN: Duration = Duration::from_secs(5);

/// The tracing engine: a fixed pool of rings, a drain thread and a sink.
///
/// Start one with [`Engine::start`], give each hot thread a [`Producer`] with [`Engine::pin`]
/// (or [`Engine::producer`] / [`Engine::with_local`] for threads you do not pin), and call
/// [`Engine::shutdown`] at the end to flush and get the final accounting. Dropping the engine
/// shuts it down with a 5 s deadline.
pub struct Engine {
    pool: Arc<Pool>,
    handshake: Arc<Handshake>,
    drain_counters: Arc<CachePadded<DrainCounters>>,
    drain: Mutex<Option<thread::JoinHandle<()>>>,
    drain_thread: thread::Thread,
    preallocated: usize,
    /// The drain's `last_pass_ns` counts from here.
    epoch: std::time::Instant,
    /// The clock's rate measured at start, for the ages of open spans.
    ns_per_tick: f64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rings", &self.pool.lanes.len())
            .field("preallocated_bytes", &self.preallocated)
            .finish()
    }
}

fn next_engine_id() -> u64 {
    // A plain std atomic even under loom: this counter is not part of any model.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Engine {
    /// Validates `config`, allocates every ring and starts the drain thread feeding `sink`.
    ///
    /// # Errors
    /// An invalid setting (named in the message), a drain core that does not exist, or a
    /// failure to spawn the thread.
    pub fn start(config: EngineConfig, sink: impl Sink) -> Result<Engine, Error> {
        config.validate()?;
        if let Some(core) = config.drain_core {
            if core >= MAX_CORES {
                return Err(Error::config("drain_core", core, "core ids go up to 1023"));
            }
        }
        let clock = match config.clock {
            ClockChoice::Auto => Clock::detect(),
            ClockChoice::Monotonic => Clock::monotonic(),
        };
        let calibration = Calibration::new(clock, CALIBRATION_WARMUP);
        let ns_per_tick = calibration.ns_per_tick();
        // A sink that takes no log records gets no log rings: its logs count as `off`.
        let log_capacity = if sink.takes_logs() {
            config.log_capacity
        } else {
            0
        };
        let (pool, consumers) = Pool::new(
            next_engine_id(),
            config.rings,
            config.ring_capacity,
            config.compact_capacity,
            log_capacity,
            config.travel_spans,
            config.metric_cells,
            config.sampler,
            config.scope,
            clock,
        );
        let preallocated = pool.bytes();
        let epoch = std::time::Instant::now();
        let handshake = Arc::new(Handshake::default());
        let drain_counters = Arc::new(CachePadded::new(DrainCounters {
            high_water: (0..consumers.full.len())
                .map(|_| CachePadded::new(RingHighWater::default()))
                .collect(),
            ..DrainCounters::default()
        }));
        let settings = DrainSettings {
            max_batch: config.max_batch,
            schedule_delay: config.schedule_delay,
            idle: config.idle,
            scope: config.scope,
            epoch,
        };
        let drain = Drain::new(
            settings,
            Arc::clone(&handshake),
            Arc::clone(&drain_counters),
            consumers,
            Box::new(sink),
            calibration,
        );
        let drain_core = config.drain_core;
        // The drain pins itself and reports whether the OS agreed, so that a core this
        // process may not use fails `start` with a clear error instead of running unpinned.
        let (pinned_tx, pinned_rx) = std::sync::mpsc::sync_channel(1);
        let handle = thread::Builder::new()
            .name("ringspan-drain".into())
            .spawn(move || {
                if let Some(core) = drain_core {
                    let ok = core_affinity::set_for_current(core_affinity::CoreId { id: core });
                    let _ = pinned_tx.send(ok);
                    if !ok {
                        return;
                    }
                }
                drain.run();
            })
            .map_err(Error::spawn)?;
        if let Some(core) = drain_core {
            if pinned_rx.recv() != Ok(true) {
                let _ = handle.join();
                return Err(Error::config(
                    "drain_core",
                    core,
                    "the OS refused to pin a thread there",
                ));
            }
        }
        let drain_thread = handle.thread().clone();
        Ok(Engine {
            pool,
            handshake,
            drain_counters,
            drain: Mutex::new(Some(handle)),
            drain_thread,
            preallocated,
            epoch,
            ns_per_tick,
        })
    }

    /// Pins the calling thread to `core` and gives it a producer on a ring of its own.
    ///
    /// Only one live producer may be pinned to a core: if another thread (or this one) holds
    /// a producer pinned to `core`, this fails with [`Error::is_core_taken`] and leaves the
    /// thread's affinity unchanged. Dropping the producer frees the core and the ring (the
    /// thread stays pinned). Threads the caller spawns after this inherit its pinning.
    ///
    /// # Errors
    /// The core is taken or does not exist, the OS refused the pinning, every ring is claimed,
    /// or the engine is shut down.
    pub fn pin(&self, core: usize) -> Result<Producer, Error> {
        Producer::pinned(&self.pool, core)
    }

    /// A producer on a free ring for a thread that is not pinned.
    ///
    /// # Errors
    /// Every ring is claimed, or the engine is shut down.
    pub fn producer(&self) -> Result<Producer, Error> {
        Producer::unpinned(&self.pool)
    }

    /// A producer that owns no ring: every sampled span it starts is counted as dropped
    /// (`no_ring`). What [`Engine::with_local`] falls back to when the pool is exhausted.
    pub fn detached_producer(&self) -> Producer {
        Producer::detached(&self.pool)
    }

    /// Runs `f` with this thread's producer for this engine, claiming a ring on first use.
    ///
    /// Never fails and never blocks: without a free ring, `f` gets a detached producer whose
    /// spans are counted as dropped. Spans started inside `f` must end inside it (the guard
    /// borrows the producer), which also keeps them off `await` points.
    ///
    /// # Examples
    /// ```
    /// use ringspan::{Discard, Engine, EngineConfig};
    /// let engine = Engine::start(EngineConfig::default().rings(2).ring_capacity(64), Discard::default()).unwrap();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| engine.with_local(|p| { let _span = p.span("worker.step"); }));
    /// });
    /// ```
    pub fn with_local<R>(&self, f: impl FnOnce(&Producer) -> R) -> R {
        crate::produce::local::with_local(&self.pool, f)
    }

    /// Starts a travelling span (see [`TravelSpan`]) with a static name, child of this
    /// thread's innermost open span or entered context (or a root).
    // Inline: the parent is then known where the span starts (passed in memory, its
    // tag's store would be read back as a wider load, which stalls).
    #[inline]
    pub fn travel(&self, name: &'static str) -> TravelSpan {
        self.start_travel(crate::Value::str(name), crate::Parent::Current)
    }

    /// Starts a travelling span with an explicit choice of parent; `name` should be a
    /// string ([`crate::Value::str`] or [`crate::Value::copied`]).
    #[inline]
    pub fn start_travel(&self, name: crate::Value<'_>, parent: crate::Parent) -> TravelSpan {
        self.with_local(|p| p.start_travel(name, parent))
    }

    /// Starts a travelling span from its callsite (see [`TravelSpan::set_values`]): the
    /// travelling counterpart of [`Producer::span_at`], child of this thread's innermost open
    /// span or entered context (or a root). While it keeps to its callsite it holds a compact
    /// record (128 bytes instead of 896), which costs less to write and to publish.
    #[inline]
    pub fn travel_at(&self, callsite: &'static crate::Callsite) -> TravelSpan {
        self.start_travel_at(callsite, crate::Parent::Current)
    }

    /// [`Engine::travel_at`] with an explicit choice of parent.
    #[inline]
    pub fn start_travel_at(
        &self,
        callsite: &'static crate::Callsite,
        parent: crate::Parent,
    ) -> TravelSpan {
        self.with_local(|p| p.start_travel_at(callsite, parent))
    }

    /// The `opentelemetry` front end (cargo feature `opentelemetry`): a `TracerProvider` of
    /// the opentelemetry 0.33 trace API whose spans are travelling spans of this engine. See
    /// [`crate::OtelTracerProvider`].
    #[cfg(feature = "opentelemetry")]
    pub fn otel_tracer_provider(&self) -> crate::OtelTracerProvider {
        crate::OtelTracerProvider::new(Arc::clone(&self.pool), self.ns_per_tick)
    }

    /// The `log` crate's bridge (cargo feature `log`): a `log::Log` recording every record
    /// at `max` or above as a log record of this engine. See [`crate::LogBridge`].
    #[cfg(feature = "log")]
    pub fn log_bridge(&self, max: log::LevelFilter) -> crate::LogBridge {
        crate::LogBridge::new(Arc::clone(&self.pool), max)
    }

    /// The `tracing` front end (cargo feature `tracing`): a `tracing-subscriber` layer that
    /// records `tracing` spans as travelling spans of this engine, keeping up to twice
    /// [`EngineConfig::travel_spans`] of them open (sampled or not). See [`crate::TracingLayer`].
    #[cfg(feature = "tracing")]
    pub fn tracing_layer(&self) -> crate::TracingLayer {
        self.tracing_layer_with_capacity(2 * self.pool.travel.capacity())
    }

    /// [`Engine::tracing_layer`] with room for `open` open `tracing` spans (rounded up to a
    /// power of two, 128 bytes each, allocated here once).
    #[cfg(feature = "tracing")]
    pub fn tracing_layer_with_capacity(&self, open: usize) -> crate::TracingLayer {
        crate::TracingLayer::new(Arc::clone(&self.pool), open)
    }

    /// The pool, for the crate's tests.
    #[cfg(test)]
    pub(crate) fn pool_for_tests(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Describes an instrument named `name`, made by the builder's last call
    /// ([`crate::MetricBuilder::counter`], `up_down_counter`, `gauge`, `histogram`): a
    /// handle bound to one attribute set. See [`crate::Counter`] for an example.
    pub fn metric<'a>(&self, name: &'a str) -> crate::MetricBuilder<'_, 'a> {
        crate::MetricBuilder::new(&self.pool, name)
    }

    /// The instrumentation scope of spans whose producer sets none, and of the instruments
    /// ([`EngineConfig::scope`](crate::EngineConfig::scope)).
    pub fn scope(&self) -> &'static str {
        self.pool.scope
    }

    /// Every instrument's series, added up over every producer now (for the exporter, once
    /// per interval: it takes a lock that making an instrument also takes, and allocates).
    pub fn read_metrics(&self) -> crate::MetricsReading {
        crate::collect::read(&self.pool)
    }

    /// Waits until every span and log record pushed before this call is in the sink and the
    /// sink has been flushed (a sink refusing log records holds a flush back as one refusing
    /// spans does).
    ///
    /// # Errors
    /// [`Error::is_timeout`] if that took longer than `timeout` (the sink is refusing spans),
    /// [`Error::is_shut_down`] after shutdown.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        self.handshake.flush(&self.drain_thread, timeout)
    }

    /// Stops handing out producers, drains every ring into the sink (until `timeout` runs
    /// out), flushes the sink, stops the drain thread and returns the final accounting. Spans
    /// that end while the drain still runs may still be delivered; spans still in a ring when
    /// it exits (at the deadline, or ended after it) are counted as `dropped.shutdown`.
    /// Calling it again returns the same accounting; after a call that timed out, it waits
    /// for the drain again (with the new `timeout`) and times out again while the drain runs.
    ///
    /// # Errors
    /// [`Error::is_timeout`] if the drain thread did not exit within the deadline plus a
    /// short grace period (a sink blocking its thread); [`Engine::snapshot`] still reports.
    pub fn shutdown(&self, timeout: Duration) -> Result<Snapshot, Error> {
        let mut guard = self.drain.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            return Ok(self.snapshot());
        }
        // On a timeout the handle stays, so that the next call waits for the drain again
        // instead of reporting a final accounting that is not final. What a drain that died
        // left in the rings is counted as `dropped.shutdown` like any leftover.
        let ended = || guard.as_ref().is_some_and(is_finished);
        self.handshake.shutdown(
            &self.drain_thread,
            timeout,
            || self.pool.begin_shutdown(),
            ended,
        )?;
        if let Some(handle) = guard.take() {
            let _ = handle.join();
        }
        Ok(self.snapshot())
    }

    /// The counters added up now (see [`Snapshot`]). After shutdown, spans still in a ring are
    /// reported as `dropped.shutdown`, so the identity is exact.
    pub fn snapshot(&self) -> Snapshot {
        // Read downstream first: the drain's counters, then the rings, then what producers
        // counted. A span moves only downstream (recorded, in a ring, delivered), so a live
        // snapshot can miss a span in motion but never count one twice:
        // `delivered + dropped + in_rings <= recorded`, and each ring's fill stays within its
        // capacity. Quiet (and after shutdown), the identity is exact.
        // Acquire loads throughout, paired with the Release stores of `stats::bump`.
        // Read first: once the drain has exited, its counters read below are final.
        let exited = self.handshake.has_exited();
        let d = &self.drain_counters;
        let mut s = Snapshot {
            delivered: d.delivered.load(Ordering::Acquire),
            flushes: d.flushes.load(Ordering::Acquire),
            sink_stalls: d.sink_stalls.load(Ordering::Acquire),
            sink_panicked: d.sink_panics.load(Ordering::Acquire) > 0,
            ..Snapshot::default()
        };
        s.dropped.shutdown = d.dropped_shutdown.load(Ordering::Acquire);
        s.dropped.too_large = d.dropped_too_large.load(Ordering::Acquire);
        s.dropped.sink_panicked = d.dropped_sink_panicked.load(Ordering::Acquire);
        s.logs.delivered = d.logs_delivered.load(Ordering::Acquire);
        s.logs.dropped.shutdown = d.logs_dropped_shutdown.load(Ordering::Acquire);
        s.logs.dropped.too_large = d.logs_dropped_too_large.load(Ordering::Acquire);
        s.logs.dropped.sink_panicked = d.logs_dropped_sink_panicked.load(Ordering::Acquire);
        for lane in self.pool.lanes.iter() {
            s.in_rings += (lane.ring.len() + lane.compact.len()) as u64;
            s.logs.in_rings += lane.logs.as_ref().map_or(0, |r| r.len()) as u64;
        }
        for lane in self.pool.lanes.iter() {
            let c = &lane.counters;
            s.dropped.ring_full += c.dropped_ring_full.load(Ordering::Acquire);
            s.dropped.too_deep += c.dropped_too_deep.load(Ordering::Acquire);
            s.dropped.shutdown += c.dropped_shutdown.load(Ordering::Acquire);
            s.dropped.abandoned += c.dropped_abandoned.load(Ordering::Acquire);
            s.truncated_strings += c.truncated_strings.load(Ordering::Acquire);
            s.recorded += c.recorded.load(Ordering::Acquire);
            s.logs.recorded += c.logs_recorded.load(Ordering::Acquire);
            s.logs.dropped.ring_full += c.logs_dropped_ring_full.load(Ordering::Acquire);
            s.logs.dropped.shutdown += c.logs_dropped_shutdown.load(Ordering::Acquire);
            s.logs.dropped.off += c.logs_dropped_off.load(Ordering::Acquire);
        }
        let logs_no_ring = self.pool.logs_no_ring();
        s.logs.dropped.no_ring = logs_no_ring;
        s.logs.recorded += logs_no_ring;
        let (no_ring, late) = self.pool.no_ring();
        s.dropped.no_ring = no_ring;
        let travel_full = self.pool.travel_full();
        s.dropped.travel_pool_full = travel_full;
        s.recorded += travel_full;
        s.dropped.shutdown += late;
        s.recorded += no_ring + late;
        if exited {
            s.dropped.shutdown += s.in_rings;
            s.in_rings = 0;
            s.logs.dropped.shutdown += s.logs.in_rings;
            s.logs.in_rings = 0;
        }
        s
    }

    /// Bytes of span and metric memory allocated at start (rings, producer stacks,
    /// travelling-span records, metric cells): [`EngineConfig::memory_budget`].
    pub fn preallocated_bytes(&self) -> usize {
        self.preallocated
    }

    /// The clock source the hot path reads.
    pub fn clock_source(&self) -> ClockSource {
        self.pool.clock.source()
    }

    /// The last spans (at most 16, oldest first) found open when their producer was
    /// dropped: leaked guards (`mem::forget`), counted as `dropped.abandoned`; with the name
    /// of the thread that held them.
    pub fn abandoned_spans(&self) -> Vec<AbandonedSpan> {
        self.pool.abandoned()
    }

    /// How long ago the drain last finished a pass over every ring (zero before its first).
    /// It passes at least every `idle` period; a lag that grows means a sink that blocks it.
    pub fn drain_lag(&self) -> Duration {
        // Relaxed: a statistic; see `Drain::run`.
        let at = self.drain_counters.last_pass_ns.load(Ordering::Relaxed);
        if at == 0 {
            return Duration::ZERO;
        }
        self.epoch
            .elapsed()
            .saturating_sub(Duration::from_nanos(at))
    }

    /// Rings in the pool.
    pub fn rings(&self) -> usize {
        self.pool.lanes.len()
    }

    /// Each ring's claim and fill now, in pool order (a monitoring read: each ring's fill is
    /// exact at one instant and within its capacity; the rings are read one after another).
    pub fn ring_gauges(&self) -> impl Iterator<Item = RingGauge> + '_ {
        let hw = self.drain_counters.high_water.iter();
        self.pool.lanes.iter().zip(hw).map(|(lane, hw)| RingGauge {
            claimed: lane.ring.is_claimed(),
            full_len: lane.ring.len(),
            full_capacity: lane.ring.capacity(),
            compact_len: lane.compact.len(),
            compact_capacity: lane.compact.capacity(),
            // Relaxed: statistics, one writer each (the drain; the lane's producer).
            full_high_water: hw.full.load(Ordering::Relaxed) as usize,
            compact_high_water: hw.compact.load(Ordering::Relaxed) as usize,
            logs_len: lane.logs.as_ref().map_or(0, |r| r.len()),
            logs_capacity: lane.logs.as_ref().map_or(0, |r| r.capacity()),
            recorded: lane.counters.recorded.load(Ordering::Relaxed),
            claims: lane.counters.claims.load(Ordering::Relaxed),
        })
    }
}

impl Engine {
    /// The open sampled spans of every ring that has some: how many, and the oldest one's
    /// name, age and thread. A monitoring read, race-free while producers record: each
    /// ring's count is exact at one instant (or, for a ring recording too fast to catch
    /// still, a recent value within its bounds), its oldest span read whole or not at all.
    /// Spans that are not sampled are not seen. See `produce/watch.rs`.
    pub fn open_spans(&self) -> Vec<OpenSpans> {
        let now = self.pool.clock.now();
        let mut out = Vec::new();
        for (ring, lane) in self.pool.lanes.iter().enumerate() {
            let open = open_count(&lane.counters);
            let oldest = lane.watch.read().map(|(since, name)| OldestOpen {
                name,
                age: Duration::from_nanos(
                    (now.saturating_sub(since) as f64 * self.ns_per_tick) as u64,
                ),
                thread: lane.holder(),
            });
            if open > 0 || oldest.is_some() {
                out.push(OpenSpans { ring, open, oldest });
            }
        }
        out
    }
}

/// `started - recorded` of one lane, read so that it is the count at one instant when the
/// lane's producer is not starting spans faster than the reads (a few tries), and clamped to
/// what a producer can hold open otherwise.
fn open_count(c: &crate::stats::LaneCounters) -> u64 {
    let mut open = 0;
    for _ in 0..4 {
        // Relaxed: `started` only grows, and one writer keeps it.
        let s1 = c.started.load(Ordering::Relaxed);
        // Acquire: pairs with the Release store of `bump`; every span counted in `r` was
        // counted in `started` before, so the reload below is at least `r`.
        let r = c.recorded.load(Ordering::Acquire);
        let s2 = c.started.load(Ordering::Relaxed);
        open = s2.saturating_sub(r);
        if s1 == s2 {
            break;
        }
    }
    open.min(crate::config::MAX_DEPTH as u64)
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.shutdown(DROP_SHUTDOWN);
        // The engine's reference to the pool for travelling spans; if it was the last, the
        // pool's reference to itself goes (the engine's own `Arc` still holds it here).
        drop(self.pool.keepalive.release(1));
    }
}
