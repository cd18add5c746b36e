//! A global-allocator wrapper that counts allocations, to check the zero-allocation promise
//! in your own process (the tests and the perf harness use it), and keeps live and total
//! allocations by size class ([`CountingAlloc::heap`]; the admin endpoint's
//! `/debug/pprof/heap` shows them).
//!
//! Cost: four relaxed `fetch_add`s on shared counters per allocation, two per free (each
//! size class on a cache line of its own, 3 KiB in all). ringspan's
//! hot path never allocates; other threads of the process pay that, and only when this
//! allocator is installed.
//!
//! # Examples
//! ```
//! use std::alloc::System;
//! use ringspan_alloc_counter::CountingAlloc;
//!
//! #[global_allocator]
//! static ALLOC: CountingAlloc<System> = CountingAlloc::new(System);
//!
//! let before = ALLOC.allocations();
//! let v = vec![1u8; 64];
//! assert!(ALLOC.allocations() > before);
//! # drop(v);
//! ```

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    // Const-initialised with no destructor: reading it never allocates, even inside the
    // allocator, and it stays readable while the thread is torn down.
    static EXCLUDED: Cell<bool> = const { Cell::new(false) };
}

/// Stops counting the calling thread's allocations, for threads that stand in for something
/// outside the system measured (an in-process collector, a load generator's helpers).
pub fn exclude_this_thread() {
    let _ = EXCLUDED.try_with(|e| e.set(true));
}

/// Forwards every call to `A` and counts allocations (reallocations included) and their bytes,
/// except on threads that called [`exclude_this_thread`].
#[derive(Debug)]
pub struct CountingAlloc<A> {
    inner: A,
    allocations: AtomicU64,
    bytes: AtomicU64,
    /// By size class, every thread (exclusion is for the allocation count only: a block
    /// allocated on one thread may be freed on another).
    classes: [Class; CLASSES],
}

/// Size classes: class `i` holds sizes in `[2^i, 2^(i+1))` (class 0 also holds 0); the last
/// one everything from 2^47 bytes up.
pub const CLASSES: usize = 48;

/// One class's counters, on a cache line of its own: every thread that allocates writes them.
#[derive(Debug)]
#[repr(align(64))]
struct Class {
    allocations: AtomicU64,
    frees: AtomicU64,
    bytes_allocated: AtomicU64,
    bytes_freed: AtomicU64,
}

impl Class {
    const fn new() -> Self {
        Class {
            allocations: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            bytes_allocated: AtomicU64::new(0),
            bytes_freed: AtomicU64::new(0),
        }
    }
}

fn class_of(size: usize) -> usize {
    (usize::BITS - 1)
        .saturating_sub(size.leading_zeros())
        .min(CLASSES as u32 - 1) as usize
}

/// One size class at one moment (see [`CountingAlloc::heap`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SizeClass {
    /// The smallest size in the class, in bytes.
    pub min_bytes: u64,
    /// The largest (`u64::MAX` for the last class).
    pub max_bytes: u64,
    /// Blocks allocated in this class so far (a reallocation frees the old block's class and
    /// allocates in the new one's).
    pub allocations: u64,
    /// Blocks of this class freed so far.
    pub frees: u64,
    /// Bytes requested by those allocations.
    pub bytes_allocated: u64,
    /// Bytes of the blocks freed.
    pub bytes_freed: u64,
}

impl SizeClass {
    /// Blocks allocated and not freed.
    pub fn live(&self) -> u64 {
        self.allocations.saturating_sub(self.frees)
    }

    /// Bytes allocated and not freed.
    pub fn live_bytes(&self) -> u64 {
        self.bytes_allocated.saturating_sub(self.bytes_freed)
    }
}

/// Something that can report the heap by size class: a [`CountingAlloc`], as a trait object
/// (for the admin endpoint, which does not know the inner allocator's type).
pub trait HeapStats: Sync {
    /// Every size class that has seen an allocation, smallest first.
    fn heap(&self) -> Vec<SizeClass>;
}

impl<A: Sync> HeapStats for CountingAlloc<A> {
    fn heap(&self) -> Vec<SizeClass> {
        CountingAlloc::heap(self)
    }
}

