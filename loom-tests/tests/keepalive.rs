//! The travelling spans' pool keep-alive under loom: references taken in batches and given
//! back on other threads; the value is taken out exactly once, by the call that brings the
//! count to 0, after every holder's last use of it (the race detector sees each use and the
//! final write), and no reference is taken once it is gone.
#![cfg(ringspan_loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringspan::Keepalive;

/// What the pool is to the keep-alive: something holders read while they hold references,
/// and that whoever takes it out "frees" (writes).
struct Payload(UnsafeCell<u64>);

fn use_it(p: &Payload) {
    p.0.with(|v| {
        // SAFETY: loom checks this read against the final write for a race.
        let v = unsafe { *v };
        assert_eq!(v, 7, "used after it was taken");
    });
}

/// What whoever takes the value out does with it: the "free".
fn free(p: &Payload) {
    // SAFETY: loom checks this write against every holder's read for a race.
    p.0.with_mut(|v| unsafe { *v = 0 });
}

#[test]
fn the_value_goes_once_after_every_holder_is_done() {
    loom::model(|| {
        let payload = Arc::new(Payload(UnsafeCell::new(7)));
        let keep = Arc::new(Keepalive::new());
        // The engine's reference.
        keep.start(Arc::clone(&payload), 1);
        let taken = Arc::new(AtomicUsize::new(0));
        let holder = |batch: u64| {
            let (keep, payload, taken) = (keep.clone(), payload.clone(), taken.clone());
            thread::spawn(move || {
                if !keep.acquire(batch) {
                    return;
                }
                for _ in 0..batch {
                    use_it(&payload);
                    if let Some(value) = keep.release(1) {
                        free(&value);
                        taken.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        let (a, b) = (holder(2), holder(1));
        if let Some(value) = keep.release(1) {
            free(&value);
            taken.fetch_add(1, Ordering::Relaxed);
        }
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(taken.load(Ordering::Relaxed), 1, "taken out exactly once");
        assert_eq!(keep.held(), 0);
        assert!(!keep.acquire(1), "no reference once the value is gone");
    });
}
