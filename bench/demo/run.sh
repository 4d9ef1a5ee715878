#!/usr/bin/env bash
# bench/demo: `c360 demo --exit` at several sizes — wall time per stage, the
# pipeline time (ingest + integrate) and c360's peak RSS, to see that memory
# does not grow in proportion to the number of customers. Targets (issue 7):
# pipeline under 15 s at 100k customers, peak RSS under 300 MB. The outside
# systems (mock Kafka, mock online store) run in child processes of their
# own; their peak RSS is printed apart (kafka_MB, store_MB).
#   bench/demo/run.sh BUILD_DIR            sizes 10000 100000 300000
#   DEMO_SIZES="10000 100000" bench/demo/run.sh build
set -uo pipefail
build=$(cd "${1:-build}" && pwd)
bin=$build/c360
sizes=${DEMO_SIZES:-10000 100000 300000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-9s %9s %9s %9s %9s %9s %9s %8s %8s %9s %9s\n' customers generate kafka sink csv integrate pipeline wall_s peak_MB kafka_MB store_MB
for n in $sizes; do
  rm -rf "$tmp/w"
  /usr/bin/time -f '%e %M' -o "$tmp/time" "$bin" demo --customers "$n" --exit --no-progress \
    --dir "$tmp/w" >"$tmp/out" 2>"$tmp/err"
  code=$?
  if [ $code -ne 0 ]; then
    echo "demo --customers $n failed (exit $code):"; tail -5 "$tmp/err"; continue
  fi
  st() { awk -v s="$1" '$1 == s { print $2 }' "$tmp/out"; }
  pipe=$(awk '/pipeline time/ { print $3 }' "$tmp/out")
  read -r wall _ <"$tmp/time"
  # "peak memory 123.4 MB  (c360; ...: mock Kafka 33.2 MB, mock online store 56.4 MB)"
  mem=$(awk '/peak memory/ { print $3, $(NF-6), $(NF-1) }' "$tmp/out")
  read -r peak kmb smb <<<"$mem"
  printf '%-9s %9s %9s %9s %9s %9s %9s %8s %8.0f %9.0f %9.0f\n' "$n" "$(st generate)" "$(st kafka)" \
    "$(st kafka-sink)" "$(st csv-import)" "$(st integrate)" "$pipe" "$wall" "$peak" "$kmb" "$smb"
  grep -q 'check            ok' "$tmp/out" || echo "  (the check against the truth FAILED at $n)"
done
