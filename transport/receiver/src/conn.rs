//! One accepted connection: waiting until its protocol can be told, serving it (HTTP/1.1 or
//! HTTP/2), and closing it once it has had no request in flight for the idle timeout.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::service::{self, ResponseBody};
use crate::{add, Limits, Shared};

/// Waits until `stream` has shown enough to tell HTTP/2's preface from HTTP/1.1 (what the
/// server's protocol sniffing waits for, with no timer of its own): the whole preface, a byte
/// that departs from it, or the end of the stream.
pub(crate) async fn sniffable(stream: &tokio::net::TcpStream) {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut buf = [0u8; 24];
    loop {
        match stream.peek(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) if n >= PREFACE.len() || buf[..n] != PREFACE[..n] => return,
            // A prefix of the preface so far: wait for more.
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// Whether a connection is in use: its requests in flight, and when the last one ended.
struct Activity {
    in_flight: AtomicU64,
    last_end: Mutex<Instant>,
}

impl Activity {
    /// One request begins; it ends when the guard drops, which the answer's body carries
    /// (so an answer whose body stalls keeps the connection in use until it is sent).
    fn begin(self: &Arc<Self>) -> InFlight {
        // Relaxed: only this connection's tasks read it, and the idle check re-reads it
        // after its timer; a stale read delays the close by at most one idle period.
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// When the connection becomes idle long enough to close, if nothing starts before.
    /// A timeout too large to add (`Duration::MAX`) means a year.
    fn idle_deadline(&self, idle: Duration) -> Instant {
        let from = if self.in_flight.load(Ordering::Relaxed) > 0 {
            Instant::now()
        } else {
            *self.last_end.lock().unwrap_or_else(|e| e.into_inner())
        };
        from.checked_add(idle)
            .unwrap_or_else(|| from + Duration::from_secs(365 * 24 * 3600))
    }
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last_end.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An answer's body that holds its request in flight until it is dropped (sent or cut).
/// Unlike `BodyExt::map_frame`, it keeps the exact size, so HTTP/1.1 still sends a
/// `Content-Length`.
struct InUse {
    body: ResponseBody,
    /// Held for its drop.
    _in_flight: InFlight,
}

impl Body for InUse {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Serves one connection until the client closes it, or it stays idle for `limits.idle`.
pub(crate) async fn serve<I>(io: I, shared: Arc<Shared>, limits: Limits)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity {
        in_flight: AtomicU64::new(0),
        last_end: Mutex::new(Instant::now()),
    });
    let service = {
        let shared = Arc::clone(&shared);
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |req| {
            let shared = Arc::clone(&shared);
            let in_flight = activity.begin();
            async move {
                let answer = service::handle(req, &shared).await;
                answer.map(|r| {
                    r.map(|body| {
                        InUse {
                            body,
                            _in_flight: in_flight,
                        }
                        .boxed()
                    })
                })
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.streams);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    if limits.idle.is_zero() {
        // Zero: no idle timeout.
        let _ = conn.await;
        return;
    }
    loop {
        let deadline = activity.idle_deadline(limits.idle);
        tokio::select! {
            // The connection first: a request it has begun to read starts before the timer
            // is looked at.
            biased;
            _ = conn.as_mut() => return,
            () = tokio::time::sleep_until(deadline) => {
                if activity.idle_deadline(limits.idle) <= Instant::now() {
                    break;
                }
            }
        }
    }
    add(&shared.counters.idle_closed, 1);
    // HTTP/2: a GOAWAY, then the connection ends once the client acknowledges its ping; one
    // that never does (gone without a FIN) is cut after the header timeout.
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(limits.headers, conn).await;
}
