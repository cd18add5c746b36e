//! The workload through ringspan: `Pipeline` (engine, drain, OTLP encoder, HTTP exporter) to
//! the target endpoint. Its accounting must add up exactly, and agree with the receiver's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ringspan::otlp::Resource;
use ringspan::Calibration;
use ringspan::{Callsite, IdleStrategy, Producer, Severity, Value};
use ringspan_transport::{ExporterConfig, MetricsExport, Pipeline, PipelineConfig, Report, Signal};
use serde_json::{json, Map, Value as Json};

use crate::args::{Api, Args, Compare, Signals};
use crate::metrics_signal::{self, Instruments};
use crate::report::{LibReport, NullReport};
use crate::target::Target;
use crate::workload::{self, KEYS};
use crate::{faults, procfs, ALLOC};

/// The harness's span, registered once where it is recorded: its name, and the keys of the
/// values `--attrs` sets (the first four fit the compact record).
static PERF_REQUEST: Callsite = Callsite::new("perf.request", &KEYS);

/// Log-ring slots per lane with `--signal logs`: 64 ms of records at 1 M/s (40 MiB), as the
/// compact span ring holds 64 ms of spans: what a drain that shares its core with the
/// exporters and the receiver, and that the hypervisor stalls for milliseconds, needs at
/// that rate (16 ms lost a quarter of a percent).
const LOG_CAPACITY: usize = 1 << 16;

/// The harness's log record (`--signal logs`): a static body and 3 attributes, under the
/// span when there is one.
#[inline(always)]
fn record_log(p: &Producer, n: u64) {
    p.log(
        Severity::INFO,
        "perf.request done",
        &[
            ("n", Value::i64(n as i64)),
            ("venue", Value::str("XNAS")),
            ("qty", Value::f64(100.0)),
        ],
    );
}

/// Records one span with the first `attrs` attributes (and, with `log`, a log record inside
/// it).
#[inline(always)]
fn record_span(p: &Producer, n: u64, attrs: usize, log: bool) {
    let mut span = p.span_at(&PERF_REQUEST);
    if log {
        record_log(p, n);
    }
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
        span.set_values(&values[..attrs]);
    }
}

