#!/usr/bin/env bash
# End to end: c360 bucket / doc / feed / query, their exit codes and bad input.
set -uo pipefail
BIN=${C360_BIN:?C360_BIN not set}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export C360_STORE="$dir/c360.db"
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect CODE CMD...: runs the command, checks its exit code; output in $out/$err
expect() {
  local want=$1; shift
  "$@" >"$dir/out" 2>"$dir/err"
  local got=$?
  out=$(cat "$dir/out"); err=$(cat "$dir/err")
  if [ "$got" != "$want" ]; then
    fail "'$*' exited $got, expected $want; stdout: $out; stderr: $err"
  fi
}
contains() { # HAYSTACK NEEDLE WHAT
  case "$1" in *"$2"*) ;; *) fail "$3: '$2' not in: $1" ;; esac
}

# --help everywhere
for c in "bucket" "bucket create" "bucket list" "bucket drop" "doc" "doc get" "doc insert" \
         "doc upsert" "doc replace" "doc delete" "doc touch" "feed" "query"; do
  # shellcheck disable=SC2086
  expect 0 "$BIN" $c --help
  contains "$out" "usage: c360 ${c%% *}" "help of $c"
done
# commands with subcommands (one dispatcher): none is a usage error, an
# unknown one says where to look, help is not an error
for c in bucket doc function token; do
  expect 2 "$BIN" $c
  contains "$err" "usage: c360 $c" "no subcommand of $c"
  expect 2 "$BIN" $c frobnicate
  contains "$err" "c360 $c: unknown command 'frobnicate' (see 'c360 $c --help')" "unknown subcommand of $c"
  expect 0 "$BIN" $c help
  contains "$out" "usage: c360 $c" "help of $c"
done
expect 2 "$BIN" bucket create --bogus
contains "$err" "c360 bucket create: unknown option '--bogus'" "a subcommand's messages name it"
expect 2 "$BIN" doc get onlybucket
expect 2 "$BIN" doc upsert b k --bogus

# a store that does not exist yet: reading commands say so, create makes it
expect 3 "$BIN" bucket list
contains "$err" "no such file" "missing store"
[ -e "$C360_STORE" ] && fail "bucket list created the store"
expect 0 "$BIN" bucket create staging
contains "$out" "created bucket 'staging'" "create output"
expect 0 "$BIN" bucket create customer360 --max-ttl 2d
expect 4 "$BIN" bucket create staging
contains "$err" "already exists" "duplicate bucket"
expect 5 "$BIN" bucket create _bad
contains "$err" "bad bucket name '_bad'" "bad bucket name"
expect 2 "$BIN" bucket create x --max-ttl soon

# documents: argument, --file, stdin
expect 0 "$BIN" doc insert staging k1 '{"name":"Matthew Groves","points":10}'
contains "$out" '"key":"k1"' "insert output"
cas1=$(echo "$out" | sed 's/.*"cas":\([0-9]*\).*/\1/')
echo '{"from":"file"}' >"$dir/v.json"
expect 0 "$BIN" doc upsert staging k2 --file "$dir/v.json"
echo '[1, 2, 3]' | "$BIN" doc upsert staging k3 >/dev/null || fail "upsert from stdin"
expect 0 "$BIN" doc get staging k3
[ "$out" = "[1, 2, 3]" ] || fail "get k3 printed '$out'"
expect 0 "$BIN" doc upsert staging multi $'{\n  "a": [1,\n 2]\n}\n'
expect 0 "$BIN" doc get staging k2
[ "$out" = '{"from":"file"}' ] || fail "get k2 printed '$out'"
expect 0 "$BIN" doc get staging k1 --meta
contains "$out" "\"cas\":$cas1" "meta cas"
contains "$out" '"seqno":1' "meta seqno"
contains "$out" '"value":{"name":"Matthew Groves","points":10}' "meta value"
expect 4 "$BIN" doc insert staging k1 '{}'
contains "$err" "already exists" "insert conflict"

# CAS
expect 4 "$BIN" doc replace staging k1 '{"v":2}' --cas 12345
contains "$err" "CAS mismatch" "cas mismatch"
expect 0 "$BIN" doc replace staging k1 '{"v":2}' --cas "$cas1"
expect 4 "$BIN" doc delete staging k1 --cas "$cas1"
expect 2 "$BIN" doc delete staging k1 --cas abc
expect 3 "$BIN" doc replace staging nokey '{}'
expect 0 "$BIN" doc delete staging k1
expect 3 "$BIN" doc get staging k1
contains "$err" "no document 'k1' in bucket 'staging'" "deleted doc"
expect 3 "$BIN" doc delete staging k1

# expiry: absolute time in the past = expired at once; durations count from now
expect 0 "$BIN" doc upsert staging old '{}' --expiry 2600000
expect 3 "$BIN" doc get staging old
expect 0 "$BIN" doc upsert staging later '{}' --expiry 31d
expect 0 "$BIN" doc get staging later --meta
exp=$(echo "$out" | sed 's/.*"expiry":\([0-9]*\).*/\1/')
now=$(date +%s)
[ "$exp" -gt $((now + 30 * 86400)) ] && [ "$exp" -le $((now + 31 * 86400 + 5)) ] ||
  fail "--expiry 31d gave expiry $exp (now $now)"
