//! One-call setup: engine + drain + OTLP encoder + HTTP exporter from one config, and one
//! `shutdown` that flushes it all and returns the final accounting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringspan::otlp::{OtlpConfig, OtlpSink, OtlpStats};
use ringspan::{Dropped, Engine, EngineConfig, LogsDropped, Snapshot};

use crate::config::{ExporterConfig, Signal};
use crate::error::Error;
use crate::exporter::{ExporterHandle, HttpExporter};
use crate::observe::{MetricsExporter, ObserveConfig, Observer};
use crate::stats::{ExportCounts, ExportDropped, ExportStats};

/// Everything a [`Pipeline`] is built from.
#[derive(Clone, Debug, Default)]
pub struct PipelineConfig {
    /// Rings, sampler, batching, drain.
    pub engine: EngineConfig,
    /// Request sizes, buffer pool, resource.
    pub otlp: OtlpConfig,
    /// Endpoint, headers, compression, TLS, retries.
    pub exporter: ExporterConfig,
    /// Where log records go ([`ringspan::Producer::log`]): by default with the span
    /// exporter's settings, to `/v1/logs`.
    pub logs: LogsExport,
    /// The open-span threshold, and the export of the pipeline's own metrics (off by
    /// default; see [`crate::observe`]).
    pub observe: ObserveConfig,
}

impl PipelineConfig {
    /// Every standard variable ringspan reads: `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER{,_ARG}`,
    /// `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_*`,
    /// `OTEL_LOGS_EXPORTER` and `OTEL_BLRP_EXPORT_TIMEOUT` (see [`LogsExport`]),
    /// `OTEL_METRICS_EXPORTER` and `OTEL_METRIC_EXPORT_*` (see [`crate::observe`]; and
    /// [`ringspan`'s list](ringspan#configuration-from-the-environment) and [`crate::env`]). Change the fields afterwards to override them.
    ///
    /// # Errors
    /// The first variable that does not parse, named with its value.
    pub fn from_env() -> Result<Self, Error> {
        ringspan::from_process_env(|lookup| Self::from_lookup(lookup))
    }

    /// [`PipelineConfig::from_env`] with the variables read through `lookup`.
    ///
    /// # Errors
    /// As for [`PipelineConfig::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        Ok(PipelineConfig {
            engine: EngineConfig::from_lookup(&lookup)?,
            otlp: OtlpConfig::from_lookup(&lookup)?,
            exporter: ExporterConfig::from_lookup(&lookup)?,
            logs: LogsExport::from_lookup(&lookup)?,
            observe: ObserveConfig::from_lookup(&lookup)?,
        })
    }
}

/// Where a [`Pipeline`] sends log records.
///
/// From the environment: `OTEL_LOGS_EXPORTER=none` turns logs off, `otlp` (or unset) keeps
/// them on; with any `OTEL_EXPORTER_OTLP_LOGS_*` variable or `OTEL_BLRP_EXPORT_TIMEOUT` set,
/// the logs exporter gets its own settings (those over the generic `OTEL_EXPORTER_OTLP_*`,
/// as the spec orders them), else it follows the span exporter's.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum LogsExport {
    /// The span exporter's settings (as set in code or from the environment), to its
    /// endpoint with `/v1/logs` in place of `/v1/traces`. With a traces endpoint whose path
    /// does not end in `/v1/traces`, logs are off (counted as `logs.dropped.off`): give them
    /// a config of their own.
    #[default]
    FollowTraces,
    /// Settings of their own ([`ExporterConfig::for_signal`]`(Signal::Logs)`).
    Own(Box<ExporterConfig>),
    /// No logs exporter: the engine makes no log rings, and every log record is counted as
    /// `logs.dropped.off`.
    Off,
}

