//! The recording handle a thread holds: one ring, a stack of open spans, an id generator.
//!
//! A [`Producer`] is `!Send` and `!Sync`: it belongs to the thread that claimed it (pinned
//! with [`crate::Engine::pin`], or unpinned through [`crate::Engine::producer`] and
//! [`crate::Engine::with_local`]). Dropping it gives its ring back to the pool.
//!
//! Recording a span costs: one clock read and a few stores at start, a 32-byte store per
//! attribute, and at the end one clock read and one release store. No allocation, no lock, no
//! syscall, no shared read-modify-write, and no line another thread writes: the sampler, the
//! clock and the scope are copied into the producer, the slot being built is kept as a
//! pointer, and the shutdown flag is read only on the ring-full path (see "Shutdown"). When the
//! ring is full the span is dropped and counted.
//!
//! # Unsampled spans and lazy ids
//! A span the sampler drops only pushes a frame (so that its children know their parent was
//! not sampled) and draws no ids: its trace and span ids are made the first time something
//! asks for them ([`crate::Span::context`], a `traceparent`, a child that is sampled after
//! all under a non-parent-based sampler), then kept, so every later answer agrees. A frame
//! without a trace id yet inherits it from the local parent frame it records.
//!
//! # Shutdown
//! Spans that end after shutdown began are published as usual: the drain delivers them while
//! it still runs, and once it has exited the engine counts whatever is left in a ring as
//! `dropped.shutdown`. A span that finds the ring full counts as `dropped.shutdown` rather
//! than `ring_full` once shutdown began.
//!
//! # Where an open span lives
//! The innermost open span is built in place, in the ring's next free slot (reserved, not yet
//! published), so a span without children is written exactly once. When a child starts, the
//! parent moves to its scratch record (one per stack depth, preallocated in the lane) and the
//! child takes the slot; a span that ends from scratch is copied into the next free slot.
//! Spans therefore reach the ring in the order they end, and a long-lived parent never holds
//! back its children. If the ring is full when a span starts, it is built in scratch and gets
//! a second chance when it ends.
//!
//! Nesting: spans started while another is open on the same producer become its children.
//! Spans may end in any order; a span that ends before its children is exported at once, and
//! new spans then parent to the innermost span that is still open. A guard that is leaked
//! (`mem::forget`) leaves its span open for good: later spans on the producer become its
//! children, its frame stays on the stack, and when the producer is dropped the span is
//! counted as `dropped.abandoned`.

mod log;
mod publish;
mod travel;

use std::cell::UnsafeCell;
use std::marker::PhantomData;

use super::lane::{Lane, LaneClaim};
use super::metric::cells::MetricCells;
use super::pool::Pool;
use super::sampler::Sampler;
use super::stack::{Frame, Stack, NO_PARENT};
use crate::clock::Clock;
use crate::config::MAX_DEPTH;
use crate::error::Error;
use crate::model::callsite::Callsite;
use crate::model::compact::CompactRecord;
use crate::model::ids::{IdGenerator, SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::record::{Loss, ParentKind, SpanRecord};
use crate::model::value::Value;
use crate::stats::bump;
use crate::sync::Arc;
use travel::TravelCache;

/// Where a new span takes its parent from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parent {
    /// The innermost open span of this producer, or none (a new trace).
    Current,
    /// No parent: start a new trace even if a span is open.
    Root,
    /// An explicit parent, typically from another process's `traceparent`
    /// ([`crate::parse_traceparent`]).
    Context(SpanContext),
}

/// The depth of a span that got no frame (the producer's stack was full).
pub(crate) const UNTRACKED: usize = usize::MAX;

/// A span just started by [`Producer::open`]: its frame, and whether it records.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Opened {
    /// The frame's depth, or [`UNTRACKED`].
    pub(crate) depth: usize,
    pub(crate) recording: bool,
}

/// `Inner::in_ring` when no span is being built in the ring.
const NOT_IN_RING: usize = usize::MAX;

/// `Inner::watched` when no span is watched.
const NOT_WATCHED: usize = usize::MAX;