expect 2 "$BIN" doc touch staging later
expect 0 "$BIN" doc touch staging later --expiry 90m
expect 2 "$BIN" doc upsert staging x '{}' --expiry tomorrow
# max TTL caps
expect 0 "$BIN" doc upsert customer360 c '{}'
expect 0 "$BIN" doc get customer360 c --meta
exp=$(echo "$out" | sed 's/.*"expiry":\([0-9]*\).*/\1/')
[ "$exp" -gt 0 ] && [ "$exp" -le $(($(date +%s) + 2 * 86400 + 5)) ] || fail "max TTL gave expiry $exp"

# bad input: invalid JSON with line:column, nothing written
expect 5 "$BIN" doc upsert staging bad $'{\n  "a": 1,\n}'
contains "$err" "invalid JSON value" "invalid json"
contains "$err" "line 3, column 1" "invalid json position"
expect 3 "$BIN" doc get staging bad
printf '{"a":tru}' >"$dir/bad.json"
expect 5 "$BIN" doc upsert staging bad --file "$dir/bad.json"
contains "$err" "$dir/bad.json" "file named in error"
expect 5 "$BIN" doc upsert staging bad ''
# a NUL after the JSON text is an error with its offset, not an end
# (JSONTestSuite n_multidigit_number_then_00)
printf '123\0' >"$dir/nul.json"
expect 5 "$BIN" doc upsert staging bad --file "$dir/nul.json"
contains "$err" "(byte 3): unexpected data after the JSON value" "NUL after a number"
printf '{"a":1}\n\0\n' >"$dir/nul.json"
expect 5 "$BIN" doc upsert staging bad --file - <"$dir/nul.json"
contains "$err" "line 2, column 1 (byte 8)" "NUL after a newline"
printf '\n  {"a":tru}' >"$dir/bad.json"
expect 5 "$BIN" doc upsert staging bad --file "$dir/bad.json"
contains "$err" "line 2, column 8 (byte 8)" "position counts leading white space"
expect 3 "$BIN" doc get staging bad
# oversized key and value
longkey=$(head -c 251 /dev/zero | tr '\0' k)
expect 5 "$BIN" doc upsert staging "$longkey" '{}'
contains "$err" "key is 251 bytes, the limit is 250" "long key"
expect 0 "$BIN" doc upsert staging "${longkey:1}" '{}'
python3 -c 'import sys; sys.stdout.write("\"" + "x" * (20 * 1024 * 1024) + "\"")' >"$dir/big.json"
expect 5 "$BIN" doc upsert staging big --file "$dir/big.json"
contains "$err" "larger than" "big value"
expect 3 "$BIN" doc get staging big
# unknown bucket
expect 3 "$BIN" doc upsert nosuch k '{}'
contains "$err" "no bucket 'nosuch'" "unknown bucket"
expect 3 "$BIN" doc get nosuch k
expect 3 "$BIN" feed nosuch
contains "$err" "no bucket 'nosuch'" "unknown bucket feed"
expect 3 "$BIN" bucket drop nosuch

# feed
expect 0 "$BIN" feed staging
lines=$(echo "$out" | wc -l)
[ "$lines" -ge 5 ] || fail "feed printed $lines lines"
contains "$out" '"op":"deletion","key":"k1"' "deletion in feed"
contains "$out" '"op":"mutation","key":"k2"' "mutation in feed"
contains "$out" '"key":"multi","cas":' "multi-line value in feed"
contains "$out" '"value":{"a":[1,2]}}' "multi-line value compacted in feed"
contains "$err" "events from 'staging'" "feed summary"
first=$(echo "$out" | head -1 | sed 's/{"seqno":\([0-9]*\).*/\1/')
expect 0 "$BIN" feed staging --since "$first" --limit 2
[ "$(echo "$out" | wc -l)" = 2 ] || fail "--limit 2 printed: $out"
# every line is JSON, seqnos increase
"$BIN" feed staging 2>/dev/null | python3 -c '
import json, sys
last = 0
for line in sys.stdin:
    ev = json.loads(line)
    assert ev["seqno"] > last, ev
    last = ev["seqno"]
    assert ev["op"] in ("mutation", "deletion", "expiration"), ev
    assert set(ev) == {"seqno", "op", "key", "cas", "expiry", "value"}, ev
