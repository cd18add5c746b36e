//! The HTTP exporter: the drain thread hands it finished requests without waiting, and a
//! small tokio runtime on a thread of its own (`ringspan-export`) sends them.
//!
//! # Flow and backpressure
//! [`HttpExporter::export`] (on the drain thread) pushes the request onto a channel: no
//! blocking, no copy. The channel needs no bound of its own: it can never hold more requests
//! than the encoder's pool has buffers, because every request holds one. The dispatcher takes
//! a request only when one of `max_in_flight` send slots is free, and a request keeps its
//! buffer until it is settled (without compression; with gzip, the buffer goes back once the
//! compressed copy exists). So while the collector is slow or down, buffers stay out, the
//! encoder refuses spans, the drain stops and the rings fill: producers drop and count, memory
//! stays where it was at start. When the collector recovers, the sends finish, buffers come
//! back and everything resumes by itself.
//!
//! # Shutdown
//! [`ExporterHandle::shutdown`] stops taking new requests, lets queued and in-flight ones
//! finish until the deadline, then counts what is left as `dropped.shutdown` (or, for a
//! request whose 2xx status was in and only its body was still coming, as exported with
//! `bodies_lost`) and stops the thread. Shut the engine down first, so its last requests reach the exporter.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringspan::otlp::{EncodedRequest, Exporter};
use ringspan::IdGenerator;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::config::ExporterConfig;
use crate::error::Error;
use crate::send::{body_lost, send, Ctx};
use crate::stats::{ExportCounts, ExportStats, Outcome, Settle};
use crate::worker::{deadline, Worker};

/// The [`Exporter`] the OTLP sink hands its requests to. Build it with [`HttpExporter::start`].
pub struct HttpExporter {
    queue: mpsc::UnboundedSender<EncodedRequest>,
    stats: Arc<ExportStats>,
}

impl std::fmt::Debug for HttpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpExporter").finish_non_exhaustive()
    }
}

impl Exporter for HttpExporter {
    fn export(&mut self, request: EncodedRequest) {
        // Its spans, or its log records: an exporter sends one signal.
        let records = request.records() as u64;
        self.stats.handed(records);
        if self.queue.send(request).is_err() {
            // The exporter has stopped; dropping the request returns its buffer.
            self.stats.settle(records, Outcome::Shutdown);
        }
    }
}

/// Owns the exporter's thread: read its counters, shut it down.
pub struct ExporterHandle {
    worker: Worker,
    stats: Arc<ExportStats>,
}

impl std::fmt::Debug for ExporterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExporterHandle")
            .field("counts", &self.stats.counts())
            .finish()
    }
}

impl HttpExporter {
    /// Validates `config`, builds the HTTP client and starts the `ringspan-export` thread
    /// (`ringspan-logs` for a logs exporter: Linux keeps 15 bytes of a thread name, which would cut a longer one to the span exporter's). Give the [`HttpExporter`] to an
    /// [`ringspan::otlp::OtlpSink`] (a logs exporter to [`ringspan::otlp::OtlpSink::with_logs`]);
    /// keep the handle. Its counts are in the config's signal's items: spans, or log records.
    ///
    /// # Errors
    /// An invalid setting, a CA file that cannot be read, or a thread that cannot start.
    pub fn start(config: ExporterConfig) -> Result<(HttpExporter, ExporterHandle), Error> {
        config.validate()?;
        let thread = match config.signal {
            crate::config::Signal::Traces => "ringspan-export",
            crate::config::Signal::Logs => "ringspan-logs",
            crate::config::Signal::Metrics => {
                return Err(Error::config(
                    "exporter signal",
                    format!("{:?}", config.signal),
                    "this exporter sends the encoder's requests, traces or logs: metrics go through the metrics exporter (crate::observe)",
                ))
            }
        };
        let stats = Arc::new(ExportStats::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the exporter's tokio runtime", e))?;
        // The client's pool and connector spawn onto the runtime: build it inside.
        let client = {
            let _enter = runtime.enter();
            crate::client::build(&config)?
        };
        let ctx = Arc::new(Ctx::new(client, &config, Arc::clone(&stats)));
        let (queue, requests) = mpsc::unbounded_channel();
        let in_flight = config.max_in_flight;
        let worker = Worker::spawn(thread, "exporter shutdown", runtime, move |stop| {
            dispatch(requests, ctx, stop, in_flight)
        })?;
        let exporter = HttpExporter {
            queue,
            stats: Arc::clone(&stats),
        };
        let handle = ExporterHandle { worker, stats };
        Ok((exporter, handle))
    }
}

impl ExporterHandle {
    /// The live counters (shared).
    pub fn stats(&self) -> Arc<ExportStats> {
        Arc::clone(&self.stats)
    }