impl<A> CountingAlloc<A> {
    /// Wraps `inner` (`std::alloc::System`, mimalloc, ...).
    pub const fn new(inner: A) -> Self {
        CountingAlloc {
            inner,
            allocations: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            classes: [const { Class::new() }; CLASSES],
        }
    }

    /// Every size class that has seen an allocation, smallest first. Read while other
    /// threads allocate, the counts are each recent but not from one instant (relaxed
    /// loads, one class after another); `live` saturates at zero should a free be seen
    /// before its allocation.
    pub fn heap(&self) -> Vec<SizeClass> {
        self.classes
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                // Relaxed: statistics, as in `count`.
                let frees = c.frees.load(Ordering::Relaxed);
                let bytes_freed = c.bytes_freed.load(Ordering::Relaxed);
                let allocations = c.allocations.load(Ordering::Relaxed);
                let bytes_allocated = c.bytes_allocated.load(Ordering::Relaxed);
                (allocations > 0).then(|| SizeClass {
                    min_bytes: if i == 0 { 0 } else { 1 << i },
                    max_bytes: if i + 1 == CLASSES {
                        u64::MAX
                    } else {
                        (1 << (i + 1)) - 1
                    },
                    allocations,
                    frees,
                    bytes_allocated,
                    bytes_freed,
                })
            })
            .collect()
    }

    fn class_alloc(&self, size: usize) {
        let c = &self.classes[class_of(size)];
        // Relaxed: statistics; a reader may see a free before its allocation (`SizeClass`
        // saturates).
        c.allocations.fetch_add(1, Ordering::Relaxed);
        c.bytes_allocated.fetch_add(size as u64, Ordering::Relaxed);
    }

    fn class_free(&self, size: usize) {
        let c = &self.classes[class_of(size)];
        // Relaxed: statistics, see `class_alloc`.
        c.frees.fetch_add(1, Ordering::Relaxed);
        c.bytes_freed.fetch_add(size as u64, Ordering::Relaxed);
    }

    /// Allocations and reallocations so far, by every thread.
    pub fn allocations(&self) -> u64 {
        self.allocations.load(Ordering::Relaxed)
    }

    /// Bytes requested by those allocations (not net of frees).
    pub fn bytes_allocated(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn count(&self, size: usize) {
        if EXCLUDED.try_with(Cell::get).unwrap_or(false) {
            return;
        }
        // Relaxed: statistics; readers want a recent total, nothing is published through it.
        self.allocations.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `inner`, whose contract is the same as ours;
// we only add to counters, which neither allocates nor unwinds.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            self.class_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: as for `alloc`.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            self.class_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.class_free(layout.size());
        // SAFETY: `ptr` came from `inner` (every allocation goes through us to it).
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count(new_size);
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        // On failure the old block is still allocated: nothing moved.
        if !p.is_null() {
            self.class_free(layout.size());
            self.class_alloc(new_size);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_powers_of_two() {
        assert_eq!(
            [0, 1, 2, 3, 4, 1023, 1024, usize::MAX].map(class_of),
            [0, 0, 1, 1, 2, 9, 10, CLASSES - 1]
        );
    }

    #[test]
    fn live_blocks_by_class() {
        let a = CountingAlloc::new(std::alloc::System);
        let layout = Layout::from_size_align(1000, 8).unwrap();
        // SAFETY: a non-zero size; the block is freed below with the same layout.
        let p = unsafe { a.alloc(layout) };
        assert!(!p.is_null());
        let c = a.heap();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].min_bytes, c[0].max_bytes), (512, 1023));
        assert_eq!((c[0].live(), c[0].live_bytes()), (1, 1000));
        // SAFETY: `p` came from `a.alloc(layout)`; grown to 5000 bytes, then freed with that.
        let q = unsafe { a.realloc(p, layout, 5000) };
        assert!(!q.is_null());
        let c = a.heap();
        assert_eq!((c[0].live(), c[1].min_bytes, c[1].live()), (0, 4096, 1));
        // SAFETY: `q` is live, of 5000 bytes.
        unsafe { a.dealloc(q, Layout::from_size_align(5000, 8).unwrap()) };
        assert!(a
            .heap()
            .iter()
            .all(|c| c.live() == 0 && c.live_bytes() == 0));
    }
}
