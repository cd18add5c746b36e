//! A bounded single-producer single-consumer ring of preallocated slots.
//!
//! # Design
//! - Capacity is a power of two, so a slot index is `position & mask`. `head` and `tail` are
//!   free-running `usize` counters (they wrap at `usize::MAX`, which a 64-bit counter never
//!   reaches in practice, and the arithmetic is wrapping anyway); `tail - head` is the fill.
//! - `head` (written by the consumer) and `tail` (written by the producer) each sit on their own
//!   [`CachePadded`] line, 128 bytes on x86_64 because the L2 spatial prefetcher pulls cache
//!   lines in pairs (crossbeam-utils explains the choice per target). Without it every push
//!   would invalidate the consumer's copy of `head` and vice versa.
//! - Each side caches the other side's index and reloads it only when the cache says "full"
//!   (producer) or "empty" (consumer), so a steady stream costs one shared-line read per
//!   lap, not per item.
//! - Slots always hold an initialised `T: Copy`; writes overwrite in place, so nothing is ever
//!   dropped or moved out and there is no uninitialised memory to reason about. All memory is
//!   allocated in [`Ring::with_consumer`]; nothing allocates afterwards.
//! - Batches: [`RingProducer::write_chunk`] publishes many slots with one release store, and
//!   [`RingConsumer::read_chunk`] hands out the readable slots as at most two contiguous slices
//!   (before and after the wrap) and frees them with one release store.
//! - The producer side is a claim: [`Ring::try_claim`] hands out at most one [`RingProducer`]
//!   at a time and its drop gives the ring back. This is how producer handles move between
//!   threads over the engine's life without ever having two writers.
//!
//! Under `cfg(ringspan_loom)` every slot access is also registered with loom's race detector
//! (see `crate::sync`).

use std::cell::UnsafeCell;
use std::fmt;

use crossbeam_utils::CachePadded;

use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering, Tracker};

/// The part of a ring both sides share: indices, the producer claim and the slots.
struct Slots<T> {
    /// Position of the next slot the consumer reads. Written only by the [`RingConsumer`]
    /// (Release, after it finished reading the slots it frees); read by the producer when its
    /// cached copy says the ring is full.
    head: CachePadded<AtomicUsize>,
    /// Position of the next slot the producer writes. Written only by the current
    /// [`RingProducer`] (Release, after writing the slots it publishes); read by the consumer
    /// when its cached copy says the ring is empty.
    tail: CachePadded<AtomicUsize>,
    /// True while a [`RingProducer`] exists.
    claimed: CachePadded<AtomicBool>,
    /// `capacity` slots. A slot in `[head, tail)` belongs to the consumer, every other slot to
    /// the producer.
    slots: Box<[UnsafeCell<T>]>,
    /// One tracker per slot (zero-sized outside loom).
    trackers: Box<[Tracker]>,
    /// `capacity - 1`.
    mask: usize,
}

// SAFETY: the ring hands each slot to exactly one side at a time (see `slots`), and the handoffs
// are release/acquire pairs on `head`/`tail`, so sharing it between the producer's and the
// consumer's threads is sound when the values may cross threads (`Send`) and be seen from two
// at once (`Sync`: a shared `ReadChunk` hands out `&T`).
unsafe impl<T: Send + Sync> Sync for Slots<T> {}
// SAFETY: as above; the ring owns its `T`s.
unsafe impl<T: Send> Send for Slots<T> {}

/// A bounded SPSC ring: the handle through which its producer side is claimed and its state
/// read from any thread. Cloning the handle shares the same ring.
pub struct Ring<T> {
    shared: Arc<Slots<T>>,
}

