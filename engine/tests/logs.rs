//! Log records: what `Producer::log` records reaches the OTLP sink as an
//! `ExportLogsServiceRequest` that `opentelemetry-proto` decodes to exactly the expected
//! message (built here from the records' accessors, independently of the encoder) and whose
//! bytes equal prost's; records carry the ids of the span that was current; and every record
//! is accounted for, by reason, when rings fill, logs are off, a thread has no ring, or the
//! engine shuts down.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::otlp::{pb_attrs, Keep};
use common::{pb_resource, pb_value};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::{LogRecord as PbLog, ResourceLogs, ScopeLogs};
use prost::Message;
use ringspan::otlp::{OtlpConfig, OtlpSink, Resource};
use ringspan::{
    Calibration, ClockChoice, Discard, Engine, EngineConfig, IdleStrategy, LogRecord, Parent,
    Severity, Sink, SpanRecord, Value, MAX_LOG_ATTRS,
};

const T: Duration = Duration::from_secs(5);

/// The `opentelemetry-proto` log record equivalent to a record, from its accessors.
fn pb_log(r: &LogRecord, cal: &Calibration) -> PbLog {
    let time = cal.to_unix_nanos(r.time_ticks());
    let cx = r.span_context();
    PbLog {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number: i32::from(r.severity().number()),
        severity_text: r.severity().text().to_owned(),
        body: r.body().map(pb_value),
        attributes: pb_attrs(r.attributes()),
        dropped_attributes_count: r.dropped_attributes_count(),
        flags: cx.map_or(0, |c| u32::from(c.flags.0)),
        trace_id: cx.map(|c| c.trace_id.0.to_vec()).unwrap_or_default(),
        span_id: cx.map(|c| c.span_id.0.to_vec()).unwrap_or_default(),
        event_name: r.event_name().to_owned(),
    }
}

type Groups = Arc<Mutex<Vec<(String, Vec<PbLog>)>>>;

/// Forwards to the OTLP sink, noting for each log record it took the message it should
/// become, grouped by scope (one scope per request, so a group per scope change).
struct Tee {
    inner: OtlpSink<Keep>,
    expected: Groups,
    spans: Arc<Mutex<Vec<(ringspan::TraceId, ringspan::SpanId)>>>,
}

impl Sink for Tee {
    fn accept(&mut self, spans: &[SpanRecord], clock: &Calibration) -> usize {
        let taken = self.inner.accept(spans, clock);
        let mut ids = self.spans.lock().unwrap();
        ids.extend(spans[..taken].iter().map(|r| (r.trace_id(), r.span_id())));
        taken
    }
    fn flush(&mut self, clock: &Calibration) {
        self.inner.flush(clock)
    }
    fn take_dropped(&mut self) -> u64 {
        self.inner.take_dropped()
    }
    fn takes_logs(&self) -> bool {
        self.inner.takes_logs()
    }
    fn accept_logs(&mut self, logs: &[LogRecord], clock: &Calibration) -> usize {
        // One at a time, to leave out of the expected messages those the sink dropped.
        let stats = self.inner.stats();
        for (taken, r) in logs.iter().enumerate() {
            let dropped = stats.logs_dropped_too_large();
            if self.inner.accept_logs(std::slice::from_ref(r), clock) == 0 {
                return taken;
            }
            if stats.logs_dropped_too_large() > dropped {
                continue;
            }
            let pb = pb_log(r, clock);
            let mut expected = self.expected.lock().unwrap();
            match expected.last_mut() {
                Some((s, list)) if s == r.scope() => list.push(pb),
                _ => expected.push((r.scope().to_owned(), vec![pb])),
            }
        }
        logs.len()
    }
    fn take_dropped_logs(&mut self) -> u64 {
        self.inner.take_dropped_logs()
    }
}

struct Setup {
    engine: Engine,
    logs: Keep,
    expected: Groups,
    spans: Arc<Mutex<Vec<(ringspan::TraceId, ringspan::SpanId)>>>,
    resource: Resource,
}

fn setup(otlp: OtlpConfig, config: EngineConfig) -> Setup {
    let resource = Resource::new("logs-test").with("host.cores", 2i64);
    let logs = Keep::default();
    let sink = OtlpSink::new(otlp.resource(resource.clone()), Keep::default())
        .unwrap()
        .with_logs(logs.clone());
    let expected = Groups::default();
    let spans = Arc::default();
    let tee = Tee {
        inner: sink,
        expected: expected.clone(),
        spans: Arc::clone(&spans),
    };
    let engine = Engine::start(config, tee).unwrap();
    Setup {
        engine,
        logs,
        expected,
        spans,
        resource,
    }
}

