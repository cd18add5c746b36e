//! Idle connections: the receiver closes a connection that has had no request in flight for
//! its idle timeout, over HTTP/1.1 and HTTP/2, and never one that is in use.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use ringspan_receiver::{Fault, Receiver, ReceiverConfig};

const IDLE: Duration = Duration::from_millis(300);
/// Longer than the idle timeout, so that a close before it is the idle timeout's doing.
const HEADERS: Duration = Duration::from_millis(1500);

fn receiver() -> (Receiver, String) {
    receiver_with(IDLE)
}

fn receiver_with(idle: Duration) -> (Receiver, String) {
    let receiver = Receiver::start(
        ReceiverConfig::default()
            .idle_timeout(idle)
            .header_timeout(HEADERS),
    )
    .unwrap();
    let addr = receiver.endpoint().trim_start_matches("http://").to_owned();
    (receiver, addr)
}

fn one_span() -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "s".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Sends one kept-alive POST and reads its whole answer: the status and the body, by its
/// `Content-Length`.
fn exchange(s: &mut TcpStream, body: &[u8]) -> (u16, Vec<u8>) {
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let (head_len, body_len) = loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the answer");
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..i]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            break (i + 4, len);
        }
    };
    while got.len() < head_len + body_len {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed inside the answer's body");
        got.extend_from_slice(&buf[..n]);
    }
    let status = String::from_utf8_lossy(&got[..head_len])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, got[head_len..head_len + body_len].to_vec())
}

/// How long until the server closes `s` (EOF or reset), reading and dropping what it sends
/// meanwhile; `None` if it is still open after `limit`.
fn time_to_close(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = [0u8; 256];
    while started.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[test]
fn a_connection_in_use_stays_open_and_closes_once_idle() {
    let (receiver, addr) = receiver();
    let mut s = TcpStream::connect(&addr).unwrap();
    // Twelve requests 100 ms apart on one connection: four idle timeouts' worth of time.
    for _ in 0..12 {
        assert_eq!(exchange(&mut s, &one_span()).0, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(receiver.counts().idle_closed, 0);
    // Then nothing: closed after the idle timeout, well before the header timeout would
    // (1.4 s from here).
    let closed = time_to_close(&mut s, Duration::from_secs(5)).expect("still open");
    assert!(
        closed < IDLE + Duration::from_millis(400),
        "closed after {closed:?}"
    );
    let c = receiver.counts();
    assert_eq!((c.requests, c.idle_closed), (12, 1), "{c:?}");
}

#[test]
fn an_answer_that_outlasts_the_idle_timeout_is_sent_whole() {
    let (receiver, addr) = receiver();
    // 200 at once, then the body's rest after longer than the idle timeout and the grace
    // the close gives a client (the header timeout) together.
    let stall = IDLE + HEADERS + Duration::from_millis(300);
    receiver.inject(Fault::StallBody(stall), 1);
    let mut s = TcpStream::connect(&addr).unwrap();
    let started = Instant::now();
    let (status, body) = exchange(&mut s, &one_span());
    assert!(started.elapsed() >= stall, "the stall did not happen");
    assert_eq!(status, 200);
    ExportTraceServiceResponse::decode(&body[..]).expect("the whole answer");
    assert!(time_to_close(&mut s, Duration::from_secs(5)).is_some());
    assert_eq!(receiver.counts().idle_closed, 1);
}

/// An HTTP/2 frame's type, from its 9-byte header.
const GOAWAY: u8 = 0x7;

#[test]
fn an_idle_http2_connection_gets_a_goaway_then_is_closed() {
    let (receiver, addr) = receiver();
    let mut s = TcpStream::connect(&addr).unwrap();
    // The client preface and an empty SETTINGS frame; then silence (no ack of anything).
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    s.write_all(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]).unwrap();
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let closed = started.elapsed();
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 9 <= got.len() {
        let len = u32::from_be_bytes([0, got[at], got[at + 1], got[at + 2]]) as usize;
        frames.push(got[at + 3]);
        at += 9 + len;
    }
    assert!(frames.contains(&GOAWAY), "frames {frames:?}");
    // It waited the idle timeout, then at most the header timeout for an ack that never came.
    assert!(
        closed >= IDLE && closed < IDLE + HEADERS + Duration::from_secs(1),
        "closed after {closed:?}"
    );
    assert_eq!(receiver.counts().idle_closed, 1);
}

#[test]
fn a_zero_or_huge_idle_timeout_never_closes() {
    for idle in [Duration::ZERO, Duration::MAX] {
        let (receiver, addr) = receiver_with(idle);
        let mut s = TcpStream::connect(&addr).unwrap();
        assert_eq!(exchange(&mut s, &one_span()).0, 200, "{idle:?}");
        assert_eq!(exchange(&mut s, &one_span()).0, 200, "{idle:?}");
        assert_eq!(receiver.counts().idle_closed, 0);
    }
}
