//! The drain: one named thread (`ringspan-drain`) that empties every ring into the sink.
//!
//! # Loop
//! Each pass visits every ring once and offers the sink the ring's ready spans as contiguous
//! slices, at most up to the batch size. The sink takes a prefix (all of it, or less when its
//! buffers are full: backpressure) and only what it took leaves the ring. The drain asks the
//! sink to flush when `max_batch` spans are pending, when the oldest pending span has waited
//! `schedule_delay`, and on request. A pass that moved fewer than `LOW_WATER` spans runs the
//! idle strategy: with `Spin`, a 2 us busy wait (see `BACKOFF` for why polling less often
//! makes producers faster); with `Yield` or `Park`, the core is given away, because those
//! strategies are for a drain that shares its core (with the exporter, say), and a 2 us busy
//! wait after every thin pass would keep that core busy at any load.
//!
//! # Flush and shutdown handshake
//! Requesters bump `requested` (AcqRel) and wake the drain; the drain, on seeing a new value,
//! notes every ring's current `tail` as a target, drains until each ring's `head` reaches its
//! target, flushes the sink and publishes the request number in `completed` (Release), which
//! the requester waits for (Acquire). Spans pushed before the request are thus in the sink
//! when the wait ends, and spans pushed during it cannot keep it waiting forever.
//! Shutdown is a last flush request: the drain finishes it (or runs out of time at the
//! deadline, discarding and counting what is left), sets `exited` and returns.
//!
//! Nothing here allocates after start: the per-ring targets are a vector sized once.

use std::time::Duration;

use crate::clock::Calibration;
use crate::config::IdleStrategy;
use crate::engine::Shared;
use crate::record::SpanRecord;
use crate::ring::RingConsumer;
use crate::stats::bump;
use crate::sync::{park_timeout, yield_now, Arc, AtomicBool, AtomicU64, Ordering};

/// Where finished spans go. The OTLP encoder implements this; so do test sinks.
///
/// Both methods run on the drain thread, so they must not block for long: a sink that cannot
/// take more right now returns a short count from [`Sink::accept`], and the spans wait in
/// their ring (where new spans are dropped and counted once it is full).
pub trait Sink: Send + 'static {
    /// Offered finished spans in ring order; returns how many of the first ones it took
    /// (`0..=spans.len()`). `clock` converts their tick times to Unix nanoseconds.
    fn accept(&mut self, spans: &[SpanRecord], clock: &Calibration) -> usize;

    /// Ends a batch: everything accepted since the last flush should go out now.
    fn flush(&mut self, clock: &Calibration);

    /// How many of the spans taken since the last call the sink dropped instead of
    /// delivering (for the OTLP sink: spans too large for any request). The drain counts them
    /// as `dropped.too_large` rather than delivered. The default is none.
    fn take_dropped(&mut self) -> u64 {
        0
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn accept(&mut self, spans: &[SpanRecord], clock: &Calibration) -> usize {
        (**self).accept(spans, clock)
    }

    fn flush(&mut self, clock: &Calibration) {
        (**self).flush(clock)
    }

    fn take_dropped(&mut self) -> u64 {
        (**self).take_dropped()
    }
}

/// How often the drain refreshes the clock calibration.
const CALIBRATION_PERIOD: Duration = Duration::from_secs(1);
/// A pass that moved fewer spans than this is followed by the idle strategy.
const LOW_WATER: usize = 32;
/// How long the drain lets spans accumulate after a thin pass. Every poll of a ring's `tail`
/// pulls that cache line away from its producer, whose next span then stalls on getting it
/// back (the drain spent three quarters of its time in that load, and producers waited in
/// their stores, when it polled in a tight loop). Polling at most every 2 us caps that at
/// one line transfer per ring per 2 us, and delays a span by at most as much.
const BACKOFF: Duration = Duration::from_micros(2);

