//! The admin endpoint's server: HTTP/1.1 on a one-worker tokio runtime of its own, the token
//! check, and the routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::{heap, metrics, page, AdminConfig, HeapStats};
use crate::error::Error;
use crate::observe::{self, families, watch};
use crate::Pipeline;

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 16;
/// Time a client has to send a request's headers (also closes an idle connection).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub(super) struct Server {
    addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
}

struct State {
    pipeline: Arc<Pipeline>,
    token: Option<Arc<str>>,
    heap: Option<&'static dyn HeapStats>,
}

impl Server {
    pub(super) fn start(pipeline: Arc<Pipeline>, config: &AdminConfig) -> Result<Server, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ringspan-admin")
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the admin endpoint's runtime", e))?;
        let listener = runtime
            .block_on(TcpListener::bind(config.addr))
            .map_err(|e| Error::io(format!("binding the admin endpoint to {}", config.addr), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the admin endpoint's address", e))?;
        let pipeline_heap = pipeline.core().observer().heap;
        let state = Arc::new(State {
            pipeline,
            token: config.token.clone(),
            heap: config.heap.or(pipeline_heap),
        });
        runtime.spawn(watcher(Arc::clone(&state)));
        runtime.spawn(accept_loop(listener, state));
        Ok(Server { addr, runtime })
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(super) fn stop(self) {
        self.runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

/// Reads the rings once a second, for the idle-producer gauge.
async fn watcher(state: Arc<State>) {
    let mut tick = tokio::time::interval(watch::PERIOD);
    loop {
        tick.tick().await;
        observe::tick(state.pipeline.core());
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&open).acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, std::convert::Infallible>(answer(&req, &state).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Compares in time that depends only on the lengths, not on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(req: &Request<Incoming>, token: &str) -> bool {
    let Some(v) = req.headers().get(http::header::AUTHORIZATION) else {
        return false;
    };
    // The scheme is case-insensitive (RFC 9110, 11.1); the token is compared whole.
    let v = v.as_bytes();
    v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") && same(&v[7..], token.as_bytes())
}

/// Without a token, a request must name the server by a loopback address or `localhost`
/// (any port): a web page the operator visits cannot then reach the endpoint through a
/// name of its own that resolves to 127.0.0.1 (DNS rebinding).
fn loopback_host(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(host_is_loopback)
}

/// `localhost` or a loopback address, with or without a port.
fn host_is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // `[::1]:port`
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a browser sent this from another site's page (`Sec-Fetch-Site: cross-site`, or an
/// `Origin` that is not this machine): an `<img src=".../debug/pprof/profile?seconds=60">`
/// on any page would otherwise start a profile. Scrapers and a typed-in address send
/// neither.
fn cross_site(req: &Request<Incoming>) -> bool {
    let h = req.headers();
    if h.get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    match h.get(http::header::ORIGIN).and_then(|o| o.to_str().ok()) {
        None => false,
        Some(origin) => {
            let host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            !host_is_loopback(host)
        }
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn answer(req: &Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if cross_site(req) {
        return reply(
            StatusCode::FORBIDDEN,
            TEXT,
            "requests from another site's page are refused\n".into(),
        );
    }
    if state.token.is_none() && !loopback_host(req) {
        return reply(
            StatusCode::FORBIDDEN,
            TEXT,
            "without a token, the Host must be localhost or a loopback address\n".into(),
        );
    }
    if let Some(token) = &state.token {
        if !authorized(req, token) {
            let mut r = reply(
                StatusCode::UNAUTHORIZED,
                TEXT,
                "an Authorization: Bearer token is required\n".into(),
            );
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    // HEAD as GET (hyper sends no body for it), except for a profile, which takes seconds.
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !(head && req.uri().path() != "/debug/pprof/profile") {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "only GET is served\n".into(),
        );
        r.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => reply(
            StatusCode::OK,
            OPENMETRICS,
            metrics::render(&state.pipeline, state.heap),
        ),
        "/debug/pprof/heap" => match state.heap {
            Some(h) => reply(StatusCode::OK, TEXT, heap::render(&h.heap())),
            None => reply(
                StatusCode::NOT_FOUND,
                TEXT,
                "no counting allocator was given (AdminConfig::heap)\n".into(),
            ),
        },
        #[cfg(feature = "profile")]
        "/debug/pprof/profile" => cpu_profile(req.uri().query()).await,
        "/debug" | "/debug/" => {
            let core = state.pipeline.core();
            let families = families::read(core, core.observer(), state.heap);
            let last_error = state.pipeline.last_export_error();
            reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                page::render(&families, last_error.as_deref()),
            )
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found; try /metrics or /debug/\n".into(),
        ),
    }
}

/// A CPU profile (the sampling stops if the client goes away).
#[cfg(feature = "profile")]
async fn cpu_profile(query: Option<&str>) -> Response<Full<Bytes>> {
    use super::profile::{self, Refused};
    const TEXT: &str = "text/plain; charset=utf-8";
    let seconds = match profile::seconds(query) {
        Ok(s) => s,
        Err(why) => return reply(StatusCode::BAD_REQUEST, TEXT, why + "\n"),
    };
    match profile::take(seconds).await {
        Ok(gz) => {
            let mut r = Response::new(Full::new(Bytes::from(gz)));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            r.headers_mut().insert(
                http::header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"profile\""),
            );
            r
        }
        Err(Refused::Busy) => reply(
            StatusCode::CONFLICT,
            TEXT,
            "a profile is already being taken; try again when it is done\n".into(),
        ),
        Err(Refused::Failed(why)) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            TEXT,
            format!("the profiler failed: {why}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }
}
