//! The example service itself: a hyper HTTP/1 server on tokio whose handler is instrumented
//! with `tracing`, recorded by ringspan's `TracingLayer`. `GET /quote` answers with a price;
//! an instance with a downstream gets the price from the downstream instance first, with
//! the handler's trace context sent on in a `traceparent` header. Shared with the test
//! (`transport/tests/example_service.rs`).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use ringspan::{format_traceparent, parse_traceparent, TracingSpanExt};
use tokio::net::TcpListener;
use tracing::Instrument;

/// What a handler needs: where to get the price from, if not itself.
pub struct Instance {
    /// The downstream instance's base URL (`http://host:port`), if any.
    pub downstream: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Instance {
    /// An instance calling `downstream` (if any) for its prices.
    pub fn new(downstream: Option<String>) -> Arc<Instance> {
        Arc::new(Instance {
            downstream,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }
}

/// Serves `listener` until the task is dropped: one task per connection.
pub async fn serve(listener: TcpListener, instance: Arc<Instance>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let instance = Arc::clone(&instance);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, Arc::clone(&instance)));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One request: a `tracing` span for it (a child of the caller's `traceparent`, if it sent
/// one), the work inside it, and the status recorded on it.
async fn handle(
    req: Request<Incoming>,
    instance: Arc<Instance>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let span = tracing::info_span!(
        "GET /quote",
        otel.kind = "server",
        http.request.method = "GET",
        url.path = req.uri().path(),
        http.response.status_code = tracing::field::Empty,
    );
    let parent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_traceparent(v).ok());
    if let Some(parent) = parent {
        span.set_parent(parent);
    }
    let answer = async {
        let price = match &instance.downstream {
            Some(url) => downstream_price(&instance, url).await,
            None => Ok(101.25),
        };
        match price {
            Ok(price) => {
                tracing::info!(price, "quoted");
                (StatusCode::OK, format!("{price}\n"))
            }
            Err(e) => {
                tracing::error!(error = %e, "downstream failed");
                (StatusCode::BAD_GATEWAY, format!("{e}\n"))
            }
        }
    }
    .instrument(span.clone())
    .await;
    span.record("http.response.status_code", i64::from(answer.0.as_u16()));
    let mut response = Response::new(Full::new(Bytes::from(answer.1)));
    *response.status_mut() = answer.0;
    Ok(response)
}

/// Asks the downstream instance, in a client span whose context goes in the request's
/// `traceparent` header.
async fn downstream_price(instance: &Instance, base: &str) -> Result<f64, String> {
    let span = tracing::info_span!(
        "GET downstream /quote",
        otel.kind = "client",
        http.request.method = "GET",
        url.full = format!("{base}/quote").as_str(),
        http.response.status_code = tracing::field::Empty,
    );
    let mut request = Request::get(format!("{base}/quote"));
    if let Some(cx) = span.span_context() {
        request = request.header("traceparent", format_traceparent(&cx).as_str());
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    async {
        let response = instance
            .client
            .request(request)
            .await
            .map_err(|e| format!("downstream unreachable: {e}"))?;
        tracing::Span::current().record(
            "http.response.status_code",
            i64::from(response.status().as_u16()),
        );
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        std::str::from_utf8(&body)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("downstream answered {body:?}"))
    }
    .instrument(span)
    .await
}
