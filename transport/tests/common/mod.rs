//! Helpers shared by the transport tests: a decoding receiver, a pipeline aimed at it with
//! short retry times, spans with checkable content, and what the receiver got.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use ringspan::{IdleStrategy, Value};
use ringspan_receiver::{Keep, Receiver, ReceiverConfig};
use ringspan_transport::{Pipeline, PipelineConfig, Report, RetryPolicy};

/// A loopback receiver that keeps decoded requests.
pub fn receiver() -> Receiver {
    Receiver::start(ReceiverConfig::default().keep(Keep::Decoded)).expect("receiver starts")
}

/// Retries in tens of milliseconds, so fault tests take seconds.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(200))
        .max_elapsed(Duration::from_secs(10))
        .max_retry_after(Duration::from_secs(2))
}

/// A small pipeline aimed at `endpoint` (a base URL): rings that hold all of a test's spans
/// (a thread that finishes first frees its ring for the next, which then shares it with the
/// spans not yet drained; so only the faults under test drop any), small batches so there are many requests,
/// a short schedule delay, fast retries, a 1 s attempt timeout.
pub fn config(endpoint: &str) -> PipelineConfig {
    let mut c = PipelineConfig::default();
    c.engine = c
        .engine
        .rings(2)
        .ring_capacity(8192)
        .max_batch(64)
        .schedule_delay(Duration::from_millis(20))
        .idle(IdleStrategy::Park(Duration::from_micros(200)));
    c.otlp = c.otlp.max_spans(64).buffers(4);
    c.exporter = c
        .exporter
        .base_endpoint(endpoint)
        .expect("endpoint")
        .retry(fast_retry())
        .timeout(Duration::from_secs(1));
    c
}

/// Records `n` spans named `name` on the calling thread, each with `seq` = `first + i`;
/// returns their span ids.
pub fn record(pipeline: &Pipeline, name: &'static str, first: i64, n: usize) -> Vec<[u8; 8]> {
    let producer = pipeline.engine().producer().expect("a free ring");
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let mut span = producer.span(name);
        span.set_attrs(&[
            ("seq", Value::i64(first + i as i64)),
            ("side", Value::str("buy")),
            ("ok", Value::bool(i % 2 == 0)),
        ]);
        ids.push(span.context().span_id.0);
    }
    ids
}

/// A span as the receiver decoded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Got {
    pub name: String,
    pub seq: i64,
    pub side: String,
    pub ok: bool,
}

/// Every span the receiver kept, by span id; panics on a span seen twice unless `dups`.
pub fn received(receiver: &Receiver, dups: bool) -> HashMap<[u8; 8], Got> {
    let mut out = HashMap::new();
    for req in receiver.take_requests() {
        for rs in req.resource_spans {
            for ss in rs.scope_spans {
                for s in ss.spans {
                    let attr = |k: &str| {
                        s.attributes
                            .iter()
                            .find(|a| a.key == k)
                            .and_then(|a| a.value.clone())
                            .and_then(|v| v.value)
                    };
                    let got = Got {
                        name: s.name.clone(),
                        seq: match attr("seq") {
                            Some(AnyValue::IntValue(i)) => i,
                            other => panic!("seq: {other:?}"),
                        },
                        side: match attr("side") {
                            Some(AnyValue::StringValue(v)) => v,
                            other => panic!("side: {other:?}"),
                        },
                        ok: match attr("ok") {
                            Some(AnyValue::BoolValue(b)) => b,
                            other => panic!("ok: {other:?}"),
                        },
                    };
                    let id: [u8; 8] = s.span_id.as_slice().try_into().expect("8-byte span id");
                    let again = out.insert(id, got);
                    assert!(dups || again.is_none(), "span {id:?} received twice");
                }
            }
        }
    }
    out
}

/// Checks the accounting identity of a final report, and prints it on failure.
pub fn assert_settled(report: &Report) {
    assert!(report.is_settled(), "not settled: {report:#?}");
    assert_eq!(
        report.recorded,
        report.exported + report.rejected + report.dropped_total(),
        "{report:#?}"
    );
}

/// Waits (polling) until `cond` holds, up to `limit`.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Resident set size of this process, from `/proc/self/statm`.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// Flushes the engine and waits until the exporter has settled every span handed to it.
pub fn settle(pipeline: &Pipeline) -> Report {
    pipeline
        .engine()
        .flush(Duration::from_secs(10))
        .expect("flush");
    assert!(
        wait_for(Duration::from_secs(15), || pipeline.report().unsettled()
            == 0),
        "spans never settled: {:#?}",
        pipeline.report()
    );
    pipeline.report()
}

/// A span a thread holds open (a request stuck in its handler) until [`HeldSpan::end`].
pub struct HeldSpan {
    go: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl HeldSpan {
    /// Starts thread `thread`, which opens span `name` on a producer of its own; returns
    /// once the span is open.
    pub fn open(pipeline: &std::sync::Arc<Pipeline>, thread: &str, name: &'static str) -> HeldSpan {
        let (go, go_rx) = std::sync::mpsc::channel::<()>();
        let (opened_tx, opened_rx) = std::sync::mpsc::channel::<()>();
        let pipeline = std::sync::Arc::clone(pipeline);
        let thread = std::thread::Builder::new()
            .name(thread.into())
            .spawn(move || {
                let producer = pipeline.engine().producer().expect("a free ring");
                let span = producer.span(name);
                opened_tx.send(()).unwrap();
                let _ = go_rx.recv();
                drop(span);
            })
            .unwrap();
        opened_rx.recv().unwrap();
        HeldSpan { go, thread }
    }

    /// Ends the span and waits for its thread.
    pub fn end(self) {
        self.go.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

/// A variable lookup over these pairs, for the `from_lookup` constructors.
pub fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}
