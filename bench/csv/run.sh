#!/usr/bin/env bash
# bench/csv: a generated loyalty CSV of N rows (default 1M, about 75 MB:
# id,password,firstName,lastName,email,points), then in the same run and on
# the same file system:
#   c360 cbimport csv into a durable bucket (synchronous=FULL, the default),
#   one keyed JSON document per row (the seed's key::#MONO_INCR#), -t 1 and -t 4
#   sqlite3 .import of the same file into a plain table (the peer)
# Prints rows/s and MB/s of each and the ratio (target: c360 >= sqlite3).
#   bench/csv/run.sh BUILD_DIR [ROWS] [RUNS]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
rows=${2:-1000000}
runs=${3:-3}
c360="$build/c360"
[ -x "$c360" ] || cmake --build "$build" -j2 --target c360 >/dev/null
command -v sqlite3 >/dev/null || { echo "bench/csv: sqlite3 is not installed (scripts/deps.sh)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/c360-bench-csv.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
csv="$tmp/loyalty_members.csv"

# deterministic generator (awk's rand with a fixed seed)
awk -v n="$rows" 'BEGIN {
  srand(42)
  split("Matthew Gia Ann Bo Carla Dmitri Eve Fatima Gustavo Hanna Ivan Julia Kenji Lena Mateo Nora", fn, " ")
  split("Groves Kutch Smith Nguyen Garcia Okafor Rossi Novak Tanaka Schmidt Kowalski Haddad", ln, " ")
  split("example.com oconnell.biz mail.example.org couchbase.com loyalty.example.net", dom, " ")
  print "id,password,firstName,lastName,email,points"
  for (i = 1; i <= n; i++) {
    f = fn[int(rand() * 16) + 1]; l = ln[int(rand() * 12) + 1]; d = dom[int(rand() * 5) + 1]
    printf "%d,%08x%04x,%s,%s,%s.%s.%d@%s,%d\n", i, int(rand() * 4294967295), int(rand() * 65535), f, l, tolower(f), tolower(l), i, d, int(rand() * 100000)
  }
}' > "$csv"
bytes=$(stat -c %s "$csv")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "input: $rows rows, $mb MB ($csv), best of $runs runs each"

now() { date +%s.%N; }
best_c360() { # threads
  local best=
  for _ in $(seq 1 "$runs"); do
    rm -f "$tmp/c360.db" "$tmp/c360.db-wal" "$tmp/c360.db-shm"
    C360_STORE="$tmp/c360.db" "$c360" cbimport csv -c couchbase://127.0.0.1 -b staging --create-bucket \
      -d /dev/null -g 'x' >/dev/null 2>&1 || true
    local t0 t1
    t0=$(now)
    C360_STORE="$tmp/c360.db" "$c360" cbimport csv -c couchbase://127.0.0.1 -u Administrator -p password \
      -b staging -d "file://$csv" -g 'key::#MONO_INCR#' -t "$1" >"$tmp/out" 2>&1 ||
      { cat "$tmp/out"; exit 1; }
    t1=$(now)
    grep -q "Documents imported: $rows Documents failed: 0" "$tmp/out" || { cat "$tmp/out"; exit 1; }
    local s; s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    if [ -z "$best" ] || awk -v s="$s" -v b="$best" 'BEGIN { exit !(s < b) }'; then best=$s; fi
  done
  echo "$best"
}
best_sqlite() {
  local best=
  for _ in $(seq 1 "$runs"); do
    rm -f "$tmp/sqlite.db"
    local t0 t1
    t0=$(now)
    sqlite3 "$tmp/sqlite.db" <<SQL
CREATE TABLE loyalty(id, password, firstName, lastName, email, points);
.mode csv
.import --skip 1 $csv loyalty
SQL
    t1=$(now)
    local s; s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    if [ -z "$best" ] || awk -v s="$s" -v b="$best" 'BEGIN { exit !(s < b) }'; then best=$s; fi
  done
  [ "$(sqlite3 "$tmp/sqlite.db" 'SELECT count(*) FROM loyalty')" = "$rows" ] || { echo "sqlite3 row count differs"; exit 1; }
  echo "$best"
}

line() { # label seconds
  awk -v l="$1" -v s="$2" -v r="$rows" -v b="$bytes" \
    'BEGIN { printf "%-34s %7.2f s  %9.0f rows/s  %6.1f MB/s\n", l, s, r / s, b / 1e6 / s }'
}
s_sql=$(best_sqlite)
s_c1=$(best_c360 1)
s_c4=$(best_c360 4)
line "sqlite3 .import (plain table)" "$s_sql"
line "c360 cbimport csv -t 1 (durable)" "$s_c1"
line "c360 cbimport csv -t 4 (durable)" "$s_c4"
awk -v a="$s_sql" -v b="$s_c1" -v c="$s_c4" \
  'BEGIN { printf "ratio c360/sqlite3 rows/s: -t 1 %.2fx, -t 4 %.2fx  (target >= 1.0x)\n", a / b, a / c }'
