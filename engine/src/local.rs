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

use crate::engine::Engine;
use crate::producer::Producer;
use crate::sync::Ordering;

thread_local! {
    static LOCAL: RefCell<Vec<(u64, Rc<Producer>)>> = const { RefCell::new(Vec::new()) };
}

impl Engine {
    /// Runs `f` with this thread's producer for this engine, claiming a ring on first use.
    ///
    /// Never fails and never blocks: without a free ring, `f` gets a detached producer whose
    /// spans are counted as dropped. Spans started inside `f` must end inside it (the guard
    /// borrows the producer), which also keeps them off `await` points.
    ///
    /// # Examples
    /// ```
    /// use ringspan::{Engine, EngineConfig, sink::Discard};
    /// let engine = Engine::start(EngineConfig::default().rings(2).ring_capacity(64), Discard::default()).unwrap();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| engine.with_local(|p| { let _span = p.span("worker.step"); }));
    /// });
    /// ```
    pub fn with_local<R>(&self, f: impl FnOnce(&Producer) -> R) -> R {
        let id = self.shared().id;
        let cached = LOCAL
            .try_with(|local| {
                let mut local = local.borrow_mut();
                local.retain(|(_, p)| !p.engine_stopped());
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
        match self.producer() {
            Ok(p) => {
                let p = Rc::new(p);
                // If the thread-local is being torn down, the producer just lives for this call.
                let _ = LOCAL.try_with(|local| local.borrow_mut().push((id, Rc::clone(&p))));
                f(&p)
            }
            Err(_) => f(&self.detached_producer()),
        }
    }
}

impl Producer {
    fn engine_stopped(&self) -> bool {
        // Relaxed: a stale `false` only keeps the entry one call longer.
        self.shared_state().shutting_down.load(Ordering::Relaxed)
    }
}
