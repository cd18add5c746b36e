//! The producer's side of travelling spans (`produce/travel/`): starting one from this
//! thread's current span and id generator, publishing one that ends on this thread, and
//! entering a travelling span's context so that spans started meanwhile are its children.
//!
//! A producer with a ring keeps up to `TRAVEL_CACHE` records of each kind (full, compact) of
//! travelling spans that ended on it, or that a span promoted on its thread traded in
//! (fewer when the pool is small: at most a quarter of it over all rings), and takes its next travelling spans' records from there before the
//! engine's pool: a thread that starts and ends its own travelling spans touches no shared
//! line for them. Those records are held by the producer (another thread's span finds the
//! pool that much smaller) until it is dropped, which gives them back.

use super::{Inner, Parent, Producer, What, UNTRACKED};
use crate::config::MAX_DEPTH;
use crate::model::callsite::Callsite;
use crate::model::compact::CompactRecord;
use crate::model::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::record::{Loss, ParentKind, SpanRecord};
use crate::model::value::Value;
use crate::produce::stack::{Frame, NO_PARENT};
use crate::produce::travel::keepalive::BATCH;
use crate::produce::travel::pool::SlotPool;
use crate::produce::travel::{PoolRef, TravelSpan, NO_SLOT};
use crate::stats::bump;

/// A travelling span's context entered on a producer (see [`Producer::enter`]); leaves it when
/// dropped.
pub(crate) struct Entered<'p> {
    producer: &'p Producer,
    depth: usize,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if self.depth != UNTRACKED {
            self.producer.with(|inner, _| inner.stack.close(self.depth));
        }
    }
}

impl Producer {
    /// Starts a travelling span named `name`, its parent chosen by `parent` (`Current`: this
    /// thread's innermost open span or entered context). Sampled as a native span would be;
    /// a sampled one takes a record from the engine's travel pool, or is counted as
    /// `travel_pool_full` if there is none.
    #[inline]
    pub(crate) fn start_travel(&self, name: Value<'_>, parent: Parent) -> TravelSpan {
        self.start_travel_what(What::Full(name), parent)
    }

    /// The same for a span started from its callsite: a compact record from the engine's
    /// compact travel pool (`travel/compact.rs`), else a full one (the span starts promoted),
    /// else none, counted as `travel_pool_full`.
    #[inline]
    pub(crate) fn start_travel_at(
        &self,
        callsite: &'static Callsite,
        parent: Parent,
    ) -> TravelSpan {
        self.start_travel_what(What::Compact(callsite), parent)
    }

