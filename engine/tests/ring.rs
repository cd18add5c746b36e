//! The SPSC ring on its own: capacity, wrap-around, full, batches, two threads, and a
//! property test against a `VecDeque` model.

use std::collections::VecDeque;

use proptest::prelude::*;
use ringspan::{PushError, Ring};

#[test]
fn smoke_fifo() {
    let (ring, mut c) = Ring::with_consumer(4, 0u32);
    let mut p = Ring::try_claim(&ring).unwrap();
    assert_eq!(c.pop(), None);
    p.push(1).unwrap();
    p.push(2).unwrap();
    assert_eq!(c.pop(), Some(1));
    assert_eq!(c.pop(), Some(2));
    assert_eq!(c.pop(), None);
}

#[test]
fn full_ring_hands_the_value_back_and_never_overwrites() {
    let (ring, mut c) = Ring::with_consumer(4, 0u32);
    let mut p = Ring::try_claim(&ring).unwrap();
    for i in 0..4 {
        p.push(i).unwrap();
    }
    assert_eq!(p.push(99), Err(PushError::Full(99)));
    assert_eq!(p.free_slots(), 0);
    assert_eq!(c.pop(), Some(0));
    p.push(4).unwrap();
    let got: Vec<_> = std::iter::from_fn(|| c.pop()).collect();
    assert_eq!(got, vec![1, 2, 3, 4]);
}

#[test]
fn wrap_around_many_laps() {
    let (ring, mut c) = Ring::with_consumer(8, 0u64);
    let mut p = Ring::try_claim(&ring).unwrap();
    for i in 0..1000u64 {
        p.push(i).unwrap();
        if i % 3 == 2 {
            for j in i - 2..=i {
                assert_eq!(c.pop(), Some(j));
            }
        }
    }
    assert_eq!(ring.pushed(), 1000);
}

#[test]
fn read_chunk_splits_at_the_wrap_and_commits_partially() {
    let (ring, mut c) = Ring::with_consumer(4, 0u8);
    let mut p = Ring::try_claim(&ring).unwrap();
    for i in 0..3 {
        p.push(i).unwrap();
    }
    assert_eq!(c.pop(), Some(0));
    assert_eq!(c.pop(), Some(1));
    for i in 3..6 {
        p.push(i).unwrap();
    }
    // Positions 2..6 live in slots 2, 3, 0, 1.
    let chunk = c.read_chunk(10);
    assert_eq!(chunk.as_slices(), (&[2u8, 3][..], &[4u8, 5][..]));
    chunk.commit(3);
    let chunk = c.read_chunk(10);
    assert_eq!(chunk.as_slices(), (&[5u8][..], &[][..]));
    chunk.commit(usize::MAX);
    assert!(c.is_empty());
}

#[test]
fn write_chunk_publishes_only_what_is_committed() {
    let (ring, mut c) = Ring::with_consumer(4, 0u16);
    let mut p = Ring::try_claim(&ring).unwrap();
    let mut chunk = p.write_chunk(3).unwrap();
    let (a, b) = chunk.as_mut_slices();
    assert_eq!(a.len() + b.len(), 3);
    a.iter_mut()
        .enumerate()
        .for_each(|(i, s)| *s = 10 + i as u16);
    chunk.commit(2);
    assert_eq!(c.len(), 2);
    assert_eq!(c.pop(), Some(10));
    assert_eq!(c.pop(), Some(11));
    // Only 4 free now: a request for 10 gets 4, and a full ring gets an error.
    let chunk = p.write_chunk(10).unwrap();
    assert_eq!(chunk.len(), 4);
    chunk.commit(4);
    assert!(p.write_chunk(1).is_err());
}

#[test]
fn a_staged_slot_is_invisible_until_published_and_full_refuses_both() {
    let (ring, mut c) = Ring::with_consumer(2, 0u32);
    let mut p = Ring::try_claim(&ring).unwrap();
    *p.stage().unwrap() = 5;
    *p.stage().unwrap() += 1; // the same slot, still being built
    assert_eq!(c.pop(), None);
    p.publish_staged().unwrap();
    p.push(7).unwrap();
    assert!(p.stage().is_err());
    assert!(p.publish_staged().is_err());
    assert_eq!(ring.len(), 2);
    assert_eq!((c.pop(), c.pop(), c.pop()), (Some(6), Some(7), None));
    assert_eq!(p.publish_staged(), Ok(())); // room again: publishes the stale slot's value
    assert_eq!(c.pop(), Some(6));
}

#[test]
fn ring_errors_say_what_happened() {
    let (ring, _c) = Ring::with_consumer(2, 0u32);
    let mut p = Ring::try_claim(&ring).unwrap();
    p.push(1).unwrap();
    p.push(2).unwrap();
    let err = p.push(3).unwrap_err();
    assert_eq!(err, PushError::Full(3));
    assert_eq!(err.to_string(), "the ring is full");
    let boxed: Box<dyn std::error::Error> = Box::new(p.stage().unwrap_err());
    assert_eq!(boxed.to_string(), "the ring is full");
}

