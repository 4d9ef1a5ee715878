#!/usr/bin/env bash
# cbimport through the binary and the `cbimport` link: the seed's exact line,
# cbimport's output and exit codes, usage errors, the errors log, the log
# file, JSON lines, no progress bar off a terminal, and `c360 import`
# (re-import no-op, --newest-in, a stray quote, watch).
set -uo pipefail
BIN=${C360_BIN:?}
BUILD=${C360_BUILD:-$(dirname "$BIN")}
CB="$BUILD/cbimport"
tmp=$(mktemp -d)
watch_pid=
cleanup() {
  [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
export C360_STORE="$tmp/c360.db"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }

[ -x "$CB" ] || { echo "FAIL: no cbimport link at $CB"; exit 1; }

cat > "$tmp/loyalty_members.csv" <<'EOF'
id,password,firstName,lastName,email,points
1,edzchzmatv5,Matthew,Groves,matthew.groves@couchbase.com,1000
2,pw2,Gia,Kutch,gia_kutch@oconnell.biz,25
3,pw3,"O'Neil, Ann","say ""hi""",ann@example.org,7
EOF

# the bucket must exist: cbimport fails on an unknown bucket
out=$("$CB" csv -c couchbase://127.0.0.1 -u Administrator -p password -b staging \
  -d "file://$tmp/loyalty_members.csv" -g 'key::#MONO_INCR#' -t 4 2>"$tmp/err")
rc=$?
[ $rc -eq 3 ] && grep -q "bucket 'staging' does not exist" "$tmp/err" && ok "unknown bucket: exit 3" ||
  fail "unknown bucket: exit $rc, $(cat "$tmp/err")"

# create it (c360 extension), with a header-only file: nothing imported
printf 'id\n' > "$tmp/empty.csv"
"$BIN" cbimport csv -b staging -d "$tmp/empty.csv" -g '%id%' --create-bucket >"$tmp/out" 2>&1 &&
  grep -q "Documents imported: 0 Documents failed: 0" "$tmp/out" && ok "--create-bucket" ||
  fail "--create-bucket: $(cat "$tmp/out")"

# the seed's line, as written, through the link
out=$("$CB" csv -c couchbase://127.0.0.1 -u Administrator -p password -b staging \
  -d "file://$tmp/loyalty_members.csv" -g 'key::#MONO_INCR#' -t 4 2>"$tmp/err")
rc=$?
if [ $rc -eq 0 ] && [ "$out" = "CSV \`file://$tmp/loyalty_members.csv\` imported to \`couchbase://127.0.0.1\` successfully
Documents imported: 3 Documents failed: 0" ]; then ok "seed cbimport line"; else fail "seed line: exit $rc, '$out' $(cat "$tmp/err")"; fi
grep -q "3 rows read" "$tmp/err" && ok "summary on stderr" || fail "no summary: $(cat "$tmp/err")"
grep -q $'\r' "$tmp/err" && fail "progress bar drawn off a terminal" || ok "no progress bar off a terminal"

# on a terminal (a pty from script(1)) a progress line is drawn
if command -v script >/dev/null; then
  script -qec "\"$CB\" csv -b staging -d \"$tmp/loyalty_members.csv\" -g 'tty::%id%'" /dev/null >"$tmp/tty" 2>&1
  grep -q "rows/s" "$tmp/tty" && grep -q "ETA" "$tmp/tty" && grep -q $'\r' "$tmp/tty" &&
    ok "progress line on a terminal" || fail "no progress on a terminal: $(cat -v "$tmp/tty")"
fi

# same through `c360 cbimport`
"$BIN" cbimport csv -c couchbase://127.0.0.1 -u Administrator -p password -b staging \
  -d "file://$tmp/loyalty_members.csv" -g 'key::#MONO_INCR#' >"$tmp/out" 2>/dev/null &&
  grep -q "Documents imported: 3 Documents failed: 0" "$tmp/out" && ok "c360 cbimport csv" || fail "c360 cbimport: $(cat "$tmp/out")"

# bad rows: exit 1, the errors log has one JSON line per failed row
cat > "$tmp/bad.csv" <<'EOF'
id,name
1,ok
2,too,many
,nokey
4,fine
EOF
"$CB" csv -c couchbase://h -u u -p p -b staging -d "file://$tmp/bad.csv" -g 'k::%id%' \
  -e "$tmp/errors.jsonl" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && ok "failed rows: exit 1" || fail "failed rows: exit $rc"
grep -q "Documents imported: 2 Documents failed: 2" "$tmp/out" && ok "failed rows: counts" || fail "counts: $(cat "$tmp/out")"
grep -q "import failed: 2 documents were imported, 2 documents failed to be imported" "$tmp/out" &&
  ok "cbimport failure line" || fail "failure line: $(cat "$tmp/out")"
[ "$(wc -l < "$tmp/errors.jsonl")" -eq 2 ] && grep -q '"row":3,"reason":"wrong number of fields' "$tmp/errors.jsonl" &&
  grep -q '"row":4,"reason":"key field '"'"'id'"'"' is empty"' "$tmp/errors.jsonl" && ok "errors log" ||
  fail "errors log: $(cat "$tmp/errors.jsonl")"

# options: skip/limit, infer-types, omit-empty, separator, delimiters, -l/-v, expiry
printf 'id;v\n1;a\n2;\n3;c\n4;d\n' > "$tmp/semi.csv"
"$CB" csv -c couchbase://h -u u -p p -b staging -d "$tmp/semi.csv" --field-separator ';' \
  --skip-rows 1 --limit-rows 2 --infer-types --omit-empty --expiry 2d -g 's$id$@MONO_INCR[10]@' \
  --field-delimiter '$' --generator-delimiter '@' -v -l "$tmp/run.log" >"$tmp/out" 2>"$tmp/err" &&
  grep -q "Documents imported: 2 Documents failed: 0" "$tmp/out" && ok "options" || fail "options: $(cat "$tmp/out" "$tmp/err")"
grep -q "importing" "$tmp/run.log" 2>/dev/null && ok "-l log file" || fail "-l: no log file content"

# usage errors: exit 2
"$CB" >/dev/null 2>&1; [ $? -eq 2 ] && ok "no format: exit 2" || fail "no format"
"$CB" xml -b x >/dev/null 2>&1; [ $? -eq 2 ] && ok "unknown format: exit 2" || fail "unknown format"
"$CB" csv -d "$tmp/bad.csv" -g '%id%' >/dev/null 2>&1; [ $? -eq 2 ] && ok "missing -b: exit 2" || fail "missing -b"
"$CB" csv -b staging -d "https://example.com/x.csv" -g '%id%' >/dev/null 2>&1; [ $? -eq 2 ] && ok "http dataset: exit 2" || fail "http dataset"
"$CB" csv -b staging -d "$tmp/bad.csv" -g '%id' >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 5 ] && grep -q "unterminated" "$tmp/err" && ok "bad key expression: exit 5" || fail "bad key expr: $rc $(cat "$tmp/err")"
"$CB" csv -b staging -d "$tmp/nope.csv" -g '%id%' >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 3 ] && grep -q "nope.csv" "$tmp/err" && ok "missing file: exit 3" || fail "missing file: $rc"
"$CB" csv --help | grep -q -- "--infer-types" && ok "csv --help" || fail "csv --help"
"$CB" json --help | grep -q -- "--format" && ok "json --help" || fail "json --help"

