//! What `/metrics` (and the index page) show: the pipeline's counters and gauges read at one
//! moment into a list of families, then written in the OpenMetrics text format by
//! `prometheus-client`.
//!
//! | family | kind | labels | from |
//! |---|---|---|---|
//! | `ringspan_spans_recorded` | counter | | sampled spans ended (or dropped at start) |
//! | `otel_sdk_processor_span_processed` | counter | `error_type` on drops | spans the drain delivered to the encoder, and the engine's drops by reason (`queue_full` = `ring_full`, `already_shutdown` = `shutdown`, as the conventions name them; the others by ringspan's names) |
//! | `otel_sdk_processor_span_queue_size` | gauge | | spans in the rings |
//! | `otel_sdk_processor_span_queue_capacity` | gauge | | ring slots, full and compact |
//! | `otel_sdk_exporter_span_exported` | counter | `error_type` on failures | spans the collector accepted; `rejected` (partial success) and the exporter's drops by reason |
//! | `otel_sdk_exporter_span_inflight` | gauge | | spans handed to the exporter, not yet settled |
//! | `ringspan_truncated_strings` | counter | | strings cut short to fit a record |
//! | `ringspan_drain_flushes`, `ringspan_drain_sink_stalls` | counter | | batches flushed; times the encoder had no free buffer |
//! | `ringspan_drain_sink_panicked` | gauge | | 1 once the sink panicked and was retired |
//! | `ringspan_drain_lag_seconds` | gauge | | since the drain last finished a pass over every ring |
//! | `ringspan_encoder_requests`, `ringspan_encoder_bytes` | counter | | requests built and their bytes |
//! | `ringspan_encoder_buffers` | gauge | `state` = `in_use`, `free` | the encoder's request buffers (all in use: the exporter is behind) |
//! | `ringspan_export_requests`, `_attempts`, `_retries`, `_sent_bytes`, `_bodies_lost` | counter | | the exporter's work |
//! | `ringspan_export_last_error_age_seconds` | gauge | | since the last export failure (absent if none) |
//! | `ringspan_rings` | gauge | `state` = `claimed`, `free` | rings held by a producer, and free |
//! | `ringspan_ring_fill`, `ringspan_ring_capacity`, `ringspan_ring_high_water` | gauge | `ring`, `records` = `full`, `compact` | each ring's records waiting, its slots, and the most the drain found waiting at once |
//! | `ringspan_ring_recorded` | counter | `ring` | sampled spans recorded through each ring |
//! | `ringspan_ring_idle_seconds` | gauge | `ring` | claimed rings only: time since the ring's producer last recorded (a producer holding a ring and recording nothing) |
//! | `ringspan_abandoned_span` | gauge | `name`, `thread` | of the last 16 spans found open when their producer was dropped, how many had this name and thread |
//! | `ringspan_alloc_allocations`, `ringspan_alloc_allocated_bytes` | counter | | the counting allocator's, when one is given |
//! | `ringspan_alloc_live_blocks`, `ringspan_alloc_live_bytes` | gauge | | blocks and bytes allocated and not freed (same) |
//! | `process_resident_memory_bytes`, `process_threads` | gauge | | from `/proc/self` (absent elsewhere) |

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use super::watch::Watch;
use super::HeapStats;
use crate::Pipeline;

/// One value of a family: a counter's or a gauge's.
#[derive(Clone, Copy, Debug)]
pub(super) enum Value {
    Count(u64),
    Gauge(f64),
}

