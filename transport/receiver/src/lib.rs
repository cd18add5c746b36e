//! An embedded OTLP/HTTP receiver: a hyper server on loopback that accepts `POST /v1/traces`
//! (protobuf, gzip or not), counts requests, spans and bytes, optionally keeps the decoded
//! requests, and can be told to misbehave. The perf harness measures against it; the tests
//! break the exporter with it.
//!
//! It runs on a one-worker tokio runtime of its own (thread `ringspan-receiver`). Stopping it
//! (or dropping it) closes the listener and every connection, like a collector going away;
//! [`Receiver::start`] on the same address brings it back.
//!
//! It also accepts `POST /v1/metrics` (ringspan's own metrics): each request is decoded,
//! its data points counted ([`ReceiverCounts::metric_requests`], `data_points`) and, with
//! [`Keep::Decoded`] or [`Keep::Metrics`], kept with its bytes
//! ([`Receiver::take_metrics`]). And `POST /v1/logs`: its log records counted
//! ([`ReceiverCounts::log_requests`], `log_records`) by the same framing scan as spans, and
//! with [`Keep::Decoded`] kept decoded with their bytes ([`Receiver::take_logs`]). Faults
//! apply to traces only.
//!
//! Answers: 200 with an empty `ExportTraceServiceResponse` (or one with `partial_success`),
//! 400 for a body that is not an `ExportTraceServiceRequest` or not valid gzip, 404 for another
//! path, 405 for another method, 413 for a body over 64 MiB (before or after gzip), 415 for
//! another content type or encoding (`application/json` is not supported).

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod conn;
mod error;
mod scan;
mod service;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

pub use error::Error;
/// The checks the server runs on each request, callable without a server (the fuzz targets
/// drive them).
pub use service::{check_body, check_headers};

/// What the receiver keeps of the requests it accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Keep {
    /// Counts only (a framing scan of spans, no decode; a `/v1/metrics` request is always
    /// decoded, to count its points): cheap enough to run next to a benchmark.
    #[default]
    Count,
    /// Every accepted request, decoded with `opentelemetry-proto`'s types, for
    /// [`Receiver::take_requests`] (and `/v1/metrics` ones for [`Receiver::take_metrics`]).
    Decoded,
    /// Spans counted only (as `Count`), and every `/v1/metrics` request kept decoded, for
    /// [`Receiver::take_metrics`]: what a benchmark that checks its metrics needs.
    Metrics,
}

/// A function each receiver thread runs when it starts.
type ThreadStart = Arc<dyn Fn() + Send + Sync>;

/// Settings of a [`Receiver`].
#[derive(Clone)]
pub struct ReceiverConfig {
    addr: SocketAddr,
    keep: Keep,
    tls: Option<Arc<rustls::ServerConfig>>,
    on_thread_start: Option<ThreadStart>,
    limits: Limits,
}

/// What one client may hold of the receiver: it is a server on a port, and tests, the harness
/// and users point real traffic at it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Connections open at once; more are closed as soon as they are accepted.
    pub(crate) connections: usize,
    /// Time to send a request's headers (HTTP/1.1; also closes a connection idle this long).
    pub(crate) headers: Duration,
    /// Time to send a request's body.
    pub(crate) body: Duration,
    /// Concurrent HTTP/2 streams per connection.
    pub(crate) streams: u32,
    /// Requests served at once over all connections; more get 503 with `Retry-After: 1`.
    pub(crate) requests: u64,
    /// A connection with no request in flight for this long is closed (HTTP/1.1 also at the
    /// header timeout, by hyper); zero: never.
    pub(crate) idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 256,
            headers: Duration::from_secs(10),
            body: Duration::from_secs(30),
            streams: 64,
            requests: 64,
            idle: Duration::from_secs(60),
        }
    }
}

impl std::fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("addr", &self.addr)
            .field("keep", &self.keep)
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            keep: Keep::Count,
            tls: None,
            on_thread_start: None,
            limits: Limits::default(),
        }
    }
}

impl ReceiverConfig {
    /// The address to listen on (default `127.0.0.1:0`, a free loopback port).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// What to keep of accepted requests (default: counts only).
    pub fn keep(mut self, keep: Keep) -> Self {
        self.keep = keep;
        self
    }

