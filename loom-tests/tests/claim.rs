//! Producer claims under loom: never two producers at once, and a new owner continues
//! exactly where the previous one stopped.
#![cfg(ringspan_loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringspan::Ring;

#[test]
fn at_most_one_producer_at_a_time() {
    loom::model(|| {
        let (ring, mut c) = Ring::with_consumer(2, 0u32);
        let holders = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (1..=2u32)
            .map(|v| {
                let ring = ring.clone();
                let holders = holders.clone();
                thread::spawn(move || {
                    let Some(mut p) = Ring::try_claim(&ring) else {
                        return false;
                    };
                    assert_eq!(
                        holders.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two producers at once"
                    );
                    p.push(v).unwrap();
                    holders.fetch_sub(1, Ordering::SeqCst);
                    true
                })
            })
            .collect();
        let claimed = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&ok| ok)
            .count();
        let mut got = Vec::new();
        while let Some(v) = c.pop() {
            got.push(v);
        }
        assert!(claimed >= 1);
        assert_eq!(
            got.len(),
            claimed,
            "every successful claim's push arrived: {got:?}"
        );
    });
}

#[test]
fn hand_over_keeps_the_tail() {
    loom::model(|| {
        let (ring, mut c) = Ring::with_consumer(2, 0u32);
        let mut first = Ring::try_claim(&ring).unwrap();
        let ring2 = ring.clone();
        let a = thread::spawn(move || {
            first.push(1).unwrap();
            drop(first);
        });
        let b = thread::spawn(move || {
            let mut p = loop {
                match Ring::try_claim(&ring2) {
                    Some(p) => break p,
                    None => thread::yield_now(),
                }
            };
            p.push(2).unwrap();
        });
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!((c.pop(), c.pop(), c.pop()), (Some(1), Some(2), None));
    });
}
