//! The drain: one named thread (`ringspan-drain`) that empties every ring into the sink.
//!
//! # Loop
//! Each pass visits every ring once (a lane's full, compact and log rings) and offers the
//! sink the ring's ready spans (or log records) as contiguous slices, at most up to the
//! batch size (counted for spans and for log records apart: each request holds one signal). The sink takes a prefix (all of it, or less when its
//! buffers are full: backpressure) and only what it took leaves the ring. The drain asks the
//! sink to flush when `max_batch` spans (or log records) are pending, when the oldest pending span has waited
//! `schedule_delay`, and on request. A pass that moved fewer than `LOW_WATER` spans runs the
//! idle strategy: with `Spin`, a 2 us busy wait (see `BACKOFF` for why polling less often
//! makes producers faster); with `Yield` or `Park`, the core is given away, because those
//! strategies are for a drain that shares its core (with the exporter, say), and a 2 us busy
//! wait after every thin pass would keep that core busy at any load.
//!
//! # Flush and shutdown
//! See `handshake.rs`: the drain serves flush requests by draining every ring up to the
//! positions it saw when the request arrived, and exits after the final one.
//!
//! # A sink that panics
//! Every call into the sink runs under `catch_unwind`. After a panic the sink is dropped and
//! never called again: its state is unknown. The spans offered in the call that panicked, and
//! every span the drain pops afterwards, are counted as `dropped.sink_panicked`; spans the sink
//! had already taken stay `delivered` (what a sink does with spans it took is its own
//! accounting). Flush and shutdown keep working, so the identity still settles within the
//! shutdown deadline.
//!
//! Nothing here allocates after start: the per-ring targets are a vector sized once.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::handshake::Handshake;
use super::sink::Sink;
use crate::clock::Calibration;
use crate::config::IdleStrategy;
use crate::model::compact::CompactRecord;
use crate::model::log::LogRecord;
use crate::model::record::SpanRecord;
use crate::produce::pool::Consumers;
use crate::ring::RingConsumer;
use crate::stats::{bump, DrainCounters, RingHighWater};
use crate::sync::{park_timeout, yield_now, Arc, AtomicU64, Ordering};

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

/// What the drain is told at start (from the engine's configuration).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DrainSettings {
    pub(crate) max_batch: usize,
    pub(crate) schedule_delay: Duration,
    pub(crate) idle: IdleStrategy,
    /// The scope of callsite spans whose callsite names none.
    pub(crate) scope: &'static str,
    /// What `DrainCounters::last_pass_ns` counts from (the engine's start).
    pub(crate) epoch: std::time::Instant,
}

