#!/usr/bin/env bash
# Parse+serialize throughput (MB/s, best of several ~1 s runs) of c360, cJSON
# and jansson on both Debezium fixtures, in one run; prints c360/cJSON ratios.
#   bench/json/run.sh BUILD_DIR [RUNS] [SECONDS]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$build/bench/json/bench_json
if [ ! -x "$bin" ]; then
  cmake --build "$build" -j2 --target bench_json >/dev/null
fi
exec "$bin" --runs "${2:-5}" --seconds "${3:-1}" \
  "$src/tests/fixtures/debezium/customer_with_schema.json" \
  "$src/tests/fixtures/debezium/customer_no_schema.json"
