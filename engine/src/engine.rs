//! The engine: the ring pool, the producers' shared settings, the drain thread, and the
//! flush / shutdown / snapshot controls.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::clock::{Calibration, Clock, ClockSource};
use crate::config::{ClockChoice, EngineConfig};
use crate::drain::{Control, Drain, Sink};
use crate::error::Error;
use crate::lane::{Lane, LaneClaim};
use crate::producer::Producer;
use crate::sampler::Sampler;
use crate::stats::{DrainCounters, Dropped, Snapshot};
use crate::sync::{poll_pause, thread, Arc, AtomicBool, AtomicU64, Ordering};

/// How long the TSC rate is measured at start before the drain refines it.
const CALIBRATION_WARMUP: Duration = Duration::from_millis(5);
/// How long `shutdown` waits past its deadline for the drain thread to exit.
const EXIT_GRACE: Duration = Duration::from_millis(250);
/// Core ids `pin` and `drain_core` accept: `0..MAX_CORES`, Linux's `CPU_SETSIZE`, the limit of
/// the affinity calls underneath.
const MAX_CORES: usize = 1024;
/// The deadline used when an engine is dropped without `shutdown`.
const DROP_SHUTDOWN: Duration = Duration::from_secs(5);

/// State shared by the engine handle, its producers and the drain thread.
pub(crate) struct Shared {
    /// Tells engines apart in thread-local producer caches.
    pub(crate) id: u64,
    pub(crate) config: EngineConfig,
    pub(crate) sampler: Sampler,
    pub(crate) scope: &'static str,
    pub(crate) clock: Clock,
    pub(crate) lanes: Box<[Arc<Lane>]>,
    /// `core_taken[c]` is true while a producer is pinned to core `c` (`c < MAX_CORES`).
    core_taken: Box<[AtomicBool]>,
    /// Set once shutdown begins; read by producers at every span end, so it sits on its own
    /// line that is written once.
    pub(crate) shutting_down: CachePadded<AtomicBool>,
    /// Sampled spans of threads that got no ring (shared `fetch_add`, only on that path).
    no_ring: CachePadded<AtomicU64>,
    pub(crate) control: Control,
    pub(crate) drain_counters: CachePadded<DrainCounters>,
    epoch: Instant,
    preallocated: usize,
}

