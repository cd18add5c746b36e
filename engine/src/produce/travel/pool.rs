//! A fixed pool of preallocated slots, handed out and taken back by any thread, lock-free:
//! where travelling spans keep their open records.
//!
//! The free slots form a stack (Treiber's): `head` holds the index of the top free slot and a
//! tag that every successful change increments, so that a thread which read `head`, was
//! delayed while the slot it saw was taken and given back, and then tries its swap, fails
//! (the ABA problem) instead of linking a stale `next`. `next[i]` is the free slot below `i`.
//! With 32 bits of tag a wrong swap would need 2^32 changes of `head` between one thread's
//! read and its swap.
//!
//! Ownership: [`SlotPool::take`] gives an index that no other thread holds until it is passed
//! to [`SlotPool::give_back`]; only its holder touches the slot. The successful swap that takes
//! a slot is an Acquire and the one that gives it back a Release, so the next holder sees
//! every write of the previous one.
//!
//! Nothing here allocates after [`SlotPool::new`]; an empty pool makes `take` return `None`.

use std::cell::UnsafeCell;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering, Tracker};

/// `head`'s low 32 bits: the top free slot's index plus one (0: none free).
const INDEX: u64 = 0xffff_ffff;

/// See the module docs.
pub struct SlotPool<T> {
    /// Tag (high 32 bits) and top free slot plus one (low 32 bits).
    head: CachePadded<AtomicU64>,
    /// `next[i]`: the free slot below `i` plus one (0: the bottom), while `i` is free.
    next: Box<[AtomicU64]>,
    slots: Box<[UnsafeCell<T>]>,
    /// Under loom, registers each holder's accesses to its slot with the race detector.
    trackers: Box<[Tracker]>,
}

// SAFETY: a slot is touched only by the thread holding its index (the module docs), and the
// take/give-back swaps order successive holders; `T: Send` lets the value move between them.
unsafe impl<T: Send> Sync for SlotPool<T> {}
// SAFETY: the pool owns its slots' values.
unsafe impl<T: Send> Send for SlotPool<T> {}

impl<T> std::fmt::Debug for SlotPool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotPool")
            .field("capacity", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl<T> SlotPool<T> {
    /// A pool of `capacity` slots (at most `u32::MAX - 1`), each made by `init`, all free.
    ///
    /// # Panics
    /// If `capacity` does not fit in 32 bits (the engine's config checks it first).
    pub fn new(capacity: usize, mut init: impl FnMut() -> T) -> Self {
        assert!(
            capacity < INDEX as usize,
            "a slot pool holds fewer than 2^32 slots"
        );
        // Slot i's `next` is i (that is, slot i - 1, plus one): the stack's top is the last.
        let next = (0..capacity).map(|i| AtomicU64::new(i as u64)).collect();
        // `Tracker` is a unit struct outside loom but not under it, hence `default()`.
        #[allow(clippy::default_constructed_unit_structs)]
        let trackers = (0..capacity).map(|_| Tracker::default()).collect();
        SlotPool {
            head: CachePadded::new(AtomicU64::new(capacity as u64)),
            next,
            slots: (0..capacity).map(|_| UnsafeCell::new(init())).collect(),
            trackers,
        }
    }

    /// Slots in the pool, free or not.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// A free slot's index, now held by the caller; `None` when every slot is held.
    pub fn take(&self) -> Option<u32> {
        // Acquire: pairs with the Release of `give_back`'s swap, so that `next[top]` below is
        // the value stored before that slot went free.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let top = head & INDEX;
            if top == 0 {
                return None;
            }
            let index = (top - 1) as usize;
            // Relaxed: ordered by the Acquire that read `head` (above, or the failed swap
            // below). A stale value (the slot was taken and given back meanwhile) is harmless:
            // `head`'s tag has then moved, and the swap fails.
            let below = self.next[index].load(Ordering::Relaxed);
            let new = (head & !INDEX).wrapping_add(1 << 32) | below;
            // Acquire on success: pairs with the Release of the `give_back` that freed the
            // slot, so its previous holder's writes are seen. Acquire on failure: the next
            // round reads `next` of the new top.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some(index as u32),
                Err(now) => head = now,
            }
        }
    }

    /// Gives slot `index` back.
    ///
    /// # Safety
    /// The caller holds `index` (from [`SlotPool::take`], not given back since) and keeps no
    /// reference into the slot.
    pub unsafe fn give_back(&self, index: u32) {
        let index = index as usize;
        debug_assert!(index < self.slots.len());
        // Relaxed: the swap below retries with whatever it finds.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the Release swap below, which the next taker's Acquire
            // pairs with. Only this thread writes `next[index]` while it holds the slot.
            self.next[index].store(head & INDEX, Ordering::Relaxed);
            let new = (head & !INDEX).wrapping_add(1 << 32) | (index as u64 + 1);
            // Release on success: pairs with the Acquire of the `take` that hands the slot
            // out next (its holder's writes, and `next[index]`, go with it).
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// The value in slot `index`.
    ///
    /// # Safety
    /// The caller holds `index` and holds no other reference into the slot.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slot(&self, index: u32) -> &mut T {
        let index = index as usize;
        self.trackers[index].write();
        // SAFETY: the caller holds the index, so no other thread touches the slot, and holds
        // no other reference into it.
        unsafe { &mut *self.slots[index].get() }
    }
}
