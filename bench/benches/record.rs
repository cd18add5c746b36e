//! `record/*`: the cost of recording one span (start, 4 attributes, end) on a pinned core,
//! next to the floor: two timestamp reads, a 128-byte slot written into a preallocated ring
//! and one release store, drained by a thread on another core exactly as ringspan's drain
//! does. `record/ringspan` starts the span from its callsite (a compact record);
//! `record/ringspan_keyed` through the keyed API (`span(name)` + `set_attrs` with static keys,
//! a full record); `record/ringspan_dynamic` with its name and one value copied into the
//! record (strings that are not `'static`). `record/async_ringspan` and
//! `record/async_ringspan_keyed`: the first two as travelling spans (`Engine::travel_at`,
//! `Engine::travel`). `record_unsampled/ringspan`: the bench span under
//! an always-off sampler.
//!
//! Run: `cargo bench -p ringspan-bench --bench record`. The producer runs on the last core, the
//! drain (or the floor's consumer) spins on the first. Before timing, each setup checks that
//! the drain keeps up: a bench that measured the ring-full drop path would flatter us.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ringspan::Ring;
use ringspan::{Sampler, Value};
use ringspan_bench::cores;
use ringspan_bench::ours::{engine, producer, record_one, CAPACITY};

/// A 128-byte record, as the floor writes it.
#[derive(Clone, Copy)]
#[repr(C, align(128))]
struct Slot([u64; 16]);

fn floor(c: &mut Criterion) {
    let (ring, mut consumer) = Ring::with_consumer(CAPACITY, Slot([0; 16]));
    let mut producer = Ring::try_claim(&ring).expect("fresh ring");
    let stop = AtomicBool::new(false);
    let clock = ringspan::Clock::detect();
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some((_, drain)) = cores() {
                core_affinity::set_for_current(core_affinity::CoreId { id: drain });
            }
            // The same polling policy as ringspan's drain: after a thin pass, wait 2 us before
            // reading `tail` again, so that the consumer does not keep stealing that line from
            // the producer (which is what the floor is meant to measure).
            let cal = ringspan::Calibration::new(clock, Duration::from_millis(5));
            let backoff = cal.ticks_for(Duration::from_micros(2));
            while !stop.load(Ordering::Relaxed) {
                let chunk = consumer.read_chunk(512);
                let n = chunk.len();
                black_box(chunk.as_slices());
                chunk.commit(n);
                if n < 32 {
                    let t = clock.now();
                    while clock.now().wrapping_sub(t) < backoff {
                        std::hint::spin_loop();
                    }
                }
            }
        });
        if let Some((core, _)) = cores() {
            core_affinity::set_for_current(core_affinity::CoreId { id: core });
        }
        let mut full = 0u64;
        let mut i = 0u64;
        c.benchmark_group("record").bench_function("floor", |b| {
            b.iter(|| {
                i += 1;
                let start = clock.now();
                let end = clock.now();
                let r = producer.push_with(|slot| {
                    slot.0 = [start, end, i, i, i, i, i, i, i, i, i, i, i, i, i, i];
                });
                full += u64::from(r.is_err());
            })
        });
        stop.store(true, Ordering::Relaxed);
        eprintln!("record/floor: {full} pushes found the ring full");
    });
}

fn record(c: &mut Criterion) {
    record_with(c, "ringspan", record_one);
}

fn record_keyed(c: &mut Criterion) {
    record_with(c, "ringspan_keyed", ringspan_bench::ours::record_keyed);
}

/// `record/<id>`: `one` on a pinned producer, after checking the drain keeps up.
fn record_with(c: &mut Criterion, id: &str, one: fn(&ringspan::Producer, i64)) {
    let engine = engine(Sampler::default());
    let p = producer(&engine);
    // Sanity: the drain keeps up with a flat-out producer, so we time the recording path.
    for i in 0..1_000_000 {
        one(&p, i);
    }
    engine.flush(Duration::from_secs(10)).expect("flush");
    let warm = engine.snapshot();
    // A dropped span skips the slot write, so a drain that cannot keep up would flatter the
    // figure. A hypervisor stalling the drain's vCPU drops a few; more than 1% means the
    // setup is wrong (drain and producer sharing a core, say), and timing it would mislead.
    assert!(
        warm.delivered >= 990_000 && warm.is_balanced(),
        "the drain does not keep up: {warm:?}"
    );
    let mut i = 0;
    c.benchmark_group("record").bench_function(id, |b| {
        b.iter(|| {
            i += 1;
            one(&p, black_box(i));
        })
    });
    drop(p);
    let snap = engine.shutdown(Duration::from_secs(10)).expect("shutdown");
    eprintln!(
        "record/{id}: recorded {} delivered {} dropped {:?}",
        snap.recorded, snap.delivered, snap.dropped
    );
}

