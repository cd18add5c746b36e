//! `record/{otel_sdk,otel_api_ringspan,fastrace,tracing_otel,tracing_ringspan,tracing_registry}`,
//! `record_filtered/tracing_ringspan` and `record_unsampled/otel_sdk`: the span of
//! `record/ringspan` (start, 4 attributes, end) through the libraries people would otherwise
//! pick, each set up as in production (see `src/peers/`), recording on the producer core with
//! their background threads on the other. Before timing, each checks that its exporter or
//! reporter really receives the spans.
//!
//! Run with the rest: `cargo bench -p ringspan-bench` (ratios only mean something within one
//! run on this machine).

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ringspan_bench::peers::{fastrace as ft, otel_sdk, tracing_otel};
use ringspan_bench::{ours, tracing_span};

fn otel(c: &mut Criterion) {
    let (provider, tracer, count) = otel_sdk::setup(true);
    otel_sdk::check(&provider, &count, |i| otel_sdk::record_one(&tracer, i));
    let mut i = 0;
    c.benchmark_group("record").bench_function("otel_sdk", |b| {
        b.iter(|| {
            i += 1;
            otel_sdk::record_one(&tracer, black_box(i));
        })
    });
    let _ = provider.force_flush();
    eprintln!(
        "record/otel_sdk: {} of {} spans reached the exporter (the batch processor drops the rest when its queue is full, silently)",
        count.load(Ordering::Relaxed),
        i + 1000
    );
    let _ = provider.shutdown();
}

fn otel_unsampled(c: &mut Criterion) {
    let (provider, tracer, count) = otel_sdk::setup(false);
    let mut i = 0;
    c.benchmark_group("record_unsampled")
        .bench_function("otel_sdk", |b| {
            b.iter(|| {
                i += 1;
                otel_sdk::record_one(&tracer, black_box(i));
            })
        });
    provider.force_flush().expect("flush");
    assert_eq!(
        count.load(Ordering::Relaxed),
        0,
        "unsampled spans are not exported"
    );
    let _ = provider.shutdown();
}

fn fastrace(c: &mut Criterion) {
    let count = ft::setup();
    let before = count.load(Ordering::Relaxed);
    {
        let _root = ft::Root::new();
        for i in 0..100 {
            ft::record_one(i);
        }
    }
    fastrace::flush();
    assert_eq!(
        count.load(Ordering::Relaxed) - before,
        101,
        "the reporter gets every span and the root"
    );
    let mut root = ft::Root::new();
    let mut i = 0;
    let mut g = c.benchmark_group("record");
    // Short: its queue grows while the collector lags (see `src/peers/fastrace.rs`).
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("fastrace", |b| {
        b.iter(|| {
            i += 1;
            ft::record_one(black_box(i));
            if i as u64 % ft::SPANS_PER_ROOT == 0 {
                root.renew();
            }
        })
    });
    g.finish();
    drop(root);
    fastrace::flush();
}

fn tracing_otel(c: &mut Criterion) {
    let (provider, _, count) = otel_sdk::setup(true);
    let _default = tracing::subscriber::set_default(tracing_otel::subscriber(&provider));
    otel_sdk::check(&provider, &count, tracing_span::record_one);
    let mut i = 0;
    c.benchmark_group("record")
        .bench_function("tracing_otel", |b| {
            b.iter(|| {
                i += 1;
                tracing_span::record_one(black_box(i));
            })
        });
    let _ = provider.force_flush();
    let _ = provider.shutdown();
}