    /// Connections open at once (default 256); one more is closed as soon as it is accepted.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.connections = n.max(1);
        self
    }

    /// How long a client may take to send a request's headers (default 10 s). An HTTP/1.1
    /// connection idle this long is closed too.
    pub fn header_timeout(mut self, d: Duration) -> Self {
        self.limits.headers = d;
        self
    }

    /// How long a client may take to send a request's body (default 30 s); past it the
    /// connection is closed and the request counted as malformed.
    pub fn body_timeout(mut self, d: Duration) -> Self {
        self.limits.body = d;
        self
    }

    /// Concurrent HTTP/2 streams per connection (default 64).
    pub fn max_streams(mut self, n: u32) -> Self {
        self.limits.streams = n.max(1);
        self
    }

    /// Requests served at once over all connections (default 64; each may hold up to 64
    /// MiB); one more is answered 503 with `Retry-After: 1` and counted as `busy`.
    pub fn max_requests(mut self, n: u64) -> Self {
        self.limits.requests = n.max(1);
        self
    }

    /// How long a connection may stay open with no request in flight (default 60 s; zero:
    /// never closed for idleness). Past it the receiver closes it gracefully: an HTTP/2
    /// client gets a GOAWAY, and is cut if it does not acknowledge it within the header
    /// timeout; an answer still being sent (a stalled body) is finished first. Counted as
    /// `idle_closed`.
    ///
    /// HTTP/1.1 keep-alive connections are also closed by the header timeout once idle that
    /// long (hyper's timer, not counted here): for them the idle timeout is the smaller of
    /// the two.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.limits.idle = d;
        self
    }

    /// Runs `f` on each of the receiver's threads as it starts: to pin them to a core, or to
    /// keep them out of an allocation count (the perf harness does both).
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(Arc::new(f));
        self
    }

    /// Serve `https://` with this certificate chain and private key (PEM); HTTP/2 or
    /// HTTP/1.1 by ALPN.
    ///
    /// # Errors
    /// PEM that holds no certificate or no key, or a key that does not fit.
    pub fn tls_pem(mut self, cert_chain: &str, key: &str) -> Result<Self, Error> {
        let bad = |why: String| {
            Error::io(
                "receiver TLS identity",
                std::io::Error::new(std::io::ErrorKind::InvalidData, why),
            )
        };
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_chain.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| bad(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| bad(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        self.tls = Some(Arc::new(config));
        Ok(self)
    }
}

/// A way to misbehave, for the next requests (see [`Receiver::inject`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status with an empty body, and `Retry-After` if given (seconds or an
    /// HTTP-date, sent as is). The spans are not counted as received.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The `Retry-After` header's value.
        retry_after: Option<String>,
    },
    /// Wait this long, then accept normally.
    Delay(Duration),
    /// Accept, but report up to this many of the request's spans as rejected in
    /// `partial_success`, with a message.
    Reject {
        /// Spans to reject (capped at the request's count).
        spans: u64,
        /// The `error_message`.
        message: String,
    },
    /// Close the connection without answering (the client sees a reset or an early EOF).
    DropConnection,
    /// Accept the request (its spans count as received), send `200` and the first byte of
    /// the response body, then stall for this long before the rest: a collector that got the
    /// batch but whose answer does not arrive.
    StallBody(Duration),
    /// Accept the request, send `200` and the first byte of the body, then reset the
    /// connection: the answer is cut short after the batch was taken.
    ResetBody,
}

/// What the receiver has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverCounts {
    /// Requests answered with 2xx.
    pub requests: u64,
    /// Spans in those requests (rejected ones included).
    pub spans: u64,
    /// Spans reported back as rejected in `partial_success`.
    pub rejected_spans: u64,
    /// Body bytes of those requests as they came over the wire (compressed, if gzip).
    pub bytes: u64,
    /// Those requests that were gzip-compressed.
    pub gzip_requests: u64,
    /// Requests answered with an injected fault (status or dropped connection).
    pub faulted: u64,
    /// Requests refused as malformed (400, 404, 405, 413, 415).
    pub malformed: u64,
    /// The most requests it was handling at once (to check a client's in-flight limit).
    pub max_concurrent: u64,
    /// Connections closed at once because `max_connections` were open.
    pub refused_connections: u64,
    /// Requests whose body did not arrive within the body timeout.
    pub timed_out: u64,
    /// Requests answered 503 because `max_requests` were being served.
    pub busy: u64,
    /// Connections closed because no request was in flight for the idle timeout.
    pub idle_closed: u64,
    /// `/v1/metrics` requests answered with 2xx.
    pub metric_requests: u64,
    /// Data points in those requests.
    pub data_points: u64,
    /// `/v1/logs` requests answered with 2xx.
    pub log_requests: u64,
    /// Log records in those requests.
    pub log_records: u64,
}

