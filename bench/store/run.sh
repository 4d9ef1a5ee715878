#!/usr/bin/env bash
# Batched upserts of the 3.4 KB Debezium envelope: c360_store_write against a
# bare SQLite loop with the same pragmas (WAL, synchronous=FULL, 1000 per
# transaction), in one run; prints docs/s and the ratio (target >= 0.8).
#   bench/store/run.sh BUILD_DIR [DOCS] [RUNS]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$build/bench/store/bench_store
if [ ! -x "$bin" ]; then
  cmake --build "$build" -j2 --target bench_store >/dev/null
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/c360-bench-store.XXXXXX")
trap 'rm -rf "$dir"' EXIT
exec_args=(--docs "${2:-100000}" --runs "${3:-3}" --batch 1000 --dir "$dir")
"$bin" "${exec_args[@]}" "$src/tests/fixtures/debezium/customer_with_schema.json"