fn config() -> EngineConfig {
    EngineConfig::default()
        .rings(3)
        .ring_capacity(64)
        .compact_capacity(64)
        .log_capacity(1024)
        .max_batch(100_000)
        .clock(ClockChoice::Monotonic)
        .idle(IdleStrategy::Yield)
}

/// The request the expected groups make.
fn expected_request(
    resource: &Resource,
    groups: &[(String, Vec<PbLog>)],
) -> Vec<ExportLogsServiceRequest> {
    groups
        .iter()
        .map(|(scope, logs)| ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(pb_resource(resource)),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: scope.clone(),
                        ..Default::default()
                    }),
                    log_records: logs.clone(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        })
        .collect()
}

/// Flushes, and checks every request decodes to the expected one and equals prost's bytes.
fn requests(s: &Setup) -> Vec<ExportLogsServiceRequest> {
    s.engine.flush(T).unwrap();
    let got = std::mem::take(&mut *s.logs.0.lock().unwrap());
    let expected = expected_request(
        &s.resource,
        &std::mem::take(&mut *s.expected.lock().unwrap()),
    );
    assert_eq!(got.len(), expected.len(), "one request per scope run");
    for (bytes, want) in got.iter().zip(&expected) {
        let decoded = ExportLogsServiceRequest::decode(&bytes[..])
            .expect("opentelemetry-proto decodes our bytes");
        assert_eq!(
            &decoded, want,
            "decoded request differs from the expected message"
        );
        assert_eq!(
            bytes,
            &want.encode_to_vec(),
            "bytes differ from prost's encoding"
        );
    }
    expected
}

#[test]
fn log_records_decode_to_what_was_recorded() {
    let s = setup(OtlpConfig::default(), config());
    let p = s.engine.producer().unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let user = String::from("alice");
    p.log(Severity::INFO, "started", &[]);
    p.log(
        Severity::WARN,
        Value::copied(&format!("user {user} over limit")),
        &[
            ("user", Value::copied(&user)),
            ("qty", Value::from(7)),
            ("ratio", Value::from(0.5)),
            ("retry", Value::from(true)),
            ("qty", Value::from(8)),
        ],
    );
    p.log_event(
        "order.filled",
        Severity::new(11),
        Value::from(42),
        &[("venue", Value::str("XNAS"))],
    );
    p.log_event("heartbeat", Severity::UNSPECIFIED, "", &[]);
    let many: Vec<(&'static str, Value<'_>)> = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
        .iter()
        .map(|&k| (k, Value::from(1)))
        .collect();
    p.log(Severity::DEBUG, "many", &many);
    p.set_scope("other.scope");
    p.log(Severity::ERROR, "in another scope", &[]);
    let got = requests(&s);
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert_eq!(got.len(), 2, "two scopes, two requests");
    let logs = &got[0].resource_logs[0].scope_logs[0].log_records;
    assert_eq!(logs.len(), 5);
    assert_eq!(logs[0].severity_number, 9);
    assert_eq!(logs[0].severity_text, "INFO");
    assert!(
        logs[0].trace_id.is_empty() && logs[0].span_id.is_empty(),
        "no span was open"
    );
    assert!(
        (before..=after).contains(&logs[0].time_unix_nano),
        "time is the wall clock's"
    );
    let body = logs[1].body.clone().map(|v| v.value);
    assert_eq!(
        format!("{body:?}"),
        format!(
            "{:?}",
            Some(pb_value(ringspan::ValueRef::Str("user alice over limit")).value)
        )
    );
    let keys: Vec<&str> = logs[1]
        .attributes
        .iter()
        .map(|kv| kv.key.as_str())
        .collect();
    assert_eq!(
        keys,
        ["user", "qty", "ratio", "retry"],
        "a repeated key goes out once"
    );
    assert_eq!(
        logs[1].attributes[1].value,
        Some(pb_value(ringspan::ValueRef::I64(8)))
    );
    assert_eq!(logs[2].event_name, "order.filled");
    assert_eq!(logs[2].severity_text, "INFO3");
    assert_eq!(logs[3].body, None, "an empty body is left out");
    assert_eq!(logs[3].severity_number, 0);
    assert_eq!(logs[4].attributes.len(), MAX_LOG_ATTRS);
    assert_eq!(logs[4].dropped_attributes_count, 10 - MAX_LOG_ATTRS as u32);
    assert_eq!(
        got[1].resource_logs[0].scope_logs[0]
            .scope
            .as_ref()
            .unwrap()
            .name,
        "other.scope"
    );
    drop(p);
    let snap = s.engine.shutdown(T).unwrap();
    assert_eq!((snap.logs.recorded, snap.logs.delivered), (6, 6));
    assert!(snap.logs.is_balanced(), "{snap:?}");
}

