#!/usr/bin/env bash
# How fast would the native integration be if some of its store writes were
# free? The same run as run.sh, with a build of HEAD patched by floor.patch
# (never part of c360 itself) that drops, before each commit:
#   none      nothing (the real run)
#   index     the staging-key index documents (c360n::k::…)
#   metadata  every metadata document (index and per-customer state)
#   all       every write: reading, merging and building documents only
# Every mode runs with --cache-mb 2048, so the metadata documents a batch
# reads come from memory in all four and each mode merges exactly the same
# (the same merged/deletes/stale counts in the summary line); the patch keeps
# the filter of written keys at its default size (4 MB), as a bigger cache
# would grow it too (128 MB at 2048). The results are wrong when writes are
# dropped; only the times mean something. Node runs once per round.
#   bench/integration/floor.sh BUILD_DIR [N]      (RUNS rounds, default 3)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${2:-100000}
runs=${RUNS:-3}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
drv=$build/bench/integration/bench_integration
cmake --build "$build" -j2 --target bench_integration >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export C360_SECRET_KEY=bench-integration-secret-key

echo "building HEAD ($(git -C "$src" rev-parse --short HEAD)) with floor.patch ..."
mkdir "$tmp/src"
git -C "$src" archive HEAD | tar -x -C "$tmp/src"
(cd "$tmp/src" && git apply "$here/floor.patch") ||
  { echo "floor.sh: floor.patch no longer applies to src/integrate/engine.c; update it" >&2; exit 1; }
cmake -S "$tmp/src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$tmp/build" -j2 --target c360 >/dev/null
c360=$tmp/build/c360

"$drv" gen "$n" "$src/tests/fixtures/debezium/customer_with_schema.json" > "$tmp/staging.tsv"
recs=$(wc -l < "$tmp/staging.tsv")
echo "customers: $n, staging records: $recs"
"$drv" load "$tmp/loaded.db" "$tmp/staging.tsv" 2>/dev/null
sync
: > "$tmp/rows"
for i in $(seq "$runs"); do
  for mode in none index metadata all; do
    rm -f "$tmp/r.db" "$tmp/r.db-wal" "$tmp/r.db-shm"
    cp "$tmp/loaded.db" "$tmp/r.db"
    sync
    C360_FLOOR_SKIP=$mode /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$c360" --store "$tmp/r.db" \
      integrate run --exit-when-idle --batch 16384 --cache-mb 2048 "$here/mapping.yaml" 2> "$tmp/log"
    threads=$(grep -o 'CPU seconds: .*' "$tmp/log" | tail -1 | sed 's/CPU seconds: //')
    read -r secs usr sys_s rss_kb < "$tmp/time"
    echo "round $i  skip $mode: ${secs} s, CPU $(python3 -c "print('%.2f' % ($usr + $sys_s))") s ($threads)"
    echo "$mode $secs" >> "$tmp/rows"
  done
  node_out=$(node "$here/node_merge.js" "$src/functions/customer360.js" "$tmp/staging.tsv")
  echo "round $i  node (in memory): $node_out"
  echo "node $(python3 -c "import json,sys; print(json.loads(sys.argv[1])['seconds'])" "$node_out")" >> "$tmp/rows"
done

python3 - "$tmp/rows" "$recs" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    rows.setdefault(k, []).append(float(v))
recs = int(sys.argv[2])
node = statistics.median(rows["node"])
print("median of %d rounds; 3x Node would be %.2f s" % (len(rows["node"]), node / 3))
for k in ("none", "index", "metadata", "all"):
    s = statistics.median(rows[k])
    print("  skip %-9s %5.2f s  %7.0f records/s  %.2fx Node" % (k, s, recs / s, node / s))
print("  node           %5.2f s  %7.0f records/s" % (node, recs / node))
PY