/// What a span records into: a full record named by a value, or a compact one described by
/// its callsite.
#[derive(Clone, Copy)]
pub(crate) enum What<'v> {
    Full(Value<'v>),
    Compact(&'static Callsite),
}

/// The producer's mutable state, reachable only through [`Producer::with`].
struct Inner {
    /// Depth of the span being built in the ring's next free slot, or [`NOT_IN_RING`]. While
    /// set, `claim.ring.has_room()` has returned true and nothing was published since, and
    /// `slot` points at that slot.
    in_ring: usize,
    /// The ring slot the span at `in_ring` is built in (dangling while `in_ring` is unset).
    slot: *mut SpanRecord,
    /// The same for the compact ring: the depth of the compact span staged there, and its
    /// slot.
    compact_in_ring: usize,
    compact_slot: *mut CompactRecord,
    /// The engine's scope, for callsite spans whose callsite names none.
    default_scope: &'static str,
    /// `None` for a detached producer (the pool had no free ring).
    claim: Option<LaneClaim>,
    /// The open spans, and the id generator their ids are drawn from.
    stack: Stack,
    /// Depth of the span the lane's watch shows (the oldest open recording span), or
    /// [`NOT_WATCHED`].
    watched: usize,
    /// Travelling-span records this producer freed, full and compact, kept for its next
    /// travelling spans (see `producer/travel.rs`).
    travel_cache: TravelCache,
    compact_cache: TravelCache,
    /// Counted references to the pool this producer holds for the travelling spans it
    /// starts (`travel/keepalive.rs`).
    travel_refs: u64,
    scope: &'static str,
    /// Copies of the pool's settings, so that recording reads no shared line.
    sampler: Sampler,
    clock: Clock,
    /// `sampler` decides "not sampled" for a root without looking at its trace id.
    roots_unsampled: bool,
    /// `sampler` decides "sampled" for a root without looking at its trace id.
    roots_sampled: bool,
    /// `sampler` follows the parent's `sampled` flag.
    follows_parent: bool,
}

/// A thread's recording handle. See the module docs.
///
/// # Examples
/// ```
/// use ringspan::{Discard, Engine, EngineConfig};
/// let engine = Engine::start(EngineConfig::default().rings(1).ring_capacity(64), Discard::default()).unwrap();
/// let producer = engine.producer().unwrap();
/// {
///     let mut span = producer.span("handle_order");
///     span.set_attr("order.id", 42).set_attr("venue", "XNAS");
///     let _child = producer.span("risk_check"); // parented to handle_order
/// }
/// drop(producer);
/// let totals = engine.shutdown(std::time::Duration::from_secs(1)).unwrap();
/// assert_eq!(totals.delivered, 2);
/// ```
pub struct Producer {
    pool: Arc<Pool>,
    inner: UnsafeCell<Inner>,
    /// The core this producer pinned its thread to, released on drop.
    core: Option<usize>,
    /// The lane it holds (the same as its claim's), for its metric cells.
    lane: Option<Arc<Lane>>,
    _not_send_sync: PhantomData<*const ()>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("core", &self.core)
            .field("attached", &self.is_attached())
            .finish()
    }
}

impl Producer {
    fn new(pool: Arc<Pool>, claim: Option<LaneClaim>, core: Option<usize>) -> Self {
        let salt = claim.as_ref().map_or(0, |c| c.lane.salt);
        let lane = claim.as_ref().map(|c| Arc::clone(&c.lane));
        if let Some(c) = &claim {
            // A producer is made on the thread that will use it (it is `!Send`).
            c.lane.note_holder();
            c.lane.watch.close();
        }
        let (scope, sampler, clock) = (pool.scope, pool.sampler, pool.clock);
        let travel_cache = TravelCache::new(pool.travel.capacity(), pool.lanes.len());
        let compact_cache = TravelCache::new(pool.travel_compact.capacity(), pool.lanes.len());
        Producer {
            pool,
            inner: UnsafeCell::new(Inner {
                in_ring: NOT_IN_RING,
                slot: std::ptr::NonNull::dangling().as_ptr(),
                compact_in_ring: NOT_IN_RING,
                compact_slot: std::ptr::NonNull::dangling().as_ptr(),
                default_scope: scope,
                claim,
                stack: Stack::new(IdGenerator::new(salt)),
                watched: NOT_WATCHED,
                travel_cache,
                compact_cache,
                travel_refs: 0,
                scope,
                sampler,
                clock,
                roots_unsampled: sampler.decide_without_trace(None) == Some(false),
                roots_sampled: sampler.decide_without_trace(None) == Some(true),
                follows_parent: sampler.decide_without_trace(Some(false)) == Some(false)
                    && sampler.decide_without_trace(Some(true)) == Some(true),
            }),
            core,
            lane,
            _not_send_sync: PhantomData,
        }
    }

