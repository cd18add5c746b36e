//! The receiver's request handler: check, decompress, count, answer (or misbehave).

use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use super::scan::count_spans;
use super::{add, Fault, Keep, LogsRequest, MetricsRequest, Shared};

/// OTLP's request cap, before and after decompression.
const MAX_REQUEST_BYTES: usize = 64 << 20;

/// A response body: whole, or cut short by a fault.
pub(super) type ResponseBody = BoxBody<Bytes, std::io::Error>;

fn answer(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    let mut r = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *r.status_mut() = status;
    r
}

/// A body that sends its first byte, waits, then sends the rest or fails (a reset).
struct Faulty {
    first: Option<Bytes>,
    rest: Option<Bytes>,
    len: u64,
    wait: Pin<Box<tokio::time::Sleep>>,
    reset: bool,
}

impl Faulty {
    fn new(mut body: Bytes, wait: Duration, reset: bool) -> Self {
        let len = body.len() as u64;
        let rest = body.split_off(1.min(body.len()));
        Faulty {
            first: Some(body),
            rest: Some(rest),
            len,
            wait: Box::pin(tokio::time::sleep(wait)),
            reset,
        }
    }
}

impl Body for Faulty {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if self.rest.is_none() {
            return Poll::Ready(None);
        }
        if self.wait.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if self.reset {
            self.rest = None;
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "fault injected: reset mid-body",
            ))));
        }
        Poll::Ready(self.rest.take().map(|b| Ok(Frame::data(b))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

fn refuse(shared: &Shared, status: StatusCode) -> Result<Response<ResponseBody>, std::io::Error> {
    add(&shared.counters.malformed, 1);
    Ok(answer(status, Bytes::new()))
}

/// Runs `check` (inflating and decoding a body: CPU work) off the runtime's one worker, so
/// the other connections keep moving. `Ok(Err(_))` is the refusal to send; `Err` drops the
/// connection: a receiver that is stopping counts no request that may not get its answer.
async fn off_worker<T: Send + 'static>(
    shared: &Shared,
    check: impl FnOnce() -> Result<T, StatusCode> + Send + 'static,
) -> Result<Result<T, Response<ResponseBody>>, std::io::Error> {
    let checked = match tokio::task::spawn_blocking(check).await {
        Ok(Ok(checked)) => checked,
        Ok(Err(status)) => return refuse(shared, status).map(Err),
        Err(_) => return refuse(shared, StatusCode::INTERNAL_SERVER_ERROR).map(Err),
    };
    if shared.stopping.load(Ordering::Relaxed) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "the receiver is stopping",
        ));
    }
    Ok(Ok(checked))
}

/// A 200 with a protobuf response body.
fn protobuf_ok(body: Vec<u8>) -> Result<Response<ResponseBody>, std::io::Error> {
    let mut r = answer(StatusCode::OK, Bytes::from(body));
    r.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    Ok(r)
}

