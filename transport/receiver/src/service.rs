//! The receiver's request handler: check, decompress, count, answer (or misbehave).

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use super::scan::count_spans;
use super::{add, Fault, Keep, Shared};

/// OTLP's request cap, before and after decompression.
const MAX_REQUEST_BYTES: usize = 64 << 20;

fn answer(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r
}

fn refuse(shared: &Shared, status: StatusCode) -> Result<Response<Full<Bytes>>, std::io::Error> {
    add(&shared.counters.malformed, 1);
    Ok(answer(status, Bytes::new()))
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

/// Handles one request, keeping count of how many run at once.
pub(super) async fn handle(
    req: Request<Incoming>,
    shared: &Shared,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
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
    serve(req, shared).await
}

/// Serves one request. `Err` makes hyper drop the connection without an answer.
async fn serve(
    req: Request<Incoming>,
    shared: &Shared,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    if req.uri().path() != "/v1/traces" {
        return refuse(shared, StatusCode::NOT_FOUND);
    }
    if req.method() != Method::POST {
        return refuse(shared, StatusCode::METHOD_NOT_ALLOWED);
    }
    let headers = req.headers();
    *shared
        .last_headers
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = (req.version(), headers.clone());
    let protobuf = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-protobuf"));
    let gzip = match headers.get(CONTENT_ENCODING).map(|v| v.to_str()) {
        None => false,
        Some(Ok("gzip")) => true,
        Some(Ok("identity")) => false,
        Some(_) => return refuse(shared, StatusCode::UNSUPPORTED_MEDIA_TYPE),
    };
    if !protobuf {
        return refuse(shared, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    // A Content-Length over the cap is refused before reading a byte of the body.
    if hyper::body::Body::size_hint(req.body()).lower() > MAX_REQUEST_BYTES as u64 {
        return refuse(shared, StatusCode::PAYLOAD_TOO_LARGE);
    }
    let wire = match Limited::new(req.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return refuse(shared, StatusCode::PAYLOAD_TOO_LARGE)
        }
        // The client went away mid-body.
        Err(e) => return Err(std::io::Error::other(e)),
    };
    let unzipped;
    let body: &[u8] = if gzip {
        match gunzip(&wire) {
            Ok(b) => {
                unzipped = b;
                &unzipped
            }
            Err(status) => return refuse(shared, status),
        }
    } else {
        &wire
    };
    let Ok(spans) = count_spans(body) else {
        return refuse(shared, StatusCode::BAD_REQUEST);
    };
    let decoded = match shared.keep {
        Keep::Count => None,
        Keep::Decoded => match ExportTraceServiceRequest::decode(body) {
            Ok(m) => Some(m),
            Err(_) => return refuse(shared, StatusCode::BAD_REQUEST),
        },
    };
    let mut rejected = 0;
    let mut message = String::new();
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
        Some(Fault::Reject {
            spans: n,
            message: m,
        }) => {
            rejected = n.min(spans);
            message = m;
        }
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
    let response = ExportTraceServiceResponse {
        partial_success: (rejected > 0 || !message.is_empty()).then_some(
            ExportTracePartialSuccess {
                rejected_spans: rejected as i64,
                error_message: message,
            },
        ),
    };
    let mut r = answer(StatusCode::OK, response.encode_to_vec().into());
    r.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    Ok(r)
}
