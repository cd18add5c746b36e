//! The SPSC ring under loom: transfer across wrap-around, full, empty, and batch
//! publish/consume against a concurrent other side.
#![cfg(ringspan_loom)]

use loom::thread;
use ringspan::{PushError, Ring};

/// Pushes `values` one by one, retrying (with a yield) while the ring is full.
fn push_all(p: &mut ringspan::RingProducer<u32>, values: &[u32]) {
    for &v in values {
        while let Err(PushError::Full(_)) = p.push(v) {
            thread::yield_now();
        }
    }
}

fn pop_n(c: &mut ringspan::RingConsumer<u32>, n: usize) -> Vec<u32> {
    let mut out = Vec::new();
    while out.len() < n {
        match c.pop() {
            Some(v) => out.push(v),
            None => thread::yield_now(),
        }
    }
    out
}

#[test]
fn transfer_wraps_around_in_order() {
    loom::model(|| {
        let (ring, mut c) = Ring::with_consumer(2, 0u32);
        let mut p = Ring::try_claim(&ring).unwrap();
        let t = thread::spawn(move || push_all(&mut p, &[1, 2, 3]));
        assert_eq!(pop_n(&mut c, 3), vec![1, 2, 3]);
        t.join().unwrap();
        assert_eq!(c.pop(), None);
    });
}

#[test]
fn full_hands_back_the_value_and_loses_nothing() {
    loom::model(|| {
        let (ring, mut c) = Ring::with_consumer(2, 0u32);
        let mut p = Ring::try_claim(&ring).unwrap();
        let t = thread::spawn(move || {
            let mut accepted = Vec::new();
            for v in 1..=3 {
                match p.push(v) {
                    Ok(()) => accepted.push(v),
                    Err(PushError::Full(back)) => assert_eq!(back, v),
                }
            }
            accepted
        });
        let first = c.pop();
        let accepted = t.join().unwrap();
        // The consumer saw a prefix of what was accepted, then the rest is still there.
        let mut got: Vec<u32> = first.into_iter().collect();
        while let Some(v) = c.pop() {
            got.push(v);
        }
        assert_eq!(got, accepted);
        assert!(accepted.len() >= 2, "two pushes always fit into two slots");
    });
}

#[test]
fn batch_publish_and_batch_consume() {
    loom::model(|| {
        let (ring, mut c) = Ring::with_consumer(2, 0u32);
        let mut p = Ring::try_claim(&ring).unwrap();
        let t = thread::spawn(move || {
            let mut next = 1;
            while next <= 4 {
                match p.write_chunk(2) {
                    Ok(mut chunk) => {
                        let (a, b) = chunk.as_mut_slices();
                        let mut n = 0;
                        for slot in a.iter_mut().chain(b.iter_mut()) {
                            if next + n <= 4 {
                                *slot = next + n;
                                n += 1;
                            }
                        }
                        chunk.commit(n as usize);
                        next += n;
                    }
                    Err(_) => thread::yield_now(),
                }
            }
        });
        let mut got = Vec::new();
        while got.len() < 4 {
            let chunk = c.read_chunk(2);
            if chunk.is_empty() {
                thread::yield_now();
                continue;
            }
            let (a, b) = chunk.as_slices();
            got.extend(a.iter().chain(b).copied());
            let n = chunk.len();
            chunk.commit(n);
        }
        t.join().unwrap();
        assert_eq!(got, vec![1, 2, 3, 4]);
    });
}

#[test]
fn build_in_place_then_publish() {
    loom::model(|| {
        let (ring, mut c) = Ring::with_consumer(2, 0u32);
        let mut p = Ring::try_claim(&ring).unwrap();
        let t = thread::spawn(move || {
            for v in 1..=3 {
                loop {
                    match p.stage() {
                        Ok(slot) => {
                            *slot = v;
                            break;
                        }
                        Err(_) => thread::yield_now(),
                    }
                }
                // The slot is still free: `stage` found it so and only we publish.
                p.publish_staged().unwrap();
            }
        });
        assert_eq!(pop_n(&mut c, 3), vec![1, 2, 3]);
        t.join().unwrap();
    });
}

#[test]
fn a_third_thread_reads_a_fill_within_capacity() {
    loom::model(|| {
        let (ring, mut c) = Ring::with_consumer(2, 0u32);
        let mut p = Ring::try_claim(&ring).unwrap();
        let observer = ring.clone();
        let producer = thread::spawn(move || push_all(&mut p, &[1, 2, 3]));
        let watch = thread::spawn(move || {
            let n = observer.len();
            assert!(n <= 2, "fill {n} over the capacity");
        });
        assert_eq!(pop_n(&mut c, 3), vec![1, 2, 3]);
        producer.join().unwrap();
        watch.join().unwrap();
        assert_eq!(ring.len(), 0);
    });
}