#[test]
fn log_records_carry_the_current_span_ids() {
    let s = setup(OtlpConfig::default(), config());
    let p = s.engine.producer().unwrap();
    {
        let _outer = p.span("outer");
        p.log(Severity::INFO, "in outer", &[]);
        {
            let _inner = p.span("inner");
            p.log(Severity::INFO, "in inner", &[]);
        }
        p.log(Severity::INFO, "in outer again", &[]);
    }
    // A remote parent: the record takes the trace of the `traceparent`.
    let remote =
        ringspan::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
    {
        let _server = p.start(Value::str("server"), Parent::Context(remote));
        p.log(Severity::WARN, "in server", &[]);
    }
    p.log(Severity::INFO, "after", &[]);
    let got = requests(&s);
    let logs = &got[0].resource_logs[0].scope_logs[0].log_records;
    let spans = s.spans.lock().unwrap().clone();
    // Spans reach the sink in the order they end: inner, outer, server.
    assert_eq!(spans.len(), 3);
    let ids = |i: usize| (spans[i].0 .0.to_vec(), spans[i].1 .0.to_vec());
    let of = |l: &PbLog| (l.trace_id.clone(), l.span_id.clone());
    assert_eq!(of(&logs[0]), ids(1), "in outer");
    assert_eq!(of(&logs[1]), ids(0), "in inner");
    assert_eq!(of(&logs[2]), ids(1), "in outer again");
    assert_eq!(of(&logs[3]), ids(2), "in server");
    assert_eq!(logs[3].trace_id, remote.trace_id.0.to_vec());
    assert_eq!(logs[3].flags, 1, "the sampled flag");
    assert!(logs[4].span_id.is_empty(), "no span after");
    drop(p);
    assert!(s.engine.shutdown(T).unwrap().logs.is_balanced());
}

#[test]
fn unsampled_spans_still_give_their_ids() {
    let config = config().sampler(ringspan::Sampler::always_off());
    let s = setup(OtlpConfig::default(), config);
    let p = s.engine.producer().unwrap();
    let cx = {
        let span = p.span("unsampled");
        p.log(Severity::INFO, "inside", &[]);
        span.context()
    };
    let got = requests(&s);
    let l = &got[0].resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(l.trace_id, cx.trace_id.0.to_vec());
    assert_eq!(l.span_id, cx.span_id.0.to_vec());
    assert_eq!(l.flags, 0, "not sampled");
    drop(p);
    let snap = s.engine.shutdown(T).unwrap();
    assert_eq!((snap.recorded, snap.logs.delivered), (0, 1));
}

#[test]
fn records_from_several_threads_are_all_exported_or_counted() {
    let s = setup(
        OtlpConfig::default().max_spans(100),
        config().log_capacity(64),
    );
    let engine = Arc::new(s.engine);
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                let p = engine.producer().unwrap();
                for i in 0..20_000i64 {
                    p.log(
                        Severity::INFO,
                        "tick",
                        &[("thread", Value::from(t)), ("i", Value::from(i))],
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // The fourth thread finds every ring taken only if the others still hold theirs; they
    // have exited, so a detached producer makes the `no_ring` case.
    let held: Vec<_> = (0..3).map(|_| engine.producer().unwrap()).collect();
    engine
        .detached_producer()
        .log(Severity::INFO, "no ring", &[]);
    drop(held);
    let snap = engine.shutdown(T).unwrap();
    let l = snap.logs;
    assert_eq!(l.recorded, 60_001);
    assert!(l.is_balanced(), "{l:?}");
    assert_eq!(l.dropped.no_ring, 1);
    let exported: usize = s
        .logs
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            let r = ExportLogsServiceRequest::decode(&b[..]).unwrap();
            let n = r.resource_logs[0].scope_logs[0].log_records.len();
            assert!(n <= 100, "max_spans caps a request of log records");
            n
        })
        .sum();
    assert_eq!(
        exported as u64, l.delivered,
        "what the sink took was exported"
    );
    assert_eq!(
        l.delivered + l.dropped.ring_full + l.dropped.no_ring,
        l.recorded
    );
}

#[test]
fn logs_are_off_for_a_sink_without_them_or_a_zero_capacity() {
    struct SpansOnly;
    impl Sink for SpansOnly {
        fn accept(&mut self, spans: &[SpanRecord], _: &Calibration) -> usize {
            spans.len()
        }
        fn flush(&mut self, _: &Calibration) {}
    }
    let engine = Engine::start(config(), SpansOnly).unwrap();
    let p = engine.producer().unwrap();
    p.log(Severity::INFO, "nowhere", &[]);
    assert_eq!(engine.ring_gauges().next().unwrap().logs_capacity, 0);
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert_eq!((snap.logs.recorded, snap.logs.dropped.off), (1, 1));

    let discard = Discard::default();
    let engine = Engine::start(config().log_capacity(0), discard.clone()).unwrap();
    let p = engine.producer().unwrap();
    p.log(Severity::INFO, "off", &[]);
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert_eq!((snap.logs.dropped.off, discard.logs()), (1, 0));
    assert!(snap.logs.is_balanced());

    let err = config().log_capacity(1000).validate().unwrap_err();
    assert!(err.to_string().contains("log_capacity"), "{err}");
}

