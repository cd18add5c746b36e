//! The pipeline's view of itself: every counter and gauge of the engine, the encoder and the
//! exporter, the open-span watch and the leak report, read into one list of families
//! (`families.rs`, where the table of names is) and shown two ways:
//!
//! - scraped: the admin endpoint's `/metrics` and `/debug/` (feature `admin`);
//! - pushed: exported as OTLP metrics to `/v1/metrics` every interval (`export.rs`), through
//!   the same HTTP machinery as spans (endpoint, headers, TLS, compression, retries), as
//!   cumulative sums and gauges with a fixed start time (the pipeline's start) under the
//!   pipeline's resource, scope `ringspan`.
//!
//! The leak report: spans open longer than a threshold (the oldest per producer, with its
//! name, age and thread), producers that hold a ring and record nothing (`ring.idle`),
//! threads that exited with spans open (`span.abandoned`), and an exporter backlog that only
//! grows (`export.backlog.growing`). Reading it touches nothing on the hot path beyond the
//! open-span watch each producer keeps (see `ringspan`'s `produce/watch.rs`).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `OTEL_METRICS_EXPORTER` | unset: off | `otlp` exports ringspan's own metrics; `none` (or unset) does not |
//! | `OTEL_METRIC_EXPORT_INTERVAL` | 60000 | ms between two exports |
//! | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative` | `delta` or `lowmemory`: the application's counters and histograms as deltas (see [`ringspan::otlp::MetricsEncoder`]) |
//! | `OTEL_METRIC_EXPORT_TIMEOUT` | 30000 | ms one export may spend in retries |
//! | `OTEL_EXPORTER_OTLP_METRICS_*`, `OTEL_EXPORTER_OTLP_*` | | as for spans ([`crate::env`]), the metrics ones first |
//! | `RINGSPAN_OPEN_SPAN_THRESHOLD` | 10000 | ms after which an open span is reported as long-open |
//!
//! The same exports carry the application's instruments ([`ringspan::Engine::metric`]),
//! under a scope of their own: the engine's (`EngineConfig::scope`), with each series'
//! binding as the start of its cumulative points.
//!
//! Unlike the OpenTelemetry SDKs, whose metrics exporter defaults to `otlp`, ringspan sends
//! its own metrics only when asked: a collector set up for traces alone would answer every
//! export with an error.

mod export;
pub(crate) mod families;
pub(crate) mod watch;

use std::time::Duration;

pub use ringspan_alloc_counter::HeapStats;

use ringspan::otlp::TemporalityPreference;

use crate::config::{ExporterConfig, Signal};
use crate::error::Error;
pub(crate) use export::MetricsExporter;

/// The default of [`ObserveConfig::open_span_threshold`].
pub const DEFAULT_OPEN_SPAN_THRESHOLD: Duration = Duration::from_secs(10);

/// How the pipeline watches itself, and whether it exports its own metrics.
#[derive(Clone)]
pub struct ObserveConfig {
    pub(crate) open_span_threshold: Duration,
    pub(crate) heap: Option<&'static dyn HeapStats>,
    pub(crate) metrics: Option<MetricsExport>,
}

impl Default for ObserveConfig {
    /// A 10 s open-span threshold, no allocator, no metrics export.
    fn default() -> Self {
        ObserveConfig {
            open_span_threshold: DEFAULT_OPEN_SPAN_THRESHOLD,
            heap: None,
            metrics: None,
        }
    }
}

impl std::fmt::Debug for ObserveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserveConfig")
            .field("open_span_threshold", &self.open_span_threshold)
            .field("heap", &self.heap.is_some())
            .field("metrics", &self.metrics)
            .finish()
    }
}

impl ObserveConfig {
    /// The age past which an open span is reported as long-open (default 10 s).
    pub fn open_span_threshold(mut self, d: Duration) -> Self {
        self.open_span_threshold = d;
        self
    }

    /// The process's counting allocator (`ringspan_alloc_counter::CountingAlloc`, installed
    /// as `#[global_allocator]`): its totals join the figures.
    pub fn heap(mut self, allocator: &'static dyn HeapStats) -> Self {
        self.heap = Some(allocator);
        self
    }

    /// Exports the figures as OTLP metrics (off by default).
    pub fn export_metrics(mut self, export: MetricsExport) -> Self {
        self.metrics = Some(export);
        self
    }

    /// The open-span threshold.
    pub fn open_span_threshold_setting(&self) -> Duration {
        self.open_span_threshold
    }

    /// The metrics export, if it is on.
    pub fn metrics_setting(&self) -> Option<&MetricsExport> {
        self.metrics.as_ref()
    }