/// The drain thread's state.
pub(crate) struct Drain {
    settings: DrainSettings,
    handshake: Arc<Handshake>,
    counters: Arc<CachePadded<DrainCounters>>,
    /// The lanes' rings of full records, of compact records and of log records (the same
    /// lane at the same index; no log rings while logs are off).
    consumers: Vec<RingConsumer<SpanRecord>>,
    compact: Vec<RingConsumer<CompactRecord>>,
    logs: Vec<RingConsumer<LogRecord>>,
    /// `None` once the sink has panicked.
    sink: Option<Box<dyn Sink>>,
    calibration: Calibration,
    /// Per-ring `tail` targets of the flush in progress (full rings, then compact rings, then
    /// log rings).
    targets: Vec<usize>,
    /// The flush request being served.
    serving: Option<u64>,
    /// Spans and log records accepted since the last sink flush (`[spans, logs]`), and when
    /// (in clock ticks) the first of them arrived.
    pending: [usize; 2],
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
        settings: DrainSettings,
        handshake: Arc<Handshake>,
        counters: Arc<CachePadded<DrainCounters>>,
        consumers: Consumers,
        sink: Box<dyn Sink>,
        calibration: Calibration,
    ) -> Self {
        let Consumers {
            full: consumers,
            compact,
            logs,
        } = consumers;
        let targets = vec![0; consumers.len() + compact.len() + logs.len()];
        let now = calibration.clock().now();
        let mut drain = Drain {
            settings,
            handshake,
            counters,
            consumers,
            compact,
            logs,
            sink: Some(sink),
            calibration,
            targets,
            serving: None,
            pending: [0; 2],
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
        self.delay_ticks = cal.ticks_for(self.settings.schedule_delay);
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
            let at = self.settings.epoch.elapsed().as_nanos() as u64;
            // Relaxed: a statistic (the drain's lag), one writer.
            self.counters.last_pass_ns.store(at, Ordering::Relaxed);
            self.serve_flush_requests();
            let now = self.now();
            if self.any_pending() && now.wrapping_sub(self.pending_since) >= self.delay_ticks {
                self.flush_sink();
            }
            // `shutdown` makes its final request before it sets `stop`, so a drain that sees
            // `stop` also sees that request: once nothing is being served and every request
            // is complete, the final flush is done (or timed out).
            if self.serving.is_none() && self.handshake.stopping() && self.handshake.all_complete()
            {
                break;
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
        if self.any_pending() {
            self.flush_sink();
        }
        self.discard_leftovers();
        // Our last counter updates are visible to whoever sees this.
        self.handshake.mark_exited();
    }

    /// One visit of every ring; returns the spans and log records moved into the sink.
    fn pass(&mut self) -> usize {
        let mut moved = 0;
        for i in 0..self.consumers.len() {
            moved += self.visit(i, Kind::Full);
            moved += self.visit(i, Kind::Compact);
            if i < self.logs.len() {
                moved += self.visit(i, Kind::Logs);
            }
        }
        moved
    }

    /// Offers lane `i`'s ring of `kind` to the sink; without a sink (it panicked), frees
    /// the ring's records as `dropped.sink_panicked` (or `logs.dropped.sink_panicked`).
    fn visit(&mut self, i: usize, kind: Kind) -> usize {
        let hw = &self.counters.high_water[i];
        match kind {
            Kind::Full => RingHighWater::raise(&hw.full, self.consumers[i].len()),
            Kind::Compact => RingHighWater::raise(&hw.compact, self.compact[i].len()),
            Kind::Logs => {}
        }
        let panicked = kind.counters(&self.counters).panicked;
        let Some(sink) = self.sink.as_mut() else {
            let n = match kind {
                Kind::Full => discard(&mut self.consumers[i]),
                Kind::Compact => discard(&mut self.compact[i]),
                Kind::Logs => discard(&mut self.logs[i]),
            };
            bump(panicked, n as u64);
            return n;
        };
        let room = self.settings.max_batch - self.pending[kind.signal()];
        let (cal, scope) = (&self.calibration, self.settings.scope);
        let stalls = &self.counters.sink_stalls;
        let taken = match kind {
            Kind::Full => take(&mut self.consumers[i], room, stalls, panicked, |spans| {
                sink.accept(spans, cal)
            }),
            Kind::Compact => take(&mut self.compact[i], room, stalls, panicked, |spans| {
                sink.accept_compact(spans, scope, cal)
            }),
            Kind::Logs => take(&mut self.logs[i], room, stalls, panicked, |logs| {
                sink.accept_logs(logs, cal)
            }),
        };
        match taken {
            Ok(taken) => self.taken(taken, kind),
            Err(taken) => {
                self.sink_panicked();
                self.taken(taken, kind)
            }
        }
    }

    /// Counts `taken` records of `kind` the sink just took, and flushes it at a full batch.
    fn taken(&mut self, taken: usize, kind: Kind) -> usize {
        if taken > 0 {
            let lost = match self.sink.as_mut() {
                Some(sink) => match catch_unwind(AssertUnwindSafe(|| match kind {
                    Kind::Logs => sink.take_dropped_logs(),
                    _ => sink.take_dropped(),
                })) {
                    Ok(lost) => lost.min(taken as u64),
                    Err(_) => {
                        self.sink_panicked();
                        0
                    }
                },
                None => 0,
            };
            let c = kind.counters(&self.counters);
            bump(c.delivered, taken as u64 - lost);
            bump(c.too_large, lost);
            if !self.any_pending() {
                self.pending_since = self.calibration.clock().now();
            }
            self.pending[kind.signal()] += taken;
        }
        if self.pending[kind.signal()] >= self.settings.max_batch {
            self.flush_sink();
        }
        taken
    }

    fn any_pending(&self) -> bool {
        self.pending != [0; 2]
    }

    fn flush_sink(&mut self) {
        if let Some(sink) = self.sink.as_mut() {
            let cal = &self.calibration;
            if catch_unwind(AssertUnwindSafe(|| sink.flush(cal))).is_err() {
                self.sink_panicked();
            }
        }
        bump(&self.counters.flushes, 1);
        self.pending = [0; 2];
    }

    /// Drops the sink that just panicked (its own `Drop` may panic too) and counts the panic.
    fn sink_panicked(&mut self) {
        if let Some(sink) = self.sink.take() {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(sink)));
        }
        bump(&self.counters.sink_panics, 1);
    }

    /// Starts serving a new flush request, and completes the one being served once every ring
    /// reached its target.
    fn serve_flush_requests(&mut self) {
        if self.serving.is_none() {
            if let Some(requested) = self.handshake.new_request() {
                let pushed = self.consumers.iter().map(RingConsumer::pushed);
                let pushed = pushed.chain(self.compact.iter().map(RingConsumer::pushed));
                let pushed = pushed.chain(self.logs.iter().map(RingConsumer::pushed));
                for (target, pushed) in self.targets.iter_mut().zip(pushed) {
                    // Relaxed (inside `pushed`) is enough: a push that happened before the
                    // request happened before `new_request`'s Acquire, so coherence shows us
                    // at least its `tail`.
                    *target = pushed;
                }
                self.serving = Some(requested);
            }
        }
        let Some(request) = self.serving else { return };
        let popped = self.consumers.iter().map(RingConsumer::popped);
        let popped = popped.chain(self.compact.iter().map(RingConsumer::popped));
        let popped = popped.chain(self.logs.iter().map(RingConsumer::popped));
        let done = self
            .targets
            .iter()
            .zip(popped)
            .all(|(&target, popped)| popped.wrapping_sub(target) as isize >= 0);
        let late = self.handshake.past_deadline();
        if done || late {
            if self.any_pending() {
                self.flush_sink();
            }
            if late && !done {
                self.discard_leftovers();
            }
            self.serving = None;
            // The sink flush above happens before the requester returns.
            self.handshake.complete(request);
        }
    }

    /// At shutdown: counts whatever is still in the rings as dropped and frees it.
    fn discard_leftovers(&mut self) {
        if !self.handshake.stopping() {
            return;
        }
        let mut left = 0;
        for consumer in &mut self.consumers {
            left += discard(consumer);
        }
        for consumer in &mut self.compact {
            left += discard(consumer);
        }
        bump(&self.counters.dropped_shutdown, left as u64);
        let mut logs = 0;
        for consumer in &mut self.logs {
            logs += discard(consumer);
        }
        bump(&self.counters.logs_dropped_shutdown, logs as u64);
    }

    fn idle(&self) {
        match self.settings.idle {
            IdleStrategy::Spin => self.pause(),
            IdleStrategy::Yield => yield_now(),
            // During shutdown, park briefly: the one `unpark` from `shutdown` is spent, and a
            // long park would outlast its deadline while a refusing sink holds spans back.
            IdleStrategy::Park(d) if self.handshake.stopping() => {
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

/// Which of a lane's rings a visit reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Full,
    Compact,
    Logs,
}

/// The drain counters of one signal.
struct SignalCounters<'a> {
    delivered: &'a AtomicU64,
    too_large: &'a AtomicU64,
    panicked: &'a AtomicU64,
}

impl Kind {
    /// The index of its signal in `Drain::pending`.
    fn signal(self) -> usize {
        usize::from(self == Kind::Logs)
    }

    fn counters(self, c: &DrainCounters) -> SignalCounters<'_> {
        match self {
            Kind::Full | Kind::Compact => SignalCounters {
                delivered: &c.delivered,
                too_large: &c.dropped_too_large,
                panicked: &c.dropped_sink_panicked,
            },
            Kind::Logs => SignalCounters {
                delivered: &c.logs_delivered,
                too_large: &c.logs_dropped_too_large,
                panicked: &c.logs_dropped_sink_panicked,
            },
        }
    }
}

