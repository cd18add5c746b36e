"""Decode the last metrics request carrying the application's instruments with the
OpenTelemetry project's Python bindings (opentelemetry-proto from PyPI), and compare it with
what the Rust test recorded.

usage: check.py DIR   (DIR holds request.pb and expected.json from tests/app_metrics.rs)
"""
import json
import sys

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality


def main(directory):
    with open(f"{directory}/request.pb", "rb") as f:
        data = f.read()
    with open(f"{directory}/expected.json", encoding="utf-8") as f:
        want = json.load(f)
    request = ExportMetricsServiceRequest()
    request.ParseFromString(data)
    scopes = request.resource_metrics[0].scope_metrics
    assert [s.scope.name for s in scopes] == ["ringspan", want["scope"]], scopes
    metrics = {m.name: m for m in scopes[1].metrics}

    served = metrics["app.requests"]
    assert served.unit == "{request}", served.unit
    assert served.sum.is_monotonic
    assert (
        served.sum.aggregation_temporality
        == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    point = served.sum.data_points[0]
    attrs = {kv.key: kv.value.string_value for kv in point.attributes}
    assert attrs == {"route": "/orders"}, attrs
    assert point.as_int == want["app.requests"], (point.as_int, want)

    latency = metrics["app.latency"].histogram.data_points[0]
    assert latency.count == want["app.latency.count"], latency.count
    assert sum(latency.bucket_counts) == latency.count
    assert len(latency.bucket_counts) == len(latency.explicit_bounds) + 1
    assert latency.sum == want["app.latency.sum"], latency.sum
    print(
        f"python opentelemetry-proto decoded {len(metrics)} application metrics; "
        f"app.requests = {point.as_int}, app.latency count = {latency.count}"
    )


if __name__ == "__main__":
    main(sys.argv[1])