/// A `/v1/logs` request the receiver accepted (kept with [`Keep::Decoded`]).
#[derive(Clone, Debug)]
pub struct LogsRequest {
    /// Its body as sent, inflated if it was gzip: for a second decoder to read.
    pub bytes: Vec<u8>,
    /// The body decoded with `opentelemetry-proto`.
    pub request: ExportLogsServiceRequest,
}

/// A `/v1/metrics` request the receiver accepted (kept with [`Keep::Decoded`] or
/// [`Keep::Metrics`]).
#[derive(Clone, Debug)]
pub struct MetricsRequest {
    /// Its body as sent, inflated if it was gzip: for a second decoder to read.
    pub bytes: Vec<u8>,
    /// The body decoded with `opentelemetry-proto`.
    pub request: ExportMetricsServiceRequest,
}

impl ReceiverCounts {
    /// Spans accepted: received and not rejected.
    pub fn accepted_spans(&self) -> u64 {
        self.spans - self.rejected_spans
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    spans: AtomicU64,
    rejected_spans: AtomicU64,
    bytes: AtomicU64,
    gzip_requests: AtomicU64,
    faulted: AtomicU64,
    malformed: AtomicU64,
    concurrent: AtomicU64,
    max_concurrent: AtomicU64,
    refused_connections: AtomicU64,
    timed_out: AtomicU64,
    busy: AtomicU64,
    idle_closed: AtomicU64,
    metric_requests: AtomicU64,
    data_points: AtomicU64,
    log_requests: AtomicU64,
    log_records: AtomicU64,
}

/// State shared by the connection tasks and the handle.
#[derive(Default)]
struct Shared {
    counters: Counters,
    keep: Keep,
    faults: Mutex<VecDeque<(Fault, usize)>>,
    kept: Mutex<Vec<ExportTraceServiceRequest>>,
    kept_metrics: Mutex<Vec<MetricsRequest>>,
    kept_logs: Mutex<Vec<LogsRequest>>,
    last_headers: Mutex<(http::Version, http::HeaderMap)>,
    body_timeout: Duration,
    max_requests: u64,
    /// Set by `stop`: requests from now on are dropped uncounted, so that no request is
    /// counted whose answer the shutdown then cuts off (the client would send it again).
    stopping: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// Takes one use of the first fault in line.
    fn next_fault(&self) -> Option<Fault> {
        let mut q = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let (fault, left) = q.front_mut()?;
        let fault = fault.clone();
        *left -= 1;
        if *left == 0 {
            q.pop_front();
        }
        Some(fault)
    }
}

fn add(c: &AtomicU64, n: u64) {
    // Relaxed: statistics only.
    c.fetch_add(n, Ordering::Relaxed);
}

/// A running OTLP/HTTP receiver. Dropping it stops it.
///
/// # Examples
/// ```
/// use ringspan_receiver::{Fault, Receiver, ReceiverConfig};
/// let receiver = Receiver::start(ReceiverConfig::default())?;
/// assert!(receiver.endpoint().starts_with("http://127.0.0.1:"));
/// // The next two requests get 503 with Retry-After: 1.
/// receiver.inject(Fault::Status { code: 503, retry_after: Some("1".into()) }, 2);
/// # Ok::<(), ringspan_receiver::Error>(())
/// ```
pub struct Receiver {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.addr)
            .field("counts", &self.counts())
            .finish()
    }
}

