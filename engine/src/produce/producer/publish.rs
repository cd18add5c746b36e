//! How a span leaves the producer: a compact span promoted to a full record, the staged
//! span moved to scratch when a child takes its slot, the finished span copied into the ring
//! and published, and the counts of what does not make it (a full ring, too deep a stack,
//! attributes and strings past their limits).

use super::{Inner, Opened, Parent, NOT_IN_RING, UNTRACKED};
use crate::model::record::{Loss, SpanRecord};
use crate::produce::pool::Pool;
use crate::stats::{bump, LaneCounters};
use crate::sync::AtomicU64;

impl Inner {
    /// Moves the compact span staged in the compact ring, if any, to its scratch record.
    #[inline]
    pub(super) fn evict_compact(&mut self) {
        if self.compact_in_ring == NOT_IN_RING {
            return;
        }
        let Some(claim) = &self.claim else { return };
        // SAFETY: `compact_in_ring` is set, so `compact_slot` is the staged slot, free and
        // unpublished; slot and scratch are different memory, with no other reference alive.
        unsafe { *claim.lane.compact_scratch(self.compact_in_ring) = *self.compact_slot };
        self.compact_in_ring = NOT_IN_RING;
    }

    /// Turns the recording compact span at `depth` into a full record in its scratch (it set
    /// something its callsite's record cannot hold). Its staged compact slot, if it had one,
    /// is left unpublished for the next compact span.
    #[cold]
    pub(super) fn promote(&mut self, depth: usize) {
        debug_assert!(self.stack[depth].compact && self.stack[depth].recording);
        let Some(claim) = &self.claim else { return };
        // SAFETY: the frame is a recording compact span's, and no other reference into the
        // records is alive while `self` is borrowed mutably.
        let Some(&mut compact) = (unsafe { self.compact_record(depth) }) else {
            return;
        };
        // SAFETY: the full scratch record of this depth is ours (the claim) and unused: the
        // span has been compact until now.
        unsafe { *claim.lane.scratch(depth) = compact.to_full(self.default_scope) };
        if self.compact_in_ring == depth {
            self.compact_in_ring = NOT_IN_RING;
        }
        // From here the frame counts the values set (the compact record did so far).
        self.stack[depth].values = compact.values_set();
        self.stack[depth].compact = false;
    }

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
    pub(super) unsafe fn record(&self, depth: usize) -> Option<&mut SpanRecord> {
        let claim = self.claim.as_ref()?;
        Some(if self.in_ring == depth {
            // SAFETY: `slot` is the staged slot while `in_ring` is set: free (the ring's
            // `stage` found it so), unpublished (every publish or push first clears or evicts
            // `in_ring`), and the caller holds no other reference.
            unsafe { &mut *self.slot }
        } else {
            // SAFETY: the claim makes the scratch records ours; the caller holds no other
            // reference.
            unsafe { claim.lane.scratch(depth) }
        })
    }

    /// Stamps the end of the recording span at `depth` and hands it to the ring: publishes the
    /// slot it was built in, or copies it there from scratch, or counts it as dropped.
    #[inline(always)]
    pub(super) fn publish(&mut self, depth: usize, pool: &Pool) {
        let in_ring = self.in_ring == depth;
        // SAFETY: `depth` is a recording span's frame, and no other reference is alive.
        let Some(rec) = (unsafe { self.record(depth) }) else {
            return;
        };
        rec.set_end(self.clock.now());
        if in_ring {
            self.in_ring = NOT_IN_RING;
        } else {
            self.evict();
        }
        let Some(claim) = &mut self.claim else { return };
        let counters = &claim.lane.counters;
        bump(&counters.recorded, 1);
        if in_ring {
            // The slot `stage` handed out is still free: only this producer publishes, and it
            // has not since `in_ring` was set.
            let published = claim.ring.publish_staged();
            debug_assert!(published.is_ok());
        } else {
            // SAFETY: the span's scratch record; no other reference is alive, and the slot
            // written is different memory.
            let rec = unsafe { claim.lane.scratch(depth) };
            if claim
                .ring
                .push_with(|slot| rec.copy_used_into(slot))
                .is_err()
            {
                count_full(pool, counters);
            }
        }
    }

