//! One request's journey: compress once, then attempt, classify the answer, wait and retry
//! until it is accepted, refused for good, or out of retry budget.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderName, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use ringspan::otlp::EncodedRequest;
use ringspan::IdGenerator;

use crate::client::HttpClient;
use crate::config::{Compression, Signal};
use crate::retry::{classify, parse_retry_after, RetryPolicy, Verdict};
use crate::stats::{ExportStats, Outcome};

/// OTLP's cap on a response body we read: 4 MiB.
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;

const USER_AGENT_VALUE: &str = concat!("ringspan/", env!("CARGO_PKG_VERSION"));

/// What every send needs, shared by the exporter's tasks.
pub(crate) struct Ctx {
    pub(crate) client: HttpClient,
    pub(crate) endpoint: Uri,
    /// The endpoint as it may be shown: the query (which may hold a key) redacted.
    pub(crate) shown: String,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) compression: Compression,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) stats: std::sync::Arc<ExportStats>,
    /// What is sent: decides how a partial success is read.
    pub(crate) signal: Signal,
}

impl Ctx {
    /// What `config`'s sends need, counting into `stats`.
    pub(crate) fn new(
        client: HttpClient,
        config: &crate::config::ExporterConfig,
        stats: std::sync::Arc<ExportStats>,
    ) -> Self {
        Ctx {
            client,
            endpoint: config.endpoint.clone(),
            shown: crate::config::shown(&config.endpoint),
            headers: config.headers.clone(),
            compression: config.compression,
            timeout: config.timeout,
            retry: config.retry,
            stats,
            signal: config.signal,
        }
    }
}

/// The answer to one attempt.
enum Answer {
    Accepted { rejected: u64 },
    Retry { retry_after: Option<Duration> },
    Fatal,
}

/// The request body: the pooled buffer itself (no copy; it returns to the pool when the last
/// clone is dropped), or a gzip copy, after which the pooled buffer goes back at once.
fn body(request: EncodedRequest, compression: Compression) -> Bytes {
    match compression {
        Compression::None => Bytes::from_owner(request),
        Compression::Gzip => gzip(request.bytes()),
    }
}

/// A gzip copy of `raw`.
pub(crate) fn gzip(raw: &[u8]) -> Bytes {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(raw);
    Bytes::from(gz.finish().unwrap_or_default())
}

/// Sends `request` until it is settled, and says how. `delivered` is set as soon as a 2xx
/// status is in, before its body is read: a shutdown that cuts the read then still counts the
/// batch as exported.
pub(crate) async fn send(
    request: EncodedRequest,
    ctx: &Ctx,
    jitter: &mut IdGenerator,
    delivered: &AtomicBool,
) -> Outcome {
    let started = Instant::now();
    send_body(
        body(request, ctx.compression),
        started,
        ctx,
        jitter,
        delivered,
    )
    .await
}

/// [`send`] for a body ready to go (compressed already if the config asks), first handed
/// over at `started` (the retry budget counts from there).
pub(crate) async fn send_body(
    body: Bytes,
    started: Instant,
    ctx: &Ctx,
    jitter: &mut IdGenerator,
    delivered: &AtomicBool,
) -> Outcome {
    let mut retry = 0u32;
    loop {
        ctx.stats.attempt(retry > 0, body.len() as u64);
        let wait = match attempt(ctx, body.clone(), delivered).await {
            Ok(Answer::Accepted { rejected }) => return Outcome::Accepted { rejected },
            Ok(Answer::Fatal) => return Outcome::NonRetryable,
            // `Retry-After` is the least we wait (capped); the backoff still grows beneath it,
            // so `Retry-After: 0` does not make a tight loop.
            Ok(Answer::Retry { retry_after }) => ctx
                .retry
                .backoff(retry, jitter.next_u64())
                .max(retry_after.map_or(Duration::ZERO, |d| d.min(ctx.retry.max_retry_after))),
            Err(()) => ctx.retry.backoff(retry, jitter.next_u64()),
        };
        // An attempt starts only within the budget, so the total stays under
        // `max_elapsed` plus one attempt's timeout.
        match started.elapsed().checked_add(wait) {
            Some(at) if at <= ctx.retry.max_elapsed => {}
            _ => return Outcome::RetriesExhausted,
        }
        tokio::time::sleep(wait).await;
        retry += 1;
    }
}

