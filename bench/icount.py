#!/usr/bin/env python3
"""The instruction-count gate: instructions per span for recording, unsampled recording and
encoding, and per metric update, counted by callgrind (deterministic for a given binary, whatever the machine's noise),
compared with the budgets saved in bench/icount.json.

    python3 bench/icount.py check   # build, count, fail if any workload exceeds its budget by >3%
    python3 bench/icount.py save    # build, count, write the counts as the new budgets
    python3 bench/icount.py show    # build, count, print only

The workloads are in bench/src/bin/icount.rs. Wall-clock figures stay in criterion
(bench/RESULTS.md); this gate only says that the code did not grow.
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUDGETS = os.path.join(ROOT, "bench", "icount.json")
OUT = os.path.join(ROOT, "target", "icount")
BINARY = os.path.join(ROOT, "target", "release", "ringspan-icount")
TOLERANCE = 0.03

# workload -> (function callgrind counts, iterations)
WORKLOADS = {
    "record": ("icount_measure_record", 20000),
    "callsite": ("icount_measure_callsite", 20000),
    "travel": ("icount_measure_travel", 20000),
    "travel_callsite": ("icount_measure_travel_callsite", 20000),
    "tracing": ("icount_measure_tracing", 20000),
    "tracing_registry": ("icount_measure_tracing", 20000),
    "otel_api": ("icount_measure_otel_api", 20000),
    "unsampled": ("icount_measure_callsite", 20000),
    "metric_counter": ("icount_measure_metric_counter", 20000),
    "metric_histogram": ("icount_measure_metric_histogram", 20000),
    "log_record": ("icount_measure_log_record", 20000),
    "encode": ("icount_measure_encode", 40),
    "encode_compact": ("icount_measure_encode_compact", 40),
}


def build():
    subprocess.run(
        ["cargo", "build", "--release", "--locked", "-p", "ringspan-bench", "--bin", "ringspan-icount"],
        cwd=ROOT,
        check=True,
    )


def count(workload):
    function, iterations = WORKLOADS[workload]
    os.makedirs(OUT, exist_ok=True)
    out = os.path.join(OUT, workload + ".callgrind")
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=" + function,
            "--callgrind-out-file=" + out,
            BINARY,
            workload,
            str(iterations),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        sys.exit(f"icount: {workload} failed:\n{run.stderr}")
    name, n, units = run.stdout.split()
    assert name == workload and int(n) == iterations, run.stdout
    with open(out) as f:
        totals = [int(m.group(1)) for m in re.finditer(r"^totals: (\d+)", f.read(), re.M)]
    if not totals or totals[0] == 0:
        sys.exit(f"icount: callgrind counted nothing in {function} for {workload}")
    return totals[0] / (iterations * int(units))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "check"
    if mode not in ("check", "save", "show"):
        sys.exit(__doc__)
    build()
    counts = {w: count(w) for w in WORKLOADS}
    budgets = {}
    if os.path.exists(BUDGETS):
        with open(BUDGETS) as f:
            budgets = json.load(f)["instructions_per_span"]
    failed = []
    print(f"{'workload':<16} {'instr/span':>11} {'budget':>9} {'change':>8}")
    for w, c in counts.items():
        b = budgets.get(w)
        change = f"{(c / b - 1) * 100:+.2f}%" if b else "new"
        print(f"{w:<16} {c:>11.1f} {b if b else '-':>9} {change:>8}")
        if b and c > b * (1 + TOLERANCE):
            failed.append(w)
    if mode == "save":
        with open(BUDGETS, "w") as f:
            json.dump(
                {
                    "about": "instructions per span (per update for the metric workloads, per record for log_record) counted by callgrind in bench/src/bin/icount.rs; "
                    "bench/icount.py check fails when one grows by more than 3%",
                    "instructions_per_span": {w: round(c, 1) for w, c in counts.items()},
                },
                f,
                indent=2,
            )
            f.write("\n")
        print(f"icount: saved {BUDGETS}")
    elif mode == "check":
        if failed:
            sys.exit(f"icount: over budget by more than {TOLERANCE:.0%}: {', '.join(failed)}")
        missing = [w for w in counts if w not in budgets]
        if missing:
            sys.exit(f"icount: no budget saved for {', '.join(missing)} (run save)")
        print("icount: every workload within its budget")


if __name__ == "__main__":
    main()
