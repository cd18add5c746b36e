//! The embedded receiver as a collector would behave: what it accepts, what it refuses with
//! which status, and what it answers, checked with plain HTTP/1.1 over a socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use ringspan_receiver::{Fault, Keep, Receiver, ReceiverConfig};

/// Sends one request and returns the status and the body of the answer.
fn send(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let req = format!(
        "{head}\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body_at = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |i| i + 4);
    (status, out[body_at..].to_vec())
}

fn post(addr: SocketAddr, extra: &str, body: &[u8]) -> (u16, Vec<u8>) {
    send(
        addr,
        &format!("POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf{extra}"),
        body,
    )
}

fn request(spans: usize) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..spans)
                    .map(|i| Span {
                        name: format!("s{i}"),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

#[test]
fn accepts_protobuf_plain_and_gzip_and_counts_spans() {
    let r = Receiver::start(ReceiverConfig::default().keep(Keep::Decoded)).unwrap();
    let (status, body) = post(r.addr(), "", &request(3));
    assert_eq!(status, 200);
    assert_eq!(
        ExportTraceServiceResponse::decode(body.as_slice()).unwrap(),
        ExportTraceServiceResponse::default()
    );
    let zipped = gzip(&request(5));
    assert_eq!(post(r.addr(), "\r\nContent-Encoding: gzip", &zipped).0, 200);
    let c = r.counts();
    assert_eq!((c.requests, c.spans, c.gzip_requests), (2, 8, 1));
    assert_eq!(c.bytes, (request(3).len() + zipped.len()) as u64);
    let kept = r.take_requests();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[1].resource_spans[0].scope_spans[0].spans[4].name, "s4");
}

#[test]
fn accepts_metrics_and_counts_their_data_points() {
    for keep in [Keep::Decoded, Keep::Metrics, Keep::Count] {
        metrics_kept_with(keep);
    }
}

fn metrics_kept_with(keep: Keep) {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{
        metric::Data, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    let r = Receiver::start(ReceiverConfig::default().keep(keep)).unwrap();
    let gauge = |name: &str, points: usize| Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint::default(); points],
        })),
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![gauge("a", 2), gauge("b", 3)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let head = "POST /v1/metrics HTTP/1.1\r\nContent-Type: application/x-protobuf";
    assert_eq!(send(r.addr(), head, &req.encode_to_vec()).0, 200);
    assert_eq!(send(r.addr(), head, &[0x0a, 0x7f, 0x01]).0, 400);
    let c = r.counts();
    assert_eq!((c.metric_requests, c.data_points, c.requests), (1, 5, 0));
    let kept = r.take_metrics();
    if keep == Keep::Count {
        assert!(kept.is_empty());
    } else {
        assert_eq!(kept.len(), 1, "{keep:?}");
        assert_eq!(kept[0].request, req);
        assert_eq!(kept[0].bytes, req.encode_to_vec());
    }
    // Spans are kept decoded only with `Decoded`.
    assert_eq!(post(r.addr(), "", &request(3)).0, 200);
    assert_eq!(
        r.take_requests().len(),
        usize::from(keep == Keep::Decoded),
        "{keep:?}"
    );
}

#[test]
fn refuses_what_is_not_an_otlp_protobuf_request() {
    let r = Receiver::start(ReceiverConfig::default()).unwrap();
    let a = r.addr();
    let json = "POST /v1/traces HTTP/1.1\r\nContent-Type: application/json";
    assert_eq!(send(a, json, b"{}").0, 415);
    assert_eq!(post(a, "\r\nContent-Encoding: br", &request(1)).0, 415);
    assert_eq!(
        send(
            a,
            "POST /v1/profiles HTTP/1.1\r\nContent-Type: application/x-protobuf",
            &request(1)
        )
        .0,
        404
    );
    assert_eq!(send(a, "GET /v1/traces HTTP/1.1", b"").0, 405);
    assert_eq!(post(a, "", &[0x0a, 0x7f, 0x01]).0, 400);
    assert_eq!(
        post(a, "\r\nContent-Encoding: gzip", b"not gzip at all").0,
        400
    );
    // Over 64 MiB by its Content-Length: refused before the body is read.
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
          Content-Length: 70000000\r\n\r\n",
    )
    .unwrap();
    let mut answer = [0u8; 12];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 413");
    let c = r.counts();
    assert_eq!((c.requests, c.spans), (0, 0));
    assert_eq!(c.malformed, 7);
}

