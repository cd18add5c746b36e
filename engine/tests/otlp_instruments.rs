//! The instruments as OTLP metrics, decoded with the OpenTelemetry project's Rust bindings:
//! kinds, units, attributes and values as recorded; cumulative points keep their start
//! across exports; delta points cover the time since the last export and add up to the
//! cumulative ones; an up-down counter stays cumulative under a delta preference; histogram
//! buckets add up to their count.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as PbValue;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use prost::Message;
use ringspan::otlp::{MetricsEncoder, MetricsRequest, Resource, TemporalityPreference};
use ringspan::{Discard, Engine, EngineConfig, ValueRef};

struct Setup {
    engine: Engine,
    requests: ringspan::Counter,
    queue: ringspan::UpDownCounter,
    temperature: ringspan::Gauge,
    latency: ringspan::Histogram,
}

fn setup() -> Setup {
    let engine = Engine::start(EngineConfig::default().rings(2), Discard::default()).unwrap();
    let requests = engine
        .metric("http.server.requests")
        .unit("{request}")
        .description("Requests served.")
        .attributes(&[
            ("http.route", ValueRef::Str("/orders")),
            ("ok", ValueRef::Bool(true)),
        ])
        .counter()
        .unwrap();
    let queue = engine.metric("queue.depth").up_down_counter().unwrap();
    let temperature = engine
        .metric("cpu.temperature")
        .unit("Cel")
        .gauge()
        .unwrap();
    let latency = engine
        .metric("http.server.duration")
        .unit("ms")
        .bounds(&[1.0, 10.0])
        .histogram()
        .unwrap();
    Setup {
        engine,
        requests,
        queue,
        temperature,
        latency,
    }
}

/// One export: the engine's reading, encoded under scope `app` after an empty `ringspan`
/// scope, decoded.
fn export(engine: &Engine, encoder: &mut MetricsEncoder, now: u64) -> ExportMetricsServiceRequest {
    let mut req = MetricsRequest::new(&Resource::new("svc"), "ringspan", "0.1.0");
    req.scope("app", "");
    let reading = engine.read_metrics();
    encoder.encode(&reading, &mut req, now);
    ExportMetricsServiceRequest::decode(&req.finish()[..]).unwrap()
}