    /// The counters now.
    pub fn counts(&self) -> ExportCounts {
        self.stats.counts()
    }

    /// Whether [`ExporterHandle::shutdown`] has stopped the thread: the counts are final.
    pub fn has_stopped(&self) -> bool {
        self.worker.has_stopped()
    }

    /// Sends what is queued and in flight until `timeout` runs out, drops and counts the rest
    /// (`dropped.shutdown`), stops the thread and returns the final counts. Calling it again
    /// returns the same counts; after a call that timed out, it waits again.
    ///
    /// # Errors
    /// [`Error::is_timeout`] if the thread did not stop within the deadline plus a second.
    pub fn shutdown(&mut self, timeout: Duration) -> Result<ExportCounts, Error> {
        self.worker.stop(timeout)?;
        Ok(self.counts())
    }
}

impl Drop for ExporterHandle {
    fn drop(&mut self) {
        let _ = self.shutdown(Duration::from_secs(5));
    }
}

/// Takes requests as send slots free up, and spawns a task to settle each.
async fn dispatch(
    mut requests: mpsc::UnboundedReceiver<EncodedRequest>,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<Option<Instant>>,
    in_flight: usize,
) {
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut tasks = JoinSet::new();
    let mut closing = false;
    let mut jitter = IdGenerator::new(0x6578_706f_7274);
    loop {
        let slot = tokio::select! {
            biased;
            _ = deadline(stop.clone()) => break,
            s = Arc::clone(&slots).acquire_owned() => s,
        };
        let Ok(slot) = slot else { break };
        let request = tokio::select! {
            biased;
            _ = deadline(stop.clone()) => break,
            r = requests.recv() => r,
            _ = stop.changed(), if !closing => {
                // Shutdown began: take what is queued, then `recv` returns `None`.
                requests.close();
                closing = true;
                continue;
            }
        };
        let Some(request) = request else { break };
        let ctx = Arc::clone(&ctx);
        let stop = stop.clone();
        let mut rng = IdGenerator::from_seed(jitter.next_u64());
        tasks.spawn(async move {
            let _slot = slot;
            let settle = Settle::new(request.records() as u64, &ctx.stats);
            let delivered = AtomicBool::new(false);
            let outcome = tokio::select! {
                biased;
                o = send(request, &ctx, &mut rng, &delivered) => o,
                // Relaxed: set by `send`, in this task.
                _ = deadline(stop) => match delivered.load(Ordering::Relaxed) {
                    // The status was 2xx: the collector has the batch; only its body was cut.
                    true => Outcome::Accepted {
                        rejected: body_lost(&ctx, "2xx, but the shutdown deadline cut the response body"),
                    },
                    false => Outcome::Shutdown,
                },
            };
            settle.settle(outcome);
        });
        while tasks.try_join_next().is_some() {}
    }
    // The deadline passed, or shutdown began and the queue is empty. Whatever is still queued
    // is dropped and counted; running tasks settle by the deadline. `recv` (not `try_recv`)
    // after `close`: it returns `None` only once no send is still half-way in.
    requests.close();
    while let Some(r) = requests.recv().await {
        ctx.stats.settle(r.records() as u64, Outcome::Shutdown);
    }
    while tasks.join_next().await.is_some() {}
}
