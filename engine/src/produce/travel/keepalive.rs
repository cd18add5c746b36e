//! References counted in batches, with one value kept while any is held: how travelling
//! spans keep their engine's pool alive without an atomic operation per span.
//!
//! A travelling span must keep the pool (its record's home) alive wherever it goes, which an
//! `Arc` clone per span would do at the price of two read-modify-writes on one shared line,
//! each a full barrier on x86: about 9 ns a span on the machine of `bench/RESULTS.md`. Here
//! the pool keeps a strong reference to itself, counted out in batches instead: a producer
//! takes [`BATCH`]-sized batches of references with one atomic add and hands them to the
//! spans it starts, and a span that ends gives its reference to the producer of the thread
//! it ends on (a plain add there; straight back here on a thread with none); producers give back what they hold beyond two batches,
//! and everything when they are dropped. The engine holds one reference of its own until it
//! is dropped. The call that brings the count to 0 takes the kept value out, and with it
//! the last reference the pool holds to itself.
//!
//! Orderings as `Arc`'s: taking references is Relaxed (the taker holds the value alive
//! through a reference of its own, a producer's `Arc`, while it takes), giving them back is
//! Release, and the one that reaches 0 adds an Acquire fence before it takes the value, so
//! that every use made under the references happens before the value goes.

use crate::sync::{fence, AtomicU64, Mutex, Ordering};

/// References a producer takes at once.
pub(crate) const BATCH: u64 = 64;

/// See the module docs.
pub struct Keepalive<T> {
    count: AtomicU64,
    kept: Mutex<Option<T>>,
}

impl<T> std::fmt::Debug for Keepalive<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keepalive").finish_non_exhaustive()
    }
}

impl<T> Default for Keepalive<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Keepalive<T> {
    /// No value kept, no reference held: [`Keepalive::acquire`] fails until
    /// [`Keepalive::start`].
    pub fn new() -> Self {
        Keepalive {
            count: AtomicU64::new(0),
            kept: Mutex::new(None),
        }
    }

    /// Keeps `value`, with `held` references (at least 1) held by the caller. Call it once,
    /// before any other thread uses this.
    pub fn start(&self, value: T, held: u64) {
        assert!(held > 0, "a kept value needs a reference");
        *self.kept.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        // Release: nothing acquires it (`acquire` is Relaxed, and `kept` is only read under
        // its Mutex, which orders it); it publishes the count's first value, as `Arc::new`'s.
        self.count.store(held, Ordering::Release);
    }

    /// Takes `n` references, if any is held (the value is kept); `false` once the count went
    /// to 0 (the value is gone, or was never kept).
    pub fn acquire(&self, n: u64) -> bool {
        // Relaxed: the caller keeps the value alive by other means while it takes; the count
        // only says whether it is kept, and once it is not 0 it cannot go to 0 while these
        // `n` are held (as `Arc::clone`).
        let mut seen = self.count.load(Ordering::Relaxed);
        loop {
            if seen == 0 {
                return false;
            }
            match self.count.compare_exchange_weak(
                seen,
                seen + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => seen = now,
            }
        }
    }

    /// Gives back `n` references the caller held; the call that brings the count to 0 returns
    /// the kept value (for the caller to drop, after it is done with anything it reached
    /// through it).
    pub fn release(&self, n: u64) -> Option<T> {
        if n == 0 {
            return None;
        }
        // Release: this holder's uses happen before the value goes (the Acquire fence below,
        // in the thread that brings the count to 0).
        let before = self.count.fetch_sub(n, Ordering::Release);
        debug_assert!(before >= n, "more references given back than taken");
        if before != n {
            return None;
        }
        // Acquire: pairs with every holder's Release above.
        fence(Ordering::Acquire);
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// References held now (for tests and reports).
    pub fn held(&self) -> u64 {
        // Relaxed: a count at one instant.
        self.count.load(Ordering::Relaxed)
    }
}