impl LogsExport {
    /// Reads `OTEL_LOGS_EXPORTER` and the logs exporter's variables through `lookup`.
    ///
    /// # Errors
    /// A variable that does not parse; an exporter other than `otlp` or `none` in
    /// `OTEL_LOGS_EXPORTER` ([`Error::is_unsupported`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        if let Some(list) = ringspan::env_var(&lookup, "OTEL_LOGS_EXPORTER") {
            let mut otlp = false;
            for name in list.split(',').map(str::trim) {
                match name {
                    "otlp" => otlp = true,
                    "none" => {}
                    _ => return Err(Error::unsupported("OTEL_LOGS_EXPORTER", name)),
                }
            }
            if !otlp {
                return Ok(LogsExport::Off);
            }
        }
        const OWN: [&str; 7] = [
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
            "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
            "OTEL_BLRP_EXPORT_TIMEOUT",
        ];
        if OWN.iter().any(|v| ringspan::env_var(&lookup, v).is_some()) {
            return Ok(LogsExport::Own(Box::new(
                ExporterConfig::signal_from_lookup(Signal::Logs, &lookup)?,
            )));
        }
        Ok(LogsExport::FollowTraces)
    }

    /// The logs exporter's config for a pipeline whose span exporter is `traces`, if any.
    fn resolve(&self, traces: &ExporterConfig) -> Result<Option<ExporterConfig>, Error> {
        match self {
            LogsExport::FollowTraces => Ok(traces.follow_for_logs()),
            LogsExport::Own(c) if c.signal() != Signal::Logs => Err(Error::config(
                "PipelineConfig::logs",
                format!("{:?}", c.signal()),
                "the logs exporter's config must be for Signal::Logs (ExporterConfig::for_signal)",
            )),
            LogsExport::Own(c) => Ok(Some((**c).clone())),
            LogsExport::Off => Ok(None),
        }
    }
}

/// Where every recorded span went, engine and exporter together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Sampled spans recorded by producers.
    pub recorded: u64,
    /// Spans the collector accepted.
    pub exported: u64,
    /// Spans the collector refused in a partial success.
    pub rejected: u64,
    /// Spans the engine dropped, by reason (ring full, shutdown, too large, ...).
    pub dropped: Dropped,
    /// Spans the exporter dropped, by reason (retries exhausted, not retryable, shutdown).
    pub export_dropped: ExportDropped,
    /// The engine's own counters.
    pub engine: Snapshot,
    /// The exporter's own counters.
    pub export: ExportCounts,
    /// The same for log records.
    pub logs: LogsReport,
}

/// Where every log record went ([`Report::logs`]), engine and logs exporter together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogsReport {
    /// Log records recorded by producers.
    pub recorded: u64,
    /// Log records the collector accepted.
    pub exported: u64,
    /// Log records the collector refused in a partial success (`rejected_log_records`).
    pub rejected: u64,
    /// Log records the engine dropped, by reason (ring full, off, shutdown, ...).
    pub dropped: LogsDropped,
    /// Log records the logs exporter dropped, by reason.
    pub export_dropped: ExportDropped,
    /// The logs exporter's own counters, in log records (zero without one).
    pub export: ExportCounts,
    /// Log records the engine handed to the encoder (`Snapshot::logs.delivered`), and those
    /// waiting in log rings.
    delivered: u64,
    in_rings: u64,
}

impl LogsReport {
    /// All dropped log records, engine and exporter.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.total() + self.export_dropped.total()
    }

    /// Whether `recorded = exported + rejected + dropped` holds exactly, with the engine's
    /// hand-off matching the exporter's intake. True after a clean shutdown.
    pub fn is_settled(&self) -> bool {
        self.recorded == self.exported + self.rejected + self.dropped_total()
            && self.delivered + self.dropped.sink_panicked
                == self.export.handed + self.dropped.sink_panicked
            && self.in_rings == 0
    }
}

impl Report {
    fn new(engine: Snapshot, export: ExportCounts, logs: ExportCounts) -> Report {
        Report {
            recorded: engine.recorded,
            exported: export.exported,
            rejected: export.rejected,
            dropped: engine.dropped,
            export_dropped: export.dropped,
            engine,
            export,
            logs: LogsReport {
                recorded: engine.logs.recorded,
                exported: logs.exported,
                rejected: logs.rejected,
                dropped: engine.logs.dropped,
                export_dropped: logs.dropped,
                export: logs,
                delivered: engine.logs.delivered,
                in_rings: engine.logs.in_rings,
            },
        }
    }

