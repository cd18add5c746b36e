//! A global-allocator wrapper that counts allocations, to check the zero-allocation promise
//! in your own process (the tests and the perf harness use it).
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
}

impl<A> CountingAlloc<A> {
    /// Wraps `inner` (`std::alloc::System`, mimalloc, ...).
    pub const fn new(inner: A) -> Self {
        CountingAlloc {
            inner,
            allocations: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
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
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `inner` (every allocation goes through us to it).
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count(new_size);
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}