/// `record/tracing_ringspan`: the same `tracing` span through ringspan's layer (its record a
/// travelling span's, ended into the bench thread's local ring), with the drain spinning on
/// the other core.
fn tracing_ringspan(c: &mut Criterion) {
    let engine = ours::engine(ringspan::Sampler::default());
    let _default = tracing::subscriber::set_default(ours::tracing(&engine));
    ringspan_bench::pin_producer();
    for i in 0..1_000_000 {
        tracing_span::record_one(i);
    }
    engine.flush(Duration::from_secs(10)).expect("flush");
    let warm = engine.snapshot();
    // Every span recorded and accounted for; the drain, on a core the hypervisor takes now
    // and then, may have dropped a few as `ring_full` meanwhile.
    assert!(
        warm.recorded == 1_000_000 && warm.is_balanced() && warm.delivered >= 900_000,
        "the layer records every span and the drain keeps up: {warm:?}"
    );
    let mut i = 0;
    c.benchmark_group("record")
        .bench_function("tracing_ringspan", |b| {
            b.iter(|| {
                i += 1;
                tracing_span::record_one(black_box(i));
            })
        });
    let snap = engine.shutdown(Duration::from_secs(10)).expect("shutdown");
    eprintln!(
        "record/tracing_ringspan: recorded {} delivered {} dropped {:?}",
        snap.recorded, snap.delivered, snap.dropped
    );
}

/// `record/otel_api_ringspan`: the span of `record/otel_sdk`, written against the same
/// opentelemetry API, through ringspan's `TracerProvider` (a travelling span ended into the
/// bench thread's local ring), the drain spinning on the other core.
fn otel_api_ringspan(c: &mut Criterion) {
    use opentelemetry::trace::TracerProvider as _;
    let engine = ours::engine(ringspan::Sampler::default());
    let tracer = engine.otel_tracer_provider().tracer("ringspan-bench");
    ringspan_bench::pin_producer();
    for i in 0..1_000_000 {
        otel_sdk::record_one(&tracer, i);
    }
    engine.flush(Duration::from_secs(10)).expect("flush");
    let warm = engine.snapshot();
    assert!(
        warm.recorded == 1_000_000 && warm.is_balanced() && warm.delivered >= 900_000,
        "the provider records every span and the drain keeps up: {warm:?}"
    );
    let mut i = 0;
    c.benchmark_group("record")
        .bench_function("otel_api_ringspan", |b| {
            b.iter(|| {
                i += 1;
                otel_sdk::record_one(&tracer, black_box(i));
            })
        });
    let snap = engine.shutdown(Duration::from_secs(10)).expect("shutdown");
    eprintln!(
        "record/otel_api_ringspan: recorded {} delivered {} dropped {:?}",
        snap.recorded, snap.delivered, snap.dropped
    );
}

/// `record_filtered/tracing_ringspan`: the same span at `info` under an `EnvFilter` of
/// `warn`, in front of the layer: what a disabled span costs (the callsite's cached interest;
/// the layer is never called). Checked first: nothing is recorded.
fn tracing_filtered(c: &mut Criterion) {
    use tracing_subscriber::layer::SubscriberExt;
    let engine = ours::engine(ringspan::Sampler::default());
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("warn"))
        .with(engine.tracing_layer());
    let _default = tracing::subscriber::set_default(subscriber);
    ringspan_bench::pin_producer();
    for i in 0..1000 {
        tracing_span::record_one(i);
    }
    engine.flush(Duration::from_secs(10)).expect("flush");
    assert_eq!(
        engine.snapshot().recorded,
        0,
        "a filtered span records nothing"
    );
    let mut i = 0;
    c.benchmark_group("record_filtered")
        .bench_function("tracing_ringspan", |b| {
            b.iter(|| {
                i += 1;
                tracing_span::record_one(black_box(i));
            })
        });
    assert_eq!(engine.snapshot().recorded, 0);
}

/// `record/tracing_registry`: the same `tracing` span through the Registry alone (no layer
/// records it): the floor under any `tracing` layer, what `tracing_ringspan` adds to is the
/// difference.
fn tracing_registry(c: &mut Criterion) {
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry());
    ringspan_bench::pin_producer();
    let mut i = 0;
    c.benchmark_group("record")
        .bench_function("tracing_registry", |b| {
            b.iter(|| {
                i += 1;
                tracing_span::record_one(black_box(i));
            })
        });
}

criterion_group!(
    benches,
    otel,
    otel_api_ringspan,
    otel_unsampled,
    fastrace,
    tracing_otel,
    tracing_ringspan,
    tracing_registry,
    tracing_filtered
);
criterion_main!(benches);
