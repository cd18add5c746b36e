//! The metrics exporter: every interval, the pipeline's figures read into families
//! (`families.rs`), encoded as one `ExportMetricsServiceRequest` and sent to `/v1/metrics`
//! with the span exporter's machinery (`send.rs`: compression, headers, TLS, retries,
//! `Retry-After`, partial success), on a thread of its own (`ringspan-metrics`) with a
//! one-thread tokio runtime.
//!
//! One export at a time: a tick that comes while an export still retries waits for it
//! (cumulative values lose nothing by a late export). At shutdown, after spans are settled,
//! one last export carries the final counts, within what is left of the deadline. A
//! periodic export still in flight when shutdown begins is given up after a short grace
//! (250 ms, at most a quarter of the time left) when every point is cumulative (the final
//! export carries newer values of the same points, and needs the time); its points then
//! count as dropped (`shutdown`). With a delta preference it may
//! finish (within the deadline) first: its deltas are in no later export. A delta export
//! that fails is lost and counted, as in the OpenTelemetry SDKs: sending its deltas again
//! could count twice what a collector did take.
//!
//! Each export also carries the application's instruments (`ringspan::Engine::metric`),
//! under the engine's scope, written by one `MetricsEncoder` that keeps what delta points
//! need from one export to the next.
//!
//! Accounting, in data points: every point of every export is handed, then exported,
//! rejected (partial success) or dropped by reason, exactly as spans are
//! ([`crate::Pipeline::metrics_counts`]).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringspan::otlp::{
    MetricMeta, MetricsEncoder, MetricsRequest, Number, NumberPoint, Temporality,
    TemporalityPreference,
};
use ringspan::{IdGenerator, ValueRef};
use tokio::sync::watch;

use super::families::{read, Family, Value};
use super::{unix_nanos, MetricsExport, Observer};
use crate::config::Compression;
use crate::error::Error;
use crate::pipeline::Core;
use crate::send::{gzip, send_body, Ctx};
use crate::stats::{ExportCounts, ExportStats, Outcome, Settle};
use crate::worker::{deadline, Worker};

/// The running exporter: stop it with [`MetricsExporter::shutdown`].
pub(crate) struct MetricsExporter {
    worker: Worker,
    stats: Arc<ExportStats>,
}

impl MetricsExporter {
    /// Starts exporting `core`'s figures as `config` says.
    pub(crate) fn start(core: Arc<Core>, config: MetricsExport) -> Result<Self, Error> {
        config.validate()?;
        let stats = Arc::new(ExportStats::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the metrics exporter's tokio runtime", e))?;
        let exporter = &config.exporter;
        let client = {
            let _enter = runtime.enter();
            crate::client::build(exporter)?
        };
        let ctx = Ctx::new(client, exporter, Arc::clone(&stats));
        let interval = config.interval;
        let temporality = config.temporality;
        let worker = Worker::spawn(
            "ringspan-metrics",
            "metrics exporter shutdown",
            runtime,
            move |stop| async move { run(&core, &ctx, interval, temporality, stop).await },
        )?;
        Ok(MetricsExporter { worker, stats })
    }

    /// The counters now (in data points).
    pub(crate) fn counts(&self) -> ExportCounts {
        self.stats.counts()
    }

    /// The last failure, for a person.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.stats.last_error()
    }

    /// Makes the last export (the final counts) within `timeout` and stops the thread.
    /// Calling it again returns the same counts.
    pub(crate) fn shutdown(&mut self, timeout: Duration) -> Result<ExportCounts, Error> {
        self.worker.stop(timeout)?;
        Ok(self.counts())
    }
}

impl Drop for MetricsExporter {
    fn drop(&mut self) {
        let _ = self.shutdown(Duration::from_secs(5));
    }
}

/// Exports every `interval` until shutdown begins, then once more.
async fn run(
    core: &Core,
    ctx: &Ctx,
    interval: Duration,
    temporality: TemporalityPreference,
    stop: watch::Receiver<Option<Instant>>,
) {
    let mut jitter = IdGenerator::new(0x6d65_7472_6963);
    let mut instruments = MetricsEncoder::new(temporality);
    // See the module docs.
    let periodic_cut = if temporality == TemporalityPreference::Cumulative {
        Cut::AtShutdown
    } else {
        Cut::AtDeadline
    };
    let start = tokio::time::Instant::now() + interval;
    let mut tick = tokio::time::interval_at(start, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = stop.clone();
    loop {
        tokio::select! {
            // Shutdown first: a tick that is also due must not delay the final export.
            biased;
            _ = shutdown.wait_for(Option::is_some) => break,
            _ = tick.tick() => {}
        }
        let cut = periodic_cut;
        export_once(core, ctx, &mut jitter, &mut instruments, stop.clone(), cut).await;
    }
    export_once(
        core,
        ctx,
        &mut jitter,
        &mut instruments,
        stop,
        Cut::AtDeadline,
    )
    .await;
}

/// How long a periodic export of cumulative points still in flight when shutdown begins
/// may take to finish (at most a quarter of the time left) before it is given up.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(250);

/// When an export in progress gives up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Shortly after shutdown begins (a periodic export of cumulative points: the final
    /// one, with newer values, is about to follow and needs the time left).
    AtShutdown,
    /// At the shutdown deadline (the final export, and a periodic one carrying deltas).
    AtDeadline,
}