    #[inline(always)]
    fn start_travel_what(&self, what: What<'_>, parent: Parent) -> TravelSpan {
        let arc = &self.pool;
        self.with(|inner, pool| {
            // A counted reference to the pool for the span (`travel/keepalive.rs`): from this
            // producer's batch, refilled with one atomic add every `BATCH` spans.
            if inner.travel_refs == 0 && pool.keepalive.acquire(BATCH) {
                inner.travel_refs = BATCH;
            }
            let counted = inner.travel_refs > 0;
            inner.travel_refs -= u64::from(counted);
            let parent = match parent {
                Parent::Current => inner.stack.current().map(|d| inner.stack.context(d)),
                Parent::Root => None,
                Parent::Context(cx) => Some(cx),
            };
            let parent_sampled = parent.map(|cx| cx.flags.is_sampled());
            let trace = match parent {
                Some(cx) => cx.trace_id.words(),
                None => inner.stack.new_trace_id(),
            };
            let sampled = match inner.sampler.decide_without_trace(parent_sampled) {
                Some(decided) => decided,
                None => inner.sampler.should_sample_words(parent_sampled, trace),
            };
            let flags = parent.map_or(0, |cx| cx.flags.0 & !1) | u8::from(sampled);
            let span = inner.stack.new_span_id();
            let context = SpanContext {
                trace_id: TraceId::from_words(trace),
                span_id: SpanId::from_word(span),
                flags: TraceFlags(flags),
                is_remote: false,
            };
            let (parent_span, kind) = match parent {
                Some(cx) if cx.is_remote => (cx.span_id.word(), ParentKind::Remote),
                Some(cx) => (cx.span_id.word(), ParentKind::Local),
                None => (0, ParentKind::None),
            };
            let flags = TraceFlags(flags);
            // The records it holds (full, compact) and the strings cut short in its name.
            let (slot, compact, truncated) = 'rec: {
                if !sampled {
                    break 'rec (NO_SLOT, NO_SLOT, 0);
                }
                match what {
                    What::Full(name) => {
                        let Some(slot) = inner.travel_cache.take_from(&pool.travel) else {
                            pool.count_travel_full();
                            break 'rec (NO_SLOT, NO_SLOT, 0);
                        };
                        // SAFETY: the slot came from the pool's `take` or from this
                        // producer's cache of records it holds; nothing else refers to it.
                        let rec = unsafe { pool.travel.slot(slot) };
                        let start = inner.clock.now();
                        rec.begin(trace, span, parent_span, kind, flags, inner.scope, start);
                        let mut loss = Loss::default();
                        rec.set_name(name, &mut loss);
                        (slot, NO_SLOT, loss.truncated)
                    }
                    What::Compact(callsite) => {
                        let Some(slot) = inner.compact_cache.take_from(&pool.travel_compact) else {
                            let ids = (trace, span, parent_span);
                            let slot = inner.start_promoted(pool, callsite, ids, kind, flags);
                            break 'rec (slot, NO_SLOT, 0);
                        };
                        // SAFETY: as above, for the compact pool.
                        let rec = unsafe { pool.travel_compact.slot(slot) };
                        let start = inner.clock.now();
                        rec.begin(callsite, trace, span, parent_span, kind, flags, start);
                        (NO_SLOT, slot, 0)
                    }
                }
            };
            // The span is made in place, as the closure's last step (a copy of it out of
            // `with` cost more than the rest of a start): nothing after it may panic, since
            // dropping a span here would reach this producer again while `with` holds it.
            TravelSpan {
                pool: if counted {
                    // SAFETY: the one reference of the batch this producer took above,
                    // handed to the span.
                    unsafe { PoolRef::counted(arc) }
                } else {
                    // The engine and every batch are gone: an `Arc` of its own.
                    PoolRef::owned(arc)
                },
                slot,
                compact,
                callsite: match what {
                    What::Full(_) => None,
                    What::Compact(callsite) => Some(callsite),
                },
                values: 0,
                context,
                truncated,
            }
        })
    }

    /// Publishes the finished record in travel slot `slot` into this producer's ring (counted
    /// as recorded there, and dropped by reason if the ring is full or this producer has no
    /// ring), then keeps the record for this producer's next travelling span, or gives it
    /// back to the pool; with `pool_ref`, also takes back the span's counted reference to
    /// the pool ([`Producer::return_travel_ref`]).
    ///
    /// # Safety
    /// The caller holds `slot` (and hands it over) and holds no reference into it.
    pub(crate) unsafe fn end_travel(&self, slot: u32, truncated: u32, pool_ref: bool) {
        if pool_ref {
            self.return_travel_ref();
        }
        self.with(|inner, pool| {
            {
                // SAFETY: the caller hands over `slot` and holds no reference into it.
                let rec = unsafe { pool.travel.slot(slot) };
                inner.publish_travel(rec, truncated, pool);
            }
            // Kept only by a producer with a ring (a detached one may be one of many, on
            // threads that come and go), within its share of the pool.
            let keeps = inner.claim.is_some();
            // SAFETY: held until now; the reference above is gone.
            unsafe {
                inner
                    .travel_cache
                    .keep_or_give_back(keeps, slot, &pool.travel)
            };
        });
    }

    /// [`Producer::end_travel`] for a compact record in slot `slot` of the compact travel
    /// pool: published into this producer's compact ring.
    ///
    /// # Safety
    /// As for [`Producer::end_travel`], for the compact pool.
    pub(crate) unsafe fn end_travel_compact(&self, slot: u32, pool_ref: bool) {
        if pool_ref {
            self.return_travel_ref();
        }
        self.with(|inner, pool| {
            {
                // SAFETY: the caller hands over `slot` and holds no reference into it.
                let rec = unsafe { pool.travel_compact.slot(slot) };
                inner.publish_travel_compact(rec, pool);
            }
            // As in `end_travel`.
            let keeps = inner.claim.is_some();
            // SAFETY: held until now; the reference above is gone.
            unsafe {
                inner
                    .compact_cache
                    .keep_or_give_back(keeps, slot, &pool.travel_compact)
            };
        });
    }

    /// Trades compact travel record `compact` for a full one, for a travelling span that
    /// outgrew its callsite: `compact` goes to this producer's cache (or the pool), the full
    /// record comes from the cache (or the pool); `None` if there is none free.
    ///
    /// # Safety
    /// The caller held `compact` and hands it over; it holds no reference into it.
    pub(crate) unsafe fn trade_compact_for_full(&self, compact: u32) -> Option<u32> {
        self.with(|inner, pool| {
            let keeps = inner.claim.is_some();
            // SAFETY: handed over by the caller, who holds no reference into it.
            unsafe {
                inner
                    .compact_cache
                    .keep_or_give_back(keeps, compact, &pool.travel_compact)
            };
            inner.travel_cache.take_from(&pool.travel)
        })
    }

    /// Takes back a travelling span's counted reference to the pool (it ended, or was
    /// dropped, on this thread), for this producer's next spans; gives back to the pool what
    /// it holds past two batches.
    #[inline]
    pub(crate) fn return_travel_ref(&self) {
        self.with(|inner, pool| {
            inner.travel_refs += 1;
            if inner.travel_refs > 2 * BATCH {
                inner.travel_refs -= BATCH;
                // Never the last: this producer still holds a batch.
                drop(pool.keepalive.release(BATCH));
            }
        });
    }

    /// Makes `cx` the current context on this producer until the guard is dropped: spans
    /// started meanwhile with [`Parent::Current`] are its children. Past [`MAX_DEPTH`] open
    /// frames it does nothing (their parent is then the innermost frame there is).
    pub(crate) fn enter(&self, cx: SpanContext) -> Entered<'_> {
        let depth = self.with(|inner, _| {
            if inner.stack.depth() == MAX_DEPTH {
                return UNTRACKED;
            }
            inner.stack.push(Frame {
                trace: cx.trace_id.words(),
                span: cx.span_id.word(),
                parent: NO_PARENT,
                flags: cx.flags.0,
                open: true,
                // Recorded elsewhere (by its travelling span), never from this frame.
                recording: false,
                compact: false,
                values: 0,
                callsite: None,
            })
        });
        Entered {
            producer: self,
            depth,
        }
    }

    /// Gives the open travelling span `span` the parent `cx` (the `tracing` layer's
    /// `set_parent`): its trace and parent become `cx`'s, and sampling is decided again as a
    /// start with that parent would decide it. A recording span that is no longer sampled
    /// gives its record back (nothing was recorded, nothing is counted); one that becomes
    /// sampled takes a record now, named `name` and started now (fields it was given while
    /// unsampled were not kept), or is counted as `travel_pool_full`. A span that was
    /// sampled but found the pool empty at its start was counted as `travel_pool_full` then,
    /// and stays as it is (no record, not counted again). Contexts of the span entered on
    /// this producer (`enter_context`) move with it, so what starts inside them follows.
    /// A span holding a compact record (the layer's never do) is promoted first, so that its
    /// full record can follow (if none is free it is counted as `travel_pool_full` there,
    /// whatever sampling then decides).
    #[cfg(feature = "tracing")]
    pub(crate) fn reparent_travel(
        &self,
        span: &mut TravelSpan,
        cx: SpanContext,
        name: &'static str,
    ) {
        // The layer's spans have full records; were this one compact, its record would have
        // to follow the new trace too.
        if span.compact != NO_SLOT {
            span.promote();
        }
        self.with(|inner, pool| {
            let was_sampled = span.context.flags.is_sampled();
            let trace = cx.trace_id.words();
            let parent_sampled = Some(cx.flags.is_sampled());
            let sampled = match inner.sampler.decide_without_trace(parent_sampled) {
                Some(decided) => decided,
                None => inner.sampler.should_sample_words(parent_sampled, trace),
            };
            let flags = TraceFlags((cx.flags.0 & !1) | u8::from(sampled));
            span.context = SpanContext {
                trace_id: cx.trace_id,
                span_id: span.context.span_id,
                flags,
                is_remote: false,
            };
            let kind = if cx.is_remote {
                ParentKind::Remote
            } else {
                ParentKind::Local
            };
            let parent_span = cx.span_id.word();
            let word = span.context.span_id.word();
            let stack = &mut inner.stack;
            for d in 0..stack.depth() {
                let f = &mut stack[d];
                if f.open && !f.recording && f.callsite.is_none() && f.span == word {
                    f.trace = trace;
                    f.flags = flags.0;
                }
            }
            // Sampled at its start without a record: counted as `travel_pool_full` then.
            let counted_full = was_sampled && span.slot == NO_SLOT;
            match (span.slot != NO_SLOT, sampled) {
                _ if counted_full => {}
                (true, true) => {
                    // SAFETY: the span holds its slot, and `&mut` makes this the only
                    // reference into it.
                    let rec = unsafe { pool.travel.slot(span.slot) };
                    rec.set_trace(trace, parent_span, kind, flags);
                }
                (true, false) => {
                    let slot = std::mem::replace(&mut span.slot, NO_SLOT);
                    // SAFETY: held by the span until now; no reference into it is alive.
                    unsafe { pool.travel.give_back(slot) };
                }
                (false, true) => {
                    let Some(slot) = inner.travel_cache.take_from(&pool.travel) else {
                        pool.count_travel_full();
                        return;
                    };
                    // SAFETY: just taken; nothing else refers to it.
                    let rec = unsafe { pool.travel.slot(slot) };
                    let span_id = span.context.span_id.word();
                    rec.begin(
                        trace,
                        span_id,
                        parent_span,
                        kind,
                        flags,
                        inner.scope,
                        inner.clock.now(),
                    );
                    rec.set_name(Value::str(name), &mut Loss::default());
                    span.slot = slot;
                }
                (false, false) => {}
            }
        });
    }

    /// Enters `cx` as [`Producer::enter`] does, without a guard: a front end whose enter and
    /// exit are two calls (the `tracing` layer) leaves it with [`Producer::leave_context`].
    #[cfg(feature = "tracing")]
    pub(crate) fn enter_context(&self, cx: SpanContext) {
        std::mem::forget(self.enter(cx));
    }

    /// Leaves the innermost context entered with [`Producer::enter_context`] whose span id is
    /// `span` (in any order: a frame below open ones stays until they close); does nothing
    /// if there is none (it was past [`MAX_DEPTH`]).
    #[cfg(feature = "tracing")]
    pub(crate) fn leave_context(&self, span: SpanId) {
        let word = span.word();
        self.with(|inner, _| {
            let stack = &mut inner.stack;
            let found = (0..stack.depth()).rev().find(|&d| {
                let f = &stack[d];
                f.open && !f.recording && f.callsite.is_none() && f.span == word
            });
            if let Some(d) = found {
                stack.close(d);
            }
        });
    }
}