/// One metric family at one moment.
#[derive(Debug)]
pub(super) struct Family {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) unit: Option<Unit>,
    pub(super) series: Vec<(Vec<(&'static str, String)>, Value)>,
}

fn one(name: &'static str, help: &'static str, v: Value) -> Family {
    Family {
        name,
        help,
        unit: None,
        series: vec![(Vec::new(), v)],
    }
}

/// Every family, read from `pipeline` (and the counting allocator, if given) now.
pub(super) fn read(
    pipeline: &Pipeline,
    heap: Option<&dyn HeapStats>,
    watch: &Watch,
) -> Vec<Family> {
    use Value::{Count, Gauge};
    let r = pipeline.report();
    let e = &r.engine;
    let x = &r.export;
    let enc = pipeline.encoder_stats();
    let error = |reason: &'static str| vec![("error_type", reason.to_owned())];
    let d = &e.dropped;
    let processed = Family {
        name: "otel_sdk_processor_span_processed",
        help: "Spans the rings' drain finished with: delivered to the encoder (no error_type) or dropped (error_type = the reason).",
        unit: None,
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
        ],
    };
    let xd = &x.dropped;
    let exported = Family {
        name: "otel_sdk_exporter_span_exported",
        help: "Spans whose export finished: accepted by the collector (no error_type), rejected in a partial success, or dropped by the exporter (error_type = the reason).",
        unit: None,
        series: vec![
            (Vec::new(), Count(x.exported)),
            (error("rejected"), Count(x.rejected)),
            (error("retries_exhausted"), Count(xd.retries_exhausted)),
            (error("non_retryable"), Count(xd.non_retryable)),
            (error("shutdown"), Count(xd.shutdown)),
            (error("panicked"), Count(xd.panicked)),
        ],
    };
    let settled = x.exported + x.rejected + xd.total();
    let gauges: Vec<ringspan::RingGauge> = pipeline.engine().ring_gauges().collect();
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
            "ringspan_spans_recorded",
            "Sampled spans ended, or dropped when they started.",
            Count(e.recorded),
        ),
        processed,
        one(
            "otel_sdk_processor_span_queue_size",
            "Spans in the rings, waiting for the drain.",
            Gauge(e.in_rings as f64),
        ),
        one(
            "otel_sdk_processor_span_queue_capacity",
            "Ring slots, full and compact records together.",
            Gauge(capacity as f64),
        ),
        exported,
        one(
            "otel_sdk_exporter_span_inflight",
            "Spans handed to the exporter and not settled yet (queued, in flight, or waiting to retry).",
            Gauge(x.handed.saturating_sub(settled) as f64),
        ),
        one(
            "ringspan_truncated_strings",
            "Strings cut short to fit a span record (the spans were kept).",
            Count(e.truncated_strings),
        ),
        Family {
            unit: Some(Unit::Seconds),
            ..one(
                "ringspan_drain_lag",
                "Time since the drain last finished a pass over every ring (a lag that grows: a sink blocks it).",
                Gauge(pipeline.engine().drain_lag().as_secs_f64()),
            )
        },
        one(
            "ringspan_drain_flushes",
            "Batches the drain asked the encoder to flush.",
            Count(e.flushes),
        ),
        one(
            "ringspan_drain_sink_stalls",
            "Times the encoder had no free buffer and refused spans (they stayed in the ring).",
            Count(e.sink_stalls),
        ),
        one(
            "ringspan_drain_sink_panicked",
            "1 once the sink panicked and the drain retired it.",
            Gauge(f64::from(u8::from(e.sink_panicked))),
        ),
        one(
            "ringspan_encoder_requests",
            "OTLP requests the encoder built and handed to the exporter.",
            Count(enc.requests()),
        ),
        Family {
            unit: Some(Unit::Bytes),
            ..one(
                "ringspan_encoder",
                "Bytes of those requests, before compression.",
                Count(enc.bytes()),
            )
        },
        Family {
            name: "ringspan_encoder_buffers",
            help: "The encoder's request buffers: in use (being filled, or held by a request not yet settled) and free.",
            unit: None,
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
            "ringspan_export_requests",
            "Requests handed to the exporter.",
            Count(x.requests),
        ),
        one(
            "ringspan_export_attempts",
            "HTTP attempts, first tries and retries.",
            Count(x.attempts),
        ),
        one(
            "ringspan_export_retries",
            "Attempts that were retries.",
            Count(x.retries),
        ),
        Family {
            unit: Some(Unit::Bytes),
            ..one(
                "ringspan_export_sent",
                "Body bytes sent over all attempts, after compression.",
                Count(x.bytes_sent),
            )
        },
        one(
            "ringspan_export_bodies_lost",
            "2xx answers whose body failed to arrive (the batch counts as exported).",
            Count(x.bodies_lost),
        ),
        Family {
            name: "ringspan_rings",
            help: "Rings held by a producer (claimed) and free.",
            unit: None,
            series: vec![
                (vec![("state", "claimed".to_owned())], Gauge(claimed as f64)),
                (
                    vec![("state", "free".to_owned())],
                    Gauge((gauges.len() - claimed) as f64),
                ),
            ],
        },
        Family {
            name: "ringspan_ring_fill",
            help: "Records waiting in each ring for the drain.",
            unit: None,
            series: per_ring(&|g| (g.full_len, g.compact_len)),
        },
        Family {
            name: "ringspan_ring_capacity",
            help: "Slots of each ring.",
            unit: None,
            series: per_ring(&|g| (g.full_capacity, g.compact_capacity)),
        },
        Family {
            name: "ringspan_ring_high_water",
            help: "The most records the drain has found waiting in each ring at once, since start.",
            unit: None,
            series: per_ring(&|g| (g.full_high_water, g.compact_high_water)),
        },
        Family {
            name: "ringspan_ring_recorded",
            help: "Sampled spans recorded through each ring since start.",
            unit: None,
            series: gauges
                .iter()
                .enumerate()
                .map(|(i, g)| (vec![("ring", i.to_string())], Count(g.recorded)))
                .collect(),
        },
    ];
    watch.observe(pipeline);
    let idle: Vec<_> = watch
        .idle()
        .into_iter()
        .enumerate()
        .filter_map(|(i, d)| Some((vec![("ring", i.to_string())], Gauge(d?.as_secs_f64()))))
        .collect();
    if !idle.is_empty() {
        families.push(Family {
            name: "ringspan_ring_idle",
            help: "For each claimed ring: time since its producer last recorded a span (or claimed it), as read once a second.",
            unit: Some(Unit::Seconds),
            series: idle,
        });
    }
    // One series per (name, thread): OpenMetrics wants each label set once.
    let mut abandoned: Vec<((String, String), u64)> = Vec::new();
    for a in pipeline.engine().abandoned_spans() {
        let key = (a.name, a.thread);
        match abandoned.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => abandoned.push((key, 1)),
        }
    }
    if !abandoned.is_empty() {
        families.push(Family {
            name: "ringspan_abandoned_span",
            help: "Of the last 16 spans found open when their producer was dropped: how many had this name and thread.",
            unit: None,
            series: abandoned
                .into_iter()
                .map(|((name, thread), n)| {
                    (vec![("name", name), ("thread", thread)], Gauge(n as f64))
                })
                .collect(),
        });
    }
    if let Some(age) = pipeline.last_export_error_age() {
        families.push(Family {
            unit: Some(Unit::Seconds),
            ..one(
                "ringspan_export_last_error_age",
                "Time since the exporter's last failure.",
                Gauge(age.as_secs_f64()),
            )
        });
    }
    if let Some(rss) = resident_bytes() {
        families.push(Family {
            unit: Some(Unit::Bytes),
            ..one(
                "process_resident_memory",
                "Resident set size of the process.",
                Gauge(rss as f64),
            )
        });
    }
    if let Some(heap) = heap {
        let classes = heap.heap();
        let sum = |f: fn(&ringspan_alloc_counter::SizeClass) -> u64| classes.iter().map(f).sum();
        families.push(one(
            "ringspan_alloc_allocations",
            "Allocations by the process since start (counting allocator).",
            Count(sum(|c| c.allocations)),
        ));
        families.push(Family {
            unit: Some(Unit::Bytes),
            ..one(
                "ringspan_alloc_allocated",
                "Bytes requested by those allocations.",
                Count(sum(|c| c.bytes_allocated)),
            )
        });
        families.push(one(
            "ringspan_alloc_live_blocks",
            "Blocks allocated and not freed.",
            Gauge(sum(|c| c.live()) as f64),
        ));
        families.push(Family {
            unit: Some(Unit::Bytes),
            ..one(
                "ringspan_alloc_live",
                "Bytes allocated and not freed.",
                Gauge(sum(|c| c.live_bytes()) as f64),
            )
        });
    }
    if let Some(threads) = threads() {
        families.push(one(
            "process_threads",
            "Threads of the process.",
            Gauge(threads as f64),
        ));
    }
    families
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

/// The families as a `prometheus-client` collector.
#[derive(Debug)]
struct Families(Vec<Family>);

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for f in &self.0 {
            let kind = match f.series.first() {
                Some((_, Value::Count(_))) => ConstCounter::new(0u64).metric_type(),
                _ => ConstGauge::new(0.0f64).metric_type(),
            };
            let mut family = encoder.encode_descriptor(f.name, f.help, f.unit.as_ref(), kind)?;
            for (labels, value) in &f.series {
                let series = family.encode_family(labels)?;
                match *value {
                    Value::Count(n) => ConstCounter::new(n).encode(series)?,
                    Value::Gauge(v) => ConstGauge::new(v).encode(series)?,
                }
            }
        }
        Ok(())
    }
}

/// `pipeline`'s figures now (and the counting allocator's, if given), in the OpenMetrics text
/// format: what `GET /metrics` answers.
pub(super) fn render(pipeline: &Pipeline, heap: Option<&dyn HeapStats>, watch: &Watch) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families(read(pipeline, heap, watch))));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}
