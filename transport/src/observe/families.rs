//! Every figure of the pipeline, read at one moment into a list of families: what
//! `/metrics` writes in the OpenMetrics format and the metrics exporter sends as OTLP.
//!
//! Each family has its OTLP name (the OpenTelemetry semantic conventions' where one exists)
//! and its Prometheus name (the OTLP name with `_` for `.`, before the unit and `_total`
//! suffixes; the `process_*` ones as Prometheus's own client libraries name them). Label
//! keys are OTLP attribute keys (`error.type`); Prometheus gets `_` for `.` (`error_type`).
//! Counters become cumulative monotonic sums, gauges become gauges.
//!
//! | OTLP name (Prometheus) | kind | labels | from |
//! |---|---|---|---|
//! | `ringspan.span.recorded` (`ringspan_spans_recorded_total`) | counter | | sampled spans ended (or dropped at start) |
//! | `otel.sdk.processor.span.processed` (`otel_sdk_processor_span_processed_total`) | counter | `error.type` on drops | spans the drain delivered to the encoder, and the engine's drops by reason (`queue_full` = `ring_full`, `already_shutdown` = `shutdown`, as the conventions name them; the others by ringspan's names) |
//! | `otel.sdk.processor.span.queue.size` | gauge | | spans in the rings |
//! | `otel.sdk.processor.span.queue.capacity` | gauge | | ring slots, full and compact |
//! | `otel.sdk.exporter.span.exported` | counter | `error.type` on failures | spans the collector accepted; `rejected` (partial success) and the exporter's drops by reason |
//! | `otel.sdk.exporter.span.inflight` | gauge | | spans handed to the exporter, not yet settled |
//! | `ringspan.truncated_strings` | counter | | strings cut short to fit a record |
//! | `ringspan.drain.flushes`, `ringspan.drain.sink_stalls` | counter | | batches flushed; times the encoder had no free buffer |
//! | `ringspan.drain.sink_panicked` | gauge | | 1 once the sink panicked and was retired |
//! | `ringspan.drain.lag` (`_seconds`) | gauge | | since the drain last finished a pass over every ring |
//! | `ringspan.encoder.requests`, `ringspan.encoder.bytes` | counter | | requests built and their bytes |
//! | `ringspan.encoder.buffers` | gauge | `state` = `in_use`, `free` | the encoder's request buffers (all in use: the exporter is behind) |
//! | `ringspan.export.requests`, `.attempts`, `.retries`, `.sent_bytes`, `.bodies_lost` | counter | | the exporter's work |
//! | `ringspan.export.last_error_age` (`_seconds`) | gauge | | since the last export failure (absent if none) |
//! | `ringspan.export.backlog.growing` (`_seconds`) | gauge | | how long the exporter's backlog has been non-empty and never shrinking, between reads |
//! | `ringspan.rings` | gauge | `state` = `claimed`, `free` | rings held by a producer, and free |
//! | `ringspan.ring.fill`, `.capacity`, `.high_water` | gauge | `ring`, `records` = `full`, `compact` | each ring's records waiting, its slots, and the most the drain found waiting at once |
//! | `ringspan.ring.recorded` | counter | `ring` | sampled spans recorded through each ring |
//! | `ringspan.ring.idle` (`_seconds`) | gauge | `ring` | claimed rings only: time since the ring's producer last recorded (a producer holding a ring and recording nothing) |
//! | `ringspan.span.open` | gauge | | sampled spans open now, all producers |
//! | `ringspan.span.open.oldest_age` (`_seconds`) | gauge | | the oldest of them (absent if none) |
//! | `ringspan.span.open.threshold` (`_seconds`) | gauge | | the age past which an open span is reported as long-open |
//! | `ringspan.span.open.long` | gauge | | producers whose oldest open span is older than the threshold |
//! | `ringspan.span.open.long_age` (`_seconds`) | gauge | `span.name`, `thread.name`, `ring` | one per such producer: its oldest open span's age |
//! | `ringspan.span.abandoned` | gauge | `span.name`, `thread.name` | of the last 16 spans found open when their producer was dropped, how many had this name and thread |
//! | `ringspan.alloc.allocations`, `ringspan.alloc.allocated_bytes` | counter | | the counting allocator's, when one is given |
//! | `ringspan.alloc.live_blocks`, `ringspan.alloc.live_bytes` | gauge | | blocks and bytes allocated and not freed (same) |
//! | `process.memory.usage` (`process_resident_memory_bytes`), `process.thread.count` (`process_threads`) | gauge | | from `/proc/self` (absent elsewhere) |