/// Travelling-span records a producer keeps for reuse (see the module docs).
const TRAVEL_CACHE: usize = 8;

/// Records of one travel pool (full or compact) a producer freed and keeps for its next
/// travelling spans: `slots[..len]`, at most `limit` (its share of a quarter of the pool).
pub(super) struct TravelCache {
    slots: [u32; TRAVEL_CACHE],
    len: usize,
    limit: usize,
}

impl TravelCache {
    /// An empty cache for a producer of an engine with `lanes` rings and pools of `capacity`
    /// records.
    pub(super) fn new(capacity: usize, lanes: usize) -> Self {
        TravelCache {
            slots: [0; TRAVEL_CACHE],
            len: 0,
            limit: (capacity / 4 / lanes.max(1)).min(TRAVEL_CACHE),
        }
    }

    /// The record kept last, else one from `pool` (the pool this cache keeps records of),
    /// if any; the caller holds it from now on.
    #[inline(always)]
    fn take_from<T>(&mut self, pool: &SlotPool<T>) -> Option<u32> {
        match self.len.checked_sub(1) {
            Some(len) => {
                self.len = len;
                Some(self.slots[len])
            }
            None => pool.take(),
        }
    }

    /// Keeps `slot` if `keeps` (the producer has a ring) and there is room, else gives it
    /// back to `pool`.
    ///
    /// # Safety
    /// The caller held `slot`, from `pool`, and holds no reference into it.
    #[inline(always)]
    unsafe fn keep_or_give_back<T>(&mut self, keeps: bool, slot: u32, pool: &SlotPool<T>) {
        if keeps && self.len < self.limit {
            self.slots[self.len] = slot;
            self.len += 1;
        } else {
            // SAFETY: the caller held it and holds no reference into it.
            unsafe { pool.give_back(slot) };
        }
    }

