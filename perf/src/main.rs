//! `ringspan-perf`: runs the recording pipeline on dedicated cores and reports throughput,
//! record latency percentiles, drops by reason, allocations per span and memory.
//!
//! Today the spans go from the rings through the drain into the OTLP encoder, and the encoded
//! requests are counted and dropped (their buffers go back to the pool); the HTTP exporter and
//! the embedded receiver join the pipeline with the transport issue, and this harness will then
//! run against the receiver by default. See `perf/README.md` for the workloads.

mod args;
mod procfs;

use std::alloc::System;
use std::process::ExitCode;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringspan::alloc_counter::CountingAlloc;
use ringspan::clock::{Calibration, Clock};
use ringspan::otlp::{EncodedRequest, Exporter, OtlpConfig, OtlpSink, Resource};
use ringspan::{Engine, EngineConfig, IdleStrategy, Producer, Snapshot, Value};

#[global_allocator]
static ALLOC: CountingAlloc<System> = CountingAlloc::new(System);

/// Attribute keys and the value kinds a recorded span carries (the first `--attrs` of them).
const KEYS: [&str; 8] = [
    "order.id",
    "order.qty",
    "order.side",
    "order.aggressive",
    "venue",
    "account",
    "price",
    "retry",
];

/// One in this many spans is timed (two clock reads would otherwise dominate).
const SAMPLE_EVERY: u64 = 16;

/// Stands in for the HTTP exporter until it exists: takes each encoded request, counts it,
/// and drops it, which returns the buffer to the pool.
struct CountRequests;

impl Exporter for CountRequests {
    fn export(&mut self, request: EncodedRequest) {
        std::hint::black_box(request.bytes());
    }
}

/// What one producer thread did.
struct ProducerRun {
    spans: u64,
    histogram: Histogram<u64>,
    cpu_seconds: f64,
}

#[inline(always)]
fn record_span(p: &Producer, n: u64, attrs: usize) {
    let mut span = p.span("perf.request");
    if attrs > 0 {
        let values = [
            Value::i64(n as i64),
            Value::f64(100.0),
            Value::str("buy"),
            Value::bool(n % 2 == 0),
            Value::str("XNAS"),
            Value::i64(42),
            Value::f64(101.25),
            Value::i64(0),
        ];
        let mut set = [("", Value::i64(0)); 8];
        for (slot, (k, v)) in set.iter_mut().zip(KEYS.iter().zip(values)) {
            *slot = (k, v);
        }
        span.set_attrs(&set[..attrs]);
    }
}

fn run_producer(
    engine: &Engine,
    core: Option<usize>,
    args: &args::Args,
    start: &Barrier,
    cal: &Calibration,
) -> ProducerRun {
    let producer = match core {
        Some(c) => engine
            .pin(c)
            .unwrap_or_else(|e| panic!("pinning a producer to core {c}: {e}")),
        None => engine.producer().expect("a free ring for every producer"),
    };
    let clock = *cal.clock();
    let ns = |ticks: u64| (ticks as f64 * cal.ns_per_tick()) as u64;
    let interval = args.rate.map(|r| cal.ticks_for(Duration::from_secs(1)) / r);
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
    start.wait();
    let t_start = clock.now();
    let t_end = t_start + cal.ticks_for(args.duration);
    let mut n = 0u64;
    loop {
        let scheduled = match interval {
            Some(every) => {
                let at = t_start + n * every;
                while clock.now() < at {
                    std::hint::spin_loop();
                }
                Some(at)
            }
            None => None,
        };
        if n % SAMPLE_EVERY == 0 {
            let t0 = clock.now();
            record_span(&producer, n, args.attrs);
            let t1 = clock.now();
            // Paced: from the scheduled start, so a stall also counts against the spans that
            // waited behind it (no coordinated omission).
            let from = scheduled.map_or(t0, |s| s.min(t0));
            let _ = histogram.record(ns(t1.saturating_sub(from)).max(1));
        } else {
            record_span(&producer, n, args.attrs);
        }
        n += 1;
        if n % 256 == 0 && clock.now() >= t_end {
            break;
        }
    }
    ProducerRun {
        spans: n,
        histogram,
        cpu_seconds: procfs::own_cpu_seconds(),
    }
}

