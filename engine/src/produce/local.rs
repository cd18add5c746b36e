//! Producers for threads that are not pinned: claimed lazily, cached per thread.
//!
//! A thread-local list maps each engine (by id) to this thread's producer for it. The first
//! [`crate::Engine::with_local`] call on a thread claims a free ring (one small allocation, the
//! only one); later calls reuse it until the thread exits, which releases the ring. When the pool
//! is exhausted the call runs with a detached producer that counts every sampled span as
//! dropped (`no_ring`) and tries to claim again next time. Entries of engines that have shut
//! down are removed on the next call, which frees their rings.

use std::cell::RefCell;
use std::rc::Rc;

use super::pool::Pool;
use super::producer::Producer;
use crate::sync::Arc;

thread_local! {
    static LOCAL: RefCell<Vec<(u64, Rc<Producer>)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's producer for `pool`, claiming a ring on first use (see
/// `Engine::with_local`).
pub(crate) fn with_local<R>(pool: &Arc<Pool>, f: impl FnOnce(&Producer) -> R) -> R {
    let id = pool.id;
    let cached = LOCAL
        .try_with(|local| {
            let mut local = local.borrow_mut();
            // A stale `false` from `is_shutting_down` only keeps an entry one call longer.
            local.retain(|(_, p)| !p.pool().is_shutting_down());
            local
                .iter()
                .find(|(e, _)| *e == id)
                .map(|(_, p)| Rc::clone(p))
        })
        .ok()
        .flatten();
    if let Some(p) = cached {
        return f(&p);
    }
    match Producer::unpinned(pool) {
        Ok(p) => {
            let p = Rc::new(p);
            // If the thread-local is being torn down, the producer just lives for this call.
            let _ = LOCAL.try_with(|local| local.borrow_mut().push((id, Rc::clone(&p))));
            f(&p)
        }
        Err(_) => f(&Producer::detached(pool)),
    }
}