#[test]
fn gzip_bombs_stop_at_the_cap() {
    let r = Receiver::start(ReceiverConfig::default()).unwrap();
    // 65 MiB of zeros inflates past the 64 MiB cap.
    let bomb = gzip(&vec![0u8; 65 << 20]);
    assert!(bomb.len() < 1 << 20);
    assert_eq!(post(r.addr(), "\r\nContent-Encoding: gzip", &bomb).0, 413);
}

#[test]
fn faults_are_served_in_order_then_it_recovers() {
    let r = Receiver::start(ReceiverConfig::default()).unwrap();
    r.inject(
        Fault::Status {
            code: 429,
            retry_after: Some("7".into()),
        },
        2,
    );
    r.inject(
        Fault::Reject {
            spans: 10,
            message: "too old".into(),
        },
        1,
    );
    r.inject(Fault::DropConnection, 1);
    for _ in 0..2 {
        let (status, _) = post(r.addr(), "", &request(1));
        assert_eq!(status, 429);
    }
    let (status, body) = post(r.addr(), "", &request(4));
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(body.as_slice())
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(
        (partial.rejected_spans, partial.error_message.as_str()),
        (4, "too old")
    );
    assert_eq!(
        post(r.addr(), "", &request(1)).0,
        0,
        "the connection is dropped unanswered"
    );
    assert_eq!(post(r.addr(), "", &request(2)).0, 200);
    let c = r.counts();
    assert_eq!(
        (c.faulted, c.requests, c.spans, c.rejected_spans),
        (3, 2, 6, 4)
    );
    assert_eq!(c.accepted_spans(), 2);
}

#[test]
fn retry_after_is_sent_as_given() {
    let r = Receiver::start(ReceiverConfig::default()).unwrap();
    r.inject(
        Fault::Status {
            code: 503,
            retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        },
        1,
    );
    let mut s = TcpStream::connect(r.addr()).unwrap();
    let body = request(1);
    write!(
        s,
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 503"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("retry-after: wed, 21 oct 2015 07:28:00 gmt"),
        "{out}"
    );
}

/// Whether the server closed `stream` within `limit` (EOF or reset on a read).
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn silent_and_trickling_clients_are_cut_off_and_connections_capped() {
    let receiver = Receiver::start(
        ReceiverConfig::default()
            .header_timeout(Duration::from_millis(300))
            .body_timeout(Duration::from_millis(300))
            .max_connections(2),
    )
    .unwrap();
    let addr = receiver.endpoint().trim_start_matches("http://").to_owned();
    // Connected, never a byte: closed after the header timeout.
    let mut silent = TcpStream::connect(&addr).unwrap();
    // Headers, then a body that stops short of its Content-Length.
    let mut trickle = TcpStream::connect(&addr).unwrap();
    trickle
        .write_all(
            b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n\
              content-length: 100\r\n\r\n0123456789",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // A third connection while two are open: closed at once.
    let mut third = TcpStream::connect(&addr).unwrap();
    assert!(
        closed_within(&mut third, Duration::from_secs(2)),
        "not capped"
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)),
        "silent client kept"
    );
    assert!(
        closed_within(&mut trickle, Duration::from_secs(3)),
        "trickle kept"
    );
    let c = receiver.counts();
    assert_eq!((c.refused_connections, c.timed_out), (1, 1), "{c:?}");
    // With both gone, requests are served again.
    let mut fresh = TcpStream::connect(&addr).unwrap();
    fresh
        .write_all(b"GET /v1/traces HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    fresh.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
}

#[test]
fn requests_over_the_cap_are_told_to_come_back() {
    let receiver = Receiver::start(
        ReceiverConfig::default()
            .max_requests(1)
            .body_timeout(Duration::from_secs(5)),
    )
    .unwrap();
    let addr = receiver.endpoint().trim_start_matches("http://").to_owned();
    // One request whose body never finishes holds the only slot.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(
        b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n\
          content-length: 10\r\n\r\n01",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (status, _) = send(
        addr.parse().unwrap(),
        "POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf",
        &[],
    );
    assert_eq!(status, 503);
    assert_eq!(receiver.counts().busy, 1);
    drop(slow);
}
