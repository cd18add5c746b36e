#!/usr/bin/env python3
"""Compare a fresh criterion run with the saved baseline, as ratios.

Run by hand, not in CI (CI timing is too noisy to gate on):

    cargo bench -p ringspan-bench            # a fresh run: target/criterion/*/*/new/
    python3 bench/regress.py check           # compare with bench/baseline.json
    python3 bench/regress.py save            # make the fresh run the new baseline

For every bench id (`record/ringspan`, `encode/prost`, ...) it prints the fresh median, the
baseline median and their ratio, and flags ids more than 10% slower. Because these machines
are shared and their speed drifts from day to day, it also prints each ratio divided by the
ratio of `record/floor` (the same machine's floor in the same run): a group that is slower
only because the machine is slower today shows a normalised ratio near 1. Exit status 1 when
any id is flagged on both ratios, else 0.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRITERION = ROOT / "target" / "criterion"
BASELINE = ROOT / "bench" / "baseline.json"
THRESHOLD = 1.10
NORMALISER = "record/floor"


def fresh_medians():
    """Median ns per iteration of every bench id in the latest run."""
    out = {}
    for est in sorted(CRITERION.glob("*/*/new/estimates.json")):
        bench = json.loads((est.parent / "benchmark.json").read_text())
        median = json.loads(est.read_text())["median"]["point_estimate"]
        out[bench["full_id"]] = median
    return out


def save():
    medians = fresh_medians()
    if not medians:
        sys.exit(f"no criterion results under {CRITERION}; run `cargo bench -p ringspan-bench`")
    BASELINE.write_text(json.dumps(medians, indent=2, sort_keys=True) + "\n")
    print(f"saved {len(medians)} medians to {BASELINE}")


def check():
    if not BASELINE.exists():
        sys.exit(f"no baseline at {BASELINE}; run `python3 bench/regress.py save` first")
    base = json.loads(BASELINE.read_text())
    now = fresh_medians()
    floor = (now.get(NORMALISER, 0) / base[NORMALISER]) if base.get(NORMALISER) else None
    flagged = []
    print(f"{'bench':<32} {'now ns':>12} {'base ns':>12} {'ratio':>7} {'/floor':>7}")
    for bench_id in sorted(set(base) | set(now)):
        if bench_id not in now or bench_id not in base:
            where = "baseline" if bench_id not in base else "fresh run"
            print(f"{bench_id:<32} missing from the {where}")
            continue
        ratio = now[bench_id] / base[bench_id]
        normalised = ratio / floor if floor else ratio
        slow = ratio > THRESHOLD and normalised > THRESHOLD
        mark = "  SLOWER" if slow else ""
        print(
            f"{bench_id:<32} {now[bench_id]:>12.1f} {base[bench_id]:>12.1f} "
            f"{ratio:>7.3f} {normalised:>7.3f}{mark}"
        )
        if slow:
            flagged.append(bench_id)
    if flagged:
        print(f"\n{len(flagged)} bench(es) more than {THRESHOLD - 1:.0%} slower: {', '.join(flagged)}")
        return 1
    print(f"\nno bench more than {THRESHOLD - 1:.0%} slower")
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "save":
        save()
    elif command == "check":
        sys.exit(check())
    else:
        sys.exit(__doc__)