    /// All dropped spans, engine and exporter.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.total() + self.export_dropped.total()
    }

    /// Spans not yet settled: in rings, in the encoder or in the exporter.
    pub fn unsettled(&self) -> u64 {
        self.recorded
            .saturating_sub(self.exported + self.rejected + self.dropped_total())
    }

    /// Whether `recorded = exported + rejected + dropped` holds exactly, with the engine's
    /// hand-off matching the exporter's intake (less what a panicking encoder lost). True
    /// after a clean shutdown; while running, spans on their way make it false.
    pub fn is_settled(&self) -> bool {
        // Without a panic both sides of the hand-off are `delivered == handed`.
        self.recorded == self.exported + self.rejected + self.dropped_total()
            && self.engine.delivered + self.engine.dropped.sink_panicked
                == self.export.handed + self.dropped.sink_panicked
            && self.engine.in_rings == 0
    }

    /// The report once both the engine and the exporter have stopped. If the encoder
    /// panicked, `dropped.sink_panicked` becomes every span it was offered that never
    /// reached the exporter: those it had taken (delivered by the engine's count) and those
    /// of the call that panicked, less any of them it had already handed on (which the
    /// exporter counts). Never negative: whatever reached the exporter came from those.
    fn settled(engine: Snapshot, export: ExportCounts, logs: ExportCounts) -> Report {
        let mut report = Report::new(engine, export, logs);
        if engine.sink_panicked {
            report.dropped.sink_panicked =
                (engine.delivered + engine.dropped.sink_panicked).saturating_sub(export.handed);
            report.logs.dropped.sink_panicked = (engine.logs.delivered
                + engine.logs.dropped.sink_panicked)
                .saturating_sub(logs.handed);
        }
        report
    }
}

/// A running engine wired to an OTLP/HTTP exporter.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringspan_receiver::Receiver; // an OTLP/HTTP endpoint on loopback, for tests
/// use ringspan_transport::{Pipeline, PipelineConfig};
///
/// let receiver = Receiver::start(Default::default())?;
/// let mut config = PipelineConfig::default();
/// config.exporter = config.exporter.base_endpoint(&receiver.endpoint())?;
/// let pipeline = Pipeline::start(config)?;
///
/// let producer = pipeline.engine().producer()?;
/// drop(producer.span("checkout"));
/// drop(producer);
///
/// let report = pipeline.shutdown(Duration::from_secs(5))?;
/// assert_eq!((report.recorded, report.exported), (1, 1));
/// assert!(report.is_settled());
/// assert_eq!(receiver.counts().spans, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pipeline {
    core: Arc<Core>,
    metrics: Mutex<Option<MetricsExporter>>,
}

