#!/usr/bin/env bash
# End to end: `c360 demo --customers 2000 --exit` runs the whole pipeline
# (mock Kafka with Debezium events, the loyalty CSV drop, the mock online
# store, the native Customer 360 function) and checks customer360 against
# the generator's truth: one document per person with exactly the right
# xrefs (deleted home-delivery rows gone), every order present. The check
# itself is tested to catch each kind of mistake (tests/unit/test_demo_data.c).
set -uo pipefail
BIN=${C360_BIN:?C360_BIN not set}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$BIN" demo --help >"$dir/help" || fail "demo --help exited $?"
grep -q -- '--customers' "$dir/help" || fail "demo --help does not describe --customers"

"$BIN" demo --customers 2000 --exit --dir "$dir/work" >"$dir/out" 2>"$dir/err"
code=$?
cat "$dir/out"
[ $code -eq 0 ] || { fail "demo exited $code"; tail -20 "$dir/err"; }
grep -q 'check            ok: 2000 people, 2000 customer documents' "$dir/out" ||
  fail "the summary does not report a clean check against the truth"
grep -Eq '^  customers +2000 ' "$dir/out" || fail "summary: not 2000 customers"
grep -q 'example customer 360 document' "$dir/out" || fail "no example document"
for stage in generate kafka kafka-sink csv-import integrate check; do
  grep -Eq "^  $stage +[0-9.]+ s" "$dir/out" || fail "no timing line for stage '$stage'"
done

# what the demo leaves behind is a pipeline a user can check and inspect
[ -f "$dir/work/pipeline.yaml" ] || fail "no pipeline.yaml in the work folder"
"$BIN" run --check "$dir/work/pipeline.yaml" >/dev/null 2>&1 || fail "run --check on the demo's pipeline.yaml failed"
n=$("$BIN" --store "$dir/work/c360.db" query "SELECT count(*) FROM customer360 WHERE key NOT LIKE 'order::%'" 2>/dev/null)
case "$n" in *'[[2000]]'*) ;; *) fail "customer360 holds '$n' customers, expected 2000" ;; esac

# a bad option is a usage error
"$BIN" demo --customers 0 --exit >/dev/null 2>&1
[ $? -eq 2 ] || fail "demo --customers 0 should exit 2"

[ $fails -eq 0 ] && echo "demo: all checks passed"
exit $fails