    /// Gives every record kept back to `pool`.
    ///
    /// # Safety
    /// The records kept are from `pool`, and nothing refers to them.
    pub(super) unsafe fn give_all_back<T>(&mut self, pool: &SlotPool<T>) {
        for &slot in &self.slots[..self.len] {
            // SAFETY: kept by this cache alone (the caller's contract).
            unsafe { pool.give_back(slot) };
        }
        self.len = 0;
    }
}

impl Inner {
    /// A callsite travelling span's start when no compact record is free: a full record,
    /// begun as the compact one would have been promoted at once (its callsite's name, kind
    /// and scope, else the engine's scope), or `NO_SLOT` (counted as `travel_pool_full`) if
    /// there is none either.
    #[cold]
    #[inline(never)]
    fn start_promoted(
        &mut self,
        pool: &crate::produce::pool::Pool,
        callsite: &'static Callsite,
        (trace, span, parent_span): ([u64; 2], u64, u64),
        kind: ParentKind,
        flags: TraceFlags,
    ) -> u32 {
        let Some(slot) = self.travel_cache.take_from(&pool.travel) else {
            pool.count_travel_full();
            return NO_SLOT;
        };
        let mut rec = CompactRecord::EMPTY;
        let start = self.clock.now();
        rec.begin(callsite, trace, span, parent_span, kind, flags, start);
        // SAFETY: taken just now from this producer's cache or the pool; nothing else
        // refers to it.
        *unsafe { pool.travel.slot(slot) } = rec.to_full(self.default_scope);
        slot
    }

