#!/usr/bin/env bash
# Native integration vs the JS function vs plain Node.js, in one run:
# N customers (default 100000) over three systems (~2.6 staging records each:
# home-delivery Debezium envelopes with schema incl. updates and deletes,
# loyalty rows, online-store answers), into a durable customer360
# (synchronous=FULL).
#   bench/integration/run.sh BUILD_DIR [N] [LATENCY_RATE] [LATENCY_RECORDS]
# Prints records/s (by wall clock and by CPU time: the machine may be shared),
# RSS and, for the native engine, change-to-profile latency (p50/p99: commit
# of the staging write to commit of the customer document) with the first
# LATENCY_RECORDS (default 60000) staging records written at LATENCY_RATE
# records/s (default 5000) while the engine follows the feed.
# The native run and the Node script run RUNS times (environment, default 3),
# one after the other; the ratios are the median of those pairs (the host may
# be shared, so a pair compares two runs taken together).
# NATIVE_ARGS (environment) adds options to the native run, e.g.
# NATIVE_ARGS="--compress 0" (documents written uncompressed: less CPU, more
# disk) or "--cache-mb 256".
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${2:-100000}
rate=${3:-5000}
latn=${4:-60000}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
drv=$build/bench/integration/bench_integration
cmake --build "$build" -j2 --target bench_integration c360 >/dev/null
[ -x "$build/bench/eventing/bench_eventing" ] || cmake --build "$build" -j2 --target bench_eventing >/dev/null 2>&1 || true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export C360_SECRET_KEY=bench-integration-secret-key

"$drv" gen "$n" "$src/tests/fixtures/debezium/customer_with_schema.json" > "$tmp/staging.tsv"
recs=$(wc -l < "$tmp/staging.tsv")
echo "customers: $n, staging records: $recs ($(du -h "$tmp/staging.tsv" | cut -f1))"

# native: c360 integrate run over a preloaded staging bucket, durable writes;
# RUNS (environment, default 3) runs, each next to a run of the Node script
# (the host may be shared: a pair compares two runs taken together, and the
# median pair is reported)
runs=${RUNS:-3}
"$drv" load "$tmp/loaded.db" "$tmp/staging.tsv" 2>/dev/null
# the generated files reach the disk before the timed runs, not during them
sync
: > "$tmp/pairs"
for i in $(seq "$runs"); do
  rm -f "$tmp/native.db" "$tmp/native.db-wal" "$tmp/native.db-shm"
  cp "$tmp/loaded.db" "$tmp/native.db"
  sync
  /usr/bin/time -f "%e %M %U %S" -o "$tmp/time" "$build/c360" --store "$tmp/native.db" integrate run \
    --exit-when-idle --batch 16384 ${NATIVE_ARGS:-} "$here/mapping.yaml" 2> "$tmp/native.log"
  read -r secs rss_kb usr sys_s < "$tmp/time"
  customers=$("$build/c360" --store "$tmp/native.db" query "SELECT count(*) FROM customer360" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"][0][0])' 2>/dev/null || echo "?")
  native_rps=$(python3 -c "print('%.0f' % ($recs / $secs))")
  native_cpu=$(python3 -c "print('%.2f' % ($usr + $sys_s))")
  native_pcs=$(python3 -c "print('%.0f' % ($recs / ($usr + $sys_s)))")
  threads=$(grep -o 'CPU seconds: .*' "$tmp/native.log" | tail -1)
  echo "native (durable):      {\"records\":$recs,\"seconds\":$secs,\"per_second\":$native_rps,\"cpu_seconds\":$native_cpu,\"per_cpu_second\":$native_pcs,\"customers\":$customers,\"rss_mb\":$((rss_kb / 1024))}"
  echo "native threads:        ${threads:-?} (reader, merge and writer threads)${NATIVE_ARGS:+ [$NATIVE_ARGS]}"
  # plain Node.js: the seed's merge (customer360.js) in memory
  node_out=$(node "$here/node_merge.js" "$src/functions/customer360.js" "$tmp/staging.tsv")
  echo "node (in memory):      $node_out"
  echo "$native_rps $native_pcs $node_out" >> "$tmp/pairs"
done

# native latency: staging written at $rate/s while the engine follows
lat=$("$drv" latency "$tmp/latency.db" "$tmp/staging.tsv" "$here/mapping.yaml" "$rate" "$latn" 2>/dev/null)
echo "native latency:        $lat"

# the JS function (customer360.js on the eventing engine), when built
js_rps=0
if [ -x "$build/bench/eventing/bench_eventing" ]; then
  js=$("$build/bench/eventing/bench_eventing" "$tmp/staging.tsv" "$src/functions/customer360.json" "$tmp/js.db" 2 full 2>/dev/null || true)
  echo "js function (durable): ${js:-failed}"
  js_rps=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['per_second'])" "$js" 2>/dev/null || echo 0)
fi

python3 - "$tmp/pairs" "$js_rps" <<'PY'
import json, statistics, sys
pairs = []
for line in open(sys.argv[1]):
    native, npcs, node = line.split(" ", 2)
    nd = json.loads(node)
    pairs.append((float(native) / nd["per_second"], float(npcs) / nd["per_cpu_second"], float(native)))
walls = [p[0] for p in pairs]
print("ratio native/node: %.2fx by wall clock, %.2fx by CPU time, median of %d interleaved pairs "
      "(by wall clock: %s)  (target >= 3x)"
      % (statistics.median(walls), statistics.median(p[1] for p in pairs), len(pairs),
         ", ".join("%.2f" % w for w in walls)))
js = float(sys.argv[2])
if js:
    print("ratio native/js:   %.2fx (median native run)" % (statistics.median(p[2] for p in pairs) / js))
PY