impl Shared {
    pub(crate) fn count_no_ring(&self) {
        // Relaxed: a statistic; many threads add, the snapshot only needs a recent value.
        self.no_ring.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn release_core(&self, core: usize) {
        // Relaxed: the flag guards exclusivity only (the CAS in `pin` is atomic); no data is
        // published through it.
        self.core_taken[core].store(false, Ordering::Relaxed);
    }

    pub(crate) fn elapsed_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn claim_lane(&self) -> Option<LaneClaim> {
        self.lanes.iter().find_map(Lane::try_claim)
    }
}

/// The tracing engine: a fixed pool of rings, a drain thread and a sink.
///
/// Start one with [`Engine::start`], give each hot thread a [`Producer`] with [`Engine::pin`]
/// (or [`Engine::producer`] / [`Engine::with_local`] for threads you do not pin), and call
/// [`Engine::shutdown`] at the end to flush and get the final accounting. Dropping the engine
/// shuts it down with a 5 s deadline.
pub struct Engine {
    shared: Arc<Shared>,
    drain: Mutex<Option<thread::JoinHandle<()>>>,
    drain_thread: thread::Thread,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rings", &self.shared.lanes.len())
            .field("preallocated_bytes", &self.shared.preallocated)
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
        let id = next_engine_id();
        let (lanes, consumers): (Vec<_>, Vec<_>) = (0..config.rings)
            .map(|i| Lane::new(config.ring_capacity, id << 32 | i as u64))
            .unzip();
        let preallocated = lanes.iter().map(|l| l.bytes()).sum();
        let shared = Arc::new(Shared {
            id,
            sampler: config.sampler,
            scope: config.scope,
            clock,
            lanes: lanes.into_boxed_slice(),
            core_taken: (0..MAX_CORES).map(|_| AtomicBool::new(false)).collect(),
            shutting_down: CachePadded::new(AtomicBool::new(false)),
            no_ring: CachePadded::new(AtomicU64::new(0)),
            control: Control::default(),
            drain_counters: CachePadded::default(),
            epoch: Instant::now(),
            preallocated,
            config,
        });
        let drain = Drain::new(Arc::clone(&shared), consumers, Box::new(sink), calibration);
        let drain_core = shared.config.drain_core;
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
            shared,
            drain: Mutex::new(Some(handle)),
            drain_thread,
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
        let shared = &self.shared;
        if shared.shutting_down.load(Ordering::Relaxed) {
            return Err(Error::shut_down());
        }
        let Some(flag) = shared.core_taken.get(core) else {
            return Err(Error::no_such_core(core));
        };
        // Relaxed: see `Shared::release_core`.
        if flag
            .compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return Err(Error::core_taken(core));
        }
        let Some(claim) = shared.claim_lane() else {
            shared.release_core(core);
            return Err(Error::no_free_ring(shared.lanes.len()));
        };
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            shared.release_core(core);
            return Err(Error::pin_failed(core));
        }
        Ok(Producer::new(Arc::clone(shared), Some(claim), Some(core)))
    }

    /// A producer on a free ring for a thread that is not pinned.
    ///
    /// # Errors
    /// Every ring is claimed, or the engine is shut down.
    pub fn producer(&self) -> Result<Producer, Error> {
        if self.shared.shutting_down.load(Ordering::Relaxed) {
            return Err(Error::shut_down());
        }
        match self.shared.claim_lane() {
            Some(claim) => Ok(Producer::new(Arc::clone(&self.shared), Some(claim), None)),
            None => Err(Error::no_free_ring(self.shared.lanes.len())),
        }
    }

    /// A producer that owns no ring: every sampled span it starts is counted as dropped
    /// (`no_ring`). What [`Engine::with_local`] falls back to when the pool is exhausted.
    pub fn detached_producer(&self) -> Producer {
        Producer::new(Arc::clone(&self.shared), None, None)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Waits until every span pushed before this call is in the sink and the sink has been
    /// flushed.
    ///
    /// # Errors
    /// [`Error::is_timeout`] if that took longer than `timeout` (the sink is refusing spans),
    /// [`Error::is_shut_down`] after shutdown.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        let control = &self.shared.control;
        if control.stop.load(Ordering::Acquire) {
            return Err(Error::shut_down());
        }
        // AcqRel: Release so the drain's Acquire load of `requested` sees our earlier pushes;
        // Acquire to order us after earlier requests.
        let request = control.requested.fetch_add(1, Ordering::AcqRel) + 1;
        self.drain_thread.unpark();
        let started = Instant::now();
        // Acquire pairs with the drain's Release store of `completed`.
        while control.completed.load(Ordering::Acquire) < request {
            if control.exited.load(Ordering::Acquire) {
                return Err(Error::shut_down());
            }
            if started.elapsed() > timeout {
                return Err(Error::timeout("flush", timeout));
            }
            poll_pause();
        }
        Ok(())
    }

    /// Stops recording, drains every ring into the sink (until `timeout` runs out), flushes
    /// the sink, stops the drain thread and returns the final accounting. Spans that end after
    /// this began, and spans still in a ring at the deadline, are counted as
    /// `dropped.shutdown`. Calling it again returns the same accounting.
    ///
    /// # Errors
    /// [`Error::is_timeout`] if the drain thread did not exit within the deadline plus a
    /// short grace period (a sink blocking its thread); [`Engine::snapshot`] still reports.
    pub fn shutdown(&self, timeout: Duration) -> Result<Snapshot, Error> {
        let mut guard = self.drain.lock().unwrap_or_else(|e| e.into_inner());
        let Some(handle) = guard.take() else {
            return Ok(self.snapshot());
        };
        let shared = &self.shared;
        let control = &shared.control;
        let started = Instant::now();
        let timeout_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let deadline_ns = shared.elapsed_ns().saturating_add(timeout_ns).max(1);
        control.deadline_ns.store(deadline_ns, Ordering::Relaxed);
        // Relaxed: see `Producer::finish`; the drain counts whatever slips past this.
        shared.shutting_down.store(true, Ordering::Relaxed);
        // The final flush request comes before `stop`, so a drain that sees `stop` (Acquire)
        // also sees this request and serves it before exiting.
        control.requested.fetch_add(1, Ordering::AcqRel);
        control.stop.store(true, Ordering::Release);
        self.drain_thread.unpark();
        // Acquire pairs with the drain's Release store of `exited`.
        while !control.exited.load(Ordering::Acquire) {
            if started.elapsed() > timeout.saturating_add(EXIT_GRACE) {
                return Err(Error::timeout("shutdown", timeout));
            }
            poll_pause();
        }
        let _ = handle.join();
        Ok(self.snapshot())
    }

    /// The counters added up now (see [`Snapshot`]). After shutdown, spans still in a ring are
    /// reported as `dropped.shutdown`, so the identity is exact.
    pub fn snapshot(&self) -> Snapshot {
        let shared = &self.shared;
        let d = &shared.drain_counters;
        let mut s = Snapshot {
            delivered: d.delivered.load(Ordering::Relaxed),
            flushes: d.flushes.load(Ordering::Relaxed),
            sink_stalls: d.sink_stalls.load(Ordering::Relaxed),
            ..Snapshot::default()
        };
        let no_ring = shared.no_ring.load(Ordering::Relaxed);
        s.dropped = Dropped {
            no_ring,
            shutdown: d.dropped_shutdown.load(Ordering::Relaxed),
            too_large: d.dropped_too_large.load(Ordering::Relaxed),
            ..Dropped::default()
        };
        s.recorded = no_ring;
        for lane in shared.lanes.iter() {
            let c = &lane.counters;
            s.in_rings += lane.ring.pushed().wrapping_sub(lane.ring.popped()) as u64;
            s.recorded += c.recorded.load(Ordering::Relaxed);
            s.dropped.ring_full += c.dropped_ring_full.load(Ordering::Relaxed);
            s.dropped.too_deep += c.dropped_too_deep.load(Ordering::Relaxed);
            s.dropped.shutdown += c.dropped_shutdown.load(Ordering::Relaxed);
            s.dropped.abandoned += c.dropped_abandoned.load(Ordering::Relaxed);
            s.truncated_strings += c.truncated_strings.load(Ordering::Relaxed);
        }
        if shared.control.exited.load(Ordering::Acquire) {
            s.dropped.shutdown += s.in_rings;
            s.in_rings = 0;
        }
        s
    }

    /// Bytes of span memory allocated at start (rings and producer stacks).
    pub fn preallocated_bytes(&self) -> usize {
        self.shared.preallocated
    }

    /// The clock source the hot path reads.
    pub fn clock_source(&self) -> ClockSource {
        self.shared.clock.source()
    }

    /// Rings in the pool.
    pub fn rings(&self) -> usize {
        self.shared.lanes.len()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.shutdown(DROP_SHUTDOWN);
    }
}
