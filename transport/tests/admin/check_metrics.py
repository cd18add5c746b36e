"""Reads the admin endpoint's /metrics scrape with the Prometheus project's own parser
(prometheus-client from PyPI, its strict OpenMetrics parser) and checks every value the
Rust test expects (the pipeline's report at the moment of the scrape).

Usage: check_metrics.py DIR, where DIR holds metrics.txt and expected.json, written by
transport/tests/admin.rs (target/tmp/admin by default).
"""

import json
import re
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as classic_families


def key(name, labels):
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def normalise(k):
    """`name{b="2",a="1"}` with its labels sorted, as `key` writes them."""
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?', k)
    name, inner = m.group(1), m.group(2)
    labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', inner or ""))
    return key(name, labels)


def main(d):
    text = open(f"{d}/metrics.txt").read()
    expected = {normalise(k): v for k, v in json.load(open(f"{d}/expected.json")).items()}
    got = {}
    families = 0
    for family in text_string_to_metric_families(text):
        families += 1
        if not family.documentation:
            sys.exit(f"family {family.name} has no HELP")
        for s in family.samples:
            got[key(s.name, s.labels)] = s.value
    # The classic Prometheus text parser (what a scraper that did not ask for OpenMetrics
    # reads) must read the same values.
    classic = {key(s.name, s.labels): s.value
               for f in classic_families(text) for s in f.samples}
    bad = [(k, v, got.get(k), classic.get(k)) for k, v in expected.items()
           if got.get(k) != v or classic.get(k) != v]
    for k, want, have, old in bad:
        print(f"MISMATCH {k}: expected {want}, OpenMetrics parser {have}, text parser {old}")
    if bad:
        sys.exit(1)
    print(f"admin /metrics: {families} families, {len(got)} samples parsed by prometheus_client's "
          f"OpenMetrics parser; all {len(expected)} expected values equal the report's, "
          f"and its Prometheus text parser reads the same")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/tmp/admin")
