//! The workload every library runs: producer threads, each on its own core, recording spans
//! on a fixed schedule (or flat out), timing a sample of them with the TSC into an HDR
//! histogram. The library only supplies "record one span".
//!
//! The null workload (`--compare null`) is interleaved with it: one slot of the schedule in
//! every [`SAMPLE_EVERY`], half-way between two timed spans, times an empty call instead of
//! recording a span, into a histogram of its own. Both histograms so sample the same core at
//! the same moments, with the same clock reads and the same spin on the schedule, and the
//! difference between them is what recording costs. (Two runs one after the other said
//! nothing at p99.9 on a VM whose pauses change from one minute to the next.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringspan::Calibration;

use crate::args::Args;
use crate::procfs;

/// Attribute keys a recorded span carries (the first `--attrs` of them).
pub const KEYS: [&str; 8] = [
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
pub const SAMPLE_EVERY: u64 = 16;
/// The slot, within each `SAMPLE_EVERY`, that times the empty call of the null workload.
const NULL_SLOT: u64 = SAMPLE_EVERY / 2;

/// The empty recording call of the null workload: out of line, so that it costs a call, as
/// a recorder does.
#[inline(never)]
fn record_nothing(n: u64) {
    std::hint::black_box(n);
}

/// A histogram with the bounds every run uses (1 ns to 60 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

/// What one producer thread did.
pub struct ProducerRun {
    /// Spans recorded (the null workload's slots not included).
    pub spans: u64,
    pub histogram: Histogram<u64>,
    /// The interleaved null workload's calls and latency, when it ran.
    pub null: Option<(u64, Histogram<u64>)>,
    pub cpu_seconds: f64,
}

/// What all producers did, and the process's allocations over the steady-state window.
pub struct Phase {
    pub runs: Vec<ProducerRun>,
    /// Spans started by all producers.
    pub spans: u64,
    /// Allocations and spans from the end of the warm-up to just before the end.
    pub steady_allocs: u64,
    pub steady_spans: u64,
    /// CPU seconds of every thread of the process, read as the producers finished.
    pub threads_cpu: Vec<(String, f64)>,
    /// Resident set size once a second after the warm-up (to show it stays flat).
    pub rss_samples: Vec<u64>,
    /// The receiver process's, at the same instants, when it runs in a process of its own.
    pub receiver_rss_samples: Vec<u64>,
}

/// Runs one producer: waits at `start`, then calls `record(n)` on schedule until the
/// duration is over (with `null`, one slot in [`SAMPLE_EVERY`] times an empty call instead).
/// Counts its spans into `progress` every 256 slots.
fn drive(
    args: &Args,
    cal: &Calibration,
    start: &Barrier,
    progress: &AtomicU64,
    null: bool,
    mut record: impl FnMut(u64),
) -> ProducerRun {
    let clock = *cal.clock();
    let ns = |ticks: u64| (ticks as f64 * cal.ns_per_tick()) as u64;
    let interval = args.rate.map(|r| cal.ticks_for(Duration::from_secs(1)) / r);
    let mut null_histogram = null.then(histogram);
    let mut histogram = histogram();
    let (mut spans, mut reported) = (0u64, 0u64);
    start.wait();
    let t_start = clock.now();
    let t_end = t_start + cal.ticks_for(args.duration);
    let mut n = 0u64;
    loop {
        let scheduled = interval.map(|every| {
            let at = t_start + n * every;
            while clock.now() < at {
                std::hint::spin_loop();
            }
            at
        });
        let slot = n % SAMPLE_EVERY;
        if slot == 0 || (slot == NULL_SLOT && null_histogram.is_some()) {
            let t0 = clock.now();
            if slot == 0 {
                record(n);
            } else {
                record_nothing(n);
            }
            let t1 = clock.now();
            // Paced: from the scheduled start, so a stall also counts against the spans that
            // waited behind it (no coordinated omission).
            let from = scheduled.map_or(t0, |s| s.min(t0));
            let latency = ns(t1.saturating_sub(from)).max(1);
            match (&mut null_histogram, slot) {
                (Some(h), NULL_SLOT) => {
                    let _ = h.record(latency);
                }
                _ => {
                    let _ = histogram.record(latency);
                    spans += 1;
                }
            }
        } else {
            record(n);
            spans += 1;
        }
        n += 1;
        if n % 256 == 0 {
            // Relaxed: a progress statistic read by the main thread.
            progress.fetch_add(spans - reported, Ordering::Relaxed);
            reported = spans;
            if clock.now() >= t_end {
                break;
            }
        }
    }
    let null_calls = n - spans;
    ProducerRun {
        spans,
        histogram,
        null: null_histogram.map(|h| (null_calls, h)),
        cpu_seconds: procfs::own_cpu_seconds(),
    }
}

/// Runs `args.producers` threads (`perf-prod{i}`) on `cores`. On each, `setup(i, core)` makes
/// the library's recorder (pinning the thread is its job); then the schedule runs, with the
/// null workload interleaved if `null`.
pub fn run<R: FnMut(u64)>(
    args: &Args,
    cal: &Calibration,
    cores: &[Option<usize>],
    null: bool,
    allocations: impl Fn() -> u64,
    receiver_rss: impl Fn() -> Option<u64>,
    setup: impl Fn(usize, Option<usize>) -> R + Sync,
) -> Phase {
    let barrier = Barrier::new(cores.len() + 1);
    let progress = AtomicU64::new(0);
    let warmup = (args.duration / 5).min(Duration::from_secs(2));
    std::thread::scope(|s| {
        let handles: Vec<_> = cores
            .iter()
            .enumerate()
            .map(|(i, &core)| {
                let (barrier, progress, setup) = (&barrier, &progress, &setup);
                std::thread::Builder::new()
                    .name(format!("perf-prod{i}"))
                    .spawn_scoped(s, move || {
                        let record = setup(i, core);
                        drive(args, cal, barrier, progress, null, record)
                    })
                    .expect("spawn a producer")
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        std::thread::sleep(warmup);
        // Relaxed: statistics.
        let (a0, s0) = (allocations(), progress.load(Ordering::Relaxed));
        let mut rss_samples = vec![procfs::rss_bytes()];
        let mut receiver_rss_samples: Vec<u64> = receiver_rss().into_iter().collect();
        let end = args.duration.saturating_sub(Duration::from_millis(50));
        while started.elapsed() < end {
            std::thread::sleep((end - started.elapsed()).min(Duration::from_secs(1)));
            rss_samples.push(procfs::rss_bytes());
            receiver_rss_samples.extend(receiver_rss());
        }
        let (a1, s1) = (allocations(), progress.load(Ordering::Relaxed));
        let runs: Vec<ProducerRun> = handles
            .into_iter()
            .map(|h| h.join().expect("producer thread"))
            .collect();
        Phase {
            spans: runs.iter().map(|r| r.spans).sum(),
            runs,
            steady_allocs: a1 - a0,
            steady_spans: s1.saturating_sub(s0),
            threads_cpu: procfs::thread_cpu_seconds(),
            rss_samples,
            receiver_rss_samples,
        }
    })
}

impl Phase {
    /// The producers' histograms together.
    pub fn histogram(&self) -> Histogram<u64> {
        let mut h = histogram();
        for r in &self.runs {
            h.add(&r.histogram).expect("same bounds");
        }
        h
    }

    /// The interleaved null workload's calls and histogram, all producers together, if it ran.
    pub fn null(&self) -> Option<(u64, Histogram<u64>)> {
        let mut out: Option<(u64, Histogram<u64>)> = None;
        for (calls, h) in self.runs.iter().filter_map(|r| r.null.as_ref()) {
            let (total, all) = out.get_or_insert_with(|| (0, histogram()));
            *total += calls;
            all.add(h).expect("same bounds");
        }
        out
    }

    /// CPU seconds of the threads whose name starts with `prefix` (names are cut to 15
    /// characters by Linux).
    pub fn cpu_of(&self, prefix: &str) -> f64 {
        self.threads_cpu
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, s)| s)
            .sum()
    }

    /// CPU seconds by role: the producers', then each `(role, thread name prefix)`.
    pub fn cpu_by_role<'a>(
        &self,
        roles: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut cpu = serde_json::Map::new();
        cpu.insert("producers".into(), self.producer_cpu().into());
        for (role, prefix) in roles {
            cpu.insert(role.into(), self.cpu_of(prefix).into());
        }
        cpu
    }

    /// The producers' CPU seconds.
    pub fn producer_cpu(&self) -> f64 {
        self.runs.iter().map(|r| r.cpu_seconds).sum()
    }

    /// Allocations per span over the steady-state window.
    pub fn allocs_per_span(&self) -> f64 {
        if self.steady_spans == 0 {
            0.0
        } else {
            self.steady_allocs as f64 / self.steady_spans as f64
        }
    }
}
