//! The recording handle a thread holds: one ring, a stack of open spans, an id generator.
//!
//! A [`Producer`] is `!Send` and `!Sync`: it belongs to the thread that claimed it (pinned
//! with [`crate::Engine::pin`], or unpinned through [`crate::Engine::producer`] and
//! [`crate::Engine::with_local`]). Dropping it gives its ring back to the pool.
//!
//! Recording a span costs: one clock read and a few stores at start, a 32-byte store per
//! attribute, and at the end one clock read and one release store. No allocation, no lock, no
//! syscall, no shared read-modify-write. When the ring is full the span is dropped and counted.
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

use std::cell::UnsafeCell;
use std::marker::PhantomData;

use super::lane::LaneClaim;
use super::pool::Pool;
use crate::clock::Clock;
use crate::config::MAX_DEPTH;
use crate::error::Error;
use crate::model::ids::{IdGenerator, SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::record::{Loss, ParentKind, SpanRecord};
use crate::model::value::Value;
use crate::stats::{bump, LaneCounters};
use crate::sync::{Arc, AtomicU64};

/// Where a new span takes its parent from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parent {
    /// The innermost open span of this producer, or none (a new trace).
    Current,
    /// No parent: start a new trace even if a span is open.
    Root,
    /// An explicit parent, typically from another process's `traceparent`
    /// ([`crate::produce::traceparent::parse`]).
    Context(SpanContext),
}

/// One open span on the producer's stack. Ids are kept as words (see `TraceId::words`).
#[derive(Clone, Copy, Debug)]
struct Frame {
    trace: [u64; 2],
    span: u64,
    flags: u8,
    open: bool,
    /// Whether it will be exported (sampled, with a ring): counted if it is abandoned.
    recording: bool,
}

impl Frame {
    fn context(&self) -> SpanContext {
        SpanContext {
            trace_id: TraceId::from_words(self.trace),
            span_id: SpanId::from_word(self.span),
            flags: TraceFlags(self.flags),
            is_remote: false,
        }
    }
}

const NO_FRAME: Frame = Frame {
    trace: [0; 2],
    span: 0,
    flags: 0,
    open: false,
    recording: false,
};

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

/// The producer's mutable state, reachable only through [`Producer::with`].
struct Inner {
    /// Depth of the span being built in the ring's next free slot, or [`NOT_IN_RING`]. While
    /// set, `claim.ring.has_room()` has returned true and nothing was published since.
    in_ring: usize,
    /// `None` for a detached producer (the pool had no free ring).
    claim: Option<LaneClaim>,
    ids: IdGenerator,
    /// Frames `0..depth` are in use; frames above the last open one are popped at once.
    depth: usize,
    stack: [Frame; MAX_DEPTH],
    scope: &'static str,
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
        let scope = pool.scope;
        Producer {
            pool,
            inner: UnsafeCell::new(Inner {
                in_ring: NOT_IN_RING,
                claim,
                ids: IdGenerator::new(salt),
                depth: 0,
                stack: [NO_FRAME; MAX_DEPTH],
                scope,
            }),
            core,
            _not_send_sync: PhantomData,
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
        self.with(|inner, _| inner.current().map(Frame::context))
    }

    /// The context of the span at `depth`, or of the innermost open span for a depth past the
    /// stack (an untracked span).
    pub(crate) fn frame_context(&self, depth: usize) -> SpanContext {
        self.with(|inner, _| match inner.stack.get(depth) {
            Some(frame) => frame.context(),
            None => inner.current().unwrap_or(&NO_FRAME).context(),
        })
    }

    /// Opens a span: pushes its frame and, if it records, begins its record. The guard that
    /// `guard.rs` wraps around the result ends it.
    #[inline(always)]
    pub(crate) fn open(&self, name: Value<'_>, parent: Parent) -> Opened {
        self.with(|inner, shared| {
            // (trace words, parent span word, parent flags, parent is remote)
            let parent = match parent {
                Parent::Current => inner.current().map(|f| (f.trace, f.span, f.flags, false)),
                Parent::Root => None,
                Parent::Context(cx) => Some((
                    cx.trace_id.words(),
                    cx.span_id.word(),
                    cx.flags.0,
                    cx.is_remote,
                )),
            };
            let trace = match parent {
                Some((t, ..)) => t,
                None => inner.ids.trace_words(),
            };
            let sampled = shared
                .sampler
                .should_sample_words(parent.map(|(_, _, f, _)| f & 1 == 1), trace);
            let flags = parent.map_or(0, |(_, _, f, _)| f & !1) | u8::from(sampled);
            let span = inner.ids.span_word();
            let depth = inner.depth;
            if depth == MAX_DEPTH {
                if sampled {
                    inner.count_dropped(shared, |c| &c.dropped_too_deep);
                }
                return Opened {
                    depth: UNTRACKED,
                    recording: false,
                };
            }
            let recording = sampled && inner.claim.is_some();
            inner.stack[depth] = Frame {
                trace,
                span,
                flags,
                open: true,
                recording,
            };
            inner.depth = depth + 1;
            let not_recording = Opened {
                depth,
                recording: false,
            };
            if !sampled {
                return not_recording;
            }
            if inner.claim.is_none() {
                shared.count_no_ring();
                return not_recording;
            }
            let (parent_span, parent_kind) = match parent {
                None => (0, ParentKind::None),
                Some((_, p, _, true)) => (p, ParentKind::Remote),
                Some((_, p, _, false)) => (p, ParentKind::Local),
            };
            inner.evict();
            if let Some(claim) = &mut inner.claim {
                if claim.ring.has_room() {
                    inner.in_ring = depth;
                    // The slot after this one is most likely the next span's: start fetching
                    // the lines a span with a few attributes fills (header, four attributes).
                    claim.ring.prefetch(1, 4);
                }
            }
            // SAFETY: frame `depth` was free until now, so no span guard uses its record, and
            // no other reference into the records is alive.
            let Some(rec) = (unsafe { inner.record(depth) }) else {
                return not_recording;
            };
            rec.begin(
                trace,
                span,
                parent_span,
                parent_kind,
                TraceFlags(flags),
                inner.scope,
                shared.clock.now(),
            );
            let mut loss = Loss::default();
            rec.set_name(name, &mut loss);
            inner.count_loss(loss);
            Opened {
                depth,
                recording: true,
            }
        })
    }