/// Shared state of the flush/shutdown handshake.
#[derive(Debug, Default)]
pub(crate) struct Control {
    /// Flush requests made so far (requesters `fetch_add`, AcqRel).
    pub(crate) requested: AtomicU64,
    /// The highest request the drain has completed (drain stores, Release).
    pub(crate) completed: AtomicU64,
    /// Set by `shutdown` (Release) before its final flush request.
    pub(crate) stop: AtomicBool,
    /// Shutdown deadline, in ns since the engine's start (0 = none yet).
    pub(crate) deadline_ns: AtomicU64,
    /// Set by the drain (Release) as its last act.
    pub(crate) exited: AtomicBool,
}

/// The drain thread's state.
pub(crate) struct Drain {
    shared: Arc<Shared>,
    consumers: Vec<RingConsumer<SpanRecord>>,
    sink: Box<dyn Sink>,
    calibration: Calibration,
    /// Per-ring `tail` targets of the flush in progress.
    targets: Vec<usize>,
    /// The flush request being served.
    serving: Option<u64>,
    /// Spans accepted since the last sink flush, and when (in clock ticks) the first of them
    /// arrived.
    pending: usize,
    pending_since: u64,
    last_calibration: u64,
    /// `schedule_delay`, `CALIBRATION_PERIOD` and `BACKOFF` in clock ticks (the drain times
    /// itself with the hot-path clock: a TSC read is cheaper than `Instant::now`).
    delay_ticks: u64,
    calibration_ticks: u64,
    backoff_ticks: u64,
}

impl Drain {
    pub(crate) fn new(
        shared: Arc<Shared>,
        consumers: Vec<RingConsumer<SpanRecord>>,
        sink: Box<dyn Sink>,
        calibration: Calibration,
    ) -> Self {
        let targets = vec![0; consumers.len()];
        let now = calibration.clock().now();
        let mut drain = Drain {
            shared,
            consumers,
            sink,
            calibration,
            targets,
            serving: None,
            pending: 0,
            pending_since: now,
            last_calibration: now,
            delay_ticks: 0,
            calibration_ticks: 0,
            backoff_ticks: 0,
        };
        drain.convert_durations();
        drain
    }

    fn convert_durations(&mut self) {
        let cal = &self.calibration;
        self.delay_ticks = cal.ticks_for(self.shared.config.schedule_delay);
        self.calibration_ticks = cal.ticks_for(CALIBRATION_PERIOD);
        self.backoff_ticks = cal.ticks_for(BACKOFF);
    }

    #[inline]
    fn now(&self) -> u64 {
        self.calibration.clock().now()
    }

    /// Runs until shutdown completes.
    pub(crate) fn run(mut self) {
        loop {
            let moved = self.pass();
            self.serve_flush_requests();
            let now = self.now();
            if self.pending > 0 && now.wrapping_sub(self.pending_since) >= self.delay_ticks {
                self.flush_sink();
            }
            if self.shared.control.stop.load(Ordering::Acquire) && self.serving.is_none() {
                // `shutdown` makes its final request before it sets `stop`, so a drain that
                // sees `stop` also sees that request: once nothing is being served and
                // `completed` reached `requested`, the final flush is done (or timed out).
                let requested = self.shared.control.requested.load(Ordering::Acquire);
                if self.shared.control.completed.load(Ordering::Relaxed) >= requested {
                    break;
                }
            }
            if now.wrapping_sub(self.last_calibration) >= self.calibration_ticks {
                self.calibration.refresh();
                self.convert_durations();
                self.last_calibration = self.now();
            }
            if moved < LOW_WATER {
                self.idle();
            }
        }
        // A span can be accepted after the last flush request was served (a producer that
        // read `shutting_down` just before it was set): flush it rather than lose it with the
        // sink.
        if self.pending > 0 {
            self.flush_sink();
        }
        self.discard_leftovers();
        // Release pairs with the Acquire in `Engine::shutdown`: our last counter updates are
        // visible to whoever sees `exited`.
        self.shared.control.exited.store(true, Ordering::Release);
    }