' || fail "feed lines are not increasing JSON events"
# cursor: the second run prints only what is new
expect 0 "$BIN" feed staging --cursor c1
expect 0 "$BIN" feed staging --cursor c1
[ -z "$out" ] || fail "cursor re-read: $out"
"$BIN" doc upsert staging new '{"n":1}' >/dev/null
expect 0 "$BIN" feed staging --cursor c1
contains "$out" '"key":"new"' "cursor sees new"
# --follow sees a write made while it runs
"$BIN" feed staging --follow >"$dir/follow" 2>/dev/null &
fpid=$!
sleep 0.3
"$BIN" doc upsert staging followed '{"f":true}' >/dev/null
for _ in $(seq 50); do grep -q followed "$dir/follow" && break; sleep 0.1; done
kill -INT $fpid 2>/dev/null; wait $fpid
grep -q '"key":"followed"' "$dir/follow" || fail "--follow did not print the new write"

# query
expect 0 "$BIN" query "SELECT key, json_extract(doc, '\$.from') AS src FROM staging WHERE key = 'k2'"
[ "$out" = '{"columns":["key","src"],"rows":[["k2","file"]],"truncated":false}' ] || fail "query: $out"
expect 0 "$BIN" query "SELECT key, doc FROM staging WHERE key='k3'" --format table
contains "$out" "k3   [1,2,3]" "table format"
contains "$out" "(1 row)" "table footer"
expect 0 "$BIN" query "SELECT key FROM staging ORDER BY key" --max-rows 1
contains "$out" '"truncated":true' "max rows"
for sql in "DELETE FROM staging" "UPDATE staging SET doc='{}'" "INSERT INTO staging(key) VALUES('x')" \
           "DROP TABLE staging" "ATTACH DATABASE '$dir/x.db' AS x" "PRAGMA journal_mode=DELETE" \
           "CREATE TABLE t(x)"; do
  expect 5 "$BIN" query "$sql"
  contains "$err" "refused: queries are read-only" "refusal of $sql"
done
[ -e "$dir/x.db" ] && fail "ATTACH created a file"
expect 5 "$BIN" query "SELECT * FROM nosuch"
contains "$err" "nosuch" "query unknown table"
expect 1 "$BIN" query "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r) SELECT count(*) FROM r" --timeout 1
contains "$err" "longer than" "query timeout"
expect 2 "$BIN" query "SELECT 1" --format xml
# issue 24: the operator's query reads the buckets only, and is bounded
expect 5 "$BIN" query "SELECT name FROM sqlite_master"
contains "$err" "table 'sqlite_master' is not readable" "schema refused"
expect 5 "$BIN" query "WITH t AS (SELECT * FROM _c360_buckets) SELECT * FROM t"
contains "$err" "table '_c360_buckets' is not readable" "internal table through a CTE"
expect 1 "$BIN" query "SELECT hex(zeroblob(1e8))"
contains "$err" "would exceed 33554432 bytes" "value limit"
expect 1 "$BIN" query "SELECT zeroblob(700000)" --max-mib 1
contains "$err" "answer exceeds 1048576 bytes" "answer cap"
[ -z "$out" ] || fail "a capped answer printed something"
expect 2 "$BIN" query "SELECT 1" --max-mib 0

# bucket list / drop
expect 0 "$BIN" bucket list
contains "$out" "staging" "list"
expect 0 "$BIN" bucket list --json
python3 -c 'import json,sys; l=json.loads(sys.argv[1]); assert [b["name"] for b in l]==["customer360","staging"], l' "$out" ||
  fail "bucket list --json: $out"
expect 0 "$BIN" bucket drop customer360
expect 3 "$BIN" doc get customer360 c

# --store as a command option and the ./c360.db default
expect 0 "$BIN" doc get --store "$C360_STORE" staging k2
expect 0 "$BIN" --store "$C360_STORE" doc get staging k2
mkdir "$dir/cwd"
(cd "$dir/cwd" && env -u C360_STORE "$BIN" bucket create here >/dev/null 2>&1) || fail "create in ./c360.db"
[ -f "$dir/cwd/c360.db" ] || fail "default store ./c360.db not created"

# files that are not a c360 store: clear error, exit 6, no crash
echo "just text" >"$dir/text.db"
expect 6 "$BIN" --store "$dir/text.db" bucket list
contains "$err" "not a c360 store" "text file"
head -c 65536 /dev/urandom >"$dir/random.db"
expect 6 "$BIN" --store "$dir/random.db" doc get b k
sqlite3 "$dir/other.db" "CREATE TABLE t(x)"
expect 6 "$BIN" --store "$dir/other.db" bucket create b
contains "$err" "another application" "foreign sqlite"
# a truncated store
cp "$C360_STORE" "$dir/trunc.db"
"$BIN" --store "$dir/trunc.db" bucket list >/dev/null 2>&1
truncate -s 3000 "$dir/trunc.db"; rm -f "$dir/trunc.db-wal" "$dir/trunc.db-shm"
"$BIN" --store "$dir/trunc.db" doc get staging k2 >/dev/null 2>"$dir/err"
rc=$?
[ $rc -ge 128 ] && fail "truncated store crashed the binary (exit $rc)"
[ $rc -ne 0 ] || fail "truncated store read succeeded"

if [ $fails -gt 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "store_cli: all passed"
