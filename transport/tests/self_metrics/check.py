"""Decode the last metrics request the pipeline sent about itself with the OpenTelemetry
project's Python bindings (opentelemetry-proto from PyPI), and compare it with the final
report the Rust test wrote beside it.

usage: check.py DIR   (DIR holds request.pb and expected.json from tests/self_metrics.rs)
"""
import json
import sys

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality


def value(any_value):
    return getattr(any_value, any_value.WhichOneof("value"))


def main(directory):
    with open(f"{directory}/request.pb", "rb") as f:
        data = f.read()
    with open(f"{directory}/expected.json", encoding="utf-8") as f:
        want = json.load(f)
    request = ExportMetricsServiceRequest()
    request.ParseFromString(data)
    # Every byte was understood: re-encoding gives the same message.
    again = ExportMetricsServiceRequest()
    again.ParseFromString(request.SerializeToString())
    assert again == request

    assert len(request.resource_metrics) == 1
    rm = request.resource_metrics[0]
    resource = {kv.key: value(kv.value) for kv in rm.resource.attributes}
    assert resource["service.name"] == want["service.name"], resource
    assert len(rm.scope_metrics) == 1
    sm = rm.scope_metrics[0]
    assert sm.scope.name == "ringspan", sm.scope
    assert len(sm.metrics) == want["metrics"], len(sm.metrics)

    sums = {}
    for m in sm.metrics:
        kind = m.WhichOneof("data")
        assert kind in ("sum", "gauge"), (m.name, kind)
        if kind == "sum":
            assert m.sum.is_monotonic, m.name
            assert (
                m.sum.aggregation_temporality
                == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
            ), m.name
            for p in m.sum.data_points:
                assert p.start_time_unix_nano == want["start_time_unix_nano"], m.name
                assert p.time_unix_nano > p.start_time_unix_nano, m.name
                assert p.WhichOneof("value") == "as_int", m.name
                if not p.attributes:
                    sums[m.name] = p.as_int
        else:
            for p in m.gauge.data_points:
                assert p.WhichOneof("value") == "as_double", m.name
    for name in (
        "ringspan.span.recorded",
        "otel.sdk.processor.span.processed",
        "otel.sdk.exporter.span.exported",
    ):
        assert sums[name] == want[name], (name, sums[name], want[name])
    print(
        f"python opentelemetry-proto decoded {len(sm.metrics)} metrics; "
        f"recorded {sums['ringspan.span.recorded']} = exported "
        f"{sums['otel.sdk.exporter.span.exported']}"
    )


if __name__ == "__main__":
    main(sys.argv[1])