/// A producer thread's way of recording the span (`--api`).
// One per producer thread, on its stack: boxing the producer would put a pointer chase on the
// recording path to save bytes that do not matter.
#[allow(clippy::large_enum_variant)]
enum Recorder {
    /// The producer, the attributes per span, whether to record the span (`--signal
    /// traces`) and a log record (`--signal logs`), and the instruments to update
    /// (`--signal metrics`).
    Native(Producer, usize, Signals, Option<Instruments>),
    /// Holds the thread's default dispatcher (the Registry with the layer) in place.
    Tracing(#[allow(dead_code)] tracing::dispatcher::DefaultGuard, usize),
}

impl Recorder {
    #[inline(always)]
    fn record(&self, n: u64) {
        match self {
            Recorder::Native(p, attrs, signals, metrics) => {
                if signals.traces {
                    record_span(p, n, *attrs, signals.logs);
                } else if signals.logs {
                    record_log(p, n);
                }
                if let Some(m) = metrics {
                    m.record(p, n);
                }
            }
            Recorder::Tracing(_, attrs) => crate::tracing_api::record_span(n, *attrs),
        }
    }
}

/// The logs identity: every record accounted for (`recorded = exported + rejected + dropped`,
/// the engine's hand-off equal to the exporter's intake), one per event, and the receiver got
/// exactly the exported ones.
fn logs_identity(
    report: &Report,
    events: u64,
    before: Option<crate::target::Received>,
    after: Option<crate::target::Received>,
) -> Result<String, String> {
    let l = &report.logs;
    if !l.is_settled() {
        return Err(format!(
            "log records: recorded != exported + rejected + dropped: {l:?}"
        ));
    }
    if l.recorded != events {
        return Err(format!(
            "producers wrote {events} log records, the engine recorded {}",
            l.recorded
        ));
    }
    match (before, after) {
        (Some(b), Some(a)) if a.logs - b.logs != l.exported => Err(format!(
            "the receiver got {} log records, the logs exporter exported {}",
            a.logs - b.logs,
            l.exported
        )),
        (Some(_), Some(_)) => Ok(format!(
            "log records: recorded = exported {} + rejected {} + dropped {}; the receiver got exactly the exported ones",
            l.exported,
            l.rejected,
            l.dropped_total()
        )),
        _ => Ok("log records: recorded = exported + rejected + dropped".into()),
    }
}

/// The pipeline's drops by reason, engine and exporter together, as the report names them.
pub fn dropped_by_reason(r: &Report) -> [(&'static str, u64); 11] {
    let (d, x) = (r.dropped, r.export_dropped);
    [
        ("ring_full", d.ring_full),
        ("too_deep", d.too_deep),
        ("no_ring", d.no_ring),
        ("shutdown", d.shutdown + x.shutdown),
        ("too_large", d.too_large),
        ("abandoned", d.abandoned),
        ("export_retries_exhausted", x.retries_exhausted),
        ("export_non_retryable", x.non_retryable),
        ("sink_panicked", d.sink_panicked),
        ("travel_pool_full", d.travel_pool_full),
        ("export_panicked", x.panicked),
    ]
}

pub fn run(
    args: &Args,
    cal: &Calibration,
    cores: &[Option<usize>],
    drain_core: Option<usize>,
    target: &Target,
) -> Result<LibReport, String> {
    let mut config = PipelineConfig::default();
    // The drain shares its core with the exporter and the receiver: it parks when idle
    // instead of spinning them off the core.
    config.engine = config
        .engine
        .rings(cores.len())
        .ring_capacity(args.ring_capacity)
        .max_batch(args.batch)
        .idle(IdleStrategy::Park(Duration::from_micros(200)));
    if let Some(c) = drain_core {
        config.engine = config.engine.drain_core(c);
    }
    config.otlp = config
        .otlp
        .resource(Resource::new("ringspan-perf"))
        .max_spans(args.batch);
    config.exporter = config
        .exporter
        .base_endpoint(&target.url)
        .map_err(|e| e.to_string())?;
    if args.faults {
        // Short enough that a stalled answer is given up on within the soak's schedule.
        config.exporter = config.exporter.timeout(Duration::from_secs(2));
    }
    if args.signals.metrics {
        let exporter = ExporterConfig::for_signal(Signal::Metrics)
            .base_endpoint(&target.url)
            .map_err(|e| e.to_string())?;
        let export = MetricsExport::new(exporter)
            .map_err(|e| e.to_string())?
            .interval(Duration::from_secs(1));
        config.observe = config.observe.export_metrics(export);
    }
    let config_compact = args.compact_capacity;
    config.engine = config
        .engine
        .compact_capacity(config_compact)
        .log_capacity(if args.signals.logs { LOG_CAPACITY } else { 0 });
    let before = target.counts()?;
    let pipeline = Pipeline::start(config).map_err(|e| e.to_string())?;
    let preallocated = pipeline.engine().preallocated_bytes() as u64;
    let rss_start = procfs::rss_bytes();
    let engine = pipeline.engine();
    let instruments = if args.signals.metrics {
        Some(Instruments::new(engine)?)
    } else {
        None
    };
    // `--api tracing`: one dispatcher for every producer thread, the Registry with the layer.
    let dispatch = (args.api == Api::Tracing).then(|| {
        use tracing_subscriber::layer::SubscriberExt;
        tracing::Dispatch::new(tracing_subscriber::registry().with(engine.tracing_layer()))
    });
    let started = std::time::Instant::now();
    let workload_done = AtomicBool::new(false);
    let (phase, costs) = std::thread::scope(|s| {
        let soak = args.faults.then(|| {
            s.spawn(|| {
                faults::run(target, started, args.duration, &workload_done, || {
                    pipeline.report()
                })
            })
        });
        let phase = workload::run(
            args,
            cal,
            cores,
            args.compare.contains(&Compare::Null),
            || ALLOC.allocations(),
            || target.receiver_rss(),
            |_, core| {
                let recorder = (|| {
                    let attrs = args.attrs;
                    if let Some(dispatch) = &dispatch {
                        // The thread's local producer (its ring claimed on the first span) on the
                        // pinned core; the dispatcher stays this thread's default for the run.
                        if let Some(c) = core {
                            assert!(
                                core_affinity::set_for_current(core_affinity::CoreId { id: c }),
                                "pinning a producer to core {c}"
                            );
                        }
                        let default = tracing::dispatcher::set_default(dispatch);
                        return Recorder::Tracing(default, attrs);
                    }
                    let producer = match core {
                        Some(c) => engine
                            .pin(c)
                            .unwrap_or_else(|e| panic!("pinning a producer to core {c}: {e}")),
                        None => engine.producer().expect("a free ring for every producer"),
                    };
                    Recorder::Native(producer, attrs, args.signals, instruments.clone())
                })();
                move |n| recorder.record(n)
            },
        );
        workload_done.store(true, Ordering::Relaxed);
        let costs = soak.map(|h| h.join().expect("the fault schedule thread"));
        (phase, costs)
    });
    let costs = costs.transpose()?;
    let report = pipeline
        .shutdown(Duration::from_secs(30))
        .map_err(|e| format!("ringspan shutdown: {e}"))?;
    let rss_end = procfs::rss_bytes();
    let after = target.counts()?;

    // Each scheduled event is a span only with `--signal traces`.
    let spans = if args.signals.traces { phase.spans } else { 0 };
    let metrics = args.signals.metrics.then(|| {
        let requests: Vec<_> = target
            .take_metrics()
            .into_iter()
            .map(|m| m.request)
            .collect();
        metrics_signal::check(&pipeline, &requests, phase.spans)
    });
    let dropped: Map<String, Json> = dropped_by_reason(&report)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let identity = if !report.is_settled() {
        Err(format!(
            "recorded != exported + rejected + dropped: {report:?}"
        ))
    } else if report.recorded != spans {
        Err(format!(
            "producers started {spans} spans, the engine recorded {}",
            report.recorded
        ))
    } else {
        match (before, after) {
            (Some(b), Some(a)) => {
                let accepted = a.accepted - b.accepted;
                let rejected = a.rejected - b.rejected;
                // A retried request may arrive twice; without retries the counts are equal.
                // The fault soak allows no duplicate at all.
                let dup_ok =
                    !args.faults && report.export.retries > 0 && accepted >= report.exported;
                if (accepted == report.exported || dup_ok) && rejected == report.rejected {
                    Ok("recorded = exported + rejected + dropped; the receiver accepted exactly the exported spans".into())
                } else {
                    Err(format!(
                        "the receiver accepted {accepted} and rejected {rejected}, the exporter \
                         says {} and {}",
                        report.exported, report.rejected
                    ))
                }
            }
            _ => Ok("recorded = exported + rejected + dropped (external endpoint: its own counts not checked)".into()),
        }
    };
    // Every signal's identity must hold.
    let identity = match (&metrics, identity) {
        (Some(m), Ok(spans)) => m.identity.clone().map(|metrics| {
            if args.signals.traces {
                format!("{spans}; {metrics}")
            } else {
                metrics
            }
        }),
        (_, identity) => identity,
    };
    let identity = match (args.signals.logs, identity) {
        (true, Ok(rest)) => logs_identity(&report, phase.spans, before, after).map(|logs| {
            if args.signals.traces || args.signals.metrics {
                format!("{rest}; {logs}")
            } else {
                logs
            }
        }),
        (_, identity) => identity,
    };
    let e = &report.export;
    let mut extra = Map::new();
    if let Some(m) = &metrics {
        extra.insert("metric_updates".into(), json!(m.updates));
        extra.insert(
            "metric_updates_per_sec".into(),
            json!((m.updates as f64 / args.duration.as_secs_f64()).round()),
        );
        extra.insert("metric_points_exported".into(), json!(m.counts.exported));
        extra.insert("metric_requests".into(), json!(m.requests));
    }
    if args.signals.logs {
        let l = &report.logs;
        extra.insert("log_records".into(), json!(l.recorded));
        extra.insert(
            "log_records_per_sec".into(),
            json!((l.recorded as f64 / args.duration.as_secs_f64()).round()),
        );
        extra.insert("log_records_exported".into(), json!(l.exported));
        extra.insert(
            "log_records_dropped".into(),
            json!({
                "ring_full": l.dropped.ring_full,
                "no_ring": l.dropped.no_ring,
                "off": l.dropped.off,
                "shutdown": l.dropped.shutdown + l.export_dropped.shutdown,
                "too_large": l.dropped.too_large,
                "sink_panicked": l.dropped.sink_panicked,
                "export_retries_exhausted": l.export_dropped.retries_exhausted,
                "export_non_retryable": l.export_dropped.non_retryable,
                "export_panicked": l.export_dropped.panicked,
            }),
        );
        extra.insert("log_requests".into(), json!(l.export.requests));
    }
    extra.insert("otlp_requests".into(), json!(e.requests));
    extra.insert("otlp_bytes".into(), json!(e.bytes_sent));
    extra.insert("export_retries".into(), json!(e.retries));
    // Every request the two exporters sent, spans' and log records'.
    let requests = e.requests + report.logs.export.requests;
    extra.insert(
        "allocs_per_request".into(),
        json!(if requests > 0 {
            phase.allocs_per_span() * phase.spans as f64 / requests as f64
        } else {
            0.0
        }),
    );
    if let Some(costs) = &costs {
        faults::print(costs);
        let json_costs: Vec<Json> = costs
            .iter()
            .map(|c| {
                json!({
                    "at_secs": c.at.as_secs_f64(),
                    "fault": c.label,
                    "retries": c.retries,
                    "bodies_lost": c.bodies_lost,
                    "dropped": c.dropped.iter().map(|(r, n)| (r.to_string(), json!(n))).collect::<Map<_, _>>(),
                })
            })
            .collect();
        extra.insert("faults".into(), json!(json_costs));
        extra.insert("export_bodies_lost".into(), json!(e.bodies_lost));
    }
    if let Some(why) = pipeline.last_export_error() {
        extra.insert("last_export_error".into(), json!(why));
    }
    let cpu = phase.cpu_by_role(
        [
            ("drain", "ringspan-drain"),
            ("exporter", "ringspan-export"),
            ("logs_exporter", "ringspan-logs"),
            // The metrics exporter (`ringspan-metrics`, cut to 15 bytes by the kernel).
            ("metrics_exporter", "ringspan-metric"),
        ]
        .into_iter()
        .chain(target.cpu_role()),
    );
    Ok(LibReport {
        library: "ringspan",
        setup: format!(
            "Pipeline: {} lane(s) of {} compact + {} full slots, {}{}, {} spans per request, drain parks 200 us when idle, OTLP/HTTP to {}",
            cores.len(),
            config_compact,
            args.ring_capacity,
            match (args.signals.traces, args.api) {
                (false, _) => "no spans",
                (true, Api::Native) => "callsite spans",
                (true, Api::Tracing) => "tracing spans through TracingLayer (travelling records)",
            },
            match (args.signals.metrics, args.signals.logs) {
                (false, false) => "",
                (true, false) => " + 10 metric updates per event (exported every 1 s)",
                (false, true) => " + a log record per event (64 k log slots per lane)",
                (true, true) => " + 10 metric updates (exported every 1 s) and a log record (64 k log slots per lane) per event",
            },
            args.batch,
            target.url
        ),
        recorded: report.recorded,
        exported: report.exported,
        rejected: report.rejected,
        dropped_by_reason: dropped,
        background_cpu: phase.cpu_of("ringspan-drain") + phase.cpu_of("ringspan-export"),
        null: phase.null().map(|(spans, histogram)| NullReport { spans, histogram }),
        seconds: args.duration.as_secs_f64(),
        histogram: phase.histogram(),
        allocs_per_span: phase.allocs_per_span(),
        rss_start,
        rss_end,
        rss_steady: phase.rss_samples.clone(),
        receiver_rss: phase.receiver_rss_samples.clone(),
        preallocated: Some(preallocated),
        cpu,
        extra,
        identity,
    })
}