fn gunzip(body: &[u8]) -> Result<Vec<u8>, StatusCode> {
    let mut out = Vec::with_capacity((body.len() * 4).min(MAX_REQUEST_BYTES));
    let mut gz = flate2::read::GzDecoder::new(body).take(MAX_REQUEST_BYTES as u64 + 1);
    gz.read_to_end(&mut out)
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    if out.len() > MAX_REQUEST_BYTES {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    Ok(out)
}

/// Bodies up to this size are checked on the runtime's worker; larger ones (and every gzip
/// body) on the blocking pool.
const INLINE_BYTES: usize = 1 << 20;

/// Checks the content type and encoding of a request; `Ok(true)` for a gzip body.
///
/// # Errors
/// 415 for another content type or encoding.
pub fn check_headers(
    content_type: Option<&[u8]>,
    content_encoding: Option<&[u8]>,
) -> Result<bool, StatusCode> {
    let protobuf = content_type.is_some_and(|v| v.starts_with(b"application/x-protobuf"));
    let gzip = match content_encoding {
        None | Some(b"identity") => false,
        Some(b"gzip") => true,
        Some(_) => return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    };
    if !protobuf {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    Ok(gzip)
}

/// Inflates (if `gzip`) and checks a request body: the spans it holds, and the decoded
/// request with [`Keep::Decoded`].
///
/// # Errors
/// 400 for a body that is not valid gzip or not an `ExportTraceServiceRequest`, 413 for one
/// over 64 MiB once inflated.
pub fn check_body(
    wire: &[u8],
    gzip: bool,
    keep: Keep,
) -> Result<(u64, Option<ExportTraceServiceRequest>), StatusCode> {
    let unzipped;
    let body: &[u8] = if gzip {
        unzipped = gunzip(wire)?;
        &unzipped
    } else {
        wire
    };
    let spans = count_spans(body).map_err(|_| StatusCode::BAD_REQUEST)?;
    let decoded = match keep {
        Keep::Count | Keep::Metrics => None,
        Keep::Decoded => {
            Some(ExportTraceServiceRequest::decode(body).map_err(|_| StatusCode::BAD_REQUEST)?)
        }
    };
    Ok((spans, decoded))
}

/// Handles one request, keeping count of how many run at once.
pub(super) async fn handle(
    req: Request<Incoming>,
    shared: &Shared,
) -> Result<Response<ResponseBody>, std::io::Error> {
    /// Leaves the gauge when dropped: hyper drops the future when a client goes away.
    struct Active<'a>(&'a AtomicU64);
    impl Drop for Active<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let c = &shared.counters;
    // Relaxed: a gauge for statistics; `fetch_max` keeps the peak exact regardless.
    let now = c.concurrent.fetch_add(1, Ordering::Relaxed) + 1;
    c.max_concurrent.fetch_max(now, Ordering::Relaxed);
    let _active = Active(&c.concurrent);
    // Requests being read at once are capped (each may hold up to 64 MiB): one more is told
    // to come back, as a busy collector does.
    if now > shared.max_requests {
        add(&c.busy, 1);
        let mut r = answer(StatusCode::SERVICE_UNAVAILABLE, Bytes::new());
        r.headers_mut()
            .insert(RETRY_AFTER, http::HeaderValue::from_static("1"));
        return Ok(r);
    }
    serve(req, shared).await
}

/// Serves one request. `Err` makes hyper drop the connection without an answer.
async fn serve(
    req: Request<Incoming>,
    shared: &Shared,
) -> Result<Response<ResponseBody>, std::io::Error> {
    let (metrics, logs) = match req.uri().path() {
        "/v1/traces" => (false, false),
        "/v1/metrics" => (true, false),
        "/v1/logs" => (false, true),
        _ => return refuse(shared, StatusCode::NOT_FOUND),
    };
    if req.method() != Method::POST {
        return refuse(shared, StatusCode::METHOD_NOT_ALLOWED);
    }
    let headers = req.headers();
    if !metrics && !logs {
        *shared
            .last_headers
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = (req.version(), headers.clone());
    }
    let content_type = headers.get(CONTENT_TYPE).map(|v| v.as_bytes());
    let encoding = headers.get(CONTENT_ENCODING).map(|v| v.as_bytes());
    let gzip = match check_headers(content_type, encoding) {
        Ok(gzip) => gzip,
        Err(status) => return refuse(shared, status),
    };
    // A Content-Length over the cap is refused before reading a byte of the body.
    if hyper::body::Body::size_hint(req.body()).lower() > MAX_REQUEST_BYTES as u64 {
        return refuse(shared, StatusCode::PAYLOAD_TOO_LARGE);
    }
    let body = Limited::new(req.into_body(), MAX_REQUEST_BYTES).collect();
    let wire = match tokio::time::timeout(shared.body_timeout, body).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return refuse(shared, StatusCode::PAYLOAD_TOO_LARGE)
        }
        // The client went away mid-body.
        Ok(Err(e)) => return Err(std::io::Error::other(e)),
        // A client trickling its body holds a connection: close it.
        Err(_) => {
            add(&shared.counters.timed_out, 1);
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            ));
        }
    };
    if metrics {
        return serve_metrics(wire, gzip, shared).await;
    }
    if logs {
        return serve_logs(wire, gzip, shared).await;
    }
    let keep = shared.keep;
    // Inflating and scanning up to 64 MiB is CPU work: off the runtime's one worker, so the
    // other connections' headers and bodies keep moving meanwhile.
    let checked = if gzip || wire.len() > INLINE_BYTES {
        let wire = wire.clone();
        tokio::task::spawn_blocking(move || check_body(&wire, gzip, keep))
            .await
            .unwrap_or(Err(StatusCode::INTERNAL_SERVER_ERROR))
    } else {
        check_body(&wire, gzip, keep)
    };
    let (spans, decoded) = match checked {
        Ok(c) => c,
        Err(status) => return refuse(shared, status),
    };
    let mut rejected = 0;
    let mut message = String::new();
    let mut cut = None;
    match shared.next_fault() {
        None => {}
        Some(Fault::Status { code, retry_after }) => {
            add(&shared.counters.faulted, 1);
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = answer(status, Bytes::new());
            if let Some(v) = retry_after.and_then(|v| v.parse().ok()) {
                r.headers_mut().insert(RETRY_AFTER, v);
            }
            return Ok(r);
        }
        Some(Fault::DropConnection) => {
            add(&shared.counters.faulted, 1);
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "fault injected: drop the connection",
            ));
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::StallBody(d)) => {
            add(&shared.counters.faulted, 1);
            cut = Some((d, false));
        }
        Some(Fault::ResetBody) => {
            add(&shared.counters.faulted, 1);
            cut = Some((Duration::from_millis(20), true));
        }
        Some(Fault::Reject {
            spans: n,
            message: m,
        }) => {
            rejected = n.min(spans);
            message = m;
        }
    }
    if shared.stopping.load(Ordering::Relaxed) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "the receiver is stopping",
        ));
    }
    let c = &shared.counters;
    add(&c.requests, 1);
    add(&c.spans, spans);
    add(&c.rejected_spans, rejected);
    add(&c.bytes, wire.len() as u64);
    if gzip {
        add(&c.gzip_requests, 1);
    }
    if let Some(m) = decoded {
        shared
            .kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(m);
    }
    // A body to cut needs a byte to send before the cut: an empty `partial_success` (which
    // means full success) gives it two.
    let response = ExportTraceServiceResponse {
        partial_success: (rejected > 0 || !message.is_empty() || cut.is_some()).then_some(
            ExportTracePartialSuccess {
                rejected_spans: rejected as i64,
                error_message: message,
            },
        ),
    };
    let body = Bytes::from(response.encode_to_vec());
    let mut r = match cut {
        None => answer(StatusCode::OK, body),
        Some((wait, reset)) => Response::new(Faulty::new(body, wait, reset).boxed()),
    };
    r.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    Ok(r)
}