/// `record/async_ringspan`: a travelling span started from its callsite (start, the 4
/// values, end: `record/ringspan` as a travelling span) on the pinned bench thread; it ends
/// into the thread's local ring (the engine's second), as a task's span ends on its worker.
fn record_async(c: &mut Criterion) {
    record_async_with(c, "async_ringspan", ringspan_bench::ours::record_travel);
}

/// `record/async_ringspan_keyed`: the same through the keyed API (`record/ringspan_keyed` as
/// a travelling span).
fn record_async_keyed(c: &mut Criterion) {
    record_async_with(
        c,
        "async_ringspan_keyed",
        ringspan_bench::ours::record_travel_keyed,
    );
}

fn record_async_with(c: &mut Criterion, id: &str, one: fn(&ringspan::Engine, i64)) {
    let engine = engine(Sampler::default());
    if let Some((core, _)) = cores() {
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
    for i in 0..1_000_000 {
        one(&engine, i);
    }
    engine.flush(Duration::from_secs(10)).expect("flush");
    let warm = engine.snapshot();
    assert!(
        warm.delivered >= 990_000 && warm.is_balanced() && warm.dropped.travel_pool_full == 0,
        "the drain does not keep up: {warm:?}"
    );
    let mut i = 0;
    c.benchmark_group("record").bench_function(id, |b| {
        b.iter(|| {
            i += 1;
            one(&engine, black_box(i));
        })
    });
    let snap = engine.shutdown(Duration::from_secs(10)).expect("shutdown");
    eprintln!(
        "record/{id}: recorded {} delivered {} dropped {:?}",
        snap.recorded, snap.delivered, snap.dropped
    );
}

fn record_dynamic(c: &mut Criterion) {
    let engine = engine(Sampler::default());
    let p = producer(&engine);
    let name = String::from("order.match");
    let venue = String::from("XNAS");
    let one = |i: i64| {
        let mut span = p.span_copied(&name);
        span.set_attrs(&[
            ("order.id", Value::i64(i)),
            ("order.qty", Value::f64(100.0)),
            ("order.side", Value::str("buy")),
            ("venue", Value::copied(&venue)),
        ]);
    };
    for i in 0..1_000_000 {
        one(i);
    }
    engine.flush(Duration::from_secs(10)).expect("flush");
    let warm = engine.snapshot();
    assert!(
        warm.delivered >= 990_000 && warm.is_balanced() && warm.truncated_strings == 0,
        "the drain does not keep up: {warm:?}"
    );
    let mut i = 0;
    c.benchmark_group("record")
        .bench_function("ringspan_dynamic", |b| {
            b.iter(|| {
                i += 1;
                one(black_box(i));
            })
        });
    drop(p);
    let snap = engine.shutdown(Duration::from_secs(10)).expect("shutdown");
    eprintln!(
        "record/ringspan_dynamic: recorded {} delivered {} dropped {:?}",
        snap.recorded, snap.delivered, snap.dropped
    );
}

fn record_unsampled(c: &mut Criterion) {
    let engine = engine(Sampler::parent_based(Sampler::always_off()));
    let p = producer(&engine);
    let mut i = 0;
    c.benchmark_group("record_unsampled")
        .bench_function("ringspan", |b| {
            b.iter(|| {
                i += 1;
                record_one(&p, black_box(i));
            })
        });
    drop(p);
    let snap = engine.shutdown(Duration::from_secs(10)).expect("shutdown");
    assert_eq!(snap.recorded, 0, "unsampled spans must not be recorded");
}

criterion_group!(
    benches,
    floor,
    record,
    record_keyed,
    record_async,
    record_async_keyed,
    record_dynamic,
    record_unsampled
);
criterion_main!(benches);