use std::time::Duration;

use ringspan_alloc_counter::HeapStats;

use super::watch::Reading;
use super::Observer;
use crate::pipeline::Core;

/// One value of a family: a counter's or a gauge's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    Count(u64),
    Gauge(f64),
}

/// A family's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Seconds,
    Bytes,
    /// Counted things, as a UCUM annotation (`{span}`); no Prometheus suffix.
    Items(&'static str),
}

impl Unit {
    /// The unit as OTLP writes it (UCUM).
    pub(crate) fn ucum(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Bytes => "By",
            Unit::Items(u) => u,
        }
    }
}

/// One metric family at one moment.
#[derive(Debug)]
pub(crate) struct Family {
    /// The OTLP name.
    pub(crate) name: &'static str,
    /// The Prometheus name, without the unit and `_total` suffixes.
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) prom: &'static str,
    pub(crate) help: &'static str,
    pub(crate) unit: Unit,
    pub(crate) series: Vec<(Vec<(&'static str, String)>, Value)>,
}

const SPANS: Unit = Unit::Items("{span}");

fn one(name: &'static str, prom: &'static str, unit: Unit, help: &'static str, v: Value) -> Family {
    Family {
        name,
        prom,
        help,
        unit,
        series: vec![(Vec::new(), v)],
    }
}

fn secs(d: Duration) -> Value {
    Value::Gauge(d.as_secs_f64())
}

/// Every family, read from the pipeline (and the counting allocator, if given) now. Takes
/// one reading for the watch too.
pub(crate) fn read(core: &Core, observer: &Observer, heap: Option<&dyn HeapStats>) -> Vec<Family> {
    use Value::{Count, Gauge};
    let r = core.report();
    let e = &r.engine;
    let x = &r.export;
    let engine = core.engine();
    let enc = core.encoder_stats();
    let error = |reason: &'static str| vec![("error.type", reason.to_owned())];
    let d = &e.dropped;
    let processed = Family {
        name: "otel.sdk.processor.span.processed",
        prom: "otel_sdk_processor_span_processed",
        help: "Spans the rings' drain finished with: delivered to the encoder (no error_type) or dropped (error_type = the reason).",
        unit: SPANS,
        series: vec![
            (Vec::new(), Count(e.delivered)),
            // The semantic conventions' values where they define one: `queue_full` for a
            // full ring, `already_shutdown` for spans ended after shutdown began or still in
            // a ring when it finished (`dropped.shutdown` holds both); ringspan's own reason
            // names for the rest.
            (error("queue_full"), Count(d.ring_full)),
            (error("too_deep"), Count(d.too_deep)),
            (error("no_ring"), Count(d.no_ring)),
            (error("already_shutdown"), Count(d.shutdown)),
            (error("too_large"), Count(d.too_large)),
            (error("abandoned"), Count(d.abandoned)),
            (error("sink_panicked"), Count(d.sink_panicked)),
            (error("travel_pool_full"), Count(d.travel_pool_full)),
        ],
    };
    let xd = &x.dropped;
    let exported = Family {
        name: "otel.sdk.exporter.span.exported",
        prom: "otel_sdk_exporter_span_exported",
        help: "Spans whose export finished: accepted by the collector (no error_type), rejected in a partial success, or dropped by the exporter (error_type = the reason).",
        unit: SPANS,
        series: vec![
            (Vec::new(), Count(x.exported)),
            (error("rejected"), Count(x.rejected)),
            (error("retries_exhausted"), Count(xd.retries_exhausted)),
            (error("non_retryable"), Count(xd.non_retryable)),
            (error("shutdown"), Count(xd.shutdown)),
            (error("panicked"), Count(xd.panicked)),
        ],
    };
    let backlog = x.in_flight();
    let gauges: Vec<ringspan::RingGauge> = engine.ring_gauges().collect();
    observer.watch.observe(Reading {
        rings: &gauges,
        backlog,
    });
    let claimed = gauges.iter().filter(|g| g.claimed).count();
    let capacity: usize = gauges
        .iter()
        .map(|g| g.full_capacity + g.compact_capacity)
        .sum();
    let per_ring = |f: &dyn Fn(&ringspan::RingGauge) -> (usize, usize)| {
        gauges
            .iter()
            .enumerate()
            .flat_map(|(i, g)| {
                let (full, compact) = f(g);
                [
                    (
                        vec![("ring", i.to_string()), ("records", "full".to_owned())],
                        Gauge(full as f64),
                    ),
                    (
                        vec![("ring", i.to_string()), ("records", "compact".to_owned())],
                        Gauge(compact as f64),
                    ),
                ]
            })
            .collect()
    };
    let mut families = vec![
        one(
            "ringspan.span.recorded",
            "ringspan_spans_recorded",
            SPANS,
            "Sampled spans ended, or dropped when they started.",
            Count(e.recorded),
        ),
        processed,
        one(
            "otel.sdk.processor.span.queue.size",
            "otel_sdk_processor_span_queue_size",
            SPANS,
            "Spans in the rings, waiting for the drain.",
            Gauge(e.in_rings as f64),
        ),
        one(
            "otel.sdk.processor.span.queue.capacity",
            "otel_sdk_processor_span_queue_capacity",
            SPANS,
            "Ring slots, full and compact records together.",
            Gauge(capacity as f64),
        ),
        exported,
        one(
            "otel.sdk.exporter.span.inflight",
            "otel_sdk_exporter_span_inflight",
            SPANS,
            "Spans handed to the exporter and not settled yet (queued, in flight, or waiting to retry).",
            Gauge(backlog as f64),
        ),
        one(
            "ringspan.truncated_strings",
            "ringspan_truncated_strings",
            Unit::Items("{string}"),
            "Strings cut short to fit a span record (the spans were kept).",
            Count(e.truncated_strings),
        ),
        one(
            "ringspan.drain.lag",
            "ringspan_drain_lag",
            Unit::Seconds,
            "Time since the drain last finished a pass over every ring (a lag that grows: a sink blocks it).",
            secs(engine.drain_lag()),
        ),
        one(
            "ringspan.drain.flushes",
            "ringspan_drain_flushes",
            Unit::Items("{flush}"),
            "Batches the drain asked the encoder to flush.",
            Count(e.flushes),
        ),
        one(
            "ringspan.drain.sink_stalls",
            "ringspan_drain_sink_stalls",
            Unit::Items("{stall}"),
            "Times the encoder had no free buffer and refused spans (they stayed in the ring).",
            Count(e.sink_stalls),
        ),
        one(
            "ringspan.drain.sink_panicked",
            "ringspan_drain_sink_panicked",
            Unit::Items("1"),
            "1 once the sink panicked and the drain retired it.",
            Gauge(f64::from(u8::from(e.sink_panicked))),
        ),
        one(
            "ringspan.encoder.requests",
            "ringspan_encoder_requests",
            Unit::Items("{request}"),
            "OTLP requests the encoder built and handed to the exporter.",
            Count(enc.requests()),
        ),
        one(
            "ringspan.encoder.bytes",
            "ringspan_encoder",
            Unit::Bytes,
            "Bytes of those requests, before compression.",
            Count(enc.bytes()),
        ),
        Family {
            name: "ringspan.encoder.buffers",
            prom: "ringspan_encoder_buffers",
            help: "The encoder's request buffers: in use (being filled, or held by a request not yet settled) and free.",
            unit: Unit::Items("{buffer}"),
            series: {
                let (in_use, size) = enc.buffers_in_use();
                vec![
                    (vec![("state", "in_use".to_owned())], Gauge(in_use as f64)),
                    (
                        vec![("state", "free".to_owned())],
                        Gauge(size.saturating_sub(in_use) as f64),
                    ),
                ]
            },
        },
        one(
            "ringspan.export.requests",
            "ringspan_export_requests",
            Unit::Items("{request}"),
            "Requests handed to the exporter.",
            Count(x.requests),
        ),
        one(
            "ringspan.export.attempts",
            "ringspan_export_attempts",
            Unit::Items("{attempt}"),
            "HTTP attempts, first tries and retries.",
            Count(x.attempts),
        ),
        one(
            "ringspan.export.retries",
            "ringspan_export_retries",
            Unit::Items("{attempt}"),
            "Attempts that were retries.",
            Count(x.retries),
        ),
        one(
            "ringspan.export.sent_bytes",
            "ringspan_export_sent",
            Unit::Bytes,
            "Body bytes sent over all attempts, after compression.",
            Count(x.bytes_sent),
        ),
        one(
            "ringspan.export.bodies_lost",
            "ringspan_export_bodies_lost",
            Unit::Items("{response}"),
            "2xx answers whose body failed to arrive (the batch counts as exported).",
            Count(x.bodies_lost),
        ),
        one(
            "ringspan.export.backlog.growing",
            "ringspan_export_backlog_growing",
            Unit::Seconds,
            "How long the exporter's backlog (spans handed to it, not settled) has been non-empty and never shrinking between reads: the collector does not keep up.",
            secs(observer.watch.backlog_growing()),
        ),
        Family {
            name: "ringspan.rings",
            prom: "ringspan_rings",
            help: "Rings held by a producer (claimed) and free.",
            unit: Unit::Items("{ring}"),
            series: vec![
                (vec![("state", "claimed".to_owned())], Gauge(claimed as f64)),
                (
                    vec![("state", "free".to_owned())],
                    Gauge((gauges.len() - claimed) as f64),
                ),
            ],
        },
        Family {
            name: "ringspan.ring.fill",
            prom: "ringspan_ring_fill",
            help: "Records waiting in each ring for the drain.",
            unit: Unit::Items("{record}"),
            series: per_ring(&|g| (g.full_len, g.compact_len)),
        },
        Family {
            name: "ringspan.ring.capacity",
            prom: "ringspan_ring_capacity",
            help: "Slots of each ring.",
            unit: Unit::Items("{record}"),
            series: per_ring(&|g| (g.full_capacity, g.compact_capacity)),
        },
        Family {
            name: "ringspan.ring.high_water",
            prom: "ringspan_ring_high_water",
            help: "The most records the drain has found waiting in each ring at once, since start.",
            unit: Unit::Items("{record}"),
            series: per_ring(&|g| (g.full_high_water, g.compact_high_water)),
        },
        Family {
            name: "ringspan.ring.recorded",
            prom: "ringspan_ring_recorded",
            help: "Sampled spans recorded through each ring since start.",
            unit: SPANS,
            series: gauges
                .iter()
                .enumerate()
                .map(|(i, g)| (vec![("ring", i.to_string())], Count(g.recorded)))
                .collect(),
        },
    ];
    let idle: Vec<_> = observer
        .watch
        .idle()
        .into_iter()
        .enumerate()
        .filter_map(|(i, d)| Some((vec![("ring", i.to_string())], secs(d?))))
        .collect();
    if !idle.is_empty() {
        families.push(Family {
            name: "ringspan.ring.idle",
            prom: "ringspan_ring_idle",
            help: "For each claimed ring: time since its producer last recorded a span (or claimed it), as the watcher last read.",
            unit: Unit::Seconds,
            series: idle,
        });
    }
    families.extend(open_spans(core, observer));
    // One series per (name, thread): OpenMetrics wants each label set once.
    let mut abandoned: Vec<((String, String), u64)> = Vec::new();
    for a in engine.abandoned_spans() {
        let key = (a.name, a.thread);
        match abandoned.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => abandoned.push((key, 1)),
        }
    }
    if !abandoned.is_empty() {
        families.push(Family {
            name: "ringspan.span.abandoned",
            prom: "ringspan_abandoned_span",
            help: "Of the last 16 spans found open when their producer was dropped: how many had this name and thread.",
            unit: SPANS,
            series: abandoned
                .into_iter()
                .map(|((name, thread), n)| {
                    (
                        vec![("span.name", name), ("thread.name", thread)],
                        Gauge(n as f64),
                    )
                })
                .collect(),
        });
    }
    if let Some(age) = core.last_export_error_age() {
        families.push(one(
            "ringspan.export.last_error_age",
            "ringspan_export_last_error_age",
            Unit::Seconds,
            "Time since the exporter's last failure.",
            secs(age),
        ));
    }
    if let Some(rss) = resident_bytes() {
        families.push(one(
            "process.memory.usage",
            "process_resident_memory",
            Unit::Bytes,
            "Resident set size of the process.",
            Gauge(rss as f64),
        ));
    }
    if let Some(heap) = heap {
        families.extend(allocations(heap));
    }
    if let Some(threads) = threads() {
        families.push(one(
            "process.thread.count",
            "process_threads",
            Unit::Items("{thread}"),
            "Threads of the process.",
            Gauge(threads as f64),
        ));
    }
    families
}