/// The error and its causes, for a person (hyper's top-level messages alone say little).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// One HTTP exchange, bounded by the timeout. `Err` is a failure to get any answer (connect,
/// reset, timeout before the status): retryable, as the spec asks. A body that fails after a
/// status arrived does not make the status void. The reason goes to `last_error`.
async fn attempt(ctx: &Ctx, body: Bytes, delivered: &AtomicBool) -> Result<Answer, ()> {
    let mut req = Request::post(ctx.endpoint.clone())
        .header(CONTENT_TYPE, "application/x-protobuf")
        .header(USER_AGENT, USER_AGENT_VALUE);
    if ctx.compression == Compression::Gzip {
        req = req.header(CONTENT_ENCODING, "gzip");
    }
    for (n, v) in &ctx.headers {
        req = req.header(n, v);
    }
    let req = match req.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => {
            ctx.stats.failed(format!("building the request: {e}"));
            return Err(());
        }
    };
    // One deadline for the whole attempt; the body gets what the headers left of it.
    let deadline = tokio::time::Instant::now() + ctx.timeout;
    let resp = match tokio::time::timeout_at(deadline, ctx.client.request(req)).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            ctx.stats
                .failed(format!("POST {}: {}", ctx.shown, describe(&e)));
            return Err(());
        }
        Err(_) => {
            ctx.stats.failed(format!(
                "POST {}: no answer within {:?}",
                ctx.shown, ctx.timeout
            ));
            return Err(());
        }
    };
    let status = resp.status();
    let verdict = classify(status);
    if verdict == Verdict::Accepted {
        // Relaxed: read by the same task (the shutdown branch of its `select!`).
        delivered.store(true, Ordering::Relaxed);
    }
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    // Read the body (capped) even when it is not needed, so the connection can be reused.
    let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES).collect();
    let body = match tokio::time::timeout_at(deadline, body).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) => Err(describe(&*e)),
        Err(_) => Err(format!("no body within {:?}", ctx.timeout)),
    };
    Ok(match verdict {
        // The status is the collector's answer: once a 2xx is in, the batch is delivered,
        // whatever happens to the body after it. Sending it again would duplicate it.
        Verdict::Accepted => match body {
            Ok(b) => Answer::Accepted {
                rejected: partial_success(ctx, &b),
            },
            Err(why) => Answer::Accepted {
                rejected: body_lost(
                    ctx,
                    &format!("{status}, but the response body failed ({why})"),
                ),
            },
        },
        Verdict::Retry => {
            ctx.stats
                .failed(format!("POST {}: {status} (will retry)", ctx.shown));
            Answer::Retry { retry_after }
        }
        Verdict::Fatal => {
            ctx.stats.failed(format!(
                "POST {}: {status} (not retryable; the batch is dropped)",
                ctx.shown
            ));
            Answer::Fatal
        }
    })
}

/// Counts a 2xx whose body never arrived whole: the batch is exported, a partial success in
/// it unknown. Returns the spans known rejected: none.
pub(crate) fn body_lost(ctx: &Ctx, what: &str) -> u64 {
    ctx.stats.body_lost();
    ctx.stats.failed(format!(
        "POST {}: {what}; the batch counts as exported, a partial success in it is unknown",
        ctx.shown
    ));
    0
}

/// The items rejected according to a 2xx body holding the signal's response
/// (`ExportTraceServiceResponse.rejected_spans`, `ExportMetricsServiceResponse
/// .rejected_data_points`, `ExportLogsServiceResponse.rejected_log_records`); an empty or undecodable body means full success.
fn partial_success(ctx: &Ctx, body: &[u8]) -> u64 {
    let (rejected, message) = match ctx.signal {
        Signal::Traces => match ExportTraceServiceResponse::decode(body) {
            Ok(ExportTraceServiceResponse {
                partial_success: Some(p),
            }) => (p.rejected_spans, p.error_message),
            _ => return 0,
        },
        Signal::Metrics => match ExportMetricsServiceResponse::decode(body) {
            Ok(ExportMetricsServiceResponse {
                partial_success: Some(p),
            }) => (p.rejected_data_points, p.error_message),
            _ => return 0,
        },
        Signal::Logs => match ExportLogsServiceResponse::decode(body) {
            Ok(ExportLogsServiceResponse {
                partial_success: Some(p),
            }) => (p.rejected_log_records, p.error_message),
            _ => return 0,
        },
    };
    if rejected > 0 || !message.is_empty() {
        ctx.stats.failed(format!(
            "collector rejected {rejected} {}: {message}",
            ctx.signal.items()
        ));
    }
    rejected.max(0) as u64
}
