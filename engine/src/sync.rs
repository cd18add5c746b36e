//! The one place where ringspan chooses between `std` and `loom` primitives.
//!
//! Lock-free code in this crate imports atomics, `Arc`, `yield_now` and the slot-tracking cell
//! from here, never from `std` directly, so the loom models in `loom-tests/` check the very same
//! source. The switch is the project cfg `ringspan_loom` (not bare `cfg(loom)`, which would also
//! flip every dependency that knows that cfg). Build the models with
//! `RUSTFLAGS="--cfg ringspan_loom"`.

#[cfg(not(ringspan_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::sync::{Arc, Mutex};
    pub(crate) use std::thread;
    pub(crate) use std::thread::yield_now;

    /// Records accesses to a slot under loom; compiles to nothing here.
    ///
    /// Ring slots live in plain `std::cell::UnsafeCell`s so that the consumer can be handed a
    /// contiguous `&[T]`; loom cannot track such a slice, so under loom a `Tracker` beside every
    /// slot registers each write and each read for the race detector.
    #[derive(Debug, Default)]
    pub(crate) struct Tracker;

    impl Tracker {
        #[inline(always)]
        pub(crate) fn write(&self) {}
        #[inline(always)]
        pub(crate) fn read(&self) {}
    }

    /// Parks the calling thread for at most `d`.
    pub(crate) fn park_timeout(d: std::time::Duration) {
        std::thread::park_timeout(d);
    }

    /// Waits a little before polling again (callers of `flush`/`shutdown`, off the hot path).
    pub(crate) fn poll_pause() {
        std::thread::sleep(std::time::Duration::from_micros(50));
    }

    /// Whether the thread behind `h` has ended.
    pub(crate) fn is_finished<T>(h: &thread::JoinHandle<T>) -> bool {
        h.is_finished()
    }
}

#[cfg(ringspan_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use loom::sync::{Arc, Mutex};
    pub(crate) use loom::thread;
    pub(crate) use loom::thread::yield_now;

    /// Registers slot accesses with loom's race detector (see the `std` twin for why).
    #[derive(Debug)]
    pub(crate) struct Tracker(loom::cell::UnsafeCell<()>);

    impl Default for Tracker {
        fn default() -> Self {
            Tracker(loom::cell::UnsafeCell::new(()))
        }
    }

    impl Tracker {
        pub(crate) fn write(&self) {
            self.0.with_mut(|_| ());
        }
        pub(crate) fn read(&self) {
            self.0.with(|_| ());
        }
    }

    /// loom cannot model timed parking; yielding lets it schedule the other threads.
    pub(crate) fn park_timeout(_d: std::time::Duration) {
        loom::thread::yield_now();
    }

    /// loom cannot model sleeping either.
    pub(crate) fn poll_pause() {
        loom::thread::yield_now();
    }

    /// loom's handles cannot tell; the models' drains always end by the handshake.
    pub(crate) fn is_finished<T>(_h: &thread::JoinHandle<T>) -> bool {
        false
    }
}

pub(crate) use imp::*;