fn main() -> ExitCode {
    let args = match args::Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(msg) => {
            eprintln!("ringspan-perf: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(mut args: args::Args) -> Result<bool, String> {
    let available: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let drain_core = args
        .drain_core
        .or_else(|| (available.len() >= 2).then(|| available[0]));
    if args.cores.is_empty() && available.len() >= 2 {
        args.cores = available
            .iter()
            .copied()
            .filter(|&c| Some(c) != drain_core)
            .collect();
    }
    if args.producers == 0 {
        args.producers = args.cores.len().max(1);
    }
    let producer_cores: Vec<Option<usize>> = (0..args.producers)
        .map(|i| args.cores.get(i).copied())
        .collect();

    let sink = OtlpSink::new(
        OtlpConfig::default().resource(Resource::new("ringspan-perf")),
        CountRequests,
    )
    .map_err(|e| e.to_string())?;
    let otlp = sink.stats();
    let mut config = EngineConfig::default()
        .rings(args.producers)
        .ring_capacity(args.ring_capacity)
        .idle(if drain_core.is_some() {
            IdleStrategy::Spin
        } else {
            IdleStrategy::Yield
        });
    if let Some(c) = drain_core {
        config = config.drain_core(c);
    }
    let engine = Engine::start(config, sink).map_err(|e| e.to_string())?;
    // After start: everything the engine will use is allocated and touched by now.
    let rss_start = procfs::rss_bytes();
    let cal = Calibration::new(Clock::detect(), Duration::from_millis(20));
    let barrier = Barrier::new(args.producers + 1);
    let warmup = (args.duration / 5).min(Duration::from_secs(2));

    let (runs, steady) = std::thread::scope(|s| {
        let handles: Vec<_> = producer_cores
            .iter()
            .enumerate()
            .map(|(i, &core)| {
                let (engine, args, barrier, cal) = (&engine, &args, &barrier, &cal);
                std::thread::Builder::new()
                    .name(format!("ringspan-prod{i}"))
                    .spawn_scoped(s, move || run_producer(engine, core, args, barrier, cal))
                    .expect("spawn a producer")
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        // Steady-state allocation window: from the end of the warm-up to just before the end.
        std::thread::sleep(warmup);
        let (a0, r0) = (ALLOC.allocations(), engine.snapshot().recorded);
        std::thread::sleep(
            args.duration
                .saturating_sub(started.elapsed() + Duration::from_millis(50)),
        );
        let (a1, r1) = (ALLOC.allocations(), engine.snapshot().recorded);
        let drain_cpu = procfs::thread_cpu_seconds()
            .into_iter()
            .filter(|(n, _)| n == "ringspan-drain")
            .map(|(_, s)| s)
            .sum::<f64>();
        let runs: Vec<ProducerRun> = handles
            .into_iter()
            .map(|h| h.join().expect("producer thread"))
            .collect();
        (runs, (a1 - a0, r1.saturating_sub(r0), drain_cpu))
    });
    let elapsed = args.duration;
    let snap = engine
        .shutdown(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let rss_end = procfs::rss_bytes();

    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
    for r in &runs {
        histogram.add(&r.histogram).expect("same bounds");
    }
    let started: u64 = runs.iter().map(|r| r.spans).sum();
    let (steady_allocs, steady_spans, drain_cpu) = steady;
    let report = serde_json::json!({
        "sink": "OTLP encoder; requests counted and dropped (the HTTP exporter and receiver join with the transport issue)",
        "otlp_requests": otlp.requests(),
        "otlp_bytes": otlp.bytes(),
        "producers": args.producers,
        "producer_cores": producer_cores,
        "drain_core": drain_core,
        "duration_secs": elapsed.as_secs_f64(),
        "rate_per_producer": args.rate,
        "attrs": args.attrs,
        "ring_capacity": args.ring_capacity,
        "spans_recorded": snap.recorded,
        "spans_exported": otlp.spans_encoded(),
        "spans_rejected": 0,
        "spans_dropped": snap.dropped.total(),
        "dropped_by_reason": {
            "ring_full": snap.dropped.ring_full,
            "too_deep": snap.dropped.too_deep,
            "no_ring": snap.dropped.no_ring,
            "shutdown": snap.dropped.shutdown,
            "too_large": snap.dropped.too_large,
            "abandoned": snap.dropped.abandoned,
        },
        "delivered_per_sec": snap.delivered as f64 / elapsed.as_secs_f64(),
        "record_ns": {
            "p50": histogram.value_at_quantile(0.5),
            "p99": histogram.value_at_quantile(0.99),
            "p999": histogram.value_at_quantile(0.999),
            "max": histogram.max(),
            "samples": histogram.len(),
        },
        "allocs_per_span": if steady_spans > 0 { steady_allocs as f64 / steady_spans as f64 } else { 0.0 },
        "preallocated_bytes": engine.preallocated_bytes(),
        "rss_bytes_start": rss_start,
        "rss_bytes_end": rss_end,
        "cpu_seconds": {
            "producers": runs.iter().map(|r| r.cpu_seconds).sum::<f64>(),
            "drain": drain_cpu,
        },
    });
    print_table(&report, &snap);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).expect("a JSON value serialises");
        std::fs::write(path, text + "\n").map_err(|e| format!("writing {path}: {e}"))?;
    }
    let mut ok = true;
    let encoded = otlp.spans_encoded();
    if !snap.is_balanced() || snap.recorded != started || encoded != snap.delivered {
        eprintln!(
            "ACCOUNTING MISMATCH: started {started}, engine {snap:?}, encoder took {encoded}"
        );
        ok = false;
    }
    Ok(ok)
}

fn print_table(r: &serde_json::Value, snap: &Snapshot) {
    let f = |v: &serde_json::Value| v.to_string();
    println!("ringspan-perf: {} producer(s) on cores {}, drain on {}, {} s, rate {} per producer, {} attrs",
        r["producers"], f(&r["producer_cores"]), f(&r["drain_core"]), r["duration_secs"],
        if r["rate_per_producer"].is_null() { "max".to_owned() } else { f(&r["rate_per_producer"]) }, r["attrs"]);
    println!(
        "  sink                {}",
        r["sink"].as_str().unwrap_or_default()
    );
    println!("  spans recorded      {:>14}", snap.recorded);
    println!(
        "  spans encoded       {:>14}   ({:.0}/s, {} requests, {} bytes)",
        r["spans_exported"].as_u64().unwrap_or(0),
        r["delivered_per_sec"].as_f64().unwrap_or(0.0),
        r["otlp_requests"],
        r["otlp_bytes"]
    );
    println!(
        "  spans dropped       {:>14}   {}",
        r["spans_dropped"].as_u64().unwrap_or(0),
        f(&r["dropped_by_reason"])
    );
    let ns = &r["record_ns"];
    println!(
        "  record latency ns   p50 {}  p99 {}  p99.9 {}  max {}  ({} samples)",
        ns["p50"], ns["p99"], ns["p999"], ns["max"], ns["samples"]
    );
    println!(
        "  allocs per span     {:.6} (steady state, whole process)",
        r["allocs_per_span"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  memory              preallocated {} B, RSS {} -> {} B",
        r["preallocated_bytes"], r["rss_bytes_start"], r["rss_bytes_end"]
    );
    println!("  cpu seconds         {}", f(&r["cpu_seconds"]));
    println!(
        "  identity            recorded = delivered + dropped: {}",
        if snap.is_balanced() {
            "holds"
        } else {
            "BROKEN"
        }
    );
}