    /// `publish` for a compact span: into the compact ring.
    #[inline(always)]
    pub(super) fn publish_compact(&mut self, depth: usize, pool: &Pool) {
        let in_ring = self.compact_in_ring == depth;
        // SAFETY: `depth` is a recording compact span's frame, and no other reference is alive.
        let Some(rec) = (unsafe { self.compact_record(depth) }) else {
            return;
        };
        rec.set_end(self.clock.now());
        if in_ring {
            self.compact_in_ring = NOT_IN_RING;
        } else {
            self.evict_compact();
        }
        let Some(claim) = &mut self.claim else { return };
        let counters = &claim.lane.counters;
        bump(&counters.recorded, 1);
        if in_ring {
            // As in `publish`: the staged slot is still free.
            let published = claim.compact.publish_staged();
            debug_assert!(published.is_ok());
        } else {
            // SAFETY: the span's compact scratch record; no other reference is alive, and the
            // slot written is different memory.
            let rec = unsafe { *claim.lane.compact_scratch(depth) };
            if claim.compact.push(rec).is_err() {
                count_full(pool, counters);
            }
        }
    }

    /// Moves the span being built in the ring slot, if any, to its scratch record, freeing
    /// the slot for another span.
    #[inline]
    pub(super) fn evict(&mut self) {
        if self.in_ring == NOT_IN_RING {
            return;
        }
        let Some(claim) = &self.claim else { return };
        // SAFETY: `in_ring` is set, so `slot` is the staged slot, free and unpublished; the
        // slot and the scratch record are different memory, and no other reference to either
        // is alive.
        unsafe { (*self.slot).copy_used_into(claim.lane.scratch(self.in_ring)) };
        self.in_ring = NOT_IN_RING;
    }

    /// A span that found the stack full: untracked, and counted as `too_deep` if it would have
    /// been sampled (the parent's flag decides for parent-based samplers; otherwise the trace
    /// of the innermost open span is asked).
    #[cold]
    pub(super) fn too_deep(&mut self, pool: &Pool, parent: Parent) -> Opened {
        let (parent_sampled, trace) = match parent {
            Parent::Current => match self.stack.current() {
                Some(d) => (Some(self.stack[d].flags & 1 == 1), self.stack.trace_of(d)),
                None => (None, self.stack.new_trace_id()),
            },
            Parent::Root => (None, self.stack.new_trace_id()),
            Parent::Context(cx) => (Some(cx.flags.is_sampled()), cx.trace_id.words()),
        };
        if self.sampler.should_sample_words(parent_sampled, trace) {
            self.count_dropped(pool, |c| &c.dropped_too_deep);
        }
        Opened {
            depth: UNTRACKED,
            recording: false,
        }
    }

    /// Counts one sampled span dropped at start: recorded and dropped for the given reason.
    pub(super) fn count_dropped(
        &self,
        pool: &Pool,
        reason: impl FnOnce(&LaneCounters) -> &AtomicU64,
    ) {
        match &self.claim {
            Some(claim) => {
                bump(&claim.lane.counters.started, 1);
                bump(&claim.lane.counters.recorded, 1);
                bump(reason(&claim.lane.counters), 1);
            }
            None => pool.count_no_ring(),
        }
    }

    #[inline(always)]
    pub(super) fn count_loss(&self, loss: Loss) {
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

/// Counts a span that found its ring full: `ring_full`, or `shutdown` once shutdown began
/// (the slow path may read the shared flag: after shutdown, a full ring is the shutdown's
/// loss, not the drain's).
#[cold]
pub(super) fn count_full(pool: &Pool, counters: &LaneCounters) {
    if pool.is_shutting_down() {
        bump(&counters.dropped_shutdown, 1);
    } else {
        bump(&counters.dropped_ring_full, 1);
    }
}