#[test]
fn one_producer_claim_at_a_time() {
    let (ring, _c) = Ring::with_consumer(2, 0u8);
    let p = Ring::try_claim(&ring).unwrap();
    assert!(ring.is_claimed());
    assert!(Ring::try_claim(&ring).is_none());
    drop(p);
    assert!(!ring.is_claimed());
    assert!(Ring::try_claim(&ring).is_some());
}

#[test]
fn a_new_claim_continues_where_the_last_producer_stopped() {
    let (ring, mut c) = Ring::with_consumer(4, 0u8);
    let mut p = Ring::try_claim(&ring).unwrap();
    p.push(1).unwrap();
    drop(p);
    let mut p = Ring::try_claim(&ring).unwrap();
    p.push(2).unwrap();
    assert_eq!((c.pop(), c.pop()), (Some(1), Some(2)));
}

#[test]
#[should_panic(expected = "power of two")]
fn capacity_must_be_a_power_of_two() {
    let _ = Ring::with_consumer(3, 0u8);
}

#[test]
fn two_threads_transfer_in_order() {
    const N: u64 = 1_000_000;
    let (ring, mut c) = Ring::with_consumer(64, 0u64);
    let mut p = Ring::try_claim(&ring).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut i = 0;
            while i < N {
                match p.write_chunk(7) {
                    Ok(mut chunk) => {
                        let (a, b) = chunk.as_mut_slices();
                        let mut n = 0;
                        for slot in a.iter_mut().chain(b.iter_mut()) {
                            if i + n < N {
                                *slot = i + n;
                                n += 1;
                            }
                        }
                        chunk.commit(n as usize);
                        i += n;
                    }
                    Err(_) => std::hint::spin_loop(),
                }
            }
        });
        let mut expect = 0;
        while expect < N {
            let chunk = c.read_chunk(16);
            let (a, b) = chunk.as_slices();
            for &v in a.iter().chain(b) {
                assert_eq!(v, expect);
                expect += 1;
            }
            let n = chunk.len();
            chunk.commit(n);
        }
    });
}

#[derive(Debug, Clone)]
enum Op {
    Push(u32),
    Pop,
    WriteChunk(usize, usize),
    ReadChunk(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u32>().prop_map(Op::Push),
        Just(Op::Pop),
        (0..10usize, 0..10usize).prop_map(|(n, k)| Op::WriteChunk(n, k)),
        (0..10usize, 0..10usize).prop_map(|(n, k)| Op::ReadChunk(n, k)),
    ]
}

proptest! {
    #[test]
    fn behaves_like_a_bounded_vecdeque(cap_log in 0u32..4, ops in proptest::collection::vec(op(), 0..300)) {
        let cap = 1usize << cap_log;
        let (ring, mut c) = Ring::with_consumer(cap, 0u32);
        let mut p = Ring::try_claim(&ring).unwrap();
        let mut model = VecDeque::new();
        let mut next = 0u32;
        for op in ops {
            match op {
                Op::Push(v) => {
                    let r = p.push(v);
                    if model.len() < cap {
                        prop_assert!(r.is_ok());
                        model.push_back(v);
                    } else {
                        prop_assert_eq!(r, Err(PushError::Full(v)));
                    }
                }
                Op::Pop => prop_assert_eq!(c.pop(), model.pop_front()),
                Op::WriteChunk(n, k) => {
                    let free = cap - model.len();
                    match p.write_chunk(n) {
                        Ok(mut chunk) => {
                            prop_assert_eq!(chunk.len(), n.min(free));
                            let (a, b) = chunk.as_mut_slices();
                            for slot in a.iter_mut().chain(b.iter_mut()) {
                                *slot = next;
                                next += 1;
                            }
                            let len = chunk.len();
                            chunk.commit(k);
                            let committed = k.min(len) as u32;
                            for v in next - len as u32..next - len as u32 + committed {
                                model.push_back(v);
                            }
                        }
                        Err(_) => prop_assert!(n == 0 || free == 0),
                    }
                }
                Op::ReadChunk(n, k) => {
                    let chunk = c.read_chunk(n);
                    prop_assert_eq!(chunk.len(), n.min(model.len()));
                    let (a, b) = chunk.as_slices();
                    let got: Vec<u32> = a.iter().chain(b).copied().collect();
                    let want: Vec<u32> = model.iter().take(chunk.len()).copied().collect();
                    prop_assert_eq!(got, want);
                    let freed = k.min(chunk.len());
                    chunk.commit(k);
                    model.drain(..freed);
                }
            }
            prop_assert_eq!(c.len(), model.len());
        }
    }
}