/// Resolves when an export started with `cut` must give up.
async fn give_up(cut: Cut, mut stop: watch::Receiver<Option<Instant>>) {
    match cut {
        Cut::AtShutdown => {
            let deadline = match stop.wait_for(Option::is_some).await {
                Ok(at) => *at,
                // The handle is gone without a shutdown: never.
                Err(_) => std::future::pending().await,
            };
            // A grace for an export about to finish (it usually is: a tick and the end of
            // the work often come together), at most a quarter of the time left.
            let now = Instant::now();
            let left = deadline.map_or(Duration::ZERO, |d| d.saturating_duration_since(now));
            tokio::time::sleep(SHUTDOWN_GRACE.min(left / 4)).await;
        }
        Cut::AtDeadline => deadline(stop).await,
    }
}

/// Reads, encodes and sends the figures once. A send given up (see [`Cut`]) counts its
/// points as `shutdown`, or as exported once a 2xx status was in; a panic counts them as
/// `panicked`.
async fn export_once(
    core: &Core,
    ctx: &Ctx,
    jitter: &mut IdGenerator,
    instruments: &mut MetricsEncoder,
    stop: watch::Receiver<Option<Instant>>,
    cut: Cut,
) {
    let observer = core.observer();
    let families = read(core, observer, observer.heap);
    let reading = core.engine().read_metrics();
    // After the reading: no series in it was bound later than its points' time.
    let now = unix_nanos();
    let mut req = encode(&families, observer, now);
    if reading.series() > 0 {
        req.scope(core.engine().scope(), "");
        instruments.encode(&reading, &mut req, now);
    }
    let points = req.points();
    let bytes = req.finish();
    let started = Instant::now();
    ctx.stats.handed(points);
    let guard = Settle::new(points, &ctx.stats);
    let body = match ctx.compression {
        Compression::None => Bytes::from(bytes),
        Compression::Gzip => gzip(&bytes),
    };
    let delivered = AtomicBool::new(false);
    let outcome = tokio::select! {
        outcome = send_body(body, started, ctx, jitter, &delivered) => outcome,
        _ = give_up(cut, stop) => {
            // Relaxed: set by the send future above, on this same task.
            if delivered.load(std::sync::atomic::Ordering::Relaxed) {
                Outcome::Accepted {
                    rejected: crate::send::body_lost(ctx, "shutdown cut the response body"),
                }
            } else {
                Outcome::Shutdown
            }
        }
    };
    guard.settle(outcome);
}

/// The families as one request (more may be added to it): counters as cumulative monotonic
/// sums from the pipeline's start, gauges as gauges, every point stamped `now`.
pub(crate) fn encode(families: &[Family], observer: &Observer, now: u64) -> MetricsRequest {
    let mut req = MetricsRequest::new(&observer.resource, "ringspan", env!("CARGO_PKG_VERSION"));
    for f in families {
        let meta = MetricMeta {
            name: f.name,
            description: f.help,
            unit: f.unit.ucum(),
        };
        let attrs: Vec<Vec<(&str, ValueRef<'_>)>> = f
            .series
            .iter()
            .map(|(labels, _)| labels.iter().map(|(k, v)| (*k, ValueRef::Str(v))).collect())
            .collect();
        let counter = matches!(f.series.first(), Some((_, Value::Count(_))));
        let points: Vec<NumberPoint<'_>> = f
            .series
            .iter()
            .zip(&attrs)
            .map(|((_, v), a)| NumberPoint {
                attributes: a,
                start_unix_nanos: if counter {
                    observer.start_unix_nanos
                } else {
                    0
                },
                time_unix_nanos: now,
                value: match *v {
                    Value::Count(n) => Number::U64(n),
                    Value::Gauge(g) => Number::F64(g),
                },
            })
            .collect();
        if counter {
            req.sum(&meta, Temporality::Cumulative, true, &points);
        } else {
            req.gauge(&meta, &points);
        }
    }
    req
}