/// Offers `consumer`'s ready records (at most `room`) to `accept` as contiguous slices, frees
/// what it took, and counts a stall when it took less; returns how many it took.
///
/// If `accept` panics, every record offered in that call is freed and counted in `panicked`,
/// and `Err` carries what earlier calls took.
fn take<T>(
    consumer: &mut RingConsumer<T>,
    room: usize,
    stalls: &AtomicU64,
    panicked: &AtomicU64,
    mut accept: impl FnMut(&[T]) -> usize,
) -> Result<usize, usize> {
    let chunk = consumer.read_chunk(room);
    if chunk.is_empty() {
        return Ok(0);
    }
    let offered = chunk.len();
    let (a, b) = chunk.as_slices();
    let mut accept = |spans: &[T]| catch_unwind(AssertUnwindSafe(|| accept(spans)));
    let mut taken = match accept(a) {
        Ok(n) => n.min(a.len()),
        Err(_) => {
            chunk.commit(offered);
            bump(panicked, offered as u64);
            return Err(0);
        }
    };
    if taken == a.len() && !b.is_empty() {
        match accept(b) {
            Ok(n) => taken += n.min(b.len()),
            Err(_) => {
                chunk.commit(offered);
                bump(panicked, (offered - taken) as u64);
                return Err(taken);
            }
        }
    }
    chunk.commit(taken);
    if taken < offered {
        bump(stalls, 1);
    }
    Ok(taken)
}

/// Frees everything in `consumer`'s ring; returns how many spans that was.
fn discard<T>(consumer: &mut RingConsumer<T>) -> usize {
    let chunk = consumer.read_chunk(usize::MAX);
    let n = chunk.len();
    chunk.commit(n);
    n
}