    fn publish_travel(
        &mut self,
        rec: &SpanRecord,
        truncated: u32,
        pool: &crate::produce::pool::Pool,
    ) {
        if self.claim.is_none() {
            pool.count_no_ring();
            return;
        }
        // The ring's next free slot may hold a span being built (staged): move it to scratch
        // first, or the push below would take its slot.
        self.evict();
        self.count_loss(Loss { truncated });
        let Some(claim) = &mut self.claim else { return };
        let counters = &claim.lane.counters;
        // Both at once: a travelling span is never on this producer's stack, so it adds
        // nothing to the open count (`started - recorded`).
        bump(&counters.started, 1);
        bump(&counters.recorded, 1);
        if claim
            .ring
            .push_with(|slot| rec.copy_used_into(slot))
            .is_err()
        {
            super::publish::count_full(pool, counters);
        }
        // As in `publish_travel_compact`: the lines a span with a few attributes fills.
        claim.ring.prefetch(0, 4);
    }

    fn publish_travel_compact(&mut self, rec: &CompactRecord, pool: &crate::produce::pool::Pool) {
        if self.claim.is_none() {
            pool.count_no_ring();
            return;
        }
        // As in `publish_travel`, for the compact ring's staged slot.
        self.evict_compact();
        let Some(claim) = &mut self.claim else { return };
        let counters = &claim.lane.counters;
        bump(&counters.started, 1);
        bump(&counters.recorded, 1);
        if claim.compact.push(*rec).is_err() {
            super::publish::count_full(pool, counters);
        }
        // The slot the next push writes: fetched now, while the thread does other work, so
        // that push does not wait for the lines the drain last read (native spans do the
        // same when they stage theirs).
        claim.compact.prefetch(0, 2);
    }
}
