//! A lane: one ring of the engine's pool with everything its producer needs beside it.
//!
//! The pool is a fixed array of lanes allocated at start. A lane's ring claim
//! ([`Ring::try_claim`]) is also the claim on its scratch records and its counters, so a
//! producer handle owns all three together and hands them on together.

use std::cell::UnsafeCell;

use crossbeam_utils::CachePadded;

use crate::config::MAX_DEPTH;
use crate::model::record::SpanRecord;
use crate::ring::{Ring, RingConsumer, RingProducer};
use crate::stats::LaneCounters;
use crate::sync::Arc;

/// One ring of the pool, its counters and its producer's scratch records.
pub(crate) struct Lane {
    pub(crate) ring: Ring<SpanRecord>,
    /// Written only by the producer holding the ring's claim.
    pub(crate) counters: CachePadded<LaneCounters>,
    /// One record per open-span depth. A span is built here and copied into the ring when it
    /// ends, so spans can end in any order without holding back the ring. Accessed only by the
    /// producer holding the ring's claim.
    scratch: Box<[UnsafeCell<SpanRecord>]>,
    /// Mixed into each new producer's id seed.
    pub(crate) salt: u64,
}

// SAFETY: `scratch` is only touched through a `LaneClaim`, and the ring's claim guarantees at
// most one of those exists at a time; its release/acquire hand-over orders the accesses of
// successive owners. Everything else in a lane is `Sync` on its own.
unsafe impl Sync for Lane {}
// SAFETY: the lane owns plain data; see above for the cells.
unsafe impl Send for Lane {}

impl Lane {
    /// Allocates a lane with `capacity` ring slots; returns it with the ring's consumer.
    pub(crate) fn new(capacity: usize, salt: u64) -> (Arc<Lane>, RingConsumer<SpanRecord>) {
        let (ring, consumer) = Ring::with_consumer(capacity, SpanRecord::EMPTY);
        let scratch = (0..MAX_DEPTH)
            .map(|_| UnsafeCell::new(SpanRecord::EMPTY))
            .collect();
        let lane = Lane {
            ring,
            counters: CachePadded::default(),
            scratch,
            salt,
        };
        (Arc::new(lane), consumer)
    }

    /// Bytes of span memory this lane preallocated.
    pub(crate) fn bytes(&self) -> usize {
        self.ring.slot_bytes() + self.scratch.len() * std::mem::size_of::<SpanRecord>()
    }

    /// The scratch record for open-span depth `depth`.
    ///
    /// # Safety
    /// The caller must hold this lane's [`LaneClaim`] on the current thread and must not hold
    /// another reference to the same scratch record.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn scratch(&self, depth: usize) -> &mut SpanRecord {
        // SAFETY: the claim keeps every other thread away from the scratch records, and the
        // caller promises no other live reference to this one.
        unsafe { &mut *self.scratch[depth].get() }
    }

    /// Claims the lane if nobody holds it.
    pub(crate) fn try_claim(lane: &Arc<Lane>) -> Option<LaneClaim> {
        let ring = Ring::try_claim(&lane.ring)?;
        Some(LaneClaim {
            ring,
            lane: Arc::clone(lane),
        })
    }
}

/// Exclusive use of a lane: its ring's producer side, its scratch and its counters. Dropping
/// it releases the lane.
pub(crate) struct LaneClaim {
    pub(crate) ring: RingProducer<SpanRecord>,
    pub(crate) lane: Arc<Lane>,
}
