#!/usr/bin/env bash
# bench/csv: a generated loyalty CSV of N rows (default 1M, about 75 MB:
# id,password,firstName,lastName,email,points), then in the same run and on
# the same file system:
#   c360 cbimport csv into a durable bucket (synchronous=FULL, the default),
#   one keyed JSON document per row (the seed's key::#MONO_INCR#), -t 1 and -t 4
#   sqlite3 .import of the same file into a plain table (the peer)
# Prints rows/s, MB/s and CPU seconds (user + sys) of each and the ratio
# (target: c360 >= sqlite3); the variants take turns, best wall time of RUNS.
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
echo "input: $rows rows, $mb MB ($csv), best of $runs runs each, taking turns"

# One timed run: wall seconds and CPU seconds (user + sys of the process).
timed() { # out-file command...
  local out=$1; shift
  local TIMEFORMAT='%R %U %S' t
  t=$( { time "$@" >"$out" 2>&1; } 2>&1 ) || { cat "$out"; exit 1; }
  awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%s %.2f", a[1], a[2] + a[3] }'
}
run_c360() { # threads -> "wall cpu"
  rm -f "$tmp/c360.db" "$tmp/c360.db-wal" "$tmp/c360.db-shm"
  C360_STORE="$tmp/c360.db" "$c360" cbimport csv -c couchbase://127.0.0.1 -b staging --create-bucket \
    -d /dev/null -g 'x' >/dev/null 2>&1 || true
  local r
  r=$(C360_STORE="$tmp/c360.db" timed "$tmp/out" "$c360" cbimport csv -c couchbase://127.0.0.1 \
    -u Administrator -p password -b staging -d "file://$csv" -g 'key::#MONO_INCR#' -t "$1")
  grep -q "Documents imported: $rows Documents failed: 0" "$tmp/out" || { cat "$tmp/out"; exit 1; }
  echo "$r"
}
import_sql() {
  sqlite3 "$tmp/sqlite.db" <<SQL
CREATE TABLE loyalty(id, password, firstName, lastName, email, points);
.mode csv
.import --skip 1 $csv loyalty
SQL
}
run_sqlite() { # -> "wall cpu"
  rm -f "$tmp/sqlite.db"
  local r
  r=$(timed "$tmp/out" import_sql)
  [ "$(sqlite3 "$tmp/sqlite.db" 'SELECT count(*) FROM loyalty')" = "$rows" ] ||
    { echo "sqlite3 row count differs"; exit 1; }
  echo "$r"
}
better() { # "wall cpu" "wall cpu" -> the one with the smaller wall time
  if [ -z "$2" ] || awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN { exit !(a < b) }'; then echo "$1"; else echo "$2"; fi
}

# the variants take turns run by run, so that machine noise hits them alike
b_sql= b_c1= b_c4=
for i in $(seq 1 "$runs"); do
  r_sql=$(run_sqlite); r_c1=$(run_c360 1); r_c4=$(run_c360 4)
  echo "  run $i: sqlite3 ${r_sql% *} s, c360 -t 1 ${r_c1% *} s, c360 -t 4 ${r_c4% *} s (wall)"
  b_sql=$(better "$r_sql" "$b_sql"); b_c1=$(better "$r_c1" "$b_c1"); b_c4=$(better "$r_c4" "$b_c4")
done

line() { # label "wall cpu"
  awk -v l="$1" -v s="${2% *}" -v c="${2#* }" -v r="$rows" -v b="$bytes" \
    'BEGIN { printf "%-34s %7.2f s  %9.0f rows/s  %6.1f MB/s  %5.2f CPU-s\n", l, s, r / s, b / 1e6 / s, c }'
}
line "sqlite3 .import (plain table)" "$b_sql"
line "c360 cbimport csv -t 1 (durable)" "$b_c1"
line "c360 cbimport csv -t 4 (durable)" "$b_c4"
awk -v a="${b_sql% *}" -v b="${b_c1% *}" -v c="${b_c4% *}" \
  'BEGIN { printf "ratio c360/sqlite3 rows/s: -t 1 %.2fx, -t 4 %.2fx  (target >= 1.0x)\n", a / b, a / c }'