/// The open-span families: how many, the oldest, and those open longer than the threshold.
fn open_spans(core: &Core, observer: &Observer) -> Vec<Family> {
    let open = core.engine().open_spans();
    let threshold = observer.open_span_threshold;
    let total: u64 = open.iter().map(|o| o.open).sum();
    let mut out = vec![
        one(
            "ringspan.span.open",
            "ringspan_spans_open",
            SPANS,
            "Sampled spans open now (started, not yet ended), all producers.",
            Value::Gauge(total as f64),
        ),
        one(
            "ringspan.span.open.threshold",
            "ringspan_span_open_threshold",
            Unit::Seconds,
            "The age past which an open span counts as long-open (RINGSPAN_OPEN_SPAN_THRESHOLD).",
            secs(threshold),
        ),
    ];
    let oldest = open
        .iter()
        .filter_map(|o| o.oldest.as_ref())
        .map(|o| o.age)
        .max();
    if let Some(age) = oldest {
        out.push(one(
            "ringspan.span.open.oldest_age",
            "ringspan_span_open_oldest_age",
            Unit::Seconds,
            "How long the oldest open sampled span has been open.",
            secs(age),
        ));
    }
    let long: Vec<_> = open
        .iter()
        .filter_map(|o| Some((o.ring, o.oldest.as_ref()?)))
        .filter(|(_, old)| old.age > threshold)
        .map(|(ring, old)| {
            let name = old.name.unwrap_or("(copied name)").to_owned();
            (
                vec![
                    ("span.name", name),
                    ("thread.name", old.thread.clone()),
                    ("ring", ring.to_string()),
                ],
                secs(old.age),
            )
        })
        .collect();
    out.push(one(
        "ringspan.span.open.long",
        "ringspan_spans_open_long",
        Unit::Items("{producer}"),
        "Producers whose oldest open span has been open longer than the threshold.",
        Value::Gauge(long.len() as f64),
    ));
    if !long.is_empty() {
        out.push(Family {
            name: "ringspan.span.open.long_age",
            prom: "ringspan_span_open_long_age",
            help: "For each producer whose oldest open span is older than the threshold: that span's age, name and thread.",
            unit: Unit::Seconds,
            series: long,
        });
    }
    out
}

/// The counting allocator's totals.
fn allocations(heap: &dyn HeapStats) -> Vec<Family> {
    let classes = heap.heap();
    let sum = |f: fn(&ringspan_alloc_counter::SizeClass) -> u64| classes.iter().map(f).sum();
    vec![
        one(
            "ringspan.alloc.allocations",
            "ringspan_alloc_allocations",
            Unit::Items("{allocation}"),
            "Allocations by the process since start (counting allocator).",
            Value::Count(sum(|c| c.allocations)),
        ),
        one(
            "ringspan.alloc.allocated_bytes",
            "ringspan_alloc_allocated",
            Unit::Bytes,
            "Bytes requested by those allocations.",
            Value::Count(sum(|c| c.bytes_allocated)),
        ),
        one(
            "ringspan.alloc.live_blocks",
            "ringspan_alloc_live_blocks",
            Unit::Items("{block}"),
            "Blocks allocated and not freed.",
            Value::Gauge(sum(|c| c.live()) as f64),
        ),
        one(
            "ringspan.alloc.live_bytes",
            "ringspan_alloc_live",
            Unit::Bytes,
            "Bytes allocated and not freed.",
            Value::Gauge(sum(|c| c.live_bytes()) as f64),
        ),
    ]
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn threads() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}