impl<T> Clone for Ring<T> {
    fn clone(&self) -> Self {
        Ring {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("Ring")
            .field("capacity", &s.capacity())
            .field("head", &s.head.load(Ordering::Relaxed))
            .field("tail", &s.tail.load(Ordering::Relaxed))
            .field("claimed", &s.claimed.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T: Copy> Ring<T> {
    /// Allocates a ring of `capacity` slots, each filled with `fill`, and returns it with its
    /// only consumer.
    ///
    /// # Panics
    /// If `capacity` is zero or not a power of two. The engine validates its configuration
    /// before calling this, so a bad capacity there is a config error, not a panic.
    ///
    /// # Examples
    /// ```
    /// use ringspan::Ring;
    /// let (ring, mut consumer) = Ring::with_consumer(4, 0u64);
    /// let mut producer = Ring::try_claim(&ring).expect("first claim succeeds");
    /// producer.push(7).unwrap();
    /// assert_eq!(consumer.pop(), Some(7));
    /// ```
    pub fn with_consumer(capacity: usize, fill: T) -> (Self, RingConsumer<T>) {
        assert!(
            capacity.is_power_of_two(),
            "ring capacity must be a power of two, got {capacity}"
        );
        let slots = (0..capacity).map(|_| UnsafeCell::new(fill)).collect();
        // `Tracker` is a unit struct outside loom but not under it, hence `default()`.
        #[allow(clippy::default_constructed_unit_structs)]
        let trackers = (0..capacity).map(|_| Tracker::default()).collect();
        let shared = Arc::new(Slots {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            claimed: CachePadded::new(AtomicBool::new(false)),
            slots,
            trackers,
            mask: capacity - 1,
        });
        let consumer = RingConsumer {
            ring: Arc::clone(&shared),
            head: 0,
            cached_tail: 0,
        };
        (Ring { shared }, consumer)
    }
}

impl<T> Ring<T> {
    /// Claims the producer side, if nobody holds it. Dropping the [`RingProducer`] releases it.
    ///
    /// # Examples
    /// ```
    /// use ringspan::Ring;
    /// let (ring, _consumer) = Ring::with_consumer(2, 0u8);
    /// let first = Ring::try_claim(&ring);
    /// assert!(first.is_some());
    /// assert!(Ring::try_claim(&ring).is_none());
    /// drop(first);
    /// assert!(Ring::try_claim(&ring).is_some());
    /// ```
    pub fn try_claim(ring: &Self) -> Option<RingProducer<T>> {
        let shared = &ring.shared;
        // A plain load first keeps a scan over many busy rings from writing their lines.
        if shared.claimed.load(Ordering::Relaxed) {
            return None;
        }
        // Acquire pairs with the Release store in `RingProducer::drop`: the previous
        // producer's slot writes and its `tail` are visible to us before we touch them.
        shared
            .claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        // Relaxed: `tail` is only ever written by producers, and the Acquire above ordered the
        // last of those writes before this load.
        let tail = shared.tail.load(Ordering::Relaxed);
        // Acquire pairs with the consumer's Release store of `head`: slots it freed are done
        // being read before we overwrite them.
        let cached_head = shared.head.load(Ordering::Acquire);
        Some(RingProducer {
            ring: Arc::clone(shared),
            tail,
            cached_head,
        })
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// Whether a producer currently holds the ring.
    pub fn is_claimed(&self) -> bool {
        self.shared.claimed.load(Ordering::Relaxed)
    }

    /// Positions published by producers so far (a running count of every item ever pushed).
    /// A snapshot: Relaxed, as it is only used for accounting.
    pub fn pushed(&self) -> usize {
        self.shared.tail.load(Ordering::Relaxed)
    }

    /// Positions freed by the consumer so far (a running count of every item ever popped).
    pub fn popped(&self) -> usize {
        self.shared.head.load(Ordering::Relaxed)
    }

    /// Items in the ring right now, as seen from a third thread (may be stale by the time it
    /// returns, never more than the capacity).
    ///
    /// Reads `head`, `tail`, then `head` again: when `head` did not move in between, the
    /// difference is exact at the moment `tail` was read. A reader descheduled between two
    /// plain loads would otherwise pair an old `head` with a much newer `tail`.
    pub fn len(&self) -> usize {
        let capacity = self.capacity();
        // Acquire (all three): pairs with the consumer's Release store of `head` and the
        // producer's of `tail`, so counters either side bumped before moving them are visible
        // to whatever this thread reads next.
        let mut head = self.shared.head.load(Ordering::Acquire);
        let mut tail = head;
        for _ in 0..8 {
            tail = self.shared.tail.load(Ordering::Acquire);
            let again = self.shared.head.load(Ordering::Acquire);
            if again == head {
                break;
            }
            head = again;
        }
        // `tail` read before the last `head`: a drain that popped past it makes this wrap,
        // which counts as empty.
        let n = tail.wrapping_sub(head);
        if n > capacity && n > usize::MAX / 2 {
            0
        } else {
            n.min(capacity)
        }
    }

    /// Whether the ring looked empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of slot memory this ring holds (excluding the small fixed header).
    pub fn slot_bytes(&self) -> usize {
        self.shared.slots.len() * std::mem::size_of::<T>()
    }
}

impl<T> Slots<T> {
    #[inline(always)]
    fn capacity(&self) -> usize {
        self.mask + 1
    }

    #[inline(always)]
    fn index(&self, pos: usize) -> usize {
        pos & self.mask
    }

    /// Runs of slots covering positions `[from, from + n)`: the part up to the end of the
    /// buffer and the part that wrapped to its start.
    #[inline(always)]
    fn runs(&self, from: usize, n: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        debug_assert!(n <= self.capacity(), "run of {n} exceeds the capacity");
        let start = self.index(from);
        let first = n.min(self.capacity() - start);
        (start..start + first, 0..n - first)
    }
}

/// Error of [`RingProducer::push`]: the ring was full, and here is the value back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// No free slot; the value was not written.
    Full(T),
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the ring is full")
    }
}

impl<T: fmt::Debug> std::error::Error for PushError<T> {}

/// The ring was full (or did not have the requested room); nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the ring is full")
    }
}

impl std::error::Error for Full {}

/// The writing side of a [`Ring`]. At most one exists per ring at a time.
pub struct RingProducer<T> {
    ring: Arc<Slots<T>>,
    /// Our own `tail`: the exact value, since only we write it.
    tail: usize,
    /// Last `head` we loaded; may be stale (lower than the real one), never ahead of it, so it
    /// can only make us see less room than there is.
    cached_head: usize,
}

impl<T> fmt::Debug for RingProducer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingProducer")
            .field("tail", &self.tail)
            .field("cached_head", &self.cached_head)
            .finish()
    }
}

