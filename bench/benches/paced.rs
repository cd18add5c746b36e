//! `record_paced/{ringspan,otel_sdk,fastrace}`: the span of `record/*` recorded in bursts of
//! 512 with 100 us idle gaps between them, only the bursts timed (`iter_custom`). This is the
//! fair figure for libraries whose background side cannot keep up with a flat-out loop
//! (fastrace's queue then grows by gigabytes and the bench times page faults; the batch
//! processor drops): each gap lets their collectors catch up, as a real service's idle moments
//! would. Each checks before timing that what it records arrives.
//!
//! Run with the rest: `cargo bench -p ringspan-bench`.

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ringspan::Sampler;
use ringspan_bench::ours;
use ringspan_bench::peers::{fastrace as ft, otel_sdk};

const BURST: u64 = 512;
const GAP: Duration = Duration::from_micros(100);

/// Records `iters` spans in bursts; returns the time spent inside the bursts.
fn paced(iters: u64, mut record: impl FnMut(u64)) -> Duration {
    let mut timed = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = BURST.min(iters - done);
        let t = Instant::now();
        for k in 0..n {
            record(black_box(done + k));
        }
        timed += t.elapsed();
        done += n;
        let idle = Instant::now();
        while idle.elapsed() < GAP {
            std::hint::spin_loop();
        }
    }
    timed
}

fn group(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group("record_paced");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    g
}

fn ringspan(c: &mut Criterion) {
    let engine = ours::engine(Sampler::default());
    let p = ours::producer(&engine);
    group(c).bench_function("ringspan", |b| {
        b.iter_custom(|iters| paced(iters, |i| ours::record_one(&p, i as i64)))
    });
    drop(p);
    let snap = engine.shutdown(Duration::from_secs(10)).expect("shutdown");
    // Paced, the drain keeps up; a hypervisor stalling its vCPU for milliseconds costs some
    // bursts (0.14% seen here), but more than 1% dropped would mean a broken setup (and a
    // flattering figure: a dropped span skips the slot write), as in `record/ringspan`.
    assert!(
        snap.dropped.total() * 100 <= snap.recorded,
        "the drain does not keep up: {snap:?}"
    );
    eprintln!("record_paced/ringspan: {snap:?}");
}

fn otel(c: &mut Criterion) {
    let (provider, tracer, count) = otel_sdk::setup(true);
    let mut recorded = 0u64;
    group(c).bench_function("otel_sdk", |b| {
        b.iter_custom(|iters| {
            recorded += iters;
            paced(iters, |i| otel_sdk::record_one(&tracer, i as i64))
        })
    });
    provider.force_flush().expect("flush");
    let exported = count.load(Ordering::Relaxed);
    eprintln!("record_paced/otel_sdk: {exported} of {recorded} spans reached the exporter");
    let _ = provider.shutdown();
}

fn fastrace(c: &mut Criterion) {
    let count = ft::setup();
    let before = count.load(Ordering::Relaxed);
    let mut root = ft::Root::new();
    let mut recorded = 0u64;
    group(c).bench_function("fastrace", |b| {
        b.iter_custom(|iters| {
            recorded += iters;
            paced(iters, |i| {
                ft::record_one(i as i64);
                if (i + 1) % ft::SPANS_PER_ROOT == 0 {
                    root.renew();
                }
            })
        })
    });
    drop(root);
    fastrace::flush();
    let reported = count.load(Ordering::Relaxed) - before;
    eprintln!(
        "record_paced/fastrace: {reported} spans reported (roots included) for {recorded} recorded"
    );
}

criterion_group!(benches, ringspan, otel, fastrace);
criterion_main!(benches);
