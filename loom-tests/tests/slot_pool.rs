//! The travelling spans' record pool under loom: a slot is held by one thread at a time (the
//! race detector sees every access to it), what a holder wrote is what the next holder
//! finds, and every slot comes back.
#![cfg(ringspan_loom)]

use loom::sync::Arc;
use loom::thread;
use ringspan::SlotPool;

/// Takes a slot, checks it holds a value some holder left, writes its own, gives it back.
fn hold_once(pool: &SlotPool<u64>, mark: u64) -> bool {
    let Some(i) = pool.take() else {
        return false;
    };
    // SAFETY: `take` handed `i` to this thread.
    let v = unsafe { pool.slot(i) };
    assert!(*v == 0 || *v >= 10, "a value no holder wrote: {v}");
    *v = mark;
    // SAFETY: held until now; `v` is not used again.
    unsafe { pool.give_back(i) };
    true
}

#[test]
fn two_threads_share_two_slots_one_at_a_time() {
    loom::model(|| {
        let pool = Arc::new(SlotPool::new(2, || 0u64));
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let pool = pool.clone();
                thread::spawn(move || {
                    let mut got = 0;
                    for round in 0..2 {
                        got += usize::from(hold_once(&pool, 10 + t * 10 + round));
                    }
                    got
                })
            })
            .collect();
        let got: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        // Two slots, two threads each holding at most one at a time: nobody ever waits.
        assert_eq!(got, 4);
        // Every slot came back, and no slot is handed out twice.
        let (a, b) = (pool.take().unwrap(), pool.take().unwrap());
        assert_ne!(a, b);
        assert!(pool.take().is_none());
    });
}

#[test]
fn one_slot_contended_is_never_held_twice() {
    loom::model(|| {
        let pool = Arc::new(SlotPool::new(1, || 0u64));
        let p2 = pool.clone();
        let t = thread::spawn(move || hold_once(&p2, 11));
        let mine = hold_once(&pool, 12);
        let theirs = t.join().unwrap();
        // At least one got it; if both did, they took turns (the tracker would have caught
        // an overlap as a data race).
        assert!(mine || theirs);
        let i = pool.take().expect("the slot came back");
        // SAFETY: taken just now.
        let last = unsafe { *pool.slot(i) };
        assert!(last == 11 || last == 12);
    });
}

/// The ABA case the tag is there for: while one thread is between reading the top slot and
/// swapping it out, another takes that slot and the one below, and gives back only the
/// first. Without the tag the first thread's swap would succeed and leave the slot below,
/// which the other still holds, at the top: its next take hands it out a second time (the
/// race detector sees two holders write it).
#[test]
fn a_slot_taken_and_given_back_meanwhile_does_not_hand_out_a_held_one() {
    /// Takes what it can of both slots, writes each, gives back the first, writes the
    /// second again, gives it back.
    fn hold_two(pool: &SlotPool<u64>, mark: u64) {
        let first = pool.take();
        let second = pool.take();
        for i in [first, second].into_iter().flatten() {
            // SAFETY: `take` handed `i` to this thread.
            unsafe { *pool.slot(i) = mark };
        }
        if let Some(i) = first {
            // SAFETY: held until now.
            unsafe { pool.give_back(i) };
        }
        if let Some(i) = second {
            // SAFETY: still held: another holder now would race with this write.
            unsafe {
                *pool.slot(i) = mark + 1;
                pool.give_back(i);
            }
        }
    }
    loom::model(|| {
        let pool = Arc::new(SlotPool::new(2, || 0u64));
        let p2 = pool.clone();
        let t = thread::spawn(move || hold_two(&p2, 20));
        hold_two(&pool, 10);
        t.join().unwrap();
        let (a, b) = (pool.take().unwrap(), pool.take().unwrap());
        assert_ne!(a, b, "a slot was in the free list twice");
        assert!(pool.take().is_none());
    });
}
