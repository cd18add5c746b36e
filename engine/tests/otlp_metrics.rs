//! The OTLP metrics writer against the OpenTelemetry project's own Rust bindings: what it
//! writes decodes to the intended `ExportMetricsServiceRequest`, and is byte for byte what
//! prost writes for that message (canonical encoding).

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as PbValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use prost::Message;
use ringspan::otlp::{
    HistogramPoint, MetricMeta, MetricsRequest, Number, NumberPoint, Resource, Temporality,
};
use ringspan::ValueRef;

mod common;
use common::pb_resource;

fn kv(k: &str, v: PbValue) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn number(
    attrs: Vec<KeyValue>,
    start: u64,
    time: u64,
    v: number_data_point::Value,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(v),
        ..Default::default()
    }
}

#[test]
fn sums_gauges_and_histograms_decode_and_match_prost_byte_for_byte() {
    let resource = Resource::new("checkout").with("host.cores", 2i64);
    let mut req = MetricsRequest::new(&resource, "ringspan", "0.1.0");
    let processed = MetricMeta {
        name: "otel.sdk.processor.span.processed",
        description: "Spans processed.",
        unit: "{span}",
    };
    // A long description: its Metric's length needs two varint bytes (the body moves).
    let long = "x".repeat(300);
    let lag = MetricMeta {
        name: "ringspan.drain.lag",
        description: &long,
        unit: "s",
    };
    let latency = MetricMeta {
        name: "latency",
        description: "",
        unit: "ns",
    };
    req.sum(
        &processed,
        Temporality::Cumulative,
        true,
        &[
            NumberPoint {
                attributes: &[],
                start_unix_nanos: 1_000,
                time_unix_nanos: 2_000,
                value: Number::U64(42),
            },
            NumberPoint {
                attributes: &[("error.type", ValueRef::Str("queue_full"))],
                start_unix_nanos: 1_000,
                time_unix_nanos: 2_000,
                value: Number::U64(0),
            },
        ],
    );
    req.gauge(
        &lag,
        &[NumberPoint {
            attributes: &[("ring", ValueRef::I64(3)), ("ok", ValueRef::Bool(true))],
            start_unix_nanos: 0,
            time_unix_nanos: 2_000,
            value: Number::F64(0.0),
        }],
    );
    req.sum(
        &latency,
        Temporality::Delta,
        false,
        &[NumberPoint {
            attributes: &[],
            start_unix_nanos: 5,
            time_unix_nanos: 6,
            value: Number::I64(-7),
        }],
    );
    req.histogram(
        &latency,
        Temporality::Cumulative,
        &[
            HistogramPoint {
                attributes: &[("route", ValueRef::Str("/orders"))],
                start_unix_nanos: 1_000,
                time_unix_nanos: 2_000,
                count: 6,
                sum: Some(0.0),
                bounds: &[10.0, 100.0],
                bucket_counts: &[1, 2, 3],
                min: Some(1.5),
                max: Some(250.0),
            },
            HistogramPoint {
                attributes: &[],
                start_unix_nanos: 1_000,
                time_unix_nanos: 2_000,
                count: 0,
                sum: None,
                bounds: &[],
                bucket_counts: &[],
                min: None,
                max: None,
            },
        ],
    );
    assert_eq!(req.points(), 6);
    let ours = req.finish();

    use number_data_point::Value::{AsDouble, AsInt};
    let expected = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(pb_resource(&resource)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "ringspan".into(),
                    version: "0.1.0".into(),
                    ..Default::default()
                }),
                metrics: vec![
                    Metric {
                        name: processed.name.into(),
                        description: processed.description.into(),
                        unit: processed.unit.into(),
                        data: Some(Data::Sum(Sum {
                            data_points: vec![
                                number(vec![], 1_000, 2_000, AsInt(42)),
                                number(
                                    vec![kv(
                                        "error.type",
                                        PbValue::StringValue("queue_full".into()),
                                    )],
                                    1_000,
                                    2_000,
                                    AsInt(0),
                                ),
                            ],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: lag.name.into(),
                        description: long.clone(),
                        unit: "s".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![number(
                                vec![
                                    kv("ring", PbValue::IntValue(3)),
                                    kv("ok", PbValue::BoolValue(true)),
                                ],
                                0,
                                2_000,
                                AsDouble(0.0),
                            )],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "latency".into(),
                        unit: "ns".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: vec![number(vec![], 5, 6, AsInt(-7))],
                            aggregation_temporality: 1,
                            is_monotonic: false,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "latency".into(),
                        unit: "ns".into(),
                        data: Some(Data::Histogram(Histogram {
                            data_points: vec![
                                HistogramDataPoint {
                                    attributes: vec![kv(
                                        "route",
                                        PbValue::StringValue("/orders".into()),
                                    )],
                                    start_time_unix_nano: 1_000,
                                    time_unix_nano: 2_000,
                                    count: 6,
                                    sum: Some(0.0),
                                    bucket_counts: vec![1, 2, 3],
                                    explicit_bounds: vec![10.0, 100.0],
                                    min: Some(1.5),
                                    max: Some(250.0),
                                    ..Default::default()
                                },
                                HistogramDataPoint {
                                    start_time_unix_nano: 1_000,
                                    time_unix_nano: 2_000,
                                    ..Default::default()
                                },
                            ],
                            aggregation_temporality: 2,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let decoded = ExportMetricsServiceRequest::decode(&ours[..]).expect("decodes");
    assert_eq!(decoded, expected);
    assert_eq!(ours, expected.encode_to_vec(), "canonical bytes");
}

#[test]
fn an_integer_above_i64_max_saturates() {
    let mut req = MetricsRequest::new(&Resource::default(), "s", "");
    let meta = MetricMeta {
        name: "n",
        description: "",
        unit: "",
    };
    req.sum(
        &meta,
        Temporality::Cumulative,
        true,
        &[NumberPoint {
            attributes: &[],
            start_unix_nanos: 1,
            time_unix_nanos: 2,
            value: Number::U64(u64::MAX),
        }],
    );
    let decoded = ExportMetricsServiceRequest::decode(&req.finish()[..]).unwrap();
    let Some(Data::Sum(sum)) = &decoded.resource_metrics[0].scope_metrics[0].metrics[0].data else {
        panic!("a sum");
    };
    assert_eq!(
        sum.data_points[0].value,
        Some(number_data_point::Value::AsInt(i64::MAX))
    );
}
