#!/usr/bin/env bash
# customer360.js over 200k staging documents (home-delivery envelopes and
# loyalty rows), online-store calls off, into a durable customer360 bucket
# (synchronous=FULL), against the same merge logic (the same .js file) in plain
# Node.js over the same documents in memory, in one run.
#   bench/eventing/run.sh BUILD_DIR [N] [WORKERS]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${2:-200000}
workers=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$build/bench/eventing/bench_eventing
if [ ! -x "$bin" ]; then
  cmake --build "$build" -j2 --target bench_eventing >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$here/gen.py" "$n" "$src/tests/fixtures/debezium/customer_with_schema.json" > "$tmp/staging.tsv"
echo "documents: $n ($(du -h "$tmp/staging.tsv" | cut -f1)), workers: $workers"
node_out=$(node "$here/node_merge.js" "$src/functions/customer360.js" "$tmp/staging.tsv")
echo "node (in memory):      $node_out"
c_out=$("$bin" "$tmp/staging.tsv" "$src/functions/customer360.json" "$tmp/store.db" "$workers" full)
echo "c360 js (durable):     $c_out"
python3 - "$node_out" "$c_out" <<'PY'
import json, sys
nd, c = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("ratio c360/node: %.2fx wall-clock (target >= 0.2x), %.2fx per CPU second" % (
    c["per_second"] / nd["per_second"], c["per_cpu_second"] / nd["per_cpu_second"]))
print("c360: %.0f mutations/s, p50 %d us, p99 %d us handler latency, peak RSS %.0f MB (%.0f MB before the run: the loaded input)" % (
    c["per_second"], c["p50_us"], c["p99_us"], c["rss_mb"], c["rss_before_run_mb"]))
print("customers: node %d, c360 %d" % (nd["customers"], c["customers"]))
PY