impl<T> RingProducer<T> {
    /// Free slots, reloading the consumer's `head` only if the cached value shows fewer than
    /// `want`.
    #[inline(always)]
    fn room(&mut self, want: usize) -> usize {
        let cap = self.ring.capacity();
        let used = self.tail.wrapping_sub(self.cached_head);
        debug_assert!(used <= cap, "producer sees {used} used slots of {cap}");
        if cap - used >= want {
            return cap - used;
        }
        // Acquire pairs with the consumer's Release store of `head`: it has finished reading
        // every slot below `head`, so overwriting them cannot race with its reads.
        self.cached_head = self.ring.head.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(self.cached_head);
        debug_assert!(used <= cap, "producer sees {used} used slots of {cap}");
        cap - used
    }

    /// Whether the next slot is free (reloading the consumer's `head` only if the cached value
    /// says the ring is full). After `true`, the next [`RingProducer::push_with`] or
    /// [`RingProducer::push`] succeeds (the engine also builds spans in that slot in place).
    #[inline(always)]
    pub fn has_room(&mut self) -> bool {
        self.room(1) > 0
    }

    /// The next free slot, to build a value in place. Nothing is visible to the consumer
    /// until [`RingProducer::publish_next`].
    ///
    /// # Safety
    /// [`RingProducer::has_room`] must have returned `true` since the last publish or push,
    /// and the caller must not keep another reference to the slot alive.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn next_slot(&self) -> &mut T {
        let i = self.ring.index(self.tail);
        self.ring.trackers[i].write();
        // SAFETY: `has_room` proved this slot free (Acquire on `head`: the consumer finished
        // reading it), it stays outside `[head, tail)` until we publish, we are the only
        // producer, and the caller holds no other reference to it.
        unsafe { &mut *self.ring.slots[i].get() }
    }

    /// The next free slot, to build a value in place across several calls (the engine builds
    /// an open span there); nothing is visible to the consumer until
    /// [`RingProducer::publish_staged`]. The slot holds whatever was there before (a value
    /// already read, or the fill value). [`Full`] when no slot is free.
    #[inline(always)]
    pub fn stage(&mut self) -> Result<&mut T, Full> {
        if self.room(1) == 0 {
            return Err(Full);
        }
        // SAFETY: `room` just found the slot free, and the `&mut self` borrow keeps every other
        // reference to it (and any publish) away while the returned one lives.
        Ok(unsafe { self.next_slot() })
    }

    /// Publishes the slot [`RingProducer::stage`] handed out, with what it holds now.
    /// [`Full`] (and nothing published) when no slot is free.
    #[inline(always)]
    pub fn publish_staged(&mut self) -> Result<(), Full> {
        if self.room(1) == 0 {
            return Err(Full);
        }
        // SAFETY: `room` just found the slot free, and nothing was published since.
        unsafe { self.publish_next() };
        Ok(())
    }

    /// Publishes the slot built through [`RingProducer::next_slot`].
    ///
    /// # Safety
    /// [`RingProducer::has_room`] must have returned `true` since the last publish or push.
    #[inline(always)]
    pub(crate) unsafe fn publish_next(&mut self) {
        debug_assert!(self.tail.wrapping_sub(self.cached_head) < self.ring.capacity());
        self.tail = self.tail.wrapping_add(1);
        // Release pairs with the consumer's Acquire load of `tail` (see `push_with`).
        self.ring.tail.store(self.tail, Ordering::Release);
    }

    /// Asks the CPU to fetch, for writing, the first `lines` cache lines of the slot
    /// `ahead` positions past the next free one, so that a later push finds them in cache. Only
    /// a hint: it reads no index and changes nothing, and is a no-op off x86_64.
    #[inline(always)]
    pub(crate) fn prefetch(&self, ahead: usize, lines: usize) {
        let slot = self.ring.slots[self.ring.index(self.tail.wrapping_add(ahead))].get();
        crate::prefetch::for_write(slot.cast_const(), lines);
    }

    /// Free slots right now.
    pub fn free_slots(&mut self) -> usize {
        self.room(usize::MAX)
    }

    /// The ring this producer writes.
    pub fn ring(&self) -> Ring<T> {
        Ring {
            shared: Arc::clone(&self.ring),
        }
    }

    /// Writes the next slot in place with `write` and publishes it, or returns [`Full`]
    /// without calling `write`. `write` sees the slot's previous value; it must leave a value
    /// the consumer may read, which any safe code does.
    #[inline]
    pub fn push_with(&mut self, write: impl FnOnce(&mut T)) -> Result<(), Full> {
        if self.room(1) == 0 {
            return Err(Full);
        }
        let i = self.ring.index(self.tail);
        self.ring.trackers[i].write();
        // SAFETY: position `tail` is outside `[head, tail)`, so the consumer does not read
        // this slot (and `room` proved it finished reading it: see the Acquire there); we are
        // the only producer (the claim), so nobody else writes it.
        write(unsafe { &mut *self.ring.slots[i].get() });
        self.tail = self.tail.wrapping_add(1);
        // Release pairs with the consumer's Acquire load of `tail`: the slot write above is
        // visible before the consumer can see the new position.
        self.ring.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Reserves up to `n` free slots for writing in place; nothing is visible to the consumer
    /// until [`WriteChunk::commit`]. Returns [`Full`] only when not a single slot is free; a
    /// partly full ring gives a shorter chunk.
    pub fn write_chunk(&mut self, n: usize) -> Result<WriteChunk<'_, T>, Full> {
        let len = self.room(n).min(n);
        if len == 0 {
            return Err(Full);
        }
        let (a, b) = self.ring.runs(self.tail, len);
        for i in a.clone().chain(b.clone()) {
            self.ring.trackers[i].write();
        }
        Ok(WriteChunk {
            producer: self,
            a,
            b,
        })
    }
}