fn metric<'a>(req: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    let scopes = &req.resource_metrics[0].scope_metrics;
    assert_eq!(scopes.len(), 2);
    assert_eq!(scopes[0].scope.as_ref().unwrap().name, "ringspan");
    assert!(scopes[0].metrics.is_empty());
    assert_eq!(scopes[1].scope.as_ref().unwrap().name, "app");
    scopes[1]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Now, in Unix nanoseconds.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn int(v: &Option<number_data_point::Value>) -> i64 {
    match v {
        Some(number_data_point::Value::AsInt(i)) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

/// Records one round of values on `p`.
fn round(s: &Setup, p: &ringspan::Producer, k: u64) {
    s.requests.add(p, k);
    s.queue.add(p, 5);
    s.queue.add(p, -2);
    s.temperature.set(p, 40.0 + k as f64);
    for v in [0.5, 1.0, 5.0, 50.0] {
        s.latency.record(p, v * k as f64);
    }
}

#[test]
fn cumulative_points_keep_their_start_and_carry_every_kind() {
    let s = setup();
    let p = s.engine.producer().unwrap();
    let mut encoder = MetricsEncoder::new(TemporalityPreference::Cumulative);
    round(&s, &p, 1);
    let first = export(&s.engine, &mut encoder, now());
    round(&s, &p, 2);
    let second = export(&s.engine, &mut encoder, now());

    let m = metric(&second, "http.server.requests");
    assert_eq!(
        (m.unit.as_str(), m.description.as_str()),
        ("{request}", "Requests served.")
    );
    let Some(Data::Sum(sum)) = &m.data else {
        panic!("{m:?}")
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, 2);
    let point = &sum.data_points[0];
    assert_eq!(int(&point.value), 3);
    assert!(point.time_unix_nano >= point.start_time_unix_nano);
    let keys: Vec<(&str, &Option<PbValue>)> = point
        .attributes
        .iter()
        .map(|kv| (kv.key.as_str(), &kv.value.as_ref().unwrap().value))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("http.route", &Some(PbValue::StringValue("/orders".into()))),
            ("ok", &Some(PbValue::BoolValue(true))),
        ]
    );
    // The same start in both exports: when the series was bound, before the first one.
    let Some(Data::Sum(first_sum)) = &metric(&first, "http.server.requests").data else {
        panic!()
    };
    let start = first_sum.data_points[0].start_time_unix_nano;
    assert!(start > 0);
    assert_eq!(point.start_time_unix_nano, start);

    let Some(Data::Sum(queue)) = &metric(&second, "queue.depth").data else {
        panic!()
    };
    assert!(!queue.is_monotonic);
    assert_eq!(int(&queue.data_points[0].value), 6);

    let Some(Data::Gauge(g)) = &metric(&second, "cpu.temperature").data else {
        panic!()
    };
    assert_eq!(
        g.data_points[0].value,
        Some(number_data_point::Value::AsDouble(42.0))
    );

    let Some(Data::Histogram(h)) = &metric(&second, "http.server.duration").data else {
        panic!()
    };
    assert_eq!(h.aggregation_temporality, 2);
    let hp = &h.data_points[0];
    // Round 1: 0.5, 1, 5, 50; round 2: 1, 2, 10, 100.
    assert_eq!(hp.explicit_bounds, vec![1.0, 10.0]);
    assert_eq!(hp.bucket_counts, vec![3, 3, 2]);
    assert_eq!(hp.count, hp.bucket_counts.iter().sum::<u64>());
    assert_eq!(hp.sum, Some(169.5));
    assert_eq!((hp.min, hp.max), (Some(0.5), Some(100.0)));
    let Some(Data::Histogram(h1)) = &metric(&first, "http.server.duration").data else {
        panic!()
    };
    assert_eq!(
        hp.start_time_unix_nano,
        h1.data_points[0].start_time_unix_nano
    );
    drop(p);
    s.engine.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn delta_points_cover_the_time_since_the_last_export() {
    let s = setup();
    let p = s.engine.producer().unwrap();
    let mut encoder = MetricsEncoder::new(TemporalityPreference::Delta);
    round(&s, &p, 1);
    let (t1, t2, t3) = (now(), now() + 1_000, now() + 2_000);
    let first = export(&s.engine, &mut encoder, t1);
    round(&s, &p, 2);
    let second = export(&s.engine, &mut encoder, t2);
    let third = export(&s.engine, &mut encoder, t3);

    let sum_of = |req: &ExportMetricsServiceRequest, name: &str| {
        let Some(Data::Sum(sum)) = &metric(req, name).data else {
            panic!()
        };
        (sum.aggregation_temporality, sum.data_points[0].clone())
    };
    let (d1, p1) = sum_of(&first, "http.server.requests");
    let (d2, p2) = sum_of(&second, "http.server.requests");
    let (_, p3) = sum_of(&third, "http.server.requests");
    assert_eq!((d1, d2), (1, 1));
    assert_eq!((int(&p1.value), int(&p2.value), int(&p3.value)), (1, 2, 0));
    // The first from the series' binding, then each from the export before.
    assert!(p1.start_time_unix_nano > 0 && p1.start_time_unix_nano <= t1);
    assert_eq!((p2.start_time_unix_nano, p3.start_time_unix_nano), (t1, t2));
    assert_eq!(
        (p1.time_unix_nano, p2.time_unix_nano, p3.time_unix_nano),
        (t1, t2, t3)
    );

    // An up-down counter stays cumulative.
    let (tq, q2) = sum_of(&second, "queue.depth");
    assert_eq!((tq, int(&q2.value)), (2, 6));

    let hist = |req: &ExportMetricsServiceRequest| {
        let Some(Data::Histogram(h)) = &metric(req, "http.server.duration").data else {
            panic!()
        };
        assert_eq!(h.aggregation_temporality, 1);
        h.data_points[0].clone()
    };
    let (h1, h2) = (hist(&first), hist(&second));
    assert_eq!(
        (h1.bucket_counts.clone(), h1.count, h1.sum),
        (vec![2, 1, 1], 4, Some(56.5))
    );
    assert_eq!(
        (h2.bucket_counts.clone(), h2.count, h2.sum),
        (vec![1, 2, 1], 4, Some(113.0))
    );
    assert_eq!(h2.start_time_unix_nano, t1);
    // Min and max are over the series' life: not sent as deltas.
    assert_eq!((h2.min, h2.max), (None, None));
    drop(p);
    s.engine.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn the_temporality_preference_parses_as_the_spec_names_it() {
    assert_eq!(
        TemporalityPreference::parse("Delta"),
        Some(TemporalityPreference::Delta)
    );
    assert_eq!(
        TemporalityPreference::parse(" cumulative "),
        Some(TemporalityPreference::Cumulative)
    );
    assert_eq!(
        TemporalityPreference::parse("lowmemory"),
        Some(TemporalityPreference::LowMemory)
    );
    assert_eq!(TemporalityPreference::parse("deltas"), None);
}
