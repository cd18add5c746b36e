"""Decode a request ringspan encoded with the OpenTelemetry project's Python bindings
(opentelemetry-proto from PyPI) and compare it with what the Rust test put in.

usage: check_otlp.py DIR   (DIR holds request.bin and expected.json from tests/interop.rs)
"""
import json
import sys

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind)


def attrs(kvs):
    out = {}
    for kv in kvs:
        assert kv.key not in out, f"duplicate key {kv.key!r}"
        out[kv.key] = value(kv.value)
    return out


def main(directory):
    with open(f"{directory}/request.bin", "rb") as f:
        data = f.read()
    with open(f"{directory}/expected.json", encoding="utf-8") as f:
        want = json.load(f)
    request = ExportTraceServiceRequest()
    request.ParseFromString(data)
    # Canonical bytes: re-encoding what we decoded gives back the very same bytes.
    checks = []

    def check(name, ok, detail=""):
        checks.append((name, ok, detail))

    check("canonical re-encoding", request.SerializeToString() == data)
    check("one resource", len(request.resource_spans) == 1)
    rs = request.resource_spans[0]
    resource = attrs(rs.resource.attributes)
    for key, expected in want["resource"].items():
        check(f"resource {key}", resource.get(key) == expected, f"{resource.get(key)!r} != {expected!r}")
    check("telemetry.sdk.version set", bool(resource.get("telemetry.sdk.version")))
    check("one scope", len(rs.scope_spans) == 1)
    ss = rs.scope_spans[0]
    check("scope name", ss.scope.name == want["scope"], ss.scope.name)
    check("span count", len(ss.spans) == len(want["spans"]), str(len(ss.spans)))
    # By name: spans reach a request in the order the drain finds them, and it visits a
    # lane's ring of full records before its compact one, so a callsite span that ended
    # last may come before a full one the drain had not seen yet.
    by_name = {s.name: s for s in ss.spans}
    check("span names", sorted(by_name) == sorted(e["name"] for e in want["spans"]), str(sorted(by_name)))
    for exp in want["spans"]:
        tag = exp["name"]
        span = by_name.get(tag)
        if span is None:
            continue
        check(f"{tag}: name", span.name == exp["name"], span.name)
        check(f"{tag}: trace_id", span.trace_id.hex() == exp["trace_id"], span.trace_id.hex())
        check(f"{tag}: span_id", span.span_id.hex() == exp["span_id"], span.span_id.hex())
        check(f"{tag}: parent_span_id", span.parent_span_id.hex() == exp["parent_span_id"], span.parent_span_id.hex())
        check(f"{tag}: kind", span.kind == exp["kind"], str(span.kind))
        check(f"{tag}: flags", span.flags == exp["flags"], hex(span.flags))
        check(f"{tag}: times", 1_600_000_000_000_000_000 < span.start_time_unix_nano <= span.end_time_unix_nano)
        if exp["status"] is None:
            check(f"{tag}: no status", not span.HasField("status"))
        else:
            check(f"{tag}: status", (span.status.code, span.status.message) == (exp["status"]["code"], exp["status"]["message"]))
        check(f"{tag}: attributes", attrs(span.attributes) == exp["attributes"], str(attrs(span.attributes)))
        events = [{"name": e.name, "attributes": attrs(e.attributes)} for e in span.events]
        check(f"{tag}: events", events == exp["events"], str(events))
        for e in span.events:
            check(f"{tag}: event time", span.start_time_unix_nano <= e.time_unix_nano <= span.end_time_unix_nano)
        check(f"{tag}: trace_state", span.trace_state == exp.get("trace_state", ""), span.trace_state)
        links = [
            {"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex(), "trace_state": l.trace_state,
             "attributes": attrs(l.attributes), "dropped_attributes_count": l.dropped_attributes_count,
             "flags": l.flags}
            for l in span.links
        ]
        check(f"{tag}: links", links == exp.get("links", []), str(links))
        check(f"{tag}: dropped_links_count", span.dropped_links_count == exp.get("dropped_links_count", 0),
              str(span.dropped_links_count))
    failed = [c for c in checks if not c[1]]
    for name, _, detail in failed:
        print(f"FAILED {name}: {detail}")
    print(f"interop: {len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