impl<T: Copy> RingProducer<T> {
    /// Pushes `value`, or hands it back if the ring is full. Never blocks.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        self.push_with(|slot| *slot = value)
            .map_err(|Full| PushError::Full(value))
    }
}

impl<T> Drop for RingProducer<T> {
    fn drop(&mut self) {
        // Release pairs with the Acquire of the next successful `try_claim`: our slot writes
        // and `tail` stores happen before the next producer's.
        self.ring.claimed.store(false, Ordering::Release);
    }
}

/// Slots reserved by [`RingProducer::write_chunk`], published by [`WriteChunk::commit`].
pub struct WriteChunk<'a, T> {
    producer: &'a mut RingProducer<T>,
    a: std::ops::Range<usize>,
    b: std::ops::Range<usize>,
}

impl<T> WriteChunk<'_, T> {
    /// Number of reserved slots.
    pub fn len(&self) -> usize {
        self.a.len() + self.b.len()
    }

    /// Always false: a chunk has at least one slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The reserved slots in order, as two runs (the second is empty unless the chunk wraps).
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let slots = &self.producer.ring.slots;
        // SAFETY: the slots in both runs lie outside `[head, tail)` and were checked free by
        // `room` (Acquire on `head`), and `&mut self` keeps them exclusive to this chunk. The two
        // runs never overlap (`runs` splits at the buffer end). `UnsafeCell<T>` has the layout
        // of `T`, so a run of cells is a run of `T`s.
        unsafe {
            (
                std::slice::from_raw_parts_mut(
                    slots[self.a.clone()].as_ptr() as *mut T,
                    self.a.len(),
                ),
                std::slice::from_raw_parts_mut(
                    slots[self.b.clone()].as_ptr() as *mut T,
                    self.b.len(),
                ),
            )
        }
    }

    /// Publishes the first `n` reserved slots (all of them if `n` is larger) with one release
    /// store.
    pub fn commit(self, n: usize) {
        let n = n.min(self.len());
        let p = self.producer;
        p.tail = p.tail.wrapping_add(n);
        // Release pairs with the consumer's Acquire load of `tail` (see `push_with`).
        p.ring.tail.store(p.tail, Ordering::Release);
    }
}

