#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after another, on the
# committed corpora (and regressions/, the inputs of past crashes); new inputs that add coverage land in corpus/<target>/, crashes in
# artifacts/<target>/ (the script then fails).
#   engine/fuzz/run.sh 20                 # what CI runs
#   engine/fuzz/run.sh 3600 encode env    # an hour each, for real
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(traceparent tracestate env receiver encode)
fi
cargo +nightly fuzz build -O
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "regressions/$t"
    echo "== fuzz $t for ${seconds}s"
    # New inputs go to the first directory; regressions/ holds the inputs of past crashes.
    cargo +nightly fuzz run -O "$t" "corpus/$t" "regressions/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 2>&1 |
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+.*(INITED|DONE))|panicked|ERROR|SUMMARY' || true
    if compgen -G "artifacts/$t/*" >/dev/null; then
        echo "fuzz $t: crash saved in artifacts/$t/" >&2
        exit 1
    fi
done