    /// Runs `f` on the scratch record of the recording span at `depth`.
    #[inline(always)]
    pub(crate) fn edit(&self, depth: usize, f: impl FnOnce(&mut SpanRecord, &mut Loss, &Clock)) {
        self.with(|inner, shared| {
            // SAFETY: the frame at `depth` belongs to the one span guard calling us, and `with`
            // holds no other reference into the records.
            if let Some(rec) = unsafe { inner.record(depth) } {
                let mut loss = Loss::default();
                f(rec, &mut loss, &shared.clock);
                inner.count_loss(loss);
            }
        })
    }

    /// Ends the span at `depth`: publishes it if it is recording, and pops its frame.
    #[inline(always)]
    pub(crate) fn finish(&self, depth: usize, recording: bool) {
        self.with(|inner, shared| {
            if recording {
                inner.publish(depth, shared);
            }
            inner.stack[depth].open = false;
            while inner.depth > 0 && !inner.stack[inner.depth - 1].open {
                inner.depth -= 1;
            }
        })
    }
}

impl Inner {
    /// The record of the recording span at `depth`: the ring slot if it is being built there,
    /// else its scratch record.
    ///
    /// `None` for a detached producer.
    ///
    /// # Safety
    /// `depth` must be a recording span's frame, and no other reference into the records may
    /// be alive.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn record(&self, depth: usize) -> Option<&mut SpanRecord> {
        let claim = self.claim.as_ref()?;
        Some(if self.in_ring == depth {
            // SAFETY: `in_ring` is set only while `has_room` holds (see its doc), and the
            // caller holds no other reference.
            unsafe { claim.ring.next_slot() }
        } else {
            // SAFETY: the claim makes the scratch records ours; the caller holds no other
            // reference.
            unsafe { claim.lane.scratch(depth) }
        })
    }

    /// Stamps the end of the recording span at `depth` and hands it to the ring: publishes the
    /// slot it was built in, or copies it there from scratch, or counts it as dropped.
    #[inline(always)]
    fn publish(&mut self, depth: usize, shared: &Pool) {
        let in_ring = self.in_ring == depth;
        // SAFETY: `depth` is a recording span's frame, and no other reference is alive.
        let Some(rec) = (unsafe { self.record(depth) }) else {
            return;
        };
        rec.set_end(shared.clock.now());
        if in_ring {
            self.in_ring = NOT_IN_RING;
        } else {
            self.evict();
        }
        let Some(claim) = &mut self.claim else { return };
        let counters = &claim.lane.counters;
        bump(&counters.recorded, 1);
        if shared.is_shutting_down() {
            // A slot reserved for the span is simply never published.
            bump(&counters.dropped_shutdown, 1);
        } else if in_ring {
            // SAFETY: `in_ring` was set only after `has_room` returned true, and nothing was
            // published since (every publish or push first clears or evicts it).
            unsafe { claim.ring.publish_next() };
        } else {
            // SAFETY: the span's scratch record; no other reference is alive, and the slot
            // written is different memory.
            let rec = unsafe { claim.lane.scratch(depth) };
            if claim
                .ring
                .push_with(|slot| rec.copy_used_into(slot))
                .is_err()
            {
                bump(&counters.dropped_ring_full, 1);
            }
        }
    }

    /// Moves the span being built in the ring slot, if any, to its scratch record, freeing
    /// the slot for another span.
    #[inline]
    fn evict(&mut self) {
        if self.in_ring == NOT_IN_RING {
            return;
        }
        let Some(claim) = &self.claim else { return };
        // SAFETY: `in_ring` is set, so `has_room` holds for the slot; the slot and the scratch
        // record are different memory, and no other reference to either is alive.
        unsafe {
            claim
                .ring
                .next_slot()
                .copy_used_into(claim.lane.scratch(self.in_ring))
        };
        self.in_ring = NOT_IN_RING;
    }

    /// The innermost open frame.
    #[inline(always)]
    fn current(&self) -> Option<&Frame> {
        self.stack[..self.depth].iter().rev().find(|f| f.open)
    }

    /// Counts one sampled span dropped at start: recorded and dropped for the given reason.
    fn count_dropped(&self, shared: &Pool, reason: impl FnOnce(&LaneCounters) -> &AtomicU64) {
        match &self.claim {
            Some(claim) => {
                bump(&claim.lane.counters.recorded, 1);
                bump(reason(&claim.lane.counters), 1);
            }
            None => shared.count_no_ring(),
        }
    }

    #[inline(always)]
    fn count_loss(&self, loss: Loss) {
        if loss.truncated > 0 {
            if let Some(claim) = &self.claim {
                bump(
                    &claim.lane.counters.truncated_strings,
                    u64::from(loss.truncated),
                );
            }
        }
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
        if let Some(claim) = &inner.claim {
            let abandoned = inner.stack[..inner.depth]
                .iter()
                .filter(|f| f.open && f.recording)
                .count() as u64;
            if abandoned > 0 {
                bump(&claim.lane.counters.recorded, abandoned);
                bump(&claim.lane.counters.dropped_abandoned, abandoned);
            }
        }
        // The lane claim (if any) is released when `inner` drops.
    }
}