# JSON lines
printf '{"id":1,"n":"a"}\n{"id":2,"n":"b"}\n' > "$tmp/docs.json"
"$CB" json -c couchbase://h -u u -p p -b staging -d "file://$tmp/docs.json" -f lines -g 'j::%id%' >"$tmp/out" 2>&1 &&
  grep -q "JSON \`file://$tmp/docs.json\` imported" "$tmp/out" && grep -q "Documents imported: 2" "$tmp/out" &&
  ok "cbimport json lines" || fail "json: $(cat "$tmp/out")"

printf '[{"id":1},{"id":2},{"id":3},{"id":4}]' > "$tmp/list.json"
"$CB" json -b staging -d "$tmp/list.json" -f list --skip-docs 1 --limit-docs 2 -g 'l::%id%' >"$tmp/out" 2>&1 &&
  grep -q "Documents imported: 2 Documents failed: 0" "$tmp/out" && ok "json list, --skip-docs, --limit-docs" ||
  fail "json list: $(cat "$tmp/out")"
"$CB" json -b staging -d "$tmp/list.json" -g 'l::%id%' >/dev/null 2>&1; [ $? -eq 2 ] && ok "json without -f: exit 2" || fail "json without -f"

# --store instead of $C360_STORE, and stdin as the dataset
printf 'id\n1\n2\n' | C360_STORE= "$CB" csv -b other --create-bucket --store "$tmp/other.db" -d - -g 's%id%' >"$tmp/out" 2>&1 &&
  grep -q "Documents imported: 2" "$tmp/out" && [ -f "$tmp/other.db" ] && ok "--store and stdin" ||
  fail "--store/stdin: $(cat "$tmp/out")"

