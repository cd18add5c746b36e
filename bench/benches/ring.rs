//! `ring/*`: two-thread throughput of an SPSC queue of `u64`s, ringspan's ring next to rtrb
//! and crossbeam's `ArrayQueue` (an MPMC queue, the usual general-purpose pick). One thread
//! pushes, one pops, each on its own core; the time is from both starting to the last pop.
//! One iteration moves `ITEMS` items (so starting the threads is amortised); criterion's
//! throughput line gives items per second. The consumer checks the sum, so nothing is lost
//! or invented.
//!
//! Run: `cargo bench -p ringspan-bench --bench ring`.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ringspan_bench::cores;

const CAPACITY: usize = 4096;
/// Items one iteration moves.
const ITEMS: u64 = 100_000;

fn pin(core: Option<usize>) {
    if let Some(id) = core {
        core_affinity::set_for_current(core_affinity::CoreId { id });
    }
}

/// Moves `n` items through a queue: `push` on this thread (retrying while full), `pop` on a
/// second one (spinning while empty), which owns the consumer side. Returns the elapsed time
/// once every item is popped.
fn two_threads<P, C>(n: u64, mut push: P, mut pop: C) -> Duration
where
    P: FnMut(u64) -> bool,
    C: FnMut() -> Option<u64> + Send,
{
    let (producer_core, consumer_core) = cores().unzip();
    let start = &Barrier::new(2);
    std::thread::scope(|s| {
        // `move`: the consumer's state (its `head`, its cached `tail`) must live on its own
        // thread's stack. Borrowed from this frame, it shared a cache line with the producer's
        // state, and every pop stole the line from the pushing thread (a 3.8x slowdown that
        // was the bench's, not the queue's).
        let consumer = s.spawn(move || {
            pin(consumer_core);
            start.wait();
            let mut sum = 0u64;
            let mut got = 0;
            while got < n {
                match pop() {
                    Some(v) => {
                        sum = sum.wrapping_add(v);
                        got += 1;
                    }
                    None => std::hint::spin_loop(),
                }
            }
            sum
        });
        pin(producer_core);
        start.wait();
        let t = Instant::now();
        for i in 1..=n {
            while !push(black_box(i)) {
                std::hint::spin_loop();
            }
        }
        let sum = consumer.join().expect("consumer");
        let elapsed = t.elapsed();
        assert_eq!(sum, n * (n + 1) / 2, "items lost or duplicated");
        elapsed
    })
}

fn ring(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring");
    g.throughput(criterion::Throughput::Elements(ITEMS));
    g.bench_function("ringspan", |b| {
        b.iter_custom(|n| {
            let (ring, mut consumer) = ringspan::Ring::with_consumer(CAPACITY, 0u64);
            let mut producer = ringspan::Ring::try_claim(&ring).expect("fresh ring");
            two_threads(
                n * ITEMS,
                |v| producer.push(v).is_ok(),
                move || consumer.pop(),
            )
        })
    });
    g.bench_function("rtrb", |b| {
        b.iter_custom(|n| {
            let (mut producer, mut consumer) = rtrb::RingBuffer::new(CAPACITY);
            two_threads(
                n * ITEMS,
                |v| producer.push(v).is_ok(),
                move || consumer.pop().ok(),
            )
        })
    });
    g.bench_function("crossbeam_array_queue", |b| {
        b.iter_custom(|n| {
            let q = Arc::new(crossbeam_queue::ArrayQueue::new(CAPACITY));
            let popper = Arc::clone(&q);
            two_threads(n * ITEMS, |v| q.push(v).is_ok(), move || popper.pop())
        })
    });
    g.finish();
}

criterion_group!(benches, ring);
criterion_main!(benches);