/// Serves a `/v1/logs` request: its log records counted by the framing scan (the messages
/// nest as the spans' do), and, with [`Keep::Decoded`], the request decoded and kept. No
/// faults are injected here.
async fn serve_logs(
    wire: Bytes,
    gzip: bool,
    shared: &Shared,
) -> Result<Response<ResponseBody>, std::io::Error> {
    let keep = shared.keep;
    let check = move || -> Result<(u64, Option<LogsRequest>), StatusCode> {
        let body = if gzip { gunzip(&wire)? } else { wire.to_vec() };
        let records = count_spans(&body).map_err(|_| StatusCode::BAD_REQUEST)?;
        let kept = match keep {
            Keep::Decoded => {
                let request = ExportLogsServiceRequest::decode(&body[..])
                    .map_err(|_| StatusCode::BAD_REQUEST)?;
                Some(LogsRequest {
                    bytes: body,
                    request,
                })
            }
            Keep::Count | Keep::Metrics => None,
        };
        Ok((records, kept))
    };
    let (records, kept) = match off_worker(shared, check).await? {
        Ok(checked) => checked,
        Err(refused) => return Ok(refused),
    };
    let c = &shared.counters;
    add(&c.log_requests, 1);
    add(&c.log_records, records);
    if let Some(k) = kept {
        shared
            .kept_logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(k);
    }
    protobuf_ok(ExportLogsServiceResponse::default().encode_to_vec())
}

/// The data points of a metrics request.
fn data_points(req: &ExportMetricsServiceRequest) -> u64 {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let points = |d: &Data| match d {
        Data::Gauge(g) => g.data_points.len(),
        Data::Sum(s) => s.data_points.len(),
        Data::Histogram(h) => h.data_points.len(),
        Data::ExponentialHistogram(h) => h.data_points.len(),
        Data::Summary(s) => s.data_points.len(),
    };
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter_map(|m| m.data.as_ref())
        .map(|d| points(d) as u64)
        .sum()
}

/// Serves a `/v1/metrics` request: decoded, counted, kept unless [`Keep::Count`], answered
/// with full success. Faults are for traces only.
async fn serve_metrics(
    wire: Bytes,
    gzip: bool,
    shared: &Shared,
) -> Result<Response<ResponseBody>, std::io::Error> {
    let decode = move || -> Result<(Vec<u8>, ExportMetricsServiceRequest), StatusCode> {
        let body = if gzip { gunzip(&wire)? } else { wire.to_vec() };
        let request =
            ExportMetricsServiceRequest::decode(&body[..]).map_err(|_| StatusCode::BAD_REQUEST)?;
        Ok((body, request))
    };
    let (body, request) = match off_worker(shared, decode).await? {
        Ok(decoded) => decoded,
        Err(refused) => return Ok(refused),
    };
    let c = &shared.counters;
    add(&c.metric_requests, 1);
    add(&c.data_points, data_points(&request));
    if shared.keep != Keep::Count {
        shared
            .kept_metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(MetricsRequest {
                bytes: body,
                request,
            });
    }
    protobuf_ok(ExportMetricsServiceResponse::default().encode_to_vec())
}