/// What the pipeline's threads share: the engine, the span exporter's handle, the encoder's
/// counters and the observer (the metrics exporter and the admin endpoint read them).
pub(crate) struct Core {
    engine: Engine,
    /// Locked only to shut the exporter down: readers use `export_stats`.
    exporter: Mutex<ExporterHandle>,
    export_stats: Arc<ExportStats>,
    /// Set once the exporter's thread has stopped (its counts are final).
    export_stopped: AtomicBool,
    /// The logs exporter, if logs are on, and its counters.
    logs_exporter: Mutex<Option<ExporterHandle>>,
    logs_stats: Option<Arc<ExportStats>>,
    sink: Arc<OtlpStats>,
    observer: Observer,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("engine", &self.core.engine)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Starts the exporter, the encoder and the engine (and the metrics exporter, if the
    /// config asks for one).
    ///
    /// # Errors
    /// An invalid setting (named), a CA file that cannot be read, or a thread that cannot start.
    pub fn start(config: PipelineConfig) -> Result<Pipeline, Error> {
        let observer = Observer::new(&config.observe, config.otlp.resource_setting().clone());
        if let Some(m) = &config.observe.metrics {
            // Before any thread starts, so that a bad setting starts nothing.
            m.validate()?;
        }
        let logs = config.logs.resolve(&config.exporter)?;
        if let Some(l) = &logs {
            l.validate()?;
        }
        let (exporter, handle) = HttpExporter::start(config.exporter)?;
        let mut sink = OtlpSink::new(config.otlp, exporter)?;
        let logs_handle = match logs {
            Some(l) => {
                let (logs_exporter, logs_handle) = HttpExporter::start(l)?;
                sink = sink.with_logs(logs_exporter);
                Some(logs_handle)
            }
            None => None,
        };
        let sink_stats = sink.stats();
        let engine = Engine::start(config.engine, sink)?;
        let core = Arc::new(Core {
            engine,
            export_stats: handle.stats(),
            exporter: Mutex::new(handle),
            export_stopped: AtomicBool::new(false),
            logs_stats: logs_handle.as_ref().map(ExporterHandle::stats),
            logs_exporter: Mutex::new(logs_handle),
            sink: sink_stats,
            observer,
        });
        let metrics = match config.observe.metrics {
            Some(export) => Some(MetricsExporter::start(Arc::clone(&core), export)?),
            None => None,
        };
        Ok(Pipeline {
            core,
            metrics: Mutex::new(metrics),
        })
    }

    /// [`Pipeline::start`] with [`PipelineConfig::from_env`].
    ///
    /// # Errors
    /// As for both.
    pub fn from_env() -> Result<Pipeline, Error> {
        Self::start(PipelineConfig::from_env()?)
    }

    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// The engine, to claim producers from.
    pub fn engine(&self) -> &Engine {
        &self.core.engine
    }

    /// The encoder's counters (requests, bytes, buffer waits).
    pub fn encoder_stats(&self) -> &OtlpStats {
        &self.core.sink
    }

    /// The exporter's most recent failure, for a person to read (never holds header values).
    pub fn last_export_error(&self) -> Option<String> {
        self.core.last_export_error()
    }

    /// How long ago the exporter's most recent failure happened (`None` if none did).
    pub fn last_export_error_age(&self) -> Option<Duration> {
        self.core.last_export_error_age()
    }

    /// The accounting now.
    pub fn report(&self) -> Report {
        self.core.report()
    }

    /// The metrics exporter's accounting, in data points (`None` when it is off): after
    /// [`Pipeline::shutdown`], `handed = exported + rejected + dropped` exactly.
    pub fn metrics_counts(&self) -> Option<ExportCounts> {
        let m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        m.as_ref().map(MetricsExporter::counts)
    }

    /// The metrics exporter's most recent failure, for a person (never holds header values).
    pub fn last_metrics_error(&self) -> Option<String> {
        let m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        m.as_ref().and_then(MetricsExporter::last_error)
    }

    /// Stops recording, drains the rings, sends everything it can before `timeout` runs out,
    /// and returns the final accounting: what was exported, rejected, and dropped by reason.
    /// With the metrics exporter on, it then sends the final figures, within what is left of
    /// `timeout`.
    ///
    /// # Errors
    /// [`Error::is_timeout`] if a thread did not stop in time; [`Pipeline::report`] still
    /// reports.
    pub fn shutdown(&self, timeout: Duration) -> Result<Report, Error> {
        let started = Instant::now();
        let engine = self.core.engine.shutdown(timeout);
        let left = timeout.saturating_sub(started.elapsed());
        // The two exporters wind down side by side, each within what is left.
        let mut logs_exporter = self
            .core
            .logs_exporter
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (export, logs) = std::thread::scope(|s| {
            let logs = logs_exporter
                .as_mut()
                .map(|l| s.spawn(move || (l.shutdown(left), l.has_stopped())));
            let mut exporter = self.core.exporter.lock().unwrap_or_else(|e| e.into_inner());
            let export = exporter.shutdown(left);
            let logs = logs.map(|h| {
                h.join().unwrap_or_else(|_| {
                    (Err(Error::timeout("logs exporter shutdown", left)), false)
                })
            });
            let stopped = exporter.has_stopped() && logs.as_ref().is_none_or(|l| l.1);
            // Release: pairs with the Acquire in `Core::report`; whoever sees the flag sees
            // the final counts.
            self.core.export_stopped.store(stopped, Ordering::Release);
            (export, logs.map(|l| l.0))
        });
        drop(logs_exporter);
        let metrics = match &mut *self.metrics.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(m) => m
                .shutdown(timeout.saturating_sub(started.elapsed()))
                .map(|_| ()),
            None => Ok(()),
        };
        let engine = engine?;
        let logs = match logs {
            Some(l) => l?,
            None => ExportCounts::default(),
        };
        let report = Report::settled(engine, export?, logs);
        metrics?;
        Ok(report)
    }
}

impl Drop for Pipeline {
    /// Shuts down as [`Pipeline::shutdown`] does, with a 5 s deadline, in the same order
    /// (engine, span exporter, then the final metrics export).
    fn drop(&mut self) {
        let _ = self.shutdown(Duration::from_secs(5));
    }
}

impl Core {
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn encoder_stats(&self) -> &OtlpStats {
        &self.sink
    }

    pub(crate) fn observer(&self) -> &Observer {
        &self.observer
    }

    pub(crate) fn last_export_error(&self) -> Option<String> {
        self.export_stats.last_error()
    }

    pub(crate) fn last_export_error_age(&self) -> Option<Duration> {
        self.export_stats.last_error_age()
    }

    /// The accounting now, without waiting for a shutdown in progress.
    pub(crate) fn report(&self) -> Report {
        // Acquire: see `Pipeline::shutdown`.
        let stopped = self.export_stopped.load(Ordering::Acquire);
        let export = self.export_stats.counts();
        let logs = self
            .logs_stats
            .as_ref()
            .map_or_else(ExportCounts::default, |s| s.counts());
        if stopped {
            Report::settled(self.engine.snapshot(), export, logs)
        } else {
            Report::new(self.engine.snapshot(), export, logs)
        }
    }
}
