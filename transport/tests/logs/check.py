"""Decode a logs request the pipeline sent to /v1/logs with the OpenTelemetry project's
Python bindings (opentelemetry-proto from PyPI), and compare it with what the Rust test
recorded: each record's seq, severity, and the trace and span id of its span.

usage: check.py DIR   (DIR holds request.pb and expected.json from transport/tests/logs.rs)
"""
import json
import sys

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)


def main(directory):
    with open(f"{directory}/request.pb", "rb") as f:
        data = f.read()
    with open(f"{directory}/expected.json", encoding="utf-8") as f:
        want = json.load(f)
    request = ExportLogsServiceRequest()
    request.ParseFromString(data)
    assert len(request.resource_logs) == 1, request
    resource = {kv.key: kv.value.string_value for kv in request.resource_logs[0].resource.attributes}
    assert resource.get("telemetry.sdk.name") == "ringspan", resource
    records = [r for s in request.resource_logs[0].scope_logs for r in s.log_records]
    assert len(records) == len(want), (len(records), len(want))
    for got, exp in zip(records, want):
        seq = {kv.key: kv.value for kv in got.attributes}["seq"].int_value
        assert seq == exp["seq"], (seq, exp)
        assert got.severity_number == exp["severity"], (got.severity_number, exp)
        assert got.trace_id.hex() == exp["trace_id"], (got.trace_id.hex(), exp)
        assert got.span_id.hex() == exp["span_id"], (got.span_id.hex(), exp)
        assert got.time_unix_nano > 0 and got.observed_time_unix_nano == got.time_unix_nano
        if exp["span_id"]:
            assert got.flags & 0xFF == 1, got.flags
            assert got.body.string_value == "in a span", got.body
        else:
            assert got.event_name == "tick", got.event_name
            assert got.body.string_value == f"tick {seq}", got.body
    print(f"logs: {len(records)} log records decoded by the Python bindings match")


if __name__ == "__main__":
    main(sys.argv[1])
