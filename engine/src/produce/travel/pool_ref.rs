//! A travelling span's reference to its engine's pool: one of the pool's counted references
//! (`keepalive.rs`), handed over by the producer that started the span and handed back to
//! the producer of the thread that ends it (straight back to the pool, one atomic release,
//! on a thread with no producer for the engine); or, when none could be taken (the engine and
//! every batch of references are gone), an `Arc` of its own.

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;

use super::local;
use crate::produce::pool::Pool;
use crate::sync::Arc;

/// See the module docs.
pub(crate) struct PoolRef {
    /// From `Arc::as_ptr` of a pool whose strong count this reference keeps above 0: through
    /// the pool's reference to itself (`Counted`: `keepalive` is not 0 while it is held) or
    /// a strong count of its own (`Owned`).
    ptr: NonNull<Pool>,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Holds one of `keepalive`'s references.
    Counted,
    /// Holds one strong count of the `Arc`.
    Owned,
    /// Its counted reference was handed to a producer already; the pool is still alive until
    /// the call that handed it over returns.
    HandedBack,
}

// SAFETY: a `PoolRef` is a shared reference to a `Pool` (which is `Send + Sync`) that keeps it
// alive, as an `Arc<Pool>` is; what it holds is given back through atomics or the `Arc`.
unsafe impl Send for PoolRef {}
// SAFETY: as above; `&PoolRef` only gives `&Pool`.
unsafe impl Sync for PoolRef {}

impl PoolRef {
    /// A reference for which the caller took one of `pool.keepalive`'s references, and hands
    /// it over.
    ///
    /// # Safety
    /// The caller holds one reference of `pool.keepalive` that nothing else will give back.
    pub(crate) unsafe fn counted(pool: &Arc<Pool>) -> Self {
        PoolRef {
            ptr: NonNull::from(&**pool),
            kind: Kind::Counted,
        }
    }

    /// A reference holding a strong count of its own (one atomic add now, one at the end).
    pub(crate) fn owned(pool: &Arc<Pool>) -> Self {
        let raw = Arc::into_raw(Arc::clone(pool));
        PoolRef {
            // SAFETY: `Arc::into_raw` never returns null.
            ptr: unsafe { NonNull::new_unchecked(raw.cast_mut()) },
            kind: Kind::Owned,
        }
    }

    /// Runs `f` with the pool as an `Arc` (for the local producer), without changing its
    /// count.
    pub(crate) fn with_arc<R>(&self, f: impl FnOnce(&Arc<Pool>) -> R) -> R {
        // SAFETY: `ptr` came from an `Arc<Pool>` whose strong count this reference keeps
        // above 0 (the field's docs), so it is a live `Arc`'s pointer; `ManuallyDrop` keeps
        // the count as it is.
        let arc = ManuallyDrop::new(unsafe { Arc::from_raw(self.ptr.as_ptr()) });
        f(&arc)
    }

    /// Whether it holds a counted reference, which the caller is about to hand to a producer
    /// (`Producer::return_travel_ref`) inside a [`PoolRef::with_arc`] call; from here on
    /// dropping it gives nothing back.
    pub(crate) fn hand_back(&mut self) -> bool {
        let counted = self.kind == Kind::Counted;
        if counted {
            self.kind = Kind::HandedBack;
        }
        counted
    }
}

impl Deref for PoolRef {
    type Target = Pool;

    fn deref(&self) -> &Pool {
        // SAFETY: the pool is alive while this reference is (the field's docs).
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for PoolRef {
    fn drop(&mut self) {
        match self.kind {
            Kind::Counted => {
                self.kind = Kind::HandedBack;
                // To this thread's producer for the pool if it has one (a plain add there; the
                // pool stays alive through that producer's own `Arc` while it takes it). A
                // thread without one (it only ever dropped unsampled spans started elsewhere)
                // does not claim a ring for this: the reference goes straight back.
                let handed =
                    self.with_arc(|pool| local::with_cached(pool, |p| p.return_travel_ref()));
                if handed.is_none() {
                    // SAFETY: the pool is alive while this reference is (the field's docs);
                    // the borrow ends with the call, before the value it returns is dropped.
                    let last = unsafe { self.ptr.as_ref() }.keepalive.release(1);
                    // The pool's reference to itself, if this was the last reference: the
                    // pool may go with it, and nothing here touches it after.
                    drop(last);
                }
            }
            // SAFETY: this reference holds the strong count `owned` took, given back once.
            Kind::Owned => drop(unsafe { Arc::from_raw(self.ptr.as_ptr()) }),
            Kind::HandedBack => {}
        }
    }
}

#[cfg(all(test, not(ringspan_loom)))]
mod tests {
    use std::time::Duration;

    use crate::{Discard, Engine, EngineConfig, Sampler};

    /// The pool's reference to itself must go once the engine, its producers and every
    /// travelling span are gone, or every engine would leak its rings.
    #[test]
    fn the_pool_is_freed_after_the_engine_and_its_last_travelling_span() {
        for sampler in [Sampler::always_on(), Sampler::always_off()] {
            let config = EngineConfig::default()
                .rings(2)
                .ring_capacity(64)
                .sampler(sampler);
            let engine = Engine::start(config, Discard::default()).unwrap();
            let weak = crate::sync::Arc::downgrade(engine.pool_for_tests());
            // Started on one thread (whose producer holds a batch of references), kept past
            // the engine's drop, ended on another.
            let spans = std::thread::scope(|s| {
                s.spawn(|| {
                    (0..3)
                        .map(|_| engine.travel("outlives"))
                        .collect::<Vec<_>>()
                })
                .join()
                .unwrap()
            });
            engine.shutdown(Duration::from_secs(5)).unwrap();
            drop(engine);
            assert!(weak.upgrade().is_some(), "the spans keep the pool alive");
            std::thread::spawn(move || drop(spans)).join().unwrap();
            assert_eq!(weak.strong_count(), 0, "the pool was not freed");
        }
    }
}