/// The reading side of a [`Ring`]; exactly one exists per ring.
pub struct RingConsumer<T> {
    ring: Arc<Slots<T>>,
    /// Our own `head`: exact, since only we write it.
    head: usize,
    /// Last `tail` we loaded; may be stale (lower than the real one), never ahead of it.
    cached_tail: usize,
}

impl<T> fmt::Debug for RingConsumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingConsumer")
            .field("head", &self.head)
            .field("cached_tail", &self.cached_tail)
            .finish()
    }
}

impl<T> RingConsumer<T> {
    /// Readable items, reloading the producer's `tail` only if the cache shows fewer than
    /// `want`.
    #[inline(always)]
    fn available(&mut self, want: usize) -> usize {
        let cap = self.ring.capacity();
        let ready = self.cached_tail.wrapping_sub(self.head);
        debug_assert!(ready <= cap, "consumer sees {ready} ready slots of {cap}");
        if ready >= want {
            return ready;
        }
        // Acquire pairs with the producer's Release store of `tail`: the slot writes before it
        // are visible to our reads.
        self.cached_tail = self.ring.tail.load(Ordering::Acquire);
        let ready = self.cached_tail.wrapping_sub(self.head);
        debug_assert!(ready <= cap, "consumer sees {ready} ready slots of {cap}");
        ready
    }

    /// [`Ring::pushed`] without going through a handle.
    pub fn pushed(&self) -> usize {
        // Relaxed: accounting and flush targets only; slot contents are acquired in
        // `available`.
        self.ring.tail.load(Ordering::Relaxed)
    }

    /// Positions this consumer has freed so far (its own `head`: exact).
    pub fn popped(&self) -> usize {
        self.head
    }

    /// The ring this consumer reads.
    pub fn ring(&self) -> Ring<T> {
        Ring {
            shared: Arc::clone(&self.ring),
        }
    }

    /// Items ready to read right now.
    pub fn len(&mut self) -> usize {
        self.available(usize::MAX)
    }

    /// Whether nothing is ready to read.
    pub fn is_empty(&mut self) -> bool {
        self.available(1) == 0
    }

    /// Up to `max` ready items as at most two contiguous runs; nothing is freed until
    /// [`ReadChunk::commit`]. An empty chunk means the ring is empty.
    pub fn read_chunk(&mut self, max: usize) -> ReadChunk<'_, T> {
        let len = self.available(max).min(max);
        let (a, b) = self.ring.runs(self.head, len);
        for i in a.clone().chain(b.clone()) {
            self.ring.trackers[i].read();
        }
        ReadChunk {
            consumer: self,
            a,
            b,
        }
    }
}

impl<T: Copy> RingConsumer<T> {
    /// Pops one item, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let chunk = self.read_chunk(1);
        let value = chunk.as_slices().0.first().copied();
        chunk.commit(1);
        value
    }
}

/// Ready slots handed out by [`RingConsumer::read_chunk`], freed by [`ReadChunk::commit`].
pub struct ReadChunk<'a, T> {
    consumer: &'a mut RingConsumer<T>,
    a: std::ops::Range<usize>,
    b: std::ops::Range<usize>,
}

impl<T> ReadChunk<'_, T> {
    /// Number of ready items in the chunk.
    pub fn len(&self) -> usize {
        self.a.len() + self.b.len()
    }

    /// Whether the chunk is empty (the ring was empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items in order, as two contiguous runs (the second is empty unless the chunk
    /// wraps around the end of the buffer).
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let slots = &self.consumer.ring.slots;
        // SAFETY: both runs lie in `[head, tail)`, published by the producer's Release store of
        // `tail` that `available` acquired; the producer does not write them until we move
        // `head` past them, which needs `commit` and so the end of this borrow. `UnsafeCell<T>`
        // has the layout of `T`.
        unsafe {
            (
                std::slice::from_raw_parts(
                    slots[self.a.clone()].as_ptr() as *const T,
                    self.a.len(),
                ),
                std::slice::from_raw_parts(
                    slots[self.b.clone()].as_ptr() as *const T,
                    self.b.len(),
                ),
            )
        }
    }

    /// Frees the first `n` items of the chunk (all of them if `n` is larger) with one release
    /// store; the rest stay in the ring for the next read.
    pub fn commit(self, n: usize) {
        let n = n.min(self.len());
        if n == 0 {
            return;
        }
        let c = self.consumer;
        c.head = c.head.wrapping_add(n);
        // Release pairs with the producer's Acquire load of `head` in `room`: our reads of the
        // freed slots happen before it overwrites them.
        c.ring.head.store(c.head, Ordering::Release);
    }
}