    /// One visit of every ring; returns the spans moved into the sink.
    fn pass(&mut self) -> usize {
        let max_batch = self.shared.config.max_batch;
        let mut moved = 0;
        for i in 0..self.consumers.len() {
            let consumer = &mut self.consumers[i];
            let room = max_batch - self.pending;
            let chunk = consumer.read_chunk(room);
            if chunk.is_empty() {
                continue;
            }
            let (a, b) = chunk.as_slices();
            let mut taken = self.sink.accept(a, &self.calibration);
            if taken == a.len() && !b.is_empty() {
                taken += self.sink.accept(b, &self.calibration);
            }
            let offered = chunk.len();
            let taken = taken.min(offered);
            chunk.commit(taken);
            if taken < offered {
                bump(&self.shared.drain_counters.sink_stalls, 1);
            }
            if taken > 0 {
                let lost = self.sink.take_dropped().min(taken as u64);
                bump(&self.shared.drain_counters.delivered, taken as u64 - lost);
                bump(&self.shared.drain_counters.dropped_too_large, lost);
                if self.pending == 0 {
                    self.pending_since = self.calibration.clock().now();
                }
                self.pending += taken;
                moved += taken;
            }
            if self.pending >= max_batch {
                self.flush_sink();
            }
        }
        moved
    }

    fn flush_sink(&mut self) {
        self.sink.flush(&self.calibration);
        bump(&self.shared.drain_counters.flushes, 1);
        self.pending = 0;
    }

    /// Starts serving a new flush request, and completes the one being served once every ring
    /// reached its target.
    fn serve_flush_requests(&mut self) {
        if self.serving.is_none() {
            let control = &self.shared.control;
            // Acquire pairs with the requester's AcqRel `fetch_add`: spans it pushed before
            // asking are covered by the `tail` values read below.
            let requested = control.requested.load(Ordering::Acquire);
            if requested > control.completed.load(Ordering::Relaxed) {
                for (target, consumer) in self.targets.iter_mut().zip(&self.consumers) {
                    // Relaxed is enough: a push that happened before the request happened
                    // before the Acquire above, so coherence shows us at least its `tail`.
                    *target = consumer.ring().pushed();
                }
                self.serving = Some(requested);
            }
        }
        let Some(request) = self.serving else { return };
        let done = self
            .targets
            .iter()
            .zip(&self.consumers)
            .all(|(&target, consumer)| consumer.ring().popped().wrapping_sub(target) as isize >= 0);
        let late = self.past_deadline();
        if done || late {
            if self.pending > 0 {
                self.flush_sink();
            }
            if late && !done {
                self.discard_leftovers();
            }
            self.serving = None;
            // Release pairs with the requester's Acquire load: the sink flush above happened
            // before the requester returns.
            self.shared
                .control
                .completed
                .store(request, Ordering::Release);
        }
    }

    fn past_deadline(&self) -> bool {
        let deadline = self.shared.control.deadline_ns.load(Ordering::Relaxed);
        deadline != 0 && self.shared.elapsed_ns() >= deadline
    }

    /// At shutdown: counts whatever is still in the rings as dropped and frees it.
    fn discard_leftovers(&mut self) {
        if !self.shared.control.stop.load(Ordering::Acquire) {
            return;
        }
        for consumer in &mut self.consumers {
            let chunk = consumer.read_chunk(usize::MAX);
            let n = chunk.len();
            chunk.commit(n);
            bump(&self.shared.drain_counters.dropped_shutdown, n as u64);
        }
    }

    fn idle(&self) {
        match self.shared.config.idle {
            IdleStrategy::Spin => self.pause(),
            IdleStrategy::Yield => yield_now(),
            // During shutdown, park briefly: the one `unpark` from `shutdown` is spent, and a
            // long park would outlast its deadline while a refusing sink holds spans back.
            IdleStrategy::Park(d) if self.shared.control.stop.load(Ordering::Relaxed) => {
                park_timeout(d.min(Duration::from_millis(1)))
            }
            IdleStrategy::Park(d) => park_timeout(d),
        }
    }

    /// Busy-waits [`BACKOFF`] without touching any shared line.
    #[cfg(not(ringspan_loom))]
    fn pause(&self) {
        let start = self.now();
        while self.now().wrapping_sub(start) < self.backoff_ticks {
            std::hint::spin_loop();
        }
    }

    /// loom models no time: let the other threads run instead.
    #[cfg(ringspan_loom)]
    fn pause(&self) {
        yield_now();
    }
}
