#!/usr/bin/env bash
# Runs every bench/<name>/run.sh against the build in $1 (default: build).
# Each prints its own figures and ratio; see docs/PERFORMANCE.md.
set -uo pipefail
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
only=${BENCH_ONLY:-}
for run in "$here"/*/run.sh; do
  name=$(basename "$(dirname "$run")")
  [ -n "$only" ] && [[ " $only " != *" $name "* ]] && continue
  echo "=== bench/$name"
  bash "$run" "$build" || echo "bench/$name failed (exit $?)"
done