    /// The metric cells an instrument of `pool` records into on this producer, and whether
    /// this producer is their only writer: its lane's (it holds the claim) when it has one
    /// and belongs to `pool`, else `pool`'s shared block (see `metric/cells.rs`).
    #[inline(always)]
    pub(crate) fn metric_cells<'a>(&'a self, pool: &'a Arc<Pool>) -> (&'a MetricCells, bool) {
        match &self.lane {
            Some(lane) if Arc::ptr_eq(&self.pool, pool) => (&lane.metrics, true),
            _ => (&pool.shared_cells, false),
        }
    }

    /// See `Engine::pin`.
    pub(crate) fn pinned(pool: &Arc<Pool>, core: usize) -> Result<Producer, Error> {
        if pool.is_shutting_down() {
            return Err(Error::shut_down());
        }
        pool.take_core(core)?;
        let Some(claim) = pool.claim_lane() else {
            pool.release_core(core);
            return Err(Error::no_free_ring(pool.lanes.len()));
        };
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            pool.release_core(core);
            return Err(Error::pin_failed(core));
        }
        Ok(Producer::new(Arc::clone(pool), Some(claim), Some(core)))
    }

    /// See `Engine::producer`.
    pub(crate) fn unpinned(pool: &Arc<Pool>) -> Result<Producer, Error> {
        if pool.is_shutting_down() {
            return Err(Error::shut_down());
        }
        match pool.claim_lane() {
            Some(claim) => Ok(Producer::new(Arc::clone(pool), Some(claim), None)),
            None => Err(Error::no_free_ring(pool.lanes.len())),
        }
    }

    /// A producer that owns no ring (see `Engine::detached_producer`).
    pub(crate) fn detached(pool: &Arc<Pool>) -> Producer {
        Producer::new(Arc::clone(pool), None, None)
    }

    /// Runs `f` on the mutable state.
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&mut Inner, &Pool) -> R) -> R {
        // SAFETY: `Producer` is `!Sync` and `!Send`, so only this thread reaches `inner`; no
        // method calls `with` from inside `f`, and `f` never runs user code, so this is the only
        // reference to `inner` while it lives.
        f(unsafe { &mut *self.inner.get() }, &self.pool)
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether this producer owns a ring. A detached producer (made when the pool was
    /// exhausted) drops and counts every sampled span.
    pub fn is_attached(&self) -> bool {
        self.with(|inner, _| inner.claim.is_some())
    }

    /// Whether no span (and no entered context) is open on this producer.
    pub(crate) fn is_idle(&self) -> bool {
        self.with(|inner, _| inner.stack.depth() == 0)
    }

    /// The core this producer pinned its thread to.
    pub fn core(&self) -> Option<usize> {
        self.core
    }

    /// Sets the instrumentation scope for spans started from now on.
    pub fn set_scope(&self, scope: &'static str) {
        self.with(|inner, _| inner.scope = scope);
    }

    /// The context of the innermost open span, if any (to build a `traceparent`).
    pub fn current_context(&self) -> Option<SpanContext> {
        self.with(|inner, _| inner.stack.current().map(|d| inner.stack.context(d)))
    }

    /// Whether a span (or an entered context) is open on this producer.
    #[cfg(feature = "tracing")]
    pub(crate) fn has_current(&self) -> bool {
        self.with(|inner, _| inner.stack.current().is_some())
    }

    /// The context of the span at `depth`, or of the innermost open span for a depth past the
    /// stack (an untracked span).
    pub(crate) fn frame_context(&self, depth: usize) -> SpanContext {
        self.with(|inner, _| {
            let depth = if depth < inner.stack.depth() {
                Some(depth)
            } else {
                inner.stack.current()
            };
            match depth {
                Some(d) => inner.stack.context(d),
                None => SpanContext {
                    trace_id: TraceId([0; 16]),
                    span_id: SpanId([0; 8]),
                    flags: TraceFlags(0),
                    is_remote: false,
                },
            }
        })
    }

    /// Opens a span: pushes its frame and, if it records, begins its record. The guard that
    /// `guard.rs` wraps around the result ends it.
    ///
    /// The unsampled child (or root) of the current span is decided and pushed here, inlined
    /// into the caller: a few instructions, no call. Everything else is [`Producer::open_any`].
    #[inline(always)]
    pub(crate) fn open(&self, what: What<'_>, parent: Parent) -> Opened {
        let unsampled = self.with(|inner, _| {
            let depth = inner.stack.depth();
            let Parent::Current = parent else {
                return None;
            };
            let (unsampled, parent, flags) = match inner.stack.current() {
                None => (inner.roots_unsampled, NO_PARENT, 0),
                Some(d) => {
                    let flags = inner.stack[d].flags;
                    (inner.follows_parent && flags & 1 == 0, d as u8, flags)
                }
            };
            (unsampled && depth < MAX_DEPTH).then(|| inner.push_unsampled([0; 2], parent, flags))
        });
        match unsampled {
            Some(opened) => opened,
            None => self.open_any(what, parent),
        }
    }

    /// [`Producer::open`] for every case but the inlined one.
    #[inline(never)]
    fn open_any(&self, what: What<'_>, parent: Parent) -> Opened {
        self.with(|inner, pool| {
            if inner.stack.depth() == MAX_DEPTH {
                return inner.too_deep(pool, parent);
            }
            // The common sampled cases first, decided from two cached flags and the parent
            // frame's sampled bit, without a trace id. (The unsampled ones never get here:
            // `open` took them.)
            if let Parent::Current = parent {
                match inner.stack.current() {
                    None if inner.roots_sampled => {
                        let trace = inner.stack.new_trace_id();
                        return inner.begin(pool, what, trace, NO_PARENT, 1, None);
                    }
                    Some(d) if inner.follows_parent && inner.stack[d].flags & 1 == 1 => {
                        let Frame {
                            trace, span, flags, ..
                        } = inner.stack[d];
                        // A sampled frame drew its ids when it started.
                        let parent = Some((span, ParentKind::Local));
                        return inner.begin(pool, what, trace, d as u8, flags, parent);
                    }
                    _ => {}
                }
            }
            // Everything else: an explicit parent, or a sampler that needs the trace id.
            let (parent_frame, parent_flags, parent_cx) = match parent {
                Parent::Current => match inner.stack.current() {
                    Some(d) => (d as u8, Some(inner.stack[d].flags), None),
                    None => (NO_PARENT, None, None),
                },
                Parent::Root => (NO_PARENT, None, None),
                Parent::Context(cx) => (NO_PARENT, Some(cx.flags.0), Some(cx)),
            };
            let parent_sampled = parent_flags.map(|f| f & 1 == 1);
            let mut trace = parent_cx.map_or([0; 2], |cx| cx.trace_id.words());
            let sampled = match inner.sampler.decide_without_trace(parent_sampled) {
                Some(decided) => decided,
                None => {
                    trace = inner.stack.trace_for(parent_frame, trace);
                    inner.sampler.should_sample_words(parent_sampled, trace)
                }
            };
            let flags = parent_flags.map_or(0, |f| f & !1) | u8::from(sampled);
            if !sampled {
                return inner.push_unsampled(trace, parent_frame, flags);
            }
            let trace = inner.stack.trace_for(parent_frame, trace);
            let parent = match (parent_cx, parent_frame) {
                (Some(cx), _) if cx.is_remote => Some((cx.span_id.word(), ParentKind::Remote)),
                (Some(cx), _) => Some((cx.span_id.word(), ParentKind::Local)),
                (None, NO_PARENT) => None,
                (None, p) => Some((inner.stack.span_of(usize::from(p)), ParentKind::Local)),
            };
            inner.begin(pool, what, trace, parent_frame, flags, parent)
        })
    }

    /// Runs `f` on the full record of the recording span at `depth` (a compact span is
    /// promoted to one first).
    #[inline(always)]
    pub(crate) fn edit(&self, depth: usize, f: impl FnOnce(&mut SpanRecord, &mut Loss, &Clock)) {
        self.with(|inner, _| {
            if inner.stack[depth].compact {
                inner.promote(depth);
            }
            // SAFETY: the frame at `depth` belongs to the one span guard calling us, and `with`
            // holds no other reference into the records.
            if let Some(rec) = unsafe { inner.record(depth) } {
                let mut loss = Loss::default();
                f(rec, &mut loss, &inner.clock);
                inner.count_loss(loss);
            }
        })
    }

    /// Runs `compact` on the compact record of the recording span at `depth`, or `full` on its
    /// full record if it is not (or no longer) compact, or if `compact` returns `false`
    /// (then the span is promoted first).
    #[inline(always)]
    pub(crate) fn edit_either(
        &self,
        depth: usize,
        compact: impl FnOnce(&mut CompactRecord) -> bool,
        full: impl FnOnce(&mut SpanRecord, &mut Loss),
    ) {
        self.with(|inner, _| {
            if inner.stack[depth].compact {
                // SAFETY: the frame at `depth` belongs to the one span guard calling us, and
                // `with` holds no other reference into the records.
                if let Some(rec) = unsafe { inner.compact_record(depth) } {
                    if compact(rec) {
                        return;
                    }
                }
                inner.promote(depth);
            }
            // SAFETY: as above.
            if let Some(rec) = unsafe { inner.record(depth) } {
                let mut loss = Loss::default();
                full(rec, &mut loss);
                inner.count_loss(loss);
            }
        })
    }

    /// Sets values for the callsite keys of the span at `depth` (see `Span::set_values`).
    #[inline(always)]
    pub(crate) fn set_values(&self, depth: usize, values: &[Value<'_>]) {
        self.with(|inner, _| {
            if inner.stack[depth].compact {
                // SAFETY: the frame at `depth` belongs to the one span guard calling us, and
                // `with` holds no other reference into the records.
                let Some(rec) = (unsafe { inner.compact_record(depth) }) else {
                    return;
                };
                if rec.push_values(values) {
                    return;
                }
                inner.promote(depth);
            }
            inner.set_values_full(depth, values);
        })
    }

    /// Ends the span at `depth`: publishes it if it is recording, and pops its frame.
    #[inline(always)]
    pub(crate) fn finish(&self, depth: usize, recording: bool) {
        if recording {
            self.publish(depth);
        }
        self.with(|inner, _| inner.stack.close(depth))
    }
}

impl Producer {
    /// Publishes the recording span at `depth` (out of line: the unsampled end is inlined
    /// into the guard's drop, this is not).
    #[inline(never)]
    fn publish(&self, depth: usize) {
        self.with(|inner, pool| {
            if inner.stack[depth].compact {
                inner.publish_compact(depth, pool)
            } else {
                inner.publish(depth, pool)
            }
            if depth == inner.watched {
                inner.unwatch(depth);
            }
        });
    }
}

impl Inner {
    /// Pushes the frame of a span that is not sampled: nothing drawn, nothing written; the
    /// frame only carries the decision down to its children.
    #[inline(always)]
    fn push_unsampled(&mut self, trace: [u64; 2], parent: u8, flags: u8) -> Opened {
        let depth = self.stack.push(Frame {
            trace,
            span: 0,
            parent,
            flags: flags & !1,
            open: true,
            recording: false,
            compact: false,
            values: 0,
            callsite: None,
        });
        Opened {
            depth,
            recording: false,
        }
    }

    /// Pushes the frame of a sampled span and begins its record (in its ring's next free
    /// slot when there is one, else in scratch). `parent` is the parent's span id and kind.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn begin(
        &mut self,
        pool: &Pool,
        what: What<'_>,
        trace: [u64; 2],
        parent_frame: u8,
        flags: u8,
        parent: Option<(u64, ParentKind)>,
    ) -> Opened {
        let span = self.stack.new_span_id();
        let recording = self.claim.is_some();
        let (compact, callsite) = match what {
            What::Full(_) => (false, None),
            What::Compact(cs) => (true, Some(cs)),
        };
        let depth = self.stack.push(Frame {
            trace,
            span,
            parent: parent_frame,
            flags,
            open: true,
            recording,
            compact,
            values: 0,
            callsite,
        });
        let not_recording = Opened {
            depth,
            recording: false,
        };
        if !recording {
            pool.count_no_ring();
            return not_recording;
        }
        let (parent_span, parent_kind) = parent.unwrap_or((0, ParentKind::None));
        match what {
            What::Full(name) => {
                self.evict();
                if let Some(claim) = &mut self.claim {
                    if let Ok(slot) = claim.ring.stage() {
                        self.slot = slot;
                        self.in_ring = depth;
                        // The slot after this one is most likely the next span's: start
                        // fetching the lines a span with a few attributes fills (header,
                        // four attributes).
                        claim.ring.prefetch(1, 4);
                    }
                }
                let start = self.clock.now();
                let scope = self.scope;
                // SAFETY: frame `depth` was free until now, so no span guard uses its record,
                // and no other reference into the records is alive.
                let Some(rec) = (unsafe { self.record(depth) }) else {
                    return not_recording;
                };
                rec.begin(
                    trace,
                    span,
                    parent_span,
                    parent_kind,
                    TraceFlags(flags),
                    scope,
                    start,
                );
                let mut loss = Loss::default();
                rec.set_name(name, &mut loss);
                self.count_loss(loss);
                self.started(depth, start, name.as_static());
            }
            What::Compact(callsite) => {
                self.evict_compact();
                if let Some(claim) = &mut self.claim {
                    if let Ok(slot) = claim.compact.stage() {
                        self.compact_slot = slot;
                        self.compact_in_ring = depth;
                        // Both lines of the next compact slot.
                        claim.compact.prefetch(1, 2);
                    }
                }
                let start = self.clock.now();
                // SAFETY: as above, for the compact records.
                let Some(rec) = (unsafe { self.compact_record(depth) }) else {
                    return not_recording;
                };
                rec.begin(
                    callsite,
                    trace,
                    span,
                    parent_span,
                    parent_kind,
                    TraceFlags(flags),
                    start,
                );
                self.started(depth, start, Some(callsite.name()));
            }
        }
        Opened {
            depth,
            recording: true,
        }
    }

    /// Counts a span that began recording at `depth` at `start`, and watches it if no older
    /// span is (see `watch.rs`).
    #[inline(always)]
    fn started(&mut self, depth: usize, start: u64, name: Option<&'static str>) {
        let Some(claim) = &self.claim else { return };
        bump(&claim.lane.counters.started, 1);
        if self.watched == NOT_WATCHED {
            self.watched = depth;
            // SAFETY: this producer holds the lane's claim: the watch's only writer, and
            // successive holders are ordered by the claim's release and acquire.
            unsafe { claim.lane.watch.open(start, name) };
        }
    }

    /// The watched span at `depth` ends: usually the last one open (the top frame), so
    /// nothing is watched any more; else see `rewatch`.
    #[inline(always)]
    fn unwatch(&mut self, depth: usize) {
        self.watched = NOT_WATCHED;
        if depth + 1 == self.stack.depth() {
            if let Some(claim) = &self.claim {
                claim.lane.watch.close();
            }
        } else {
            self.rewatch(depth);
        }
    }

    /// The watched span at `depth` ended before spans above it: watch the oldest of those
    /// still open (one that ends before its children), or nothing.
    #[cold]
    fn rewatch(&mut self, depth: usize) {
        let next = (depth + 1..self.stack.depth())
            .find(|&d| self.stack[d].open && self.stack[d].recording);
        let Some(claim) = &self.claim else { return };
        let Some(d) = next else {
            claim.lane.watch.close();
            return;
        };
        let (start, name) = if self.stack[d].compact {
            // SAFETY: `d` is a recording compact span's frame; no other reference into the
            // records is alive while `self` is borrowed mutably.
            match unsafe { self.compact_record(d) } {
                Some(rec) => (rec.start_ticks(), Some(rec.name())),
                None => return,
            }
        } else {
            // SAFETY: as above, for a full record.
            match unsafe { self.record(d) } {
                Some(rec) => (rec.start_ticks(), rec.name_static()),
                None => return,
            }
        };
        self.watched = d;
        if let Some(claim) = &self.claim {
            // SAFETY: as in `started`: the claim makes this producer the only writer.
            unsafe { claim.lane.watch.open(start, name) };
        }
    }

    /// The compact record of the recording compact span at `depth`: its staged slot in the
    /// compact ring, or its compact scratch record. `None` for a detached producer.
    ///
    /// # Safety
    /// As for [`Inner::record`], for a compact span's frame.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn compact_record(&self, depth: usize) -> Option<&mut CompactRecord> {
        let claim = self.claim.as_ref()?;
        Some(if self.compact_in_ring == depth {
            // SAFETY: `compact_slot` is the staged compact slot while `compact_in_ring` is
            // set (free, unpublished: every compact publish or push first clears or evicts
            // it), and the caller holds no other reference.
            unsafe { &mut *self.compact_slot }
        } else {
            // SAFETY: the claim makes the compact scratch records ours; no other reference.
            unsafe { claim.lane.compact_scratch(depth) }
        })
    }

    /// `set_values` on a full record: the values go under the callsite's keys from the one
    /// the next value takes; values past the last key (every value, for a span without a
    /// callsite) are dropped and counted.
    #[cold]
    fn set_values_full(&mut self, depth: usize, values: &[Value<'_>]) {
        let frame = self.stack[depth];
        let keys = frame.callsite.map_or(&[][..], |c| c.keys());
        let from = usize::from(frame.values).min(keys.len());
        let set = values.len().min(usize::from(u8::MAX)) as u8;
        self.stack[depth].values = frame.values.saturating_add(set);
        // SAFETY: the frame at `depth` is a recording span's (the guard only calls for
        // those), and no other reference into the records is alive.
        let Some(rec) = (unsafe { self.record(depth) }) else {
            return;
        };
        let mut loss = Loss::default();
        for (&k, &v) in keys[from..].iter().zip(values) {
            rec.push_attr(k, v, &mut loss);
        }
        let extra = values.len().saturating_sub(keys.len() - from);
        rec.count_dropped_attrs(extra as u32);
        self.count_loss(loss);
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if let Some(core) = self.core {
            self.pool.release_core(core);
        }
        // Span guards borrow the producer, so a frame still open here belongs to a guard that
        // was leaked (`mem::forget`): that span will never end. Count it rather than lose it.
        let inner = self.inner.get_mut();
        // SAFETY: a cached record is held by this producer alone (`producer/travel.rs`), and
        // nothing refers to it.
        unsafe {
            inner.travel_cache.give_all_back(&self.pool.travel);
            inner.compact_cache.give_all_back(&self.pool.travel_compact);
        }
        // The pool references it held for travelling spans; if they were the last, the
        // pool's reference to itself goes (this producer's own `Arc` still holds it here).
        let refs = std::mem::take(&mut inner.travel_refs);
        drop(self.pool.keepalive.release(refs));
        if let Some(claim) = &inner.claim {
            claim.lane.watch.close();
            let abandoned = inner.stack.open_recording();
            if abandoned > 0 {
                bump(&claim.lane.counters.recorded, abandoned);
                bump(&claim.lane.counters.dropped_abandoned, abandoned);
                for depth in inner.stack.open_recording_depths() {
                    let frame = &inner.stack[depth];
                    if frame.compact {
                        // A compact span always has its callsite.
                        self.pool
                            .note_abandoned(frame.callsite.map_or("?", |c| c.name()));
                        continue;
                    }
                    // SAFETY: the producer is being dropped, so no guard (which borrows it)
                    // is alive, and no other reference into its records exists.
                    match unsafe { inner.record(depth) } {
                        Some(rec) => self.pool.note_abandoned(rec.name()),
                        None => self.pool.note_abandoned("?"),
                    }
                }
            }
        }
        // The lane claim (if any) is released when `inner` drops.
    }
}
