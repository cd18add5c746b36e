//! Producers for threads that are not pinned: claimed lazily, cached per thread.
//!
//! A thread-local list maps each engine (by id) to this thread's producer for it. The first
//! [`crate::Engine::with_local`] call on a thread claims a free ring (one small allocation, the
//! only one); later calls reuse it until the thread exits, which releases the ring. When the pool
//! is exhausted the call runs with a detached producer (cached like the others, so that a
//! travelling span's context entered on this thread still parents the spans started inside)
//! that counts every sampled span as dropped (`no_ring`) and tries to claim a ring again on a
//! later call made while it holds no open span. Entries of engines that have shut down are
//! removed on the next call (for one engine on the thread, on its next call for an engine),
//! which frees their rings.

use std::cell::RefCell;
use std::rc::Rc;

use super::pool::Pool;
use super::producer::Producer;
use crate::sync::Arc;

thread_local! {
    static LOCAL: RefCell<Vec<(u64, Rc<Producer>)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's producer for `pool` if the thread has one cached already
/// (never claims a ring or allocates); `None` otherwise.
pub(crate) fn with_cached<R>(pool: &Arc<Pool>, f: impl FnOnce(&Producer) -> R) -> Option<R> {
    let id = pool.id;
    let cached = LOCAL
        .try_with(|local| {
            // Borrowed mutably while `with_local` drops producers: a reference given back
            // then finds none (and goes straight to the pool) rather than panicking.
            let local = local.try_borrow().ok()?;
            local
                .iter()
                .find(|(e, _)| *e == id)
                .map(|(_, p)| Rc::clone(p))
        })
        .ok()
        .flatten()?;
    Some(f(&cached))
}

/// Runs `f` with this thread's producer for `pool`, claiming a ring on first use (see
/// `Engine::with_local`).
///
/// Every travelling span and every front-end call comes through here, so the common case (one
/// engine on the thread, its producer attached, the engine running) is checked first, inline,
/// and the rest is out of line.
#[inline]
pub(crate) fn with_local<R>(pool: &Arc<Pool>, f: impl FnOnce(&Producer) -> R) -> R {
    match attached(pool) {
        Some(p) => f(&p),
        None => with_local_slow(pool, f),
    }
}

/// This thread's attached producer for `pool` when it is the thread's only entry and the
/// engine is not shutting down: what [`with_local_slow`] would return at once, without its
/// sweep of other engines' entries (there are none) or a claim.
#[inline]
fn attached(pool: &Arc<Pool>) -> Option<Rc<Producer>> {
    LOCAL
        .try_with(|local| {
            // Borrowed mutably while `with_local_slow` changes the list (a producer dropped
            // there may give back a reference): the slow path decides then.
            let local = local.try_borrow().ok()?;
            match local.as_slice() {
                // A clone, not a borrow: `f` may call back in (another span, another engine)
                // and change the list; the producer lives until `f` returns all the same.
                [(e, p)] if *e == pool.id && p.is_attached() && !pool.is_shutting_down() => {
                    Some(Rc::clone(p))
                }
                _ => None,
            }
        })
        .ok()
        .flatten()
}

/// [`with_local`] for every other case: several engines on the thread, none cached yet, a
/// detached producer, an engine shutting down.
#[cold]
#[inline(never)]
fn with_local_slow<R>(pool: &Arc<Pool>, f: impl FnOnce(&Producer) -> R) -> R {
    let id = pool.id;
    let cached = LOCAL
        .try_with(|local| {
            let mut local = local.borrow_mut();
            if local.len() > 1 {
                // Several engines on this thread: the entries of those that shut down go,
                // which frees their rings and memory. (With one, its entry goes when it is
                // found shutting down, below and in the claim after.)
                local.retain(|(_, p)| !p.pool().is_shutting_down());
            }
            local
                .iter()
                .find(|(e, _)| *e == id)
                // An engine shutting down hands out no producer: its entry goes below. A
                // stale `false` only keeps it one call longer.
                .filter(|(_, p)| !p.pool().is_shutting_down())
                .map(|(_, p)| Rc::clone(p))
        })
        .ok()
        .flatten();
    let fresh = match cached {
        Some(p) if p.is_attached() || !p.is_idle() => return f(&p),
        // A detached producer tries for a ring again once it holds no open span (its stack
        // must outlive any context entered on it); without one it carries on, cached.
        Some(p) => match Producer::unpinned(pool) {
            Ok(attached) => attached,
            Err(_) => return f(&p),
        },
        // Shutting down: the engine's entry goes (freeing its ring), and this call gets a
        // detached producer, cached nowhere, with no allocation. (A context entered on this
        // thread is then not seen by a nested call: spans started after shutdown began are
        // counted as dropped anyway, only a `traceparent` sent on would start a new trace.)
        None if pool.is_shutting_down() => {
            let _ = LOCAL.try_with(|local| local.borrow_mut().retain(|(e, _)| *e != id));
            return f(&Producer::detached(pool));
        }
        // No ring: a detached producer, cached all the same (one allocation, as for an
        // attached one), so that contexts entered on this thread still parent what starts
        // inside them.
        None => Producer::unpinned(pool).unwrap_or_else(|_| Producer::detached(pool)),
    };
    let p = Rc::new(fresh);
    // If the thread-local is being torn down, the producer just lives for this call. The
    // entries of engines that are shutting down go now, which frees their rings.
    let _ = LOCAL.try_with(|local| {
        let mut local = local.borrow_mut();
        local.retain(|(e, q)| *e != id && !q.pool().is_shutting_down());
        local.push((id, Rc::clone(&p)));
    });
    f(&p)
}