impl Receiver {
    /// Binds the address and starts serving.
    ///
    /// # Errors
    /// The address cannot be bound, or the runtime cannot start.
    pub fn start(config: ReceiverConfig) -> Result<Receiver, Error> {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder
            .worker_threads(1)
            .thread_name("ringspan-receiver")
            .enable_all();
        if let Some(f) = config.on_thread_start.clone() {
            builder.on_thread_start(move || f());
        }
        let runtime = builder
            .build()
            .map_err(|e| Error::io("starting the receiver's runtime", e))?;
        let listener = runtime
            .block_on(TcpListener::bind(config.addr))
            .map_err(|e| Error::io(format!("binding the receiver to {}", config.addr), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the receiver's address", e))?;
        let shared = Arc::new(Shared {
            keep: config.keep,
            body_timeout: config.limits.body,
            max_requests: config.limits.requests,
            ..Shared::default()
        });
        let tls = config.tls.map(tokio_rustls::TlsAcceptor::from);
        let is_tls = tls.is_some();
        runtime.spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            tls,
            config.limits,
        ));
        Ok(Receiver {
            addr,
            tls: is_tls,
            shared,
            runtime: Some(runtime),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL (`http://127.0.0.1:PORT`), as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The full traces URL (`.../v1/traces`).
    pub fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.endpoint())
    }

    /// `endpoint()` + `/v1/logs`.
    pub fn logs_url(&self) -> String {
        format!("{}/v1/logs", self.endpoint())
    }

    /// `endpoint()` + `/v1/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("{}/v1/metrics", self.endpoint())
    }

    /// The counts now.
    pub fn counts(&self) -> ReceiverCounts {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ReceiverCounts {
            requests: get(&c.requests),
            spans: get(&c.spans),
            rejected_spans: get(&c.rejected_spans),
            bytes: get(&c.bytes),
            gzip_requests: get(&c.gzip_requests),
            faulted: get(&c.faulted),
            malformed: get(&c.malformed),
            max_concurrent: get(&c.max_concurrent),
            refused_connections: get(&c.refused_connections),
            timed_out: get(&c.timed_out),
            busy: get(&c.busy),
            idle_closed: get(&c.idle_closed),
            metric_requests: get(&c.metric_requests),
            data_points: get(&c.data_points),
            log_requests: get(&c.log_requests),
            log_records: get(&c.log_records),
        }
    }

    /// Misbehaves with `fault` for the next `times` requests (after any fault queued before).
    pub fn inject(&self, fault: Fault, times: usize) {
        if times > 0 {
            self.shared
                .faults
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_back((fault, times));
        }
    }

    /// The headers of the last request that reached the handler (to check what a client sends).
    pub fn last_headers(&self) -> http::HeaderMap {
        self.shared
            .last_headers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// The HTTP version of the last request that reached the handler.
    pub fn last_version(&self) -> http::Version {
        self.shared
            .last_headers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    /// Forgets every queued fault.
    pub fn clear_faults(&self) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The decoded requests accepted so far (with [`Keep::Decoded`]; empty otherwise).
    pub fn take_requests(&self) -> Vec<ExportTraceServiceRequest> {
        std::mem::take(&mut *self.shared.kept.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The `/v1/metrics` requests accepted so far (with [`Keep::Decoded`] or
    /// [`Keep::Metrics`]; empty otherwise).
    pub fn take_metrics(&self) -> Vec<MetricsRequest> {
        std::mem::take(
            &mut *self
                .shared
                .kept_metrics
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// The `/v1/logs` requests accepted so far (with [`Keep::Decoded`]; empty otherwise).
    pub fn take_logs(&self) -> Vec<LogsRequest> {
        std::mem::take(
            &mut *self
                .shared
                .kept_logs
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Closes the listener and every connection (a collector going down). Idempotent.
    pub fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Relaxed: a request that misses the flag is counted and answered within the
            // grace below, before the runtime and its connections go.
            self.shared.stopping.store(true, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(50));
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
) {
    let open = Arc::new(tokio::sync::Semaphore::new(limits.connections));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors and the like: back off briefly instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            // Over the connection limit: close it at once (the client sees a reset or EOF).
            add(&shared.counters.refused_connections, 1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => {
                    // The protocol is sniffed from the first bytes, before any HTTP timer
                    // runs: a client that never sends one is closed here.
                    if tokio::time::timeout(limits.headers, conn::sniffable(&stream))
                        .await
                        .is_ok()
                    {
                        conn::serve(stream, shared, limits).await;
                    }
                }
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(limits.headers, acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        conn::serve(stream, shared, limits).await;
                    }
                }
            }
        });
    }
}
