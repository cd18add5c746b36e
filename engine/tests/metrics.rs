//! Instruments: what is read back (and exported) equals what was recorded, over several
//! producers (attached, on the thread, detached, handed over), against a plain model; the
//! rules for series (same set, order, overflow, conflicts, cells running out); histogram
//! buckets at their bounds; invalid values counted.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use ringspan::{Discard, Engine, EngineConfig, SeriesValue, ValueRef, DEFAULT_BOUNDS, MAX_SERIES};

fn engine(rings: usize) -> Engine {
    Engine::start(EngineConfig::default().rings(rings), Discard::default()).unwrap()
}

fn stop(engine: Engine) {
    engine.shutdown(Duration::from_secs(5)).unwrap();
}

/// The bucket of `v` as OpenTelemetry defines it: bucket `i` holds `(bounds[i-1], bounds[i]]`,
/// the last one everything above the last bound. Counted by walking the bounds.
fn model_bucket(bounds: &[f64], v: f64) -> usize {
    let mut i = 0;
    while i < bounds.len() && v > bounds[i] {
        i += 1;
    }
    i
}

#[derive(Clone, Debug)]
enum Op {
    Count { series: usize, n: u64 },
    UpDown { series: usize, n: i64 },
    Gauge { v: f64 },
    Record { series: usize, v: f64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..1000u64).prop_map(|(series, n)| Op::Count { series, n }),
        (0..3usize, -500..500i64).prop_map(|(series, n)| Op::UpDown { series, n }),
        (-1e6..1e6f64).prop_map(|v| Op::Gauge { v }),
        (
            0..3usize,
            prop_oneof![
                -10.0..20_000.0f64,
                // On the bounds themselves, and past both ends.
                proptest::sample::select(DEFAULT_BOUNDS.to_vec()),
                Just(-1.0),
                Just(1e9),
                Just(f64::NAN),
                Just(f64::INFINITY),
            ]
        )
            .prop_map(|(series, v)| Op::Record { series, v }),
    ]
}

#[derive(Default)]
struct Model {
    counts: [u64; 3],
    up_downs: [i64; 3],
    gauge: Option<f64>,
    buckets: [[u64; 16]; 3],
    sums: [f64; 3],
    mins: [Option<f64>; 3],
    maxs: [Option<f64>; 3],
    invalid: u64,
}