#[test]
fn a_full_log_ring_drops_and_counts_and_shutdown_settles() {
    // A sink that refuses log records until let go: the ring fills.
    struct Refuse(Arc<std::sync::atomic::AtomicBool>, Discard);
    impl Sink for Refuse {
        fn accept(&mut self, spans: &[SpanRecord], c: &Calibration) -> usize {
            self.1.accept(spans, c)
        }
        fn flush(&mut self, _: &Calibration) {}
        fn takes_logs(&self) -> bool {
            true
        }
        fn accept_logs(&mut self, logs: &[LogRecord], c: &Calibration) -> usize {
            if self.0.load(std::sync::atomic::Ordering::Relaxed) {
                self.1.accept_logs(logs, c)
            } else {
                0
            }
        }
    }
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let discard = Discard::default();
    let engine = Engine::start(
        config().log_capacity(16),
        Refuse(Arc::clone(&open), discard.clone()),
    )
    .unwrap();
    let p = engine.producer().unwrap();
    for _ in 0..40 {
        p.log(Severity::INFO, "x", &[]);
    }
    let snap = engine.snapshot();
    assert_eq!(snap.logs.dropped.ring_full, 24);
    assert_eq!(snap.logs.in_rings, 16);
    assert!(snap.logs.is_balanced(), "{snap:?}");
    open.store(true, std::sync::atomic::Ordering::Relaxed);
    engine.flush(T).unwrap();
    assert_eq!(discard.logs(), 16);
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert_eq!((snap.logs.delivered, snap.logs.in_rings), (16, 0));
    assert!(snap.logs.is_balanced());
}

#[test]
fn a_log_record_too_large_for_any_request_is_dropped_and_counted() {
    let s = setup(OtlpConfig::default().max_bytes(1024), config());
    let p = s.engine.producer().unwrap();
    // A static body is not copied into the record, so it can outgrow any request.
    let big: &'static str = Box::leak("z".repeat(1500).into_boxed_str());
    p.log(Severity::INFO, Value::str(big), &[]);
    p.log(Severity::INFO, "small", &[]);
    let got = requests(&s);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].resource_logs[0].scope_logs[0].log_records.len(), 1);
    drop(p);
    let snap = s.engine.shutdown(T).unwrap();
    assert_eq!(snap.logs.dropped.too_large, 1);
    assert_eq!(snap.logs.delivered, 1);
    assert!(snap.logs.is_balanced());
}

#[test]
fn a_travelling_span_entered_on_a_thread_parents_its_log_records() {
    let s = setup(OtlpConfig::default(), config());
    let span = s.engine.travel("request");
    let cx = span.context();
    let engine = &s.engine;
    std::thread::scope(|t| {
        t.spawn(|| span.enter(|| engine.with_local(|p| p.log(Severity::INFO, "on a worker", &[]))));
    });
    drop(span);
    let got = requests(&s);
    let l = &got[0].resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(
        (l.trace_id.clone(), l.span_id.clone()),
        (cx.trace_id.0.to_vec(), cx.span_id.0.to_vec())
    );
}

#[test]
fn a_sink_that_panics_on_log_records_loses_them_counted() {
    struct Panicky;
    impl Sink for Panicky {
        fn accept(&mut self, spans: &[SpanRecord], _: &Calibration) -> usize {
            spans.len()
        }
        fn flush(&mut self, _: &Calibration) {}
        fn takes_logs(&self) -> bool {
            true
        }
        fn accept_logs(&mut self, _: &[LogRecord], _: &Calibration) -> usize {
            panic!("sink bug")
        }
    }
    let engine = Engine::start(config(), Panicky).unwrap();
    let p = engine.producer().unwrap();
    for _ in 0..10 {
        p.log(Severity::INFO, "x", &[]);
    }
    engine.flush(T).unwrap();
    drop(p.span("after the panic"));
    p.log(Severity::INFO, "after the panic", &[]);
    drop(p);
    let snap = engine.shutdown(T).unwrap();
    assert!(snap.sink_panicked);
    assert_eq!(snap.logs.dropped.sink_panicked, 11, "{snap:?}");
    assert_eq!(
        snap.dropped.sink_panicked, 1,
        "spans after the panic are lost too"
    );
    assert!(snap.logs.is_balanced() && snap.is_balanced());
}