# c360 import: once per file
mkdir -p "$tmp/drop"
cp "$tmp/loyalty_members.csv" "$tmp/drop/loyalty_2026-11-22.csv"
touch -d '2026-11-22 02:00' "$tmp/drop/loyalty_2026-11-22.csv"
printf 'id,points\n7,70\n8,80\n' > "$tmp/drop/loyalty_2026-11-23.csv"
touch -d '2026-11-23 02:00' "$tmp/drop/loyalty_2026-11-23.csv"
"$BIN" import --newest-in "$tmp/drop" --expiry 25h >"$tmp/out" 2>&1 &&
  grep -q "loyalty_2026-11-23.csv" "$tmp/out" && grep -q "Documents imported: 2" "$tmp/out" &&
  ok "import --newest-in picks the newest" || fail "--newest-in: $(cat "$tmp/out")"
"$BIN" import --newest-in "$tmp/drop" >"$tmp/out" 2>&1 && grep -q "already imported" "$tmp/out" &&
  ok "re-import is a no-op" || fail "re-import: $(cat "$tmp/out")"
"$BIN" import "$tmp/drop/loyalty_2026-11-22.csv" >"$tmp/out" 2>&1 && grep -q "Documents imported: 3" "$tmp/out" &&
  ok "import FILE" || fail "import FILE: $(cat "$tmp/out")"
"$BIN" import --newest-in "$tmp/nothing-here" >/dev/null 2>&1; rc=$?
[ $rc -ne 0 ] && ok "missing drop folder: exit $rc" || fail "missing drop folder: exit 0"
mkdir -p "$tmp/emptydrop"
"$BIN" import --newest-in "$tmp/emptydrop" >"$tmp/out" 2>&1 && grep -q "nothing to import" "$tmp/out" &&
  ok "empty drop folder" || fail "empty drop folder: $(cat "$tmp/out")"

# issue 24: `"Stray` at data row 10 of 1,000 lost the 990 rows after it and
# the file was recorded as imported; now only that row fails, exit 1, and
# the summary, the errors log and a re-run say so
awk 'BEGIN { print "id,name"; for (i = 1; i <= 1000; i++) print (i == 10 ? "10,\"Stray" : i ",name" i) }' \
  > "$tmp/stray.csv"
"$BIN" bucket create stray >/dev/null 2>&1
"$BIN" import "$tmp/stray.csv" -b stray -g 's::%id%' -e "$tmp/stray.jsonl" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "Documents imported: 999 Documents failed: 1" "$tmp/out" &&
  grep -q "1 of the failed rows had an unbalanced quote" "$tmp/err" &&
  grep -q "line 11 (row 11): unbalanced quote" "$tmp/err" &&
  grep -q '^{"row":11,"reason":"unbalanced quote.*"line":11}$' "$tmp/stray.jsonl" &&
  [ "$(wc -l < "$tmp/stray.jsonl")" -eq 1 ] &&
  ok "stray quote: one row fails, 999 imported, exit 1" || fail "stray quote: exit $rc, $(cat "$tmp/out" "$tmp/err")"
"$BIN" doc get stray s::1000 >/dev/null 2>&1 && ok "stray quote: the last row is there" || fail "stray quote: s::1000 missing"
"$BIN" import "$tmp/stray.csv" -b stray -g 's::%id%' >"$tmp/out" 2>&1 &&
  grep -q "already imported (.*999 documents, 1 failed rows)" "$tmp/out" &&
  ok "stray quote: a re-run says a row failed" || fail "stray re-run: $(cat "$tmp/out")"
"$CB" csv -b stray -d "file://$tmp/stray.csv" -g 'c::%id%' >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "999 documents were imported, 1 documents failed" "$tmp/out" &&
  ok "stray quote: cbimport too" || fail "stray cbimport: exit $rc, $(cat "$tmp/out")"

# watch: a new file is imported once it stops changing
mkdir -p "$tmp/watch"
"$BIN" import watch "$tmp/watch" --interval 1 >"$tmp/watch.out" 2>"$tmp/watch.err" &
watch_pid=$!
sleep 1
printf 'id,points\n100,1\n101,2\n102,3\n' > "$tmp/watch/night1.csv"
for _ in $(seq 1 50); do grep -q "Documents imported: 3" "$tmp/watch.out" && break; sleep 0.2; done
grep -q "Documents imported: 3" "$tmp/watch.out" && ok "watch imports a new file" || fail "watch: $(cat "$tmp/watch.out" "$tmp/watch.err")"
sleep 2.5
[ "$(grep -c "Documents imported" "$tmp/watch.out")" -eq 1 ] && ok "watch imports it once" || fail "watch imported twice"
kill -TERM "$watch_pid"
wait "$watch_pid"; rc=$?
watch_pid=
[ $rc -eq 0 ] && ok "watch stops on SIGTERM" || fail "watch exit $rc"

[ $fails -eq 0 ] && echo "all passed" || echo "$fails failed"
exit $((fails > 0))