const SERIES: [&str; 3] = ["a", "b", "c"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Operations spread over two attached producers, the thread's own and a detached one,
    /// with one attached producer handed over (dropped, its ring claimed again) half-way:
    /// the reading equals the model exactly.
    #[test]
    fn readings_equal_the_model(ops in proptest::collection::vec((0..4usize, op()), 1..200)) {
        let engine = engine(3);
        let attrs: Vec<[(&str, ValueRef<'_>); 1]> =
            SERIES.iter().map(|s| [("series", ValueRef::Str(s))]).collect();
        let counters: Vec<_> = attrs
            .iter()
            .map(|a| engine.metric("requests").unit("{request}").attributes(a).counter().unwrap())
            .collect();
        let up_downs: Vec<_> = attrs
            .iter()
            .map(|a| engine.metric("queue").attributes(a).up_down_counter().unwrap())
            .collect();
        let gauge = engine.metric("temperature").unit("Cel").gauge().unwrap();
        let histograms: Vec<_> = attrs
            .iter()
            .map(|a| engine.metric("latency").unit("us").attributes(a).histogram().unwrap())
            .collect();
        let mut producers = vec![
            Some(engine.producer().unwrap()),
            Some(engine.producer().unwrap()),
            None, // the thread's own (`_local`)
            Some(engine.detached_producer()),
        ];
        let mut model = Model::default();
        let half = ops.len() / 2;
        for (at, (who, op)) in ops.iter().enumerate() {
            if at == half {
                // A hand-over: the lane's next holder adds to what the last one left.
                producers[0] = None;
                producers[0] = Some(engine.producer().unwrap());
            }
            let p = producers[*who].as_ref();
            match *op {
                Op::Count { series, n } => {
                    match p { Some(p) => counters[series].add(p, n), None => counters[series].add_local(n) }
                    model.counts[series] += n;
                }
                Op::UpDown { series, n } => {
                    match p { Some(p) => up_downs[series].add(p, n), None => up_downs[series].add_local(n) }
                    model.up_downs[series] += n;
                }
                Op::Gauge { v } => {
                    match p { Some(p) => gauge.set(p, v), None => gauge.set_local(v) }
                    model.gauge = Some(v);
                }
                Op::Record { series, v } => {
                    match p { Some(p) => histograms[series].record(p, v), None => histograms[series].record_local(v) }
                    if v.is_finite() {
                        model.buckets[series][model_bucket(&DEFAULT_BOUNDS, v)] += 1;
                        model.sums[series] += v;
                        model.mins[series] = Some(model.mins[series].map_or(v, |m| m.min(v)));
                        model.maxs[series] = Some(model.maxs[series].map_or(v, |m| m.max(v)));
                    } else {
                        model.invalid += 1;
                    }
                }
            }
        }
        let reading = engine.read_metrics();
        for (s, a) in attrs.iter().enumerate() {
            prop_assert_eq!(reading.value("requests", a), Some(SeriesValue::Count(model.counts[s])));
            prop_assert_eq!(reading.value("queue", a), Some(SeriesValue::UpDown(model.up_downs[s])));
            let Some(SeriesValue::Histogram { count, sum, buckets, min, max }) = reading.value("latency", a) else {
                panic!("no histogram series {s}");
            };
            prop_assert_eq!(count, model.buckets[s].iter().sum::<u64>());
            prop_assert_eq!(&buckets[..], &model.buckets[s][..]);
            prop_assert_eq!(min, model.mins[s]);
            prop_assert_eq!(max, model.maxs[s]);
            // Added in another order (per block), so rounding may differ.
            prop_assert!((sum - model.sums[s]).abs() <= 1e-9 * model.sums[s].abs().max(1.0), "{} vs {}", sum, model.sums[s]);
        }
        prop_assert_eq!(reading.sum_of("requests"), Some(model.counts.iter().sum::<u64>()));
        // The last value set, whichever producer set it (they are one thread: later stamps).
        prop_assert_eq!(reading.value("temperature", &[]), Some(SeriesValue::Gauge(model.gauge)));
        prop_assert_eq!(reading.invalid(), model.invalid);
        drop(producers);
        stop(engine);
    }
}

#[test]
fn threads_recording_at_once_lose_nothing_and_readings_only_grow() {
    let engine = engine(4);
    let counter = engine.metric("ops").counter().unwrap();
    let histogram = engine
        .metric("sizes")
        .bounds(&[10.0, 100.0])
        .histogram()
        .unwrap();
    const PER_THREAD: u64 = 200_000;
    std::thread::scope(|s| {
        for t in 0..6u64 {
            let (engine, counter, histogram) = (&engine, counter.clone(), histogram.clone());
            // 6 threads on 4 rings: some record through the shared block.
            s.spawn(move || {
                let p = engine
                    .producer()
                    .unwrap_or_else(|_| engine.detached_producer());
                for i in 0..PER_THREAD {
                    counter.add(&p, 1);
                    histogram.record(&p, ((i + t) % 200) as f64);
                }
            });
        }
        s.spawn(|| {
            let mut last = 0;
            for _ in 0..200 {
                let now = engine.read_metrics().sum_of("ops").unwrap();
                assert!(now >= last, "a reading went back: {now} after {last}");
                last = now;
                std::thread::sleep(Duration::from_micros(200));
            }
        });
    });
    let reading = engine.read_metrics();
    assert_eq!(reading.sum_of("ops"), Some(6 * PER_THREAD));
    let Some(SeriesValue::Histogram {
        count,
        sum,
        buckets,
        ..
    }) = reading.value("sizes", &[])
    else {
        panic!("no histogram");
    };
    assert_eq!(count, 6 * PER_THREAD);
    let expected: f64 = (0..6u64)
        .map(|t| (0..PER_THREAD).map(|i| ((i + t) % 200) as f64).sum::<f64>())
        .sum();
    assert_eq!(sum, expected);
    // Values 0..200 evenly: (-inf, 10] holds 0..=10, (10, 100] 11..=100, the rest 101..200.
    assert_eq!(buckets, vec![11 * 6000, 90 * 6000, 99 * 6000]);
    stop(engine);
}

#[test]
fn a_histogram_counts_each_bound_in_the_bucket_below_it() {
    let engine = engine(1);
    let p = engine.producer().unwrap();
    let bounds = [1.0, 2.0];
    let h = engine.metric("h").bounds(&bounds).histogram().unwrap();
    for v in [0.5, 1.0, 1.5, 2.0, 2.5, -3.0] {
        h.record(&p, v);
    }
    let reading = engine.read_metrics();
    // (-inf, 1] = {0.5, 1.0, -3.0}, (1, 2] = {1.5, 2.0}, (2, inf) = {2.5}.
    assert_eq!(
        reading.value("h", &[]),
        Some(SeriesValue::Histogram {
            count: 6,
            sum: 4.5,
            buckets: vec![3, 2, 1],
            min: Some(-3.0),
            max: Some(2.5),
        })
    );
    drop(p);
    stop(engine);
}

#[test]
fn series_are_one_per_attribute_set_whatever_the_order() {
    let engine = engine(1);
    let p = engine.producer().unwrap();
    let a = engine
        .metric("req")
        .attributes(&[("x", ValueRef::I64(1)), ("y", ValueRef::Str("b"))])
        .counter()
        .unwrap();
    let b = engine
        .metric("req")
        .attributes(&[("y", ValueRef::Str("b")), ("x", ValueRef::I64(1))])
        .counter()
        .unwrap();
    let other = engine
        .metric("req")
        .attributes(&[("x", ValueRef::I64(2))])
        .counter()
        .unwrap();
    a.add(&p, 1);
    b.add(&p, 2);
    other.add(&p, 5);
    let reading = engine.read_metrics();
    assert_eq!(reading.series(), 2);
    assert_eq!(
        reading.value("req", &[("x", ValueRef::I64(1)), ("y", ValueRef::Str("b"))]),
        Some(SeriesValue::Count(3))
    );
    assert_eq!(
        reading.value("req", &[("x", ValueRef::I64(2))]),
        Some(SeriesValue::Count(5))
    );
    drop(p);
    stop(engine);
}

#[test]
fn attribute_sets_past_the_limit_share_the_overflow_series_and_are_counted() {
    let engine = engine(1);
    let p = engine.producer().unwrap();
    let names: Vec<String> = (0..MAX_SERIES + 5).map(|i| format!("user{i}")).collect();
    for name in &names {
        let c = engine
            .metric("logins")
            .attributes(&[("user", ValueRef::Str(name))])
            .counter()
            .unwrap();
        c.add(&p, 1);
    }
    let reading = engine.read_metrics();
    assert_eq!(reading.series(), MAX_SERIES + 1);
    assert_eq!(reading.overflowed(), 5);
    assert_eq!(
        reading.value("logins", &[("otel.metric.overflow", ValueRef::Bool(true))]),
        Some(SeriesValue::Count(5))
    );
    assert_eq!(reading.sum_of("logins"), Some(names.len() as u64));
    drop(p);
    stop(engine);
}

#[test]
fn a_name_made_again_as_another_kind_or_unit_is_an_error_naming_both() {
    let engine = engine(1);
    engine.metric("m").unit("s").counter().unwrap();
    let e = engine.metric("m").unit("s").gauge().unwrap_err();
    assert!(e.is_config());
    let text = e.to_string();
    assert!(
        text.contains("metric m") && text.contains("Counter") && text.contains("Gauge"),
        "{text}"
    );
    let e = engine.metric("m").unit("ms").counter().unwrap_err();
    assert!(e.to_string().contains("\"s\""), "{e}");
    let e = engine.metric("").counter().unwrap_err();
    assert!(e.to_string().contains("metric name"), "{e}");
    let e = engine
        .metric("h")
        .bounds(&[2.0, 1.0])
        .histogram()
        .unwrap_err();
    assert!(e.to_string().contains("strictly ascending"), "{e}");
    let e = engine
        .metric("h")
        .bounds(&[f64::NAN])
        .histogram()
        .unwrap_err();
    assert!(e.to_string().contains("finite"), "{e}");
    engine.metric("h").bounds(&[1.0]).histogram().unwrap();
    let e = engine.metric("h").bounds(&[2.0]).histogram().unwrap_err();
    assert!(e.to_string().contains("bounds [1.0]"), "{e}");
    stop(engine);
}

#[test]
fn cells_running_out_is_an_error_naming_the_setting() {
    let engine = Engine::start(
        EngineConfig::default().rings(1).metric_cells(24),
        Discard::default(),
    )
    .unwrap();
    // Cell 0 counts invalid values: 23 left, a default histogram takes 19.
    engine.metric("h").histogram().unwrap();
    let e = engine.metric("h2").histogram().unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("metric_cells") && text.contains("h2") && text.contains("19"),
        "{text}"
    );
    // The failed bind left nothing behind: the name is free, and no empty metric is read.
    assert_eq!(engine.read_metrics().series(), 1);
    assert!(engine.read_metrics().value("h2", &[]).is_none());
    engine.metric("h2").counter().unwrap();
    // Smaller ones still fit.
    for i in 0..3 {
        engine.metric(&format!("c{i}")).counter().unwrap();
    }
    assert!(engine.metric("c3").counter().is_err());
    stop(engine);
    let e = Engine::start(
        EngineConfig::default().rings(1).metric_cells(0),
        Discard::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("metric_cells"), "{e}");
}

#[test]
fn metric_cells_are_in_the_memory_budget() {
    let small = EngineConfig::default().rings(2).metric_cells(8);
    let large = EngineConfig::default().rings(2).metric_cells(8 * 1024);
    // 3 blocks (2 rings and the shared one) of 1023 more lines.
    assert_eq!(large.memory_budget() - small.memory_budget(), 3 * 1023 * 64);
    let engine = Engine::start(large.clone(), Discard::default()).unwrap();
    assert_eq!(engine.preallocated_bytes(), large.memory_budget());
    stop(engine);
}

#[test]
fn a_gauge_reads_the_latest_value_over_every_producer() {
    let engine = engine(2);
    let g = engine.metric("g").gauge().unwrap();
    assert_eq!(
        engine.read_metrics().value("g", &[]),
        Some(SeriesValue::Gauge(None))
    );
    let a = engine.producer().unwrap();
    let b = engine.producer().unwrap();
    let mut latest = HashMap::new();
    for (i, p) in [&a, &b, &a, &b, &b, &a].iter().enumerate() {
        g.set(p, i as f64);
        latest.insert("g", i as f64);
        // Stamps are clock ticks: a later set on another lane must read later.
        std::thread::sleep(Duration::from_micros(50));
        assert_eq!(
            engine.read_metrics().value("g", &[]),
            Some(SeriesValue::Gauge(Some(latest["g"])))
        );
    }
    drop((a, b));
    stop(engine);
}

#[test]
fn every_number_of_bounds_puts_each_value_in_its_bucket() {
    let engine = Engine::start(
        EngineConfig::default().rings(1).metric_cells(1 << 14),
        Discard::default(),
    )
    .unwrap();
    let p = engine.producer().unwrap();
    for n in [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100] {
        let bounds: Vec<f64> = (0..n).map(|i| i as f64 * 10.0).collect();
        let name = format!("h{n}");
        let h = engine.metric(&name).bounds(&bounds).histogram().unwrap();
        let mut model = vec![0u64; n + 1];
        // Below, on and above every bound, and past both ends.
        let mut values: Vec<f64> = bounds.iter().flat_map(|&b| [b - 0.5, b, b + 0.5]).collect();
        values.extend([-1e9, 1e9]);
        for &v in &values {
            h.record(&p, v);
            model[model_bucket(&bounds, v)] += 1;
        }
        let Some(SeriesValue::Histogram { buckets, .. }) = engine.read_metrics().value(&name, &[])
        else {
            panic!("no histogram {name}");
        };
        assert_eq!(buckets, model, "{n} bounds");
    }
    drop(p);
    stop(engine);
}