    /// The default config with the variables of the module docs read through `lookup`.
    ///
    /// # Errors
    /// A variable that does not parse, named with its value; an exporter other than `otlp`
    /// or `none` in `OTEL_METRICS_EXPORTER` ([`Error::is_unsupported`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let mut c = ObserveConfig::default();
        if let Some(v) = ringspan::env_var(&lookup, "RINGSPAN_OPEN_SPAN_THRESHOLD") {
            c.open_span_threshold = crate::env::millis("RINGSPAN_OPEN_SPAN_THRESHOLD", &v)?;
        }
        let Some(list) = ringspan::env_var(&lookup, "OTEL_METRICS_EXPORTER") else {
            return Ok(c);
        };
        let mut otlp = false;
        for name in list.split(',').map(str::trim) {
            match name {
                "otlp" => otlp = true,
                "none" => {}
                _ => return Err(Error::unsupported("OTEL_METRICS_EXPORTER", name)),
            }
        }
        if otlp {
            let exporter = ExporterConfig::signal_from_lookup(Signal::Metrics, &lookup)?;
            let mut export = MetricsExport::new(exporter)?;
            if let Some(v) = ringspan::env_var(&lookup, "OTEL_METRIC_EXPORT_INTERVAL") {
                export.interval = crate::env::millis("OTEL_METRIC_EXPORT_INTERVAL", &v)?;
            }
            let var = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
            if let Some(v) = ringspan::env_var(&lookup, var) {
                export.temporality = TemporalityPreference::parse(&v).ok_or_else(|| {
                    Error::config(var, &v, "must be cumulative, delta or lowmemory")
                })?;
            }
            c.metrics = Some(export);
        }
        Ok(c)
    }

    /// [`ObserveConfig::from_lookup`] over the process's environment.
    ///
    /// # Errors
    /// As `from_lookup`, and for a variable that is not UTF-8.
    pub fn from_env() -> Result<Self, Error> {
        ringspan::from_process_env(|lookup| Self::from_lookup(lookup))
    }
}

/// Where and how often the pipeline exports its own metrics.
#[derive(Clone, Debug)]
pub struct MetricsExport {
    pub(crate) exporter: ExporterConfig,
    pub(crate) interval: Duration,
    pub(crate) temporality: TemporalityPreference,
}

impl MetricsExport {
    /// Exports every 60 s through `exporter`, a config for metrics
    /// ([`ExporterConfig::for_signal`] with [`Signal::Metrics`]).
    ///
    /// # Errors
    /// A configuration error if `exporter` is a traces config (its endpoint would be
    /// `/v1/traces`).
    pub fn new(exporter: ExporterConfig) -> Result<Self, Error> {
        if exporter.signal() != Signal::Metrics {
            return Err(Error::config(
                "metrics exporter signal",
                format!("{:?}", exporter.signal()),
                "build the config with ExporterConfig::for_signal(Signal::Metrics)",
            ));
        }
        Ok(MetricsExport {
            exporter,
            interval: Duration::from_secs(60),
            temporality: TemporalityPreference::Cumulative,
        })
    }

    /// The temporality asked for the application's instruments (default cumulative;
    /// ringspan's own metrics are always cumulative).
    pub fn temporality(mut self, preference: TemporalityPreference) -> Self {
        self.temporality = preference;
        self
    }

    /// The temporality asked for.
    pub fn temporality_setting(&self) -> TemporalityPreference {
        self.temporality
    }

    /// The time between two exports (default 60 s, as `OTEL_METRIC_EXPORT_INTERVAL`).
    pub fn interval(mut self, d: Duration) -> Self {
        self.interval = d;
        self
    }

    /// Checks the settings (the metrics exporter's, and an interval of at least 1 ms).
    pub(crate) fn validate(&self) -> Result<(), Error> {
        self.exporter.validate()?;
        if self.interval.is_zero() {
            return Err(Error::config(
                "metrics export interval",
                "0",
                "must be at least 1 ms",
            ));
        }
        Ok(())
    }

    /// The time between two exports.
    pub fn interval_setting(&self) -> Duration {
        self.interval
    }

    /// Where the metrics go.
    pub fn exporter_setting(&self) -> &ExporterConfig {
        &self.exporter
    }
}

/// What a running pipeline keeps to watch itself.
pub(crate) struct Observer {
    pub(crate) watch: watch::Watch,
    pub(crate) open_span_threshold: Duration,
    pub(crate) heap: Option<&'static dyn HeapStats>,
    /// The pipeline's start: every cumulative point starts here.
    pub(crate) start_unix_nanos: u64,
    pub(crate) resource: ringspan::otlp::Resource,
}

impl Observer {
    pub(crate) fn new(config: &ObserveConfig, resource: ringspan::otlp::Resource) -> Self {
        Observer {
            watch: watch::Watch::default(),
            open_span_threshold: config.open_span_threshold,
            heap: config.heap,
            start_unix_nanos: unix_nanos(),
            resource,
        }
    }
}

/// Takes one reading of what the watch judges over time (rings, the exporter's backlog):
/// the admin endpoint's watcher does, once a second.
#[cfg_attr(not(feature = "admin"), allow(dead_code))]
pub(crate) fn tick(core: &crate::pipeline::Core) {
    let backlog = core.report().export.in_flight();
    let rings: Vec<ringspan::RingGauge> = core.engine().ring_gauges().collect();
    core.observer().watch.observe(watch::Reading {
        rings: &rings,
        backlog,
    });
}

/// Now, in Unix nanoseconds.
pub(crate) fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
