//! The logs bridges: `tracing` events outside any span become log records through the same
//! `TracingLayer` (inside a span they stay span events), and the `log` crate's facade records
//! through `LogBridge`; both carry the ids of the ringspan span current on the thread, map
//! levels to severities, and survive a field whose `Debug` logs in turn.
#![cfg(all(feature = "tracing", feature = "log"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringspan::{
    Calibration, Engine, EngineConfig, IdleStrategy, LogRecord, Severity, Sink, SpanContext,
    SpanRecord, ValueRef,
};
use tracing_subscriber::layer::SubscriberExt;

const T: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
struct Log {
    severity: Severity,
    body: String,
    attrs: Vec<(String, String)>,
    span: Option<SpanContext>,
}

fn text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Str(s) => s.to_owned(),
        other => format!("{other:?}"),
    }
}

/// Keeps every log record, and the names of the spans.
#[derive(Clone, Default)]
struct Keep {
    logs: Arc<Mutex<Vec<Log>>>,
    spans: Arc<Mutex<Vec<(String, usize)>>>,
}

impl Sink for Keep {
    fn accept(&mut self, spans: &[SpanRecord], _: &Calibration) -> usize {
        let mut kept = self.spans.lock().unwrap();
        kept.extend(
            spans
                .iter()
                .map(|s| (s.name().to_owned(), s.events().count())),
        );
        spans.len()
    }
    fn flush(&mut self, _: &Calibration) {}
    fn takes_logs(&self) -> bool {
        true
    }
    fn accept_logs(&mut self, logs: &[LogRecord], _: &Calibration) -> usize {
        let mut kept = self.logs.lock().unwrap();
        kept.extend(logs.iter().map(|r| {
            Log {
                severity: r.severity(),
                body: r.body().map(text).unwrap_or_default(),
                attrs: r
                    .attributes()
                    .map(|(k, v)| (k.to_owned(), text(v)))
                    .collect(),
                span: r.span_context(),
            }
        }));
        logs.len()
    }
}

fn start() -> (Engine, Keep) {
    let sink = Keep::default();
    let config = EngineConfig::default()
        .rings(2)
        .ring_capacity(256)
        .compact_capacity(256)
        .idle(IdleStrategy::Yield);
    (Engine::start(config, sink.clone()).unwrap(), sink)
}

/// Logs from its `Debug` impl: a field that logs while it is being read.
struct Chatty;

impl std::fmt::Debug for Chatty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        log::warn!("formatting Chatty");
        f.write_str("Chatty")
    }
}

#[test]
fn tracing_events_and_log_records_become_log_records() {
    let (engine, sink) = start();
    // The `log` facade is process-wide: this is the only test that installs it.
    engine.log_bridge(log::LevelFilter::Info).install().unwrap();
    let subscriber = tracing_subscriber::registry().with(engine.tracing_layer());
    let span_cx = tracing::subscriber::with_default(subscriber, || {
        tracing::info!(
            order = 42i64,
            venue = "XNAS",
            ratio = 0.5,
            ok = true,
            "order filled"
        );
        tracing::error!(error = "limit", "rejected");
        tracing::debug!(big = u64::MAX, who = ?Chatty, "odd values");
        log::info!("plain");
        log::warn!("disk {}% full", 91);
        log::debug!("below the bridge's level");
        // Under a native span: the records take its ids.
        let cx = engine.with_local(|p| {
            let span = p.span("native");
            let cx = span.context();
            tracing::warn!("inside native");
            log::error!("inside native too");
            cx
        });
        // Inside a `tracing` span: a span event, not a log record.
        let s = tracing::info_span!("traced");
        s.in_scope(|| tracing::info!("an event of the span"));
        cx
    });
    engine.flush(T).unwrap();
    let logs = sink.logs.lock().unwrap().clone();
    let bodies: Vec<&str> = logs.iter().map(|l| l.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            "order filled",
            "rejected",
            "formatting Chatty",
            "odd values",
            "plain",
            "disk 91% full",
            "inside native",
            "inside native too"
        ],
        "{logs:#?}"
    );
    let attrs = |l: &Log| {
        l.attrs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(logs[0].severity, Severity::INFO);
    assert_eq!(
        attrs(&logs[0]),
        [
            "order=I64(42)",
            "venue=XNAS",
            "ratio=F64(0.5)",
            "ok=Bool(true)"
        ]
    );
    assert_eq!(logs[1].severity, Severity::ERROR);
    assert_eq!(attrs(&logs[1]), ["exception.message=limit", "error=limit"]);
    assert_eq!(logs[3].severity, Severity::DEBUG);
    assert_eq!(
        attrs(&logs[3]),
        ["big=18446744073709551615", "who=Chatty"],
        "a u64 past i64 as text, Debug formatted"
    );
    assert_eq!(
        logs[2].severity,
        Severity::WARN,
        "the record Chatty's Debug logged"
    );
    assert_eq!(logs[5].severity, Severity::WARN);
    assert_eq!(
        attrs(&logs[5]),
        [format!("code.namespace={}", module_path!())]
    );
    assert!(
        logs[..6].iter().all(|l| l.span.is_none()),
        "no span was current"
    );
    for l in &logs[6..] {
        let got = l.span.expect("the native span's ids");
        assert_eq!(
            (got.trace_id, got.span_id),
            (span_cx.trace_id, span_cx.span_id)
        );
    }
    let spans = sink.spans.lock().unwrap().clone();
    assert!(spans.contains(&("traced".to_owned(), 1)), "{spans:?}");
    let snap = engine.shutdown(T).unwrap();
    assert_eq!(
        snap.logs.recorded, 8,
        "the debug! below the bridge's level is not recorded"
    );
    assert!(snap.logs.is_balanced());
}
