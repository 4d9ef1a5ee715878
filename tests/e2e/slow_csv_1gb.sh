#!/usr/bin/env bash
# Streaming, constant memory: a generated CSV of at least 1 GB (quoted fields
# with commas and line breaks included) goes through `cbimport csv -t 4`
# with peak resident memory (VmHWM, from /usr/bin/time -v) under 100 MB
# (160 MB under AddressSanitizer).
# Opt-in (slow_): ctest -L slow. Needs about 4 GB free in $TMPDIR.
set -euo pipefail
BIN=${C360_BIN:?}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/c360-1gb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
csv="$tmp/big.csv"
rows=5200000
awk -v n="$rows" 'BEGIN {
  pad = sprintf("%0150d", 0); gsub(/0/, "x", pad)
  print "id,name,email,points,note"
  for (i = 1; i <= n; i++) {
    if (i % 1000 == 0)
      printf "%d,\"Member, %d\",m%d@example.com,%d,\"line one\nline \"\"two\"\" %s\"\n", i, i, i, i % 5000, pad
    else
      printf "%d,Member %d,m%d@example.com,%d,%s\n", i, i, i, i % 5000, pad
  }
}' > "$csv"
size=$(stat -c %s "$csv")
echo "input: $rows rows, $((size / 1000000)) MB"
[ "$size" -ge 1000000000 ] || { echo "FAIL: generated file is only $size bytes"; exit 1; }

# Under AddressSanitizer (make test-sanitize's build): a small quarantine, and
# room for the shadow memory and redzones it adds to every allocation.
limit_mb=100
if ldd "$BIN" 2>/dev/null | grep -q libasan; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8:thread_local_quarantine_size_kb=64"
  limit_mb=160
fi

export C360_STORE="$tmp/c360.db"
/usr/bin/time -v "$BIN" cbimport csv -c couchbase://127.0.0.1 -u Administrator -p password -b staging \
  --create-bucket -d "file://$csv" -g 'key::#MONO_INCR#' -t 4 >"$tmp/out" 2>"$tmp/err" ||
  { echo "FAIL: import exited $?"; cat "$tmp/out" "$tmp/err"; exit 1; }
cat "$tmp/out"
grep -q "Documents imported: $rows Documents failed: 0" "$tmp/out" || { echo "FAIL: wrong counts"; exit 1; }
grep "rows read" "$tmp/err" || true
kb=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$tmp/err")
echo "peak resident memory: $((kb / 1024)) MB"
[ -n "$kb" ] && [ "$kb" -lt $((limit_mb * 1024)) ] || { echo "FAIL: peak RSS ${kb} KB >= $limit_mb MB"; exit 1; }
echo "ok"
